"""``chipdse sweep``: every combination of chips, power modes, models, precisions, batch
sizes, prompt and generate lengths in one table (Parquet and CSV), a readable summary on
stdout and comparison figures."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from chipdse import io
from chipdse.commands.common import FORMATS, MAX_BATCH, MAX_TOKENS, chip_with_mode, verbosity
from chipdse.errors import UserError
from microarch.excerpt import excerpt


def _names(values: tuple[str, ...]) -> list[str]:
    """Repeated flags and comma lists, flattened in order, duplicates dropped."""
    out = [v.strip() for item in values for v in item.split(",") if v.strip()]
    return list(dict.fromkeys(out))


def _int_list(flag: str, values: tuple[str, ...], lo: int, hi: int) -> list[int]:
    out = []
    for v in _names(values):
        try:
            n = int(v)
        except ValueError:
            raise UserError(f"{flag}: {excerpt(v)} is not an integer") from None
        if not lo <= n <= hi:
            raise UserError(f"{flag}: {n} is outside {lo}-{hi}")
        out.append(n)
    return out


def _formats(flag: str, values: tuple[str, ...]) -> list[str]:
    out = _names(values)
    known = {f.lower() for f in FORMATS}
    for v in out:
        if v.lower() not in known:
            raise UserError(f"{flag}: unknown format {excerpt(v)} (known: "
                            f"{', '.join(FORMATS)})")
    return [v.lower() for v in out]


@click.command("sweep")
@click.option("--chip", "chips", multiple=True,
              help="Chip presets or files; repeat the flag or give a comma list. NAME@MODE "
                   "picks a power mode.")
@click.option("--system", "systems", multiple=True,
              help="Multi-chip systems (`chipdse system list`), costed tensor parallel.")
@click.option("--power-mode", "modes", multiple=True,
              help="Power modes applied to every chip (comma list or repeated); default: "
                   "each chip's reference mode.")
@click.option("--model", "models", multiple=True, required=True,
              help="Model presets or files (comma list or repeated).")
@click.option("--weights", multiple=True, default=("fp16",), show_default=True,
              help="Weight formats (comma list or repeated).")
@click.option("--activations", multiple=True, default=("fp16",), show_default=True,
              help="Activation formats.")
@click.option("--kv", multiple=True, default=("fp16",), show_default=True,
              help="KV-cache formats.")
@click.option("--head", default=None, type=click.Choice(FORMATS, case_sensitive=False),
              help="Embedding / LM-head format (default: FP16 for quantised weights, else "
                   "the weight format).")
@click.option("--batch", multiple=True, default=("1",), show_default=True,
              help="Batch sizes (e.g. 1,4,16).")
@click.option("--prompt", multiple=True, default=("1024",), show_default=True,
              help="Prompt lengths in tokens.")
@click.option("--generate", multiple=True, default=("16",), show_default=True,
              help="Generated tokens.")
@click.option("-o", "--output", type=click.Path(file_okay=False, path_type=Path),
              default=Path("sweep-out"), show_default=True,
              help="Directory for sweep.parquet, sweep.csv, figures and config.json.")
@click.option("--scheduler", default=None,
              help="Dask scheduler address (tcp://HOST:PORT): groups run on its workers.")
@click.option("--format", "fmt", default="table", show_default=True,
              type=click.Choice(["table", "csv", "json"]), help="Summary format on stdout.")
@click.option("-q", "--quiet", is_flag=True, help="No progress on stderr.")
def sweep(chips, systems, modes, models, weights, activations, kv, head, batch, prompt,
          generate, output, scheduler, fmt, quiet) -> None:
    """Every combination of chips, power modes, models, precisions, batch, prompt and
    generate in one table, with a summary and comparison figures."""
    from chipdse import api
    from chipdse.sweep import SweepSpec, run_sweep, summary_table, sweep_figures

    chip_names = _names(chips)
    mode_names = _names(modes)
    if mode_names:
        chip_names = [chip_with_mode(c, m) for c in chip_names for m in mode_names]
    precisions = [api.make_precision(w, a, k, head)
                  for w in _formats("--weights", weights)
                  for a in _formats("--activations", activations)
                  for k in _formats("--kv", kv)]
    spec = SweepSpec(tuple(chip_names), tuple(_names(models)), tuple(precisions),
                     tuple(_int_list("--batch", batch, 1, MAX_BATCH)),
                     tuple(_int_list("--prompt", prompt, 1, MAX_TOKENS)),
                     tuple(_int_list("--generate", generate, 0, MAX_TOKENS)),
                     systems=tuple(_names(systems)))
    io.prepare_dir(output)  # before the work, not after it
    groups = len(spec.groups())
    show = not quiet and verbosity() >= 0 and groups > 1 and sys.stderr.isatty()

    def progress(done: int, total: int) -> None:
        if show:
            click.echo(f"\r{done}/{total} groups", err=True, nl=done == total)

    t = run_sweep(spec, scheduler=scheduler, progress=progress)
    io.write_parquet(output / "sweep.parquet", [{c: t[c].to_numpy() for c in t.columns}])
    io.write_csv(output / "sweep.csv", t)
    for name, fig in sweep_figures(t).items():
        io.save_figure(fig, output / name)
    io.write_json(output / "config.json", io.run_config("sweep", {
        "chips": chip_names, "systems": list(spec.systems), "models": list(spec.models),
        "precisions": [p.label() for p in precisions], "batch": list(spec.batch),
        "prompt": list(spec.prompt), "generate": list(spec.generate),
        "points": spec.n_points}))
    s = summary_table(t)
    if fmt == "json":
        click.echo(io.json_dumps(s.to_dict(orient="records")))
    elif fmt == "csv":
        click.echo(s.to_csv(index=False).rstrip("\n"))
    else:
        click.echo(s.to_string(index=False, float_format=lambda x: f"{x:.4g}"))
    if not t.fits_in_memory.all():
        n = int((~t.fits_in_memory).sum())
        click.echo(f"warning: {n} of {len(t)} points need more memory than the chip's DRAM "
                   "(column fits_in_memory)", err=True)
    click.echo(f"{len(t)} points in {groups} groups -> {output}/sweep.parquet, sweep.csv",
               err=True)


COMMANDS = [sweep]
