"""Chip cost in dollars (microarch.cost_usd): a golden preset cost by hand, the yield models
against their closed forms and an independent integral, properties (a larger die never costs
less, more harvesting never lowers yield), bad cost-data files, and cost as an objective and a
budget of the searches."""

import math
from pathlib import Path

import numpy as np
import pytest
import yaml
from click.testing import CliRunner

from chipdse.cli import main
from chipdse.commands.search import COMMANDS
from chipdse.errors import UserError
from chipdse.search import Budgets, ChipSizingProblem, PlasProblem, Workload, run_search
from chipdse.search.space import CHIP_SPACE, Variable
from microarch.cost_usd import (
    amortised,
    chip_cost,
    cost_breakdown,
    cost_data,
    die_yield,
    gross_dies_per_wafer,
    read_cost_data,
)
from microarch.loader import list_chips, load_chip
from microarch.schema import SpecError
from microarch.template import ChipTemplate

for _cmd in COMMANDS:
    if _cmd.name not in main.commands:
        main.add_command(_cmd)

COSTS = Path(__file__).resolve().parents[1] / "microarch" / "presets" / "process_costs.yaml"


def test_h100_cost_by_hand():
    """H100 SXM: published 814 mm^2 on N4, 80 GB HBM, no die entry (no harvesting)."""
    c = chip_cost(load_chip("h100-sxm"))
    # Dies per wafer: usable diameter 300 - 2 x 3 = 294 mm; die edge sqrt(814) + 0.1 scribe.
    s = (math.sqrt(814.0) + 0.1) ** 2                                  # 819.72 mm^2
    dpw = math.floor(math.pi * 294**2 / (4 * s) - math.pi * 294 / math.sqrt(2 * s))
    assert dpw == 60
    # Negative binomial, D0 = 0.08 / cm^2 = 0.0008 / mm^2, alpha = 1.5.
    y = (1 + 814 * 0.0008 / 1.5) ** -1.5                               # 0.5822
    die = 17500 / (dpw * y)                                            # 500.96
    package = 15 + 0.015 * 1000 + 750                                  # HBM: no DRAM balls
    unit = (die + package + 10) / 0.98 + 80 * 15                       # 2517.3
    nre = 350e6 + 25e6
    assert c.area_source == "preset" and c.dram_kind == "hbm" and c.spare_groups == 0
    b = c.breakdown
    assert b["dies_per_wafer"] == dpw
    assert b["yield"] == pytest.approx(y, rel=1e-12)
    assert b["die_usd"] == pytest.approx(die, rel=1e-12)
    assert b["package_usd"] == pytest.approx(package, rel=1e-12)
    assert b["unit_usd"] == pytest.approx(unit, rel=1e-12)
    assert c.cost_usd == pytest.approx(unit + nre / 1e6, rel=1e-12)
    assert c.cost_usd == pytest.approx(2892.3, abs=0.1)


def test_m100_harvested_yield_against_an_independent_integral():
    """12 of 14 TPB clusters enabled: the yield is the Gamma-mixed chance that the non-unit
    logic is good and at most 2 clusters hold a defect, integrated here with scipy.quad."""
    from scipy import integrate, stats

    c = chip_cost(load_chip("li-m100"))
    assert (c.groups, c.spare_groups) == (14, 2)
    from microarch.cost_usd import _harvest

    groups, spare, frac = _harvest(load_chip("li-m100"), cost_data())
    a, d0, alpha = 399.8, 0.10 / 100, 1.5
    unit = a * frac / groups
    crit = a - groups * unit

    def f(lam):
        return (np.exp(-lam * crit) * stats.binom.cdf(spare, groups, 1 - np.exp(-lam * unit))
                * stats.gamma.pdf(lam, alpha, scale=d0 / alpha))

    ref = integrate.quad(f, 0, np.inf, limit=200)[0]
    assert c.breakdown["yield"] == pytest.approx(ref, rel=1e-9)
    whole = (1 + a * d0 / alpha) ** -alpha
    assert c.breakdown["yield"] > whole          # the two spare clusters pay off


@pytest.mark.parametrize("model", ["negative_binomial", "murphy", "poisson"])
def test_yield_models_match_their_closed_forms(model):
    a = np.array([50.0, 200.0, 400.0, 800.0])
    d0 = 0.1
    x = a * d0 / 100
    closed = {"negative_binomial": (1 + x / 2.0) ** -2.0,
              "murphy": ((1 - np.exp(-x)) / x) ** 2, "poisson": np.exp(-x)}[model]
    np.testing.assert_allclose(die_yield(a, d0, 2.0, model), closed, rtol=1e-12)
    # Harvesting with every group needed (k = 0) is the whole-die yield.
    np.testing.assert_allclose(die_yield(a, d0, 2.0, model, 10, 0, 0.6), closed, rtol=1e-12)
    # A spare group changes the yield only by the integrated k >= 1 terms: Poisson by hand.
    if model == "poisson":
        lam = d0 / 100
        au, ac = a * 0.6 / 10, a * 0.4
        q = np.exp(-lam * au)
        hand = np.exp(-lam * ac) * (q**10 + 10 * (1 - q) * q**9)
        np.testing.assert_allclose(die_yield(a, d0, 2.0, model, 10, 1, 0.6), hand, rtol=1e-12)


def test_negative_binomial_tends_to_poisson():
    a, d0 = 400.0, 0.2
    assert die_yield(a, d0, 1e4)[()] == pytest.approx(math.exp(-a * d0 / 100), rel=1e-4)


def test_a_larger_die_never_costs_less():
    rng = np.random.default_rng(0)
    area = np.sort(rng.uniform(5.0, 850.0, 400))
    for node in (28, 16, 8, 7, 5, 4, 3):
        b = cost_breakdown(area, node, 256, 32e9)
        for key in ("die_usd", "unit_usd", "cost_usd", "unit_usd_low", "unit_usd_high"):
            assert np.all(np.diff(b[key]) >= 0), (node, key)
        assert np.all(np.diff(gross_dies_per_wafer(area)) <= 0)
        assert np.all(np.diff(b["yield"]) <= 0)


@pytest.mark.parametrize("model", ["negative_binomial", "murphy", "poisson"])
def test_more_harvesting_never_lowers_yield(model):
    rng = np.random.default_rng(1)
    area = rng.uniform(50.0, 800.0, 50)
    d0 = rng.uniform(0.05, 0.5, 50)
    frac = rng.uniform(0.1, 0.9, 50)
    ys = np.stack([die_yield(area, d0, 1.5, model, 16, k, frac) for k in range(0, 17)])
    assert np.all(np.diff(ys, axis=0) >= 0)
    assert np.all((ys > 0) & (ys <= 1))
    assert np.allclose(ys[-1], 1.0 * _laplace_crit(area, d0, frac, model), rtol=1e-9)


def _laplace_crit(area, d0, frac, model):
    """Every group may fail: the yield is that of the non-unit logic alone."""
    return die_yield(area * (1 - frac), d0, 1.5, model)


def test_band_holds_the_nominal_for_every_preset():
    for name in list_chips():
        c = chip_cost(load_chip(name))
        assert 0 < c.cost_usd_low < c.cost_usd < c.cost_usd_high < math.inf, name


def test_volume_spreads_the_nre_and_the_reticle_bounds_the_die():
    b = cost_breakdown([300.0, 900.0], 5, 256, 64e9, volume_units=1e5)
    assert b["cost_usd"][0] == pytest.approx(b["unit_usd"][0] + b["nre_usd"][0] / 1e5)
    assert math.isinf(b["cost_usd"][1])       # above the 858 mm^2 reticle
    at = amortised(b, 1e7)
    assert at["cost_usd"][0] < b["cost_usd"][0]
    assert at["cost_usd_low"][0] <= at["cost_usd"][0] <= at["cost_usd_high"][0]
    with pytest.raises(ValueError, match="no cost data for node 6 nm"):
        cost_breakdown(300.0, 6, 256, 64e9)


def test_template_cost_equals_the_cost_of_its_built_chip():
    t = ChipTemplate()
    design = dict(matrix_units=24, clock_ghz=1.4, dram_bus_bits=384, sram_mib=32,
                  kv_sram_mib=8, native_moe=False, fused_nonlinear=True, phase_mode="fixed",
                  node_nm=5)
    arr = t.arrays(**design)["cost"]
    c = chip_cost(t.build_chip(**design))
    for k in ("unit_usd", "nre_usd", "cost_usd", "cost_usd_low", "cost_usd_high"):
        assert float(np.asarray(arr[k]).reshape(-1)[0]) == pytest.approx(c.breakdown[k],
                                                                          rel=1e-12)


# ---- bad cost-data files --------------------------------------------------------------------

def _write(tmp_path, edit) -> Path:
    data = yaml.safe_load(COSTS.read_text())
    edit(data)
    p = tmp_path / "costs.yaml"
    p.write_text(yaml.safe_dump(data, sort_keys=False))
    return p


@pytest.mark.parametrize("edit, expected", [
    (lambda d: d["nodes"]["5"]["wafer_usd"].update(value="cheap"),
     "costs.yaml: nodes.5.wafer_usd: 'cheap' is not a number"),
    (lambda d: d["nodes"]["7"]["defect_density_per_cm2"].update(range=[0.1, 0.2]),
     "costs.yaml: nodes.7.defect_density_per_cm2: range [0.1, 0.2] must be finite, ordered "
     "and hold the value 0.09"),
    (lambda d: d["yield"].update(model="gaussian"),
     "costs.yaml: yield.model: 'gaussian' is not one of negative_binomial, murphy, poisson"),
    (lambda d: d["wafer"].update(diameter_inch=12),
     "costs.yaml: wafer.diameter_inch: unknown field"),
    (lambda d: d.pop("nodes"), "costs.yaml: nodes: missing required section"),
    (lambda d: d["dram"].update(ddr4={"usd_per_gb": {"value": 2, "source": "x"}}),
     "costs.yaml: dram.ddr4: unknown DRAM type (known: lpddr5x, lpddr5, gddr, hbm)"),
    (lambda d: d["nodes"].update(tiny={"process": "x"}),
     "costs.yaml: nodes.tiny: node key 'tiny' is not a node size in nm"),
    (lambda d: d["wafer"].update(reticle_limit="858"),
     "costs.yaml: wafer.reticle_limit: "),
    (lambda d: d["package"]["test_usd"].update(value=-3, range=[-5, 25]),
     "costs.yaml: package.test_usd: number must be >= 0, got -3"),
])
def test_bad_cost_data_is_one_line_naming_file_and_key(tmp_path, edit, expected):
    with pytest.raises(SpecError) as exc:
        read_cost_data(_write(tmp_path, edit))
    msg = str(exc.value)
    assert "\n" not in msg and msg.startswith(expected), msg


def test_shipped_cost_data_reads():
    d = cost_data()
    assert sorted(d.nodes) == [3.0, 4.0, 5.0, 7.0, 8.0, 10.0, 16.0, 28.0]
    assert d.harvest_units_per_group["m100"] == 4


# ---- cost in the searches -------------------------------------------------------------------

def _space(**fixed):
    return tuple(Variable(v.name, fixed.get(v.name, v.options)) for v in CHIP_SPACE)


def test_cost_is_an_objective_and_a_budget(qwen05):
    space = _space(matrix_units=(8, 16, 32), clock_ghz=(1.4,), dram_bus_bits=(128, 256),
                   sram_mib=(16,), kv_sram_mib=(0,), native_moe=(False,),
                   fused_nonlinear=(True,), phase_mode=("fixed",), node_nm=(7, 5, 3))
    free = ChipSizingProblem(qwen05, Workload(), Budgets(latency_s=0.2),
                             objectives=("cost_usd", "latency_s"), space=space)
    s = free.score(np.array([[j for j in ix] for ix in np.ndindex(*free.sizes)]))
    assert np.all(np.isfinite(s["cost_usd"])) and np.all(s["cost_usd"] > 0)
    limit = float(np.median(s["cost_usd"]))
    capped = ChipSizingProblem(qwen05, Workload(), Budgets(latency_s=0.2, cost_usd=limit),
                               objectives=("cost_usd", "latency_s"), space=space)
    assert "g_cost" in capped.constraint_names
    front = run_search(capped, method="grid").front
    assert len(front) and (front["cost_usd"] <= limit).all()
    # A larger volume spreads the NRE thinner: every design gets cheaper.
    big = ChipSizingProblem(qwen05, Workload(), Budgets(latency_s=0.2),
                            objectives=("cost_usd", "latency_s"), space=space,
                            volume_units=1e7)
    s_big = big.score(np.array([[j for j in ix] for ix in np.ndindex(*big.sizes)]))
    assert np.all(s_big["cost_usd"] < s["cost_usd"])
    assert big.config()["volume_units"] == 1e7


def test_plas_cost_is_the_chip_cost():
    chip = load_chip("li-m100")
    p = PlasProblem(chip, Workload(), Budgets(latency_s=0.1, cost_usd=1e4),
                    objectives=("loss", "cost_usd"), volume_units=2e6)
    s = p.score(np.zeros((1, p.n_var), dtype=int))
    assert s["cost_usd"][0] == pytest.approx(chip_cost(chip, 2e6).cost_usd)
    assert s["g_cost"][0] < 0
    with pytest.raises(UserError, match="volume"):
        PlasProblem(chip, Workload(), Budgets(), volume_units=0)


def test_codesign_cli_takes_a_cost_budget_and_volume(tmp_path):
    r = CliRunner().invoke(main, [
        "codesign", "--model", "qwen2.5-0.5b", "--objectives", "cost_usd,latency_s",
        "--max-cost-usd", "600", "--volume", "3e6", "--method", "lhs", "--format", "csv",
        "--top", "5"])
    assert r.exit_code == 0, r.output
    header, *rows = [ln for ln in r.stdout.splitlines() if ln.strip()]
    cols = header.split(",")
    assert "cost_usd" in cols and rows
    costs = [float(row.split(",")[cols.index("cost_usd")]) for row in rows]
    assert max(costs) <= 600
    bad = CliRunner().invoke(main, ["codesign", "--model", "qwen2.5-0.5b", "--max-cost-usd",
                                    "-5"])
    assert bad.exit_code == 2 and "--max-cost-usd" in bad.output


def test_power_mode_does_not_change_the_silicon_cost():
    from chipdse import api
    from microarch.cost_usd import chip_cost

    ref = chip_cost(api.load_chip("jetson-agx-orin-64gb"))
    for mode in ("15W", "30W", "50W"):
        assert chip_cost(api.load_chip(f"jetson-agx-orin-64gb@{mode}")).cost_usd == ref.cost_usd
