"""Results of a simulation: the per-operator event log, per-request and per-stream tables,
utilisation over time, energy and power.

Energy accounting (:mod:`chipdse.accounting`, the same for ``estimate`` and the searches):

* every operator's energy is :func:`chipdse.cost.op_cost`'s (dynamic energy of its arithmetic
  and memory traffic, plus static power x its duration); a partition's operators carry the
  static power of their compute share only, so two partitions running side by side are not
  charged the chip's static power twice;
* the share of the chip no operator holds (a slot with nothing to run, a reconfiguration
  stall) draws :func:`chipdse.accounting.idle_power_w`: the static power of the idle share, or
  nothing where idle units are power-gated, except during a reconfiguration, which keeps the
  chip powered;
* a request's energy is its operators' plus its share of the idle power while it is in flight
  (from arrival to end; requests in flight together share it equally), so a lone request
  costs what :func:`chipdse.accounting.request_estimate` says; the idle energy while nothing
  is in flight is the chip's alone. A stream's energy per frame is its requests' energy; the
  overall energy per frame is the chip's whole energy over every completed request.

Utilisation is work in seconds of the whole chip at its achieved rates, per unit: a matrix-engine
operator holding half the engines for 2 ms does 1 ms of matrix work; DRAM work is bytes moved over
the chip's achieved DRAM bandwidth. Values are averaged over time bins.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from chipdse.accounting import idle_power_w
from chipdse.cost import BOUNDS
from chipdse.sim.plan import PHASES, UNITS

__all__ = ["SimResult", "build_result", "binned_average"]


def binned_average(starts: np.ndarray, ends: np.ndarray, amounts: np.ndarray,
                   edges: np.ndarray) -> np.ndarray:
    """Average rate per bin of ``amounts`` spread uniformly over ``[starts, ends)``.

    ``amounts`` may be (k, n): k quantities over the same n intervals, sorted once."""
    amounts = np.asarray(amounts, dtype=float)
    many = amounts.ndim == 2
    a2 = amounts if many else amounts[None, :]
    ok = ends > starts
    if not np.any(ok):
        z = np.zeros((a2.shape[0], len(edges) - 1))
        return z if many else z[0]
    s, e = starts[ok], ends[ok]
    rate = a2[:, ok] / (e - s)
    t = np.concatenate([s, e])
    o = np.argsort(t, kind="stable")
    t = t[o]
    dt = np.diff(t)
    out = np.empty((a2.shape[0], len(edges) - 1))
    for i, r in enumerate(rate):
        level = np.cumsum(np.concatenate([r, -r])[o])
        integral = np.concatenate([[0.0], np.cumsum(level[:-1] * dt)])
        f = np.interp(edges, t, integral, left=0.0, right=float(integral[-1]))
        out[i] = np.clip(np.diff(f) / np.diff(edges), 0.0, None)
    return out if many else out[0]


@dataclass
class SimResult:
    """Everything a simulation produced.

    Attributes:
        summary: one row per stream and one "all" row: requests, completed, latency mean /
            p50 / p99 / max, deadline misses, throughput, energy per frame, average power.
        requests: one row per request (arrival, admission, phase spans, end, latency, energy).
        events: one row per operator (request, stream, phase, step, layer, op, resource,
            start_s, end_s, duration_s, energy_j, bytes, bound).
        utilisation: time bins with the utilisation of each unit and slot and KV occupancy.
        resources: busy time and utilisation of each slot, unit and the reconfiguration stall.
        reconfigurations: start, end and new configuration of each reconfiguration.
        totals: horizon, energy, power, operator count, wall-clock time of the run.
        config: resolved inputs (chip, phase resources, model(s), trace, precision, options).
        spans: runs of consecutive operators of one request and phase on one slot (request,
            slot, phase index into PHASES, start_s, end_s, ops), for plots and coarse traces.
    """

    summary: pd.DataFrame
    requests: pd.DataFrame
    events: pd.DataFrame
    utilisation: pd.DataFrame
    resources: pd.DataFrame
    reconfigurations: pd.DataFrame
    totals: dict[str, Any]
    config: dict[str, Any] = field(default_factory=dict)
    spans: pd.DataFrame | None = None

    def stream(self, name: str) -> pd.Series:
        """The summary row of one stream (or "all")."""
        return self.summary.set_index("stream").loc[name]

    def to_dict(self) -> dict[str, Any]:
        """Summary and totals as plain data."""
        def clean(v: Any) -> Any:
            if isinstance(v, (float, np.floating)):
                return float(v) if np.isfinite(v) else None
            if isinstance(v, np.integer):
                return int(v)
            if isinstance(v, np.bool_):
                return bool(v)
            return v
        return {"totals": {k: clean(v) for k, v in self.totals.items()},
                "streams": [{k: clean(v) for k, v in row.items()}
                            for row in self.summary.to_dict(orient="records")]}

    def write(self, directory: str | Path, seed: int | None = None,
              progress: Callable[[str], None] | None = None) -> list[Path]:
        """Write config.json, results.csv, requests.csv, events.csv, utilisation.csv,
        trace.json and timeline.png into ``directory`` (each atomically)."""
        from chipdse import io
        from chipdse.sim.timeline import timeline_figure
        from chipdse.sim.trace_export import write_perfetto

        d = Path(directory)
        d.mkdir(parents=True, exist_ok=True)
        out = []
        steps: list[tuple[str, Callable[[], Path]]] = [
            ("config.json", lambda: io.write_json(
                d / "config.json", io.run_config("simulate", self.config, seed))),
            ("results.csv", lambda: io.write_csv(d / "results.csv", self.summary)),
            ("requests.csv", lambda: io.write_csv(d / "requests.csv", self.requests)),
            ("events.csv", lambda: io.write_csv(d / "events.csv", self.events)),
            ("utilisation.csv", lambda: io.write_csv(d / "utilisation.csv", self.utilisation)),
            ("trace.json", lambda: write_perfetto(self, d / "trace.json")),
            ("timeline.png", lambda: io.save_figure(timeline_figure(self),
                                                    d / "timeline.png")),
        ]
        for name, fn in steps:
            if progress is not None:
                progress(name)
            out.append(fn())
        return out


def _expand(sim) -> dict[str, np.ndarray]:
    """Per-operator arrays rebuilt from the batches (ordered by start time)."""
    groups: dict[int, list] = {}
    plans = {}
    for b in sim.batches:
        groups.setdefault(id(b[1]), []).append(b)
        plans[id(b[1])] = b[1]
    cols: dict[str, list] = {k: [] for k in (
        "request", "slot", "start", "end", "op", "layer", "step", "phase", "energy", "dram",
        "sram", "kv", "bound", "work", "static_share")}
    for pid, bs in groups.items():
        plan = plans[pid]
        rid, _, i0, i1, t0, slot, base = (np.array(x) for x in zip(*bs))
        lens = (i1 - i0).astype(np.int64)
        nb = len(bs)
        b_of = np.repeat(np.arange(nb), lens)
        first = np.repeat(np.cumsum(lens) - lens, lens)
        pos = np.arange(int(lens.sum())) - first + np.repeat(i0.astype(np.int64), lens)
        cum = plan.cum_s
        excl = np.concatenate([[0.0], cum[:-1]])
        t0b, baseb = t0.astype(float)[b_of], base.astype(float)[b_of]
        st = plan.stage
        cols["request"].append(rid.astype(np.int64)[b_of])
        cols["slot"].append(slot.astype(np.int16)[b_of])
        cols["start"].append(t0b + (excl[pos] - baseb))
        cols["end"].append(t0b + (cum[pos] - baseb))
        cols["op"].append(st.op_id[pos])
        cols["layer"].append(st.layer[pos])
        cols["step"].append(st.step[pos])
        cols["phase"].append(st.phase[pos])
        cols["energy"].append(plan.energy_j[pos])
        cols["dram"].append(plan.dram_bytes[pos])
        cols["sram"].append(plan.sram_bytes[pos])
        cols["kv"].append(plan.kv_bytes[pos])
        cols["bound"].append(plan.bound[pos])
        cols["work"].append(plan.work_s[:, pos])
        cols["static_share"].append(np.full(pos.size, plan.shares.compute))
    if not sim.batches:
        empty = {k: np.zeros(0) for k in cols}
        empty["work"] = np.zeros((len(UNITS), 0))
        return empty
    out = {k: (np.concatenate(v, axis=1) if k == "work" else np.concatenate(v))
           for k, v in cols.items()}
    order = np.lexsort((out["request"], out["start"]))
    return {k: (v[:, order] if k == "work" else v[order]) for k, v in out.items()}


def _spans(ev: dict[str, np.ndarray]) -> pd.DataFrame:
    """Runs of consecutive operators of one request and phase on one slot (for plots)."""
    cols = ["request", "slot", "phase", "start_s", "end_s", "ops"]
    if ev["request"].size == 0:
        return pd.DataFrame(columns=cols)
    o = np.lexsort((ev["start"], ev["slot"]))
    req, slot, ph = ev["request"][o], ev["slot"][o], ev["phase"][o]
    st, en = ev["start"][o], ev["end"][o]
    new = np.ones(req.size, dtype=bool)
    new[1:] = (req[1:] != req[:-1]) | (slot[1:] != slot[:-1]) | (ph[1:] != ph[:-1]) \
        | (st[1:] != en[:-1])
    idx = np.flatnonzero(new)
    stop = np.append(idx[1:], req.size) - 1
    return pd.DataFrame({"request": req[idx], "slot": slot[idx], "phase": ph[idx],
                         "start_s": st[idx], "end_s": en[stop], "ops": stop - idx + 1})


def _idle_energy(sim, ev: dict[str, np.ndarray], arrival: np.ndarray, end: np.ndarray,
                 horizon: float) -> tuple[float, np.ndarray]:
    """The chip's idle energy over [0, horizon] and each request's share of it.

    Idle power is piecewise constant between events (operator starts and ends,
    reconfiguration stalls, request arrivals and ends); each request is charged the idle
    power divided by the number of requests in flight, integrated over its lifetime."""
    static_w = float(sim.full.static_power_w)
    gating = bool(sim.chip.phase.power_gating)
    stalls = np.array([(s, e) for s, e, _ in sim.reconfigs], dtype=float).reshape(-1, 2)
    fin = np.isfinite(end)
    times = np.concatenate([[0.0, horizon], ev["start"], ev["end"], stalls[:, 0], stalls[:, 1],
                            arrival[fin], end[fin]])
    d_busy = np.concatenate([[0.0, 0.0], ev["static_share"], -ev["static_share"],
                             np.zeros(2 * len(stalls) + 2 * int(fin.sum()))])
    d_stall = np.concatenate([np.zeros(2 + 2 * ev["start"].size), np.ones(len(stalls)),
                              -np.ones(len(stalls)), np.zeros(2 * int(fin.sum()))])
    d_live = np.concatenate([np.zeros(2 + 2 * ev["start"].size + 2 * len(stalls)),
                             np.ones(int(fin.sum())), -np.ones(int(fin.sum()))])
    o = np.argsort(times, kind="stable")
    t = times[o]
    busy = np.round(np.cumsum(d_busy[o]), 12)
    stalled = np.round(np.cumsum(d_stall[o])) > 0
    live = np.round(np.cumsum(d_live[o]))
    dt = np.diff(t)
    p = idle_power_w(static_w, busy[:-1], gating, stalled[:-1])
    inside = t[1:] <= horizon
    total = float(np.sum(p * dt * inside))
    share = np.where(live[:-1] > 0, p / np.maximum(live[:-1], 1.0), 0.0) * dt
    cum = np.concatenate([[0.0], np.cumsum(share)])
    per_req = np.zeros(arrival.size)
    if fin.any():
        # cum is continuous in time, so any index of an event's time gives its value.
        a = np.searchsorted(t, arrival[fin], side="left")
        b = np.searchsorted(t, end[fin], side="left")
        per_req[fin] = cum[b] - cum[a]
    return total, per_req


def _stats(lat: np.ndarray) -> dict[str, float]:
    if lat.size == 0:
        return {k: float("nan") for k in ("latency_mean_s", "latency_p50_s", "latency_p99_s",
                                           "latency_max_s")}
    p50, p99 = np.percentile(lat, [50, 99])
    return {"latency_mean_s": float(lat.mean()), "latency_p50_s": float(p50),
            "latency_p99_s": float(p99), "latency_max_s": float(lat.max())}


def build_result(sim, wall_s: float, config: dict[str, Any]) -> SimResult:
    """Assemble a :class:`SimResult` from a finished :class:`~chipdse.sim.engine.Simulator`."""
    ev = _expand(sim)
    trace = sim.trace
    stream_names = [s.name for s in trace.streams]
    reqs = sim.requests
    n_req = len(reqs)
    req_stream = np.array([r.stream for r in reqs], dtype=np.int64)
    rid = ev["request"].astype(np.int64)
    n_ev = rid.size

    # -- event log ---------------------------------------------------------------------
    events = pd.DataFrame({
        "request": rid.astype(np.int32),
        "stream": pd.Categorical.from_codes(req_stream[rid] if n_ev else np.zeros(0, int),
                                            categories=stream_names),
        "phase": pd.Categorical.from_codes(ev["phase"].astype(np.int8), categories=PHASES),
        "step": ev["step"].astype(np.int32),
        "layer": ev["layer"].astype(np.int32),
        "op": pd.Categorical.from_codes(ev["op"].astype(np.int32),
                                        categories=list(sim.names.names) or ["-"]),
        "resource": pd.Categorical.from_codes(ev["slot"].astype(np.int16),
                                              categories=list(sim.layout.slot_names)),
        "start_s": ev["start"], "end_s": ev["end"], "duration_s": ev["end"] - ev["start"],
        "energy_j": ev["energy"], "dram_bytes": ev["dram"], "sram_bytes": ev["sram"],
        "kv_sram_bytes": ev["kv"],
        "bound": pd.Categorical.from_codes(ev["bound"].astype(np.int8), categories=BOUNDS),
    })

    # -- requests ------------------------------------------------------------------------
    arrival = np.array([r.arrival_s for r in reqs])
    end = np.array([r.end_s for r in reqs])
    admitted = np.array([r.admitted_s for r in reqs])
    deadline = np.array([r.deadline_s for r in reqs])
    op_energy_req = np.bincount(rid, weights=ev["energy"], minlength=n_req) if n_req else \
        np.zeros(0)
    horizon = float(max(sim.duration_s, np.max(end) if n_req else 0.0))
    idle_j, idle_req = _idle_energy(sim, ev, arrival, end, horizon)
    energy_req = op_energy_req + idle_req
    nph = len(PHASES)
    key = rid * nph + ev["phase"].astype(np.int64)
    first = np.full(n_req * nph, np.inf)
    last = np.full(n_req * nph, -np.inf)
    np.minimum.at(first, key, ev["start"])
    np.maximum.at(last, key, ev["end"])
    first = first.reshape(n_req, nph)
    last = last.reshape(n_req, nph)
    start = np.min(first, axis=1) if n_req else np.zeros(0)
    latency = end - arrival
    missed = latency > deadline * (1 + 1e-12)
    rq = {"request": np.arange(n_req), "stream": [stream_names[s] for s in req_stream],
          "arrival_s": arrival, "admitted_s": admitted, "start_s": start, "end_s": end,
          "latency_s": latency, "deadline_s": deadline, "missed": missed,
          "queue_s": start - arrival}
    for j, ph in enumerate(PHASES):
        has = np.isfinite(first[:, j])
        rq[f"{ph}_start_s"] = np.where(has, first[:, j], np.nan)
        rq[f"{ph}_end_s"] = np.where(has, last[:, j], np.nan)
    rq["energy_j"] = energy_req
    rq["idle_energy_j"] = idle_req
    rq["kv_sram_bytes"] = [r.kv_sram_bytes for r in reqs]
    rq["kv_dram_bytes"] = [r.kv_dram_bytes for r in reqs]
    requests = pd.DataFrame(rq)

    # -- totals and energy ---------------------------------------------------------------
    op_energy = float(ev["energy"].sum())
    dur = ev["end"] - ev["start"]
    reconf_s = float(sum(e - s for s, e, _ in sim.reconfigs))
    energy = op_energy + idle_j
    idle_unattributed = idle_j - float(idle_req.sum())
    completed = int(np.isfinite(end).sum())

    rows = []
    for si, name in enumerate(stream_names + ["all"]):
        sel = req_stream == si if name != "all" else np.ones(n_req, dtype=bool)
        lat = latency[sel]
        n_done = int(np.isfinite(lat).sum())
        e_j = float(energy_req[sel].sum()) + (idle_unattributed if name == "all" else 0.0)
        tokens = sum(sim.work[r.stream].stream.request.action_tokens
                     for r, s in zip(reqs, sel) if s)
        rows.append({
            "stream": name, "requests": int(sel.sum()), "completed": n_done,
            **_stats(lat[np.isfinite(lat)]),
            "deadline_s": (trace.streams[si].deadline_s if name != "all" else float("nan")),
            "misses": int(missed[sel].sum()),
            "miss_rate": float(missed[sel].mean()) if sel.any() else float("nan"),
            "throughput_per_s": n_done / horizon,
            "action_tokens_per_s": tokens / horizon,
            "energy_per_frame_j": e_j / n_done if n_done else float("nan"),
            "avg_power_w": e_j / horizon,
        })
    summary = pd.DataFrame(rows)

    # -- utilisation ---------------------------------------------------------------------
    bin_s = sim.options.util_bin_s or max(1e-3, horizon / 2000.0)
    nbins = max(1, int(np.ceil(horizon / bin_s - 1e-9)))
    edges = np.arange(nbins + 1) * bin_s
    util: dict[str, Any] = {"t_start_s": edges[:-1], "t_end_s": edges[1:]}
    unit_util = binned_average(ev["start"], ev["end"], ev["work"], edges)
    for u, name in enumerate(UNITS):
        util[name] = unit_util[u]
    for si, name in enumerate(sim.layout.slot_names):
        m = ev["slot"] == si
        util[f"busy_{name}"] = binned_average(ev["start"][m], ev["end"][m], dur[m], edges)
    hist = np.array(sim.kv.history, dtype=float)
    h_t = np.append(hist[:, 0], max(horizon, hist[-1, 0]))
    for col, j in (("kv_sram_used_bytes", 1), ("kv_dram_used_bytes", 2)):
        util[col] = binned_average(h_t[:-1], h_t[1:], hist[:, j] * np.diff(h_t), edges)
    utilisation = pd.DataFrame(util)

    res_rows = []
    for si, name in enumerate(sim.layout.slot_names):
        b = float(dur[ev["slot"] == si].sum())
        res_rows.append({"resource": f"slot:{name}", "busy_s": b, "utilisation": b / horizon})
    for u, name in enumerate(UNITS):
        b = float(ev["work"][u].sum())
        res_rows.append({"resource": f"unit:{name}", "busy_s": b, "utilisation": b / horizon})
    res_rows.append({"resource": "reconfiguration", "busy_s": reconf_s,
                     "utilisation": reconf_s / horizon})
    resources = pd.DataFrame(res_rows)
    reconfigurations = pd.DataFrame(sim.reconfigs, columns=["start_s", "end_s", "config"])

    totals = {
        "chip": sim.chip.name, "phase_mode": sim.layout.mode.value, "trace": trace.name,
        "policy": sim.options.policy, "duration_s": sim.duration_s, "horizon_s": horizon,
        "seed": sim.seed, "requests": n_req, "completed": completed,
        "operators": int(n_ev), "batches": len(sim.batches),
        "energy_j": energy, "operator_energy_j": op_energy, "idle_energy_j": idle_j,
        "idle_energy_between_requests_j": idle_unattributed,
        "avg_power_w": energy / horizon,
        "energy_per_frame_j": energy / completed if completed else float("nan"),
        "reconfigurations": len(sim.reconfigs), "reconfiguration_s": reconf_s,
        "deadline_misses": int(missed.sum()),
        "wall_s": wall_s, "operators_per_s": n_ev / wall_s if wall_s > 0 else float("nan"),
    }
    spans = _spans(ev)
    return SimResult(summary=summary, requests=requests, events=events,
                     utilisation=utilisation, resources=resources,
                     reconfigurations=reconfigurations, totals=totals, config=config,
                     spans=spans)
