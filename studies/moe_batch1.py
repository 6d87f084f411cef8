"""MoE on the efficiency frontier as the batch grows, judged on every uncertainty draw.

Claims examined (docs/reference/plas.md Sec. 6, conclusion 1; arXiv 2602.10377, Sec. 5):

* ``moe-dominance`` at batch 1 (registered in ``studies.base``, shared with plas-orin: one
  threshold, ``MOE_DOMINANCE_SHARE``, and one latency budget, ``MOE_BUDGET_S`` = 100 ms
  total): "100 % of Pareto-optimal designs at batch 1 are MoE", on the loss-vs-decode and
  loss-vs-total fronts of the designs within the budget, FP16, on Orin and Thor;
* ``moe-decode-majority`` per batch: MoE designs still hold at least half of the loss-vs-decode
  frontier (no budget: a batch of 64 requests of 1024 + 16 tokens takes longer than 100 ms on
  almost every design, so the sweep's frontiers take every design fitting DRAM).

The PLAS grid is scored whole once per (chip, batch) at the chip as it is (driving request:
1024 prompt tokens, 16 generated per sequence, FP16); on every draw of the chips (``Uncertain``:
their ranged numbers and the cost model's prediction error) the designs that can be on a front
are re-scored at once and the fronts recomputed, with plas-orin's screen and its check on the
whole grid of the widest draws (``studies.plas_orin``: ``screen``, ``checked_draws``).

Why the share should fall with the batch: a decode step of B sequences touches
E (1 - (1 - K/E)^B) distinct experts per MoE layer (DESIGN.md, the cost model's rule), so the
expert weights streamed per step grow towards all E experts while a dense FFN of the same
activated width streams the same bytes at any B. The study shows both the expected count and
the cost model's decode-step time of each MoE design over its dense twin (same l, d, KV heads
and activated r), at the nominal chips.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from chipdse import api
from studies.base import (
    AGREE,
    CLAIMS,
    MOE_BUDGET_S,
    StudyResult,
    Uncertain,
    Verdict,
    claim,
    samples_for,
    span,
    tornado_figure,
)
from studies.plas_orin import (
    SCREEN_CUT,
    SCREEN_MARGIN,
    checked_draws,
    front_mask,
    grid_indices,
    probe_scores,
    score_draws,
    score_grid,
    screen,
    shares,
)

NAME = "moe-batch1"
ORDER = 2  # reading order in `chipdse study list`
QUESTION = ("Under every uncertainty draw, do MoE designs dominate the loss-vs-latency "
            "frontier of the PLAS grid at batch 1 on Orin and Thor (within the 100 ms driving "
            "budget), and at what batch size does the MoE share of the decode frontier fall "
            "below 50 %?")
CHIPS = ("jetson-agx-orin-64gb", "jetson-agx-thor")
BATCHES = (1, 2, 4, 8, 16, 32, 64)
BATCHES_QUICK = (1, 4, 16, 64)
MOE_SHAPES = ((8, 1), (8, 2), (16, 1), (16, 2))
MOE = CLAIMS["moe-dominance"]
SUPPORT_SHARE = MOE.threshold  # == MOE_DOMINANCE_SHARE: the threshold plas-orin uses too
BUDGET_S = MOE_BUDGET_S
CROSSOVER_SHARE = 0.50
MAJORITY = claim("moe-decode-majority", "MoE designs hold the majority of the loss-vs-decode "
                 "frontier", "MoE share of the decode frontier", CROSSOVER_SHARE, ">=",
                 "docs/reference/plas.md Sec. 6, conclusion 1 (MoE dominates at batch 1); the "
                 "50 % line is this study's definition of losing that dominance (assumption)")
FP16 = api.make_precision("fp16", "fp16", "fp16")
TORNADO_CHIP = "jetson-agx-thor"  # plas-orin's tornado covers Orin at batch 1


def _experts_touched(e: int, k: int, batch: int) -> float:
    """Expected distinct experts of one MoE layer a decode step of ``batch`` sequences touches
    (the cost model's own rule, ``api.experts_touched``)."""
    return float(api.experts_touched(e, k, batch))


def _twin_ratios(problem: Any, X: np.ndarray, frame: pd.DataFrame, col: str
                 ) -> dict[str, float]:
    """Median ``col`` time of each MoE shape over its dense twin (same l, d, KV heads, r)."""
    names = [v.name for v in problem.variables]
    j = names.index("experts")
    shapes = list(problem.variables[j].options)
    others = [i for i in range(len(names)) if i != j]
    cube = np.full(tuple(int(problem.sizes[i]) for i in others) + (len(shapes),), np.nan)
    cube[tuple(X[:, i] for i in others) + (X[:, j],)] = frame[col].to_numpy(float)
    dense = cube[..., shapes.index("1x1")]
    return {f"{e}x{k}": float(np.nanmedian(cube[..., shapes.index(f"{e}x{k}")] / dense))
            for e, k in MOE_SHAPES}


def _fronts(d: Any, loss: Any, budgeted: bool) -> dict[str, np.ndarray]:
    """Front masks of scores ``d`` (a frame or per-draw arrays): the unbudgeted decode
    frontier, and with ``budgeted`` the decode and total fronts within the budget."""
    get = (lambda k: d[k].to_numpy()) if isinstance(d, pd.DataFrame) else d.__getitem__
    ok = np.asarray(get("feasible"), bool)
    out = {"decode": front_mask(loss, get("decode_s"), ok)}
    if budgeted:
        ok_b = ok & (np.asarray(get("total_s"), float) <= BUDGET_S)
        out["decode_budget"] = front_mask(loss, get("decode_s"), ok_b)
        out["total_budget"] = front_mask(loss, get("total_s"), ok_b)
    return out


class Point:
    """One (chip, batch): the whole grid at the chip as it is, the screened designs on every
    draw and the MoE shares of the fronts (nominal and per draw)."""

    def __init__(self, u: Uncertain, chip: str, batch: int):
        self.u, self.chip, self.batch = u, chip, batch
        self.w = api.Workload("driving", batch=batch, prompt=1024, generate=16, precision=FP16,
                              metric="decode")
        self.problem = api.PlasProblem(u.chips[chip], self.w, api.Budgets())
        self.X = grid_indices(self.problem)
        self.nom = score_grid(self.problem, self.X)
        self.loss = self.nom["loss"].to_numpy(float)
        self.moe = self.nom["is_moe"].to_numpy(bool)
        self.budgeted = batch == 1
        keep = screen(self.nom, ("decode_s",), SCREEN_MARGIN)
        if self.budgeted:
            keep |= screen(self.nom, ("prefill_s", "decode_s"), SCREEN_MARGIN,
                           SCREEN_CUT * BUDGET_S)
        self.cand, d, self.probes = checked_draws(self.nom, keep, self._score, self._on_front,
                                                  budgeted=self.budgeted)
        self.d = d["draws"]

    def _score(self, rows: np.ndarray) -> dict[str, dict[str, np.ndarray]]:
        return {"draws": score_draws(self.problem, self.X[rows], self.u.draws.chips[self.chip],
                                     self.u.draws.time_factor[self.chip])}

    def _on_front(self, i: int) -> np.ndarray:
        full = probe_scores(self.problem, self.X, self.u.draws.chips[self.chip][i],
                            self.u.draws.time_factor[self.chip], i)
        on = np.zeros(len(self.X), dtype=bool)
        for m in _fronts(full, self.loss, self.budgeted).values():
            on |= m[0]
        return on

    def shares(self) -> dict[str, tuple[float, np.ndarray]]:
        """{front: (nominal MoE share, MoE share per draw)}."""
        nom = _fronts(self.nom, self.loss, self.budgeted)
        drawn = _fronts(self.d, self.loss[self.cand], self.budgeted)
        return {k: (float(shares(nom[k], self.moe)), shares(drawn[k], self.moe[self.cand]))
                for k in nom}

    def tornado(self, seed: int) -> pd.DataFrame:
        """``Uncertain.tornado`` of the MoE share of the budgeted decode front (batch 1) over
        this chip's numbers, every chip it asks for scored in one vectorised call (as
        plas-orin's ``Case.tornado``)."""
        asked: list[tuple[Any, dict[str, float]]] = []
        mine = Uncertain([self.chip], 1, seed)  # the ends of this chip's numbers alone

        def record(chips, factors):
            asked.append((chips[self.chip], dict(factors[self.chip])))
            return 0.0

        mine.tornado(record, top=None)
        f = {ph: np.array([a[1][ph] for a in asked]) for ph in ("prefill", "decode")}
        d = score_draws(self.problem, self.X[self.cand], [a[0] for a in asked], f)
        front = _fronts(d, self.loss[self.cand], True)["decode_budget"]
        values = iter(shares(front, self.moe[self.cand]))
        return mine.tornado(lambda chips, factors: float(next(values)), top=None)


def _crossover(shares_by_batch: np.ndarray, batches: np.ndarray) -> np.ndarray:
    """Per draw (columns): the first batch whose decode-frontier MoE share is below 50 %
    (inf where none is)."""
    below = shares_by_batch < CROSSOVER_SHARE
    first = np.argmax(below, axis=0)
    return np.where(below.any(axis=0), batches[first].astype(float), np.inf)


def _trend(v: pd.Series) -> str:
    """How the nominal share moves with the batch: monotone, or where it rises again."""
    steps = list(zip(v.index[:-1], v.index[1:]))
    ups = [(a, b) for a, b in steps if v[b] > v[a] + 1e-12]
    downs = [(a, b) for a, b in steps if v[b] < v[a] - 1e-12]
    if not ups and downs:
        return "falls at every step" if len(downs) == len(steps) else "never rises"
    if not downs and ups:
        return "never falls"
    if not ups and not downs:
        return "is constant"
    return "is not monotone: it rises " + ", ".join(
        f"{v[a]:.0%} -> {v[b]:.0%} from B={a} to B={b}" for a, b in ups)


def _band_text(nominal: float, s: np.ndarray) -> str:
    return f"{nominal:.0%} ({np.nanpercentile(s, 5):.0%}-{np.nanpercentile(s, 95):.0%})"


def _batch_text(x: float, last: int) -> str:
    return f"beyond {last}" if not np.isfinite(x) else f"{x:.0f}"


def run(out_dir: str | Path, quick: bool = False, seed: int = 0) -> StudyResult:
    batches = BATCHES_QUICK if quick else BATCHES
    n = samples_for(quick)
    u = Uncertain(CHIPS, n, seed)
    rows, verdicts_b1, verdicts_sweep, per_draw, crossing = [], [], [], {}, {}
    points = {}
    for chip in CHIPS:
        sweep = []
        for b in batches:
            pt = Point(u, chip, b)
            points[(chip, b)] = pt
            sh = pt.shares()
            frame = pt.nom.assign(decode_s_per_token=pt.nom["decode_s"] / pt.w.generate)
            fm = frame["feasible"].to_numpy(bool)
            dec = frame[front_mask(pt.loss, frame["decode_s"], fm)]
            tot = frame[front_mask(pt.loss, frame["total_s"], fm)]
            moe_dec = dec[dec["is_moe"]]
            ratios = _twin_ratios(pt.problem, pt.X, frame, "decode_s")
            pre_ratios = _twin_ratios(pt.problem, pt.X, frame, "prefill_s")
            nom_s, s = sh["decode"]
            sweep.append(s)
            per_draw[f"{chip}_B{b}_decode"] = s
            row = dict(
                chip=chip, batch=b, designs=len(frame), feasible=int(fm.sum()),
                candidates=len(pt.cand), probes=len(pt.probes),
                probe_added=sum(m for _, m in pt.probes), probe_exact=pt.probes[-1][1] == 0,
                front_decode=len(dec), moe_share_decode=nom_s,
                moe_share_decode_p05=np.nanpercentile(s, 5),
                moe_share_decode_p95=np.nanpercentile(s, 95),
                moe_share_decode_holding=float(np.mean(MAJORITY.holds(s))),
                front_total=len(tot), moe_share_total=float(tot["is_moe"].mean()),
                top1_share_of_moe_decode=float((moe_dec["top_k"] == 1).mean())
                if len(moe_dec) else np.nan,
                median_experts_moe_decode=float(moe_dec["n_experts"].median())
                if len(moe_dec) else np.nan,
                fastest_decode_ms_per_token=float(dec["decode_s"].min() / pt.w.generate * 1e3),
                slowest_decode_ms_per_token=float(dec["decode_s"].max() / pt.w.generate * 1e3),
                **{f"touched_{e}x{k}": _experts_touched(e, k, b) for e, k in MOE_SHAPES},
                **{f"touched_frac_{e}x{k}": _experts_touched(e, k, b) / e
                   for e, k in MOE_SHAPES},
                prefill_share_total_front=float((tot["prefill_s"] / tot["total_s"]).median()),
                **{f"decode_ratio_{k}": r for k, r in ratios.items()},
                **{f"prefill_ratio_{k}": r for k, r in pre_ratios.items()})
            if pt.budgeted:
                for k, label in (("decode_budget", "decode"), ("total_budget", "total")):
                    nk, sk = sh[k]
                    row[f"moe_share_{label}_budget"] = nk
                    row[f"moe_share_{label}_budget_p05"] = np.nanpercentile(sk, 5)
                    row[f"moe_share_{label}_budget_p95"] = np.nanpercentile(sk, 95)
                    per_draw[f"{chip}_B1_{label}_budget"] = sk
                    verdicts_b1.append(Verdict(MOE, nk, sk, f"{chip}, B=1, {label} front "
                                               f"<= {BUDGET_S * 1e3:.0f} ms"))
            verdicts_sweep.append(Verdict(MAJORITY, nom_s, s, f"{chip}, B={b}"))
            rows.append(row)
        crossing[chip] = _crossover(np.array(sweep), np.array(batches))
    t = pd.DataFrame(rows)

    tor_pt = points[(TORNADO_CHIP, 1)]
    full_t = tor_pt.tornado(seed)
    tornado = full_t[full_t.swing > 1e-12].head(10).reset_index(drop=True)
    swing = ", ".join(tornado.number.head(2).str.replace("family:", "")) if len(tornado) else ""
    for v in verdicts_b1:
        if v.scope.startswith(f"{TORNADO_CHIP}, B=1, decode"):
            v.swing = swing
    verdicts = verdicts_b1 + verdicts_sweep

    answer = _answer(t, verdicts_b1, verdicts_sweep, crossing, tornado, batches, n)
    draws_t = pd.DataFrame({"draw": np.arange(n)} | per_draw | {
        f"{c}_crossover_batch": crossing[c] for c in CHIPS})
    return StudyResult(
        name=NAME, question=QUESTION,
        setup=[f"chips: {', '.join(CHIPS)}; batches: {', '.join(map(str, batches))}",
               "workload: prompt 1024, 16 generated tokens per sequence (driving), FP16",
               "space: the PLAS grid, every design scored once per (chip, batch) at the chip "
               "as it is; only designs fitting DRAM (weights + KV + activations) count",
               f"batch-1 claim (moe-dominance, >= {SUPPORT_SHARE:.0%}): fronts of the designs "
               f"within {BUDGET_S * 1e3:.0f} ms total (MOE_BUDGET_S, as plas-orin), "
               "non-dominated in (loss, decode latency) and (loss, total latency)",
               "sweep (moe-decode-majority, >= 50 %): the loss-vs-decode frontier of every "
               "design fitting DRAM (no budget); the total-latency frontier at the nominal "
               "chips beside it",
               f"uncertainty: {n} seeded draws (seed {seed}) of both chips' ranged numbers and "
               f"prediction errors; per draw {t.candidates.min()}-{t.candidates.max()} "
               f"candidate designs per (chip, batch) (screen margin {SCREEN_MARGIN:.2f}) "
               "re-scored and the fronts recomputed, the screen checked on the whole grid of "
               f"the widest draws (designs it missed there added: {int(t.probe_added.sum())}; "
               f"exact on the last probe of every point: "
               f"{'yes' if t.probe_exact.all() else 'NO'})",
               "loss: the PLAS law (Eq. 15); experts touched assume uniform routing "
               "(E(1-(1-K/E)^B)); the cost model adds its Zipf routing skew",
               f"a verdict needs {AGREE:.0%} of the draws to agree"],
        answer=answer, supports=None, table=t,
        figures={"moe_share.png": _figure(t, per_draw, batches, n),
                 "tornado.png": tornado_figure(
                     tornado, "MoE share of the batch-1 decode front within 100 ms "
                     "(fraction of its designs)", SUPPORT_SHARE,
                     f"What swings the batch-1 MoE share on {TORNADO_CHIP} (claim >= "
                     f"{SUPPORT_SHARE:.0%} dashed)")},
        extra_tables={"draws.csv": draws_t},
        config={"chips": list(CHIPS), "batches": list(batches), "draws": n,
                "budget_s": BUDGET_S, "support_share": SUPPORT_SHARE,
                "crossover_share": CROSSOVER_SHARE, "screen_margin": SCREEN_MARGIN,
                "tornado_metric": f"{TORNADO_CHIP} B=1 decode front (budgeted) MoE share"},
        verdicts=verdicts, tornado=tornado)


def _answer(t: pd.DataFrame, b1: list[Verdict], sweep: list[Verdict], crossing: dict,
            tornado: pd.DataFrame, batches: tuple[int, ...], n: int) -> str:
    last = int(max(batches))

    def vt(v: Verdict) -> str:
        lo, hi = v.band
        return f"{v.nominal:.0%} ({lo:.0%}-{hi:.0%}, {v.word})"

    claim_txt = "; ".join(f"{v.scope.replace(', B=1', '')}: {vt(v)}" for v in b1)
    parts = []
    for chip in CHIPS:
        sub = t[t.chip == chip].set_index("batch")
        vs = [v for v in sweep if v.scope.startswith(chip)]
        x = crossing[chip]
        never = float(np.mean(~np.isfinite(x)))
        med = _batch_text(float(np.percentile(x, 50, method="nearest")), last)
        lo, hi = (_batch_text(float(np.percentile(x, q, method="nearest")), last)
                  for q in (5, 95))
        below = sub.index[sub.moe_share_decode < CROSSOVER_SHARE]
        first_nom = int(below[0]) if len(below) else None
        parts.append(
            f"{chip}: MoE share of the decode frontier "
            + ", ".join(f"B={v.scope.split('B=')[1]} {vt(v)}" for v in vs)
            + (f"; first below 50 % at batch {first_nom}" if first_nom else
               f"; never below 50 % up to batch {last}")
            + f" (over the draws: median batch {med}, 5-95 % {lo} to {hi}"
            + (f", never in {never:.0%} of draws" if never > 0 else "") + ")"
            + f"; with the batch the nominal share {_trend(sub.moe_share_decode)}"
            + f"; total-latency frontier (nominal) {sub.loc[1, 'moe_share_total']:.0%} at B=1, "
            f"{sub.loc[last, 'moe_share_total']:.0%} at B={last}")
    sub1 = t[t.chip == CHIPS[0]].set_index("batch")
    mech = (
        f"A decode step of B sequences touches E(1-(1-K/E)^B) experts per layer - for 16x1, "
        f"{sub1.loc[1, 'touched_16x1']:.0f} at B=1, "
        + ", ".join(f"{sub1.loc[b, 'touched_16x1']:.1f} at B={b}" for b in sub1.index if b > 1)
        + f". In the cost model a 16x1 design's decode step takes "
        f"{sub1.loc[1, 'decode_ratio_16x1']:.2f}x its dense twin's time at B=1 and "
        f"{sub1.loc[last, 'decode_ratio_16x1']:.2f}x at B={last} (8x1: "
        f"{sub1.loc[1, 'decode_ratio_8x1']:.2f}x -> {sub1.loc[last, 'decode_ratio_8x1']:.2f}x)"
        f" on {CHIPS[0]}, while the PLAS law's loss does not depend on B.")
    lastrows = t[t.batch == last].set_index("chip")
    if (t.moe_share_total >= CROSSOVER_SHARE).all():
        mech += (f" The total-latency frontier stays MoE-majority at every batch (lowest "
                 f"{t.moe_share_total.min():.0%}): at B={last} prefill is "
                 f"{lastrows.prefill_share_total_front.min():.0%}-"
                 f"{lastrows.prefill_share_total_front.max():.0%} of its designs' total "
                 "latency (median), where a 16x1 design costs "
                 f"{span(lastrows.prefill_ratio_16x1, '.2f')}x its dense twin's.")
    top = "; ".join(f"{r.number.replace('family:', '')} {r.metric_low:.0%} to "
                    f"{r.metric_high:.0%}" for r in tornado.head(3).itertuples())
    return (f"Batch 1, FP16, within the {BUDGET_S * 1e3:.0f} ms budget (nominal, 5-95 % of {n} "
            f"draws, verdict against {SUPPORT_SHARE:.0%}, the threshold plas-orin uses): "
            f"{claim_txt}. On {TORNADO_CHIP} the batch-1 decode share swings most with {top}. "
            "Without a budget, by batch: " + "; ".join(parts) + ". " + mech)


def _figure(t: pd.DataFrame, per_draw: dict, batches: tuple[int, ...], n: int):
    fig, (c0, a, b) = plt.subplots(1, 3, figsize=(14, 4.9),
                                   gridspec_kw={"width_ratios": [1.0, 2.2, 2.0]})
    colours = dict(zip(CHIPS, ("tab:blue", "tab:orange")))
    # (a) the batch-1 claim: fronts within the shared budget.
    x = 0
    ticks = []
    for chip in CHIPS:
        s1 = t[(t.chip == chip) & (t.batch == 1)].iloc[0]
        for k, mk in (("decode", "D"), ("total", "^")):
            y = s1[f"moe_share_{k}_budget"] * 100
            lo, hi = s1[f"moe_share_{k}_budget_p05"] * 100, s1[f"moe_share_{k}_budget_p95"] * 100
            c0.errorbar([x], [y], yerr=[[max(y - lo, 0)], [max(hi - y, 0)]], fmt=mk,
                        color=colours[chip], ms=6, capsize=3, lw=1.2)
            ticks.append(f"{chip.replace('jetson-agx-', '')}\n{k}")
            x += 1
    c0.axhline(SUPPORT_SHARE * 100, color="crimson", lw=0.9, ls="--",
               label=f"claim: >= {SUPPORT_SHARE:.0%} MoE")
    c0.set_xticks(range(len(ticks)))
    c0.set_xticklabels(ticks, fontsize=8)
    c0.set_xlim(-0.6, len(ticks) - 0.4)
    c0.set_ylim(75, 100.5)
    c0.set_ylabel("MoE share of the front (% of its designs)")
    c0.set_title(f"B = 1, fronts <= {BUDGET_S * 1e3:.0f} ms\n(nominal; whiskers 5-95 % of {n} "
                 "draws)", fontsize=9)
    c0.legend(fontsize=7, loc="lower right")
    c0.grid(alpha=0.3, axis="y")
    # (b) the sweep: the decode frontier of every design fitting DRAM.
    for chip, sub in t.groupby("chip", sort=False):
        c = colours[chip]
        a.fill_between(sub.batch, sub.moe_share_decode_p05 * 100, sub.moe_share_decode_p95 * 100,
                       color=c, alpha=0.2, lw=0)
        a.plot(sub.batch, sub.moe_share_decode * 100, "o-", color=c,
               label=f"{chip}: decode frontier (band 5-95 % of draws)")
        a.plot(sub.batch, sub.moe_share_total * 100, "s--", color=c, lw=0.9, ms=4,
               label=f"{chip}: total frontier (nominal)")
    a.axhline(CROSSOVER_SHARE * 100, color="k", lw=0.8, ls=":",
              label=f"{CROSSOVER_SHARE:.0%}: majority (moe-decode-majority)")
    a.set_xscale("log", base=2)
    a.set_xticks(list(batches))
    a.set_xticklabels([str(v) for v in batches])
    a.set_ylim(0, 105)
    a.set_xlabel("batch size (sequences per decode step)")
    a.set_ylabel("MoE share of the frontier (% of its designs)")
    a.set_title("No budget: every design fitting DRAM", fontsize=9)
    a.legend(fontsize=7, loc="lower left")
    a.grid(alpha=0.3)
    # (c) why: the experts a decode step streams.
    sub = t[t.chip == CHIPS[0]]
    for e, k in MOE_SHAPES:
        line, = b.plot(sub.batch, sub[f"decode_ratio_{e}x{k}"], "o-",
                       label=f"{e}x{k}: decode-step time / dense twin's")
        # Expert FFN bytes per step over the dense twin's FFN bytes: touched experts of width
        # r d / K each, against one FFN of width r d (8x1 and 16x2 coincide).
        b.plot(sub.batch, sub[f"touched_{e}x{k}"] / k, ":", color=line.get_color(), lw=0.9)
    b.plot([], [], "k:", lw=0.9, label="dotted: expert FFN bytes per step / dense FFN bytes")
    b.set_xscale("log", base=2)
    b.set_xticks(list(batches))
    b.set_xticklabels([str(v) for v in batches])
    b.set_yscale("log")
    b.set_ylim(0.9, 60)  # headroom for the legend
    b.set_xlabel("batch size (sequences per decode step)")
    b.set_ylabel("MoE design / its dense twin (ratio, log)")
    b.set_title(f"Why: the experts a step streams ({CHIPS[0]}, nominal)", fontsize=9)
    b.legend(fontsize=7, loc="upper left")
    b.grid(alpha=0.3)
    fig.suptitle("MoE on the loss-vs-latency frontier vs batch (PLAS grid, 1024 + 16 tokens, "
                 "FP16)")
    fig.tight_layout()
    return fig
