"""Load chips from YAML: built-in presets by name, or a user's file by path.

Values are parsed strictly at this boundary (see :mod:`microarch.units`); unknown keys are
rejected; every problem in a file is reported together, each naming the file and field path.
Efficiency terms and dispatch overhead describe a chip *family and software stack*; a chip file
inherits them from ``presets/families.yaml`` and may override any of them.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

from microarch.area import dies
from microarch.chip import (
    Chip,
    Dispatch,
    Efficiency,
    Energy,
    GemmTiling,
    MatrixUnit,
    MemoryKind,
    MemoryLevel,
    PhaseMode,
    PhaseResources,
    PowerMode,
    QuantEngine,
    SparseEngine,
    Technology,
    VectorUnit,
)
from microarch.formats import get_format
from microarch.power import default_matrix_energy, default_memory_energy, default_vector_energy
from microarch.schema import Reader, SpecError, excerpt, load_yaml

__all__ = ["load_chip", "chip_from_dict", "list_chips", "preset_path", "load_families",
           "split_mode", "SpecError"]

_PRESETS = "presets"


def _preset_dir() -> Path:
    return Path(str(resources.files("microarch"))) / _PRESETS


_DATA_FILES = ("families", "dies", "process_costs")  # preset files that are not chips


def list_chips() -> list[str]:
    """Names of the built-in chip presets."""
    return sorted(p.stem for p in _preset_dir().glob("*.yaml") if p.stem not in _DATA_FILES)


def preset_path(name: str) -> Path:
    """Path of a built-in preset, its name matched without regard to case; raises SpecError
    with the closest names (and the list of presets) if unknown."""
    chips = list_chips()
    by_lower = {c.lower(): c for c in chips}
    name = by_lower.get(str(name).lower(), name)
    p = _preset_dir() / f"{name}.yaml"
    if not p.is_file() or name in _DATA_FILES:
        raise SpecError([f"unknown chip {excerpt(name)}{did_you_mean(name, chips)} (built-in: "
                         f"{', '.join(chips)}; or give a path to a .yaml file)"])
    return p


def did_you_mean(name: str, known: list[str]) -> str:
    """'; did you mean X?' for the closest of ``known`` to ``name`` (case-blind), or ''."""
    import difflib

    lower = {k.lower(): k for k in known}
    close = difflib.get_close_matches(str(name).lower(), list(lower), n=2, cutoff=0.6)
    if not close:
        close = [k for k in lower if str(name).lower() in k][:2]
    return f"; did you mean {' or '.join(lower[c] for c in close)}?" if close else ""


def split_mode(ref: str) -> tuple[str, str | None]:
    """``"NAME@MODE"`` -> ("NAME", "MODE"); a reference without ``@`` has no mode."""
    base, sep, mode = str(ref).rpartition("@")
    if not sep or not base or Path(str(ref)).is_file():
        return str(ref), None
    return base, mode


def load_chip(name_or_path: str | Path, power_mode: str | None = None) -> Chip:
    """A chip from a preset name or a YAML file path, in its default power mode, or in
    ``power_mode`` (also written ``NAME@MODE``)."""
    s, at_mode = split_mode(str(name_or_path))
    path = Path(s) if (s.endswith((".yaml", ".yml")) or Path(s).is_file()) else preset_path(s)
    if not path.is_file():
        raise SpecError([f"{path.name}: no such chip file"])
    chip = _load_cached(str(path.resolve()), path.stat().st_mtime_ns)
    mode = power_mode or at_mode
    if mode is not None:
        try:
            chip = chip.in_power_mode(mode)
        except ValueError as exc:
            raise SpecError([f"{path.name}: power_modes: {exc}"]) from None
    return chip


@lru_cache(maxsize=64)
def _load_cached(path: str, _mtime: int) -> Chip:
    p = Path(path)
    return chip_from_dict(load_yaml(p), p.name)


@lru_cache(maxsize=1)
def load_families() -> dict[str, dict[str, Any]]:
    """Family defaults: ``{family: {"efficiency": Efficiency, "dispatch": Dispatch, ...}}``."""
    path = _preset_dir() / "families.yaml"
    data = load_yaml(path)
    errors: list[str] = []
    if not isinstance(data, dict):
        raise SpecError([f"{path.name}: expected a mapping of families"])
    read: dict[str, dict[str, Any]] = {}
    for fam, body in data.items():
        r = Reader(body, path.name, str(fam), errors)
        r.string("description")
        parent = r.string("inherits", required=False)
        if parent is not None:
            # The terms are the parent's, carried whole (same software stack on a sibling
            # architecture); the reason is the family's own `source`.
            if parent not in read:
                r.error(f"inherits {excerpt(parent)}, which is not a family listed above it",
                        "inherits")
                r.finish()
                continue
            why = r.string("source")
            r.finish()
            base = read[parent]
            read[str(fam)] = {**base, "stack": base["stack"], "inherits": parent,
                              "sources": {k: f"carried from family {parent} ({why}): {v}"
                                          for k, v in base["sources"].items()}}
            continue
        stack = r.string("stack", required=False)
        eff = _read_efficiency(r.child("efficiency", required=True), Efficiency())
        disp = _read_dispatch(r.child("dispatch", required=True), Dispatch())
        sparse_r = r.child("sparse")
        per_expert = (sparse_r.quantity("per_expert_overhead", "s", required=False, default=0.0)
                      if sparse_r else 0.0)
        if sparse_r:
            sparse_r.finish()
        errors_of = _read_prediction_error(r.child("prediction_error"))
        corr = _read_correlations(r, "correlations")
        r.finish()
        read[str(fam)] = {"efficiency": eff, "dispatch": disp, "per_expert_overhead_s": per_expert,
                          "sources": dict(r.sources), "ranges": dict(r.ranges), "stack": stack,
                          "inherits": None, "prediction_error": errors_of,
                          "correlations": corr}
    if errors:
        raise SpecError(errors)
    out: dict[str, dict[str, Any]] = {}
    for fam, parts in read.items():
        out[fam] = {
            **parts,
            "efficiency": _build(errors, path.name, f"{fam}.efficiency", Efficiency,
                                 _EFFICIENCY_KEYS, **parts["efficiency"]),
            "dispatch": _build(errors, path.name, f"{fam}.dispatch", Dispatch, _DISPATCH_KEYS,
                               **parts["dispatch"]),
        }
        _build(errors, path.name, f"{fam}.sparse", SparseEngine, _SPARSE_KEYS,
               per_expert_overhead_s=parts["per_expert_overhead_s"])
    if errors:
        raise SpecError(errors)
    return out


PREDICTION_ROLES = ("calibration", "transfer")
"""Where a family's prediction error applies: on its calibration chip (``calibration``:
spread of the leave-one-model-out residuals) or on any other chip (``transfer``: spread of
the leave-one-device-out residuals)."""


def _read_prediction_error(r: Reader | None) -> dict[str, dict[str, float]]:
    """``prediction_error: {calibration: {decode: s, prefill: s}, transfer: {...}}``: the
    1-sigma spread of ln(predicted / measured) time per phase."""
    out: dict[str, dict[str, float]] = {}
    if r is None:
        return out
    for role in PREDICTION_ROLES:
        sub = r.child(role)
        if sub is None:
            continue
        out[role] = {ph: sub.number(ph, required=True, default=0.0, low=0.0, high=5.0)
                     for ph in ("decode", "prefill")}
        sub.finish()
    r.finish()
    return out


def _read_correlations(r: Reader, key: str) -> list[tuple[str, str, float]]:
    """``correlations: [[term, term, r], ...]``: correlations of fitted terms (a fit's
    covariance), used when their uncertainty is sampled."""
    raw = r.data.get(key)
    r.used.add(key)
    if raw is None:
        return []
    out = []
    if not isinstance(raw, list):
        r.error("expected a list of [term, term, r]", key)
        return out
    for i, item in enumerate(raw):
        ok = (isinstance(item, list) and len(item) == 3 and all(isinstance(x, str)
                                                                 for x in item[:2])
              and isinstance(item[2], (int, float)) and not isinstance(item[2], bool)
              and -1.0 <= float(item[2]) <= 1.0)
        if not ok:
            r.error(f"[{i}]: expected [term, term, r] with -1 <= r <= 1, got {excerpt(item)}", key)
            continue
        out.append((item[0], item[1], float(item[2])))
    return out


# Constructor argument -> file key, so that an error a constructor raises for one argument is
# reported at the field the user wrote.
_EFFICIENCY_KEYS = {k: k for k in ("matrix", "weight_only_gemm", "vector", "dram", "sram",
                                    "gemm_k_overhead", "dequant_ops_per_element",
                                    "weight_only_row_tile", "attention")}
_DISPATCH_KEYS = {"per_operator_s": "per_operator", "fused_attention": "fused_attention"}
_SPARSE_KEYS = {"native_moe": "native_moe", "per_expert_overhead_s": "per_expert_overhead"}
_QUANT_KEYS = {k: k for k in ("fused_dequant", "fused_nonlinear", "fused_conversion",
                              "conversion_ops_per_element")}
_PHASE_KEYS = {"mode": "mode", "prefill_compute_share": "prefill_compute_share",
               "prefill_bandwidth_share": "prefill_bandwidth_share",
               "prefill_sram_share": "prefill_sram_share",
               "reconfiguration_latency_s": "reconfiguration_latency",
               "power_gating": "power_gating"}
_MATRIX_KEYS = {"peak_dense_ops_per_s": "peak_dense", "sparse_2_4_speedup": "sparse_2_4_speedup",
                "cores": "cores"}
_VECTOR_KEYS = {"peak_ops_per_s": "peak", "special_function_ops_per_s": "special_function"}
_TECH_KEYS = {"process": "process", "node_nm": "node_nm", "clock_hz": "clock",
              "static_power_w": "static_power", "tdp_w": "tdp", "die_area_mm2": "die_area",
              "die": "die"}
_MEMORY_KEYS = {"name": "name", "kind": "kind", "capacity_bytes": "capacity",
                "bandwidth_bytes_per_s": "bandwidth", "energy_j_per_byte": "energy_per_byte",
                "managed": "managed", "pinnable_fraction": "pinnable_fraction"}
_ENERGY_KEYS = {"matrix_j_per_op": "matrix_per_op", "vector_j_per_op": "vector_per_op"}
_CHIP_KEYS = {k: k for k in ("name", "description", "family", "matrix", "vector", "memory",
                             "technology", "energy", "sparse", "quant", "phase", "dispatch",
                             "efficiency")}
_CHIP_KEYS.update(power_modes="power_modes", reference_mode="power_modes.reference",
                  power_mode="power_modes.default")

# "Owner.attr[sub] message" or "Owner(label).attr message", as the chip constructors word them.
_OWNER_ATTR = re.compile(r"^[A-Z]\w*(?:\([^)]*\))?\.(?P<attr>\w+)(?:\[(?P<sub>[^\]]+)\])? "
                         r"(?P<rest>.+)$", re.S)


def _build(errors: list[str], file: str, section: str, cls: Callable[..., Any],
           keys: dict[str, str], **kw: Any) -> Any:
    """``cls(**kw)``; if the constructor rejects its arguments, record one error line naming the
    file and the field path (``keys`` maps argument names to file keys) and return None."""
    try:
        return cls(**kw)
    except (ValueError, TypeError, KeyError) as exc:
        msg = str(exc.args[0]) if exc.args else type(exc).__name__
        path = section
        m = _OWNER_ATTR.match(msg)
        if m and m["attr"] in keys:
            key = keys[m["attr"]] + (f".{m['sub']}" if m["sub"] else "")
            path = f"{section}.{key}" if section else key
            msg = m["rest"]
        errors.append(f"{file}: {path or '(top level)'}: {msg}")
        return None


def _format_key(sub: Reader, key: str, allow_default: bool = False) -> bool:
    """True if ``key`` names a numeric format (or is "default" where allowed); else an error."""
    if allow_default and key == "default":
        return True
    try:
        get_format(key)
    except KeyError as exc:
        sub.used.add(key)
        sub.error(str(exc.args[0]), key)
        return False
    return True


def _canonical(key: str) -> str:
    return "default" if key == "default" else get_format(key).name


def _read_efficiency(r: Reader | None, base: Efficiency) -> dict[str, Any]:
    """Constructor arguments of :class:`Efficiency`: ``base`` overridden by the file's values."""
    if r is None:
        return dict(matrix=dict(base.matrix), weight_only_gemm=base.weight_only_gemm,
                    vector=base.vector, dram=base.dram, sram=base.sram,
                    gemm_k_overhead=base.gemm_k_overhead,
                    dequant_ops_per_element=base.dequant_ops_per_element,
                    weight_only_row_tile=base.weight_only_row_tile,
                    attention=base.attention)

    def frac(sub: Reader, k: str) -> float | None:
        if not _format_key(sub, k, allow_default=True):
            return None
        return sub.number(k, low=0.0, high=1.0, positive=True)

    matrix = dict(base.matrix)
    matrix.update({_canonical(k): v for k, v in r.mapping("matrix", frac, required=False).items()})
    eff = dict(
        matrix=matrix,
        weight_only_gemm=r.number("weight_only_gemm", False, base.weight_only_gemm, True,
                                  low=0, high=1),
        vector=r.number("vector", False, base.vector, True, low=0, high=1),
        dram=r.number("dram", False, base.dram, True, low=0, high=1),
        sram=r.number("sram", False, base.sram, True, low=0, high=1),
        gemm_k_overhead=r.number("gemm_k_overhead", False, base.gemm_k_overhead),
        dequant_ops_per_element=r.number("dequant_ops_per_element", False,
                                         base.dequant_ops_per_element),
        weight_only_row_tile=r.number("weight_only_row_tile", False,
                                      base.weight_only_row_tile),
        attention=r.number("attention", False, base.attention, low=0, high=1),
    )
    r.finish()
    return eff


def _read_dispatch(r: Reader | None, base: Dispatch) -> dict[str, Any]:
    """Constructor arguments of :class:`Dispatch`: ``base`` overridden by the file's values."""
    if r is None:
        return dict(per_operator_s=base.per_operator_s, fused_attention=base.fused_attention)
    d = dict(
        per_operator_s=r.quantity("per_operator", "s", False, base.per_operator_s),
        fused_attention=r.boolean("fused_attention", default=base.fused_attention),
    )
    r.finish()
    return d


def chip_from_dict(data: Any, file: str = "<chip>") -> Chip:
    """Build and validate a :class:`Chip` from parsed YAML; raises :class:`SpecError`.

    Every field is read (and every problem collected) before any object is built; a problem the
    constructors find is reported at its field path too.
    """
    r = Reader(data, file)
    name = r.string("name")
    description = r.string("description", required=False, default="")
    family = r.string("family")
    families = load_families()
    fam = None
    if family is not None:
        if family not in families:
            r.error(f"unknown family {family!r} (known: {', '.join(sorted(families))})", "family")
        else:
            fam = families[family]

    mr = r.child("matrix", required=True)
    peaks: dict[str, float] = {}
    sparse_speedup = 1.0
    cores = None
    tiling_kw: dict[str, Any] | None = None
    if mr is not None:
        def peak(sub: Reader, k: str) -> float | None:
            if not _format_key(sub, k):
                return None
            return sub.quantity(k, "ops_per_s", positive=True)
        peaks = mr.mapping("peak_dense", peak)
        if mr.has("peak_dense") and isinstance(mr.data["peak_dense"], dict) \
                and not mr.data["peak_dense"]:
            mr.error("needs at least one format", "peak_dense")
        sparse_speedup = mr.number("sparse_2_4_speedup", False, 1.0, low=1.0, high=8.0)
        cores = mr.number("cores", False, None, positive=True, integer=True)
        tr_ = mr.child("tiling")
        if tr_ is not None:
            tiling_kw = {k: tr_.number(k, positive=True, integer=True)
                         for k in ("m", "n", "k", "min_m")}
            tiling_kw["grouped_min_m"] = tr_.number("grouped_min_m", False, None,
                                                    positive=True, integer=True)
            tr_.finish()
        mr.finish()

    vr = r.child("vector", required=True)
    vec_kw: dict[str, Any] = {}
    if vr is not None:
        vec_kw = dict(peak_ops_per_s=vr.quantity("peak", "ops_per_s", positive=True),
                      special_function_ops_per_s=vr.quantity("special_function", "ops_per_s",
                                                             positive=True))
        vr.finish()

    tr = r.child("technology", required=True)
    tech_kw: dict[str, Any] = {}
    node = 7.0
    dram_type = "lpddr"
    if tr is not None:
        tech_kw = dict(
            process=tr.string("process"),
            node_nm=tr.number("node_nm", positive=True),
            clock_hz=tr.quantity("clock", "hz", positive=True),
            static_power_w=tr.quantity("static_power", "w"),
            tdp_w=tr.quantity("tdp", "w", required=False, positive=True),
            die_area_mm2=tr.quantity("die_area", "mm2", required=False, positive=True),
            die=tr.string("die", required=False),
        )
        node = tech_kw["node_nm"] or node
        if tech_kw["die"] is not None and tech_kw["die"] not in dies():
            tr.error(f"unknown die {tech_kw['die']!r} (known: {', '.join(dies())})", "die")
        dram_type = tr.string("dram_type", required=False, default="lpddr",
                              choices=("lpddr", "hbm", "gddr"))
        tr.finish()

    mem_readers = r.children("memory", required=True)
    mem_kw: list[dict[str, Any]] = []
    for lr in mem_readers:
        mem_kw.append(dict(
            name=lr.string("name"),
            kind=lr.string("kind", choices=tuple(k.value for k in MemoryKind)),
            capacity_bytes=lr.quantity("capacity", "bytes", positive=True),
            bandwidth_bytes_per_s=lr.quantity("bandwidth", "bytes_per_s", positive=True),
            energy_j_per_byte=lr.quantity("energy_per_byte", "j_per_byte", required=False),
            managed=lr.boolean("managed", default=False),
            pinnable_fraction=lr.number("pinnable_fraction", False, 0.0, low=0.0, high=1.0),
        ))
        lr.finish()
    if isinstance(r.data.get("memory"), list) and not r.data["memory"]:
        r.error("needs at least one level", "memory")

    sr = r.child("sparse")
    sparse_kw: dict[str, Any] = dict(
        native_moe=False, per_expert_overhead_s=fam["per_expert_overhead_s"] if fam else 0.0)
    if sr is not None:
        sparse_kw = dict(
            native_moe=sr.boolean("native_moe"),
            per_expert_overhead_s=sr.quantity("per_expert_overhead", "s", False,
                                              sparse_kw["per_expert_overhead_s"]),
        )
        sr.finish()

    qr = r.child("quant")
    quant_kw: dict[str, Any] = {}
    if qr is not None:
        quant_kw = dict(
            fused_dequant=qr.boolean("fused_dequant", default=True),
            fused_nonlinear=qr.boolean("fused_nonlinear", default=False),
            fused_conversion=qr.boolean("fused_conversion", default=False),
            conversion_ops_per_element=qr.number("conversion_ops_per_element", False, 2.0),
        )
        qr.finish()

    pr = r.child("phase")
    phase_kw: dict[str, Any] = {}
    if pr is not None:
        phase_kw = dict(
            mode=pr.string("mode", False, "fixed", choices=tuple(m.value for m in PhaseMode)),
            prefill_compute_share=pr.number("prefill_compute_share", False, 0.5, True, low=0,
                                            high=1),
            prefill_bandwidth_share=pr.number("prefill_bandwidth_share", False, 0.5, True, low=0,
                                              high=1),
            prefill_sram_share=pr.number("prefill_sram_share", False, 0.5, True, low=0, high=1),
            reconfiguration_latency_s=pr.quantity("reconfiguration_latency", "s", False, 0.0),
            power_gating=pr.boolean("power_gating", default=False),
        )
        pr.finish()

    dispatch_kw = _read_dispatch(r.child("dispatch"), fam["dispatch"] if fam else Dispatch())
    eff_kw = _read_efficiency(r.child("efficiency"), fam["efficiency"] if fam else Efficiency())

    pmr = r.child("power_modes")
    mode_kw: list[dict[str, Any]] = []
    reference = default = None
    if pmr is not None:
        reference = pmr.string("reference")
        default = pmr.string("default")
        for mr_ in pmr.children("modes", required=True):
            mode_kw.append(dict(
                name=mr_.string("name"),
                clock_hz=mr_.quantity("clock", "hz", positive=True),
                cores=mr_.number("cores", False, None, positive=True, integer=True),
                dram_bytes_per_s=mr_.quantity("dram_bandwidth", "bytes_per_s", positive=True),
                tdp_w=mr_.quantity("tdp", "w", required=False, positive=True),
                static_power_w=mr_.quantity("static_power", "w", required=False),
                source=mr_.string("source", required=False, default=""),
            ))
            if not mode_kw[-1]["source"]:  # the sources of the mode's own numbers
                mode_kw[-1]["source"] = "; ".join(
                    f"{k}: {mr_.sources[mr_.where(k)]}" for k in ("clock", "cores",
                                                                   "dram_bandwidth", "tdp")
                    if mr_.where(k) in mr_.sources)
            mr_.finish()
        names = [k["name"] for k in mode_kw]
        for label, v in (("reference", reference), ("default", default)):
            if v is not None and v not in names:
                pmr.error(f"{excerpt(v)} is not one of the modes ({', '.join(map(str, names))})",
                          label)
        pmr.finish()

    er = r.child("energy")
    energy_kw: dict[str, Any] | None = None
    if er is not None:
        def e_op(sub: Reader, k: str) -> float | None:
            if not _format_key(sub, k):
                return None
            return sub.quantity(k, "j_per_op")
        energy_kw = dict(matrix_j_per_op=er.mapping("matrix_per_op", e_op),
                         vector_j_per_op=er.quantity("vector_per_op", "j_per_op"))
        if er.has("matrix_per_op") and isinstance(er.data["matrix_per_op"], dict) \
                and not er.data["matrix_per_op"]:
            er.error("needs at least one format", "matrix_per_op")
        er.finish()
    r.finish()
    # Nothing is built from a file with errors: a value that failed to read is not trusted.
    r.raise_if_errors()

    errors = r.errors
    tiling = (_build(errors, file, "matrix.tiling", GemmTiling,
                     {k: k for k in tiling_kw or {}},
                     **tiling_kw) if tiling_kw is not None else None)
    matrix = _build(errors, file, "matrix", MatrixUnit, _MATRIX_KEYS,
                    peak_dense_ops_per_s=peaks, sparse_2_4_speedup=sparse_speedup,
                    cores=cores, tiling=tiling)
    vector = _build(errors, file, "vector", VectorUnit, _VECTOR_KEYS, **vec_kw)
    technology = _build(errors, file, "technology", Technology, _TECH_KEYS, **tech_kw)
    levels = []
    for i, kw in enumerate(mem_kw):
        if kw["energy_j_per_byte"] is None:
            kw["energy_j_per_byte"] = default_memory_energy(kw["kind"], node, dram_type)
        levels.append(_build(errors, file, f"memory[{i}]", MemoryLevel, _MEMORY_KEYS, **kw))
    if energy_kw is None:
        energy_kw = dict(matrix_j_per_op=default_matrix_energy(node),
                         vector_j_per_op=default_vector_energy(node))
    energy = _build(errors, file, "energy", Energy, _ENERGY_KEYS, **energy_kw)
    sparse = _build(errors, file, "sparse", SparseEngine, _SPARSE_KEYS, **sparse_kw)
    quant = _build(errors, file, "quant", QuantEngine, _QUANT_KEYS, **quant_kw)
    phase = _build(errors, file, "phase", PhaseResources, _PHASE_KEYS, **phase_kw)
    dispatch = _build(errors, file, "dispatch", Dispatch, _DISPATCH_KEYS, **dispatch_kw)
    efficiency = _build(errors, file, "efficiency", Efficiency, _EFFICIENCY_KEYS, **eff_kw)
    modes = tuple(_build(errors, file, f"power_modes.modes[{i}]", PowerMode,
                         {k: k for k in kw}, **kw) for i, kw in enumerate(mode_kw))
    r.raise_if_errors()

    sources = dict(r.sources)
    ranges = dict(r.ranges)
    for k, target in r.links.items():
        if target not in ranges:
            errors.append(f"{file}: {k}: scales_with {excerpt(target)} names no field of this file "
                          "with a range")
    if errors:
        raise SpecError(errors)
    if fam:
        for k, v in fam["sources"].items():
            sources.setdefault(f"family:{k}", v)
        for k, v in fam["ranges"].items():
            ranges.setdefault(f"family:{k}", v)
    chip = _build(errors, file, "", Chip, _CHIP_KEYS,
                  name=name, description=description, family=family, matrix=matrix,
                  vector=vector, memory=tuple(levels), technology=technology, energy=energy,
                  sparse=sparse, quant=quant, phase=phase, dispatch=dispatch,
                  efficiency=efficiency, sources=sources, ranges=ranges, links=dict(r.links),
                  power_modes=modes,
                  reference_mode=reference, power_mode=reference)
    r.raise_if_errors()
    if default is not None and default != reference:
        chip = chip.in_power_mode(default)
    return chip
