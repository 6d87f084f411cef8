"""plas-orin in quick mode: files written, fronts within the budget and non-dominated, the
matched-latency gain from its own numbers, and the verdict from the study's stated rule."""

import json

import numpy as np
import pandas as pd
import pytest

from studies import plas_orin
from studies.base import write_result


@pytest.fixture(scope="module")
def done(tmp_path_factory):
    out = tmp_path_factory.mktemp("plas_orin")
    r = plas_orin.run(out, quick=True, seed=0)
    write_result(r, out, quick=True, seed=0)
    return r, out


def test_files_and_table(done):
    r, out = done
    for f in ("results.csv", "fronts.csv", "trends.csv", "reference.csv", "fronts.png",
              "trends.png", "verdict.md", "config.json"):
        assert (out / f).is_file(), f
    t = pd.read_csv(out / "results.csv")
    # 2 cost models x 2 precisions x 3 latency kinds, plus the FP16 what-if's 3 fronts.
    assert len(t) == 15
    assert set(t.latency) == {"prefill", "decode", "total"}
    assert r.verdict_word in (out / "verdict.md").read_text()
    cfg = json.loads((out / "config.json").read_text())["inputs"]
    assert cfg["quick"] is True
    assert cfg["claims"]["moe"]["holds"] == (cfg["claims"]["moe"]["value"] >= 0.95)


def test_fronts_within_budget_and_non_dominated(done):
    _, out = done
    f = pd.read_csv(out / "fronts.csv")
    assert (f.total_s <= plas_orin.BUDGET_S + 1e-12).all()
    for (_, _, kind), g in f.groupby(["cost_model", "precision", "latency"]):
        g = g.sort_values(f"{kind}_s")
        # Along a 2-objective front, loss strictly falls as latency grows.
        assert (np.diff(g["loss"].to_numpy()) < 0).all()
    # The paper's ideal roofline is never slower than the calibrated model at the fast end.
    t = pd.read_csv(out / "results.csv").set_index(["cost_model", "precision", "latency"])
    for p in ("fp16", "int8"):
        for k in ("prefill", "decode", "total"):
            assert (t.loc[("paper-roofline", p, k), "fastest_ms"]
                    <= t.loc[("chipdse", p, k), "fastest_ms"])


def test_reference_gain(done):
    _, out = done
    ref = pd.read_csv(out / "reference.csv")
    assert ref.found.all()
    assert (ref.best_total_ms <= ref.ref_total_ms + 1e-9).all()
    # Perplexity reduction is 1 - exp(best - reference) and positive (the reference is a
    # design of similar size the grid can beat at equal latency).
    assert np.allclose(ref.perplexity_reduction, 1 - np.exp(ref.best_loss - ref.ref_loss))
    assert (ref.perplexity_reduction > 0).all()
    # INT8 makes the same reference architecture faster on both cost models.
    r = ref.set_index(["cost_model", "precision"]).ref_total_ms
    assert r["chipdse", "int8"] < r["chipdse", "fp16"]
    assert r["paper-roofline", "int8"] < r["paper-roofline", "fp16"]


def test_verdict_rule(done):
    r, out = done
    f = pd.read_csv(out / "fronts.csv")
    cal = f[f.cost_model == "chipdse"]
    moe = cal[cal.is_moe]
    held = [cal.is_moe.mean() >= 0.95, (moe.top_k == 1).mean() >= 0.5,
            (cal.n_layers < 20).mean() >= 0.5, (cal.ffn_ratio < 4).mean() >= 0.5]
    expected = True if all(held) else (False if not any(held) else None)
    assert r.supports == expected
