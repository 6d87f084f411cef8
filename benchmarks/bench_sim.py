"""Speed and memory of the discrete-event simulator, in process (``bench_cli`` times the
command end to end).

Target (chipdse issue 3): 10 s of ``vla-drive-10hz`` (100 frames: 6-camera ViT-L/14 encoder,
1024-token prefill, 16 action tokens) with Qwen2.5-0.5B on Jetson AGX Orin 64GB in at most 2 s
of wall time on one core and under 500 MB. Reported: wall time of ``chipdse.sim.simulate``
(engine + batch log + tables), cold (first call in the process) and warm, operators per
second, peak traced Python/numpy memory (tracemalloc) and the process's peak RSS; the time to
write the run directory at each output detail (event summary or every operator to Parquet,
trace per phase or per operator, the timeline PNG); and a round-robin run, where nearly every
operator is its own batch. Also the three phase modes on the same trace.
"""

from __future__ import annotations

import os
import resource
import tempfile
import time
import tracemalloc

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

from chipdse.sim import simulate  # noqa: E402

CHIP, MODEL, TRACE = "jetson-agx-orin-64gb", "qwen2.5-0.5b", "vla-drive-10hz"


def _pin_one_core() -> str:
    try:
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
        return "pinned to one core"
    except (AttributeError, OSError):
        return "not pinned"


def bench_speed() -> None:
    pin = _pin_one_core()
    t0 = time.perf_counter()
    r = simulate(CHIP, MODEL, TRACE)
    cold = time.perf_counter() - t0
    warm = []
    for _ in range(3):
        t0 = time.perf_counter()
        r = simulate(CHIP, MODEL, TRACE)
        warm.append(time.perf_counter() - t0)
    best = min(warm)
    n = r.totals["operators"]
    print(f"simulate {TRACE} ({r.totals['requests']} frames, {r.totals['duration_s']:g} s) "
          f"with {MODEL} on {CHIP} ({pin}): {n:,} operators, {r.totals['batches']} events "
          f"batches; cold {cold:.3f} s, warm {best:.3f} s (engine {r.totals['engine_wall_s']:.3f}"
          f" s) = {n / best:,.0f} operators/s warm, {n / cold:,.0f} cold")

    tracemalloc.start()
    r = simulate(CHIP, MODEL, TRACE)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kB on Linux
    print(f"memory: peak traced {peak / 1e6:.1f} MB during simulate; process peak RSS so far "
          f"{rss:.0f} MB (interpreter, libraries and earlier benchmarks in this process); "
          f"batch log {r.log.rec.nbytes / 1e3:.1f} kB for {r.totals['batches']:,} batches")

    for label, kw in (("defaults (event summary, trace per phase at this size)", {}),
                      ("every operator to events.parquet", {"events": "full"}),
                      ("trace.json per operator", {"trace": "operator"}),
                      ("timeline.png", {"events": "none", "trace": "none", "plot": True})):
        with tempfile.TemporaryDirectory() as d:
            t0 = time.perf_counter()
            r.write(d, **kw)
            dt = time.perf_counter() - t0
            sizes = {f: os.path.getsize(os.path.join(d, f)) / 1e6 for f in os.listdir(d)}
        print(f"writing the run directory, {label}: {dt:.2f} s ("
              + ", ".join(f"{k} {v:.1f} MB" for k, v in sorted(sizes.items())) + ")",
              flush=True)


def bench_contended() -> None:
    from chipdse.sim import SimOptions

    t0 = time.perf_counter()
    r = simulate(CHIP, MODEL, TRACE, duration_s=2.0, options=SimOptions(policy="round-robin"))
    dt = time.perf_counter() - t0
    print(f"round-robin, 2 s of {TRACE}: {r.totals['operators']:,} operators in "
          f"{r.totals['batches']:,} batches, {dt:.2f} s (engine {r.totals['engine_wall_s']:.2f}"
          f" s)", flush=True)


def bench_modes() -> None:
    for mode in ("fixed", "static", "reconfigurable"):
        t0 = time.perf_counter()
        r = simulate(CHIP, MODEL, TRACE, phase_mode=mode, reconfiguration_latency_s=50e-6)
        dt = time.perf_counter() - t0
        s = r.stream("vla")
        print(f"{mode:>14}: {dt:.3f} s wall, p99 {s['latency_p99_s'] * 1e3:.0f} ms, "
              f"{int(s['misses'])}/{int(s['requests'])} misses, "
              f"{r.totals['energy_per_frame_j']:.2f} J/frame, "
              f"{r.totals['reconfigurations']} reconfigurations")


def main() -> None:
    bench_speed()
    bench_contended()
    bench_modes()


if __name__ == "__main__":
    main()
