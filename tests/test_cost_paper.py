"""The cost model against the source paper's closed forms (arXiv 2602.10377, Sec. 3.3) and
against hand-counted bytes.

With efficiencies 1 and no overheads (CostOptions.paper()), the operators the paper covers
(Q/K/V/O projections, SwiGLU FFN, decode attention) must reproduce
  T_pre = l B S d^2 xi_F / pi_H,                  xi_F = 4 + 4/gqa + 6 r
  T_dec = (l S_out / beta_H) [xi_W d^2 b_w + 2 S_avg d b_kv / gqa],
          xi_W = 2 + 2/gqa + 3 r,  S_avg = S_in + (S_out + 1) / 2
  M     = l xi_W_all d^2 b_w,      xi_W_all = 2 + 2/gqa + 3 r / rho
exactly (to float rounding).
"""

import numpy as np
import pytest

from chipdse.analytic import evaluate
from chipdse.cost import ChipParams, CostOptions, op_cost
from workloads.model import ModelArch
from workloads.ops import ArchArrays, kv_cache_bytes, phase_operators, weights_total_bytes
from workloads.precision import Precision

PAPER_OPS = {"qkv_proj", "o_proj", "ffn_up", "ffn_down", "expert_up", "expert_down"}


def paper_shape(l=12, d=1536, gqa=4, r=2.5, e=1, k=1):
    return ModelArch.from_plas(l, d, gqa, r, e, k)


def summed(ops, chip, wt, kv, names):
    opts = CostOptions.paper()
    return sum(float(op_cost(o, chip, wt, kv, opts).time_s) * float(o.count)
               for o in ops if o.name in names)


@pytest.mark.parametrize("fmt", ["fp16", "int8"])
@pytest.mark.parametrize("shape", [dict(), dict(l=4, d=768, gqa=1, r=0.5),
                                   dict(l=32, d=3072, gqa=8, r=3.75)])
def test_prefill_closed_form(orin, fmt, shape):
    m = paper_shape(**shape)
    p = Precision(fmt, fmt, fmt)
    chip = ChipParams.from_chip(orin, ideal=True)
    B, S = 1, 1024
    a = ArchArrays.from_model(m)
    ops = phase_operators(a, p, B, S, 0)
    got = summed(ops, chip, weights_total_bytes(a, p), kv_cache_bytes(a, p, B, S), PAPER_OPS)
    r = m.ffn_ratio
    xi_f = 4 + 4 / m.gqa + 6 * r
    pi = orin.matrix.peak(fmt)
    assert got == pytest.approx(m.n_layers * B * S * m.d_model**2 * xi_f / pi, rel=1e-12)


@pytest.mark.parametrize("fmt", ["fp16", "int8"])
@pytest.mark.parametrize("shape", [dict(), dict(l=8, d=2048, gqa=2, r=1.0),
                                   dict(l=16, d=1024, gqa=8, r=0.75, e=8, k=1),
                                   dict(l=8, d=2048, gqa=4, r=2.0, e=16, k=2)])
def test_decode_closed_form(orin, fmt, shape):
    m = paper_shape(**shape)
    p = Precision(fmt, fmt, fmt)
    chip = ChipParams.from_chip(orin, ideal=True)
    a = ArchArrays.from_model(m)
    s_in, s_out = 1024, 16
    wt = weights_total_bytes(a, p)
    total = 0.0
    for t in range(s_out):
        ops = phase_operators(a, p, 1, 1, s_in + t)
        total += summed(ops, chip, wt, kv_cache_bytes(a, p, 1, s_in + t + 1),
                        PAPER_OPS | {"attention"})
    b = p.w.bytes_per_element
    xi_w = 2 + 2 / m.gqa + 3 * m.ffn_ratio
    s_avg = s_in + (s_out + 1) / 2
    d = m.d_model
    beta = orin.dram.bandwidth_bytes_per_s
    expected = m.n_layers * s_out / beta * (xi_w * d * d * b + 2 * s_avg * d * b / m.gqa)
    assert total == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize("shape", [dict(), dict(l=16, d=1024, gqa=8, r=0.75, e=8, k=1),
                                   dict(l=8, d=2048, gqa=4, r=2.0, e=16, k=2)])
def test_memory_closed_form(shape):
    m = paper_shape(**shape)
    p = Precision("fp16", "fp16", "fp16")
    a = ArchArrays.from_model(m)
    d, b = m.d_model, 2.0
    xi_all = 2 + 2 / m.gqa + 3 * m.ffn_ratio / m.rho
    router = m.n_layers * d * m.n_experts * 2.0 if m.is_moe else 0.0
    embed = m.vocab_size * d * b
    got = float(weights_total_bytes(a, p)) - router - embed
    assert got == pytest.approx(m.n_layers * xi_all * d * d * b, rel=1e-12)


def test_moe_prefill_is_the_roofline_max_not_the_compute_closed_form(orin):
    """Paper's T_pre assumes compute-bound prefill. An 8-expert top-1 FFN at S=1024 streams all
    experts' weights (E(1-(1-1/8)^1024) ~ 8 touched) for 1/8 of the FLOPs each: intensity
    2*1024/8/2 = 128 ops/byte < Orin's ridge 42.5e12/204.8e9 = 208, so those GEMMs are
    memory-bound and chipdse's prefill is longer than the closed form."""
    m = paper_shape(l=8, d=1024, gqa=2, r=1.0, e=8, k=1)
    p = Precision()
    chip = ChipParams.from_chip(orin, ideal=True)
    a = ArchArrays.from_model(m)
    ops = phase_operators(a, p, 1, 1024, 0)
    got = summed(ops, chip, weights_total_bytes(a, p), 0.0, PAPER_OPS)
    closed = m.n_layers * 1024 * m.d_model**2 * (4 + 4 / m.gqa + 6 * m.ffn_ratio) / \
        orin.matrix.peak("fp16")
    assert got > closed * 1.05


def test_qwen05_decode_bytes_golden(orin, qwen05):
    """Hand count, Qwen2.5-0.5B at fp16, one decode step with 1024 cached tokens:
    per layer q/k/v 896x(896+2x128) + o 896x896 + FFN 3x896x4864 = 14,909,440 params,
    x24 layers x2 B = 715,653,120 B; tied LM head 151,936x896x2 = 272,269,312 B; one embedding
    row 896x2 = 1,792 B; KV read 24 layers x 2 x 128 x 2 B x 1025 keys = 12,595,200 B; KV write
    24x2x128x2 = 12,288 B. Activations stay in SRAM. Total 1,000,531,712 B from DRAM."""
    p = Precision("fp16", "fp16", "fp16")
    ev = evaluate(qwen05, orin, p, batch=1, prompt=1024, generate=1)
    assert float(ev.decode.dram_bytes) == 1_000_531_712


def test_int4_reads_fewer_bytes_than_fp16(orin, qwen05):
    ev16 = evaluate(qwen05, orin, Precision("fp16"), 1, 512, 4)
    ev4 = evaluate(qwen05, orin, Precision("int4", head="fp16"), 1, 512, 4)
    assert float(ev4.decode.dram_bytes) < float(ev16.decode.dram_bytes)


def test_exact_and_mean_decode_agree_when_affine(orin, qwen05):
    p = Precision()
    e1 = evaluate(qwen05, orin, p, 1, 1024, 16, decode="exact")
    e2 = evaluate(qwen05, orin, p, 1, 1024, 16, decode="mean")
    assert float(e2.decode.time_s) == pytest.approx(float(e1.decode.time_s), rel=1e-9)


def test_vectorised_equals_scalar(orin):
    shapes = [paper_shape(), paper_shape(l=8, d=2048, gqa=2, r=1.0, e=8, k=2),
              paper_shape(l=20, d=768, gqa=1, r=0.5)]
    p = Precision("int8", "int8", "fp16")
    ev = evaluate(ArchArrays.stack(shapes), orin, p, 1, 1024, 16, decode="mean")
    for i, m in enumerate(shapes):
        one = evaluate(m, orin, p, 1, 1024, 16, decode="mean")
        assert np.asarray(ev.total_s)[i] == pytest.approx(float(one.total_s), rel=1e-12)
        assert np.asarray(ev.energy_j)[i] == pytest.approx(float(one.energy_j), rel=1e-12)
