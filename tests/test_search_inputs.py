"""Search inputs refused up front with one clear line: budgets that are not finite and > 0,
training-token budgets the loss law cannot use, encoder models for chip sizing, and a run in
which no design meets the budgets."""

import math

import pandas as pd
import pytest
from click.testing import CliRunner

from chipdse.api import codesign, search
from chipdse.cli import main
from chipdse.commands.search import COMMANDS
from chipdse.errors import UserError
from chipdse.search import (
    Budgets,
    ChipSizingProblem,
    CoDesignProblem,
    PlasProblem,
    Workload,
)
from workloads.loader import load_model

for _cmd in COMMANDS:
    if _cmd.name not in main.commands:
        main.add_command(_cmd)

FIELDS = ("latency_s", "memory_bytes", "power_w", "area_mm2")


@pytest.mark.parametrize("field", FIELDS)
@pytest.mark.parametrize("value", [-0.1, 0.0, math.nan, math.inf, -math.inf, "fast"])
def test_budgets_must_be_finite_and_positive(field, value):
    with pytest.raises(UserError, match=f"budget {field} must be a finite number > 0"):
        Budgets(**{field: value})


def test_valid_budgets_are_kept():
    b = Budgets(latency_s=0.1, memory_bytes=8e9, power_w=60, area_mm2=400)
    assert b.to_dict() == {"latency_s": 0.1, "memory_bytes": 8e9, "power_w": 60.0,
                           "area_mm2": 400.0}
    assert Budgets().to_dict() == dict.fromkeys(FIELDS)


@pytest.mark.parametrize("args, option", [
    (["search", "--chip", "jetson-agx-orin-64gb", "--budget-latency=-100ms"],
     "--budget-latency"),
    (["search", "--chip", "jetson-agx-orin-64gb", "--budget-latency", "0s"],
     "--budget-latency"),
    (["codesign", "--budget-area=-5mm2"], "--budget-area"),
    (["codesign", "--budget-memory=-1GB"], "--budget-memory"),
    (["codesign", "--budget-power", "0W"], "--budget-power"),
])
def test_cli_refuses_budgets_that_are_not_positive(args, option):
    r = CliRunner().invoke(main, args)
    assert r.exit_code == 2, r.output
    assert f"{option}: a budget must be finite and > 0" in r.output
    assert "Traceback" not in r.output


def test_cli_no_feasible_design_is_an_error_after_writing_results(tmp_path):
    out = tmp_path / "run"
    r = CliRunner().invoke(main, ["search", "--chip", "jetson-agx-orin-64gb",
                                  "--budget-latency", "1ms", "-o", str(out)])
    assert r.exit_code == 2
    line = [x for x in r.output.splitlines() if x.startswith("error:")]
    assert len(line) == 1 and "no design meets the budgets" in line[0]
    assert "latency: the closest design needs" in line[0]
    frame = pd.read_csv(out / "results.csv")
    assert len(frame) > 0 and not frame["feasible"].any()
    # The closest design's latency is the figure quoted (budget 1 ms).
    need = frame["latency_s"].min() / 1e-3
    assert f"{need:.3g}x the budget" in line[0]


def test_api_no_feasible_design_is_a_note(orin):
    res = search(orin, budgets=Budgets(latency_s=1e-3))
    assert res.front.empty and "no evaluated design meets the budgets" in res.notes


def test_tokens_are_forwarded_and_checked(orin):
    short = search(orin, law="chinchilla", tokens=1e10, simulator=None)
    long = search(orin, law="chinchilla", tokens=1e12, simulator=None)
    assert long.config["problem"]["tokens"] == 1e12
    assert (long.frame["loss"].to_numpy() < short.frame["loss"].to_numpy()).all()
    s = codesign("qwen2.5-0.5b", law="chinchilla", tokens=2e10, pop_size=8, generations=1,
                 simulator=None)
    assert s.config["problem"]["tokens"] == 2e10
    c = codesign(law="chinchilla", tokens=2e10, pop_size=8, generations=1, simulator=None)
    assert c.config["problem"]["tokens"] == 2e10
    with pytest.raises(UserError, match="holds at 10B training tokens only"):
        search(orin, tokens=1e11)
    with pytest.raises(UserError, match="finite number > 0"):
        codesign(law="chinchilla", tokens=0.0)


@pytest.mark.parametrize("tokens", [0.0, -1e9, math.nan, math.inf])
def test_problems_refuse_bad_token_budgets(orin, qwen05, tokens):
    for make in (lambda: PlasProblem(orin, law="chinchilla", tokens=tokens),
                 lambda: CoDesignProblem(law="chinchilla", tokens=tokens),
                 lambda: ChipSizingProblem(qwen05, law="chinchilla", tokens=tokens)):
        with pytest.raises(UserError, match="training tokens must be a finite number > 0"):
            make()


def test_plas_law_refuses_other_token_budgets(orin, qwen05):
    for make in (lambda: PlasProblem(orin, tokens=1e12),
                 lambda: CoDesignProblem(tokens=5e9),
                 lambda: ChipSizingProblem(qwen05, tokens=1e11)):
        with pytest.raises(UserError, match="'plas' has no token term"):
            make()
    assert PlasProblem(orin, tokens=10e9).tokens == 10e9


def test_cli_tokens():
    r = CliRunner().invoke(main, ["search", "--chip", "jetson-agx-orin-64gb", "--tokens",
                                  "1e11"])
    assert r.exit_code == 2 and "'plas' has no token term" in r.output
    r = CliRunner().invoke(main, ["search", "--chip", "jetson-agx-orin-64gb", "--law",
                                  "chinchilla", "--tokens", "-1"])
    assert r.exit_code == 2 and "training tokens must be a finite number > 0" in r.output


def test_sizing_refuses_an_encoder_up_front():
    clip = load_model("clip-vit-large-patch14")
    assert not clip.causal
    with pytest.raises(UserError, match="is an encoder"):
        ChipSizingProblem(clip, Workload(), Budgets(latency_s=0.1))
    r = CliRunner().invoke(main, ["codesign", "--model", "clip-vit-large-patch14"])
    assert r.exit_code == 2 and "is an encoder (causal: false)" in r.output
    assert "generation" not in r.output  # refused before any search work
