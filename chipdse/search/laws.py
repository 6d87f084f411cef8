"""Loss laws: predicted language-model loss of an architecture, and fitting a law to one's own
training runs.

Three published laws are built in:

* ``plas`` (the default): Eq. 15 of L. Sun et al., "Hardware Co-Design Scaling Laws via Roofline
  Modelling for On-Device LLMs", arXiv 2602.10377 (2026). Loss from the shape
  theta = (l, d, d_m, r, rho) at the paper's fixed budget of 10B training tokens, fitted on 170
  models (train R^2 0.975, held-out 0.952). It holds inside the fitted ranges only: l 4..32,
  d 768..3072, E in {1, 8, 16}, K in {1, 2} (rho = K/E in [1/16, 1]), d_m <= d. The paper does
  not list the FFN ratios it trained, so r is not range-checked. The law has no token term: its
  range includes ``tokens`` = 10B exactly, so any other training budget is flagged (and the
  searches refuse it, see :func:`check_tokens`).
* ``chinchilla`` / ``chinchilla-epoch``: L(N, D) = E + A/N^alpha + B/D^beta for other token
  budgets (Hoffmann et al., arXiv 2203.15556; refit by Besiroglu et al., arXiv 2404.10102).
  Fitted on models of 70M..16B parameters trained on 5B..500B tokens (Hoffmann et al., Sec. 3).
* ``moe-granular``: L(N, D, G) = c + (g/G^gamma + a)/N^alpha + b/D^beta with granularity G
  (Krajewski et al., "Scaling Laws for Fine-Grained Mixture of Experts", arXiv 2402.07871).
  Granularities 1..16 were trained; in PLAS terms an expert of width r d / K has G = K.

Outside its ranges a law still returns a number, but :meth:`LossLaw.in_range` is False there and
:meth:`LossLaw.range_problems` says why; searches carry that flag into every results table.
A training budget (``tokens``) must be a finite number > 0 (:func:`check_tokens`).
Perplexity is exp(loss).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

import numpy as np
import pandas as pd

from chipdse.errors import UserError
from microarch.excerpt import excerpt
from workloads.model import PLAS_VOCAB_SIZE

__all__ = ["LossLaw", "FitResult", "LAWS", "get_law", "perplexity", "loss_from_perplexity",
           "arch_inputs", "check_tokens", "fit_law", "fit_law_csv", "r_squared"]

Array = Any


def perplexity(loss: Array) -> Array:
    """Perplexity = exp(loss) (loss in nats per token)."""
    return np.exp(np.asarray(loss, dtype=float))


def loss_from_perplexity(ppl: Array) -> Array:
    """Loss = ln(perplexity)."""
    return np.log(np.asarray(ppl, dtype=float))


# ---- formulas (module level so laws pickle for distributed evaluation) -------------------


def _plas(c: Mapping[str, float], x: Mapping[str, Array]) -> Array:
    # Eq. 15: 9.96/l^1.63 + 0.031 rho^1.09/(r^0.17 d^-0.33) + 500/(r^0.17 d^0.97)
    #         + 0.20/d_m^0.05 + 2.53
    l, d, dm, r, rho = x["n_layers"], x["d_model"], x["d_kv"], x["ffn_ratio"], x["rho"]
    return (c["A"] / l ** c["alpha"]
            + c["B"] * rho ** c["beta"] * d ** c["gamma"] / r ** c["delta"]
            + c["C"] / (r ** c["epsilon"] * d ** c["zeta"])
            + c["D"] / dm ** c["eta"]
            + c["E"])


def _chinchilla(c: Mapping[str, float], x: Mapping[str, Array]) -> Array:
    return c["E"] + c["A"] / x["params"] ** c["alpha"] + c["B"] / x["tokens"] ** c["beta"]


def _moe_granular(c: Mapping[str, float], x: Mapping[str, Array]) -> Array:
    n, t, g = x["params"], x["tokens"], x["granularity"]
    return c["c"] + (c["g"] / g ** c["gamma"] + c["a"]) / n ** c["alpha"] + c["b"] / t ** c["beta"]


_FORMULAS: dict[str, Callable[[Mapping[str, float], Mapping[str, Array]], Array]] = {
    "plas": _plas, "chinchilla": _chinchilla, "moe-granular": _moe_granular,
}

# Column aliases accepted in a user's CSV, per canonical input.
_ALIASES = {
    "n_layers": ("n_layers", "l", "layers", "num_hidden_layers"),
    "d_model": ("d_model", "d", "hidden_size", "width"),
    "d_kv": ("d_kv", "d_m", "kv_width"),
    "ffn_ratio": ("ffn_ratio", "r"),
    "rho": ("rho", "activation_rate"),
    "params": ("params", "n_params", "N"),
    "tokens": ("tokens", "n_tokens", "D"),
    "granularity": ("granularity", "G"),
}


@dataclass(frozen=True)
class LossLaw:
    """A loss law: a formula over named inputs with its coefficients, validity ranges and source.

    Attributes:
        name: registry name ("plas", "chinchilla", ...).
        form: key of the formula ("plas", "chinchilla", "moe-granular").
        inputs: input names the formula reads.
        coefficients: coefficient values by name.
        ranges: inclusive (low, high) per input where the law was fitted; inputs not listed are
            not checked.
        source: citation of the form and the coefficients.
    """

    name: str
    form: str
    inputs: tuple[str, ...]
    coefficients: Mapping[str, float]
    ranges: Mapping[str, tuple[float, float]] = field(default_factory=dict)
    source: str = ""

    def __post_init__(self) -> None:
        if self.form not in _FORMULAS:
            raise ValueError(f"LossLaw.form must be one of {sorted(_FORMULAS)}, got {self.form!r}")
        object.__setattr__(self, "coefficients",
                           MappingProxyType({k: float(v) for k, v in self.coefficients.items()}))
        object.__setattr__(self, "ranges", MappingProxyType(dict(self.ranges)))

    def _inputs(self, values: Mapping[str, Array]) -> dict[str, np.ndarray]:
        missing = [k for k in self.inputs if k not in values]
        if missing:
            raise UserError(f"loss law {excerpt(self.name)} needs inputs {', '.join(missing)}")
        return {k: np.asarray(values[k], dtype=float) for k in self.inputs}

    def predict(self, values: Mapping[str, Array] | None = None, **kw: Array) -> np.ndarray:
        """Predicted loss (nats/token) for inputs given as a mapping and/or keywords; arrays
        broadcast. Points outside the fitted ranges are computed too: check :meth:`in_range`."""
        x = self._inputs({**(values or {}), **kw})
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.asarray(_FORMULAS[self.form](self.coefficients, x), dtype=float)

    def perplexity(self, values: Mapping[str, Array] | None = None, **kw: Array) -> np.ndarray:
        """exp(predicted loss)."""
        return perplexity(self.predict(values, **kw))

    def in_range(self, values: Mapping[str, Array] | None = None, **kw: Array) -> np.ndarray:
        """True where every checked input lies inside the law's fitted range."""
        x = {**(values or {}), **kw}
        ok: Array = True
        for k, (lo, hi) in self.ranges.items():
            if k in x:
                v = np.asarray(x[k], dtype=float)
                ok = ok & (v >= lo * (1 - 1e-9)) & (v <= hi * (1 + 1e-9))
        if self.form == "plas" and "d_kv" in x and "d_model" in x:
            ok = ok & (np.asarray(x["d_kv"], dtype=float) <= np.asarray(x["d_model"]) + 1e-9)
        return np.asarray(ok, dtype=bool)

    def range_problems(self, values: Mapping[str, Array] | None = None,
                       **kw: Array) -> list[str]:
        """One line per input that leaves the fitted range somewhere (empty when all inside)."""
        x = {**(values or {}), **kw}
        out = []
        for k, (lo, hi) in self.ranges.items():
            if k not in x:
                continue
            v = np.asarray(x[k], dtype=float)
            bad = (v < lo * (1 - 1e-9)) | (v > hi * (1 + 1e-9))
            if np.any(bad):
                out.append(f"{self.name}: {k} outside the fitted range [{lo:g}, {hi:g}] at "
                           f"{int(np.sum(bad))} point(s) (e.g. {float(v[bad].flat[0]):g}); "
                           "the prediction is an extrapolation")
        return out

    def with_coefficients(self, coefficients: Mapping[str, float], name: str | None = None,
                          source: str | None = None) -> LossLaw:
        """A copy with (some) coefficients replaced."""
        unknown = set(coefficients) - set(self.coefficients)
        if unknown:
            raise UserError(f"loss law {excerpt(self.name)} has no coefficient(s) "
                            f"{', '.join(sorted(unknown))}")
        return dataclasses.replace(self, coefficients={**self.coefficients, **coefficients},
                                   name=name or self.name, source=source or self.source)


_PLAS_SOURCE = ("L. Sun et al., arXiv 2602.10377 (2026), Eq. 15; 170 models, 10B tokens each; "
                "train R^2 0.975, held-out 0.952")

LAWS: dict[str, LossLaw] = {
    "plas": LossLaw(
        name="plas", form="plas",
        inputs=("n_layers", "d_model", "d_kv", "ffn_ratio", "rho"),
        coefficients=dict(A=9.96, alpha=1.63, B=0.031, beta=1.09, gamma=0.33, delta=0.17,
                          C=500.0, epsilon=0.17, zeta=0.97, D=0.20, eta=0.05, E=2.53),
        # Every model of the fit was trained on 10B tokens: the law is valid there only.
        ranges={"n_layers": (4, 32), "d_model": (768, 3072), "rho": (1 / 16, 1.0),
                "tokens": (10e9, 10e9)},
        source=_PLAS_SOURCE),
    "chinchilla": LossLaw(
        name="chinchilla", form="chinchilla", inputs=("params", "tokens"),
        coefficients=dict(E=1.69, A=406.4, B=410.7, alpha=0.34, beta=0.28),
        ranges={"params": (7e7, 1.6e10), "tokens": (5e9, 5e11)},
        source="Hoffmann et al., arXiv 2203.15556, Eq. 10 (approach 3); 70M-16B parameters, "
               "5B-500B tokens"),
    "chinchilla-epoch": LossLaw(
        name="chinchilla-epoch", form="chinchilla", inputs=("params", "tokens"),
        coefficients=dict(E=1.8172, A=482.01, B=2085.43, alpha=0.3478, beta=0.3658),
        ranges={"params": (7e7, 1.6e10), "tokens": (5e9, 5e11)},
        source="Besiroglu et al., arXiv 2404.10102 (refit of Hoffmann et al.'s approach 3 data)"),
    "moe-granular": LossLaw(
        name="moe-granular", form="moe-granular", inputs=("params", "tokens", "granularity"),
        coefficients=dict(a=18.1, alpha=0.115, b=30.8, beta=0.147, g=2.1, gamma=0.58, c=0.47),
        ranges={"granularity": (1, 16)},
        source="Krajewski et al., arXiv 2402.07871, fitted coefficients of L(N, D, G); "
               "granularities 1-16 trained (N, D ranges not recorded here: not checked)"),
}


def get_law(name: str | LossLaw) -> LossLaw:
    """A built-in law by name (or the law itself)."""
    if isinstance(name, LossLaw):
        return name
    if name not in LAWS:
        raise UserError(f"unknown loss law {excerpt(name)} (known: {', '.join(LAWS)})")
    return LAWS[name]


def check_tokens(tokens: Array, law: str | LossLaw | None = None) -> None:
    """Raise :class:`UserError` unless ``tokens`` (training budget) is finite and > 0, and,
    for a ``law`` without a token term (``plas``), unless it is the budget the law was fitted
    at: such a law would silently ignore any other value."""
    t = np.asarray(tokens, dtype=float)
    if t.size == 0 or not np.all(np.isfinite(t)) or np.any(t <= 0):
        raise UserError(f"training tokens must be a finite number > 0, got {excerpt(tokens)}")
    if law is None:
        return
    law = get_law(law)
    if "tokens" in law.inputs or "tokens" not in law.ranges:
        return
    lo, hi = law.ranges["tokens"]
    if np.any((t < lo * (1 - 1e-9)) | (t > hi * (1 + 1e-9))):
        span = f"{lo / 1e9:g}B" if lo == hi else f"{lo / 1e9:g}B..{hi / 1e9:g}B"
        raise UserError(f"loss law {law.name!r} has no token term and holds at {span} training "
                        f"tokens only, got {float(t.flat[0]):g}; use a token-dependent law "
                        "(chinchilla, chinchilla-epoch, moe-granular) for other budgets")


def arch_inputs(n_layers: Array, d_model: Array, n_heads: Array, n_kv_heads: Array,
                head_dim: Array, ffn_ratio: Array, n_experts: Array = 1, top_k: Array = 1,
                vocab_size: Array = PLAS_VOCAB_SIZE, tied_embeddings: Array = True,
                tokens: Array = 10e9) -> dict[str, np.ndarray]:
    """Every law input of a transformer shape (arrays broadcast).

    ``ffn_ratio`` is the activated expansion r (for a mixture of experts, top_k x expert
    width / d_model), as in the PLAS paper; FFNs are SwiGLU (3 matrices). ``params`` is the
    total parameter count (all experts, embeddings; the LM head once when tied), the
    convention of Hoffmann et al.; ``tokens`` is the training budget (finite, > 0).
    """
    check_tokens(tokens)
    l, d = np.asarray(n_layers, float), np.asarray(d_model, float)
    hq, hkv, hd = (np.asarray(x, float) for x in (n_heads, n_kv_heads, head_dim))
    r, e, k = np.asarray(ffn_ratio, float), np.asarray(n_experts, float), np.asarray(top_k, float)
    v = np.asarray(vocab_size, float)
    attn = 2 * d * hq * hd + 2 * d * hkv * hd
    moe = e > 1
    ffn = 3 * d * r * d * np.where(moe, e / k, 1.0) + np.where(moe, d * e, 0.0)
    emb = v * d * np.where(np.asarray(tied_embeddings, bool), 1.0, 2.0)
    return {
        "n_layers": l, "d_model": d, "d_kv": hkv * hd, "ffn_ratio": r, "rho": k / e,
        "params": l * (attn + ffn) + emb,
        "active_params": l * (attn + 3 * d * r * d) + v * d,
        "tokens": np.asarray(tokens, float) * np.ones_like(d),
        "granularity": np.where(moe, k, 1.0),
    }


# ---- fitting ---------------------------------------------------------------------------


def r_squared(y: Array, y_hat: Array) -> float:
    """Coefficient of determination 1 - SS_res / SS_tot."""
    y, y_hat = np.asarray(y, float), np.asarray(y_hat, float)
    ss_tot = float(np.sum((y - y.mean()) ** 2))
    ss_res = float(np.sum((y - y_hat) ** 2))
    return 1.0 - ss_res / ss_tot if ss_tot > 0 else float("nan")


@dataclass(frozen=True)
class FitResult:
    """Outcome of :func:`fit_law`.

    Attributes:
        law: the law with the fitted coefficients.
        r2_train / r2_holdout: R^2 on the fitting rows and on the held-out rows (NaN when no
            rows were held out).
        rmse_train: root-mean-square residual on the fitting rows (nats).
        n_train / n_holdout: row counts.
        converged: the optimiser reported success.
    """

    law: LossLaw
    r2_train: float
    r2_holdout: float
    rmse_train: float
    n_train: int
    n_holdout: int
    converged: bool

    @property
    def coefficients(self) -> dict[str, float]:
        return dict(self.law.coefficients)

    def to_dict(self) -> dict[str, Any]:
        return {"law": self.law.name, "form": self.law.form, "coefficients": self.coefficients,
                "r2_train": self.r2_train, "r2_holdout": self.r2_holdout,
                "rmse_train": self.rmse_train, "n_train": self.n_train,
                "n_holdout": self.n_holdout, "converged": self.converged}


def _columns(frame: pd.DataFrame, law: LossLaw, file: str) -> dict[str, np.ndarray]:
    out = {}
    for name in law.inputs:
        col = next((c for c in _ALIASES.get(name, (name,)) if c in frame.columns), None)
        if col is None:
            raise UserError(f"{file}: missing column {excerpt(name)} (accepted names: "
                            f"{', '.join(_ALIASES.get(name, (name,)))}) for law {law.name!r}")
        v = pd.to_numeric(frame[col], errors="coerce").to_numpy(float)
        if np.any(~np.isfinite(v)) or np.any(v <= 0):
            row = int(np.flatnonzero(~np.isfinite(v) | (v <= 0))[0])
            raise UserError(f"{file}: column {col!r} row {row + 1}: expected a positive number, "
                            f"got {excerpt(frame[col].iloc[row])}")
        out[name] = v
    return out


def _target(frame: pd.DataFrame, file: str) -> np.ndarray:
    if "loss" in frame.columns:
        y = pd.to_numeric(frame["loss"], errors="coerce").to_numpy(float)
        col = "loss"
    elif "perplexity" in frame.columns:
        y = np.log(pd.to_numeric(frame["perplexity"], errors="coerce").to_numpy(float))
        col = "perplexity"
    else:
        raise UserError(f"{file}: needs a 'loss' or a 'perplexity' column")
    if np.any(~np.isfinite(y)):
        row = int(np.flatnonzero(~np.isfinite(y))[0])
        raise UserError(f"{file}: column {excerpt(col)} row {row + 1}: not a valid number")
    return y


def fit_law(data: pd.DataFrame, law: str | LossLaw = "plas", holdout: float = 0.2,
            seed: int = 0, initial: Mapping[str, float] | None = None,
            fixed: Mapping[str, float] | None = None, file: str = "<data>") -> FitResult:
    """Fit ``law``'s coefficients to training runs by non-linear least squares.

    ``data`` has one row per trained model: the law's inputs (or their aliases, e.g. l, d, d_m,
    r, rho for PLAS) and a ``loss`` (or ``perplexity``) column. A random ``holdout`` share of
    the rows (seeded) is kept out of the fit and scored separately. The optimiser starts from
    ``initial`` (default: the law's published coefficients); ``fixed`` coefficients are held.
    Coefficients are constrained to be non-negative (every published form uses positive ones).
    """
    from scipy.optimize import least_squares

    base = get_law(law)
    if not 0 <= holdout < 1:
        raise UserError(f"holdout must be in [0, 1), got {holdout}")
    x_all = _columns(data, base, file)
    y_all = _target(data, file)
    n = len(y_all)
    start = {**base.coefficients, **(initial or {})}
    fixed = dict(fixed or {})
    free = [k for k in base.coefficients if k not in fixed]
    if n < len(free) + 1:
        raise UserError(f"{file}: {n} rows cannot fit {len(free)} coefficients of "
                        f"{excerpt(base.name)} (need at least {len(free) + 1})")
    rng = np.random.default_rng(seed)
    order = rng.permutation(n)
    n_hold = int(round(holdout * n)) if holdout > 0 else 0
    if n - n_hold < len(free) + 1:
        n_hold = max(0, n - len(free) - 1)
    hold, train = order[:n_hold], order[n_hold:]
    xt = {k: v[train] for k, v in x_all.items()}
    formula = _FORMULAS[base.form]

    def coeffs(theta: np.ndarray) -> dict[str, float]:
        return {**fixed, **dict(zip(free, theta))}

    def resid(theta: np.ndarray) -> np.ndarray:
        with np.errstate(all="ignore"):
            r = formula(coeffs(theta), xt) - y_all[train]
        return np.where(np.isfinite(r), r, 1e6)

    x0 = np.array([max(float(start[k]), 1e-12) for k in free])
    sol = least_squares(resid, x0, bounds=(0.0, np.inf), x_scale=np.maximum(np.abs(x0), 1e-3),
                        method="trf", xtol=1e-15, ftol=1e-15, gtol=1e-15, max_nfev=20000)
    fitted = base.with_coefficients(coeffs(sol.x), name=f"{base.name}-fit",
                                    source=f"fitted to {file} from the form of {base.source}")
    pred_t = fitted.predict(xt)
    r2_h = float("nan")
    if n_hold:
        r2_h = r_squared(y_all[hold], fitted.predict({k: v[hold] for k, v in x_all.items()}))
    return FitResult(law=fitted, r2_train=r_squared(y_all[train], pred_t),
                     r2_holdout=r2_h,
                     rmse_train=float(np.sqrt(np.mean((pred_t - y_all[train]) ** 2))),
                     n_train=len(train), n_holdout=n_hold, converged=bool(sol.success))


def fit_law_csv(path: str | Path, law: str | LossLaw = "plas", holdout: float = 0.2,
                seed: int = 0, **kw: Any) -> FitResult:
    """:func:`fit_law` on a CSV file (errors name the file, the column and the row)."""
    p = Path(path)
    try:
        frame = pd.read_csv(p)
    except FileNotFoundError:
        raise UserError(f"{p.name}: no such file") from None
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise UserError(f"{p.name}: not a readable CSV ({str(exc).splitlines()[0]})") from None
    return fit_law(frame, law, holdout, seed, file=p.name, **kw)
