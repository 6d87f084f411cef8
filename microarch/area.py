"""Die-area model: mm^2 from matrix lanes, vector lanes, SRAM, DRAM PHYs, CPU cores and a fixed
uncore, scaled by process node.

All inputs broadcast (numpy), so one call sizes one chip or a whole population of candidate
designs. Each constant below carries its public source or is labelled an assumption.

Node key. ``node_nm`` selects a process: 28 (TSMC 28HPM), 16 (TSMC N16), 10 (TSMC N10),
8 (Samsung 8LPP), 7 (TSMC N7), 5 (TSMC N5 / N5A), 4 (TSMC N4), 3 (TSMC N3E); values in between
are interpolated in log-log space.

* Logic density (MTr/mm^2, standard-cell estimates): N16 28.88, N10 52.51, N7 91.2, N5 171.3,
  Samsung 8LPP 61.18 (WikiChip, fuse.wikichip.org "TSMC details 5 nm" and the per-node pages).
  28HPM = N16 / 2 (TSMC: 16FF has twice the gate density of 28HPM). N4 = N5 x 1.06 (TSMC: N4
  gives a 6 % area reduction over N5). N3E = N5 x 1.6 (TSMC's N3E logic-density claim vs N5).
* SRAM high-density 6T bitcell (um^2): 28 nm 0.127 (TSMC, IEDM 2009), N16 0.074, N10 0.042,
  N7 0.027, N5 0.021, N3E 0.021 (WikiChip, "IEDM 2022: Did we just witness the death of SRAM?");
  N4 keeps N5's bitcell; Samsung 8LPP 0.040 (assumption: the 10LPE/10LPP bitcell, which 8LPP
  inherits).
* Matrix lanes. Google TPU v1 (Jouppi et al., "In-Datacenter Performance Analysis of a Tensor
  Processing Unit", ISCA 2017): 28 nm die of at most 331 mm^2 (used as the value), the 256x256
  8-bit matrix unit takes 24 % of it -> 79.4 mm^2 / 65,536 MACs = 1,212 um^2 per INT8 MAC lane,
  array overhead (weight registers, systolic wiring) included. Scaled by logic density.
* Float support in the same lanes (FP16/BF16 at half the INT8 rate, FP8 at the INT8 rate, FP4 at
  twice it): assumption, +100 % / +25 % / +10 % of the INT8 lane area. Bounding fact: M. Horowitz
  (ISSCC 2014, Fig. 1.1.9, 45 nm) gives 282 um^2 for an 8-bit multiply and 1,640 um^2 for an FP16
  multiply; sharing the multiplier array with the INT8 lanes costs far less than a separate unit.
* Vector lanes (one FP32 FMA lane): the TPU v1 lane area times Horowitz's area ratio of an FP32
  multiply + add (7,700 + 4,184 um^2) to an 8-bit multiply + 32-bit add (282 + 137 um^2) = 28.4.
* SRAM blocks: bitcell area x 3.75. The factor is TPU v1's: its 24 MiB unified buffer takes 29 %
  of the 331 mm^2 die = 96 mm^2, against 24 MiB x 0.127 um^2 = 25.6 mm^2 of bitcells (banking,
  ports, sense amplifiers, redundancy, wiring). Caches, scratchpads, register files and KV SRAM
  all use it.
* LPDDR5/5X PHY: 1.25 mm^2 per 16-bit channel, not scaled with node (assumption: analog I/O and
  bump-limited; order of magnitude of published die-shot annotations of LPDDR interfaces).
* CPU cores, private L2 included, at N5: Arm Cortex-A78AE class 1.4 mm^2, Neoverse V3AE class
  3.0 mm^2, SiFive X280 class 0.6 mm^2 (assumptions; Arm and SiFive publish no areas); scaled by
  logic density.
* Engines (assumptions, shares of matrix + vector area): native MoE routing / expert gather
  +2 %, fused non-linear pipelines +5 %, phase-reconfigurable partitioning (crossbar, muxes) +3 %.
* Fixed uncore (I/O, PCIe/Ethernet, ISP, video, display, safety island, NoC, power management):
  not modelled block by block. :data:`AUTOMOTIVE_UNCORE_MM2` is the residual that makes the
  modelled blocks match the published die areas of Thor-U and M100 (mean of the two residuals;
  see :func:`published_checks`, which reports each chip checked with the *other* chip's
  residual).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any

import numpy as np

__all__ = ["AreaSpec", "area_breakdown", "total_area_mm2", "logic_density_mtr_per_mm2",
           "sram_mm2_per_mib", "int8_lane_um2", "PUBLISHED", "published_checks",
           "AUTOMOTIVE_UNCORE_MM2", "CPU_CORE_MM2_N5", "LPDDR_PHY_MM2_PER_X16", "ORIN_SPEC",
           "orin_area_check"]

Array = Any

_NODES_NM = np.array([3.0, 4.0, 5.0, 7.0, 8.0, 10.0, 16.0, 28.0])
_LOGIC_MTR = np.array([171.3 * 1.6, 171.3 * 1.06, 171.3, 91.2, 61.18, 52.51, 28.88, 28.88 / 2])
_BITCELL_UM2 = np.array([0.021, 0.021, 0.021, 0.027, 0.040, 0.042, 0.074, 0.127])

_TPU1_DIE_MM2 = 331.0
_TPU1_MXU_LANE_UM2_28NM = 0.24 * _TPU1_DIE_MM2 * 1e6 / 65536.0      # 1,212 um^2
_SRAM_BLOCK_FACTOR = (0.29 * _TPU1_DIE_MM2) / (24 * 2**20 * 8 * 0.127e-6)  # 3.75
_FP32_LANE_PER_INT8_LANE = (7700.0 + 4184.0) / (282.0 + 137.0)        # 28.4

FLOAT_SUPPORT_AREA = {"fp16": 1.0, "bf16": 0.0, "fp8": 0.25, "fp4": 0.10}
"""Extra lane area (share of the INT8 lane) per float format a matrix lane supports.
BF16 shares FP16's multiplier (no extra). Assumptions, see the module docstring."""

ENGINE_AREA_SHARE = {"native_moe": 0.02, "fused_nonlinear": 0.05, "reconfigurable": 0.03}
"""Share of matrix + vector area added by each engine (assumptions)."""

LPDDR_PHY_MM2_PER_X16 = 1.25
CPU_CORE_MM2_N5 = {"a78ae": 1.4, "v3ae": 3.0, "x280": 0.6}


def _interp(node_nm: Array, table: np.ndarray) -> np.ndarray:
    x = np.log(np.clip(np.asarray(node_nm, dtype=float), _NODES_NM[0], _NODES_NM[-1]))
    return np.exp(np.interp(x, np.log(_NODES_NM), np.log(table)))


def logic_density_mtr_per_mm2(node_nm: Array) -> np.ndarray:
    """Standard-cell logic density (million transistors per mm^2) at ``node_nm``."""
    return _interp(node_nm, _LOGIC_MTR)


def int8_lane_um2(node_nm: Array) -> np.ndarray:
    """Area of one INT8 MAC lane of a systolic matrix unit (um^2), array overhead included."""
    return _TPU1_MXU_LANE_UM2_28NM * (28.88 / 2) / logic_density_mtr_per_mm2(node_nm)


def sram_mm2_per_mib(node_nm: Array) -> np.ndarray:
    """Area of 1 MiB of on-chip SRAM block (mm^2) at ``node_nm``."""
    return 2**20 * 8 * _interp(node_nm, _BITCELL_UM2) * 1e-6 * _SRAM_BLOCK_FACTOR


@dataclass(frozen=True)
class AreaSpec:
    """Physical contents of a die (fields are numbers or broadcastable arrays).

    Attributes:
        node_nm: process node (see the module docstring for the node key).
        int8_mac_lanes: INT8 multiply-accumulates per clock of all matrix units.
        float_formats: float formats the matrix lanes also execute (keys of
            :data:`FLOAT_SUPPORT_AREA`).
        vector_lanes: FP32 FMA lanes of vector / special-function units.
        sram_bytes: all on-chip SRAM (caches, scratchpads, register files, KV SRAM).
        dram_bus_bits: LPDDR bus width (PHYs).
        cpu_cores: CPU core counts by class (keys of :data:`CPU_CORE_MM2_N5`).
        uncore_mm2: fixed uncore (I/O, media, safety, NoC).
        native_moe / fused_nonlinear / reconfigurable: engines present (0/1 or bool arrays).
    """

    node_nm: Array
    int8_mac_lanes: Array
    vector_lanes: Array
    sram_bytes: Array
    dram_bus_bits: Array
    float_formats: tuple[str, ...] = ("fp16", "bf16")
    cpu_cores: Mapping[str, Array] = field(default_factory=dict)
    uncore_mm2: Array = 0.0
    native_moe: Array = False
    fused_nonlinear: Array = False
    reconfigurable: Array = False

    def __post_init__(self) -> None:
        unknown = set(self.float_formats) - set(FLOAT_SUPPORT_AREA)
        if unknown:
            raise ValueError(f"AreaSpec.float_formats: unknown {sorted(unknown)} "
                             f"(known: {', '.join(FLOAT_SUPPORT_AREA)})")
        bad = set(self.cpu_cores) - set(CPU_CORE_MM2_N5)
        if bad:
            raise ValueError(f"AreaSpec.cpu_cores: unknown core class {sorted(bad)} "
                             f"(known: {', '.join(CPU_CORE_MM2_N5)})")
        for f in ("node_nm", "int8_mac_lanes", "vector_lanes", "sram_bytes", "dram_bus_bits",
                  "uncore_mm2"):
            if np.any(np.asarray(getattr(self, f), dtype=float) < 0):
                raise ValueError(f"AreaSpec.{f} must be >= 0")

    def replace(self, **kw: Any) -> AreaSpec:
        return AreaSpec(**{**{f.name: getattr(self, f.name) for f in fields(self)}, **kw})


def area_breakdown(spec: AreaSpec) -> dict[str, np.ndarray]:
    """Area per block (mm^2) and ``total_mm2``: matrix, vector, engines, sram, dram_phy, cpu,
    uncore."""
    node = spec.node_nm
    scale = 171.3 / logic_density_mtr_per_mm2(node)  # logic area relative to N5
    lane = int8_lane_um2(node) * 1e-6
    fmt_extra = sum(FLOAT_SUPPORT_AREA[f] for f in set(spec.float_formats))
    matrix = np.asarray(spec.int8_mac_lanes, float) * lane * (1.0 + fmt_extra)
    vector = np.asarray(spec.vector_lanes, float) * lane * _FP32_LANE_PER_INT8_LANE
    share = sum(ENGINE_AREA_SHARE[k] * np.asarray(getattr(spec, k), dtype=float)
                for k in ENGINE_AREA_SHARE)
    engines = (matrix + vector) * share
    sram = np.asarray(spec.sram_bytes, float) / 2**20 * sram_mm2_per_mib(node)
    phy = np.asarray(spec.dram_bus_bits, float) / 16.0 * LPDDR_PHY_MM2_PER_X16
    cpu = sum(np.asarray(n, float) * CPU_CORE_MM2_N5[k] * scale
              for k, n in spec.cpu_cores.items()) if spec.cpu_cores else 0.0 * scale
    uncore = np.asarray(spec.uncore_mm2, float)
    out = {"matrix_mm2": matrix, "vector_mm2": vector, "engines_mm2": engines,
           "sram_mm2": sram, "dram_phy_mm2": phy, "cpu_mm2": cpu, "uncore_mm2": uncore}
    out = {k: np.asarray(v, float) for k, v in out.items()}
    out["total_mm2"] = sum(out.values())
    return out


def total_area_mm2(spec: AreaSpec) -> np.ndarray:
    """Total die area (mm^2)."""
    return area_breakdown(spec)["total_mm2"]


_MIB = 2.0**20
_MB = 1e6

PUBLISHED: dict[str, tuple[AreaSpec, float, str]] = {
    # Thor-U: the Thor die. 24 SM physical (TRM maximum configuration; NVIDIA forum 356355),
    # per SM 8,232 dense INT8 MAC/clk (1035 sparse INT8 TOPS = 2 x 517 dense at 20 SM x 1.57 GHz,
    # Jetson T5000 datasheet via huggingface.js PR 1710) with FP16, FP8 and FP4 modes, 128 FP32
    # lanes, 256 KiB register file (Blackwell SM) + 228 KiB shared memory; 32 MiB L2;
    # 14 Neoverse-V3AE cores with 16 MB L3; 256-bit LPDDR5X (chips.md section 2.1).
    "drive-thor-u": (AreaSpec(
        node_nm=4, int8_mac_lanes=24 * 8232, float_formats=("fp16", "bf16", "fp8", "fp4"),
        vector_lanes=24 * 128, sram_bytes=24 * (256 + 228) * 1024 + 32 * _MIB + 16 * _MB,
        dram_bus_bits=256, cpu_cores={"v3ae": 14}), 415.0,
        "415 mm^2, TSMC N4 (arXiv 2604.17862 Table I)"),
    # M100: 14 clusters x 4 TPB; per TPB an 8x64 array of 4-element INT8 dot products = 2,048
    # MAC/clk and 2 MB HBSM; 32 MB CCB SRAM; 14 cluster + 4 CCB SiFive X280; 24 Cortex-A78AE;
    # 8 LPDDR5X channels, 256-bit (paper section IV; chips.md section 3). Vector lanes: 64 per
    # TPB (assumption of the li-m100 preset). FP16 support is not disclosed: assumed, as in the
    # preset.
    "li-m100": (AreaSpec(
        node_nm=5, int8_mac_lanes=56 * 2048, float_formats=("fp16", "bf16", "fp8"),
        vector_lanes=56 * 64, sram_bytes=56 * 2 * _MB + 32 * _MB, dram_bus_bits=256,
        cpu_cores={"a78ae": 24, "x280": 18}, fused_nonlinear=True), 399.8,
        "399.8 mm^2, TSMC N5A (arXiv 2604.17862 Table I)"),
}
"""Published dies whose contents are known: (spec without uncore, die area mm^2, source)."""


def _residuals() -> dict[str, float]:
    return {k: area - float(total_area_mm2(spec)) for k, (spec, area, _) in PUBLISHED.items()}


AUTOMOTIVE_UNCORE_MM2 = float(np.mean(list(_residuals().values())))
"""Fixed uncore of an automotive SoC (mm^2): mean residual of Thor-U and M100 (see above)."""


ORIN_SPEC = AreaSpec(
    node_nm=8, int8_mac_lanes=16 * 2048, float_formats=("fp16", "bf16"), vector_lanes=2048,
    sram_bytes=4 * _MIB + 16 * (192 + 256) * 1024 + 6 * _MB, dram_bus_bits=256,
    cpu_cores={"a78ae": 12})
"""Jetson AGX Orin (GA10B / T234) contents: 16 SM with 2,048 dense INT8 MAC/clk each
(85 TOPS / 16 / 1.3 GHz / 2), 2,048 CUDA cores, 4 MB L2, 192 KB L1 + 256 KB register file per
SM, 12 Cortex-A78AE with 6 MB L3, 256-bit LPDDR5 (chips.md section 1.1). The uncore is added by
:func:`orin_area_check`."""

ORIN_TRANSISTORS = 17e9         # AnandTech 2019-12-18 (chips.md section 1.1)
GA102_TRANSISTORS = 28.3e9      # NVIDIA Ampere GA102 whitepaper (2020)
GA102_AREA_MM2 = 628.4          # same whitepaper; Samsung 8N, the Orin process family


def orin_area_check() -> dict[str, float]:
    """Orin's die area is not published. Model (blocks + the automotive uncore) against an
    indirect estimate: 17 B transistors at GA102's average density on Samsung 8 nm."""
    b = area_breakdown(ORIN_SPEC.replace(uncore_mm2=AUTOMOTIVE_UNCORE_MM2))
    est = ORIN_TRANSISTORS / (GA102_TRANSISTORS / GA102_AREA_MM2)
    return {"model_mm2": float(b["total_mm2"]), "transistor_estimate_mm2": est,
            "ratio": float(b["total_mm2"]) / est}


def published_checks() -> list[dict[str, Any]]:
    """Model vs published die area for each chip of :data:`PUBLISHED`.

    ``cross_mm2`` uses the uncore residual of the *other* chip(s) (a leave-one-out check);
    ``modelled_mm2`` is the sum of the modelled blocks without any uncore.
    """
    res = _residuals()
    rows = []
    for name, (spec, area, source) in PUBLISHED.items():
        others = [v for k, v in res.items() if k != name]
        uncore = float(np.mean(others)) if others else 0.0
        b = area_breakdown(spec.replace(uncore_mm2=uncore))
        rows.append({
            "chip": name, "published_mm2": area, "source": source,
            "modelled_mm2": float(b["total_mm2"]) - uncore, "uncore_used_mm2": uncore,
            "cross_mm2": float(b["total_mm2"]),
            "cross_error": float(b["total_mm2"]) / area - 1.0,
            **{k: float(v) for k, v in b.items() if k != "total_mm2"},
        })
    return rows
