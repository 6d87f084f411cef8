"""Golden tests per chip preset, and provenance: every preset number carries a source or is
labelled an assumption."""

from pathlib import Path

import pytest
import yaml

from microarch.loader import list_chips, load_chip
from microarch.schema import UNSOURCED

PRESETS = Path(__file__).resolve().parents[1] / "microarch" / "presets"

# name: (fp16 dense TFLOPS, DRAM GB/s, DRAM GB) from docs/reference/chips.md (see each file)
GOLDEN = {
    "jetson-agx-orin-64gb": (42.5, 204.8, 64),
    "jetson-agx-orin-32gb": (26.7, 204.8, 32),
    "jetson-orin-nx-16gb": (19.2, 102.4, 16),
    "jetson-orin-nano-8gb": (16.7, 102.0, 8),
    "drive-orin-x": (42.5, 200.0, 32),
    "jetson-agx-thor": (258.5, 273.0, 128),
    "jetson-t4000": (149.9, 273.0, 64),
    "drive-thor-u": (175.0, 273.0, 64),
    "dgx-spark": (125.0, 273.0, 128),
    "li-m100": (147.5, 273.0, 64),
    "nio-nx9031": (245.8, 546.0, 64),
    "xpeng-turing": (184.3, 273.0, 64),
    "a100-80gb": (312.0, 2039.0, 80),
    "h100-sxm": (989.4, 3350.0, 80),
    "rtx-4090": (165.2, 1008.0, 24),
}


def test_all_presets_listed():
    assert sorted(GOLDEN) == list_chips()


@pytest.mark.parametrize("name", sorted(GOLDEN))
def test_golden_peaks(name):
    c = load_chip(name)
    fp16, bw, cap = GOLDEN[name]
    assert c.matrix.peak("fp16") / 1e12 == pytest.approx(fp16, rel=2e-3)
    assert c.dram.bandwidth_bytes_per_s / 1e9 == pytest.approx(bw, rel=1e-9)
    assert c.dram.capacity_bytes / 1e9 == pytest.approx(cap, rel=1e-9)
    assert c.name == name


def _leaves(node, path=""):
    if isinstance(node, dict):
        if "value" in node:
            yield path, node
            return
        for k, v in node.items():
            yield from _leaves(v, f"{path}.{k}" if path else str(k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from _leaves(v, f"{path}[{i}]")
    else:
        yield path, node


def _is_number(v) -> bool:
    if isinstance(v, bool):
        return False
    if isinstance(v, (int, float)):
        return True
    return isinstance(v, str) and v[:1].isdigit()


@pytest.mark.parametrize("path", sorted(PRESETS.glob("*.yaml")), ids=lambda p: p.stem)
def test_every_number_has_provenance(path):
    data = yaml.safe_load(path.read_text())
    bare = []
    for where, v in _leaves(data):
        if isinstance(v, dict):
            if not (v.get("source") or v.get("assumption")):
                bare.append(where)
        elif (_is_number(v) and not where.endswith("node_nm") and where.split(".")[-1] != "name"
              and ".correlations[" not in where):  # a fit's output, beside its terms' sources
            bare.append(where)
    assert not bare, f"{path.name}: numbers without source or assumption: {bare}"


@pytest.mark.parametrize("name", sorted(GOLDEN))
def test_loader_records_no_unsourced_numbers(name):
    c = load_chip(name)
    assert [k for k, v in c.sources.items() if v == UNSOURCED] == []


def test_fallback_formats():
    orin, thor = load_chip("jetson-agx-orin-64gb"), load_chip("jetson-agx-thor")
    assert orin.matrix.execution_format("fp8") == "fp16"   # Ampere has no FP8 tensor cores
    assert orin.matrix.execution_format("nvfp4") == "fp16"
    assert thor.matrix.execution_format("nvfp4") == "nvfp4"
    assert thor.matrix.execution_format("int4") == "int8"  # integers never run as FP4


@pytest.mark.parametrize("path", sorted(PRESETS.glob("*.yaml")), ids=lambda p: p.stem)
def test_every_assumed_number_states_its_range(path):
    """An assumed number (an efficiency, overhead, clock, energy or any other guess) carries
    the range it may take (``range: [lo, hi]``), or says which assumed number it is derived
    from (``scales_with``): the uncertainty of every answer is sampled from these."""
    data = yaml.safe_load(path.read_text())
    bare = [where for where, v in _leaves(data)
            if isinstance(v, dict) and v.get("assumption") and _is_number(v.get("value"))
            and "range" not in v and "scales_with" not in v]
    assert not bare, f"{path.name}: assumptions without a range: {bare}"
