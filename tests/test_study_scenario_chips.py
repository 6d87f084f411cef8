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
        assert diag.accel_area_ratio == pytest.approx(1.0) and diag.fits == row.target_reached


def test_looser_budgets_never_lose_accuracy(result):
    """Same metric (total latency), looser budget: a chip's best loss can only fall."""
    _, _, chips, cross, _ = result
    m = cross.pivot(index="chip_of", columns="scenario", values="best_loss")
    for a in chips.index:
        assert m.loc[a, "smart-home"] <= m.loc[a, "driving"] + 1e-12
        assert m.loc[a, "serving"] <= m.loc[a, "smart-home"] + 1e-12


def test_verdict_follows_rule(result):
    r, out, chips, cross, target = result
    fits = cross.meets_target & (cross.accel_area_ratio <= 1.25)
    assert (fits == cross.fits).all()
    assert (cross.meets_target == (cross.best_loss <= target)).all()
    universal = [a for a, g in cross.assign(f=fits).groupby("chip_of") if g.f.all()]
    bound = chips.accel_area_mm2.max() / chips.accel_area_mm2.min()
    expected = False if universal else (True if bound > 1.25 else None)
    assert r.supports == expected
    assert r.verdict_word in (out / "verdict.md").read_text()
    assert f"{bound:.1f}x" in r.answer
    assert np.isfinite(chips.accel_area_mm2).all() and (chips.accel_area_mm2 > 0).all()
