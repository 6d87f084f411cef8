"""One request accounting: ``estimate``, the simulator's per-request figures and every search
problem give the same latency and energy for one request run alone, on fixed, static and
reconfigurable chips, with and without power gating (chipdse.accounting)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from chipdse import api
from chipdse.accounting import idle_power_w, request_estimate
from chipdse.cost import ChipParams
from chipdse.search import Budgets, PlasProblem, Workload
from chipdse.search.recheck import design_objects
from chipdse.sim import simulate
from workloads.precision import Precision
from workloads.trace import Language, Stream, Trace, VLARequest

PROMPT, GENERATE = 1024, 16
CASES = [("fixed", 0.5, 0.5, False), ("static", 0.5, 0.5, False), ("static", 0.7, 0.3, False),
         ("static", 0.7, 0.3, True), ("reconfigurable", 0.6, 0.4, False)]


def _chip(orin, mode, compute, bandwidth, gating):
    return orin.replace(phase=dataclasses.replace(
        orin.phase, mode=mode, prefill_compute_share=compute,
        prefill_bandwidth_share=bandwidth, prefill_sram_share=compute,
        reconfiguration_latency_s=2e-5, power_gating=gating))


def _lone(chip, model):
    req = VLARequest(language=Language(model, action_tokens=GENERATE, prompt_tokens=PROMPT))
    trace = Trace("one", (Stream("request", req, rate_hz=1.0, deadline_s=1e3),),
                  duration_s=1.0)
    return req, simulate(chip, None, trace, Precision()).requests.iloc[0]


@pytest.mark.parametrize("case", CASES, ids=lambda c: "-".join(map(str, c)))
def test_estimate_simulator_and_search_agree(orin, case):
    chip = _chip(orin, *case)
    model = api.load_model("qwen2.5-0.5b")
    est = api.estimate(chip, model, Precision(), 1, PROMPT, GENERATE)
    req, sim = _lone(chip, model)
    exact = Workload(prompt=PROMPT, generate=GENERATE, decode="exact")
    search = api.score_model(chip, model, exact)
    lone = request_estimate(req, chip, Precision())
    for got in (sim["latency_s"], search["total_s"], lone.total_s):
        assert got == pytest.approx(est.total_s, rel=1e-9, abs=0)
    for got in (sim["energy_j"], search["energy_j"], lone.energy_j):
        assert got == pytest.approx(est.energy_j, rel=1e-9, abs=0)
    assert sim["idle_energy_j"] == pytest.approx(est.idle_energy_j, rel=1e-9, abs=1e-15)


@pytest.mark.parametrize("case", CASES, ids=lambda c: "-".join(map(str, c)))
def test_plas_problem_scores_what_estimate_says(orin, case):
    """A design of the PLAS grid, scored by the search problem, against estimate and the
    simulator of the same model."""
    chip = _chip(orin, *case)
    p = PlasProblem(chip, Workload(prompt=PROMPT, generate=GENERATE, decode="exact"),
                    Budgets(latency_s=1.0))
    idx = [v.options.index(x) for v, x in zip(p.variables, (12, 1536, "8x1", "4", 1.0))]
    s = p.score(np.array([idx]))
    row = {k: v[0] for k, v in s.items()}
    _, model = design_objects(p, {**row, "n_kv_heads": s["n_kv_heads"][0]})
    est = api.estimate(chip, model, Precision(), 1, PROMPT, GENERATE)
    _, sim = _lone(chip, model)
    for got in (s["total_s"][0], sim["latency_s"]):
        assert got == pytest.approx(est.total_s, rel=1e-9, abs=0)
    for got in (s["energy_j"][0], sim["energy_j"]):
        assert got == pytest.approx(est.energy_j, rel=1e-9, abs=0)


def test_static_idle_partition_leaks_unless_gated(orin):
    """The physics chosen: the idle partition of a static chip draws its static power
    (prefill's idle decode share, then decode's idle prefill share)."""
    model = api.load_model("qwen2.5-0.5b")
    leak = api.estimate(_chip(orin, "static", 0.5, 0.5, False), model)
    gated = api.estimate(_chip(orin, "static", 0.5, 0.5, True), model)
    static_w = ChipParams.from_chip(orin).static_power_w
    assert leak.idle_energy_j == pytest.approx(static_w * 0.5 * leak.total_s, rel=1e-12)
    assert gated.idle_energy_j == 0.0
    assert leak.energy_j - gated.energy_j == pytest.approx(leak.idle_energy_j, rel=1e-12)
    assert leak.total_s == gated.total_s


def test_idle_power_rules():
    assert float(idle_power_w(10.0, 0.3, False)) == pytest.approx(7.0)
    assert float(idle_power_w(10.0, 0.3, True)) == 0.0
    assert float(idle_power_w(10.0, 0.0, True, stalled=True)) == 10.0  # a stall keeps power
    assert float(idle_power_w(10.0, 1.2, False)) == 0.0  # never negative
