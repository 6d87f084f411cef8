"""``chipdse calibrate`` and ``chipdse validate`` from the command line."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from chipdse.cli import main
from chipdse.commands.calibrate import COMMANDS
from microarch.loader import load_chip

for _cmd in COMMANDS:  # registered by chipdse.cli once listed in _COMMAND_MODULES
    if _cmd.name not in main.commands:
        main.add_command(_cmd)

DATA = Path(__file__).parent / "data" / "calibration.csv"


@pytest.fixture()
def orin_csv(tmp_path) -> Path:
    """The four Orin rows of the test data plus one row chipdse cannot represent."""
    lines = DATA.read_text(encoding="utf-8").splitlines()
    orin = [ln for ln in lines[1:] if ln.startswith("Jetson AGX Orin 64GB")]
    hybrid = orin[0].replace("Qwen3-0.6B", "Qwen3.5-397B-A17B")
    p = tmp_path / "orin.csv"
    p.write_text("\n".join([lines[0], *orin, hybrid]) + "\n", encoding="utf-8")
    return p


def run(*args: str):
    return CliRunner().invoke(main, list(args))


def test_calibrate_writes_a_chip_its_siblings_and_the_family_block(tmp_path, orin_csv):
    out = tmp_path / "cal" / "orin.yaml"
    r = run("calibrate", "--chip", "jetson-agx-orin-64gb", "--measurements", str(orin_csv),
            "-o", str(out), "--apply-to", "jetson-orin-nx-16gb",
            "--apply-to", "jetson-orin-nano-8gb", "--family-block", str(tmp_path / "fam.yaml"))
    assert r.exit_code == 0, r.output
    assert "efficiency.dram" in r.output and "fit error: decode MAPE" in r.output
    assert "not mapped (model Qwen3.5-397B-A17B): rows 5:" in r.output
    chip = load_chip(out)
    fitted = {t: load_chip(out).sources[t] for t in ("efficiency.dram", "dispatch.per_operator")}
    assert all("rows 1-4 of orin.csv" in s for s in fitted.values())
    for sib in ("jetson-orin-nx-16gb", "jetson-orin-nano-8gb"):
        s = load_chip(out.parent / f"{sib}.calibrated.yaml")
        assert s.name == sib
        assert s.efficiency == chip.efficiency and s.dispatch == chip.dispatch
    assert (tmp_path / "fam.yaml").read_text().count("orin:") == 1


def test_calibrate_json_lists_rows_and_terms(orin_csv):
    r = run("calibrate", "--chip", "jetson-agx-orin-64gb", "--measurements", str(orin_csv),
            "--phase", "decode", "--format", "json")
    assert r.exit_code == 0, r.output
    d = json.loads(r.output[r.output.index("{"):])
    assert d["rows"] == [1, 2, 3, 4] and d["family"] == "orin"
    status = {t["term"]: t["status"] for t in d["terms"]}
    assert status["efficiency.weight_only_gemm"] == "not identified"  # decode rows only
    assert status["efficiency.matrix.fp16"] == "measured (held)"  # a published GEMM benchmark
    assert status["efficiency.dram"] == "fitted"


def test_bad_input_is_one_line_and_exit_2(tmp_path, orin_csv):
    bad = tmp_path / "bad.csv"
    bad.write_text(orin_csv.read_text().replace("162.5", "n/a"), encoding="utf-8")
    r = run("calibrate", "--chip", "jetson-agx-orin-64gb", "--measurements", str(bad))
    assert r.exit_code == 2
    assert "error: bad.csv: row 1 (line 2), column decode_tok_s: 'n/a' is not a number" in r.output
    r = run("calibrate", "--chip", "jetson-agx-orin-64gb", "--measurements", str(orin_csv),
            "--apply-to", "jetson-orin-nx-16gb")
    assert r.exit_code == 2 and "--apply-to needs -o" in r.output
    r = run("calibrate", "--chip", "jetson-agx-orin-64gb", "--measurements", str(orin_csv),
            "--terms", "efficiency.warp")
    assert r.exit_code == 2 and "unknown calibration term 'efficiency.warp'" in r.output


def test_validate_writes_tables_cross_validation_and_plot(tmp_path, orin_csv):
    out = tmp_path / "val"
    r = run("validate", "--measurements", str(orin_csv), "-o", str(out))
    assert r.exit_code == 0, r.output
    assert "Jetson AGX Orin 64GB" in r.output and "MAPE leave-one-model-out %" in r.output
    for f in ("config.json", "results.csv", "summary.csv", "fidelity.csv", "loo.csv",
              "unmapped.csv", "scatter.png", "bands.csv", "band_summary.csv"):
        assert (out / f).is_file(), f
    bands = pd.read_csv(out / "bands.csv")
    assert len(bands) == 8 and (bands.p05_s <= bands.p50_s).all()
    assert (bands.p50_s <= bands.p95_s).all()
    assert (bands.covered == ((bands.p05_s <= bands.measured_s)
                              & (bands.measured_s <= bands.p95_s))).all()
    assert "uncertainty bands (leave-one-model-out" in r.output
    assert (out / "scatter.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    res = pd.read_csv(out / "results.csv")
    assert len(res) == 8 and set(res.phase) == {"decode", "prefill"}
    assert res.loo_error.notna().all()
    loo = pd.read_csv(out / "loo.csv")
    assert set(loo.held_out) == {"qwen3-0.6b", "qwen3-1.7b", "qwen3-4b", "qwen3-8b"}
    fid = pd.read_csv(out / "fidelity.csv")
    assert set(fid.phase) == {"decode", "prefill"} and (fid.rows == 4).all()
    unm = pd.read_csv(out / "unmapped.csv")
    assert list(unm.row) == [5] and "no model preset" in unm.reason[0]
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["command"] == "validate" and cfg["inputs"]["cv"] == "model"


def test_validate_with_a_calibrated_chip_file(tmp_path, orin_csv):
    cal = tmp_path / "orin.yaml"
    assert run("calibrate", "--chip", "jetson-agx-orin-64gb", "--measurements", str(orin_csv),
               "-o", str(cal)).exit_code == 0
    r = run("validate", "--measurements", str(orin_csv), "--chip", str(cal), "--cv", "none",
            "-o", str(tmp_path / "v"), "--format", "csv")
    assert r.exit_code == 0, r.output
    fid = pd.read_csv(tmp_path / "v" / "fidelity.csv")
    assert (fid["MAPE preset %"] < 3.0).all()
    assert not (tmp_path / "v" / "loo.csv").exists()
