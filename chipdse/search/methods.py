"""Search methods over integer-indexed problems; the only module that imports pymoo.

* ``grid``: exhaustive enumeration, scored in blocks;
* ``lhs``: the source paper's procedure (arXiv 2602.10377, Sec. 4): a Latin-hypercube sample,
  its Pareto set, then new samples near the front and in its gaps, repeated until the
  hypervolume stops improving;
* ``nsga2``: pymoo's NSGA-II over integer variables (SBX and polynomial mutation on the indices
  with rounding repair), constraints normalised (``g <= 0`` feasible), then optionally every
  one-step neighbour of its final front (``polish``).

Each method takes the problem, an ``evaluate(X) -> scores`` callable and the
:class:`~chipdse.search.state.Archive` it fills; long methods save their state after every
generation or round (:mod:`chipdse.search.state`) and continue a saved one.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from chipdse.errors import UserError
from chipdse.search.pareto import hypervolume, pareto_mask
from chipdse.search.space import enumerate_indices
from chipdse.search.state import Archive, write_state

__all__ = ["METHODS", "grid", "lhs", "nsga2", "finished"]

METHODS = ("auto", "grid", "lhs", "nsga2")
_GRID_BLOCK = 65536
_PENALTY = 1e300  # stands in for a non-finite objective inside NSGA-II


def grid(problem, evaluate, archive, progress, limit) -> list[dict[str, Any]]:
    total = problem.grid_size
    if total > limit:
        raise UserError(f"the grid has {total:,} designs, above the enumeration limit of "
                        f"{limit:,}; use --method nsga2 or lhs, or raise the limit")
    for start in range(0, total, _GRID_BLOCK):
        X = enumerate_indices(problem.sizes, start, min(total, start + _GRID_BLOCK))
        X = X[problem.valid(X)]
        if len(X):
            archive.add(X, evaluate(X))
        progress(f"grid: {min(total, start + _GRID_BLOCK):,}/{total:,} enumerated")
    return [{"round": 0, "evaluated": archive.n}]


def _lhs_sample(rng: np.random.Generator, sizes: np.ndarray, n: int) -> np.ndarray:
    """Latin-hypercube sample of ``n`` index vectors (one stratum per sample and variable)."""
    u = (rng.permuted(np.tile(np.arange(n), (len(sizes), 1)), axis=1).T
         + rng.random((n, len(sizes)))) / n
    return np.minimum((u * sizes).astype(int), sizes - 1)


def _front_hv(problem, archive, scale: dict[str, np.ndarray] | None
              ) -> tuple[float, int, np.ndarray, dict[str, np.ndarray] | None]:
    """Hypervolume of the feasible front, its size, its designs (sorted) and the scale used.

    ``scale`` (ideal, nadir, reference point) is fixed once set: taken from the first feasible
    designs seen, then kept, so the hypervolumes of successive rounds are comparable and never
    fall as the archive grows."""
    X, s = archive.merged()
    F = problem.objective_matrix(s)
    feas = np.asarray(s["feasible"], bool)
    if not feas.any():
        return 0.0, 0, np.zeros((0, X.shape[1]), dtype=int), scale
    Xf, Ff = X[feas], F[feas]
    m = pareto_mask(Ff)
    if scale is None:
        lo, hi = Ff.min(axis=0), Ff.max(axis=0)
        scale = {"ideal": lo, "nadir": hi, "ref": hi + 0.1 * np.where(hi > lo, hi - lo, 1.0)}
    hv = hypervolume(Ff[m], scale["ref"], scale["ideal"], scale["nadir"])
    order = np.lexsort(Ff[m].T[::-1])
    return hv, int(m.sum()), Xf[m][order], scale


def _neighbours(rng, front_X: np.ndarray, sizes: np.ndarray, per_point: int) -> np.ndarray:
    """Designs one or two index steps from front designs, and midpoints between neighbours
    along the front (the paper's 'near the frontier and in its gaps')."""
    out = []
    for x in front_X:
        for _ in range(per_point):
            y = x.copy()
            for j in rng.choice(len(sizes), size=rng.integers(1, 3), replace=False):
                y[j] = np.clip(y[j] + rng.choice((-2, -1, 1, 2)), 0, sizes[j] - 1)
            out.append(y)
    for a, b in zip(front_X[:-1], front_X[1:]):
        pick = rng.random(len(sizes)) < 0.5
        mid = np.where(pick, np.floor((a + b) / 2), np.ceil((a + b) / 2)).astype(int)
        out.append(mid)
    return np.array(out, dtype=int).reshape(-1, len(sizes))


def _scale_state(scale: dict[str, np.ndarray] | None) -> dict[str, list[float]] | None:
    return None if scale is None else {k: np.asarray(v, float).tolist() for k, v in
                                       scale.items()}


def _scale_from_state(s: dict[str, list[float]] | None) -> dict[str, np.ndarray] | None:
    return None if s is None else {k: np.asarray(v, float) for k, v in s.items()}


def lhs(problem, evaluate, archive: Archive, progress, run_dir: Path | None,
        state: dict[str, Any] | None, seed: int, samples: int, rounds: int,
        stop_after: int | None, base_state: dict[str, Any]) -> list[dict[str, Any]]:
    sizes = problem.sizes
    seen: set[bytes] = set()
    if state is None:
        rng = np.random.default_rng(seed)
        X = _lhs_sample(rng, sizes, samples)
        X = X[problem.valid(X)]
        archive.add(X, evaluate(X))
        hv, nf, _, scale = _front_hv(problem, archive, None)
        history = [{"round": 0, "evaluated": archive.n, "front": nf, "hypervolume": hv}]
        r0, stable = 1, 0
        write_state(run_dir, {**base_state, "round": 1, "stable": 0,
                              "rng_state": rng.bit_generator.state,
                              "hv_scale": _scale_state(scale), "history": history}, archive)
        progress(f"lhs round 0: {archive.n} evaluated, front {nf}")
    else:
        rng = np.random.default_rng()
        rng.bit_generator.state = state["rng_state"]
        history, r0, stable = list(state["history"]), state["round"], state["stable"]
        scale = _scale_from_state(state["hv_scale"])
    for x in archive.merged()[0]:
        seen.add(np.asarray(x, dtype=np.int64).tobytes())
    done_now = 0
    for r in range(r0, rounds + 1):
        if stable >= 2:
            break
        if stop_after is not None and done_now >= stop_after:
            return history
        _, _, front_X, _ = _front_hv(problem, archive, scale)
        cand = _neighbours(rng, front_X, sizes, 4)
        cand = cand[problem.valid(cand)] if len(cand) else cand
        new = []
        for x in cand:
            k = np.asarray(x, dtype=np.int64).tobytes()
            if k not in seen:
                seen.add(k)
                new.append(x)
        prev = history[-1]["hypervolume"]
        if new:
            Xn = np.array(new, dtype=int)
            archive.add(Xn, evaluate(Xn))
        hv, nf, _, scale = _front_hv(problem, archive, scale)
        stable = stable + 1 if (not new or hv <= prev * (1 + 1e-4)) else 0
        history.append({"round": r, "evaluated": archive.n, "front": nf, "hypervolume": hv})
        done_now += 1
        write_state(run_dir, {**base_state, "round": r + 1, "stable": stable,
                              "rng_state": rng.bit_generator.state,
                              "hv_scale": _scale_state(scale), "history": history}, archive)
        progress(f"lhs round {r}: {archive.n} evaluated, front {nf}, hv {hv:.4f}")
    return history


def _polish(problem, evaluate, archive: Archive, progress) -> int:
    """Evaluate every design one index step from the final front (each variable +-1) not seen
    yet: removes the near misses a population-based search leaves on its front."""
    X, sc = archive.merged()
    feas = np.asarray(sc["feasible"], bool)
    if not feas.any():
        return 0
    F = problem.objective_matrix(sc)
    front = X[feas][pareto_mask(F[feas])]
    sizes = problem.sizes
    cands = []
    for j in range(problem.n_var):
        for step in (-1, 1):
            Y = front.copy()
            Y[:, j] += step
            cands.append(Y[(Y[:, j] >= 0) & (Y[:, j] < sizes[j])])
    C = np.unique(np.concatenate(cands), axis=0)
    seen = {np.asarray(x, dtype=np.int64).tobytes() for x in X}
    C = C[np.array([np.asarray(c, dtype=np.int64).tobytes() not in seen for c in C],
                   dtype=bool)] if len(C) else C
    C = C[problem.valid(C)] if len(C) else C
    if len(C):
        archive.add(C, evaluate(C))
    progress(f"polish: {len(C)} neighbours of {len(front)} front designs evaluated")
    return int(len(C))


def _pymoo_problem(problem, score: Callable[[np.ndarray], dict[str, np.ndarray]]):
    """The pymoo view of ``problem``; ``score`` gives the scores of an index matrix (pymoo
    imports are slow, so this is built only when NSGA-II runs)."""
    from pymoo.core.problem import Problem

    class _P(Problem):
        def __init__(self):
            super().__init__(n_var=problem.n_var, n_obj=len(problem.objectives),
                             n_ieq_constr=len(problem.constraint_names), xl=0,
                             xu=problem.sizes - 1, vtype=int)

        def _evaluate(self, x, out, *args, **kwargs):
            X = np.clip(np.rint(x).astype(int), 0, problem.sizes - 1)
            s = score(X)
            F = problem.objective_matrix(s)
            G = problem.constraint_matrix(s)
            # Non-finite objectives or constraints: a finite, violated stand-in, so that
            # pymoo ranks such designs last instead of propagating NaN.
            bad = ~(np.all(np.isfinite(F), axis=1) & np.all(np.isfinite(G), axis=1))
            if bad.any():
                F = np.where(np.isfinite(F), F, _PENALTY)
                G = np.where(np.isfinite(G), G, 1.0)
                G[bad] = np.maximum(G[bad], 1.0)
            out["F"] = F
            out["G"] = G

    return _P()


def nsga2(problem, evaluate, archive: Archive, progress, run_dir: Path | None,
          state: dict[str, Any] | None, seed: int, pop_size: int, generations: int,
          stop_after: int | None, base_state: dict[str, Any], polish: bool
          ) -> list[dict[str, Any]]:
    from pymoo.algorithms.moo.nsga2 import NSGA2
    from pymoo.operators.crossover.sbx import SBX
    from pymoo.operators.mutation.pm import PM
    from pymoo.operators.repair.rounding import RoundingRepair
    from pymoo.operators.sampling.rnd import IntegerRandomSampling

    replay = int(state["generation"]) if state else 0

    def score(X: np.ndarray) -> dict[str, np.ndarray]:
        if replaying[0]:
            s = archive.lookup(X)
            if s is None:
                raise UserError(f"{run_dir}: the saved archive lacks designs its own "
                                "generations evaluated; start a new run")
            return s
        s = evaluate(X)
        archive.add(X, s)
        return s

    replaying = [replay > 0]
    pp = _pymoo_problem(problem, score)
    algo = NSGA2(pop_size=pop_size, sampling=IntegerRandomSampling(),
                 crossover=SBX(prob=0.9, eta=15, vtype=float, repair=RoundingRepair()),
                 mutation=PM(eta=20, vtype=float, repair=RoundingRepair()),
                 eliminate_duplicates=True)
    algo.setup(pp, termination=("n_gen", generations), seed=seed, verbose=False)
    history: list[dict[str, Any]] = list(state["history"]) if state else []
    done_now, started = 0, 0
    while algo.has_next():
        started += 1
        replaying[0] = started <= replay
        if not replaying[0] and stop_after is not None and done_now >= stop_after:
            break
        pop = algo.ask()
        algo.evaluator.eval(pp, pop)
        algo.tell(infills=pop)
        gen = int(algo.n_gen) - 1  # pymoo counts the generation about to start
        if replaying[0]:
            continue
        done_now += 1
        F = algo.pop.get("F")
        G = algo.pop.get("G")
        feas = np.all(G <= 0, axis=1) if G is not None and G.size else np.ones(len(F), bool)
        history.append({"generation": gen, "evaluated": archive.n,
                        "front": int(pareto_mask(F[feas]).sum()) if feas.any() else 0,
                        "feasible_in_population": int(feas.sum())})
        write_state(run_dir, {**base_state, "generation": gen, "history": history}, archive)
        progress(f"nsga2 generation {gen}/{generations}: {archive.n} evaluated, "
                 f"{history[-1]['feasible_in_population']} feasible in population")
    replaying[0] = False
    if polish and not algo.has_next():
        history.append({"polish": _polish(problem, evaluate, archive, progress),
                        "evaluated": archive.n})
    return history


def finished(history, method, generations, rounds) -> bool:
    """Whether a run with this history has done all its generations (NSGA-II); the other
    methods finish in one call."""
    if method == "nsga2":
        gens = [h["generation"] for h in history if "generation" in h]
        return bool(gens) and gens[-1] >= generations
    return True
