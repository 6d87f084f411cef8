"""MoE on the efficiency frontier as the batch grows.

Claim examined (plas.md Sec. 6, conclusion 1; arXiv 2602.10377, Sec. 5): at batch 1, MoE sparse
architectures dominate the efficiency frontier ("100 % of Pareto-optimal designs at batch 1 are
MoE"). The PLAS grid is scored exhaustively once per (chip, batch) for the driving request
(1024 prompt tokens, 16 generated, FP16), bounded only by the chip's DRAM. The primary
frontier is loss against decode latency per token (a driving request is decode-heavy at batch
1); loss against total request latency is reported beside it.

Why the share should fall with the batch: a decode step of B sequences touches
E (1 - (1 - K/E)^B) distinct experts per MoE layer (DESIGN.md, the cost model's rule), so the
expert weights streamed per step grow towards all E experts while a dense FFN of the same
activated width streams the same bytes at any B. The study shows both the expected count and
the cost model's decode-step time of each MoE design over its dense twin (same l, d, KV heads
and activated r)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from chipdse import api  # noqa: E402
from studies.base import StudyResult  # noqa: E402

NAME = "moe-batch1"
QUESTION = ("Do MoE designs dominate the loss-vs-latency frontier of the PLAS grid at batch 1 on "
            "Orin and Thor, and at what batch size does the MoE share of the frontier fall "
            "below 50 %?")
CHIPS = ("jetson-agx-orin-64gb", "jetson-agx-thor")
BATCHES = (1, 2, 4, 8, 16, 32, 64)
BATCHES_QUICK = (1, 4, 16, 64)
MOE_SHAPES = ((8, 1), (8, 2), (16, 1), (16, 2))
SUPPORT_SHARE = 0.90  # supported if the batch-1 decode frontier is >= 90 % MoE on both chips
CROSSOVER_SHARE = 0.50


def _experts_touched(e: int, k: int, batch: int) -> float:
    """Expected distinct experts of one MoE layer that a decode step of ``batch`` sequences
    touches, routing uniformly: E (1 - (1 - K/E)^B)."""
    return e * (1.0 - (1.0 - k / e) ** batch)


def _twin_ratios(frame: pd.DataFrame) -> dict[str, float]:
    """Median decode-step time of each MoE shape over its dense twin (same l, d, KV heads, r)."""
    keys = ["n_layers", "d_model", "kv_heads", "ffn_ratio"]
    piv = frame.pivot_table(index=keys, columns="experts", values="decode_s", aggfunc="first")
    return {f"{e}x{k}": float((piv[f"{e}x{k}"] / piv["1x1"]).median()) for e, k in MOE_SHAPES}


def _rebound(sub: pd.DataFrame, first: int | None) -> str:
    """Batches after the first crossing where the decode frontier is MoE-majority again."""
    if first is None:
        return ""
    back = [int(b) for b in sub.index if b > first
            and sub.loc[b, "moe_share_decode"] >= CROSSOVER_SHARE]
    if not back:
        return ", and below it at every larger batch"
    shares = ", ".join(f"{sub.loc[b, 'moe_share_decode']:.0%} at B={b}" for b in back)
    return f", back to {shares}"


def run(out_dir: str | Path, quick: bool = False, seed: int = 0) -> StudyResult:
    batches = BATCHES_QUICK if quick else BATCHES
    fp16 = api.make_precision("fp16", "fp16", "fp16")
    rows = []
    for chip_name in CHIPS:
        chip = api.load_chip(chip_name)
        for b in batches:
            w = api.Workload("driving", batch=b, prompt=1024, generate=16, precision=fp16,
                             metric="decode")
            res = api.search(chip, w, budgets=api.Budgets(), method="grid", simulator=None,
                             seed=seed)
            frame = res.frame.assign(decode_s_per_token=res.frame["decode_s"] / w.generate)
            dec = res.front_for(("loss", "decode_s"))
            tot = res.front_for(("loss", "total_s"))
            moe_dec = dec[dec["is_moe"]]
            ratios = _twin_ratios(frame)
            rows.append(dict(
                chip=chip_name, batch=b, designs=len(frame),
                feasible=int(frame["feasible"].sum()),
                front_decode=len(dec), moe_share_decode=float(dec["is_moe"].mean()),
                front_total=len(tot), moe_share_total=float(tot["is_moe"].mean()),
                top1_share_of_moe_decode=float((moe_dec["top_k"] == 1).mean())
                if len(moe_dec) else np.nan,
                median_experts_moe_decode=float(moe_dec["n_experts"].median())
                if len(moe_dec) else np.nan,
                fastest_decode_ms_per_token=float(dec["decode_s"].min() / w.generate * 1e3),
                slowest_decode_ms_per_token=float(dec["decode_s"].max() / w.generate * 1e3),
                **{f"touched_{e}x{k}": _experts_touched(e, k, b) for e, k in MOE_SHAPES},
                **{f"touched_frac_{e}x{k}": _experts_touched(e, k, b) / e
                   for e, k in MOE_SHAPES},
                **{f"decode_ratio_{s}": r for s, r in ratios.items()}))
    t = pd.DataFrame(rows)

    def crossover(chip: str, col: str) -> int | None:
        sub = t[(t.chip == chip) & (t[col] < CROSSOVER_SHARE)].sort_values("batch")
        return int(sub.batch.iloc[0]) if len(sub) else None

    b1 = t[t.batch == 1].set_index("chip")
    # Supported when the batch-1 decode frontier is at least 90 % MoE on both chips.
    supports = bool((b1["moe_share_decode"] >= SUPPORT_SHARE).all())
    parts = []
    for chip in CHIPS:
        sub = t[t.chip == chip].set_index("batch")
        xd, xt = crossover(chip, "moe_share_decode"), crossover(chip, "moe_share_total")
        last = sub.index.max()
        parts.append(
            f"{chip}: MoE share of the decode frontier "
            + ", ".join(f"B={b} {sub.loc[b, 'moe_share_decode']:.0%}" for b in sub.index)
            + (f"; first below 50 % at batch {xd}" if xd else
               f"; never below 50 % up to batch {last}")
            + _rebound(sub, xd)
            + f" (total-latency frontier: {sub.loc[1, 'moe_share_total']:.0%} at B=1, "
            f"{sub.loc[last, 'moe_share_total']:.0%} at B={last}, "
            + (f"first below 50 % at batch {xt})" if xt else "never below 50 %)"))
    sub1 = t[t.chip == CHIPS[0]].set_index("batch")
    last = sub1.index.max()
    answer = (
        "; ".join(parts) + ". "
        f"Why: a decode step of B sequences touches E(1-(1-K/E)^B) experts per layer - for "
        f"16x1, {sub1.loc[1, 'touched_16x1']:.0f} at B=1, "
        + ", ".join(f"{sub1.loc[b, 'touched_16x1']:.1f} at B={b}" for b in sub1.index if b > 1)
        + f" - so the expert bytes per step grow towards all E experts. In the cost model a "
        f"16x1 design's decode step takes {sub1.loc[1, 'decode_ratio_16x1']:.2f}x its dense "
        f"twin's time at B=1 and {sub1.loc[last, 'decode_ratio_16x1']:.2f}x at B={last} "
        f"(8x1: {sub1.loc[1, 'decode_ratio_8x1']:.2f}x -> "
        f"{sub1.loc[last, 'decode_ratio_8x1']:.2f}x) on {CHIPS[0]}; the loss advantage of "
        "sparsity does not change with B, so dense designs gain decode-frontier share as B grows. "
        "The total-latency frontier stays MoE because prefill of B x 1024 tokens touches "
        "every expert at any batch and is compute-bound, where MoE costs the same FLOPs as its "
        "dense twin at a lower loss.")
    return StudyResult(
        name=NAME, question=QUESTION,
        setup=[f"chips: {', '.join(CHIPS)}", f"batches: {', '.join(map(str, batches))}",
               "workload: prompt 1024, 16 generated tokens per sequence (driving), FP16",
               "space: the PLAS grid, every design scored once per (chip, batch); only "
               "designs fitting DRAM (weights + KV + activations) count",
               "frontiers: non-dominated in (predicted loss, decode latency) - primary - and "
               "(loss, total latency); no latency budget",
               "loss: the PLAS law (Eq. 15); experts touched assume uniform routing",
               f"seed {seed} (exhaustive scoring: nothing random)"],
        answer=answer, supports=supports, table=t, figures={"moe_share.png": _figure(t)},
        config={"chips": list(CHIPS), "batches": list(batches),
                "support_share": SUPPORT_SHARE, "crossover_share": CROSSOVER_SHARE})


def _figure(t: pd.DataFrame):
    fig, (a, b) = plt.subplots(1, 2, figsize=(11, 4.2))
    colours = dict(zip(CHIPS, ("tab:blue", "tab:orange")))
    for chip, sub in t.groupby("chip"):
        a.plot(sub.batch, sub.moe_share_decode * 100, "o-", color=colours[chip],
               label=f"{chip}: decode frontier")
        a.plot(sub.batch, sub.moe_share_total * 100, "s--", color=colours[chip],
               label=f"{chip}: total frontier")
    a.axhline(CROSSOVER_SHARE * 100, color="k", lw=0.8, ls=":")
    a.set_xscale("log", base=2)
    a.set_ylim(0, 105)
    a.set_xlabel("batch size")
    a.set_ylabel("MoE share of the frontier (%)")
    a.legend(fontsize=7)
    a.grid(alpha=0.3)
    sub = t[t.chip == CHIPS[0]]
    for e, k in MOE_SHAPES:
        line, = b.plot(sub.batch, sub[f"decode_ratio_{e}x{k}"], "o-",
                       label=f"{e}x{k}: decode time / dense twin ({CHIPS[0]})")
        # Expert FFN bytes per step over the dense twin's FFN bytes: touched experts of width
        # r d / K each, against one FFN of width r d.
        b.plot(sub.batch, sub[f"touched_{e}x{k}"] / k, ":", color=line.get_color(), lw=0.8)
    b.set_xscale("log", base=2)
    b.set_yscale("log")
    b.set_xlabel("batch size")
    b.set_ylabel("ratio")
    b.set_title("dotted: expert bytes per step / dense FFN bytes", fontsize=9)
    b.legend(fontsize=7)
    b.grid(alpha=0.3)
    fig.suptitle("MoE on the loss-vs-latency frontier vs batch (PLAS grid, 1024+16, FP16)")
    fig.tight_layout()
    return fig
