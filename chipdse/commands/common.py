"""Options and output helpers shared by the CLI commands."""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click
import pandas as pd

from chipdse import io
from microarch import formats as _formats

__all__ = ["workload_options", "format_option", "output_option", "seed_option", "emit",
           "precision_from", "FORMATS"]

# Every name microarch.formats.get_format accepts: the canonical formats, then their aliases.
FORMATS: tuple[str, ...] = tuple(_formats.FORMATS) + tuple(
    a for a in _formats.ALIASES if a not in _formats.FORMATS)


def workload_options(f: Callable) -> Callable:
    """--chip --model --weights --activations --kv --head --sparse24 --batch --prompt --generate"""
    opts = [
        click.option("--chip", required=True, help="Chip preset name or chip .yaml file."),
        click.option("--model", required=True,
                     help="Model preset name, model .yaml, or Hugging Face config.json."),
        click.option("--weights", default="fp16", show_default=True,
                     type=click.Choice(FORMATS, case_sensitive=False), help="Weight format."),
        click.option("--activations", default="fp16", show_default=True,
                     type=click.Choice(FORMATS, case_sensitive=False),
                     help="Activation format."),
        click.option("--kv", default="fp16", show_default=True,
                     type=click.Choice(FORMATS, case_sensitive=False),
                     help="KV-cache format."),
        click.option("--head", default=None, type=click.Choice(FORMATS, case_sensitive=False),
                     help="Embedding / LM-head format (default: the weight format)."),
        click.option("--sparse24", is_flag=True, help="Weights pruned to 2:4 sparsity."),
        click.option("--batch", default=1, show_default=True, type=click.IntRange(min=1)),
        click.option("--prompt", default=1024, show_default=True, type=click.IntRange(min=1),
                     help="Prompt tokens (prefill length)."),
        click.option("--generate", default=16, show_default=True, type=click.IntRange(min=0),
                     help="Generated tokens (decode steps)."),
    ]
    for o in reversed(opts):
        f = o(f)
    return f


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
                           type=click.IntRange(min=0),
                           help="Random seed (every stochastic step derives from it).")


def _cell(v: Any) -> str:
    if isinstance(v, float):
        if math.isnan(v):
            return "-"
        return f"{v:.4g}"
    return str(v)


def emit(data: dict[str, Any] | list[dict[str, Any]] | pd.DataFrame, fmt: str,
         output: Path | None = None) -> None:
    """Print ``data`` as a table, JSON or CSV, and write it to ``output`` if given."""
    if isinstance(data, pd.DataFrame):
        frame = data
        obj: Any = data.to_dict(orient="records")
    elif isinstance(data, dict):
        frame = pd.DataFrame([{k: v for k, v in data.items() if not isinstance(v, dict)}])
        obj = data
    else:
        frame = pd.DataFrame(data)
        obj = data
    if fmt == "json":
        text = io.json_dumps(obj)
    elif fmt == "csv":
        text = frame.to_csv(index=False).rstrip("\n")
    elif isinstance(data, dict):
        width = max(len(k) for k in data)
        lines = []
        for k, v in data.items():
            if isinstance(v, dict):
                v = ", ".join(f"{kk}={_cell(vv)}" for kk, vv in v.items())
            lines.append(f"{k:<{width}}  {_cell(v)}")
        text = "\n".join(lines)
    else:
        text = frame.to_string(index=False, float_format=lambda x: f"{x:.4g}")
    click.echo(text)
    if output is not None:
        io.write_text(output, text + "\n")
