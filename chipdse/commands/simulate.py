"""``chipdse simulate``: run a VLA trace on a chip in the discrete-event simulator."""

from __future__ import annotations

import contextlib
import math
import sys
from pathlib import Path

import click

from chipdse import io
from chipdse.commands.common import (
    FORMATS,
    Finite,
    chip_with_mode,
    emit,
    emit_columns,
    format_option,
    power_mode_option,
    seed_option,
    verbosity,
)
from chipdse.errors import UserError
from microarch.excerpt import excerpt
from microarch.units import UnitError, parse_quantity


def _trace_streams(result) -> list:
    """The streams of the simulated trace (from its resolved config)."""
    from types import SimpleNamespace

    streams = (result.config.get("trace") or {}).get("streams", [])
    return [SimpleNamespace(chunking=s.get("chunking")) for s in streams]


_SUMMARY_COLUMNS = ("stream", "requests", "completed", "latency_mean_s", "latency_p50_s",
                    "latency_p99_s", "latency_max_s", "deadline_s", "misses",
                    "throughput_per_s", "energy_per_frame_j", "avg_power_w")


def _time(value: str, option: str) -> float:
    """A finite time given as seconds ("10") or with a unit ("500 ms")."""
    try:
        s = float(value)
    except ValueError:
        try:
            s = parse_quantity(value, "s")
        except UnitError as exc:
            raise UserError(f"{option}: {exc}") from None
    if not math.isfinite(s):
        raise UserError(f"{option}: must be a finite time, got {excerpt(value)}")
    return s


def _seconds(value: str | None, option: str) -> float | None:
    """A time > 0 (None stays None)."""
    if value is None:
        return None
    s = _time(value, option)
    if not s > 0:
        raise UserError(f"{option}: must be > 0 s, got {excerpt(value)}")
    return s


def _share(value: float | None, option: str) -> float | None:
    if value is not None and not 0 < value < 1:
        raise UserError(f"{option}: must be in (0, 1), got {value:g}")
    return value


@click.command("simulate")
@click.option("--chip", required=True, help="Chip preset name or chip .yaml file.")
@power_mode_option
@click.option("--model", default=None,
              help="Language model (preset, .yaml or config.json) for streams whose trace "
                   "names none.")
@click.option("--trace", "trace", required=True, help="Trace preset name or trace .yaml file.")
@click.option("--duration", default=None, metavar="S",
              help="Simulated seconds of arrivals (e.g. 10 or '500 ms'); default: the trace's.")
@seed_option
@click.option("-o", "--output", "outdir", required=True,
              type=click.Path(file_okay=False, path_type=Path),
              help="Directory for config.json, results.csv, requests.csv, utilisation.csv, "
                   "the event log (Parquet), trace.json and, with --plot, timeline.png.")
@format_option
@click.option("--phase-mode", type=click.Choice(["fixed", "static", "reconfigurable"]),
              default=None, help="Override the chip's phase-resource mode.")
@click.option("--prefill-compute-share", type=Finite(0.0, 1.0), default=None,
              help="Prefill partition's share of the compute (static / reconfigurable).")
@click.option("--prefill-bandwidth-share", type=Finite(0.0, 1.0), default=None,
              help="Prefill partition's share of the DRAM bandwidth.")
@click.option("--prefill-sram-share", type=Finite(0.0, 1.0), default=None,
              help="Prefill partition's share of the on-chip SRAM.")
@click.option("--reconfiguration-latency", default=None, metavar="S",
              help="Time to change the split of a reconfigurable chip (e.g. '50 us').")
@click.option("--power-gating/--no-power-gating", default=None,
              help="Idle units draw no static power (default: the chip's setting).")
@click.option("--policy", type=click.Choice(["priority", "fifo", "edf", "round-robin"]),
              default="priority", show_default=True, help="Order of kernels waiting for a slot.")
@click.option("--kv-overflow", type=click.Choice(["spill", "wait"]), default="spill",
              show_default=True,
              help="A KV cache that does not fit in KV SRAM spills to DRAM or waits.")
@click.option("--weights", default="fp16", show_default=True,
              type=click.Choice(FORMATS, case_sensitive=False), help="Weight format.")
@click.option("--activations", default="fp16", show_default=True,
              type=click.Choice(FORMATS, case_sensitive=False), help="Activation format.")
@click.option("--kv", default="fp16", show_default=True,
              type=click.Choice(FORMATS, case_sensitive=False), help="KV-cache format.")
@click.option("--events", type=click.Choice(["none", "summary", "full"]), default="summary",
              show_default=True,
              help="Event log: summary writes events_summary.parquet (one row per request and "
                   "phase); full also writes events.parquet (one row per operator, streamed "
                   "in chunks: ~20 B per operator on disk, ~1 s per million).")
@click.option("--trace-detail", type=click.Choice(["auto", "operator", "phase", "none"]),
              default="auto", show_default=True,
              help="trace.json: one slice per operator, one per run of a request's phase, or "
                   "no trace; auto is per operator up to --trace-max-operators and per phase "
                   "above (with a note).")
@click.option("--trace-max-operators", type=click.IntRange(min=0), default=None, metavar="N",
              help="Most operators --trace-detail auto shows one by one (default 100,000; "
                   "~170 B of trace.json each).")
@click.option("--plot/--no-plot", default=False, show_default=True,
              help="Also draw timeline.png (slot occupancy, latencies, utilisation, KV cache; "
                   "matplotlib adds about a second).")
@click.option("--max-operators", type=click.IntRange(min=1), default=None, metavar="N",
              help="Refuse a run that would simulate more than N operators (default "
                   "100,000,000; the event log is not held in memory, the time grows with "
                   "them).")
@click.option("--max-request-operators", type=click.IntRange(min=1), default=None, metavar="N",
              help="Refuse a request of more than N operators (its costs are held in memory, "
                   "~0.25 kB each; default 4,000,000).")
@click.option("--no-progress", is_flag=True, help="No progress bar on stderr.")
def simulate(chip: str, power_mode: str | None, model: str | None, trace: str,
             duration: str | None, seed: int,
             outdir: Path, fmt: str, phase_mode: str | None,
             prefill_compute_share: float | None, prefill_bandwidth_share: float | None,
             prefill_sram_share: float | None, reconfiguration_latency: str | None,
             power_gating: bool | None, policy: str, kv_overflow: str, weights: str,
             activations: str, kv: str, events: str, trace_detail: str,
             trace_max_operators: int | None, plot: bool, max_operators: int | None,
             max_request_operators: int | None, no_progress: bool) -> None:
    """Simulate a trace of VLA requests (vision encoder, prefill, action decode) on a chip.

    Prints latency statistics, deadline misses, throughput and energy per stream, and writes
    config.json, results.csv, requests.csv, utilisation.csv, the event log (--events),
    trace.json (--trace-detail; open in ui.perfetto.dev) and, with --plot, timeline.png to the
    output directory. A run of more than --max-operators operators, or with a request of more
    than --max-request-operators, is refused before it runs.
    """
    from chipdse.api import make_precision
    from chipdse.sim import SimOptions
    from chipdse.sim import simulate as run_simulation

    io.prepare_dir(outdir)  # before the work, not after it
    chip = chip_with_mode(chip, power_mode)

    changes: dict = {}
    for key, val, opt in (("prefill_compute_share", prefill_compute_share,
                           "--prefill-compute-share"),
                          ("prefill_bandwidth_share", prefill_bandwidth_share,
                           "--prefill-bandwidth-share"),
                          ("prefill_sram_share", prefill_sram_share, "--prefill-sram-share")):
        if _share(val, opt) is not None:
            changes[key] = val
    if reconfiguration_latency is not None:
        lat = _time(reconfiguration_latency, "--reconfiguration-latency")
        if lat < 0:
            raise UserError(f"--reconfiguration-latency: must be >= 0, got {lat:g}")
        changes["reconfiguration_latency_s"] = lat
    if power_gating is not None:
        changes["power_gating"] = power_gating
    precision = make_precision(weights, activations, kv)
    limits = {k: v for k, v in (("max_operators", max_operators),
                                ("max_request_operators", max_request_operators),
                                ("max_trace_ops", trace_max_operators)) if v is not None}
    options = SimOptions(policy=policy, kv_overflow=kv_overflow, **limits)
    dur = _seconds(duration, "--duration")

    # Progress on stderr (a terminal only): simulation up to 50 %, then one step per file.
    show = not no_progress and verbosity() >= 0 and sys.stderr.isatty()
    bar = click.progressbar(length=1000, label="simulating", file=sys.stderr) if show else None
    done = [0]

    def advance(to: int) -> None:
        if bar is not None and to > done[0]:
            bar.update(to - done[0])
            done[0] = to

    written = [0]

    def step(name: str) -> None:
        if bar is not None:
            bar.label = f"writing {name}"
            advance(500 + 60 * written[0])
            written[0] += 1

    notes: list[str] = []
    with bar if bar is not None else contextlib.nullcontext():
        result = run_simulation(chip, model, trace, precision, dur, seed, phase_mode, options,
                                progress=lambda f: advance(int(500 * f)), **changes)
        paths = result.write(outdir, seed=seed, progress=step, events=events,
                             trace=trace_detail, plot=plot, notice=notes.append)
        advance(1000)
    if fmt == "json":
        emit(result.to_dict(), "json")
    else:
        cols = result.columns["summary"]
        keys = list(_SUMMARY_COLUMNS)
        if any(st.chunking is not None for st in _trace_streams(result)):
            keys += ["chunk_stalls", "stall_s", "motion_duty"]  # the real-time check
        emit_columns({k: cols[k] for k in keys}, fmt)
    for note in notes:
        click.echo(f"note: {note}", err=True)
    t = result.totals
    if t.get("overloaded"):
        parts = ", ".join(f"{k} {t['arrivals_per_s'][k]:g}/s x {v * 1e3:.4g} ms"
                          for k, v in t["service_s"].items())
        click.echo(f"warning: overloaded: arrivals ask for {t['offered_load']:.2f} s of work "
                   f"per second ({parts}, each request run alone); the queues grow for the "
                   "whole run, so latencies measure the backlog, not the chip", err=True)
    click.echo(f"{t['operators']:,} operators simulated in {t['wall_s']:.2f} s "
               f"({t['operators_per_s']:,.0f} operators/s); wrote "
               f"{', '.join(p.name for p in paths)} to {outdir}", err=True)


COMMANDS = [simulate]
