"""The area of a Chip (microarch.area.chip_area_spec / chip_area_mm2) and the mach100-vs-thor
study in quick mode: files written, ratios against Thor-U, and the verdict reproduced from the
summary table by the study's rule."""

import numpy as np
import pandas as pd
import pytest

from chipdse import api
from microarch.area import (
    AUTOMOTIVE_UNCORE_MM2,
    chip_area_mm2,
    chip_area_spec,
    dies,
    dram_data_rate,
    orin_area_check,
    sram_mm2_per_mib,
    total_area_mm2,
)
from microarch.loader import load_chip
from microarch.template import ChipTemplate
from studies import mach100_vs_thor as study
from studies.base import AGREE, write_result

MIB = 2**20


def test_m100_spec_by_hand():
    s = chip_area_spec(load_chip("li-m100"))
    # 294.9 INT8 TOPS / (2 x 1.5 GHz) = 48 TPB x 2,048 MAC, scaled to the 56 TPB on the die.
    assert s.int8_mac_lanes == pytest.approx(294.9e12 / 3e9 * 56 / 48)
    assert s.vector_lanes == pytest.approx(9.22e12 / 3e9 * 56 / 48)
    # 32 MiB central SRAM + 96 MiB HBSM of 48 TPB -> 112 MiB on 56 TPB.
    assert s.sram_bytes == pytest.approx((32 + 112) * MIB)
    assert s.dram_bus_bits == 256          # 273 GB/s x 8 / 8,533 MT/s = 255.9 -> 16 x16 channels
    assert dict(s.cpu_cores) == {"a78ae": 24, "x280": 18}
    assert s.fused_nonlinear and not s.native_moe and not s.reconfigurable
    assert set(s.float_formats) == {"fp16", "bf16", "fp8"}


@pytest.mark.parametrize("name", ["drive-thor-u", "li-m100"])
def test_published_dies_agree_with_area_checks(name):
    """The spec derived from the preset is the published-check spec: same area to 1.5 % (Thor-U
    differs by the clock's rounding, M100 by MiB vs MB of HBSM)."""
    die = dies()[load_chip(name).technology.die]
    ref = float(total_area_mm2(die.spec(AUTOMOTIVE_UNCORE_MM2)))
    got = chip_area_mm2(load_chip(name))
    assert got == pytest.approx(ref, rel=0.015)
    # Identical spec -> identical area.
    assert float(total_area_mm2(chip_area_spec(load_chip(name)))) == pytest.approx(got, rel=1e-12)


def test_orin_agrees_with_orin_check():
    assert chip_area_mm2(load_chip("jetson-agx-orin-64gb")) == pytest.approx(
        orin_area_check()["model_mm2"], rel=0.005)


def test_template_chip_area_is_the_template_area():
    t = ChipTemplate()
    for d in (dict(matrix_units=16, clock_ghz=1.4, dram_bus_bits=256, sram_mib=32,
                   kv_sram_mib=16, native_moe=True, fused_nonlinear=True,
                   phase_mode="reconfigurable", node_nm=5),
              dict(matrix_units=2, clock_ghz=0.8, dram_bus_bits=64, sram_mib=2, kv_sram_mib=0,
                   native_moe=False, fused_nonlinear=False, phase_mode="static", node_nm=7)):
        chip = t.build_chip(**d)
        assert chip_area_mm2(chip) == pytest.approx(chip.technology.die_area_mm2, rel=1e-9)


def test_variants_add_what_they_add():
    base = load_chip("li-m100")
    kv = api.chip_variant(base, "li-m100+kv", kv_sram_bytes=64 * MIB)
    # The variant keeps the M100 die (CPU cluster, fused-off TPBs) and adds 64 MiB of SRAM.
    assert chip_area_mm2(kv) - chip_area_mm2(base) == pytest.approx(
        64 * float(sram_mm2_per_mib(5)), rel=1e-9)
    moe = api.chip_variant(base, "li-m100+moe", native_moe=True)
    assert chip_area_mm2(moe) > chip_area_mm2(base)
    more = api.chip_variant(base, "li-m100+bw", dram_bandwidth_scale=2.0)
    assert chip_area_spec(more).dram_bus_bits == 512


def test_dram_generation_and_bad_dram():
    assert dram_data_rate(load_chip("jetson-agx-orin-64gb"))[0] == "lpddr5"
    assert dram_data_rate(load_chip("drive-thor-u"))[0] == "lpddr5x"
    with pytest.raises(ValueError, match="HBM"):
        chip_area_mm2(load_chip("h100-sxm"))


@pytest.fixture(scope="module")
def result(tmp_path_factory):
    out = tmp_path_factory.mktemp("m100")
    r = study.run(out, quick=True)
    write_result(r, out, quick=True, seed=0)
    return r, out


def test_study_files_and_ratios(result):
    r, out = result
    for f in ("results.csv", "summary.csv", "mix.csv", "verdicts.csv", "tornado.csv",
              "verdict.md", "config.json", "phase_verdicts.png", "size_sweep.png",
              "mix_sweep.png", "tornado.png"):
        assert (out / f).is_file(), f
    t = pd.read_csv(out / "results.csv")
    s = pd.read_csv(out / "summary.csv").set_index(["chip", "tier"])
    # The reference against itself is 1 at every phase, tier and model.
    ref = t[t.chip == study.REFERENCE]
    assert np.allclose(ref[["ratio_vs_thor_u", "ratio_p05", "ratio_p95"]], 1.0)
    # Every ratio is Thor-U's latency over the chip's, for the same model, tier and phase.
    key = ["tier", "workload", "model", "phase"]
    m = t[(t.chip == "li-m100")].merge(ref[key + ["latency_ms"]], on=key, suffixes=("", "_ref"))
    m = m.drop_duplicates(key)
    assert np.allclose(m.ratio_vs_thor_u, m.latency_ms_ref / m.latency_ms, rtol=1e-9)
    # Bands hold the nominal ratio of the chip as it is in most rows (draws are centred on
    # it), and are ordered.
    assert (t.ratio_p05 <= t.ratio_p50 + 1e-12).all() and (t.ratio_p50 <= t.ratio_p95 + 1e-12).all()
    # The headline LLM ratio is the geometric mean of the per-model rows that test the claim.
    for tier in study.TIERS:
        for ph in study.PHASES:
            rows = t[(t.chip == "li-m100") & (t.tier == tier) & (t.tests == study.LLM.key)
                     & (t.phase == ph)]
            geo = float(np.exp(np.log(rows.ratio_vs_thor_u).mean()))
            assert s.loc[("li-m100", tier), f"llm_{ph.replace(' ', '_')}"] == pytest.approx(geo)
    # The claim's own small MoE VLA model is in the size sweep, with 8 experts.
    assert study.VLA_MODEL in set(t.model)
    assert study.vla_model().n_experts == 8
    # Adding SRAM, an engine or bandwidth never slows the M100; doubling DRAM bandwidth
    # speeds decode.
    for v in ("li-m100+kv-sram", "li-m100+moe-engine", "li-m100+all", "li-m100+2x-dram"):
        for tier in study.TIERS:
            for col in ("llm_end_to_end", "vla_end_to_end", "llm_decode", "vla_prefill"):
                assert s.loc[(v, tier), col] >= s.loc[("li-m100", tier), col] - 1e-9, (v, col)
    assert s.loc[("li-m100+2x-dram", "8-bit"), "llm_decode"] > \
        1.5 * s.loc[("li-m100", "8-bit"), "llm_decode"]
    # Published die areas appear beside the model's.
    assert s.loc[("li-m100", "8-bit"), "area_published_mm2"] == pytest.approx(399.8)
    assert s.loc[("drive-thor-u", "8-bit"), "area_published_mm2"] == pytest.approx(415.0)
    # The mix sweep: Thor-U's prefill share falls as more tokens are generated, and the
    # headline mix row is the summary's end-to-end ratio.
    mix = pd.read_csv(out / "mix.csv")
    for tier, g in mix.groupby("tier"):
        g = g.sort_values("generate")
        assert (np.diff(g.thor_u_prefill_share) <= 1e-12).all()
        head = g[g.generate == study.LLM_GENERATE].iloc[0]
        assert head.ratio == pytest.approx(s.loc[("li-m100", tier), "llm_end_to_end"])


def test_kv_sram_holds_the_frame_kv_cache():
    """The +kv-sram variant's SRAM holds qwen3-1.7b's KV cache for the VLA frame (prefill +
    action tokens at FP16)."""
    req = api.load_trace(study.TRACE).streams[0].request
    kv = api.load_model("qwen3-1.7b").kv_bytes_per_token(2.0) * (req.prefill_tokens
                                                                 + req.action_tokens)
    assert kv <= study.KV_SRAM_BYTES
    assert kv / MIB == pytest.approx(114, abs=0.5)


def test_study_verdict_follows_rule(result):
    r, out = result
    v = pd.read_csv(out / "verdicts.csv")
    assert set(v.claim) == {study.LLM.key, study.VLA.key}
    # One verdict per claim, tier and phase.
    assert len(v) == 2 * len(study.TIERS) * len(study.PHASES)
    for row in v.itertuples():
        word = ("supported" if row.share_holding >= AGREE else "not supported"
                if row.share_holding <= 1 - AGREE else "undetermined")
        assert row.verdict == word
        assert row.p05 <= row.p95
    # Thresholds are the stated ratios read at CLAIM_SHARE.
    thr = v.groupby("claim").threshold.first()
    assert thr[study.LLM.key] == pytest.approx(study.CLAIM_SHARE * 2.0)
    assert thr[study.VLA.key] == pytest.approx(study.CLAIM_SHARE * 3.0)
    # The summary's band is the verdict's band.
    s = pd.read_csv(out / "summary.csv").set_index(["chip", "tier"])
    for row in v.itertuples():
        tier, ph = [x.strip() for x in row.scope.split(",")]
        col = ("llm_" if row.claim == study.LLM.key else "vla_") + ph.replace(" ", "_")
        assert row.nominal == pytest.approx(s.loc[("li-m100", tier), col])
        assert row.p05 == pytest.approx(s.loc[("li-m100", tier), col + "_p05"])
    words = set(v.verdict)
    assert r.supports == (True if words == {"supported"} else
                          False if words == {"not supported"} else None)
    assert r.verdict_word in (out / "verdict.md").read_text()
