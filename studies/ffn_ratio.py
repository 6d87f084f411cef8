"""The loss-optimal FFN ratio r per latency budget and chip, against the conventional 4x.

Claim examined (docs/reference/plas.md Sec. 6, conclusion 4): "the fixed 4x FFN ratio is wasteful on
constrained hardware: matrix and activation units need flexible ratios"; the paper's Pareto
designs have r well below 4, often below 1 (arXiv 2602.10377, Sec. 5). For each (chip,
precision) the PLAS grid is scored exhaustively once (driving request: batch 1, 1024 prompt
tokens, 16 generated; memory bounded by the chip's DRAM) and every budget is applied to that one
table: the lowest-loss design within the budget, its r, and the loss of the best design forced
to r = 4 (r in [3.75, 4.25], the grid's steps around 4). r is the activated FFN expansion
(for MoE, K times the expert's), as in the paper, so a dense and an MoE design of equal r do the
same FFN work per token; the best dense design is reported beside."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from chipdse import api
from studies.base import StudyResult

NAME = "ffn-ratio"
ORDER = 5  # reading order in `chipdse study list`
QUESTION = ("Under each scenario latency budget on Orin, Thor and M100, is the loss-optimal FFN "
            "ratio below the conventional 4x, and how much loss does forcing r = 4 cost?")
CHIPS = ("jetson-agx-orin-64gb", "jetson-agx-thor", "li-m100")
CHIPS_QUICK = ("jetson-agx-orin-64gb", "li-m100")
# (latency metric, budget in s): embodied < 20 ms decode; total-latency budgets from 50 ms to
# the smart-home 500 ms, with the driving 100 ms (arXiv 2602.10377, Table 2) among them.
BUDGETS = (("decode", 0.020), ("total", 0.050), ("total", 0.100), ("total", 0.200),
           ("total", 0.500))
R4 = (3.75, 4.25)  # "r = 4": the grid's r values within one step pair of 4
MATERIAL_NATS = 0.01  # a loss penalty >= 0.01 nats (about 1 % perplexity) counts as a cost


def _best(ok: pd.DataFrame) -> pd.Series | None:
    return ok.loc[ok["loss"].idxmin()] if len(ok) else None


def _row(chip: str, pname: str, metric: str, budget: float, frame: pd.DataFrame) -> dict:
    ok = frame[frame["feasible"] & (frame[f"{metric}_s"] <= budget)]
    r4 = ok[(ok["ffn_ratio"] >= R4[0]) & (ok["ffn_ratio"] <= R4[1])]
    dense = ok[~ok["is_moe"]]
    dense_r4 = dense[(dense["ffn_ratio"] >= R4[0]) & (dense["ffn_ratio"] <= R4[1])]
    b, b4, bd, bd4 = _best(ok), _best(r4), _best(dense), _best(dense_r4)
    row = dict(chip=chip, precision=pname, budget_metric=metric, budget_ms=budget * 1e3,
               n_feasible=len(ok), n_feasible_r4=len(r4))
    if b is None:
        return row
    row.update(best_layers=b["n_layers"], best_d_model=b["d_model"], best_experts=b["experts"],
               best_kv_heads=b["kv_heads"], best_r=b["ffn_ratio"], best_is_moe=bool(b["is_moe"]),
               best_loss=b["loss"], best_latency_ms=b[f"{metric}_s"] * 1e3,
               best_r_lt_4=bool(b["ffn_ratio"] < 4))
    if b4 is not None:
        row.update(r4_layers=b4["n_layers"], r4_d_model=b4["d_model"], r4_experts=b4["experts"],
                   r4_r=b4["ffn_ratio"], r4_loss=b4["loss"],
                   r4_penalty_nats=b4["loss"] - b["loss"],
                   r4_perplexity_increase=float(np.exp(b4["loss"] - b["loss"]) - 1.0))
    if bd is not None:
        row.update(dense_best_r=bd["ffn_ratio"], dense_best_loss=bd["loss"],
                   dense_best_layers=bd["n_layers"], dense_best_d_model=bd["d_model"])
        if bd4 is not None:
            row.update(dense_r4_penalty_nats=bd4["loss"] - bd["loss"])
    return row


def run(out_dir: str | Path, quick: bool = False, seed: int = 0) -> StudyResult:
    chips = CHIPS_QUICK if quick else CHIPS
    precs = {"fp16": api.make_precision("fp16", "fp16", "fp16")}
    if not quick:
        precs["int8"] = api.make_precision("int8", "int8", "fp16")
    rows, curves = [], []
    for chip_name in chips:
        chip = api.load_chip(chip_name)
        for pname, prec in precs.items():
            w = api.Workload("driving", batch=1, prompt=1024, generate=16, precision=prec)
            res = api.search(chip, w, budgets=api.Budgets(), method="grid", simulator=None,
                             seed=seed)
            frame = res.frame
            for metric, budget in BUDGETS:
                rows.append(_row(chip_name, pname, metric, budget, frame))
                ok = frame[frame["feasible"] & (frame[f"{metric}_s"] <= budget)]
                env = ok.groupby("ffn_ratio")["loss"].min()
                for r, loss in env.items():
                    curves.append(dict(chip=chip_name, precision=pname, budget_metric=metric,
                                       budget_ms=budget * 1e3, ffn_ratio=r, min_loss=loss))
    t = pd.DataFrame(rows)
    env_t = pd.DataFrame(curves)
    # Verdict: over the (chip, precision, budget) cases with a feasible design, supported when
    # the best r is below 4 in most of them and forcing r = 4 costs a material loss (median
    # >= 0.01 nats, an r = 4 design that does not fit counting as a cost) in those; not
    # supported when the best r is below 4 in at most half; mixed otherwise.
    fe = t[t["n_feasible"] > 0]
    lt4 = fe[fe["best_r_lt_4"].astype(bool)]
    share_lt4 = len(lt4) / len(fe) if len(fe) else float("nan")
    pen = lt4["r4_penalty_nats"].fillna(np.inf) if len(lt4) else pd.Series(dtype=float)
    med_pen = float(pen.median()) if len(pen) else float("nan")
    if not len(fe) or share_lt4 <= 0.5:
        supports: bool | None = False
    else:
        supports = True if med_pen >= MATERIAL_NATS else None
    infeasible = t[t["n_feasible"] == 0]
    no_r4 = fe[fe["n_feasible_r4"] == 0]
    fin = lt4[lt4["r4_penalty_nats"].notna()]
    dense_lt4 = fe["dense_best_r"].dropna()
    answer = (
        f"The loss-optimal design has r < 4 in {len(lt4)} of {len(fe)} (chip, precision, "
        f"budget) cases with a feasible design ({share_lt4:.0%}); best r ranges "
        f"{fe['best_r'].min():.3g}-{fe['best_r'].max():.3g} (median {fe['best_r'].median():.3g}), "
        f"{fe['best_is_moe'].astype(bool).mean():.0%} of them MoE. "
        + (f"Forcing r = 4 costs {fin['r4_penalty_nats'].min():.3f}-"
           f"{fin['r4_penalty_nats'].max():.3f} nats "
           f"(median {fin['r4_penalty_nats'].median():.3f}; "
           f"{fin['r4_perplexity_increase'].min():.1%}-{fin['r4_perplexity_increase'].max():.1%} "
           "higher perplexity) where r = 4 fits" if len(fin) else "")
        + (f"; in {len(no_r4)} case(s) no r = 4 design fits the budget at all "
           f"({', '.join(f'{c.chip} {c.precision} {c.budget_ms:.0f} ms {c.budget_metric}' for c in no_r4.itertuples())})"  # noqa: E501
           if len(no_r4) else "")
        + ". "
        + _per_chip(fe)
        + (f" Dense designs only: best r {dense_lt4.min():.3g}-{dense_lt4.max():.3g} "
           f"(median {dense_lt4.median():.3g}; r < 4 in {(dense_lt4 < 4).mean():.0%} of cases), "
           f"forcing r = 4 costs a median {fe['dense_r4_penalty_nats'].median():.3f} nats"
           + ("; the case against 4x rests on the activated FFN of MoE designs. "
              if (dense_lt4 < 4).mean() <= 0.5 else "; dense designs also prefer r < 4. ")
           if len(dense_lt4) else "")
        + (f"No design fits {len(infeasible)} case(s): "
           + ", ".join(f"{c.chip} {c.precision} {c.budget_ms:.0f} ms {c.budget_metric}"
                       for c in infeasible.itertuples()) + "." if len(infeasible) else ""))
    return StudyResult(
        name=NAME, question=QUESTION,
        setup=[f"chips: {', '.join(chips)}", f"precisions: {', '.join(precs)} "
               "(INT8 = w8a8, kv fp16)",
               "workload: batch 1, prompt 1024, 16 generated tokens (driving)",
               "budgets: " + ", ".join(f"{m} <= {b * 1e3:.0f} ms" for m, b in BUDGETS)
               + " (decode = all 16 decode steps)",
               "space: the PLAS grid (r 0.25..6 in steps of 0.125), scored once per (chip, "
               "precision); designs must fit DRAM",
               f"r = 4 means r in [{R4[0]}, {R4[1]}]; loss: the PLAS law (Eq. 15)",
               f"seed {seed} (exhaustive scoring: nothing random)"],
        answer=answer, supports=supports, table=t, figures={"ffn_ratio.png": _figure(t, env_t)},
        extra_tables={"loss_vs_r.csv": env_t},
        config={"chips": list(chips), "precisions": list(precs),
                "budgets": [{"metric": m, "s": b} for m, b in BUDGETS], "r4_window": list(R4),
                "material_nats": MATERIAL_NATS, "share_best_r_lt_4": share_lt4,
                "median_r4_penalty_nats": med_pen})


def _per_chip(fe: pd.DataFrame) -> str:
    parts = []
    for chip, g in fe.groupby("chip", sort=False):
        g = g[g.precision == "fp16"]
        if g.empty:
            continue
        best = ", ".join(f"{r.budget_ms:.0f} ms {r.budget_metric}: r={r.best_r:.3g}"
                         f" ({r.best_experts})" for r in g.itertuples())
        parts.append(f"{chip} FP16 - {best}")
    return "Best r per budget: " + "; ".join(parts) + "."


def _figure(t: pd.DataFrame, env_t: pd.DataFrame):
    fig, (a, b, c) = plt.subplots(1, 3, figsize=(15, 4.3))
    fp = t[(t.precision == "fp16") & (t.n_feasible > 0)]
    labels = [f"{m} {v:.0f}" for m, v in dict.fromkeys(zip(t.budget_metric, t.budget_ms))]
    pos = {lab: i for i, lab in enumerate(labels)}
    for chip, g in fp.groupby("chip", sort=False):
        x = [pos[f"{m} {v:.0f}"] for m, v in zip(g.budget_metric, g.budget_ms)]
        a.plot(x, g.best_r, "o-", label=chip)
        b.plot(x, g.r4_penalty_nats, "o-", label=chip)
    a.axhline(4.0, color="k", ls="--", lw=0.8, label="r = 4")
    for ax in (a, b):
        ax.set_xticks(range(len(labels)))
        ax.set_xticklabels([f"{lab} ms" for lab in labels], fontsize=8)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    a.set_ylabel("FFN ratio r of the loss-optimal design")
    a.set_title("best r per budget (FP16)", fontsize=10)
    b.set_ylabel("loss(best with r = 4) - loss(best) (nats)")
    b.set_title("cost of forcing r = 4 (FP16)", fontsize=10)
    sel = env_t[(env_t.precision == "fp16") & (env_t.budget_metric == "total")
                & (env_t.budget_ms == 100)]
    for chip, g in sel.groupby("chip", sort=False):
        c.plot(g.ffn_ratio, g.min_loss, "-", label=chip)
    c.axvline(4.0, color="k", ls="--", lw=0.8)
    c.set_xlabel("FFN ratio r")
    c.set_ylabel("lowest loss within budget")
    c.set_title("lowest loss at each r, total <= 100 ms (FP16)", fontsize=10)
    c.grid(alpha=0.3)
    c.legend(fontsize=7)
    fig.suptitle("Loss-optimal FFN ratio vs the fixed 4x (PLAS grid, batch 1, 1024+16)")
    fig.tight_layout()
    return fig
