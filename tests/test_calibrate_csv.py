"""The measurements CSV: checks naming the row and column, mapping, listing of unmapped rows,
and the conventions that turn a row into a decode step and a prefill."""

from __future__ import annotations

from pathlib import Path

import pytest

from chipdse.calibrate.measurements import (
    COLUMNS,
    REQUIRED_COLUMNS,
    builtin_measurements_path,
    load_measurements,
    parse_maps,
)
from chipdse.errors import SpecError

HEADER = ",".join(COLUMNS)
GOOD = ("Jetson AGX Orin 64GB,TensorRT Edge-LLM 0.10.0 llm_bench,Qwen3-0.6B,INT4 AWQ,1,2048,,"
        "162.5,17277.3,118.5,https://example.org/bench")


def write(tmp_path: Path, *lines: str, header: str = HEADER) -> Path:
    p = tmp_path / "m.csv"
    p.write_text("\n".join([header, *lines]) + "\n", encoding="utf-8")
    return p


def test_good_row_maps_to_presets(tmp_path):
    ms = load_measurements(write(tmp_path, GOOD))
    (m,) = ms.rows
    assert (m.chip, m.model_ref) == ("jetson-agx-orin-64gb", "qwen3-0.6b")
    p = m.precision
    assert (p.weights, p.activations, p.kv_cache, p.head) == ("int4", "fp16", "fp16", "fp16")
    assert m.decode_step_s == pytest.approx(1 / 162.5)
    assert m.prefill_s == pytest.approx(0.1185)
    assert m.decode_context == 2048
    assert not ms.unmapped


def test_missing_columns_are_named(tmp_path):
    header = HEADER.replace(",batch", "").replace(",source_url", "")
    with pytest.raises(SpecError) as e:
        load_measurements(write(tmp_path, "x", header=header))
    assert str(e.value) == ("m.csv: missing columns batch, source_url (required: "
                            + ", ".join(REQUIRED_COLUMNS) + ")")


def test_optional_columns_and_generic_precisions(tmp_path):
    """Only device, model, precision, batch and source_url are required; generic labels
    (INT8, W8A8, W4A16, FP8 W8A8, ...) map to formats."""
    p = tmp_path / "short.csv"
    p.write_text("device,model,precision,batch,decode_tok_s,source_url\n"
                 "Jetson AGX Orin 64GB,Qwen3-0.6B,W4A16,1,162.5,https://example.org/b\n"
                 "Jetson AGX Orin 64GB,Qwen3-0.6B,int8,1,150,https://example.org/b\n",
                 encoding="utf-8")
    ms = load_measurements(p)
    a, b = ms.rows
    assert (a.precision.weights, a.precision.activations, a.precision.head) == (
        "int4", "fp16", "fp16")
    assert (b.precision.weights, b.precision.activations) == ("int8", "int8")
    assert a.engine == "" and a.decode_step_s == pytest.approx(1 / 162.5)


def test_non_numeric_value_names_row_and_column(tmp_path):
    bad = GOOD.replace("162.5", "fast")
    with pytest.raises(SpecError) as e:
        load_measurements(write(tmp_path, GOOD, bad))
    assert str(e.value) == "m.csv: row 2 (line 3), column decode_tok_s: 'fast' is not a number"


def test_unknown_device_names_row_and_column(tmp_path):
    bad = GOOD.replace("Jetson AGX Orin 64GB", "Jetson AGX Orin 128GB")
    with pytest.raises(SpecError) as e:
        load_measurements(write(tmp_path, bad))
    msg = str(e.value)
    assert msg.startswith("m.csv: row 1 (line 2), column device: unknown device "
                          "'Jetson AGX Orin 128GB'")
    assert "--device 'Jetson AGX Orin 128GB=CHIP.yaml'" in msg


def test_every_problem_is_reported_at_once(tmp_path):
    rows = [GOOD.replace("Qwen3-0.6B", "Mystery-7B"),
            GOOD.replace(",1,2048,", ",1.5,2048,"),
            GOOD.replace("INT4 AWQ", "INT3"),
            GOOD.replace("162.5,17277.3,118.5", ",,")]
    with pytest.raises(SpecError) as e:
        load_measurements(write(tmp_path, *rows))
    lines = str(e.value).splitlines()
    assert lines[0].startswith("m.csv: row 1 (line 2), column model: unknown model 'Mystery-7B'")
    assert lines[1] == "m.csv: row 2 (line 3), column batch: '1.5' is not an integer"
    assert lines[2].startswith("m.csv: row 3 (line 4), column precision: unknown precision "
                               "'INT3'")
    assert lines[3] == ("m.csv: row 4 (line 5), column decode_tok_s: the row has no "
                        "decode_tok_s, prefill_tok_s or ttft_ms")


def test_negative_and_empty_required_values(tmp_path):
    rows = [GOOD.replace("162.5", "-3"), GOOD.replace(",1,2048,", ",,2048,")]
    with pytest.raises(SpecError) as e:
        load_measurements(write(tmp_path, *rows))
    assert str(e.value).splitlines() == [
        "m.csv: row 1 (line 2), column decode_tok_s: '-3' must be > 0",
        "m.csv: row 2 (line 3), column batch: empty"]


def test_wrong_field_count_and_unknown_column(tmp_path):
    with pytest.raises(SpecError, match=r"row 1 \(line 2\): 10 fields, the header has 11"):
        load_measurements(write(tmp_path, GOOD.rsplit(",", 1)[0]))
    with pytest.raises(SpecError, match="unknown column colour"):
        load_measurements(write(tmp_path, GOOD + ",red", header=HEADER + ",colour"))


def test_rows_that_cannot_be_represented_are_listed_with_the_reason(tmp_path):
    hybrid = GOOD.replace("Qwen3-0.6B", "Qwen3.5-397B-A17B")
    pcie = GOOD.replace("Jetson AGX Orin 64GB", "H100 PCIe 80GB")
    ms = load_measurements(write(tmp_path, GOOD, hybrid, pcie))
    assert [m.row for m in ms.rows] == [1]
    (m2, u2), (m3, u3) = ms.unmapped
    assert (u2.row, u2.column, u2.value) == (2, "model", "Qwen3.5-397B-A17B")
    assert "no model preset" in u2.reason
    assert (u3.row, u3.column) == (3, "device") and "h100-sxm" in u3.reason
    assert m2.chip is None and m3.model_ref is None


def test_user_maps_name_files_or_presets(tmp_path):
    pcie = GOOD.replace("Jetson AGX Orin 64GB", "H100 PCIe 80GB").replace("Qwen3-0.6B", "Mine")
    ms = load_measurements(write(tmp_path, pcie), device_map={"H100 PCIe 80GB": "h100-sxm"},
                           model_map={"Mine": "qwen3-1.7b"})
    assert (ms.rows[0].chip, ms.rows[0].model_ref) == ("h100-sxm", "qwen3-1.7b")
    assert parse_maps(["A=b.yaml", " C = d "], "--device") == {"A": "b.yaml", "C": "d"}
    with pytest.raises(SpecError, match="--device: 'nonsense' is not NAME=PRESET_OR_FILE"):
        parse_maps(["nonsense"], "--device")


def test_phase_conventions(tmp_path):
    bench = ("RTX 4090 24GB,llama.cpp llama-bench (May 2024),Llama-3-8B,FP16,1,512,512,54.84,"
             "9382.00,,https://example.org")
    chat = ("A100 80GB,llama.cpp (Dec 2023),Llama-2-7B,FP16,1,,1024,73.83,5105.77,,"
            "https://example.org")
    batch8 = GOOD.replace(",1,2048,", ",8,2048,").replace("162.5,17277.3,118.5",
                                                         "718.4,3110.6,658.4")
    ms = load_measurements(write(tmp_path, bench, chat, batch8))
    b, c, e = ms.rows
    assert b.decode_context == 256            # llama-bench tg runs without a prompt
    assert b.prefill_s == pytest.approx(512 / 9382.0)
    assert c.decode_context == 512            # mean context of a 1024-token generation
    assert c.prefill_s is None and "prefill" in c.skipped_phases
    assert e.decode_step_s == pytest.approx(8 / 718.4)  # decode tok/s is the batch total
    assert e.prefill_s == pytest.approx(0.6584)         # ttft is the whole batch's prefill


def test_builtin_data_loads_and_lists_what_it_cannot_map():
    ms = load_measurements(builtin_measurements_path())
    assert len(ms.rows) + len(ms.unmapped) == 253
    assert {"jetson-agx-orin-64gb", "jetson-agx-thor", "rtx-4090", "a100-80gb", "dgx-spark",
            "jetson-orin-nx-16gb", "jetson-orin-nano-8gb"} == set(ms.chips)
    reasons = {u.column for _, u in ms.unmapped}
    assert reasons == {"model", "device"}
    assert all(u.reason for _, u in ms.unmapped)
