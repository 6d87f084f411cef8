"""Throughput of the analytic evaluator.

1. Design points per second on one core: random (model shape, chip, workload) points, each scored
   for prefill + decode latency, memory footprint and energy (decode at the mean context).
2. The paper's grid (Table 5 of arXiv 2602.10377; 1,800 dense and MoE shapes) on all chip
   presets at once.
"""

from __future__ import annotations

import itertools
import os
import time

import numpy as np

os.environ.setdefault("OMP_NUM_THREADS", "1")

from chipdse.analytic import evaluate  # noqa: E402
from chipdse.cost import ChipParams, CostOptions  # noqa: E402
from chipdse.search.space import HEAD_DIM, plas_arch_arrays  # noqa: E402
from microarch.loader import list_chips, load_chip  # noqa: E402
from workloads.ops import ArchArrays  # noqa: E402
from workloads.precision import Precision  # noqa: E402


def plas_arrays(l, d, gqa, r, e, k) -> ArchArrays:
    """ArchArrays for PLAS variables, with GQA given as query heads per KV head."""
    heads = np.maximum(1.0, np.floor(np.asarray(d, dtype=float) / HEAD_DIM))
    return plas_arch_arrays(l, d, e, k, np.maximum(1.0, np.floor(heads / np.asarray(gqa))),
                            r)[0]


def random_points(n: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    ek = np.array([(1, 1), (8, 1), (8, 2), (16, 1), (16, 2)])
    pick = ek[rng.integers(0, 5, n)]
    arch = plas_arrays(rng.choice(np.arange(4, 33, 4), n),
                       rng.choice([768, 1024, 1280, 1536, 1792, 2048, 2304, 2560, 3072], n),
                       rng.choice([1, 2, 4, 8], n), rng.uniform(0.5, 6.0, n), pick[:, 0],
                       pick[:, 1])
    return arch


def bench_points(n: int = 1_000_000) -> None:
    chips = [ChipParams.from_chip(load_chip(c)) for c in list_chips()]
    stacked = ChipParams.stack(chips)
    rng = np.random.default_rng(1)
    idx = rng.integers(0, len(chips), n)
    chip = stacked.map(lambda a: a[idx] if a.ndim else a)
    arch = random_points(n)
    prompt = rng.choice([256, 512, 1024, 2048], n).astype(float)
    p = Precision("fp16", "fp16", "fp16")
    evaluate(arch.map(lambda a: a[:1000] if a.ndim else a),
             chip.map(lambda a: a[:1000] if a.ndim else a), p, 1, prompt[:1000], 16,
             decode="mean", with_bounds=False)
    times = []
    for _ in range(3):
        t0 = time.perf_counter()
        ev = evaluate(arch, chip, p, 1, prompt, 16, CostOptions(), decode="mean",
                      with_bounds=False)
        _ = (ev.total_s, ev.memory_bytes, ev.energy_j)
        times.append(time.perf_counter() - t0)
    dt, worst = min(times), max(times)
    print(f"analytic: {n:,} design points (13 chips, random PLAS shapes, 4 prompt lengths) "
          f"in {dt:.3f} s (best of 3; worst {worst:.3f} s) = {n / dt:,.0f} points/s "
          f"(prefill+decode latency, memory, energy; decode at mean context) "
          f"[target >= 1,000,000/s]")


def bench_paper_grid() -> None:
    ls = np.arange(4, 33, 4)
    ds = [768, 1024, 1280, 1536, 1792, 2048, 2304, 2560, 3072]
    eks = [(1, 1), (8, 1), (8, 2), (16, 1), (16, 2)]
    # Table 5's axes: 8 depths x 9 widths x 5 (E, K) x 5 FFN ratios at GQA 2 = 1,800 shapes
    # (the paper scored 1,942 candidates on Orin).
    grid = list(itertools.product(ls, ds, eks, [2], [0.5, 1.0, 2.0, 3.0, 4.0]))
    l, d, ek, g, r = zip(*grid)
    ek = np.array(ek)
    arch = plas_arrays(l, d, g, r, ek[:, 0], ek[:, 1])
    n = len(grid)
    chips = ChipParams.stack([ChipParams.from_chip(load_chip(c)) for c in list_chips()])
    chip2 = chips.map(lambda a: a[:, None] if a.ndim else a)
    p = Precision("fp16", "fp16", "fp16")
    evaluate(arch, chip2, p, 1, 1024, 16, decode="mean", with_bounds=False)
    reps = 20
    t0 = time.perf_counter()
    for _ in range(reps):
        ev = evaluate(arch, chip2, p, 1, 1024, 16, decode="mean", with_bounds=False)
    dt = (time.perf_counter() - t0) / reps
    shape = np.shape(ev.total_s)
    print(f"paper grid: {n:,} shapes x {len(list_chips())} chips = {np.prod(shape):,} points "
          f"in {dt * 1e3:.1f} ms (result shape {shape}) [target < 100 ms]")


def main() -> None:
    bench_points()
    bench_paper_grid()


if __name__ == "__main__":
    main()
