"""Hostile-input fuzzing of every command: valid chip, model, trace, Hugging Face and
measurement files mutated by hypothesis (values replaced, keys dropped or doubled, bytes that
are not UTF-8, deep nesting, alias bombs), and flags given values of every class.

Whatever the input, the command either succeeds (the mutation was harmless) or exits with
status 2 and one line per problem on stderr, each starting ``error:`` and naming the file (or
the flag) it is about; never a traceback, never a hang, never a half-written output file.
Each property runs a fixed, derandomised set of examples (about 300 in all)."""

from __future__ import annotations

import csv
import io as _io
import json
import time
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chipdse.cli import main

ROOT = Path(__file__).resolve().parents[1]
CHIP = ROOT / "microarch" / "presets" / "jetson-agx-orin-64gb.yaml"
MODEL = ROOT / "workloads" / "presets" / "models" / "qwen2.5-0.5b.yaml"
TRACE = ROOT / "workloads" / "presets" / "traces" / "embodied-20ms.yaml"
MEASUREMENTS = ROOT / "chipdse" / "data" / "measurements.csv"
HF = {"model_type": "qwen2", "num_hidden_layers": 24, "hidden_size": 896,
      "num_attention_heads": 14, "num_key_value_heads": 2, "intermediate_size": 4864,
      "vocab_size": 151936, "tie_word_embeddings": True}
CASE_LIMIT_S = 30.0  # one command, whatever its input (the longest valid ones take ~3 s)

FUZZ = settings(max_examples=40, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture,
                                       HealthCheck.too_slow])

# Values of every class a hostile file may hold in place of a real one.
HOSTILE = st.one_of(
    st.none(), st.booleans(), st.integers(-(10**40), 10**40),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from(["", "1e-300 B/s", "1e300 GB/s", "-5 GHz", "12 furlongs", "nan TFLOPS",
                     "inf W", "9" * 400, "x" * 5000, "0 B", "1e999 TOPS", "\u202e", "caf\u00e9",
                     "!!python/object/apply:os.system ['true']", "{{", "[1, 2"]),
    st.lists(st.integers(), max_size=4), st.dictionaries(st.text(max_size=5), st.integers(),
                                                          max_size=3),
    st.text(max_size=30),
)


def run(args: list[str]):
    t0 = time.perf_counter()
    r = CliRunner().invoke(main, [str(a) for a in args])
    return r, time.perf_counter() - t0


def check(result, elapsed: float, names: tuple[str, ...], out_dir: Path | None = None) -> None:
    """The contract for any input: success, or exit 2 with one-line errors naming the input."""
    r = result
    assert elapsed < CASE_LIMIT_S, f"took {elapsed:.1f} s"
    assert "Traceback" not in r.output
    if r.exception is not None and not isinstance(r.exception, SystemExit):
        raise AssertionError(f"uncaught {type(r.exception).__name__}: {r.exception}")
    if out_dir is not None and out_dir.exists():
        assert not [p for p in out_dir.rglob("*") if ".tmp" in p.name], "half-written file"
    if r.exit_code == 0:
        return
    assert r.exit_code == 2, (r.exit_code, r.output[-400:])
    lines = [x for x in r.output.splitlines() if x.strip().startswith("error:")]
    assert lines, r.output[-400:]
    for line in lines:
        assert len(line) < 2000, line[:200]
        assert any(n in line for n in names), (names, line[:300])


# ---- file mutations ---------------------------------------------------------------------

def _paths(d, prefix=()):
    """Every (path, value) of a nested mapping / list."""
    if isinstance(d, dict):
        for k, v in d.items():
            yield prefix + (k,), v
            yield from _paths(v, prefix + (k,))
    elif isinstance(d, list):
        for i, v in enumerate(d):
            yield prefix + (i,), v
            yield from _paths(v, prefix + (i,))


def _mutate(data, draw) -> object:
    """``data`` with one leaf replaced, one key dropped, or one key renamed."""
    paths = [p for p, _ in _paths(data)]
    path = draw(st.sampled_from(paths))
    kind = draw(st.sampled_from(["replace", "replace", "drop", "rename"]))
    parent = data
    for k in path[:-1]:
        parent = parent[k]
    last = path[-1]
    if kind == "replace":
        parent[last] = draw(HOSTILE)
    elif kind == "drop":
        if isinstance(parent, dict):
            del parent[last]
        else:
            parent.pop(last)
    elif isinstance(parent, dict):
        parent[draw(st.sampled_from(["bogus", "Name", "", "__class__", "1"]))] = parent.pop(last)
    return data


@st.composite
def mutated_text(draw, original: str, as_json: bool = False) -> bytes:
    """A mutated file: a structural mutation of its data, or damage to its bytes."""
    how = draw(st.sampled_from(["data", "data", "data", "bytes", "duplicate", "deep", "bomb"]))
    raw = original.encode()
    if how == "data":
        data = json.loads(original) if as_json else yaml.safe_load(original)
        data = _mutate(data, draw)
        text = json.dumps(data, default=str) if as_json else yaml.safe_dump(
            data, allow_unicode=True)
        return text.encode()
    if how == "bytes":
        damage = draw(st.sampled_from([b"\xe9", b"\xff\xfe", b"\x00", b"\x80\x81", b"\xc3"]))
        at = draw(st.integers(0, len(raw)))
        return raw[:at] + damage + raw[at:]
    if how == "duplicate":
        if as_json:
            return raw.replace(b"{", b'{"model_type": "llama", ', 1)
        first = original.splitlines()[0] if not original.startswith("#") else next(
            ln for ln in original.splitlines() if ln and not ln.startswith(("#", " ")))
        return (original + "\n" + first + "\n").encode()
    if how == "deep":
        n = draw(st.sampled_from([100, 5000, 50000]))
        if as_json:
            return ("[" * n + "]" * n).encode()
        return (original + "\nextra: " + "[" * n + "]" * n + "\n").encode()
    bomb = 'a: &a ["x","x","x","x","x","x","x","x","x"]\n'
    prev = "a"
    for c in "bcdefghi":
        bomb += f"{c}: &{c} [" + ",".join(["*" + prev] * 9) + "]\n"
        prev = c
    return (bomb + "name: *i\n").encode()


@FUZZ
@given(data=st.data())
def test_chip_file(tmp_path_factory, data):
    f = tmp_path_factory.mktemp("chip") / "chip.yaml"
    f.write_bytes(data.draw(mutated_text(CHIP.read_text())))
    r, t = run(["estimate", "--chip", f, "--model", "qwen2.5-0.5b", "--format", "json"])
    check(r, t, ("chip.yaml",))


@FUZZ
@given(data=st.data())
def test_model_file(tmp_path_factory, data):
    f = tmp_path_factory.mktemp("model") / "model.yaml"
    f.write_bytes(data.draw(mutated_text(MODEL.read_text())))
    r, t = run(["estimate", "--chip", "jetson-agx-orin-64gb", "--model", f, "--generate", "4",
                "--format", "json"])
    check(r, t, ("model.yaml",))


@FUZZ
@given(data=st.data())
def test_hf_config(tmp_path_factory, data):
    f = tmp_path_factory.mktemp("hf") / "config.json"
    f.write_bytes(data.draw(mutated_text(json.dumps(HF), as_json=True)))
    r, t = run(["estimate", "--chip", "jetson-agx-orin-64gb", "--model", f, "--generate", "4",
                "--format", "json"])
    check(r, t, ("config.json",))


@FUZZ
@given(data=st.data())
def test_trace_file(tmp_path_factory, data):
    d = tmp_path_factory.mktemp("trace")
    f = d / "trace.yaml"
    f.write_bytes(data.draw(mutated_text(TRACE.read_text())))
    out = d / "out"
    r, t = run(["simulate", "--chip", "jetson-agx-orin-64gb", "--trace", f, "--model",
                "qwen2.5-0.5b", "--duration", "0.05", "--no-progress", "-o", out])
    check(r, t, ("trace.yaml",), out)


def _small_csv() -> str:
    rows = list(csv.reader(MEASUREMENTS.read_text(encoding="utf-8-sig").splitlines()))
    head = [rows[0]] + [r for r in rows[1:] if r and r[0] == "Jetson AGX Orin 64GB"][:4]
    buf = _io.StringIO()
    csv.writer(buf).writerows(head)
    return buf.getvalue()


@st.composite
def mutated_csv(draw) -> bytes:
    text = _small_csv()
    rows = list(csv.reader(text.splitlines()))
    how = draw(st.sampled_from(["cell", "cell", "header", "dup-column", "long", "bytes",
                                "ragged"]))
    if how == "cell":
        i = draw(st.integers(1, len(rows) - 1))
        j = draw(st.integers(0, len(rows[0]) - 1))
        rows[i][j] = str(draw(HOSTILE))
    elif how == "header":
        rows[0][draw(st.integers(0, len(rows[0]) - 1))] = draw(st.sampled_from(
            ["", "Device", "bogus", "device "]))
    elif how == "dup-column":
        rows[0].append("device")
        for r in rows[1:]:
            r.append("x")
    elif how == "long":
        rows[1][draw(st.integers(0, len(rows[0]) - 1))] = "y" * 200_000
    elif how == "ragged":
        rows[1] = rows[1][:3]
    else:
        return text.encode()[:50] + b"\xe9\x00" + text.encode()[50:]
    buf = _io.StringIO()
    csv.writer(buf).writerows(rows)
    return buf.getvalue().encode()


@settings(FUZZ, max_examples=30)
@given(data=st.data())
def test_measurements_csv(tmp_path_factory, data):
    d = tmp_path_factory.mktemp("csv")
    f = d / "rows.csv"
    f.write_bytes(data.draw(mutated_csv()))
    out = d / "cal.yaml"
    r, t = run(["calibrate", "--chip", "jetson-agx-orin-64gb", "--measurements", f,
                "--phase", "decode", "-o", out])
    check(r, t, ("rows.csv", "jetson-agx-orin-64gb"), d)


# ---- flags ------------------------------------------------------------------------------

FLAG_VALUES = st.one_of(
    st.sampled_from(["0", "-1", "1e30", "10" * 20, "nan", "inf", "-inf", "", " ", "1.5", "abc",
                     "0x10", "1_000", "\u00e9", "16777217", "4", "1"]),
    st.integers(-5, 10**30).map(str))

ESTIMATE_FLAGS = ("--batch", "--prompt", "--generate", "--weights", "--activations", "--kv",
                  "--head", "--power-mode", "--uncertainty", "--seed", "--format")


@settings(FUZZ, max_examples=60)
@given(flag=st.sampled_from(ESTIMATE_FLAGS), value=FLAG_VALUES)
def test_estimate_flags(flag, value):
    r, t = run(["estimate", "--chip", "jetson-agx-orin-64gb", "--model", "qwen2.5-0.5b",
                "--format", "json", f"{flag}={value}"])
    check(r, t, (flag, "jetson-agx-orin-64gb", "qwen2.5-0.5b"))


# --pop and --generations are left out: any value in range is a legitimate (long) search.
SEARCH_FLAGS = ("--objectives", "--tokens", "--budget-latency",
                "--scheduler", "--metric", "--law", "--batch", "--prompt", "--generate",
                "--top", "--robustness", "--workload", "--precision")


@settings(FUZZ, max_examples=40)
@given(flag=st.sampled_from(SEARCH_FLAGS), value=st.one_of(FLAG_VALUES, st.sampled_from(
    ["loss,loss", ",,,", "loss,bogus", "ucx://x:1", "tcp://", "inproc://", "5 parsecs",
     "100ms", "-3 ms"])))
def test_search_flags(tmp_path_factory, flag, value):
    out = tmp_path_factory.mktemp("search") / "run"
    r, t = run(["search", "--chip", "jetson-agx-orin-64gb", "--method", "nsga2", "--pop", "8",
                "--generations", "1", "-o", out, f"{flag}={value}"])
    check(r, t, (flag, "jetson-agx-orin-64gb", "objective", "scheduler", "law", "plas",
                 "budget", "no feasible"), out)


SIM_FLAGS = ("--duration", "--prefill-compute-share", "--prefill-bandwidth-share",
             "--reconfiguration-latency", "--policy", "--max-operators", "--phase-mode",
             "--seed", "--kv-overflow")


@settings(FUZZ, max_examples=30)
@given(flag=st.sampled_from(SIM_FLAGS), value=FLAG_VALUES)
def test_simulate_flags(tmp_path_factory, flag, value):
    out = tmp_path_factory.mktemp("sim") / "run"
    dur = [] if flag == "--duration" else ["--duration", "0.05"]
    r, t = run(["simulate", "--chip", "jetson-agx-orin-64gb", "--trace", "embodied-20ms",
                "--model", "qwen2.5-0.5b", "--no-progress", "-o", out, *dur, f"{flag}={value}"])
    check(r, t, (flag, "--phase-mode", "--duration", "operators", "share"), out)


@pytest.mark.parametrize("args", [
    ["calibrate", "--chip", "jetson-agx-orin-64gb", "--prior-weight", "nan"],
    ["calibrate", "--chip", "jetson-agx-orin-64gb", "--prior-weight", "inf"],
    ["chips", "show", "no-such-chip"], ["models", "show", "no-such-model"],
    ["study", "run", "no-such-study", "-o", "x"],
    ["codesign", "--objectives", "loss,loss", "-o", "x"],
    ["codesign", "--pop", "1000000000", "-o", "x"],
    ["estimate", "--chip", "jetson-agx-orin-64gb", "--model", "qwen2.5-0.5b", "--generate",
     "100000000"],
    ["roofline", "--chip", "jetson-agx-orin-64gb", "--model", "qwen2.5-0.5b", "-o", "r.txt"],
])
def test_named_hostile_flags(args, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    r, t = run(args)
    assert r.exit_code == 2
    check(r, t, ("--", "no-such", "not a", "unknown", "r.txt", "given more than once"))


def test_output_paths_checked_before_the_work(tmp_path):
    """An output that cannot be written fails at once, before any simulation or study."""
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    for args in (["simulate", "--chip", "jetson-agx-orin-64gb", "--trace", "vla-drive-10hz",
                  "-o", blocker / "sub"],
                 ["study", "run", "scenario-chips", "-o", blocker / "sub"],
                 ["search", "--chip", "jetson-agx-orin-64gb", "-o", blocker / "sub"],
                 ["estimate", "--chip", "jetson-agx-orin-64gb", "--model", "qwen2.5-0.5b",
                  "-o", blocker / "e.json"]):
        r, t = run(args)
        assert r.exit_code == 2 and t < 5.0, (args, r.output)
        assert f"{blocker} is a file, not a directory" in r.output


def test_alias_bomb_is_refused_quickly(tmp_path):
    f = tmp_path / "bomb.yaml"
    body = 'a: &a ["x","x","x","x","x","x","x","x","x"]\n'
    prev = "a"
    for c in "bcdefghi":
        body += f"{c}: &{c} [" + ",".join(["*" + prev] * 9) + "]\n"
        prev = c
    f.write_text(body + "name: *i\n")
    r, t = run(["estimate", "--chip", f, "--model", "qwen2.5-0.5b"])
    assert r.exit_code == 2 and t < 5.0
    assert "bomb.yaml: more than" in r.output and "alias" in r.output


def test_duplicate_keys_are_refused(tmp_path):
    f = tmp_path / "dup.yaml"
    f.write_text(CHIP.read_text() + "\nname: other\n")
    r, _ = run(["estimate", "--chip", f, "--model", "qwen2.5-0.5b"])
    assert r.exit_code == 2 and "dup.yaml" in r.output and "duplicate key 'name'" in r.output
