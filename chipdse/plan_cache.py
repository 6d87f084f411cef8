"""Cached operator plans behind the per-call :func:`chipdse.api.estimate`.

One call of ``estimate`` costs a prefill pass and every decode step through
:func:`chipdse.cost.op_cost`, as :func:`chipdse.analytic.evaluate` does. A Python user calls it
in a loop, over the same chip, model and precision with other batch, prompt and generate
lengths, so what does not change between calls is kept:

* the :class:`EstimatePlan` of a (chip, model, precision, options): the model's shape arrays,
  the phase partitions of the chip (:func:`chipdse.accounting.lone_phases`) and the weight
  bytes, built once;
* each prefill pass, by (batch, prompt);
* the decode steps, costed a block of :data:`BLOCK` contexts at a time in one vectorised pass
  (the same pass the evaluator's per-step decode makes) and kept by (batch, block): a call
  sums the steps of its own contexts from the blocks.

Every number is the one :func:`chipdse.api.estimate_arrays` computes, to the last bit (a test
compares every field): each step's cost is an element-wise function of its context, and the
steps of a call are summed the way the evaluator sums them (``np.sum`` over the steps).

Chips and models are keyed by identity (a :class:`Chip` is not hashable, and an equal copy
is simply a new plan); names resolve through :func:`load_chip_cached` /
:func:`load_model_cached`, which re-read a file when its modification time changes.
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from chipdse.accounting import LonePhases, lone_phases
from chipdse.analytic import DECODE_CHUNK_ELEMENTS, activation_workspace_bytes, phase_cost
from chipdse.cost import BOUNDS, CostOptions
from microarch.chip import Chip
from workloads.model import ModelArch
from workloads.ops import ArchArrays, kv_cache_bytes, phase_operators, weights_total_bytes
from workloads.precision import Precision

__all__ = ["BLOCK", "MAX_STEPS", "EstimatePlan", "PhaseSums", "plan_for", "clear",
           "load_chip_cached", "load_model_cached"]

BLOCK = 256
"""Decode contexts costed in one pass and kept together."""

MAX_STEPS = DECODE_CHUNK_ELEMENTS
"""Longest decode the plan sums (the evaluator's single chunk); longer ones take the
evaluator's own path."""

_MAX_PLANS = 64
_MAX_PREFILLS = 4096
_MAX_BLOCKS = 1024  # 8 x BLOCK float64 each: 16 MiB in all
_MAX_REFS = 256

_lock = threading.Lock()
_plans: OrderedDict[tuple, EstimatePlan] = OrderedDict()
_prefills: OrderedDict[tuple, PhaseSums] = OrderedDict()
_memory: OrderedDict[tuple, tuple] = OrderedDict()
_blocks: OrderedDict[tuple, np.ndarray] = OrderedDict()
_refs: OrderedDict[tuple, tuple] = OrderedDict()


@dataclass(frozen=True)
class PhaseSums:
    """Time, energy and time by bound (in :data:`BOUNDS` order) of one phase, and its
    bottleneck (the bound of the largest time, first on a tie, as
    :attr:`chipdse.analytic.PhaseResult.bottleneck`)."""

    time_s: Any
    energy_j: Any
    by_bound: tuple
    bottleneck: str

    @classmethod
    def of(cls, time_s: Any, energy_j: Any, by_bound: Any) -> PhaseSums:
        vals = tuple(by_bound)
        return cls(time_s, energy_j, vals, BOUNDS[_first_max(vals)])

    def time_by_bound(self) -> dict[str, float]:
        return {b: float(v) for b, v in zip(BOUNDS, self.by_bound)}


def _first_max(vals: tuple) -> int:
    """``np.argmax`` of 0-d values: the first NaN, else the first largest."""
    best = 0
    for i, v in enumerate(vals):
        if v != v:
            return i
        if v > vals[best]:
            best = i
    return best


def _lru_get(cache: OrderedDict, key: tuple) -> Any:
    with _lock:
        v = cache.get(key)
        if v is not None:
            cache.move_to_end(key)
        return v


def _lru_put(cache: OrderedDict, key: tuple, value: Any, limit: int) -> None:
    with _lock:
        cache[key] = value
        cache.move_to_end(key)
        while len(cache) > limit:
            cache.popitem(last=False)


class EstimatePlan:
    """What every ``estimate`` of one (chip, model, precision, options) shares, and its
    cached phase costs. Build it with :func:`plan_for`. ``substitutions`` is left for the
    caller to fill (the formats check of :mod:`chipdse.api`)."""

    def __init__(self, chip: Chip, model: ModelArch, precision: Precision,
                 options: CostOptions):
        self.chip, self.model, self.precision, self.options = chip, model, precision, options
        self.arch = ArchArrays.from_model(model)
        self.phases: LonePhases = lone_phases(chip, options)
        self.weights_bytes = weights_total_bytes(self.arch, precision)
        # The inputs of the evaluator's per-step decode: every field with a trailing axis
        # over the steps (0-d arrays stay 0-d), exactly as ``analytic._evaluate`` maps them.
        add = lambda x: x[..., None] if np.ndim(x) else x  # noqa: E731
        self._arch2 = self.arch.map(add)
        self._decode2 = self.phases.decode.map(add)
        self._wt2 = add(np.asarray(self.weights_bytes))
        self.substitutions: dict[str, str] | None = None

    def prefill(self, batch: int, prompt: int, logits: str) -> PhaseSums:
        """The prefill pass (``analytic._evaluate``'s, on the prefill partition)."""
        key = (self, batch, prompt, logits)
        hit = _lru_get(_prefills, key)
        if hit is not None:
            return hit
        a, p = self.arch, self.precision
        ops = phase_operators(a, p, batch, prompt, 0.0, logits=logits)
        r = phase_cost(ops, self.phases.prefill, self.weights_bytes,
                       kv_cache_bytes(a, p, batch, prompt), self.options, True)
        out = PhaseSums.of(r.time_s, r.energy_j, (r.time_by_bound[b] for b in BOUNDS))
        _lru_put(_prefills, key, out, _MAX_PREFILLS)
        return out

    def decode(self, batch: int, prompt: int, generate: int) -> PhaseSums:
        """The ``generate`` decode steps after ``prompt`` (``generate <= MAX_STEPS``), on the
        decode partition: each step's time, energy and time by bound summed over the steps
        with ``np.sum``, as the evaluator sums them."""
        lo, hi = prompt, prompt + generate  # contexts (cached tokens) of the steps
        first, last = lo // BLOCK, (hi - 1) // BLOCK
        blocks = {k: _lru_get(_blocks, (self, batch, k)) for k in range(first, last + 1)}
        missing = [k for k, v in blocks.items() if v is None]
        if missing:
            blocks.update(self._cost_blocks(batch, missing))
        if first == last:
            rows = blocks[first][:, lo - first * BLOCK:hi - first * BLOCK]
        else:
            rows = np.concatenate([blocks[k] for k in range(first, last + 1)], axis=1)
            rows = rows[:, lo - first * BLOCK:hi - first * BLOCK]
        sums = np.add.reduce(rows, axis=1)
        return PhaseSums.of(sums[0], sums[1], sums[2:])

    def _cost_blocks(self, batch: int, ks: list[int]) -> dict[int, np.ndarray]:
        """Per-step rows (time, energy, time by bound) of the contexts of blocks ``ks``, in
        one pass of ``analytic._evaluate``'s per-step decode."""
        a2, p = self._arch2, self.precision
        batch2 = np.asarray(batch, dtype=float)
        past = np.concatenate([np.arange(k * BLOCK, (k + 1) * BLOCK, dtype=float) for k in ks])
        ops = phase_operators(a2, p, batch2, 1.0, past, logits="last")
        steps = phase_cost(ops, self._decode2, self._wt2,
                           kv_cache_bytes(a2, p, batch2, past + 1.0), self.options, True)
        shape = past.shape
        rows = np.stack([np.broadcast_to(np.asarray(x, dtype=float), shape) for x in
                         (steps.time_s, steps.energy_j,
                          *(steps.time_by_bound[b] for b in BOUNDS))])
        out = {}
        for i, k in enumerate(ks):
            block = np.ascontiguousarray(rows[:, i * BLOCK:(i + 1) * BLOCK])
            block.setflags(write=False)
            _lru_put(_blocks, (self, batch, k), block, _MAX_BLOCKS)
            out[k] = block
        return out

    def memory(self, batch: int, prompt: int, generate: int) -> tuple[Any, Any, Any]:
        """(KV-store bytes at the end, memory bytes, DRAM capacity) of the request."""
        key = (self, batch, prompt, generate)
        hit = _lru_get(_memory, key)
        if hit is not None:
            return hit
        a, p = self.arch, self.precision
        kv_end = kv_cache_bytes(a, p, batch, prompt + generate)
        mem = self.weights_bytes + kv_end + activation_workspace_bytes(a, p, batch, prompt)
        params = self.phases.decode if generate else self.phases.prefill
        out = (kv_end, mem, params.dram_capacity_bytes)
        _lru_put(_memory, key, out, _MAX_PREFILLS)
        return out


def plan_for(chip: Chip, model: ModelArch, precision: Precision,
             options: CostOptions) -> EstimatePlan:
    """The cached :class:`EstimatePlan` of these objects (built on first use)."""
    key = (id(chip), id(model), precision, options)
    plan = _lru_get(_plans, key)
    if plan is not None and plan.chip is chip and plan.model is model:
        return plan
    plan = EstimatePlan(chip, model, precision, options)
    _lru_put(_plans, key, plan, _MAX_PLANS)
    return plan


def clear() -> None:
    """Forget every cached plan, pass and file."""
    with _lock:
        for c in (_plans, _prefills, _memory, _blocks, _refs):
            c.clear()


# ---- names -----------------------------------------------------------------------------------


def _cached_ref(kind: str, ref: str, resolve, load) -> Any:
    """The object ``load(ref)`` gives, kept while the file ``resolve(ref)`` names keeps its
    modification time (and, for a preset name, while no file of that name appears in the
    working directory, which the loaders would read instead)."""
    key = (kind, ref, os.getcwd())
    hit = _lru_get(_refs, key)
    if hit is not None:
        obj, path, mtime, shadows = hit
        try:
            if os.stat(path).st_mtime_ns == mtime and not any(map(os.path.isfile, shadows)):
                return obj
        except OSError:
            pass
    try:
        path, shadows = resolve(ref)
        mtime = os.stat(path).st_mtime_ns  # before reading: a later change is seen next time
    except Exception:  # not a file the loader would read: it says why (or loads it uncached)
        return load(ref)
    obj = load(ref)
    _lru_put(_refs, key, (obj, path, mtime, shadows), _MAX_REFS)
    return obj


def _chip_path(ref: str) -> tuple[str, tuple[str, ...]]:
    from microarch.loader import preset_path, split_mode

    s, _ = split_mode(ref)
    if s.endswith((".yaml", ".yml")) or Path(s).is_file():
        return str(Path(s).resolve()), ()
    return str(preset_path(s)), tuple({ref, s})


def _model_path(ref: str) -> tuple[str, tuple[str, ...]]:
    if ref.endswith((".json", ".yaml", ".yml")):
        return str(Path(ref).resolve()), ()
    from workloads.loader import _model_dir, list_models

    name = {m.lower(): m for m in list_models()}.get(ref.lower(), ref)
    return str(_model_dir() / f"{name}.yaml"), ()


def load_chip_cached(ref: str | Path) -> Chip:
    """:func:`microarch.loader.load_chip` of a name (``NAME@MODE`` too) or path, the same
    object on every call while the file is unchanged."""
    from microarch.loader import load_chip

    return _cached_ref("chip", str(ref), _chip_path, load_chip)


def load_model_cached(ref: str | Path) -> ModelArch:
    """:func:`workloads.loader.load_model` of a name or path, the same object on every call
    while the file is unchanged."""
    from workloads.loader import load_model

    return _cached_ref("model", str(ref), _model_path, load_model)
