"""``simulate``: load the inputs, run the engine, assemble the results."""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from chipdse.cost import CostOptions
from chipdse.errors import UserError
from chipdse.sim.engine import SimOptions, Simulator
from chipdse.sim.results import SimResult, build_result
from microarch.chip import Chip, PhaseMode
from microarch.excerpt import excerpt
from microarch.loader import load_chip
from workloads.loader import load_model
from workloads.model import ModelArch
from workloads.precision import Precision
from workloads.trace import Trace, load_trace

__all__ = ["simulate", "with_phase"]


def with_phase(chip: Chip, mode: str | PhaseMode | None = None, **changes: Any) -> Chip:
    """``chip`` with its phase-resource policy changed (mode and any PhaseResources field:
    prefill_compute_share, prefill_bandwidth_share, prefill_sram_share,
    reconfiguration_latency_s, power_gating)."""
    if mode is None and not changes:
        return chip
    lat = changes.get("reconfiguration_latency_s")
    if lat is not None and not (isinstance(lat, (int, float)) and math.isfinite(lat)
                                and lat >= 0):
        raise UserError(f"{chip.name}: reconfiguration latency must be a finite time >= 0 s, "
                        f"got {excerpt(lat)}")
    if mode is not None:
        try:
            changes["mode"] = PhaseMode(mode)
        except ValueError:
            raise UserError(f"phase mode must be one of "
                            f"{', '.join(m.value for m in PhaseMode)}, got {mode!r}") from None
    try:
        phase = dataclasses.replace(chip.phase, **changes)
    except (TypeError, ValueError) as exc:
        raise UserError(f"{chip.name}: phase resources: {exc}") from None
    return chip.replace(phase=phase)


def simulate(chip: str | Path | Chip, model: str | Path | ModelArch | None = None,
             trace: str | Path | Trace = "vla-drive-10hz", precision: Precision | None = None,
             duration_s: float | None = None, seed: int = 0,
             phase_mode: str | PhaseMode | None = None,
             options: SimOptions | None = None, cost_options: CostOptions = CostOptions(),
             progress: Callable[[float], None] | None = None,
             **phase_changes: Any) -> SimResult:
    """Simulate ``trace`` on ``chip``.

    ``model`` fills the streams whose trace names no language model. ``duration_s`` overrides
    the trace's duration; ``seed`` drives the arrival jitter. ``phase_mode`` and
    ``phase_changes`` (PhaseResources fields) override the chip's phase-resource policy.
    ``progress(fraction)`` is called as the simulated clock advances.
    """
    options = options or SimOptions()
    c = chip if isinstance(chip, Chip) else load_chip(chip)
    c = with_phase(c, phase_mode, **phase_changes)
    m = None if model is None else (model if isinstance(model, ModelArch) else load_model(model))
    if m is not None and not m.causal:
        raise UserError(f"model {m.name!r} is an encoder (causal: false), not a language model; "
                        "give a causal decoder (the trace names its vision encoders itself)")
    t = trace if isinstance(trace, Trace) else load_trace(trace)
    t = t.with_model(m)
    p = precision or Precision()
    d = t.duration_s if duration_s is None else float(duration_s)
    sim = Simulator(c, t, p, d, seed, options, cost_options)
    t0 = time.perf_counter()
    sim.run(progress)
    wall_run = time.perf_counter() - t0
    config = {
        "chip": c.name, "chip_input": None if isinstance(chip, Chip) else str(chip),
        "phase": dataclasses.asdict(c.phase),
        "model": m.name if m is not None else None,
        "model_input": None if model is None or isinstance(model, ModelArch) else str(model),
        "trace": t.to_dict(),
        "trace_input": None if isinstance(trace, Trace) else str(trace),
        "precision": p.label(), "duration_s": d, "seed": seed,
        "options": dataclasses.asdict(options), "cost_options": dataclasses.asdict(cost_options),
    }
    result = build_result(sim, 0.0, config)
    result.totals.update(offered_load(c, t, p, cost_options))
    wall = time.perf_counter() - t0
    result.totals["wall_s"] = wall
    result.totals["engine_wall_s"] = wall_run
    result.totals["operators_per_s"] = result.totals["operators"] / wall if wall > 0 else 0.0
    return result


def offered_load(chip: Chip, trace: Trace, precision: Precision,
                 cost_options: CostOptions = CostOptions()) -> dict[str, Any]:
    """The work the trace offers per second: each stream's rate times its request's time run
    alone on ``chip`` (:func:`chipdse.accounting.request_estimate`, the simulator's own
    accounting), summed. At 1 or more the arrivals exceed what the chip can serve even with
    no contention, and queues grow for as long as the trace runs: ``overloaded``."""
    from chipdse.accounting import request_estimate

    per = {s.name: float(request_estimate(s.request, chip, precision, cost_options).total_s)
           for s in trace.streams}
    load = sum(s.rate_hz * per[s.name] for s in trace.streams)
    return {"offered_load": load, "overloaded": bool(load >= 1.0),
            "service_s": per, "arrivals_per_s": {s.name: s.rate_hz for s in trace.streams}}
