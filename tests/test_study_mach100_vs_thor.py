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
from studies.base import write_result

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
    for f in ("results.csv", "summary.csv", "clock_sensitivity.csv", "verdict.md",
              "config.json", "effective_compute.png"):
        assert (out / f).is_file(), f
    t = pd.read_csv(out / "results.csv")
    s = pd.read_csv(out / "summary.csv").set_index("chip")
    # The reference against itself is 1; every ratio is Thor-U's latency over the chip's.
    assert np.allclose(t[t.chip == "drive-thor-u"][["ratio_llm", "ratio_vla"]], 1.0)
    row = t[(t.chip == "li-m100") & (t.model == "qwen3-1.7b") & (t.tier == "8-bit")].iloc[0]
    ref = t[(t.chip == "drive-thor-u") & (t.model == "qwen3-1.7b") & (t.tier == "8-bit")].iloc[0]
    assert row.ratio_vla == pytest.approx(ref.frame_total_ms / row.frame_total_ms)
    # The headline ratios are the 8-bit tier's only, the same format on every chip; the 4-bit
    # tier (each chip's own path) is kept apart.
    assert s.precision.nunique() == 1 and s.precision.iloc[0] == "wint8-aint8-kvfp16"
    assert s.loc["drive-thor-u", "precision_4bit"].startswith("wnvfp4-anvfp4")
    assert s.loc["li-m100", "precision_4bit"].startswith("wint4-aint8")
    head = t[(t.chip == "li-m100") & (t.tier == "8-bit")]
    geo = float(np.exp(np.log(head.ratio_llm).mean()))
    assert s.loc["li-m100", "ratio_llm"] == pytest.approx(geo)
    four = t[(t.chip == "li-m100") & (t.tier == "4-bit")]
    assert s.loc["li-m100", "ratio_vla_4bit"] == pytest.approx(
        float(np.exp(np.log(four.ratio_vla).mean())))
    # Adding SRAM or bandwidth never slows the M100; doubling DRAM bandwidth speeds decode.
    for v in ("li-m100+kv-sram", "li-m100+2x-sram", "li-m100+all", "li-m100+2x-dram"):
        for col in ("ratio_llm", "ratio_vla", "ratio_llm_4bit", "ratio_vla_4bit"):
            assert s.loc[v, col] >= s.loc["li-m100", col] - 1e-9
    assert s.loc["li-m100+2x-dram", "ratio_llm_decode"] > 1.5 * s.loc["li-m100",
                                                                       "ratio_llm_decode"]
    # Published die areas appear beside the model's.
    assert s.loc["li-m100", "area_published_mm2"] == pytest.approx(399.8)
    assert s.loc["drive-thor-u", "area_published_mm2"] == pytest.approx(415.0)
    # Faster compute never hurts: the clock sensitivity is monotone.
    c = pd.read_csv(out / "clock_sensitivity.csv").sort_values("clock_ghz")
    assert (np.diff(c.ratio_llm) >= -1e-9).all() and (np.diff(c.ratio_vla) >= -1e-9).all()


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
    s = pd.read_csv(out / "summary.csv").set_index("chip")
    m = s.loc["li-m100"]
    halves = (m.ratio_llm >= 0.8 * 2.0, m.ratio_vla >= 0.8 * 3.0)
    expected = True if all(halves) else (False if not any(halves) else None)
    assert r.supports == expected
    assert r.verdict_word in (out / "verdict.md").read_text()
    assert f"M100 preset reaches {m.ratio_llm:.2f}x Thor-U on the LLM request" in r.answer
    assert f"{m.ratio_vla:.2f}x on the VLA frame" in r.answer
    assert f"gives {m.ratio_llm_4bit:.2f}x / {m.ratio_vla_4bit:.2f}x" in r.answer
    # DRAM bandwidths are read from both chips; "the same" only when they are.
    bw_m, bw_t = s.loc["li-m100", "dram_gb_per_s"], s.loc["drive-thor-u", "dram_gb_per_s"]
    assert bw_m == pytest.approx(api.load_chip("li-m100").dram.bandwidth_bytes_per_s / 1e9)
    assert bw_t == pytest.approx(api.load_chip("drive-thor-u").dram.bandwidth_bytes_per_s / 1e9)
    assert ("the same" in r.answer.split("streams weights over")[1][:12]) == \
        (abs(bw_m / bw_t - 1) < 0.01)
    # The clock is the preset's, and the sensitivity's middle row is the preset itself.
    clock = api.load_chip("li-m100").technology.clock_hz / 1e9
    c = pd.read_csv(out / "clock_sensitivity.csv").set_index("clock_ghz")
    assert c.loc[clock, "ratio_llm"] == pytest.approx(m.ratio_llm)
    assert c.loc[clock, "ratio_vla_4bit"] == pytest.approx(m.ratio_vla_4bit)
