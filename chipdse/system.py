"""Costing a workload on a multi-chip system (:mod:`microarch.system`).

Tensor parallelism: each chip runs the model with its heads, KV heads (replicated when there are
fewer KV heads than chips), FFN and expert columns, linear-attention / state-space heads and
vocabulary divided by the chip count (:func:`shard_model`), costed by the one estimate of
:func:`chipdse.api.estimate_arrays` (the same ``op_cost``). Every layer ends its attention and
its FFN with an all-reduce of the activations over the link at BF16 (a ring of 2(N-1) steps of
1/N of the tensor each, or a one-shot exchange when cheaper), and a vocabulary-parallel LM head
all-gathers the logits; the link time adds to the phase (no overlap with compute: an upper
bound), the link energy is the bytes moved times the link's energy per byte, and each chip burns
its static power while it waits on the link.

Stream placement: :func:`simulate_system` runs each chip's streams on that chip in the
simulator; streams on different chips do not contend (their hand-off over the link is not
costed)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from chipdse.errors import UserError

__all__ = ["shard_model", "SystemEstimate", "estimate_system", "simulate_system",
           "all_reduce_s", "REDUCE_BYTES_PER_ELEMENT"]


REDUCE_BYTES_PER_ELEMENT = 2.0
"""Bytes per element of the tensors all-reduced and all-gathered over the link (BF16: row-
parallel partial sums are not reduced in an 8-bit format)."""


def shard_model(model: Any, n: int) -> Any:
    """The part of ``model`` one of ``n`` tensor-parallel chips runs (see the module
    docstring); :class:`UserError` when a width does not divide."""
    if n == 1:
        return model
    m = model

    def div(name: str, value: int) -> int:
        if value % n:
            raise UserError(f"{m.name}: {name} = {value} does not split over {n} chips "
                            "(tensor parallelism needs it divisible)")
        return value // n

    kv = m.n_kv_heads
    if kv % n == 0:
        kv_per = kv // n
    elif n % kv == 0:
        kv_per = 1  # fewer KV heads than chips: each chip keeps a copy of one
    else:
        raise UserError(f"{m.name}: n_kv_heads = {kv} does not split over {n} chips")
    changes: dict[str, Any] = dict(
        name=f"{m.name}-tp{n}", n_heads=div("n_heads", m.n_heads), n_kv_heads=kv_per,
        vocab_size=-(-m.vocab_size // n) if m.vocab_size else 0)
    for f in ("d_ff", "d_ff_expert", "d_ff_shared", "linear_num_key_heads",
              "linear_num_value_heads", "mamba_num_heads"):
        v = getattr(m, f, 0)
        if v:
            changes[f] = div(f, v)
    try:
        return dataclasses.replace(m, **changes)
    except ValueError as exc:
        raise UserError(f"{m.name}: cannot shard over {n} chips: {exc}") from None


def all_reduce_s(link: Any, n: int, nbytes: Any) -> Any:
    """Time of an all-reduce of ``nbytes`` over ``n`` chips on ``link``: the cheaper of a
    ring and a one-shot exchange."""
    if n == 1:
        return 0.0 * nbytes
    steps = 2 * (n - 1)
    ring = steps * link.latency_s + steps * (nbytes / n) / link.bandwidth_bytes_per_s
    # One-shot exchange: each chip sends its whole partial to the others at once (one
    # latency; the cheaper choice for small decode messages and for two chips).
    one_shot = link.latency_s + (n - 1) * nbytes / link.bandwidth_bytes_per_s
    return min(ring, one_shot)


@dataclass(frozen=True)
class SystemEstimate:
    """One request on a system: the system's phase times and energy, what the link adds, and
    one chip's own estimate (every chip does the same work under tensor parallelism)."""

    system: str
    chips: int
    split: str
    model: str
    precision: str
    batch: int
    prompt_tokens: int
    generate_tokens: int
    prefill_s: float
    decode_s_per_token: float
    decode_tokens_per_s: float
    total_s: float
    energy_j: float
    link_prefill_s: float
    link_decode_s_per_token: float
    link_energy_j: float
    memory_bytes_per_chip: float
    fits_in_memory: bool
    per_chip: Any

    def to_dict(self) -> dict[str, Any]:
        d = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)
             if f.name != "per_chip"}
        d["per_chip"] = self.per_chip.to_dict()
        return d


def estimate_system(system: Any, model: Any, precision: Any, batch: int = 1,
                    prompt: int = 1024, generate: int = 16, options: Any = None
                    ) -> SystemEstimate:
    """One request on ``system`` split by tensor parallelism (the module docstring)."""
    import numpy as np

    from chipdse import api
    from chipdse.cost import CostOptions

    options = options or CostOptions()
    if system.split != "tensor":
        raise UserError(f"system {system.name}: estimate needs split: tensor (stream "
                        "placement runs whole streams per chip: use simulate)")
    n, link, m = system.count, system.link, api.load_model(model)
    e = api.estimate(system.chip, shard_model(m, n), precision, batch, prompt, generate,
                     options)
    # Partial sums are reduced at BF16 or wider, whatever the activation format.
    act = max(precision.a.bits / 8.0, REDUCE_BYTES_PER_ELEMENT)
    reduces = 2 * m.n_layers  # after attention and after the FFN of every layer
    pre_bytes = batch * prompt * m.d_model * act
    dec_bytes = batch * m.d_model * act
    logits_bytes = batch * m.vocab_size * act  # the last position's logits, all-gathered

    def gather_s() -> float:
        if n == 1 or not m.vocab_size:
            return 0.0
        return (n - 1) * (link.latency_s + logits_bytes / n / link.bandwidth_bytes_per_s)

    link_pre = reduces * all_reduce_s(link, n, pre_bytes) + gather_s()
    link_dec = reduces * all_reduce_s(link, n, dec_bytes) + gather_s() if generate else 0.0
    # Bytes on the link: a ring all-reduce moves 2(N-1)/N of the tensor per chip, an
    # all-gather (N-1)/N of it per chip.
    moved = (2 * (n - 1) * reduces * (pre_bytes + generate * dec_bytes)
             + (n - 1) * (1 + generate) * logits_bytes)
    link_j = moved * link.energy_j_per_byte
    pre_s = e.prefill_s + link_pre
    dec_tok = e.decode_s_per_token + link_dec if generate else float("nan")
    dec_s = dec_tok * generate if generate else 0.0
    wait_s = link_pre + link_dec * generate
    energy = n * e.energy_j + link_j + n * system.chip.technology.static_power_w * wait_s
    if not (np.isfinite(pre_s) and np.isfinite(energy)):
        raise UserError(f"system {system.name}: the estimate is not finite")
    return SystemEstimate(
        system=system.name, chips=n, split="tensor", model=m.name, precision=precision.label(),
        batch=batch, prompt_tokens=prompt, generate_tokens=generate, prefill_s=float(pre_s),
        decode_s_per_token=float(dec_tok),
        decode_tokens_per_s=float(batch / dec_tok) if generate else float("nan"),
        total_s=float(pre_s + dec_s), energy_j=float(energy), link_prefill_s=float(link_pre),
        link_decode_s_per_token=float(link_dec), link_energy_j=float(link_j),
        memory_bytes_per_chip=e.memory_bytes, fits_in_memory=bool(e.fits_in_memory),
        per_chip=e)


def simulate_system(system: Any, model: Any = None, trace: Any = "vla-drive-10hz",
                    precision: Any = None, **kw: Any) -> dict[int, Any]:
    """Each chip's streams (``system.placement``; unnamed streams on chip 0) simulated on
    that chip: {chip index: SimResult}; chips without streams are left out."""
    from chipdse import api
    from workloads.trace import Trace

    t = trace if isinstance(trace, Trace) else api.load_trace(trace)
    names = {s.name for s in t.streams}
    unknown = set(system.placement) - names
    if unknown:
        raise UserError(f"system {system.name}: placement names streams the trace "
                        f"{t.name} does not have: {', '.join(sorted(unknown))} (streams: "
                        f"{', '.join(sorted(names))})")
    out = {}
    for i in range(system.count):
        mine = [s for s in t.streams if system.placement.get(s.name, 0) == i]
        if mine:
            sub = dataclasses.replace(t, streams=tuple(mine))
            out[i] = api.simulate(system.chip, model, sub, precision, **kw)
    return out
