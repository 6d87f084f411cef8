"""The calibration front doors: fit a chip's family terms to measurements
(:func:`calibrate`), and measure how well the shipped terms hold (:func:`validate`, with
cross-validation)."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from chipdse.calibrate.fit import FitResult, fit_terms
from chipdse.calibrate.measurements import (
    Measurement,
    MeasurementSet,
    builtin_measurements_path,
    load_measurements,
)
from chipdse.calibrate.predict import Loader, Target, build_targets, candidate_terms, predict
from chipdse.calibrate.tables import mape_table, prediction_table
from chipdse.calibrate.terms import format_short, is_overhead, prior, term_value
from chipdse.errors import UserError
from microarch.chip import Chip
from microarch.loader import load_chip

__all__ = ["Calibration", "calibrate", "Validation", "validate", "leave_one_model_out",
           "select_rows", "row_ranges"]


def leave_one_model_out(targets: Sequence[Target], chips: Mapping[str, Chip] | None = None,
                        prior_weight: float = 0.1, loader: Loader | None = None,
                        progress: Callable[[str], None] | None = None) -> pd.DataFrame:
    """Cross-validation: for every model, fit on the other models' rows of the same chip
    family, then predict the held-out rows. Returns :func:`prediction_table` rows plus the
    fold's fitted values (``fold_terms``)."""
    loader = loader or Loader(chips)
    fam = lambda t: loader.chip(t.m.chip or "").family  # noqa: E731
    parts = []
    for family in sorted({fam(t) for t in targets}):
        group = [t for t in targets if fam(t) == family]
        for model in sorted({t.m.model_ref or "" for t in group}):
            test = [t for t in group if t.m.model_ref == model]
            train = [t for t in group if t.m.model_ref != model]
            if progress:
                progress(f"{family}: leaving out {model}")
            if not train:
                continue
            fit = fit_terms(train, prior_weight=prior_weight, loader=loader)
            vals = {**fit.held, **fit.values}
            # Terms the held-out rows need that no training row identified stay at the prior.
            for n in candidate_terms(test, loader=loader):
                vals.setdefault(n, prior(n))
            pred = predict(test, [vals], loader=loader)[:, 0]
            tab = prediction_table(test, pred)
            tab["family"] = family
            tab["held_out"] = model
            tab["fold_terms"] = "; ".join(f"{k}={format_short(k, v)}"
                                          for k, v in sorted(vals.items()))
            parts.append(tab)
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

    @property
    def values(self) -> dict[str, float]:
        return dict(self.fit.values)

    def source_text(self, carried_from: str | None = None) -> str:
        f = self.fit
        devices = sorted({d for d in f.table.device})
        text = (f"fitted by chipdse calibrate to rows {row_ranges(f.rows)} of "
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
            rows.append(dict(term=t.name, value=t.value * k, unit="us" if ov else "fraction",
                             prior=t.prior * k, status=t.status + (" (at bound)" if t.at_bound
                                                                    else ""),
                             sensitivity=t.sensitivity,
                             std=(t.rel_std * k) if t.status != "not identified" else math.nan))
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
    targets = build_targets(rows, phases)
    if not targets:
        raise UserError(f"no row of {Path(ms.path).name} is measured on chip {obj.name!r} "
                        f"(devices mapped: {', '.join(ms.chips) or 'none'}); map a device to it "
                        f"with --device 'NAME={ref}'")
    loader = Loader({ref: obj})
    names = list(terms) if terms is not None else candidate_terms(targets, loader=loader)
    # A term the rows cannot identify keeps the chip's own value (it is not written either).
    hold = {n: term_value(obj, n) for n in names}
    fit = fit_terms(targets, terms=names, prior_weight=prior_weight, hold=hold, loader=loader)
    return Calibration(ref, obj, fit, ms, list(batches) if batches else None)


def as_measurement_set(measurements: str | Path | MeasurementSet | None, device_map, model_map
            ) -> MeasurementSet:
    if isinstance(measurements, MeasurementSet):
        return measurements
    return load_measurements(measurements or builtin_measurements_path(), device_map, model_map)


@dataclass
class Validation:
    """Result of :func:`validate`: per-row predictions (``results``), the cross-validation
    (``loo``), MAPE tables, and the rows that were not mapped."""

    results: pd.DataFrame
    loo: pd.DataFrame
    summary: pd.DataFrame
    unmapped: pd.DataFrame
    measurements: MeasurementSet


def validate(measurements: str | Path | MeasurementSet | None = None,
             chips: Sequence[str | Chip] | None = None,
             device_map: Mapping[str, str] | None = None,
             model_map: Mapping[str, str] | None = None, batches: Sequence[int] | None = None,
             loo: bool = True, prior_weight: float = 0.1,
             progress: Callable[[str], None] | None = None) -> Validation:
    """Predicted vs measured for every mapped row (with the chips as they are: presets, or the
    ``chips`` given, matched to rows by name), and leave-one-model-out cross-validation."""
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
    parts = [mape_table(results).assign(predictor="preset")]
    loo_tab = pd.DataFrame()
    if loo:
        loo_tab = leave_one_model_out(targets, prior_weight=prior_weight, loader=loader,
                                      progress=progress)
        if not loo_tab.empty:
            key = ["row", "phase"]
            results = results.merge(
                loo_tab[key + ["predicted", "error"]].rename(
                    columns={"predicted": "loo_predicted", "error": "loo_error"}),
                on=key, how="left")
            parts.append(mape_table(loo_tab).assign(predictor="leave-one-model-out"))
    summary = pd.concat(parts, ignore_index=True)
    unm = [dict(row=u.row, device=m.device, model=m.model, precision=m.precision_label,
                batch=m.batch, column=u.column, reason=u.reason) for m, u in ms.unmapped]
    skipped = [dict(row=m.row, device=m.device, model=m.model, precision=m.precision_label,
                    batch=m.batch, column=phase, reason=why)
               for m in rows for phase, why in m.skipped_phases.items()]
    unmapped = pd.DataFrame(unm + skipped, columns=["row", "device", "model", "precision",
                                                    "batch", "column", "reason"])
    return Validation(results, loo_tab, summary, unmapped, ms)
