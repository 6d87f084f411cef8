"""The scenario-chips study in quick mode: files; each scenario's chip meets its own budget and
target; looser budgets never lose accuracy; the universal chip serves all four; bounds flagged
where they hold; the verdicts follow the rule from their draws; and the per-draw re-sizing
among candidates matches a re-optimisation over every chip of the space."""

import copy
import dataclasses
import json

import numpy as np
import pandas as pd
import pytest

from chipdse import api
from studies import scenario_chips as study
from studies.base import AGREE, write_result


@pytest.fixture(scope="module")
def result(tmp_path_factory):
    out = tmp_path_factory.mktemp("scenario")
    r = study.run(out, quick=True, seed=0)
    write_result(r, out, quick=True, seed=0)
    chips = pd.read_csv(out / "results.csv").set_index("chip_of")
    cross = pd.read_csv(out / "cross_scenario.csv")
    cfg = json.loads((out / "config.json").read_text())["inputs"]
    return r, out, chips, cross, cfg


def test_files_and_scenarios(result):
    r, out, chips, cross, cfg = result
    for f in ("results.csv", "cross_scenario.csv", "ladder.csv", "draws.csv", "verdicts.csv",
              "tornado.csv", "tornado_all.csv", "verdict.md", "config.json", "cross_loss.png",
              "chip_parameters.png", "ladder.png", "tornado.png"):
        assert (out / f).is_file(), f
    assert list(chips.index) == [*api.WORKLOADS, "universal"]
    assert len(cross) == len(chips) * len(api.WORKLOADS)
    assert len(pd.read_csv(out / "draws.csv")) == study.samples_for(True)
    assert cfg["window_holds"] is True  # no draw moved latencies beyond the candidates' reach
    assert cfg["draws_without_universal"] == 0


def test_targets_and_fixed_parts(result):
    _, _, chips, _, cfg = result
    own = chips.drop(index="universal")
    for s, row in own.iterrows():
        model = study.TARGETS[s][0]
        loss = api.score_model(api.load_chip("li-m100"), api.load_model(model))["loss"]
        assert row.target_model == model and row.target_loss == pytest.approx(loss)
        assert row.fixed_mm2 == pytest.approx(cfg["fixed_mm2"][s])
    # One target per scenario, not one for all; only driving carries the automotive uncore.
    assert own.target_loss.nunique() > 1
    assert cfg["fixed_mm2"]["driving"] == max(cfg["fixed_mm2"].values())
    assert np.allclose(chips.area_mm2, chips.accel_area_mm2 + chips.fixed_mm2)
    assert chips.loc["universal", "fixed_mm2"] == pytest.approx(max(cfg["fixed_mm2"].values()))


def test_each_chip_meets_its_own_budget_and_target(result):
    _, _, chips, cross, _ = result
    for s, row in chips.drop(index="universal").iterrows():
        w, budget = api.WORKLOADS[s]
        assert row.sizing_latency_s <= budget * (1 + 1e-9)
        assert row.sizing_loss <= row.target_loss + 1e-12
        diag = cross[(cross.chip_of == s) & (cross.scenario == s)].iloc[0]
        assert diag.meets_target and diag.best_loss <= row.target_loss
        assert diag.accel_area_ratio == pytest.approx(1.0)
        assert diag.die_area_ratio == pytest.approx(1.0)
        assert row.best_loss == pytest.approx(diag.best_loss)
    uni = cross[cross.chip_of == "universal"]
    assert uni.meets_target.all()
    # It meets every scenario, so it is no smaller than any scenario's own chip.
    own = chips.drop(index="universal")
    assert (chips.loc["universal", "accel_area_mm2"] >= own.accel_area_mm2 - 1e-9).all()
    assert (cross.meets_target == (cross.best_loss <= cross.target_loss)).all()


def test_looser_budgets_never_lose_accuracy(result):
    _, out, chips, cross, _ = result
    m = cross.pivot(index="chip_of", columns="scenario", values="best_loss")
    for a in chips.index:  # total latency: driving 100 ms < smart home 500 ms < serving 2 s
        assert m.loc[a, "smart-home"] <= m.loc[a, "driving"] + 1e-12
        assert m.loc[a, "serving"] <= m.loc[a, "smart-home"] + 1e-12
    lad = pd.read_csv(out / "ladder.csv")
    for _, g in lad.groupby("chip_of"):  # a looser budget never needs a larger chip
        a = g.sort_values("budget_scale").accel_area_mm2.to_numpy()
        a = a[np.isfinite(a)]
        assert np.all(np.diff(a) <= 1e-9)


def test_flagged_bounds_sit_on_the_bound(result):
    _, _, chips, _, cfg = result
    opts = cfg["chip_options"]
    for name, row in chips.iterrows():
        low = {v for v in study.SIZED if row[v] == min(opts[v])}
        high = {v for v in study.SIZED if row[v] == max(opts[v])}
        flagged = set(str(row.at_lower_bound).split(", ")) - {"nan", ""}
        flagged_hi = set(str(row.at_upper_bound).split(", ")) - {"nan", ""}
        assert flagged == low, name
        assert flagged_hi == high, name
        assert bool(row.at_floor) == (low == set(study.SIZED))


def test_verdicts_follow_rule(result):
    r, out, chips, cross, cfg = result
    v = pd.read_csv(out / "verdicts.csv")
    d = pd.read_csv(out / "draws.csv")
    assert len(v) == 2
    for row, col in zip(v.itertuples(), ("accelerator_oversize", "die_oversize")):
        s = d[col].to_numpy(float)
        s = s[np.isfinite(s)]
        share = float(np.mean(s >= study.UNIVERSAL_AREA_TOLERANCE))
        assert row.share_holding == pytest.approx(share)
        word = ("supported" if share >= AGREE else "not supported" if share <= 1 - AGREE
                else "undetermined")
        assert row.verdict == word
    # Nominal over-size from the table: the universal chip against each scenario's own.
    own = chips.drop(index="universal")
    u = chips.loc["universal"]
    acc = float((u.accel_area_mm2 / own.accel_area_mm2).max())
    die = float(((u.accel_area_mm2 + u.fixed_mm2) / own.area_mm2).max())
    assert v.nominal.tolist() == pytest.approx([acc, die])
    # Cross die ratios: a chip serving a scenario carries the larger of the two fixed parts.
    for x in cross[cross.chip_of != "universal"].itertuples():
        fa, fb = cfg["fixed_mm2"][x.chip_of], cfg["fixed_mm2"][x.scenario]
        want = (chips.loc[x.chip_of, "accel_area_mm2"] + max(fa, fb)) / chips.loc[
            x.scenario, "area_mm2"]
        assert x.die_area_ratio == pytest.approx(want)
    assert r.verdict_word in (out / "verdict.md").read_text()


def test_draw_resizing_matches_full_reoptimisation():
    """On two draws, each scenario's chip and the universal chip found among the candidates
    are within 3 % of the area a search over every chip of the space finds."""
    sp = study.Space(quick=True)
    rng = np.random.default_rng(0)
    scen = [study.Scenario(sp, s, rng) for s in study.SCENARIOS]
    cols, t, fast = study._nominal(sp, scen)
    cand = study._candidates(sp, scen, fast)
    rows = study._draw_rows(sp, scen, cols, t, cand)
    terms, factors = study.draw_family(sp.problem.template.family, 40, 0)
    for i in (3, 17):
        # Every chip of the space scored through the co-design problem itself, at the draw.
        p = copy.copy(sp.problem)
        p.template = dataclasses.replace(sp.problem.template, family_terms=terms[i])
        aa, cc = np.meshgrid(cols, np.arange(len(sp.chips)))
        sc = study._score(p, sp.pairs(aa.ravel(), cc.ravel()),
                          ("prefill_s", "decode_s", "g_memory"))
        full = {"prefill_s": sc["prefill_s"].reshape(aa.shape),
                "decode_s": sc["decode_s"].reshape(aa.shape),
                "fits": (sc["g_memory"] <= 0).reshape(aa.shape)}
        full["prefill_s"] = full["prefill_s"] * factors["prefill"][i]
        full["decode_s"] = full["decode_s"] * factors["decode"][i]
        f2 = study._fastest(sp, scen, cols, full)
        td = study._rescore(sp, rows, cand, [terms[i]])
        feas = study._feasible(sp, scen, rows, td, cand, (factors["prefill"][i:i + 1],
                                                          factors["decode"][i:i + 1]))
        m = study._metrics(sp, scen, feas, {s.name: np.array([0.0]) for s in scen}, cand)
        for s in scen:
            best = study._select(sp, f2[s.name][0] <= s.budget_s)
            got = int(m[f"own:{s.name}"][0])
            assert best.size and got >= 0
            assert sp.accel[got] == pytest.approx(sp.accel[best[0]], rel=0.03)
        uni = study._universal(sp, scen, f2)
        assert sp.accel[int(m["universal"][0])] == pytest.approx(sp.accel[uni[0]], rel=0.03)
