"""Fit a chip family's achieved-efficiency terms to measurements, and measure how well they hold.

What is fitted are the terms the cost model exposes (:class:`microarch.chip.Efficiency`,
:class:`microarch.chip.Dispatch`, :class:`microarch.chip.SparseEngine`): matrix efficiency per
execution format, the weight-only GEMM factor, vector, DRAM and SRAM efficiency, the per-operator
dispatch overhead and the per-expert MoE overhead. They describe a chip *family and software
stack*, so one set of values is fitted to every row of the chips given and can be carried to
their siblings (:func:`apply_terms`).

Predictions always come from :func:`chipdse.analytic.evaluate` (the one cost function): a
measured decode step is one decode step at the row's context, a measured prefill is the prefill
of the row's prompt. The fit minimises squared log ratios ln(predicted / measured) with
:func:`scipy.optimize.least_squares`, inside physical bounds (efficiencies in [0.05, 1],
overheads in [0, 50 us]), plus a weak pull towards a generic prior (:data:`PRIOR`, independent of
the data) so that a term the rows barely constrain stays finite. Before fitting, every candidate
term is moved by a fixed step (efficiency x 0.8, overhead + 5 us); a term that changes no
prediction by 1 % is *not identified* by those rows (e.g. prefill matrix efficiency from
decode-only rows) and is left out of the fit. After fitting, each term's 1-sigma uncertainty
is estimated from the rows alone (Jacobian at the solution, residual scatter floored at 3 %);
a term the rows fix no better than +-0.5 in ln(efficiency) (about a factor 1.6) or +-2.5 us is
reported as *weak*: its value leans on the prior. Pairs correlated beyond |r| = 0.9 are
reported: the rows then fix only their combination (e.g. FP16 matrix efficiency and the
weight-only factor when every GEMM is weight-only).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml
from scipy.optimize import least_squares

from chipdse.analytic import evaluate
from chipdse.cost import ChipParams
from chipdse.errors import UserError
from chipdse.measurements import (
    Measurement,
    MeasurementSet,
    builtin_measurements_path,
    load_measurements,
)
from microarch.chip import Chip, Efficiency
from microarch.loader import chip_from_dict, load_chip, preset_path
from microarch.schema import load_yaml
from workloads.loader import load_model
from workloads.model import ModelArch
from workloads.ops import ArchArrays, phase_operators
from workloads.precision import Precision

__all__ = ["PRIOR", "FRACTION_BOUNDS", "OVERHEAD_BOUNDS_S", "Target", "TermReport", "FitResult",
           "term_value", "apply_terms", "candidate_terms", "build_targets", "predict",
           "fit_terms", "leave_one_model_out", "prediction_table", "mape_table",
           "precision_label", "format_value", "select_rows", "Calibration", "calibrate",
           "calibrated_chip_yaml", "family_block_yaml", "Validation", "validate",
           "scatter_figure"]

FRACTION_BOUNDS = (0.05, 1.0)
OVERHEAD_BOUNDS_S = (0.0, 50e-6)
# Generic prior (the centre of the weak pull, and the start of every fit). Assumptions, not
# measurements: typical achieved fractions of GPU-class hardware and a CUDA-graph kernel launch.
PRIOR: dict[str, float] = {
    "efficiency.matrix": 0.5,
    "efficiency.weight_only_gemm": 0.8,
    "efficiency.vector": 0.5,
    "efficiency.dram": 0.8,
    "efficiency.sram": 0.8,
    "dispatch.per_operator": 4e-6,
    "sparse.per_expert_overhead": 4e-6,
}
_OVERHEAD_UNIT_S = 5e-6   # prior scale and screening step of the overhead terms
_SCREEN_FACTOR = 0.8      # screening step of the efficiency terms
_SCREEN_MIN = 0.01        # a term must move some prediction by 1 % to be identified
_WEAK_STD = 0.5           # rows alone fix ln(efficiency) to +-0.5 or an overhead to +-2.5 us
_SIGMA_FLOOR = 0.03       # per-row model error assumed at least 3 % when judging uncertainty


def _is_overhead(name: str) -> bool:
    return name in ("dispatch.per_operator", "sparse.per_expert_overhead")


def _prior(name: str) -> float:
    return PRIOR["efficiency.matrix"] if name.startswith("efficiency.matrix.") else PRIOR[name]


def _bounds(name: str) -> tuple[float, float]:
    return OVERHEAD_BOUNDS_S if _is_overhead(name) else FRACTION_BOUNDS


def _check_name(name: str) -> None:
    if name.startswith("efficiency.matrix."):
        try:
            Efficiency(matrix={name.split(".", 2)[2]: 1.0})  # raises for an unknown format
        except (KeyError, ValueError) as exc:
            raise UserError(f"calibration term {name!r}: {str(exc).strip(chr(34))}") from None
    elif name not in PRIOR or name == "efficiency.matrix":
        known = ", ".join(k for k in PRIOR if k != "efficiency.matrix")
        raise UserError(f"unknown calibration term {name!r} (known: efficiency.matrix.<format>, "
                        f"{known})")


def term_value(chip: Chip, name: str) -> float:
    """Current value of term ``name`` on ``chip`` (SI: overheads in seconds)."""
    _check_name(name)
    if name.startswith("efficiency.matrix."):
        return chip.efficiency.matrix_for(name.split(".", 2)[2])
    if name == "dispatch.per_operator":
        return chip.dispatch.per_operator_s
    if name == "sparse.per_expert_overhead":
        return chip.sparse.per_expert_overhead_s
    return getattr(chip.efficiency, name.split(".", 1)[1])


def apply_terms(chip: Chip, values: Mapping[str, float]) -> Chip:
    """``chip`` with the given terms replaced (the way a calibration is carried to a sibling)."""
    eff = chip.efficiency
    matrix = dict(eff.matrix)
    scalars = {k: getattr(eff, k) for k in ("weight_only_gemm", "vector", "dram", "sram")}
    dispatch, sparse = chip.dispatch, chip.sparse
    for name, v in values.items():
        _check_name(name)
        v = float(v)
        if name.startswith("efficiency.matrix."):
            matrix[name.split(".", 2)[2]] = v
        elif name == "dispatch.per_operator":
            dispatch = dataclasses.replace(dispatch, per_operator_s=v)
        elif name == "sparse.per_expert_overhead":
            sparse = dataclasses.replace(sparse, per_expert_overhead_s=v)
        else:
            scalars[name.split(".", 1)[1]] = v
    return dataclasses.replace(chip, efficiency=Efficiency(matrix=matrix, **scalars),
                               dispatch=dispatch, sparse=sparse)


def precision_label(p: Precision) -> str:
    return f"w{p.weights}-a{p.activations}-kv{p.kv_cache}-head{p.head}"


# ---- targets and prediction ---------------------------------------------------------------

@dataclass(frozen=True)
class Target:
    """One measured quantity: the decode step or the prefill of one row, in seconds."""

    m: Measurement
    phase: str          # "decode" | "prefill"
    measured_s: float
    tokens: int         # decode: cached context; prefill: prompt tokens per sequence

    @property
    def batch(self) -> int:
        return self.m.batch


def build_targets(rows: Iterable[Measurement], phases: Sequence[str] = ("decode", "prefill")
                  ) -> list[Target]:
    """The comparable quantities of ``rows`` (phases a row does not publish are skipped)."""
    out = []
    for m in rows:
        if m.chip is None or m.model_ref is None or m.precision is None:
            continue
        if "decode" in phases and m.decode_step_s is not None:
            out.append(Target(m, "decode", m.decode_step_s, m.decode_context))
        if "prefill" in phases and m.prefill_s is not None:
            tokens = m.input_tokens or round(m.prefill_s * (m.prefill_tok_s or 0.0))
            if tokens >= 1:
                out.append(Target(m, "prefill", m.prefill_s, int(tokens)))
    return out


class _Loader:
    """Caches chips and models by reference."""

    def __init__(self, chips: Mapping[str, Chip] | None = None,
                 models: Mapping[str, ModelArch] | None = None):
        self.chips: dict[str, Chip] = dict(chips or {})
        self.models: dict[str, ModelArch] = dict(models or {})

    def chip(self, ref: str) -> Chip:
        if ref not in self.chips:
            self.chips[ref] = load_chip(ref)
        return self.chips[ref]

    def model(self, ref: str) -> ModelArch:
        if ref not in self.models:
            self.models[ref] = load_model(ref)
        return self.models[ref]


@dataclass
class _Query:
    chip: str
    model: ModelArch
    precision: Precision
    batch: int
    prompt: int
    generate: int
    targets: list[tuple[int, str]] = field(default_factory=list)


def _queries(targets: Sequence[Target], loader: _Loader) -> list[_Query]:
    """One evaluate() call per row, or two when its prefill and decode contexts differ."""
    out: list[_Query] = []
    by_row: dict[tuple[str, int], dict[str, int]] = {}
    for i, t in enumerate(targets):
        by_row.setdefault((t.m.chip or "", t.m.row), {})[t.phase] = i
    for (chip, _), phases in by_row.items():
        t0 = targets[next(iter(phases.values()))]
        model, p, b = loader.model(t0.m.model_ref or ""), t0.m.precision, t0.batch
        dec, pre = phases.get("decode"), phases.get("prefill")
        if dec is not None and pre is not None and targets[dec].tokens == targets[pre].tokens:
            out.append(_Query(chip, model, p, b, targets[pre].tokens, 1,
                              [(pre, "prefill"), (dec, "decode")]))
            continue
        if pre is not None:
            out.append(_Query(chip, model, p, b, targets[pre].tokens, 0, [(pre, "prefill")]))
        if dec is not None:
            out.append(_Query(chip, model, p, b, targets[dec].tokens, 1, [(dec, "decode")]))
    return out


def predict(targets: Sequence[Target], value_sets: Sequence[Mapping[str, float]],
            chips: Mapping[str, Chip] | None = None, loader: _Loader | None = None
            ) -> np.ndarray:
    """Predicted seconds of every target under each set of term values: shape (targets, sets).

    All value sets of one chip are evaluated in one vectorised call per row.
    """
    loader = loader or _Loader(chips)
    queries = _queries(targets, loader)
    out = np.empty((len(targets), len(value_sets)))
    params: dict[str, ChipParams] = {}
    for q in queries:
        if q.chip not in params:
            base = loader.chip(q.chip)
            params[q.chip] = ChipParams.stack(
                [ChipParams.from_chip(apply_terms(base, vs)) for vs in value_sets])
        ev = evaluate(q.model, params[q.chip], q.precision, q.batch, q.prompt, q.generate,
                      with_bounds=False)
        for idx, phase in q.targets:
            t = ev.prefill.time_s if phase == "prefill" else ev.decode.time_s
            out[idx] = np.broadcast_to(np.asarray(t, dtype=float), (len(value_sets),))
    return out


def candidate_terms(targets: Sequence[Target], chips: Mapping[str, Chip] | None = None,
                    loader: _Loader | None = None) -> list[str]:
    """Terms the cost model uses for these rows on these chips (read off their operators)."""
    loader = loader or _Loader(chips)
    fmts: set[str] = set()
    weight_only = moe = False
    for t in targets:
        chip, p = loader.chip(t.m.chip or ""), t.m.precision
        if p is None:
            continue
        a = ArchArrays.from_model(loader.model(t.m.model_ref or ""))
        ops = (phase_operators(a, p, t.batch, t.tokens, 0.0) if t.phase == "prefill"
               else phase_operators(a, p, t.batch, 1.0, t.tokens))
        for op in ops:
            if op.engine != "matrix":
                continue
            fmts.add(chip.matrix.execution_format(op.fmt))
            weight_only |= op.weight_only and chip.quant.fused_dequant
            moe |= bool(np.any(np.asarray(op.experts) > 0)) and not chip.sparse.native_moe
    names = [f"efficiency.matrix.{f}" for f in sorted(fmts)]
    if weight_only:
        names.append("efficiency.weight_only_gemm")
    names += ["efficiency.vector", "efficiency.dram", "efficiency.sram", "dispatch.per_operator"]
    if moe:
        names.append("sparse.per_expert_overhead")
    return names


# ---- fitting ------------------------------------------------------------------------------

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

    @property
    def rows(self) -> list[int]:
        return sorted(set(int(r) for r in self.table["row"]))

    def mape(self, phase: str) -> float:
        t = self.table[self.table.phase == phase]
        return float(np.mean(np.abs(t.error))) if len(t) else float("nan")

    def term(self, name: str) -> TermReport:
        return next(t for t in self.terms if t.name == name)


def _u(name: str, x: float) -> float:
    """Coordinates of the prior: ln(value) for efficiencies, value / 5 us for overheads."""
    return x / _OVERHEAD_UNIT_S if _is_overhead(name) else math.log(x)


def fit_terms(targets: Sequence[Target], chips: Mapping[str, Chip] | None = None,
              terms: Sequence[str] | None = None, prior_weight: float = 0.1,
              hold: Mapping[str, float] | None = None,
              loader: _Loader | None = None) -> FitResult:
    """Fit one set of term values to ``targets`` (all chips of the targets share them).

    ``terms`` defaults to :func:`candidate_terms`. ``hold`` gives the values that terms which
    turn out not to be identified keep (default: the :data:`PRIOR`). Every fit starts from the
    prior, so its result does not depend on the chips' current terms.
    """
    if not targets:
        raise UserError("no measurements to fit (no row of these chips has a comparable "
                        "decode or prefill number)")
    loader = loader or _Loader(chips)
    chip_refs = sorted({t.m.chip or "" for t in targets})
    names = list(terms) if terms is not None else candidate_terms(targets, loader=loader)
    for n in names:
        _check_name(n)
    prior = np.array([_prior(n) for n in names])
    lo = np.array([_bounds(n)[0] for n in names])
    hi = np.array([_bounds(n)[1] for n in names])
    x_start = np.clip(prior, lo, hi)
    held_vals = {n: (hold or {}).get(n, _prior(n)) for n in names}
    measured = np.array([t.measured_s for t in targets])

    # Screening: which terms move any prediction?
    base = dict(held_vals)
    sets = [base]
    for n in names:
        v = base[n]
        step = v * _SCREEN_FACTOR
        if step < FRACTION_BOUNDS[0]:
            step = min(v / _SCREEN_FACTOR, FRACTION_BOUNDS[1])
        sets.append({**base, n: v + _OVERHEAD_UNIT_S if _is_overhead(n) else step})
    t_scr = predict(targets, sets, loader=loader)
    sens = np.max(np.abs(np.log(t_scr[:, 1:] / t_scr[:, :1])), axis=0)
    free = [i for i, n in enumerate(names) if sens[i] >= _SCREEN_MIN]
    fixed = {names[i]: held_vals[names[i]] for i in range(len(names)) if i not in free}
    fnames = [names[i] for i in free]
    scale = np.array([1e-6 if _is_overhead(n) else 1.0 for n in fnames])  # fit seconds in us

    def values(z: np.ndarray) -> dict[str, float]:
        return {**fixed, **{n: float(v) for n, v in zip(fnames, z * scale)}}

    cache: dict[bytes, np.ndarray] = {}

    def times(zs: list[np.ndarray]) -> np.ndarray:
        return predict(targets, [values(z) for z in zs], loader=loader)

    def prior_res(z: np.ndarray) -> np.ndarray:
        x = z * scale
        return prior_weight * np.array([_u(n, v) - _u(n, p) for n, v, p in
                                        zip(fnames, x, prior[free])])

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
        jp = np.diag([prior_weight * (s / _OVERHEAD_UNIT_S if _is_overhead(n) else 1.0 / v)
                      for n, v, s in zip(fnames, x, scale)])
        return np.vstack([jd, jp])

    if fnames:
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

    # Uncertainty in prior coordinates u: du/dz = scale/5us (overheads) or 1/x (efficiency).
    x = z * scale
    dudz = np.array([s / _OVERHEAD_UNIT_S if _is_overhead(n) else 1.0 / v
                     for n, v, s in zip(fnames, x, scale)])
    ju = jd / dudz if len(fnames) else jd
    resid = np.log(pred / measured)
    dof = max(len(targets) - len(fnames), 1)
    sigma2 = max(float(np.sum(resid ** 2)) / dof, _SIGMA_FLOOR ** 2)
    correlated: list[tuple[str, str, float]] = []
    reports = []
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
            std = float(std_u[j] * _OVERHEAD_UNIT_S if _is_overhead(n) else std_u[j])
            status = "fitted" if std_u[j] < _WEAK_STD else "weak"
            at_b = bool(abs(v - lo[i]) <= 1e-6 * max(hi[i], 1e-9)
                        or abs(v - hi[i]) <= 1e-6 * max(hi[i], 1e-9))
            reports.append(TermReport(n, v, float(prior[i]), status, float(sens[i]), std, at_b))
        else:
            reports.append(TermReport(n, fixed[n], float(prior[i]), "not identified",
                                      float(sens[i])))
    table = prediction_table(targets, pred)
    return FitResult(chip_refs, fitted, fixed, reports, table, correlated, prior_weight,
                     success, message)


# ---- tables and cross-validation ---------------------------------------------------------

def prediction_table(targets: Sequence[Target], predicted_s: np.ndarray) -> pd.DataFrame:
    """Per target: measured and predicted time and the quoted metric, and the signed error.

    The error is on the quoted metric: decode tokens/s (aggregate) and prefill time.
    """
    rows = []
    for t, ps in zip(targets, np.asarray(predicted_s, dtype=float)):
        m = t.m
        if t.phase == "decode":
            meas_v, pred_v, metric = t.batch / t.measured_s, t.batch / ps, "decode_tok_s"
        else:
            meas_v, pred_v, metric = t.measured_s, ps, "prefill_s"
        rows.append(dict(
            row=m.row, device=m.device, chip=m.chip, engine=m.engine, model=m.model,
            model_preset=m.model_ref, precision=m.precision_label,
            formats=precision_label(m.precision) if m.precision else "", batch=m.batch,
            phase=t.phase, tokens=t.tokens, metric=metric, measured=meas_v, predicted=pred_v,
            measured_s=t.measured_s, predicted_s=float(ps), error=pred_v / meas_v - 1.0,
            source=m.source))
    return pd.DataFrame(rows)


def mape_table(table: pd.DataFrame, by: Sequence[str] = ("device", "phase"),
               column: str = "error") -> pd.DataFrame:
    """Mean absolute percentage error (and row count) per group."""
    if table.empty:
        return pd.DataFrame(columns=[*by, "n", "mape_pct", "max_abs_pct"])
    g = table.groupby(list(by), sort=True)[column]
    out = pd.DataFrame({"n": g.size(), "mape_pct": 100 * g.apply(lambda e: np.mean(np.abs(e))),
                        "max_abs_pct": 100 * g.apply(lambda e: np.max(np.abs(e)))})
    return out.reset_index()


def leave_one_model_out(targets: Sequence[Target], chips: Mapping[str, Chip] | None = None,
                        prior_weight: float = 0.1, loader: _Loader | None = None,
                        progress: Callable[[str], None] | None = None) -> pd.DataFrame:
    """Cross-validation: for every model, fit on the other models' rows of the same chip
    family, then predict the held-out rows. Returns :func:`prediction_table` rows plus the
    fold's fitted values (``fold_terms``)."""
    loader = loader or _Loader(chips)
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
                vals.setdefault(n, _prior(n))
            pred = predict(test, [vals], loader=loader)[:, 0]
            tab = prediction_table(test, pred)
            tab["family"] = family
            tab["held_out"] = model
            tab["fold_terms"] = "; ".join(f"{k}={_fmt(v, k)}" for k, v in sorted(vals.items()))
            parts.append(tab)
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()


def _fmt(v: float, name: str) -> str:
    return f"{v * 1e6:.3g}us" if _is_overhead(name) else f"{v:.3g}"


def format_value(name: str, v: float) -> Any:
    """A term value as written to YAML: a quantity string for overheads, else a number."""
    return f"{v * 1e6:.4g} us" if _is_overhead(name) else round(float(v), 4)


# ---- front-door functions -----------------------------------------------------------------

def _row_ranges(rows: Iterable[int]) -> str:
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

    @property
    def calibrated_chip(self) -> Chip:
        return apply_terms(self.chip, self.fit.values)

    def source_text(self, carried_from: str | None = None) -> str:
        f = self.fit
        devices = sorted({d for d in f.table.device})
        text = (f"fitted by chipdse calibrate to rows {_row_ranges(f.rows)} of "
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
            ov = _is_overhead(t.name)
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
    ms = _as_set(measurements, device_map, model_map)
    rows, obj = select_rows(ms, chip, batches)
    ref = chip if isinstance(chip, str) else obj.name
    targets = build_targets(rows, phases)
    if not targets:
        raise UserError(f"no row of {Path(ms.path).name} is measured on chip {obj.name!r} "
                        f"(devices mapped: {', '.join(ms.chips) or 'none'}); map a device to it "
                        f"with --device 'NAME={ref}'")
    loader = _Loader({ref: obj})
    names = list(terms) if terms is not None else candidate_terms(targets, loader=loader)
    # A term the rows cannot identify keeps the chip's own value (it is not written either).
    hold = {n: term_value(obj, n) for n in names}
    fit = fit_terms(targets, terms=names, prior_weight=prior_weight, hold=hold, loader=loader)
    return Calibration(ref, obj, fit, ms, list(batches) if batches else None)


def _as_set(measurements: str | Path | MeasurementSet | None, device_map, model_map
            ) -> MeasurementSet:
    if isinstance(measurements, MeasurementSet):
        return measurements
    return load_measurements(measurements or builtin_measurements_path(), device_map, model_map)


def _chip_file(ref: str) -> Path:
    p = Path(ref)
    if ref.endswith((".yaml", ".yml")) or p.is_file():
        return p
    return preset_path(ref)


def _set_leaf(d: dict, keys: Sequence[str], value: Any, source: str) -> None:
    for k in keys[:-1]:
        if not isinstance(d.get(k), dict):
            d[k] = {}
        d = d[k]
    d[keys[-1]] = {"value": value, "source": source}


def _write_terms(raw: dict, cal: Calibration, carried_from: str | None) -> dict:
    for name, v in cal.fit.values.items():
        src = cal.term_source(name, carried_from)
        if name.startswith("efficiency.matrix."):
            keys = ["efficiency", "matrix", name.split(".", 2)[2]]
        elif name == "dispatch.per_operator":
            keys = ["dispatch", "per_operator"]
        elif name == "sparse.per_expert_overhead":
            keys = ["sparse", "per_expert_overhead"]
        else:
            keys = ["efficiency", name.split(".", 1)[1]]
        _set_leaf(raw, keys, format_value(name, v), src)
    return raw


def _header(cal: Calibration, carried_from: str | None) -> str:
    f = cal.fit
    lines = [f"Calibrated by chipdse calibrate from {Path(_chip_file(cal.chip_ref)).name}"
             if carried_from is None else
             f"Terms fitted on {carried_from} by chipdse calibrate, carried without refitting",
             f"Rows: {_row_ranges(f.rows)} of {Path(cal.measurements.path).name}"
             + (f" (batch {', '.join(map(str, cal.batches))})" if cal.batches else ""),
             f"Fit error: decode MAPE {100 * f.mape('decode'):.1f} %, "
             f"prefill MAPE {100 * f.mape('prefill'):.1f} %  (prior weight {f.prior_weight})"]
    for t in f.terms:
        ov = _is_overhead(t.name)
        val = f"{t.value * 1e6:.3g} us" if ov else f"{t.value:.3g}"
        lines.append(f"  {t.name}: {val} [{t.status}{', at bound' if t.at_bound else ''}]")
    for a, b, r in f.correlated:
        lines.append(f"  {a} and {b} are correlated (r = {r:+.2f}): only their combination is "
                     "identified")
    return "".join(f"# {ln}\n" for ln in lines)


def calibrated_chip_yaml(cal: Calibration, sibling: str | None = None) -> str:
    """The chip file (YAML text) of ``cal.chip_ref`` -- or of ``sibling``, a chip of the same
    family -- with the fitted terms written in as ``{value, source}`` leaves."""
    ref = sibling or cal.chip_ref
    if sibling is not None:
        sib = load_chip(sibling)
        if sib.family != cal.chip.family:
            raise UserError(f"--apply-to {sibling}: family {sib.family!r} differs from "
                            f"{cal.chip.name}'s family {cal.chip.family!r}; calibrated terms "
                            "belong to one family and software stack")
    raw = load_yaml(_chip_file(ref))
    if not isinstance(raw, dict):
        raise UserError(f"{_chip_file(ref).name}: not a chip mapping")
    _write_terms(raw, cal, cal.chip.name if sibling else None)
    text = _header(cal, cal.chip.name if sibling else None) + yaml.safe_dump(
        raw, sort_keys=False, allow_unicode=True, width=100)
    chip_from_dict(yaml.safe_load(text), _chip_file(ref).name)  # must load back
    return text


def family_block_yaml(cal: Calibration) -> str:
    """The ``families.yaml`` entry of the chip's family with the fitted terms written in."""
    path = Path(str(resources.files("microarch"))) / "presets" / "families.yaml"
    families = load_yaml(path)
    fam = cal.chip.family
    block = dict(families.get(fam) or {"description": fam, "efficiency": {}, "dispatch": {}})
    _write_terms(block, cal, None)
    return _header(cal, None) + yaml.safe_dump({fam: block}, sort_keys=False,
                                               allow_unicode=True, width=100)


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
    ms = _as_set(measurements, device_map, model_map)
    loader = _Loader()
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


def scatter_figure(results: pd.DataFrame, title: str = "chipdse predicted vs measured"):
    """Log-log predicted vs measured, one panel per phase, one colour per device; filled
    markers: the chips as they are; open markers: leave-one-model-out."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    phases = [p for p in ("decode", "prefill") if (results.phase == p).any()]
    fig, axes = plt.subplots(1, max(len(phases), 1), figsize=(5.2 * max(len(phases), 1), 4.8),
                             squeeze=False)
    devices = sorted(results.device.unique())
    colours = plt.get_cmap("tab10")
    for ax, phase in zip(axes[0], phases):
        t = results[results.phase == phase]
        for i, dev in enumerate(devices):
            d = t[t.device == dev]
            if d.empty:
                continue
            c = colours(i % 10)
            ax.scatter(d.measured, d.predicted, color=c, s=22, label=dev)
            if "loo_predicted" in d:
                ax.scatter(d.measured, d.loo_predicted, facecolors="none", edgecolors=c, s=30)
        lo = float(np.nanmin([t.measured.min(), t.predicted.min()])) / 1.5
        hi = float(np.nanmax([t.measured.max(), t.predicted.max()])) * 1.5
        xs = np.array([lo, hi])
        ax.plot(xs, xs, color="black", lw=0.8)
        for f, ls in ((0.1, ":"), (0.2, "--")):
            ax.plot(xs, xs * (1 + f), color="grey", lw=0.6, ls=ls)
            ax.plot(xs, xs * (1 - f), color="grey", lw=0.6, ls=ls)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlim(lo, hi)
        ax.set_ylim(lo, hi)
        unit = "tokens/s (aggregate)" if phase == "decode" else "s"
        ax.set_xlabel(f"measured {phase} {unit}")
        ax.set_ylabel(f"predicted {phase} {unit}")
        ax.set_title(f"{phase} (lines: ±10 %, ±20 %)", fontsize=9)
        ax.grid(True, which="both", lw=0.3, alpha=0.5)
    axes[0][0].legend(fontsize=7, loc="upper left")
    fig.suptitle(f"{title}\nfilled: chip as loaded; open: leave-one-model-out", fontsize=9)
    fig.tight_layout()
    return fig
