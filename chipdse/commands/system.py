"""``chipdse system list|show|estimate|simulate``: multi-chip systems (N chips and a link)."""

from __future__ import annotations

from pathlib import Path

import click

from chipdse.commands.common import (
    FORMATS,
    MAX_BATCH,
    MAX_TOKENS,
    emit,
    format_option,
    precision_from,
)


@click.group("system")
def system() -> None:
    """Multi-chip systems: N chips joined by a link, the work split across them."""


@system.command("list")
@format_option
def list_cmd(fmt: str) -> None:
    """List the built-in systems."""
    from microarch.system import list_systems, load_system

    rows = []
    for name in list_systems():
        s = load_system(name)
        rows.append(dict(name=name, chip=s.chip.name, count=s.count, split=s.split,
                         link=s.link.name, link_gb_per_s=s.link.bandwidth_bytes_per_s / 1e9))
    emit(rows, fmt)


@system.command("show")
@click.argument("name")
@format_option
def show(name: str, fmt: str) -> None:
    """Show a system: its chip, count, link and split, every number with its source."""
    from microarch.system import load_system

    s = load_system(name)
    emit(dict(name=s.name, description=s.description, chip=s.chip.name, count=s.count,
              split=s.split, link=s.link.name,
              link_bandwidth_bytes_per_s=s.link.bandwidth_bytes_per_s,
              link_latency_s=s.link.latency_s,
              link_energy_j_per_byte=s.link.energy_j_per_byte,
              placement=dict(s.placement), sources=dict(s.sources)), fmt)


def _workload(f):
    opts = [
        click.option("--system", "system_ref", required=True,
                     help="System preset name or system .yaml file."),
        click.option("--model", required=True, help="Model preset, model .yaml or config.json."),
        click.option("--weights", default="fp16", show_default=True,
                     type=click.Choice(FORMATS, case_sensitive=False)),
        click.option("--activations", default="fp16", show_default=True,
                     type=click.Choice(FORMATS, case_sensitive=False)),
        click.option("--kv", default="fp16", show_default=True,
                     type=click.Choice(FORMATS, case_sensitive=False)),
        click.option("--head", default=None, type=click.Choice(FORMATS, case_sensitive=False)),
    ]
    for o in reversed(opts):
        f = o(f)
    return f


@system.command("estimate")
@_workload
@click.option("--batch", default=1, show_default=True, type=click.IntRange(1, MAX_BATCH))
@click.option("--prompt", default=1024, show_default=True, type=click.IntRange(1, MAX_TOKENS))
@click.option("--generate", default=16, show_default=True, type=click.IntRange(0, MAX_TOKENS))
@format_option
def estimate(system_ref: str, model: str, batch: int, prompt: int, generate: int, fmt: str,
             **kw) -> None:
    """One request on the system, tensor parallel: the system's times and energy, what the
    link adds, and one chip's share."""
    from chipdse.system import estimate_system
    from microarch.system import load_system

    e = estimate_system(load_system(system_ref), model, precision_from(kw), batch, prompt,
                        generate)
    d = e.to_dict()
    per = d.pop("per_chip")
    d["per_chip_prefill_s"] = per["prefill_s"]
    d["per_chip_decode_s_per_token"] = per["decode_s_per_token"]
    if not e.fits_in_memory:
        click.echo(f"warning: one chip's share needs {e.memory_bytes_per_chip / 1e9:.3g} GB, "
                   "more than its DRAM", err=True)
    emit(d, fmt)


@system.command("simulate")
@click.option("--system", "system_ref", required=True, help="System preset or .yaml file.")
@click.option("--model", default=None, help="Language model for streams that name none.")
@click.option("--trace", default="vla-drive-10hz", show_default=True)
@click.option("--duration", type=click.FloatRange(min=0.0, min_open=True), default=None,
              help="Seconds to simulate (default: the trace's).")
@click.option("--seed", default=0, show_default=True, type=click.IntRange(0, 2**63 - 1))
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Write every chip's summary to this .json file.")
def simulate(system_ref: str, model: str | None, trace: str, duration: float | None, seed: int,
             output: Path | None) -> None:
    """Streams placed on chips (the system's placement), each chip simulated with its own
    streams: latency and misses per stream and chip."""
    from chipdse import io
    from chipdse.system import simulate_system
    from microarch.system import load_system

    if output is not None:
        io.check_output_file(output)
    s = load_system(system_ref)
    res = simulate_system(s, model, trace, duration_s=duration, seed=seed)
    rows = []
    for i, r in res.items():
        for st in r.to_dict().get("streams", []):
            rows.append({"chip": i, **st})
    if output is not None:
        io.write_json(output, {str(i): r.to_dict() for i, r in res.items()})
    emit(rows, "table")


COMMANDS = [system]
