"""What a user waits for at the command line: whole processes, start-up and writing included.

1. ``chipdse --help`` and ``chipdse estimate --chip jetson-agx-orin-64gb --model qwen3-0.6b``:
   process wall time, median of 7 (target <= 0.35 s each).
2. ``chipdse simulate`` of ``vla-drive-10hz`` with Qwen2.5-0.5B on Jetson AGX Orin 64GB, the
   default outputs (event summary, trace at "auto" detail): 10 s of trace (target <= 1.0 s)
   and 600 s (target <= 20 s with peak RSS <= 1.5 GB, no --max-operators), each with the
   files written and their sizes; and 60 s with ``--events full`` (every operator to Parquet).

Each figure is the median of its runs; min and max show the spread (this machine is shared,
so a wide spread means others were busy).
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time

CHIP, MODEL, TRACE = "jetson-agx-orin-64gb", "qwen2.5-0.5b", "vla-drive-10hz"
CHIPDSE = [sys.executable, "-m", "chipdse"]


def run_process(args: list[str]) -> tuple[float, float]:
    """Wall seconds and peak RSS (MB) of one process running ``args``."""
    t0 = time.perf_counter()
    p = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(p.pid, 0)
    wall = time.perf_counter() - t0
    err = p.stderr.read().decode() if p.stderr else ""
    p.returncode = os.waitstatus_to_exitcode(status)
    if p.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} failed ({p.returncode}): {err[-400:]}")
    return wall, usage.ru_maxrss / 1024  # kB on Linux


def figure(label: str, args: list[str], runs: int, target: str = "") -> list[float]:
    walls, peaks = zip(*(run_process(args) for _ in range(runs)))
    med = statistics.median(walls)
    print(f"{label}: median {med:.3f} s (min {min(walls):.3f}, max {max(walls):.3f}, "
          f"{runs} runs), peak RSS {max(peaks):.0f} MB" + (f"  [target {target}]" if target
                                                           else ""), flush=True)
    return list(walls)


def simulate_args(duration: str, out: str, *extra: str) -> list[str]:
    return CHIPDSE + ["simulate", "--chip", CHIP, "--model", MODEL, "--trace", TRACE,
                      "--duration", duration, "-o", out, "--no-progress", *extra]


def sizes(directory: str) -> str:
    return ", ".join(f"{f} {os.path.getsize(os.path.join(directory, f)) / 1e6:.1f} MB"
                     for f in sorted(os.listdir(directory)))


def main() -> None:
    run_process(CHIPDSE + ["--help"])  # warm the file cache
    figure("chipdse --help", CHIPDSE + ["--help"], 7, "<= 0.35 s")
    figure(f"chipdse estimate --chip {CHIP} --model qwen3-0.6b",
           CHIPDSE + ["estimate", "--chip", CHIP, "--model", "qwen3-0.6b"], 7, "<= 0.35 s")
    with tempfile.TemporaryDirectory() as d:
        out = os.path.join(d, "s10")
        figure(f"chipdse simulate {TRACE} 10 s (defaults)", simulate_args("10", out), 5,
               "<= 1.0 s")
        print(f"  wrote {sizes(out)}")
        out = os.path.join(d, "s600")
        figure(f"chipdse simulate {TRACE} 600 s (defaults)", simulate_args("600", out), 1,
               "<= 20 s, peak RSS <= 1.5 GB")
        print(f"  wrote {sizes(out)}")
        out = os.path.join(d, "s60f")
        figure(f"chipdse simulate {TRACE} 60 s --events full",
               simulate_args("60", out, "--events", "full"), 1)
        print(f"  wrote {sizes(out)}")


if __name__ == "__main__":
    main()
