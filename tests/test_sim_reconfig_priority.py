"""Priority-aware reconfiguration (SimOptions.reconfig_policy="priority"): when phases of
streams of different priority overlap, the chip's split follows the more urgent stream's phase;
with equal priorities, or one phase class at a time, it behaves as the plain split policy."""

from __future__ import annotations

import numpy as np
import pytest

from chipdse.accounting import request_estimate
from chipdse.errors import UserError
from chipdse.sim import SimOptions, simulate, with_phase
from microarch.chip import Dispatch, Efficiency
from microarch.loader import load_chip
from workloads.loader import load_model
from workloads.precision import Precision
from workloads.trace import Language, Stream, Trace, Vision, VLARequest

QWEN = load_model("qwen2.5-0.5b")
CLIP = load_model("clip-vit-large-patch14")
RECONFIG_S = 2e-5  # assumption: a partition re-map, tens of microseconds
PRIORITY = SimOptions(reconfig_policy="priority")


def pinned_orin():
    """Jetson AGX Orin with efficiency and dispatch pinned for these tests."""
    c = load_chip("jetson-agx-orin-64gb")
    return c.replace(efficiency=Efficiency(matrix={"default": 0.5}, weight_only_gemm=1.0,
                                           vector=0.5, dram=0.8, sram=0.8),
                     dispatch=Dispatch(per_operator_s=4e-6, fused_attention=True))


def reconf(chip=None):
    return with_phase(chip or pinned_orin(), "reconfigurable",
                      reconfiguration_latency_s=RECONFIG_S)


def mixed_trace(duration: float = 1.0, vla_priority: int = 1) -> Trace:
    """A top-priority perception encoder at 20 Hz beside a VLA at 5 Hz whose decode the
    perception frames land on."""
    per = Stream("perception", VLARequest(Vision(CLIP, 1, 224, 14, True), None), 20.0, 0.05,
                 jitter_s=0.003, priority=0)
    vla = Stream("vla", VLARequest(Vision(CLIP, 1, 224, 14, True),
                                   Language(QWEN, 6, prompt_tokens=300)), 5.0, 0.3,
                 jitter_s=0.003, offset_s=0.01, priority=vla_priority)
    return Trace("mixed", (per, vla), duration)


@pytest.fixture(scope="module")
def runs():
    tr = mixed_trace()
    return {"fixed": simulate(pinned_orin(), trace=tr, seed=3),
            "split": simulate(reconf(), trace=tr, seed=3),
            "priority": simulate(reconf(), trace=tr, seed=3, options=PRIORITY),
            "priority-0.8": simulate(reconf(), trace=tr, seed=3, options=SimOptions(
                reconfig_policy="priority", priority_share=0.8))}


def test_split_follows_the_more_urgent_phase(runs):
    rc = runs["priority"].reconfigurations
    # Perception (priority 0) is prefill-class: overlaps give it the chip, never a split.
    assert len(rc) > 0 and set(rc["config"]) <= {"prefill-first", "full"}
    assert "prefill-first" in set(rc["config"])
    assert set(runs["split"].reconfigurations["config"]) <= {"split", "full"}


def test_top_stream_keeps_the_whole_chip(runs):
    """At share 1 the perception stream runs as on a fixed chip with priority scheduling
    (plus the reconfiguration stalls), faster than under the plain split."""
    p = {k: r.stream("perception") for k, r in runs.items()}
    stalls = runs["priority"].totals["reconfiguration_s"]
    assert p["priority"]["latency_p99_s"] < 0.8 * p["split"]["latency_p99_s"]
    assert p["priority"]["latency_max_s"] <= p["fixed"]["latency_max_s"] + 4 * RECONFIG_S
    assert stalls == pytest.approx(len(runs["priority"].reconfigurations) * RECONFIG_S)
    # A favoured share below 1 lies between the two.
    mid = p["priority-0.8"]["latency_p99_s"]
    assert p["priority"]["latency_p99_s"] < mid < p["split"]["latency_p99_s"]


def test_held_slot_runs_nothing_while_the_urgent_phase_has_the_chip(runs):
    r = runs["priority"]
    rc = r.reconfigurations.reset_index(drop=True)
    ev = r.events
    ends = list(rc["start_s"].iloc[1:]) + [np.inf]
    checked = 0
    for (_, row), stop in zip(rc.iterrows(), ends):
        if row["config"] != "prefill-first":
            continue
        inside = ev[(ev["start_s"] >= row["end_s"] - 1e-12) & (ev["start_s"] < stop - 1e-12)]
        assert not (inside["phase"] == "decode").any()
        checked += 1
    assert checked > 0


def test_equal_priorities_split_as_before():
    """Same priority on both streams: nothing to follow, the same run as the split policy."""
    tr = mixed_trace(vla_priority=0)
    a = simulate(reconf(), trace=tr, seed=1)
    b = simulate(reconf(), trace=tr, seed=1, options=PRIORITY)
    assert a.requests["latency_s"].tolist() == b.requests["latency_s"].tolist()
    assert a.reconfigurations["config"].tolist() == b.reconfigurations["config"].tolist()


def test_lone_request_equals_analytic_estimate():
    req = VLARequest(Vision(CLIP, 2, 224, 14, True), Language(QWEN, 4, prompt_tokens=600))
    chip = reconf()
    res = simulate(chip, trace=Trace("one", (Stream("s", req, 1.0, 1.0),), 0.05),
                   options=PRIORITY)
    est = request_estimate(req, chip, Precision())
    (row,) = res.requests.itertuples()
    assert row.latency_s == pytest.approx(est.total_s, rel=1e-9)
    assert row.energy_j == pytest.approx(est.energy_j, rel=1e-9)
    assert res.totals["reconfigurations"] == 0


def test_requests_conserve_energy_with_a_held_slot(runs):
    r = runs["priority"]
    assert r.totals["energy_j"] == pytest.approx(
        float(r.requests["energy_j"].sum()) + r.totals["idle_energy_between_requests_j"],
        rel=1e-9)


@pytest.mark.parametrize("kw, msg", [({"reconfig_policy": "greedy"}, "reconfig_policy"),
                                     ({"priority_share": 0.4}, "priority_share"),
                                     ({"priority_share": 1.5}, "priority_share"),
                                     ({"priority_share": True}, "priority_share")])
def test_bad_options(kw, msg):
    with pytest.raises(UserError, match=msg):
        SimOptions(**kw)
