"""moe-batch1 in quick mode: files, the experts-touched counts by hand, the cost model's MoE /
dense decode ratio growing with the batch, and the verdict from the study's stated rule."""

import pandas as pd
import pytest

from studies import moe_batch1
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
    b1 = t[t.batch == 1]
    assert r.supports == bool((b1.moe_share_decode >= 0.90).all())
    for chip, g in t.groupby("chip"):
        part = r.answer.split(f"{chip}: ")[1]
        below = g[g.moe_share_decode < 0.5].sort_values("batch")
        if len(below):
            assert part.split(";")[1].strip().startswith(
                f"first below 50 % at batch {int(below.batch.iloc[0])}")
        else:
            assert part.split(";")[1].strip().startswith("never below 50 %")
