"""Shape-aware GEMM efficiency, power modes, format inheritance and MoE routing skew: golden
values against hand calculations and Monte Carlo, and the properties a user relies on."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from click.testing import CliRunner

from chipdse import api
from chipdse.cli import main
from chipdse.cost import ChipParams, _grouped_row_tiles_of, gemm_tiling
from microarch.chip import Efficiency
from microarch.loader import list_chips, load_chip
from workloads.ops import Op, experts_touched

# ---- tile and wave quantisation ------------------------------------------------------------


def _gemm(m: float, n: float, k: float, **kw) -> Op:
    return Op("g", "matrix", "gemm", 1.0, flops=2 * m * n * k, gemm_m=m, gemm_n=n, gemm_k=k,
              **kw)


@pytest.fixture(scope="module")
def thor() -> ChipParams:
    return ChipParams.from_chip(load_chip("jetson-agx-thor"))


def test_tile_and_wave_quantisation_by_hand(thor):
    """M=1000, N=3000, K=4096 on Thor (20 SMs, 128 x 256 tiles): 8 x 12 = 96 tiles run in
    ceil(96/20) = 5 waves of 20; useful work 1000 x 3000 of 5 x 20 x 128 x 256; K fill
    4096 / (4096 + k_overhead)."""
    t = load_chip("jetson-agx-thor").matrix.tiling
    assert (t.m, t.n) == (128, 256) and thor.gemm_cores == 20
    eff, row_tiles = gemm_tiling(_gemm(1000, 3000, 4096), thor)
    k0 = thor.gemm_k_overhead
    hand = (1000 * 3000) / (5 * 20 * 128 * 256) * 4096 / (4096 + k0)
    assert float(eff) == pytest.approx(hand, rel=1e-12)
    assert float(row_tiles) == 8


def test_split_k_fills_the_cores_for_a_single_tile(thor):
    """One 16 x 256 tile (M=16 rows) on 20 cores: the reduction splits 20 ways, each split
    runs K/20 deep, and the row tile shrinks to 16."""
    eff, _ = gemm_tiling(_gemm(16, 256, 8192), thor)
    k0 = thor.gemm_k_overhead
    k_split = 8192 / 20
    assert float(eff) == pytest.approx(k_split / (k_split + k0), rel=1e-12)


def test_more_cores_never_lose_throughput_and_shape_efficiency_is_a_fraction(thor):
    for m in (1, 7, 128, 300, 2048, 4096):
        for n in (256, 1000, 4096):
            eff, _ = gemm_tiling(_gemm(m, n, 2048), thor)
            assert 0.0 < float(eff) <= 1.0
    small = dataclasses.replace(thor, gemm_cores=np.float64(6.0))
    op = _gemm(4096, 4096, 4096)
    # A whole GEMM on 6 cores takes longer than on 20 (time ~ 1 / (cores x efficiency)).
    assert 6 * float(gemm_tiling(op, small)[0]) < 20 * float(gemm_tiling(op, thor)[0])


def test_grouped_expert_padding_matches_monte_carlo():
    """128 experts, top-8, 2048 tokens, 128-row tiles, uniform routing: expected row tiles
    sum_r E[ceil(X_r / 128)], against a seeded simulation of the routing (linearity of
    expectation makes the binomial marginals exact)."""
    tiles, touched = _grouped_row_tiles_of(128.0, 8.0, 0.0, 2048.0, 128.0)
    rng = np.random.default_rng(0)
    sims = []
    for _ in range(300):
        counts = np.zeros(128)
        for _tok in range(2048):
            counts[rng.choice(128, 8, replace=False)] += 1
        sims.append(np.sum(np.ceil(counts / 128)))
    assert float(tiles) == pytest.approx(np.mean(sims), rel=0.01)
    assert float(touched) == pytest.approx(128.0, rel=1e-6)
    # 2048 x 8 / 128 = 128 rows per expert on average, but the binomial spread pads most
    # experts to two tiles: far more than the 128 tiles a dense GEMM of the same rows needs.
    assert 180 < float(tiles) < 200


def test_grouped_gemm_pads_more_than_a_dense_gemm_of_the_same_rows(thor):
    dense = _gemm(2048 * 8, 768, 2048)
    grouped = _gemm(2048 * 8 / 128, 768, 2048, expert_pool=128.0, expert_topk=8.0,
                    expert_skew=0.0, routed_tokens=2048.0)
    assert float(gemm_tiling(grouped, thor)[0]) < float(gemm_tiling(dense, thor)[0])


# ---- routing skew ----------------------------------------------------------------------------


def test_routing_skew_touches_fewer_experts():
    """Qwen3-30B-A3B, batch-8 decode: uniform routing touches 128 (1 - (1 - 8/128)^8) = 51.6
    experts per layer; the default Zipf skew (0.78) concentrates them on about 41."""
    uniform = float(experts_touched(128, 8, 8, 0.0))
    assert uniform == pytest.approx(128 * (1 - (1 - 8 / 128) ** 8), rel=1e-12)
    assert uniform == pytest.approx(51.6, abs=0.05)
    skewed = float(experts_touched(128, 8, 8, 0.78))
    assert skewed == pytest.approx(40.9, abs=0.1)
    # one token touches exactly top-k experts whatever the skew; a dense model touches one
    assert float(experts_touched(128, 8, 1, 0.78)) == pytest.approx(8.0, rel=1e-6)
    assert float(experts_touched(1, 1, 8, 0.78)) == 1.0


def test_more_skew_is_never_slower_for_batched_moe_decode():
    m = api.load_model("qwen3-30b-a3b")
    p = api.make_precision("nvfp4", "nvfp4")
    times = [api.estimate("jetson-agx-thor", dataclasses.replace(m, routing_skew=s), p, 8,
                          1024, 16).decode_s_per_token for s in (0.0, 0.4, 0.78)]
    assert times[0] >= times[1] >= times[2]


# ---- format inheritance ----------------------------------------------------------------------


def test_unmeasured_formats_inherit_the_nearest_measured_one():
    e = Efficiency(matrix={"default": 0.5, "fp16": 0.6, "int8": 0.7})
    assert e.matrix_for("int4") == 0.7    # same kind (integer), nearest width
    assert e.matrix_for("fp8") == 0.6     # float: fp16 is the only measured float
    assert e.matrix_for("nvfp4") == 0.6
    assert e.matrix_for("bf16") == 0.6
    e2 = Efficiency(matrix={"default": 0.5, "fp8": 0.8, "fp32": 0.3})
    assert e2.matrix_for("fp16") == 0.3   # 8 and 32 bits are equally near 16: the wider wins
    assert Efficiency(matrix={"default": 0.5}).matrix_for("int8") == 0.5


# ---- power modes -----------------------------------------------------------------------------


@pytest.mark.parametrize("name", list_chips())
def test_every_preset_mode_loads_and_names_its_source(name):
    c = load_chip(name)
    if not c.power_modes:
        assert c.power_mode is None
        return
    assert c.power_mode == c.reference_mode
    for m in c.power_modes:
        assert m.source, f"{name} mode {m.name} has no source"
        v = load_chip(name, power_mode=m.name)
        assert v.power_mode == m.name
        assert v.dram.bandwidth_bytes_per_s == pytest.approx(m.dram_bytes_per_s, rel=0.01)
        assert load_chip(f"{name}@{m.name}") == v


def test_a_power_mode_scales_clock_cores_and_bandwidth():
    """Orin Nano 15W: GPU 612 of 1020 MHz, DRAM 68.3 of 102.4 GB/s (nvpmodel); 7W (original
    module): 4 of 8 SMs at 408 MHz."""
    ref = load_chip("jetson-orin-nano-8gb")
    w15 = load_chip("jetson-orin-nano-8gb", power_mode="15W")
    assert w15.matrix.peak("fp16") == pytest.approx(ref.matrix.peak("fp16") * 612 / 1020,
                                                    rel=1e-9)
    assert w15.dram.bandwidth_bytes_per_s == pytest.approx(68.3e9, rel=1e-3)
    w7 = load_chip("jetson-orin-nano-8gb", power_mode="7W-original")
    assert w7.matrix.cores == 4
    assert w7.matrix.peak("fp16") == pytest.approx(
        ref.matrix.peak("fp16") * (408 / 1020) * (4 / 8), rel=1e-9)
    # modes compose: 15W then 7W-original is 7W-original
    assert w15.in_power_mode("7W-original").matrix.peak("fp16") == pytest.approx(
        w7.matrix.peak("fp16"), rel=1e-12)


def test_a_bandwidth_bound_decode_follows_the_modes_bandwidth():
    p = api.make_precision("int4", "fp16")
    full = api.estimate("jetson-orin-nano-8gb", "qwen3-4b", p, 1, 512, 16)
    low = api.estimate("jetson-orin-nano-8gb@15W", "qwen3-4b", p, 1, 512, 16)
    assert low.power_mode == "15W" and full.power_mode == "MAXN_SUPER"
    # decode time = bytes / bandwidth + launch overheads that do not scale with it
    ratio = low.decode_tokens_per_s / full.decode_tokens_per_s
    assert 68.3 / 102.4 < ratio < 0.75


def test_lower_power_mode_is_never_faster():
    for name in ("jetson-agx-orin-64gb", "jetson-orin-nx-16gb", "jetson-agx-thor"):
        c = load_chip(name)
        ref = api.estimate(c, "qwen3-1.7b", api.make_precision("int8", "int8"), 1, 1024, 16)
        for m in c.power_modes:
            est = api.estimate(c.in_power_mode(m.name), "qwen3-1.7b",
                               api.make_precision("int8", "int8"), 1, 1024, 16)
            assert est.total_s >= ref.total_s * (1 - 1e-9), (name, m.name)


def test_power_mode_on_the_command_line():
    r = CliRunner().invoke(main, ["estimate", "--chip", "jetson-orin-nano-8gb", "--power-mode",
                                  "15W", "--model", "qwen3-0.6b", "--format", "json"])
    assert r.exit_code == 0, r.output
    assert '"power_mode": "15W"' in r.output
    r = CliRunner().invoke(main, ["estimate", "--chip", "jetson-orin-nano-8gb",
                                  "--power-mode", "5W", "--model", "qwen3-0.6b"])
    assert r.exit_code == 2
    assert "has no power mode '5W' (modes: MAXN_SUPER, 15W, 25W" in r.output
    r = CliRunner().invoke(main, ["estimate", "--chip", "jetson-orin-nano-8gb@25W",
                                  "--power-mode", "15W", "--model", "qwen3-0.6b"])
    assert r.exit_code == 2 and "already names power mode 25W" in r.output
    r = CliRunner().invoke(main, ["chips", "show", "jetson-orin-nano-8gb"])
    assert r.exit_code == 0
    assert "15W-original=GPU 624.8 MHz" in r.output and "(reference)" in r.output


def test_no_power_mode_on_a_chip_without_modes_is_a_clear_error():
    r = CliRunner().invoke(main, ["estimate", "--chip", "li-m100", "--power-mode", "MAXN",
                                  "--model", "qwen3-0.6b"])
    assert r.exit_code == 2 and "li-m100 has no power mode 'MAXN' (modes: none)" in r.output
