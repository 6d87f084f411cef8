"""Pipeline parallelism: two stages over an infinitely fast link equal one chip running the
whole model while each chip holds half the weights (dense, MoE and hybrid models); the link's
hand-offs, the token return and the pipelined throughput by hand; prompt chunks let the stages
work at once; overlap shortens a chunked prefill but no decode token; a model one chip cannot
hold fits on two; a pipelined system in a sweep is the estimate."""

import dataclasses
import math

import pytest
import yaml

from chipdse import api
from chipdse.cost import ChipParams
from chipdse.errors import UserError
from chipdse.system import (
    HANDOFF_BYTES_PER_ELEMENT,
    TOKEN_ID_BYTES,
    estimate_system,
    stage_bounds,
)
from microarch.system import Link, load_system

P8 = api.make_precision("int8", "int8", "fp16", head="int8")


def _ideal(name: str = "dual-drive-thor-u"):
    return dataclasses.replace(load_system(name), link=Link("ideal", math.inf), split="pipeline")


@pytest.mark.parametrize("model", ["qwen3-8b", "llama-2-7b", "qwen3-30b-a3b", "qwen3.5-9b"])
def test_two_stages_on_an_ideal_link_equal_one_chip(model):
    s = _ideal()
    e = estimate_system(s, model, P8, 1, 512, 16, dma_dram=False)
    o = api.estimate(s.chip, model, P8, 1, 512, 16)
    assert e.link_prefill_s == 0 and e.link_decode_s_per_token == 0
    for k in ("prefill_s", "decode_s_per_token", "total_s"):
        assert getattr(e, k) == pytest.approx(getattr(o, k), rel=1e-12), k
    # The operators' energy is the one chip's; the system adds each chip's static power while
    # the other stage works.
    ops_j = sum(st.prefill_energy_j + st.decode_energy_j for st in e.stages)
    assert ops_j == pytest.approx(o.energy_j, rel=1e-12)
    static = ChipParams.from_chip(s.chip).static_power_w
    assert e.energy_j == pytest.approx(o.energy_j + static * o.total_s, rel=1e-9)
    # Each chip holds its half of the layers and one of the two tables (embedding / head).
    a, b = e.stages
    assert (a.layers, b.layers) == (api.load_model(model).n_layers // 2,) * 2
    m = api.load_model(model)
    if not m.tied_embeddings:
        assert a.weights_bytes + b.weights_bytes == pytest.approx(o.weights_bytes, rel=1e-12)
    assert a.weights_bytes == pytest.approx(o.weights_bytes / 2, rel=0.02)
    assert b.weights_bytes == pytest.approx(o.weights_bytes / 2, rel=0.02)


def test_hand_offs_and_token_return_by_hand():
    s = dataclasses.replace(load_system("dual-li-m100"), split="pipeline")
    m = api.load_model("qwen3-1.7b")
    e = estimate_system(s, m, P8, 2, 256, 8)
    lk = s.link
    dram = ChipParams.from_chip(s.chip).dram_bytes_per_s
    bw = lk.bandwidth_bytes_per_s * lk.protocol_efficiency

    def hop(nbytes):
        return lk.latency_s + max(nbytes / bw, nbytes / dram)

    a, b = e.stages
    pre_hop = hop(2 * 256 * m.d_model * HANDOFF_BYTES_PER_ELEMENT)
    assert e.prefill_s == pytest.approx(a.prefill_s + pre_hop + b.prefill_s, rel=1e-12)
    tok = hop(2 * m.d_model * HANDOFF_BYTES_PER_ELEMENT) + hop(2 * TOKEN_ID_BYTES)
    assert e.decode_s_per_token == pytest.approx(
        a.decode_s_per_token + b.decode_s_per_token + tok, rel=1e-12)
    assert e.decode_tokens_per_s == pytest.approx(2 / e.decode_s_per_token)
    # Two streams in flight: each stage busy with its compute and its send.
    busy = max(a.decode_s_per_token + hop(2 * m.d_model * 2.0),
               b.decode_s_per_token + hop(2 * TOKEN_ID_BYTES))
    assert e.pipelined_decode_tokens_per_s == pytest.approx(
        2 * 2 / max(e.decode_s_per_token, 2 * busy), rel=1e-12)
    one = estimate_system(s, m, P8, 2, 256, 8, streams=1)
    assert one.pipelined_decode_tokens_per_s == pytest.approx(one.decode_tokens_per_s)
    assert e.pipelined_decode_tokens_per_s > 1.5 * e.decode_tokens_per_s
    link_bytes = 2 * 256 * m.d_model * 2.0 + 8 * (2 * m.d_model * 2.0 + 2 * 4.0)
    assert e.link_energy_j == pytest.approx(link_bytes * lk.energy_j_per_byte, rel=1e-12)
    assert e.dma_dram_bytes == pytest.approx(2 * link_bytes, rel=1e-12)


def test_prompt_chunks_and_overlap():
    s = _ideal()
    one = estimate_system(s, "qwen3-8b", P8, 1, 2048, 4, dma_dram=False)
    four = estimate_system(s, "qwen3-8b", P8, 1, 2048, 4, prefill_chunks=4, dma_dram=False)
    work = [st.prefill_s for st in four.stages]
    # The stages work on different chunks at once: shorter than their sum, never shorter
    # than the busiest stage.
    assert max(work) <= four.prefill_s < sum(work)
    assert four.prefill_requests_per_s == pytest.approx(1 / max(work), rel=1e-12)
    assert one.prefill_chunks == 1 and four.prefill_chunks == 4
    # On a real link, overlap shortens the chunked prefill; a decode token's hand-offs are
    # a chain that no overlap shortens.
    real = dataclasses.replace(load_system("dual-drive-orin-x"), split="pipeline")
    none = estimate_system(real, "qwen3-1.7b", P8, 1, 1024, 4, prefill_chunks=4)
    full = estimate_system(real, "qwen3-1.7b", P8, 1, 1024, 4, prefill_chunks=4, overlap=1.0)
    assert full.prefill_s < none.prefill_s
    assert full.decode_s_per_token == none.decode_s_per_token
    assert full.pipelined_decode_tokens_per_s >= none.pipelined_decode_tokens_per_s
    with pytest.raises(UserError, match="more than the 3 prompt tokens"):
        estimate_system(real, "qwen3-1.7b", P8, 1, 3, 4, prefill_chunks=4)


def test_stage_layers():
    m = api.load_model("qwen3-1.7b")  # 28 layers
    assert stage_bounds(m, 3) == [(0, 10), (10, 19), (19, 28)]
    assert stage_bounds(m, 2, (10, 18)) == [(0, 10), (10, 28)]
    with pytest.raises(UserError, match="adding up to the 28 layers"):
        stage_bounds(m, 2, (10, 10))
    s = dataclasses.replace(load_system("dual-li-m100"), split="pipeline")
    e = estimate_system(s, m, P8, 1, 512, 8, stage_layers=(16, 12))
    assert e.stage_layers == (16, 12) and [st.first_layer for st in e.stages] == [0, 16]
    three = dataclasses.replace(s, count=3)
    assert len(estimate_system(three, m, P8, 1, 512, 8).stages) == 3


def test_a_model_one_chip_cannot_hold():
    s = dataclasses.replace(load_system("dual-li-m100"), split="pipeline")
    one = api.estimate(s.chip, "llama-2-70b", P8, 1, 1024, 4)
    assert not one.fits_in_memory  # 69 GB of INT8 weights against 64 GB
    e = estimate_system(s, "llama-2-70b", P8, 1, 1024, 4)
    assert e.fits_in_memory and all(st.fits_in_memory for st in e.stages)
    assert e.memory_bytes_per_chip < 0.55 * one.memory_bytes
    # Batch 1: no latency gain over the one (too small) chip, but for the larger share of
    # its weights each stage pins in SRAM; a throughput gain with two streams in flight.
    assert e.decode_s_per_token == pytest.approx(one.decode_s_per_token, rel=0.01)
    assert e.pipelined_decode_tokens_per_s > 1.9 * e.decode_tokens_per_s


def test_bands_and_sweep(tmp_path):
    s = dataclasses.replace(load_system("dual-drive-orin-x"), split="pipeline")
    e = estimate_system(s, "qwen3-1.7b", P8, 1, 1024, 8, uncertainty=100,
                        chip_uncertainty=True)
    for k in ("prefill_s", "total_s", "pipelined_decode_tokens_per_s"):
        lo, _, hi = e.bands[k]
        assert lo < getattr(e, k) < hi, k
    f = tmp_path / "pipe.yaml"
    f.write_text(yaml.safe_dump(dict(
        name="pipe", chip="drive-orin-x", count=2, split="pipeline",
        link=dict(name="PCIe", bandwidth="15.75 GB/s", latency="5 us"),
        pipeline=dict(prefill_chunks=2))))
    t = api.sweep([], ["qwen3-1.7b"], [P8], batch=[1, 2], systems=[str(f)])
    for r in t.itertuples():
        e = estimate_system(load_system(f), "qwen3-1.7b", P8, int(r.batch), 1024, 16)
        assert (r.total_s, r.energy_j, r.prefill_energy_j, r.memory_bytes) == (
            e.total_s, e.energy_j, e.prefill_energy_j, e.memory_bytes_per_chip)
        assert e.prefill_chunks == 2
