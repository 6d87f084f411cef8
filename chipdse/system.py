"""Costing a workload on a multi-chip system (:mod:`microarch.system`).

**Tensor parallelism.** Each chip runs the model with its heads, KV heads (replicated when there
are fewer KV heads than chips), FFN and expert columns, linear-attention / state-space heads and
vocabulary divided by the chip count (:func:`shard_model`), costed by the one estimate of
:func:`chipdse.api.estimate` (the same ``op_cost``). Every sequence mixer and every FFN ends
with an all-reduce of the activations at BF16 (:func:`all_reduce`: a ring of 2(N-1) steps of
1/N of the tensor each, or a one-shot exchange when cheaper), and a vocabulary-parallel LM head
all-gathers the logits.

**Pipeline parallelism.** The layers are divided into one stage of consecutive layers per chip
(:func:`stage_bounds`); the first stage also embeds the tokens, the last holds the final norm
and the LM head (each keeps its own copy of a tied table). Each stage's operators are costed
with the same ``op_cost`` on the weights and KV cache that stage holds. The activations
(B x T x d_model at 16 bits) cross the link at every stage boundary, and at decode the sampled
token ids return from the last stage to the first. Prefill runs the stages one after another
for the request; with ``prefill_chunks`` = M the prompt is cut into M chunks (chunk j attends
to the cache of the chunks before it) that flow through the stages like micro-batches, so the
stages work on different chunks at once. Decode of one stream runs the stages in sequence for
every token: a pipeline gives no latency gain at batch 1 (it fits a model one chip cannot
hold), but with several streams in flight (``streams``) each stage works on a different
stream's token, which :attr:`SystemEstimate.pipelined_decode_tokens_per_s` reports.

**The link.** A transfer costs the link's latency plus its payload over the link's payload
bandwidth (raw bandwidth x protocol efficiency), or over the chip's achieved DRAM bandwidth if
that is slower: the DMA reads what it sends from DRAM and writes what it receives to DRAM,
streamed with the link. An all-reduce then reads the received partials and the chip's own and
writes their sum (the reduction, serial with the transfers). These DMA bytes are costed in
time and in DRAM energy on every chip (``dma_dram=False`` leaves them out, for the ideal-link
equivalences). Link energy is the payload bytes times the link's energy per byte; a chip
burns its static power while it waits on the link or on other stages.

**Overlap.** ``overlap`` f in [0, 1] is the share of the link time hidden behind compute: a
phase takes compute + link - f x min(compute, link) under tensor parallelism; in a pipeline a
stage sending its activations is busy for (1 - f) of the send. The default is 0 (``none``): no
overlap, an upper bound on the time, and the output says so. The transfers of one decode token
between stages are a chain of dependencies that no overlap shortens.

**Bands.** With ``uncertainty=N`` the link's ranged numbers (bandwidth, latency, energy per
byte, protocol efficiency) are drawn N times, as :mod:`chipdse.uncertainty` draws an
assumption (the stated value the median, uniform on each side of it); with
``chip_uncertainty`` the chip's own uncertain numbers and the cost model's prediction error
(:func:`chipdse.uncertainty.draw`) are drawn jointly with them. The estimate then carries the
5 / 50 / 95 % percentiles of :data:`BAND_METRICS`.

**Stream placement.** :func:`simulate_system` runs each chip's streams on that chip in the
simulator; streams on different chips do not contend (their hand-off over the link is not
costed)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from chipdse.errors import UserError

__all__ = ["shard_model", "stage_bounds", "stage_model", "SystemEstimate", "StageEstimate",
           "estimate_system", "simulate_system", "all_reduce", "all_reduce_s", "Comm",
           "LinkFigures", "link_draws", "REDUCE_BYTES_PER_ELEMENT",
           "HANDOFF_BYTES_PER_ELEMENT", "TOKEN_ID_BYTES", "BAND_METRICS"]


REDUCE_BYTES_PER_ELEMENT = 2.0
"""Bytes per element of the tensors all-reduced and all-gathered over the link (BF16: row-
parallel partial sums are not reduced in an 8-bit format)."""
HANDOFF_BYTES_PER_ELEMENT = 2.0
"""Bytes per element of the activations a pipeline stage hands to the next (the 16-bit residual
stream)."""
TOKEN_ID_BYTES = 4.0
"""Bytes of one sampled token id returned from the last pipeline stage to the first."""
BAND_METRICS = ("prefill_s", "decode_s_per_token", "decode_tokens_per_s", "total_s",
                "energy_j", "pipelined_decode_tokens_per_s")
"""The metrics a :class:`SystemEstimate` gives 5 / 50 / 95 % percentiles of under
uncertainty."""
_LINK_SEED = 0x16  # the link's draws come from their own stream beside the chip's


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


def stage_bounds(model: Any, n: int, layers: tuple[int, ...] = ()) -> list[tuple[int, int]]:
    """[start, stop) layer indices of each of ``n`` pipeline stages: ``layers`` per stage if
    given (they must add up to the model's layers), else as even as the layer count allows
    (the earlier stages take the remainder: the last one also runs the LM head)."""
    L = model.n_layers
    if layers:
        if len(layers) != n or sum(layers) != L:
            raise UserError(f"pipeline.stage_layers {list(layers)} must give {n} stages adding "
                            f"up to the {L} layers of {model.name}")
        counts = list(layers)
    else:
        if L < n:
            raise UserError(f"{model.name}: {L} layers cannot fill {n} pipeline stages")
        counts = [L // n + (1 if i < L % n else 0) for i in range(n)]
    out, start = [], 0
    for k in counts:
        out.append((start, start + k))
        start += k
    return out


def stage_model(model: Any, start: int, stop: int) -> Any:
    """The layers [start, stop) of ``model`` as a model of their own: the embedding table on
    the first stage, the LM head on the last, one table each (a middle stage holds none)."""
    first, last = start == 0, stop == model.n_layers
    if first and last:
        return model
    changes: dict[str, Any] = dict(
        name=f"{model.name}[{start}:{stop}]", n_layers=stop - start,
        vocab_size=model.vocab_size if (first or last) else 0,
        tied_embeddings=True)  # one table: the embedding or the head, not both
    if model.layer_pattern:
        changes["layer_pattern"] = tuple(model.layer_pattern[start:stop])
    try:
        return dataclasses.replace(model, **changes)
    except ValueError as exc:
        raise UserError(f"{model.name}: layers {start}-{stop - 1} cannot form a pipeline "
                        f"stage: {exc} (set pipeline.stage_layers)") from None


# --- the link ------------------------------------------------------------------------------

@dataclass(frozen=True)
class LinkFigures:
    """The link's numbers as used: floats at the stated values, or arrays over draws.

    Attributes:
        payload_bytes_per_s: raw bandwidth x protocol efficiency.
        latency_s / energy_j_per_byte: as :class:`microarch.system.Link`.
    """

    payload_bytes_per_s: Any
    latency_s: Any
    energy_j_per_byte: Any

    @classmethod
    def of(cls, link: Any) -> LinkFigures:
        return cls(link.payload_bytes_per_s, link.latency_s, link.energy_j_per_byte)


def link_draws(link: Any, n: int, seed: int = 0) -> tuple[LinkFigures, tuple[str, ...]]:
    """``n`` seeded draws of the link's ranged numbers (each the median of its range, uniform
    on each side, as :mod:`chipdse.uncertainty` draws an assumption; numbers without a range
    stay at their value) and the names of those drawn."""
    from chipdse.uncertainty import _assumed_draws
    from microarch.system import LINK_FIELDS
    from microarch.vary import Varied

    rng = np.random.default_rng([seed, _LINK_SEED])
    vals: dict[str, Any] = {}
    for k in LINK_FIELDS:  # a fixed order: the same seed gives the same draws
        u = rng.uniform(0.0, 1.0, n)
        v = float(getattr(link, k))
        if k in link.ranges:
            lo, hi = link.ranges[k]
            vals[k] = _assumed_draws(Varied(f"link.{k}", v, lo, hi, False, ""), u)
        else:
            vals[k] = np.full(n, v)
    fig = LinkFigures(vals["bandwidth_bytes_per_s"] * vals["protocol_efficiency"],
                      vals["latency_s"], vals["energy_j_per_byte"])
    return fig, tuple(k for k in LINK_FIELDS if k in link.ranges)


@dataclass(frozen=True)
class Comm:
    """One collective or hand-off: its time, the payload bytes it puts on the link (all chips
    together) and the DMA's DRAM bytes on each chip."""

    time_s: Any
    link_bytes: Any
    dram_bytes_per_chip: Any


def _as_figures(link: Any) -> LinkFigures:
    return link if isinstance(link, LinkFigures) else LinkFigures.of(link)


def transfer(link: Any, nbytes: Any, dram_bytes_per_s: Any = np.inf) -> Comm:
    """One point-to-point transfer of ``nbytes``: the DMA reads them from the sender's DRAM
    and writes them to the receiver's, streamed with the link."""
    f = _as_figures(link)
    t = f.latency_s + np.maximum(nbytes / f.payload_bytes_per_s, nbytes / dram_bytes_per_s)
    return Comm(t, nbytes + 0.0 * t, nbytes + 0.0 * t)


def all_reduce(link: Any, n: int, nbytes: Any, dram_bytes_per_s: Any = np.inf) -> Comm:
    """An all-reduce of ``nbytes`` over ``n`` chips: the cheaper of a ring (2(N-1) steps of
    1/N of the tensor; in each the chip's DRAM reads the chunk it sends and writes the one it
    receives, and a reduce-scatter step then reads both and writes their sum) and a one-shot
    exchange (each chip sends its whole partial to the others at once, then sums N partials:
    one latency, the cheaper choice for small decode messages and for two chips)."""
    if n == 1:
        z = 0.0 * np.asarray(nbytes, dtype=float)
        return Comm(z, z, z)
    f = _as_figures(link)
    bw, lat, d = f.payload_bytes_per_s, f.latency_s, dram_bytes_per_s
    c = nbytes / n
    steps = 2 * (n - 1)
    ring = steps * (lat + np.maximum(c / bw, 2.0 * c / d)) + (n - 1) * 3.0 * c / d
    ring_dram = steps * 2.0 * c + (n - 1) * 3.0 * c
    sent = (n - 1) * nbytes
    one = lat + np.maximum(sent / bw, 2.0 * sent / d) + (n + 1) * nbytes / d
    one_dram = 2.0 * sent + (n + 1) * nbytes
    pick = one <= ring
    return Comm(np.where(pick, one, ring), np.where(pick, n * sent, steps * nbytes + 0.0 * ring),
                np.where(pick, one_dram, ring_dram))


def all_reduce_s(link: Any, n: int, nbytes: Any, dram_bytes_per_s: Any = np.inf) -> Any:
    """Time of :func:`all_reduce`."""
    t = all_reduce(link, n, nbytes, dram_bytes_per_s).time_s
    return float(t) if np.ndim(t) == 0 else t


def all_gather(link: Any, n: int, nbytes: Any, dram_bytes_per_s: Any = np.inf) -> Comm:
    """A ring all-gather of a tensor of ``nbytes`` held 1/N per chip: N-1 steps, each sending
    and receiving 1/N of it."""
    if n == 1:
        z = 0.0 * np.asarray(nbytes, dtype=float)
        return Comm(z, z, z)
    f = _as_figures(link)
    c = nbytes / n
    t = (n - 1) * (f.latency_s + np.maximum(c / f.payload_bytes_per_s,
                                            2.0 * c / dram_bytes_per_s))
    return Comm(t, (n - 1) * nbytes + 0.0 * t, 2.0 * (n - 1) * c + 0.0 * t)


def _visible(compute: Any, comm: Any, overlap: float) -> Any:
    """The link time left on the critical path when ``overlap`` of it hides behind compute."""
    return comm - overlap * np.minimum(compute, comm)


# --- results -------------------------------------------------------------------------------

@dataclass(frozen=True)
class StageEstimate:
    """One pipeline stage (one chip) of a request.

    Attributes:
        stage / first_layer / layers: which chip and which layers it runs.
        prefill_s / decode_s_per_token: its own compute time (all prompt chunks; the mean decode
            token), without the link.
        prefill_energy_j / decode_energy_j: its operators' energy and the idle power of a
            partitioned chip over its own time (the static power while it waits is in the
            system's energy).
        weights_bytes / kv_cache_bytes / memory_bytes / dram_capacity_bytes / fits_in_memory:
            what it holds for one request, against its DRAM.
        prefill_bottleneck / decode_bottleneck: the bound of the largest share of its time.
    """

    stage: int
    first_layer: int
    layers: int
    prefill_s: float
    decode_s_per_token: float
    prefill_energy_j: float
    decode_energy_j: float
    weights_bytes: float
    kv_cache_bytes: float
    memory_bytes: float
    dram_capacity_bytes: float
    fits_in_memory: bool
    prefill_bottleneck: str
    decode_bottleneck: str

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class SystemEstimate:
    """One request on a system.

    Times and energies are the system's: ``prefill_s`` / ``decode_s_per_token`` / ``total_s``
    the latency of the request; ``decode_tokens_per_s`` the throughput of that one request
    (batch / token latency); ``pipelined_decode_tokens_per_s`` and ``prefill_requests_per_s``
    the throughput with ``streams`` requests in flight (a pipeline keeps every stage busy; under
    tensor parallelism they equal the one-request figures). ``link_prefill_s`` /
    ``link_decode_s_per_token`` are the time the request's transfers take (DMA DRAM traffic
    included), before ``overlap`` hides any of it; ``dma_dram_bytes`` the DMA's DRAM bytes on
    all chips. ``per_chip`` is one chip's estimate (tensor: every chip's; pipeline: the stage
    holding the most memory) and ``stages`` every stage of a pipeline. ``bands`` maps each of
    :data:`BAND_METRICS` to its (p05, p50, p95) when drawn; ``drawn`` names what was."""

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
    prefill_energy_j: float
    decode_energy_j_per_token: float
    idle_energy_j: float
    link_prefill_s: float
    link_decode_s_per_token: float
    link_energy_j: float
    dma_dram_bytes: float
    dma_energy_j: float
    overlap: str
    pipelined_decode_tokens_per_s: float
    prefill_requests_per_s: float
    streams: int
    prefill_chunks: int
    stage_layers: tuple
    memory_bytes_per_chip: float
    fits_in_memory: bool
    per_chip: Any
    stages: tuple = ()
    bands: dict | None = None
    uncertainty_samples: int | None = None
    uncertainty_seed: int | None = None
    drawn: tuple = ()
    notes: tuple = field(default_factory=tuple)

    def to_dict(self) -> dict[str, Any]:
        """Every field; the bands flattened to ``<metric>_p05 / _p50 / _p95``; ``per_chip``
        and ``stages`` as dicts."""
        skip = ("per_chip", "stages", "bands")
        d = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)
             if f.name not in skip}
        for k in ("stage_layers", "drawn", "notes"):
            d[k] = list(d[k])
        for k, (lo, mid, hi) in (self.bands or {}).items():
            d[f"{k}_p05"], d[f"{k}_p50"], d[f"{k}_p95"] = lo, mid, hi
        d["per_chip"] = self.per_chip.to_dict()
        d["stages"] = [s.to_dict() for s in self.stages]
        return d


# --- per-chip compute ----------------------------------------------------------------------

def _stage_compute(chip: Any, sm: Any, first: bool, last: bool, precision: Any, batch: int,
                   prompt: int, generate: int, options: Any, chunks: int,
                   full: Any = None) -> dict[str, Any]:
    """One stage's compute: per-chunk prefill times and energies, the decode's, and what the
    stage holds. Arrays over the chips stacked in ``full`` (ChipParams), floats without."""
    from chipdse.accounting import lone_phases
    from chipdse.analytic import DECODE_CHUNK_ELEMENTS, PhaseResult, activation_workspace_bytes
    from chipdse.analytic import phase_cost as cost
    from workloads.ops import ArchArrays, kv_cache_bytes, phase_operators, weights_total_bytes

    lp = lone_phases(chip, options, full=full)
    a = ArchArrays.from_model(sm)
    p, B = precision, batch
    wt = weights_total_bytes(a, p)
    bounds = full is None
    head = "last" if (last and sm.causal) else "none"

    def ops(tokens: Any, past: Any, logits: str) -> list:
        out = phase_operators(a, p, B, tokens, past, logits=logits)
        return out if first else [o for o in out if o.name != "embedding"]

    sizes = _chunks(prompt, chunks)
    pre_t, pre_j, by_pre, past = [], [], {}, 0
    for j, tc in enumerate(sizes):
        r = cost(ops(float(tc), float(past), head if j == len(sizes) - 1 else "none"),
                 lp.prefill, wt, kv_cache_bytes(a, p, B, past + tc), options, bounds)
        pre_t.append(r.time_s)
        pre_j.append(r.energy_j + lp.prefill_idle_w * r.time_s)
        for k, v in r.time_by_bound.items():
            by_pre[k] = by_pre.get(k, 0.0) + v
        past += tc
    dec_t = dec_j = 0.0
    by_dec: dict[str, Any] = {}
    if generate:
        add = lambda x: x[..., None] if np.ndim(x) else x  # noqa: E731  (steps on the last axis)
        cp2, wt2 = lp.decode.map(add), add(np.asarray(wt))
        width = max(1, int(np.size(np.asarray(lp.decode.static_power_w))))
        chunk = max(1, DECODE_CHUNK_ELEMENTS // width)
        for s0 in range(0, generate, chunk):
            steps = prompt + np.arange(s0, min(generate, s0 + chunk), dtype=float)
            r = cost(ops(1.0, steps, head), cp2, wt2, kv_cache_bytes(a, p, B, steps + 1.0),
                     options, bounds)
            s = lambda x: np.sum(np.broadcast_to(x, np.broadcast(x, steps).shape),  # noqa
                                 axis=-1)
            dec_t = dec_t + s(r.time_s)
            dec_j = dec_j + s(r.energy_j)
            for k, v in r.time_by_bound.items():
                by_dec[k] = by_dec.get(k, 0.0) + s(v)
        dec_j = dec_j + lp.decode_idle_w * dec_t
    kv_end = kv_cache_bytes(a, p, B, prompt + generate)
    mem = wt + kv_end + activation_workspace_bytes(a, p, B, prompt)

    def bottleneck(by: dict) -> str:
        if not by:
            return "none"
        return str(np.asarray(PhaseResult(0.0, 0.0, 0.0, by, 0.0).bottleneck).reshape(-1)[0])

    return dict(pre_t=pre_t, pre_j=pre_j, dec_t=dec_t, dec_j=dec_j, weights=wt, kv=kv_end,
                memory=mem, dram_capacity=lp.prefill.dram_capacity_bytes,
                pre_bound=bottleneck(by_pre) if bounds else "",
                dec_bound=bottleneck(by_dec) if bounds else "",
                dram_pre=lp.prefill.dram_bytes_per_s, dram_dec=lp.decode.dram_bytes_per_s,
                dram_j=lp.prefill.dram_j_per_byte)


def _chunks(tokens: int, m: int) -> list[int]:
    """``tokens`` cut into ``m`` consecutive chunks as even as they go (the first ones one
    longer)."""
    return [tokens // m + (1 if i < tokens % m else 0) for i in range(m)]


def _scaled(st: dict[str, Any], factors: dict[str, Any], static_w: Any) -> dict[str, Any]:
    """A stage's compute with the prediction-error factors on its phase times, and the static
    power it burns over the extra time (as :func:`chipdse.api.estimate_samples` does)."""
    out = dict(st)
    out["pre_t"] = [t * factors["prefill"] for t in st["pre_t"]]
    out["pre_j"] = [j + static_w * (t * factors["prefill"] - t)
                    for t, j in zip(st["pre_t"], st["pre_j"])]
    out["dec_t"] = st["dec_t"] * factors["decode"]
    out["dec_j"] = st["dec_j"] + static_w * (out["dec_t"] - st["dec_t"])
    return out


# --- the splits ----------------------------------------------------------------------------

def _tensor(system: Any, m: Any, p: Any, B: int, T: int, G: int, options: Any, link: Any,
            dma: bool, draws: Any = None) -> dict[str, Any]:
    """Tensor parallelism (the module docstring): the system's figures, arrays over draws."""
    from chipdse import api
    from chipdse.accounting import lone_phases
    from chipdse.cost import ChipParams

    n, f = system.count, system.overlap
    shard = shard_model(m, n)
    if draws is None:
        e = api.estimate(system.chip, shard, p, B, T, G, options)
        full = None
        pre_c, dec_c = e.prefill_s, (e.decode_s_per_token if G else 0.0)
        chip_j, chip_pre_j, chip_idle_j = e.energy_j, e.prefill_energy_j, e.idle_energy_j
    else:
        s = api.estimate_samples(system.chip, shard, p, B, T, G, draws, options)
        full = ChipParams.stack([ChipParams.from_chip(c, ideal=options.ideal_chip)
                                 for c in draws.chips[system.chip.name]])
        e = None
        pre_c, dec_c = s["prefill_s"], (s["decode_s"] / G if G else 0.0 * s["prefill_s"])
        chip_j, chip_pre_j, chip_idle_j = s["energy_j"], np.nan, np.nan
    lp = lone_phases(system.chip, options, full=full)
    static_w = _static_w(system.chip, options, full)
    d_pre = lp.prefill.dram_bytes_per_s if dma else np.inf
    d_dec = lp.decode.dram_bytes_per_s if dma else np.inf
    dram_j = lp.prefill.dram_j_per_byte
    epb = _as_figures(link).energy_j_per_byte
    act = max(p.a.bits / 8.0, REDUCE_BYTES_PER_ELEMENT)  # partial sums at BF16 or wider
    reduces = m.n_layers_with(mixer="any") + m.n_layers_with(ffn=True)
    gather = bool(m.vocab_size and m.causal)  # the last position's logits, all-gathered

    def phase(rows: int, dram_bps: Any) -> tuple[Any, Any, Any]:
        """(time, link bytes, DMA DRAM bytes on all chips) of one pass's collectives."""
        r = all_reduce(link, n, rows * m.d_model * act, dram_bps)
        g = all_gather(link, n, B * m.vocab_size * act, dram_bps) if gather else Comm(0, 0, 0)
        return (reduces * r.time_s + g.time_s, reduces * r.link_bytes + g.link_bytes,
                n * (reduces * r.dram_bytes_per_chip + g.dram_bytes_per_chip) if dma else 0.0)

    comm_pre, bytes_pre, dma_pre = phase(B * T, d_pre)
    comm_dec, bytes_dec, dma_dec = phase(B, d_dec) if G else (0.0, 0.0, 0.0)
    vis_pre, vis_dec = _visible(pre_c, comm_pre, f), _visible(dec_c, comm_dec, f)
    pre_s, dec_tok = pre_c + vis_pre, dec_c + vis_dec
    link_bytes, dma_bytes = bytes_pre + G * bytes_dec, dma_pre + G * dma_dec
    link_j, dma_j = link_bytes * epb, dma_bytes * dram_j
    wait_pre, wait = n * static_w * vis_pre, n * static_w * (vis_pre + G * vis_dec)
    energy = n * chip_j + link_j + dma_j + wait
    return dict(
        prefill_s=pre_s, decode_s_per_token=dec_tok if G else np.nan + 0.0 * pre_s,
        total_s=pre_s + G * dec_tok, energy_j=energy,
        prefill_energy_j=n * chip_pre_j + bytes_pre * epb + dma_pre * dram_j + wait_pre,
        idle_energy_j=n * chip_idle_j + wait, link_prefill_s=comm_pre,
        link_decode_s_per_token=comm_dec, link_energy_j=link_j, dma_dram_bytes=dma_bytes,
        dma_energy_j=dma_j, pipelined_decode_tokens_per_s=B / dec_tok if G else np.nan,
        prefill_requests_per_s=1.0 / pre_s, per_chip=e, stages=(), stage_layers=())


def _pipeline(system: Any, m: Any, p: Any, B: int, T: int, G: int, options: Any, link: Any,
              dma: bool, draws: Any = None) -> dict[str, Any]:
    """Pipeline parallelism (the module docstring): the system's figures, arrays over
    draws."""
    from chipdse.accounting import lone_phases
    from chipdse.cost import ChipParams

    n, f, M = system.count, system.overlap, system.prefill_chunks
    if M > T:
        raise UserError(f"system {system.name}: pipeline.prefill_chunks = {M} is more than "
                        f"the {T} prompt tokens")
    S = system.streams or n
    full = None
    if draws is not None:
        full = ChipParams.stack([ChipParams.from_chip(c, ideal=options.ideal_chip)
                                 for c in draws.chips[system.chip.name]])
    bounds = stage_bounds(m, n, system.stage_layers)
    stages = []
    for a, b in bounds:
        st = _stage_compute(system.chip, stage_model(m, a, b), a == 0, b == m.n_layers, p, B,
                            T, G, options, M, full)
        if draws is not None:
            st = _scaled(st, draws.time_factor[system.chip.name],
                         np.asarray(full.static_power_w, dtype=float))
        stages.append(st)
    lp = lone_phases(system.chip, options, full=full)
    static_w = _static_w(system.chip, options, full)
    d_pre = stages[0]["dram_pre"] if dma else np.inf
    d_dec = stages[0]["dram_dec"] if dma else np.inf
    sizes = _chunks(T, M)
    hops = [transfer(link, B * tc * m.d_model * HANDOFF_BYTES_PER_ELEMENT, d_pre)
            for tc in sizes]
    # Prefill: chunks through the stages; a stage is free again when its send is done, less
    # the overlapped share; each boundary's link carries one chunk at a time.
    zero = 0.0 * stages[0]["pre_t"][0]
    free = [zero] * n
    link_free = [zero] * max(n - 1, 1)
    finish = zero
    for j in range(M):
        ready = zero
        for s in range(n):
            done = np.maximum(ready, free[s]) + stages[s]["pre_t"][j]
            if s < n - 1:
                arrive = np.maximum(done, link_free[s]) + hops[j].time_s
                link_free[s] = arrive
                free[s] = done + (1.0 - f) * (arrive - done)
                ready = arrive
            else:
                free[s] = done
                finish = done
    pre_s = finish
    hop_fwd = transfer(link, B * m.d_model * HANDOFF_BYTES_PER_ELEMENT, d_dec)
    hop_back = transfer(link, B * TOKEN_ID_BYTES, d_dec)
    per_tok = [st["dec_t"] / G if G else zero for st in stages]
    hop_tok = (n - 1) * hop_fwd.time_s + hop_back.time_s if n > 1 else zero
    dec_tok = sum(per_tok) + hop_tok
    total = pre_s + G * dec_tok
    # Throughput with S requests in flight: a stage is busy with its compute and the part of
    # its send that does not overlap; every link carries each request once per token.
    if G and n > 1:
        busy = [t + (1.0 - f) * (hop_fwd.time_s if s < n - 1 else hop_back.time_s)
                for s, t in enumerate(per_tok)]
        period = _max(busy + [hop_fwd.time_s, hop_back.time_s])
        piped = S * B / np.maximum(dec_tok, S * period)
    else:
        piped = B / dec_tok if G else np.nan
    sends = sum(h.time_s for h in hops)
    pre_busy = [sum(st["pre_t"]) + ((1.0 - f) * sends if s < n - 1 else 0.0)
                for s, st in enumerate(stages)]
    pre_period = _max(pre_busy + ([sends] if n > 1 else []))
    link_pre = (n - 1) * sends
    link_dec = hop_tok
    pre_bytes = (n - 1) * sum(h.link_bytes for h in hops)
    dec_bytes = ((n - 1) * hop_fwd.link_bytes + hop_back.link_bytes) if n > 1 else 0.0
    link_bytes = pre_bytes + G * dec_bytes
    epb = _as_figures(link).energy_j_per_byte
    dram_j = stages[0]["dram_j"]
    # A hand-off's bytes cross the sender's DRAM (read) and the receiver's (write).
    dma_bytes = 2.0 * link_bytes if dma else 0.0 * link_bytes
    own = [sum(st["pre_t"]) + st["dec_t"] for st in stages]
    own_pre = [sum(st["pre_t"]) for st in stages]
    wait = sum(static_w * (total - t) for t in own)
    wait_pre = sum(static_w * (pre_s - t) for t in own_pre)
    chips_j = sum(sum(st["pre_j"]) + st["dec_j"] for st in stages)
    pre_j = sum(sum(st["pre_j"]) for st in stages) + pre_bytes * epb \
        + (2.0 * pre_bytes * dram_j if dma else 0.0) + wait_pre
    energy = chips_j + link_bytes * epb + dma_bytes * dram_j + wait
    idle = sum(lp.prefill_idle_w * sum(st["pre_t"]) + lp.decode_idle_w * st["dec_t"]
               for st in stages) + wait
    out = [StageEstimate(
        stage=i, first_layer=a, layers=b - a, prefill_s=_f(sum(st["pre_t"])),
        decode_s_per_token=_f(st["dec_t"] / G) if G else float("nan"),
        prefill_energy_j=_f(sum(st["pre_j"])), decode_energy_j=_f(st["dec_j"]),
        weights_bytes=_f(st["weights"]), kv_cache_bytes=_f(st["kv"]),
        memory_bytes=_f(st["memory"]), dram_capacity_bytes=_f(st["dram_capacity"]),
        fits_in_memory=bool(_f(st["memory"]) <= _f(st["dram_capacity"])),
        prefill_bottleneck=st["pre_bound"], decode_bottleneck=st["dec_bound"])
        for i, ((a, b), st) in enumerate(zip(bounds, stages))] if draws is None else []
    return dict(
        prefill_s=pre_s, decode_s_per_token=dec_tok if G else np.nan + zero, total_s=total,
        energy_j=energy, prefill_energy_j=pre_j, idle_energy_j=idle, link_prefill_s=link_pre,
        link_decode_s_per_token=link_dec if G else zero, link_energy_j=link_bytes * epb,
        dma_dram_bytes=dma_bytes, dma_energy_j=dma_bytes * dram_j,
        pipelined_decode_tokens_per_s=piped, prefill_requests_per_s=1.0 / pre_period,
        per_chip=max(out, key=lambda s: s.memory_bytes) if out else None, stages=tuple(out),
        stage_layers=tuple(b - a for a, b in bounds))


def _f(x: Any) -> float:
    return float(np.asarray(x, dtype=float).reshape(-1)[0])


def _max(xs: list) -> Any:
    """Elementwise maximum of scalars and arrays that broadcast."""
    out = xs[0]
    for x in xs[1:]:
        out = np.maximum(out, x)
    return out


def _static_w(chip: Any, options: Any, full: Any) -> Any:
    """The whole chip's static power (over the stacked chips of ``full`` if given)."""
    from chipdse.cost import ChipParams

    cp = full if full is not None else ChipParams.from_chip(chip, ideal=options.ideal_chip)
    return np.asarray(cp.static_power_w, dtype=float)


# --- the front door ------------------------------------------------------------------------

def _configured(system: Any, split: str | None, overlap: float | None,
                prefill_chunks: int | None, streams: int | None,
                stage_layers: tuple[int, ...] | None) -> Any:
    """``system`` with the given settings in place of its own."""
    changes = {k: v for k, v in dict(split=split, overlap=overlap,
                                     prefill_chunks=prefill_chunks, streams=streams,
                                     stage_layers=stage_layers).items() if v is not None}
    if not changes:
        return system
    try:
        return dataclasses.replace(system, **changes)
    except ValueError as exc:
        raise UserError(f"system {system.name}: {exc}") from None


def estimate_system(system: Any, model: Any, precision: Any = None, batch: int = 1,
                    prompt: int = 1024, generate: int = 16, options: Any = None, *,
                    split: str | None = None, overlap: float | None = None,
                    prefill_chunks: int | None = None, streams: int | None = None,
                    stage_layers: tuple[int, ...] | None = None,
                    uncertainty: int | None = None, seed: int = 0,
                    chip_uncertainty: bool = False, dma_dram: bool = True) -> SystemEstimate:
    """One request on ``system``, split by its split (or ``split``: ``tensor`` or
    ``pipeline``), with the system's overlap and pipeline settings unless given (see the
    module docstring). ``uncertainty=N`` draws the link's ranges N times (seeded by ``seed``)
    and, with ``chip_uncertainty``, the chip's numbers and the prediction error with them;
    ``dma_dram=False`` leaves the DMA's DRAM traffic uncosted."""
    from chipdse import api
    from chipdse.cost import CostOptions
    from microarch.system import overlap_label
    from workloads.precision import Precision

    options = options or CostOptions()
    p = precision or Precision()
    s = _configured(system, split, overlap, prefill_chunks, streams, stage_layers)
    if s.split not in ("tensor", "pipeline"):
        raise UserError(f"system {s.name}: estimate needs split: tensor or pipeline (stream "
                        "placement runs whole streams per chip: use simulate)")
    if batch < 1 or prompt < 1 or generate < 0:
        raise UserError(f"batch and prompt must be >= 1 and generate >= 0 "
                        f"(got batch={batch}, prompt={prompt}, generate={generate})")
    if uncertainty is not None and uncertainty < 1:
        raise UserError(f"uncertainty: the number of samples must be >= 1, got {uncertainty}")
    m = api.load_model(model)
    if not m.causal and generate > 0:
        raise UserError(f"causal: false: {m.name} is an encoder, it has no decode phase "
                        "(use --generate 0)")
    api.check_formats(s.chip, m, p)
    run = _tensor if s.split == "tensor" else _pipeline
    point = run(s, m, p, batch, prompt, generate, options, s.link, dma_dram)
    bands, drawn = None, ()
    if uncertainty:
        fig, drawn = link_draws(s.link, uncertainty, seed)
        draws = None
        if chip_uncertainty:
            from chipdse.uncertainty import draw

            draws = draw([s.chip], uncertainty, seed)
            drawn = drawn + ("chip numbers", "prediction error")
        smp = run(s, m, p, batch, prompt, generate, options, fig, dma_dram, draws)
        smp["decode_tokens_per_s"] = batch / smp["decode_s_per_token"]
        from chipdse.uncertainty import percentiles

        shape = (uncertainty,)
        nan3 = (float("nan"),) * 3
        bands = {k: percentiles(np.broadcast_to(np.asarray(smp[k], dtype=float), shape))
                 if generate or k in ("prefill_s", "total_s", "energy_j") else nan3
                 for k in BAND_METRICS}
    finite = [k for k in ("prefill_s", "total_s", "energy_j") if not np.isfinite(point[k])]
    if finite:
        raise UserError(f"system {s.name}: the estimate of {', '.join(finite)} is not finite")
    dec_tok = _f(point["decode_s_per_token"])
    pre_j, energy = _f(point["prefill_energy_j"]), _f(point["energy_j"])
    notes = []
    if s.overlap == 0.0:
        notes.append("overlap: none - link transfers do not overlap compute (an upper bound "
                     "on the time)")
    else:
        notes.append(f"overlap: {overlap_label(s.overlap)} - that share of the link time is "
                     "taken as hidden behind compute")
    if not dma_dram:
        notes.append("the DMA's DRAM traffic is not costed")
    if s.split == "pipeline" and generate:
        streams_n = s.streams or s.count
        notes.append(f"pipeline: one stream's tokens run the {s.count} stages in sequence; "
                     f"pipelined_decode_tokens_per_s has {streams_n} streams in flight")
        short = [st.stage for st in point["stages"] if st.memory_bytes + (streams_n - 1)
                 * st.kv_cache_bytes > st.dram_capacity_bytes]
        if short:
            notes.append(f"pipeline: the KV caches of {streams_n} streams do not fit in the "
                         f"DRAM of stage {', '.join(map(str, short))}")
    per = point["per_chip"]
    if s.split == "tensor":
        mem, fits = per.memory_bytes, bool(per.fits_in_memory)
    else:
        mem = max(st.memory_bytes for st in point["stages"])
        fits = all(st.fits_in_memory for st in point["stages"])
    return SystemEstimate(
        system=s.name, chips=s.count, split=s.split, model=m.name, precision=p.label(),
        batch=batch, prompt_tokens=prompt, generate_tokens=generate,
        prefill_s=_f(point["prefill_s"]), decode_s_per_token=dec_tok,
        decode_tokens_per_s=batch / dec_tok if generate else float("nan"),
        total_s=_f(point["total_s"]), energy_j=energy, prefill_energy_j=pre_j,
        decode_energy_j_per_token=(energy - pre_j) / (generate * batch) if generate
        else float("nan"),
        idle_energy_j=_f(point["idle_energy_j"]), link_prefill_s=_f(point["link_prefill_s"]),
        link_decode_s_per_token=_f(point["link_decode_s_per_token"]) if generate else 0.0,
        link_energy_j=_f(point["link_energy_j"]), dma_dram_bytes=_f(point["dma_dram_bytes"]),
        dma_energy_j=_f(point["dma_energy_j"]), overlap=overlap_label(s.overlap),
        pipelined_decode_tokens_per_s=_f(point["pipelined_decode_tokens_per_s"]),
        prefill_requests_per_s=_f(point["prefill_requests_per_s"]),
        streams=(s.streams or s.count) if s.split == "pipeline" else 1,
        prefill_chunks=s.prefill_chunks if s.split == "pipeline" else 1,
        stage_layers=point["stage_layers"], memory_bytes_per_chip=float(mem),
        fits_in_memory=fits, per_chip=per, stages=point["stages"], bands=bands,
        uncertainty_samples=uncertainty, uncertainty_seed=seed if uncertainty else None,
        drawn=drawn, notes=tuple(notes))


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
