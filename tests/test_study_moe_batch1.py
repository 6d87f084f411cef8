"""moe-batch1 in quick mode: files, the experts-touched counts by hand, the cost model's MoE /
dense decode ratio growing with the batch, and the verdict from the study's stated rule."""

import pandas as pd
import pytest

from chipdse import api
from studies import moe_batch1, plas_orin
from studies.base import write_result


@pytest.fixture(scope="module")
def done(tmp_path_factory):
    out = tmp_path_factory.mktemp("moe_batch1")
    r = moe_batch1.run(out, quick=True, seed=0)
    write_result(r, out, quick=True, seed=0)
    return r, pd.read_csv(out / "results.csv"), out


def test_files_and_grid(done):
    r, t, out = done
    for f in ("results.csv", "moe_share.png", "verdict.md", "config.json"):
        assert (out / f).is_file()
    assert set(t.chip) == set(moe_batch1.CHIPS)
    assert sorted(set(t.batch)) == list(moe_batch1.BATCHES_QUICK)
    assert t.moe_share_decode.between(0, 1).all() and t.moe_share_total.between(0, 1).all()


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


def test_verdict_rule(done):
    r, t, _ = done
    b1 = t[t.batch == 1].set_index("chip")
    # The same MoE-dominance threshold as plas-orin's "100 % MoE" claim.
    moe_claim = [c for c in plas_orin.CLAIMS if c[0] == "moe"][0]
    assert moe_batch1.SUPPORT_SHARE == moe_claim[3] == 0.95
    assert r.supports == bool((b1.moe_share_decode >= 0.95).all())
    for chip, g in t.groupby("chip"):
        part = r.answer.split(f"{chip}: ")[1]
        below = g[g.moe_share_decode < 0.5].sort_values("batch")
        if len(below):
            assert part.split(";")[1].strip().startswith(
                f"first below 50 % at batch {int(below.batch.iloc[0])}")
        else:
            assert part.split(";")[1].strip().startswith("never below 50 %")
        # The trend named is the table's: every rise of the share is listed, and "falls at
        # every step" only when it does.
        g = g.sort_values("batch")
        v, b = g.moe_share_decode.to_numpy(), g.batch.to_numpy()
        rises = [(b[i], b[i + 1]) for i in range(len(v) - 1) if v[i + 1] > v[i] + 1e-12]
        for lo, hi in rises:
            assert f"from B={lo} to B={hi}" in part.split(" (total-latency")[0]
        assert ("falls at every step" in part.split(" (total-latency")[0]) == \
            bool((v[1:] < v[:-1] - 1e-12).all())
        # The budgeted (plas-orin) shares printed are the table's.
        assert (f"{chip} {b1.loc[chip, 'moe_share_decode_budget']:.0%} (decode) / "
                f"{b1.loc[chip, 'moe_share_total_budget']:.0%} (total)") in r.answer
    # The total-frontier explanation appears only when the total frontier stays MoE-majority.
    assert ("stays MoE-majority at every batch" in r.answer) == \
        bool((t.moe_share_total >= 0.5).all())
    last = t[t.batch == t.batch.max()]
    if "weighs little in the total" in r.answer:
        assert (last.prefill_share_total_front >= 0.5).all()
        assert (last.prefill_ratio_16x1 <= 1.1).all()
