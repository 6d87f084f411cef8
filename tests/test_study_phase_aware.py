"""phase-aware in quick mode: the best static split is chosen by its own analytic metric, the
modes are simulated on the same trace, and each verdict follows the shared rule from its draws."""

from __future__ import annotations

import pandas as pd
import pytest

from chipdse import api
from studies import phase_aware as study
from studies.base import AGREE, write_result


@pytest.fixture(scope="module")
def result(tmp_path_factory):
    out = tmp_path_factory.mktemp("phase")
    r = study.run(out, quick=True)
    write_result(r, out, quick=True, seed=0)
    return r, out


def test_files(result):
    _, out = result
    for f in ("results.csv", "comparison.csv", "split_sweep.csv", "verdicts.csv",
              "tornado.csv", "verdict.md", "p99_by_mode.png", "split_sweep.png",
              "tornado.png"):
        assert (out / f).is_file(), f


def test_best_split_is_the_sweep_minimum_and_never_worse_than_half(result):
    _, out = result
    sweep = pd.read_csv(out / "split_sweep.csv")
    c = pd.read_csv(out / "comparison.csv")
    for row in c.itertuples():
        g = sweep[(sweep.chip == row.chip) & (sweep.model == row.model)
                  & (sweep.trace == row.trace)]
        best = g.loc[g.frame_s.idxmin()]
        assert (best.compute_share, best.bandwidth_share) == (row.best_compute_share,
                                                              row.best_bandwidth_share)
        half = g[(g.compute_share == 0.5) & (g.bandwidth_share == 0.5)].frame_s.iloc[0]
        assert best.frame_s <= half


def test_gating_only_saves_energy(result):
    _, out = result
    t = pd.read_csv(out / "results.csv").set_index(["chip", "model", "trace", "mode"])
    for key in {k[:3] for k in t.index}:
        a, g = t.loc[key + ("static best",)], t.loc[key + ("static best, gated",)]
        assert g.p99_ms == pytest.approx(a.p99_ms, rel=1e-12)
        assert g.energy_per_frame_j <= a.energy_per_frame_j + 1e-12


def test_verdicts_follow_rule(result):
    r, out = result
    v = pd.read_csv(out / "verdicts.csv")
    assert set(v.claim) == {study.TUNED.key, study.AWARE.key}
    for row in v.itertuples():
        word = ("supported" if row.share_holding >= AGREE else "not supported"
                if row.share_holding <= 1 - AGREE else "undetermined")
        assert row.verdict == word
    # The tuned-split verdict's nominal value is the sweep's own ratio on the mixed trace.
    sweep = pd.read_csv(out / "split_sweep.csv")
    for row in v[v.claim == study.TUNED.key].itertuples():
        chip = row.scope.split(",")[0]
        g = sweep[(sweep.chip == chip) & (sweep.trace == study.MIXED_TRACE)
                  & (sweep.model == "qwen2.5-0.5b")]
        half = g[(g.compute_share == 0.5) & (g.bandwidth_share == 0.5)].frame_s.iloc[0]
        assert row.nominal == pytest.approx(half / g.frame_s.min(), rel=1e-9)
    words = set(v.verdict)
    assert r.supports == (True if words == {"supported"} else
                          False if words == {"not supported"} else None)


def test_priority_reconfiguration_keeps_the_top_stream_fast():
    """On the mixed trace the top-priority perception stream is no slower under
    priority-aware reconfiguration than under the plain split."""
    p = api.make_precision("int8", "int8", "fp16")
    best = (0.7, 0.3)
    split = study._sim("jetson-agx-orin-64gb", "qwen2.5-0.5b", study.MIXED_TRACE, p,
                       "reconfigurable", 1.0, 0, best)
    prio = study._sim("jetson-agx-orin-64gb", "qwen2.5-0.5b", study.MIXED_TRACE, p,
                      "reconfigurable", 1.0, 0, best, priority=True)
    assert prio["top_p99_ms"] <= split["top_p99_ms"] * 1.001
