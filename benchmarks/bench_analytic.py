"""Throughput of the analytic evaluator, timed the way it is used.

1. The default path, as ``estimate`` computes it: every decode step at its own context
   (``decode="exact"``) and the bound of every operator classified (``with_bounds=True``),
   with the building of the input arrays (the random designs, the stacked chips and the
   per-point chip gather) inside the timer. Points per second on one core.
2. The same points through the kernel alone, as earlier versions of this benchmark timed it:
   inputs built outside the timer, decode at the mean context, no bounds. Printed for
   comparison only: it is not what a user gets.
3. ``api.estimate``, one call at a time (the per-call path of a Python user), on LLaMA-2-7B
   (prefill 512 / 1024 / 2048 tokens + 16 / 128 decode steps): calls per second with preset
   names and with loaded objects, the same call repeated and every call a new configuration
   (new prompt, new generate length, new batch).
4. The paper's grid (Table 5 of arXiv 2602.10377; 1,800 dense and MoE shapes) on every chip
   preset at once.
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


def build_inputs(n: int, chips: ChipParams, seed: int = 1):
    """Random designs on random chip presets: (arch, chip, prompt) arrays of n points."""
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, int(np.shape(chips.static_power_w)[0]), n)
    chip = chips.map(lambda a: a[idx] if np.ndim(a) else a)
    arch = random_points(n, seed)
    prompt = rng.choice([256, 512, 1024, 2048], n).astype(float)
    return arch, chip, prompt


def _best(fn, reps: int = 3) -> tuple[float, float]:
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times), max(times)


def bench_points(n_default: int = 200_000, n_kernel: int = 1_000_000) -> None:
    chips = ChipParams.stack([ChipParams.from_chip(load_chip(c)) for c in list_chips()])
    p = Precision("fp16", "fp16", "fp16")
    warm = build_inputs(2000, chips)
    evaluate(*warm[:2], p, 1, warm[2], 16)

    def default_path():
        arch, chip, prompt = build_inputs(n_default, chips)
        ev = evaluate(arch, chip, p, 1, prompt, 16, CostOptions())  # exact decode, bounds
        return ev.total_s, ev.memory_bytes, ev.energy_j, ev.prefill.bottleneck

    dt, worst = _best(default_path)
    print(f"analytic, default path (per-step decode, bounds, inputs built in the timer): "
          f"{n_default:,} points in {dt:.3f} s (best of 3; worst {worst:.3f} s) = "
          f"{n_default / dt:,.0f} points/s  [issue 13 target >= 5,000,000/s]", flush=True)

    arch, chip, prompt = build_inputs(n_kernel, chips)

    def kernel_only():
        ev = evaluate(arch, chip, p, 1, prompt, 16, CostOptions(), decode="mean",
                      with_bounds=False)
        return ev.total_s, ev.memory_bytes, ev.energy_j

    dt, worst = _best(kernel_only)
    t0 = time.perf_counter()
    build_inputs(n_kernel, chips)
    build = time.perf_counter() - t0
    print(f"analytic, kernel only (decode at the mean context, no bounds, inputs outside "
          f"the timer; not the default): {n_kernel:,} points in {dt:.3f} s = "
          f"{n_kernel / dt:,.0f} points/s; building those inputs takes {build:.3f} s more",
          flush=True)


def _rate(fn, seconds: float) -> float:
    n, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        fn(n)
        n += 1
    return n / (time.perf_counter() - t0)


def bench_estimate_calls(seconds: float = 2.0) -> None:
    """``api.estimate`` one call at a time, end to end (what a user's loop waits for): with
    preset names and with already-loaded objects, the same configuration repeated, and
    loops whose every call is a configuration not seen before."""
    from chipdse import api

    names = ("jetson-agx-orin-64gb", "llama-2-7b")
    chip, model = api.load_chip(names[0]), api.load_model(names[1])
    p = api.make_precision("int8", "int8")
    target = "[issue 13 target >= 15,000/s]"
    for prompt, gen in ((512, 16), (1024, 16), (2048, 128)):
        api.estimate(chip, model, p, 1, prompt, gen)
        objs = _rate(lambda i, t=prompt, g=gen: api.estimate(chip, model, p, 1, t, g),
                     seconds / 2)
        by_name = _rate(lambda i, t=prompt, g=gen: api.estimate(*names, p, 1, t, g),
                        seconds / 2)
        print(f"api.estimate LLaMA-2-7B int8 on Orin, prompt {prompt}, {gen} decode steps, "
              f"same call repeated: {objs:,.0f} calls/s with loaded objects, {by_name:,.0f} "
              f"calls/s with preset names  {target}", flush=True)
    # Every call new: the prompt grows by one token per call (a new prefill pass each time;
    # the decode steps of neighbouring prompts share their cached blocks).
    base = 3000 + int(time.time()) % 1000 * 10  # prompts no earlier run has cached
    new_prompt = _rate(lambda i: api.estimate(chip, model, p, 1, base + i, 16), seconds)
    # Every call new: the generate length grows by one per call (prefill cached).
    new_gen = _rate(lambda i: api.estimate(chip, model, p, 1, 1024, 1 + i % 4096), seconds)
    # Every call new: batch 1..8 x prompts, with names (new prefill and decode blocks).
    new_batch = _rate(lambda i: api.estimate(*names, p, 1 + i % 8, base + 20000 + i // 8, 16),
                      seconds)
    print(f"api.estimate LLaMA-2-7B int8 on Orin, every call a new configuration: "
          f"{new_prompt:,.0f} calls/s (new prompt, 16 steps), {new_gen:,.0f} calls/s "
          f"(prompt 1024, new generate length), {new_batch:,.0f} calls/s (names, new batch "
          f"and prompt)", flush=True)


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
          f"in {dt * 1e3:.1f} ms (result shape {shape}; decode at the mean context) "
          f"[target < 100 ms]", flush=True)


def main() -> None:
    bench_points()
    bench_estimate_calls()
    bench_paper_grid()


if __name__ == "__main__":
    main()
