"""What a chip costs in US dollars: wafer, yield, harvesting, package and test, DRAM, and the
one-time engineering spread over the volume shipped.

All inputs broadcast (numpy), so one call prices one chip or a whole population of template
designs (:meth:`microarch.template.ChipTemplate.arrays`). The prices, defect densities and
other inputs are data (``presets/process_costs.yaml``, every number sourced or a ranged
assumption), read by :func:`read_cost_data` with :class:`~microarch.schema.Reader`, so a bad
file is refused with one line per problem naming the file and the key.

Per unit, for a die of area A (mm^2) on node n:

* Gross dies per wafer (square die of edge sqrt(A) plus the scribe lane s, on the wafer's
  usable diameter d = D - 2 x edge exclusion): ``floor(pi d^2 / (4 S) - pi d / sqrt(2 S))``
  with ``S = (sqrt(A) + s)^2`` (the standard formula: wafer area over die area less the dies
  lost along the rim). A die above the reticle limit cannot be made: its cost is infinite.
* Yield with defect density D0 (per cm^2), by a compound-Poisson model: the local density
  lambda is drawn from a mixing distribution and, given lambda, defects fall as Poisson.
  ``negative_binomial`` (Gamma mixing, clustering alpha): ``Y = (1 + A D0 / alpha)^-alpha``;
  ``murphy`` (triangular mixing on [0, 2 D0]): ``Y = ((1 - exp(-A D0)) / (A D0))^2``;
  ``poisson``: ``Y = exp(-A D0)``.
* Harvesting: the die's compute units come in N groups, each of area a_u; the rest A_c of
  the die must be good, and at most k groups may hold a defect (the product enables N - k).
  Given lambda the groups are independent, so
  ``Y = E[exp(-lambda A_c) P(Binomial(N, 1 - exp(-lambda a_u)) <= k)]``; at k = 0 this is the
  whole-die formula above. The k >= 1 terms are integrated over the mixing distribution by
  Gauss quadrature (generalised Gauss-Laguerre for the Gamma, Gauss-Legendre for Murphy's
  triangle) and added to the closed-form k = 0 yield, so more harvesting never lowers yield.
* Die cost = wafer price / (dies per wafer x yield); package = base + per-pin cost x (fixed
  pins + pins per DRAM data bit x bus width), plus a silicon interposer for HBM; unit cost =
  (die + package + test) / final-test yield + DRAM. DRAM = capacity x price per GB, plus one
  package per ``package_bits`` of an LPDDR bus.
* One-time engineering (NRE) = design + mask set of the node; ``cost_usd`` = unit cost +
  NRE / volume.

Uncertainty: every ranged input is taken at the end that lowers the cost (``*_low``) and at the
end that raises it (``*_high``); the nominal is the files' values. Volume is a decision, not an
uncertainty: the band is computed at the volume given.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from microarch.excerpt import excerpt
from microarch.schema import Reader, Span, SpecError, load_yaml

__all__ = ["YIELD_MODELS", "CORNERS", "DRAM_KINDS", "NodeCost", "DramCost", "CostData",
           "read_cost_data", "cost_data", "gross_dies_per_wafer", "die_yield",
           "cost_breakdown", "amortised", "ChipCost", "chip_cost", "dram_kind_of"]

Array = Any

YIELD_MODELS = ("negative_binomial", "murphy", "poisson")
CORNERS = ("nominal", "low", "high")
DRAM_KINDS = ("lpddr5x", "lpddr5", "gddr", "hbm")

_QUAD_POINTS = 48


@dataclass(frozen=True)
class NodeCost:
    """Cost inputs of one process node (each a :class:`~microarch.schema.Span`, SI / USD).

    Attributes:
        node_nm: the node key (as :mod:`microarch.area`).
        process: process name.
        wafer_usd: foundry price of one wafer.
        defect_density_per_cm2: D0.
        design_usd / mask_set_usd: one-time design and mask-set cost of one chip.
    """

    node_nm: float
    process: str
    wafer_usd: Span
    defect_density_per_cm2: Span
    design_usd: Span
    mask_set_usd: Span


@dataclass(frozen=True)
class DramCost:
    """Price of one DRAM type: per GB, and (LPDDR) per package of ``package_bits`` bus bits."""

    kind: str
    usd_per_gb: Span
    package_bits: Span | None = None
    usd_per_package: Span | None = None


@dataclass(frozen=True)
class CostData:
    """The validated contents of a cost-data file (``presets/process_costs.yaml``).

    Attributes:
        file: file name (for messages).
        wafer_diameter_mm / edge_exclusion_mm / scribe_mm: wafer geometry.
        reticle_mm2: largest die one exposure prints.
        yield_model / clustering_alpha / final_test_yield: the yield model.
        nodes: node key -> :class:`NodeCost`.
        package_base_usd / usd_per_pin / fixed_pins / pins_per_dram_bit / test_usd /
            interposer_usd: package and test.
        dram: DRAM type -> :class:`DramCost`.
        harvest_units_per_group: die key (dies.yaml) -> compute units per fused-off group.
        default_volume_units: units over which the NRE is spread when no volume is given.
        sources: field path -> provenance, as read.
    """

    file: str
    wafer_diameter_mm: float
    edge_exclusion_mm: Span
    scribe_mm: Span
    reticle_mm2: float
    yield_model: str
    clustering_alpha: Span
    final_test_yield: Span
    nodes: Mapping[float, NodeCost]
    package_base_usd: Span
    usd_per_pin: Span
    fixed_pins: Span
    pins_per_dram_bit: Span
    test_usd: Span
    interposer_usd: Span
    dram: Mapping[str, DramCost]
    harvest_units_per_group: Mapping[str, int]
    default_volume_units: float
    sources: Mapping[str, str] = field(default_factory=dict)

    def node(self, node_nm: float) -> NodeCost:
        """The cost inputs of ``node_nm``; ValueError naming the known nodes otherwise."""
        key = float(node_nm)
        if key not in self.nodes:
            known = ", ".join(f"{k:g}" for k in sorted(self.nodes))
            raise ValueError(f"{self.file}: no cost data for node {key:g} nm (known: {known})")
        return self.nodes[key]


def _span(r: Reader, key: str, **kw: Any) -> Span | None:
    v = r.number(key, **kw)
    if v is None:
        return None
    return r.ranges.get(r.where(key), Span(float(v), float(v), float(v)))


def read_cost_data(path: str | Path) -> CostData:
    """Read and validate a cost-data file; every problem is one line of a
    :class:`~microarch.schema.SpecError` naming the file and the key."""
    p = Path(path)
    data = load_yaml(p)
    errors: list[str] = []
    r = Reader(data, p.name, "", errors)
    kw: dict[str, Any] = {"file": p.name}

    w = r.child("wafer", required=True)
    if w is not None:
        kw["wafer_diameter_mm"] = w.number("diameter_mm", positive=True, low=25, high=450)
        kw["edge_exclusion_mm"] = _span(w, "edge_exclusion_mm", low=0, high=20)
        kw["scribe_mm"] = _span(w, "scribe_mm", low=0, high=2)
        kw["reticle_mm2"] = w.quantity("reticle_limit", "mm2", positive=True)
        w.finish()

    y = r.child("yield", required=True)
    if y is not None:
        kw["yield_model"] = y.string("model", choices=YIELD_MODELS)
        kw["clustering_alpha"] = _span(y, "clustering_alpha", positive=True, low=0.05,
                                       high=100)
        kw["final_test_yield"] = _span(y, "final_test_yield", positive=True, low=0, high=1)
        y.finish()

    nodes: dict[float, NodeCost] = {}
    n = r.child("nodes", required=True)
    if n is not None:
        if not n.data:
            n.error("needs at least one node")
        for key in list(n.data):
            sub = n.child(key)
            try:
                nm = float(key)
                ok = math.isfinite(nm) and 0 < nm < 1000
            except ValueError:
                ok = False
            if not ok:
                n.error(f"node key {excerpt(key)} is not a node size in nm", key)
                continue
            vals = dict(
                process=sub.string("process"),
                wafer_usd=_span(sub, "wafer_usd", positive=True, high=1e6),
                defect_density_per_cm2=_span(sub, "defect_density_per_cm2", positive=True,
                                             high=100),
                design_usd=_span(sub, "design_usd", high=1e11),
                mask_set_usd=_span(sub, "mask_set_usd", high=1e10))
            sub.finish()
            if all(v is not None for v in vals.values()):
                nodes[nm] = NodeCost(node_nm=nm, **vals)
    kw["nodes"] = nodes

    pk = r.child("package", required=True)
    if pk is not None:
        for k, attr in (("base_usd", "package_base_usd"), ("usd_per_pin", "usd_per_pin"),
                        ("fixed_pins", "fixed_pins"), ("pins_per_dram_bit", "pins_per_dram_bit"),
                        ("test_usd", "test_usd"), ("interposer_usd", "interposer_usd")):
            kw[attr] = _span(pk, k, high=1e6)
        pk.finish()

    dram: dict[str, DramCost] = {}
    d = r.child("dram", required=True)
    if d is not None:
        for key in list(d.data):
            if key not in DRAM_KINDS:
                d.used.add(key)
                d.error(f"unknown DRAM type (known: {', '.join(DRAM_KINDS)})", key)
                continue
            sub = d.child(key)
            per_gb = _span(sub, "usd_per_gb", positive=True, high=1e4)
            lp = key.startswith("lpddr")
            bits = _span(sub, "package_bits", required=lp, positive=True, high=4096)
            per_pkg = _span(sub, "usd_per_package", required=lp, high=1e4)
            sub.finish()
            if per_gb is not None:
                dram[key] = DramCost(key, per_gb, bits, per_pkg)
    kw["dram"] = dram

    harvest: dict[str, int] = {}
    h = r.child("harvest")
    if h is not None:
        for key in list(h.data):
            sub = h.child(key)
            g = sub.number("units_per_group", positive=True, integer=True, high=1024)
            sub.finish()
            if g is not None:
                harvest[key] = int(g)
    kw["harvest_units_per_group"] = harvest

    v = r.child("volume", required=True)
    if v is not None:
        kw["default_volume_units"] = v.number("default_units", positive=True, high=1e12)
        v.finish()
    r.finish()
    if errors:
        raise SpecError(errors)
    kw["sources"] = dict(r.sources)
    return CostData(**kw)


def _default_path() -> Path:
    return Path(str(resources.files("microarch"))) / "presets" / "process_costs.yaml"


@lru_cache(maxsize=1)
def cost_data() -> CostData:
    """The shipped cost data (``presets/process_costs.yaml``), read and validated once."""
    return read_cost_data(_default_path())


# ---- the model ------------------------------------------------------------------------------

def gross_dies_per_wafer(die_area_mm2: Array, diameter_mm: float = 300.0,
                         edge_exclusion_mm: float = 3.0, scribe_mm: float = 0.1) -> np.ndarray:
    """Whole dies on one wafer (the gross-die formula with edge loss; module docstring)."""
    a = np.asarray(die_area_mm2, dtype=float)
    if np.any(~(a > 0)):
        raise ValueError("gross_dies_per_wafer: die_area_mm2 must be > 0")
    d = float(diameter_mm) - 2.0 * float(edge_exclusion_mm)
    if not d > 0:
        raise ValueError("gross_dies_per_wafer: the edge exclusion leaves no wafer")
    s = (np.sqrt(a) + float(scribe_mm)) ** 2
    n = np.pi * d * d / (4.0 * s) - np.pi * d / np.sqrt(2.0 * s)
    return np.maximum(np.floor(n), 0.0)


def _laplace(b_mm2: Array, d0_per_mm2: Array, alpha: float, model: str) -> np.ndarray:
    """E[exp(-lambda B)] under the mixing distribution of ``model`` (the whole-die yield)."""
    x = np.asarray(b_mm2, float) * np.asarray(d0_per_mm2, float)
    if model == "poisson":
        return np.exp(-x)
    if model == "negative_binomial":
        return (1.0 + x / alpha) ** (-alpha)
    with np.errstate(invalid="ignore", divide="ignore"):
        m = ((1.0 - np.exp(-x)) / x) ** 2
    return np.where(x > 0, m, 1.0)


@lru_cache(maxsize=16)
def _mixing_nodes(model: str, alpha: float) -> tuple[np.ndarray, np.ndarray]:
    """(lambda / D0, weight) quadrature of the mixing distribution (weights sum to 1)."""
    from scipy.special import gamma, roots_genlaguerre, roots_legendre

    if model == "poisson":
        return np.array([1.0]), np.array([1.0])
    if model == "negative_binomial":
        x, w = roots_genlaguerre(_QUAD_POINTS, alpha - 1.0)
        return x / alpha, w / gamma(alpha)
    # Murphy: triangular density on [0, 2] (in units of D0), split at its peak.
    t, w = roots_legendre(_QUAD_POINTS)
    up = (t + 1.0) / 2.0            # [0, 1], density t
    down = 1.0 + (t + 1.0) / 2.0    # [1, 2], density 2 - t
    nodes = np.concatenate([up, down])
    weights = np.concatenate([w / 2.0 * up, w / 2.0 * (2.0 - down)])
    return nodes, weights


def die_yield(die_area_mm2: Array, defect_density_per_cm2: Array, alpha: float = 1.5,
              model: str = "negative_binomial", groups: Array = 0, spare_groups: Array = 0,
              group_fraction: Array = 0.0) -> np.ndarray:
    """Share of dies that can be sold: the whole die good, or with harvesting (``groups``
    groups of compute units taking ``group_fraction`` of the die area, at most
    ``spare_groups`` of them defective). See the module docstring."""
    if model not in YIELD_MODELS:
        raise ValueError(f"die_yield: unknown model {excerpt(model)} (known: "
                         f"{', '.join(YIELD_MODELS)})")
    if not (np.isfinite(alpha) and alpha > 0):
        raise ValueError("die_yield: alpha must be > 0")
    a = np.asarray(die_area_mm2, float)
    d0 = np.asarray(defect_density_per_cm2, float) / 100.0  # per mm^2
    n = np.asarray(groups, float)
    k = np.asarray(spare_groups, float)
    f = np.asarray(group_fraction, float)
    if np.any(a < 0) or np.any(d0 < 0):
        raise ValueError("die_yield: die_area_mm2 and defect_density_per_cm2 must be >= 0")
    if np.any(k < 0) or np.any(k > n) or np.any((f < 0) | (f > 1)):
        raise ValueError("die_yield: need 0 <= spare_groups <= groups and 0 <= "
                         "group_fraction <= 1")
    base = _laplace(a, d0, float(alpha), model)
    shape = np.broadcast_shapes(base.shape, n.shape, k.shape, f.shape)
    base = np.broadcast_to(base, shape).astype(float)
    kk = np.broadcast_to(k, shape)
    if not np.any(kk >= 1):
        return base
    sel = np.flatnonzero(np.ravel(kk) >= 1)
    flat = lambda x: np.broadcast_to(np.asarray(x, float), shape).ravel()[sel]  # noqa: E731
    a_s, d_s, n_s, k_s, f_s = flat(a), flat(d0), flat(n), flat(k), flat(f)
    unit = a_s * f_s / n_s
    crit = a_s - n_s * unit
    t, w = _mixing_nodes(model, float(alpha))
    lam = d_s[:, None] * t[None, :]                         # designs x quadrature nodes
    with np.errstate(divide="ignore", invalid="ignore", under="ignore"):
        log_q = -lam * unit[:, None]                        # ln P(group good | lambda)
        log_p = np.log(-np.expm1(log_q))                    # ln P(group bad | lambda)
        from scipy.special import gammaln

        extra = np.zeros_like(lam)
        for j in range(1, int(np.max(k_s)) + 1):
            nj = n_s[:, None]
            term = np.exp(gammaln(nj + 1) - gammaln(j + 1.0) - gammaln(nj - j + 1)
                          + j * log_p + (nj - j) * log_q - lam * crit[:, None])
            extra = extra + np.where(k_s[:, None] >= j, np.nan_to_num(term), 0.0)
    out = base.ravel().copy()
    out[sel] = out[sel] + extra @ w
    return np.minimum(out, 1.0).reshape(shape)


def _corner(span: Span, corner: str, rises: bool = True) -> float:
    """``span`` at ``corner``: nominal, or the end giving the lower / higher cost (``rises``:
    the cost rises with the value)."""
    if corner == "nominal":
        return span.nominal
    low_end = (corner == "low") == rises
    return span.low if low_end else span.high


def _node_inputs(data: CostData, node: np.ndarray, corner: str) -> dict[str, np.ndarray]:
    uniq, inv = np.unique(node, return_inverse=True)
    inv = inv.reshape(node.shape)
    rows = [data.node(float(n)) for n in uniq]
    pick = lambda attr: np.array([_corner(getattr(c, attr), corner) for c in rows])[inv]  # noqa: E731
    return {"wafer_usd": pick("wafer_usd"), "d0": pick("defect_density_per_cm2"),
            "nre_usd": pick("design_usd") + pick("mask_set_usd")}


def _one_corner(data: CostData, corner: str, area: np.ndarray, node: np.ndarray,
                bus: np.ndarray, cap_gb: np.ndarray, dram: DramCost, groups: Any,
                spare: Any, frac: Any, interposer: Any, model: str) -> dict[str, np.ndarray]:
    c = lambda s, rises=True: _corner(s, corner, rises)  # noqa: E731
    ni = _node_inputs(data, node, corner)
    dpw = gross_dies_per_wafer(area, data.wafer_diameter_mm, c(data.edge_exclusion_mm),
                               c(data.scribe_mm))
    y = die_yield(area, ni["d0"], c(data.clustering_alpha), model, groups, spare, frac)
    with np.errstate(divide="ignore"):
        die = np.where((area <= data.reticle_mm2) & (dpw > 0) & (y > 0),
                       ni["wafer_usd"] / (dpw * y), np.inf)
    pins = c(data.fixed_pins) + c(data.pins_per_dram_bit) * bus
    package = (c(data.package_base_usd) + c(data.usd_per_pin) * pins
               + np.where(np.asarray(interposer, bool), c(data.interposer_usd), 0.0))
    test = c(data.test_usd) + 0.0 * area
    dram_usd = cap_gb * c(dram.usd_per_gb)
    if dram.package_bits is not None and dram.usd_per_package is not None:
        dram_usd = dram_usd + np.ceil(bus / c(dram.package_bits, rises=False)) * c(
            dram.usd_per_package)
    unit = (die + package + test) / c(data.final_test_yield, rises=False) + dram_usd
    return {"dies_per_wafer": dpw, "yield": y, "die_usd": die, "package_usd": package,
            "test_usd": test, "dram_usd": dram_usd, "unit_usd": unit, "nre_usd": ni["nre_usd"]}


def cost_breakdown(die_area_mm2: Array, node_nm: Array, dram_bus_bits: Array,
                   dram_capacity_bytes: Array, dram_kind: str = "lpddr5x", groups: Array = 0,
                   spare_groups: Array = 0, group_fraction: Array = 0.0,
                   interposer: Array = False, volume_units: float | None = None,
                   yield_model: str | None = None,
                   data: CostData | None = None) -> dict[str, np.ndarray]:
    """Cost of a population of chips (all inputs broadcast).

    ``dram_bus_bits`` counts the DRAM data bits the package brings out (0 for HBM, whose
    pins stay on the interposer). Returns, per chip: ``dies_per_wafer``, ``yield``,
    ``die_usd`` (per good die), ``package_usd``, ``test_usd``, ``dram_usd``, ``unit_usd``
    (recurring cost of one unit), ``nre_usd`` (design + mask set), ``cost_usd`` (unit + NRE /
    volume), each of ``unit_usd``, ``nre_usd``, ``cost_usd`` also at the ``_low`` and
    ``_high`` corners, and ``volume_units``.
    """
    data = data or cost_data()
    model = yield_model or data.yield_model
    if model not in YIELD_MODELS:
        raise ValueError(f"yield model {excerpt(model)} is not one of {', '.join(YIELD_MODELS)}")
    if dram_kind not in data.dram:
        raise ValueError(f"{data.file}: no price for DRAM type {excerpt(dram_kind)} (known: "
                         f"{', '.join(sorted(data.dram))})")
    vol = data.default_volume_units if volume_units is None else float(volume_units)
    if not (np.isfinite(vol) and vol > 0):
        raise ValueError(f"volume_units must be a finite number > 0, got {excerpt(volume_units)}")
    area, node, bus, cap = np.broadcast_arrays(
        np.asarray(die_area_mm2, float), np.asarray(node_nm, float),
        np.asarray(dram_bus_bits, float), np.asarray(dram_capacity_bytes, float))
    if np.any(bus < 0) or np.any(cap < 0):
        raise ValueError("dram_bus_bits and dram_capacity_bytes must be >= 0")
    cap_gb = cap / 1e9
    out: dict[str, np.ndarray] = {}
    for corner in CORNERS:
        part = _one_corner(data, corner, area, node, bus, cap_gb, data.dram[dram_kind], groups,
                           spare_groups, group_fraction, interposer, model)
        part["cost_usd"] = part["unit_usd"] + part["nre_usd"] / vol
        if corner == "nominal":
            out.update(part)
        else:
            out.update({f"{k}_{corner}": part[k] for k in ("unit_usd", "nre_usd", "cost_usd")})
    out["volume_units"] = np.full(area.shape, vol)
    return out


def amortised(breakdown: Mapping[str, Array], volume_units: float) -> dict[str, np.ndarray]:
    """``cost_usd`` and its band of a :func:`cost_breakdown` at another volume."""
    vol = float(volume_units)
    if not (np.isfinite(vol) and vol > 0):
        raise ValueError(f"volume_units must be a finite number > 0, got {excerpt(volume_units)}")
    out = {}
    for suffix in ("", "_low", "_high"):
        out[f"cost_usd{suffix}"] = (np.asarray(breakdown[f"unit_usd{suffix}"], float)
                                    + np.asarray(breakdown[f"nre_usd{suffix}"], float) / vol)
    return out


# ---- the cost of a Chip ---------------------------------------------------------------------

def dram_kind_of(chip: Any) -> str:
    """DRAM type of a :class:`~microarch.chip.Chip` (a key of the cost data's ``dram``): its
    description naming LPDDR5X, LPDDR5, HBM or GDDR, else :func:`microarch.area.dram_data_rate`
    (HBM and GDDR recognised by their access energy)."""
    from microarch.area import dram_data_rate

    text = chip.description.upper()
    for word, kind in (("LPDDR5X", "lpddr5x"), ("LPDDR5", "lpddr5"), ("HBM", "hbm"),
                       ("GDDR", "gddr")):
        if word in text:
            return kind
    try:
        return dram_data_rate(chip)[0]
    except ValueError as exc:
        return "hbm" if "HBM" in str(exc) else "gddr"


@dataclass(frozen=True)
class ChipCost:
    """The cost of one chip (:func:`chip_cost`).

    Attributes:
        chip: chip name.
        die_area_mm2 / area_source: die area and where it comes from (``preset``: the chip's
            ``technology.die_area``, published or assumed; ``modelled``:
            :func:`microarch.area.chip_area_mm2`).
        node_nm / dram_kind / dram_bus_bits / dram_capacity_bytes: what is priced.
        groups / spare_groups: harvesting (0 spare: every unit must work).
        breakdown: :func:`cost_breakdown` for this chip, as floats.
    """

    chip: str
    die_area_mm2: float
    area_source: str
    node_nm: float
    dram_kind: str
    dram_bus_bits: float
    dram_capacity_bytes: float
    groups: int
    spare_groups: int
    breakdown: Mapping[str, float]

    @property
    def cost_usd(self) -> float:
        return self.breakdown["cost_usd"]

    @property
    def cost_usd_low(self) -> float:
        return self.breakdown["cost_usd_low"]

    @property
    def cost_usd_high(self) -> float:
        return self.breakdown["cost_usd_high"]


def _harvest(chip: Any, data: CostData) -> tuple[int, int, float]:
    """(groups, spare groups, share of die area in them) of a chip on a known die."""
    from microarch.area import AUTOMOTIVE_UNCORE_MM2, area_breakdown, die_of, sram_mm2_per_mib

    known = die_of(chip)
    if known is None:
        return 0, 0, 0.0
    die, enabled = known
    size = data.harvest_units_per_group.get(die.key, 1)
    groups = die.physical_units // size
    spare = max(groups - math.ceil(enabled / size), 0)
    b = area_breakdown(die.spec(AUTOMOTIVE_UNCORE_MM2))
    unit_sram = (die.physical_units * (die.register_file_bytes_per_unit
                                       + die.local_sram_bytes_per_unit) / 2**20
                 * float(sram_mm2_per_mib(die.node_nm)))
    units = float(b["matrix_mm2"] + b["vector_mm2"] + b["engines_mm2"]) + unit_sram
    frac = units * (groups * size / die.physical_units) / float(b["total_mm2"])
    return groups, spare, frac


def chip_cost(chip: Any, volume_units: float | None = None, yield_model: str | None = None,
              data: CostData | None = None) -> ChipCost:
    """The cost of a :class:`~microarch.chip.Chip`: its stated die area (else the area
    model's), its node, DRAM and harvesting (a chip on a die of dies.yaml enabling fewer
    units than the die has). ValueError when the chip cannot be priced (no die area and a
    DRAM the area model does not know, or a node without cost data)."""
    from microarch.area import chip_area_spec, total_area_mm2

    # The silicon, not its operating point: a power mode's lower clocks and bandwidth caps
    # do not change the die, the package or the DRAM.
    if chip.power_mode is not None and chip.reference_mode not in (None, chip.power_mode):
        chip = chip.in_power_mode(chip.reference_mode)
    data = data or cost_data()
    kind = dram_kind_of(chip)
    lpddr = kind.startswith("lpddr")
    spec = chip_area_spec(chip) if lpddr else None
    area = chip.technology.die_area_mm2
    source = "preset"
    if area is None:
        if spec is None:
            raise ValueError(f"{chip.name}: no die area (technology.die_area) and a "
                             f"{kind.upper()} DRAM the area model cannot size")
        area, source = float(total_area_mm2(spec)), "modelled"
    bus = float(spec.dram_bus_bits) if spec is not None else 0.0
    groups, spare, frac = _harvest(chip, data)
    node = float(chip.technology.node_nm)
    b = cost_breakdown(area, node, bus, chip.dram.capacity_bytes, kind, groups, spare, frac,
                       interposer=kind == "hbm", volume_units=volume_units,
                       yield_model=yield_model, data=data)
    return ChipCost(chip=chip.name, die_area_mm2=float(area), area_source=source, node_nm=node,
                    dram_kind=kind, dram_bus_bits=bus,
                    dram_capacity_bytes=float(chip.dram.capacity_bytes), groups=groups,
                    spare_groups=spare, breakdown={k: float(v) for k, v in b.items()})
