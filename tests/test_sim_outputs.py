"""Simulator outputs: files of a run directory, the Perfetto trace, the CLI command."""

from __future__ import annotations

import json

import pandas as pd
import pytest
import yaml
from click.testing import CliRunner

from chipdse.cli import main
from chipdse.commands.simulate import simulate as simulate_cmd
from chipdse.sim import simulate
from workloads.loader import load_model
from workloads.trace import Language, Stream, Trace, Vision, VLARequest

if "simulate" not in main.commands:  # registered through chipdse.cli._COMMAND_MODULES
    main.add_command(simulate_cmd)


def small_trace() -> Trace:
    req = VLARequest(Vision(load_model("clip-vit-large-patch14"), 1, 224, 14, True,
                            tokens_per_camera=64),
                     Language(load_model("qwen2.5-0.5b"), 3, prompt_tokens=128))
    return Trace("small", (Stream("vla", req, 10.0, 0.1, jitter_s=0.002),), 0.3)


@pytest.fixture(scope="module")
def result():
    return simulate("jetson-agx-orin-64gb", trace=small_trace(), phase_mode="reconfigurable",
                    reconfiguration_latency_s=1e-5, seed=1)


def test_write_run_directory(result, tmp_path):
    result.write(tmp_path, seed=1)
    for name in ("config.json", "results.csv", "requests.csv", "events.csv",
                 "utilisation.csv", "trace.json", "timeline.png"):
        assert (tmp_path / name).is_file(), name
    cfg = json.loads((tmp_path / "config.json").read_text())
    assert cfg["command"] == "simulate" and cfg["seed"] == 1
    assert cfg["inputs"]["phase"]["mode"] == "reconfigurable"
    assert cfg["inputs"]["trace"]["streams"][0]["request"]["prefill_tokens"] == 128
    ev = pd.read_csv(tmp_path / "events.csv")
    assert len(ev) == result.totals["operators"]
    assert {"request", "stream", "phase", "step", "layer", "op", "resource", "start_s",
            "end_s", "energy_j", "bound"} <= set(ev.columns)
    summary = pd.read_csv(tmp_path / "results.csv")
    assert list(summary["stream"]) == ["vla", "all"]
    assert (tmp_path / "timeline.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_perfetto_trace_structure(result, tmp_path):
    from chipdse.sim.trace_export import write_perfetto

    path = write_perfetto(result, tmp_path / "trace.json")
    data = json.loads(path.read_text())
    events = data["traceEvents"]
    ops = [e for e in events if e["ph"] == "X" and e["pid"] == 1 and e.get("cat") != "request"
           and not e["name"].startswith("reconfigure")]
    assert len(ops) == result.totals["operators"]
    assert all(e["dur"] >= 0 and "request" in e["args"] for e in ops)
    # Kernels of one slot are adjacent or apart, never overlapping (in whole nanoseconds).
    by_tid: dict = {}
    for e in ops:
        by_tid.setdefault(e["tid"], []).append((round(e["ts"] * 1000),
                                                 round((e["ts"] + e["dur"]) * 1000)))
    for spans in by_tid.values():
        spans.sort()
        assert all(b[0] >= a[1] for a, b in zip(spans, spans[1:]))
    names = {e["args"]["name"] for e in events if e["ph"] == "M"}
    assert "slot prefill" in names and "slot decode" in names
    reqs = [e for e in events if e.get("cat") == "request"]
    assert len(reqs) == len(result.requests)
    assert any(e["ph"] == "C" and e["name"] == "utilisation" for e in events)
    # Request events of one lane never overlap (they render as nested slices otherwise).
    by_lane: dict = {}
    for e in reqs:
        by_lane.setdefault((e["pid"], e["tid"]), []).append((e["ts"], e["ts"] + e["dur"]))
    for spans in by_lane.values():
        spans.sort()
        assert all(b[0] >= a[1] - 1e-6 for a, b in zip(spans, spans[1:]))


def test_coarse_trace_above_the_operator_limit(result, tmp_path):
    from dataclasses import replace

    from chipdse.sim.trace_export import perfetto_events

    coarse = replace(result, config={**result.config, "options": {"max_trace_ops": 10}})
    events = [json.loads(e) for e in perfetto_events(coarse)]
    spans = [e for e in events if e["ph"] == "X" and e["pid"] == 1
             and not e["name"].startswith("reconfigure")]
    assert 0 < len(spans) < 100
    assert sum(e["args"]["operators"] for e in spans) == result.totals["operators"]


def test_to_dict_is_strict_json(result):
    text = json.dumps(result.to_dict(), allow_nan=False)
    assert json.loads(text)["totals"]["operators"] == result.totals["operators"]


def write_trace(tmp_path, rate="10 Hz", name="t.yaml"):
    data = {"name": "t", "duration": "300 ms", "streams": [{
        "name": "vla", "deadline": "100 ms", "arrival": {"rate": rate},
        "language": {"prompt_tokens": 64, "action_tokens": 2}}]}
    p = tmp_path / name
    p.write_text(yaml.safe_dump(data), encoding="utf-8")
    return p


def test_cli_simulate_writes_directory(tmp_path):
    out = tmp_path / "run"
    res = CliRunner().invoke(main, [
        "simulate", "--chip", "jetson-agx-orin-64gb", "--model", "qwen2.5-0.5b",
        "--trace", str(write_trace(tmp_path)), "--duration", "200 ms", "--seed", "3",
        "-o", str(out), "--format", "json", "--phase-mode", "static",
        "--prefill-compute-share", "0.7"])
    assert res.exit_code == 0, res.output
    payload = json.loads(res.stdout)
    assert payload["totals"]["phase_mode"] == "static"
    assert payload["totals"]["requests"] == 2
    assert {s["stream"] for s in payload["streams"]} == {"vla", "all"}
    for name in ("config.json", "results.csv", "events.csv", "trace.json", "timeline.png"):
        assert (out / name).is_file()
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["inputs"]["phase"]["prefill_compute_share"] == 0.7
    assert cfg["inputs"]["duration_s"] == pytest.approx(0.2)


@pytest.mark.parametrize("args, message", [
    (["--trace", "BAD"], "bad.yaml: streams[0].arrival.rate: frequency must be > 0"),
    (["--trace", "GOOD", "--duration", "5 GB"], "--duration: '5 GB' is not a time"),
    (["--trace", "GOOD", "--prefill-compute-share", "1.5"], "--prefill-compute-share"),
    (["--trace", "vla-drive-10hz", "--model", "nope"], "unknown model 'nope'"),
])
def test_cli_bad_input_is_one_line_exit_2(tmp_path, args, message):
    bad = write_trace(tmp_path, rate="-5 Hz", name="bad.yaml")
    good = write_trace(tmp_path, name="good.yaml")
    args = [str(bad) if a == "BAD" else str(good) if a == "GOOD" else a for a in args]
    if "--model" not in args:
        args += ["--model", "qwen2.5-0.5b"]
    res = CliRunner().invoke(main, ["simulate", "--chip", "jetson-agx-orin-64gb",
                                    "-o", str(tmp_path / "o"), *args])
    assert res.exit_code == 2, res.output
    lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], lines
