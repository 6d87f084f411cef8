"""``chipdse system list|show|estimate|simulate``: multi-chip systems (N chips and a link)."""

from __future__ import annotations

from pathlib import Path

import click

from chipdse.commands.common import (
    FORMATS,
    MAX_BATCH,
    MAX_DRAWS,
    MAX_TOKENS,
    emit,
    format_option,
    precision_from,
    seed_option,
)


@click.group("system")
def system() -> None:
    """Multi-chip systems: N chips joined by a link, the work split across them."""


@system.command("list")
@format_option
def list_cmd(fmt: str) -> None:
    """List the built-in systems."""
    from microarch.system import list_systems, load_system, overlap_label

    rows = []
    for name in list_systems():
        s = load_system(name)
        rows.append(dict(name=name, chip=s.chip.name, count=s.count, split=s.split,
                         link=s.link.name, link_gb_per_s=s.link.bandwidth_bytes_per_s / 1e9,
                         payload_gb_per_s=s.link.payload_bytes_per_s / 1e9,
                         overlap=overlap_label(s.overlap)))
    emit(rows, fmt)


@system.command("show")
@click.argument("name")
@format_option
def show(name: str, fmt: str) -> None:
    """Show a system: its chip, count, link and split, every number with its source and
    range."""
    from microarch.system import load_system, overlap_label

    s = load_system(name)
    lk = s.link
    emit(dict(name=s.name, description=s.description, chip=s.chip.name, count=s.count,
              split=s.split, link=lk.name,
              link_bandwidth_bytes_per_s=lk.bandwidth_bytes_per_s,
              link_protocol_efficiency=lk.protocol_efficiency,
              link_payload_bytes_per_s=lk.payload_bytes_per_s,
              link_latency_s=lk.latency_s,
              link_energy_j_per_byte=lk.energy_j_per_byte,
              link_ranges={k: list(v) for k, v in lk.ranges.items()},
              overlap=overlap_label(s.overlap),
              stage_layers=list(s.stage_layers), prefill_chunks=s.prefill_chunks,
              streams=s.streams or s.count,
              placement=dict(s.placement), sources=dict(s.sources)), fmt)


def _overlap(value: str | None) -> float | None:
    """``--overlap``: none, full or a fraction in [0, 1]."""
    from microarch.system import OVERLAPS

    if value is None:
        return None
    if value.lower() in OVERLAPS:
        return OVERLAPS[value.lower()]
    try:
        f = float(value)
    except ValueError:
        f = float("nan")
    if not 0.0 <= f <= 1.0:
        raise click.BadParameter(f"{value!r} is not none, full or a fraction in [0, 1]",
                                 param_hint="--overlap")
    return f


def _layers(value: str | None) -> tuple[int, ...] | None:
    """``--stage-layers 40,40``."""
    if value is None:
        return None
    try:
        out = tuple(int(x) for x in value.split(","))
    except ValueError:
        out = ()
    if not out or min(out) < 1:
        raise click.BadParameter(f"{value!r} is not a comma list of layer counts >= 1",
                                 param_hint="--stage-layers")
    return out


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
@click.option("--split", default=None, type=click.Choice(("tensor", "pipeline")),
              help="How the work is split (default: the system's).")
@click.option("--overlap", default=None, metavar="none|full|F",
              help="Share of the link time hidden behind compute (default: the system's, "
                   "normally none: no overlap, an upper bound on the time).")
@click.option("--prefill-chunks", default=None, type=click.IntRange(1, 4096),
              help="Pipeline: cut the prompt into this many chunks that flow through the "
                   "stages one after another (default: the system's, normally 1).")
@click.option("--streams", default=None, type=click.IntRange(1, 4096),
              help="Pipeline: requests in flight for the pipelined throughput (default: one "
                   "per chip).")
@click.option("--stage-layers", default=None, metavar="N,N,...",
              help="Pipeline: layers per stage (default: as even as the layers allow).")
@click.option("--uncertainty", default=1000, show_default=True, type=click.IntRange(0, MAX_DRAWS),
              help="Draw the link's ranged numbers (bandwidth, latency, energy per byte, "
                   "protocol efficiency) this many times and report 5 / 50 / 95 % "
                   "percentiles of the latency, throughput and energy; 0: the point only.")
@click.option("--chip-uncertainty", is_flag=True,
              help="Draw the chip's uncertain numbers and the cost model's prediction error "
                   "too, jointly with the link's.")
@seed_option
@format_option
def estimate(system_ref: str, model: str, batch: int, prompt: int, generate: int, split,
             overlap, prefill_chunks, streams, stage_layers, uncertainty: int,
             chip_uncertainty: bool, seed: int, fmt: str, **kw) -> None:
    """One request on the system, tensor parallel or pipelined: the system's latency (with
    its band from the link's ranges), throughput and energy, what the link adds, and each
    chip's share."""
    from chipdse.system import estimate_system
    from microarch.system import load_system

    if chip_uncertainty and not uncertainty:
        raise click.BadParameter("needs --uncertainty N > 0", param_hint="--chip-uncertainty")
    e = estimate_system(load_system(system_ref), model, precision_from(kw), batch, prompt,
                        generate, split=split, overlap=_overlap(overlap),
                        prefill_chunks=prefill_chunks, streams=streams,
                        stage_layers=_layers(stage_layers), uncertainty=uncertainty or None,
                        seed=seed, chip_uncertainty=chip_uncertainty)
    d = e.to_dict()
    per, stages = d.pop("per_chip"), d.pop("stages")
    d.pop("notes")
    if e.split == "tensor":
        d["per_chip_prefill_s"] = per["prefill_s"]
        d["per_chip_decode_s_per_token"] = per["decode_s_per_token"]
    for st in stages:
        i = st["stage"]
        d[f"stage{i}_layers"] = f"{st['first_layer']}-{st['first_layer'] + st['layers'] - 1}"
        for k in ("prefill_s", "decode_s_per_token", "weights_bytes", "memory_bytes"):
            d[f"stage{i}_{k}"] = st[k]
    for note in e.notes:
        click.echo(f"note: {note}", err=True)
    if e.bands:
        lo, _, hi = e.bands["total_s"]
        click.echo(f"note: total_s {e.total_s * 1e3:.4g} ms, 5-95 % band {lo * 1e3:.4g}-"
                   f"{hi * 1e3:.4g} ms over {e.uncertainty_samples} draws of "
                   f"{', '.join(e.drawn) or 'nothing (no ranges stated)'}", err=True)
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
