"""Options and output helpers shared by the CLI commands."""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from chipdse import io
from chipdse.errors import UserError
from microarch import formats as _formats

__all__ = ["workload_options", "format_option", "output_option", "seed_option", "emit",
           "emit_columns", "columns_table",
           "precision_from", "FORMATS", "Finite", "MAX_BATCH", "MAX_TOKENS", "MAX_DRAWS",
           "power_mode_option", "chip_with_mode", "output_format", "OUTPUT_FORMATS",
           "verbosity", "progress_printer"]

# Every name microarch.formats.get_format accepts: the canonical formats, then their aliases.
FORMATS: tuple[str, ...] = tuple(_formats.FORMATS) + tuple(
    a for a in _formats.ALIASES if a not in _formats.FORMATS)


MAX_BATCH = 1 << 20
"""Largest --batch: far above any on-device or serving batch (sequences in one step)."""
MAX_DRAWS = 20_000
"""Most uncertainty draws a command takes (about 3,000 chips are drawn per second)."""
MAX_TOKENS = 1 << 24
"""Largest --prompt / --generate: 16.8 M tokens, above every model's context (1-10 M in 2026)."""


class Finite(click.FloatRange):
    """A float flag that must be finite (``nan`` and ``inf`` are refused) and in range."""

    name = "finite float"

    def convert(self, value: Any, param: Any, ctx: Any) -> Any:
        v = super().convert(value, param, ctx)
        if v is not None and not math.isfinite(v):
            self.fail(f"{value!r} is not a finite number", param, ctx)
        return v


power_mode_option = click.option(
    "--power-mode", default=None, metavar="NAME",
    help="The chip's power mode (an nvpmodel mode such as MAXN or 15W; `chipdse chips show "
         "CHIP` lists them). Default: the chip's reference mode. Same as --chip CHIP@NAME.")


def chip_with_mode(chip: str | None, mode: str | None) -> str | None:
    """``chip`` with ``--power-mode`` folded in (``NAME@MODE``, as every loader reads it)."""
    if chip is None or mode is None:
        return chip
    from microarch.loader import split_mode

    base, at = split_mode(chip)
    if at is not None and at != mode:
        raise UserError(f"--power-mode {mode}: --chip {chip} already names power mode {at}")
    return f"{base}@{mode}"


def workload_options(f: Callable | None = None, *, several_chips: bool = False,
                     model_required: bool = True) -> Callable:
    """--chip --power-mode --model --weights --activations --kv --head --sparse24 --batch
    --prompt --generate (the power mode is folded into ``chip``). With ``several_chips``,
    --chip may be repeated or a comma list and ``chip`` is a list."""
    import functools

    if f is None:
        return functools.partial(workload_options, several_chips=several_chips,
                                 model_required=model_required)

    @functools.wraps(f)
    def merged(*args: Any, **kw: Any) -> Any:
        mode = kw.pop("power_mode")
        if several_chips:
            names = [c.strip() for item in kw["chip"] for c in item.split(",") if c.strip()]
            kw["chip"] = [chip_with_mode(c, mode) for c in dict.fromkeys(names)]
        else:
            kw["chip"] = chip_with_mode(kw["chip"], mode)
        return f(*args, **kw)

    chip_help = ("Chip preset name or chip .yaml file" + ("; repeat it or give a comma list to "
                 "compare chips side by side." if several_chips else "."))
    opts = [
        click.option("--chip", required=True, multiple=several_chips, help=chip_help),
        power_mode_option,
        click.option("--model", required=model_required,
                     help="Model preset name, model .yaml, or Hugging Face config.json"
                          + ("." if model_required else
                             " (with --trace: fills the trace's open language model).")),
        click.option("--weights", default="fp16", show_default=True,
                     type=click.Choice(FORMATS, case_sensitive=False), help="Weight format."),
        click.option("--activations", default="fp16", show_default=True,
                     type=click.Choice(FORMATS, case_sensitive=False),
                     help="Activation format."),
        click.option("--kv", default="fp16", show_default=True,
                     type=click.Choice(FORMATS, case_sensitive=False),
                     help="KV-cache format."),
        click.option("--head", default=None, type=click.Choice(FORMATS, case_sensitive=False),
                     help="Embedding / LM-head format. Default: FP16 when the weights are "
                          "quantised (as AWQ, GPTQ, TensorRT Edge-LLM, ModelOpt and llama.cpp "
                          "deployments keep it), else the weight format."),
        click.option("--sparse24", is_flag=True, help="Weights pruned to 2:4 sparsity."),
        click.option("--batch", default=1, show_default=True, type=click.IntRange(1, MAX_BATCH)),
        click.option("--prompt", default=1024, show_default=True,
                     type=click.IntRange(1, MAX_TOKENS),
                     help="Prompt tokens (prefill length)."),
        click.option("--generate", default=16, show_default=True,
                     type=click.IntRange(0, MAX_TOKENS),
                     help="Generated tokens (decode steps)."),
    ]
    for o in reversed(opts):
        merged = o(merged)
    return merged


def verbosity() -> int:
    """-1 with ``chipdse -q``, 1 with ``chipdse -v``, else 0."""
    ctx = click.get_current_context(silent=True)
    root = ctx.find_root() if ctx is not None else None
    return int((root.obj or {}).get("verbosity", 0)) if root is not None else 0


def progress_printer() -> Callable[[str], None]:
    """The one progress reporter of long commands, on stderr: nothing with ``-q``; every line
    with ``-v``; by default one status line rewritten in place on a terminal (each message
    replaces the last) and nothing when stderr is not a terminal."""
    import sys

    level = verbosity()
    tty = sys.stderr.isatty()

    def say(msg: str) -> None:
        if level < 0:
            return
        if level > 0:
            click.echo(msg, err=True)
        elif tty:
            width = 100
            click.echo("\r" + msg[:width].ljust(width), err=True, nl=False)

    def done() -> None:
        if level == 0 and tty:
            click.echo("\r" + " " * 100 + "\r", err=True, nl=False)

    say.done = done  # type: ignore[attr-defined]
    return say


def precision_from(kw: dict[str, Any]):
    from chipdse.api import make_precision

    return make_precision(kw["weights"], kw["activations"], kw["kv"], kw.get("head"),
                          kw.get("sparse24", False))


format_option = click.option("--format", "fmt", default="table", show_default=True,
                             type=click.Choice(["table", "json", "csv"]),
                             help="Output format on stdout.")
output_option = click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path),
                             default=None, help="Write the result to this path.")
seed_option = click.option("--seed", default=0, show_default=True,
                           type=click.IntRange(0, 2**63 - 1),
                           help="Random seed (every stochastic step derives from it).")


def _cell(v: Any) -> str:
    if isinstance(v, float):
        if math.isnan(v):
            return "-"
        return f"{v:.4g}"
    return str(v)


OUTPUT_FORMATS = {".json": "json", ".csv": "csv", ".txt": "table", ".md": "table"}
"""The format a result file gets from its extension."""


def output_format(output: Path) -> str:
    """The format of ``output`` from its extension (:data:`OUTPUT_FORMATS`); UserError for
    another extension."""
    fmt = OUTPUT_FORMATS.get(Path(output).suffix.lower())
    if fmt is None:
        raise UserError(f"-o {output}: give a .json, .csv or .txt file (the format follows "
                        "the extension)")
    return fmt


def emit(data: dict[str, Any] | list[dict[str, Any]] | Any, fmt: str,
         output: Path | None = None, table: str | None = None) -> None:
    """Print ``data`` (a dict, a list of row dicts or a DataFrame) as a table, JSON or CSV,
    and write it to ``output`` if given, in the format of its extension. ``table`` is a
    readable text to print instead of the plain table."""
    click.echo(table if (fmt == "table" and table is not None) else _render(data, fmt))
    if output is not None:
        ofmt = output_format(output)
        text = table if (ofmt == "table" and table is not None) else _render(data, ofmt)
        io.write_text(output, text + "\n")


def columns_table(columns: dict[str, Any]) -> str:
    """A text table of columns (name -> equal-length sequence), each right-aligned, floats to
    4 significant digits, NaN as "NaN" (pandas' look, without pandas)."""
    def cell(v: Any) -> str:
        if isinstance(v, bool) or type(v).__name__ == "bool_":
            return str(bool(v))
        if isinstance(v, float) or type(v).__name__.startswith("float"):
            return "NaN" if math.isnan(v) else f"{float(v):.4g}"
        return str(v)

    cols = [[name] + [cell(v) for v in values] for name, values in columns.items()]
    widths = [max(len(c) for c in col) for col in cols]
    return "\n".join("  ".join(col[i].rjust(w) for col, w in zip(cols, widths))
                     for i in range(len(cols[0]) if cols else 0))


def emit_columns(columns: dict[str, Any], fmt: str) -> None:
    """Print a table given as columns as a table, JSON records or CSV (no pandas needed)."""
    import csv
    import io as _io

    names = list(columns)
    rows = list(zip(*(list(v) for v in columns.values())))
    if fmt == "json":
        text = io.json_dumps([dict(zip(names, r)) for r in rows])
    elif fmt == "csv":
        buf = _io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        w.writerow(names)
        w.writerows(zip(*(io.csv_cells(v) for v in columns.values())))
        text = buf.getvalue().rstrip("\n")
    else:
        text = columns_table(columns)
    click.echo(text)


def _flat(d: dict[str, Any]) -> dict[str, Any]:
    """One row: nested dicts as ``<key>.<subkey>`` columns (CSV keeps every field)."""
    out: dict[str, Any] = {}
    for k, v in d.items():
        if isinstance(v, dict):
            for kk, vv in v.items():
                out[f"{k}.{kk}"] = vv
        else:
            out[k] = v
    return out


def _render(data: Any, fmt: str) -> str:
    if isinstance(data, dict) and fmt == "json":
        return io.json_dumps(data)
    if isinstance(data, dict) and fmt == "table":  # one record: no frame (nor pandas) needed
        width = max(len(k) for k in data)
        lines = []
        for k, v in data.items():
            if isinstance(v, dict):
                v = ", ".join(f"{kk}={_cell(vv)}" for kk, vv in v.items())
            lines.append(f"{k:<{width}}  {_cell(v)}")
        return "\n".join(lines)
    import pandas as pd

    if isinstance(data, pd.DataFrame):
        frame, obj = data, data.to_dict(orient="records")
    elif isinstance(data, dict):
        frame, obj = pd.DataFrame([_flat(data)]), data
    else:
        rows = list(data)
        frame = pd.DataFrame([_flat(r) if isinstance(r, dict) else r for r in rows])
        obj = rows
    if fmt == "json":
        return io.json_dumps(obj)
    if fmt == "csv":
        return frame.to_csv(index=False).rstrip("\n")
    return frame.to_string(index=False, float_format=lambda x: f"{x:.4g}")
