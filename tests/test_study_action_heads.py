"""The action-heads study: its table agrees with the frame estimates, its verdicts follow
from the bound shares, and its files are written."""

from __future__ import annotations

import pandas as pd
import pytest

from chipdse import api


@pytest.fixture(scope="module")
def result(tmp_path_factory):
    out = tmp_path_factory.mktemp("action-heads")
    return api.study("action-heads", out, quick=True), out


def test_table_matches_frame_estimates(result):
    res, _ = result
    t = res.table.set_index(["chip", "mode"])
    from studies.action_heads import _trace

    p = api.make_precision("int8", "int8")
    e = api.frame_estimate("jetson-agx-thor", trace=_trace("flow"), precision=p)
    assert t.loc[("Thor", "flow")].frame_ms == pytest.approx(e.total_s * 1e3, rel=1e-12)
    for chip in ("Orin", "Thor", "Thor-U", "M100"):
        row = t.loc[chip]
        # 64 one-token steps cost more than one pass over 64 tokens, or 10 flow steps.
        assert row.loc["autoregressive"].frame_ms > row.loc["flow"].frame_ms \
            > row.loc["parallel"].frame_ms
        shares = row[["matrix_bound_share", "dram_bound_share", "dispatch_bound_share"]]
        assert ((shares.sum(axis=1) <= 1 + 1e-9) & (shares.min(axis=1) >= 0)).all()
        assert row.loc["flow"].frame_ms_p5 <= row.loc["flow"].frame_ms \
            <= row.loc["flow"].frame_ms_p95


def test_verdicts_follow_the_shares(result):
    res, out = result
    flow = [v for v in res.verdicts if v.claim.key == "flow-compute-bound"]
    assert len(flow) == 4
    t = res.table.set_index(["chip", "mode"])
    for v in flow:
        assert v.nominal == pytest.approx(t.loc[(v.scope, "flow")].matrix_bound_share)
        assert v.word == ("supported" if v.share_holding >= 0.9 else
                          "not supported" if v.share_holding <= 0.1 else "undetermined")
    sweep = pd.read_csv(out / "flow_chunk_sweep.csv")
    # More tokens per step never lowers the arithmetic intensity below the 16-token chunk's.
    for _, g in sweep.groupby("chip"):
        assert (g.flop_per_dram_byte >= g.flop_per_dram_byte.iloc[0] - 1e-9).all()
    for f in ("verdict.md", "verdicts.csv", "results.csv", "frame_by_mode.png",
              "flow_chunk_sweep.png", "speculative_acceptance.csv", "config.json"):
        assert (out / f).is_file(), f
    sens = pd.read_csv(out / "speculative_acceptance.csv")
    lo = sens[sens.acceptance == 0.3].set_index("chip").frame_ms
    hi = sens[sens.acceptance == 0.9].set_index("chip").frame_ms
    assert (hi < lo).all()
