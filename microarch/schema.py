"""Strict reading of YAML mappings: unknown keys rejected, units parsed, every error collected.

Readers for chips (:mod:`microarch.loader`), models and traces (:mod:`workloads`) are built on
:class:`Reader`. Each error names the file and the field path
(``orin.yaml: memory[0].bandwidth: '204.8 GB' is not a bandwidth``) and all of them are raised
together as one :class:`SpecError` once the file has been read.

A numeric leaf may carry its provenance: ``{value: "204.8 GB/s", source: "URL"}`` or
``{value: "1.5 GHz", assumption: "why", range: ["1.2 GHz", "1.8 GHz"]}``. The reader records
the provenance under the field path (:attr:`Reader.sources`) and a stated range, parsed like the
value and required to hold it, in :attr:`Reader.ranges` (SI). A number derived from an assumed
one says so with ``scales_with: PATH`` (``{value: "295 TOPS", assumption: "48 TPB x 4096 OP/clk
x clock", scales_with: technology.clock}``): it moves in proportion when that number is varied
(:attr:`Reader.links`).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

import yaml

from microarch.excerpt import EXCERPT_CHARS, excerpt
from microarch.units import DIMENSIONS, UnitError, parse_quantity

__all__ = ["SpecError", "Reader", "load_yaml", "load_json", "parse_yaml", "read_text",
           "excerpt", "UNSOURCED", "Span", "MAX_DEPTH", "MAX_NODES", "MAX_FILE_BYTES"]

UNSOURCED = "unsourced"


class Span(NamedTuple):
    """A stated range of a number (SI) and the number itself."""

    low: float
    high: float
    nominal: float

_MISSING = object()


class SpecError(ValueError):
    """One or more problems in an input file; ``str()`` is one line per problem."""

    def __init__(self, errors: list[str]):
        self.errors = list(errors)
        super().__init__("\n".join(self.errors))


MAX_FILE_BYTES = 64 * 2**20
"""Largest input file read (chip, model, trace, config, measurements): far above any real one."""
MAX_DEPTH = 64
"""Deepest nesting of mappings and lists an input file may have (real files need under 10)."""
MAX_NODES = 2_000_000
"""Most values a parsed file may hold once YAML aliases are expanded (an alias bomb is
refused before it is built or printed)."""
def read_text(path: str | Path) -> str:
    """The text of an input file, checked: readable, at most :data:`MAX_FILE_BYTES`, UTF-8
    (a byte-order mark is dropped). Every failure is a one-line :class:`SpecError`."""
    p = Path(path)
    try:
        if p.is_dir():
            raise SpecError([f"{p.name}: is a directory, not a file"])
        with open(p, "rb") as fh:
            data = fh.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        raise SpecError([f"{p.name}: cannot read file ({exc.strerror or exc})"]) from None
    if len(data) > MAX_FILE_BYTES:
        raise SpecError([f"{p.name}: file is larger than {MAX_FILE_BYTES // 2**20} MiB; "
                         "not an input chipdse reads"])
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise SpecError([f"{p.name}: file is UTF-16 text; save it as UTF-8"])
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise SpecError([f"{p.name}: not UTF-8 text (byte 0x{data[exc.start]:02x} at line "
                         f"{line}); save it as UTF-8"]) from None
    if "\x00" in text:
        raise SpecError([f"{p.name}: file holds NUL bytes (binary data), not text"])
    return text


class _TooDeep(yaml.YAMLError):
    def __init__(self, mark: Any):
        super().__init__()
        self.problem = f"nested more than {MAX_DEPTH} levels deep"
        self.problem_mark = mark


class _StrictLoader(yaml.SafeLoader):
    """YAML's safe loader that refuses duplicate keys and deep nesting (before Python's
    recursion limit is reached)."""

    _depth = 0

    def compose_node(self, parent: Any, index: Any) -> Any:
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                raise _TooDeep(self.peek_event().start_mark)
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def construct_mapping(self, node: Any, deep: bool = False) -> Any:
        if isinstance(node, yaml.MappingNode):
            seen: set[Any] = set()
            for key_node, _ in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":
                    continue
                key = self.construct_object(key_node, deep=True)
                try:
                    dup = key in seen
                    seen.add(key)
                except TypeError:  # unhashable keys are refused by the base constructor
                    continue
                if dup:
                    raise yaml.constructor.ConstructorError(
                        None, None, f"duplicate key {excerpt(key)}", key_node.start_mark)
        return super().construct_mapping(node, deep)


def _expanded_size(root: Any) -> int:
    """Values in the node graph once aliases are expanded (shared nodes counted per use)."""
    size: dict[int, int] = {}
    stack = [(root, False)]
    while stack:
        node, done = stack.pop()
        if id(node) in size:
            continue
        kids = ([n for pair in node.value for n in pair] if isinstance(node, yaml.MappingNode)
                else list(node.value) if isinstance(node, yaml.SequenceNode) else [])
        if done or not kids:
            size[id(node)] = min(1 + sum(size[id(k)] for k in kids), MAX_NODES + 1)
        else:
            stack.append((node, True))
            stack.extend((k, False) for k in kids if id(k) not in size)
    return size[id(root)]


def parse_yaml(text: str, name: str) -> Any:
    """Parse YAML text from file ``name`` safely (no tags that build objects, no duplicate
    keys, bounded depth and size); problems are a one-line :class:`SpecError`."""
    loader = _StrictLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        if _expanded_size(node) > MAX_NODES:
            raise SpecError([f"{name}: more than {MAX_NODES:,} values once its aliases are "
                             "expanded (an alias bomb?)"])
        return loader.construct_document(node)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or "syntax error"
        raise SpecError([f"{name}: malformed YAML{where}: {problem}"]) from None
    except RecursionError:
        raise SpecError([f"{name}: nested too deeply"]) from None
    finally:
        loader.dispose()


def load_yaml(path: str | Path) -> Any:
    """Read a YAML file (:func:`read_text`, :func:`parse_yaml`); every problem is a one-line
    :class:`SpecError`."""
    p = Path(path)
    return parse_yaml(read_text(p), p.name)


def _json_pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in pairs:
        if k in out:
            raise ValueError(f"duplicate key {excerpt(k)}")
        out[k] = v
    return out


def _depth_ok(value: Any, limit: int = MAX_DEPTH) -> bool:
    stack = [(value, 1)]
    while stack:
        v, d = stack.pop()
        if isinstance(v, (dict, list)):
            if d > limit:
                return False
            stack.extend((x, d + 1) for x in (v.values() if isinstance(v, dict) else v))
    return True


def load_json(path: str | Path) -> Any:
    """Read a JSON file as :func:`load_yaml` reads YAML: UTF-8, no duplicate keys, bounded
    depth, every problem a one-line :class:`SpecError`."""
    p = Path(path)
    text = read_text(p)
    try:
        data = json.loads(text, object_pairs_hook=_json_pairs)
    except json.JSONDecodeError as exc:
        raise SpecError([f"{p.name}: malformed JSON at line {exc.lineno}: {exc.msg}"]) from None
    except RecursionError:
        raise SpecError([f"{p.name}: nested too deeply"]) from None
    except ValueError as exc:  # duplicate keys, integers too long to read
        raise SpecError([f"{p.name}: malformed JSON: {str(exc)[:EXCERPT_CHARS]}"]) from None
    if not _depth_ok(data):
        raise SpecError([f"{p.name}: nested more than {MAX_DEPTH} levels deep"])
    return data


PHYSICAL: dict[str, tuple[float, float]] = {
    "bytes": (1.0, 1e16), "bytes_per_s": (1e3, 1e17), "ops_per_s": (1e3, 1e21),
    "hz": (1e-6, 1e12), "s": (1e-15, 1e6), "j": (1e-21, 1e6), "w": (1e-6, 1e7),
    "mm2": (1e-6, 1e6), "j_per_byte": (1e-18, 1e-3), "j_per_op": (1e-18, 1e-3),
}
"""Magnitudes (SI) a quantity in an input file may have: any real chip lies orders of
magnitude inside; beyond them an estimate would overflow or vanish, so the file is refused."""


RECORDERS: list[list[dict[str, Any]]] = []
"""Active field recorders: while a list is in here, every Reader access appends what it read
(file, field path with list indices as ``[]``, kind, unit dimension, required, bounds,
choices).
``chipdse.file_schema`` reads the presets this way to write the files' JSON Schema."""


class Reader:
    """Reads one mapping at a field path, collecting errors instead of stopping at the first."""

    def _note(self, key: str, kind: str, **info: Any) -> None:
        if RECORDERS:
            import re

            path = re.sub(r"\[\d+\]", "[]", self.where(key))
            for rec in RECORDERS:
                rec.append(dict(path=path, kind=kind, file=self.file, **info))

    def __init__(self, data: Any, file: str, path: str = "", errors: list[str] | None = None,
                 sources: dict[str, str] | None = None,
                 ranges: dict[str, Span] | None = None,
                 links: dict[str, str] | None = None):
        self.file = file
        self.path = path
        self.errors = [] if errors is None else errors
        self.sources = {} if sources is None else sources
        self.ranges = {} if ranges is None else ranges
        self.links = {} if links is None else links
        self._pending_range: Any = None
        self.used: set[str] = set()
        if data is None:
            data = {}
        if not isinstance(data, dict):
            self.error(f"expected a mapping, got {type(data).__name__}")
            data = {}
        # YAML may give int or bool keys ("1:", "on:"); field paths and lookups use strings.
        self.data = {str(k): v for k, v in data.items()}

    # -- bookkeeping ---------------------------------------------------------------------
    def where(self, key: str | None = None) -> str:
        if key is None:
            return self.path or "(top level)"
        return f"{self.path}.{key}" if self.path else str(key)

    def error(self, message: str, key: str | None = None) -> None:
        self.errors.append(f"{self.file}: {self.where(key)}: {message}")

    def has(self, key: str) -> bool:
        return key in self.data

    def finish(self) -> None:
        """Flag keys that were never read (unknown fields)."""
        for key in self.data:
            if key not in self.used:
                self.error("unknown field", key)

    def raise_if_errors(self) -> None:
        if self.errors:
            raise SpecError(self.errors)

    # -- access --------------------------------------------------------------------------
    def _raw(self, key: str, required: bool, numeric: bool = False) -> Any:
        """The value at ``key`` (provenance unwrapped), or ``_MISSING`` when there is none: the
        accessors then return their default as it is, unchecked."""
        self.used.add(key)
        if key not in self.data:
            if required:
                self.error("missing required field", key)
            return _MISSING
        value = self.data[key]
        self._pending_range = None
        if isinstance(value, dict) and "value" in value:
            extra = set(value) - {"value", "source", "assumption", "note", "range",
                                  "scales_with"}
            if extra:
                self.error(f"unknown keys {sorted(extra)} beside value", key)
            if "scales_with" in value:
                target = value["scales_with"]
                if not isinstance(target, str) or not target:
                    self.error(f"scales_with must be a field path, got {excerpt(target)}", key)
                else:
                    self.links[self.where(key)] = target
            if "range" in value:
                rng = value["range"]
                if not (isinstance(rng, list) and len(rng) == 2):
                    self.error(f"range must be a list [low, high], got {excerpt(rng)}", key)
                else:
                    self._pending_range = rng
            prov = value.get("source") or value.get("assumption")
            tag = "source" if value.get("source") else "assumption"
            self.sources[self.where(key)] = f"{tag}: {prov}" if prov else UNSOURCED
            value = value["value"]
        elif numeric and not isinstance(value, (dict, list)):
            self.sources.setdefault(self.where(key), UNSOURCED)
        if value is None and required:
            self.error("needs a value (got null)", key)
            return _MISSING
        return value

    def child(self, key: str, required: bool = False) -> Reader | None:
        """Reader for a nested mapping (None if absent and optional)."""
        self._note(key, "object", required=required)
        self.used.add(key)
        if key not in self.data:
            if required:
                self.error("missing required section", key)
            return None
        return Reader(self.data[key], self.file, self.where(key), self.errors, self.sources,
                      self.ranges, self.links)

    def children(self, key: str, required: bool = False) -> list[Reader]:
        """Readers for a list of mappings."""
        self._note(key, "array", required=required)
        self.used.add(key)
        if key not in self.data:
            if required:
                self.error("missing required list", key)
            return []
        items = self.data[key]
        if not isinstance(items, list):
            self.error("expected a list", key)
            return []
        return [Reader(item, self.file, f"{self.where(key)}[{i}]", self.errors, self.sources,
                       self.ranges, self.links) for i, item in enumerate(items)]

    def quantity(self, key: str, dimension: str, required: bool = True, default: Any = None,
                 positive: bool = False, non_negative: bool = True) -> Any:
        """A physical quantity in SI (``dimension`` is a key of ``units.DIMENSIONS``).

        The file must write it with its unit ("42.5 TFLOPS"): a bare number is an error, since
        nothing in it says whether 42.5 means TFLOPS or ops/s. On any error the error is recorded
        and ``default`` returned.
        """
        self._note(key, "quantity", required=required, dimension=dimension,
                   positive=positive)
        raw = self._raw(key, required, numeric=True)
        if raw is _MISSING or raw is None:
            return default
        try:
            value = parse_quantity(raw, dimension, require_unit=True)
        except UnitError as exc:
            self.error(str(exc), key)
            return default
        lo, hi = PHYSICAL[dimension]
        if value and not lo <= abs(value) <= hi:
            self.error(f"{excerpt(raw)} is outside any physical {DIMENSIONS[dimension].name} "
                       f"({lo:g} to {hi:g} {DIMENSIONS[dimension].si_name})", key)
            return default
        rng = self._pending_range
        if rng is not None:
            try:
                self._record_range(key, value, *(parse_quantity(x, dimension, require_unit=True)
                                                 for x in rng))
            except UnitError as exc:
                self.error(f"range: {exc}", key)
        return self._check_sign(key, value, positive, non_negative, DIMENSIONS[dimension].name,
                                default)

    def _record_range(self, key: str, value: float, lo: float, hi: float) -> None:
        """Keep a stated range (SI) if it is ordered and holds the value."""
        if not (math.isfinite(lo) and math.isfinite(hi) and lo <= value <= hi):
            self.error(f"range [{lo:g}, {hi:g}] must be finite, ordered and hold the value "
                       f"{value:g}", key)
            return
        self.ranges[self.where(key)] = Span(float(lo), float(hi), float(value))

    def number(self, key: str, required: bool = True, default: Any = None,
               positive: bool = False, non_negative: bool = True, low: float | None = None,
               high: float | None = None, integer: bool = False) -> Any:
        """A plain (dimensionless) finite number, optionally an integer and within [low, high].

        On any error the error is recorded and ``default`` returned.
        """
        self._note(key, "number", required=required, low=low, high=high, integer=integer,
                   positive=positive, non_negative=non_negative)
        raw = self._raw(key, required, numeric=True)
        if raw is _MISSING or raw is None:
            return default
        if isinstance(raw, bool) or not isinstance(raw, (int, float)):
            self.error(f"{excerpt(raw)} is not a number", key)
            return default
        if isinstance(raw, float) and not math.isfinite(raw):
            self.error(f"number must be finite, got {excerpt(raw)}", key)
            return default
        if isinstance(raw, int) and abs(raw) > 1e300:  # would overflow as a float
            self.error("number is out of range", key)
            return default
        if integer and (not float(raw).is_integer()):
            self.error(f"{excerpt(raw)} is not an integer", key)
            return default
        value = int(raw) if integer else float(raw)
        if low is not None and value < low or high is not None and value > high:
            self.error(f"{excerpt(raw)} is outside [{low}, {high}]", key)
            return default
        rng = self._pending_range
        if rng is not None:
            if not all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in rng):
                self.error(f"range must hold two numbers, got {excerpt(rng)}", key)
            else:
                self._record_range(key, float(value), float(rng[0]), float(rng[1]))
        return self._check_sign(key, value, positive, non_negative, "number", default)

    def _check_sign(self, key, value, positive, non_negative, what, default):
        """The value, or ``default`` (with an error recorded) when its sign is wrong."""
        if positive and not value > 0:
            self.error(f"{what} must be > 0, got {value:g}", key)
            return default
        if non_negative and value < 0:
            self.error(f"{what} must be >= 0, got {value:g}", key)
            return default
        return value

    def string(self, key: str, required: bool = True, default: Any = None,
               choices: tuple[str, ...] | None = None) -> Any:
        self._note(key, "string", required=required, choices=choices)
        raw = self._raw(key, required)
        if raw is _MISSING or raw is None:
            return default
        if not isinstance(raw, str):
            self.error(f"{excerpt(raw)} is not a string", key)
            return default
        if choices is not None and raw not in choices:
            self.error(f"{excerpt(raw)} is not one of {', '.join(choices)}", key)
            return default
        return raw

    def string_list(self, key: str, required: bool = True,
                    choices: tuple[str, ...] | None = None) -> tuple[str, ...]:
        """A list of strings (each one of ``choices`` if given)."""
        self._note(key, "string_list", required=required, choices=choices)
        raw = self._raw(key, required)
        if raw is _MISSING or raw is None:
            return ()
        if not isinstance(raw, list) or not all(isinstance(x, str) for x in raw):
            self.error(f"{excerpt(raw)} is not a list of strings", key)
            return ()
        bad = [x for x in raw if choices is not None and x not in choices]
        if bad:
            self.error(f"{', '.join(bad)} not one of {', '.join(choices or ())}", key)
            return ()
        return tuple(raw)

    def boolean(self, key: str, required: bool = False, default: bool = False) -> Any:
        self._note(key, "boolean", required=required)
        raw = self._raw(key, required)
        if raw is _MISSING:
            return default
        if not isinstance(raw, bool):
            self.error(f"{excerpt(raw)} is not true/false", key)
            return default
        return raw

    def mapping(self, key: str, value_reader: Callable[[Reader, str], Any],
                required: bool = True) -> dict[str, Any]:
        """A mapping whose values are read by ``value_reader(reader, subkey)``."""
        sub = self.child(key, required)
        if sub is None:
            return {}
        out = {}
        for k in list(sub.data):
            v = value_reader(sub, str(k))
            if v is not None:
                out[str(k)] = v
        return out
