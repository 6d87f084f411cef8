"""chipdse report: one self-contained page per run directory; file contents cannot inject
markup; the page renders in a real browser with its figures and no console errors."""

import json
import re
import shutil
import subprocess

import pandas as pd
import pytest
from click.testing import CliRunner

from chipdse import api
from chipdse.cli import main
from chipdse.html_report import MAX_TABLE_ROWS, build_report


@pytest.fixture(scope="module")
def sweep_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("rep") / "sweep"
    r = CliRunner().invoke(main, ["sweep", "--chip", "li-m100,jetson-agx-thor", "--model",
                                  "qwen3-0.6b", "--batch", "1,4", "-o", str(out), "-q"])
    assert r.exit_code == 0, r.output
    return out


def test_self_contained_page(sweep_dir):
    page = build_report(sweep_dir).read_text()
    assert page.startswith("<!DOCTYPE html>")
    # Figures embedded, nothing fetched from elsewhere.
    assert page.count("data:image/png;base64,") == 3
    assert not re.search(r"""(src|href)=["']?(https?:|//|file:)""", page)
    # Inputs and versions from config.json, the table from sweep.csv.
    cfg = json.loads((sweep_dir / "config.json").read_text())
    assert "numpy" in cfg["versions"] and f"numpy {cfg['versions']['numpy']}" in page
    assert "sweep.csv" in page and "decode_tokens_per_s" in page


def test_untrusted_text_is_escaped(tmp_path):
    d = tmp_path / "run"
    d.mkdir()
    pd.DataFrame({"name": ["<script>alert(1)</script>"], "verdict": ["supported"]}).to_csv(
        d / "verdicts.csv", index=False)
    (d / "verdict.md").write_text("# t\n\n**Answer.** <img src=x onerror=alert(2)>\n")
    (d / "config.json").write_text(json.dumps({"command": "<b>x</b>", "inputs": {
        "k": "<iframe>"}, "seed": 0, "versions": {}}))
    page = build_report(d).read_text()
    assert "<script>alert" not in page and "<img src=x" not in page
    assert "<iframe>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert '<tr class="supported">' in page


def test_long_tables_are_cut(tmp_path):
    d = tmp_path / "big"
    d.mkdir()
    pd.DataFrame({"x": range(MAX_TABLE_ROWS + 50)}).to_csv(d / "results.csv", index=False)
    page = build_report(d).read_text()
    assert f"{MAX_TABLE_ROWS} of {MAX_TABLE_ROWS + 50} rows shown" in page


def test_study_all_has_a_section_per_study(tmp_path):
    out = tmp_path / "studies"
    api.study("memory-vs-tops", out / "memory-vs-tops", quick=True).write(
        out / "memory-vs-tops", True, 0)
    page = build_report(out).read_text()
    assert 'href="#run-memory-vs-tops"' in page and "Claims under uncertainty" in page


@pytest.mark.parametrize("args, msg", [
    (["/no/such/dir"], "no such run directory"),
    (["{tmp}", "-o", "{tmp}/r.txt"], "give a .html file"),
    (["{tmp}"], "no run found"),
])
def test_bad_input(tmp_path, args, msg):
    r = CliRunner().invoke(main, ["report"] + [a.format(tmp=tmp_path) for a in args])
    assert r.exit_code == 2 and msg in r.output, r.output


def _browser():
    for name in ("chromium", "chromium-browser", "google-chrome", "chrome"):
        path = shutil.which(name)
        if path:
            return path
    return None


@pytest.mark.browser
@pytest.mark.skipif(_browser() is None, reason="no Chromium or Chrome on this machine "
                    "(.ci/run installs Debian's chromium)")
def test_page_renders_in_a_browser(sweep_dir):
    page = build_report(sweep_dir)
    r = subprocess.run([_browser(), "--headless", "--no-sandbox", "--disable-gpu",
                        "--enable-logging=stderr", "--v=0", "--virtual-time-budget=5000",
                        "--dump-dom", page.resolve().as_uri()],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr[-2000:]
    assert 'data-figures="3/3"' in r.stdout  # every figure decoded
    console = [ln for ln in r.stderr.splitlines() if "CONSOLE" in ln or "Uncaught" in ln]
    assert not console, console
