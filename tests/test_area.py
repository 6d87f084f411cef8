"""Area and power model: hand-derived constants, checks against published silicon, and the
parametric chip template."""

import numpy as np
import pytest

from microarch.area import (
    AUTOMOTIVE_UNCORE_MM2,
    AreaSpec,
    area_breakdown,
    dies,
    int8_lane_um2,
    logic_density_mtr_per_mm2,
    orin_area_check,
    published_checks,
    sram_mm2_per_mib,
    total_area_mm2,
)
from microarch.chip import PhaseMode
from microarch.loader import load_chip
from microarch.power import (
    LEAKAGE_W_PER_MM2,
    chip_peak_power_w,
    cpu_power_w,
    leakage_power_w,
    peak_power_w,
)
from microarch.template import VARIABLES, ChipTemplate

DESIGN = dict(matrix_units=16, clock_ghz=1.4, dram_bus_bits=256, sram_mib=32, kv_sram_mib=16,
              native_moe=True, fused_nonlinear=True, phase_mode="reconfigurable", node_nm=5)


def test_constants_by_hand():
    # TPU v1: 24 % of a 331 mm^2 die for 65,536 INT8 MACs at 28 nm.
    assert float(int8_lane_um2(28)) == pytest.approx(0.24 * 331e6 / 65536, rel=1e-9)
    # N5 lane = 28 nm lane x (14.44 / 171.3) logic-density ratio.
    assert float(int8_lane_um2(5)) == pytest.approx(1212.158 * 14.44 / 171.3, rel=1e-4)
    # N5 SRAM: 2^23 bits x 0.021 um^2 x TPU-v1 block factor 96/25.57.
    factor = 0.29 * 331 / (24 * 2**20 * 8 * 0.127e-6)
    assert factor == pytest.approx(3.75, abs=0.01)
    assert float(sram_mm2_per_mib(5)) == pytest.approx(2**23 * 0.021e-6 * factor, rel=1e-9)
    assert float(logic_density_mtr_per_mm2(4)) == pytest.approx(171.3 * 1.06)


def test_scaling_is_monotone_in_node():
    nodes = np.array([3, 4, 5, 7, 8, 10, 16, 28])
    assert np.all(np.diff(int8_lane_um2(nodes)) > 0)
    assert np.all(np.diff(sram_mm2_per_mib(nodes)) >= 0)  # N3E/N4/N5 share a bitcell


def test_breakdown_sums_and_broadcasts():
    spec = AreaSpec(node_nm=np.array([5, 7]), int8_mac_lanes=np.array([65536, 65536]),
                    vector_lanes=2048, sram_bytes=32 * 2**20, dram_bus_bits=256,
                    cpu_cores={"a78ae": 8}, uncore_mm2=100.0, native_moe=True)
    b = area_breakdown(spec)
    parts = sum(v for k, v in b.items() if k != "total_mm2")
    assert np.allclose(b["total_mm2"], parts)
    assert b["total_mm2"].shape == (2,) and b["total_mm2"][1] > b["total_mm2"][0]
    assert np.allclose(b["dram_phy_mm2"], 16 * 1.25)
    assert np.allclose(b["engines_mm2"], 0.02 * (b["matrix_mm2"] + b["vector_mm2"]))


def test_bad_specs_are_rejected():
    with pytest.raises(ValueError, match="float_formats"):
        AreaSpec(5, 1, 1, 1, 1, float_formats=("fp64",))
    with pytest.raises(ValueError, match="core class"):
        AreaSpec(5, 1, 1, 1, 1, cpu_cores={"pentium": 1})
    with pytest.raises(ValueError, match="sram_bytes"):
        AreaSpec(5, 1, 1, -1, 1)


def test_published_dies_leave_one_out():
    """Thor-U 415 mm^2 (N4) and M100 399.8 mm^2 (N5A): with the uncore residual of the *other*
    chip the model lands within 15 %; with the mean residual within 8 %."""
    rows = {r["die"]: r for r in published_checks()}
    assert set(rows) == {"thor", "m100"}
    for name, r in rows.items():
        assert abs(r["cross_error"]) < 0.15, (name, r["cross_mm2"])
        d = dies()[name]
        own = float(total_area_mm2(d.spec(AUTOMOTIVE_UNCORE_MM2)))
        assert abs(own / d.published_area_mm2 - 1) < 0.08, (name, own)
    # The modelled blocks explain a large share of each die, not a token one.
    assert all(r["modelled_mm2"] > 120 for r in rows.values())


def test_orin_against_transistor_count_estimate():
    chk = orin_area_check()
    assert chk["transistor_estimate_mm2"] == pytest.approx(17e9 / (28.3e9 / 628.4))
    assert 0.85 < chk["ratio"] < 1.15


def test_power_against_module_limits():
    """AGX Orin is rated up to 60 W and AGX Thor up to 130 W (module maxima)."""
    orin = chip_peak_power_w(load_chip("jetson-agx-orin-64gb"), {"a78ae": 12})
    thor = chip_peak_power_w(load_chip("jetson-agx-thor"), {"v3ae": 14})
    assert orin["total_w"] == pytest.approx(60, rel=0.15)
    assert thor["total_w"] == pytest.approx(130, rel=0.15)
    assert np.isclose(orin["total_w"], sum(v for k, v in orin.items() if k != "total_w"))


def test_power_pieces_by_hand():
    p = peak_power_w(1e12, 1e-12, 0.0, 0.0, 100e9, 32e-12, 0.0, 0.0, 5.0, 2.0)
    assert p["matrix_w"] == pytest.approx(2.0)          # 1 W x datapath factor 2
    assert p["dram_w"] == pytest.approx(3.2)
    assert p["total_w"] == pytest.approx(2.0 + 3.2 + 5 + 2)
    assert float(leakage_power_w(400)) == pytest.approx(400 * LEAKAGE_W_PER_MM2)
    assert cpu_power_w({"a78ae": 2, "v3ae": 1}) == pytest.approx(6.0)
    with pytest.raises(ValueError, match="unknown CPU"):
        cpu_power_w({"z80": 1})


def test_template_chip_agrees_with_arrays():
    t = ChipTemplate()
    chip = t.build_chip(**DESIGN)
    a = t.arrays(**DESIGN)
    assert chip.matrix.peak("int8") == pytest.approx(16 * 4096 * 2 * 1.4e9)
    assert chip.matrix.peak("fp16") == pytest.approx(chip.matrix.peak("int8") / 2)
    assert chip.dram.bandwidth_bytes_per_s == pytest.approx(256 / 8 * 8533e6)  # 273 GB/s
    assert chip.dram.capacity_bytes == pytest.approx(64e9)
    assert chip.kv_sram.capacity_bytes == 16 * 2**20
    assert chip.sram_bytes == 32 * 2**20
    assert chip.phase.mode is PhaseMode.RECONFIGURABLE and chip.sparse.native_moe
    assert chip.technology.die_area_mm2 == pytest.approx(float(a["area"]["total_mm2"]))
    assert chip.technology.static_power_w == pytest.approx(
        float(a["area"]["total_mm2"]) * LEAKAGE_W_PER_MM2)
    assert chip.technology.tdp_w == pytest.approx(float(a["peak_power"]["total_w"]))


def test_template_population_is_vectorised_and_monotone():
    t = ChipTemplate()
    n = len(VARIABLES["matrix_units"])
    pop = {k: np.repeat(np.asarray([DESIGN[k]], dtype=object if isinstance(DESIGN[k], str)
                                   else None), n) for k in VARIABLES}
    pop["matrix_units"] = np.asarray(VARIABLES["matrix_units"])
    a = t.arrays(**pop)
    assert a["area"]["total_mm2"].shape == (n,)
    assert np.all(np.diff(a["area"]["total_mm2"]) > 0)
    assert np.all(np.diff(a["figures"].matrix_peak_ops_per_s["int8"]) > 0)
    assert np.all(np.diff(a["peak_power"]["total_w"]) > 0)
    with pytest.raises(ValueError, match="phase mode"):
        t.arrays(**{**DESIGN, "phase_mode": "turbo"})
    with pytest.raises(ValueError, match="missing"):
        t.arrays(**{k: v for k, v in DESIGN.items() if k != "node_nm"})
    with pytest.raises(ValueError, match="families.yaml"):
        ChipTemplate(family="nope").arrays(**DESIGN)
