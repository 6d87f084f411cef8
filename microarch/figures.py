"""A chip flattened to the datasheet figures the cost model reads, as numbers or arrays.

A :class:`~microarch.chip.Chip` is a validated tree of scalars. A search needs the same figures
for a whole population of designs at once, as numpy arrays. :class:`ChipFigures` is that flat
view: :meth:`ChipFigures.of` builds it for one chip, and
:meth:`microarch.template.ChipTemplate.figures` builds it for a population. ``chipdse.cost``
maps figures to achieved rates in one place (``ChipParams.from_figures``), so a preset and a
template design reach the cost model through the same arithmetic.

Every field is a datasheet peak or a physical figure in SI units, never an achieved rate: the
efficiencies stay in ``efficiency`` until the cost model applies them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from microarch.chip import Chip, Efficiency, MemoryKind
from microarch.formats import FORMATS

__all__ = ["ChipFigures"]

Array = Any


@dataclass(frozen=True)
class ChipFigures:
    """Datasheet figures of one chip or of a population (fields broadcast).

    Attributes:
        name: chip name (or a label for a population).
        execution_format: operand format -> the format its GEMMs execute in (formats no matrix
            unit can run are absent).
        matrix_peak_ops_per_s / matrix_j_per_op: dense peak and energy per op, by execution
            format.
        sparse_2_4_speedup: 2:4 structured-sparse GEMM speed-up.
        vector_peak_ops_per_s / sfu_peak_ops_per_s / vector_j_per_op: vector and
            special-function units.
        dram_*: capacity, peak bandwidth and access energy of DRAM.
        sram_capacity_bytes / sram_bytes_per_s / sram_j_per_byte: shared + local SRAM (the
            buffer GEMM tiling uses), the widest level's bandwidth, the costliest level's energy.
        pinnable_capacity_bytes: scratchpad SRAM that may hold resident weights;
            pin_fast_capacity_bytes / pin_fast_bytes_per_s: the share of it in the fastest
            scratchpads (all at the top bandwidth); pin_slow_bytes_per_s: the slowest other
            scratchpad's bandwidth.
        cache_capacity_bytes: hardware-cache capacity (shared, unmanaged levels).
        kv_capacity_bytes / kv_bytes_per_s / kv_j_per_byte: dedicated KV-cache SRAM (capacity 0
            when absent; its bandwidth is then 1 B/s, never used).
        dispatch_per_op_s / fused_attention: operator launch overhead, flash-style attention.
        native_moe / per_expert_overhead_s: MoE engine, or the overhead per touched expert.
        fused_dequant / fused_nonlinear / fused_conversion / conversion_ops_per_element:
            quantisation engine.
        static_power_w: leakage and always-on power.
        gemm_cores / gemm_tile_m / gemm_tile_n / gemm_tile_min_m / gemm_grouped_min_m: the
            cores GEMM tiles spread over and the tile of one core (0 cores: unknown, no tile
            or wave quantisation).
        efficiency: achieved fractions of the peaks (applied by the cost model).
    """

    name: Any
    execution_format: Mapping[str, str]
    matrix_peak_ops_per_s: Mapping[str, Array]
    matrix_j_per_op: Mapping[str, Array]
    sparse_2_4_speedup: Array
    vector_peak_ops_per_s: Array
    sfu_peak_ops_per_s: Array
    vector_j_per_op: Array
    dram_capacity_bytes: Array
    dram_bytes_per_s: Array
    dram_j_per_byte: Array
    sram_capacity_bytes: Array
    sram_bytes_per_s: Array
    sram_j_per_byte: Array
    pinnable_capacity_bytes: Array
    pin_fast_capacity_bytes: Array
    pin_fast_bytes_per_s: Array
    pin_slow_bytes_per_s: Array
    cache_capacity_bytes: Array
    kv_capacity_bytes: Array
    kv_bytes_per_s: Array
    kv_j_per_byte: Array
    dispatch_per_op_s: Array
    fused_attention: Array
    native_moe: Array
    per_expert_overhead_s: Array
    fused_dequant: Array
    fused_nonlinear: Array
    fused_conversion: Array
    conversion_ops_per_element: Array
    static_power_w: Array
    efficiency: Efficiency
    gemm_cores: Array = 0.0
    gemm_tile_m: Array = 1.0
    gemm_tile_n: Array = 1.0
    gemm_tile_min_m: Array = 1.0
    gemm_grouped_min_m: Array = 1.0

    def replace(self, **changes: Any) -> ChipFigures:
        return replace(self, **changes)

    @classmethod
    def of(cls, chip: Chip) -> ChipFigures:
        """The figures of one :class:`Chip`."""
        exec_fmt: dict[str, str] = {}
        for fmt in FORMATS:
            try:
                exec_fmt[fmt] = chip.matrix.execution_format(fmt)
            except ValueError:
                continue  # no unit runs it; the cost model names the format if it is needed
        used = sorted(set(exec_fmt.values()))
        on_chip = chip.on_chip
        kv = chip.kv_sram
        pads = sorted((m for m in on_chip if m.managed and m.pinnable_fraction > 0),
                      key=lambda m: -m.bandwidth_bytes_per_s)
        sram_bw = chip.sram_bandwidth_bytes_per_s
        if pads:
            # The fast tier: every scratchpad at the top bandwidth (an added weight SRAM beside
            # a local store of the same speed pins at that speed too); the rest are slow.
            fast_bw = pads[0].bandwidth_bytes_per_s
            fast = [m for m in pads if m.bandwidth_bytes_per_s >= fast_bw]
            slow = pads[len(fast):]
            fast_bytes = sum(m.capacity_bytes * m.pinnable_fraction for m in fast)
            slow_bw = min(m.bandwidth_bytes_per_s for m in slow) if slow else fast_bw
        else:
            fast_bytes, fast_bw, slow_bw = 0.0, sram_bw, sram_bw
        cache = sum(m.capacity_bytes for m in on_chip
                    if m.kind == MemoryKind.SHARED and not m.managed)
        return cls(
            name=chip.name, execution_format=exec_fmt,
            matrix_peak_ops_per_s={f: chip.matrix.peak_dense_ops_per_s[f] for f in used},
            matrix_j_per_op={f: chip.energy.matrix(f) for f in used},
            sparse_2_4_speedup=chip.matrix.sparse_2_4_speedup,
            vector_peak_ops_per_s=chip.vector.peak_ops_per_s,
            sfu_peak_ops_per_s=chip.vector.special_function_ops_per_s,
            vector_j_per_op=chip.energy.vector_j_per_op,
            dram_capacity_bytes=chip.dram.capacity_bytes,
            dram_bytes_per_s=chip.dram.bandwidth_bytes_per_s,
            dram_j_per_byte=chip.dram.energy_j_per_byte,
            sram_capacity_bytes=chip.sram_bytes, sram_bytes_per_s=sram_bw,
            sram_j_per_byte=max((m.energy_j_per_byte for m in on_chip), default=0.0),
            pinnable_capacity_bytes=chip.pinnable_weight_bytes,
            pin_fast_capacity_bytes=fast_bytes, pin_fast_bytes_per_s=fast_bw,
            pin_slow_bytes_per_s=slow_bw, cache_capacity_bytes=float(cache),
            kv_capacity_bytes=kv.capacity_bytes if kv else 0.0,
            kv_bytes_per_s=kv.bandwidth_bytes_per_s if kv else 1.0,
            kv_j_per_byte=kv.energy_j_per_byte if kv else 0.0,
            dispatch_per_op_s=chip.dispatch.per_operator_s,
            fused_attention=chip.dispatch.fused_attention,
            native_moe=chip.sparse.native_moe,
            per_expert_overhead_s=chip.sparse.per_expert_overhead_s,
            fused_dequant=chip.quant.fused_dequant,
            fused_nonlinear=chip.quant.fused_nonlinear,
            fused_conversion=chip.quant.fused_conversion,
            conversion_ops_per_element=chip.quant.conversion_ops_per_element,
            static_power_w=chip.technology.static_power_w,
            efficiency=chip.efficiency, **_tiling(chip),
        )


def _tiling(chip: Chip) -> dict[str, float]:
    t, cores = chip.matrix.tiling, chip.matrix.cores
    if t is None or not cores:
        return {}
    return dict(gemm_cores=float(cores), gemm_tile_m=float(t.m), gemm_tile_n=float(t.n),
                gemm_tile_min_m=float(t.min_m), gemm_grouped_min_m=float(t.grouped_min_m))
