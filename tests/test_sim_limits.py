"""Simulator inputs that cannot run: one clear error before any work, never a traceback."""

from __future__ import annotations

import dataclasses
import time

import numpy as np
import pytest
import yaml
from click.testing import CliRunner

from chipdse.cli import main
from chipdse.commands.simulate import simulate as simulate_cmd
from chipdse.errors import USER_ERRORS, UserError
from chipdse.sim import SimOptions, Simulator, simulate, with_phase
from chipdse.sim.engine import MAX_OPERATORS, MAX_REQUEST_OPERATORS
from microarch.loader import load_chip
from workloads.loader import load_model
from workloads.ops import ArchArrays, phase_operators
from workloads.precision import Precision
from workloads.trace import Language, Stream, Trace, VLARequest

if "simulate" not in main.commands:  # registered through chipdse.cli.COMMANDS
    main.add_command(simulate_cmd)

CHIP = "jetson-agx-orin-64gb"
QWEN = load_model("qwen2.5-0.5b")


def lm_trace(prompt: int = 64, actions: int = 2, duration: float = 0.3, offset: float = 0.0,
             rate: float = 10.0) -> Trace:
    req = VLARequest(None, Language(QWEN, actions, prompt_tokens=prompt))
    return Trace("t", (Stream("vla", req, rate, 1.0, offset_s=offset),), duration)


def pass_ops(model, precision, batch, tokens, past, logits="last") -> int:
    """Operators of one pass, counted from the operator list: per-layer operators once per
    layer (those with a zero count are absent), the others once."""
    ops = phase_operators(ArchArrays.from_model(model), precision, batch, tokens, past, logits)
    return int(sum(model.n_layers if o.layer_op and float(np.max(o.count)) > 0 else
                   (0 if o.layer_op else 1) for o in ops))


def ops_per_request(prompt: int, actions: int) -> int:
    """Operator count of one language-only request from the operator lists."""
    p = Precision()
    return pass_ops(QWEN, p, 1, prompt, 0) + sum(pass_ops(QWEN, p, 1, 1, prompt + i)
                                                 for i in range(actions))


@pytest.mark.parametrize("duration", [float("inf"), float("nan"), 0.0, -1.0])
def test_duration_must_be_finite_and_positive(duration):
    with pytest.raises(UserError, match="duration must be a finite number of seconds > 0"):
        simulate(CHIP, trace=lm_trace(), duration_s=duration)


@pytest.mark.parametrize("seed", [-1, 1.5, True])
def test_seed_must_be_a_non_negative_integer(seed):
    with pytest.raises(UserError, match="seed must be an integer >= 0"):
        simulate(CHIP, trace=lm_trace(), seed=seed)


def test_reconfiguration_latency_must_be_finite():
    chip = load_chip(CHIP)
    with pytest.raises(UserError, match="reconfiguration latency must be a finite time"):
        with_phase(chip, "reconfigurable", reconfiguration_latency_s=float("inf"))
    # A chip built another way is checked by the simulator itself.
    phase = dataclasses.replace(chip.phase, mode=with_phase(chip, "reconfigurable").phase.mode,
                                reconfiguration_latency_s=float("inf"))
    with pytest.raises(UserError, match="reconfiguration latency must be a finite time"):
        Simulator(chip.replace(phase=phase), lm_trace(), Precision(), 0.3)


def test_an_encoder_is_refused_as_the_language_model():
    with pytest.raises(UserError, match="'clip-vit-large-patch14' is an encoder"):
        simulate(CHIP, "clip-vit-large-patch14", "vla-overlap-10hz")


@pytest.mark.parametrize("offset, duration", [(5.0, 1.0), (1.0, 1.0)])
def test_a_stream_without_requests_is_refused(offset, duration):
    with pytest.raises(UserError) as exc:
        simulate(CHIP, trace=lm_trace(offset=offset, duration=duration))
    assert str(exc.value) == (f"trace 't': no request of stream 'vla' arrives in "
                              f"[0, {duration:g} s) (first frame at {offset:g} s, then every "
                              "0.1 s); lengthen the duration or lower the stream's offset")


def test_a_very_slow_stream_still_runs_its_first_frame():
    r = simulate(CHIP, trace=lm_trace(rate=1e-9, duration=1.0))
    assert r.totals["requests"] == 1 and r.requests["arrival_s"].iloc[0] == 0.0


def test_operator_limit_is_exact():
    n = 3 * ops_per_request(64, 2)  # 3 frames at 10 Hz in 0.3 s
    r = simulate(CHIP, trace=lm_trace(), options=SimOptions(max_operators=n))
    assert r.totals["operators"] == n
    with pytest.raises(UserError) as exc:
        simulate(CHIP, trace=lm_trace(), options=SimOptions(max_operators=n - 1))
    msg = str(exc.value)
    assert f"{n:,} operators to simulate exceed the limit of {n - 1:,}" in msg
    assert "3 frames x" in msg and "--duration" in msg and "\n" not in msg


def test_a_huge_request_is_refused_before_any_work():
    # 1M-token prompt, 100k action tokens: ~22 M operators in one request, whose costs would
    # be held in memory at once: over the per-request limit.
    tr = lm_trace(prompt=1_000_000, actions=100_000, duration=0.05)
    t0 = time.perf_counter()
    with pytest.raises(UserError, match=f"more than the limit of {MAX_REQUEST_OPERATORS:,} "
                                        "per request") as exc:
        simulate(CHIP, trace=tr)
    assert "--max-request-operators" in str(exc.value) and "\n" not in str(exc.value)
    assert time.perf_counter() - t0 < 10  # refused up front, not killed for memory


def test_request_operator_limit_is_exact():
    n = ops_per_request(64, 2)
    r = simulate(CHIP, trace=lm_trace(), options=SimOptions(max_request_operators=n))
    assert r.totals["operators"] == 3 * n
    with pytest.raises(UserError, match=f"has {n:,} operators .* more than the limit of "
                                        f"{n - 1:,} per request"):
        simulate(CHIP, trace=lm_trace(), options=SimOptions(max_request_operators=n - 1))


def test_the_event_log_does_not_bound_a_run():
    """Operators beyond the old 20 M event-log limit run: the log is kept per batch, so
    memory follows the batches (one per stage here), not the operators."""
    n = ops_per_request(64, 2)
    frames = 20_000_000 // n + 1
    tr = lm_trace(rate=1000.0, duration=frames / 1000.0)
    sim = Simulator(load_chip(CHIP), tr, Precision(), tr.duration_s)
    assert sim.n_operators > 20_000_000 and sim.n_operators <= MAX_OPERATORS


def test_an_astronomic_duration_is_refused_by_the_operator_limit():
    with pytest.raises(UserError, match=r"1e\+301 frames x"):
        simulate(CHIP, trace=lm_trace(), duration_s=1e300)


@pytest.mark.parametrize("value", [0, -5, True, 2.5])
@pytest.mark.parametrize("name", ["max_operators", "max_request_operators"])
def test_max_operators_option_is_validated(name, value):
    with pytest.raises(UserError, match=f"{name} must be an integer >= 1"):
        SimOptions(**{name: value})


@pytest.mark.parametrize("value", [-1, True, 1.5])
def test_max_trace_ops_is_validated(value):
    with pytest.raises(UserError, match="max_trace_ops must be an integer >= 0"):
        SimOptions(max_trace_ops=value)


def test_cli_help_states_the_default_limits():
    res = CliRunner().invoke(main, ["simulate", "--help"])
    text = " ".join(res.output.split())
    assert f"{MAX_OPERATORS:,}" in text and f"{MAX_REQUEST_OPERATORS:,}" in text
    assert f"{SimOptions().max_trace_ops:,}" in text


def _write(tmp_path, name, language, arrival=None):
    data = {"name": name, "duration": "300 ms", "streams": [{
        "name": "vla", "deadline": "100 ms", "arrival": arrival or {"rate": "10 Hz"},
        "language": language}]}
    p = tmp_path / f"{name}.yaml"
    p.write_text(yaml.safe_dump(data), encoding="utf-8")
    return str(p)


@pytest.mark.parametrize("args, message", [
    (["--duration", "inf"], "--duration: must be a finite time, got 'inf'"),
    (["--duration", "1e400"], "--duration: must be a finite time, got '1e400'"),
    (["--duration", "1e300"], f"exceed the limit of {MAX_OPERATORS:,}"),
    (["--phase-mode", "reconfigurable", "--reconfiguration-latency", "inf"],
     "--reconfiguration-latency: must be a finite time"),
    (["--phase-mode", "reconfigurable", "--reconfiguration-latency", "1e400"],
     "--reconfiguration-latency: must be a finite time"),
    (["--model", "clip-vit-large-patch14"], "'clip-vit-large-patch14' is an encoder"),
    (["--seed", "-1"], "--seed"),
    (["--trace", "LATE"], "no request of stream 'vla' arrives in [0, 0.3 s)"),
    (["--trace", "HUGE"], "use fewer tokens or cameras (or raise --max-request-operators)"),
    (["--max-request-operators", "10"], "more than the limit of 10 per request"),
    (["--max-request-operators", "0"], "--max-request-operators"),
    (["--max-operators", "10"], "exceed the limit of 10"),
    (["--max-operators", "0"], "--max-operators"),
])
def test_cli_refusals_are_one_line_exit_2(tmp_path, args, message):
    files = {"LATE": _write(tmp_path, "late", {"prompt_tokens": 64, "action_tokens": 2},
                            {"rate": "10 Hz", "offset": "5 s"}),
             "HUGE": _write(tmp_path, "huge", {"prompt_tokens": 1_000_000,
                                               "action_tokens": 100_000})}
    args = [files.get(a, a) for a in args]
    if "--trace" not in args:
        args += ["--trace", "vla-overlap-10hz"]
    if "--model" not in args:
        args += ["--model", "qwen2.5-0.5b"]
    res = CliRunner().invoke(main, ["simulate", "--chip", CHIP, "-o", str(tmp_path / "o"),
                                    "--no-progress", *args])
    assert res.exit_code == 2, res.output
    lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
    if lines[0].startswith("Usage:"):  # rejected by click's own type check
        assert lines[-1].startswith("Error: Invalid value") and message in lines[-1], lines
    else:
        assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], lines
    assert not (tmp_path / "o").exists()


def test_refusals_are_user_errors():
    assert issubclass(UserError, USER_ERRORS)
