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
decode-only rows) and is left out of the fit. After fitting, a term whose uncertainty the data
did not at least halve relative to the prior is reported as *weak*.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy.optimize import least_squares

from chipdse.analytic import evaluate
from chipdse.cost import ChipParams
from chipdse.errors import UserError
from chipdse.measurements import Measurement
from microarch.chip import Chip, Efficiency
from microarch.loader import load_chip
from workloads.loader import load_model
from workloads.model import ModelArch
from workloads.precision import Precision

__all__ = ["PRIOR", "FRACTION_BOUNDS", "OVERHEAD_BOUNDS_S", "Target", "TermReport", "FitResult",
           "term_value", "apply_terms", "candidate_terms", "build_targets", "predict",
           "fit_terms", "leave_one_model_out", "prediction_table", "mape_table",
           "precision_label"]

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
_WEAK_RATIO = 0.5         # data must at least halve the prior's uncertainty


def _is_overhead(name: str) -> bool:
    return name in ("dispatch.per_operator", "sparse.per_expert_overhead")


def _prior(name: str) -> float:
    return PRIOR["efficiency.matrix"] if name.startswith("efficiency.matrix.") else PRIOR[name]


def _bounds(name: str) -> tuple[float, float]:
    return OVERHEAD_BOUNDS_S if _is_overhead(name) else FRACTION_BOUNDS


def _check_name(name: str) -> None:
    if name.startswith("efficiency.matrix."):
        Efficiency(matrix={name.split(".", 2)[2]: 1.0})  # raises for an unknown format
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
    """Terms the cost model uses for these rows on these chips."""
    loader = loader or _Loader(chips)
    fmts: set[str] = set()
    weight_only = moe = False
    for t in targets:
        chip, p = loader.chip(t.m.chip or ""), t.m.precision
        if p is None:
            continue
        att = p.activations if p.a.bits >= 16 else "fp16"
        for f in (p.gemm_format(), p.gemm_format(p.head), att):
            fmts.add(chip.matrix.execution_format(f))
        weight_only |= (p.weight_only() or p.weight_only(p.head)) and chip.quant.fused_dequant
        moe |= loader.model(t.m.model_ref or "").is_moe and not chip.sparse.native_moe
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

    status: "fitted" (the data pin it), "weak" (fitted, but the prior carries at least half of
    its uncertainty), "not identified" (no row is sensitive to it; held, not fitted).
    sensitivity: largest |change of ln(predicted time)| over the rows for the screening step.
    rel_std: 1-sigma uncertainty (relative for efficiencies, in seconds for overheads).
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
              hold: Mapping[str, float] | None = None, start: str = "prior",
              loader: _Loader | None = None) -> FitResult:
    """Fit one set of term values to ``targets`` (all chips of the targets share them).

    ``terms`` defaults to :func:`candidate_terms`. ``hold`` gives the values of terms that are
    not identified (default: the :data:`PRIOR`); ``start="chip"`` starts from the first chip's
    current values instead of the prior (the prior's centre does not change).
    """
    if not targets:
        raise UserError("no measurements to fit (no row of these chips has a comparable "
                        "decode or prefill number)")
    loader = loader or _Loader(chips)
    chip_refs = sorted({t.m.chip or "" for t in targets})
    chip_objs = {c: loader.chip(c) for c in chip_refs}
    names = list(terms) if terms is not None else candidate_terms(targets, loader=loader)
    for n in names:
        _check_name(n)
    prior = np.array([_prior(n) for n in names])
    lo = np.array([_bounds(n)[0] for n in names])
    hi = np.array([_bounds(n)[1] for n in names])
    first = chip_objs[chip_refs[0]]
    x_start = np.array([term_value(first, n) for n in names]) if start == "chip" else prior
    x_start = np.clip(x_start, lo, hi)
    held_vals = {n: (hold or {}).get(n, _prior(n)) for n in names}
    measured = np.array([t.measured_s for t in targets])

    # Screening: which terms move any prediction?
    base = dict(held_vals)
    sets = [base]
    for n in names:
        v = base[n]
        sets.append({**base, n: v + _OVERHEAD_UNIT_S if _is_overhead(n)
                     else (v * _SCREEN_FACTOR if v * _SCREEN_FACTOR >= lo[0] else v / 0.8)})
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
        zl, zh = lo[free] / scale, hi[free] / scale
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
        del zl
        return np.vstack([jd, jp])

    if fnames:
        z0 = x_start[free] / scale
        res = least_squares(fun, z0, jac=jac, bounds=(lo[free] / scale, hi[free] / scale),
                            method="trf", x_scale="jac", ftol=1e-10, xtol=1e-10, gtol=1e-10,
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
    sigma2 = max(float(np.sum(resid ** 2)) / dof, 1e-6)
    correlated: list[tuple[str, str, float]] = []
    reports = []
    if fnames:
        h = ju.T @ ju + prior_weight ** 2 * np.eye(len(fnames))
        cov = np.linalg.inv(h)
        ratio = np.sqrt(np.diag(cov)) * prior_weight
        std_u = np.sqrt(sigma2 * np.diag(cov))
        d = np.sqrt(np.diag(cov))
        corr = cov / np.outer(d, d)
        for a in range(len(fnames)):
            for b in range(a + 1, len(fnames)):
                if abs(corr[a, b]) > 0.9:
                    correlated.append((fnames[a], fnames[b], float(corr[a, b])))
    for i, n in enumerate(names):
        if n in fitted:
            j = fnames.index(n)
            v = fitted[n]
            std = float(std_u[j] * _OVERHEAD_UNIT_S if _is_overhead(n) else std_u[j])
            status = "fitted" if ratio[j] < _WEAK_RATIO else "weak"
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
