"""What every study writes (results.csv, verdicts.csv, tornado.csv, its figures, verdict.md
and config.json), the claims and thresholds studies share, and how a claim is judged under
uncertainty: on every seeded draw of the chips' uncertain numbers and of the cost model's
prediction error (:class:`Uncertain`), "supported" or "not supported" only where at least
:data:`AGREE` of the draws agree (:class:`Verdict`), with a tornado of what swings it.

This module imports ``chipdse.io`` (beside ``chipdse.api``, the only chipdse module a study
uses) because writing a study's outputs is file infrastructure, not an experiment: ``io``
writes each file atomically (a temporary file renamed into place) and builds config.json, so
an interrupted run never leaves a half-written CSV or verdict behind.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from chipdse import api, io

__all__ = ["StudyResult", "write_result", "MOE_DOMINANCE_SHARE", "span", "Claim", "claim",
           "CLAIMS", "Verdict", "AGREE", "Uncertain", "tornado_figure", "samples_for",
           "verdict_table", "MOE_BUDGET_S"]

# A front counts as "all MoE" (arXiv 2602.10377 Sec. 5: "100 % of Pareto-optimal designs at
# batch 1 are MoE") when at least this share of its designs are MoE: 5 % of front points are
# allowed for rounding at the extremes. Shared by plas-orin and moe-batch1 so that both read
# the claim with one threshold, on fronts under one latency budget.
MOE_DOMINANCE_SHARE = 0.95
MOE_BUDGET_S = 0.100  # the driving budget (arXiv 2602.10377 Table 2), for both studies

AGREE = 0.9
"""A claim is "supported" (or "not supported") only when at least this share of the
uncertainty draws agree; otherwise it is "undetermined"."""


def samples_for(quick: bool) -> int:
    """Draws a study evaluates its claims on (fewer in quick mode)."""
    return 40 if quick else 200


@dataclass(frozen=True)
class Claim:
    """A claim a study tests: a metric and the threshold it must pass.

    ``direction`` ">=" means the claim holds when the metric is at least ``threshold``.
    Studies that test the same claim register it under one ``key`` (:func:`claim`), so that
    one threshold serves all of them."""

    key: str
    text: str
    metric: str
    threshold: float
    direction: str = ">="
    source: str = ""

    def __post_init__(self) -> None:
        if self.direction not in (">=", "<="):
            raise ValueError(f"Claim.direction must be '>=' or '<=', got {self.direction!r}")

    def holds(self, x: Any) -> np.ndarray:
        x = np.asarray(x, dtype=float)
        return x >= self.threshold if self.direction == ">=" else x <= self.threshold


CLAIMS: dict[str, Claim] = {}
"""Every claim registered by a study, by key."""


def claim(key: str, text: str, metric: str, threshold: float, direction: str = ">=",
          source: str = "") -> Claim:
    """Register (or look up) a claim; registering one key with another threshold or
    direction is an error: a claim has one rule across studies."""
    c = Claim(key, text, metric, float(threshold), direction, source)
    old = CLAIMS.get(key)
    if old is not None and (old.threshold, old.direction) != (c.threshold, c.direction):
        raise ValueError(f"claim {key!r} is registered with {old.direction} {old.threshold:g}; "
                         f"got {c.direction} {c.threshold:g}")
    CLAIMS.setdefault(key, c)
    return CLAIMS[key]


claim("moe-dominance", "Pareto-optimal designs at batch 1 are MoE", "MoE share of the front",
      MOE_DOMINANCE_SHARE, ">=", "arXiv 2602.10377 Sec. 5")


@dataclass
class Verdict:
    """A claim evaluated at the chips as they are (``nominal``) and on every draw
    (``samples``). ``scope`` says what the number measures (a phase, a model, a chip)."""

    claim: Claim
    nominal: float
    samples: np.ndarray
    scope: str = ""
    swing: str = ""  # the terms that swing it most (from the tornado), for the verdict text

    @property
    def share_holding(self) -> float:
        s = np.asarray(self.samples, dtype=float)
        s = s[np.isfinite(s)]
        return float(np.mean(self.claim.holds(s))) if s.size else float("nan")

    @property
    def word(self) -> str:
        h = self.share_holding
        if not np.isfinite(h):
            return "undetermined"
        if h >= AGREE:
            return "supported"
        if h <= 1.0 - AGREE:
            return "not supported"
        return "undetermined"

    @property
    def band(self) -> tuple[float, float]:
        s = np.asarray(self.samples, dtype=float)
        s = s[np.isfinite(s)]
        if not s.size:
            return (float("nan"), float("nan"))
        return float(np.percentile(s, 5)), float(np.percentile(s, 95))

    def line(self, fmt: str = ".3g") -> str:
        lo, hi = self.band
        c = self.claim
        scope = f" [{self.scope}]" if self.scope else ""
        text = (f"{c.text}{scope}: {c.metric} {format(self.nominal, fmt)} "
                f"(5-95 %: {format(lo, fmt)}-{format(hi, fmt)}) against {c.direction} "
                f"{format(c.threshold, fmt)}; holds in {self.share_holding:.0%} of "
                f"{len(self.samples)} draws: **{self.word.upper()}**")
        return text + (f" (swung most by {self.swing})" if self.swing else "")


def verdict_table(verdicts: Sequence[Verdict]) -> pd.DataFrame:
    """One row per verdict (written as verdicts.csv)."""
    rows = []
    for v in verdicts:
        lo, hi = v.band
        rows.append(dict(claim=v.claim.key, text=v.claim.text, scope=v.scope,
                         metric=v.claim.metric, threshold=v.claim.threshold,
                         direction=v.claim.direction, nominal=v.nominal, p05=lo, p95=hi,
                         share_holding=v.share_holding, draws=len(v.samples),
                         verdict=v.word, swing=v.swing))
    return pd.DataFrame(rows)


class Uncertain:
    """The chips a study uses, with seeded joint draws of what is uncertain about them
    (``chipdse.api.draw``): their ranged numbers and the cost model's prediction error.

    ``metric(chips, factors)`` is any function of a ``{name: Chip}`` mapping and a
    ``{name: {"prefill": f, "decode": f}}`` mapping of time factors returning a float (or a
    dict of floats); :meth:`evaluate` runs it at the chips as they are and on every draw,
    :meth:`tornado` at each uncertain number's low and high end with the others as they are.
    Studies with vectorised metrics use :attr:`draws` directly (``api.estimate_samples``,
    ``api.frame_estimate_samples``)."""

    def __init__(self, chips: Sequence[Any], n: int, seed: int = 0):
        self.chips = {c.name: c for c in (api.load_chip(x) for x in chips)}
        self.draws = api.draw(list(self.chips.values()), n, seed)
        self.n = n

    @property
    def ones(self) -> dict[str, dict[str, float]]:
        return {k: {"prefill": 1.0, "decode": 1.0} for k in self.chips}

    def sample(self, i: int) -> tuple[dict[str, Any], dict[str, dict[str, float]]]:
        """The chips and time factors of draw ``i``."""
        chips = {k: self.draws.chips[k][i] for k in self.chips}
        f = {k: {p: float(v[i]) for p, v in self.draws.time_factor[k].items()}
             for k in self.chips}
        return chips, f

    def evaluate(self, metric: Callable) -> tuple[Any, list[Any]]:
        """(metric at the chips as they are, metric on every draw)."""
        nominal = metric(self.chips, self.ones)
        return nominal, [metric(*self.sample(i)) for i in range(self.n)]

    def tornado(self, metric: Callable, top: int | None = 10) -> pd.DataFrame:
        """Metric at each uncertain number's low and high end (others as they are), and at
        the 5 / 95 % prediction error of each phase; sorted by swing, the ``top`` largest."""
        from chipdse.uncertainty import Z90

        base = float(metric(self.chips, self.ones))
        rows = []
        keys = sorted(self.draws.numbers)
        for key in keys:
            v = self.draws.numbers[key]
            ends = []
            for value in (v.low, v.high):
                chips = {}
                for name, c in self.chips.items():
                    own = key if v.family_term else key.split(":", 1)[1]
                    mine = v.family_term or key.split(":", 1)[0] == name
                    if mine and own in c.ranges:
                        chips[name] = api.chip_at(c, {own: value})
                    else:
                        chips[name] = c
                ends.append(float(metric(chips, self.ones)))
            rows.append(dict(number=key, low=v.low, high=v.high, nominal=v.nominal,
                             metric_low=ends[0], metric_high=ends[1], kind="fitted"
                             if v.fitted else "assumption"))
        groups: dict[tuple[str, str], list[str]] = {}
        for name, c in self.chips.items():
            role, sig = api.prediction_error(c)
            for ph in ("prefill", "decode"):
                if sig[ph] > 0:
                    groups.setdefault((f"{c.family} {role}", ph), []).append(name)
        for (label, ph), names in sorted(groups.items()):
            role, sig = api.prediction_error(self.chips[names[0]])
            ends = []
            for sgn in (-1.0, 1.0):
                f = self.ones
                for name in names:
                    f[name][ph] = float(np.exp(sgn * Z90 * sig[ph]))
                ends.append(float(metric(self.chips, f)))
            rows.append(dict(number=f"prediction error ({label}, {ph})",
                             low=float(np.exp(-Z90 * sig[ph])), high=float(np.exp(Z90 * sig[ph])),
                             nominal=1.0, metric_low=ends[0], metric_high=ends[1],
                             kind="prediction error"))
        t = pd.DataFrame(rows)
        if t.empty:
            return t
        t["base"] = base
        t["swing"] = (t.metric_high - t.metric_low).abs()
        t = t.sort_values("swing", ascending=False).reset_index(drop=True)
        return t.head(top) if top else t


def tornado_figure(table: pd.DataFrame, metric_label: str, threshold: float | None = None,
                   title: str = ""):
    """A tornado chart: each number's low and high end as a bar from the base value; the
    claim's threshold as a dashed line."""
    import matplotlib.pyplot as plt

    t = table.iloc[::-1]
    fig, ax = plt.subplots(figsize=(7.5, 0.42 * len(t) + 1.6))
    base = float(t.base.iloc[0]) if len(t) else 0.0
    y = np.arange(len(t))
    lo = t.metric_low.to_numpy(float) - base
    hi = t.metric_high.to_numpy(float) - base
    ax.barh(y, lo, left=base, color="#4c72b0", label="number at its low end")
    ax.barh(y, hi, left=base, color="#dd8452", label="number at its high end")
    ax.axvline(base, color="black", lw=0.8)
    if threshold is not None:
        ax.axvline(threshold, color="crimson", ls="--", lw=1.0, label="claim threshold")
    ax.set_yticks(y)
    ax.set_yticklabels([_short(n) for n in t.number], fontsize=7)
    ax.set_xlabel(metric_label)
    ax.set_title(title or f"what swings {metric_label}", fontsize=9)
    ax.legend(fontsize=7, loc="best")
    ax.grid(True, axis="x", lw=0.3, alpha=0.5)
    fig.tight_layout()
    return fig


def _short(number: str) -> str:
    """A tornado label: the family or chip prefix shortened."""
    s = number.replace("family:", "")
    return s if len(s) <= 60 else s[:57] + "..."


def span(values: Any, fmt: str) -> str:
    """'lo-hi' of ``values`` in format ``fmt`` (e.g. ".2f", ".0%"), or one value when both
    ends print the same."""
    v = pd.Series(values, dtype=float)
    lo, hi = format(float(v.min()), fmt), format(float(v.max()), fmt)
    return lo if lo == hi else f"{lo}-{hi}"


@dataclass
class StudyResult:
    """Outcome of one study.

    Attributes:
        name / question: what was asked.
        setup: chips, models, workloads, seeds (one line each).
        answer: the measured answer, in numbers.
        supports: True / False / None (mixed, undetermined or not applicable) for the claims
            examined; derived from ``verdicts`` when they are given.
        table: the results (written as results.csv).
        figures: {file name: matplotlib figure}.
        extra_tables: more CSVs {file name: DataFrame}.
        config: resolved inputs for config.json.
        verdicts: each claim evaluated under uncertainty (written as verdicts.csv).
        tornado: what swings the headline verdict metric (written as tornado.csv).
    """

    name: str
    question: str
    setup: list[str]
    answer: str
    supports: bool | None
    table: pd.DataFrame
    figures: dict[str, Any] = field(default_factory=dict)
    extra_tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    config: dict[str, Any] = field(default_factory=dict)
    verdicts: list[Verdict] = field(default_factory=list)
    tornado: pd.DataFrame | None = None

    def __post_init__(self) -> None:
        if self.verdicts:
            words = {v.word for v in self.verdicts}
            self.supports = (True if words == {"supported"} else
                             False if words == {"not supported"} else None)

    @property
    def verdict_word(self) -> str:
        if self.verdicts and self.supports is None:
            return "MIXED OR UNDETERMINED"
        return {True: "SUPPORTED", False: "NOT SUPPORTED", None: "MIXED"}[self.supports]

    def write(self, out_dir: str | Path, quick: bool, seed: int) -> Path:
        """Write results.csv, the extra tables, the figures, verdict.md and config.json."""
        return write_result(self, out_dir, quick, seed)

    def verdict_markdown(self) -> str:
        setup = "\n".join(f"- {s}" for s in self.setup)
        text = (f"# {self.name}\n\n**Question.** {self.question}\n\n**Setup.**\n{setup}\n\n"
                f"**Answer.** {self.answer}\n\n")
        if self.verdicts:
            text += (f"**Claims under uncertainty** (a verdict needs {AGREE:.0%} of the draws "
                     "to agree; otherwise undetermined):\n\n"
                     + "\n".join(f"- {v.line()}" for v in self.verdicts) + "\n\n")
        if self.tornado is not None and not self.tornado.empty:
            t = self.tornado.head(5)
            text += ("**What swings it most** (tornado.csv): "
                     + "; ".join(f"{_short(r.number)} ({r.metric_low:.3g} to "
                                 f"{r.metric_high:.3g})" for r in t.itertuples()) + ".\n\n")
        return text + f"**Verdict: {self.verdict_word}.**\n"


def write_result(result: StudyResult, out_dir: str | Path, quick: bool, seed: int) -> Path:
    """Write a study's files into ``out_dir`` (atomically, file by file)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    io.write_csv(out / "results.csv", result.table)
    for fname, frame in result.extra_tables.items():
        io.write_csv(out / fname, frame)
    if result.verdicts:
        io.write_csv(out / "verdicts.csv", verdict_table(result.verdicts))
    if result.tornado is not None and not result.tornado.empty:
        io.write_csv(out / "tornado.csv", result.tornado)
    for fname, fig in result.figures.items():
        io.save_figure(fig, out / fname)
    io.write_text(out / "verdict.md", result.verdict_markdown())
    io.write_json(out / "config.json", io.run_config(
        f"study run {result.name}", {"quick": quick, **result.config}, seed))
    return out
