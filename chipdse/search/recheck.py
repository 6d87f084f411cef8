"""Re-checking a search's front in the discrete-event simulator: the analytic scores and the
simulator share one cost function, so a lone request must take the same time in both."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from chipdse.search.result import SearchResult
from chipdse.search.scenarios import Workload

__all__ = ["design_objects", "simulate_request", "recheck_front"]


def design_objects(problem, row: Mapping[str, Any]):
    """(Chip, ModelArch) of one results row, for the simulator or reports."""
    from microarch.template import VARIABLES as CHIP_VARS
    from workloads.model import ModelArch

    model = chip = None
    if problem.kind in ("plas", "codesign"):
        heads = max(1, int(row["d_model"]) // 128)
        gqa = max(1, heads // int(row["n_kv_heads"]))
        model = ModelArch.from_plas(int(row["n_layers"]), int(row["d_model"]), gqa,
                                    float(row["ffn_ratio"]), int(row["n_experts"]),
                                    int(row["top_k"]))
    else:
        model = problem.model
    if problem.kind == "plas":
        chip = problem.chip
    else:
        chip = problem.template.build_chip(**{k: _py(row[k]) for k in CHIP_VARS})
    return chip, model


def _py(v: Any) -> Any:
    return v.item() if hasattr(v, "item") else v


def simulate_request(chip: Any, model: Any, workload: Workload) -> float:
    """Latency (s) of one request of ``workload`` (batch 1) run alone through the
    discrete-event simulator (:mod:`chipdse.sim`)."""
    from chipdse.sim import simulate
    from workloads.trace import Language, Stream, Trace, VLARequest

    req = VLARequest(language=Language(model, action_tokens=workload.generate,
                                       prompt_tokens=workload.prompt))
    trace = Trace("single-request", (Stream("request", req, rate_hz=1.0, deadline_s=1e3),),
                  duration_s=1.0)
    res = simulate(chip, None, trace, workload.precision)
    return float(res.requests["latency_s"].iloc[0])


def recheck_front(result: SearchResult, problem, simulator: Callable,
                  max_points: int = 10) -> None:
    """Re-score up to ``max_points`` front designs (spread along the first objective) with
    ``simulator(chip, model, workload) -> total latency (s)``; adds ``sim_total_s`` and
    ``sim_rel_error`` columns to ``result.frame`` and a note."""
    front = result.front
    if front.empty:
        return
    pick = front.iloc[np.unique(np.linspace(0, len(front) - 1, min(max_points, len(front)))
                                .round().astype(int))]
    sims, errs = [], []
    for idx, row in pick.iterrows():
        chip, model = design_objects(problem, row)
        t = float(simulator(chip, model, problem.workload))
        result.frame.loc[idx, "sim_total_s"] = t
        result.frame.loc[idx, "sim_rel_error"] = t / float(row["total_s"]) - 1.0
        sims.append(t)
        errs.append(abs(t / float(row["total_s"]) - 1.0))
    result.notes.append(f"simulator re-check of {len(sims)} front designs: max |relative "
                        f"difference| to the analytic total latency {max(errs):.2e}")
