"""The int8-speedup, phase-aware and memory-vs-tops studies in quick mode: files written, and
each verdict follows from its own table by the rule the study states."""

import pandas as pd
import pytest

from chipdse import api


@pytest.fixture(scope="module")
def outdir(tmp_path_factory):
    return tmp_path_factory.mktemp("studies")


def test_int8_speedup(outdir):
    r = api.study("int8-speedup", outdir / "int8", quick=True)
    t = pd.read_csv(outdir / "int8" / "results.csv")
    for f in ("verdict.md", "config.json", "speedup.png"):
        assert (outdir / "int8" / f).is_file()
    # Speed-ups are ratios of the chip's own FP16 and INT8 estimates, bounded by the ideal 2x
    # plus the LM head (INT8 head halves its bytes too).
    assert (t.speedup_total > 1.0).all() and (t.speedup_total < 2.2).all()
    conv = t[t.kind == "conventional"]
    nat = t[t.kind == "native"]
    # Fusing non-linear operators and conversions never makes INT8 slower.
    for chip in ("jetson-agx-orin-64gb", "jetson-agx-thor"):
        a = conv[conv.chip == chip].set_index("model").speedup_total
        b = nat[nat.chip == f"{chip}+fused"].set_index("model").speedup_total
        assert (b >= a - 1e-9).all()
    halves = (((conv.speedup_total >= 1.3) & (conv.speedup_total <= 1.6)).mean() >= 0.5,
              (nat.speedup_total >= 1.8).mean() >= 0.5)
    expected = True if all(halves) else (False if not any(halves) else None)
    assert r.supports == expected
    assert r.verdict_word in (outdir / "int8" / "verdict.md").read_text()


def test_phase_aware(outdir):
    r = api.study("phase-aware", outdir / "phase", quick=True)
    c = pd.read_csv(outdir / "phase" / "comparison.csv")
    assert set(c.trace) == {"vla-drive-10hz", "vla-overlap-10hz", "drive-perception-vla"}
    n, beats, no_worse = len(c), int(c.reconf_beats_fixed.sum()), int(c.reconf_no_worse.sum())
    expected = True if (no_worse == n and beats >= n / 2) else (False if beats == 0 else None)
    assert r.supports == expected
    # A lone stream whose frames fit in a period never overlaps phases: reconfigurable = fixed.
    thor = c[(c.chip == "jetson-agx-thor") & (c.trace == "vla-drive-10hz")].iloc[0]
    assert thor.p99_reconf_ms == pytest.approx(thor.p99_fixed_ms, rel=1e-9)
    assert thor.p99_static_ms > thor.p99_fixed_ms


def test_memory_vs_tops(outdir):
    r = api.study("memory-vs-tops", outdir / "mem", quick=True)
    t = pd.read_csv(outdir / "mem" / "results.csv")
    # Decode is bandwidth-bound and prefill compute-bound on these chips.
    assert (t.e_dram_bandwidth_decode < -0.3).all() and (t.e_peak_tops_decode > -0.1).all()
    assert (t.e_peak_tops_prefill < -0.5).all()
    # Elasticities of a latency to a resource are never positive (more is never slower).
    for col in [c for c in t.columns if c.startswith("e_")]:
        assert (t[col] <= 1e-9).all(), col
    share = float((t.e_dram_bandwidth_frame.abs() > t.e_peak_tops_frame.abs()).mean())
    assert r.supports == (True if share >= 0.75 else (False if share <= 0.25 else None))
