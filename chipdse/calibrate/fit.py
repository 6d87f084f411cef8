"""Fitting a chip family's terms to measured rows: bounded least squares on log ratios, with a
weak prior, identifiability screening and each term's uncertainty.

The fit minimises squared log ratios ln(predicted / measured) with
:func:`scipy.optimize.least_squares`, inside physical bounds (efficiencies in [0.05, 1],
overheads in [0, 50 us]), plus a weak pull towards the generic prior of each term
(:data:`chipdse.calibrate.terms.TERMS`, independent of the data) so that a term the rows barely
constrain stays finite. Before fitting, every candidate term is moved by a fixed step
(efficiency x 0.8, overhead + 5 us); a term that changes no prediction by 1 % is *not
identified* by those rows (e.g. prefill matrix efficiency from decode-only rows) and is left out
of the fit. After fitting, each term's 1-sigma uncertainty is estimated from the rows alone
(Jacobian at the solution, residual scatter floored at 3 %); a term the rows fix no better than
+-0.5 in ln(efficiency) (about a factor 1.6) or +-2.5 us is reported as *weak*: its value leans on
the prior. Pairs correlated beyond |r| = 0.9 are reported: the rows then fix only their
combination (e.g. FP16 matrix efficiency and the weight-only factor when every GEMM is
weight-only).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from chipdse.calibrate.predict import Loader, Target, candidate_terms, predict
from chipdse.calibrate.tables import prediction_table
from chipdse.calibrate.terms import (
    FRACTION_BOUNDS,
    bounds,
    coordinate,
    is_overhead,
    kind,
    lookup,
    prior,
    unit,
)
from chipdse.errors import UserError
from microarch.chip import Chip

__all__ = ["TermReport", "FitResult", "fit_terms"]

_SCREEN_FACTOR = 0.8      # screening step of the efficiency terms
_SCREEN_MIN = 0.01        # a term must move some prediction by 1 % to be identified
_WEAK_STD = 0.5           # rows alone fix ln(efficiency) to +-0.5 or an overhead to +-2.5 us
_SIGMA_FLOOR = 0.03       # per-row model error assumed at least 3 % when judging uncertainty


@dataclass(frozen=True)
class TermReport:
    """What a fit did with one term.

    status: "fitted" (the rows pin it), "weak" (fitted, but the rows alone leave it uncertain
    by more than a factor 1.6 or 2.5 us, so it leans on the prior), "not identified" (no row
    is sensitive to it; held, not fitted).
    sensitivity: largest |change of ln(predicted time)| over the rows for the screening step.
    rel_std: 1-sigma uncertainty from the rows alone (relative for efficiencies, in seconds
    for overheads).
    """

    name: str
    value: float
    prior: float
    status: str
    sensitivity: float
    rel_std: float = float("nan")
    at_bound: bool = False


@dataclass
class FitResult:
    """Outcome of :func:`fit_terms`."""

    chips: list[str]
    values: dict[str, float]          # fitted terms (status fitted or weak)
    held: dict[str, float]            # terms not identified: the values predictions used
    terms: list[TermReport]
    table: pd.DataFrame               # per target: measured, predicted, error
    correlated: list[tuple[str, str, float]]
    prior_weight: float
    success: bool
    message: str
    covariance: np.ndarray | None = None   # data-only, over ``covariance_terms``
    covariance_terms: tuple[str, ...] = ()
    """Coordinates of :attr:`covariance`: ln(value) for a fraction, value / unit (the prior
    scale, :func:`~chipdse.calibrate.terms.unit`) for any other term."""

    @property
    def rows(self) -> list[int]:
        return sorted(set(int(r) for r in self.table["row"]))

    def mape(self, phase: str) -> float:
        t = self.table[self.table.phase == phase]
        return float(np.mean(np.abs(t.error))) if len(t) else float("nan")

    def term(self, name: str) -> TermReport:
        return next(t for t in self.terms if t.name == name)


def fit_terms(targets: Sequence[Target], chips: Mapping[str, Chip] | None = None,
              terms: Sequence[str] | None = None, prior_weight: float = 0.1,
              hold: Mapping[str, float] | None = None,
              loader: Loader | None = None) -> FitResult:
    """Fit one set of term values to ``targets`` (all chips of the targets share them).

    ``terms`` defaults to :func:`candidate_terms`. ``hold`` gives the values that terms which
    turn out not to be identified keep (default: the :data:`PRIOR`). Every fit starts from the
    prior, so its result does not depend on the chips' current terms.
    """
    if not targets:
        raise UserError("no measurements to fit (no row of these chips has a comparable "
                        "decode or prefill number)")
    loader = loader or Loader(chips)
    chip_refs = sorted({t.m.chip or "" for t in targets})
    names = list(terms) if terms is not None else candidate_terms(targets, loader=loader)
    for n in names:
        lookup(n)
    prior_v = np.array([prior(n) for n in names])
    lo = np.array([bounds(n)[0] for n in names])
    hi = np.array([bounds(n)[1] for n in names])
    x_start = np.clip(prior_v, lo, hi)
    held_vals = {n: (hold or {}).get(n, prior(n)) for n in names}
    measured = np.array([t.measured_s for t in targets])

    # Screening: which terms move any prediction? Screened at the prior (where the fit starts),
    # so that what is identified does not depend on the chip's current values.
    base = {n: float(np.clip(prior(n), *bounds(n))) for n in names}
    sets = [base]
    for n in names:
        v = base[n]
        step = v * _SCREEN_FACTOR
        if step < FRACTION_BOUNDS[0]:
            step = min(v / _SCREEN_FACTOR, FRACTION_BOUNDS[1])
        sets.append({**base, n: step if kind(n) == "fraction" else v + unit(n)})
    t_scr = predict(targets, sets, loader=loader)
    sens = np.max(np.abs(np.log(t_scr[:, 1:] / t_scr[:, :1])), axis=0)
    free = [i for i, n in enumerate(names) if sens[i] >= _SCREEN_MIN]
    fixed = {names[i]: held_vals[names[i]] for i in range(len(names)) if i not in free}
    fnames = [names[i] for i in free]
    # Fit seconds in us, element counts as they are, fractions as they are.
    scale = np.array([1e-6 if is_overhead(n) else 1.0 for n in fnames])

    def values(z: np.ndarray) -> dict[str, float]:
        return {**fixed, **{n: float(v) for n, v in zip(fnames, z * scale)}}

    cache: dict[bytes, np.ndarray] = {}

    def times(zs: list[np.ndarray]) -> np.ndarray:
        return predict(targets, [values(z) for z in zs], loader=loader)

    def prior_res(z: np.ndarray) -> np.ndarray:
        x = z * scale
        return prior_weight * np.array([coordinate(n, v) - coordinate(n, p) for n, v, p in
                                        zip(fnames, x, prior_v[free])])

    def fun(z: np.ndarray) -> np.ndarray:
        key = z.tobytes()
        if key not in cache:
            cache[key] = times([z])[:, 0]
        return np.concatenate([np.log(cache[key] / measured), prior_res(z)])

    def jac(z: np.ndarray) -> np.ndarray:
        zh = hi[free] / scale
        steps = []
        for j in range(len(z)):
            h = 1e-5 * max(abs(z[j]), 1.0)
            h = -h if z[j] + h > zh[j] else h
            steps.append(h)
        zs = [z] + [z + h * np.eye(len(z))[j] for j, h in enumerate(steps)]
        t = times(zs)
        cache[z.tobytes()] = t[:, 0]
        jd = (np.log(t[:, 1:]) - np.log(t[:, :1])) / np.array(steps)
        x = z * scale
        jp = np.diag([prior_weight * (s / unit(n) if kind(n) != "fraction" else 1.0 / v)
                      for n, v, s in zip(fnames, x, scale)])
        return np.vstack([jd, jp])

    if fnames:
        from scipy.optimize import least_squares  # heavy import: only when fitting

        z0 = x_start[free] / scale
        res = least_squares(fun, z0, jac=jac, bounds=(lo[free] / scale, hi[free] / scale),
                            method="trf", x_scale="jac", ftol=1e-8, xtol=1e-8, gtol=1e-8,
                            max_nfev=200)
        z, success, message = res.x, bool(res.success), str(res.message)
        jd = jac(z)[: len(targets)]
    else:
        z, success, message = np.zeros(0), True, "no identifiable term"
        jd = np.zeros((len(targets), 0))
    fitted = {n: float(v) for n, v in zip(fnames, z * scale)}
    pred = predict(targets, [values(z)], loader=loader)[:, 0]

    # Uncertainty in prior coordinates u: du/dz = scale / unit, or 1/x for efficiencies.
    x = z * scale
    dudz = np.array([s / unit(n) if kind(n) != "fraction" else 1.0 / v
                     for n, v, s in zip(fnames, x, scale)])
    ju = jd / dudz if len(fnames) else jd
    resid = np.log(pred / measured)
    dof = max(len(targets) - len(fnames), 1)
    sigma2 = max(float(np.sum(resid ** 2)) / dof, _SIGMA_FLOOR ** 2)
    correlated: list[tuple[str, str, float]] = []
    reports = []
    cov = None
    if fnames:
        # Data-only covariance (no prior): a direction the rows do not constrain gets a huge
        # variance instead of being hidden by the prior.
        lam, vec = np.linalg.eigh(ju.T @ ju)
        cov = sigma2 * (vec / np.maximum(lam, 1e-12)) @ vec.T
        std_u = np.sqrt(np.diag(cov))
        corr = cov / np.outer(std_u, std_u)
        for a in range(len(fnames)):
            for b in range(a + 1, len(fnames)):
                if abs(corr[a, b]) > 0.9:
                    correlated.append((fnames[a], fnames[b], float(corr[a, b])))
    for i, n in enumerate(names):
        if n in fitted:
            j = fnames.index(n)
            v = fitted[n]
            std = float(std_u[j] * unit(n) if kind(n) != "fraction" else std_u[j])
            status = "fitted" if std_u[j] < _WEAK_STD else "weak"
            at_b = bool(abs(v - lo[i]) <= 1e-6 * max(hi[i], 1e-9)
                        or abs(v - hi[i]) <= 1e-6 * max(hi[i], 1e-9))
            reports.append(TermReport(n, v, float(prior_v[i]), status, float(sens[i]), std, at_b))
        else:
            reports.append(TermReport(n, fixed[n], float(prior_v[i]), "not identified",
                                      float(sens[i])))
    table = prediction_table(targets, pred)
    return FitResult(chip_refs, fitted, fixed, reports, table, correlated, prior_weight,
                     success, message, cov, tuple(fnames))
