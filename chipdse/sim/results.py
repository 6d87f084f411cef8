"""Results of a simulation: per-request and per-stream tables, the event log (per request and
phase, or per operator), utilisation over time, energy and power, and the run directory.

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

Everything here is computed from the simulator's batch log (:mod:`chipdse.sim.log`) and its
stage plans, never from a per-operator table: a run's tables and totals cost memory in its
batches and requests, not its operators. The per-operator event log is rebuilt on demand
(:attr:`SimResult.events`) or in bounded, time-ordered chunks (:meth:`SimResult.iter_events`,
which the Parquet writer and the Perfetto trace use). Tables are pandas DataFrames built on
first access; writing a run directory needs no pandas.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from chipdse.accounting import idle_power_w
from chipdse.cost import BOUNDS
from chipdse.sim.plan import PHASES, UNITS

__all__ = ["SimResult", "build_result", "binned_average", "chunk_continuity", "EVENT_DETAILS",
           "TRACE_DETAILS",
           "EVENT_CHUNK_ROWS", "EVENT_COLUMNS", "SUMMARY_EVENT_COLUMNS"]

EVENT_DETAILS = ("none", "summary", "full")
"""What :meth:`SimResult.write` writes of the event log: nothing, events_summary.parquet (one
row per request and phase), or that and events.parquet (one row per operator)."""
TRACE_DETAILS = ("auto", "operator", "phase", "none")
"""Detail of trace.json: one slice per operator, one per run of a phase (consecutive operators
of one request and phase on one slot), "auto" (per operator up to
``SimOptions.max_trace_ops`` operators, per phase above, with a notice) or no trace."""
EVENT_CHUNK_ROWS = 1 << 20
"""Operators rebuilt at a time when the per-operator log is streamed (~60 MB of arrays)."""

EVENT_COLUMNS = ("request", "stream", "phase", "step", "layer", "op", "resource", "start_s",
                 "end_s", "duration_s", "energy_j", "dram_bytes", "sram_bytes", "kv_sram_bytes",
                 "bound")
"""Columns of the per-operator event log (events.parquet, :attr:`SimResult.events`)."""
SUMMARY_EVENT_COLUMNS = ("request", "stream", "phase", "resource", "start_s", "end_s", "busy_s",
                         "operators", "energy_j", "dram_bytes", "sram_bytes", "kv_sram_bytes",
                         *(f"{b}_bound_s" for b in BOUNDS))
"""Columns of the per-request-and-phase event log (events_summary.parquet,
:attr:`SimResult.event_summary`): first start, last end, busy time (the operators' durations
summed), operator count, energy and bytes moved, and the busy time by what bounds it."""


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


def _prefix(a: np.ndarray) -> np.ndarray:
    """Running sums with a leading zero along the last axis: ``p[..., j] = sum(a[..., :j])``."""
    a = np.asarray(a, dtype=float)
    out = np.zeros(a.shape[:-1] + (a.shape[-1] + 1,))
    np.cumsum(a, axis=-1, out=out[..., 1:])
    return out


class _PlanSums:
    """What the tables need of one stage plan: operator start offsets, running sums of its
    energy, bytes, unit work and bound time, and its runs of one phase."""

    def __init__(self, plan) -> None:
        self.plan = plan
        cum = plan.cum_s
        self.cum = cum
        self.excl = np.concatenate([[0.0], cum[:-1]])  # start offset of each operator
        self.energy = _prefix(plan.energy_j)
        self.dram = _prefix(plan.dram_bytes)
        self.sram = _prefix(plan.sram_bytes)
        self.kv = _prefix(plan.kv_bytes)
        self.work = _prefix(plan.work_s)
        by_bound = np.zeros((len(BOUNDS), plan.n_ops))
        by_bound[plan.bound.astype(np.intp), np.arange(plan.n_ops)] = plan.duration_s
        self.bound = _prefix(by_bound)
        ph = plan.stage.phase
        cut = np.flatnonzero(np.diff(ph)) + 1
        self.run_start = np.concatenate([[0], cut]).astype(np.int64)
        self.run_end = np.concatenate([cut, [ph.size]]).astype(np.int64)
        self.run_phase = ph[self.run_start].astype(np.int64) if ph.size else np.zeros(0, int)
        self.share = float(plan.shares.compute)


class _Log:
    """The batch log with every per-batch and per-piece quantity the tables need (a piece is
    the part of a batch in one phase)."""

    def __init__(self, records: np.ndarray, plans: list, op_names: list[str],
                 slot_names: list[str], stream_names: list[str], req_stream: np.ndarray):
        self.rec = records
        self.sums = [_PlanSums(p) for p in plans]
        self.op_names = op_names or ["-"]
        self.slot_names = slot_names
        self.stream_names = stream_names
        self.req_stream = req_stream
        nb = records.size
        self.n = nb
        r = records
        i0, i1 = r["i0"].astype(np.int64), r["i1"].astype(np.int64)
        self.ops = i1 - i0
        self.start = np.empty(nb)
        self.end = np.empty(nb)
        self.last_start = np.empty(nb)
        self.share = np.empty(nb)
        self.energy = np.empty(nb)
        self.work = np.empty((len(UNITS), nb))
        pieces: list[dict[str, np.ndarray]] = []
        for p, idx in self.by_plan(np.arange(nb)):
            s = self.sums[p]
            a, b, t0, base = i0[idx], i1[idx], r["t0"][idx], r["base"][idx]
            self.start[idx] = t0 + (s.excl[a] - base)
            self.end[idx] = t0 + (s.cum[b - 1] - base)
            self.last_start[idx] = t0 + (s.excl[b - 1] - base)
            self.share[idx] = s.share
            self.energy[idx] = s.energy[b] - s.energy[a]
            self.work[:, idx] = s.work[:, b] - s.work[:, a]
            for rs, re, ph in zip(s.run_start, s.run_end, s.run_phase):
                m = (rs < b) & (re > a)
                if not m.any():
                    continue
                k = idx[m]
                lo, hi = np.maximum(a[m], rs), np.minimum(b[m], re)
                tk, bk = t0[m], base[m]
                pieces.append({
                    "batch": k, "phase": np.full(k.size, ph, dtype=np.int64),
                    "start": tk + (s.excl[lo] - bk), "end": tk + (s.cum[hi - 1] - bk),
                    "ops": hi - lo, "energy": s.energy[hi] - s.energy[lo],
                    "dram": s.dram[hi] - s.dram[lo], "sram": s.sram[hi] - s.sram[lo],
                    "kv": s.kv[hi] - s.kv[lo], "bound": s.bound[:, hi] - s.bound[:, lo]})
        keys = ("batch", "phase", "start", "end", "ops", "energy", "dram", "sram", "kv")
        if pieces:
            pc = {k: np.concatenate([q[k] for q in pieces]) for k in keys}
            pc["bound"] = np.concatenate([q["bound"] for q in pieces], axis=1)
        else:
            pc = {k: np.zeros(0, dtype=np.int64 if k in ("batch", "phase", "ops") else float)
                  for k in keys}
            pc["bound"] = np.zeros((len(BOUNDS), 0))
        pc["request"] = r["request"][pc["batch"]].astype(np.int64)
        pc["slot"] = r["slot"][pc["batch"]].astype(np.int64)
        o = np.lexsort((pc["phase"], pc["request"], pc["start"]))
        self.pieces = {k: (v[:, o] if k == "bound" else v[o]) for k, v in pc.items()}

    @property
    def operators(self) -> int:
        return int(self.ops.sum())

    def by_plan(self, idx: np.ndarray) -> Iterator[tuple[int, np.ndarray]]:
        """(plan index, the batches of ``idx`` on that plan), plan by plan."""
        if idx.size == 0:
            return
        plan = self.rec["plan"][idx]
        o = np.argsort(plan, kind="stable")
        ps = plan[o]
        cut = np.flatnonzero(np.diff(ps)) + 1
        for lo, hi in zip(np.concatenate([[0], cut]), np.concatenate([cut, [ps.size]])):
            yield int(ps[lo]), idx[o[lo:hi]]

    def expand(self, idx: np.ndarray) -> dict[str, np.ndarray]:
        """Per-operator arrays of the batches ``idx`` (grouped by plan, unordered), with each
        operator's plan and position in it."""
        r = self.rec
        cols: dict[str, list] = {k: [] for k in ("request", "slot", "start", "end", "op",
                                                 "layer", "step", "phase", "energy", "dram",
                                                 "sram", "kv", "bound", "plan", "pos")}
        for p, b in self.by_plan(idx):
            s = self.sums[p]
            plan, st = s.plan, s.plan.stage
            lens = self.ops[b]
            n = int(lens.sum())
            first = np.repeat(np.cumsum(lens) - lens, lens)
            pos = np.arange(n) - first + np.repeat(r["i0"][b].astype(np.int64), lens)
            t0b, baseb = np.repeat(r["t0"][b], lens), np.repeat(r["base"][b], lens)
            cols["request"].append(np.repeat(r["request"][b], lens))
            cols["slot"].append(np.repeat(r["slot"][b], lens))
            cols["start"].append(t0b + (s.excl[pos] - baseb))
            cols["end"].append(t0b + (s.cum[pos] - baseb))
            cols["op"].append(st.op_id[pos])
            cols["layer"].append(st.layer[pos])
            cols["step"].append(st.step[pos])
            cols["phase"].append(st.phase[pos])
            cols["energy"].append(plan.energy_j[pos])
            cols["dram"].append(plan.dram_bytes[pos])
            cols["sram"].append(plan.sram_bytes[pos])
            cols["kv"].append(plan.kv_bytes[pos])
            cols["bound"].append(plan.bound[pos])
            cols["plan"].append(np.full(n, p, dtype=np.int32))
            cols["pos"].append(pos)
        dtypes = {"request": np.int32, "slot": np.int16, "op": np.int32, "layer": np.int32,
                  "step": np.int32, "phase": np.int8, "bound": np.int8, "plan": np.int32,
                  "pos": np.int64}
        return {k: (np.concatenate(v) if v else np.zeros(0, dtype=dtypes.get(k, float)))
                for k, v in cols.items()}

    def windows(self, rows: int) -> Iterator[dict[str, np.ndarray]]:
        """The per-operator arrays in time order (start, then request), about ``rows``
        operators at a time; each operator once."""
        if self.n == 0:
            yield self.expand(np.zeros(0, dtype=np.int64))
            return
        order = np.argsort(self.start, kind="stable")
        bs = self.start[order]
        reach = np.maximum.accumulate(self.last_start[order])
        cum = np.cumsum(self.ops[order])
        marks = np.arange(rows, int(cum[-1]), rows)
        cuts = np.unique(bs[np.minimum(np.searchsorted(cum, marks), bs.size - 1)])
        bounds = np.concatenate([[-np.inf], cuts[cuts > bs[0]], [np.inf]])
        for lo, hi in zip(bounds[:-1], bounds[1:]):
            a = int(np.searchsorted(reach, lo, side="left"))
            b = int(np.searchsorted(bs, hi, side="left"))
            ev = self.expand(order[a:b])
            m = (ev["start"] >= lo) & (ev["start"] < hi)
            ev = {k: v[m] for k, v in ev.items()}
            o = np.lexsort((ev["request"], ev["start"]))
            yield {k: v[o] for k, v in ev.items()}

    def unit_integrals(self, edges: np.ndarray) -> np.ndarray:
        """(len(UNITS), len(edges)): each unit's work done before each edge (exact: the
        work of an operator accrues uniformly over its duration)."""
        n_units, n_e = len(UNITS), edges.size
        steps = np.zeros((n_units, n_e + 1))
        j_end = np.searchsorted(edges, self.end, side="left")  # first edge at or after the end
        for u in range(n_units):
            np.add.at(steps[u], j_end, self.work[u])
        out = np.cumsum(steps[:, :n_e], axis=1)
        j_lo = np.searchsorted(edges, self.start, side="right")  # first edge after the start
        r = self.rec
        for k in np.flatnonzero(j_lo < j_end):  # batches with an edge inside them
            s = self.sums[int(r["plan"][k])]
            a, b = int(r["i0"][k]), int(r["i1"][k])
            t0, base = float(r["t0"][k]), float(r["base"][k])
            knots = t0 + (np.concatenate([[s.excl[a]], s.cum[a:b]]) - base)
            e = edges[j_lo[k]:j_end[k]]
            for u in range(n_units):
                w = s.work[u, a:b + 1] - s.work[u, a]
                out[u, j_lo[k]:j_end[k]] += np.interp(e, knots, w)
        return out


def _idle_energy(sim, log: _Log, arrival: np.ndarray, end: np.ndarray,
                 horizon: float) -> tuple[float, np.ndarray]:
    """The chip's idle energy over [0, horizon] and each request's share of it.

    Idle power is piecewise constant between events (batch starts and ends: the operators of
    a batch run back to back on one share, reconfiguration stalls, request arrivals and
    ends); each request is charged the idle power divided by the number of requests in
    flight, integrated over its lifetime."""
    static_w = float(sim.full.static_power_w)
    gating = bool(sim.chip.phase.power_gating)
    stalls = np.array([(s, e) for s, e, _ in sim.reconfigs], dtype=float).reshape(-1, 2)
    fin = np.isfinite(end)
    nb, ns, nf = log.n, len(stalls), int(fin.sum())
    times = np.concatenate([[0.0, horizon], log.start, log.end, stalls[:, 0], stalls[:, 1],
                            arrival[fin], end[fin]])
    d_busy = np.concatenate([[0.0, 0.0], log.share, -log.share, np.zeros(2 * ns + 2 * nf)])
    d_stall = np.concatenate([np.zeros(2 + 2 * nb), np.ones(ns), -np.ones(ns),
                              np.zeros(2 * nf)])
    d_live = np.concatenate([np.zeros(2 + 2 * nb + 2 * ns), np.ones(nf), -np.ones(nf)])
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


def chunk_continuity(ready_s: np.ndarray, latency_s: np.ndarray, execute_s: float,
                     overlap: bool, horizon_s: float) -> dict[str, float]:
    """Whether a stream's action chunks keep the robot moving.

    ``ready_s`` are the chunks' completion times in arrival order (inf: never completed),
    ``latency_s`` their latencies, ``execute_s`` how long one chunk's executed actions last.
    With ``overlap`` (asynchronous inference) the robot executes the freshest ready chunk; a
    chunk covers ``execute_s`` from when it is ready, and the robot stalls whenever no chunk
    covers the moment (counted from the first chunk on, up to ``horizon_s`` for a chunk that
    never comes). Without overlap the robot waits for every chunk: each request's latency
    is a stall. Returns the stalls, their total and longest duration, and the motion duty
    (the share of the time from the first chunk on in which the robot moves)."""
    ready = np.minimum(np.asarray(ready_s, dtype=float), horizon_s)
    lat = np.asarray(latency_s, dtype=float)
    if ready.size == 0:
        return {"chunk_stalls": 0, "stall_s": 0.0, "max_stall_s": 0.0,
                "motion_duty": float("nan")}
    if overlap:
        cover = np.maximum.accumulate(ready + execute_s)
        gaps = np.maximum(ready[1:] - cover[:-1], 0.0)
        tail = max(horizon_s - cover[-1], 0.0) if not np.isfinite(ready_s[-1]) else 0.0
        gaps = np.append(gaps, tail) if tail > 0 else gaps
        span = max(float(cover[-1] - ready[0]), 1e-300)
    else:
        gaps = np.minimum(lat, horizon_s)
        span = float(np.sum(gaps) + execute_s * ready.size)
    tol = 1e-12 * max(1.0, float(horizon_s))
    gaps = np.where(gaps > tol, gaps, 0.0)  # float noise where a chunk lands on the boundary
    stall = float(np.sum(gaps))
    return {"chunk_stalls": int(np.sum(gaps > tol)), "stall_s": stall,
            "max_stall_s": float(np.max(gaps)) if gaps.size else 0.0,
            "motion_duty": float(np.clip(1.0 - stall / span, 0.0, 1.0))}


def _stats(lat: np.ndarray) -> dict[str, float]:
    if lat.size == 0:
        return {k: float("nan") for k in ("latency_mean_s", "latency_p50_s", "latency_p99_s",
                                           "latency_max_s")}
    p50, p99 = np.percentile(lat, [50, 99])
    return {"latency_mean_s": float(lat.mean()), "latency_p50_s": float(p50),
            "latency_p99_s": float(p99), "latency_max_s": float(lat.max())}


def _names(codes: np.ndarray, names: list[str]) -> np.ndarray:
    return np.asarray(names, dtype=object)[codes] if len(names) else np.zeros(0, dtype=object)


class SimResult:
    """Everything a simulation produced. Each table is a pandas DataFrame, built on first
    access from the columns the simulation kept.

    Attributes:
        summary: one row per stream and one "all" row: requests, completed, latency mean /
            p50 / p99 / max, deadline misses, throughput, energy per frame, average power.
        requests: one row per request (arrival, admission, phase spans, end, latency, energy).
        event_summary: one row per request and phase (:data:`SUMMARY_EVENT_COLUMNS`).
        events: one row per operator (:data:`EVENT_COLUMNS`), in start order. Built from the
            batch log when first asked for: its memory grows with the operators (about 80 B
            each); :meth:`iter_events` streams the same rows in bounded chunks.
        utilisation: time bins with the utilisation of each unit and slot and KV occupancy.
        resources: busy time and utilisation of each slot, unit and the reconfiguration stall.
        reconfigurations: start, end and new configuration of each reconfiguration.
        totals: horizon, energy, power, operator count, wall-clock time of the run.
        config: resolved inputs (chip, phase resources, model(s), trace, precision, options).
        spans: runs of consecutive operators of one request and phase on one slot (request,
            slot, phase index into PHASES, start_s, end_s, ops), for plots and coarse traces.
        notes: what :meth:`write` reduced or left out, one line each (also passed to its
            ``notice``).
    """

    def __init__(self, columns: dict[str, dict[str, Any]], totals: dict[str, Any],
                 config: dict[str, Any], log: _Log | None = None):
        self.columns = columns
        self.totals = totals
        self.config = config
        self.log = log
        self.notes: list[str] = []
        self._frames: dict[str, Any] = {}

    def _frame(self, name: str):
        if name not in self._frames:
            import pandas as pd

            self._frames[name] = pd.DataFrame(self.columns[name])
        return self._frames[name]

    summary = property(lambda self: self._frame("summary"),
                       doc="One row per stream and an 'all' row.")
    requests = property(lambda self: self._frame("requests"), doc="One row per request.")
    event_summary = property(lambda self: self._frame("event_summary"),
                             doc="One row per request and phase.")
    utilisation = property(lambda self: self._frame("utilisation"),
                           doc="Utilisation of each unit and slot and KV occupancy per bin.")
    resources = property(lambda self: self._frame("resources"),
                         doc="Busy time and utilisation of each slot, unit and stall.")
    reconfigurations = property(lambda self: self._frame("reconfigurations"),
                                doc="Start, end and configuration of each reconfiguration.")
    spans = property(lambda self: self._frame("spans"),
                     doc="Runs of consecutive operators of one request and phase on a slot.")

    @property
    def events(self):
        """The per-operator event log (:data:`EVENT_COLUMNS`), in start order."""
        if "events" not in self._frames:
            import pandas as pd

            ev = next(self._log().windows(max(self._log().operators, 1)))
            self._frames["events"] = pd.DataFrame(self._event_columns(ev, pandas=True))
        return self._frames["events"]

    def _log(self) -> _Log:
        if self.log is None:
            raise ValueError("this result keeps no batch log (built without one)")
        return self.log

    def iter_events(self, rows: int = EVENT_CHUNK_ROWS) -> Iterator[dict[str, np.ndarray]]:
        """The per-operator event log in start order, about ``rows`` operators at a time: a
        dict per chunk of :data:`EVENT_COLUMNS` -> arrays (the categorical columns as codes,
        with their names in :meth:`event_categories`)."""
        for ev in self._log().windows(rows):
            yield self._event_columns(ev, pandas=False)

    def event_categories(self) -> dict[str, list[str]]:
        """Names of the codes of the categorical event columns."""
        log = self._log()
        return {"stream": list(log.stream_names), "phase": list(PHASES),
                "op": list(log.op_names), "resource": list(log.slot_names),
                "bound": list(BOUNDS)}

    def _event_columns(self, ev: dict[str, np.ndarray], pandas: bool) -> dict[str, Any]:
        log = self._log()
        rid = ev["request"].astype(np.int64)
        stream = (log.req_stream[rid] if rid.size else np.zeros(0, np.int64)).astype(np.int32)
        codes = {"stream": stream, "phase": ev["phase"].astype(np.int8),
                 "op": ev["op"].astype(np.int32), "resource": ev["slot"].astype(np.int16),
                 "bound": ev["bound"].astype(np.int8)}
        if pandas:
            import pandas as pd

            cats = self.event_categories()
            codes = {k: pd.Categorical.from_codes(v, categories=cats[k])
                     for k, v in codes.items()}
        return {"request": ev["request"].astype(np.int32), "stream": codes["stream"],
                "phase": codes["phase"], "step": ev["step"].astype(np.int32),
                "layer": ev["layer"].astype(np.int32), "op": codes["op"],
                "resource": codes["resource"], "start_s": ev["start"], "end_s": ev["end"],
                "duration_s": ev["end"] - ev["start"], "energy_j": ev["energy"],
                "dram_bytes": ev["dram"], "sram_bytes": ev["sram"], "kv_sram_bytes": ev["kv"],
                "bound": codes["bound"]}

    def stream(self, name: str):
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
        cols = self.columns["summary"]
        n = len(cols["stream"])
        rows = [{k: clean(v[i]) for k, v in cols.items()} for i in range(n)]
        return {"totals": {k: clean(v) for k, v in self.totals.items()}, "streams": rows}

    def write(self, directory: str | Path, seed: int | None = None,
              progress: Callable[[str], None] | None = None, events: str = "summary",
              trace: str = "auto", plot: bool = False,
              notice: Callable[[str], None] | None = None) -> list[Path]:
        """Write the run directory (each file atomically): config.json, results.csv,
        requests.csv, utilisation.csv; the event log as :data:`EVENT_DETAILS` says
        (events_summary.parquet, and events.parquet at "full"); trace.json at the detail
        ``trace`` (:data:`TRACE_DETAILS`); timeline.png if ``plot``. ``progress(name)`` is
        called before each file; ``notice(line)`` for each reduction (also kept in
        :attr:`notes`). Returns the paths written."""
        from chipdse import io
        from chipdse.sim.trace_export import trace_detail, write_perfetto

        if events not in EVENT_DETAILS:
            raise ValueError(f"events must be one of {', '.join(EVENT_DETAILS)}, got {events!r}")
        if trace not in TRACE_DETAILS:
            raise ValueError(f"trace must be one of {', '.join(TRACE_DETAILS)}, got {trace!r}")
        d = Path(directory)
        d.mkdir(parents=True, exist_ok=True)
        detail, note = trace_detail(self, trace)
        if note:
            self.notes.append(note)
            if notice is not None:
                notice(note)
        steps: list[tuple[str, Callable[[], Path]]] = [
            ("config.json", lambda: io.write_json(
                d / "config.json", io.run_config("simulate", self.config, seed))),
            ("results.csv", lambda: io.write_columns_csv(d / "results.csv",
                                                         self.columns["summary"])),
            ("requests.csv", lambda: io.write_columns_csv(d / "requests.csv",
                                                          self.columns["requests"])),
            ("utilisation.csv", lambda: io.write_columns_csv(d / "utilisation.csv",
                                                             self.columns["utilisation"])),
        ]
        if events != "none":
            steps.append(("events_summary.parquet", lambda: io.write_parquet(
                d / "events_summary.parquet", [self.columns["event_summary"]])))
        if events == "full":
            steps.append(("events.parquet", lambda: io.write_parquet(
                d / "events.parquet", self.iter_events(), categories=self.event_categories())))
        if detail != "none":
            steps.append(("trace.json", lambda: write_perfetto(self, d / "trace.json",
                                                               detail)))
        if plot:
            def figure() -> Path:
                from chipdse.sim.timeline import timeline_figure

                return io.save_figure(timeline_figure(self), d / "timeline.png")

            steps.append(("timeline.png", figure))
        out = []
        for name, fn in steps:
            if progress is not None:
                progress(name)
            out.append(fn())
        return out


def build_result(sim, wall_s: float, config: dict[str, Any]) -> SimResult:
    """Assemble a :class:`SimResult` from a finished :class:`~chipdse.sim.engine.Simulator`."""
    records = sim.batches.records()
    trace = sim.trace
    stream_names = [s.name for s in trace.streams]
    reqs = sim.requests
    n_req = len(reqs)
    req_stream = np.array([r.stream for r in reqs], dtype=np.int64)
    slot_names = list(sim.layout.slot_names)
    log = _Log(records, sim.plans, list(sim.names.names), slot_names, stream_names, req_stream)
    pc = log.pieces
    rid_b = records["request"].astype(np.int64)

    # -- requests ------------------------------------------------------------------------
    arrival = np.array([r.arrival_s for r in reqs])
    end = np.array([r.end_s for r in reqs])
    admitted = np.array([r.admitted_s for r in reqs])
    deadline = np.array([r.deadline_s for r in reqs])
    op_energy_req = np.bincount(rid_b, weights=log.energy, minlength=n_req) if n_req else \
        np.zeros(0)
    horizon = float(max(sim.duration_s, np.max(end) if n_req else 0.0))
    idle_j, idle_req = _idle_energy(sim, log, arrival, end, horizon)
    energy_req = op_energy_req + idle_req
    nph = len(PHASES)
    key = pc["request"] * nph + pc["phase"]
    first = np.full(n_req * nph, np.inf)
    last = np.full(n_req * nph, -np.inf)
    np.minimum.at(first, key, pc["start"])
    np.maximum.at(last, key, pc["end"])
    first = first.reshape(n_req, nph)
    last = last.reshape(n_req, nph)
    start = np.min(first, axis=1) if n_req else np.zeros(0)
    latency = end - arrival
    missed = latency > deadline * (1 + 1e-12)
    rq: dict[str, Any] = {
        "request": np.arange(n_req), "stream": _names(req_stream, stream_names),
        "arrival_s": arrival, "admitted_s": admitted, "start_s": start, "end_s": end,
        "latency_s": latency, "deadline_s": deadline, "missed": missed,
        "queue_s": start - arrival}
    for j, ph in enumerate(PHASES):
        has = np.isfinite(first[:, j])
        rq[f"{ph}_start_s"] = np.where(has, first[:, j], np.nan)
        rq[f"{ph}_end_s"] = np.where(has, last[:, j], np.nan)
    rq["energy_j"] = energy_req
    rq["idle_energy_j"] = idle_req
    rq["kv_sram_bytes"] = np.array([r.kv_sram_bytes for r in reqs], dtype=np.int64)
    rq["kv_dram_bytes"] = np.array([r.kv_dram_bytes for r in reqs], dtype=np.int64)

    # -- the event log per request and phase ----------------------------------------------
    uk, inv = np.unique(key, return_inverse=True)
    m = uk.size
    s_first = np.full(m, np.inf)
    s_last = np.full(m, -np.inf)
    np.minimum.at(s_first, inv, pc["start"])
    np.maximum.at(s_last, inv, pc["end"])
    s_slot = np.zeros(m, dtype=np.int64)
    s_slot[inv] = pc["slot"]
    s_req = uk // nph
    sums = lambda w: np.bincount(inv, weights=w, minlength=m)  # noqa: E731
    ev_summary: dict[str, Any] = {
        "request": s_req.astype(np.int32),
        "stream": _names(req_stream[s_req], stream_names),
        "phase": _names(uk % nph, list(PHASES)), "resource": _names(s_slot, slot_names),
        "start_s": s_first, "end_s": s_last, "busy_s": sums(pc["end"] - pc["start"]),
        "operators": np.bincount(inv, weights=pc["ops"], minlength=m).astype(np.int64),
        "energy_j": sums(pc["energy"]), "dram_bytes": sums(pc["dram"]),
        "sram_bytes": sums(pc["sram"]), "kv_sram_bytes": sums(pc["kv"])}
    for bi, b in enumerate(BOUNDS):
        ev_summary[f"{b}_bound_s"] = sums(pc["bound"][bi])

    # -- totals and energy ---------------------------------------------------------------
    n_ops = log.operators
    op_energy = float(log.energy.sum())
    bdur = log.end - log.start
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
        chunk = trace.streams[si].chunking if name != "all" else None
        if chunk is not None:
            order = np.argsort(arrival[sel], kind="stable")
            cont = chunk_continuity(end[sel][order], latency[sel][order], chunk.execute_s,
                                    chunk.overlap, horizon)
        else:
            cont = {"chunk_stalls": float("nan"), "stall_s": float("nan"),
                    "max_stall_s": float("nan"), "motion_duty": float("nan")}
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
            **cont,
        })
    summary = {k: [r[k] for r in rows] for k in rows[0]}

    # -- utilisation ---------------------------------------------------------------------
    bin_s = sim.options.util_bin_s or max(1e-3, horizon / 2000.0)
    nbins = max(1, int(np.ceil(horizon / bin_s - 1e-9)))
    edges = np.arange(nbins + 1) * bin_s
    util: dict[str, Any] = {"t_start_s": edges[:-1], "t_end_s": edges[1:]}
    f = log.unit_integrals(edges)
    for u, name in enumerate(UNITS):
        util[name] = np.clip(np.diff(f[u]) / np.diff(edges), 0.0, None)
    b_slot = records["slot"].astype(np.int64)
    for si, name in enumerate(slot_names):
        sel = b_slot == si
        util[f"busy_{name}"] = binned_average(log.start[sel], log.end[sel], bdur[sel], edges)
    hist = np.array(sim.kv.history, dtype=float)
    h_t = np.append(hist[:, 0], max(horizon, hist[-1, 0]))
    for col, j in (("kv_sram_used_bytes", 1), ("kv_dram_used_bytes", 2)):
        util[col] = binned_average(h_t[:-1], h_t[1:], hist[:, j] * np.diff(h_t), edges)

    res_rows = []
    for si, name in enumerate(slot_names):
        b = float(bdur[b_slot == si].sum())
        res_rows.append({"resource": f"slot:{name}", "busy_s": b, "utilisation": b / horizon})
    for u, name in enumerate(UNITS):
        b = float(log.work[u].sum())
        res_rows.append({"resource": f"unit:{name}", "busy_s": b, "utilisation": b / horizon})
    res_rows.append({"resource": "reconfiguration", "busy_s": reconf_s,
                     "utilisation": reconf_s / horizon})
    resources = {k: [r[k] for r in res_rows] for k in res_rows[0]}
    reconfigurations = {"start_s": [s for s, _, _ in sim.reconfigs],
                        "end_s": [e for _, e, _ in sim.reconfigs],
                        "config": [c for _, _, c in sim.reconfigs]}

    totals = {
        "chip": sim.chip.name, "phase_mode": sim.layout.mode.value, "trace": trace.name,
        "policy": sim.options.policy, "duration_s": sim.duration_s, "horizon_s": horizon,
        "seed": sim.seed, "requests": n_req, "completed": completed,
        "operators": n_ops, "batches": log.n,
        "energy_j": energy, "operator_energy_j": op_energy, "idle_energy_j": idle_j,
        "idle_energy_between_requests_j": idle_unattributed,
        "avg_power_w": energy / horizon,
        "energy_per_frame_j": energy / completed if completed else float("nan"),
        "reconfigurations": len(sim.reconfigs), "reconfiguration_s": reconf_s,
        "deadline_misses": int(missed.sum()),
        "wall_s": wall_s, "operators_per_s": n_ops / wall_s if wall_s > 0 else float("nan"),
    }
    columns = {"summary": summary, "requests": rq, "event_summary": ev_summary,
               "utilisation": util, "resources": resources,
               "reconfigurations": reconfigurations, "spans": _spans(pc)}
    return SimResult(columns, totals, config, log)


def _spans(pc: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Runs of consecutive operators of one request and phase on one slot (for plots): the
    pieces of batches, merged where one continues the last on its slot."""
    if pc["request"].size == 0:
        return {"request": np.zeros(0, np.int64), "slot": np.zeros(0, np.int64),
                "phase": np.zeros(0, np.int64), "start_s": np.zeros(0), "end_s": np.zeros(0),
                "ops": np.zeros(0, np.int64)}
    o = np.lexsort((pc["start"], pc["slot"]))
    req, slot, ph = pc["request"][o], pc["slot"][o], pc["phase"][o]
    st, en, ops = pc["start"][o], pc["end"][o], pc["ops"][o]
    new = np.ones(req.size, dtype=bool)
    new[1:] = (req[1:] != req[:-1]) | (slot[1:] != slot[:-1]) | (ph[1:] != ph[:-1]) \
        | (st[1:] != en[:-1])
    idx = np.flatnonzero(new)
    stop = np.append(idx[1:], req.size) - 1
    return {"request": req[idx], "slot": slot[idx], "phase": ph[idx], "start_s": st[idx],
            "end_s": en[stop], "ops": np.add.reduceat(ops, idx)}
