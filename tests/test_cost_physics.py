"""Chip-dependent decisions of the cost model: partitions, pinning across SRAM levels, MoE
overhead counting, 2:4 sparsity, encoders, unsupported formats."""

import dataclasses

import pytest

from chipdse import api
from chipdse.cost import ChipParams, op_cost, placement
from chipdse.errors import UserError
from workloads.model import ModelArch
from workloads.ops import ArchArrays, kv_cache_bytes, phase_operators, weights_total_bytes
from workloads.precision import Precision


def test_static_partition_slows_each_phase_by_its_share():
    """A static chip gives prefill 30 % and decode 70 % of compute, bandwidth and SRAM: a
    compute-bound prefill takes about 1/0.3 as long (a little more: the smaller SRAM share
    shrinks GEMM tiles, so weights are re-read more often), a bandwidth-bound decode about
    1/0.7. A 512-token prompt keeps the 16-bit activations inside the prefill share's on-chip
    buffer (at 1k tokens they spill to DRAM and prefill slows a further ~20 %)."""
    p = api.make_precision("int8", "int8")
    base = api.estimate("jetson-agx-thor", "qwen3-1.7b", p, 1, 512)
    v = api.chip_variant("jetson-agx-thor", phase_mode="static", prefill_share=0.3)
    st = api.estimate(v, "qwen3-1.7b", p, 1, 512)
    assert 1 / 0.3 * 0.9 < st.prefill_s / base.prefill_s < 1 / 0.3 * 1.2
    assert 1.2 < st.decode_s_per_token / base.decode_s_per_token <= 1 / 0.7 + 1e-9


def test_partition_scales_every_partitioned_resource(orin):
    cp = ChipParams.from_chip(orin)
    part = cp.partition(0.25, 0.5, 0.75)
    assert part.matrix_ops_per_s["fp16"] == pytest.approx(0.25 * cp.matrix_ops_per_s["fp16"])
    assert part.dram_bytes_per_s == pytest.approx(0.5 * cp.dram_bytes_per_s)
    assert part.sram_capacity_bytes == pytest.approx(0.75 * cp.sram_capacity_bytes)
    assert part.static_power_w == pytest.approx(0.25 * cp.static_power_w)
    assert part.kv_capacity_bytes == cp.kv_capacity_bytes  # the KV SRAM is shared by both phases


def test_pinned_weights_read_at_the_slowest_level_they_occupy():
    """li-m100: 48 MiB of pinnable HBSM (fast) and 16 MiB of central SRAM (slow). A model that
    fits in the HBSM share is read at HBSM speed; a bigger one waits for the central SRAM."""
    cp = ChipParams.from_chip(api.load_chip("li-m100"))
    small = placement(cp, 0.5 * cp.pin_fast_capacity_bytes, 0.0)
    big = placement(cp, cp.pinnable_capacity_bytes, 0.0)
    assert float(small.pinned_fraction) == 1.0 and float(big.pinned_fraction) == 1.0
    assert float(small.pinned_bytes_per_s) == pytest.approx(float(cp.pin_fast_bytes_per_s))
    slow_share = cp.pinnable_capacity_bytes - cp.pin_fast_capacity_bytes
    assert float(big.pinned_bytes_per_s) == pytest.approx(cp.pinnable_capacity_bytes / (slow_share
                                                                       / cp.pin_slow_bytes_per_s))
    huge = placement(cp, 10 * cp.pinnable_capacity_bytes, 0.0)
    assert float(huge.pinned_fraction) == pytest.approx(0.1)


def test_gpu_cache_holds_weights_only_when_they_fit():
    cp = ChipParams.from_chip(api.load_chip("h100-sxm"))  # 50 MiB L2, no scratchpad pinning
    assert float(placement(cp, 0.4 * cp.cache_capacity_bytes, 0.0).pinned_fraction) == 1.0
    assert float(placement(cp, 0.6 * cp.cache_capacity_bytes, 0.0).pinned_fraction) == 0.0


def test_per_expert_overhead_once_per_touched_expert_per_layer(thor):
    m = api.load_model("qwen3-30b-a3b")
    p = Precision("nvfp4", "nvfp4", "fp16")
    a = ArchArrays.from_model(m)
    cp = ChipParams.from_chip(thor)
    wt = weights_total_bytes(a, p)
    ops = phase_operators(a, p, 1, 1, 2048)
    per_layer = sum(float(op_cost(o, cp, wt, kv_cache_bytes(a, p, 1, 2049)).overhead_s)
                    for o in ops if o.layer_op) - sum(
        cp.dispatch_per_op_s for o in ops if o.layer_op and o.kind != "conversion"
        and not (o.kind == "nonlinear" and cp.fused_nonlinear)) - sum(
        cp.dispatch_per_op_s for o in ops if o.layer_op and o.kind == "conversion")
    assert per_layer == pytest.approx(m.top_k * cp.per_expert_overhead_s, rel=1e-9)


def test_sparse24_halves_time_energy_and_storage_where_supported(thor):
    m = ModelArch.from_plas(16, 2048, 4, 3.0)
    dense = Precision("fp8", "fp8", "fp16")
    sparse = dataclasses.replace(dense, sparsity_2_4=True)
    a = ArchArrays.from_model(m)
    cp = ChipParams.from_chip(thor)
    wd, ws = weights_total_bytes(a, dense), weights_total_bytes(a, sparse)
    head = m.vocab_size * m.d_model * dense.h.bits / 8  # the head is not pruned
    assert (ws - head) / (wd - head) == pytest.approx(0.5 + 0.125, rel=1e-3)
    od = next(o for o in phase_operators(a, dense, 1, 1024, 0) if o.name == "ffn_up")
    osp = next(o for o in phase_operators(a, sparse, 1, 1024, 0) if o.name == "ffn_up")
    cd, cs = op_cost(od, cp, wd, 0.0), op_cost(osp, cp, ws, 0.0)
    assert float(cs.compute_s) == pytest.approx(float(cd.compute_s) / 2)
    assert float(cs.energy_j) < float(cd.energy_j)


def test_encoder_has_no_decode_and_no_kv_cache():
    with pytest.raises(UserError, match="encoder"):
        api.estimate("jetson-agx-thor", "clip-vit-large-patch14", generate=4)
    e = api.estimate("jetson-agx-thor", "clip-vit-large-patch14", prompt=257, generate=0)
    assert e.prefill_s > 0
    a = ArchArrays.from_model(api.load_model("clip-vit-large-patch14"))
    att = next(o for o in phase_operators(a, Precision(), 6, 257, 0, logits="none")
               if o.name == "attention")
    assert att.kv_read_bytes == 0 and att.kv_write_bytes == 0


def test_unsupported_format_is_a_user_error():
    with pytest.raises(UserError, match="cannot execute fp32 GEMMs"):
        api.estimate("li-m100", "qwen3-0.6b", api.make_precision("fp32", "fp32"))


def test_decode_energy_is_per_token_not_per_step():
    e1 = api.estimate("jetson-agx-orin-64gb", "qwen3-0.6b", batch=1, generate=8)
    e8 = api.estimate("jetson-agx-orin-64gb", "qwen3-0.6b", batch=8, generate=8)
    # Batching shares the weight reads: energy per token falls.
    assert e8.decode_energy_j_per_token < e1.decode_energy_j_per_token


def test_op_cost_names_an_unexecutable_format():
    """Called directly (not through api), a missing format is still one clear error."""
    c = api.load_chip("li-m100")
    a = ArchArrays.from_model(api.load_model("qwen3-0.6b"))
    p = Precision("fp32", "fp32", "fp32")
    op = next(o for o in phase_operators(a, p, 1, 8, 0) if o.name == "qkv_proj")
    with pytest.raises(UserError, match="cannot execute fp32 GEMMs .operator qkv_proj"):
        op_cost(op, ChipParams.from_chip(c), 1e9, 0.0)
