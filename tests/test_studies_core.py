"""The int8-speedup, phase-aware and memory-vs-tops studies in quick mode: files written, and
each verdict follows from its own table by the rule the study states."""

import pandas as pd
import pytest

from chipdse import api


@pytest.fixture(scope="module")
def outdir(tmp_path_factory):
    return tmp_path_factory.mktemp("studies")


def test_phase_aware(outdir):
    r = api.study("phase-aware", outdir / "phase", quick=True)
    c = pd.read_csv(outdir / "phase" / "comparison.csv")
    assert set(c.trace) == {"vla-drive-10hz", "vla-overlap-10hz", "drive-perception-vla"}
    # "Better" never hides a regression: p99 and misses are both no worse, one is better.
    for mode, p99, miss in (("reconf", "p99_reconf_ms", "misses_reconf"),
                            ("static", "p99_static_ms", "misses_static")):
        flag = c[f"{mode}_beats_fixed"]
        ok = (c[p99] <= 1.01 * c.p99_fixed_ms) & (c[miss] <= c.misses_fixed)
        better = (c[p99] < 0.99 * c.p99_fixed_ms) | (c[miss] < c.misses_fixed)
        assert (flag == (ok & better)).all()
    assert (c.overloaded == (c[["misses_fixed", "misses_static", "misses_reconf"]].min(axis=1)
                             >= c.requests)).all()
    ok = c[~c.overloaded]
    n, beats, no_worse = len(ok), int(ok.reconf_beats_fixed.sum()), int(ok.reconf_no_worse.sum())
    expected = True if (no_worse == n and beats >= n / 2) else (False if beats == 0 else None)
    assert r.supports == expected
    assert f"in {beats}/{n} and no worse in {no_worse}/{n}" in r.answer
    # The headline gain is the largest among cases that are better and not overloaded.
    won = ok[ok.reconf_beats_fixed]
    if len(won):
        b = won.loc[(won.p99_fixed_ms / won.p99_reconf_ms).idxmax()]
        assert (f"the largest gain is {b.p99_fixed_ms / b.p99_reconf_ms:.2f}x p99 on "
                f"{b.chip} / {b.trace}") in r.answer
    else:
        assert "largest gain" not in r.answer
    # Jitter and energy per frame are reported, from the table.
    e = ok.energy_reconf_j / ok.energy_fixed_j
    assert f"(median {e.median():.3f}x)" in r.answer
    dj = ok.jitter_reconf_ms - ok.jitter_fixed_ms
    assert (f"lower than fixed in {int((dj < -0.01).sum())}/{n}, higher in "
            f"{int((dj > 0.01).sum())}/{n}") in r.answer
    # A lone stream whose frames fit in a period never overlaps phases: reconfigurable = fixed.
    thor = c[(c.chip == "jetson-agx-thor") & (c.trace == "vla-drive-10hz")].iloc[0]
    assert not thor.overlap_possible
    assert thor.p99_reconf_ms == pytest.approx(thor.p99_fixed_ms, rel=1e-9)
    assert thor.p99_static_ms > thor.p99_fixed_ms
    lone = ok[~ok.overlap_possible]
    claim = "differs only where phases can overlap" in r.answer
    assert claim == bool(len(lone) and lone.reconf_identical.all()
                         and ok[~ok.reconf_identical].overlap_possible.all())


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
    # KV cache size by hand: the trace's prefill + action tokens at the KV format's bytes.
    req = api.load_trace("vla-drive-10hz").streams[0].request
    tokens = req.prefill_tokens + req.action_tokens
    for row in t.itertuples():
        m = api.load_model(row.model)
        kv_fmt = row.precision.split("-kv")[1]
        per_el = api.make_precision(kv=kv_fmt).kv.bytes_per_element
        expect = 2 * m.n_layers * m.d_kv * per_el * tokens / 2**20
        assert row.kv_cache_mib == pytest.approx(expect)
    assert f"({tokens} tokens," in r.answer
    # The weights-vs-KV conclusion appears only when the table shows KV below the weights.
    kv_w = t.kv_cache_mib / t.weights_mib
    assert ("the weights, not the KV cache" in r.answer) == bool(
        (kv_w < 1).all() and t.kv_sram_decode_gain.max() < 1.1
        and t.e_dram_bandwidth_decode.median() < -0.5)
