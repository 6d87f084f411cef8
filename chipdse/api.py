"""The front door: load chips and models, estimate, and (in later modules) simulate and search.

Everything here takes names or objects and returns plain results; the CLI is a thin layer over
these functions.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from chipdse import accounting, plan_cache
from chipdse.accounting import RequestEstimate, lone_phases, request_estimate
from chipdse.analytic import evaluate
from chipdse.cost import BOUNDS, ChipParams, CostOptions, op_cost
from chipdse.errors import UserError
from microarch.area import chip_area_mm2
from microarch.chip import Chip
from microarch.excerpt import excerpt
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
from workloads.trace import Trace, VLARequest, list_traces, load_trace

if TYPE_CHECKING:  # the names of _LAZY, for type checkers
    import pandas as pd

    from chipdse.calibrate import (
        Calibration,
        Validation,
        builtin_measurements_path,
        calibrate,
        load_measurements,
        validate,
    )
    from chipdse.search import (
        LAWS,
        WORKLOADS,
        Budgets,
        ChipSizingProblem,
        CoDesignProblem,
        PlasProblem,
        SearchProblem,
        SearchResult,
        Workload,
        dominated_share,
        fit_law,
        fit_law_csv,
        get_law,
        hypervolume,
        pareto_figure,
        pareto_mask,
        perplexity,
        run_search,
    )
    from chipdse.search.robustness import front_robustness
    from chipdse.sim import SimOptions, SimResult, simulate, with_phase
    from chipdse.system import SystemEstimate, estimate_system, simulate_system
    from microarch.system import Link, System, list_systems, load_system

# Names of the front door that live in heavier modules (pandas, scipy, simpy, pymoo): each is
# imported the first time it is asked for (PEP 562), so ``chipdse estimate`` loads none of them.
_LAZY: dict[str, str] = {
    **dict.fromkeys(("Calibration", "Validation", "builtin_measurements_path", "calibrate",
                     "load_measurements", "validate"), "chipdse.calibrate"),
    **dict.fromkeys(("LAWS", "WORKLOADS", "Budgets", "ChipSizingProblem", "CoDesignProblem",
                     "PlasProblem", "SearchProblem", "SearchResult", "Workload",
                     "dominated_share", "evaluate_phases", "fit_law", "fit_law_csv", "get_law",
                     "hypervolume", "pareto_figure", "pareto_mask", "perplexity",
                     "run_search"), "chipdse.search"),
    "front_robustness": "chipdse.search.robustness",
    **dict.fromkeys(("SimOptions", "SimResult", "simulate", "with_phase"), "chipdse.sim"),
    **dict.fromkeys(("estimate_system", "simulate_system", "SystemEstimate"), "chipdse.system"),
    **dict.fromkeys(("load_system", "list_systems", "System", "Link"), "microarch.system"),
}


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(_LAZY[name]), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


__all__ = ["load_chip", "load_model", "list_chips", "list_models", "make_precision",
           "Estimate", "estimate", "operator_table", "chip_variant", "list_studies", "study",
           "calibrate", "validate", "Calibration", "Validation", "load_measurements",
           "builtin_measurements_path", "simulate", "SimOptions", "SimResult", "with_phase",
           "list_traces", "load_trace", "request_estimate", "RequestEstimate", "frame_passes",
           "frame_estimate", "search", "codesign", "run_search", "SearchResult", "LAWS",
           "get_law", "fit_law", "fit_law_csv", "perplexity", "score_model",
           "dominated_share", "pareto_mask", "hypervolume", "pareto_figure", "WORKLOADS",
           "Budgets", "Workload", "PlasProblem", "ChipSizingProblem", "CoDesignProblem",
           "CostOptions", "experts_touched", "lone_phases", "chip_area_mm2",
           "chip_peak_power_w", "STUDIES_ENTRY_POINTS", "draw", "chip_at", "uncertain_numbers",
           "prediction_error", "estimate_samples", "frame_estimate_samples", "BAND_METRICS",
           "front_robustness", "sweep", "estimate_arrays", "check_formats",
           "format_substitutions", "estimate_system", "simulate_system", "SystemEstimate",
           "load_system", "list_systems", "System", "Link"]


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
    """Latency, throughput, energy and memory of one (chip, model, workload) point.

    Energies follow :mod:`chipdse.accounting`: every operator's energy plus the static power of
    the share of the chip left idle (``idle_energy_j``: the idle partition of a static chip
    that does not power-gate), included in the phase energies and the total."""

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
    idle_energy_j: float
    weights_bytes: float
    kv_cache_bytes: float
    memory_bytes: float
    dram_capacity_bytes: float
    fits_in_memory: bool
    prefill_bottleneck: str
    decode_bottleneck: str
    prefill_time_by_bound: dict
    decode_time_by_bound: dict
    power_mode: str | None = None  # the chip's power mode (None: a chip without modes)
    # GEMM formats the chip runs in a wider format than asked ({asked: ran}), e.g. FP8 on a
    # chip without FP8 lanes: the estimate is of the wider format's speed.
    format_substitutions: dict = field(default_factory=dict)
    bands: dict | None = None  # metric -> (p05, p50, p95) under uncertainty (None: not drawn)
    uncertainty_samples: int | None = None
    uncertainty_seed: int | None = None

    def to_dict(self) -> dict[str, Any]:
        """Every field; the bands flattened to ``<metric>_p05 / _p50 / _p95``."""
        d = asdict(self)
        bands = d.pop("bands")
        for k, (lo, mid, hi) in (bands or {}).items():
            d[f"{k}_p05"], d[f"{k}_p50"], d[f"{k}_p95"] = lo, mid, hi
        return d


def _f(x: Any) -> float:
    return float(np.asarray(x).reshape(-1)[0])


BAND_METRICS = ("prefill_s", "decode_tokens_per_s", "total_s", "energy_j")
"""The metrics an :class:`Estimate` gives 5 / 50 / 95 % percentiles of under uncertainty."""


def _phase_arrays(c: Chip, m: ModelArch, p: Precision, batch: int, prompt: int,
                  generate: int, options: CostOptions, full: ChipParams | None = None):
    """The evaluations behind :func:`estimate` (arrays over the chips stacked in ``full``)."""
    lp = lone_phases(c, options, full=full)
    pre = evaluate(m, lp.prefill, p, batch, prompt, 0, options, decode="exact",
                   logits="last" if m.causal else "none", with_bounds=full is None)
    # The decode evaluation skips its prefill pass (``pre`` has it): ``ev.prefill`` is zero.
    ev = evaluate(m, lp.decode, p, batch, prompt, generate, options, decode="exact",
                  with_bounds=full is None, with_prefill=False) if generate else pre
    return lp, pre, ev


def estimate(chip: str | Path | Chip, model: str | Path | ModelArch,
             precision: Precision | None = None, batch: int = 1, prompt: int = 1024,
             generate: int = 16, options: CostOptions = CostOptions(),
             uncertainty: int | None = None, seed: int = 0) -> Estimate:
    """Estimate one design point (every decode step costed at its own context), accounted
    as one request run alone (:mod:`chipdse.accounting`): on a chip with a static phase
    partition, prefill runs on the prefill share and decode on the rest.

    With ``uncertainty=N``, the chip's uncertain numbers and the cost model's prediction error
    are drawn ``N`` times (seeded by ``seed``; :mod:`chipdse.uncertainty`) and evaluated at
    once; the estimate then carries the 5 / 50 / 95 % percentiles of :data:`BAND_METRICS`
    (:attr:`Estimate.bands`). The point values stay those of the chip as it is.

    Calls in a loop reuse a cached plan per (chip, model, precision, options) and the passes
    already costed (:mod:`chipdse.plan_cache`; the numbers are the evaluator's to the bit).
    Chips and models are matched by identity: pass the same loaded objects (or names, which
    resolve to the same objects while their files are unchanged); a chip rebuilt on every
    call (``chip_variant`` inside the loop) is a new plan every time."""
    if batch < 1 or prompt < 1 or generate < 0:
        raise UserError(f"batch and prompt must be >= 1 and generate >= 0 "
                        f"(got batch={batch}, prompt={prompt}, generate={generate})")
    if uncertainty is not None and uncertainty < 1:
        raise UserError(f"uncertainty: the number of samples must be >= 1, got {uncertainty}")
    # Names resolve to the same objects while their files are unchanged (cached plans).
    c = chip if isinstance(chip, Chip) else plan_cache.load_chip_cached(chip)
    m = model if isinstance(model, ModelArch) else plan_cache.load_model_cached(model)
    if not m.causal and generate > 0:
        where = f"{Path(str(model)).name}: " if isinstance(model, (str, Path)) and str(
            model).endswith((".yaml", ".yml", ".json")) else ""
        raise UserError(f"{where}causal: false: {m.name} is an encoder, it has no decode phase "
                        "(use --generate 0)")
    p = precision or Precision()
    one, pre_bb, dec_bb, subs = _estimate_values(c, m, p, batch, prompt, generate, options)
    bad = [k for k in ("prefill_s", "decode_s", "energy_j") if not np.isfinite(one[k])]
    if bad:  # a number far outside any chip's range overflowed the arithmetic
        raise UserError(f"{c.name}: the estimate of {', '.join(bad)} is not finite; a number of "
                        "the chip or model is outside any physical range")
    del one["decode_s"]
    bands = (_bands(c, m, p, batch, prompt, generate, options, uncertainty, seed)
             if uncertainty else None)
    return Estimate(
        chip=c.name, power_mode=c.power_mode, model=m.name, precision=p.label(), batch=batch,
        prompt_tokens=prompt, generate_tokens=generate, **one, format_substitutions=subs,
        prefill_time_by_bound=pre_bb, decode_time_by_bound=dec_bb,
        bands=bands, uncertainty_samples=uncertainty, uncertainty_seed=seed if uncertainty
        else None,
    )


def _estimate_values(c: Chip, m: ModelArch, p: Precision, batch: Any, prompt: Any,
                     generate: Any, options: CostOptions, fast: bool = True
                     ) -> tuple[dict[str, Any], dict[str, float], dict[str, float], dict]:
    """The numbers of :func:`estimate` (its number fields and ``decode_s``, the prefill and
    decode time by bound, the format substitutions): from a cached plan
    (:mod:`chipdse.plan_cache`) when the counts are ints and the decode fits one chunk, else
    (or with ``fast=False``) from :func:`estimate_arrays`. Both give the same bits."""
    if fast and type(batch) is int and type(prompt) is int and type(generate) is int \
            and generate <= plan_cache.MAX_STEPS:
        plan = plan_cache.plan_for(c, m, p, options)
        if plan.substitutions is None:
            _check_formats(c, m, p)
            plan.substitutions = format_substitutions(c, p)
        return (*_point_values(plan, batch, prompt, generate), dict(plan.substitutions))
    _check_formats(c, m, p)
    a = estimate_arrays(c, m, p, batch, prompt, generate, options)
    one = {k: (_f(v) if k not in _TEXT_FIELDS else str(np.asarray(v).reshape(-1)[0]))
           for k, v in a.items() if k not in ("prefill_time_by_bound", "decode_time_by_bound")}
    one["fits_in_memory"] = bool(np.asarray(a["fits_in_memory"]).reshape(-1)[0])
    return (one, {k: _f(v) for k, v in a["prefill_time_by_bound"].items()},
            {k: _f(v) for k, v in a["decode_time_by_bound"].items()}, format_substitutions(c, p))


def _point_values(plan: plan_cache.EstimatePlan, batch: int, prompt: int, generate: int
                  ) -> tuple[dict[str, Any], dict[str, float], dict[str, float]]:
    """:func:`estimate_arrays` at one point from a cached plan, as floats (the same
    arithmetic, so the same bits): the :class:`Estimate` number fields and ``decode_s``, and
    the prefill and decode time by bound."""
    lp = plan.phases
    pre = plan.prefill(batch, prompt, "last" if plan.model.causal else "none")
    kv_end, mem, cap = plan.memory(batch, prompt, generate)
    pre_s = float(pre.time_s)
    pre_j = float(pre.energy_j) + lp.prefill_idle_w * pre_s
    nan = float("nan")
    if generate:
        dec = plan.decode(batch, prompt, generate)
        dec_s = float(dec.time_s)
        per_token = dec_s / generate
        dec_j = float(dec.energy_j) + lp.decode_idle_w * dec_s
        tps, j_per_token = batch / per_token, dec_j / (generate * float(batch))
        dec_bn, dec_bb = dec.bottleneck, dec.time_by_bound()
    else:
        dec_s = dec_j = 0.0
        per_token = tps = j_per_token = nan
        dec_bn, dec_bb = "none", {}
    one = dict(
        prefill_s=pre_s, decode_s=dec_s, decode_s_per_token=per_token,
        decode_tokens_per_s=tps, total_s=pre_s + dec_s, energy_j=pre_j + dec_j,
        prefill_energy_j=pre_j, decode_energy_j_per_token=j_per_token,
        idle_energy_j=lp.prefill_idle_w * pre_s + lp.decode_idle_w * dec_s,
        weights_bytes=float(plan.weights_bytes), kv_cache_bytes=float(kv_end),
        memory_bytes=float(mem), dram_capacity_bytes=float(cap),
        fits_in_memory=bool(mem <= cap), prefill_bottleneck=pre.bottleneck,
        decode_bottleneck=dec_bn)
    return one, pre.time_by_bound(), dec_bb


_TEXT_FIELDS = ("prefill_bottleneck", "decode_bottleneck")


def estimate_arrays(chip: Chip, model: ModelArch, precision: Precision, batch: Any = 1,
                    prompt: Any = 1024, generate: int = 16,
                    options: CostOptions = CostOptions()) -> dict[str, Any]:
    """:func:`estimate`'s numbers for many (batch, prompt) points of one chip, model,
    precision and generate length at once (``batch`` and ``prompt`` broadcast): the
    :class:`Estimate` fields as arrays, plus ``decode_s`` (the whole decode). :func:`estimate`
    is this function at one point; sweeps call it per group."""
    lp, pre, ev = _phase_arrays(chip, model, precision, batch, prompt, generate, options)
    shape = np.broadcast(np.asarray(batch), np.asarray(prompt)).shape
    b = lambda x: np.broadcast_to(np.asarray(x, dtype=float), shape)  # noqa: E731
    n = max(generate, 1)
    batch_f = b(batch)
    pre_s = b(pre.prefill_s)
    dec_s = b(ev.decode.time_s) if generate else b(0.0)
    pre_j = b(pre.prefill.energy_j) + lp.prefill_idle_w * pre_s
    dec_j = b(ev.decode.energy_j) + lp.decode_idle_w * dec_s if generate else b(0.0)
    nan = b(np.nan)
    text = lambda x: np.broadcast_to(np.asarray(x), shape)  # noqa: E731
    return dict(
        prefill_s=pre_s, decode_s=dec_s,
        decode_s_per_token=b(ev.decode_s_per_token) if generate else nan,
        decode_tokens_per_s=b(ev.decode_tokens_per_s) if generate else nan,
        total_s=pre_s + dec_s, energy_j=pre_j + dec_j, prefill_energy_j=pre_j,
        decode_energy_j_per_token=dec_j / (n * batch_f) if generate else nan,
        idle_energy_j=lp.prefill_idle_w * pre_s + lp.decode_idle_w * dec_s,
        weights_bytes=b(ev.weights_bytes), kv_cache_bytes=b(ev.kv_cache_bytes),
        memory_bytes=b(ev.memory_bytes), dram_capacity_bytes=b(ev.dram_capacity_bytes),
        fits_in_memory=np.broadcast_to(np.asarray(ev.fits_in_memory, dtype=bool), shape),
        prefill_bottleneck=text(pre.prefill.bottleneck),
        decode_bottleneck=text(ev.decode.bottleneck) if generate else text("none"),
        prefill_time_by_bound={k: b(v) for k, v in pre.prefill.time_by_bound.items()},
        decode_time_by_bound={k: b(v) for k, v in ev.decode.time_by_bound.items()}
        if generate else {},
    )


def estimate_samples(chip: Chip, model: ModelArch, precision: Precision, batch: int,
                     prompt: int, generate: int, draws, options: CostOptions = CostOptions()
                     ) -> dict[str, np.ndarray]:
    """Per draw (:class:`chipdse.uncertainty.Draws` of ``chip``): prefill_s, decode_s (the
    whole decode), decode_tokens_per_s, total_s and energy_j. The prediction-error factors
    scale each phase's time, and the static power the chip burns over the extra time."""
    full = ChipParams.stack([ChipParams.from_chip(s, ideal=options.ideal_chip)
                             for s in draws.chips[chip.name]])
    lp, pre, ev = _phase_arrays(chip, model, precision, batch, prompt, generate, options, full)
    f = draws.time_factor[chip.name]
    shape = (draws.n,)
    pre_s0 = np.broadcast_to(np.asarray(pre.prefill_s, dtype=float), shape)
    dec_s0 = (np.broadcast_to(np.asarray(ev.decode.time_s, dtype=float), shape) if generate
              else np.zeros(shape))
    pre_j0 = np.asarray(pre.prefill.energy_j, dtype=float) + lp.prefill_idle_w * pre_s0
    dec_j0 = (np.asarray(ev.decode.energy_j, dtype=float) + lp.decode_idle_w * dec_s0
              if generate else np.zeros(shape))
    pre_s, dec_s = pre_s0 * f["prefill"], dec_s0 * f["decode"]
    static_w = np.asarray(full.static_power_w, dtype=float)
    energy = pre_j0 + dec_j0 + static_w * ((pre_s - pre_s0) + (dec_s - dec_s0))
    with np.errstate(divide="ignore", invalid="ignore"):
        tps = np.where(dec_s > 0, max(generate, 1) * batch / dec_s, np.nan) if generate \
            else np.full(shape, np.nan)
    return {"prefill_s": pre_s, "decode_s": dec_s, "decode_tokens_per_s": tps,
            "total_s": pre_s + dec_s, "energy_j": energy}


def _bands(c: Chip, m: ModelArch, p: Precision, batch: int, prompt: int, generate: int,
           options: CostOptions, n: int, seed: int) -> dict[str, tuple[float, float, float]]:
    from chipdse.uncertainty import draw, percentiles

    samples = estimate_samples(c, m, p, batch, prompt, generate, draw([c], n, seed), options)
    return {k: percentiles(samples[k]) for k in BAND_METRICS}


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


def format_substitutions(chip: Chip, precision: Precision) -> dict[str, str]:
    """{asked: executed} for every GEMM format of ``precision`` that ``chip`` runs in another
    (wider) format: the chip has no lanes of the asked one."""
    out = {}
    for fmt in sorted({precision.gemm_format(), precision.gemm_format(precision.head)}):
        try:
            ran = chip.matrix.execution_format(fmt)
        except ValueError:
            continue  # no format runs it at all: check_formats refuses it
        if ran != fmt:
            out[fmt] = ran
    return out


def check_formats(chip: Chip, model: ModelArch, precision: Precision) -> None:
    """Raise :class:`UserError` when ``chip`` cannot execute a GEMM format ``precision``
    needs for ``model``."""
    _check_formats(chip, model, precision)


def sweep(chips: Sequence[str], models: Sequence[str], precisions: Sequence[Precision],
          batch: Sequence[int] = (1,), prompt: Sequence[int] = (1024,),
          generate: Sequence[int] = (16,), options: CostOptions = CostOptions(),
          scheduler: Any = None, systems: Sequence[str] = ()) -> pd.DataFrame:
    """Every combination of the given chips (``NAME@MODE`` for a power mode), models,
    precisions, batch sizes, prompt and generate lengths, one row per point, each accounted
    as :func:`estimate` accounts it (:mod:`chipdse.sweep`; ``scheduler``: a Dask scheduler
    address or Client; ``systems``: multi-chip systems, costed tensor parallel)."""
    from chipdse.sweep import SweepSpec, run_sweep

    spec = SweepSpec(tuple(chips), tuple(models), tuple(precisions), tuple(batch),
                     tuple(prompt), tuple(generate), systems=tuple(systems))
    return run_sweep(spec, options, scheduler)


def operator_table(chip: str | Path | Chip, model: str | Path | ModelArch,
                   precision: Precision | None = None, batch: int = 1, prompt: int = 1024,
                   generate: int = 16, options: CostOptions = CostOptions()) -> pd.DataFrame:
    """Per-operator costs: the prefill pass and the decode step at the mean context.

    Columns: phase, name, engine, count, flops, dram_bytes, sram_bytes, kv_bytes, time_s (per
    instance), total_s (x count), bound, intensity (ops per DRAM byte), fmt.
    """
    import pandas as pd

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
                 weight_sram_bytes: float | None = None,
                 native_moe: bool | None = None, fused_nonlinear: bool | None = None,
                 fused_conversion: bool | None = None, fused_dequant: bool | None = None,
                 dispatch_per_operator_s: float | None = None,
                 phase_mode: str | None = None, prefill_share: float | None = None,
                 reconfiguration_latency_s: float | None = None) -> Chip:
    """A what-if copy of a chip: scaled compute / DRAM bandwidth / SRAM, an added or resized
    KV-cache SRAM, an added weight SRAM (a scratchpad that holds resident weights only, at
    the chip's widest on-chip bandwidth, like an added KV SRAM), engines switched on or off,
    another phase policy. Unchanged fields keep their sources; changed ones are recorded in
    ``sources`` as ``variant``."""
    import dataclasses

    from microarch.chip import MemoryKind, MemoryLevel
    from microarch.power import default_memory_energy

    c = load_chip(chip)
    changes: dict[str, Any] = {}
    notes: dict[str, str] = {}
    for label, v in (("compute_scale", compute_scale), ("dram_bandwidth_scale",
                     dram_bandwidth_scale), ("sram_scale", sram_scale)):
        if not v > 0:
            raise UserError(f"chip_variant: {label} must be > 0, got {excerpt(v)}")
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
    if weight_sram_bytes is not None and weight_sram_bytes > 0:
        bw = c.sram_bandwidth_bytes_per_s
        memory.append(MemoryLevel("weight_sram", MemoryKind.SHARED, weight_sram_bytes, bw,
                                  default_memory_energy("shared", c.technology.node_nm), True,
                                  1.0))
        notes["memory.weight_sram"] = (f"variant: {weight_sram_bytes / 2**20:g} MiB weight "
                                       f"SRAM at {bw / 1e9:g} GB/s")
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


STUDIES_ENTRY_POINTS = "chipdse.studies"
"""Entry-point group that registers studies: each entry names a module (or object) with
``NAME``, ``QUESTION``, ``ORDER`` (reading order) and ``run(out_dir, quick, seed)`` returning a
result with ``write(out_dir, quick, seed)`` and ``verdict_word``. chipdse never imports a study
package itself; ``pip install`` of a package declaring the group is how a study is added."""


def _study_modules() -> dict[str, Any]:
    from importlib.metadata import entry_points

    found = {}
    for ep in entry_points(group=STUDIES_ENTRY_POINTS):
        try:
            found[ep.name] = ep.load()
        except ImportError as exc:
            raise UserError(f"study {ep.name!r} ({ep.value}) cannot be loaded: {exc}") from None
    return dict(sorted(found.items(), key=lambda kv: (getattr(kv[1], "ORDER", 1000), kv[0])))


def list_studies() -> list[tuple[str, str]]:
    """(name, question) of every registered study, in reading order."""
    return [(n, mod.QUESTION) for n, mod in _study_modules().items()]


def study(name: str, out_dir: str | Path, quick: bool = False, seed: int = 0):
    """Run a registered study and write its outputs to ``out_dir``; returns its result."""
    mods = _study_modules()
    if name not in mods:
        raise UserError(f"unknown study {excerpt(name)} (known: {', '.join(mods) or 'none'})")
    result = mods[name].run(out_dir, quick=quick, seed=seed)
    result.write(out_dir, quick, seed)
    return result


def frame_estimate(chip: str | Path | Chip, model: str | Path | ModelArch | None = None,
                   trace: str | Path | Trace = "vla-drive-10hz",
                   precision: Precision | None = None,
                   stream: str | None = None, options: CostOptions = CostOptions()):
    """Uncontended latency and energy of one frame (request) of a trace's stream: vision
    encoder + prefill + decode, each phase summed from the same operator costs the simulator
    uses and accounted as one request run alone (:func:`chipdse.accounting.request_estimate`).
    ``model`` fills the trace's language model where the trace leaves it open."""
    t = trace if isinstance(trace, Trace) else load_trace(trace)
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
    return request_estimate(s.request, load_chip(chip), precision or Precision(), options)


# ---- uncertainty ----------------------------------------------------------------------------


def draw(chips: Sequence[str | Path | Chip], n: int = 1000, seed: int = 0,
         prediction: bool = True):
    """``n`` seeded joint draws of the chips' uncertain numbers and of the cost model's
    prediction error (:func:`chipdse.uncertainty.draw`)."""
    from chipdse.uncertainty import draw as _draw

    return _draw([load_chip(c) for c in chips], n, seed, prediction)


def chip_at(chip: str | Path | Chip, values: dict[str, float]) -> Chip:
    """``chip`` with some of its ranged numbers (by file path, as
    :func:`uncertain_numbers` lists them) set to other values (SI)."""
    from microarch.vary import vary

    return vary(load_chip(chip), values)


def uncertain_numbers(chip: str | Path | Chip):
    """The ranged numbers of ``chip`` (:class:`microarch.vary.Varied`)."""
    from chipdse.uncertainty import uncertain_numbers as _un

    return _un(load_chip(chip))


def prediction_error(chip: str | Path | Chip) -> tuple[str, dict[str, float]]:
    """(role, {phase: sigma of ln time}) of the cost model's error on ``chip``."""
    from chipdse.uncertainty import prediction_error as _pe

    return _pe(load_chip(chip))


def frame_estimate_samples(chip: str | Path | Chip, draws, model: Any = None,
                           trace: str | Path | Trace = "vla-drive-10hz",
                           precision: Precision | None = None, stream: str | None = None,
                           options: CostOptions = CostOptions()) -> dict[str, np.ndarray]:
    """:func:`frame_estimate` per draw of ``chip`` (``draws`` from :func:`draw`): arrays of
    encode_s, prefill_s, decode_s, draft_s, verify_s, action_s, total_s and energy_j, the
    prediction error applied (one-token steps take the decode factor, passes over many
    tokens - the encoder among them - the prefill factor)."""
    c = load_chip(chip)
    t = trace if isinstance(trace, Trace) else load_trace(trace)
    if model is not None:
        t = t.with_model(load_model(model))
    names = [s.name for s in t.streams]
    s = t.streams[0] if stream is None else t.streams[names.index(stream)]
    full = ChipParams.stack([ChipParams.from_chip(x, ideal=options.ideal_chip)
                             for x in draws.chips[c.name]])
    r = request_estimate(s.request, c, precision or Precision(), options, full=full)
    f = draws.time_factor[c.name]
    shape = (draws.n,)
    b = lambda x: np.broadcast_to(np.asarray(x, dtype=float), shape)  # noqa: E731
    # One-token steps (decode, draft) take the decode factor, passes over many tokens
    # (encoder, prefill, verification, action passes) the prefill factor.
    out = {f"{ph}_s": np.zeros(shape) for ph in ("encode", "prefill", "decode", "draft",
                                                 "verify", "action")}
    for pc in r.passes:
        out[f"{pc.phase}_s"] = out[f"{pc.phase}_s"] + b(pc.time_s) * f[
            "decode" if pc.single_token else "prefill"]
    total = sum(out.values())
    extra = total - b(r.total_s)
    energy = b(r.energy_j) + np.asarray(full.static_power_w, dtype=float) * extra
    return {**out, "total_s": total, "energy_j": energy}


def frame_passes(chip: str | Path | Chip, trace: str | Path | Trace | VLARequest,
                 precision: Precision | None = None, draws=None, stream: str | None = None,
                 options: CostOptions = CostOptions()):
    """Every pass of one uncontended frame (:class:`chipdse.accounting.PassCost`: time,
    energy, DRAM bytes, FLOPs and time by bound), at the chip as it is or, with ``draws``
    (:func:`draw`), as arrays over the draws (the prediction error not applied)."""
    from chipdse.accounting import request_passes_cost

    c = load_chip(chip)
    if isinstance(trace, VLARequest):
        req = trace
    else:
        t = trace if isinstance(trace, Trace) else load_trace(trace)
        names = [s.name for s in t.streams]
        if stream is not None and stream not in names:
            raise UserError(f"trace {t.name} has no stream {stream!r} (streams: "
                            f"{', '.join(names)})")
        req = t.streams[0 if stream is None else names.index(stream)].request
    full = None
    if draws is not None:
        full = ChipParams.stack([ChipParams.from_chip(x, ideal=options.ideal_chip)
                                 for x in draws.chips[c.name]])
    return request_passes_cost(req, c, precision or Precision(), options, full)[0]


# ---- search and co-design -----------------------------------------------------------------


def _workload(workload: str | Workload, precision: Any) -> tuple[Workload, float | None]:
    import dataclasses

    from chipdse.search import WORKLOADS, Workload

    if isinstance(workload, Workload):
        w, budget = workload, None
    else:
        if workload not in WORKLOADS:
            raise UserError(f"unknown workload {excerpt(workload)} (known: {', '.join(WORKLOADS)})")
        w, budget = WORKLOADS[workload]
    if precision is not None:
        w = dataclasses.replace(w, precision=precision)
    return w, budget


def search(chip: Any, workload: str | Workload = "driving", precision: Any = None,
           budgets: Budgets | None = None, law: str = "plas",
           objectives: Sequence[str] = ("loss", "latency_s"), paper_model: bool = False,
           tokens: float = 10e9, **run: Any) -> SearchResult:
    """PLAS on one chip (a preset name, a chip .yaml or a Chip): Pareto-optimal architectures
    of the PLAS grid. ``workload`` is a scenario name (its latency budget applies unless
    ``budgets`` is given) or a :class:`Workload`; ``tokens`` is the training budget of the
    loss law (the ``plas`` law holds at 10B only); ``run`` goes to :func:`run_search`."""
    from chipdse.search import Budgets, PlasProblem, run_search

    w, budget = _workload(workload, precision)
    b = budgets or Budgets(latency_s=budget)
    opts = CostOptions.paper() if paper_model else CostOptions()
    return run_search(PlasProblem(load_chip(chip), w, b, law=law, objectives=objectives,
                                  options=opts, tokens=tokens), **run)


def codesign(model: Any = None, workload: str | Workload = "driving", precision: Any = None,
             budgets: Budgets | None = None, law: str = "plas",
             objectives: Sequence[str] | None = None, template: Any = None,
             paper_model: bool = False, tokens: float = 10e9, **run: Any) -> SearchResult:
    """Joint co-design of chip (the :mod:`microarch.template`) and architecture (the PLAS grid);
    with ``model`` (a preset name, a file or a ModelArch) chip sizing for that model.
    Defaults: objectives (loss, latency, area) or, for sizing, (latency, energy, area).
    ``tokens`` is the loss law's training budget; ``run`` goes to :func:`run_search`."""
    from chipdse.search import Budgets, ChipSizingProblem, CoDesignProblem, run_search

    w, budget = _workload(workload, precision)
    b = budgets or Budgets(latency_s=budget)
    opts = CostOptions.paper() if paper_model else CostOptions()
    if model is not None:
        p: SearchProblem = ChipSizingProblem(
            load_model(model), w, b, objectives=objectives or ("latency_s", "energy_j",
                                                                "area_mm2"),
            template=template, options=opts, law=law, tokens=tokens)
    else:
        p = CoDesignProblem(w, b, law=law, objectives=objectives or ("loss", "latency_s",
                                                                     "area_mm2"),
                            template=template, options=opts, tokens=tokens)
    return run_search(p, **run)


def score_model(chip: Any, model: Any, workload: Workload | None = None,
                law: str = "plas", tokens: float = 10e9,
                options: CostOptions | None = None) -> dict[str, float]:
    """Latencies and energy of one existing model on one chip as the searches score a design
    (decode costed as the workload says; the one request accounting), and its predicted loss:
    e.g. the Qwen2.5-0.5B reference of the paper's 19.42 %."""
    from chipdse.search import Workload, evaluate_phases, get_law
    from chipdse.search.laws import arch_inputs, check_tokens

    check_tokens(tokens, law)
    c, m = load_chip(chip), load_model(model)
    w = workload or Workload()
    ph = c.phase
    perf = evaluate_phases(ArchArrays.from_model(m), ChipParams.from_chip(
        c, ideal=(options or CostOptions()).ideal_chip), w, options or CostOptions(),
        accounting.MODE_CODES[ph.mode], (ph.prefill_compute_share, ph.prefill_bandwidth_share,
                                        ph.prefill_sram_share), ph.power_gating)
    x = arch_inputs(m.n_layers, m.d_model, m.n_heads, m.n_kv_heads, m.head_dim, m.ffn_ratio,
                    m.n_experts, m.top_k, m.vocab_size, m.tied_embeddings, tokens)
    law_ = get_law(law)
    return {"prefill_s": float(perf["prefill_s"]), "decode_s": float(perf["decode_s"]),
            "total_s": float(perf["total_s"]), "energy_j": float(perf["energy_j"]),
            "loss": float(law_.predict(x)), "law_in_range": bool(law_.in_range(x))}
