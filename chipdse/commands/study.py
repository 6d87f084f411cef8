"""``chipdse study list`` and ``chipdse study run NAME|all -o DIR [--quick]``."""

from __future__ import annotations

import time
from pathlib import Path

import click

from chipdse import api, io
from chipdse.commands.common import emit, seed_option
from chipdse.errors import UserError


@click.group("study")
def study() -> None:
    """Reproducible studies of the source work's hardware conclusions."""


@study.command("list")
@click.option("--format", "fmt", default="table", type=click.Choice(["table", "json", "csv"]))
def list_cmd(fmt: str) -> None:
    """List the studies and the question each answers."""
    emit([{"name": n, "question": q} for n, q in api.list_studies()], fmt)


@study.command("run")
@click.argument("name")
@click.option("-o", "--output", type=click.Path(file_okay=False, path_type=Path),
              required=True, help="Directory for results (one sub-directory per study).")
@click.option("--quick", is_flag=True, help="Smaller grids (seconds, used by the tests).")
@seed_option
def run_cmd(name: str, output: Path, quick: bool, seed: int) -> None:
    """Run one study (or `all`), writing results.csv, PNGs, verdict.md and config.json."""
    names = [n for n, _ in api.list_studies()] if name == "all" else [name]
    known = {n for n, _ in api.list_studies()}
    if name != "all" and name not in known:
        raise UserError(f"unknown study {name!r} (known: {', '.join(sorted(known))})")
    io.prepare_dir(output)  # before the work, not after it
    for n in names:
        t0 = time.perf_counter()
        res = api.study(n, output / n if name == "all" else output, quick=quick, seed=seed)
        click.echo(f"{n}: {res.verdict_word} ({time.perf_counter() - t0:.1f} s) -> "
                   f"{(output / n) if name == 'all' else output}", err=True)
        click.echo(f"{n}: {res.answer}")


COMMANDS = [study]
