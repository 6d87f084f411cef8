"""The one per-operator cost function, shared by the analytic evaluator and the simulator.

For each operator: time = max(compute time on its engine, traffic time at each memory level)
+ serial work that cannot overlap (unfused dequantisation, unfused softmax) + dispatch overhead.
Achieved efficiencies scale the datasheet peaks. Everything is numpy broadcasting, so one call
costs one operator on one chip (simulator) or one operator type over a million design points
(analytic). Chip-dependent decisions live here, not in the operator lists:

* weights stream from DRAM unless pinned in scratchpad SRAM (a hardware cache only holds them
  when they fit whole in half of it); a pinned weight keeps its DRAM copy, so an operator reads
  from SRAM only the share that levels its SRAM and DRAM times (at most what is pinned): more
  SRAM is never slower, a slow scratchpad never slower than DRAM alone;
* the KV cache fills the dedicated KV SRAM first and spills the rest to DRAM; a hybrid's
  recurrent state (linear-attention and Mamba layers) is part of the same KV store and is
  placed the same way (the same share of it sits in KV SRAM);
* prefill GEMMs re-read weights once per row tile and activations once per column tile, with a
  tile edge set by the on-chip buffer: T = sqrt(buffer_bytes / 4) (4-byte accumulators);
* attention is flash-style (scores stay on chip) or unfused (scores written and read 4 times);
  the chunked scans of linear-attention and state-space layers are fused kernels like
  flash attention (their matrix work at the attention efficiency, their element-wise work
  overlapped with it);
* MoE expert GEMMs pay a per-expert overhead without a native MoE engine;
* weight-only formats are dequantised in the GEMM (efficiency factor) or by a separate vector
  pass that writes the widened weights back; quantised activations need conversion operators
  on the vector units, and non-linear operators run there too, unless the chip fuses them;
* 2:4-sparse weights halve GEMM time and store half the values plus 2-bit indices;
* energy = ops x energy/op + bytes x energy/byte at each level + static power x time.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np

from chipdse.errors import UserError
from microarch.chip import Chip
from microarch.figures import ChipFigures
from workloads.ops import Op, expert_selection_probability

__all__ = ["CostOptions", "ChipParams", "OpCost", "op_cost", "Placement", "placement", "BOUNDS"]

Array = Any

# Names of what bounds an operator, by index in OpCost.bound.
BOUNDS = ("compute", "vector", "dram", "sram", "kv_sram", "dispatch")

_TILE_BUFFER_FRACTION = 0.5  # assumption: half the SRAM holds GEMM tiles (double buffering)
_ACT_ONCHIP_FRACTION = 0.5   # assumption: an activation tensor stays on chip if it fits here
_CACHE_FIT_FRACTION = 0.5  # assumption: an LRU cache keeps weights only if they fit in half
_DEQUANT_BYTES = 2.0  # an unfused dequantiser writes FP16 weights (then reads them back)
_MIN_FREE_SRAM_FRACTION = 0.1  # assumption: pinned weights never take the last tenth of SRAM
_UNFUSED_SCORE_PASSES = 4.0  # write S, read S (softmax), write P, read P (PV)
_UNFUSED_ATTN_KERNELS = 3.0  # QK^T, softmax, PV
_MIN_SPLIT_K = 256.0  # a split-K slice keeps at least this many reduction elements
_TILE_SUM_TERMS = 24  # exact tile sums up to this many terms (see _grouped_row_tiles)
_DEFAULT_ROW_TILE = 128.0  # row tile of a chip whose GEMM organisation is unknown


@dataclass(frozen=True)
class CostOptions:
    """Switches of the cost model.

    Attributes:
        activation_traffic: count activation reads / writes.
        kv_write_traffic: count the KV-cache write of new tokens.
        tiling: prefill GEMM traffic depends on the on-chip buffer (else each operand once).
        ideal_chip: efficiencies 1, no dispatch or per-expert overhead (the paper's roofline).
    """

    activation_traffic: bool = True
    kv_write_traffic: bool = True
    tiling: bool = True
    ideal_chip: bool = False

    @classmethod
    def paper(cls) -> CostOptions:
        """The source paper's pure roofline (arXiv 2602.10377, Sec. 3.3)."""
        return cls(activation_traffic=False, kv_write_traffic=False, tiling=False,
                   ideal_chip=True)


@dataclass(frozen=True)
class ChipParams:
    """A chip reduced to the achieved rates the cost function needs; fields broadcast, so one
    instance can hold many chips (arrays) for vectorised sweeps. Build it with
    :meth:`from_chip` (one chip) or :meth:`from_figures` (any :class:`ChipFigures`, e.g. a
    template population): the one mapping from datasheet figures to achieved rates."""

    name: Any
    matrix_ops_per_s: Mapping[str, Array]   # achieved ops/s of GEMMs whose operands are in fmt
    matrix_j_per_op: Mapping[str, Array]    # J/op of GEMMs whose operands are in fmt
    weight_only_efficiency: Array           # factor on weight-only (dequantising) GEMMs
    sparse_2_4_speedup: Array
    vector_ops_per_s: Array
    sfu_ops_per_s: Array
    vector_j_per_op: Array
    dram_bytes_per_s: Array
    dram_j_per_byte: Array
    dram_capacity_bytes: Array
    sram_capacity_bytes: Array
    sram_bytes_per_s: Array
    sram_j_per_byte: Array
    pinnable_capacity_bytes: Array
    kv_capacity_bytes: Array
    kv_bytes_per_s: Array
    kv_j_per_byte: Array
    dispatch_per_op_s: Array
    per_expert_overhead_s: Array            # 0 with a native MoE engine
    fused_attention: Array
    fused_nonlinear: Array
    fused_dequant: Array
    fused_conversion: Array
    conversion_ops_per_element: Array
    static_power_w: Array
    # Where pinned weights sit: the fastest scratchpad first (pin_fast_capacity_bytes at
    # pin_fast_bytes_per_s), the rest of the pinnable capacity at pin_slow_bytes_per_s.
    # None: all pinnable SRAM at sram_bytes_per_s.
    pin_fast_capacity_bytes: Array = None
    pin_fast_bytes_per_s: Array = None
    pin_slow_bytes_per_s: Array = None
    cache_capacity_bytes: Array = None  # hardware-cache capacity; None: sram_capacity_bytes
    # GEMM organisation (see gemm_shape_efficiency): cores the tiles spread over (0: no tile or
    # wave quantisation), the tile of one core, and the tile fill overhead in K elements.
    gemm_cores: Array = 0.0
    gemm_tile_m: Array = 1.0
    gemm_tile_n: Array = 1.0
    gemm_tile_min_m: Array = 1.0
    gemm_grouped_min_m: Array = 1.0
    gemm_k_overhead: Array = 0.0
    dequant_ops_per_element: Array = 0.0  # vector ops per weight element per row tile
    dequant_ops_per_s: Array = 1.0        # vector peak the in-GEMM dequantiser runs at
    weight_only_row_tile: Array = 0.0     # row tile of weight-only kernels (0: the GEMM's)
    attention_scale: Array = 1.0          # fused attention's rate / the 16-bit GEMM rate

    def __post_init__(self) -> None:
        for name, default in (("pin_fast_capacity_bytes", "pinnable_capacity_bytes"),
                              ("pin_fast_bytes_per_s", "sram_bytes_per_s"),
                              ("pin_slow_bytes_per_s", "sram_bytes_per_s"),
                              ("cache_capacity_bytes", "sram_capacity_bytes")):
            if getattr(self, name) is None:
                object.__setattr__(self, name, getattr(self, default))

    @classmethod
    def from_figures(cls, f: ChipFigures, ideal: bool = False) -> ChipParams:
        """Achieved rates of the chip(s) ``f`` describes: datasheet peaks x the efficiencies
        in ``f.efficiency``, unless ``ideal`` (efficiency 1, no dispatch or per-expert
        overhead: the paper's roofline)."""
        eff = f.efficiency
        e = (lambda x: 1.0) if ideal else (lambda x: x)
        rates = {fmt: f.matrix_peak_ops_per_s[ex] * e(eff.matrix_for(ex))
                 for fmt, ex in f.execution_format.items()}
        energies = {fmt: f.matrix_j_per_op[ex] for fmt, ex in f.execution_format.items()}
        sram_e = e(eff.sram)
        has_kv = np.asarray(f.kv_capacity_bytes) > 0
        return cls(
            name=f.name, matrix_ops_per_s=rates, matrix_j_per_op=energies,
            weight_only_efficiency=e(eff.weight_only_gemm),
            sparse_2_4_speedup=f.sparse_2_4_speedup,
            vector_ops_per_s=f.vector_peak_ops_per_s * e(eff.vector),
            sfu_ops_per_s=f.sfu_peak_ops_per_s * e(eff.vector),
            vector_j_per_op=f.vector_j_per_op,
            dram_bytes_per_s=f.dram_bytes_per_s * e(eff.dram),
            dram_j_per_byte=f.dram_j_per_byte, dram_capacity_bytes=f.dram_capacity_bytes,
            sram_capacity_bytes=f.sram_capacity_bytes,
            sram_bytes_per_s=f.sram_bytes_per_s * sram_e, sram_j_per_byte=f.sram_j_per_byte,
            pinnable_capacity_bytes=f.pinnable_capacity_bytes,
            pin_fast_capacity_bytes=f.pin_fast_capacity_bytes,
            pin_fast_bytes_per_s=f.pin_fast_bytes_per_s * sram_e,
            pin_slow_bytes_per_s=f.pin_slow_bytes_per_s * sram_e,
            cache_capacity_bytes=f.cache_capacity_bytes,
            kv_capacity_bytes=f.kv_capacity_bytes,
            kv_bytes_per_s=_sel(has_kv, f.kv_bytes_per_s * sram_e, 1.0),
            kv_j_per_byte=_sel(has_kv, f.kv_j_per_byte, 0.0),
            dispatch_per_op_s=0.0 if ideal else f.dispatch_per_op_s,
            per_expert_overhead_s=0.0 if ideal else _sel(f.native_moe, 0.0,
                                                         f.per_expert_overhead_s),
            fused_attention=f.fused_attention, fused_nonlinear=f.fused_nonlinear,
            fused_dequant=f.fused_dequant, fused_conversion=f.fused_conversion,
            conversion_ops_per_element=f.conversion_ops_per_element,
            static_power_w=f.static_power_w,
            gemm_cores=0.0 if ideal else f.gemm_cores, gemm_tile_m=f.gemm_tile_m,
            gemm_tile_n=f.gemm_tile_n, gemm_tile_min_m=f.gemm_tile_min_m,
            gemm_grouped_min_m=f.gemm_grouped_min_m,
            gemm_k_overhead=0.0 if ideal else eff.gemm_k_overhead,
            dequant_ops_per_element=0.0 if ideal else eff.dequant_ops_per_element,
            dequant_ops_per_s=f.vector_peak_ops_per_s,
            weight_only_row_tile=eff.weight_only_row_tile,
            attention_scale=1.0 if ideal or not eff.attention
            else eff.attention / eff.matrix_for("fp16"),
        )

    @classmethod
    def from_chip(cls, chip: Chip, ideal: bool = False) -> ChipParams:
        """Achieved rates of ``chip`` (:meth:`from_figures` of its :class:`ChipFigures`)."""
        return cls.from_figures(ChipFigures.of(chip), ideal)

    @classmethod
    def stack(cls, params: Sequence[ChipParams]) -> ChipParams:
        """Many chips as one instance whose fields are arrays over chips (leading axis)."""
        kw: dict[str, Any] = {}
        for f in dataclasses.fields(cls):
            vals = [getattr(p, f.name) for p in params]
            if f.name in _FORMAT_FIELDS:
                common = set.intersection(*(set(v) for v in vals))
                kw[f.name] = {k: np.array([v[k] for v in vals], dtype=float) for k in common}
            elif f.name == "name":
                kw[f.name] = np.array(vals, dtype=object)
            else:
                kw[f.name] = np.array(vals, dtype=float)
        return cls(**kw)

    def map(self, fn) -> ChipParams:
        """Apply ``fn`` to every numeric array field (e.g. add an axis for broadcasting)."""
        kw: dict[str, Any] = {}
        for f in dataclasses.fields(self):
            v = getattr(self, f.name)
            if f.name in _FORMAT_FIELDS:
                kw[f.name] = {k: fn(np.asarray(x)) for k, x in v.items()}
            elif f.name == "name":
                kw[f.name] = v
            else:
                kw[f.name] = fn(np.asarray(v))
        return ChipParams(**kw)

    def replace(self, **changes) -> ChipParams:
        return dataclasses.replace(self, **changes)

    def scaled(self, compute: Array = 1.0, bandwidth: Array = 1.0) -> ChipParams:
        """This chip with ``compute`` times its engines and ``bandwidth`` times its DRAM
        bandwidth (what-if scaling; a partition of the chip is :meth:`partition`)."""
        return self.replace(
            matrix_ops_per_s={k: v * compute for k, v in self.matrix_ops_per_s.items()},
            vector_ops_per_s=self.vector_ops_per_s * compute,
            sfu_ops_per_s=self.sfu_ops_per_s * compute,
            dram_bytes_per_s=self.dram_bytes_per_s * bandwidth,
            dequant_ops_per_s=self.dequant_ops_per_s * compute)

    def partition(self, compute: Array, bandwidth: Array, sram: Array) -> ChipParams:
        """One partition of this chip holding ``compute`` of its engines (and their static
        power), ``bandwidth`` of its DRAM and KV-SRAM bandwidth, and ``sram`` of its shared /
        local SRAM (capacity, pinnable capacity and bandwidth). The KV SRAM's capacity is not
        split: prefill writes the cache that decode reads. Every partition (static, the
        reconfigurable splits of the simulator, the search) is built here."""
        return self.scaled(compute=compute, bandwidth=bandwidth).replace(
            sram_capacity_bytes=self.sram_capacity_bytes * sram,
            pinnable_capacity_bytes=self.pinnable_capacity_bytes * sram,
            sram_bytes_per_s=self.sram_bytes_per_s * sram,
            kv_bytes_per_s=self.kv_bytes_per_s * bandwidth,
            pin_fast_capacity_bytes=self.pin_fast_capacity_bytes * sram,
            pin_fast_bytes_per_s=self.pin_fast_bytes_per_s * sram,
            pin_slow_bytes_per_s=self.pin_slow_bytes_per_s * sram,
            cache_capacity_bytes=self.cache_capacity_bytes * sram,
            static_power_w=self.static_power_w * compute,
            gemm_cores=self.gemm_cores * compute)


_FORMAT_FIELDS = ("matrix_ops_per_s", "matrix_j_per_op")


@dataclass
class OpCost:
    """Cost of one operator instance (arrays broadcast over design points)."""

    time_s: Array
    compute_s: Array
    dram_s: Array
    sram_s: Array
    kv_s: Array
    serial_s: Array
    overhead_s: Array
    energy_j: Array
    dram_bytes: Array
    sram_bytes: Array
    kv_bytes: Array
    bound: Array  # index into BOUNDS


def _zero(x: Any) -> bool:
    """True for a scalar zero (lets whole sections be skipped in large sweeps)."""
    if isinstance(x, (float, int)):  # Python and numpy floats, ints and bools: the hot case
        return x == 0.0
    if isinstance(x, np.ndarray):
        return x.ndim == 0 and float(x) == 0.0
    return np.ndim(x) == 0 and float(x) == 0.0


def _scalar(x: Any) -> bool:
    """True for a 0-d value (a number or a 0-d array)."""
    return isinstance(x, (float, int)) or np.ndim(x) == 0


def _sum(*terms: Any) -> Any:
    """Sum that skips scalar zeros (saves whole-array passes in large sweeps)."""
    live = [t for t in terms if not _zero(t)]
    if not live:
        return 0.0
    out = live[0]
    for t in live[1:]:
        out = out + t
    return out


def _max(*terms: Any) -> Any:
    """Element-wise maximum that skips scalar zeros (times are never negative)."""
    live = [t for t in terms if not _zero(t)]
    if not live:
        return 0.0
    out = live[0]
    for t in live[1:]:
        out = np.maximum(out, t)
    return out


def _sel(cond: Any, a: Any, b: Any) -> Any:
    """``np.where`` that stays a cheap Python branch for scalar conditions."""
    if _scalar(cond):
        return a if bool(cond) else b
    return np.where(cond, a, b)


def _argmax_first(values: Sequence[Any]) -> Any:
    """``np.argmax`` over a list of 0-d values (the first NaN wins, as in numpy), without
    building an array."""
    best = 0
    for i, v in enumerate(values):
        if v != v:
            return np.intp(i)
        if v > values[best]:
            best = i
    return np.intp(best)


def _argmax_arrays(values: Sequence[Any]) -> np.ndarray:
    """``np.argmax(np.stack(np.broadcast_arrays(*values)), axis=0)`` by a running maximum
    (no stacked copy): the first of equal values wins, and where a value is NaN the first
    NaN, as in numpy."""
    shape = np.broadcast_shapes(*(np.shape(v) for v in values))
    best = np.array(np.broadcast_to(values[0], shape), dtype=float)
    idx = np.zeros(shape, dtype=np.intp)
    for k, v in enumerate(values[1:], 1):
        np.copyto(idx, k, where=np.greater(v, best))
        np.maximum(best, v, out=best)  # NaN wherever any value so far is NaN
    nan = np.isnan(best)
    if nan.any():
        idx[nan] = np.argmax(np.stack([np.broadcast_to(v, shape)[nan] for v in values]), axis=0)
    return idx


@dataclass(frozen=True)
class Placement:
    """Where data lives for one pass: the chip-and-model facts every operator of the pass
    shares (computed once per pass by :func:`placement`)."""

    pinned_fraction: Array          # share of the weights resident in SRAM
    pinned_bytes_per_s: Array       # bandwidth at which the resident weights are read
    kv_sram_fraction: Array         # share of the KV cache in KV SRAM
    tile_elements: Array            # GEMM tile edge (elements) from the on-chip buffer
    act_onchip_limit_bytes: Array   # activation tensors up to this size stay on chip


def placement(chip: ChipParams, weights_total_bytes: Array, kv_total_bytes: Array) -> Placement:
    """Weight residency, KV-SRAM share and tiling of a pass (see the module docstring).

    Scratchpads pin weights in the fastest level first, then in the others; reading them takes
    as long as the slowest level's share. A hardware cache holds the weights only when they fit
    in half of it. Tiles and on-chip activations use what the pinned weights leave free (at
    least :data:`_MIN_FREE_SRAM_FRACTION` of the SRAM)."""
    wt = np.maximum(np.asarray(weights_total_bytes, dtype=float), 1.0)
    if np.any(np.asarray(chip.pinnable_capacity_bytes) > 0):
        w_fast = np.minimum(wt, chip.pin_fast_capacity_bytes)
        w_slow = np.minimum(wt - w_fast, np.maximum(
            chip.pinnable_capacity_bytes - chip.pin_fast_capacity_bytes, 0.0))
        pinned_bytes = w_fast + w_slow
        read_s = np.maximum(w_fast / chip.pin_fast_bytes_per_s,
                            w_slow / chip.pin_slow_bytes_per_s)
        pinned_bw = np.where(read_s > 0, pinned_bytes / np.maximum(read_s, 1e-30),
                             chip.sram_bytes_per_s)
        cached = wt <= _CACHE_FIT_FRACTION * chip.cache_capacity_bytes
        pinned_bytes = np.where(pinned_bytes > 0, pinned_bytes, np.where(cached, wt, 0.0))
        pinned_bw = np.where(w_fast > 0, pinned_bw, chip.sram_bytes_per_s)
    else:
        pinned_bytes = _sel(wt <= _CACHE_FIT_FRACTION * chip.cache_capacity_bytes, wt, 0.0)
        pinned_bw = chip.sram_bytes_per_s
    pinned = pinned_bytes / wt
    if _zero(chip.kv_capacity_bytes):
        kv_frac: Array = 0.0
    else:
        kt = np.asarray(kv_total_bytes, dtype=float)
        kv_frac = np.minimum(1.0, chip.kv_capacity_bytes / np.maximum(kt, 1.0))
    free = np.maximum(chip.sram_capacity_bytes - pinned_bytes,
                      chip.sram_capacity_bytes * _MIN_FREE_SRAM_FRACTION)
    tile = np.sqrt(np.maximum(free * _TILE_BUFFER_FRACTION, 1.0) / 4.0)
    return Placement(pinned, pinned_bw, kv_frac, tile, free * _ACT_ONCHIP_FRACTION)


def _row_tile(rows: Array, lo: Array, hi: Array) -> Array:
    """The row tile a kernel picks: the smallest power of two holding ``rows``, within
    [lo, hi]."""
    p2 = 2.0 ** np.ceil(np.log2(np.maximum(np.asarray(rows, dtype=float), 1.0)))
    return np.minimum(np.maximum(p2, lo), hi)  # np.clip, cheaper on scalars (p2 >= 1)


def _uniform(x: Any) -> Any:
    """A scalar when every element of ``x`` is equal (value sets that share a shape)."""
    a = np.asarray(x, dtype=float)
    if a.ndim and a.size and np.all(a == a.flat[0]):
        return float(a.flat[0])
    return float(a) if a.ndim == 0 else a


def _grouped_row_tiles(op: Op, tile_m: Array, per_expert: bool = False) -> Array:
    """Expected row tiles of a grouped expert GEMM (see :func:`_grouped_row_tiles_of`), over
    all experts, or per touched expert with ``per_expert``."""
    args = tuple(_uniform(x) for x in (op.expert_pool, op.expert_topk, op.expert_skew,
                                       op.routed_tokens, tile_m))
    if all(isinstance(a, float) for a in args):
        tiles, touched = _grouped_row_tiles_cached(*args)
    else:
        tiles, touched = _grouped_tiles_recent(args)
    return tiles / np.maximum(touched, 1e-30) if per_expert else tiles


_RECENT: list[tuple[tuple, tuple]] = []  # (args, (tiles, touched)) of the last array calls
_RECENT_SIZE = 4  # a pass asks the same routing for its row tiles, weight tiles, up and down
_RECENT_MAX_ELEMENTS = 1 << 20


def _same_args(a: tuple, b: tuple) -> bool:
    return all((x == y) if isinstance(x, float) and isinstance(y, float) else
               (isinstance(x, np.ndarray) and isinstance(y, np.ndarray)
                and np.array_equal(x, y)) for x, y in zip(a, b))


def _grouped_tiles_recent(args: tuple) -> tuple[Array, Array]:
    """:func:`_grouped_tiles_arrays`, remembered for the last few argument sets (compared by
    value: the same numbers give the same result)."""
    for old, out in _RECENT:
        if _same_args(old, args):
            return out
    out = _grouped_tiles_arrays(args)
    if max(np.size(a) for a in args) <= _RECENT_MAX_ELEMENTS:
        kept = tuple(a if isinstance(a, float) else np.array(a, dtype=float) for a in args)
        _RECENT[:] = [(kept, out)] + _RECENT[:_RECENT_SIZE - 1]
    return out


def _grouped_tiles_arrays(args: tuple) -> tuple[Array, Array]:
    """(tiles, experts touched) of :func:`_grouped_row_tiles_of` over array arguments."""
    # A population holds few distinct (experts, top-k, skew, tokens, tile) tuples: cost
    # each once (the sum is per element, so the result is the same).
    shape = np.broadcast_shapes(*(np.shape(a) for a in args))
    size = int(np.prod(shape))
    # Distinct tuples by a mixed-radix code of the columns that vary (a 1-D sort per
    # column: far cheaper than a row-wise unique over float rows).
    key = np.zeros(size, dtype=np.int64)
    for a in args:
        if isinstance(a, float):
            continue
        _, inv = np.unique(np.broadcast_to(np.asarray(a, dtype=float), shape).ravel(),
                           return_inverse=True)
        _, key = np.unique(key * (int(inv.max()) + 1) + inv.reshape(-1),
                           return_inverse=True)
    first = np.unique(key, return_index=True)[1]
    if len(first) < size:
        cols = [a if isinstance(a, float) else
                np.broadcast_to(np.asarray(a, dtype=float), shape).ravel()[first]
                for a in args]
        t_u, n_u = _grouped_row_tiles_of(*cols)
        inverse = key.reshape(-1)
        # key codes are ranks of distinct tuples, in the order of ``first``
        tiles = np.broadcast_to(np.asarray(t_u), (len(first),))[inverse].reshape(shape)
        touched = np.broadcast_to(np.asarray(n_u), (len(first),))[inverse].reshape(shape)
    else:
        tiles, touched = _grouped_row_tiles_of(*args)
    for x in (tiles, touched):  # shared by later calls (see _grouped_tiles_recent)
        if isinstance(x, np.ndarray):
            x.setflags(write=False)
    return tiles, touched


@lru_cache(maxsize=4096)
def _grouped_row_tiles_cached(*args: float) -> tuple[float, float]:
    tiles, touched = _grouped_row_tiles_of(*args)
    return float(tiles), float(touched)


def _grouped_row_tiles_of(pool: Array, topk: Array, skew: Array, tokens: Array,
                          tile_m: Array) -> tuple[Array, Array]:
    """Expected row tiles of a grouped expert GEMM: sum over experts of E[ceil(X_r / t)],
    X_r ~ Binomial(tokens, q_r) the tokens routed to expert r (q_r from the Zipf routing law of
    :func:`workloads.ops.expert_selection_probability`).

    E[ceil(X / t)] = sum_j P(X > j t): terms far below the mean are 1 and far above it 0, so
    only the window mean +- 8 sd is summed exactly; where that window spans more than
    :data:`_TILE_SUM_TERMS` tiles the remainder X mod t is spread evenly and
    E[ceil(X / t)] = E[X] / t + P(X > 0) (1 - 1/t) / 2. Returns (tiles, experts touched)."""
    from scipy.special import bdtr  # binomial CDF; scipy is imported only for MoE GEMMs

    shape = np.broadcast_shapes(*(np.shape(x) for x in (pool, topk, skew, tokens, tile_m)))
    b = lambda x: np.broadcast_to(np.asarray(x, dtype=float), shape)  # noqa: E731
    q = expert_selection_probability(b(pool), b(topk), b(skew))
    n = np.floor(b(tokens))[..., None]
    t = b(tile_m)[..., None]
    mu, sd = n * q, np.sqrt(n * q * (1.0 - q))
    any_token = 1.0 - (1.0 - q) ** n
    lo = np.floor(np.maximum(mu - 8.0 * sd, 0.0) / t)
    width = np.ceil(16.0 * sd / t) + 2.0
    exact = width <= _TILE_SUM_TERMS
    spread = mu / t + any_token * (1.0 - 1.0 / t) / 2.0
    # j = 0 contributes P(X > 0); terms 1 <= j < lo are 1.
    tiles = any_token + np.maximum(lo - 1.0, 0.0)
    for i in range(int(np.max(np.where(exact, width, 0.0))) + 1):
        j = np.maximum(lo, 1.0) + i
        kk = np.floor(np.minimum(j * t, n)).astype(np.int64)
        term = np.where(j * t < n, 1.0 - bdtr(kk, n.astype(np.int64), q), 0.0)
        tiles = tiles + np.where(exact & (i < width), term, 0.0)
    return np.sum(np.where(exact, tiles, spread), axis=-1), np.sum(any_token, axis=-1)


def gemm_shape_efficiency(op: Op, chip: ChipParams) -> Array:
    """Fraction of the matrix rate a GEMM of this shape keeps on the chip's organisation
    (the first part of :func:`gemm_tiling`)."""
    return gemm_tiling(op, chip)[0]


def gemm_tiling(op: Op, chip: ChipParams) -> tuple[Array, Array]:
    """(shape efficiency, row tiles per weight matrix) of a GEMM on the chip's organisation.

    A core computes output tiles of ``tile_m x tile_n`` (the row tile shrinks to the smallest
    power of two holding the rows, down to ``tile_min_m``; a grouped expert GEMM uses one row
    tile for every expert, set by the mean tokens per touched expert). Rows and columns are
    padded to whole tiles (tile quantisation), the tiles run in waves over ``gemm_cores``
    (wave quantisation; when there are fewer tiles than cores, the reduction is split to fill
    them), and each tile of depth K runs at K / (K + gemm_k_overhead) (main-loop fill, drain
    and epilogue). The efficiency multiplies the achieved large-GEMM rate.

    Row tiles per weight matrix: how many times each weight element enters a tile (a
    weight-only GEMM dequantises it that many times); for a grouped GEMM the mean over touched
    experts. Without a known organisation the row tile is ``_DEFAULT_ROW_TILE``."""
    if op.kind != "gemm":
        return 1.0, 1.0
    known = np.asarray(chip.gemm_cores) > 0
    if not (known if known.ndim == 0 else np.any(known)):
        rows = np.maximum(np.asarray(op.gemm_m, dtype=float), 1.0)
        return 1.0, np.ceil(rows / _DEFAULT_ROW_TILE)
    cores = np.maximum(chip.gemm_cores, 1.0)
    n_cols = np.maximum(np.asarray(op.gemm_n, dtype=float), 1.0)
    k = np.maximum(np.asarray(op.gemm_k, dtype=float), 1.0)
    tiles_n = np.ceil(n_cols / chip.gemm_tile_n)
    if _zero(op.expert_pool):
        rows = np.maximum(np.asarray(op.gemm_m, dtype=float), 1.0)
        tm = _row_tile(rows, chip.gemm_tile_min_m, chip.gemm_tile_m)
        tiles_m = np.ceil(rows / tm)
        useful_rows = rows
    else:
        per_expert = np.maximum(np.asarray(op.gemm_m, dtype=float), 1.0)
        tm = _row_tile(per_expert, chip.gemm_grouped_min_m, chip.gemm_tile_m)
        tiles_m = _grouped_row_tiles(op, tm)
        useful_rows = np.asarray(op.routed_tokens, dtype=float) * np.asarray(op.expert_topk,
                                                                              dtype=float)
    if op.weight_only and np.any(np.asarray(chip.weight_only_row_tile) > 0):
        # Weight-only kernels run their own (short) row tile: each weight element is widened
        # once per such tile.
        wo = np.where(np.asarray(chip.weight_only_row_tile) > 0, chip.weight_only_row_tile, tm)
        per_weight = (np.ceil(np.maximum(np.asarray(op.gemm_m, dtype=float), 1.0) / wo)
                      if _zero(op.expert_pool) else _grouped_row_tiles(op, wo, True))
    else:
        per_weight = tiles_m if _zero(op.expert_pool) else _grouped_row_tiles(op, tm, True)
    tiles = tiles_m * tiles_n
    split = np.minimum(np.maximum(np.floor(cores / np.maximum(tiles, 1.0)), 1.0),
                       np.maximum(np.floor(k / _MIN_SPLIT_K), 1.0))  # np.clip (all >= 1)
    waves = np.ceil(tiles * split / cores)
    util = useful_rows * n_cols * split / (waves * cores * tm * chip.gemm_tile_n)
    k_split = k / split
    eff = np.minimum(util, 1.0) * k_split / (k_split + chip.gemm_k_overhead)
    if known.ndim == 0 and known and np.ndim(eff) == 0 and np.ndim(per_weight) == 0:
        return eff, per_weight  # what np.where would pick, as numbers
    fallback = np.ceil(np.maximum(np.asarray(op.gemm_m, dtype=float), 1.0) / _DEFAULT_ROW_TILE)
    return np.where(known, eff, 1.0), np.where(known, per_weight, fallback)


def op_cost(op: Op, chip: ChipParams, weights_total_bytes: Array, kv_total_bytes: Array,
            options: CostOptions = CostOptions(), with_bound: bool = True,
            where: Placement | None = None) -> OpCost:
    """Cost of one instance of ``op`` on ``chip``.

    ``weights_total_bytes`` (all weights of the model) decides how much is pinned on chip;
    ``kv_total_bytes`` (the whole KV store at this step: KV cache and recurrent state,
    :func:`workloads.ops.kv_cache_bytes`) decides how much spills to DRAM.
    ``where`` may pass the :func:`placement` already computed for the pass (same result).
    ``with_bound=False`` skips classifying the bound (faster for large sweeps).
    """
    zero = 0.0
    if where is None:
        where = placement(chip, weights_total_bytes, kv_total_bytes)
    dispatches: Array = 1.0
    serial: Array = zero
    dram_extra: Array = zero
    vector_bound: Array = True

    # ---- compute ---------------------------------------------------------------------
    if op.engine == "matrix":
        if op.fmt not in chip.matrix_ops_per_s:
            raise UserError(f"chip {chip.name} cannot execute {op.fmt} GEMMs "
                            f"(operator {op.name}; it runs "
                            f"{', '.join(sorted(chip.matrix_ops_per_s))})")
        shape_eff, row_tiles = gemm_tiling(op, chip)
        rate = chip.matrix_ops_per_s[op.fmt] * shape_eff
        if op.kind in ("attention", "scan"):
            rate = rate * chip.attention_scale
        if op.weight_only:
            rate = rate * _sel(chip.fused_dequant, chip.weight_only_efficiency, 1.0)
        if op.sparse24:
            rate = rate * chip.sparse_2_4_speedup
        matrix_s = op.flops / rate
        if op.weight_only and not _zero(chip.dequant_ops_per_element):
            # A fused dequantiser widens every weight element once per row tile that uses it,
            # on the vector units at their peak (its ops per element absorb how far from the
            # peak it runs), beside the matrix work (warp-specialised main loop).
            deq = op.weight_elements * row_tiles * chip.dequant_ops_per_element
            deq_s = _sel(chip.fused_dequant, deq / chip.dequant_ops_per_s, 0.0)
            matrix_s = np.maximum(matrix_s, deq_s)
        if _zero(op.vector_ops) and _zero(op.sfu_ops):
            vec_s: Array = zero
            compute = matrix_s
        else:
            vec_s = op.vector_ops / chip.vector_ops_per_s + op.sfu_ops / chip.sfu_ops_per_s
            if op.kind == "attention":
                # Fused: softmax overlaps the matrix work inside one kernel. Unfused: separate
                # kernels run one after another.
                fa = chip.fused_attention
                compute = _sel(fa, np.maximum(matrix_s, vec_s), matrix_s)
                serial = _sel(fa, 0.0, vec_s)
                dispatches = _sel(fa, 1.0, _UNFUSED_ATTN_KERNELS)
            elif op.kind == "scan":
                compute = np.maximum(matrix_s, vec_s)
            else:
                compute = matrix_s + vec_s
        if with_bound:
            vector_bound = np.asarray(vec_s) > np.asarray(matrix_s)
        flops_energy = op.flops * chip.matrix_j_per_op[op.fmt]
        if op.sparse24:  # the sparse engine skips the pruned half of the MACs
            flops_energy = flops_energy / chip.sparse_2_4_speedup
    else:
        vec_ops = op.vector_ops
        if not _zero(op.convert_elements):
            vec_ops = vec_ops + op.convert_elements * chip.conversion_ops_per_element
        compute = vec_ops / chip.vector_ops_per_s
        if not _zero(op.sfu_ops):
            compute = compute + op.sfu_ops / chip.sfu_ops_per_s
        flops_energy = zero
        if op.kind == "nonlinear":
            gone: Any = chip.fused_nonlinear
        elif op.kind == "conversion":
            gone = np.logical_or(chip.fused_conversion, chip.fused_nonlinear)
        else:
            gone = False
        # A fused operator runs inside its neighbour's pipeline: no time of its own, no trip
        # through memory, no launch; its arithmetic still costs energy.
        compute = _sel(gone, 0.0, compute)
        dispatches = _sel(gone, 0.0, 1.0)

    vec_energy = op.vector_ops + op.sfu_ops
    if not _zero(op.convert_elements):
        vec_energy = vec_energy + op.convert_elements * chip.conversion_ops_per_element
    vec_energy = vec_energy * chip.vector_j_per_op

    # ---- weights ---------------------------------------------------------------------
    if _zero(op.weight_bytes):
        w_dram = w_sram = zero
        a_reread: Array = 1.0
    else:
        w_bytes = op.weight_bytes  # 2:4 weights are already stored compressed
        if op.kind == "gemm" and options.tiling:
            w_reread = np.maximum(1.0, op.gemm_m / where.tile_elements)
            a_reread = np.maximum(1.0, op.gemm_n / where.tile_elements)
        else:
            w_reread, a_reread = 1.0, 1.0
        w_total = w_bytes * w_reread
        w_sram = where.pinned_fraction * w_total
        w_dram = w_total - w_sram
        if op.weight_only and not _zero(op.weight_elements):
            # Without a fused dequantiser, a vector pass widens the weights and writes them
            # back (2-byte result, written then read).
            unf = np.logical_not(chip.fused_dequant)
            extra_ops = _sel(unf, op.weight_elements * chip.conversion_ops_per_element, 0.0)
            serial = serial + extra_ops / chip.vector_ops_per_s
            dram_extra = _sel(unf, op.weight_elements * _DEQUANT_BYTES * 2.0, 0.0)
            dispatches = dispatches + _sel(unf, 1.0, 0.0)
            vec_energy = vec_energy + extra_ops * chip.vector_j_per_op

    # ---- activations -----------------------------------------------------------------
    if options.activation_traffic:
        act = op.act_in_bytes * a_reread + op.act_out_bytes
        if op.engine == "vector":
            act = _sel(dispatches > 0, act, 0.0)
        big = np.asarray(op.act_in_bytes) > where.act_onchip_limit_bytes
        act_dram = _sel(big, act, 0.0)
        act_sram = act - act_dram
    else:
        act_dram = act_sram = zero
    if op.kind == "attention":
        scores = op.score_bytes * _UNFUSED_SCORE_PASSES
        big = np.asarray(op.score_bytes) > where.act_onchip_limit_bytes
        score_traffic = _sel(chip.fused_attention, 0.0, scores)
        act_dram = act_dram + _sel(big, score_traffic, 0.0)
        act_sram = act_sram + _sel(big, 0.0, score_traffic)

    # ---- KV cache and recurrent state -------------------------------------------------
    kv = op.kv_read_bytes
    if options.kv_write_traffic and not _zero(op.kv_write_bytes):
        kv = kv + op.kv_write_bytes
    if not _zero(op.state_read_bytes):
        kv = kv + op.state_read_bytes
    if options.kv_write_traffic and not _zero(op.state_write_bytes):
        kv = kv + op.state_write_bytes
    if _zero(kv):
        kv_sram = kv_dram = zero
    else:
        kv_sram = zero if _zero(where.kv_sram_fraction) else where.kv_sram_fraction * kv
        kv_dram = kv - kv_sram

    if not _zero(w_sram):
        # Pinned weights keep their DRAM copy, so an operator reads from SRAM only as much
        # as shortens it: the split that levels the DRAM and SRAM times, at most what is
        # pinned. More SRAM is then never slower, nor are fewer pinned bytes ever faster.
        bd, bs = chip.dram_bytes_per_s, where.pinned_bytes_per_s
        d_other = _sum(act_dram, kv_dram, dram_extra) / bd
        s_other = 0.0 if _zero(act_sram) else act_sram / chip.sram_bytes_per_s
        level = (d_other + w_total / bd - s_other) / (1.0 / bd + 1.0 / bs)
        w_sram = np.clip(level, 0.0, w_sram)
        w_dram = w_total - w_sram
    dram_bytes = _sum(w_dram, act_dram, kv_dram, dram_extra)
    sram_bytes = _sum(w_sram, act_sram)
    dram_s = dram_bytes / chip.dram_bytes_per_s
    sram_s = _sum(0.0 if _zero(w_sram) else w_sram / where.pinned_bytes_per_s,
                  0.0 if _zero(act_sram) else act_sram / chip.sram_bytes_per_s)
    kv_s = zero if _zero(kv_sram) else kv_sram / chip.kv_bytes_per_s
    overhead = dispatches * chip.dispatch_per_op_s
    if not _zero(op.experts):
        overhead = overhead + op.experts * chip.per_expert_overhead_s
    busy = _max(compute, dram_s, sram_s, kv_s)
    time_s = _sum(busy, serial, overhead)

    if with_bound:
        parts = (compute, serial, dram_s, sram_s, kv_s, overhead)
        if _scalar(vector_bound) and all(_scalar(x) for x in parts):
            vb = bool(vector_bound)
            bound = _argmax_first((0.0 if vb else compute, (compute if vb else 0.0) + serial,
                                   dram_s, sram_s, kv_s, overhead))
        else:
            bound = _argmax_arrays((np.where(vector_bound, 0.0, compute),
                                    np.where(vector_bound, compute, 0.0) + serial,
                                    dram_s, sram_s, kv_s, overhead))
    else:
        bound = -1

    energy = _sum(flops_energy, vec_energy,
                  dram_bytes * (chip.dram_j_per_byte + chip.sram_j_per_byte),
                  sram_bytes * chip.sram_j_per_byte, chip.static_power_w * time_s)
    if not _zero(kv_sram):
        energy = energy + kv_sram * chip.kv_j_per_byte
    return OpCost(time_s=time_s, compute_s=compute, dram_s=dram_s, sram_s=sram_s, kv_s=kv_s,
                  serial_s=serial, overhead_s=overhead, energy_j=energy, dram_bytes=dram_bytes,
                  sram_bytes=sram_bytes, kv_bytes=kv_sram, bound=bound)
