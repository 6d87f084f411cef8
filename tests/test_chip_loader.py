"""Bad chip files: each problem is one line naming the file and the field path."""

import json
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from chipdse.cli import main
from microarch.loader import chip_from_dict, load_chip
from microarch.schema import SpecError

BASE = Path(__file__).resolve().parents[1] / "microarch" / "presets" / "jetson-agx-orin-64gb.yaml"


def base() -> dict:
    return yaml.safe_load(BASE.read_text())


def errors_of(data: dict) -> list[str]:
    with pytest.raises(SpecError) as exc:
        chip_from_dict(data, "bad.yaml")
    return exc.value.errors


def test_wrong_unit_names_file_and_field():
    d = base()
    d["memory"][0]["bandwidth"] = "204.8 GB"
    errs = errors_of(d)
    assert errs == ["bad.yaml: memory[0].bandwidth: '204.8 GB' is not a bandwidth "
                    "(expected e.g. '204.8 GB/s')"]


def test_unknown_field_rejected():
    d = base()
    d["matrix"]["turbo"] = True
    assert errors_of(d) == ["bad.yaml: matrix.turbo: unknown field"]


@pytest.mark.parametrize("value", ["0 GB/s", "-5 GB/s"])
def test_zero_or_negative_bandwidth(value):
    d = base()
    d["memory"][0]["bandwidth"] = value
    (err,) = errors_of(d)
    assert err.startswith("bad.yaml: memory[0].bandwidth: bandwidth must be > 0")


def test_all_errors_collected():
    d = base()
    d["memory"][0]["bandwidth"] = "fast"
    d["technology"]["clock"] = "1.3 GB"
    del d["family"]
    errs = errors_of(d)
    assert len(errs) == 3
    assert any("family: missing required field" in e for e in errs)
    assert any("technology.clock" in e for e in errs)


def test_unknown_format_and_family():
    d = base()
    d["matrix"]["peak_dense"]["fp5"] = "1 TFLOPS"
    d["family"] = "nonesuch"
    errs = errors_of(d)
    assert any("matrix.peak_dense.fp5: unknown numeric format" in e for e in errs)
    assert any("family: unknown family 'nonesuch'" in e for e in errs)


def test_malformed_yaml_one_line(tmp_path):
    p = tmp_path / "broken.yaml"
    p.write_text("name: x\nmatrix: [unclosed\n")
    with pytest.raises(SpecError) as exc:
        load_chip(p)
    assert len(exc.value.errors) == 1
    assert exc.value.errors[0].startswith("broken.yaml: malformed YAML at line")


def test_cli_bad_chip_is_one_line_exit_2(tmp_path):
    d = base()
    d["memory"][0]["bandwidth"] = "-1 GB/s"
    p = tmp_path / "neg.yaml"
    p.write_text(yaml.safe_dump(d))
    r = CliRunner().invoke(main, ["estimate", "--chip", str(p), "--model", "qwen3-0.6b"])
    assert r.exit_code == 2
    lines = [x for x in r.output.splitlines() if x.strip()]
    assert lines == ["error: neg.yaml: memory[0].bandwidth: bandwidth must be > 0, got -1e+09"]
    assert "Traceback" not in r.output


def test_user_file_round_trip(tmp_path):
    d = base()
    d["name"] = "my-orin"
    d["memory"][0]["bandwidth"] = "409.6 GB/s"
    p = tmp_path / "my.yaml"
    p.write_text(yaml.safe_dump(d))
    c = load_chip(p)
    assert c.name == "my-orin"
    assert c.dram.bandwidth_bytes_per_s == 409.6e9


def test_unknown_format_message_names_full_path():
    d = base()
    d["efficiency"] = {"matrix": {"fp5": 0.5, "FP16": 0.6}}
    (err,) = errors_of(d)
    assert err == ("bad.yaml: efficiency.matrix.fp5: unknown numeric format 'fp5' "
                   "(known: fp32, bf16, fp16, fp8, int8, int4, nvfp4, mxfp4, fp4)")
    del d["efficiency"]["matrix"]["fp5"]
    chip = chip_from_dict(d, "ok.yaml")  # format aliases and case are read as the format
    assert chip.efficiency.matrix_for("fp16") == 0.6


def test_bare_numbers_need_units():
    d = base()
    d["vector"]["peak"] = 10.65e12
    d["memory"][0]["bandwidth"] = {"value": 204.8e9, "source": "datasheet"}
    assert errors_of(d) == [
        "bad.yaml: vector.peak: 10650000000000.0 has no unit; a throughput needs one, "
        "e.g. '42.5 TFLOPS'",
        "bad.yaml: memory[0].bandwidth: 204800000000.0 has no unit; a bandwidth needs one, "
        "e.g. '204.8 GB/s'",
    ]


def test_empty_sections_rejected():
    d = base()
    d["matrix"]["peak_dense"] = {}
    d["memory"] = []
    errs = errors_of(d)
    assert "bad.yaml: matrix.peak_dense: needs at least one format" in errs
    assert "bad.yaml: memory: needs at least one level" in errs


def test_chips_show_without_fp16(tmp_path):
    d = base()
    d["matrix"]["peak_dense"] = {"int8": "85 TOPS"}
    p = tmp_path / "int8.yaml"
    p.write_text(yaml.safe_dump(d))
    r = CliRunner().invoke(main, ["chips", "show", str(p), "--format", "json"])
    assert r.exit_code == 0, r.output
    row = json.loads(r.output)
    assert row["fp16_tflops"] is None and row["int8_tops"] == 85.0


def test_preset_names_ignore_case_and_suggest():
    from microarch.loader import load_chip as _load

    assert _load("Jetson-AGX-Thor").name == "jetson-agx-thor"
    with pytest.raises(SpecError, match=r"did you mean jetson-agx-thor"):
        _load("jetson-agx-thr")
    with pytest.raises(SpecError) as exc:
        _load("zzzz-unrelated")
    assert "did you mean" not in str(exc.value)
