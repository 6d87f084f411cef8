"""The calibration front doors: fit a chip's family terms to measurements
(:func:`calibrate`), and measure how well the shipped terms hold (:func:`validate`, with
cross-validation)."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from chipdse.calibrate.fit import FitResult, fit_terms
from chipdse.calibrate.measurements import (
    CALIBRATION_CHIPS,
    Measurement,
    MeasurementSet,
    builtin_measurements_path,
    load_measurements,
)
from chipdse.calibrate.predict import (
    Loader,
    Target,
    build_targets,
    candidate_terms,
    predict,
    predict_chips,
)
from chipdse.calibrate.tables import mape_table, prediction_table
from chipdse.calibrate.terms import (
    FIT_SOURCE,
    apply_terms,
    bounds,
    format_short,
    is_overhead,
    kind,
    measured_terms,
    plausible,
    prior,
    term_value,
    unit,
)
from chipdse.errors import UserError
from microarch.chip import Chip, Efficiency
from microarch.loader import load_chip, load_families, split_mode
from microarch.schema import Span, excerpt

__all__ = ["Calibration", "calibrate", "Validation", "validate", "leave_one_model_out",
           "leave_one_device_out", "select_rows", "row_ranges", "ROLES", "row_role",
           "is_hybrid_row", "CV_MODES", "fold_values"]


ROLES = ("calibration", "other-stack", "transfer")
"""Role of a row in the fidelity protocol: ``calibration`` (a calibration chip measured with
its family's software stack: fitted), ``other-stack`` (a calibration chip measured with another
engine or version: predicted, not fitted), ``transfer`` (any other chip, or a hybrid model on
any chip: predicted with the terms carried from its family, never fitted).

A hybrid model's row (linear-attention, Mamba-2 or sliding-window layers,
:attr:`workloads.model.ModelArch.is_hybrid`) is a transfer row on the calibration chips too: the
terms are fitted to the dense rows, and the hybrid rows test whether they carry to operators the
fit never saw. Fitting them as well lets kernel paths the cost model does not describe (a
token-by-token linear-attention prefill, see docs/fidelity.md) pull the terms every dense row
uses."""


def is_hybrid_row(m: Measurement, loader: Loader) -> bool:
    """The row's model has hybrid layers (its model reference must be mapped)."""
    return bool(m.model_ref) and loader.model(m.model_ref or "").is_hybrid


def row_role(t: Target, loader: Loader) -> str:
    """The role of ``t`` (see :data:`ROLES`)."""
    base = split_mode(t.m.chip or "")[0]
    if base not in CALIBRATION_CHIPS:
        return "transfer"
    stack = load_families().get(loader.chip(t.m.chip or "").family, {}).get("stack")
    if stack and not t.m.engine.startswith(stack):
        return "other-stack"
    if is_hybrid_row(t.m, loader):
        return "transfer"
    return "calibration"


def held_terms(targets: Sequence[Target], loader: Loader) -> dict[str, float]:
    """Terms a fit to ``targets`` holds instead of fitting: those measured by a published
    microbenchmark on the targets' chips (:func:`measured_terms`), averaged over the chips."""
    per: dict[str, list[float]] = {}
    for ref in sorted({t.m.chip or "" for t in targets}):
        chip = loader.chip(ref)
        mine = [t for t in targets if t.m.chip == ref]
        for n, v in measured_terms(chip, candidate_terms(mine, loader=loader)).items():
            per.setdefault(n, []).append(v)
    return {n: float(np.mean(v)) for n, v in per.items()}


def fit_free(targets: Sequence[Target], loader: Loader, prior_weight: float = 0.1,
             hold: Mapping[str, float] | None = None) -> tuple[FitResult, dict[str, float]]:
    """Fit ``targets`` on every term they use except the :func:`held_terms`; returns the fit
    and the held values."""
    held = held_terms(targets, loader)
    names = [n for n in candidate_terms(targets, loader=loader) if n not in held]
    return fit_terms(targets, terms=names, prior_weight=prior_weight, hold=hold,
                     loader=loader), held


def fold_values(fit: FitResult, test: Sequence[Target], loader: Loader,
                held: Mapping[str, float] | None = None) -> dict[str, float]:
    """The term values a fold predicts its held-out rows with: the fold's fit and the values
    it held (measured on the training chips); a matrix efficiency the fold neither fitted
    nor held is inherited from the nearest such format
    (:meth:`microarch.chip.Efficiency.matrix_for`), any other term falls back to its prior.
    Every term the held-out rows use is set, so none of the held-out chip's shipped values
    leaks into the prediction."""
    vals = {**(held or {}), **fit.values}
    fitted_matrix = {n.rsplit(".", 1)[1]: v for n, v in vals.items()
                     if n.startswith("efficiency.matrix.")}
    inherit = Efficiency(matrix={"default": prior("efficiency.matrix.fp16"), **fitted_matrix})
    for n in candidate_terms(test, loader=loader):
        if n in vals:
            continue
        if n.startswith("efficiency.matrix."):
            vals[n] = inherit.matrix_for(n.rsplit(".", 1)[1])
        else:
            vals[n] = prior(n)
    return vals


def _fold(train: Sequence[Target], test: Sequence[Target], prior_weight: float,
          loader: Loader, label: str, held_out: str) -> pd.DataFrame:
    fit, held = fit_free(train, loader, prior_weight)
    vals = fold_values(fit, test, loader, held)
    tab = prediction_table(test, predict(test, [vals], loader=loader)[:, 0])
    tab["fold"] = label
    tab["held_out"] = held_out
    tab["fold_terms"] = "; ".join(f"{k}={format_short(k, v)}" for k, v in sorted(vals.items()))
    return tab


def leave_one_model_out(targets: Sequence[Target], chips: Mapping[str, Chip] | None = None,
                        prior_weight: float = 0.1, loader: Loader | None = None,
                        progress: Callable[[str], None] | None = None) -> pd.DataFrame:
    """Cross-validation over models: for every model of a family's calibration rows, fit on
    the family's rows of the other models and predict the held-out model's rows. Returns
    :func:`prediction_table` rows plus the fold's values (``fold_terms``)."""
    loader = loader or Loader(chips)
    cal = [t for t in targets if row_role(t, loader) == "calibration"]
    fam = lambda t: loader.chip(t.m.chip or "").family  # noqa: E731
    parts = []
    for family in sorted({fam(t) for t in cal}):
        group = [t for t in cal if fam(t) == family]
        for model in sorted({t.m.model_ref or "" for t in group}):
            test = [t for t in group if t.m.model_ref == model]
            train = [t for t in group if t.m.model_ref != model]
            if progress:
                progress(f"{family}: leaving out {model}")
            if train:
                parts.append(_fold(train, test, prior_weight, loader, family, model))
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()


def leave_one_device_out(targets: Sequence[Target], chips: Mapping[str, Chip] | None = None,
                         prior_weight: float = 0.1, loader: Loader | None = None,
                         progress: Callable[[str], None] | None = None) -> pd.DataFrame:
    """Cross-validation over devices: for every calibration device, fit one set of terms to
    the calibration rows of every other device and predict the held-out device's rows. Each
    family here has one calibration device, so every fold predicts a family it has no row of:
    a cross-family prediction, which is what predicting a new chip is."""
    loader = loader or Loader(chips)
    cal = [t for t in targets if row_role(t, loader) == "calibration"]
    dev = lambda t: split_mode(t.m.chip or "")[0]  # noqa: E731
    parts = []
    for device in sorted({dev(t) for t in cal}):
        test = [t for t in cal if dev(t) == device]
        train = [t for t in cal if dev(t) != device]
        if progress:
            progress(f"leaving out {device}")
        if train:
            parts.append(_fold(train, test, prior_weight, loader, "all other devices",
                               device))
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()


def fold_chip(chip: Chip, fit: FitResult, vals: Mapping[str, float]) -> Chip:
    """``chip`` as a fold predicts it: the fold's term values, the fold's fitted terms with
    their 5-95 % interval (data-only covariance) and every other term of the fold with its
    plausible span, so that :func:`chipdse.uncertainty.draw` samples the fold's uncertainty."""
    c = apply_terms(chip, vals)
    ranges, sources = dict(c.ranges), dict(c.sources)
    for n, v in vals.items():
        if n.startswith("efficiency.matrix.") and n not in fit.values:
            continue  # held at the chip's measured value, with its measured range
        key = f"family:{chip.family}.{n}"
        iv = term_interval(fit, n)
        if iv is not None:
            ranges[key] = Span(iv[0], iv[1], float(v))
            sources[key] = f"source: {FIT_SOURCE} (fold)"
        else:
            lo, hi = plausible(n)
            ranges[key] = Span(min(lo, v), max(hi, v), float(v))
            sources[key] = "assumption: not fitted in this fold; plausible span"
    return dataclasses.replace(c, ranges=ranges, sources=sources)


def lomo_bands(targets: Sequence[Target], loader: Loader, n: int = 200, seed: int = 0,
               prior_weight: float = 0.1, progress: Callable[[str], None] | None = None
               ) -> pd.DataFrame:
    """The 5-95 % band of every calibration row predicted left-one-model-out: the fold's
    terms drawn from its fit (and plausible spans), the chip's assumptions from their ranges,
    and the cost model's prediction error (:mod:`chipdse.uncertainty`). One row per target:
    measured and predicted seconds, p05 / p50 / p95, whether the band holds the measurement,
    and its relative half-width (p95 - p05) / (2 p50)."""
    from chipdse.uncertainty import draw

    cal = [t for t in targets if row_role(t, loader) == "calibration"]
    fam = lambda t: loader.chip(t.m.chip or "").family  # noqa: E731
    parts = []
    for family in sorted({fam(t) for t in cal}):
        group = [t for t in cal if fam(t) == family]
        for k, model in enumerate(sorted({t.m.model_ref or "" for t in group})):
            test = [t for t in group if t.m.model_ref == model]
            train = [t for t in group if t.m.model_ref != model]
            if not train:
                continue
            if progress:
                progress(f"bands: {family}: leaving out {model}")
            fit, held = fit_free(train, loader, prior_weight)
            vals = fold_values(fit, test, loader, held)
            variants, factors = {}, {}
            for i, ref in enumerate(sorted({t.m.chip or "" for t in test})):
                chip = fold_chip(loader.chip(ref), fit, vals)
                d = draw([chip], n, seed + 1000 * k + i)
                variants[ref], factors[ref] = d.chips[chip.name], d.time_factor[chip.name]
            t_s = predict_chips(test, variants, loader)
            for t, row in zip(test, t_s):
                row = row * factors[t.m.chip or ""][t.phase]
                lo, mid, hi = np.percentile(row, [5, 50, 95])
                parts.append(dict(row=t.m.row, device=t.m.device, family=family,
                                  held_out=model, phase=t.phase, batch=t.batch,
                                  measured_s=t.measured_s, p05_s=lo, p50_s=mid, p95_s=hi,
                                  covered=bool(lo <= t.measured_s <= hi),
                                  half_width=(hi - lo) / (2 * mid)))
    return pd.DataFrame(parts)


def band_summary(bands: pd.DataFrame) -> pd.DataFrame:
    """Coverage of the 5-95 % band and its median relative half-width, per family and phase
    and over all rows."""
    if bands.empty:
        return pd.DataFrame(columns=["family", "phase", "rows", "coverage_pct",
                                     "median_half_width_pct"])
    def agg(d):
        return pd.Series({"rows": len(d), "coverage_pct": 100 * d.covered.mean(),
                          "median_half_width_pct": 100 * d.half_width.median()})
    per = bands.groupby(["family", "phase"]).apply(agg, include_groups=False).reset_index()
    tot = agg(bands)
    per.loc[len(per)] = {"family": "all", "phase": "all", **tot.to_dict()}
    per["rows"] = per["rows"].astype(int)
    return per


def row_ranges(rows: Iterable[int]) -> str:
    """[1, 2, 3, 5] -> "1-3, 5"."""
    rs = sorted(set(rows))
    out, i = [], 0
    while i < len(rs):
        j = i
        while j + 1 < len(rs) and rs[j + 1] == rs[j] + 1:
            j += 1
        out.append(f"{rs[i]}" if i == j else f"{rs[i]}-{rs[j]}")
        i = j + 1
    return ", ".join(out)


def select_rows(ms: MeasurementSet, chip: str | Chip | None = None,
                batches: Sequence[int] | None = None) -> tuple[list[Measurement], Chip | None]:
    """Rows of ``ms`` measured on ``chip`` (matched by preset reference or by chip name), with
    the rows' chip replaced by ``chip`` so that predictions use it; optionally only ``batches``.
    """
    rows = [m for m in ms.rows if not batches or m.batch in batches]
    if chip is None:
        return rows, None
    ref = chip if isinstance(chip, str) else None
    obj = chip if isinstance(chip, Chip) else load_chip(chip)
    names: dict[str, str] = {}
    picked = []
    for m in rows:
        if m.chip not in names:
            names[m.chip or ""] = load_chip(m.chip or "").name
        if m.chip == ref or names[m.chip or ""] == obj.name:
            picked.append(dataclasses.replace(m, chip=ref or obj.name))
    return picked, obj


@dataclass
class Calibration:
    """Result of :func:`calibrate`: the fit, the chip it applies to, and where the rows came
    from."""

    chip_ref: str
    chip: Chip
    fit: FitResult
    measurements: MeasurementSet
    batches: list[int] | None
    measured: dict[str, float] = dataclasses.field(default_factory=dict)
    """Terms held at a published measurement of the chip (not fitted, not written)."""
    widen: float = 1.0
    """Factor on the fit's data-only standard deviations so that they match the
    cross-validated residuals (1 without cross-validation)."""
    prediction_error: dict[str, dict[str, float]] = dataclasses.field(default_factory=dict)
    """``{role: {phase: sigma}}``: spread of ln(predicted / measured time) left-one-model-out
    on this chip (``calibration``) and left-one-device-out (``transfer``)."""
    cv_note: str = ""

    def interval(self, name: str) -> tuple[float, float] | None:
        """5-95 % interval of fitted term ``name`` (SI): the data-only covariance widened by
        :attr:`widen`, clipped to the term's plausible span; None if it was not fitted."""
        return term_interval(self.fit, name, self.widen)

    def correlations(self, min_abs: float = 0.3) -> list[tuple[str, str, float]]:
        """Correlations of the fitted terms' estimates (|r| >= ``min_abs``)."""
        f = self.fit
        if f.covariance is None or len(f.covariance_terms) < 2:
            return []
        sd = np.sqrt(np.diag(f.covariance))
        r = f.covariance / np.outer(sd, sd)
        names = f.covariance_terms
        return [(names[a], names[b], round(float(r[a, b]), 2))
                for a in range(len(names)) for b in range(a + 1, len(names))
                if abs(r[a, b]) >= min_abs and np.isfinite(r[a, b])]

    @property
    def values(self) -> dict[str, float]:
        return dict(self.fit.values)

    def source_text(self, carried_from: str | None = None) -> str:
        f = self.fit
        devices = sorted({d for d in f.table.device})
        text = (f"{FIT_SOURCE} to rows {row_ranges(f.rows)} of "
                f"{Path(self.measurements.path).name} ({'; '.join(devices)}"
                + (f"; batch {', '.join(map(str, self.batches))}" if self.batches else "")
                + f"): decode MAPE {100 * f.mape('decode'):.1f} %, "
                f"prefill MAPE {100 * f.mape('prefill'):.1f} %")
        if carried_from:
            text += f"; fitted on {carried_from}, carried to this chip without refitting"
        return text

    def term_source(self, name: str, carried_from: str | None = None) -> str:
        rep = self.fit.term(name)
        s = self.source_text(carried_from)
        if rep.status == "weak":
            s += "; weakly identified by these rows (leans on the generic prior)"
        for a, b, r in self.fit.correlated:
            if name in (a, b):
                other = b if name == a else a
                s += f"; correlated with {other} (r = {r:+.2f}): the rows fix their combination"
        return s

    def terms_frame(self) -> pd.DataFrame:
        rows = []
        for t in self.fit.terms:
            ov = is_overhead(t.name)
            k = 1e6 if ov else 1.0
            u = "us" if ov else {"elements": "elements", "ops": "ops/element"}.get(
                kind(t.name), "fraction")
            rows.append(dict(term=t.name, value=t.value * k, unit=u,
                             prior=t.prior * k, status=t.status + (" (at bound)" if t.at_bound
                                                                    else ""),
                             sensitivity=t.sensitivity,
                             std=(t.rel_std * k) if t.status != "not identified" else math.nan))
        for n, v in self.measured.items():
            k = 1e6 if is_overhead(n) else 1.0
            rows.append(dict(term=n, value=v * k, unit="us" if k != 1.0 else "fraction",
                             prior=prior(n) * k, status="measured (held)", sensitivity=math.nan,
                             std=math.nan))
        return pd.DataFrame(rows)


Z90 = 1.6448536269514722
"""Standard-normal quantile of 95 %: a 5-95 % interval is +-Z90 sigma."""


def term_interval(fit: FitResult, name: str, widen: float = 1.0) -> tuple[float, float] | None:
    """5-95 % interval of a fitted term (see :meth:`Calibration.interval`)."""
    if fit.covariance is None or name not in fit.covariance_terms or name not in fit.values:
        return None
    j = fit.covariance_terms.index(name)
    sd = float(np.sqrt(max(fit.covariance[j, j], 0.0))) * widen
    v = fit.values[name]
    if kind(name) == "fraction":
        w = min(Z90 * sd, 50.0)  # an unconstrained direction: the plausible span decides
        lo, hi = v * math.exp(-w), v * math.exp(w)
    else:
        lo, hi = v - Z90 * sd * unit(name), v + Z90 * sd * unit(name)
    p_lo, p_hi = plausible(name)
    b_lo, b_hi = bounds(name)
    lo = max(lo, min(p_lo, v), b_lo)
    hi = min(hi, max(p_hi, v), b_hi)
    return float(min(lo, v)), float(max(hi, v))


def _log_errors(tab: pd.DataFrame) -> pd.Series:
    return np.log(tab.predicted_s / tab.measured_s)


def _rms(x) -> float:
    x = np.asarray(x, dtype=float)
    return float(np.sqrt(np.mean(x ** 2))) if x.size else math.nan


def cross_validated_spread(ref: str, obj: Chip, targets: Sequence[Target], ms: MeasurementSet,
                           fit: FitResult, prior_weight: float,
                           progress: Callable[[str], None] | None = None
                           ) -> tuple[float, dict[str, dict[str, float]], str]:
    """(widening factor, prediction error per role and phase, a note) for a calibration:
    the RMS of the leave-one-model-out log errors over the in-sample ones (at least 1), the
    RMS of those log errors per phase (``calibration``), and of the leave-one-device-out ones
    predicting this chip from every other calibration device (``transfer``)."""
    loader = Loader({ref: obj})
    lomo = leave_one_model_out(targets, loader=loader, prior_weight=prior_weight,
                               progress=progress)
    err: dict[str, dict[str, float]] = {}
    note = []
    widen = 1.0
    if not lomo.empty:
        cv = _log_errors(lomo)
        ins = _log_errors(fit.table)
        widen = max(1.0, _rms(cv) / max(_rms(ins), 1e-9))
        err["calibration"] = {ph: round(_rms(cv[lomo.phase == ph]), 4)
                              for ph in ("decode", "prefill") if (lomo.phase == ph).any()}
        note.append(f"leave-one-model-out over {lomo.held_out.nunique()} models "
                    f"({len(lomo)} rows)")
    base = split_mode(ref)[0]
    others, _ = select_rows(ms, None, None)
    pool = build_targets(others)
    full = Loader()
    pool = [t for t in pool if row_role(t, full) == "calibration"
            and split_mode(t.m.chip or "")[0] != base]
    if pool and targets:
        if progress:
            progress(f"leaving out {base}: fitting {len(pool)} rows of the other devices")
        fit_o, held = fit_free(pool, full, prior_weight)
        loader.chips.update({k: v for k, v in full.chips.items() if k not in loader.chips})
        vals = fold_values(fit_o, targets, loader, held)
        tab = prediction_table(targets, predict(targets, [vals], loader=loader)[:, 0])
        e = _log_errors(tab)
        err["transfer"] = {ph: round(_rms(e[tab.phase == ph]), 4)
                           for ph in ("decode", "prefill") if (tab.phase == ph).any()}
        note.append(f"leave-one-device-out from {len(pool)} rows of "
                    f"{', '.join(sorted({t.m.device for t in pool}))}")
    return widen, err, "; ".join(note)


def calibrate(chip: str | Chip, measurements: str | Path | MeasurementSet | None = None,
              device_map: Mapping[str, str] | None = None,
              model_map: Mapping[str, str] | None = None, batches: Sequence[int] | None = None,
              phases: Sequence[str] = ("decode", "prefill"), terms: Sequence[str] | None = None,
              prior_weight: float = 0.1, cv: bool = False,
              progress: Callable[[str], None] | None = None,
              include_hybrid: bool = False) -> Calibration:
    """Fit ``chip``'s family terms to the rows of ``measurements`` measured on it (the
    built-in data by default). With ``cv``, also cross-validate: the fitted terms' intervals
    are widened to the cross-validated residuals and the prediction error per phase is
    measured (:func:`cross_validated_spread`). Rows of hybrid models are transfer rows
    (:data:`ROLES`) and are not fitted unless ``include_hybrid``; when they are the only rows,
    they are fitted."""
    ms = as_measurement_set(measurements, device_map, model_map)
    rows, obj = select_rows(ms, chip, batches)
    ref = chip if isinstance(chip, str) else obj.name
    stack = load_families().get(obj.family, {}).get("stack")
    if stack:  # the family's terms describe one software stack: fit only its rows
        other = {m.engine for m in rows if not m.engine.startswith(stack)}
        rows = [m for m in rows if m.engine.startswith(stack)]
        if other and not rows:
            raise UserError(f"{Path(ms.path).name}: no row measured on chip {obj.name!r} runs "
                            f"family {obj.family!r}'s software stack (column engine must begin "
                            f"with {excerpt(stack)}; the rows have {', '.join(sorted(other))})")
    if not include_hybrid:
        probe = Loader({ref: obj})
        dense = [m for m in rows if not is_hybrid_row(m, probe)]
        rows = dense or rows
    targets = build_targets(rows, phases)
    if not targets:
        raise UserError(f"no row of {Path(ms.path).name} is measured on chip {excerpt(obj.name)} "
                        f"(devices mapped: {', '.join(ms.chips) or 'none'}); map a device to it "
                        f"with --device 'NAME={ref}'")
    loader = Loader({ref: obj})
    names = list(terms) if terms is not None else candidate_terms(targets, loader=loader)
    # A term measured on the chip by a published microbenchmark is held, not fitted.
    measured = measured_terms(obj, names)
    names = [n for n in names if n not in measured]
    # A term the rows cannot identify keeps the chip's own value (it is not written either).
    hold = {n: term_value(obj, n) for n in names}
    fit = fit_terms(targets, terms=names, prior_weight=prior_weight, hold=hold, loader=loader)
    cal = Calibration(ref, obj, fit, ms, list(batches) if batches else None, measured)
    if cv:
        cal.widen, cal.prediction_error, cal.cv_note = cross_validated_spread(
            ref, obj, targets, ms, fit, prior_weight, progress)
    return cal


def as_measurement_set(measurements: str | Path | MeasurementSet | None, device_map, model_map
            ) -> MeasurementSet:
    if isinstance(measurements, MeasurementSet):
        return measurements
    return load_measurements(measurements or builtin_measurements_path(), device_map, model_map)


@dataclass
class Validation:
    """Result of :func:`validate`: per-row predictions (``results``: measured, preset and
    cross-validated predictions, each row's ``role``), the cross-validation folds (``loo``:
    leave-one-model-out, ``lodo``: leave-one-device-out), MAPE per device, phase, role and
    predictor (``summary``), and the rows that were not mapped."""

    results: pd.DataFrame
    loo: pd.DataFrame
    summary: pd.DataFrame
    unmapped: pd.DataFrame
    measurements: MeasurementSet
    lodo: pd.DataFrame = dataclasses.field(default_factory=pd.DataFrame)
    bands: pd.DataFrame = dataclasses.field(default_factory=pd.DataFrame)
    band_summary: pd.DataFrame = dataclasses.field(default_factory=pd.DataFrame)


CV_MODES = ("none", "model", "device")


def validate(measurements: str | Path | MeasurementSet | None = None,
             chips: Sequence[str | Chip] | None = None,
             device_map: Mapping[str, str] | None = None,
             model_map: Mapping[str, str] | None = None, batches: Sequence[int] | None = None,
             cv: str = "model", prior_weight: float = 0.1,
             progress: Callable[[str], None] | None = None, bands: int = 0,
             seed: int = 0) -> Validation:
    """Predicted vs measured for every mapped row (with the chips as they are: presets, or the
    ``chips`` given, matched to rows by name), and cross-validation: ``cv`` is ``none``,
    ``model`` (leave-one-model-out) or ``device`` (leave-one-model-out and
    leave-one-device-out). Only calibration rows are fitted (:data:`ROLES`). With ``bands=N``
    (and cross-validation), the honesty of the uncertainty bands: each calibration row's
    left-one-model-out 5-95 % band from ``N`` draws (:func:`lomo_bands`)."""
    if cv not in CV_MODES:
        raise UserError(f"cv must be one of {', '.join(CV_MODES)}, got {excerpt(cv)}")
    ms = as_measurement_set(measurements, device_map, model_map)
    loader = Loader()
    if chips:
        rows: list[Measurement] = []
        for c in chips:
            picked, obj = select_rows(ms, c, batches)
            ref = c if isinstance(c, str) else obj.name
            loader.chips[ref] = obj
            rows += picked
    else:
        rows, _ = select_rows(ms, None, batches)
    targets = build_targets(rows)
    if not targets:
        raise UserError(f"no comparable rows in {Path(ms.path).name} for the chips given")
    pred = predict(targets, [{}], loader=loader)[:, 0]
    results = prediction_table(targets, pred)
    results["role"] = [row_role(t, loader) for t in targets]
    by = ("device", "phase", "role")
    parts = [mape_table(results, by).assign(predictor="preset")]
    key = ["row", "phase"]
    loo_tab = lodo_tab = pd.DataFrame()
    for mode, name, col, fn in (("model", "leave-one-model-out", "loo", leave_one_model_out),
                                ("device", "leave-one-device-out", "lodo",
                                 leave_one_device_out)):
        if cv == "none" or (mode == "device" and cv != "device"):
            continue
        tab = fn(targets, prior_weight=prior_weight, loader=loader, progress=progress)
        if tab.empty:
            continue
        tab["role"] = "calibration"
        results = results.merge(
            tab[key + ["predicted", "error"]].rename(
                columns={"predicted": f"{col}_predicted", "error": f"{col}_error"}),
            on=key, how="left")
        parts.append(mape_table(tab, by).assign(predictor=name))
        if mode == "model":
            loo_tab = tab
        else:
            lodo_tab = tab
    summary = pd.concat(parts, ignore_index=True)
    unm = [dict(row=u.row, device=m.device, model=m.model, precision=m.precision_label,
                batch=m.batch, column=u.column, reason=u.reason) for m, u in ms.unmapped]
    skipped = [dict(row=m.row, device=m.device, model=m.model, precision=m.precision_label,
                    batch=m.batch, column=phase, reason=why)
               for m in rows for phase, why in m.skipped_phases.items()]
    unmapped = pd.DataFrame(unm + skipped, columns=["row", "device", "model", "precision",
                                                    "batch", "column", "reason"])
    band_tab = (lomo_bands(targets, loader, bands, seed, prior_weight, progress)
                if bands and cv != "none" else pd.DataFrame())
    return Validation(results, loo_tab, summary, unmapped, ms, lodo_tab, band_tab,
                      band_summary(band_tab) if not band_tab.empty else pd.DataFrame())
