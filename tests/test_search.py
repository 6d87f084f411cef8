"""Search mechanics: Pareto filtering, hypervolume, decoding of design variables, scoring
against the one cost function, constraints, phase modes, determinism and search quality."""

import dataclasses

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chipdse.analytic import evaluate
from chipdse.cost import ChipParams, CostOptions
from chipdse.errors import UserError
from chipdse.search import (
    Budgets,
    CoDesignProblem,
    PlasProblem,
    Workload,
    evaluate_phases,
    hypervolume,
    pareto_mask,
    run_search,
)
from chipdse.search.laws import LAWS, arch_inputs
from chipdse.search.recheck import design_objects, recheck_front, simulate_request
from chipdse.search.space import CHIP_SPACE, PLAS_SPACE, Variable, enumerate_indices
from microarch.template import VARIABLES, ChipTemplate
from workloads.model import ModelArch
from workloads.ops import ArchArrays
from workloads.precision import Precision


def brute_pareto(F):
    n = len(F)
    keep = np.ones(n, bool)
    for i in range(n):
        for j in range(n):
            if j == i:
                continue
            dom = np.all(F[j] <= F[i]) and np.any(F[j] < F[i])
            same_earlier = np.all(F[j] == F[i]) and j < i
            if dom or same_earlier:
                keep[i] = False
                break
    return keep


@settings(max_examples=60, deadline=None)
@given(st.integers(2, 3), st.integers(1, 40), st.integers(0, 10**6))
def test_pareto_mask_matches_brute_force(k, n, seed):
    rng = np.random.default_rng(seed)
    F = rng.integers(0, 6, size=(n, k)).astype(float)  # many ties and duplicates
    assert np.array_equal(pareto_mask(F), brute_pareto(F))


def test_hypervolume_by_hand():
    assert hypervolume([[0.5, 0.5]], [1.0, 1.0]) == pytest.approx(0.25)
    assert hypervolume([[0.0, 0.5], [0.5, 0.0]], [1.0, 1.0]) == pytest.approx(0.75)
    # Normalisation on (ideal, nadir) = ((0, 0), (2, 2)): the same picture, scaled.
    assert hypervolume([[1.0, 1.0]], [2.0, 2.0], [0, 0], [2, 2]) == pytest.approx(0.25)
    assert hypervolume([[3.0, 3.0]], [2.0, 2.0]) == 0.0


DESIGNS = [
    dict(matrix_units=16, clock_ghz=1.4, dram_bus_bits=256, sram_mib=32, kv_sram_mib=16,
         native_moe=True, fused_nonlinear=True, phase_mode="fixed", node_nm=5),
    dict(matrix_units=4, clock_ghz=0.8, dram_bus_bits=64, sram_mib=2, kv_sram_mib=0,
         native_moe=False, fused_nonlinear=False, phase_mode="static", node_nm=7),
]


@pytest.mark.parametrize("design", DESIGNS)
@pytest.mark.parametrize("ideal", [False, True])
def test_template_params_equal_from_chip(design, ideal):
    """The vectorised template gives the cost model exactly what the Chip object gives."""
    t = ChipTemplate()
    ref = ChipParams.from_chip(t.build_chip(**design), ideal=ideal)
    got = ChipParams.from_figures(t.arrays(**design)["figures"], ideal=ideal)
    for f in dataclasses.fields(ChipParams):
        if f.name == "name":
            continue
        a, b = getattr(ref, f.name), getattr(got, f.name)
        if isinstance(a, dict) or hasattr(a, "items"):
            assert set(a) == set(b), f.name
            for k in a:
                assert float(a[k]) == pytest.approx(float(np.asarray(b[k])), rel=1e-12), (
                    f.name, k)
        else:
            assert float(a) == pytest.approx(float(np.asarray(b)), rel=1e-12), f.name


def _row(problem, **values):
    idx = [problem.variables[j].options.index(values[v.name])
           for j, v in enumerate(problem.variables)]
    return np.array([idx])


def test_plas_score_equals_evaluate_of_the_model(orin):
    p = PlasProblem(orin, Workload(), Budgets(latency_s=0.1))
    X = _row(p, n_layers=12, d_model=1536, experts="16x2", kv_heads="4", ffn_ratio=0.75)
    s = p.score(X)
    m = ModelArch.from_plas(12, 1536, 3, 0.75, 16, 2)  # 12 heads / 4 KV heads -> gqa 3
    ev = evaluate(m, orin, Precision(), 1, 1024, 16, decode="mean")
    assert float(s["total_s"][0]) == pytest.approx(float(ev.total_s), rel=1e-12)
    assert float(s["prefill_s"][0]) == pytest.approx(float(ev.prefill_s), rel=1e-12)
    assert float(s["memory_bytes"][0]) == pytest.approx(float(ev.memory_bytes), rel=1e-12)
    x = arch_inputs(12, 1536, 12, 4, 128, 0.75, 16, 2)
    assert float(s["loss"][0]) == pytest.approx(float(LAWS["plas"].predict(x)), rel=1e-12)
    assert float(s["rho"][0]) == pytest.approx(2 / 16)
    assert float(s["params"][0]) == pytest.approx(m.total_params, rel=1e-3)
    assert float(s["g_latency"][0]) == pytest.approx(float(ev.total_s) / 0.1 - 1, rel=1e-12)
    assert bool(s["feasible"][0]) == (float(ev.total_s) <= 0.1)


def test_kv_heads_that_do_not_divide_are_mapped_and_skipped(orin):
    p = PlasProblem(orin)
    X = _row(p, n_layers=8, d_model=768, experts="1x1", kv_heads="4", ffn_ratio=1.0)
    assert float(p.score(X)["n_kv_heads"][0]) == 2.0   # 6 heads: 4 -> 2
    assert not p.valid(X)[0]
    X = _row(p, n_layers=8, d_model=1024, experts="1x1", kv_heads="n_h", ffn_ratio=1.0)
    assert not p.valid(X)[0]                             # n_h = 8 duplicates "8"


def test_full_plas_grid_is_large_and_duplicate_free(orin):
    p = PlasProblem(orin)
    X = enumerate_indices(p.sizes, 0, p.grid_size)
    X = X[p.valid(X)]
    assert len(X) == 63920 and len(X) >= 50000
    s = p.score(X)
    key = np.column_stack([s["n_layers"], s["d_model"], s["n_experts"], s["top_k"],
                           s["n_kv_heads"], s["ffn_ratio"]]).astype(float)
    assert len(np.unique(key, axis=0)) == len(X)
    assert s["law_in_range"].all()


def test_constraints_are_normalised(orin):
    p = PlasProblem(orin, Workload(), Budgets(latency_s=0.05, memory_bytes=1e9))
    X = enumerate_indices(p.sizes, 0, 2000)
    X = X[p.valid(X)]
    s = p.score(X)
    assert np.allclose(s["g_latency"], s["latency_s"] / 0.05 - 1)
    assert np.allclose(s["g_memory"], s["memory_bytes"] / 1e9 - 1)
    assert np.array_equal(s["feasible"], (s["g_latency"] <= 0) & (s["g_memory"] <= 0))
    assert p.constraint_names == ["g_latency", "g_memory"]


def test_metric_selects_the_latency_objective(orin):
    X = enumerate_indices(PlasProblem(orin).sizes, 0, 100)
    for metric in ("total", "prefill", "decode"):
        s = PlasProblem(orin, Workload(metric=metric)).score(X)
        assert np.array_equal(s["latency_s"], s[f"{metric}_s"])


def test_phase_modes_match_the_simulator(orin):
    """A lone request: static runs each phase on its partition; reconfigurable keeps the whole
    chip (both phases are never active together). Both agree with the simulator."""
    model = ModelArch.from_plas(12, 1536, 4, 1.0)
    m = ArchArrays.from_model(model)
    cp = ChipParams.from_chip(orin)
    w = Workload()
    out = {mode: evaluate_phases(m, cp, w, CostOptions(), np.array([code]), (0.5, 0.5, 0.5))
           for code, mode in enumerate(("fixed", "static", "reconfigurable"))}
    f, s = out["fixed"], out["static"]
    assert f["prefill_s"][0] < s["prefill_s"][0]  # half the engines and half the tile buffer
    assert f["decode_s"][0] < s["decode_s"][0] <= 2 * f["decode_s"][0]
    assert out["reconfigurable"]["total_s"][0] == f["total_s"][0]
    for mode, r in out.items():
        chip = orin.replace(phase=dataclasses.replace(orin.phase, mode=mode))
        assert simulate_request(chip, model, w) == pytest.approx(r["total_s"][0], rel=1e-9)


def small_plas(orin, **kw):
    space = (Variable("n_layers", (4, 8, 12, 16, 20)), Variable("d_model", (768, 1024, 1536)),
             PLAS_SPACE[2], Variable("kv_heads", ("1", "2")),
             Variable("ffn_ratio", (0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 4.0)))
    return PlasProblem(orin, Workload(), Budgets(latency_s=0.08), space=space, **kw)


def _hv_ratio(result, reference):
    F0 = reference.front[list(reference.objectives)].to_numpy()
    lo, hi = F0.min(axis=0), F0.max(axis=0)
    ref = hi + 0.1 * (hi - lo)
    F = result.front[list(result.objectives)].to_numpy()
    return hypervolume(F, ref, lo, hi) / hypervolume(F0, ref, lo, hi)


def test_searches_reach_the_exhaustive_front(orin):
    p = small_plas(orin)
    exact = run_search(p, method="grid")
    assert exact.n_evaluated == p.grid_size == 1200
    nsga = run_search(p, method="nsga2", pop_size=40, generations=40, seed=3)
    lhs = run_search(p, method="lhs", lhs_samples=200, seed=3)
    assert _hv_ratio(nsga, exact) >= 0.99
    assert _hv_ratio(lhs, exact) >= 0.99
    assert lhs.n_evaluated < p.grid_size


def test_codesign_hypervolume_on_an_enumerable_grid():
    """A joint space small enough to enumerate: NSGA-II within 1 % of the exhaustive front."""
    arch = (Variable("n_layers", (8, 16)), Variable("d_model", (1024, 2048)), PLAS_SPACE[2],
            Variable("kv_heads", ("2",)), Variable("ffn_ratio", (0.5, 1.0, 2.0)))
    chip = tuple(Variable(v.name, {"matrix_units": (4, 16, 64), "clock_ghz": (1.0, 2.0),
                                   "dram_bus_bits": (128, 256, 512),
                                   "sram_mib": (8, 64), "kv_sram_mib": (0, 16),
                                   "phase_mode": ("fixed",), "node_nm": (5,)}.get(
                                       v.name, v.options)) for v in CHIP_SPACE)
    p = CoDesignProblem(Workload(), Budgets(latency_s=0.1), arch_space=arch, chip_space=chip)
    exact = run_search(p, method="grid")
    nsga = run_search(p, method="nsga2", pop_size=100, generations=60, seed=0)
    assert _hv_ratio(nsga, exact) >= 0.99


def test_seeded_determinism(orin):
    p = small_plas(orin)
    a = run_search(p, method="nsga2", pop_size=20, generations=5, seed=11)
    b = run_search(p, method="nsga2", pop_size=20, generations=5, seed=11)
    c = run_search(p, method="nsga2", pop_size=20, generations=5, seed=12)
    pd.testing.assert_frame_equal(a.frame, b.frame)
    assert not a.frame.equals(c.frame)
    la = run_search(p, method="lhs", lhs_samples=50, seed=1)
    lb = run_search(p, method="lhs", lhs_samples=50, seed=1)
    pd.testing.assert_frame_equal(la.frame, lb.frame)


def test_bad_inputs(orin):
    p = small_plas(orin)
    with pytest.raises(UserError, match="unknown method"):
        run_search(p, method="anneal")
    with pytest.raises(UserError, match="unknown objective"):
        PlasProblem(orin, objectives=("loss", "beauty"))
    with pytest.raises(UserError, match="enumeration limit"):
        run_search(CoDesignProblem(), method="grid")
    with pytest.raises(UserError, match="PLAS space"):
        PlasProblem(orin, space=PLAS_SPACE[:3])
    with pytest.raises(UserError, match="latency metric"):
        Workload(metric="p99")


def test_results_are_written(orin, tmp_path):
    p = small_plas(orin)
    res = run_search(p, method="grid", run_dir=tmp_path)
    files = res.save(tmp_path)
    for name in ("results", "front", "summary", "plot"):
        assert files[name].is_file()
    assert (tmp_path / "config.json").is_file()
    back = pd.read_csv(tmp_path / "front.csv")
    assert len(back) == int(res.frame["pareto"].sum())
    assert back["feasible"].all()
    # Every front row is non-dominated among the feasible rows.
    feas = res.frame[res.frame.feasible][["loss", "latency_s"]].to_numpy()
    for f in back[["loss", "latency_s"]].to_numpy():
        assert not np.any(np.all(feas <= f, axis=1) & np.any(feas < f, axis=1))


def test_front_recheck_with_the_simulator(orin):
    p = small_plas(orin)
    auto = run_search(p, method="grid")   # the default re-checks 10 front designs
    assert auto.frame["sim_total_s"].notna().sum() == 10
    assert any("simulator re-check of 10 front designs" in n for n in auto.notes)
    res = run_search(p, method="grid", simulator=None)
    assert "sim_total_s" not in res.frame
    recheck_front(res, p, simulate_request, max_points=3)
    checked = res.frame.dropna(subset=["sim_total_s"])
    assert len(checked) == 3
    # Same cost function: the simulator agrees with the analytic sum (mean-context decode is
    # exact while each decode operator is affine in the context).
    assert np.all(np.abs(checked["sim_rel_error"]) < 1e-6)
    chip, model = design_objects(p, checked.iloc[0])
    assert chip is orin and model.n_layers == int(checked.iloc[0]["n_layers"])


def test_codesign_rows_rebuild_as_chips():
    p = CoDesignProblem(Workload(), Budgets(latency_s=0.1))
    res = run_search(p, method="nsga2", pop_size=16, generations=2, seed=0)
    row = res.frame.iloc[0]
    chip, model = design_objects(p, row)
    assert chip.technology.die_area_mm2 == pytest.approx(float(row["area_mm2"]))
    assert model.n_experts == int(row["n_experts"])
    assert set(VARIABLES) <= set(res.frame.columns)
    t = simulate_request(chip, model, p.workload)
    assert t == pytest.approx(float(row["total_s"]), rel=1e-6)


def test_out_of_range_architectures_are_flagged(orin):
    space = (Variable("n_layers", (32, 40)),) + PLAS_SPACE[1:3] + (
        Variable("kv_heads", ("2",)), Variable("ffn_ratio", (1.0,)))
    res = run_search(PlasProblem(orin, space=space), method="grid")
    deep = res.frame[res.frame["n_layers"] == 40]
    assert len(deep) and not deep["law_in_range"].any()
    assert res.frame.loc[res.frame["n_layers"] == 32, "law_in_range"].all()
    assert any("outside the loss law's fitted ranges" in n for n in res.notes)


def test_other_laws_and_token_budgets(orin):
    X = enumerate_indices(PlasProblem(orin).sizes, 0, 500)
    short = PlasProblem(orin, law="chinchilla", tokens=10e9).score(X)
    long = PlasProblem(orin, law="chinchilla", tokens=1e12).score(X)
    assert np.all(long["loss"] < short["loss"])
    assert np.all(short["params"] >= 7e7) and short["law_in_range"].all()


def test_front_door_functions(orin):
    from chipdse.api import codesign, search

    r = search("jetson-agx-orin-64gb", precision=Precision("int8", "int8", "int8"))
    assert r.method == "grid" and r.config["problem"]["budgets"]["latency_s"] == 0.1
    assert r.config["problem"]["workload"]["precision"] == "wint8-aint8-kvint8"
    s = codesign("qwen2.5-0.5b", pop_size=8, generations=1)
    assert s.kind == "sizing" and s.objectives == ("latency_s", "energy_j", "area_mm2")
    with pytest.raises(UserError, match="no die area"):
        search(orin, objectives=("loss", "area_mm2"))
    with pytest.raises(UserError, match="unknown workload"):
        search(orin, workload="racing")


# ---- non-finite objectives ---------------------------------------------------------------

def test_pareto_mask_excludes_non_finite_rows():
    nan, inf = np.nan, np.inf
    assert pareto_mask([[nan, 1], [1, 2], [2, 1]]).tolist() == [False, True, True]
    assert pareto_mask([[-inf, 0], [1, 2], [2, 1]]).tolist() == [False, True, True]
    assert pareto_mask([[1, inf], [3, 3]]).tolist() == [False, True]
    assert pareto_mask([[nan, nan], [nan, 1]]).tolist() == [False, False]
    assert pareto_mask([[nan], [2.0], [1.0]]).tolist() == [False, False, True]


@settings(max_examples=40, deadline=None)
@given(st.integers(2, 3), st.integers(1, 30), st.integers(0, 10**6))
def test_pareto_mask_with_non_finite_rows_matches_brute_force_on_the_rest(k, n, seed):
    rng = np.random.default_rng(seed)
    F = rng.integers(0, 6, size=(n, k)).astype(float)
    bad = rng.random(n) < 0.3
    F[bad, rng.integers(0, k, size=int(bad.sum()))] = rng.choice([np.nan, np.inf, -np.inf],
                                                                  size=int(bad.sum()))
    m = pareto_mask(F)
    assert not m[bad].any()
    assert np.array_equal(m[~bad], brute_pareto(F[~bad]))


class _NanLossPlas(PlasProblem):
    """PLAS whose loss is NaN for the shallowest option (a law evaluated outside its domain)."""

    def _score(self, X, vals):
        out = super()._score(X, vals)
        out["loss"] = np.where(np.asarray(X)[:, 0] == 0, np.nan, out["loss"])
        return out


def test_non_finite_objectives_are_infeasible_and_never_on_the_front(orin):
    space = (Variable("n_layers", (4, 8, 12, 16)), Variable("d_model", (768, 1536)),
             PLAS_SPACE[2], Variable("kv_heads", ("1", "2")), Variable("ffn_ratio", (0.5, 1.0)))
    p = _NanLossPlas(orin, Workload(), Budgets(latency_s=0.1), space=space)
    grid = run_search(p, method="grid", simulator=None)
    shallow = grid.frame["n_layers"] == 4
    assert shallow.any() and not grid.frame.loc[shallow, "feasible"].any()
    assert len(grid.front) and np.isfinite(grid.front["loss"]).all()
    nsga = run_search(p, method="nsga2", pop_size=12, generations=4, seed=0, simulator=None)
    assert not nsga.frame.loc[nsga.frame["n_layers"] == 4, "pareto"].any()
    assert np.isfinite(nsga.front["loss"]).all()


# ---- the LHS stopping rule's hypervolume ---------------------------------------------------

@pytest.mark.parametrize("seed", [0, 1, 2])
def test_lhs_hypervolume_never_falls_across_rounds(orin, seed):
    """The archive only grows, so on one frozen scale its front's hypervolume cannot fall
    (re-normalising each round made it fall, e.g. seed 2 on this grid)."""
    p = PlasProblem(orin, Workload(), Budgets(latency_s=0.1))
    res = run_search(p, method="lhs", lhs_samples=2000, seed=seed, simulator=None)
    hv = np.array([h["hypervolume"] for h in res.history])
    assert len(hv) >= 3 and hv[0] > 0
    assert np.all(np.diff(hv) >= -1e-12), hv


def test_lhs_state_keeps_the_frozen_scale(orin, tmp_path):
    import json

    p = small_plas(orin)
    run_search(p, method="lhs", lhs_samples=100, seed=4, run_dir=tmp_path, stop_after=1)
    st = json.loads((tmp_path / "state.json").read_text())
    first = run_search(p, method="lhs", lhs_samples=100, seed=4, simulator=None, stop_after=0)
    F = first.frame[first.frame["feasible"]][list(p.objectives)].to_numpy()
    # Frozen at round 0: the bounds of round 0's feasible designs, reference 10 % beyond.
    assert np.allclose(st["hv_scale"]["ideal"], F.min(axis=0))
    assert np.allclose(st["hv_scale"]["nadir"], F.max(axis=0))
    assert np.allclose(st["hv_scale"]["ref"], F.max(axis=0) + 0.1 * np.ptp(F, axis=0))


# ---- static-partition energy -----------------------------------------------------------------

def test_static_mode_energy_matches_the_simulator(orin):
    """A lone request: every mode's analytic energy equals the simulator's energy over the
    request (its idle tail after the request removed); in static mode the idle partition still
    leaks, unless power gating is on."""
    from chipdse.sim import simulate
    from workloads.trace import Language, Stream, Trace, VLARequest

    model = ModelArch.from_plas(12, 1536, 4, 1.0)
    m = ArchArrays.from_model(model)
    w = Workload()
    req = VLARequest(language=Language(model, action_tokens=w.generate, prompt_tokens=w.prompt))
    trace = Trace("one", (Stream("request", req, rate_hz=1.0, deadline_s=1e3),),
                  duration_s=1.0)
    energies = {}
    for code, mode in enumerate(("fixed", "static", "reconfigurable")):
        for gating in (False, True):
            chip = orin.replace(phase=dataclasses.replace(orin.phase, mode=mode,
                                                          power_gating=gating))
            cp = ChipParams.from_chip(chip)
            an = evaluate_phases(m, cp, w, CostOptions(), np.array([code]), (0.5, 0.5, 0.5),
                                 gating)
            sim = simulate(chip, None, trace, w.precision)
            rq = sim.requests.iloc[0]
            assert rq["start_s"] == 0.0
            tail = 0.0 if gating else cp.static_power_w * (sim.totals["horizon_s"] - rq["end_s"])
            assert an["energy_j"][0] == pytest.approx(sim.totals["energy_j"] - tail, rel=1e-9)
            energies[mode, gating] = an
    s, g = energies["static", False], energies["static", True]
    idle = ChipParams.from_chip(orin).static_power_w * 0.5 * (s["prefill_s"][0]
                                                             + s["decode_s"][0])
    assert s["energy_j"][0] - g["energy_j"][0] == pytest.approx(idle, rel=1e-12)
    assert energies["fixed", False]["energy_j"][0] == energies["fixed", True]["energy_j"][0]


def test_plas_problem_honours_the_chips_power_gating(orin):
    X = enumerate_indices(PlasProblem(orin).sizes, 0, 300)
    sc = 0.7  # prefill's compute share: decode's 30 % idles through prefill, and vice versa
    chips = {g: orin.replace(phase=dataclasses.replace(
        orin.phase, mode="static", power_gating=g, prefill_compute_share=sc))
        for g in (False, True)}
    s = {g: PlasProblem(c).score(X) for g, c in chips.items()}
    static_w = ChipParams.from_chip(orin).static_power_w
    idle = static_w * ((1 - sc) * s[True]["prefill_s"] + sc * s[True]["decode_s"])
    assert np.allclose(s[False]["energy_j"] - s[True]["energy_j"], idle, rtol=1e-12)
    assert np.array_equal(s[False]["total_s"], s[True]["total_s"])


def test_fixed_model_scores_more_designs_than_one_chunk():
    """A chip-sizing problem (one model, many chips) scored above the evaluator's chunk size
    gives the same numbers as in small batches."""
    import numpy as np

    from chipdse import api
    from chipdse.analytic import _CHUNK
    from chipdse.search import Budgets, ChipSizingProblem

    w, _ = api.WORKLOADS["driving"]
    p = ChipSizingProblem(api.load_model("qwen2.5-0.5b"), w, Budgets())
    rng = np.random.default_rng(0)
    X = np.stack([rng.integers(0, v.size, _CHUNK + 500) for v in p.variables], axis=1)
    big, small = p.score(X), p.score(X[-300:])
    assert np.array_equal(np.asarray(big["latency_s"])[-300:], np.asarray(small["latency_s"]))
