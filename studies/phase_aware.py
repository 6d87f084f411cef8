"""Fixed vs static-partition vs reconfigurable phase resources on driving traces.

Claim examined (docs/reference/plas.md Sec. 6, conclusion 3): prefill wants parallel compute, decode
wants bandwidth; phase-aware microarchitectures that re-allocate resources between phases keep both
fast and deterministic. Each chip is simulated three times on the same trace and seed, differing
only in its phase-resource mode (static split 50/50; reconfiguration 10 us, an assumption of
the order of a dataflow re-mapping)."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from chipdse import api
from studies.base import StudyResult, span

NAME = "phase-aware"
ORDER = 4  # reading order in `chipdse study list`
QUESTION = ("Do phase-aware (static-partition or reconfigurable) chips give lower p99 latency, "
            "fewer deadline misses and less jitter than a fixed chip on the 10 Hz drive loop and "
            "a mixed perception + VLA trace, and at what energy per frame?")
MODES = ("fixed", "static", "reconfigurable")
RECONFIG_S = 10e-6  # assumption: re-mapping a dataflow partition, of the order of a launch
# (chip, weights/activations/kv): each chip at a precision that lets it run a 10 Hz loop.
SETUPS = (("jetson-agx-orin-64gb", ("int8", "int8", "fp16")),
          ("jetson-agx-thor", ("int4", "fp16", "fp16")),
          ("li-m100", ("int8", "int8", "fp16")))
TRACES = ("vla-drive-10hz", "vla-overlap-10hz", "drive-perception-vla")
MODEL = "qwen2.5-0.5b"


def _trace_info(trace: str) -> tuple[int, float, str]:
    """(streams, shortest period in s, top-priority stream name) of a trace."""
    streams = api.load_trace(trace).streams
    top = min(streams, key=lambda st: st.priority)
    return len(streams), min(st.period_s for st in streams), top.name


def _no_worse(x, f) -> bool:
    """Mode row ``x`` against the fixed row ``f``: p99 within 1 % and no more misses."""
    return bool(x.p99_ms <= 1.01 * f.p99_ms and x.misses <= f.misses)


def _better(x, f) -> bool:
    """p99 more than 1 % lower, or fewer misses."""
    return bool(x.p99_ms < 0.99 * f.p99_ms or x.misses < f.misses)


def _compare(t: pd.DataFrame) -> pd.DataFrame:
    """One row per (chip, trace): the three modes side by side and the comparison flags."""
    overall = t[t.stream == "all"].set_index(["chip", "trace", "mode"])
    per_stream = t[t.stream != "all"].set_index(["chip", "trace", "mode", "stream"])
    rows = []
    for (chip, trace), g in overall.groupby(level=[0, 1]):
        g = g.droplevel([0, 1])
        f, s, rc = g.loc["fixed"], g.loc["static"], g.loc["reconfigurable"]
        n_streams, period_s, top = _trace_info(trace)
        # Jitter: p99 - p50 of each stream's own latencies, worst stream (the pooled "all"
        # row would mix the streams' different request shapes).
        jit = {m: float(t[(t.chip == chip) & (t.trace == trace) & (t["mode"] == m)
                          & (t.stream != "all")].jitter_ms.max()) for m in MODES}
        top_p99 = {m: float(per_stream.loc[(chip, trace, m, top), "p99_ms"]) for m in MODES}
        rows.append(dict(
            chip=chip, trace=trace, streams=n_streams, top_stream=top,
            p99_fixed_ms=f.p99_ms, p99_static_ms=s.p99_ms, p99_reconf_ms=rc.p99_ms,
            misses_fixed=f.misses, misses_static=s.misses, misses_reconf=rc.misses,
            jitter_fixed_ms=jit["fixed"], jitter_static_ms=jit["static"],
            jitter_reconf_ms=jit["reconfigurable"],
            top_p99_fixed_ms=top_p99["fixed"], top_p99_reconf_ms=top_p99["reconfigurable"],
            energy_fixed_j=f.energy_per_frame_j, energy_static_j=s.energy_per_frame_j,
            energy_reconf_j=rc.energy_per_frame_j,
            requests=f.requests,
            # Phases of one chip can overlap only with several streams, or when a lone
            # stream's frames outlast its period on the fixed chip.
            overlap_possible=bool(n_streams > 1 or f.max_ms > period_s * 1e3),
            overloaded=bool(min(f.misses, s.misses, rc.misses) >= f.requests),
            reconf_identical=bool(np.isclose(rc.p99_ms, f.p99_ms, rtol=1e-9)
                                  and rc.misses == f.misses),
            # Better: neither p99 (1 % tolerance) nor misses worse, and at least one better.
            reconf_beats_fixed=_no_worse(rc, f) and _better(rc, f),
            reconf_no_worse=_no_worse(rc, f),
            static_beats_fixed=_no_worse(s, f) and _better(s, f),
            static_no_worse=_no_worse(s, f)))
    c = pd.DataFrame(rows)
    return c.assign(p99_gain=c.p99_fixed_ms / c.p99_reconf_ms)


def _answer(c: pd.DataFrame) -> tuple[str, bool | None]:
    """The answer text and the verdict, every number and direction taken from ``c``."""
    ok = c[~c.overloaded]
    over = c[c.overloaded]
    n = len(ok)
    beats, no_worse = int(ok.reconf_beats_fixed.sum()), int(ok.reconf_no_worse.sum())
    s_beats, s_ok = int(ok.static_beats_fixed.sum()), int(ok.static_no_worse.sum())
    # Rule (cases overloaded in every mode left out: every frame misses whatever the mode):
    # SUPPORTED if reconfigurable is no worse than fixed in every case and better in at least
    # half; NOT SUPPORTED if it is better in none; MIXED otherwise.
    supports: bool | None
    if n and no_worse == n and beats >= n / 2:
        supports = True
    elif beats == 0:
        supports = False
    else:
        supports = None
    parts = [f"Over the {n} (chip, trace) cases not overloaded in every mode, reconfigurable "
             f"is better than fixed (neither p99, within 1 %, nor deadline misses worse, and "
             f"one of them better) in {beats}/{n} and no worse in {no_worse}/{n}"]
    won = ok[ok.reconf_beats_fixed]
    if len(won):
        b = won.sort_values("p99_gain").iloc[-1]
        parts.append(f"the largest gain is {b.p99_gain:.2f}x p99 on {b.chip} / {b.trace} "
                     f"({b.p99_fixed_ms:.1f} -> {b.p99_reconf_ms:.1f} ms, misses "
                     f"{b.misses_fixed} -> {b.misses_reconf})")
    worse = ok[~ok.reconf_no_worse]
    if len(worse):
        parts.append("worse in " + "; ".join(
            f"{r.chip} / {r.trace} (p99 {r.p99_fixed_ms:.1f} -> {r.p99_reconf_ms:.1f} ms, "
            f"misses {r.misses_fixed} -> {r.misses_reconf})" for r in worse.itertuples()))
    text = "; ".join(parts) + "."
    # Mechanism sentences, each printed only when the table shows the pattern it explains.
    lone = ok[~ok.overlap_possible]
    differ = ok[~ok.reconf_identical]
    if len(lone) and lone.reconf_identical.all() and differ.overlap_possible.all():
        text += (f" Reconfigurable equals fixed exactly in the {len(lone)} case(s) of a lone "
                 "stream whose frames finish within a period (one phase active at a time); "
                 "it differs only where phases can overlap (several streams, or frames "
                 "longer than a period).")
    if len(worse):
        rose = worse.top_p99_reconf_ms > worse.top_p99_fixed_ms * 1.01
        if (worse.streams > 1).all() and rose.all():
            text += (" In every case where it is worse, the top-priority stream is slower ("
                     + "; ".join(f"{r.top_stream} p99 {r.top_p99_fixed_ms:.1f} -> "
                                 f"{r.top_p99_reconf_ms:.1f} ms on {r.chip}"
                                 for r in worse.itertuples())
                     + "): with the other stream's phase active the chip splits, so it no "
                     "longer takes the whole chip as it does under priority scheduling.")
    rel_static = ok.p99_static_ms / ok.p99_fixed_ms
    text += (f" A static 50/50 partition is better than fixed in {s_beats}/{n} and no worse "
             f"in {s_ok}/{n} (p99 {span(rel_static, '.2f')}x fixed's)")
    if s_ok < n / 2 and (rel_static > 1.01).mean() > 0.5:
        text += ": each phase runs on half the chip even when the other half idles"
    text += "."
    # Jitter and energy per frame, the other two things the question asks.
    for mode, col_j, col_e in (("reconfigurable", "jitter_reconf_ms", "energy_reconf_j"),
                               ("static", "jitter_static_ms", "energy_static_j")):
        dj = ok[col_j] - ok.jitter_fixed_ms
        e = ok[col_e] / ok.energy_fixed_j
        text += (f" Jitter (p99 - p50 of the worst stream) under {mode}: lower than fixed in "
                 f"{int((dj < -0.01).sum())}/{n}, higher in {int((dj > 0.01).sum())}/{n} "
                 f"(change {dj.min():+.1f} to {dj.max():+.1f} ms); energy per frame "
                 f"{span(e, '.3f')}x fixed's (median {e.median():.3f}x).")
    text += (f" Fixed-chip jitter ranges {span(ok.jitter_fixed_ms, '.1f')} ms and energy "
             f"per frame {span(ok.energy_fixed_j, '.2f')} J.")
    if len(over):
        text += (" Overloaded in every mode (every frame misses; left out above): "
                 + "; ".join(f"{r.chip} / {r.trace} (p99 fixed {r.p99_fixed_ms:.0f}, static "
                             f"{r.p99_static_ms:.0f}, reconfigurable {r.p99_reconf_ms:.0f} ms)"
                             for r in over.itertuples()) + ".")
    return text, supports


def run(out_dir: str | Path, quick: bool = False, seed: int = 0) -> StudyResult:
    duration = 1.0 if quick else 10.0
    rows = []
    for chip, fmts in SETUPS:
        p = api.make_precision(*fmts)
        for trace in TRACES:
            for mode in MODES:
                r = api.simulate(chip, MODEL, trace, p, duration_s=duration, seed=seed,
                                 phase_mode=mode, reconfiguration_latency_s=RECONFIG_S)
                for s in r.summary.itertuples():
                    rows.append(dict(
                        chip=chip, precision=p.label(), trace=trace, mode=mode, stream=s.stream,
                        requests=s.requests, completed=s.completed,
                        p50_ms=s.latency_p50_s * 1e3, p99_ms=s.latency_p99_s * 1e3,
                        max_ms=s.latency_max_s * 1e3,
                        jitter_ms=(s.latency_p99_s - s.latency_p50_s) * 1e3,
                        misses=s.misses, miss_rate=s.miss_rate,
                        energy_per_frame_j=s.energy_per_frame_j, avg_power_w=s.avg_power_w))
    t = pd.DataFrame(rows)
    c = _compare(t)
    answer, supports = _answer(c)
    metrics = (("p99", "p99 latency (ms)", True), ("jitter", "jitter, worst stream (ms)", True),
               ("energy", "energy per frame (J)", False))
    cols = {"p99": ("p99_fixed_ms", "p99_static_ms", "p99_reconf_ms"),
            "jitter": ("jitter_fixed_ms", "jitter_static_ms", "jitter_reconf_ms"),
            "energy": ("energy_fixed_j", "energy_static_j", "energy_reconf_j")}
    fig, axes = plt.subplots(len(metrics), len(TRACES), figsize=(13, 10), squeeze=False)
    for row, (key, ylabel, log) in enumerate(metrics):
        for ax, trace in zip(axes[row], TRACES):
            sub = c[c.trace == trace]
            x = np.arange(len(sub))
            for i, (mode, col) in enumerate(zip(MODES, cols[key])):
                ax.bar(x + (i - 1) * 0.27, sub[col], width=0.27, label=mode)
            ax.set_xticks(x)
            ax.set_xticklabels([s.replace("jetson-", "") for s in sub.chip], fontsize=7)
            if log:
                ax.set_yscale("symlog", linthresh=1.0)
            if row == 0:
                ax.set_title(trace, fontsize=9)
            ax.set_ylabel(ylabel, fontsize=8)
    axes[0, 0].legend(fontsize=8)
    fig.suptitle(f"Phase-resource modes, {MODEL}, {duration:g} s per run")
    fig.tight_layout()
    return StudyResult(
        name=NAME, question=QUESTION,
        setup=["chips: " + ", ".join(f"{c} ({'/'.join(f)})" for c, f in SETUPS),
               f"model: {MODEL}; traces: {', '.join(TRACES)}; {duration:g} s each; seed {seed}",
               "modes: fixed (priority scheduling), static 50/50 partition, reconfigurable "
               f"(reconfiguration {RECONFIG_S * 1e6:g} us, assumption)",
               "better than fixed: p99 (1 % tolerance) and deadline misses both no worse, one "
               "of them better; cases where every frame misses in every mode (overloaded) are "
               "reported apart and left out of the counts and the verdict",
               "jitter: p99 - p50 latency of each stream, worst stream of the trace; energy per "
               "frame: the run's chip energy over its completed frames"],
        answer=answer, supports=supports, table=t, figures={"p99_by_mode.png": fig},
        extra_tables={"comparison.csv": c},
        config={"duration_s": duration, "model": MODEL, "traces": list(TRACES)})
