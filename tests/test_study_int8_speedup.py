"""The int8-speedup study in quick mode: files written, every verdict follows from
verdicts.csv by the rule, the causes of the shortfall add up to the lost time, the vectorised
nominal path is the scalar estimate, and fusion never makes INT8 gain less."""

import numpy as np
import pandas as pd
import pytest

from chipdse import api
from studies import int8_speedup as study
from studies.base import AGREE, Uncertain


@pytest.fixture(scope="module")
def result(tmp_path_factory):
    out = tmp_path_factory.mktemp("int8")
    r = api.study("int8-speedup", out, quick=True)
    return r, out


def test_files_written(result):
    _, out = result
    for f in ("results.csv", "summary.csv", "verdicts.csv", "tornado.csv", "speedup.png",
              "causes.png", "tornado.png", "verdict.md", "config.json"):
        assert (out / f).is_file(), f


def test_verdicts_follow_rule(result):
    r, out = result
    v = pd.read_csv(out / "verdicts.csv")
    # Every claim on each conventional chip and phase; the native claim per phase.
    assert len(v) == 3 * 2 * 2 + 2
    rules = {"int8-conventional-ceiling": ("<=", 1.6), "int8-conventional-floor": (">=", 1.3),
             "int8-native-near-2x": (">=", 1.8), "int8-shortfall-mechanism": (">=", 0.5)}
    for row in v.itertuples():
        assert (row.direction, row.threshold) == rules[row.claim]
        assert row.draws == 40
        word = ("supported" if row.share_holding >= AGREE else
                "not supported" if row.share_holding <= 1 - AGREE else "undetermined")
        assert row.verdict == word
        assert row.p05 <= row.p95
    words = set(v.verdict)
    expected = (True if words == {"supported"} else
                False if words == {"not supported"} else None)
    assert r.supports == expected
    assert r.verdict_word in (out / "verdict.md").read_text()
    # The speed-up verdicts' nominal values are the summary's geometric means.
    s = pd.read_csv(out / "summary.csv").set_index(["chip", "phase"])
    for row in v[v.claim == "int8-conventional-ceiling"].itertuples():
        chip, phase = row.scope.split(", ")
        assert row.nominal == pytest.approx(s.loc[(chip, phase), "speedup"])


def test_table_properties(result):
    _, out = result
    t = pd.read_csv(out / "results.csv")
    assert set(t.phase) == {"prefill", "decode"}
    assert np.allclose(t.speedup, t.fp16_s / t.int8_s)
    # INT8 helps and stays below 2x plus what halved weights add on chip (pinned SRAM).
    assert (t.speedup > 1.0).all() and (t.speedup < 2.2).all()
    assert (t.speedup_p05 <= t.speedup_p95).all()
    # Fusing non-linear operators and conversions never makes INT8 gain less.
    for chip in study.CONVENTIONAL:
        a = t[t.chip == chip].set_index(["model", "phase"]).speedup
        b = t[t.chip == chip + "+fused"].set_index(["model", "phase"]).speedup
        assert (b >= a - 1e-9).all()
    # The causes partition the time lost against 2x.
    conv = t[t.kind == "conventional"]
    shares = conv[[f"share_{k}" for k in study.CAUSES]].sum(axis=1)
    assert np.allclose(shares, 1.0)
    assert np.allclose(conv.gap_s, conv.int8_s - conv.fp16_s / 2)
    assert (conv.share_conversion >= -1e-9).all()


def test_nominal_path_is_the_scalar_estimate():
    """Runs on the chips as they are gives api.estimate's phase times, and the conversion
    counterfactual removes exactly the conversion operators' time."""
    u = Uncertain([*study.CONVENTIONAL, study.M100], 2, 0)
    r = study.Runs(u, *study._single(u.chips, u.ones), ["qwen3-0.6b"])
    chip = "jetson-agx-orin-64gb"
    e = api.estimate(chip, "qwen3-0.6b", study.INT8, 1, study.PROMPT, study.GENERATE)
    t = r.times(chip, "int8")
    assert t["prefill"][0, 0] == pytest.approx(e.prefill_s, rel=1e-9)
    assert t["decode"][0, 0] == pytest.approx(e.total_s - e.prefill_s, rel=1e-9)
    fc = api.chip_variant(chip, "x", fused_conversion=True)
    ef = api.estimate(fc, "qwen3-0.6b", study.INT8, 1, study.PROMPT, study.GENERATE)
    assert r.times(chip, "int8_conv_fused")["prefill"][0, 0] == pytest.approx(ef.prefill_s)
    # FP16 has no conversions to fuse.
    e16 = api.estimate(fc, "qwen3-0.6b", study.FP16, 1, study.PROMPT, study.GENERATE)
    assert r.times(chip, "fp16")["prefill"][0, 0] == pytest.approx(e16.prefill_s)


def test_conversion_cost_is_drawn_in_range():
    u = Uncertain(list(study.CONVENTIONAL), 50, 3)
    d = study._conversion_draws(u, 50, 3)
    for c in study.CONVENTIONAL:
        assert d[c].min() >= 1.0 and d[c].max() <= 4.0 and d[c].std() > 0.3


def test_tornado(result):
    r, out = result
    t = pd.read_csv(out / "tornado.csv")
    assert len(t) and (np.diff(t.swing) <= 1e-12).all() and (t.swing > 0).all()
    # Only the speed-up's own chip moves it; the study's conversion draw is in the tornado.
    assert all(n.startswith(("family:thor.", "jetson-agx-thor:")) for n in t.number)
    assert np.allclose(t.swing, (t.metric_high - t.metric_low).abs())
    assert f"{t.number.iloc[0].removeprefix('family:')}" in r.answer
