"""A parametric chip: build chips (or whole populations of them) from design variables.

The template is a dataflow NPU in the style of the Li Auto M100 (arXiv 2604.17862): identical
matrix units (INT8 MAC arrays with FP8 / FP16 / INT4 modes) each with vector lanes, one
software-managed shared SRAM, an optional dedicated KV-cache SRAM, LPDDR5X, and optional engines
(native MoE routing, fused non-linear pipelines, phase-reconfigurable partitioning). Its design
variables and their default option lists are in :data:`VARIABLES`.

Two views of the same design:

* :meth:`ChipTemplate.build_chip` returns a :class:`~microarch.chip.Chip` for one design (for the
  simulator, reports and checks);
* :meth:`ChipTemplate.arrays` returns every datasheet figure as numpy arrays over a population
  (no per-design objects), for vectorised searches. The two agree exactly: ``chipdse.search``
  tests that the cost-model parameters derived from either are identical.

Area comes from :mod:`microarch.area`, cost in dollars from :mod:`microarch.cost_usd`, energy
per operation and per byte from :mod:`microarch.power` defaults at the design's node, leakage
and peak power from :mod:`microarch.power`. Achieved efficiencies, dispatch and per-expert
overheads are those of a chip family in ``presets/families.yaml`` (default ``m100``: the
dataflow family).

Fixed template constants (assumptions unless a source is given):

* a matrix unit is a 64 x 64 array: 4,096 INT8 MAC/clk; FP8 at the INT8 rate, FP16/BF16 at half
  of it, INT4 at twice it (byte-sliced lanes, as assumed for the M100 preset);
* 128 FP32-equivalent vector lanes (2 ops/clk each) and 32 special-function lanes per unit
  (the M100 preset's 64 lanes per 2,048-MAC TPB, doubled with the array);
* shared SRAM and KV SRAM deliver 64 B/clk per matrix unit; half the shared SRAM may hold
  resident weights (as in the M100 preset);
* LPDDR5X at 8,533 MT/s (JEDEC JESD209-5B maximum; the rate that gives Thor-U's and M100's
  273 GB/s on 256 bits), 64 GB per 256 bits (Thor-U / M100 configuration);
* static partition: half of compute, bandwidth and SRAM per phase; reconfiguration 20 us
  (assumption: twice the 10 us the studies assume for re-mapping one dataflow partition,
  because a template switch also re-splits the shared SRAM, whose resident tiles must be
  written back or reloaded; no public figure exists for such a chip);
* fixed uncore: 12 Cortex-A78AE-class cores (Orin's CPU cluster) and the automotive uncore of
  :data:`microarch.area.AUTOMOTIVE_UNCORE_MM2`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from microarch.area import AUTOMOTIVE_UNCORE_MM2, AreaSpec, area_breakdown
from microarch.chip import (
    Chip,
    Energy,
    GemmTiling,
    MatrixUnit,
    MemoryKind,
    MemoryLevel,
    PhaseMode,
    PhaseResources,
    QuantEngine,
    SparseEngine,
    Technology,
    VectorUnit,
)
from microarch.cost_usd import cost_breakdown
from microarch.excerpt import excerpt
from microarch.figures import ChipFigures
from microarch.formats import FORMATS
from microarch.power import (
    cpu_power_w,
    default_matrix_energy,
    default_memory_energy,
    default_vector_energy,
    leakage_power_w,
    peak_power_w,
)

__all__ = ["VARIABLES", "ChipTemplate", "PROCESS_BY_NODE"]

VARIABLES: dict[str, tuple] = {
    "matrix_units": (2, 4, 6, 8, 12, 16, 24, 32, 48, 64, 96, 128),
    "clock_ghz": (0.8, 1.0, 1.2, 1.4, 1.6, 1.8, 2.0),
    "dram_bus_bits": (64, 128, 192, 256, 384, 512),
    "sram_mib": (2, 4, 8, 16, 32, 64, 128, 256),
    "kv_sram_mib": (0, 4, 8, 16, 32, 64, 128),
    "native_moe": (False, True),
    "fused_nonlinear": (False, True),
    "phase_mode": ("fixed", "static", "reconfigurable"),
    "node_nm": (7, 5, 4, 3),
}
"""Design variables of the template and their default ordered option lists."""

PROCESS_BY_NODE = {3: "TSMC N3E", 4: "TSMC N4", 5: "TSMC N5", 7: "TSMC N7", 8: "Samsung 8LPP",
                   10: "TSMC N10", 16: "TSMC N16", 28: "TSMC 28HPM"}

# Matrix-unit rate per format relative to INT8 (byte-sliced lanes; see the module docstring).
_RATE_VS_INT8 = {"int8": 1.0, "fp8": 1.0, "int4": 2.0, "fp16": 0.5, "bf16": 0.5}
_MODES = {m.value: i for i, m in enumerate(PhaseMode)}


def _exec_formats() -> dict[str, str]:
    unit = MatrixUnit(dict(_RATE_VS_INT8))
    out = {}
    for fmt in FORMATS:
        try:
            out[fmt] = unit.execution_format(fmt)
        except ValueError:
            continue
    return out


_EXEC = _exec_formats()


@dataclass(frozen=True)
class ChipTemplate:
    """Fixed part of the parametric chip (see the module docstring for the sources).

    Attributes:
        family: chip family whose efficiencies / dispatch / per-expert overhead are used.
        macs_per_unit: INT8 MAC lanes per matrix unit.
        vector_lanes_per_unit / sfu_lanes_per_unit: vector (FP32 FMA) and special-function
            lanes per matrix unit.
        sram_bytes_per_clk_per_unit / kv_bytes_per_clk_per_unit: on-chip bandwidth per unit.
        pinnable_fraction: share of the shared SRAM that may hold resident weights.
        dram_transfers_per_s: LPDDR data rate per pin.
        dram_bytes_per_bus_bit: DRAM capacity per bit of bus width.
        static_share: prefill share of compute and bandwidth in STATIC phase mode.
        reconfiguration_latency_s: RECONFIGURABLE mode switch cost.
        cpu_cores / uncore_mm2: fixed CPU cluster and uncore (area and power).
        float_formats: float formats of the matrix lanes (area).
        fused_dequant: weight-only formats are dequantised in the matrix data path.
        conversion_ops_per_element: vector ops to (de)quantise one activation element
            (assumption: a scale multiply and a round / convert, as the GPU presets).
        tiling: the output tile of one matrix unit (assumption: an 8-row x 64-column array
            of 8-element dot products, 4,096 MACs per cycle, in the shape of the M100's TCU,
            arXiv 2604.17862 section IV-C); units are the cores tiles spread over.
    """

    name: str = "template"
    family: str = "m100"
    macs_per_unit: int = 4096
    vector_lanes_per_unit: int = 128
    sfu_lanes_per_unit: int = 32
    sram_bytes_per_clk_per_unit: float = 64.0
    kv_bytes_per_clk_per_unit: float = 64.0
    pinnable_fraction: float = 0.5
    dram_transfers_per_s: float = 8533e6
    dram_bytes_per_bus_bit: float = 64e9 / 256
    static_share: float = 0.5
    # Assumption (no public figure): 20 us, twice the studies' 10 us per partition re-map,
    # since a switch here also re-splits the shared SRAM and its resident tiles.
    reconfiguration_latency_s: float = 20e-6
    cpu_cores: Mapping[str, int] = field(default_factory=lambda: {"a78ae": 12})
    uncore_mm2: float = AUTOMOTIVE_UNCORE_MM2
    float_formats: tuple[str, ...] = ("fp16", "bf16", "fp8")
    fused_dequant: bool = True
    conversion_ops_per_element: float = 2.0
    tiling: GemmTiling = GemmTiling(m=8, n=64, k=8, min_m=8)
    family_terms: Mapping[str, float] | None = None
    """Family terms set to other values (``{"efficiency.dram": 0.8}``; SI): how an
    uncertainty draw of the family reaches a templated chip."""

    @property
    def shares(self) -> tuple[float, float, float]:
        """Prefill partition's (compute, bandwidth, SRAM) shares in STATIC mode."""
        return (self.static_share, self.static_share, self.static_share)

    def _family(self) -> dict[str, Any]:
        from microarch.loader import load_families

        fams = load_families()
        if self.family not in fams:
            raise ValueError(f"ChipTemplate.family {excerpt(self.family)} is not in families.yaml "
                             f"(known: {', '.join(sorted(fams))})")
        if self.family_terms:
            from microarch.vary import vary_family

            return vary_family(fams[self.family], self.family_terms)
        return fams[self.family]

    # -- vectorised view ----------------------------------------------------------------------
    def arrays(self, **design: Any) -> dict[str, Any]:
        """Datasheet figures of a population of designs (each variable an array or scalar of
        option *values*, all broadcast together).

        Returns ``figures`` (:class:`~microarch.figures.ChipFigures` of the population, the
        family's efficiency and dispatch terms included), ``phase_mode`` (index in PhaseMode),
        ``area`` (breakdown, mm^2), ``peak_power`` (breakdown, W), ``cost`` (dollars,
        :func:`microarch.cost_usd.cost_breakdown` of the die, its LPDDR5X and the node's
        one-time engineering at the cost data's default volume; no spare units),
        ``static_share`` and ``reconfiguration_latency_s``.
        """
        missing = set(VARIABLES) - set(design)
        extra = set(design) - set(VARIABLES)
        if missing or extra:
            raise ValueError(f"ChipTemplate.arrays: missing {sorted(missing)}, "
                             f"unknown {sorted(extra)}")
        v = {k: np.asarray(design[k]) for k in VARIABLES}
        units = v["matrix_units"].astype(float)
        clock = v["clock_ghz"].astype(float) * 1e9
        node = v["node_nm"].astype(float)
        pm_u, pm_inv = np.unique(v["phase_mode"].astype(str), return_inverse=True)
        bad = [m for m in pm_u if m not in _MODES]
        if bad:
            raise ValueError(f"ChipTemplate: unknown phase mode(s) {bad} (known: "
                             f"{', '.join(_MODES)})")
        modes = np.array([_MODES[m] for m in pm_u], dtype=int)[pm_inv].reshape(
            v["phase_mode"].shape)
        int8_peak = units * self.macs_per_unit * 2.0 * clock
        peaks = {f: int8_peak * r for f, r in _RATE_VS_INT8.items()}
        # Energies depend on the node only: compute per distinct node and scatter.
        uniq, inv = np.unique(node, return_inverse=True)
        inv = inv.reshape(node.shape)

        def per_node(fn):
            return np.asarray([fn(float(n)) for n in uniq])[inv]

        m_energy = {f: per_node(lambda n, f=f: default_matrix_energy(n)[f]) for f in FORMATS}
        matrix_energy = {f: m_energy[_EXEC[f]] if _EXEC[f] in m_energy else m_energy[f]
                         for f in _EXEC}
        vec_peak = units * self.vector_lanes_per_unit * 2.0 * clock
        sfu_peak = units * self.sfu_lanes_per_unit * clock
        bus = v["dram_bus_bits"].astype(float)
        dram_bw = bus / 8.0 * self.dram_transfers_per_s
        sram_cap = v["sram_mib"].astype(float) * 2**20
        kv_cap = v["kv_sram_mib"].astype(float) * 2**20
        sram_bw = units * self.sram_bytes_per_clk_per_unit * clock
        kv_bw = units * self.kv_bytes_per_clk_per_unit * clock
        sram_e = per_node(lambda n: default_memory_energy("shared", n))
        kv_e = per_node(lambda n: default_memory_energy("kv", n))
        dram_e = default_memory_energy("dram", 5.0, "lpddr")
        moe, fnl = v["native_moe"].astype(bool), v["fused_nonlinear"].astype(bool)
        reconf = modes == _MODES["reconfigurable"]
        area = area_breakdown(AreaSpec(
            node_nm=node, int8_mac_lanes=units * self.macs_per_unit,
            vector_lanes=units * self.vector_lanes_per_unit, sram_bytes=sram_cap + kv_cap,
            dram_bus_bits=bus, float_formats=self.float_formats, cpu_cores=self.cpu_cores,
            uncore_mm2=self.uncore_mm2, native_moe=moe, fused_nonlinear=fnl,
            reconfigurable=reconf))
        static_w = leakage_power_w(area["total_mm2"])
        draw = np.max(np.stack(np.broadcast_arrays(
            *(peaks[f] * matrix_energy[f] for f in _RATE_VS_INT8))), axis=0)
        vec_e = per_node(default_vector_energy)
        sram_busy_bw = sram_bw + np.where(kv_cap > 0, kv_bw, 0.0)
        sram_busy_e = (sram_bw * sram_e + np.where(kv_cap > 0, kv_bw * kv_e, 0.0)) / sram_busy_bw
        power = peak_power_w(draw, 1.0, vec_peak, vec_e, dram_bw, dram_e, sram_busy_bw,
                             sram_busy_e, static_w, cpu_power_w(self.cpu_cores))
        fam = self._family()
        figures = ChipFigures(
            name=self.name, execution_format=dict(_EXEC),
            matrix_peak_ops_per_s=peaks,
            matrix_j_per_op={f: m_energy[f] for f in _RATE_VS_INT8},
            sparse_2_4_speedup=1.0, vector_peak_ops_per_s=vec_peak,
            sfu_peak_ops_per_s=sfu_peak, vector_j_per_op=vec_e,
            dram_capacity_bytes=bus * self.dram_bytes_per_bus_bit, dram_bytes_per_s=dram_bw,
            dram_j_per_byte=dram_e, sram_capacity_bytes=sram_cap, sram_bytes_per_s=sram_bw,
            sram_j_per_byte=sram_e, pinnable_capacity_bytes=sram_cap * self.pinnable_fraction,
            pin_fast_capacity_bytes=sram_cap * self.pinnable_fraction,
            pin_fast_bytes_per_s=sram_bw, pin_slow_bytes_per_s=sram_bw,
            cache_capacity_bytes=0.0,  # one software-managed scratchpad, no cache
            kv_capacity_bytes=kv_cap, kv_bytes_per_s=np.where(kv_cap > 0, kv_bw, 1.0),
            kv_j_per_byte=np.where(kv_cap > 0, kv_e, 0.0),
            dispatch_per_op_s=fam["dispatch"].per_operator_s,
            fused_attention=fam["dispatch"].fused_attention, native_moe=moe,
            per_expert_overhead_s=fam["per_expert_overhead_s"],
            fused_dequant=self.fused_dequant, fused_nonlinear=fnl, fused_conversion=fnl,
            conversion_ops_per_element=self.conversion_ops_per_element,
            static_power_w=static_w, efficiency=fam["efficiency"],
            gemm_cores=units, gemm_tile_m=float(self.tiling.m), gemm_tile_n=float(self.tiling.n),
            gemm_tile_min_m=float(self.tiling.min_m),
            gemm_grouped_min_m=float(self.tiling.grouped_min_m))
        cost = cost_breakdown(area["total_mm2"], node, bus, bus * self.dram_bytes_per_bus_bit,
                              dram_kind="lpddr5x")
        return {
            "figures": figures, "phase_mode": modes, "area": area, "peak_power": power,
            "cost": cost, "static_share": self.static_share,
            "reconfiguration_latency_s": self.reconfiguration_latency_s,
        }

    # -- one design as a Chip ---------------------------------------------------------------
    def build_chip(self, name: str | None = None, **design: Any) -> Chip:
        """The :class:`Chip` of one design (every variable a single option value)."""
        a = self.arrays(**design)
        f = a["figures"]
        s = lambda x: float(np.asarray(x).reshape(-1)[0])  # noqa: E731
        fam = self._family()
        node = s(design["node_nm"])
        levels = [
            MemoryLevel("dram", MemoryKind.DRAM, s(f.dram_capacity_bytes),
                        s(f.dram_bytes_per_s), s(f.dram_j_per_byte)),
            MemoryLevel("sram", MemoryKind.SHARED, s(f.sram_capacity_bytes),
                        s(f.sram_bytes_per_s), s(f.sram_j_per_byte), managed=True,
                        pinnable_fraction=self.pinnable_fraction),
        ]
        if s(f.kv_capacity_bytes) > 0:
            levels.append(MemoryLevel("kv_sram", MemoryKind.KV, s(f.kv_capacity_bytes),
                                      s(f.kv_bytes_per_s), s(f.kv_j_per_byte), managed=True))
        fused = bool(np.asarray(design["fused_nonlinear"]).reshape(-1)[0])
        label = name or "template-" + "-".join(
            f"{k}{np.asarray(design[k]).reshape(-1)[0]}" for k in VARIABLES)
        return Chip(
            name=label,
            description="chipdse parametric dataflow NPU (microarch.template)",
            family=self.family,
            matrix=MatrixUnit({k: s(p) for k, p in f.matrix_peak_ops_per_s.items()},
                              cores=int(s(design["matrix_units"])), tiling=self.tiling),
            vector=VectorUnit(s(f.vector_peak_ops_per_s), s(f.sfu_peak_ops_per_s)),
            memory=tuple(levels),
            technology=Technology(
                process=PROCESS_BY_NODE.get(int(node), f"{node:g} nm"), node_nm=node,
                clock_hz=s(design["clock_ghz"]) * 1e9, static_power_w=s(f.static_power_w),
                tdp_w=s(a["peak_power"]["total_w"]), die_area_mm2=s(a["area"]["total_mm2"])),
            energy=Energy(default_matrix_energy(node), default_vector_energy(node)),
            sparse=SparseEngine(native_moe=bool(np.asarray(design["native_moe"]).reshape(-1)[0]),
                                per_expert_overhead_s=fam["per_expert_overhead_s"]),
            quant=QuantEngine(fused_dequant=self.fused_dequant, fused_nonlinear=fused,
                              fused_conversion=fused,
                              conversion_ops_per_element=self.conversion_ops_per_element),
            phase=PhaseResources(mode=str(np.asarray(design["phase_mode"]).reshape(-1)[0]),
                                 prefill_compute_share=self.static_share,
                                 prefill_bandwidth_share=self.static_share,
                                 prefill_sram_share=self.static_share,
                                 reconfiguration_latency_s=self.reconfiguration_latency_s),
            dispatch=fam["dispatch"], efficiency=fam["efficiency"],
            sources={"template": "microarch.template (constants and assumptions in its "
                                 "docstring); area microarch.area; power microarch.power"},
        )
