"""PLAS on Jetson AGX Orin 64GB, the driving workload (batch 1, 1,024 prompt tokens, 16
generated, 100 ms total): what the Pareto fronts look like at FP16 and INT8, and the Qwen2.5-0.5B
matched-latency comparison (the paper reports 19.42 % lower perplexity).

Where chipdse's cost model disagrees with the paper, the tests say so:

* The paper finds 100 % of batch-1 Pareto designs are MoE. With the paper's pure roofline
  (CostOptions.paper()) chipdse agrees to within one design; with its richer model (router GEMM
  and top-k, 5 us per touched expert without a native MoE engine, kernel launches, achieved
  efficiencies) the cheapest corner of the front - tiny models (at most 8 layers of width 768,
  predicted loss above 3.9) under ~40 ms - is dense: at that size the MoE overheads are a
  larger share of the latency than the law's sparsity gain is of the loss. Every front design
  with a loss below 3.9 is MoE.
* The prefill-only front of the pure roofline prefers top-2 routing: a 1,024-token prefill
  touches every expert, and halving the expert width halves the expert weights streamed per
  layer, which the paper's compute-only prefill closed form does not see.
"""

import numpy as np
import pytest
from click.testing import CliRunner

from chipdse.api import score_model
from chipdse.cli import main
from chipdse.commands.search import COMMANDS
from chipdse.cost import CostOptions
from chipdse.search import Budgets, PlasProblem, Workload, run_search
from studies.plas_orin import front_summary, matched_latency_gain
from workloads.precision import Precision

for _cmd in COMMANDS:
    if _cmd.name not in main.commands:
        main.add_command(_cmd)

# The paper's INT8: every weight in INT8, the LM head included.
PRECISIONS = {"fp16": Precision(), "int8": Precision("int8", "int8", "int8", head="int8")}


@pytest.fixture(scope="module")
def fronts(orin):
    out = {}
    for name, prec in PRECISIONS.items():
        for model in ("chipdse", "paper"):
            opts = CostOptions.paper() if model == "paper" else CostOptions()
            p = PlasProblem(orin, Workload(precision=prec), Budgets(latency_s=0.1), options=opts)
            out[name, model] = run_search(p, method="grid")
    return out


@pytest.mark.parametrize("prec", ["fp16", "int8"])
def test_front_is_moe_top1_shallow_wide_low_r(fronts, prec):
    res = fronts[prec, "chipdse"]
    assert res.n_evaluated == 63920
    front = res.front
    s = front_summary(front)
    assert s["share_top1_of_moe"] == 1.0
    assert s["share_layers_lt_20"] >= 0.95
    assert s["share_r_lt_4"] >= 0.95 and s["share_r_lt_1"] >= 0.2
    # The disagreement explained in the module docstring, checked precisely:
    assert s["share_moe"] >= 0.8
    dense = front[front["n_experts"] == 1]
    assert (dense["n_layers"] <= 8).all() and (dense["d_model"] == 768).all()
    assert (dense["loss"] > 3.9).all() and (dense["latency_s"] < 0.04).all()
    assert (front.loc[front["loss"] < 3.9, "n_experts"] > 1).all()


@pytest.mark.parametrize("prec", ["fp16", "int8"])
def test_paper_roofline_front_is_all_moe(fronts, prec):
    s = front_summary(fronts[prec, "paper"].front)
    assert s["share_moe"] >= 0.98
    assert s["share_top1_of_moe"] >= 0.85
    assert s["share_r_lt_4"] == 1.0


@pytest.mark.parametrize("prec", ["fp16", "int8"])
def test_prefill_wants_fewer_experts_decode_more(fronts, prec):
    """Paper Sec. 5: prefill-optimised designs want fewer experts, decode-optimised ones
    more, total-latency ones about 8."""
    res = fronts[prec, "chipdse"]
    pre = res.front_for(["loss", "prefill_s"])
    dec = res.front_for(["loss", "decode_s"])
    pre, dec = pre[pre["prefill_s"] <= 0.1], dec[dec["decode_s"] <= 0.1]
    assert front_summary(pre)["share_e8_of_moe"] >= 0.9
    assert front_summary(dec)["share_e16_of_moe"] >= 0.75
    assert front_summary(res.front)["share_e8_of_moe"] >= 0.85


@pytest.mark.parametrize("prec", ["fp16", "int8"])
def test_qwen_matched_latency_gain(fronts, orin, qwen05, prec):
    """At the latency of Qwen2.5-0.5B on Orin, the best architecture found has a lower
    predicted loss. chipdse predicts a 25-26 % lower perplexity (paper: 19.42 % measured on
    WikiText-2 after retraining both; the law predicts the paper's validation loss)."""
    ref = score_model(orin, qwen05, Workload(precision=PRECISIONS[prec]))
    assert ref["loss"] == pytest.approx(3.475, abs=1e-3) and ref["law_in_range"]
    res = fronts[prec, "chipdse"]
    # The 100 ms budget is below Qwen's latency at FP16: compare on the unconstrained grid.
    frame = res.frame.assign(feasible=res.frame["g_memory"] <= 0)
    gain = matched_latency_gain(frame, ref["total_s"], ref["loss"])
    assert gain["found"] and gain["best_latency_s"] <= ref["total_s"]
    assert gain["best_loss"] < ref["loss"]
    assert 0.15 < gain["perplexity_reduction"] < 0.35
    best = gain["best"]
    assert best["n_experts"] > 1 and best["top_k"] == 1 and best["ffn_ratio"] < 4


def test_int8_speeds_up_sub_linearly(orin, qwen05):
    """INT8 gives less than 2x (non-linear operators, conversions, LM head traffic)."""
    fp16 = score_model(orin, qwen05, Workload(precision=PRECISIONS["fp16"]))["total_s"]
    int8 = score_model(orin, qwen05, Workload(precision=PRECISIONS["int8"]))["total_s"]
    assert 1.0 < fp16 / int8 < 2.0


def test_cli_search_writes_a_run(tmp_path):
    out = tmp_path / "plas"
    r = CliRunner().invoke(main, ["search", "--chip", "jetson-agx-orin-64gb", "--workload",
                                  "driving", "--budget-latency", "100ms", "--precision",
                                  "int8", "-o", str(out), "--format", "csv", "--top", "3"])
    assert r.exit_code == 0, r.output
    lines = [ln for ln in r.stdout.splitlines() if ln.strip()]
    assert lines[0].startswith("n_layers,d_model,experts") and len(lines) == 4
    for name in ("config.json", "results.csv", "front.csv", "summary.json", "pareto.png"):
        assert (out / name).is_file()
    assert np.isfinite(float(lines[1].split(",")[-1]))
