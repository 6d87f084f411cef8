"""`chipdse study run all --quick`: every registered study writes its files and a verdict."""

import json

from click.testing import CliRunner

from chipdse import api
from chipdse.cli import main


def test_study_list_and_run_all_quick(tmp_path):
    r = CliRunner().invoke(main, ["study", "list", "--format", "json"])
    assert r.exit_code == 0, r.output
    names = [row["name"] for row in json.loads(r.output)]
    assert names == [n for n, _ in api.list_studies()]
    assert {"plas-orin", "moe-batch1", "memory-vs-tops", "phase-aware", "ffn-ratio",
            "int8-speedup", "mach100-vs-thor", "scenario-chips"} <= set(names)
    r = CliRunner().invoke(main, ["study", "run", "all", "--quick", "-o", str(tmp_path)])
    assert r.exit_code == 0, r.output
    for n in names:
        d = tmp_path / n
        verdict = (d / "verdict.md").read_text()
        assert "**Verdict:" in verdict and "**Answer.**" in verdict
        assert (d / "results.csv").stat().st_size > 0
        assert any(p.suffix == ".png" for p in d.iterdir())
        cfg = json.loads((d / "config.json").read_text())
        assert cfg["inputs"]["quick"] is True and cfg["seed"] == 0


def test_unknown_study_is_one_line():
    r = CliRunner().invoke(main, ["study", "run", "nonesuch", "-o", "/tmp/x"])
    assert r.exit_code == 2
    assert r.output.startswith("error: unknown study 'nonesuch'")


def test_study_run_prints_one_line_per_study(tmp_path):
    from click.testing import CliRunner

    from chipdse.cli import main

    r = CliRunner().invoke(main, ["study", "run", "int8-speedup", "--quick", "-o",
                                  str(tmp_path / "a")])
    assert r.exit_code == 0, r.output
    lines = r.stdout.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("int8-speedup: ") and "verdict.md" in lines[0]
    r = CliRunner().invoke(main, ["-v", "study", "run", "int8-speedup", "--quick", "-o",
                                  str(tmp_path / "b")])
    assert r.exit_code == 0 and "over FP16" in r.stdout  # the full answer with -v
