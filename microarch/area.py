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
           "orin_area_check", "KnownDie", "KNOWN_DIES", "CHIP_DIES", "DEFAULT_CPU_CORES",
           "LPDDR_MT_PER_S", "die_of", "dram_data_rate", "chip_area_spec", "chip_area_mm2"]

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


# ---- area of a Chip --------------------------------------------------------------------------

@dataclass(frozen=True)
class KnownDie:
    """Physical contents of a published die that a :class:`~microarch.chip.Chip` preset does
    not describe: units fused off for yield, the CPU cluster, and SRAM outside the chip's
    memory levels (register files, CPU caches).

    Attributes:
        physical_units: compute units (SMs, TPBs) on the die.
        cpu_cores: CPU cores on the die by class.
        extra_sram_bytes: on-die SRAM not modelled as a memory level.
        dram_bus_bits: DRAM interface on the die (a module may wire up less of it).
        source: where the figures come from.
    """

    physical_units: int
    cpu_cores: Mapping[str, int]
    extra_sram_bytes: float
    dram_bus_bits: int
    source: str


KNOWN_DIES: dict[str, KnownDie] = {
    # Same contents as PUBLISHED["drive-thor-u"]: 24 SM physical, 256 KiB register file per
    # SM, 14 Neoverse-V3AE with 16 MB L3, 256-bit LPDDR5X (chips.md sections 2.1 and 2.3).
    "thor": KnownDie(24, {"v3ae": 14}, 24 * 256 * 1024 + 16 * _MB, 256,
                     "NVIDIA forum 356355 (24 SM TRM maximum); chips.md section 2.1"),
    # Same contents as PUBLISHED["li-m100"]: 56 TPB, 24 Cortex-A78AE, 14 cluster + 4 CCB
    # SiFive X280, 8 LPDDR5X channels = 256 bits at 273 GB/s (arXiv 2604.17862 section IV;
    # chips.md section 3).
    "m100": KnownDie(56, {"a78ae": 24, "x280": 18}, 0.0, 256,
                     "arXiv 2604.17862 section IV (14 clusters x 4 TPB, 1 X280 per cluster, "
                     "4 X280 in the CCB); 24 A78AE (chips.md section 3)"),
    # Same contents as ORIN_SPEC: T234 with 16 SM, 256 KiB register file per SM, 12
    # Cortex-A78AE with 6 MB L3, 256-bit LPDDR5 (chips.md section 1.1).
    "orin": KnownDie(16, {"a78ae": 12}, 16 * 256 * 1024 + 6 * _MB, 256,
                     "AGX Orin technical brief (2 GPC, 16 SM) and Seeed wiki (12 A78AE, 6 MB "
                     "L3), chips.md section 1.1"),
}
"""Published dies by key (see :data:`CHIP_DIES`)."""

CHIP_DIES: dict[str, tuple[str, int]] = {
    "drive-thor-u": ("thor", 20),          # 20 SM enabled: the preset's assumption
    "jetson-agx-thor": ("thor", 20),       # 20 SM at run time (NVIDIA forum 356355)
    "li-m100": ("m100", 48),               # 12 of 14 clusters enabled (paper section VI-C)
    "jetson-agx-orin-64gb": ("orin", 16),
    "drive-orin-x": ("orin", 16),          # same T234 as AGX Orin 64GB (assumption)
    "jetson-agx-orin-32gb": ("orin", 14),
    "jetson-orin-nx-16gb": ("orin", 8),    # Orin modules share the T234 die (assumption)
    "jetson-orin-nano-8gb": ("orin", 8),
}
"""Chip preset name -> (die key, compute units the preset enables)."""

DEFAULT_CPU_CORES: Mapping[str, int] = {"a78ae": 12}
"""CPU cluster of a chip whose die is not known: Orin's 12 Cortex-A78AE (the cluster
:class:`microarch.template.ChipTemplate` assumes)."""

LPDDR_MT_PER_S = {"lpddr5": 6400e6, "lpddr5x": 8533e6}
"""Per-pin data rate of LPDDR5 (JEDEC JESD209-5 maximum 6,400 MT/s) and LPDDR5X
(JESD209-5B maximum 8,533 MT/s; the rate that gives Thor-U's and M100's 273 GB/s on
256 bits)."""


def die_of(chip: Any) -> tuple[KnownDie, int] | None:
    """(die, enabled units) of a chip: by its name, or by the longest preset name it starts
    with followed by a separator (so ``li-m100+kv`` or ``li-m100-variant`` is an M100);
    None for chips on unknown dies (templates, datacenter GPUs)."""
    name = chip.name
    if name in CHIP_DIES:
        key, units = CHIP_DIES[name]
        return KNOWN_DIES[key], units
    hits = [k for k in CHIP_DIES if name.startswith(k) and name[len(k)] in "+-_:@ ("]
    if not hits:
        return None
    key, units = CHIP_DIES[max(hits, key=len)]
    return KNOWN_DIES[key], units


def dram_data_rate(chip: Any) -> tuple[str, float]:
    """(LPDDR generation, per-pin transfers/s) of a chip's DRAM.

    The loaded :class:`~microarch.chip.Chip` keeps no DRAM type (the preset's
    ``technology.dram_type`` only selects the default access energy), so: (1) the chip's
    description naming LPDDR5X, LPDDR5, HBM or GDDR decides; (2) otherwise a DRAM access
    energy equal to the HBM or GDDR default marks those; (3) otherwise the LPDDR rate at which
    the bandwidth fills a whole number of 16-bit channels (within 0.5 %) is taken, LPDDR5X
    when both or neither do. HBM and GDDR raise ValueError: only LPDDR PHYs are modelled.
    """
    from microarch.power import DRAM_J_PER_BYTE  # power does not import area: no cycle

    text = chip.description.upper()
    if "HBM" in text or "GDDR" in text:
        kind = "HBM" if "HBM" in text else "GDDR"
        raise ValueError(f"{chip.name}: {kind} DRAM; the area model has LPDDR PHYs only")
    if "LPDDR5X" in text:
        return "lpddr5x", LPDDR_MT_PER_S["lpddr5x"]
    if "LPDDR5" in text:
        return "lpddr5", LPDDR_MT_PER_S["lpddr5"]
    e = chip.dram.energy_j_per_byte
    for kind in ("hbm", "gddr"):
        if np.isclose(e, DRAM_J_PER_BYTE[kind], rtol=1e-6, atol=0.0):
            raise ValueError(f"{chip.name}: {kind.upper()} DRAM (by its access energy); the "
                             "area model has LPDDR PHYs only")
    bits_per_s = chip.dram.bandwidth_bytes_per_s * 8.0
    fits = []
    for gen in ("lpddr5x", "lpddr5"):
        ch = bits_per_s / LPDDR_MT_PER_S[gen] / 16.0
        if abs(ch - round(ch)) <= 0.005 * ch and round(ch) >= 1:
            fits.append(gen)
    gen = fits[0] if len(fits) == 1 else "lpddr5x"
    return gen, LPDDR_MT_PER_S[gen]


# INT8-lane equivalents of one op/s in other formats (the lane convention of this module:
# FP8 at the INT8 rate, FP16/BF16 at half of it, 4-bit at twice it, FP32 at a quarter).
_INT8_LANE_RATE = {"int8": 1.0, "fp8": 1.0, "int4": 2.0, "nvfp4": 2.0, "mxfp4": 2.0,
                   "fp16": 0.5, "bf16": 0.5, "fp32": 0.25}
_LANE_FORMAT_PREFERENCE = ("int8", "fp8", "int4", "nvfp4", "mxfp4", "fp16", "bf16", "fp32")
_AREA_FORMAT = {"fp16": "fp16", "bf16": "bf16", "fp8": "fp8", "nvfp4": "fp4", "mxfp4": "fp4"}


def chip_area_spec(chip: Any, cpu_cores: Mapping[str, int] | None = None,
                   uncore_mm2: float = AUTOMOTIVE_UNCORE_MM2) -> AreaSpec:
    """The :class:`AreaSpec` of a :class:`~microarch.chip.Chip`.

    * INT8 MAC lanes: the INT8 dense peak / (2 x clock); without INT8, FP8, then 4-bit
      (peak / 2), then FP16/BF16 (peak x 2).
    * Vector lanes (FP32 FMA): the FP32 peak / (2 x clock) where the chip lists one (NVIDIA
      CUDA cores; their vector peak is often the packed-FP16 rate), else the vector peak /
      (2 x clock).
    * SRAM: every on-chip level (shared, local, KV SRAM).
    * DRAM bus: bandwidth x 8 / per-pin rate (:func:`dram_data_rate`), rounded up to whole
      16-bit channels; on a known die at least the die's interface.
    * Engines: ``sparse.native_moe``, ``quant.fused_nonlinear``, reconfigurable phase mode.
    * Float formats: the float formats the matrix units list (FP32 excluded: it runs on the
      vector lanes).
    * A chip on a known die (:func:`die_of`) gets the die's fused-off units (matrix, vector
      and per-unit local SRAM scaled by physical / enabled units), its CPU cluster and its SRAM
      outside the memory levels; other chips get :data:`DEFAULT_CPU_CORES`. ``cpu_cores``
      overrides the CPU cluster.
    """
    from microarch.chip import MemoryKind, PhaseMode

    clock = chip.technology.clock_hz
    peaks = chip.matrix.peak_dense_ops_per_s
    fmt = next(f for f in _LANE_FORMAT_PREFERENCE if f in peaks)
    lanes = peaks[fmt] * _INT8_LANE_RATE[fmt] / (2.0 * clock)
    vec_ops = peaks.get("fp32", chip.vector.peak_ops_per_s)
    vec_lanes = vec_ops / (2.0 * clock)
    die = die_of(chip)
    scale = die[0].physical_units / die[1] if die else 1.0
    sram = 0.0
    for m in chip.memory:
        if m.kind == MemoryKind.LOCAL:
            sram += m.capacity_bytes * scale
        elif m.kind != MemoryKind.DRAM:
            sram += m.capacity_bytes
    sram += die[0].extra_sram_bytes if die else 0.0
    _, rate = dram_data_rate(chip)
    bus = 16.0 * np.ceil(chip.dram.bandwidth_bytes_per_s * 8.0 / rate / 16.0 - 0.01)
    bus = max(bus, die[0].dram_bus_bits) if die else bus
    cores = dict(cpu_cores) if cpu_cores is not None else dict(
        die[0].cpu_cores if die else DEFAULT_CPU_CORES)
    floats = tuple(sorted({_AREA_FORMAT[f] for f in peaks if f in _AREA_FORMAT}))
    return AreaSpec(
        node_nm=float(chip.technology.node_nm), int8_mac_lanes=lanes * scale,
        vector_lanes=vec_lanes * scale, sram_bytes=sram, dram_bus_bits=float(bus),
        float_formats=floats, cpu_cores=cores, uncore_mm2=uncore_mm2,
        native_moe=bool(chip.sparse.native_moe), fused_nonlinear=bool(chip.quant.fused_nonlinear),
        reconfigurable=chip.phase.mode == PhaseMode.RECONFIGURABLE)


def chip_area_mm2(chip: Any, cpu_cores: Mapping[str, int] | None = None,
                  uncore_mm2: float = AUTOMOTIVE_UNCORE_MM2) -> float:
    """Modelled die area (mm^2) of a :class:`~microarch.chip.Chip` (:func:`chip_area_spec`)."""
    return float(total_area_mm2(chip_area_spec(chip, cpu_cores, uncore_mm2)))
