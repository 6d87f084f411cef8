"""The front door: load chips and models, estimate, and (in later modules) simulate and search.

Everything here takes names or objects and returns plain results; the CLI is a thin layer over
these functions.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from chipdse.accuracy import LAWS, fit_law, fit_law_csv, get_law, perplexity
from chipdse.analytic import evaluate
from chipdse.calibrate import Calibration, Validation, calibrate, validate
from chipdse.cost import BOUNDS, ChipParams, CostOptions, op_cost
from chipdse.errors import UserError
from chipdse.measurements import builtin_measurements_path, load_measurements
from chipdse.search import (
    SearchResult,
    codesign,
    dominated_share,
    front_summary,
    hypervolume,
    matched_latency_gain,
    pareto_figure,
    pareto_mask,
    run_search,
    score_model,
    search,
)
from chipdse.search_problems import (
    WORKLOADS,
    Budgets,
    ChipSizingProblem,
    CoDesignProblem,
    PlasProblem,
    Workload,
)
from chipdse.sim import SimOptions, SimResult, simulate, with_phase
from chipdse.sim.analytic_request import request_estimate
from microarch.area import chip_area_mm2
from microarch.chip import Chip, PhaseMode
from microarch.formats import get_format
from microarch.loader import list_chips
from microarch.loader import load_chip as _load_chip
from microarch.power import chip_peak_power_w
from workloads.loader import list_models
from workloads.loader import load_model as _load_model
from workloads.model import ModelArch
from workloads.ops import (
    ArchArrays,
    experts_touched,
    kv_cache_bytes,
    phase_operators,
    weights_total_bytes,
)
from workloads.precision import Precision
from workloads.trace import list_traces, load_trace

__all__ = ["load_chip", "load_model", "list_chips", "list_models", "make_precision",
           "Estimate", "estimate", "operator_table", "chip_variant", "list_studies", "study",
           "calibrate", "validate", "Calibration", "Validation", "load_measurements",
           "builtin_measurements_path", "simulate", "SimOptions", "SimResult", "with_phase",
           "list_traces", "load_trace", "request_estimate", "frame_estimate", "search",
           "codesign", "run_search", "SearchResult", "LAWS", "get_law", "fit_law", "fit_law_csv",
           "perplexity", "front_summary", "matched_latency_gain", "score_model",
           "dominated_share", "pareto_mask", "hypervolume", "pareto_figure", "WORKLOADS",
           "Budgets", "Workload", "PlasProblem", "ChipSizingProblem", "CoDesignProblem",
           "CostOptions", "experts_touched", "phase_params", "chip_area_mm2", "chip_peak_power_w"]


def load_chip(chip: str | Path | Chip) -> Chip:
    """A chip from a preset name, a YAML path, or a :class:`Chip` (returned as is)."""
    return chip if isinstance(chip, Chip) else _load_chip(chip)


def load_model(model: str | Path | ModelArch) -> ModelArch:
    """A model from a preset name, a model YAML, a config.json, or a :class:`ModelArch`."""
    return model if isinstance(model, ModelArch) else _load_model(model)


def make_precision(weights: str = "fp16", activations: str = "fp16", kv: str = "fp16",
                   head: str | None = None, sparsity_2_4: bool = False) -> Precision:
    """A :class:`Precision`, turning unknown format names into a :class:`UserError`."""
    try:
        for v in (weights, activations, kv):
            get_format(v)
        return Precision(weights, activations, kv, head, sparsity_2_4)
    except KeyError as exc:
        raise UserError(str(exc).strip('"')) from None


@dataclass(frozen=True)
class Estimate:
    """Latency, throughput, energy and memory of one (chip, model, workload) point."""

    chip: str
    model: str
    precision: str
    batch: int
    prompt_tokens: int
    generate_tokens: int
    prefill_s: float
    decode_s_per_token: float
    decode_tokens_per_s: float
    total_s: float
    energy_j: float
    prefill_energy_j: float
    decode_energy_j_per_token: float
    weights_bytes: float
    kv_cache_bytes: float
    memory_bytes: float
    dram_capacity_bytes: float
    fits_in_memory: bool
    prefill_bottleneck: str
    decode_bottleneck: str
    prefill_time_by_bound: dict
    decode_time_by_bound: dict

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _f(x: Any) -> float:
    return float(np.asarray(x).reshape(-1)[0])


def phase_params(chip: str | Path | Chip, options: CostOptions = CostOptions()
                 ) -> tuple[ChipParams, ChipParams]:
    """The resources prefill and decode each get when one request runs alone: the whole chip,
    except on a STATIC chip, where prefill holds its partition and decode the rest."""
    c = load_chip(chip)
    full = ChipParams.from_chip(c, ideal=options.ideal_chip)
    if c.phase.mode != PhaseMode.STATIC:
        return full, full
    ph = c.phase
    shares = (ph.prefill_compute_share, ph.prefill_bandwidth_share, ph.prefill_sram_share)
    return full.partition(*shares), full.partition(*(1.0 - x for x in shares))


def estimate(chip: str | Path | Chip, model: str | Path | ModelArch,
             precision: Precision | None = None, batch: int = 1, prompt: int = 1024,
             generate: int = 16, options: CostOptions = CostOptions()) -> Estimate:
    """Estimate one design point (every decode step costed at its own context). On a chip with
    a static phase partition, prefill runs on the prefill share and decode on the rest."""
    if batch < 1 or prompt < 1 or generate < 0:
        raise UserError(f"batch and prompt must be >= 1 and generate >= 0 "
                        f"(got batch={batch}, prompt={prompt}, generate={generate})")
    c, m = load_chip(chip), load_model(model)
    if not m.causal and generate > 0:
        raise UserError(f"{m.name} is an encoder: it has no decode phase (use generate=0)")
    p = precision or Precision()
    _check_formats(c, m, p)
    pre_cp, dec_cp = phase_params(c, options)
    pre = evaluate(m, pre_cp, p, batch, prompt, 0, options, decode="exact",
                   logits="last" if m.causal else "none")
    ev = evaluate(m, dec_cp, p, batch, prompt, generate, options, decode="exact") \
        if generate else pre
    n = max(generate, 1)
    total_s = _f(pre.prefill_s) + (_f(ev.decode.time_s) if generate else 0.0)
    return Estimate(
        chip=c.name, model=m.name, precision=p.label(), batch=batch, prompt_tokens=prompt,
        generate_tokens=generate, prefill_s=_f(pre.prefill_s),
        decode_s_per_token=_f(ev.decode_s_per_token) if generate else float("nan"),
        decode_tokens_per_s=_f(ev.decode_tokens_per_s) if generate else float("nan"),
        total_s=total_s,
        energy_j=_f(pre.prefill.energy_j) + (_f(ev.decode.energy_j) if generate else 0.0),
        prefill_energy_j=_f(pre.prefill.energy_j),
        decode_energy_j_per_token=(_f(ev.decode.energy_j) / (n * batch)) if generate
        else float("nan"),
        weights_bytes=_f(ev.weights_bytes), kv_cache_bytes=_f(ev.kv_cache_bytes),
        memory_bytes=_f(ev.memory_bytes), dram_capacity_bytes=_f(ev.dram_capacity_bytes),
        fits_in_memory=bool(np.asarray(ev.fits_in_memory).reshape(-1)[0]),
        prefill_bottleneck=str(np.asarray(pre.prefill.bottleneck).reshape(-1)[0]),
        decode_bottleneck=(str(np.asarray(ev.decode.bottleneck).reshape(-1)[0])
                           if generate else "none"),
        prefill_time_by_bound={k: _f(v) for k, v in pre.prefill.time_by_bound.items()},
        decode_time_by_bound={k: _f(v) for k, v in ev.decode.time_by_bound.items()}
        if generate else {},
    )


def _check_formats(chip: Chip, model: ModelArch, p: Precision) -> None:
    """A clear error when the chip cannot execute a GEMM format the deployment needs."""
    needed = {p.gemm_format(), p.gemm_format(p.head), "fp16"}
    for fmt in sorted(needed):
        try:
            chip.matrix.execution_format(fmt)
        except ValueError:
            raise UserError(f"chip {chip.name} cannot execute {fmt} GEMMs (its matrix units "
                            f"run {', '.join(chip.matrix.peak_dense_ops_per_s)}); "
                            f"needed by {model.name} at {p.label()}") from None


def operator_table(chip: str | Path | Chip, model: str | Path | ModelArch,
                   precision: Precision | None = None, batch: int = 1, prompt: int = 1024,
                   generate: int = 16, options: CostOptions = CostOptions()) -> pd.DataFrame:
    """Per-operator costs: the prefill pass and the decode step at the mean context.

    Columns: phase, name, engine, count, flops, dram_bytes, sram_bytes, kv_bytes, time_s (per
    instance), total_s (x count), bound, intensity (ops per DRAM byte), fmt.
    """
    c, m = load_chip(chip), load_model(model)
    p = precision or Precision()
    a = ArchArrays.from_model(m)
    cp = ChipParams.from_chip(c, ideal=options.ideal_chip)
    wt = weights_total_bytes(a, p)
    rows = []
    past_mean = prompt + (max(generate, 1) - 1) / 2.0
    for phase, tokens, past, kv_tok in (("prefill", prompt, 0.0, prompt),
                                        ("decode", 1, past_mean, past_mean + 1)):
        for op in phase_operators(a, p, batch, tokens, past):
            k = op_cost(op, cp, wt, kv_cache_bytes(a, p, batch, kv_tok), options)
            flops = _f(op.flops) + _f(op.vector_ops) + _f(op.sfu_ops)
            dram = _f(k.dram_bytes)
            rows.append(dict(
                phase=phase, name=op.name, engine=op.engine, fmt=op.fmt, count=_f(op.count),
                flops=flops, dram_bytes=dram, sram_bytes=_f(k.sram_bytes),
                kv_bytes=_f(k.kv_bytes), time_s=_f(k.time_s),
                total_s=_f(k.time_s) * _f(op.count), bound=BOUNDS[int(np.asarray(k.bound))],
                intensity=flops / dram if dram > 0 else float("inf")))
    return pd.DataFrame(rows)


def chip_variant(chip: str | Path | Chip, name: str | None = None, *,
                 compute_scale: float = 1.0, dram_bandwidth_scale: float = 1.0,
                 sram_scale: float = 1.0, kv_sram_bytes: float | None = None,
                 kv_sram_bandwidth_bytes_per_s: float | None = None,
                 native_moe: bool | None = None, fused_nonlinear: bool | None = None,
                 fused_conversion: bool | None = None, fused_dequant: bool | None = None,
                 dispatch_per_operator_s: float | None = None,
                 phase_mode: str | None = None, prefill_share: float | None = None,
                 reconfiguration_latency_s: float | None = None) -> Chip:
    """A what-if copy of a chip: scaled compute / DRAM bandwidth / SRAM, an added or resized
    KV-cache SRAM, engines switched on or off, another phase policy. Unchanged fields keep
    their sources; changed ones are recorded in ``sources`` as ``variant``."""
    import dataclasses

    from microarch.chip import MemoryKind, MemoryLevel
    from microarch.power import default_memory_energy

    c = load_chip(chip)
    changes: dict[str, Any] = {}
    notes: dict[str, str] = {}
    for label, v in (("compute_scale", compute_scale), ("dram_bandwidth_scale",
                     dram_bandwidth_scale), ("sram_scale", sram_scale)):
        if not v > 0:
            raise UserError(f"chip_variant: {label} must be > 0, got {v!r}")
    if compute_scale != 1.0:
        changes["matrix"] = dataclasses.replace(c.matrix, peak_dense_ops_per_s={
            k: v * compute_scale for k, v in c.matrix.peak_dense_ops_per_s.items()})
        changes["vector"] = dataclasses.replace(
            c.vector, peak_ops_per_s=c.vector.peak_ops_per_s * compute_scale,
            special_function_ops_per_s=c.vector.special_function_ops_per_s * compute_scale)
        notes["matrix"] = f"variant: compute x{compute_scale:g}"
    memory = []
    for m in c.memory:
        if m.kind == MemoryKind.DRAM and dram_bandwidth_scale != 1.0:
            m = dataclasses.replace(m, bandwidth_bytes_per_s=m.bandwidth_bytes_per_s
                                    * dram_bandwidth_scale)
            notes["memory.dram"] = f"variant: bandwidth x{dram_bandwidth_scale:g}"
        if m.kind in (MemoryKind.SHARED, MemoryKind.LOCAL) and sram_scale != 1.0:
            m = dataclasses.replace(m, capacity_bytes=m.capacity_bytes * sram_scale)
            notes[f"memory.{m.name}"] = f"variant: capacity x{sram_scale:g}"
        if m.kind == MemoryKind.KV and kv_sram_bytes is not None:
            continue
        memory.append(m)
    if kv_sram_bytes is not None and kv_sram_bytes > 0:
        bw = kv_sram_bandwidth_bytes_per_s or c.sram_bandwidth_bytes_per_s
        memory.append(MemoryLevel("kv_sram", MemoryKind.KV, kv_sram_bytes, bw,
                                  default_memory_energy("kv", c.technology.node_nm), True, 0.0))
        notes["memory.kv_sram"] = (f"variant: {kv_sram_bytes / 2**20:g} MiB KV SRAM at "
                                   f"{bw / 1e9:g} GB/s")
    changes["memory"] = tuple(memory)
    if native_moe is not None:
        changes["sparse"] = dataclasses.replace(c.sparse, native_moe=native_moe)
    q = {k: v for k, v in (("fused_nonlinear", fused_nonlinear),
                           ("fused_conversion", fused_conversion),
                           ("fused_dequant", fused_dequant)) if v is not None}
    if q:
        changes["quant"] = dataclasses.replace(c.quant, **q)
    if dispatch_per_operator_s is not None:
        changes["dispatch"] = dataclasses.replace(c.dispatch,
                                                  per_operator_s=dispatch_per_operator_s)
    ph: dict[str, Any] = {}
    if phase_mode is not None:
        ph["mode"] = phase_mode
    if prefill_share is not None:
        ph.update(prefill_compute_share=prefill_share, prefill_bandwidth_share=prefill_share,
                  prefill_sram_share=prefill_share)
    if reconfiguration_latency_s is not None:
        ph["reconfiguration_latency_s"] = reconfiguration_latency_s
    try:
        if ph:
            changes["phase"] = dataclasses.replace(c.phase, **ph)
        sources = dict(c.sources)
        sources.update(notes)
        return dataclasses.replace(c, name=name or f"{c.name}-variant", sources=sources,
                                   **changes)
    except ValueError as exc:
        raise UserError(f"chip_variant: {exc}") from None


def list_studies() -> list[tuple[str, str]]:
    """(name, question) of every study in the ``studies`` package."""
    reg = _studies()
    return [(n, reg.get_study(n).QUESTION) for n in reg.REGISTRY]


def study(name: str, out_dir: str | Path, quick: bool = False, seed: int = 0):
    """Run a study and write its outputs to ``out_dir``; returns its ``StudyResult``.

    Studies sit above chipdse (they use only this module), so they are looked up by module
    name at call time, like plugins, rather than imported here.
    """
    reg = _studies()
    try:
        mod = reg.get_study(name)
    except KeyError as exc:
        raise UserError(str(exc).strip('"')) from None
    result = mod.run(out_dir, quick=quick, seed=seed)
    reg.write_result(result, out_dir, quick, seed)
    return result


def _studies():
    import importlib

    return importlib.import_module("studies")


def frame_estimate(chip: str | Path | Chip, model: str | Path | ModelArch | None = None,
                   trace: str | Path = "vla-drive-10hz", precision: Precision | None = None,
                   stream: str | None = None, options: CostOptions = CostOptions()):
    """Uncontended latency and energy of one frame (request) of a trace's stream: vision
    encoder + prefill + decode, each phase summed from the same operator costs the simulator
    uses. ``model`` fills the trace's language model where the trace leaves it open."""
    t = load_trace(trace)
    if model is not None:
        t = t.with_model(load_model(model))
    if t.missing_models():
        raise UserError(f"trace {t.name}: streams {', '.join(t.missing_models())} need a "
                        "language model (pass model=...)")
    names = [s.name for s in t.streams]
    if stream is None:
        s = t.streams[0]
    elif stream in names:
        s = t.streams[names.index(stream)]
    else:
        raise UserError(f"trace {t.name} has no stream {stream!r} (streams: {', '.join(names)})")
    pre_cp, dec_cp = phase_params(chip, options)
    return request_estimate(s.request, pre_cp, precision or Precision(), options,
                            decode_chip=dec_cp)
