"""Load chips from YAML: built-in presets by name, or a user's file by path.

Values are parsed strictly at this boundary (see :mod:`microarch.units`); unknown keys are
rejected; every problem in a file is reported together, each naming the file and field path.
Efficiency terms and dispatch overhead describe a chip *family and software stack*; a chip file
inherits them from ``presets/families.yaml`` and may override any of them.
"""

from __future__ import annotations

from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

from microarch.chip import (
    Chip,
    Dispatch,
    Efficiency,
    Energy,
    MatrixUnit,
    MemoryKind,
    MemoryLevel,
    PhaseMode,
    PhaseResources,
    QuantEngine,
    SparseEngine,
    Technology,
    VectorUnit,
)
from microarch.formats import get_format
from microarch.power import default_matrix_energy, default_memory_energy, default_vector_energy
from microarch.schema import Reader, SpecError, load_yaml

__all__ = ["load_chip", "chip_from_dict", "list_chips", "preset_path", "load_families",
           "SpecError"]

_PRESETS = "presets"


def _preset_dir() -> Path:
    return Path(str(resources.files("microarch"))) / _PRESETS


def list_chips() -> list[str]:
    """Names of the built-in chip presets."""
    return sorted(p.stem for p in _preset_dir().glob("*.yaml") if p.stem != "families")


def preset_path(name: str) -> Path:
    """Path of a built-in preset; raises SpecError listing the presets if unknown."""
    p = _preset_dir() / f"{name}.yaml"
    if not p.is_file() or name == "families":
        raise SpecError([f"unknown chip {name!r} (built-in: {', '.join(list_chips())}; "
                         "or give a path to a .yaml file)"])
    return p


def load_chip(name_or_path: str | Path) -> Chip:
    """A chip from a preset name or a YAML file path."""
    s = str(name_or_path)
    path = Path(s) if (s.endswith((".yaml", ".yml")) or Path(s).is_file()) else preset_path(s)
    if not path.is_file():
        raise SpecError([f"{path.name}: no such chip file"])
    return _load_cached(str(path.resolve()), path.stat().st_mtime_ns)


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
    out: dict[str, dict[str, Any]] = {}
    if not isinstance(data, dict):
        raise SpecError([f"{path.name}: expected a mapping of families"])
    for fam, body in data.items():
        r = Reader(body, path.name, str(fam), errors)
        r.string("description")
        eff = _read_efficiency(r.child("efficiency", required=True), None)
        disp = _read_dispatch(r.child("dispatch", required=True), None)
        sparse_r = r.child("sparse")
        per_expert = (sparse_r.quantity("per_expert_overhead", "s", required=False, default=0.0)
                      if sparse_r else 0.0)
        if sparse_r:
            sparse_r.finish()
        r.finish()
        out[str(fam)] = {"efficiency": eff, "dispatch": disp, "per_expert_overhead_s": per_expert,
                         "sources": dict(r.sources)}
    if errors:
        raise SpecError(errors)
    return out


def _read_efficiency(r: Reader | None, base: Efficiency | None) -> Efficiency | None:
    if r is None:
        return base
    base = base or Efficiency()

    def frac(sub: Reader, k: str) -> float | None:
        return sub.number(k, low=0.0, high=1.0, positive=True)

    matrix = dict(base.matrix)
    matrix.update(r.mapping("matrix", frac, required=False))
    eff = dict(
        matrix=matrix,
        weight_only_gemm=r.number("weight_only_gemm", False, base.weight_only_gemm, True,
                                  low=0, high=1),
        vector=r.number("vector", False, base.vector, True, low=0, high=1),
        dram=r.number("dram", False, base.dram, True, low=0, high=1),
        sram=r.number("sram", False, base.sram, True, low=0, high=1),
    )
    r.finish()
    try:
        return Efficiency(**eff)
    except (ValueError, KeyError) as exc:
        r.error(str(exc))
        return base


def _read_dispatch(r: Reader | None, base: Dispatch | None) -> Dispatch | None:
    if r is None:
        return base
    base = base or Dispatch()
    d = Dispatch(
        per_operator_s=r.quantity("per_operator", "s", False, base.per_operator_s),
        fused_attention=r.boolean("fused_attention", default=base.fused_attention),
    )
    r.finish()
    return d


def chip_from_dict(data: Any, file: str = "<chip>") -> Chip:
    """Build and validate a :class:`Chip` from parsed YAML; raises :class:`SpecError`."""
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

    # matrix
    mr = r.child("matrix", required=True)
    peaks: dict[str, float] = {}
    sparse_speedup = 1.0
    if mr is not None:
        def peak(sub: Reader, k: str) -> float | None:
            try:
                get_format(k)
            except KeyError as exc:
                sub.error(str(exc).strip('"'), k)
                sub.used.add(k)
                return None
            return sub.quantity(k, "ops_per_s", positive=True)
        peaks = mr.mapping("peak_dense", peak)
        sparse_speedup = mr.number("sparse_2_4_speedup", False, 1.0, low=1.0, high=8.0)
        mr.finish()

    vr = r.child("vector", required=True)
    vec = None
    if vr is not None:
        vpeak = vr.quantity("peak", "ops_per_s", positive=True)
        vsfu = vr.quantity("special_function", "ops_per_s", positive=True)
        vr.finish()
        if vpeak and vsfu:
            vec = VectorUnit(vpeak, vsfu)

    tr = r.child("technology", required=True)
    tech = None
    node = 7.0
    if tr is not None:
        process = tr.string("process")
        node = tr.number("node_nm", positive=True) or 7.0
        clock = tr.quantity("clock", "hz", positive=True)
        static = tr.quantity("static_power", "w")
        tdp = tr.quantity("tdp", "w", required=False, positive=True)
        area = tr.quantity("die_area", "mm2", required=False, positive=True)
        dram_type = tr.string("dram_type", required=False, default="lpddr",
                              choices=("lpddr", "hbm", "gddr"))
        tr.finish()
        if None not in (process, clock, static):
            tech = Technology(process, node, clock, static, tdp, area)
    else:
        dram_type = "lpddr"

    levels: list[MemoryLevel] = []
    for lr in r.children("memory", required=True):
        lname = lr.string("name")
        kind = lr.string("kind", choices=tuple(k.value for k in MemoryKind))
        cap = lr.quantity("capacity", "bytes", positive=True)
        bw = lr.quantity("bandwidth", "bytes_per_s", positive=True)
        energy = lr.quantity("energy_per_byte", "j_per_byte", required=False)
        managed = lr.boolean("managed", default=False)
        pin = lr.number("pinnable_fraction", False, 0.0, low=0.0, high=1.0)
        lr.finish()
        if None in (lname, kind, cap, bw) or not cap or not bw:
            continue
        if energy is None:
            energy = default_memory_energy(kind, node, dram_type)
        levels.append(MemoryLevel(lname, MemoryKind(kind), cap, bw, energy, managed, pin))

    sr = r.child("sparse")
    sparse = SparseEngine(per_expert_overhead_s=fam["per_expert_overhead_s"] if fam else 0.0)
    if sr is not None:
        sparse = SparseEngine(
            native_moe=sr.boolean("native_moe"),
            per_expert_overhead_s=sr.quantity("per_expert_overhead", "s", False,
                                              sparse.per_expert_overhead_s),
        )
        sr.finish()

    qr = r.child("quant")
    quant = QuantEngine()
    if qr is not None:
        quant = QuantEngine(
            fused_dequant=qr.boolean("fused_dequant", default=True),
            fused_nonlinear=qr.boolean("fused_nonlinear", default=False),
            fused_conversion=qr.boolean("fused_conversion", default=False),
            conversion_ops_per_element=qr.number("conversion_ops_per_element", False, 2.0),
        )
        qr.finish()

    pr = r.child("phase")
    phase = PhaseResources()
    if pr is not None:
        kw = dict(
            mode=pr.string("mode", False, "fixed", choices=tuple(m.value for m in PhaseMode)),
            prefill_compute_share=pr.number("prefill_compute_share", False, 0.5, low=0, high=1),
            prefill_bandwidth_share=pr.number("prefill_bandwidth_share", False, 0.5, low=0,
                                              high=1),
            prefill_sram_share=pr.number("prefill_sram_share", False, 0.5, low=0, high=1),
            reconfiguration_latency_s=pr.quantity("reconfiguration_latency", "s", False, 0.0),
            power_gating=pr.boolean("power_gating", default=False),
        )
        pr.finish()
        try:
            phase = PhaseResources(**kw)
        except ValueError as exc:
            pr.error(str(exc))

    dispatch = _read_dispatch(r.child("dispatch"), fam["dispatch"] if fam else Dispatch())
    efficiency = _read_efficiency(r.child("efficiency"), fam["efficiency"] if fam else None)
    if efficiency is None:
        efficiency = Efficiency()

    er = r.child("energy")
    energy_obj = None
    if er is not None:
        def e_op(sub: Reader, k: str) -> float | None:
            return sub.quantity(k, "j_per_op")
        mat = er.mapping("matrix_per_op", e_op)
        vec_e = er.quantity("vector_per_op", "j_per_op")
        er.finish()
        if mat and vec_e is not None:
            energy_obj = Energy(mat, vec_e)
    if energy_obj is None:
        energy_obj = Energy(default_matrix_energy(node), default_vector_energy(node))
    r.finish()

    if not levels and not any("memory" in e for e in r.errors):
        r.error("needs at least one level", "memory")
    if r.errors:
        raise SpecError(r.errors)
    sources = dict(r.sources)
    if fam:
        for k, v in fam["sources"].items():
            sources.setdefault(f"family:{k}", v)
    try:
        return Chip(
            name=name, description=description, family=family,
            matrix=MatrixUnit(peaks, sparse_speedup), vector=vec, memory=tuple(levels),
            technology=tech, energy=energy_obj, sparse=sparse, quant=quant, phase=phase,
            dispatch=dispatch, efficiency=efficiency, sources=sources,
        )
    except (ValueError, KeyError) as exc:
        raise SpecError([f"{file}: {str(exc).strip(chr(34))}"]) from None
