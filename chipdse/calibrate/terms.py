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
from microarch.formats import get_format

__all__ = ["Term", "TERMS", "FRACTION_BOUNDS", "OVERHEAD_BOUNDS_S", "OVERHEAD_UNIT_S",
           "lookup", "term_value", "apply_terms", "format_value", "yaml_keys", "PRIOR",
           "is_overhead", "prior", "bounds", "coordinate", "format_short"]

FRACTION_BOUNDS = (0.05, 1.0)
OVERHEAD_BOUNDS_S = (0.0, 50e-6)
OVERHEAD_UNIT_S = 5e-6   # prior scale (and screening step) of the overhead terms


@dataclass(frozen=True)
class Term:
    """One row of the registry.

    Attributes:
        name: the term's name (``efficiency.dram``; ``efficiency.matrix.{fmt}`` for the
            per-format row).
        kind: ``fraction`` (an efficiency in (0, 1]) or ``overhead`` (seconds).
        prior: generic prior value: the centre of a fit's weak pull and its start. Assumptions,
            not measurements: typical achieved fractions of GPU-class hardware and a CUDA-graph
            kernel launch.
        section / field: where it lives on a :class:`Chip` (``chip.<section>.<field>``).
        key: its key under ``section`` in a chip or family file.
    """

    name: str
    kind: str
    prior: float
    section: str
    field: str
    key: str

    @property
    def bounds(self) -> tuple[float, float]:
        return OVERHEAD_BOUNDS_S if self.kind == "overhead" else FRACTION_BOUNDS


TERMS: tuple[Term, ...] = (
    Term("efficiency.matrix.{fmt}", "fraction", 0.5, "efficiency", "matrix", "matrix"),
    Term("efficiency.weight_only_gemm", "fraction", 0.8, "efficiency", "weight_only_gemm",
         "weight_only_gemm"),
    Term("efficiency.vector", "fraction", 0.5, "efficiency", "vector", "vector"),
    Term("efficiency.dram", "fraction", 0.8, "efficiency", "dram", "dram"),
    Term("efficiency.sram", "fraction", 0.8, "efficiency", "sram", "sram"),
    Term("dispatch.per_operator", "overhead", 4e-6, "dispatch", "per_operator_s",
         "per_operator"),
    Term("sparse.per_expert_overhead", "overhead", 4e-6, "sparse", "per_expert_overhead_s",
         "per_expert_overhead"),
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
    raise UserError(f"unknown calibration term {name!r} (known: {known})")


def is_overhead(name: str) -> bool:
    return lookup(name)[0].kind == "overhead"


def prior(name: str) -> float:
    return lookup(name)[0].prior


def bounds(name: str) -> tuple[float, float]:
    return lookup(name)[0].bounds


def coordinate(name: str, x: float) -> float:
    """The fit's coordinate of a value: ln(x) for fractions, x / 5 us for overheads."""
    return x / OVERHEAD_UNIT_S if is_overhead(name) else math.log(x)


def term_value(chip: Chip, name: str) -> float:
    """Current value of term ``name`` on ``chip`` (SI: overheads in seconds)."""
    t, fmt = lookup(name)
    section = getattr(chip, t.section)
    if fmt is not None:
        return section.matrix_for(fmt)
    return float(getattr(section, t.field))


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
    return f"{v * 1e6:.4g} us" if is_overhead(name) else round(float(v), 4)


def format_short(name: str, v: float) -> str:
    """A term value for tables and notes."""
    return f"{v * 1e6:.3g}us" if is_overhead(name) else f"{v:.3g}"
