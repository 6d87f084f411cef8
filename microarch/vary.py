"""The numbers a chip is not sure of, and the chip they give at other values in their range.

A chip file (or its family's entry in ``families.yaml``) states a range for every assumed
number (``range: [lo, hi]``) and for every fitted term (its 5-95 % interval); a number derived
from an assumed one names it (``scales_with``). :func:`varied_numbers` lists them for a chip,
each under its file path (``memory[1].bandwidth``; ``family:thor.efficiency.dram`` for a family
term, so that every chip of a family shares it), and :func:`vary` returns the chip with some of
them moved: each field is multiplied by value / nominal, so a chip that was already changed (a
variant, another power mode) keeps its changes, and the numbers linked to it move with it.

Organisation integers (core counts, GEMM tile sizes) carry ranges for the record but are not
varied: they are design choices of the chip and of its kernel library, not guesses of a rate.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from dataclasses import dataclass

from microarch.chip import Chip
from microarch.excerpt import excerpt
from microarch.loader import (
    _DISPATCH_KEYS,
    _EFFICIENCY_KEYS,
    _MEMORY_KEYS,
    _PHASE_KEYS,
    _QUANT_KEYS,
    _SPARSE_KEYS,
    _TECH_KEYS,
    _VECTOR_KEYS,
)

__all__ = ["Varied", "varied_numbers", "vary", "vary_family", "settable", "NOT_VARIED",
           "FIT_SOURCE", "is_fraction"]

FIT_SOURCE = "fitted by chipdse calibrate"
"""How the source line of a fitted term begins."""

NOT_VARIED = ("matrix.cores", "matrix.tiling.", "technology.node_nm", "technology.die_area")
"""Path prefixes that may carry a range but are not varied (see the module docstring; the
die area is the area model's input, not a cost-model number)."""

# Fractions stay fractions when a factor moves them (and keep a floor: no unit stops).
_FRACTION_FLOOR = 0.02
_FRACTIONS = ("efficiency.matrix.", "efficiency.weight_only_gemm", "efficiency.vector",
              "efficiency.dram", "efficiency.sram", "efficiency.attention", "pinnable_fraction",
              "prefill_compute_share", "prefill_bandwidth_share", "prefill_sram_share")


@dataclass(frozen=True)
class Varied:
    """One number of a chip with a stated range.

    Attributes:
        path: its file path (``family:<family>.`` prefix for a family term).
        nominal / low / high: the value and its range (SI).
        fitted: True for a fitted term (the range is a 5-95 % interval of the fit), False for
            an assumption (the range bounds the guess).
        source: its source or assumption line.
    """

    path: str
    nominal: float
    low: float
    high: float
    fitted: bool
    source: str

    @property
    def family_term(self) -> bool:
        return self.path.startswith("family:")


def varied_numbers(chip: Chip) -> list[Varied]:
    """Every number of ``chip`` that has a range and is varied, family terms that the chip
    file overrides left out."""
    out = []
    for path, span in chip.ranges.items():
        local = path.split(".", 1)[1] if path.startswith("family:") else path
        if local.startswith(NOT_VARIED) or not settable(local):
            continue
        if path.startswith("family:") and local in chip.sources:
            continue  # the chip file states its own value
        if local.startswith("power_modes.") and not _current_mode_path(chip, local):
            continue  # a mode the chip is not in
        src = chip.sources.get(path, "")
        fitted = src.startswith("source:") and FIT_SOURCE in src
        out.append(Varied(path, span.nominal, span.low, span.high, fitted, src))
    return sorted(out, key=lambda v: v.path)


def vary(chip: Chip, values: Mapping[str, float]) -> Chip:
    """``chip`` with the numbers at these paths (see :func:`varied_numbers`) set to these
    values; numbers linked to them (``scales_with``) move in proportion."""
    nominal = {p: s.nominal for p, s in chip.ranges.items()}
    factors: dict[str, float] = {}
    for path, v in values.items():
        if path not in nominal:
            raise KeyError(f"{chip.name}: {excerpt(path)} is not a ranged number of the chip")
        factors[path] = float(v) / nominal[path] if nominal[path] else 1.0
    for derived, target in chip.links.items():
        if target in factors:
            factors[derived] = factors[derived] * factors[target] if derived in factors \
                else factors[target]
    for path, f in factors.items():
        if f != 1.0:
            local = path.split(".", 1)[1] if path.startswith("family:") else path
            chip = _scale(chip, local, f)
    return chip


def vary_family(parts: Mapping[str, object], values: Mapping[str, float]) -> dict:
    """A family entry of :func:`microarch.loader.load_families` with some terms set (file
    paths under the family: ``efficiency.dram``, ``efficiency.matrix.default``,
    ``dispatch.per_operator``, ``sparse.per_expert_overhead``; SI values)."""
    out = dict(parts)
    eff, disp = out["efficiency"], out["dispatch"]
    rep = dataclasses.replace
    for path, v in values.items():
        head, _, rest = path.partition(".")
        if head == "efficiency" and rest.startswith("matrix."):
            table = dict(eff.matrix)
            table[rest.split(".", 1)[1]] = min(max(float(v), _FRACTION_FLOOR), 1.0)
            eff = rep(eff, matrix=table)
        elif head == "efficiency":
            eff = rep(eff, **{_SECTION_KEYS["efficiency"][rest]: _fraction(path, float(v))})
        elif head == "dispatch":
            disp = rep(disp, **{_SECTION_KEYS["dispatch"][rest]: float(v)})
        elif head == "sparse" and rest == "per_expert_overhead":
            out["per_expert_overhead_s"] = float(v)
        else:
            raise KeyError(f"{excerpt(path)} is not a family term")
    out["efficiency"], out["dispatch"] = eff, disp
    return out


# ---- field paths -------------------------------------------------------------------------------

def _inverse(keys: Mapping[str, str]) -> dict[str, str]:
    return {v: k for k, v in keys.items()}


_SECTION_KEYS = {
    "vector": _inverse(_VECTOR_KEYS), "technology": _inverse(_TECH_KEYS),
    "quant": _inverse(_QUANT_KEYS), "phase": _inverse(_PHASE_KEYS),
    "dispatch": _inverse(_DISPATCH_KEYS), "sparse": _inverse(_SPARSE_KEYS),
    "efficiency": _inverse(_EFFICIENCY_KEYS),
}
_MEM = re.compile(r"memory\[(\d+)\]\.(\w+)$")
_MODE = re.compile(r"power_modes\.modes\[(\d+)\]\.(\w+)$")


def settable(local: str) -> bool:
    """True when :func:`vary` can set the number at file path ``local`` (family prefix
    removed)."""
    head, _, rest = local.partition(".")
    if head == "matrix":
        return rest.startswith("peak_dense.") or rest == "sparse_2_4_speedup"
    if head == "energy":
        return rest.startswith("matrix_per_op.") or rest == "vector_per_op"
    if head == "efficiency":
        return rest.startswith("matrix.") or rest in _SECTION_KEYS["efficiency"]
    if head in _SECTION_KEYS:
        return rest in _SECTION_KEYS[head]
    m = _MEM.match(local)
    if m:
        return m.group(2) in ("capacity", "bandwidth", "energy_per_byte", "pinnable_fraction")
    m = _MODE.match(local)
    return bool(m) and m.group(2) in ("clock", "dram_bandwidth")


def _current_mode_path(chip: Chip, local: str) -> bool:
    m = _MODE.match(local)
    if not m or chip.power_mode is None:
        return False
    i = int(m.group(1))
    return i < len(chip.power_modes) and chip.power_modes[i].name == chip.power_mode


def is_fraction(path: str) -> bool:
    """True for a number that is a fraction (an efficiency, a share): it lives in (0, 1]."""
    local = path.split(".", 1)[1] if path.startswith("family:") else path
    return local.startswith(_FRACTIONS) or local.endswith(_FRACTIONS)


def _fraction(local: str, v: float) -> float:
    if is_fraction(local):
        return min(max(v, _FRACTION_FLOOR), 1.0)
    return v


def _scaled(table: Mapping[str, float], rest: str, f: float, fraction: bool = False) -> dict:
    """A copy of a per-format table with the entry named after the first dot of ``rest``
    multiplied by ``f`` (kept a fraction with ``fraction``)."""
    out = dict(table)
    key = rest.split(".", 1)[1]
    v = out[key] * f
    out[key] = min(max(v, _FRACTION_FLOOR), 1.0) if fraction else v
    return out


def _scale(chip: Chip, local: str, f: float) -> Chip:
    head, _, rest = local.partition(".")
    rep = dataclasses.replace
    if head == "matrix":
        mx = chip.matrix
        if rest == "sparse_2_4_speedup":
            return rep(chip, matrix=rep(mx, sparse_2_4_speedup=mx.sparse_2_4_speedup * f))
        return rep(chip, matrix=rep(mx, peak_dense_ops_per_s=_scaled(
            mx.peak_dense_ops_per_s, rest, f)))
    if head == "energy":
        en = chip.energy
        if rest == "vector_per_op":
            return rep(chip, energy=rep(en, vector_j_per_op=en.vector_j_per_op * f))
        return rep(chip, energy=rep(en, matrix_j_per_op=_scaled(en.matrix_j_per_op, rest, f)))
    if head == "efficiency" and rest.startswith("matrix."):
        eff = chip.efficiency
        return rep(chip, efficiency=rep(eff, matrix=_scaled(eff.matrix, rest, f, True)))
    if head in _SECTION_KEYS:
        name = _SECTION_KEYS[head][rest]
        section = getattr(chip, head)
        return rep(chip, **{head: rep(section, **{name: _fraction(local, getattr(section, name)
                                                                        * f)})})
    m = _MEM.match(local)
    if m:
        i, key = int(m.group(1)), _inverse(_MEMORY_KEYS)[m.group(2)]
        levels = list(chip.memory)
        levels[i] = rep(levels[i], **{key: _fraction(local, getattr(levels[i], key) * f)})
        return rep(chip, memory=tuple(levels))
    m = _MODE.match(local)
    if m and m.group(2) == "dram_bandwidth":
        levels = [rep(lv, bandwidth_bytes_per_s=lv.bandwidth_bytes_per_s * f)
                  if lv.kind.value == "dram" else lv for lv in chip.memory]
        return rep(chip, memory=tuple(levels))
    if m and m.group(2) == "clock":
        mx = chip.matrix
        return rep(chip, matrix=rep(mx, peak_dense_ops_per_s={
            k: v * f for k, v in mx.peak_dense_ops_per_s.items()}),
            vector=rep(chip.vector, peak_ops_per_s=chip.vector.peak_ops_per_s * f,
                       special_function_ops_per_s=chip.vector.special_function_ops_per_s * f))
    raise KeyError(local)
