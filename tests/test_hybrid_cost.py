"""Hybrid models through the one cost function: decode is flat in context beyond the window on
the linear and windowed layers, a hybrid never reads more KV bytes than the same model with full
attention everywhere, the recurrent state is placed in KV SRAM like the KV cache, the vectorised
evaluator equals per-operator op_cost, and the simulator equals the analytic sum."""

from __future__ import annotations

import numpy as np
import pytest

from chipdse.accounting import request_estimate
from chipdse.analytic import evaluate, phase_cost
from chipdse.cost import ChipParams, CostOptions, op_cost, placement
from chipdse.sim import simulate
from microarch.loader import load_chip
from workloads.loader import load_model
from workloads.ops import ArchArrays, kv_cache_bytes, phase_operators, weights_total_bytes
from workloads.precision import Precision
from workloads.trace import Language, Stream, Trace, VLARequest

W4 = Precision("int4", "fp16", "fp16", "fp16")
HYBRIDS = ["qwen3.5-0.8b", "nemotron-3-nano-4b", "gemma-3-1b", "qwen3.5-35b-a3b"]
MIXER_OPS = ("gdn_", "mamba_", "sliding_attention")


def full_attention_twin(name: str):
    """The same model with every mixer replaced by full attention (FFNs where they were)."""
    m = load_model(name)
    return m.replace(name=m.name + "-full", layer_pattern=tuple(
        "attention+ffn" if k.endswith("+ffn") or k == "ffn" else "attention"
        for k in m.layers), attn_output_gate=False)


def decode_op_costs(m, chip, past, p=W4):
    a = ArchArrays.from_model(m)
    cp = ChipParams.from_chip(chip)
    ops = phase_operators(a, p, 1.0, 1.0, float(past))
    wt, kv = weights_total_bytes(a, p), kv_cache_bytes(a, p, 1.0, past + 1.0)
    return {o.name: (o, op_cost(o, cp, wt, kv)) for o in ops}


@pytest.mark.parametrize("name", ["qwen3.5-0.8b", "nemotron-3-nano-4b", "gemma-3-1b"])
def test_decode_flat_in_context_on_linear_and_windowed_layers(name):
    """Beyond the window, a longer context costs nothing more on the linear-attention, Mamba-2
    and sliding-window layers: all growth is in the full-attention layers."""
    chip = load_chip("jetson-agx-thor")  # no KV SRAM: placement cannot move with context
    m = load_model(name)
    short, long_ = decode_op_costs(m, chip, 4096), decode_op_costs(m, chip, 65536)
    mixers = [n for n in short if n.startswith(MIXER_OPS)]
    assert mixers
    for n in mixers:
        assert long_[n][1].time_s == short[n][1].time_s, n
        assert long_[n][1].dram_bytes == short[n][1].dram_bytes, n
    # the whole step grows by the full-attention layers' growth alone
    grow = lambda d, k: d[k][1].time_s * d[k][0].count  # noqa: E731
    total = sum(grow(long_, k) - grow(short, k) for k in short)
    assert total == pytest.approx(grow(long_, "attention") - grow(short, "attention"), rel=1e-9)
    assert total > 0


@pytest.mark.parametrize("name", HYBRIDS)
@pytest.mark.parametrize("tokens,past", [(1, 10), (1, 300), (1, 5000), (1, 100_000),
                                         (2048, 0), (600, 700), (64, 20_000)])
def test_hybrid_never_reads_more_kv_than_full_attention(name, tokens, past):
    """KV-cache bytes read (and the KV store held) never exceed those of the same model with
    full attention in every layer."""
    p = Precision()

    def kv_read(m):
        ops = phase_operators(ArchArrays.from_model(m), p, 2.0, float(tokens), float(past))
        return sum(float(o.kv_read_bytes) * float(o.count) for o in ops)

    hyb, full = load_model(name), full_attention_twin(name)
    assert kv_read(hyb) <= kv_read(full)
    kv = lambda m: float(kv_cache_bytes(ArchArrays.from_model(m), p, 2.0,  # noqa: E731
                                        past + tokens)) \
        - float(2.0 * m.recurrent_state_bytes(2.0))
    assert kv(hyb) <= kv(full)


def test_recurrent_state_is_placed_like_the_kv_cache():
    """On a chip with KV SRAM the state shares the KV store's SRAM fraction; a KV SRAM that
    holds the whole store takes every state byte off DRAM."""
    m = load_model("qwen3.5-0.8b")
    a = ArchArrays.from_model(m)
    chip = ChipParams.from_chip(load_chip("jetson-agx-thor"))
    state = float(kv_cache_bytes(a, W4, 1, 0.0))
    assert state == m.recurrent_state_bytes(2.0)  # no tokens: the store is the state alone
    kv_total = float(kv_cache_bytes(a, W4, 1, 2049.0))
    half = chip.replace(kv_capacity_bytes=kv_total / 2, kv_bytes_per_s=1e12, kv_j_per_byte=0.0)
    where = placement(half, weights_total_bytes(a, W4), kv_total)
    assert where.kv_sram_fraction == pytest.approx(0.5)
    scan = {o.name: o for o in phase_operators(a, W4, 1.0, 1.0, 2048.0)}["gdn_scan"]
    c = op_cost(scan, half, weights_total_bytes(a, W4), kv_total, CostOptions())
    moved = scan.state_read_bytes + scan.state_write_bytes
    assert c.kv_bytes == pytest.approx(moved / 2)
    bare = op_cost(scan, chip, weights_total_bytes(a, W4), kv_total, CostOptions())
    assert bare.dram_bytes - c.dram_bytes == pytest.approx(moved / 2)


@pytest.mark.parametrize("name", HYBRIDS)
def test_vectorised_evaluation_equals_per_operator_sum(name):
    """evaluate() over a stack of models equals op_cost summed per operator, model by model."""
    chip = load_chip("jetson-agx-orin-64gb")
    cp = ChipParams.from_chip(chip)
    m = load_model(name)
    dense = load_model("qwen3-0.6b")
    ev = evaluate(ArchArrays.stack([m, dense]), cp, W4, batch=1, prompt=512, generate=3)
    for i, model in enumerate((m, dense)):
        a = ArchArrays.from_model(model)
        wt = weights_total_bytes(a, W4)
        pre = phase_cost(phase_operators(a, W4, 1, 512.0, 0.0), cp, wt,
                         kv_cache_bytes(a, W4, 1, 512.0), CostOptions())
        dec = sum(phase_cost(phase_operators(a, W4, 1, 1.0, 512.0 + s), cp, wt,
                             kv_cache_bytes(a, W4, 1, 513.0 + s), CostOptions()).time_s
                  for s in range(3))
        assert ev.prefill.time_s[i] == pytest.approx(pre.time_s, rel=1e-12)
        assert ev.decode.time_s[i] == pytest.approx(dec, rel=1e-12)


@pytest.mark.parametrize("name", ["qwen3.5-0.8b", "nemotron-3-nano-4b", "gemma-3-1b"])
def test_simulator_equals_analytic_sum(name):
    chip = load_chip("jetson-agx-thor")
    req = VLARequest(None, Language(load_model(name), 4, prompt_tokens=600))
    res = simulate(chip, trace=Trace("one", (Stream("s", req, 1.0, 1.0),), 0.05))
    est = request_estimate(req, chip, Precision())
    (row,) = res.requests.itertuples()
    assert row.latency_s == pytest.approx(est.total_s, rel=1e-9, abs=0)
    assert row.prefill_end_s - row.prefill_start_s == pytest.approx(est.prefill_s, rel=1e-9)
    assert row.decode_end_s - row.decode_start_s == pytest.approx(est.decode_s, rel=1e-9)
    assert row.energy_j == pytest.approx(est.energy_j, rel=1e-9)
    # every operator sits in the layers of its kind
    ev = res.events
    m = load_model(name)
    pre = ev[(ev.phase == "prefill") & (ev.layer >= 0)]
    kinds = {"gdn_scan": "linear_attention", "mamba_scan": "mamba",
             "sliding_attention": "sliding_attention", "attention": "attention"}
    for op, mixer in kinds.items():
        layers = sorted(pre[pre.op == op].layer.unique())
        assert layers == list(m.layers_with(mixer)), op
    assert sorted(pre[pre.op == "ffn_up"].layer.unique()) == list(m.layers_with(ffn=True))


def test_hybrid_decode_beats_full_attention_twin_at_long_context():
    """The point of the hybrids: at 32k context a Qwen3.5 decode step reads far fewer bytes
    than the same model with full attention everywhere."""
    chip = load_chip("jetson-agx-thor")
    m, full = load_model("qwen3.5-0.8b"), full_attention_twin("qwen3.5-0.8b")
    hyb = evaluate(m, chip, W4, prompt=32768, generate=1)
    att = evaluate(full, chip, W4, prompt=32768, generate=1)
    assert float(hyb.decode.dram_bytes) < 0.7 * float(att.decode.dram_bytes)
    assert float(hyb.kv_cache_bytes) < float(att.kv_cache_bytes) / 3
    assert np.isfinite(float(hyb.decode.time_s))
