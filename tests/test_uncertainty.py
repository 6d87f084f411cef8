"""Uncertainty: the stated ranges, how they are drawn (seeded, shared per family, held on the
chip a family was fitted to), the bands of an estimate, the robustness of a search front, and
bad inputs."""

from __future__ import annotations

import json

import numpy as np
import pytest
import yaml
from click.testing import CliRunner

from chipdse import api
from chipdse.cli import main
from chipdse.uncertainty import draw, fitted_on, prediction_error
from microarch.loader import SpecError, chip_from_dict, load_chip, preset_path
from microarch.schema import load_yaml
from microarch.vary import varied_numbers, vary


def test_every_varied_number_is_within_its_range_and_named_by_path():
    for name in api.list_chips():
        c = load_chip(name)
        for v in varied_numbers(c):
            assert v.low <= v.nominal <= v.high, (name, v.path)
            assert v.path in c.ranges and c.ranges[v.path].nominal == v.nominal


def test_vary_sets_a_number_and_keeps_the_rest():
    c = load_chip("jetson-agx-thor")
    d = vary(c, {"family:thor.efficiency.dram": 0.85})
    assert d.efficiency.dram == pytest.approx(0.85)
    assert d.efficiency.vector == c.efficiency.vector and d.memory == c.memory
    # ratio semantics: a chip already in another power mode keeps its mode's figures
    m = c.in_power_mode("120W")
    assert vary(m, {"family:thor.efficiency.dram": 0.85}).matrix == m.matrix


def test_scales_with_moves_derived_numbers_in_proportion(tmp_path):
    d = load_yaml(preset_path("li-m100"))
    clock = d["technology"]["clock"]
    clock.update(range=["1.2 GHz", "1.8 GHz"])
    d["matrix"]["peak_dense"]["int8"]["scales_with"] = "technology.clock"
    d["matrix"]["peak_dense"]["int8"].pop("range", None)
    c = chip_from_dict(d, "m.yaml")
    nominal = c.ranges["technology.clock"].nominal
    v = vary(c, {"technology.clock": 1.2 * nominal})
    assert v.matrix.peak("int8") == pytest.approx(1.2 * c.matrix.peak("int8"))


def test_bad_range_and_link_are_one_line_each():
    d = load_yaml(preset_path("li-m100"))
    d["technology"]["static_power"] = {"value": "15 W", "assumption": "x",
                                       "range": ["20 W", "30 W"]}
    with pytest.raises(SpecError) as exc:
        chip_from_dict(d, "bad.yaml")
    assert any("technology.static_power: range [20, 30] must be finite, ordered and hold "
               "the value 15" in e for e in exc.value.errors)
    d = load_yaml(preset_path("li-m100"))
    d["vector"]["peak"]["scales_with"] = "technology.nothing"
    with pytest.raises(SpecError) as exc:
        chip_from_dict(d, "bad.yaml")
    assert exc.value.errors == ["bad.yaml: vector.peak: scales_with 'technology.nothing' names "
                                "no field of this file with a range"]


def test_draws_are_seeded_and_within_the_ranges_of_assumptions():
    a = draw([load_chip("li-m100")], 64, seed=3)
    b = draw([load_chip("li-m100")], 64, seed=3)
    c = draw([load_chip("li-m100")], 64, seed=4)
    for k in a.values:
        np.testing.assert_array_equal(a.values[k], b.values[k])
    assert any(not np.array_equal(a.values[k], c.values[k]) for k in a.values)
    for k, v in a.numbers.items():
        if not v.fitted:
            assert (a.values[k] >= v.low).all() and (a.values[k] <= v.high).all(), k


def test_fitted_terms_follow_their_interval():
    """A fitted term's draws: about 90 % inside its stated 5-95 % interval."""
    d = draw([load_chip("jetson-agx-thor")], 4000, seed=0, prediction=False)
    key = "family:thor.efficiency.dram"
    v = d.numbers[key]
    assert v.fitted
    x = d.values[key]
    inside = np.mean((x >= v.low) & (x <= v.high))
    assert 0.86 < inside < 0.94


def test_family_terms_are_shared_and_chip_numbers_held_on_the_fitted_chip():
    thor, thor_u = load_chip("jetson-agx-thor"), load_chip("drive-thor-u")
    assert fitted_on(thor) and not fitted_on(thor_u)
    d = draw([thor, thor_u], 32, seed=0)
    for i in range(32):
        assert (d.chips[thor.name][i].efficiency.dram
                == d.chips[thor_u.name][i].efficiency.dram)
    # the calibration chip keeps its own assumed numbers (the fit conditions on them)
    assert all(s.vector == thor.vector for s in d.chips[thor.name])
    assert any(k.startswith("drive-thor-u:") for k in d.values)
    # one prediction error per family and role: Thor and Thor-U are different roles
    assert prediction_error(thor)[0] == "calibration"
    assert prediction_error(thor_u)[0] == "transfer"
    assert not np.array_equal(d.time_factor[thor.name]["prefill"],
                              d.time_factor[thor_u.name]["prefill"])


def test_estimate_bands_are_ordered_seeded_and_hold_the_point():
    p = api.make_precision("int8", "int8")
    a = api.estimate("drive-thor-u", "qwen3-1.7b", p, uncertainty=300, seed=1)
    b = api.estimate("drive-thor-u", "qwen3-1.7b", p, uncertainty=300, seed=1)
    assert a.bands == b.bands
    for k, (lo, mid, hi) in a.bands.items():
        assert lo <= mid <= hi, k
        point = getattr(a, k)
        assert lo <= point <= hi, k
    assert a.bands["prefill_s"][2] / a.bands["prefill_s"][0] > 1.2  # an error bar, not a dot
    d = a.to_dict()
    assert d["prefill_s_p05"] == a.bands["prefill_s"][0]
    plain = api.estimate("drive-thor-u", "qwen3-1.7b", p)
    assert plain.bands is None and plain.prefill_s == a.prefill_s


def test_estimate_uncertainty_on_the_command_line():
    r = CliRunner().invoke(main, ["estimate", "--chip", "jetson-agx-orin-64gb", "--model",
                                  "qwen3-0.6b", "--weights", "int4", "--uncertainty", "200",
                                  "--format", "json"])
    assert r.exit_code == 0, r.output
    d = json.loads(r.output)
    for m in api.BAND_METRICS:
        assert d[f"{m}_p05"] <= d[f"{m}_p50"] <= d[f"{m}_p95"]
    assert d["uncertainty_samples"] == 200
    r = CliRunner().invoke(main, ["estimate", "--chip", "jetson-agx-orin-64gb", "--model",
                                  "qwen3-0.6b", "--uncertainty"])
    assert r.exit_code == 0 and "5-95 %" in r.output
    r = CliRunner().invoke(main, ["estimate", "--chip", "jetson-agx-orin-64gb", "--model",
                                  "qwen3-0.6b", "--uncertainty", "0"])
    assert r.exit_code == 2


def test_the_calibration_chip_band_is_narrower_than_a_new_designs():
    """On AGX Orin (its family's calibration chip) the prediction error is the cross-validated
    0.02; a variant of it is a new design and takes the cross-family spread."""
    p = api.make_precision("int4", "fp16")
    agx = api.estimate("jetson-agx-orin-64gb", "qwen3-4b", p, uncertainty=300)
    var = api.estimate(api.chip_variant("jetson-agx-orin-64gb", name="orin-variant"),
                       "qwen3-4b", p, uncertainty=300)
    w = lambda e: e.bands["decode_tokens_per_s"][2] / e.bands["decode_tokens_per_s"][0]  # noqa
    assert w(var) > w(agx)


def test_front_robustness_is_seeded_and_a_share():
    from chipdse.search import WORKLOADS, Budgets

    w, budget = WORKLOADS["driving"]
    prob = api.PlasProblem(load_chip("jetson-agx-orin-64gb"), w, Budgets(latency_s=budget))
    res = api.run_search(prob, method="lhs", lhs_samples=300, lhs_rounds=2, seed=0,
                         simulator=None)
    a = api.front_robustness(prob, res, 20, seed=0)
    b = api.front_robustness(prob, res, 20, seed=0)
    assert len(a) == len(res.front) > 0
    assert a.front_share.tolist() == b.front_share.tolist()
    assert ((a.front_share >= 0) & (a.front_share <= 1)).all()
    assert (a.front_share <= a.feasible_share + 1e-12).all()
    assert (a.latency_s_p05 <= a.latency_s_p95).all()


def test_family_block_writes_intervals_correlations_and_prediction_error(tmp_path):
    from chipdse.calibrate import calibrate, family_block_yaml

    cal = calibrate("jetson-agx-orin-64gb", cv=True)
    block = yaml.safe_load(family_block_yaml(cal))["orin"]
    dram = block["efficiency"]["dram"]
    assert dram["range"][0] <= dram["value"] <= dram["range"][1]
    assert "5-95 % interval" in dram["source"]
    pe = block["prediction_error"]
    assert set(pe) == {"calibration", "transfer"}
    assert pe["transfer"]["decode"]["value"] > pe["calibration"]["decode"]["value"]
    assert all(-1 <= r <= 1 for _, _, r in block.get("correlations", []))


def test_a_templated_chip_takes_drawn_family_terms():
    """Chip sizing and co-design build chips from a template of one family: a draw of the
    family's terms reaches them through ``ChipTemplate.family_terms``."""
    import dataclasses

    from chipdse.uncertainty import draw_family
    from microarch.template import ChipTemplate

    t = ChipTemplate(family="m100")
    slow = dataclasses.replace(t, family_terms={"efficiency.dram": 0.5})
    assert slow._family()["efficiency"].dram == 0.5
    assert t._family()["efficiency"].dram == 0.85
    draws, factors = draw_family("m100", 50, seed=0)
    assert len(draws) == 50 and set(factors) == {"prefill", "decode"}
    lo, hi = 0.7, 0.92  # the stated range of m100 efficiency.dram
    assert all(lo <= d["efficiency.dram"] <= hi for d in draws)
    with pytest.raises(KeyError):
        dataclasses.replace(t, family_terms={"efficiency.warp": 1.0})._family()


def test_fitted_draws_stay_where_the_number_lives():
    """A fitted efficiency drawn in logit space never leaves (0, 1), a positive number in log
    space never goes below 0; both keep the nominal as median and the range as 5-95 %."""
    from chipdse.uncertainty import _fitted_draws
    from microarch.vary import Varied

    z = np.random.default_rng(3).standard_normal((3, 200_000))
    specs = [Varied("family:orin.efficiency.dram", 0.9, 0.6, 0.97, True, "fit"),
             Varied("family:orin.dispatch.per_operator", 5e-6, 1e-6, 2e-5, True, "fit"),
             Varied("family:orin.sparse.per_expert_overhead", 2e-6, 0.0, 6e-6, True, "fit")]
    x = _fitted_draws(specs, z)
    assert (x[0] > 0).all() and (x[0] < 1).all()
    assert (x[1] > 0).all() and (x[2] >= 0).all()
    for row, v in zip(x, specs):
        lo, mid, hi = np.percentile(row, (5, 50, 95))
        assert mid == pytest.approx(v.nominal, rel=0.01, abs=1e-8)
        assert lo == pytest.approx(v.low, rel=0.02, abs=5e-8)
        assert hi == pytest.approx(v.high, rel=0.02)


def test_assumption_draws_keep_the_stated_value_as_median():
    """An assumption whose value sits at one end of its range is drawn with that value as the
    median, inside the range."""
    from chipdse.uncertainty import _assumed_draws
    from microarch.vary import Varied

    u = np.random.default_rng(1).uniform(0, 1, 100_000)
    for v in (Varied("family:thor.efficiency.weight_only_row_tile", 16, 16, 64, False, "a"),
              Varied("x.y", 0.5, 0.3, 0.9, False, "a")):
        x = _assumed_draws(v, u)
        assert x.min() >= v.low and x.max() <= v.high
        assert np.median(x) == pytest.approx(v.nominal, rel=0.01)
