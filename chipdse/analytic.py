"""Vectorised analytic evaluation: latency, energy and memory of many design points at once.

A design point is (model shape, chip, workload). Model shapes come as :class:`ArchArrays`
(arrays over points), chips as :class:`ChipParams` (scalars, or arrays that broadcast against
the shapes). Prefill is one forward pass over the prompt; decode is ``generate`` steps, step i
attending over ``prompt + i`` cached tokens plus its own. ``decode="exact"`` costs every step
(what the simulator does, to the last bit); ``decode="mean"`` costs one step at the mean context,
which is exact whenever each operator's time is affine in the context over the run (no KV-SRAM
spill boundary and no compute/memory switch inside the generation) and is what large sweeps use.
Hybrid models are evaluated by the same code: their operator lists (:mod:`workloads.ops`) carry
the layer counts of each mixer, and their recurrent state is part of the KV store.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from chipdse.cost import BOUNDS, ChipParams, CostOptions, op_cost, placement
from microarch.chip import Chip
from microarch.excerpt import excerpt
from workloads.model import ModelArch
from workloads.ops import ArchArrays, Op, kv_cache_bytes, phase_operators, weights_total_bytes
from workloads.precision import Precision

__all__ = ["PhaseResult", "Evaluation", "evaluate", "phase_cost", "activation_workspace_bytes"]

Array = Any


@dataclass
class PhaseResult:
    """Summed cost of one phase (arrays over design points).

    ``time_by_bound`` holds, per entry of ``BOUNDS``, the time of operators bounded by it.
    """

    time_s: Array
    energy_j: Array
    dram_bytes: Array
    time_by_bound: dict[str, Array] = field(default_factory=dict)
    n_operators: Array = 0.0

    @property
    def bottleneck(self) -> Array:
        """Name of the resource that bounds the largest share of the phase's time."""
        keys = list(self.time_by_bound)
        stack = np.stack(np.broadcast_arrays(*(self.time_by_bound[k] for k in keys)))
        idx = np.argmax(stack, axis=0)
        return np.array(keys, dtype=object)[idx]


@dataclass
class Evaluation:
    """Result of :func:`evaluate` (arrays over design points)."""

    prefill: PhaseResult
    decode: PhaseResult        # all generated tokens
    generate_tokens: int
    batch: Array
    weights_bytes: Array
    kv_cache_bytes: Array      # at the end of generation
    memory_bytes: Array        # weights + KV + activation workspace
    dram_capacity_bytes: Array

    @property
    def prefill_s(self) -> Array:
        return self.prefill.time_s

    @property
    def decode_s_per_token(self) -> Array:
        return self.decode.time_s / max(self.generate_tokens, 1)

    @property
    def decode_tokens_per_s(self) -> Array:
        return self.batch / self.decode_s_per_token

    @property
    def total_s(self) -> Array:
        return self.prefill.time_s + self.decode.time_s

    @property
    def energy_j(self) -> Array:
        return self.prefill.energy_j + self.decode.energy_j

    @property
    def fits_in_memory(self) -> Array:
        return np.asarray(self.memory_bytes) <= np.asarray(self.dram_capacity_bytes)


DECODE_CHUNK_ELEMENTS = 1 << 16
"""Decode steps x design points costed in one pass of the exact per-step decode."""

def activation_workspace_bytes(a: ArchArrays, p: Precision, batch: Array, tokens: Array) -> Array:
    """Peak activation workspace of a pass: the widest intermediate (FFN or logits) plus the
    residual stream, all tokens of the batch."""
    ff = np.maximum(a.d_ff, a.top_k * a.d_ff_expert) * (a.ffn_matrices - 1.0)
    proj = a.d_q + 2 * a.d_kv
    if a.is_hybrid:  # the widest mixer projection (gated queries, Gated DeltaNet, Mamba-2)
        proj = np.maximum(np.maximum(proj + np.where(a.attn_gate, a.d_q, 0.0),
                                     np.where(a.n_gdn_layers > 0, a.gdn_in_width, 0.0)),
                          np.where(a.n_mamba_layers > 0, a.mamba_in_width, 0.0))
    return batch * tokens * (np.maximum(ff, proj) + 2 * a.d_model) \
        * p.a.bytes_per_element + batch * a.vocab_size * _LOGIT_BYTES


def _as_arch(model: ModelArch | ArchArrays) -> ArchArrays:
    return ArchArrays.from_model(model) if isinstance(model, ModelArch) else model


def _as_params(chip: Chip | ChipParams, options: CostOptions) -> ChipParams:
    return ChipParams.from_chip(chip, ideal=options.ideal_chip) if isinstance(chip, Chip) \
        else chip


def phase_cost(ops: list[Op], chip: ChipParams, weights_total: Array, kv_total: Array,
               options: CostOptions, with_bounds: bool = True) -> PhaseResult:
    """Sum the cost of ``ops`` (each times its count)."""
    t, e, dram = _RunningSum(), _RunningSum(), _RunningSum()
    n = 0.0
    sums = _BoundSums() if with_bounds else None
    where = placement(chip, weights_total, kv_total)
    for op in ops:
        c = op_cost(op, chip, weights_total, kv_total, options, with_bound=with_bounds,
                    where=where)
        tc = c.time_s * op.count
        t.add(tc)
        e.add(c.energy_j * op.count)
        dram.add(c.dram_bytes * op.count)
        n = n + op.count
        if sums is not None:
            sums.add(c.bound, tc)
    return PhaseResult(t.value, e.value, dram.value, sums.result() if sums is not None else {},
                       n)


class _RunningSum:
    """``value = value + x`` over a sequence of terms (the same bits), in place once the
    value is an array of the final shape: no new array per term."""

    def __init__(self) -> None:
        self.value: Any = 0.0
        self.owned = False  # value is an array made here

    def add(self, x: Array) -> None:
        v = self.value
        if self.owned and (np.shape(x) == v.shape
                           or np.broadcast_shapes(v.shape, np.shape(x)) == v.shape):
            np.add(v, x, out=v)
        else:
            self.value = v + x
            self.owned = isinstance(self.value, np.ndarray) and self.value.ndim > 0


class _BoundSums:
    """Per bound, the sum over operators of the time of those it bounds: what
    ``by_bound[b] + np.where(bound == i, time, 0.0)`` over the operators gives, bit for bit
    (adding 0.0 changes nothing), in place in one (bounds, *shape) array."""

    def __init__(self) -> None:
        self.scalars = [0.0] * len(BOUNDS)  # while every operator so far was a number
        self.acc: np.ndarray | None = None  # (bounds, *shape) once one was an array

    def add(self, bound: Array, tc: Array) -> None:
        if np.ndim(bound) == 0 and np.ndim(tc) == 0:
            hit = int(bound)
            if self.acc is None:
                self.scalars[hit] = self.scalars[hit] + tc
            else:
                self.acc[hit] += tc
            return
        shape = np.broadcast_shapes(np.shape(bound), np.shape(tc))
        if self.acc is None:
            self.acc = np.empty((len(BOUNDS), *shape))
            for i, v in enumerate(self.scalars):
                self.acc[i] = v
        else:
            old = self.acc.shape[1:]
            full = np.broadcast_shapes(old, shape)
            if old != full:  # grow (the bound axis stays first)
                lead = (1,) * (len(full) - len(old))
                self.acc = np.ascontiguousarray(np.broadcast_to(
                    self.acc.reshape((len(BOUNDS), *lead, *old)), (len(BOUNDS), *full)))
        full = self.acc.shape[1:]
        own = (1,) * (len(full) - len(shape)) + tuple(shape)
        k = len(own)
        while k and own[k - 1] == 1:
            k -= 1
        if own[:k] == full[:k]:
            # The operator varies over the leading axes only (a step-independent operator of
            # a per-step decode, or one as large as the sums): add its time to its bound's
            # row, leaving the other bounds as they are (what adding 0.0 does).
            rows = int(np.prod(full[:k]))
            acc = self.acc.reshape(len(BOUNDS), rows, -1)
            b = np.broadcast_to(bound, shape).reshape(-1)
            v = np.broadcast_to(tc, shape).reshape(-1, 1)
            acc[b, np.arange(rows)] += v
        else:  # one-hot of this operator at its own shape, added to every bound at once
            ids = np.arange(len(BOUNDS)).reshape((-1,) + (1,) * len(full))
            np.add(self.acc, np.where(np.asarray(bound) == ids, tc, 0.0), out=self.acc)

    def result(self) -> dict[str, Array]:
        if self.acc is None:  # numpy floats, as np.where would have left them
            return {b: np.float64(v) for b, v in zip(BOUNDS, self.scalars)}
        return {b: self.acc[i] for i, b in enumerate(BOUNDS)}


_CHUNK = 16384  # points per block: keeps the working arrays in cache (about 2x faster)
_LOGIT_BYTES = 4.0  # logits are kept in FP32 for sampling


def _leading(x: Any) -> int | None:
    return np.shape(x)[0] if np.ndim(x) == 1 else (None if np.ndim(x) == 0 else -1)


def _concat(parts: list[Any]) -> Any:
    if all(np.ndim(p) == 0 for p in parts):
        return parts[0]
    return np.concatenate([np.atleast_1d(p) for p in parts])


def _concat_phase(parts: list[PhaseResult]) -> PhaseResult:
    return PhaseResult(
        _concat([p.time_s for p in parts]), _concat([p.energy_j for p in parts]),
        _concat([p.dram_bytes for p in parts]),
        {k: _concat([p.time_by_bound[k] for p in parts]) for k in parts[0].time_by_bound},
        _concat([p.n_operators for p in parts]))


def evaluate(model: ModelArch | ArchArrays, chip: Chip | ChipParams, precision: Precision,
             batch: Array = 1, prompt: Array = 1024, generate: int = 16,
             options: CostOptions = CostOptions(), decode: str = "exact",
             with_bounds: bool = True, logits: str = "last",
             with_prefill: bool = True) -> Evaluation:
    """Prefill + decode latency, energy and memory of every design point.

    ``with_prefill=False`` skips the prefill pass (its result is then zero): for a caller that
    wants only the decode of this chip (e.g. a decode partition) and costs the prefill
    elsewhere. Inputs broadcast against each other. When every array input is
    one-dimensional over the same N points, the work is done in blocks of a few thousand
    points (same results, faster).
    ``options.ideal_chip`` applies when ``chip`` is a :class:`Chip`; a :class:`ChipParams` is
    used as given (build it with ``ChipParams.from_chip(chip, ideal=True)`` for the roofline).
    """
    if decode not in ("exact", "mean"):
        raise ValueError(f"decode must be 'exact' or 'mean', got {excerpt(decode)}")
    a = _as_arch(model)
    cp = _as_params(chip, options)
    fields = [getattr(a, f) for f in a.__dataclass_fields__ if f not in ("causal", "pattern")]
    fields += [getattr(cp, f.name) for f in cp.__dataclass_fields__.values()
               if f.name not in ("name", "matrix_ops_per_s", "matrix_j_per_op")]
    fields += list(cp.matrix_ops_per_s.values()) + [batch, prompt]
    lens = {_leading(x) for x in fields} - {None}
    if len(lens) == 1 and (n_pts := lens.pop()) > _CHUNK:
        parts = []
        for i in range(0, n_pts, _CHUNK):
            cut = lambda x, i=i: x[i:i + _CHUNK] if np.ndim(x) == 1 else x  # noqa: E731
            parts.append(_evaluate(a.map(cut), cp.map(cut), precision, cut(np.asarray(batch)),
                                   cut(np.asarray(prompt)), generate, options, decode,
                                   with_bounds, logits, with_prefill))
        return Evaluation(
            prefill=_concat_phase([p.prefill for p in parts]),
            decode=_concat_phase([p.decode for p in parts]), generate_tokens=int(generate),
            batch=batch, weights_bytes=_concat([p.weights_bytes for p in parts]),
            kv_cache_bytes=_concat([p.kv_cache_bytes for p in parts]),
            memory_bytes=_concat([p.memory_bytes for p in parts]),
            # Either may be the one that varies (a fixed model on many chips, or one chip).
            dram_capacity_bytes=_concat([np.broadcast_to(p.dram_capacity_bytes, np.broadcast_shapes(
                np.shape(p.memory_bytes), np.shape(p.dram_capacity_bytes))) for p in parts]))
    return _evaluate(a, cp, precision, batch, prompt, generate, options, decode, with_bounds,
                     logits, with_prefill)


def _evaluate(a: ArchArrays, cp: ChipParams, precision: Precision, batch: Array, prompt: Array,
              generate: int, options: CostOptions, decode: str, with_bounds: bool,
              logits: str, with_prefill: bool = True) -> Evaluation:
    p = precision
    wt = weights_total_bytes(a, p)
    if with_prefill:
        pre_ops = phase_operators(a, p, batch, prompt, 0.0, logits=logits)
        prefill = phase_cost(pre_ops, cp, wt, kv_cache_bytes(a, p, batch, prompt), options,
                             with_bounds)
    else:
        prefill = PhaseResult(0.0, 0.0, 0.0, {b: 0.0 for b in BOUNDS} if with_bounds else {},
                              0.0)
    n = int(generate)
    if n <= 0:
        zero = PhaseResult(0.0 * prefill.time_s, 0.0 * prefill.energy_j, 0.0,
                           {b: 0.0 for b in BOUNDS} if with_bounds else {}, 0.0)
        dec = zero
    elif decode == "mean":
        past = prompt + (n - 1) / 2.0
        ops = phase_operators(a, p, batch, 1.0, past, logits=logits)
        one = phase_cost(ops, cp, wt, kv_cache_bytes(a, p, batch, past + 1.0), options,
                         with_bounds)
        dec = PhaseResult(one.time_s * n, one.energy_j * n, one.dram_bytes * n,
                          {k: v * n for k, v in one.time_by_bound.items()}, one.n_operators * n)
    else:
        # One trailing axis over the decode steps; everything else broadcasts against it.
        add = lambda x: x[..., None] if np.ndim(x) else x  # noqa: E731
        a2, cp2, wt2 = a.map(add), cp.map(add), add(np.asarray(wt))
        batch2, prompt2 = add(np.asarray(batch, dtype=float)), add(np.asarray(prompt, dtype=float))
        # Steps in chunks, so that memory stays bounded however many tokens are generated
        # (about 0.3 kB per step and design point in one pass).
        parts: list[PhaseResult] = []
        start, chunk = 0, min(n, DECODE_CHUNK_ELEMENTS)
        while start < n:
            past = prompt2 + np.arange(start, min(n, start + chunk), dtype=float)
            start += chunk
            ops = phase_operators(a2, p, batch2, 1.0, past, logits=logits)
            steps = phase_cost(ops, cp2, wt2, kv_cache_bytes(a2, p, batch2, past + 1.0),
                               options, with_bounds)
            s = lambda x: np.sum(np.broadcast_to(x, np.broadcast(x, past).shape),  # noqa
                                 axis=-1)
            parts.append(PhaseResult(s(steps.time_s), s(steps.energy_j), s(steps.dram_bytes),
                                     {k: s(v) for k, v in steps.time_by_bound.items()},
                                     s(steps.n_operators)))
            # Later chunks sized by the design points the first one held.
            width = max(1, np.size(steps.time_s) // max(1, past.shape[-1]))
            chunk = max(1, DECODE_CHUNK_ELEMENTS // width)
        dec = parts[0] if len(parts) == 1 else PhaseResult(
            sum(q.time_s for q in parts), sum(q.energy_j for q in parts),
            sum(q.dram_bytes for q in parts),
            {k: sum(q.time_by_bound[k] for q in parts) for k in parts[0].time_by_bound},
            sum(q.n_operators for q in parts))
    kv_end = kv_cache_bytes(a, p, batch, prompt + n)
    mem = wt + kv_end + activation_workspace_bytes(a, p, batch, prompt)
    return Evaluation(prefill=prefill, decode=dec, generate_tokens=n, batch=batch,
                      weights_bytes=wt, kv_cache_bytes=kv_end, memory_bytes=mem,
                      dram_capacity_bytes=cp.dram_capacity_bytes)
