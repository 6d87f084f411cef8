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
  modelled blocks match the published die areas of Thor (Thor-U) and M100 (mean of the two
  residuals; see :func:`published_checks`, which reports each die checked with the *other*
  die's residual).

The contents of published dies (``presets/dies.yaml``, every number sourced) are data, not code:
a chip preset names its die (``technology.die``) and the cores it enables (``matrix.cores``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from microarch.schema import Reader, SpecError, load_yaml

__all__ = ["AreaSpec", "area_breakdown", "total_area_mm2", "logic_density_mtr_per_mm2",
           "sram_mm2_per_mib", "int8_lane_um2", "Die", "dies", "published_checks",
           "AUTOMOTIVE_UNCORE_MM2", "CPU_CORE_MM2_N5", "LPDDR_PHY_MM2_PER_X16",
           "orin_area_check", "DEFAULT_CPU_CORES", "LPDDR_MT_PER_S", "die_of",
           "dram_data_rate", "chip_area_spec", "chip_area_mm2"]

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


@dataclass(frozen=True)
class Die:
    """A physical die whose contents are public (``presets/dies.yaml``): what a chip preset
    does not describe (units fused off for yield, the CPU cluster, SRAM outside its memory
    levels) and, where published, its area.

    Attributes:
        key / description: the die's key in dies.yaml and what it is.
        node_nm: process node (the node key of this module).
        physical_units: compute units (SMs, TPBs) on the die; a chip enables
            ``matrix.cores`` of them.
        int8_macs_per_unit / vector_lanes_per_unit: INT8 MAC lanes and FP32 FMA lanes per unit.
        register_file_bytes_per_unit / local_sram_bytes_per_unit: per-unit SRAM (register
            files are outside every chip's memory levels).
        shared_sram_bytes / cpu_cache_bytes: chip-wide SRAM and CPU caches.
        cpu_cores: CPU cores by class.
        dram_bus_bits: DRAM interface on the die (a module may wire up less of it).
        float_formats: float formats of the matrix lanes.
        fused_nonlinear: fused non-linear pipelines (engine area).
        published_area_mm2: published die area, None if unpublished.
        transistors / reference_transistors / reference_area_mm2: an unpublished die's
            transistor count and a reference die of the same process, for an indirect check.
        sources: field -> source, as read.
    """

    key: str
    description: str
    node_nm: float
    physical_units: int
    int8_macs_per_unit: float
    vector_lanes_per_unit: float
    register_file_bytes_per_unit: float
    local_sram_bytes_per_unit: float
    shared_sram_bytes: float
    cpu_cache_bytes: float
    cpu_cores: Mapping[str, int]
    dram_bus_bits: int
    float_formats: tuple[str, ...]
    fused_nonlinear: bool = False
    published_area_mm2: float | None = None
    transistors: float | None = None
    reference_transistors: float | None = None
    reference_area_mm2: float | None = None
    sources: Mapping[str, str] = field(default_factory=dict)

    @property
    def extra_sram_bytes(self) -> float:
        """On-die SRAM no chip describes as a memory level: register files and CPU caches."""
        return self.physical_units * self.register_file_bytes_per_unit + self.cpu_cache_bytes

    def spec(self, uncore_mm2: Array = 0.0) -> AreaSpec:
        """The die's contents as an :class:`AreaSpec` (every unit, every SRAM)."""
        u = self.physical_units
        return AreaSpec(
            node_nm=self.node_nm, int8_mac_lanes=u * self.int8_macs_per_unit,
            vector_lanes=u * self.vector_lanes_per_unit,
            sram_bytes=u * (self.register_file_bytes_per_unit + self.local_sram_bytes_per_unit)
            + self.shared_sram_bytes + self.cpu_cache_bytes,
            dram_bus_bits=self.dram_bus_bits, float_formats=self.float_formats,
            cpu_cores=dict(self.cpu_cores), uncore_mm2=uncore_mm2,
            fused_nonlinear=self.fused_nonlinear)


@lru_cache(maxsize=1)
def dies() -> dict[str, Die]:
    """The dies of ``presets/dies.yaml`` by key (read and validated once)."""
    path = Path(str(resources.files("microarch"))) / "presets" / "dies.yaml"
    data = load_yaml(path)
    if not isinstance(data, dict):
        raise SpecError([f"{path.name}: expected a mapping of dies"])
    errors: list[str] = []
    out: dict[str, Any] = {}
    for key, body in data.items():
        r = Reader(body, path.name, str(key), errors)
        kw = dict(
            key=str(key), description=r.string("description"),
            node_nm=r.number("node_nm", positive=True),
            physical_units=r.number("physical_units", positive=True, integer=True),
            int8_macs_per_unit=r.number("int8_macs_per_unit", positive=True),
            vector_lanes_per_unit=r.number("vector_lanes_per_unit", positive=True),
            register_file_bytes_per_unit=r.quantity("register_file_per_unit", "bytes"),
            local_sram_bytes_per_unit=r.quantity("local_sram_per_unit", "bytes"),
            shared_sram_bytes=r.quantity("shared_sram", "bytes"),
            cpu_cache_bytes=r.quantity("cpu_cache", "bytes"),
            cpu_cores=r.mapping("cpu_cores", lambda sub, k: sub.number(
                k, positive=True, integer=True)),
            dram_bus_bits=r.number("dram_bus_bits", positive=True, integer=True),
            float_formats=r.string_list("float_formats", choices=tuple(FLOAT_SUPPORT_AREA)),
            fused_nonlinear=r.boolean("fused_nonlinear", default=False),
            published_area_mm2=r.quantity("published_area", "mm2", required=False,
                                          positive=True),
            transistors=r.number("transistors", required=False, positive=True),
            reference_transistors=r.number("reference_transistors", required=False,
                                           positive=True),
            reference_area_mm2=r.quantity("reference_area", "mm2", required=False,
                                          positive=True),
        )
        r.finish()
        prefix = f"{key}."
        kw["sources"] = {k[len(prefix):]: v for k, v in r.sources.items()
                         if k.startswith(prefix)}
        if not errors:
            try:
                out[str(key)] = Die(**kw)
            except (TypeError, ValueError) as exc:
                errors.append(f"{path.name}: {key}: {exc}")
    if errors:
        raise SpecError(errors)
    return out


def _published() -> dict[str, Die]:
    return {k: d for k, d in dies().items() if d.published_area_mm2 is not None}


def _residuals() -> dict[str, float]:
    return {k: d.published_area_mm2 - float(total_area_mm2(d.spec()))
            for k, d in _published().items()}


AUTOMOTIVE_UNCORE_MM2 = float(np.mean(list(_residuals().values())))
"""Fixed uncore of an automotive SoC (mm^2): the mean residual of the published dies (Thor
and M100: published area minus the modelled blocks)."""


def orin_area_check() -> dict[str, float]:
    """Orin's die area is not published. Model (blocks + the automotive uncore) against an
    indirect estimate: its transistor count at the average density of GA102, a Samsung 8N
    Ampere die (both in dies.yaml)."""
    d = dies()["orin"]
    b = area_breakdown(d.spec(AUTOMOTIVE_UNCORE_MM2))
    est = d.transistors / (d.reference_transistors / d.reference_area_mm2)
    return {"model_mm2": float(b["total_mm2"]), "transistor_estimate_mm2": est,
            "ratio": float(b["total_mm2"]) / est}


def published_checks() -> list[dict[str, Any]]:
    """Model vs published area for each die with a published area.

    ``cross_mm2`` uses the uncore residual of the *other* die(s) (a leave-one-out check);
    ``modelled_mm2`` is the sum of the modelled blocks without any uncore.
    """
    res = _residuals()
    rows = []
    for key, d in _published().items():
        others = [v for k, v in res.items() if k != key]
        uncore = float(np.mean(others)) if others else 0.0
        b = area_breakdown(d.spec(uncore))
        rows.append({
            "die": key, "published_mm2": d.published_area_mm2,
            "source": d.sources.get("published_area", ""),
            "modelled_mm2": float(b["total_mm2"]) - uncore, "uncore_used_mm2": uncore,
            "cross_mm2": float(b["total_mm2"]),
            "cross_error": float(b["total_mm2"]) / d.published_area_mm2 - 1.0,
            **{k: float(v) for k, v in b.items() if k != "total_mm2"},
        })
    return rows


# ---- area of a Chip --------------------------------------------------------------------------

DEFAULT_CPU_CORES: Mapping[str, int] = {"a78ae": 12}
"""CPU cluster of a chip whose die is not known: Orin's 12 Cortex-A78AE (the cluster
:class:`microarch.template.ChipTemplate` assumes)."""

LPDDR_MT_PER_S = {"lpddr5": 6400e6, "lpddr5x": 8533e6}
"""Per-pin data rate of LPDDR5 (JEDEC JESD209-5 maximum 6,400 MT/s) and LPDDR5X
(JESD209-5B maximum 8,533 MT/s; the rate that gives Thor-U's and M100's 273 GB/s on
256 bits)."""


def die_of(chip: Any) -> tuple[Die, int] | None:
    """(die, enabled units) of a chip whose ``technology.die`` names a die of dies.yaml (the
    enabled units are its ``matrix.cores``); None for chips on unknown dies (templates,
    datacenter GPUs)."""
    key = chip.technology.die
    if key is None:
        return None
    d = dies()[key]
    return d, int(chip.matrix.cores or d.physical_units)


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
