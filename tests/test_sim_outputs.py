"""Simulator outputs: files of a run directory, the event log (per request and phase, per
operator, streamed in chunks), the Perfetto trace and its detail, the CLI command."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
import yaml
from click.testing import CliRunner

from chipdse import io
from chipdse.cli import main
from chipdse.commands.simulate import simulate as simulate_cmd
from chipdse.cost import BOUNDS
from chipdse.sim import SimOptions, simulate
from chipdse.sim.log import BATCH_DTYPE, BatchLog
from chipdse.sim.results import EVENT_COLUMNS, SUMMARY_EVENT_COLUMNS
from chipdse.sim.trace_export import _lanes, perfetto_events, trace_detail
from workloads.loader import load_model
from workloads.trace import Language, Stream, Trace, Vision, VLARequest

if "simulate" not in main.commands:  # registered through chipdse.cli.COMMANDS
    main.add_command(simulate_cmd)


def small_trace(rate: float = 10.0, duration: float = 0.3) -> Trace:
    req = VLARequest(Vision(load_model("clip-vit-large-patch14"), 1, 224, 14, True,
                            tokens_per_camera=64),
                     Language(load_model("qwen2.5-0.5b"), 3, prompt_tokens=128))
    return Trace("small", (Stream("vla", req, rate, 0.1, jitter_s=0.002),), duration)


@pytest.fixture(scope="module")
def result():
    return simulate("jetson-agx-orin-64gb", trace=small_trace(), phase_mode="reconfigurable",
                    reconfiguration_latency_s=1e-5, seed=1)


@pytest.fixture(scope="module")
def contended():
    """Round-robin on a fixed chip with overlapping frames: one batch per operator or so,
    many batches interleaved in time."""
    return simulate("jetson-agx-orin-64gb", trace=small_trace(rate=40.0, duration=0.1),
                    options=SimOptions(policy="round-robin"), seed=2)


def test_write_run_directory_defaults(result, tmp_path):
    paths = result.write(tmp_path, seed=1)
    names = {p.name for p in paths}
    assert names == {"config.json", "results.csv", "requests.csv", "utilisation.csv",
                     "events_summary.parquet", "trace.json"}
    for name in names:
        assert (tmp_path / name).is_file(), name
    assert not (tmp_path / "events.parquet").exists()
    assert not (tmp_path / "timeline.png").exists()
    cfg = json.loads((tmp_path / "config.json").read_text())
    assert cfg["command"] == "simulate" and cfg["seed"] == 1
    assert cfg["inputs"]["phase"]["mode"] == "reconfigurable"
    assert cfg["inputs"]["trace"]["streams"][0]["request"]["prefill_tokens"] == 128
    assert "pyarrow" in cfg["versions"]
    summary = pd.read_csv(tmp_path / "results.csv")
    assert list(summary["stream"]) == ["vla", "all"]
    es = pd.read_parquet(tmp_path / "events_summary.parquet")
    assert list(es.columns) == list(SUMMARY_EVENT_COLUMNS)
    assert int(es["operators"].sum()) == result.totals["operators"]


def test_write_everything(result, tmp_path):
    result.write(tmp_path, seed=1, events="full", trace="operator", plot=True)
    ev = pd.read_parquet(tmp_path / "events.parquet")
    assert list(ev.columns) == list(EVENT_COLUMNS)
    assert len(ev) == result.totals["operators"]
    ref = result.events
    for c in EVENT_COLUMNS:
        a, b = ev[c], ref[c]
        if isinstance(b.dtype, pd.CategoricalDtype):
            assert (a.astype(str).to_numpy() == b.astype(str).to_numpy()).all(), c
        else:
            assert np.array_equal(a.to_numpy(), b.to_numpy()), c
    assert (tmp_path / "timeline.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    data = json.loads((tmp_path / "trace.json").read_text())
    assert data["otherData"]["detail"] == "operator"


def test_bad_write_options_are_refused(result, tmp_path):
    with pytest.raises(ValueError, match="events must be one of none, summary, full"):
        result.write(tmp_path, events="csv")
    with pytest.raises(ValueError, match="trace must be one of auto, operator, phase, none"):
        result.write(tmp_path, trace="all")


def test_csv_files_are_pandas_csv(result, tmp_path):
    """The CSVs are written without pandas, byte for byte as pandas writes the tables."""
    result.write(tmp_path, events="none", trace="none")
    for name, frame in (("results.csv", result.summary), ("requests.csv", result.requests),
                        ("utilisation.csv", result.utilisation)):
        assert (tmp_path / name).read_text() == frame.to_csv(index=False), name


def test_csv_cells_follow_pandas():
    cols = {"f": [0.1, float("nan"), 1e-05, 1e16, -0.0, float("inf")], "i": [1, 2, 3, 4, 5, 6],
            "b": [True, False, True, True, False, False],
            "s": ["a", "b,c", 'q"uote', None, "x", "y"]}
    assert "".join(",".join(r) + "\n" for r in zip(*(io.csv_cells(v) for v in cols.values()))
                   ).count("\n") == 6
    assert io.csv_cells(cols["f"]) == ["0.1", "", "1e-05", "1e+16", "-0.0", "inf"]
    assert io.csv_cells(cols["b"]) == ["True", "False", "True", "True", "False", "False"]


@pytest.mark.parametrize("which", ["result", "contended"])
def test_event_chunks_are_the_event_log_in_start_order(which, request):
    res = request.getfixturevalue(which)
    ref = res.events
    chunks = list(res.iter_events(rows=97))
    assert len(chunks) > 3
    cat = {k: np.concatenate([c[k] for c in chunks]) for k in EVENT_COLUMNS}
    assert cat["start_s"].size == res.totals["operators"] == len(ref)
    codes = res.event_categories()
    for k in EVENT_COLUMNS:
        want = ref[k]
        got = cat[k]
        if k in codes:
            got = np.asarray(codes[k], dtype=object)[got]
            want = want.astype(str).to_numpy()
        assert np.array_equal(got, np.asarray(want)), k
    s = cat["start_s"]
    assert np.all(np.diff(s) >= 0)  # globally time-ordered across chunks


def test_contended_run_has_many_batches(contended):
    assert contended.totals["batches"] > contended.totals["operators"] / 4


@pytest.mark.parametrize("which", ["result", "contended"])
def test_event_summary_sums_the_operators(which, request):
    res = request.getfixturevalue(which)
    ev = res.events
    es = res.event_summary.set_index(["request", "phase"])
    g = ev.groupby(["request", "phase"], observed=True)
    assert len(es) == g.ngroups
    for (rq, ph), grp in g:
        row = es.loc[(rq, ph)]
        assert row["operators"] == len(grp)
        assert row["start_s"] == grp["start_s"].min()
        assert row["end_s"] == grp["end_s"].max()
        assert row["busy_s"] == pytest.approx(grp["duration_s"].sum(), rel=1e-12)
        assert row["energy_j"] == pytest.approx(grp["energy_j"].sum(), rel=1e-12)
        assert row["dram_bytes"] == pytest.approx(grp["dram_bytes"].sum(), rel=1e-12)
        assert row["resource"] == grp["resource"].iloc[0]
        for b in BOUNDS:
            want = grp.loc[grp["bound"] == b, "duration_s"].sum()
            # Running-sum differences: exact to rounding of the phase's busy time.
            assert row[f"{b}_bound_s"] == pytest.approx(want, abs=1e-12 * row["busy_s"])
    bound_total = es[[f"{b}_bound_s" for b in BOUNDS]].sum(axis=1)
    np.testing.assert_allclose(bound_total, es["busy_s"], rtol=1e-12)
    # The requests table's phase spans are the event summary's.
    rq = res.requests.set_index("request")
    for (r, ph), row in es.iterrows():
        assert rq.loc[r, f"{ph}_start_s"] == row["start_s"]
        assert rq.loc[r, f"{ph}_end_s"] == row["end_s"]


@pytest.mark.parametrize("which", ["result", "contended"])
def test_unit_utilisation_integrates_to_the_units_work(which, request):
    res = request.getfixturevalue(which)
    u = res.utilisation
    width = (u["t_end_s"] - u["t_start_s"]).to_numpy()
    busy = res.resources.set_index("resource")["busy_s"]
    for unit in ("matrix", "vector", "dram", "sram"):
        assert float((u[unit] * width).sum()) == pytest.approx(busy[f"unit:{unit}"], rel=1e-9)


@pytest.mark.parametrize("which", ["result", "contended"])
def test_spans_cover_every_operator(which, request):
    res = request.getfixturevalue(which)
    sp = res.spans
    assert int(sp["ops"].sum()) == res.totals["operators"]
    for _, g in sp.groupby("slot"):
        s, e = g["start_s"].to_numpy(), g["end_s"].to_numpy()
        assert np.all(s[1:] >= e[:-1])  # a slot's spans never overlap


def test_batch_log_packs_in_chunks():
    log = BatchLog()
    rows = [(i, i % 3, i, i + 2, i * 0.5, i % 2, 0.25 * i) for i in range(20_000)]
    for r in rows:
        log.append(*r)
    rec = log.records()
    assert len(log) == rec.size == 20_000 and rec.dtype == BATCH_DTYPE
    assert rec.tolist() == rows
    assert BatchLog().records().size == 0


def test_lanes_are_the_lowest_free_lane():
    rng = np.random.default_rng(0)
    s = np.sort(rng.uniform(0, 10, 300))
    e = s + rng.uniform(0.01, 2.0, 300)
    lanes = _lanes(s, e)
    ends: list[float] = []  # the plain greedy: lowest lane whose last interval has ended
    for i in range(s.size):
        k = next((k for k, x in enumerate(ends) if x <= s[i]), len(ends))
        if k == len(ends):
            ends.append(e[i])
        else:
            ends[k] = e[i]
        assert lanes[i] == k


def test_perfetto_trace_structure(result, tmp_path):
    from chipdse.sim.trace_export import write_perfetto

    path = write_perfetto(result, tmp_path / "trace.json", "operator")
    data = json.loads(path.read_text())
    events = data["traceEvents"]
    assert [json.loads(e) for e in perfetto_events(result, "operator")] == events
    ops = [e for e in events if e["ph"] == "X" and e["pid"] == 1 and e.get("cat") != "request"
           and not e["name"].startswith("reconfigure")]
    assert len(ops) == result.totals["operators"]
    assert all(e["dur"] >= 0 and "request" in e["args"] for e in ops)
    first = result.events.iloc[0]
    assert ops[0]["name"] == first["op"] and ops[0]["args"]["layer"] == first["layer"]
    assert ops[0]["args"]["bound"] == first["bound"] and ops[0]["cat"] == first["phase"]
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


def test_phase_trace_counts_every_operator(result):
    events = [json.loads(e) for e in perfetto_events(result, "phase")]
    spans = [e for e in events if e["ph"] == "X" and e["pid"] == 1
             and not e["name"].startswith("reconfigure")]
    assert 0 < len(spans) < 100
    assert sum(e["args"]["operators"] for e in spans) == result.totals["operators"]


def test_auto_detail_is_reduced_with_a_notice(tmp_path):
    n = None
    for limit, want in ((10**9, "operator"), (10, "phase")):
        res = simulate("jetson-agx-orin-64gb", trace=small_trace(),
                       options=SimOptions(max_trace_ops=limit))
        n = res.totals["operators"]
        detail, note = trace_detail(res, "auto")
        assert detail == want
        seen: list[str] = []
        res.write(tmp_path / want, events="none", notice=seen.append)
        data = json.loads((tmp_path / want / "trace.json").read_text())
        assert data["otherData"]["detail"] == want
        if want == "operator":
            assert note is None and seen == [] and res.notes == []
        else:
            assert seen == [note] == res.notes
            assert f"not the {n:,} operators" in note and "--trace-detail operator" in note
            assert "\n" not in note
    assert trace_detail(res, "operator") == ("operator", None)  # asked for: no notice
    res.write(tmp_path / "none", events="none", trace="none")
    assert not (tmp_path / "none" / "trace.json").exists()


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
    for name in ("config.json", "results.csv", "requests.csv", "utilisation.csv",
                 "events_summary.parquet", "trace.json"):
        assert (out / name).is_file()
    assert not (out / "events.parquet").exists() and not (out / "timeline.png").exists()
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["inputs"]["phase"]["prefill_compute_share"] == 0.7
    assert cfg["inputs"]["duration_s"] == pytest.approx(0.2)
    assert "wrote config.json, results.csv" in res.stderr


def test_cli_simulate_detail_flags(tmp_path):
    args = ["simulate", "--chip", "jetson-agx-orin-64gb", "--model", "qwen2.5-0.5b",
            "--trace", str(write_trace(tmp_path)), "--no-progress"]
    full = CliRunner().invoke(main, args + ["-o", str(tmp_path / "full"), "--events", "full",
                                            "--plot", "--trace-max-operators", "5"])
    assert full.exit_code == 0, full.output
    for name in ("events.parquet", "events_summary.parquet", "timeline.png", "trace.json"):
        assert (tmp_path / "full" / name).is_file(), name
    notes = [ln for ln in full.stderr.splitlines() if ln.startswith("note: ")]
    assert len(notes) == 1 and "phase slices" in notes[0]
    bare = CliRunner().invoke(main, args + ["-o", str(tmp_path / "bare"), "--events", "none",
                                            "--trace-detail", "none"])
    assert bare.exit_code == 0, bare.output
    assert sorted(p.name for p in (tmp_path / "bare").iterdir()) == [
        "config.json", "requests.csv", "results.csv", "utilisation.csv"]
    table = CliRunner().invoke(main, args + ["-o", str(tmp_path / "t")])
    lines = table.stdout.splitlines()
    assert lines[0].split()[:3] == ["stream", "requests", "completed"]
    assert [ln.split()[0] for ln in lines[1:]] == ["vla", "all"]


def test_cli_simulate_imports_neither_pandas_nor_matplotlib(tmp_path):
    code = ("import sys; from chipdse.cli import main\n"
            "try:\n    main()\nexcept SystemExit as e:\n    assert not e.code, e.code\n"
            "bad = [m for m in ('pandas', 'matplotlib', 'scipy') if m in sys.modules]\n"
            "assert not bad, bad\n")
    r = subprocess.run([sys.executable, "-c", code, "simulate", "--chip",
                        "jetson-agx-orin-64gb", "--model", "qwen2.5-0.5b", "--trace",
                        str(write_trace(tmp_path)), "-o", str(tmp_path / "o"), "--no-progress",
                        "--events", "full"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr


@pytest.mark.parametrize("args, message", [
    (["--trace", "BAD"], "bad.yaml: streams[0].arrival.rate: frequency must be > 0"),
    (["--trace", "GOOD", "--duration", "5 GB"], "--duration: '5 GB' is not a time"),
    (["--trace", "GOOD", "--prefill-compute-share", "1.5"], "--prefill-compute-share"),
    (["--trace", "vla-drive-10hz", "--model", "nope"], "unknown model 'nope'"),
    (["--trace", "GOOD", "--events", "csv"], "--events"),
    (["--trace", "GOOD", "--trace-detail", "all"], "--trace-detail"),
    (["--trace", "GOOD", "--trace-max-operators", "-1"], "--trace-max-operators"),
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
