"""Strict parsing of readable quantities at the file boundary.

Preset and user files may write "204.8 GB/s", "4 MiB", "42.5 TFLOPS" or "100 ms"; everything
inside chipdse is un-prefixed SI. Decimal prefixes (k, M, G, T, P) mean powers of 1000 and binary
prefixes (Ki, Mi, Gi, Ti) powers of 1024; the two are never mixed or guessed. A quantity of the
wrong dimension ("204.8 GB" where a bandwidth is expected) is an error, not a conversion.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from microarch.excerpt import excerpt

__all__ = ["UnitError", "parse_quantity", "DIMENSIONS", "format_quantity"]


class UnitError(ValueError):
    """A quantity string that cannot be read as the expected dimension."""


_DECIMAL = {"": 1.0, "k": 1e3, "K": 1e3, "M": 1e6, "G": 1e9, "T": 1e12, "P": 1e15}
_BINARY = {"Ki": 2.0**10, "Mi": 2.0**20, "Gi": 2.0**30, "Ti": 2.0**40}
_SMALL = {"": 1.0, "m": 1e-3, "u": 1e-6, "µ": 1e-6, "n": 1e-9, "p": 1e-12, "f": 1e-15}


@dataclass(frozen=True)
class _Dimension:
    name: str
    base_units: tuple[str, ...]  # unit symbols after the prefix
    prefixes: dict[str, float]
    si_name: str


DIMENSIONS: dict[str, _Dimension] = {
    "bytes": _Dimension("capacity", ("B",), {**_DECIMAL, **_BINARY}, "bytes"),
    "bytes_per_s": _Dimension("bandwidth", ("B/s",), {**_DECIMAL, **_BINARY}, "bytes/s"),
    "ops_per_s": _Dimension(
        "throughput", ("FLOPS", "OPS", "FLOP/s", "OP/s", "ops/s"), _DECIMAL, "ops/s"
    ),
    "hz": _Dimension("frequency", ("Hz",), _DECIMAL, "Hz"),
    "s": _Dimension("time", ("s",), {**_SMALL}, "s"),
    "j": _Dimension("energy", ("J",), {**_SMALL}, "J"),
    "w": _Dimension("power", ("W",), {**_SMALL, "k": 1e3}, "W"),
    "mm2": _Dimension("area", ("mm2", "mm^2"), {"": 1.0}, "mm^2"),
    "j_per_byte": _Dimension("energy per byte", ("J/B",), {**_SMALL}, "J/B"),
    "j_per_op": _Dimension("energy per op", ("J/op",), {**_SMALL}, "J/op"),
}

_NUMBER = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?"
_PATTERN = re.compile(rf"^\s*(?P<num>{_NUMBER})\s*(?P<unit>\S.*?)?\s*$")


def parse_quantity(value: object, dimension: str, require_unit: bool = False) -> float:
    """Return ``value`` in SI units of ``dimension`` (a key of :data:`DIMENSIONS`).

    Strings must carry a unit of the right dimension. A plain number is taken as already in SI
    (e.g. ``204.8e9`` for bytes/s) unless ``require_unit`` is set, as it is for values read from
    files, where a bare number is ambiguous. Non-finite values are rejected. Raises
    :class:`UnitError` with a one-line reason.
    """
    dim = DIMENSIONS[dimension]
    if isinstance(value, bool):
        raise UnitError(f"{excerpt(value)} is not a {dim.name}")
    if isinstance(value, (int, float)):
        try:
            si = float(value)
        except OverflowError:
            raise UnitError(f"{excerpt(value)} is out of range for a {dim.name}") from None
        if not math.isfinite(si):
            raise UnitError(f"{dim.name} must be finite, got {excerpt(value)}")
        if require_unit:
            raise UnitError(f"{excerpt(value)} has no unit; a {dim.name} needs one, "
                            f"e.g. {_example(dim)}")
        return si
    if not isinstance(value, str):
        raise UnitError(f"{excerpt(value)} is not a {dim.name}")
    m = _PATTERN.match(value)
    if not m:
        raise UnitError(f"{excerpt(value)} is not a {dim.name} (expected e.g. {_example(dim)})")
    number = float(m.group("num"))
    unit = (m.group("unit") or "").replace(" ", "")
    if not unit:
        raise UnitError(f"{value!r} has no unit; a {dim.name} needs one, e.g. {_example(dim)}")
    # Longest base-unit match first so that "FLOP/s" wins over "s".
    for base in sorted(dim.base_units, key=len, reverse=True):
        if unit.endswith(base):
            prefix = unit[: -len(base)]
            if prefix in dim.prefixes:
                si = number * dim.prefixes[prefix]
                if not math.isfinite(si):
                    raise UnitError(f"{excerpt(value)} is out of range for a {dim.name}")
                return si
    raise UnitError(f"{excerpt(value)} is not a {dim.name} (expected e.g. {_example(dim)})")


_EXAMPLES = {
    "capacity": ("64 GB", "4 MiB"),
    "bandwidth": ("204.8 GB/s",),
    "throughput": ("42.5 TFLOPS",),
    "frequency": ("1.3 GHz",),
    "time": ("100 ms",),
    "energy": ("5 pJ",),
    "power": ("60 W",),
    "area": ("415 mm2",),
    "energy per byte": ("10 pJ/B",),
    "energy per op": ("0.5 pJ/op",),
}


def _example(dim: _Dimension) -> str:
    """Quoted example(s) of a well-written quantity: "'64 GB' or '4 MiB'"."""
    return " or ".join(f"'{e}'" for e in _EXAMPLES[dim.name])


def format_quantity(value_si: float, dimension: str) -> str:
    """Readable string for an SI value, for tables and written files: decimal prefixes, except
    a byte count that is a whole number of KiB / MiB / GiB (below 10,000 of them), which keeps
    its binary unit (so 4 MiB of SRAM does not print as 4.194 MB)."""
    dim = DIMENSIONS[dimension]
    unit = dim.base_units[0]
    if dimension == "bytes" and value_si > 0:
        for prefix, factor in (("Gi", 2.0**30), ("Mi", 2.0**20), ("Ki", 2.0**10)):
            n = value_si / factor
            if n.is_integer() and 1 <= n < 10000:
                return f"{n:g} {prefix}{unit}"
    if dimension in ("s", "j", "w", "j_per_byte", "j_per_op"):
        scale = [("", 1.0), ("m", 1e-3), ("u", 1e-6), ("n", 1e-9), ("p", 1e-12)]
    elif dimension == "mm2":
        return f"{value_si:g} {unit}"
    else:
        scale = [("P", 1e15), ("T", 1e12), ("G", 1e9), ("M", 1e6), ("k", 1e3), ("", 1.0)]
    for prefix, factor in scale:
        if abs(value_si) >= factor or factor == scale[-1][1]:
            return f"{value_si / factor:.4g} {prefix}{unit}"
    return f"{value_si:g} {unit}"
