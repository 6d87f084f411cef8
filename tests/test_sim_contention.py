"""Prefill/decode contention: fixed vs statically partitioned vs reconfigurable chips."""

from __future__ import annotations

import numpy as np
import pytest

from chipdse.accounting import request_estimate
from chipdse.sim import simulate, with_phase
from microarch.chip import Dispatch, Efficiency
from microarch.loader import load_chip
from workloads.loader import load_model
from workloads.precision import Precision
from workloads.trace import Language, Stream, Trace, VLARequest

PRECISION = Precision("int8", "fp16", "fp16")  # INT8 weights: decode ~1.5x prefill
SHARES = dict(prefill_compute_share=0.7, prefill_bandwidth_share=0.3)
RECONFIG_S = 50e-6  # assumption: re-programming the partition, tens of microseconds


def pinned_orin():
    """Jetson AGX Orin datasheet numbers, efficiency and dispatch pinned for this test."""
    c = load_chip("jetson-agx-orin-64gb")
    return c.replace(efficiency=Efficiency(matrix={"default": 0.5}, weight_only_gemm=1.0,
                                           vector=0.5, dram=0.8, sram=0.8),
                     dispatch=Dispatch(per_operator_s=4e-6, fused_attention=True))


@pytest.fixture(scope="module")
def scenario():
    """A 10 Hz-class VLA whose frame takes ~10 % longer than a period on the whole chip, so
    each prefill arrives while the previous frame is still decoding. The rate and deadline are
    derived from the analytic phase times, so the regime holds whatever the chip's numbers."""
    model = load_model("qwen2.5-0.5b")
    req = VLARequest(None, Language(model, 16, prompt_tokens=1024))
    chip = pinned_orin()
    whole = request_estimate(req, chip, PRECISION)
    part = request_estimate(req, with_phase(chip, "static", **SHARES), PRECISION)
    period = (whole.prefill_s + whole.decode_s) / 1.1
    deadline = 0.5 * (whole.total_s + part.total_s)
    trace = Trace("overlap", (Stream("vla", req, 1.0 / period, deadline,
                                     jitter_s=0.02 * period),), 30 * period)
    runs = {}
    for mode in ("fixed", "static", "reconfigurable"):
        c = with_phase(chip, mode, reconfiguration_latency_s=RECONFIG_S, **SHARES)
        runs[mode] = simulate(c, trace=trace, precision=PRECISION, seed=0)
    return dict(whole=whole, part=part, period=period, deadline=deadline, runs=runs)


def test_scenario_preconditions(scenario):
    """The regime the comparison relies on (analytic, from the cost function)."""
    w, p, T = scenario["whole"], scenario["part"], scenario["period"]
    assert w.prefill_s + w.decode_s > T          # serialised phases cannot keep up
    assert max(p.prefill_s, p.decode_s) < T      # each partition alone can
    assert w.total_s < scenario["deadline"] < p.total_s


def test_phase_modes_differ_in_p99_and_misses(scenario):
    """Fixed, static and reconfigurable chips on the same overlapping 10 Hz-class trace.

    * Fixed: prefill (compute-bound) and decode (bandwidth-bound) of all frames take turns on
      the whole chip, so a frame costs T_prefill + T_decode of chip time. That exceeds the
      period, so the chip is over-subscribed (utilisation > 1): every frame waits for the
      backlog of earlier frames, which grows by (T_prefill + T_decode - period) per frame.
      Latency climbs linearly through the run: the earliest frames meet the deadline, later
      ones miss, and p99 is set by the end of the run, the worst of the three.
    * Static partition: the prefill of frame n+1 runs on the compute-heavy partition while
      frame n decodes on the bandwidth-heavy one. Each partition's work per frame is below the
      period, so there is no backlog and every frame sees the same latency, but every frame
      runs each phase on only part of the chip even when the other partition idles, so that
      latency (T'_prefill + T'_decode) is above the whole-chip latency: p99 is flat, well
      below fixed's, yet every frame misses a deadline set between the two latencies.
    * Reconfigurable: while both phases are in flight the chip splits as the static one does
      (so no backlog either); while only one is, that phase gets the whole chip. Frames are
      therefore as fast as the whole chip allows except where they actually overlap, plus two
      reconfigurations per frame (microseconds): the lowest p99 and no misses.
    """
    runs = scenario["runs"]
    p99 = {m: r.stream("vla")["latency_p99_s"] for m, r in runs.items()}
    miss = {m: int(r.stream("vla")["misses"]) for m, r in runs.items()}
    n = int(runs["fixed"].stream("vla")["requests"])
    assert p99["fixed"] > 1.3 * p99["static"] > 1.3 * p99["reconfigurable"]
    assert miss["static"] == n
    assert miss["reconfigurable"] == 0
    assert 0 < miss["fixed"] < n
    # Fixed: a growing backlog (latency rises frame after frame); partitions: none.
    lat = runs["fixed"].requests["latency_s"].to_numpy()
    assert lat[-1] > lat[0] + 10 * (scenario["whole"].prefill_s + scenario["whole"].decode_s
                                    - scenario["period"])
    st = runs["static"].requests["latency_s"]
    assert st.max() - st.min() < 0.05 * st.mean()
    assert st.mean() == pytest.approx(scenario["part"].total_s, rel=0.02)


def test_only_the_reconfigurable_chip_reconfigures(scenario):
    runs = scenario["runs"]
    assert runs["fixed"].totals["reconfigurations"] == 0
    assert runs["static"].totals["reconfigurations"] == 0
    rc = runs["reconfigurable"].totals["reconfigurations"]
    n = int(runs["reconfigurable"].stream("vla")["requests"])
    assert n <= rc <= 2 * n  # at most a split and a merge per frame
    assert runs["reconfigurable"].totals["reconfiguration_s"] == pytest.approx(rc * RECONFIG_S)


def _active(df, times):
    """Whether some operator of ``df`` runs at each of ``times``."""
    s = np.sort(df.start_s.to_numpy())
    e = np.sort(df.end_s.to_numpy())
    return np.searchsorted(s, times, "right") - np.searchsorted(e, times, "right") > 0


def test_partitions_overlap_phases_and_fixed_does_not(scenario):
    for mode, overlaps in (("fixed", False), ("static", True), ("reconfigurable", True)):
        ev = scenario["runs"][mode].events
        pre = ev[ev.phase == "prefill"]
        dec = ev[ev.phase == "decode"]
        # Total time during which a prefill and a decode kernel run at once.
        t = np.sort(np.concatenate([pre.start_s, pre.end_s, dec.start_s, dec.end_s]))
        mid = 0.5 * (t[1:] + t[:-1])

        both = float(np.sum(np.diff(t) * (_active(pre, mid) & _active(dec, mid))))
        assert (both > 0.1 * scenario["period"]) == overlaps, (mode, both)
