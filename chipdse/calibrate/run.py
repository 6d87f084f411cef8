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
from chipdse.calibrate.predict import Loader, Target, build_targets, candidate_terms, predict
from chipdse.calibrate.tables import mape_table, prediction_table
from chipdse.calibrate.terms import (
    FIT_SOURCE,
    format_short,
    is_overhead,
    kind,
    measured_terms,
    prior,
    term_value,
)
from chipdse.errors import UserError
from microarch.chip import Chip, Efficiency
from microarch.loader import load_chip, load_families, split_mode

__all__ = ["Calibration", "calibrate", "Validation", "validate", "leave_one_model_out",
           "leave_one_device_out", "select_rows", "row_ranges", "ROLES", "row_role",
           "CV_MODES", "fold_values"]


ROLES = ("calibration", "other-stack", "transfer")
"""Role of a row in the fidelity protocol: ``calibration`` (a calibration chip measured with
its family's software stack: fitted), ``other-stack`` (a calibration chip measured with another
engine or version: predicted, not fitted), ``transfer`` (any other chip: predicted with the
terms carried from its family, never fitted)."""


def row_role(t: Target, loader: Loader) -> str:
    """The role of ``t`` (see :data:`ROLES`)."""
    base = split_mode(t.m.chip or "")[0]
    if base not in CALIBRATION_CHIPS:
        return "transfer"
    stack = load_families().get(loader.chip(t.m.chip or "").family, {}).get("stack")
    if stack and not t.m.engine.startswith(stack):
        return "other-stack"
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


def calibrate(chip: str | Chip, measurements: str | Path | MeasurementSet | None = None,
              device_map: Mapping[str, str] | None = None,
              model_map: Mapping[str, str] | None = None, batches: Sequence[int] | None = None,
              phases: Sequence[str] = ("decode", "prefill"), terms: Sequence[str] | None = None,
              prior_weight: float = 0.1) -> Calibration:
    """Fit ``chip``'s family terms to the rows of ``measurements`` measured on it (the
    built-in data by default)."""
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
                            f"with {stack!r}; the rows have {', '.join(sorted(other))})")
    targets = build_targets(rows, phases)
    if not targets:
        raise UserError(f"no row of {Path(ms.path).name} is measured on chip {obj.name!r} "
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
    return Calibration(ref, obj, fit, ms, list(batches) if batches else None, measured)


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


CV_MODES = ("none", "model", "device")


def validate(measurements: str | Path | MeasurementSet | None = None,
             chips: Sequence[str | Chip] | None = None,
             device_map: Mapping[str, str] | None = None,
             model_map: Mapping[str, str] | None = None, batches: Sequence[int] | None = None,
             cv: str = "model", prior_weight: float = 0.1,
             progress: Callable[[str], None] | None = None) -> Validation:
    """Predicted vs measured for every mapped row (with the chips as they are: presets, or the
    ``chips`` given, matched to rows by name), and cross-validation: ``cv`` is ``none``,
    ``model`` (leave-one-model-out) or ``device`` (leave-one-model-out and
    leave-one-device-out). Only calibration rows are fitted (:data:`ROLES`)."""
    if cv not in CV_MODES:
        raise UserError(f"cv must be one of {', '.join(CV_MODES)}, got {cv!r}")
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
    return Validation(results, loo_tab, summary, unmapped, ms, lodo_tab)
