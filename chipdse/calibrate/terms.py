"""The calibration terms: one registry table of every term a fit may move.

A term is an achieved-efficiency or overhead figure of a chip *family and software stack*
(:class:`microarch.chip.Efficiency`, :class:`~microarch.chip.Dispatch`,
:class:`~microarch.chip.SparseEngine`). Each row of :data:`TERMS` says where the term lives on a
:class:`~microarch.chip.Chip` (section and field, in SI) and in a chip or family file (section
and key), whether it is a fraction or an overhead in seconds, and the generic prior a fit
starts from. Reading a term, setting it on a chip and writing it to YAML all go through this
table; nothing else switches on term names.

Matrix efficiency is one row with a format slot: ``efficiency.matrix.<format>``.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from chipdse.errors import UserError
from microarch.chip import Chip, Efficiency
from microarch.excerpt import excerpt
from microarch.formats import get_format
from microarch.vary import FIT_SOURCE

__all__ = ["Term", "TERMS", "FRACTION_BOUNDS", "OVERHEAD_BOUNDS_S", "OVERHEAD_UNIT_S",
           "lookup", "term_value", "apply_terms", "format_value", "yaml_keys", "PRIOR",
           "is_overhead", "kind", "unit", "prior", "bounds", "coordinate", "format_short",
           "FIT_SOURCE", "term_source", "measured_terms", "plausible"]

FRACTION_BOUNDS = (0.05, 1.0)
OVERHEAD_BOUNDS_S = (0.0, 50e-6)
OVERHEAD_UNIT_S = 5e-6   # prior scale (and screening step) of the overhead terms
ELEMENT_BOUNDS = (0.0, 2048.0)
ELEMENT_UNIT = 64.0      # prior scale (and screening step) of the element-count terms
OPS_BOUNDS = (0.0, 64.0)
OPS_UNIT = 4.0           # prior scale (and screening step) of the ops-per-element terms


@dataclass(frozen=True)
class Term:
    """One row of the registry.

    Attributes:
        name: the term's name (``efficiency.dram``; ``efficiency.matrix.{fmt}`` for the
            per-format row).
        kind: ``fraction`` (an efficiency in (0, 1]), ``overhead`` (seconds),
            ``elements`` (a count of GEMM reduction elements) or ``ops`` (vector ops per
            element).
        prior: generic prior value: the centre of a fit's weak pull and its start. Assumptions,
            not measurements: typical achieved fractions of GPU-class hardware and a CUDA-graph
            kernel launch.
        section / field: where it lives on a :class:`Chip` (``chip.<section>.<field>``).
        key: its key under ``section`` in a chip or family file.
        plausible: the span the term takes on GPU- and NPU-class hardware (SI; an assumption):
            a fitted term's interval is clipped to it, so a term the rows barely constrain
            gets this span, not an unbounded one.
    """

    name: str
    kind: str
    prior: float
    section: str
    field: str
    key: str
    plausible: tuple[float, float] = (0.05, 1.0)

    @property
    def bounds(self) -> tuple[float, float]:
        return {"overhead": OVERHEAD_BOUNDS_S, "elements": ELEMENT_BOUNDS,
                "ops": OPS_BOUNDS}.get(self.kind, FRACTION_BOUNDS)


TERMS: tuple[Term, ...] = (
    # Spans: achieved fractions of large GEMMs on GPUs and NPUs (cuBLAS / CUTLASS reach
    # 0.6-0.9 of peak), of streaming DRAM kernels (0.6-0.95), of element-wise and fused
    # kernels; K overhead up to four 64-deep K tiles; dequantisation 0-16 ops per element;
    # launch overheads of CUDA graphs (1-15 us) and per-expert work (0-10 us).
    Term("efficiency.matrix.{fmt}", "fraction", 0.5, "efficiency", "matrix", "matrix",
         (0.3, 0.95)),
    Term("efficiency.weight_only_gemm", "fraction", 0.8, "efficiency", "weight_only_gemm",
         "weight_only_gemm", (0.3, 1.0)),
    Term("efficiency.vector", "fraction", 0.5, "efficiency", "vector", "vector", (0.1, 0.9)),
    Term("efficiency.attention", "fraction", 0.5, "efficiency", "attention", "attention",
         (0.3, 0.9)),
    Term("efficiency.dram", "fraction", 0.8, "efficiency", "dram", "dram", (0.6, 0.95)),
    Term("efficiency.sram", "fraction", 0.8, "efficiency", "sram", "sram", (0.5, 0.95)),
    Term("efficiency.gemm_k_overhead", "elements", 64.0, "efficiency", "gemm_k_overhead",
         "gemm_k_overhead", (0.0, 256.0)),
    Term("efficiency.dequant_ops_per_element", "ops", 8.0, "efficiency",
         "dequant_ops_per_element", "dequant_ops_per_element", (0.0, 16.0)),
    Term("dispatch.per_operator", "overhead", 4e-6, "dispatch", "per_operator_s",
         "per_operator", (1e-6, 15e-6)),
    Term("sparse.per_expert_overhead", "overhead", 4e-6, "sparse", "per_expert_overhead_s",
         "per_expert_overhead", (0.0, 10e-6)),
)
"""Every calibration term (see :class:`Term`)."""

_BY_NAME = {t.name: t for t in TERMS}
_MATRIX = "efficiency.matrix."

PRIOR: Mapping[str, float] = {t.name: t.prior for t in TERMS}
"""Term name -> generic prior value."""


def lookup(name: str) -> tuple[Term, str | None]:
    """The registry row of ``name`` and its format slot (None for a plain term); an unknown
    name or format is one clear error."""
    if name.startswith(_MATRIX):
        fmt = name[len(_MATRIX):]
        try:
            fmt = get_format(fmt).name
        except KeyError as exc:
            raise UserError(f"calibration term {name!r}: {str(exc).strip(chr(34))}") from None
        return _BY_NAME[_MATRIX + "{fmt}"], fmt
    if name in _BY_NAME and "{" not in name:
        return _BY_NAME[name], None
    known = ", ".join(t.name.replace("{fmt}", "<format>") for t in TERMS)
    raise UserError(f"unknown calibration term {excerpt(name)} (known: {known})")


def is_overhead(name: str) -> bool:
    return lookup(name)[0].kind == "overhead"


def kind(name: str) -> str:
    return lookup(name)[0].kind


def unit(name: str) -> float:
    """The scale of a term's fit coordinate and screening step (1 for fractions)."""
    return {"overhead": OVERHEAD_UNIT_S, "elements": ELEMENT_UNIT, "ops": OPS_UNIT}.get(
        kind(name), 1.0)


def prior(name: str) -> float:
    return lookup(name)[0].prior


def bounds(name: str) -> tuple[float, float]:
    return lookup(name)[0].bounds


def coordinate(name: str, x: float) -> float:
    """The fit's coordinate of a value: ln(x) for fractions, x / unit for the others (5 us
    for overheads, 64 elements for element counts)."""
    return math.log(x) if kind(name) == "fraction" else x / unit(name)


def term_value(chip: Chip, name: str) -> float:
    """Current value of term ``name`` on ``chip`` (SI: overheads in seconds)."""
    t, fmt = lookup(name)
    section = getattr(chip, t.section)
    if fmt is not None:
        return section.matrix_for(fmt)
    if name == "efficiency.attention" and not section.attention:
        return section.matrix_for("fp16")  # 0 means: the 16-bit GEMM efficiency
    return float(getattr(section, t.field))




def plausible(name: str) -> tuple[float, float]:
    """The plausible span of term ``name`` (SI; see :class:`Term`)."""
    return lookup(name)[0].plausible


def term_source(chip: Chip, name: str) -> str | None:
    """The source line (``source: ...`` or ``assumption: ...``) of the value ``chip`` holds
    for term ``name``: the chip file's own entry, else its family's; None if neither has one."""
    t, fmt = lookup(name)
    key = f"{t.section}.{t.key}"
    if fmt is not None:
        key += "." + getattr(chip, t.section).matrix_key(fmt)
    if key in chip.sources:
        return chip.sources[key]
    for k, v in chip.sources.items():
        if k.startswith("family:") and k.split(".", 1)[-1] == key:
            return v
    return None


def measured_terms(chip: Chip, names: list[str] | tuple[str, ...]) -> dict[str, float]:
    """The terms among ``names`` whose value on ``chip`` is a published measurement of the
    chip itself (a GEMM microbenchmark, say): a ``source:`` line that is not a fit. A
    calibration holds these at their measured value instead of fitting them."""
    out = {}
    for n in names:
        src = term_source(chip, n) or ""
        if src.startswith("source:") and not src[len("source:"):].strip().startswith(FIT_SOURCE):
            out[n] = term_value(chip, n)
    return out


def apply_terms(chip: Chip, values: Mapping[str, float]) -> Chip:
    """``chip`` with the given terms replaced (the way a calibration is carried to a sibling,
    and the way a sample of the terms is built)."""
    changes: dict[str, dict[str, Any]] = {}
    matrix = dict(chip.efficiency.matrix)
    for name, v in values.items():
        t, fmt = lookup(name)
        if fmt is not None:
            matrix[fmt] = float(v)
        else:
            changes.setdefault(t.section, {})[t.field] = float(v)
    eff = chip.efficiency
    eff_kw = {f.name: getattr(eff, f.name) for f in dataclasses.fields(Efficiency)}
    eff_kw.update(changes.pop("efficiency", {}), matrix=matrix)
    out = {"efficiency": Efficiency(**eff_kw)}
    for section, kw in changes.items():
        out[section] = dataclasses.replace(getattr(chip, section), **kw)
    return dataclasses.replace(chip, **out)


def yaml_keys(name: str) -> list[str]:
    """Where term ``name`` is written in a chip or family file."""
    t, fmt = lookup(name)
    return [t.section, t.key] + ([fmt] if fmt is not None else [])


def format_value(name: str, v: float) -> Any:
    """A term value as written to YAML: a quantity string for overheads, else a number."""
    if is_overhead(name):
        return f"{v * 1e6:.4g} us"
    return round(float(v), 1) if kind(name) == "elements" else round(float(v), 4)


def format_short(name: str, v: float) -> str:
    """A term value for tables and notes."""
    if is_overhead(name):
        return f"{v * 1e6:.3g}us"
    return f"{v:.0f}el" if kind(name) == "elements" else f"{v:.3g}"
