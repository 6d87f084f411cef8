"""JSON Schema (draft 2020-12) of chipdse's input files: chip, model and trace YAML, for
editors that complete and check fields as one types.

The schema is not written by hand: the same readers that validate a file (``microarch.schema
.Reader``) record every field they read while they load every built-in preset, so the schema
lists exactly the fields, units, bounds and choices the tool accepts. It is a guide for
editors; chipdse's own checks (cross-field rules, physical magnitudes, sources) remain the
authority, and fields no preset uses are absent from it (other keys are allowed)."""

from __future__ import annotations

from typing import Any

__all__ = ["json_schema", "KINDS"]

KINDS = ("chip", "model", "trace")

_PROVENANCE = {
    "type": "object",
    "description": "A value with its provenance: a public source, or an assumption (with a "
                   "range when it is a guess).",
    "properties": {
        "value": {}, "source": {"type": "string"}, "assumption": {"type": "string"},
        "note": {"type": "string"}, "range": {"type": "array", "minItems": 2, "maxItems": 2},
        "scales_with": {"type": "string", "description": "field path this value moves with"}},
    "required": ["value"], "additionalProperties": False,
}


def _recorded(kind: str) -> list[dict[str, Any]]:
    """Every field the readers read while reading the built-in presets of ``kind`` (parsed
    here, not through the loaders' caches)."""
    from microarch import schema

    rec: list[dict[str, Any]] = []
    files: set[str] = set()
    schema.RECORDERS.append(rec)
    try:
        if kind == "chip":
            from microarch.loader import _preset_dir, chip_from_dict, list_chips

            for name in list_chips():
                path = _preset_dir() / f"{name}.yaml"
                files.add(path.name)
                chip_from_dict(schema.load_yaml(path), path.name)
        elif kind == "model":
            from workloads.loader import _model_dir, list_models, model_from_dict

            for name in list_models():
                path = _model_dir() / f"{name}.yaml"
                files.add(path.name)
                model_from_dict(schema.load_yaml(path), path.name)
        else:
            from workloads.trace import _trace_dir, list_traces, trace_from_dict

            for name in list_traces():
                path = _trace_dir() / f"{name}.yaml"
                files.add(path.name)
                trace_from_dict(schema.load_yaml(path), path.name, base_dir=path.parent)
    finally:
        schema.RECORDERS.remove(rec)
    # Only the fields of the files of this kind (not the families, dies or models they use).
    return [f for f in rec if f["file"] in files]


def _leaf(f: dict[str, Any]) -> dict[str, Any]:
    from microarch.units import DIMENSIONS

    kind = f["kind"]
    if kind == "quantity":
        d = DIMENSIONS[f["dimension"]]
        units = ", ".join(d.base_units)
        plain = {"type": "string", "pattern": r"^\s*[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?\s*\S+",
                 "description": f"{d.name} with its unit ({units}, SI prefixes), e.g. "
                                f"'42.5 {d.base_units[0]}'"}
        return {"anyOf": [plain, {"$ref": "#/$defs/provenance"}], "description":
                plain["description"]}
    if kind == "number":
        num: dict[str, Any] = {"type": "integer" if f.get("integer") else "number"}
        if f.get("low") is not None:
            num["minimum"] = f["low"]
        elif f.get("positive"):
            num["exclusiveMinimum"] = 0
        elif f.get("non_negative"):
            num["minimum"] = 0
        if f.get("high") is not None:
            num["maximum"] = f["high"]
        return {"anyOf": [num, {"$ref": "#/$defs/provenance"}]}
    if kind == "string":
        s: dict[str, Any] = {"type": "string"}
        if f.get("choices"):
            s["enum"] = list(f["choices"])
        return s
    if kind == "string_list":
        item: dict[str, Any] = {"type": "string"}
        if f.get("choices"):
            item["enum"] = list(f["choices"])
        return {"type": "array", "items": item}
    if kind == "boolean":
        return {"type": "boolean"}
    if kind == "name_or_list":
        return {"anyOf": [{"type": "string"},
                          {"type": "array", "items": {"type": "string"}, "minItems": 1}]}
    return {"type": "object"}


def _node() -> dict[str, Any]:
    return {"type": "object", "properties": {}, "_required": set()}


def _insert(root: dict[str, Any], f: dict[str, Any]) -> None:
    parts = f["path"].split(".")
    node = root
    for part in parts[:-1]:
        node = _descend(node, part)
    last = parts[-1]
    is_list = last.endswith("[]")
    key = last[:-2] if is_list else last
    props = node["properties"]
    if f["kind"] in ("object", "array"):
        if key not in props or "properties" not in _target(props[key]):
            props[key] = ({"type": "array", "items": _node()} if f["kind"] == "array"
                          else _node())
    elif key not in props:
        props[key] = _leaf(f)
    if f.get("required"):
        node["_required"].add(key)


def _target(s: dict[str, Any]) -> dict[str, Any]:
    return s["items"] if s.get("type") == "array" else s


def _descend(node: dict[str, Any], part: str) -> dict[str, Any]:
    is_list = part.endswith("[]")
    key = part[:-2] if is_list else part
    props = node["properties"]
    if key not in props or "properties" not in _target(props[key]):
        props[key] = {"type": "array", "items": _node()} if is_list else _node()
    return _target(props[key])


def _finish(node: dict[str, Any]) -> None:
    req = node.pop("_required", None)
    if req is not None and req:
        node["required"] = sorted(req)
    for v in node.get("properties", {}).values():
        _finish(_target(v))


def json_schema(kind: str) -> dict[str, Any]:
    """The JSON Schema of a ``kind`` file (one of :data:`KINDS`)."""
    if kind not in KINDS:
        from chipdse.errors import UserError

        raise UserError(f"schema: {kind!r} is not one of {', '.join(KINDS)}")
    recs = _recorded(kind)
    # A field is required where every file that has its parent section reads it as required
    # (a per-format table's entries, read as required one by one, are not).
    files: dict[str, set[str]] = {}
    optional: set[str] = set()
    for f in recs:
        parts = f["path"].split(".")
        for i in range(1, len(parts) + 1):
            files.setdefault(".".join(parts[:i]), set()).add(f["file"])
        if not f.get("required"):
            optional.add(f["path"])
    everywhere = {f["file"] for f in recs}
    root = _node()
    for f in recs:
        parent = f["path"].rpartition(".")[0]
        holders = files.get(parent, everywhere) if parent else everywhere
        required = f["path"] not in optional and files[f["path"]] >= holders
        _insert(root, {**f, "required": required})
    _finish(root)
    return {"$schema": "https://json-schema.org/draft/2020-12/schema",
            "$id": f"chipdse:{kind}", "title": f"chipdse {kind} file",
            "description": "Written from the readers that validate these files (chipdse "
                           "schema); chipdse's own checks remain the authority.",
            **root, "$defs": {"provenance": _PROVENANCE}}
