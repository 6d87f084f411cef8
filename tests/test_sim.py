"""The SimPy simulator: analytic equality, conservation, determinism, KV capacity, policies."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from chipdse.accounting import request_estimate
from chipdse.errors import UserError
from chipdse.sim import SimOptions, simulate, with_phase
from microarch.chip import Dispatch, Efficiency, MemoryKind, MemoryLevel
from microarch.loader import load_chip
from workloads.loader import load_model
from workloads.ops import ArchArrays, phase_operators
from workloads.precision import Precision
from workloads.trace import Language, Stream, Trace, Vision, VLARequest, load_trace

QWEN = load_model("qwen2.5-0.5b")
CLIP = load_model("clip-vit-large-patch14")


def pinned_orin() -> object:
    """Jetson AGX Orin datasheet numbers with efficiency and dispatch pinned here, so these
    tests do not move when the family's fitted terms are updated."""
    c = load_chip("jetson-agx-orin-64gb")
    return c.replace(efficiency=Efficiency(matrix={"default": 0.5}, weight_only_gemm=1.0,
                                           vector=0.5, dram=0.8, sram=0.8),
                     dispatch=Dispatch(per_operator_s=4e-6, fused_attention=True))


def vla_request(cameras: int = 2, actions: int = 4, prompt: int = 600) -> VLARequest:
    """``cameras`` x 256 CLIP patches inside a ``prompt``-token prefill."""
    return VLARequest(Vision(CLIP, cameras, 224, 14, class_token=True),
                      Language(QWEN, actions, prompt_tokens=prompt))


def one_shot(req: VLARequest, deadline: float = 1.0) -> Trace:
    """A single request: one frame arrives in a 50 ms trace at 1 Hz."""
    return Trace("single", (Stream("s", req, 1.0, deadline),), 0.05)


@pytest.mark.parametrize("mode", ["fixed", "static", "reconfigurable"])
def test_single_request_equals_analytic_latency(mode):
    chip = with_phase(pinned_orin(), mode, prefill_compute_share=0.6, prefill_bandwidth_share=0.3,
                      reconfiguration_latency_s=1e-4)
    req = vla_request()
    res = simulate(chip, trace=one_shot(req))
    est = request_estimate(req, chip, Precision())
    (row,) = res.requests.itertuples()
    assert row.latency_s == pytest.approx(est.total_s, rel=1e-9, abs=0)
    assert row.encode_end_s - row.encode_start_s == pytest.approx(est.encode_s, rel=1e-9)
    assert row.prefill_end_s - row.prefill_start_s == pytest.approx(est.prefill_s, rel=1e-9)
    assert row.decode_end_s - row.decode_start_s == pytest.approx(est.decode_s, rel=1e-9)
    assert row.energy_j == pytest.approx(est.energy_j, rel=1e-9)
    assert res.totals["reconfigurations"] == 0  # one phase class at a time: nothing to split


def test_static_partition_is_slower_alone_than_whole_chip():
    req = vla_request()
    fixed = simulate(pinned_orin(), trace=one_shot(req)).requests.latency_s.iloc[0]
    static = simulate(pinned_orin(), trace=one_shot(req), phase_mode="static")
    static = static.requests.latency_s.iloc[0]
    assert static > 1.2 * fixed  # each phase runs on half the chip


def mixed_trace(duration: float = 0.6) -> Trace:
    """A perception encoder at 20 Hz beside a VLA at 5 Hz, both jittered."""
    per = Stream("perception", VLARequest(Vision(CLIP, 1, 224, 14, True), None), 20.0, 0.05,
                 jitter_s=0.003, priority=0)
    vla = Stream("vla", vla_request(cameras=1, actions=6, prompt=300), 5.0, 0.3,
                 jitter_s=0.003, offset_s=0.01, priority=1)
    return Trace("mixed", (per, vla), duration)


@pytest.fixture(scope="module", params=["fixed", "static", "reconfigurable"])
def mixed(request):
    chip = with_phase(pinned_orin(), request.param, reconfiguration_latency_s=2e-5)
    return simulate(chip, trace=mixed_trace(), seed=3)


def pass_ops(model, precision, batch, tokens, past, logits="last") -> int:
    """Operators of one pass, counted from the operator list: per-layer operators once per
    layer (those with a zero count are absent), the others once."""
    ops = phase_operators(ArchArrays.from_model(model), precision, batch, tokens, past, logits)
    return int(sum(model.n_layers if o.layer_op and float(np.max(o.count)) > 0 else
                   (0 if o.layer_op else 1) for o in ops))


def _expected_ops(req: VLARequest) -> int:
    """Operator count of one request from the operator graphs (workloads.graph)."""
    p = Precision()
    n = 0
    if req.vision:
        v = req.vision
        n += pass_ops(v.encoder, p, v.cameras, v.encoder_tokens, 0, logits="none")
    if req.language:
        m = req.language.model
        n += pass_ops(m, p, 1, req.prefill_tokens, 0)
        n += sum(pass_ops(m, p, 1, 1, req.prefill_tokens + i) for i in range(req.action_tokens))
    return n


def test_every_operator_of_every_request_runs_once(mixed):
    ev = mixed.events
    counts = ev.groupby("request", observed=True).size()
    assert len(counts) == len(mixed.requests)
    per_stream = mixed.requests.set_index("request")["stream"]
    expected = {s.name: _expected_ops(s.request) for s in mixed_trace().streams}
    for rid, n in counts.items():
        assert n == expected[per_stream[rid]]
    key = ["request", "phase", "step", "layer", "op"]
    assert not ev.duplicated(key).any()
    for _, g in ev.sort_values(["request", "start_s"]).groupby("request"):
        s, e = g["start_s"].to_numpy(), g["end_s"].to_numpy()
        assert np.all(s[1:] >= e[:-1] - 1e-12)  # a request's operators run one after another
        assert np.all(e >= s)


def test_busy_time_never_exceeds_wall_time(mixed):
    ev = mixed.events
    horizon = mixed.totals["horizon_s"]
    for _, g in ev.groupby("resource", observed=True):
        g = g.sort_values("start_s")
        s, e = g["start_s"].to_numpy(), g["end_s"].to_numpy()
        assert np.all(s[1:] >= e[:-1] - 1e-12)  # one kernel at a time per slot
    assert (mixed.resources["busy_s"] <= horizon * (1 + 1e-9)).all()
    u = mixed.utilisation
    cols = ["matrix", "vector", "dram", "sram", "kv_sram"] + [c for c in u if
                                                              c.startswith("busy_")]
    assert (u[cols].to_numpy() <= 1 + 1e-9).all() and (u[cols].to_numpy() >= 0).all()
    # Binned busy time integrates back to the slot's busy time.
    for c in [c for c in u if c.startswith("busy_")]:
        width = (u["t_end_s"] - u["t_start_s"]).to_numpy()
        total = float((u[c] * width).sum())
        busy = mixed.resources.set_index("resource").loc[f"slot:{c[5:]}", "busy_s"]
        assert total == pytest.approx(busy, rel=1e-6)


def test_requests_finish_after_arriving_and_all_complete(mixed):
    r = mixed.requests
    assert (r["start_s"] >= r["arrival_s"] - 1e-12).all()
    assert (r["end_s"] > r["start_s"]).all()
    assert np.isfinite(r["latency_s"]).all()
    s = mixed.summary.set_index("stream")
    assert s.loc["all", "completed"] == len(r)
    assert s.loc["all", "misses"] == s.drop("all")["misses"].sum()
    assert s.loc["all", "latency_max_s"] == pytest.approx(r["latency_s"].max())
    assert s.loc["all", "latency_p99_s"] <= s.loc["all", "latency_max_s"]
    assert mixed.totals["energy_j"] == pytest.approx(
        r["energy_j"].sum() + mixed.totals["idle_energy_between_requests_j"], rel=1e-12)


def test_same_seed_same_results_other_seed_other_arrivals():
    chip = pinned_orin()
    a = simulate(chip, trace=mixed_trace(0.4), seed=7)
    b = simulate(chip, trace=mixed_trace(0.4), seed=7)
    c = simulate(chip, trace=mixed_trace(0.4), seed=8)
    pd.testing.assert_frame_equal(a.events, b.events)
    pd.testing.assert_frame_equal(a.summary, b.summary)
    assert not np.array_equal(a.requests["arrival_s"], c.requests["arrival_s"])


def test_priority_protects_the_urgent_stream():
    """Perception (priority 0) beside a VLA: with the priority policy a perception frame waits
    at most for the kernel in progress; with FIFO it waits behind the whole VLA request that
    arrived before it."""
    chip = pinned_orin()
    pri = simulate(chip, trace=mixed_trace(), options=SimOptions(policy="priority"))
    fifo = simulate(chip, trace=mixed_trace(), options=SimOptions(policy="fifo"))
    p99_pri = pri.stream("perception")["latency_p99_s"]
    p99_fifo = fifo.stream("perception")["latency_p99_s"]
    alone = request_estimate(mixed_trace().streams[0].request, chip, Precision()).total_s
    longest_op = pri.events["duration_s"].max()
    assert p99_pri <= alone + longest_op + 1e-9
    assert p99_fifo > 1.5 * p99_pri


def test_round_robin_interleaves_kernels():
    chip = pinned_orin()
    req = VLARequest(None, Language(QWEN, 2, prompt_tokens=64))
    tr = Trace("rr", (Stream("a", req, 1.0, 1.0), Stream("b", req, 1.0, 1.0)), 0.5)
    rr = simulate(chip, trace=tr, options=SimOptions(policy="round-robin"))
    order = rr.events.sort_values("start_s")["request"].to_numpy()
    switches = int(np.sum(order[1:] != order[:-1]))
    assert switches > 100  # kernels take turns
    pri = simulate(chip, trace=tr, options=SimOptions(policy="priority"))
    order = pri.events.sort_values("start_s")["request"].to_numpy()
    assert int(np.sum(order[1:] != order[:-1])) == 1  # the older request runs to completion


def kv_chip(kv_bytes: float):
    """Orin with a dedicated KV SRAM of ``kv_bytes`` (a hypothetical variant)."""
    c = pinned_orin()
    kv = MemoryLevel("kv", MemoryKind.KV, kv_bytes, 1e12, 1e-12)
    return c.replace(memory=c.memory + (kv,))


def test_kv_cache_spills_or_waits_when_sram_is_full():
    req = VLARequest(None, Language(QWEN, 8, prompt_tokens=512))
    need = 2 * QWEN.n_layers * QWEN.d_kv * 2 * (512 + 8)  # fp16 K and V, all layers
    # Two streams arriving together; the KV SRAM holds one cache and a half.
    tr = Trace("kv", (Stream("a", req, 1.0, 1.0), Stream("b", req, 1.0, 1.0)), 0.5)
    chip = kv_chip(1.5 * need)
    spill = simulate(chip, trace=tr)
    r = spill.requests.sort_values("request")
    assert list(r["kv_sram_bytes"]) == [need, int(1.5 * need) - need]
    assert list(r["kv_dram_bytes"]) == [0, need - (int(1.5 * need) - need)]
    # The spilled request streams part of its cache from DRAM: its decode moves more DRAM bytes.
    dec = spill.events[spill.events.phase == "decode"]
    dram = dec.groupby("request")["dram_bytes"].sum()
    assert dram.iloc[1] > dram.iloc[0]
    wait = simulate(chip, trace=tr, options=SimOptions(kv_overflow="wait"))
    w = wait.requests.sort_values("request")
    assert w["admitted_s"].iloc[1] == pytest.approx(w["end_s"].iloc[0])
    assert list(w["kv_dram_bytes"]) == [0, 0]
    for res in (spill, wait):
        assert res.utilisation["kv_sram_used_bytes"].max() <= 1.5 * need + 1


def test_kv_wait_that_can_never_fit_is_refused():
    req = VLARequest(None, Language(QWEN, 8, prompt_tokens=512))
    tr = Trace("kv", (Stream("a", req, 1.0, 1.0),), 0.5)
    with pytest.raises(UserError, match="wait for ever"):
        simulate(kv_chip(1e5), trace=tr, options=SimOptions(kv_overflow="wait"))


def test_power_gating_removes_idle_static_energy():
    tr = one_shot(vla_request(), deadline=1.0)
    tr = Trace("idle", tr.streams, 2.0)  # one frame, then idle until 2 s
    on = simulate(pinned_orin(), trace=tr)
    gated = simulate(with_phase(pinned_orin(), power_gating=True), trace=tr)
    static_w = pinned_orin().technology.static_power_w
    busy = on.resources.set_index("resource").loc["slot:chip", "busy_s"]
    assert on.totals["idle_energy_j"] == pytest.approx(static_w * (2.0 - busy), rel=1e-9)
    assert gated.totals["idle_energy_j"] == 0.0
    assert on.totals["operator_energy_j"] == pytest.approx(gated.totals["operator_energy_j"])
    assert on.totals["avg_power_w"] > gated.totals["avg_power_w"]


def test_reconfigurable_chip_reconfigures_only_when_phases_overlap():
    chip = with_phase(pinned_orin(), "reconfigurable", reconfiguration_latency_s=1e-4)
    res = simulate(chip, trace=mixed_trace())
    rc = res.reconfigurations
    assert len(rc) > 0 and set(rc["config"]) <= {"split", "full"}
    np.testing.assert_allclose(rc["end_s"] - rc["start_s"], 1e-4)
    # During a stall no operator runs.
    ev = res.events
    for s, e in zip(rc["start_s"], rc["end_s"]):
        inside = (ev["start_s"] < e - 1e-12) & (ev["end_s"] > s + 1e-12)
        assert not inside.any()
    # Configurations alternate.
    assert all(a != b for a, b in zip(rc["config"][:-1], rc["config"][1:]))


def test_user_errors():
    tr = load_trace("vla-drive-10hz")
    with pytest.raises(UserError, match="--model"):
        simulate(pinned_orin(), trace=tr)
    with pytest.raises(UserError, match="phase mode"):
        simulate(pinned_orin(), QWEN, tr, phase_mode="dynamic")
    with pytest.raises(UserError, match="policy"):
        SimOptions(policy="lottery")
    with pytest.raises(UserError, match="does not fit|DRAM holds"):
        big = pinned_orin()
        dram = MemoryLevel("dram", MemoryKind.DRAM, 5e8, 1e11, 1e-11)
        simulate(big.replace(memory=(dram,) + big.memory[1:]), QWEN, tr)
