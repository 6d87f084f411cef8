"""Chrome / Perfetto trace of a simulation (open the JSON in https://ui.perfetto.dev).

Layout (Trace Event Format, times in microseconds):

* process "chip": one thread per slot with one complete ("X") event per operator, named after the
  operator, with its request, stream, phase, layer, decode step and bound in ``args``; above
  ``SimOptions.max_trace_ops`` operators, one event per run of consecutive operators of a phase
  instead; a "reconfiguration" thread with the reconfiguration stalls; counters with the
  utilisation of each unit and the KV-cache occupancy per time bin;
* one process per stream: each request as an event from arrival to completion (lanes keep
  overlapping requests apart), with its encode / prefill / decode spans nested inside.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from chipdse import io
from chipdse.sim.plan import PHASES, UNITS

__all__ = ["perfetto_events", "write_perfetto"]

_NS = 1e9


def _ns(t_s) -> np.ndarray:
    """Times in integer nanoseconds (equal floats give equal integers, so adjacent slices
    stay exactly adjacent)."""
    return np.rint(np.asarray(t_s, dtype=float) * _NS).astype(np.int64)


def _us(ns: int) -> str:
    """Integer nanoseconds as a microsecond literal with three decimals."""
    return f"{ns // 1000}.{ns % 1000:03d}" if ns >= 0 else f"-{_us(-ns)}"


def _meta(pid: int, tid: int | None, kind: str, name: str) -> str:
    tid_s = f',"tid":{tid}' if tid is not None else ""
    return (f'{{"ph":"M","pid":{pid}{tid_s},"name":"{kind}",'
            f'"args":{{"name":{json.dumps(name)}}}}}')


def _lanes(starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """Greedy lane per interval so that intervals in one lane never overlap."""
    lane_end: list[float] = []
    out = np.zeros(starts.size, dtype=np.int64)
    for i in np.argsort(starts, kind="stable"):
        for k, e in enumerate(lane_end):
            if e <= starts[i]:
                lane_end[k] = ends[i]
                out[i] = k
                break
        else:
            lane_end.append(ends[i])
            out[i] = len(lane_end) - 1
    return out


def perfetto_events(result) -> list[str]:
    """The trace events, each already serialised as a JSON object string."""
    ev = result.events
    spans = result.spans
    slots = list(ev["resource"].cat.categories)
    chip_pid = 1
    out = [_meta(chip_pid, None, "process_name",
                 f"chip {result.totals['chip']} ({result.totals['phase_mode']})")]
    for i, s in enumerate(slots):
        out.append(_meta(chip_pid, i + 1, "thread_name", f"slot {s}"))
    rc_tid = len(slots) + 1
    out.append(_meta(chip_pid, rc_tid, "thread_name", "reconfiguration"))

    stream_names = [str(s) for s in ev["stream"].cat.categories] \
        if len(ev) else list(result.summary["stream"][:-1])
    req_stream = result.requests["stream"].to_numpy()
    detail = len(ev) <= result.config.get("options", {}).get("max_trace_ops", 500_000)
    if detail and len(ev):
        names = [json.dumps(str(n)) for n in ev["op"].cat.categories]
        snames = [json.dumps(s) for s in stream_names]
        bounds = [str(b) for b in ev["bound"].cat.categories]
        t0 = _ns(ev["start_s"].to_numpy())
        t1 = _ns(ev["end_s"].to_numpy())
        cols = zip(ev["op"].cat.codes.tolist(), ev["phase"].cat.codes.tolist(),
                   t0.tolist(), (t1 - t0).tolist(),
                   (ev["resource"].cat.codes.to_numpy() + 1).tolist(),
                   ev["request"].tolist(), ev["stream"].cat.codes.tolist(),
                   ev["layer"].tolist(), ev["step"].tolist(), ev["bound"].cat.codes.tolist())
        for op, ph, ts, dur, tid, rq, st, lay, step, b in cols:
            out.append(f'{{"ph":"X","pid":{chip_pid},"tid":{tid},"name":{names[op]},'
                       f'"cat":"{PHASES[ph]}","ts":{_us(ts)},"dur":{_us(dur)},'
                       f'"args":{{"request":{rq},"stream":{snames[st]},"layer":{lay},'
                       f'"step":{step},"bound":"{bounds[b]}"}}}}')
    elif spans is not None:
        for rq, slot, ph, s, e, n in spans.itertuples(index=False):
            a, b = (int(x) for x in _ns([s, e]))
            out.append(f'{{"ph":"X","pid":{chip_pid},"tid":{int(slot) + 1},'
                       f'"name":"{PHASES[int(ph)]}","cat":"{PHASES[int(ph)]}",'
                       f'"ts":{_us(a)},"dur":{_us(b - a)},'
                       f'"args":{{"request":{int(rq)},"operators":{int(n)}}}}}')
    for s, e, cfg in result.reconfigurations.itertuples(index=False):
        a, b = (int(x) for x in _ns([s, e]))
        out.append(f'{{"ph":"X","pid":{chip_pid},"tid":{rc_tid},"name":"reconfigure to {cfg}",'
                   f'"ts":{_us(a)},"dur":{_us(b - a)}}}')

    u = result.utilisation
    for row in u.itertuples(index=False):
        ts = _us(int(_ns(row.t_start_s)))
        vals = ",".join(f'"{k}":{getattr(row, k):.6g}' for k in UNITS)
        out.append(f'{{"ph":"C","pid":{chip_pid},"name":"utilisation","ts":{ts},'
                   f'"args":{{{vals}}}}}')
        out.append(f'{{"ph":"C","pid":{chip_pid},"name":"KV cache (MB)","ts":{ts},'
                   f'"args":{{"sram":{row.kv_sram_used_bytes / 1e6:.6g},'
                   f'"dram":{row.kv_dram_used_bytes / 1e6:.6g}}}}}')

    rq = result.requests
    for si, sname in enumerate(stream_names):
        pid = 2 + si
        out.append(_meta(pid, None, "process_name", f"stream {sname}"))
        sel = np.flatnonzero(req_stream == sname)
        if sel.size == 0:
            continue
        arr = rq["arrival_s"].to_numpy()[sel]
        end = rq["end_s"].to_numpy()[sel]
        lanes = _lanes(arr, end)
        for lane in range(int(lanes.max()) + 1):
            out.append(_meta(pid, lane + 1, "thread_name", f"lane {lane}"))
        for j, i in enumerate(sel):
            r = rq.iloc[i]
            tid = int(lanes[j]) + 1
            miss = " MISS" if r["missed"] else ""
            a, b = (int(x) for x in _ns([r["arrival_s"], r["end_s"]]))
            out.append(f'{{"ph":"X","pid":{pid},"tid":{tid},'
                       f'"name":"request {int(r["request"])}{miss}","cat":"request",'
                       f'"ts":{_us(a)},"dur":{_us(b - a)},'
                       f'"args":{{"latency_ms":{r["latency_s"] * 1e3:.6g},'
                       f'"deadline_ms":{r["deadline_s"] * 1e3:.6g},'
                       f'"missed":{str(bool(r["missed"])).lower()}}}}}')
            for ph in PHASES:
                s, e = r[f"{ph}_start_s"], r[f"{ph}_end_s"]
                if np.isfinite(s):
                    a, b = (int(x) for x in _ns([s, e]))
                    out.append(f'{{"ph":"X","pid":{pid},"tid":{tid},"name":"{ph}",'
                               f'"cat":"{ph}","ts":{_us(a)},"dur":{_us(b - a)}}}')
    return out


def write_perfetto(result, path: str | Path) -> Path:
    """Write the trace JSON atomically."""
    events = perfetto_events(result)
    meta = json.dumps({"chip": result.totals["chip"], "trace": result.totals["trace"],
                       "phase_mode": result.totals["phase_mode"],
                       "operators": result.totals["operators"]})
    with io.atomic_path(path) as tmp:
        with open(tmp, "w", encoding="utf-8") as f:
            f.write('{"displayTimeUnit":"ms","otherData":')
            f.write(meta)
            f.write(',"traceEvents":[\n')
            f.write(",\n".join(events))
            f.write("\n]}\n")
    return Path(path)
