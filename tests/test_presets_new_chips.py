"""The NIO Shenji NX9031 and XPeng Turing presets: their disclosed numbers as sourced, their
assumed NPU rates derived as their files say, the marketed TOPS figure explained, and both
treated as transfer devices (no family term is fitted to them)."""

import pytest
import yaml

from chipdse.calibrate.measurements import CALIBRATION_CHIPS
from chipdse.uncertainty import fitted_on, prediction_error
from microarch.area import LPDDR_MT_PER_S, chip_area_mm2, chip_area_spec, dies
from microarch.cost_usd import chip_cost
from microarch.loader import load_chip, preset_path

NEW = ("nio-nx9031", "xpeng-turing")


def test_nx9031_disclosed_memory_and_derived_bus():
    c = load_chip("nio-nx9031")
    assert c.dram.bandwidth_bytes_per_s == pytest.approx(546e9)
    # 546 GB/s at LPDDR5X 8,533 MT/s is a 512-bit bus: the die's and the area model's.
    bits = 546e9 * 8 / LPDDR_MT_PER_S["lpddr5x"]
    assert bits == pytest.approx(512, rel=1e-3)
    assert dies()["nx9031"].dram_bus_bits == 512 == chip_area_spec(c).dram_bus_bits
    assert c.technology.node_nm == 5 and dies()["nx9031"].transistors == 50e9


@pytest.mark.parametrize("name, units, marketed_sparse_tops", [
    ("nio-nx9031", 40, 4 * 254),     # "one NX9031 = four Orin-X"
    ("xpeng-turing", 30, 750),       # "750 TOPS = three Orin-X"
])
def test_assumed_dense_int8_is_half_the_marketed_sparse_figure(name, units, marketed_sparse_tops):
    """Each preset reads its marketed figure as sparse INT8 in Orin-X's currency: the dense
    INT8 rate it assumes is units x 4,096 MAC x 2 ops x 1.5 GHz, within 4 % of half of it."""
    c = load_chip(name)
    dense = c.matrix.peak("int8")
    assert dense == pytest.approx(units * 4096 * 2 * 1.5e9, rel=1e-3)
    assert dense / 1e12 == pytest.approx(marketed_sparse_tops / 2, rel=0.04)
    assert c.matrix.peak("fp16") == pytest.approx(dense / 2, rel=1e-3)
    assert c.matrix.peak("int4") == pytest.approx(dense * 2, rel=1e-3)
    assert c.matrix.sparse_2_4_speedup == 1.0
    assert c.matrix.cores == units == dies()[c.technology.die].physical_units
    text = preset_path(name).read_text()
    assert "dense" in text.lower() and "sparse" in text.lower() and "INT8" in text


def test_turing_disclosed_memory():
    c = load_chip("xpeng-turing")
    assert c.dram.bandwidth_bytes_per_s == pytest.approx(273e9)
    assert c.dram.capacity_bytes == pytest.approx(64e9)
    assert chip_area_spec(c).dram_bus_bits == 256 == dies()["turing"].dram_bus_bits


def test_nx9031_assumed_area_agrees_with_the_area_model():
    """The die area assumed from the transistor count (406 mm^2) and the area model's sizing
    of the assumed contents (blocks + automotive uncore) agree within 5 %."""
    c = load_chip("nio-nx9031")
    assert c.technology.die_area_mm2 == pytest.approx(406.0)
    assert chip_area_mm2(c) == pytest.approx(406.0, rel=0.05)


@pytest.mark.parametrize("name", NEW)
def test_new_presets_are_transfer_devices(name):
    c = load_chip(name)
    assert name not in CALIBRATION_CHIPS
    role, sigma = prediction_error(c)
    assert role == "transfer" and not fitted_on(c)
    assert sigma["decode"] > 0 and sigma["prefill"] > 0


@pytest.mark.parametrize("name", NEW)
def test_every_undisclosed_number_is_a_ranged_assumption(name):
    """The NPU numbers nobody published are assumptions (ranged or derived from one); the
    disclosed ones carry a source."""
    data = yaml.safe_load(preset_path(name).read_text())
    for key in ("int8", "fp16", "int4"):
        leaf = data["matrix"]["peak_dense"][key]
        assert leaf.get("assumption") and leaf.get("scales_with") == "technology.clock"
    clock = data["technology"]["clock"]
    assert clock.get("assumption") and clock.get("range")
    assert data["memory"][0]["bandwidth"].get("source")


@pytest.mark.parametrize("name", NEW)
def test_new_presets_are_priced(name):
    c = chip_cost(load_chip(name))
    assert c.node_nm == 5 and c.dram_kind == "lpddr5x" and c.spare_groups == 0
    assert 300 < c.cost_usd_low < c.cost_usd < c.cost_usd_high < 3000
