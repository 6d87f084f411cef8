"""Speed and quality of the searches (one core).

1. The full PLAS grid (Table 5 of arXiv 2602.10377 with 47 FFN ratios: 63,920 distinct
   architectures) enumerated, scored (loss, prefill / decode / total latency, energy, memory)
   and Pareto-filtered on Jetson AGX Orin 64GB. Target: under 2 s.
2. Joint co-design (PLAS variables x the chip template), NSGA-II, population 200 for 100
   generations. Target: under 60 s.
3. On grids small enough to enumerate, the hypervolume of the searches' fronts relative to the
   exhaustive front. Target: within 1 %.
4. Building the results frame (one row per distinct design, Pareto flags) against scoring the
   same designs: 1,000,000 random PLAS draws (many repeats) and 200,000 co-design designs
   (nearly all distinct), and the frame alone at 1,000,000 distinct co-design designs.
   Target (issue 13): the frame costs no more than the scoring.
"""

from __future__ import annotations

import os
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402

from chipdse.search import (  # noqa: E402
    Budgets,
    CoDesignProblem,
    PlasProblem,
    Workload,
    hypervolume,
    pareto_mask,
    run_search,
)
from chipdse.search.space import (  # noqa: E402
    CHIP_SPACE,
    PLAS_SPACE,
    Variable,
    enumerate_indices,
)
from microarch.loader import load_chip  # noqa: E402
from workloads.precision import Precision  # noqa: E402


def _plas_grid_once(problem: PlasProblem) -> tuple[float, int, int, dict[str, float]]:
    t0 = time.perf_counter()
    X = enumerate_indices(problem.sizes, 0, problem.grid_size)
    X = X[problem.valid(X)]
    t1 = time.perf_counter()
    s = problem.score(X)
    t2 = time.perf_counter()
    F = problem.objective_matrix(s)
    feas = s["feasible"]
    front = pareto_mask(F[feas])
    t3 = time.perf_counter()
    return t3 - t0, len(X), int(front.sum()), {"enumerate_s": t1 - t0, "score_s": t2 - t1,
                                               "pareto_s": t3 - t2}


def bench_plas_grid() -> None:
    orin = load_chip("jetson-agx-orin-64gb")
    for name, prec in (("fp16", Precision()), ("int8", Precision("int8", "int8", "int8"))):
        p = PlasProblem(orin, Workload(precision=prec), Budgets(latency_s=0.1))
        runs = [_plas_grid_once(p) for _ in range(4)]
        first, n, nf, _ = runs[0]
        best = min(runs[1:], key=lambda r: r[0])
        parts = ", ".join(f"{k} {v * 1e3:.0f} ms" for k, v in best[3].items())
        print(f"PLAS grid {name}: {n:,} architectures scored + Pareto-filtered in "
              f"{best[0]:.3f} s (first call {first:.3f} s; {parts}); {nf} on the front; "
              f"{n / best[0]:,.0f} designs/s  [target < 2 s]")
    t0 = time.perf_counter()
    run_search(PlasProblem(orin, Workload(), Budgets(latency_s=0.1)), method="grid")
    print(f"  run_search(method='grid') end to end, results table included: "
          f"{time.perf_counter() - t0:.3f} s")


def bench_codesign_nsga2() -> None:
    p = CoDesignProblem(Workload(), Budgets(latency_s=0.1, area_mm2=450.0, power_w=130.0))
    t0 = time.perf_counter()
    res = run_search(p, method="nsga2", pop_size=200, generations=100, seed=0)
    dt = time.perf_counter() - t0
    print(f"co-design NSGA-II pop 200 x 100 generations: {dt:.2f} s, {res.n_evaluated:,} "
          f"evaluations ({res.n_evaluated / dt:,.0f}/s), {len(res.front)} Pareto designs  "
          f"[target < 60 s]")


def _hv_ratio(result, exact) -> float:
    F0 = exact.front[list(exact.objectives)].to_numpy()
    lo, hi = F0.min(axis=0), F0.max(axis=0)
    ref = hi + 0.1 * np.where(hi > lo, hi - lo, 1.0)
    F = result.front[list(result.objectives)].to_numpy()
    return hypervolume(F, ref, lo, hi) / hypervolume(F0, ref, lo, hi)


def bench_hypervolume() -> None:
    orin = load_chip("jetson-agx-orin-64gb")
    p = PlasProblem(orin, Workload(), Budgets(latency_s=0.1))
    exact = run_search(p, method="grid")
    for method, kw in (("nsga2", dict(pop_size=100, generations=50)),
                       ("lhs", dict(lhs_samples=2000))):
        t0 = time.perf_counter()
        r = run_search(p, method=method, seed=0, **kw)
        print(f"PLAS grid ({exact.n_evaluated:,} designs), {method}: hypervolume "
              f"{_hv_ratio(r, exact):.4f} of exhaustive with {r.n_evaluated:,} evaluations "
              f"in {time.perf_counter() - t0:.2f} s  [target >= 0.99]")
    arch = (Variable("n_layers", (8, 16)), Variable("d_model", (1024, 2048)), PLAS_SPACE[2],
            Variable("kv_heads", ("2",)), Variable("ffn_ratio", (0.5, 1.0, 2.0)))
    chip = tuple(Variable(v.name, {"matrix_units": (4, 16, 64), "clock_ghz": (1.0, 2.0),
                                   "dram_bus_bits": (128, 256, 512), "sram_mib": (8, 64),
                                   "kv_sram_mib": (0, 16), "phase_mode": ("fixed",),
                                   "node_nm": (5,)}.get(v.name, v.options))
                 for v in CHIP_SPACE)
    cp = CoDesignProblem(Workload(), Budgets(latency_s=0.1), arch_space=arch, chip_space=chip)
    exact = run_search(cp, method="grid")
    for method, kw in (("nsga2", dict(pop_size=100, generations=60)),
                       ("lhs", dict(lhs_samples=1000))):
        t0 = time.perf_counter()
        r = run_search(cp, method=method, seed=0, **kw)
        print(f"co-design grid ({exact.n_evaluated:,} designs, 3 objectives), {method}: "
              f"hypervolume {_hv_ratio(r, exact):.4f} of exhaustive with {r.n_evaluated:,} "
              f"evaluations in {time.perf_counter() - t0:.2f} s  [target >= 0.99]")


def bench_frame() -> None:
    from chipdse.search.result import results_frame

    orin = load_chip("jetson-agx-orin-64gb")
    rng = np.random.default_rng(0)
    for p, n in ((PlasProblem(orin, Workload(), Budgets(latency_s=0.1)), 1_000_000),
                 (CoDesignProblem(Workload(), Budgets(latency_s=0.1, area_mm2=450.0)),
                  200_000)):
        X = np.column_stack([rng.integers(0, k, n) for k in p.sizes])
        X = X[p.valid(X)]
        t0 = time.perf_counter()
        s = p.score(X)
        score = time.perf_counter() - t0
        t0 = time.perf_counter()
        f = results_frame(p, X, s)
        frame = time.perf_counter() - t0
        print(f"{p.kind}: {len(X):,} designs ({len(f):,} distinct) scored in {score:.2f} s, "
              f"results frame {frame:.2f} s  [target: frame <= scoring]", flush=True)
    n = 1_000_000
    X = np.column_stack([rng.integers(0, k, n) for k in p.sizes])
    s0 = p.score(X[:1000])
    s = {k: np.resize(np.asarray(v), n) for k, v in s0.items()}  # scores of the right shape
    t0 = time.perf_counter()
    f = results_frame(p, X, s)
    print(f"results frame of {n:,} co-design designs ({len(f):,} distinct, {f.shape[1]} "
          f"columns): {time.perf_counter() - t0:.2f} s", flush=True)


def main() -> None:
    bench_plas_grid()
    bench_frame()
    bench_codesign_nsga2()
    bench_hypervolume()


if __name__ == "__main__":
    main()
