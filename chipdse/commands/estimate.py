"""``chipdse estimate`` and ``chipdse roofline``."""

from __future__ import annotations

from pathlib import Path

import click

from chipdse import api, io
from chipdse.commands.common import (
    MAX_DRAWS,
    emit,
    format_option,
    output_option,
    precision_from,
    seed_option,
    workload_options,
)
from chipdse.cost import CostOptions


@click.command("estimate")
@workload_options
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
             seed: int, **kw) -> None:
    """Latency, throughput, energy and memory of one model on one chip."""
    if output is not None:
        io.check_output_file(output)  # before the work, not after it
    opts = CostOptions.paper() if paper_model else CostOptions()
    est = api.estimate(kw["chip"], kw["model"], precision_from(kw), kw["batch"], kw["prompt"],
                       kw["generate"], opts, uncertainty=uncertainty, seed=seed)
    d = est.to_dict()
    if est.bands and fmt == "table":
        for k, (lo, mid, hi) in est.bands.items():
            d[k] = f"{d[k]:.4g} (median {mid:.4g}, 5-95 %: {lo:.4g} - {hi:.4g})"
            for q in ("p05", "p50", "p95"):
                d.pop(f"{k}_{q}")
    if not est.fits_in_memory:
        click.echo(f"warning: {est.model} needs {est.memory_bytes / 1e9:.3g} GB but "
                   f"{est.chip} has {est.dram_capacity_bytes / 1e9:.3g} GB of DRAM",
                   err=True)
    emit(d, fmt, output)


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
    table = api.operator_table(c, kw["model"], precision_from(kw), kw["batch"], kw["prompt"],
                               kw["generate"])
    fig = roofline_figure(c, table, title=f"{c.name} - {kw['model']}")
    io.save_figure(fig, output)
    click.echo(f"wrote {output}")


COMMANDS = [estimate, roofline]
