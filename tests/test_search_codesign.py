"""Chip sizing and joint co-design on the parametric template, against the Orin and Thor presets
for the driving workload (batch 1, 1,024 prompt tokens, 16 generated, 100 ms total).

The comparison is made at equal or lower die area and peak power: the presets' PLAS fronts
(loss vs latency on the fixed chip) against the co-design front of template chips that keep
the preset's node, DRAM bus, CPU cluster and uncore, but may size their compute and SRAM and add
native MoE routing, fused non-linear pipelines and KV SRAM.
"""

import pytest
from click.testing import CliRunner

from chipdse.cli import main
from chipdse.commands.search import COMMANDS
from chipdse.search import (
    Budgets,
    ChipSizingProblem,
    CoDesignProblem,
    PlasProblem,
    Workload,
    dominated_share,
    run_search,
)
from chipdse.search.space import CHIP_SPACE, Variable
from microarch.area import AUTOMOTIVE_UNCORE_MM2, dies, orin_area_check, total_area_mm2
from microarch.template import ChipTemplate

for _cmd in COMMANDS:
    if _cmd.name not in main.commands:
        main.add_command(_cmd)


def chip_space(**fixed):
    return tuple(Variable(v.name, fixed.get(v.name, v.options)) for v in CHIP_SPACE)


def test_sizing_trades_latency_for_area(qwen05):
    space = chip_space(matrix_units=(4, 8, 16, 32), clock_ghz=(1.0, 1.6),
                       dram_bus_bits=(128, 256, 512), sram_mib=(8, 32), kv_sram_mib=(0, 16),
                       phase_mode=("fixed",), node_nm=(5,))
    p = ChipSizingProblem(qwen05, Workload(), Budgets(latency_s=0.2), space=space)
    res = run_search(p)                 # 384 designs: enumerated
    assert res.method == "grid" and res.n_evaluated == p.grid_size == 384
    front = res.front.sort_values("area_mm2")
    assert len(front) >= 3
    # Along the front, more area buys lower latency or energy, never neither.
    small, big = front.iloc[0], front.iloc[-1]
    assert big["latency_s"] < small["latency_s"] or big["energy_j"] < small["energy_j"]
    # Wider DRAM always helps this bandwidth-bound decode.
    by_bus = res.frame.groupby("dram_bus_bits")["decode_s"].min()
    assert by_bus.is_monotonic_decreasing
    assert (res.frame["loss"] == res.frame["loss"].iloc[0]).all()  # the model is fixed


CASES = {
    "jetson-agx-orin-64gb": dict(area=orin_area_check()["model_mm2"], node=8,
                                 cpu={"a78ae": 12}, uncore=AUTOMOTIVE_UNCORE_MM2),
    "jetson-agx-thor": dict(area=415.0, node=4, cpu={"v3ae": 14},
                            uncore=415.0 - float(total_area_mm2(dies()["thor"].spec()))),
}


@pytest.mark.parametrize("name", list(CASES))
def test_codesign_dominates_the_preset_at_equal_area_and_power(name):
    from microarch.loader import load_chip

    c = CASES[name]
    chip = load_chip(name)
    preset = run_search(PlasProblem(chip, Workload(), Budgets(latency_s=0.1))).front
    template = ChipTemplate(family="m100", cpu_cores=c["cpu"], uncore_mm2=c["uncore"])
    p = CoDesignProblem(Workload(), Budgets(latency_s=0.1, area_mm2=c["area"],
                                            power_w=chip.technology.tdp_w),
                        objectives=("loss", "latency_s"), template=template,
                        chip_space=chip_space(node_nm=(c["node"],), dram_bus_bits=(256,)))
    res = run_search(p, method="nsga2", pop_size=100, generations=40, seed=0)
    front = res.front
    assert (front["area_mm2"] <= c["area"]).all()
    assert (front["power_w"] <= chip.technology.tdp_w).all()
    assert dominated_share(front, preset, ["loss", "latency_s"]) >= 0.9
    assert front["loss"].min() < preset["loss"].min()


def test_cli_codesign_and_sizing(tmp_path):
    runner = CliRunner()
    r = runner.invoke(main, ["-v", "codesign", "--budget-area", "400mm2", "--budget-power",
                             "80W", "--pop", "16", "--generations", "3", "--format", "csv",
                             "-o", str(tmp_path / "cd")])
    assert r.exit_code == 0, r.output
    assert "nsga2 generation 3/3" in r.stderr  # every generation with -v
    r = runner.invoke(main, ["codesign", "--budget-area", "400mm2", "--pop", "16",
                             "--generations", "3", "-o", str(tmp_path / "cd2")])
    assert r.exit_code == 0 and "generation" not in r.stderr  # not a terminal: no line spam
    r = runner.invoke(main, ["-q", "codesign", "--budget-area", "400mm2", "--pop", "16",
                             "--generations", "3", "-o", str(tmp_path / "cd3")])
    assert r.exit_code == 0 and "wrote" not in r.stderr and "note:" not in r.stderr
    r = runner.invoke(main, ["codesign", "--model", "qwen2.5-0.5b", "--pop", "16",
                             "--generations", "2", "--objectives", "latency_s,area_mm2",
                             "--format", "json"])
    assert r.exit_code == 0, r.output
    r = runner.invoke(main, ["codesign", "--family", "nope"])
    assert r.exit_code == 2 and "--family" in r.output
    r = runner.invoke(main, ["codesign", "--objectives", "loss,speed"])
    assert r.exit_code == 2 and "unknown objective" in r.output


def test_template_energy_keeps_falling_below_7nm():
    """Matrix, vector and SRAM energies at 5, 4 and 3 nm follow the foundry's iso-speed power
    steps from 7 nm (N5 -30 % vs N7, N4 -10 % vs N5 (assumption), N3E -34 % vs N5)."""
    import numpy as np

    t = ChipTemplate()
    base = dict(matrix_units=8, clock_ghz=1.0, dram_bus_bits=256, sram_mib=32, kv_sram_mib=0,
                native_moe=False, fused_nonlinear=False, phase_mode="fixed")
    nodes = np.array([7, 5, 4, 3])
    a = t.arrays(**base, node_nm=nodes)
    f = a["figures"]
    for e in (f.matrix_j_per_op["int8"], f.vector_j_per_op, f.sram_j_per_byte):
        e = np.asarray(e, float)
        assert e[1] / e[0] == pytest.approx(0.70)
        assert e[2] / e[1] == pytest.approx(0.90)
        assert e[3] / e[1] == pytest.approx(0.66)
