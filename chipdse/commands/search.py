"""``chipdse search`` (PLAS: model architectures on a fixed chip) and ``chipdse codesign``
(chip and model together; with ``--model``, chip sizing for that model).

Budgets must be finite and > 0. When no evaluated design meets the budgets, the run still
writes its results (with ``-o``), then exits with status 2 and one line saying by how much the
closest designs miss each budget."""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click
import numpy as np

from chipdse import io
from chipdse.commands.common import (
    FORMATS,
    MAX_BATCH,
    MAX_DRAWS,
    MAX_TOKENS,
    Finite,
    chip_with_mode,
    emit,
    format_option,
    power_mode_option,
    progress_printer,
    seed_option,
    verbosity,
)
from chipdse.errors import UserError
from microarch.excerpt import excerpt
from microarch.schema import load_json
from microarch.units import UnitError, parse_quantity

_PRECISIONS = {"fp16": ("fp16", "fp16", "fp16"), "int8": ("int8", "int8", "int8"),
               "w8a16": ("int8", "fp16", "fp16"), "w4a16": ("int4", "fp16", "fp16"),
               "fp8": ("fp8", "fp8", "fp8")}
_OUT_COLUMNS = ("n_layers", "d_model", "experts", "kv_heads", "ffn_ratio", "matrix_units",
                "clock_ghz", "dram_bus_bits", "sram_mib", "kv_sram_mib", "native_moe",
                "fused_nonlinear", "phase_mode", "node_nm", "loss", "perplexity", "latency_s",
                "prefill_s", "decode_s", "energy_j", "area_mm2", "power_w", "cost_usd",
                "memory_bytes")


# Largest --pop: NSGA-II keeps about 2 kB per individual (pymoo objects, offspring and
# survival sorting); a million is 2 GB, beyond that the population does not fit a workstation.
MAX_POP = 1_000_000

def _quantity(value: str | None, dim: str, option: str) -> float | None:
    """A budget option's value in SI units; it must be finite and > 0."""
    if value is None:
        return None
    try:
        q = parse_quantity(value, dim)
    except UnitError as exc:
        raise UserError(f"{option}: {exc}") from None
    if not (math.isfinite(q) and q > 0):
        raise UserError(f"{option}: a budget must be finite and > 0, got {excerpt(value)}")
    return q


def _no_feasible_message(res, out: Path | None) -> str:
    """One line: no design meets the budgets, and by how much the closest misses each."""
    frame = res.frame
    misses = []
    for col in (c for c in frame.columns if str(c).startswith("g_")):
        best = float(np.nanmin(frame[col].to_numpy(float))) if len(frame) else float("nan")
        if best > 0:
            misses.append(f"{col[2:]}: the closest design needs {1 + best:.3g}x the budget")
    detail = "; ".join(misses) or "none meets all of them at once"
    where = f"; every design is in {out}/results.csv" if out is not None else ""
    return (f"no design meets the budgets ({detail}) among {len(frame):,} evaluated; relax a "
            f"budget or change the workload{where}")


def _common(f: Callable) -> Callable:
    opts = [
        click.option("--workload", default="driving", show_default=True,
                     type=click.Choice(["driving", "embodied", "smart-home", "serving"]),
                     help="Scenario of arXiv 2602.10377 Table 2: sets the latency metric and "
                          "the default latency budget."),
        click.option("--precision", default="fp16", show_default=True,
                     type=click.Choice(sorted(_PRECISIONS)),
                     help="Weights / activations / KV formats (int8 = W8A8 with INT8 KV)."),
        click.option("--weights", type=click.Choice(FORMATS), default=None,
                     help="Override the weight format."),
        click.option("--activations", type=click.Choice(FORMATS), default=None,
                     help="Override the activation format."),
        click.option("--kv", type=click.Choice(FORMATS), default=None,
                     help="Override the KV-cache format."),
        click.option("--batch", type=click.IntRange(1, MAX_BATCH), default=1, show_default=True),
        click.option("--prompt", type=click.IntRange(1, MAX_TOKENS), default=1024,
                     show_default=True),
        click.option("--generate", type=click.IntRange(0, MAX_TOKENS), default=16,
                     show_default=True),
        click.option("--metric", type=click.Choice(["total", "prefill", "decode"]),
                     default=None, help="Latency objective (default: the workload's)."),
        click.option("--budget-latency", default=None,
                     help="Latency budget, e.g. '100ms' (default: the workload's)."),
        click.option("--budget-memory", default=None, help="Memory budget, e.g. '8GB'."),
        click.option("--max-cost-usd", type=Finite(min=0, min_open=True), default=None,
                     help="Budget on the chip's cost per unit in US dollars (die, package, "
                          "test, DRAM and the NRE spread over --volume; microarch.cost_usd)."),
        click.option("--volume", type=Finite(min=1), default=None,
                     help="Units shipped, over which the chip's design and mask set are "
                          "spread in cost_usd (default: the cost data's, 1e6)."),
        click.option("--law", default="plas", show_default=True,
                     type=click.Choice(["plas", "chinchilla", "chinchilla-epoch",
                                        "moe-granular"]), help="Loss law."),
        click.option("--tokens", type=Finite(), default=10e9,
                     show_default=True,
                     help="Training tokens (> 0) for the token-dependent laws; the plas law "
                          "holds at 10B only and refuses any other value."),
        click.option("--objectives", default=None,
                     help="Comma-separated objective columns (e.g. loss,latency_s)."),
        click.option("--method", type=click.Choice(["auto", "grid", "lhs", "nsga2"]),
                     default="auto", show_default=True,
                     help="auto: enumerate small grids, NSGA-II otherwise."),
        click.option("--pop", "pop_size", type=click.IntRange(4, MAX_POP), default=100,
                     show_default=True, help="NSGA-II population."),
        click.option("--generations", type=click.IntRange(1, 100_000), default=50,
                     show_default=True, help="NSGA-II generations."),
        click.option("--paper-model", is_flag=True,
                     help="The source paper's pure roofline (efficiency 1, no overheads)."),
        click.option("-o", "--output", type=click.Path(file_okay=False, path_type=Path),
                     default=None, help="Run directory: config.json, state, results.csv, "
                                        "front.csv, summary.json, pareto.png."),
        click.option("--resume", type=click.Path(file_okay=False, path_type=Path),
                     default=None, help="Continue the interrupted run in this directory "
                                        "(its saved options are used)."),
        click.option("--scheduler", default=None,
                     help="Dask scheduler address (tcp://HOST:PORT) for evaluation batches."),
        click.option("--top", type=click.IntRange(min=1), default=20, show_default=True,
                     help="Front rows printed on stdout."),
        click.option("--robustness", type=click.IntRange(1, MAX_DRAWS), default=None, metavar="N",
                     help="Re-score the final front under N draws of the chip's uncertain "
                          "numbers and the prediction error; write front_robustness.csv "
                          "(front_share: how often each design stays on the front)."),
        seed_option, format_option,
    ]
    for o in reversed(opts):
        f = o(f)
    return f


_RUNTIME = ("resume", "scheduler", "fmt", "top", "output", "robustness")


def _resolve(kw: dict[str, Any], command: str) -> dict[str, Any]:
    """With --resume, take the saved options of the run (runtime options stay as given)."""
    if kw.get("resume") is None:
        return kw
    cfg = Path(kw["resume"]) / "config.json"
    if not cfg.is_file():
        raise UserError(f"{cfg}: not found; --resume needs the directory of an earlier run")
    data = load_json(cfg)
    saved = data.get("inputs") if isinstance(data, dict) else None
    saved = saved.get("cli") if isinstance(saved, dict) else None
    if not isinstance(saved, dict) or not isinstance(saved.get("options"), dict):
        raise UserError(f"{cfg}: inputs.cli.options: missing; not the config.json of a chipdse "
                        "search run")
    if saved.get("command") != command:
        raise UserError(f"{cfg}: inputs.cli.command: that run was "
                        f"'chipdse {str(saved.get('command'))[:40]}', not 'chipdse {command}'")
    options = _checked_options(cfg, saved["options"], kw)
    out = {**options, **{k: kw[k] for k in _RUNTIME}}
    out["output"] = Path(kw["resume"])
    return out


def _checked_options(cfg: Path, options: dict[str, Any], kw: dict[str, Any]) -> dict[str, Any]:
    """The saved options of a run, each converted and checked as its command-line flag is: a
    config.json edited by hand (or by someone else) is held to the CLI's rules."""
    ctx = click.get_current_context()
    # --power-mode is folded into --chip (NAME@MODE) before the options are saved.
    params = {p.name: p for p in ctx.command.params
              if p.name not in _RUNTIME and p.name != "power_mode"}
    # Options added after a run was saved take their defaults.
    missing = sorted(set(params) - set(options) - {"seed", "max_cost_usd", "volume"})
    if missing:
        raise UserError(f"{cfg}: inputs.cli.options: missing {', '.join(missing)}")
    unknown = sorted(set(options) - set(params) - set(_RUNTIME))
    if unknown:
        raise UserError(f"{cfg}: inputs.cli.options: unknown option "
                        f"{', '.join(excerpt(u) for u in unknown)}")
    out = {}
    for name, value in options.items():
        p = params.get(name)
        if p is None or value is None:
            out[name] = value
            continue
        try:
            if p.multiple or p.nargs != 1:
                if not isinstance(value, list):
                    raise click.BadParameter(f"{excerpt(value)} is not a list")
                out[name] = tuple(p.type.convert(v, p, ctx) for v in value)
            else:
                out[name] = p.type.convert(value, p, ctx)
        except click.BadParameter as exc:
            raise UserError(f"{cfg}: inputs.cli.options.{name}: {exc.message}") from None
    return out


def _problem_inputs(kw: dict[str, Any]):
    from chipdse.api import make_precision
    from chipdse.search import WORKLOADS, Budgets, Workload
    from chipdse.search.laws import check_tokens

    try:
        check_tokens(kw["tokens"], kw["law"])
    except UserError as exc:
        raise UserError(f"--tokens: {exc}") from None

    base, default_budget = WORKLOADS[kw["workload"]]
    w, a, k = _PRECISIONS[kw["precision"]]
    prec = make_precision(kw["weights"] or w, kw["activations"] or a, kw["kv"] or k)
    workload = Workload(name=base.name, batch=kw["batch"], prompt=kw["prompt"],
                        generate=kw["generate"], precision=prec,
                        metric=kw["metric"] or base.metric)
    lat = _quantity(kw["budget_latency"], "s", "--budget-latency")
    budgets = Budgets(
        latency_s=default_budget if lat is None else lat,
        memory_bytes=_quantity(kw["budget_memory"], "bytes", "--budget-memory"),
        power_w=_quantity(kw.get("budget_power"), "w", "--budget-power"),
        area_mm2=_quantity(kw.get("budget_area"), "mm2", "--budget-area"),
        cost_usd=kw.get("max_cost_usd"))
    objectives = None
    if kw["objectives"] is not None:
        names = [o.strip() for o in kw["objectives"].split(",")]
        if not all(names):
            raise UserError(f"--objectives: {kw['objectives']!r} has an empty name (give a "
                            "comma-separated list such as loss,latency_s)")
        twice = sorted({o for o in names if names.count(o) > 1})
        if twice:
            raise UserError(f"--objectives: {', '.join(twice)} given more than once")
        objectives = tuple(names)
    return workload, budgets, objectives


def _run(problem, kw: dict[str, Any], command: str, cli_options: dict[str, Any]) -> None:
    from chipdse.search import run_search

    out = kw["output"]
    if out is not None:
        io.prepare_dir(out)  # before the work, not after it
    progress = progress_printer()
    res = run_search(problem, method=kw["method"], pop_size=kw["pop_size"],
                     generations=kw["generations"], seed=kw["seed"], run_dir=out,
                     resume=kw["resume"] is not None, scheduler=kw["scheduler"],
                     progress=progress, simulator="auto",
                     config_extra={"cli": {"command": command, "options": cli_options}})
    progress.done()
    if out is not None:
        res.save(out)
        if verbosity() >= 0:
            click.echo(f"wrote {out}/results.csv, front.csv, summary.json, pareto.png",
                       err=True)
    front = res.front
    if len(res.frame) and front.empty:
        raise UserError(_no_feasible_message(res, out))
    for note in res.notes:
        if verbosity() >= 0:
            click.echo(f"note: {note}", err=True)
    cols = [c for c in _OUT_COLUMNS if c in front.columns]
    click.echo(f"{len(front)} Pareto designs of {len(res.frame)} evaluated "
               f"({res.method}, {res.elapsed_s:.2f} s)", err=True)
    if kw.get("robustness"):
        from chipdse.search.robustness import front_robustness, robustness_summary

        rob = front_robustness(problem, res, kw["robustness"], kw["seed"])
        click.echo(robustness_summary(rob, kw["robustness"]), err=True)
        if out is not None:
            io.write_csv(out / "front_robustness.csv", rob)
            click.echo(f"wrote {out}/front_robustness.csv", err=True)
        front = rob.sort_values(list(res.objectives))
        cols = cols + ["front_share"]
    emit(front[cols].head(kw["top"]).reset_index(drop=True), kw["fmt"])


def _cli_options(kw: dict[str, Any]) -> dict[str, Any]:
    return {k: (str(v) if isinstance(v, Path) else v) for k, v in kw.items()
            if k not in _RUNTIME}


@click.command("search")
@click.option("--chip", default=None, help="Chip preset name or chip .yaml file.")
@power_mode_option
@_common
def search(**kw: Any) -> None:
    """PLAS: Pareto-optimal model architectures (loss vs latency) on a fixed chip."""
    from chipdse.api import load_chip
    from chipdse.cost import CostOptions
    from chipdse.search import PlasProblem

    kw["chip"] = chip_with_mode(kw.get("chip"), kw.pop("power_mode"))
    kw = _resolve(kw, "search")
    if not kw.get("chip"):
        raise UserError("--chip is required (a preset name or a chip .yaml)")
    workload, budgets, objectives = _problem_inputs(kw)
    problem = PlasProblem(load_chip(kw["chip"]), workload, budgets, law=kw["law"],
                          objectives=objectives or ("loss", "latency_s"),
                          options=CostOptions.paper() if kw["paper_model"] else CostOptions(),
                          tokens=kw["tokens"], volume_units=kw.get("volume"))
    _run(problem, kw, "search", _cli_options(kw))


@click.command("codesign")
@click.option("--model", default=None,
              help="Fix the model (preset, .yaml or config.json): chip sizing only.")
@click.option("--budget-area", default=None, help="Die-area budget, e.g. '415mm2'.")
@click.option("--budget-power", default=None, help="Peak-power budget, e.g. '60W'.")
@click.option("--family", default="m100", show_default=True,
              help="Chip family (families.yaml) giving the template's efficiencies.")
@_common
def codesign(**kw: Any) -> None:
    """Joint co-design of chip and model (loss, latency, area), or chip sizing with --model."""
    from chipdse.api import load_model
    from chipdse.cost import CostOptions
    from chipdse.search import ChipSizingProblem, CoDesignProblem
    from microarch.template import ChipTemplate

    kw = _resolve(kw, "codesign")
    workload, budgets, objectives = _problem_inputs(kw)
    opts = CostOptions.paper() if kw["paper_model"] else CostOptions()
    try:
        template = ChipTemplate(family=kw["family"])
        template._family()
    except ValueError as exc:
        raise UserError(f"--family: {exc}") from None
    if kw["model"]:
        problem = ChipSizingProblem(load_model(kw["model"]), workload, budgets,
                                    objectives=objectives or ("latency_s", "energy_j",
                                                              "area_mm2"),
                                    template=template, options=opts, law=kw["law"],
                                    tokens=kw["tokens"], volume_units=kw.get("volume"))
    else:
        problem = CoDesignProblem(workload, budgets, law=kw["law"],
                                  objectives=objectives or ("loss", "latency_s", "area_mm2"),
                                  template=template, options=opts, tokens=kw["tokens"],
                                  volume_units=kw.get("volume"))
    _run(problem, kw, "codesign", _cli_options(kw))


COMMANDS = [search, codesign]
