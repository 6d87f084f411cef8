"""Options and output helpers shared by the CLI commands."""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click
import pandas as pd

from chipdse import io
from chipdse.errors import UserError
from microarch import formats as _formats

__all__ = ["workload_options", "format_option", "output_option", "seed_option", "emit",
           "precision_from", "FORMATS", "Finite", "MAX_BATCH", "MAX_TOKENS", "MAX_DRAWS",
           "power_mode_option", "chip_with_mode"]

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


def workload_options(f: Callable) -> Callable:
    """--chip --power-mode --model --weights --activations --kv --head --sparse24 --batch
    --prompt --generate (the power mode is folded into ``chip``)."""
    import functools

    @functools.wraps(f)
    def merged(*args: Any, **kw: Any) -> Any:
        kw["chip"] = chip_with_mode(kw["chip"], kw.pop("power_mode"))
        return f(*args, **kw)

    opts = [
        click.option("--chip", required=True, help="Chip preset name or chip .yaml file."),
        power_mode_option,
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
