"""Bad inputs end in one line and exit status 2, never a traceback: chip-file values the loader
must reject, files that cannot be written, and JSON output that must stay strict JSON."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from chipdse import io
from chipdse.cli import main
from chipdse.errors import UserError
from microarch import loader as chip_loader
from microarch.loader import chip_from_dict, load_families

BASE = Path(__file__).resolve().parents[1] / "microarch" / "presets" / "jetson-agx-orin-64gb.yaml"
CALIBRATION = Path(__file__).parent / "data" / "calibration.csv"
KNOWN = "(known: fp32, bf16, fp16, fp8, int8, int4, nvfp4, mxfp4, fp4)"


def base() -> dict:
    return yaml.safe_load(BASE.read_text())


def run(*args: str):
    return CliRunner().invoke(main, [str(a) for a in args])


def lines_of(result) -> list[str]:
    return [x for x in result.output.splitlines() if x.strip()]


def _set(path: str, value):
    """A mutation setting ``path`` ("memory.0.capacity") of the chip mapping to ``value``."""
    def mutate(d: dict) -> None:
        *head, last = path.split(".")
        node = d
        for k in head:
            node = node[int(k)] if isinstance(node, list) else node.setdefault(k, {})
        if isinstance(node, list):
            node[int(last)] = value
        else:
            node[last] = value
    return mutate


def _two_dram_levels(d: dict) -> None:
    d["memory"][1]["kind"] = "dram"


# (mutation, the one expected error line, or its start when the rest is long)
CHIP_MUTATIONS = {
    "efficiency-dram-zero": (_set("efficiency", {"dram": 0}),
                             "bad.yaml: efficiency.dram: number must be > 0, got 0"),
    "dispatch-negative": (_set("dispatch", {"per_operator": "-1 us"}),
                          "bad.yaml: dispatch.per_operator: time must be >= 0, got -1e-06"),
    "sparse-overhead-negative": (
        _set("sparse.per_expert_overhead", "-1 us"),
        "bad.yaml: sparse.per_expert_overhead: time must be >= 0, got -1e-06"),
    "reconfiguration-negative": (
        _set("phase.reconfiguration_latency", "-1 ms"),
        "bad.yaml: phase.reconfiguration_latency: time must be >= 0, got -0.001"),
    "conversion-ops-negative": (
        _set("quant.conversion_ops_per_element", -1),
        "bad.yaml: quant.conversion_ops_per_element: number must be >= 0, got -1"),
    "static-power-nan": (_set("technology.static_power", math.nan),
                         "bad.yaml: technology.static_power: power must be finite, got nan"),
    "capacity-inf": (_set("memory.0.capacity", math.inf),
                     "bad.yaml: memory[0].capacity: capacity must be finite, got inf"),
    "efficiency-vector-inf": (_set("efficiency", {"vector": -math.inf}),
                              "bad.yaml: efficiency.vector: number must be finite, got -inf"),
    "energy-unknown-format": (
        _set("energy", {"matrix_per_op": {"fp5": "1 pJ/op"}, "vector_per_op": "0.5 pJ/op"}),
        f"bad.yaml: energy.matrix_per_op.fp5: unknown numeric format 'fp5' {KNOWN}"),
    "efficiency-unknown-format": (
        _set("efficiency", {"matrix": {"fp5": 0.5}}),
        f"bad.yaml: efficiency.matrix.fp5: unknown numeric format 'fp5' {KNOWN}"),
    "peak-unknown-format": (
        _set("matrix.peak_dense.fp5", "1 TFLOPS"),
        f"bad.yaml: matrix.peak_dense.fp5: unknown numeric format 'fp5' {KNOWN}"),
    "peak-bare-number": (
        _set("matrix.peak_dense.fp16", 42.5),
        "bad.yaml: matrix.peak_dense.fp16: 42.5 has no unit; a throughput needs one, "
        "e.g. '42.5 TFLOPS'"),
    "clock-bare-number-with-source": (
        _set("technology.clock", {"value": 1.3e9, "source": "datasheet"}),
        "bad.yaml: technology.clock: 1300000000.0 has no unit; a frequency needs one, "
        "e.g. '1.3 GHz'"),
    "capacity-bare-number": (
        _set("memory.0.capacity", 64e9),
        "bad.yaml: memory[0].capacity: 64000000000.0 has no unit; a capacity needs one, "
        "e.g. '64 GB' or '4 MiB'"),
    "capacity-null": (_set("memory.0.capacity", None),
                      "bad.yaml: memory[0].capacity: needs a value (got null)"),
    "clock-no-number": (_set("technology.clock", "x GHz"),
                        "bad.yaml: technology.clock: 'x GHz' is not a frequency "
                        "(expected e.g. '1.3 GHz')"),
    # Caught by the dataclass constructors, reported at the field the user wrote.
    "phase-share-one": (_set("phase.prefill_compute_share", 1),
                        "bad.yaml: phase.prefill_compute_share: must be in (0, 1), got 1.0"),
    "two-dram-levels": (_two_dram_levels,
                        "bad.yaml: memory: needs exactly one dram level, got 2"),
    "unknown-die": (_set("technology.die", "gb202"),
                    "bad.yaml: technology.die: unknown die 'gb202' (known: thor, m100, orin, "
                    "nx9031, turing)"),
    "cores-fractional": (_set("matrix.cores", {"value": 15.5, "source": "x"}),
                         "bad.yaml: matrix.cores: 15.5 is not an integer"),
    "range-without-the-value": (
        _set("technology.clock", {"value": "1.3 GHz", "assumption": "x",
                                  "range": ["1.4 GHz", "1.6 GHz"]}),
        "bad.yaml: technology.clock: range [1.4e+09, 1.6e+09] must be finite, ordered and "
        "hold the value 1.3e+09"),
    "range-wrong-unit": (
        _set("technology.clock", {"value": "1.3 GHz", "assumption": "x",
                                  "range": ["1 GB", "2 GHz"]}),
        "bad.yaml: technology.clock: range: '1 GB' is not a frequency (expected e.g. '1.3 GHz')"),
}


@pytest.mark.parametrize("case", sorted(CHIP_MUTATIONS))
def test_bad_chip_value_is_one_line_exit_2(tmp_path, case):
    mutate, expected = CHIP_MUTATIONS[case]
    d = base()
    mutate(d)
    p = tmp_path / "bad.yaml"
    p.write_text(yaml.safe_dump(d))
    r = run("estimate", "--chip", p, "--model", "qwen3-0.6b")
    assert r.exit_code == 2, r.output
    assert "Traceback" not in r.output
    assert lines_of(r) == [f"error: {expected}"]


def test_every_problem_reported_once_before_anything_is_built():
    d = base()
    d["efficiency"] = {"dram": 0, "sram": math.nan}
    d["dispatch"] = {"per_operator": "-1 us"}
    d["memory"][0]["capacity"] = math.inf
    d["matrix"]["peak_dense"]["fp16"] = 42.5
    with pytest.raises(chip_loader.SpecError) as exc:
        chip_from_dict(d, "bad.yaml")
    paths = [e.split(": ")[1] for e in exc.value.errors]
    assert sorted(paths) == sorted(["efficiency.dram", "efficiency.sram", "dispatch.per_operator",
                                    "memory[0].capacity", "matrix.peak_dense.fp16"])


def test_absent_optional_fields_keep_their_defaults():
    d = base()  # sparse section without per_expert_overhead: the family's 5 us is inherited
    assert "per_expert_overhead" not in d["sparse"]
    chip = chip_from_dict(d, "ok.yaml")
    assert chip.sparse.per_expert_overhead_s == pytest.approx(5e-6)
    assert chip.phase.reconfiguration_latency_s == 0.0
    assert chip.dispatch.per_operator_s == load_families()["orin"]["dispatch"].per_operator_s


def test_all_built_in_files_write_units():
    # Every built-in chip and family loads under the rule that quantities carry units.
    load_families.cache_clear()
    for name in chip_loader.list_chips():
        assert chip_loader.load_chip(name).name == name


def test_bad_family_file_is_one_line_per_problem(tmp_path, monkeypatch):
    fam = yaml.safe_load((chip_loader._preset_dir() / "families.yaml").read_text())
    fam["orin"]["dispatch"]["per_operator"] = 4.95e-6
    fam["thor"]["efficiency"]["dram"] = 1.5
    (tmp_path / "families.yaml").write_text(yaml.safe_dump(fam, sort_keys=False))
    monkeypatch.setattr(chip_loader, "_preset_dir", lambda: tmp_path)
    load_families.cache_clear()
    try:
        with pytest.raises(chip_loader.SpecError) as exc:
            load_families()
    finally:
        monkeypatch.undo()
        load_families.cache_clear()
    assert exc.value.errors == [
        "families.yaml: orin.dispatch.per_operator: 4.95e-06 has no unit; a time needs one, "
        "e.g. '100 ms'",
        "families.yaml: thor.efficiency.dram: 1.5 is outside [0, 1]",
    ]


# ---- files that cannot be written ------------------------------------------------------------

@pytest.fixture()
def blocked(tmp_path) -> Path:
    """A directory path that cannot be created: its parent is a regular file."""
    f = tmp_path / "a-file"
    f.write_text("x")
    return f / "sub"


def test_roofline_unsupported_suffix(tmp_path):
    out = tmp_path / "x.txt"
    r = run("roofline", "--chip", "jetson-agx-orin-64gb", "--model", "qwen3-0.6b", "-o", out)
    assert r.exit_code == 2
    assert lines_of(r) == [f"error: cannot write {out}: unsupported figure format ('.txt'); "
                           "use .png, .pdf, .svg"]
    assert not out.exists()


def test_roofline_unwritable_path(blocked):
    out = blocked / "x.png"
    r = run("roofline", "--chip", "jetson-agx-orin-64gb", "--model", "qwen3-0.6b", "-o", out)
    assert r.exit_code == 2
    (line,) = lines_of(r)
    assert line.startswith(f"error: cannot write {out}: ")


def test_roofline_svg_is_written(tmp_path):
    out = tmp_path / "roof.svg"
    r = run("roofline", "--chip", "jetson-agx-orin-64gb", "--model", "qwen3-0.6b", "-o", out)
    assert r.exit_code == 0, r.output
    assert out.read_text().lstrip().startswith("<?xml")


def test_estimate_output_is_a_directory(tmp_path):
    r = run("estimate", "--chip", "jetson-agx-orin-64gb", "--model", "qwen3-0.6b",
            "-o", tmp_path)
    assert r.exit_code == 2
    assert "is a directory" in r.output and "Traceback" not in r.output


def test_estimate_output_unwritable(blocked):
    out = blocked / "e.json"
    r = run("estimate", "--chip", "jetson-agx-orin-64gb", "--model", "qwen3-0.6b",
            "--format", "json", "-o", out)
    assert r.exit_code == 2
    assert lines_of(r)[-1].startswith(f"error: cannot write {out}: ")


def test_calibrate_family_block_unwritable(tmp_path, blocked):
    csv = tmp_path / "orin.csv"
    lines = CALIBRATION.read_text(encoding="utf-8").splitlines()
    csv.write_text("\n".join([lines[0], *[x for x in lines[1:]
                                          if x.startswith("Jetson AGX Orin 64GB")]]) + "\n")
    out = blocked / "family.yaml"
    r = run("calibrate", "--chip", "jetson-agx-orin-64gb", "--measurements", csv,
            "--family-block", out)
    assert r.exit_code == 2
    assert "Traceback" not in r.output
    assert lines_of(r)[-1].startswith(f"error: cannot write {out}: ")


def test_io_errors_are_user_errors(tmp_path, blocked):
    import matplotlib.pyplot as plt

    with pytest.raises(UserError, match="is a directory"):
        io.write_text(tmp_path, "x")
    with pytest.raises(UserError, match=r"^cannot write .*a-file/sub/x\.csv: "):
        io.write_text(blocked / "x.csv", "x")
    fig = plt.figure()
    with pytest.raises(UserError, match="unsupported figure format"):
        io.save_figure(fig, tmp_path / "f.jpeg")
    assert not plt.fignum_exists(fig.number)  # closed even when refused
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a-file"]  # no temporary left


# ---- strict JSON ------------------------------------------------------------------------------

def _strict(text: str):
    def refuse(token: str):
        raise ValueError(f"non-standard JSON constant {token}")
    return json.loads(text, parse_constant=refuse)


def test_estimate_json_without_decode_is_strict(tmp_path):
    out = tmp_path / "e.json"
    r = run("estimate", "--chip", "jetson-agx-orin-64gb", "--model", "qwen3-0.6b",
            "--generate", "0", "--format", "json", "-o", out)
    assert r.exit_code == 0, r.output
    d = _strict(r.output)
    assert d["decode_s_per_token"] is None and d["decode_tokens_per_s"] is None
    assert d["prefill_s"] > 0
    assert _strict(out.read_text()) == d


def test_calibrate_json_is_strict(tmp_path):
    csv = tmp_path / "orin.csv"
    lines = CALIBRATION.read_text(encoding="utf-8").splitlines()
    csv.write_text("\n".join([lines[0], *[x for x in lines[1:]
                                          if x.startswith("Jetson AGX Orin 64GB")]]) + "\n")
    r = CliRunner().invoke(main, ["calibrate", "--chip", "jetson-agx-orin-64gb",
                                  "--measurements", str(csv), "--format", "json"])
    assert r.exit_code == 0, r.output
    d = _strict(r.stdout)
    # Terms the four rows cannot identify have no spread: null, not NaN.
    assert any(t["std"] is None for t in d["terms"])
    assert all(t["std"] is None or math.isfinite(t["std"]) for t in d["terms"])


def test_json_helpers_map_non_finite_to_null(tmp_path):
    import numpy as np

    obj = {"a": math.nan, "b": [1.0, math.inf, {"c": -math.inf}], "d": np.float64("nan"),
           "e": np.array([1.0, np.nan]), "f": (np.float32(2.5), None), "g": 3}
    expected = {"a": None, "b": [1.0, None, {"c": None}], "d": None, "e": [1.0, None],
                "f": [2.5, None], "g": 3}
    assert _strict(io.json_dumps(obj)) == expected
    p = io.write_json(tmp_path / "x.json", obj)
    assert _strict(p.read_text()) == expected
