"""``chipdse estimate`` and ``chipdse roofline``."""

from __future__ import annotations

from pathlib import Path

import click
import numpy as np

from chipdse import api, io
from chipdse.commands.common import (
    MAX_DRAWS,
    emit,
    format_option,
    output_format,
    output_option,
    precision_from,
    seed_option,
    workload_options,
)
from chipdse.cost import CostOptions


@click.command("estimate")
@workload_options(several_chips=True, model_required=False)
@click.option("--trace", default=None,
              help="Estimate one VLA frame of this trace (preset or .yaml) instead of a "
                   "prompt/generate request: vision encoder, prefill and action generation, "
                   "with a per-pass breakdown (--batch, --prompt and --generate do not apply).")
@click.option("--stream", default=None, help="With --trace: the stream (default: the first).")
@click.option("--paper-model", is_flag=True,
              help="Use the source paper's pure roofline (efficiency 1, no overheads).")
@click.option("--uncertainty", type=click.IntRange(1, MAX_DRAWS), is_flag=False, flag_value=1000,
              default=None, metavar="[N]",
              help="Draw the chip's uncertain numbers and the cost model's prediction error N "
                   "times (default 1000) and report 5 / 50 / 95 % percentiles of prefill_s, "
                   "decode_tokens_per_s, total_s and energy_j.")
@seed_option
@format_option
@output_option
def estimate(fmt: str, output: Path | None, paper_model: bool, uncertainty: int | None,
             seed: int, trace: str | None, stream: str | None, **kw) -> None:
    """Latency, throughput, energy and memory of one model on one chip (or, with --trace,
    of one VLA frame)."""
    if output is not None:
        io.check_output_file(output)  # before the work, not after it
        output_format(output)
    opts = CostOptions.paper() if paper_model else CostOptions()
    if trace is not None:
        _frame(trace, stream, kw, opts, fmt, output, uncertainty, seed)
        return
    if kw["model"] is None:
        raise click.UsageError("Missing option '--model' (or give --trace for a VLA frame).")
    ests = [api.estimate(c, kw["model"], precision_from(kw), kw["batch"], kw["prompt"],
                         kw["generate"], opts, uncertainty=uncertainty, seed=seed)
            for c in kw["chip"]]
    for est in ests:
        for asked, ran in (est.format_substitutions or {}).items():
            click.echo(f"warning: {est.chip} has no {asked} matrix lanes; {asked} GEMMs run "
                       f"(and are estimated) in {ran}", err=True)
        if not est.fits_in_memory:
            click.echo(f"warning: {est.model} needs {est.memory_bytes / 1e9:.3g} GB but "
                       f"{est.chip} has {est.dram_capacity_bytes / 1e9:.3g} GB of DRAM",
                       err=True)
    table = _side_by_side([readable(e) for e in ests])
    data = ests[0].to_dict() if len(ests) == 1 else [e.to_dict() for e in ests]
    emit(data, fmt, output, table=table)


def _frame(trace: str, stream: str | None, kw: dict, opts: CostOptions, fmt: str,
           output: Path | None, uncertainty: int | None, seed: int) -> None:
    """One uncontended frame per chip, pass by pass, from the same accounting the
    simulator reproduces."""
    t = api.load_trace(trace)
    if kw["model"] is not None:
        t = t.with_model(api.load_model(kw["model"]))
    if t.missing_models():
        raise click.UsageError(f"trace {t.name} leaves the language model of "
                               f"{', '.join(t.missing_models())} open: give --model")
    prec = precision_from(kw)
    rows, data = [], []
    draws = api.draw(kw["chip"], n=uncertainty, seed=seed) if uncertainty else None
    for chip in kw["chip"]:
        e = api.frame_estimate(chip, trace=t, precision=prec, stream=stream, options=opts)
        row = {"chip": chip, "trace": t.name, "precision": prec.label(),
               "frame": _ms(e.total_s), "energy": f"{e.energy_j:.4g} J"
               + (f" ({e.energy_per_action_j * 1e3:.3g} mJ/action, {e.actions} "
                  f"action{'s' * (e.actions != 1)})"
                  if e.actions else "")}
        entry = {"chip": chip, "trace": t.name, "precision": prec.label(),
                 "total_s": e.total_s, "energy_j": e.energy_j, "actions": e.actions,
                 "idle_energy_j": e.idle_energy_j, "passes": []}
        for ph in ("encode", "prefill", "draft", "decode", "verify", "action"):
            v = getattr(e, f"{ph}_s")
            if v:
                row[ph] = _ms(v)
                entry[f"{ph}_s"] = v
        for pc in api.frame_passes(chip, t, prec, stream=stream, options=opts):
            by = {k: float(v) for k, v in pc.time_by_bound.items()}
            entry["passes"].append({"pass": pc.name, "phase": pc.phase, "model": pc.model,
                                    "steps": pc.steps, "time_s": pc.time_s,
                                    "energy_j": pc.energy_j, "dram_bytes": pc.dram_bytes,
                                    "flops": pc.flops, "time_by_bound_s": by})
            if pc.phase in ("draft", "verify") and pc.name[-1].isdigit() \
                    and not pc.name.endswith(":0"):
                continue  # one line per kind of speculative pass
            row[f"  {pc.name} ({pc.model}, {pc.steps} step{'s' * (pc.steps > 1)})"] = (
                f"{_ms(pc.time_s)}, bound by {_shares(by)}")
        if draws is not None:
            s = api.frame_estimate_samples(chip, draws, trace=t, precision=prec, stream=stream,
                                           options=opts)
            lo, mid, hi = np.percentile(s["total_s"], [5, 50, 95])
            row["frame 5-95 %"] = f"{_ms(lo)} - {_ms(hi)} (median {_ms(mid)}, {uncertainty} draws)"
            entry["bands"] = {"total_s": [float(lo), float(mid), float(hi)]}
        rows.append(row)
        data.append(entry)
    emit(data[0] if len(data) == 1 else data, fmt, output, table=_side_by_side(rows))


def _ms(x: float) -> str:
    return "-" if x != x else (f"{x * 1e3:.4g} ms" if x < 10 else f"{x:.4g} s")


def _gb(x: float) -> str:
    return f"{x / 1e9:.3g} GB"


def _shares(by_bound: dict, per: float = 1.0, unit: str = "") -> str:
    total = sum(by_bound.values())
    parts = sorted(((v, k) for k, v in by_bound.items() if v > 0), reverse=True)
    return ", ".join(f"{k} {v / per * 1e3:.3g} ms{unit} ({v / total:.0%})"
                     for v, k in parts) if total > 0 else "-"


def readable(e) -> dict[str, str]:
    """An estimate as the table prints it: units in the values (ms, tok/s, J, GB), the decode
    breakdown per token."""
    n = max(e.generate_tokens, 1)
    rows = {
        "chip": e.chip + (f" @ {e.power_mode}" if e.power_mode else ""),
        "model": e.model, "precision": e.precision,
        "workload": f"batch {e.batch}, {e.prompt_tokens}-token prompt, "
                    f"{e.generate_tokens} generated",
        "prefill": _ms(e.prefill_s),
        "decode per token": _ms(e.decode_s_per_token),
        "decode throughput": (f"{e.decode_tokens_per_s:.4g} tok/s"
                              if e.generate_tokens else "-"),
        "total": _ms(e.total_s),
        "energy": (f"{e.energy_j:.4g} J (prefill {e.prefill_energy_j:.3g} J, decode "
                   + (f"{e.decode_energy_j_per_token * 1e3:.3g} mJ/token" if e.generate_tokens
                      else "-") + ")"),
        "memory": (f"{_gb(e.memory_bytes)} of {_gb(e.dram_capacity_bytes)} "
                   f"({'fits' if e.fits_in_memory else 'DOES NOT FIT'}; weights "
                   f"{_gb(e.weights_bytes)}, KV cache {_gb(e.kv_cache_bytes)})"),
        "prefill bound by": _shares(e.prefill_time_by_bound),
        "decode bound by": _shares(e.decode_time_by_bound, n, "/token")
        if e.generate_tokens else "-",
    }
    if e.idle_energy_j > 0:
        rows["idle energy"] = f"{e.idle_energy_j:.3g} J (static power of the idle partition)"
    if e.format_substitutions:
        rows["runs as"] = ", ".join(f"{a} -> {b}" for a, b in e.format_substitutions.items())
    units = {"prefill_s": _ms, "total_s": _ms,
             "decode_tokens_per_s": lambda x: f"{x:.4g} tok/s",
             "energy_j": lambda x: f"{x:.4g} J"}
    for k, (lo, mid, hi) in (e.bands or {}).items():
        f = units.get(k, lambda x: f"{x:.4g}")
        rows[f"{k} 5-95 %"] = (f"{f(lo)} - {f(hi)} (median {f(mid)}, "
                               f"{e.uncertainty_samples} draws)")
    return rows


def _side_by_side(rows: list[dict[str, str]]) -> str:
    keys = list(dict.fromkeys(k for r in rows for k in r))
    width = max(len(k) for k in keys)
    if len(rows) == 1:
        return "\n".join(f"{k:<{width}}  {rows[0].get(k, '')}" for k in keys)
    cols = [max(len(r.get(k, "")) for k in keys) for r in rows]
    lines = []
    for k in keys:
        cells = "  ".join(f"{r.get(k, '-'):<{w}}" for r, w in zip(rows, cols))
        lines.append(f"{k:<{width}}  {cells}".rstrip())
    return "\n".join(lines)


@click.command("roofline")
@workload_options
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path),
              default=Path("roofline.png"), show_default=True,
              help="Figure to write (.png, .pdf or .svg).")
def roofline(output: Path, **kw) -> None:
    """Draw the chip's roofline with the workload's operators placed on it."""
    from chipdse.report import roofline_figure

    io.check_figure_path(output)  # before the work, not after it
    c = api.load_chip(kw["chip"])
    prec = precision_from(kw)
    table = api.operator_table(c, kw["model"], prec, kw["batch"], kw["prompt"],
                               kw["generate"])
    fig = roofline_figure(c, table, title=(
        f"{c.name} - {kw['model']}, {prec.label()}, batch {kw['batch']}, "
        f"{kw['prompt']}-token prompt, {kw['generate']} generated"))
    io.save_figure(fig, output)
    click.echo(f"wrote {output}")


COMMANDS = [estimate, roofline]
