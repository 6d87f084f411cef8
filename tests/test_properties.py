"""Properties a user relies on: more bandwidth or compute is never slower; a deeper or wider
model is never faster; narrower weights never read more bytes."""

import dataclasses

from hypothesis import given, settings
from hypothesis import strategies as st

from chipdse.analytic import evaluate
from chipdse.cost import ChipParams
from microarch.loader import load_chip
from workloads.model import ModelArch
from workloads.precision import Precision

CHIPS = {n: ChipParams.from_chip(load_chip(n)) for n in
         ("jetson-agx-orin-64gb", "jetson-agx-thor", "li-m100", "rtx-4090")}

shapes = st.builds(
    lambda l, d, g, r, ek: ModelArch.from_plas(l, d, g, r, *ek),
    st.integers(2, 32), st.sampled_from([768, 1024, 1536, 2048, 3072]),
    st.sampled_from([1, 2, 4]), st.floats(0.25, 6.0),
    st.sampled_from([(1, 1), (8, 1), (8, 2), (16, 1), (16, 2)]))
workloads = st.tuples(st.integers(1, 8), st.integers(16, 2048), st.integers(1, 32))
precisions = st.sampled_from([Precision(), Precision("int8", "int8", "fp16"),
                              Precision("int4", "fp16", "fp16"),
                              Precision("nvfp4", "nvfp4", "fp8")])
chips = st.sampled_from(sorted(CHIPS))
factors = st.floats(1.0, 8.0)


def total(m, chip, p, w):
    b, s, n = w
    ev = evaluate(m, chip, p, b, s, n, decode="mean")
    return float(ev.prefill_s), float(ev.decode.time_s)


@settings(max_examples=60, deadline=None)
@given(shapes, chips, precisions, workloads, factors)
def test_more_bandwidth_never_slower(m, name, p, w, f):
    c = CHIPS[name]
    fast = c.replace(dram_bytes_per_s=c.dram_bytes_per_s * f)
    for a, b in zip(total(m, fast, p, w), total(m, c, p, w)):
        assert a <= b * (1 + 1e-12)


@settings(max_examples=60, deadline=None)
@given(shapes, chips, precisions, workloads, factors)
def test_more_compute_never_slower(m, name, p, w, f):
    c = CHIPS[name]
    fast = c.scaled(compute=f)
    for a, b in zip(total(m, fast, p, w), total(m, c, p, w)):
        assert a <= b * (1 + 1e-12)


@settings(max_examples=60, deadline=None)
@given(shapes, chips, precisions, workloads, st.integers(1, 8))
def test_deeper_model_never_faster(m, name, p, w, extra):
    deeper = dataclasses.replace(m, n_layers=m.n_layers + extra)
    for a, b in zip(total(deeper, CHIPS[name], p, w), total(m, CHIPS[name], p, w)):
        assert a >= b * (1 - 1e-12)


@settings(max_examples=60, deadline=None)
@given(shapes, chips, precisions, workloads, st.integers(1, 4))
def test_wider_ffn_never_faster(m, name, p, w, extra):
    if m.is_moe:
        wider = dataclasses.replace(m, d_ff_expert=m.d_ff_expert + 64 * extra)
    else:
        wider = dataclasses.replace(m, d_ff=m.d_ff + 64 * extra)
    for a, b in zip(total(wider, CHIPS[name], p, w), total(m, CHIPS[name], p, w)):
        assert a >= b * (1 - 1e-12)


@settings(max_examples=40, deadline=None)
@given(shapes, chips, workloads)
def test_int4_never_reads_more_than_fp16(m, name, w):
    b, s, n = w
    c = CHIPS[name]
    e16 = evaluate(m, c, Precision("fp16", "fp16", "fp16"), b, s, n, decode="mean")
    e4 = evaluate(m, c, Precision("int4", "fp16", "fp16"), b, s, n, decode="mean")
    assert float(e4.weights_bytes) < float(e16.weights_bytes)
    assert float(e4.decode.dram_bytes) <= float(e16.decode.dram_bytes)
    assert float(e4.prefill.dram_bytes) <= float(e16.prefill.dram_bytes)


@settings(max_examples=60, deadline=None)
@given(shapes, precisions, workloads, factors)
def test_more_pinnable_sram_never_slower(m, p, w, f):
    """More SRAM that may hold weights (at the same bandwidth) never slows a pass: a pinned
    weight keeps its DRAM copy, so the cost model reads from SRAM only what helps."""
    c = CHIPS["li-m100"]
    more = c.replace(pinnable_capacity_bytes=c.pinnable_capacity_bytes * f,
                     pin_fast_capacity_bytes=c.pin_fast_capacity_bytes * f,
                     sram_capacity_bytes=c.sram_capacity_bytes * f)
    for a, b in zip(total(m, more, p, w), total(m, c, p, w)):
        assert a <= b * (1 + 1e-12)
