"""simulate says when a trace offers more work than the chip serves: the offered load is each
stream's rate times its request's lone time (the simulator's own accounting), and at 1 or more
the summary, the JSON and stderr say that the queues grow."""

import json

import pytest
from click.testing import CliRunner

from chipdse import api
from chipdse.cli import main


def test_offered_load_by_hand():
    r = api.simulate("jetson-agx-orin-64gb", "qwen3-4b", "vla-drive-10hz", duration_s=1.0)
    lone = api.frame_estimate("jetson-agx-orin-64gb", "qwen3-4b", "vla-drive-10hz").total_s
    rate = api.load_trace("vla-drive-10hz").streams[0].rate_hz
    assert r.totals["offered_load"] == pytest.approx(rate * lone, rel=1e-12)
    assert r.totals["overloaded"] is (rate * lone >= 1.0)
    light = api.simulate("jetson-agx-thor", "qwen2.5-0.5b", "vla-drive-10hz", duration_s=1.0)
    assert not light.totals["overloaded"] and light.totals["offered_load"] < 1.0


def test_cli_warns_and_reports(tmp_path):
    argv = ["simulate", "--chip", "jetson-agx-orin-64gb", "--model", "qwen3-4b", "--trace",
            "vla-drive-10hz", "--duration", "1", "--format", "json", "-o", str(tmp_path / "o")]
    r = CliRunner().invoke(main, argv)
    assert r.exit_code == 0, r.output
    assert "warning: overloaded: arrivals ask for" in r.stderr
    assert json.loads(r.stdout)["totals"]["overloaded"] is True
