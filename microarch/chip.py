"""The chip schema: a frozen dataclass tree describing one accelerator.

Everything is in un-prefixed SI (bytes, bytes/s, ops/s, s, J, W, Hz, mm^2). Datasheet peaks and
achieved efficiencies are separate fields; dense peaks and the 2:4 sparse speed-up are separate.
Constructors validate their own arguments and name the bad one; the YAML loader
(:mod:`microarch.loader`) adds the file name and field path.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum
from types import MappingProxyType

from microarch.formats import FORMAT_ORDER, get_format
from microarch.schema import Span, excerpt

__all__ = [
    "GemmTiling", "MatrixUnit", "VectorUnit", "MemoryKind", "MemoryLevel", "SparseEngine",
    "QuantEngine", "PhaseMode", "PhaseResources", "Dispatch", "Technology", "Energy",
    "Efficiency", "PowerMode", "Chip",
]


def _positive(owner: str, name: str, value: float) -> None:
    if not value > 0:
        raise ValueError(f"{owner}.{name} must be > 0, got {excerpt(value)}")


def _non_negative(owner: str, name: str, value: float) -> None:
    if not value >= 0:
        raise ValueError(f"{owner}.{name} must be >= 0, got {excerpt(value)}")


def _fraction(owner: str, name: str, value: float, allow_zero: bool = False) -> None:
    ok = (0 <= value <= 1) if allow_zero else (0 < value <= 1)
    if not ok:
        bound = "[0, 1]" if allow_zero else "(0, 1]"
        raise ValueError(f"{owner}.{name} must be in {bound}, got {excerpt(value)}")


def _frozen_map(d: Mapping[str, float]) -> Mapping[str, float]:
    return MappingProxyType(dict(d))


@dataclass(frozen=True)
class GemmTiling:
    """How GEMMs are cut into work for the cores (the output tile of one core).

    Attributes:
        m / n: rows (tokens) and columns (output features) of the output tile a core computes
            in the large GEMMs (a GPU's thread-block tile, a TPB's tile).
        k: reduction depth of one main-loop step.
        min_m: smallest row tile the kernels use for short GEMMs (decode, few tokens): a row
            count is padded to a multiple of the tile it runs with.
        grouped_min_m: smallest row tile of the grouped (MoE expert) GEMM kernels, which run
            every expert of a layer with one tile shape (None: ``min_m``).
    """

    m: int
    n: int
    k: int
    min_m: int
    grouped_min_m: int | None = None

    def __post_init__(self) -> None:
        if self.grouped_min_m is None:
            object.__setattr__(self, "grouped_min_m", self.min_m)
        for name in ("m", "n", "k", "min_m", "grouped_min_m"):
            v = getattr(self, name)
            if isinstance(v, bool) or int(v) != v or v < 1:
                raise ValueError(f"GemmTiling.{name} must be an integer >= 1, got {excerpt(v)}")
        for name in ("min_m", "grouped_min_m"):
            if getattr(self, name) > self.m:
                raise ValueError(f"GemmTiling.{name} must be <= m ({self.m}), got "
                                 f"{excerpt(getattr(self, name))}")


@dataclass(frozen=True)
class MatrixUnit:
    """Matrix (tensor / MAC-array) engines of the whole chip.

    Attributes:
        peak_dense_ops_per_s: datasheet dense peak per numeric format (2 ops per MAC).
        sparse_2_4_speedup: speed-up of 2:4 structured-sparse GEMMs (1.0 = no support).
        cores: identical cores the GEMM tiles are spread over (SMs of a GPU, TPBs of the
            M100), as enabled on this part; None where unknown.
        tiling: the output tile of one core (:class:`GemmTiling`); None where unknown (the
            cost model then assumes no tile or wave quantisation).
    """

    peak_dense_ops_per_s: Mapping[str, float]
    sparse_2_4_speedup: float = 1.0
    cores: int | None = None
    tiling: GemmTiling | None = None

    def __post_init__(self) -> None:
        if not self.peak_dense_ops_per_s:
            raise ValueError("MatrixUnit.peak_dense_ops_per_s needs at least one format")
        canon = {}
        for fmt, v in self.peak_dense_ops_per_s.items():
            canon[get_format(fmt).name] = float(v)
            _positive("MatrixUnit", f"peak_dense_ops_per_s[{fmt}]", float(v))
        object.__setattr__(self, "peak_dense_ops_per_s", _frozen_map(canon))
        if self.sparse_2_4_speedup < 1:
            raise ValueError(
                f"MatrixUnit.sparse_2_4_speedup must be >= 1, got {self.sparse_2_4_speedup!r}")
        if self.cores is not None and (isinstance(self.cores, bool)
                                       or int(self.cores) != self.cores or self.cores < 1):
            raise ValueError(f"MatrixUnit.cores must be an integer >= 1, got {excerpt(self.cores)}")

    def execution_format(self, fmt: str) -> str:
        """The format a GEMM in ``fmt`` actually runs in: itself if native, else the narrowest
        supported format at least as wide (e.g. FP8 on Ampere runs as FP16)."""
        name = get_format(fmt).name
        if name in self.peak_dense_ops_per_s:
            return name
        src = get_format(name)
        # A float format never runs on integer units; an integer one runs on wider integer
        # units or on a strictly wider float format (which holds its values exactly).
        wider = [f for f in FORMAT_ORDER if f in self.peak_dense_ops_per_s
                 and get_format(f).bits >= src.bits
                 and (not src.is_float and not get_format(f).is_float
                      or get_format(f).is_float and get_format(f).bits > src.bits
                      or src.is_float and get_format(f).is_float)]
        if not wider:
            raise ValueError(f"MatrixUnit has no format at least as wide as {name}")
        return min(wider, key=lambda f: (get_format(f).bits, get_format(f).is_float != src.is_float,
                                         FORMAT_ORDER.index(f)))

    def peak(self, fmt: str) -> float:
        """Dense peak ops/s for a GEMM whose operands are in ``fmt``."""
        return self.peak_dense_ops_per_s[self.execution_format(fmt)]


@dataclass(frozen=True)
class VectorUnit:
    """Vector / special-function units (softmax, norms, activations, RoPE, (de)quantisation).

    Attributes:
        peak_ops_per_s: element-wise arithmetic throughput (FP16/FP32 ops/s).
        special_function_ops_per_s: transcendental throughput (exp, rsqrt, sigmoid).
    """

    peak_ops_per_s: float
    special_function_ops_per_s: float

    def __post_init__(self) -> None:
        _positive("VectorUnit", "peak_ops_per_s", self.peak_ops_per_s)
        _positive("VectorUnit", "special_function_ops_per_s", self.special_function_ops_per_s)


class MemoryKind(str, Enum):
    """Role of a memory level."""

    DRAM = "dram"      # off-chip main memory
    SHARED = "shared"  # chip-wide SRAM / L2
    LOCAL = "local"    # per-core buffers (capacity is the chip total)
    KV = "kv"          # dedicated KV-cache SRAM


@dataclass(frozen=True)
class MemoryLevel:
    """One level of the memory hierarchy.

    Attributes:
        name: label used in results ("dram", "l2", ...).
        kind: its role (:class:`MemoryKind`).
        capacity_bytes: total capacity.
        bandwidth_bytes_per_s: peak bandwidth (datasheet); achieved efficiency lives in
            :class:`Efficiency`.
        energy_j_per_byte: access energy.
        managed: software-managed scratchpad (True) or hardware cache (False). Weights can be
            pinned in a scratchpad; a cache holds them only if they fit whole.
        pinnable_fraction: share of the capacity that may hold resident weights.
    """

    name: str
    kind: MemoryKind
    capacity_bytes: float
    bandwidth_bytes_per_s: float
    energy_j_per_byte: float
    managed: bool = False
    pinnable_fraction: float = 0.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "kind", MemoryKind(self.kind))
        owner = f"MemoryLevel({self.name})"
        _positive(owner, "capacity_bytes", self.capacity_bytes)
        _positive(owner, "bandwidth_bytes_per_s", self.bandwidth_bytes_per_s)
        _non_negative(owner, "energy_j_per_byte", self.energy_j_per_byte)
        _fraction(owner, "pinnable_fraction", self.pinnable_fraction, allow_zero=True)


@dataclass(frozen=True)
class SparseEngine:
    """Structured-sparsity and mixture-of-experts support.

    Attributes:
        native_moe: hardware routing / expert gather; without it each touched expert costs
            ``per_expert_overhead_s`` (separate kernel, gather/scatter) on top of its GEMMs.
        per_expert_overhead_s: time per touched expert per MoE layer without a native engine.
    """

    native_moe: bool = False
    per_expert_overhead_s: float = 0.0

    def __post_init__(self) -> None:
        _non_negative("SparseEngine", "per_expert_overhead_s", self.per_expert_overhead_s)


@dataclass(frozen=True)
class QuantEngine:
    """Quantisation and operator-fusion support.

    Attributes:
        fused_dequant: weight-only formats are dequantised inside the GEMM data path; without
            it a separate vector-unit pass writes the dequantised weights back to memory.
        fused_nonlinear: softmax, norms, activations and RoPE run fused with the neighbouring
            matrix operation (no separate vector pass, no extra memory traffic).
        fused_conversion: activation (de)quantisation at GEMM boundaries is fused in hardware.
        conversion_ops_per_element: vector ops to quantise or dequantise one element.
    """

    fused_dequant: bool = True
    fused_nonlinear: bool = False
    fused_conversion: bool = False
    conversion_ops_per_element: float = 2.0

    def __post_init__(self) -> None:
        _non_negative("QuantEngine", "conversion_ops_per_element", self.conversion_ops_per_element)


class PhaseMode(str, Enum):
    """How compute, bandwidth and SRAM are shared between prefill and decode."""

    FIXED = "fixed"                    # one pool, kernels take turns
    STATIC = "static"                  # fixed prefill / decode shares
    RECONFIGURABLE = "reconfigurable"  # shares follow the active phases


@dataclass(frozen=True)
class PhaseResources:
    """Phase-resource policy.

    Attributes:
        mode: :class:`PhaseMode`.
        prefill_compute_share / prefill_bandwidth_share / prefill_sram_share: the prefill
            partition's share in STATIC mode (decode gets the rest); also the split a
            RECONFIGURABLE chip uses while both phases are active.
        reconfiguration_latency_s: cost of changing the split (RECONFIGURABLE).
        power_gating: idle units are gated (no static power while idle).
    """

    mode: PhaseMode = PhaseMode.FIXED
    prefill_compute_share: float = 0.5
    prefill_bandwidth_share: float = 0.5
    prefill_sram_share: float = 0.5
    reconfiguration_latency_s: float = 0.0
    power_gating: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "mode", PhaseMode(self.mode))
        for name in ("prefill_compute_share", "prefill_bandwidth_share", "prefill_sram_share"):
            v = getattr(self, name)
            if not 0 < v < 1:
                raise ValueError(f"PhaseResources.{name} must be in (0, 1), got {excerpt(v)}")
        _non_negative("PhaseResources", "reconfiguration_latency_s",
                      self.reconfiguration_latency_s)


@dataclass(frozen=True)
class Dispatch:
    """Operator launch and kernel support.

    Attributes:
        per_operator_s: launch / dispatch overhead paid by every operator (GPU kernel launch
            through a CUDA graph vs a dataflow orchestrator's instruction issue).
        fused_attention: flash-style attention (scores stay on chip).
    """

    per_operator_s: float = 0.0
    fused_attention: bool = True

    def __post_init__(self) -> None:
        _non_negative("Dispatch", "per_operator_s", self.per_operator_s)


@dataclass(frozen=True)
class Technology:
    """Process and physical figures.

    Attributes:
        process: foundry process label ("TSMC N4").
        node_nm: nominal node in nm (for energy / area scaling).
        clock_hz: matrix-engine clock.
        tdp_w: maximum module / board power, if published.
        static_power_w: leakage and always-on power while running.
        die_area_mm2: published die area, if any (for checking the area model).
        die: key of the physical die in ``presets/dies.yaml`` (units fused off, CPU cluster,
            SRAM outside the memory levels), if known.
    """

    process: str
    node_nm: float
    clock_hz: float
    static_power_w: float
    tdp_w: float | None = None
    die_area_mm2: float | None = None
    die: str | None = None

    def __post_init__(self) -> None:
        _positive("Technology", "node_nm", self.node_nm)
        _positive("Technology", "clock_hz", self.clock_hz)
        _non_negative("Technology", "static_power_w", self.static_power_w)
        if self.tdp_w is not None:
            _positive("Technology", "tdp_w", self.tdp_w)
        if self.die_area_mm2 is not None:
            _positive("Technology", "die_area_mm2", self.die_area_mm2)


@dataclass(frozen=True)
class Energy:
    """Dynamic energy per operation (memory access energy lives on each MemoryLevel).

    Attributes:
        matrix_j_per_op: energy of one matrix op (half a MAC) per execution format.
        vector_j_per_op: energy of one vector-unit op.
    """

    matrix_j_per_op: Mapping[str, float]
    vector_j_per_op: float

    def __post_init__(self) -> None:
        canon = {}
        for fmt, v in self.matrix_j_per_op.items():
            _non_negative("Energy", f"matrix_j_per_op[{fmt}]", float(v))
            canon[get_format(fmt).name] = float(v)
        object.__setattr__(self, "matrix_j_per_op", _frozen_map(canon))
        _non_negative("Energy", "vector_j_per_op", self.vector_j_per_op)

    def matrix(self, fmt: str) -> float:
        """Energy per op of a GEMM executing in ``fmt`` (nearest wider format if absent)."""
        name = get_format(fmt).name
        if name in self.matrix_j_per_op:
            return self.matrix_j_per_op[name]
        bits = get_format(name).bits
        cands = [f for f in self.matrix_j_per_op if get_format(f).bits >= bits]
        pick = min(cands, key=lambda f: get_format(f).bits) if cands else max(
            self.matrix_j_per_op, key=lambda f: get_format(f).bits)
        return self.matrix_j_per_op[pick]


@dataclass(frozen=True)
class Efficiency:
    """Achieved fraction of peak, per resource (1.0 = datasheet roofline).

    Attributes:
        matrix: per execution format; key "default" covers formats not listed.
        weight_only_gemm: extra factor on GEMMs whose weights are narrower than their
            activations (dequantisation in the GEMM main loop).
        vector: vector / special-function units.
        dram: DRAM bandwidth.
        sram: on-chip SRAM bandwidth (shared, local and KV levels).
        gemm_k_overhead: main-loop fill, drain and epilogue of a GEMM tile, in reduction
            elements: a tile of depth K runs at K / (K + gemm_k_overhead) of the rate (0 =
            none).
        dequant_ops_per_element: vector-unit ops a fused weight-only GEMM spends widening one
            weight element, each time a row tile reads it (unpack, convert, scale); the
            dequantisation runs beside the matrix work, which waits when it is slower (0 =
            free).
        weight_only_row_tile: row tile of the stack's weight-only GEMM kernels, which are
            built for decode (0 = the GEMM tiling's row tile).
        attention: achieved fraction of the 16-bit matrix peak in fused attention kernels
            (FMHA), which are not the GEMM kernels (0 = the 16-bit GEMM efficiency).

    Formats without a value of their own inherit the efficiency of the nearest listed format
    that shares their kind of pipeline (:meth:`matrix_for`); "default" covers the rest.
    """

    matrix: Mapping[str, float] = field(default_factory=lambda: {"default": 1.0})
    weight_only_gemm: float = 1.0
    vector: float = 1.0
    dram: float = 1.0
    sram: float = 1.0
    gemm_k_overhead: float = 0.0
    dequant_ops_per_element: float = 0.0
    weight_only_row_tile: float = 0.0
    attention: float = 0.0

    def __post_init__(self) -> None:
        canon = {}
        for fmt, v in self.matrix.items():
            key = "default" if fmt == "default" else get_format(fmt).name
            _fraction("Efficiency", f"matrix[{fmt}]", float(v))
            canon[key] = float(v)
        canon.setdefault("default", 1.0)
        object.__setattr__(self, "matrix", _frozen_map(canon))
        for name in ("weight_only_gemm", "vector", "dram", "sram"):
            _fraction("Efficiency", name, getattr(self, name))
        _non_negative("Efficiency", "gemm_k_overhead", self.gemm_k_overhead)
        _non_negative("Efficiency", "dequant_ops_per_element", self.dequant_ops_per_element)
        _non_negative("Efficiency", "weight_only_row_tile", self.weight_only_row_tile)
        if self.attention:
            _fraction("Efficiency", "attention", self.attention)

    def matrix_for(self, fmt: str) -> float:
        """Achieved matrix efficiency for execution format ``fmt``: its own value, else that
        of the nearest listed format, else "default".

        Tensor cores run every format of a generation on one datapath, so a format whose
        efficiency was never measured inherits the achieved fraction of the nearest measured
        one: achieved rate = the measured format's achieved rate x the ratio of the datasheet
        peaks. Nearest: the same kind (float or integer) first, then the closest width
        (log2 of bits), the wider on a tie."""
        return self.matrix[self.matrix_key(fmt)]

    def matrix_key(self, fmt: str) -> str:
        """The key of :attr:`matrix` whose value :meth:`matrix_for` gives ``fmt``."""
        name = get_format(fmt).name
        if name in self.matrix:
            return name
        listed = [f for f in self.matrix if f != "default"]
        if not listed:
            return "default"
        src = get_format(name)

        def distance(f: str) -> tuple:
            g = get_format(f)
            return (g.is_float != src.is_float, abs(math.log2(g.bits) - math.log2(src.bits)),
                    -g.bits)

        return min(listed, key=distance)


@dataclass(frozen=True)
class PowerMode:
    """One power mode of a chip (an nvpmodel mode of a Jetson module): the clocks, enabled
    cores and memory bandwidth it runs at and its power budget.

    Attributes:
        name: mode name as the vendor's tool prints it ("MAXN", "30W", "MAXN_SUPER").
        clock_hz: matrix / vector engine clock in this mode.
        cores: enabled compute cores (SMs) in this mode (None: all of the chip's).
        dram_bytes_per_s: peak DRAM bandwidth at this mode's memory clock.
        tdp_w: the mode's power budget, if it has one (None for uncapped modes).
        static_power_w: leakage and always-on power in this mode (None: the chip's, scaled by
            the mode's share of the reference mode's power budget).
        source: where the mode's numbers come from.
    """

    name: str
    clock_hz: float
    dram_bytes_per_s: float
    cores: int | None = None
    tdp_w: float | None = None
    static_power_w: float | None = None
    source: str = ""

    def __post_init__(self) -> None:
        if not self.name:
            raise ValueError("PowerMode.name must not be empty")
        _positive("PowerMode", "clock_hz", self.clock_hz)
        _positive("PowerMode", "dram_bytes_per_s", self.dram_bytes_per_s)
        if self.cores is not None and (int(self.cores) != self.cores or self.cores < 1):
            raise ValueError(f"PowerMode.cores must be an integer >= 1, got {excerpt(self.cores)}")
        if self.tdp_w is not None:
            _positive("PowerMode", "tdp_w", self.tdp_w)
        if self.static_power_w is not None:
            _non_negative("PowerMode", "static_power_w", self.static_power_w)


@dataclass(frozen=True)
class Chip:
    """One accelerator: compute, memory hierarchy, engines, phase policy, physics.

    ``memory`` is ordered outermost first and must contain exactly one DRAM level; at most one
    KV level. ``sources`` maps field paths to the public source or assumption of each number;
    ``ranges`` maps the field paths of ranged numbers (assumptions, and fitted terms with their
    5-95 % interval) to their :class:`~microarch.schema.Span` (low, high, nominal; SI);
    ``links`` maps the field path of a number derived from an assumed one to that number's path
    (it scales in proportion when the assumption is varied).

    ``power_modes`` lists the chip's power modes; the figures of the other fields are those of
    ``reference_mode``, and ``power_mode`` names the mode the chip is in now
    (:meth:`in_power_mode` returns it in another).
    """

    name: str
    description: str
    family: str
    matrix: MatrixUnit
    vector: VectorUnit
    memory: tuple[MemoryLevel, ...]
    technology: Technology
    energy: Energy
    sparse: SparseEngine = field(default_factory=SparseEngine)
    quant: QuantEngine = field(default_factory=QuantEngine)
    phase: PhaseResources = field(default_factory=PhaseResources)
    dispatch: Dispatch = field(default_factory=Dispatch)
    efficiency: Efficiency = field(default_factory=Efficiency)
    sources: Mapping[str, str] = field(default_factory=dict)
    ranges: Mapping[str, Span] = field(default_factory=dict)
    links: Mapping[str, str] = field(default_factory=dict)
    power_modes: tuple[PowerMode, ...] = ()
    reference_mode: str | None = None
    power_mode: str | None = None

    def __post_init__(self) -> None:
        if not self.name:
            raise ValueError("Chip.name must not be empty")
        object.__setattr__(self, "power_modes", tuple(self.power_modes))
        modes = [m.name for m in self.power_modes]
        if len(set(modes)) != len(modes):
            raise ValueError(f"Chip.power_modes names must be unique, got {modes}")
        for label in ("reference_mode", "power_mode"):
            v = getattr(self, label)
            if v is not None and v not in modes:
                raise ValueError(f"Chip.{label} {excerpt(v)} is not one of the power modes "
                                 f"({', '.join(modes) or 'none'})")
        object.__setattr__(self, "ranges", MappingProxyType(dict(self.ranges)))
        object.__setattr__(self, "links", MappingProxyType(dict(self.links)))
        object.__setattr__(self, "memory", tuple(self.memory))
        kinds = [m.kind for m in self.memory]
        if kinds.count(MemoryKind.DRAM) != 1:
            n = kinds.count(MemoryKind.DRAM)
            raise ValueError(f"Chip.memory needs exactly one dram level, got {n}")
        if kinds.count(MemoryKind.KV) > 1:
            raise ValueError("Chip.memory may have at most one kv level")
        names = [m.name for m in self.memory]
        if len(set(names)) != len(names):
            raise ValueError(f"Chip.memory level names must be unique, got {names}")
        object.__setattr__(self, "sources", MappingProxyType(dict(self.sources)))

    @property
    def dram(self) -> MemoryLevel:
        """The off-chip DRAM level."""
        return next(m for m in self.memory if m.kind == MemoryKind.DRAM)

    @property
    def kv_sram(self) -> MemoryLevel | None:
        """The dedicated KV-cache SRAM, if any."""
        return next((m for m in self.memory if m.kind == MemoryKind.KV), None)

    @property
    def on_chip(self) -> tuple[MemoryLevel, ...]:
        """Shared and local SRAM levels (KV SRAM excluded)."""
        return tuple(m for m in self.memory if m.kind in (MemoryKind.SHARED, MemoryKind.LOCAL))

    @property
    def sram_bytes(self) -> float:
        """Total shared + local SRAM (the buffer that GEMM tiling can use)."""
        return float(sum(m.capacity_bytes for m in self.on_chip))

    @property
    def pinnable_weight_bytes(self) -> float:
        """SRAM that may hold resident weights (scratchpads only)."""
        return float(sum(m.capacity_bytes * m.pinnable_fraction for m in self.on_chip
                         if m.managed))

    @property
    def sram_bandwidth_bytes_per_s(self) -> float:
        """Bandwidth of the widest shared/local level (on-chip operand supply)."""
        return max((m.bandwidth_bytes_per_s for m in self.on_chip), default=float("inf"))

    def replace(self, **changes) -> Chip:
        """A copy with top-level fields replaced (for sweeps and variants)."""
        return dataclasses.replace(self, **changes)

    def mode(self, name: str) -> PowerMode:
        """The power mode called ``name``; ValueError lists the chip's modes."""
        for m in self.power_modes:
            if m.name == name:
                return m
        known = ", ".join(m.name for m in self.power_modes) or "none"
        raise ValueError(f"{self.name} has no power mode {excerpt(name)} (modes: {known})")

    def in_power_mode(self, name: str) -> Chip:
        """This chip in power mode ``name``: matrix, vector and special-function peaks scale
        with the mode's clock and enabled cores, per-core SRAM (local levels) with its cores
        and clock, shared SRAM bandwidth with its clock; DRAM bandwidth, clock, power budget
        and static power are the mode's (static power scaled with the power budget where the
        mode gives none). The figures are converted from the current mode's, so modes
        compose."""
        target = self.mode(name)
        if self.power_mode is None:
            raise ValueError(f"{self.name} has no current power mode to convert from")
        cur = self.mode(self.power_mode)
        if target.name == cur.name:
            return self
        cores_now = cur.cores or self.matrix.cores
        cores_new = target.cores or self.matrix.cores
        core_f = (cores_new / cores_now) if cores_now and cores_new else 1.0
        clk_f = target.clock_hz / cur.clock_hz
        f = clk_f * core_f
        matrix = dataclasses.replace(
            self.matrix, peak_dense_ops_per_s={k: v * f for k, v in
                                               self.matrix.peak_dense_ops_per_s.items()},
            cores=cores_new)
        vector = VectorUnit(self.vector.peak_ops_per_s * f,
                            self.vector.special_function_ops_per_s * f)
        memory = []
        for m in self.memory:
            if m.kind == MemoryKind.DRAM:
                m = dataclasses.replace(m, bandwidth_bytes_per_s=target.dram_bytes_per_s)
            elif m.kind == MemoryKind.LOCAL:
                m = dataclasses.replace(m, capacity_bytes=m.capacity_bytes * core_f,
                                        bandwidth_bytes_per_s=m.bandwidth_bytes_per_s * f)
            else:
                m = dataclasses.replace(m, bandwidth_bytes_per_s=m.bandwidth_bytes_per_s
                                        * clk_f)
            memory.append(m)
        tech = self.technology
        if target.static_power_w is not None:
            static = target.static_power_w
        elif target.tdp_w is not None and cur.tdp_w is not None:
            static = tech.static_power_w * target.tdp_w / cur.tdp_w
        else:
            static = tech.static_power_w
        technology = dataclasses.replace(tech, clock_hz=target.clock_hz,
                                         tdp_w=target.tdp_w if target.tdp_w else tech.tdp_w,
                                         static_power_w=static)
        return dataclasses.replace(self, matrix=matrix, vector=vector, memory=tuple(memory),
                                   technology=technology, power_mode=target.name)
