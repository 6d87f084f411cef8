"""The scenario-chips study in quick mode: files written, the selection and cross-scenario
tables consistent with each other and with the budgets, and the verdict reproduced from the
tables by the study's rule."""

import json

import numpy as np
import pandas as pd
import pytest

from chipdse import api
from studies import scenario_chips as study
from studies.base import write_result


@pytest.fixture(scope="module")
def result(tmp_path_factory):
    out = tmp_path_factory.mktemp("scenario")
    r = study.run(out, quick=True)
    write_result(r, out, quick=True, seed=0)
    chips = pd.read_csv(out / "results.csv").set_index("scenario")
    cross = pd.read_csv(out / "cross_scenario.csv")
    target = json.loads((out / "config.json").read_text())["inputs"]["target_loss"]
    return r, out, chips, cross, target


def test_files_and_scenarios(result):
    r, out, chips, cross, _ = result
    for f in ("results.csv", "cross_scenario.csv", "pairwise.csv", "verdict.md", "config.json",
              "cross_loss.png", "chip_parameters.png"):
        assert (out / f).is_file(), f
    assert list(chips.index) == list(api.WORKLOADS)
    assert len(cross) == len(chips) ** 2
    assert len(pd.read_csv(out / "pairwise.csv")) == len(chips) * (len(chips) - 1) // 2


def test_each_chip_meets_its_own_budget_and_target(result):
    _, _, chips, cross, target = result
    for s, row in chips.iterrows():
        w, budget = api.WORKLOADS[s]
        assert row[f"{w.metric}_s"] <= budget * (1 + 1e-9)
        if row.target_reached:
            assert row.loss <= target
        diag = cross[(cross.chip_of == s) & (cross.scenario == s)].iloc[0]
        assert diag.best_loss == pytest.approx(row.loss)
        assert diag.accel_area_ratio == pytest.approx(1.0)
        assert diag.die_area_ratio == pytest.approx(1.0)
        assert diag.fits_accelerator == row.target_reached == diag.fits_die


def test_looser_budgets_never_lose_accuracy(result):
    """Same metric (total latency), looser budget: a chip's best loss can only fall."""
    _, _, chips, cross, _ = result
    m = cross.pivot(index="chip_of", columns="scenario", values="best_loss")
    for a in chips.index:
        assert m.loc[a, "smart-home"] <= m.loc[a, "driving"] + 1e-12
        assert m.loc[a, "serving"] <= m.loc[a, "smart-home"] + 1e-12


def _measure_verdict(chips, cross, area_col, ratio_col):
    """The study's rule on one area measure, from the written tables."""
    fits = cross.meets_target & (cross[ratio_col] <= 1.25)
    universal = [a for a, g in cross.assign(f=fits).groupby("chip_of") if g.f.all()]
    free = chips[~chips.at_floor]
    spread = free[area_col].max() / free[area_col].min() if len(free) >= 2 else np.nan
    verdict = False if universal else (True if spread > 1.25 else None)
    return fits, universal, spread, verdict


def test_verdict_follows_rule(result):
    r, out, chips, cross, target = result
    assert (cross.meets_target == (cross.best_loss <= target)).all()
    # Floor-clamped chips: every sized variable at index 0.
    floor = (chips[[f"idx_{v}" for v in study.SIZED]] == 0).all(axis=1)
    assert (floor == chips.at_floor).all()
    verdicts = {}
    for measure, (col, ratio) in study.MEASURES.items():
        fits, universal, spread, verdicts[measure] = _measure_verdict(chips, cross, col, ratio)
        assert (fits == cross[f"fits_{measure}"]).all()
        part = r.answer.split(f"on {measure} area")[1].split(";")[0]
        if np.isfinite(spread):
            assert f"spread {spread:.2f}x among" in part
        word = study.VERDICT_WORDS[verdicts[measure]]
        assert r.answer.split(f"on {measure} area")[1].split(" -> ")[1].startswith(word)
        for a in universal:
            worst = cross[cross.chip_of == a][ratio].max()
            assert f"{a} (reaches L* in all {len(chips)} scenarios at {measure} ratio <= " \
                   f"{worst:.2f})" in r.answer
    expected = verdicts["accelerator"] if verdicts["accelerator"] == verdicts["die"] else None
    assert r.supports == expected
    assert ("disagree" in r.answer) == (verdicts["accelerator"] != verdicts["die"])
    assert r.verdict_word in (out / "verdict.md").read_text()
    assert np.isfinite(chips.accel_area_mm2).all() and (chips.accel_area_mm2 > 0).all()
    # Accelerator area is the die less the fixed part (CPU cluster, uncore) a chip carries.
    assert (chips.area_mm2 > chips.accel_area_mm2).all()


def test_floor_chips_excluded_from_pairs(result):
    r, out, chips, _, _ = result
    pairs = pd.read_csv(out / "pairwise.csv")
    floor = set(chips.index[chips.at_floor])
    assert (pairs.involves_floor == (pairs.scenario_a.isin(floor)
                                     | pairs.scenario_b.isin(floor))).all()
    free = pairs[~pairs.involves_floor]
    if len(free):
        w = free.sort_values("max_parameter_ratio").iloc[-1]
        assert f"{w.scenario_a} vs {w.scenario_b} (largest parameter ratio " \
               f"{w.max_parameter_ratio:.1f}x" in r.answer
