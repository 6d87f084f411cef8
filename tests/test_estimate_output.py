"""chipdse estimate output: readable units in the table, several chips side by side, the
file format from the -o extension, every field (breakdowns included) in CSV."""

import json

import pandas as pd
from click.testing import CliRunner

from chipdse import api
from chipdse.cli import main

BASE = ["estimate", "--model", "qwen3-0.6b", "--weights", "int8", "--activations", "int8"]


def test_readable_table():
    r = CliRunner().invoke(main, BASE + ["--chip", "li-m100", "--generate", "32"])
    assert r.exit_code == 0, r.output
    e = api.estimate("li-m100", "qwen3-0.6b", api.make_precision("int8", "int8"), 1, 1024, 32)
    assert f"{e.prefill_s * 1e3:.4g} ms" in r.output
    assert f"{e.decode_tokens_per_s:.4g} tok/s" in r.output
    # The decode breakdown is per token, beside the per-token latency.
    dram = e.decode_time_by_bound["dram"] / 32
    assert f"dram {dram * 1e3:.3g} ms/token" in r.output
    assert "4.94e+08" not in r.output and "GB" in r.output


def test_several_chips_side_by_side():
    r = CliRunner().invoke(main, BASE + ["--chip", "li-m100,jetson-agx-thor", "--chip",
                                         "jetson-agx-orin-64gb"])
    assert r.exit_code == 0, r.output
    first = r.output.splitlines()[0]
    assert "li-m100" in first and "jetson-agx-thor" in first and "jetson-agx-orin-64gb" in first
    r = CliRunner().invoke(main, BASE + ["--chip", "li-m100,jetson-agx-thor", "--format",
                                         "json"])
    rows = json.loads(r.stdout)
    assert [x["chip"] for x in rows] == ["li-m100", "jetson-agx-thor"]


def test_output_format_follows_the_extension(tmp_path):
    j, c = tmp_path / "est.json", tmp_path / "est.csv"
    assert CliRunner().invoke(main, BASE + ["--chip", "li-m100", "-o", str(j)]).exit_code == 0
    assert json.loads(j.read_text())["chip"] == "li-m100"
    assert CliRunner().invoke(main, BASE + ["--chip", "li-m100", "-o", str(c)]).exit_code == 0
    t = pd.read_csv(c)
    assert {"prefill_time_by_bound.compute", "decode_time_by_bound.dram"} <= set(t.columns)
    r = CliRunner().invoke(main, BASE + ["--chip", "li-m100", "-o", str(tmp_path / "e.xlsx")])
    assert r.exit_code == 2 and "give a .json, .csv or .txt file" in r.output
