"""The command line: estimate's JSON contract, tables, roofline PNG, errors."""

import json

from click.testing import CliRunner

from chipdse.cli import main

KEYS = {"chip", "model", "prefill_s", "decode_s_per_token", "decode_tokens_per_s", "total_s",
        "weights_bytes", "kv_cache_bytes", "fits_in_memory", "prefill_bottleneck",
        "decode_bottleneck", "energy_j"}


def run(*args):
    return CliRunner().invoke(main, list(args))


def test_estimate_json_contract():
    r = run("estimate", "--chip", "jetson-agx-orin-64gb", "--model", "qwen2.5-0.5b",
            "--batch", "2", "--prompt", "512", "--generate", "8", "--format", "json")
    assert r.exit_code == 0, r.output
    d = json.loads(r.output)
    assert KEYS <= set(d)
    assert d["decode_tokens_per_s"] == 2 / d["decode_s_per_token"]
    assert abs(d["total_s"] - (d["prefill_s"] + 8 * d["decode_s_per_token"])) < 1e-12
    assert d["decode_bottleneck"] == "dram"
    assert d["fits_in_memory"] is True


def test_estimate_csv_and_output_file(tmp_path):
    out = tmp_path / "e.csv"
    r = run("estimate", "--chip", "li-m100", "--model", "qwen3-0.6b", "--weights", "int8",
            "--activations", "int8", "--format", "csv", "-o", str(out))
    assert r.exit_code == 0, r.output
    header = out.read_text().splitlines()[0].split(",")
    assert "prefill_s" in header and "decode_tokens_per_s" in header


def test_model_too_big_is_reported_not_crashed():
    r = run("estimate", "--chip", "jetson-orin-nano-8gb", "--model", "qwen3-30b-a3b",
            "--format", "json")
    assert r.exit_code == 0
    assert "warning: qwen3-30b-a3b needs" in r.output
    d = json.loads(r.output[r.output.index("{"):])
    assert d["fits_in_memory"] is False


def test_unknown_chip_one_line():
    r = run("estimate", "--chip", "orin-9000", "--model", "qwen3-0.6b")
    assert r.exit_code == 2
    assert r.output.count("\n") == 1 and r.output.startswith("error: unknown chip 'orin-9000'")


def test_roofline_png(tmp_path):
    out = tmp_path / "roof.png"
    r = run("roofline", "--chip", "jetson-agx-thor", "--model", "qwen3-0.6b", "-o", str(out))
    assert r.exit_code == 0, r.output
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_chips_and_models_listing():
    r = run("chips", "list", "--format", "json")
    names = {row["name"] for row in json.loads(r.output)}
    assert {"jetson-agx-orin-64gb", "li-m100", "drive-thor-u"} <= names
    r = run("chips", "show", "li-m100", "--format", "json")
    d = json.loads(r.output)
    assert any("2604.17862" in v for v in d["sources"].values())
    r = run("models", "show", "qwen3-30b-a3b", "--format", "json")
    assert json.loads(r.output)["experts"] == 128


def test_format_choices_follow_microarch_formats():
    from chipdse.commands.common import FORMATS
    from microarch import formats

    assert set(formats.FORMATS) <= set(FORMATS)
    assert set(formats.ALIASES) <= set(FORMATS)
    for name in FORMATS:  # every offered name is one the format table resolves
        formats.get_format(name)


def test_format_aliases_accepted_and_canonical():
    r = run("estimate", "--chip", "jetson-agx-thor", "--model", "qwen3-0.6b", "--weights",
            "fp4", "--activations", "BFloat16", "--kv", "e4m3", "--format", "json")
    assert r.exit_code == 0, r.output
    assert json.loads(r.output)["precision"] == "wnvfp4-abf16-kvfp8"
    ref = run("estimate", "--chip", "jetson-agx-thor", "--model", "qwen3-0.6b", "--weights",
              "nvfp4", "--activations", "bf16", "--kv", "fp8", "--format", "json")
    assert json.loads(ref.output) == json.loads(r.output)


def test_unknown_format_rejected():
    r = run("estimate", "--chip", "jetson-agx-thor", "--model", "qwen3-0.6b", "--weights", "fp5")
    assert r.exit_code == 2
    assert "Invalid value for '--weights'" in r.output
