"""How sure a search's front is: its designs re-scored under draws of what the cost model is
not sure of (:mod:`chipdse.uncertainty`).

A PLAS search runs on one chip: each draw is that chip with its uncertain numbers drawn. A chip
sizing or co-design search builds chips from a template of one family: each draw sets the
family's ranged terms (``ChipTemplate.family_terms``). In both, the prediction error scales
each phase's time. Under every draw the front's designs are scored again, constraints
re-checked, and the non-dominated set among them recomputed; a design's ``front_share`` is the
share of draws in which it is feasible and not dominated by another front design.
"""

from __future__ import annotations

import copy
import dataclasses

import numpy as np
import pandas as pd

from chipdse.cost import ChipParams
from chipdse.search.pareto import pareto_mask
from chipdse.search.result import SearchResult

__all__ = ["front_robustness", "robustness_summary", "ROBUST_SHARE"]

ROBUST_SHARE = 0.9
"""A design is a robust member of the front when it stays on it in this share of draws."""


def _problems(problem, n: int, seed: int):
    """(problem per draw, prediction-error factors per phase)."""
    from chipdse.uncertainty import draw, draw_family

    if getattr(problem, "kind", "") == "plas":
        d = draw([problem.chip], n, seed)
        out = []
        for chip in d.chips[problem.chip.name]:
            p = copy.copy(problem)
            p.chip = chip
            p._cp = ChipParams.from_chip(chip, ideal=problem.options.ideal_chip)
            out.append(p)
        return out, d.time_factor[problem.chip.name]
    draws, factors = draw_family(problem.template.family, n, seed)
    out = []
    for terms in draws:
        p = copy.copy(problem)
        p.template = dataclasses.replace(problem.template, family_terms=terms)
        out.append(p)
    return out, factors


def front_robustness(problem, result: SearchResult, n: int = 100, seed: int = 0
                     ) -> pd.DataFrame:
    """The front of ``result`` with, per design: ``front_share`` (see the module docstring),
    ``feasible_share`` and the 5 / 95 % percentiles of every objective over ``n`` draws."""
    front = result.front.reset_index(drop=True)
    if front.empty:
        return front.assign(front_share=[], feasible_share=[])
    X = front[[f"idx_{v.name}" for v in problem.variables]].to_numpy(int)
    problems, factors = _problems(problem, n, seed)
    objs = list(problem.objectives)
    on_front = np.zeros((n, len(front)), dtype=bool)
    feasible = np.zeros((n, len(front)), dtype=bool)
    values = {o: np.empty((n, len(front))) for o in objs}
    metric = problem.workload.metric
    budget = problem.budgets.latency_s
    for i, p in enumerate(problems):
        s = p.score(X)
        pre, dec = s["prefill_s"] * factors["prefill"][i], s["decode_s"] * factors["decode"][i]
        s["prefill_s"], s["decode_s"], s["total_s"] = pre, dec, pre + dec
        s["latency_s"] = s[f"{metric}_s"]
        ok = np.asarray(s["feasible"], bool)
        if budget is not None:
            ok = ok & (s["latency_s"] <= budget)
        mat = np.column_stack([np.asarray(s[o], float) for o in objs])
        mask = np.zeros(len(front), dtype=bool)
        if ok.any():
            sub = np.flatnonzero(ok)
            mask[sub[pareto_mask(mat[sub])]] = True
        on_front[i], feasible[i] = mask, ok
        for j, o in enumerate(objs):
            values[o][i] = mat[:, j]
    out = front.copy()
    out["front_share"] = on_front.mean(axis=0)
    out["feasible_share"] = feasible.mean(axis=0)
    for o in objs:
        out[f"{o}_p05"] = np.percentile(values[o], 5, axis=0)
        out[f"{o}_p95"] = np.percentile(values[o], 95, axis=0)
    return out


def robustness_summary(table: pd.DataFrame, n: int) -> str:
    """One line: how many front designs stay on the front in most draws."""
    if table.empty:
        return "the front is empty"
    robust = int((table.front_share >= ROBUST_SHARE).sum())
    return (f"{robust} of {len(table)} front designs stay on the front in >= "
            f"{ROBUST_SHARE:.0%} of {n} draws; median share {table.front_share.median():.0%}")
