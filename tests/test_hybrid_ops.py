"""Hybrid operators against hand calculations: one Gated DeltaNet decode step, one Mamba-2 decode
step, one sliding-window attention step (FLOPs, vector ops and bytes), and the op_cost roofline of
each on an ideal chip."""

from __future__ import annotations

import numpy as np
import pytest

from chipdse.cost import ChipParams, CostOptions, op_cost
from microarch.loader import load_chip
from workloads.model import ModelArch
from workloads.ops import (
    GDN_DECODE_OPS,
    MAMBA_DECODE_OPS,
    ArchArrays,
    kv_cache_bytes,
    phase_operators,
    recurrent_state_bytes,
    sliding_pairs,
    weights_total_bytes,
)
from workloads.precision import Precision

FP16 = Precision()

# Gated DeltaNet: d 1024, 16 query/key heads and 16 value heads of 128, conv 4, FP32 state.
GDN = ModelArch(
    name="gdn", n_layers=2, d_model=1024, n_heads=8, n_kv_heads=2, head_dim=256, d_ff=3584,
    vocab_size=1000, tied_embeddings=True, attn_output_gate=True,
    layer_pattern=("linear_attention+ffn", "attention+ffn"), linear_num_key_heads=16,
    linear_num_value_heads=16, linear_key_head_dim=128, linear_value_head_dim=128)

# Mamba-2: d 512, 8 heads of 64, state 128 in one group, conv 4; attention-free mixer layer
# followed by an FFN-only layer (Nemotron-H style).
MAMBA = ModelArch(
    name="mamba", n_layers=3, d_model=512, n_heads=8, n_kv_heads=2, head_dim=64, d_ff=2048,
    vocab_size=1000, tied_embeddings=False, activation="relu2", rope=False,
    layer_pattern=("mamba", "ffn", "attention"), mamba_num_heads=8, mamba_head_dim=64,
    ssm_state_size=128, mamba_groups=1)

# Sliding window: Gemma-3-1B-like attention (4 heads, 1 KV head of 256), window 512.
SWA = ModelArch(
    name="swa", n_layers=2, d_model=1152, n_heads=4, n_kv_heads=1, head_dim=256, d_ff=6912,
    vocab_size=1000, tied_embeddings=True, activation="geglu", qk_norm=True,
    sliding_window=512, layer_pattern=("sliding_attention+ffn", "attention+ffn"))


def ops_by_name(m: ModelArch, batch=1.0, tokens=1.0, past=100.0, p=FP16):
    ops = phase_operators(ArchArrays.from_model(m), p, batch, tokens, past)
    return {o.name: o for o in ops}


def test_gated_deltanet_decode_step_by_hand():
    ops = ops_by_name(GDN)
    # in_proj: d -> q, k (2 x 2048), v, z (2 x 2048), b, a (2 x 16 heads) = 8224 outputs.
    assert ops["gdn_in_proj"].flops == 2 * 1024 * 8224
    assert ops["gdn_in_proj"].weight_bytes == 1024 * 8224 * 2
    # conv over q, k, v = 6144 channels: 4 taps (2 ops each) + SiLU input, 3 inputs of state.
    conv = ops["gdn_conv"]
    assert conv.vector_ops == 6144 * 9 and conv.sfu_ops == 6144
    assert conv.state_read_bytes == conv.state_write_bytes == 6144 * 3 * 2
    # recurrence: 16 value heads x 128 x 128 state, 7 ops per element, plus the L2 norm of
    # q and k (2048 elements each, 4 ops); the FP32 state read and written once.
    scan = ops["gdn_scan"]
    assert scan.engine == "vector" and scan.kind == "scan" and scan.flops == 0.0
    assert GDN_DECODE_OPS == 7.0
    assert scan.vector_ops == 16 * 128 * 128 * 7 + 2 * 2048 * 4
    assert scan.sfu_ops == 3 * 16 + 2 * 16
    assert scan.state_read_bytes == scan.state_write_bytes == 16 * 128 * 128 * 4 == 1 << 20
    assert scan.kv_read_bytes == 0.0 and scan.kv_write_bytes == 0.0
    assert ops["gdn_out_proj"].flops == 2 * 2048 * 1024
    # one linear layer of each, one attention layer of the rest
    assert scan.count == 1.0 and ops["attention"].count == 1.0 and ops["ffn_up"].count == 2.0
    # gated attention: q projection doubled for the gate
    assert ops["qkv_proj"].gemm_n == 2 * 2048 + 2 * 512


def test_gated_deltanet_decode_cost_on_an_ideal_chip():
    """Roofline: time = max(vector ops / vector rate + SFU ops / SFU rate, bytes / bandwidth)."""
    chip = load_chip("jetson-agx-orin-64gb")
    cp = ChipParams.from_chip(chip, ideal=True)
    a = ArchArrays.from_model(GDN)
    scan = ops_by_name(GDN)["gdn_scan"]
    c = op_cost(scan, cp, weights_total_bytes(a, FP16), kv_cache_bytes(a, FP16, 1, 101),
                CostOptions(activation_traffic=False, ideal_chip=True))
    vec = scan.vector_ops / cp.vector_ops_per_s + scan.sfu_ops / cp.sfu_ops_per_s
    state = 2 * 16 * 128 * 128 * 4  # read and written back, in DRAM: Orin has no KV SRAM
    assert c.dram_bytes == state and c.kv_bytes == 0.0
    assert c.time_s == pytest.approx(max(vec, state / cp.dram_bytes_per_s), rel=1e-12)
    # a KV SRAM holding the whole store takes the state traffic off DRAM
    big = cp.replace(kv_capacity_bytes=1e9, kv_bytes_per_s=1e12, kv_j_per_byte=0.0)
    c2 = op_cost(scan, big, weights_total_bytes(a, FP16), kv_cache_bytes(a, FP16, 1, 101),
                 CostOptions(activation_traffic=False, ideal_chip=True))
    assert c2.dram_bytes == 0.0 and c2.kv_bytes == state


def test_mamba2_decode_step_by_hand():
    ops = ops_by_name(MAMBA)
    # in_proj: d -> z, x (2 x 512), B, C (2 x 1 group x 128), dt (8 heads) = 1288 outputs.
    assert ops["mamba_in_proj"].flops == 2 * 512 * 1288
    conv = ops["mamba_conv"]  # x, B, C = 768 channels
    assert conv.vector_ops == 768 * 9 and conv.state_read_bytes == 768 * 3 * 2
    scan = ops["mamba_scan"]
    assert MAMBA_DECODE_OPS == 5.0
    # 8 heads x 64 x 128 state, 5 ops per element, plus the D skip (2 ops per inner element)
    assert scan.vector_ops == 8 * 64 * 128 * 5 + 2 * 512
    assert scan.sfu_ops == 2 * 8
    assert scan.state_read_bytes == scan.state_write_bytes == 8 * 64 * 128 * 4
    assert ops["mamba_out_proj"].flops == 2 * 512 * 512
    # Nemotron-H blocks: the Mamba layer has no FFN, the FFN layer no mixer, no RoPE anywhere
    assert ops["attn_norm"].count == 2.0 and ops["ffn_norm"].count == 1.0
    assert ops["ffn_up"].count == 1.0 and ops["ffn_up"].gemm_n == 2048  # relu2: one up matrix
    assert "rope" not in ops
    # the recurrent state and the one attention layer's KV are the KV store
    a = ArchArrays.from_model(MAMBA)
    state = 8 * 64 * 128 * 4 + 768 * 3 * 2
    assert recurrent_state_bytes(a, FP16, 1) == state
    assert kv_cache_bytes(a, FP16, 1, 101) == 2 * 128 * 2 * 101 + state


def test_sliding_window_decode_step_by_hand():
    ops = ops_by_name(SWA, past=1000.0)
    s, f = ops["sliding_attention"], ops["attention"]
    # 1 query over min(1001, 512) = 512 keys; 4 heads of 256: 4 x 512 x 1024 FLOPs
    assert s.flops == 4 * 512 * 1024
    assert s.kv_read_bytes == 512 * 2 * 256 * 2
    assert s.kv_write_bytes == 2 * 256 * 2
    assert s.vector_ops == 4 * 512 * 3 and s.sfu_ops == 4 * 512
    # the full-attention layer sees all 1001 keys
    assert f.flops == 4 * 1001 * 1024 and f.kv_read_bytes == 1001 * 2 * 256 * 2
    # KV store: the sliding layer holds 512 tokens, the global one 1001
    a = ArchArrays.from_model(SWA)
    assert kv_cache_bytes(a, FP16, 1, 1001) == 2 * 256 * 2 * (512 + 1001)


def test_sliding_window_prefill_pairs_by_hand():
    # 1000-token prompt, window 512: queries 1..512 see 1..512 keys, the other 488 see 512.
    assert sliding_pairs(1000.0, 0.0, 512.0) == 512 * 513 / 2 + 488 * 512
    # inside the window it is causal attention's T P + T (T + 1) / 2
    assert sliding_pairs(100.0, 50.0, 512.0) == 100 * 50 + 100 * 101 / 2
    # a decode step beyond the window sees exactly the window
    assert sliding_pairs(1.0, 5000.0, 512.0) == 512.0
    ops = ops_by_name(SWA, tokens=1000.0, past=0.0)
    assert ops["sliding_attention"].flops == 4 * (512 * 513 / 2 + 488 * 512) * 1024
    assert ops["sliding_attention"].kv_read_bytes == 1000 * 2 * 256 * 2


def test_chunked_prefill_scan_by_hand():
    """Prefill runs the chunked scan on the matrix engines: per token and value head
    6 c dk + 4 c dv + 6 dk dv + 2 c^2 / 3 FLOPs (chunk c = 64); the state carried between
    chunks is written and read once per chunk; no initial state is read without a past."""
    T = 256
    ops = ops_by_name(GDN, tokens=float(T), past=0.0)
    scan = ops["gdn_scan"]
    c, dk = 64, 128
    per_token = 6 * c * dk + 4 * c * dk + 6 * dk * dk + 2 * c * c / 3
    assert scan.engine == "matrix" and scan.flops == pytest.approx(T * 16 * per_token)
    carried = (T / c) * 16 * dk * dk * 4
    assert scan.act_out_bytes == pytest.approx(T * 2048 * 2 + carried)
    assert float(scan.state_read_bytes) == 0.0 and scan.state_write_bytes == 16 * dk * dk * 4
    later = ops_by_name(GDN, tokens=float(T), past=64.0)["gdn_scan"]
    assert float(later.state_read_bytes) == 16 * dk * dk * 4


def test_transformer_operators_unchanged_by_the_hybrid_fields():
    """A plain model's operator list has no hybrid operator and no state traffic."""
    m = ModelArch(name="t", n_layers=4, d_model=512, n_heads=8, n_kv_heads=2, head_dim=64,
                  d_ff=1024, vocab_size=1000)
    a = ArchArrays.from_model(m)
    assert not a.is_hybrid and a.pattern is None
    ops = phase_operators(a, FP16, 1, 1.0, 10.0)
    assert all(o.layers is None for o in ops)
    assert all(np.all(np.asarray(o.state_read_bytes) == 0) for o in ops)
    assert not {o.name for o in ops} & {"gdn_scan", "mamba_scan", "sliding_attention"}
    assert recurrent_state_bytes(a, FP16, 1) == 0.0
