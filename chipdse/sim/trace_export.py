"""Chrome / Perfetto trace of a simulation (open the JSON in https://ui.perfetto.dev).

Layout (Trace Event Format, times in microseconds):

* process "chip": one thread per slot with, at detail "operator", one complete ("X") event per
  operator, named after the operator, with its request, stream, phase, layer, decode step and
  bound in ``args``; at detail "phase", one event per run of consecutive operators of one
  request and phase (with their count in ``args``); a "reconfiguration" thread with the
  reconfiguration stalls; counters with the utilisation of each unit and the KV-cache occupancy
  per time bin;
* one process per stream: each request as an event from arrival to completion (lanes keep
  overlapping requests apart), with its encode / prefill / decode spans nested inside.

The file is written as it is built, a chunk of operators at a time (:data:`EVENT_CHUNK_ROWS`):
its size never has to fit in memory as one string. Detail "auto" is per operator up to
``SimOptions.max_trace_ops`` operators and per phase above, and says so (:func:`trace_detail`).
"""

from __future__ import annotations

import heapq
import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from chipdse import io
from chipdse.sim.plan import PHASES, UNITS
from chipdse.sim.results import EVENT_CHUNK_ROWS, TRACE_DETAILS

__all__ = ["perfetto_events", "write_perfetto", "trace_detail", "TRACE_BYTES_PER_OPERATOR"]

_NS = 1e9
TRACE_BYTES_PER_OPERATOR = 170
"""About what one operator's event adds to trace.json (measured on vla-drive-10hz)."""


def _ns(t_s) -> np.ndarray:
    """Times in integer nanoseconds (equal floats give equal integers, so adjacent slices
    stay exactly adjacent)."""
    return np.rint(np.asarray(t_s, dtype=float) * _NS).astype(np.int64)


def _us(ns: int) -> str:
    """Integer nanoseconds as a microsecond literal with three decimals."""
    return f"{ns // 1000}.{ns % 1000:03d}" if ns >= 0 else f"-{_us(-ns)}"


def _us_all(ns: np.ndarray) -> list[str]:
    """:func:`_us` of every element."""
    ns = np.asarray(ns, dtype=np.int64)
    if ns.size and (ns.min() < 0 or ns.max() >= 2**50):
        return [_us(int(x)) for x in ns.tolist()]
    # Below 2^50 ns a double holds ns / 1000 to well within half the last printed digit, so
    # the three decimals are the exact nanoseconds (and this is three times faster).
    return [f"{x:.3f}" for x in (ns / 1000.0).tolist()]


def _meta(pid: int, tid: int | None, kind: str, name: str) -> str:
    tid_s = f',"tid":{tid}' if tid is not None else ""
    return (f'{{"ph":"M","pid":{pid}{tid_s},"name":"{kind}",'
            f'"args":{{"name":{json.dumps(name)}}}}}')


def _lanes(starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """Lane per interval so that intervals in one lane never overlap: in start order, each
    takes the lowest-numbered lane already free (ended at or before its start)."""
    out = np.zeros(starts.size, dtype=np.int64)
    busy: list[tuple[float, int]] = []  # (end, lane) of lanes in use
    free: list[int] = []
    n_lanes = 0
    for i in np.argsort(starts, kind="stable").tolist():
        s = starts[i]
        while busy and busy[0][0] <= s:
            heapq.heappush(free, heapq.heappop(busy)[1])
        if free:
            lane = heapq.heappop(free)
        else:
            lane, n_lanes = n_lanes, n_lanes + 1
        heapq.heappush(busy, (ends[i], lane))
        out[i] = lane
    return out


def trace_detail(result, requested: str = "auto") -> tuple[str, str | None]:
    """The detail trace.json is written at for ``requested`` (:data:`TRACE_DETAILS`), and a
    one-line notice when "auto" reduces it (None otherwise)."""
    if requested not in TRACE_DETAILS:
        raise ValueError(f"trace detail must be one of {', '.join(TRACE_DETAILS)}, "
                         f"got {requested!r}")
    if requested != "auto":
        return requested, None
    n = int(result.totals["operators"])
    limit = int(result.config.get("options", {}).get("max_trace_ops", 100_000))
    if n <= limit:
        return "operator", None
    spans = len(result.columns["spans"]["request"])
    return "phase", (
        f"trace.json shows {spans:,} phase slices (runs of one request's phase), not the "
        f"{n:,} operators: more than the {limit:,} of --trace-max-operators; "
        f"--trace-detail operator writes each (about "
        f"{n * TRACE_BYTES_PER_OPERATOR / 1e6:,.0f} MB)")


def _operator_lines(result, chip_pid: int) -> Iterator[list[str]]:
    """One chunk of operator events after another, in start order. The parts fixed by an
    operator's place in its stage (name, phase, layer, step), by its slot, its bound and its
    request are formatted once each, not once per operator."""
    log = result.log
    names = [json.dumps(str(n)) for n in log.op_names]
    stages: dict[int, int] = {}  # id(stage) -> offset of its operators in `fixed`
    fixed: list[str] = []
    plan_offset = np.zeros(len(log.sums), dtype=np.int64)
    for p, s in enumerate(log.sums):
        st = s.plan.stage
        if id(st) not in stages:
            stages[id(st)] = len(fixed)
            fixed.extend(f',"name":{names[op]},"cat":"{PHASES[ph]}","args":{{"layer":{lay},'
                         f'"step":{step},' for op, ph, lay, step in zip(
                             st.op_id.tolist(), st.phase.tolist(), st.layer.tolist(),
                             st.step.tolist()))
        plan_offset[p] = stages[id(st)]
    fixed_a = np.array(fixed, dtype=object)
    slot_a = np.array([f'{{"ph":"X","pid":{chip_pid},"tid":{i + 1},"ts":'
                       for i in range(len(log.slot_names))], dtype=object)
    bound_a = np.array([f'"bound":"{b}",' for b in result.event_categories()["bound"]],
                       dtype=object)
    snames = [json.dumps(s) for s in log.stream_names]
    request_a = np.array([f'"request":{i},"stream":{snames[s]}}}}}'
                          for i, s in enumerate(log.req_stream.tolist())], dtype=object)
    for ev in log.windows(EVENT_CHUNK_ROWS):
        t0, t1 = _ns(ev["start"]), _ns(ev["end"])
        yield [f'{sl}{ts},"dur":{du}{fx}{bd}{rq}' for sl, ts, du, fx, bd, rq in zip(
            slot_a[ev["slot"]].tolist(), _us_all(t0), _us_all(t1 - t0),
            fixed_a[plan_offset[ev["plan"]] + ev["pos"]].tolist(),
            bound_a[ev["bound"]].tolist(), request_a[ev["request"]].tolist())]


def _phase_lines(result, chip_pid: int) -> list[str]:
    sp = result.columns["spans"]
    a, b = _ns(sp["start_s"]), _ns(sp["end_s"])
    return [f'{{"ph":"X","pid":{chip_pid},"tid":{slot + 1},"name":"{PHASES[ph]}",'
            f'"cat":"{PHASES[ph]}","ts":{ts},"dur":{du},'
            f'"args":{{"request":{rq},"operators":{n}}}}}'
            for rq, slot, ph, ts, du, n in zip(
                np.asarray(sp["request"]).tolist(), np.asarray(sp["slot"]).tolist(),
                np.asarray(sp["phase"]).tolist(), _us_all(a), _us_all(b - a),
                np.asarray(sp["ops"]).tolist())]


def _chunks(result, detail: str) -> Iterator[list[str]]:
    """The trace events, a list of serialised JSON objects at a time."""
    cols = result.columns
    slots = list(result.log.slot_names)
    chip_pid = 1
    out = [_meta(chip_pid, None, "process_name",
                 f"chip {result.totals['chip']} ({result.totals['phase_mode']})")]
    for i, s in enumerate(slots):
        out.append(_meta(chip_pid, i + 1, "thread_name", f"slot {s}"))
    rc_tid = len(slots) + 1
    out.append(_meta(chip_pid, rc_tid, "thread_name", "reconfiguration"))
    yield out
    if detail == "operator":
        yield from _operator_lines(result, chip_pid)
    elif detail == "phase":
        yield _phase_lines(result, chip_pid)

    rc = cols["reconfigurations"]
    out = []
    for s, e, cfg in zip(rc["start_s"], rc["end_s"], rc["config"]):
        a, b = (int(x) for x in _ns([s, e]))
        out.append(f'{{"ph":"X","pid":{chip_pid},"tid":{rc_tid},"name":"reconfigure to {cfg}",'
                   f'"ts":{_us(a)},"dur":{_us(b - a)}}}')
    u = cols["utilisation"]
    ts_all = _us_all(_ns(u["t_start_s"]))
    unit_vals = [np.asarray(u[k]).tolist() for k in UNITS]
    sram = (np.asarray(u["kv_sram_used_bytes"]) / 1e6).tolist()
    dram = (np.asarray(u["kv_dram_used_bytes"]) / 1e6).tolist()
    for i, ts in enumerate(ts_all):
        vals = ",".join(f'"{k}":{v[i]:.6g}' for k, v in zip(UNITS, unit_vals))
        out.append(f'{{"ph":"C","pid":{chip_pid},"name":"utilisation","ts":{ts},'
                   f'"args":{{{vals}}}}}')
        out.append(f'{{"ph":"C","pid":{chip_pid},"name":"KV cache (MB)","ts":{ts},'
                   f'"args":{{"sram":{sram[i]:.6g},"dram":{dram[i]:.6g}}}}}')
    yield out

    rq = cols["requests"]
    req_stream = np.asarray(rq["stream"], dtype=object)
    arr_all, end_all = np.asarray(rq["arrival_s"]), np.asarray(rq["end_s"])
    for si, sname in enumerate(result.log.stream_names):
        pid = 2 + si
        out = [_meta(pid, None, "process_name", f"stream {sname}")]
        sel = np.flatnonzero(req_stream == sname)
        if sel.size == 0:
            yield out
            continue
        lanes = _lanes(arr_all[sel], end_all[sel])
        for lane in range(int(lanes.max()) + 1):
            out.append(_meta(pid, lane + 1, "thread_name", f"lane {lane}"))
        a, b = _ns(arr_all[sel]), _ns(end_all[sel])
        spans = {}
        for ph in PHASES:
            s, e = np.asarray(rq[f"{ph}_start_s"])[sel], np.asarray(rq[f"{ph}_end_s"])[sel]
            ok = np.isfinite(s)
            s0, e0 = _ns(np.where(ok, s, 0.0)), _ns(np.where(ok, e, 0.0))
            spans[ph] = (ok.tolist(), _us_all(s0), _us_all(e0 - s0))
        lat = (np.asarray(rq["latency_s"])[sel] * 1e3).tolist()
        dl = (np.asarray(rq["deadline_s"])[sel] * 1e3).tolist()
        missed = np.asarray(rq["missed"])[sel].tolist()
        ids = np.asarray(rq["request"])[sel].tolist()
        ts_l, du_l = _us_all(a), _us_all(b - a)
        for j in range(sel.size):
            tid = int(lanes[j]) + 1
            miss = " MISS" if missed[j] else ""
            out.append(f'{{"ph":"X","pid":{pid},"tid":{tid},'
                       f'"name":"request {ids[j]}{miss}","cat":"request",'
                       f'"ts":{ts_l[j]},"dur":{du_l[j]},'
                       f'"args":{{"latency_ms":{lat[j]:.6g},"deadline_ms":{dl[j]:.6g},'
                       f'"missed":{str(bool(missed[j])).lower()}}}}}')
            for ph in PHASES:
                ok, ts, du = spans[ph]
                if ok[j]:
                    out.append(f'{{"ph":"X","pid":{pid},"tid":{tid},"name":"{ph}",'
                               f'"cat":"{ph}","ts":{ts[j]},"dur":{du[j]}}}')
        yield out


def perfetto_events(result, detail: str = "auto") -> list[str]:
    """The trace events at ``detail`` (:func:`trace_detail`), each serialised as a JSON
    object string."""
    used, _ = trace_detail(result, detail)
    return [e for chunk in _chunks(result, used) for e in chunk]


def write_perfetto(result, path: str | Path, detail: str = "auto") -> Path:
    """Write the trace JSON atomically at ``detail`` (:func:`trace_detail`), chunk by chunk."""
    used, _ = trace_detail(result, detail)
    meta = json.dumps({"chip": result.totals["chip"], "trace": result.totals["trace"],
                       "phase_mode": result.totals["phase_mode"],
                       "operators": result.totals["operators"], "detail": used})
    with io.atomic_path(path) as tmp:
        with open(tmp, "wb") as f:  # bytes: a text stream's encoder is 3x slower here
            f.write(b'{"displayTimeUnit":"ms","otherData":')
            f.write(meta.encode())
            f.write(b',"traceEvents":[\n')
            sep = b""
            for chunk in _chunks(result, used):
                if chunk:
                    f.write(sep)
                    f.write(",\n".join(chunk).encode())
                    sep = b",\n"
            f.write(b"\n]}\n")
    return Path(path)
