"""``chipdse study list`` and ``chipdse study run NAME|all -o DIR [--quick]``."""

from __future__ import annotations

import time
from pathlib import Path

import click

from chipdse import api, io
from chipdse.commands.common import emit, progress_printer, seed_option, verbosity
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
    say = progress_printer()
    for i, n in enumerate(names):
        say(f"study {i + 1}/{len(names)}: {n} ...")
        t0 = time.perf_counter()
        res = api.study(n, output / n if name == "all" else output, quick=quick, seed=seed)
        say.done()
        where = (output / n) if name == "all" else output
        # One line per study on stdout (its verdicts and the path of verdict.md); the full
        # answer with -v.
        words = {}
        for v in getattr(res, "verdicts", []) or []:
            words[v.word] = words.get(v.word, 0) + 1
        tally = ", ".join(f"{k} {c}" for k, c in sorted(words.items()))
        click.echo(f"{n}: {res.verdict_word}" + (f" ({tally})" if tally else "")
                   + f" in {time.perf_counter() - t0:.1f} s -> {where / 'verdict.md'}")
        if verbosity() > 0:
            click.echo(f"  {res.answer}")


COMMANDS = [study]
