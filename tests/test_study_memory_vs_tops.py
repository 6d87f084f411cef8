"""The memory-vs-tops study in quick mode: its exchange rates and SRAM uses follow from its own
tables by hand, the physics it rests on holds (more of a resource is never slower, a larger
SRAM never slows decode), and each verdict follows the stated rule."""

import numpy as np
import pandas as pd
import pytest

from chipdse import api
from studies import memory_vs_tops as mvt
from studies.base import AGREE


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    out = tmp_path_factory.mktemp("mvt")
    r = api.study("memory-vs-tops", out, quick=True)
    return r, out


def test_files_written(run):
    _, out = run
    for f in ("results.csv", "verdicts.csv", "tornado.csv", "exchange_detail.csv",
              "iso_lines.csv", "sram_use.csv", "kv_sram_curves.csv", "exchange.png",
              "iso_lines.png", "kv_sram.png", "tornado.png", "verdict.md", "config.json"):
        assert (out / f).is_file(), f


def test_phy_area_by_hand(run):
    # AGX Orin: 204.8 GB/s on a 256-bit LPDDR5 bus at 6,400 MT/s; x1.25 needs 320 bits, four
    # more x16 channels of 1.25 mm^2 each (microarch.area) = 5.0 mm^2.
    t = pd.read_csv(run[1] / "results.csv")
    orin = t[(t.chip == "jetson-agx-orin-64gb") & (t.phase == "frame")].iloc[0]
    assert orin.bw_area_mm2 == pytest.approx(4 * 1.25)


def test_exchange_rate_from_elasticities(run):
    # rate = (gain per mm^2 of bandwidth) / (gain per mm^2 of compute), each gain
    # -e * ln(1.25); nominal area factors are 1.
    d = pd.read_csv(run[1] / "exchange_detail.csv")
    t = pd.read_csv(run[1] / "results.csv").drop_duplicates("chip").set_index("chip")
    fr = d[d.phase == "frame"]
    for r in fr.itertuples():
        by_hand = (r.e_bandwidth / t.loc[r.chip, "bw_area_mm2"]) / (
            r.e_compute / t.loc[r.chip, "compute_area_mm2"])
        assert r.area_rate == pytest.approx(by_hand, rel=1e-9)
    # More bandwidth or more compute is never slower.
    assert (d.e_bandwidth <= 1e-9).all() and (d.e_compute <= 1e-9).all()
    # Decode is bandwidth-bound (compute barely matters), the vision encoder compute-bound.
    dec = d[d.phase == "decode"]
    assert (dec.e_bandwidth < -0.3).all() and (dec.e_compute > -0.05).all()
    enc = d[d.phase == "encode"]
    assert (enc.e_compute < enc.e_bandwidth).all()


def test_iso_lines(run):
    iso = pd.read_csv(run[1] / "iso_lines.csv")
    assert np.allclose(iso[iso.bus_scale == 1.0].rel_nominal, 1.0)
    # A narrower bus with the area given to compute is slower for the VLA frame.
    assert (iso[iso.bus_scale == 0.5].rel_nominal > 1.0).all()
    # Every line's share of draws where each point is fastest sums to 1.
    s = iso.groupby(["chip", "line"]).share_best.sum()
    assert np.allclose(s, 1.0)


def test_sram_curves_are_monotone(run):
    c = pd.read_csv(run[1] / "kv_sram_curves.csv")
    for (m, ctx), g in c.groupby(["model", "context"]):
        g = g.sort_values("sram_mib")
        for use in ("kv", "weights", "bus"):
            v = g[f"speedup_{use}"].to_numpy()
            assert (v >= 1 - 1e-9).all(), (m, ctx, use)
            assert (np.diff(v) >= -1e-9).all(), (m, ctx, use)
        # A KV SRAM larger than the KV cache buys nothing more.
        fits = g[g.sram_mib >= g.kv_cache_mib]
        if len(fits) > 1:
            assert np.ptp(fits.speedup_kv) < 1e-9


def test_sram_byte_saves_a_byte(run):
    # Where the KV cache and the weights both exceed the SRAM, a byte of SRAM saves one byte
    # of DRAM traffic per decode step whichever it holds: the two uses tie.
    t = pd.read_csv(run[1] / "sram_use.csv")
    big = t[(t.phase == "decode") & t.model.isin(["llama-2-7b", "llama-3-8b"])]
    assert np.allclose(big.speedup_kv, big.speedup_weights, rtol=0.01)
    # The equal-area bus never exceeds the widest LPDDR5X interface.
    for r in t.drop_duplicates("chip").itertuples():
        c = api.load_chip(r.chip)
        assert r.bus_scale * c.dram.bandwidth_bytes_per_s <= mvt.MAX_DRAM_BYTES_PER_S + 1e3


def test_verdicts_follow_the_rule(run):
    r, out = run
    v = pd.read_csv(out / "verdicts.csv")
    assert set(v.claim) == {"bandwidth-per-area", "bandwidth-per-power",
                            "kv-sram-vs-weight-sram", "kv-sram-vs-dram-bus"}
    for row in v.itertuples():
        want = ("supported" if row.share_holding >= AGREE else "not supported"
                if row.share_holding <= 1 - AGREE else "undetermined")
        assert row.verdict == want
    t = pd.read_csv(out / "results.csv")
    fr = t[t.phase == "frame"].set_index("chip")
    for row in v[v.claim == "bandwidth-per-area"].itertuples():
        chip = next(c for c, s in mvt.SHORT.items() if row.scope.startswith(s + ","))
        assert row.nominal == pytest.approx(fr.loc[chip, "area_nominal"])
    assert r.supports is (True if set(v.verdict) == {"supported"} else
                          False if set(v.verdict) == {"not supported"} else None)
    # The study's own area assumptions are in the tornado.
    torn = pd.read_csv(out / "tornado.csv")
    assert torn.number.str.startswith("study: LPDDR5X PHY area").any()


def test_weight_sram_variant():
    c = api.load_chip("drive-thor-u")
    v = api.chip_variant(c, weight_sram_bytes=64 * 2**20)
    assert v.pinnable_weight_bytes == pytest.approx(c.pinnable_weight_bytes + 64 * 2**20)
    level = next(m for m in v.memory if m.name == "weight_sram")
    assert level.bandwidth_bytes_per_s == c.sram_bandwidth_bytes_per_s
    # Beside a local store of the same bandwidth it pins at that speed (the fast tier).
    m100 = api.load_chip("li-m100")
    w = api.chip_variant(m100, weight_sram_bytes=64 * 2**20)
    from microarch.figures import ChipFigures

    f0, f1 = ChipFigures.of(m100), ChipFigures.of(w)
    assert f1.pin_fast_capacity_bytes == pytest.approx(f0.pin_fast_capacity_bytes
                                                       + 64 * 2**20)
    assert f1.pin_fast_bytes_per_s == f0.pin_fast_bytes_per_s
