"""moe-batch1 in quick mode: files, the experts-touched counts by hand, the cost model's MoE /
dense decode ratio growing with the batch, the batch-1 claim read exactly as plas-orin reads it
(one claim, one threshold, one budget), every verdict's word from its draws, and the answer's
numbers from the tables."""

import numpy as np
import pandas as pd
import pytest

from chipdse import api
from studies import moe_batch1, plas_orin
from studies.base import AGREE, CLAIMS, MOE_BUDGET_S, write_result


@pytest.fixture(scope="module")
def done(tmp_path_factory):
    out = tmp_path_factory.mktemp("moe_batch1")
    r = moe_batch1.run(out, quick=True, seed=0)
    write_result(r, out, quick=True, seed=0)
    return r, pd.read_csv(out / "results.csv"), out


def test_files_and_grid(done):
    r, t, out = done
    for f in ("results.csv", "draws.csv", "verdicts.csv", "tornado.csv", "moe_share.png",
              "tornado.png", "verdict.md", "config.json"):
        assert (out / f).is_file(), f
    assert set(t.chip) == set(moe_batch1.CHIPS)
    assert sorted(set(t.batch)) == list(moe_batch1.BATCHES_QUICK)
    for c in ("moe_share_decode", "moe_share_total", "moe_share_decode_p05",
              "moe_share_decode_p95"):
        assert t[c].between(0, 1).all(), c
    assert (t.moe_share_decode_p05 <= t.moe_share_decode_p95).all()
    # The screen held on the last probe of every (chip, batch).
    assert t.probe_exact.all() and (t.candidates < t.feasible).all()
    assert r.verdict_word in (out / "verdict.md").read_text()


def test_experts_touched_by_hand(done):
    _, t, _ = done
    b1 = t[t.batch == 1].iloc[0]
    # One sequence touches exactly K experts.
    assert b1.touched_16x1 == pytest.approx(1.0) and b1.touched_8x2 == pytest.approx(2.0)
    assert moe_batch1._experts_touched(16, 1, 2) == pytest.approx(16 * (1 - (15 / 16) ** 2))
    assert moe_batch1._experts_touched(8, 2, 4) == pytest.approx(8 * (1 - 0.75 ** 4))
    # The table's counts are the cost model's own rule.
    for (e, k) in moe_batch1.MOE_SHAPES:
        assert t[f"touched_{e}x{k}"].to_numpy() == pytest.approx(
            [float(api.experts_touched(e, k, b)) for b in t.batch])
    for _, g in t.groupby("chip"):
        g = g.sort_values("batch")
        assert g.touched_16x1.is_monotonic_increasing
        assert (g.touched_16x1 <= 16).all()


def test_moe_decode_cost_grows_with_batch(done):
    _, t, _ = done
    for _, g in t.groupby("chip"):
        g = g.sort_values("batch").set_index("batch")
        # At batch 1 an MoE step reads about its dense twin's bytes (router and launches add a
        # little); with more sequences it streams more experts.
        assert 1.0 <= g.loc[1, "decode_ratio_16x1"] < 1.15
        assert g.loc[16, "decode_ratio_16x1"] > 2.0
        assert g.loc[1, "moe_share_decode"] > g.loc[16, "moe_share_decode"]


def test_one_claim_one_threshold_one_budget(done):
    r, t, _ = done
    moe = CLAIMS["moe-dominance"]
    assert moe_batch1.MOE is moe is plas_orin.MOE
    assert moe_batch1.SUPPORT_SHARE == plas_orin.MOE.threshold == 0.95
    assert moe_batch1.BUDGET_S == plas_orin.BUDGET_S == MOE_BUDGET_S
    # The batch-1 Orin fronts within the budget are plas-orin's FP16 fronts (same grid, same
    # chip, same request): the two studies read the claim on the same numbers.
    chip = api.load_chip(plas_orin.CHIP)
    w = plas_orin._workload(api.make_precision("fp16", "fp16", "fp16"))
    prob = api.PlasProblem(chip, w, api.Budgets())
    nom = plas_orin.score_grid(prob, plas_orin.grid_indices(prob))
    fronts = plas_orin._fronts(nom, nom.loss.to_numpy())
    row = t[(t.chip == plas_orin.CHIP) & (t.batch == 1)].iloc[0]
    for k in ("decode", "total"):
        share = nom.is_moe.to_numpy()[fronts[k]].mean()
        assert row[f"moe_share_{k}_budget"] == pytest.approx(share)
    b1 = [v for v in r.verdicts if v.claim is moe]
    assert [v.scope for v in b1] == [f"{c}, B=1, {k} front <= 100 ms"
                                     for c in moe_batch1.CHIPS for k in ("decode", "total")]


def test_verdict_words_follow_the_draws(done):
    r, t, out = done
    v = pd.read_csv(out / "verdicts.csv")
    d = pd.read_csv(out / "draws.csv")
    assert len(v) == len(r.verdicts) == 4 + len(t)
    assert len(d) == 40
    for row, verdict in zip(v.itertuples(), r.verdicts):
        s = np.asarray(verdict.samples, float)
        held = np.mean(verdict.claim.holds(s[np.isfinite(s)]))
        word = ("supported" if held >= AGREE else "not supported" if held <= 1 - AGREE
                else "undetermined")
        assert row.verdict == word == verdict.word
        assert row.threshold == verdict.claim.threshold
    # The sweep's verdicts are the per-draw columns, with the table's nominal and bands.
    sweep = {vv.scope: vv for vv in r.verdicts if vv.claim is moe_batch1.MAJORITY}
    for x in t.itertuples():
        vv = sweep[f"{x.chip}, B={x.batch}"]
        assert np.allclose(vv.samples, d[f"{x.chip}_B{x.batch}_decode"])
        assert vv.nominal == pytest.approx(x.moe_share_decode)
        assert x.moe_share_decode_p05 == pytest.approx(np.nanpercentile(vv.samples, 5))


def test_crossover_per_draw(done):
    _, t, out = done
    d = pd.read_csv(out / "draws.csv")
    batches = list(moe_batch1.BATCHES_QUICK)
    for chip in moe_batch1.CHIPS:
        s = np.array([d[f"{chip}_B{b}_decode"] for b in batches])
        for i in range(len(d)):
            below = [b for b, x in zip(batches, s[:, i]) if x < 0.5]
            want = below[0] if below else np.inf
            assert d[f"{chip}_crossover_batch"][i] == want


def test_answer_from_the_tables(done):
    r, t, _ = done
    for chip, g in t.groupby("chip"):
        part = r.answer.split(f"{chip}: MoE share of the decode frontier")[1]
        below = g[g.moe_share_decode < 0.5].sort_values("batch")
        if len(below):
            assert f"first below 50 % at batch {int(below.batch.iloc[0])}" in part.split(
                " (over the draws")[0]
        else:
            assert "never below 50 %" in part.split(" (over the draws")[0]
        # The trend named is the table's: every rise of the share is listed.
        g = g.sort_values("batch")
        v, b = g.moe_share_decode.to_numpy(), g.batch.to_numpy()
        rises = [(b[i], b[i + 1]) for i in range(len(v) - 1) if v[i + 1] > v[i] + 1e-12]
        seg = part.split("; total-latency frontier")[0]
        for lo, hi in rises:
            assert f"from B={lo} to B={hi}" in seg
        assert ("falls at every step" in seg) == bool((v[1:] < v[:-1] - 1e-12).all())
    # The total-frontier explanation appears only when the total frontier stays MoE-majority.
    assert ("stays MoE-majority at every batch" in r.answer) == \
        bool((t.moe_share_total >= 0.5).all())


def test_tornado_names_the_mechanism(done):
    r, _, out = done
    tor = pd.read_csv(out / "tornado.csv")
    chip = moe_batch1.TORNADO_CHIP
    head = next(v for v in r.verdicts if v.scope == f"{chip}, B=1, decode front <= 100 ms")
    assert tor.base.iloc[0] == pytest.approx(head.nominal)
    assert tor.number.str.contains("thor|prediction error").all()
    assert set(tor.number.head(2)) == {"family:thor.sparse.per_expert_overhead",
                                       "family:thor.dispatch.per_operator"}
    pe = tor.set_index("number").loc["family:thor.sparse.per_expert_overhead"]
    assert pe.metric_low > pe.metric_high
