"""Design-space search (pymoo behind one module): PLAS, chip sizing and joint co-design.

:func:`run_search` takes a problem of :mod:`chipdse.search_problems` and returns a
:class:`SearchResult` (every evaluated design as a DataFrame, its Pareto front, CSV and a Pareto
plot). Methods:

* ``grid``: exhaustive enumeration (the default when the grid has at most ``grid_limit``
  designs), scored in blocks;
* ``lhs``: the source paper's procedure (arXiv 2602.10377, Sec. 4): a Latin-hypercube sample,
  its Pareto set, then new samples near the front and in its gaps, repeated until the
  hypervolume stops improving;
* ``nsga2``: pymoo's NSGA-II over integer variables (SBX and polynomial mutation on the indices
  with rounding repair), constraints normalised (``g <= 0`` feasible).

Everything is seeded and deterministic. Long searches write their state atomically to the run
directory after every generation (``state.pkl``: population, objectives, generation, random
state, every evaluated point, and the pickled algorithm); ``resume=True`` continues an
interrupted run and ends with exactly what an uninterrupted run gives. Evaluation batches may go
to a Dask cluster (``scheduler="tcp://HOST:PORT"``; optional dependency ``chipdse[dask]``);
serial is the default. The final front can be re-checked with a simulator callable
(:func:`recheck_front`).
"""

from __future__ import annotations

import hashlib
import json
import pickle
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from chipdse import io
from chipdse.errors import UserError
from chipdse.search_problems import (
    CHIP_SPACE,
    PLAS_SPACE,
    WORKLOADS,
    Budgets,
    ChipSizingProblem,
    CoDesignProblem,
    PlasProblem,
    SearchProblem,
    Variable,
    Workload,
    enumerate_indices,
)

__all__ = ["search", "codesign", "run_search", "SearchResult", "pareto_mask", "hypervolume",
           "front_summary",
           "matched_latency_gain", "recheck_front", "design_objects", "pareto_figure",
           "simulate_request", "default_simulator", "dominated_share", "score_model",
           "PlasProblem", "ChipSizingProblem", "CoDesignProblem", "Workload", "Budgets",
           "Variable", "WORKLOADS", "PLAS_SPACE", "CHIP_SPACE", "METHODS"]

METHODS = ("auto", "grid", "lhs", "nsga2")
STATE_FILE = "state.pkl"
_STATE_VERSION = 2  # 2: LHS states hold the frozen hypervolume scale
_GRID_BLOCK = 65536
_PENALTY = 1e300  # stands in for a non-finite objective inside NSGA-II


# ---- Pareto and hypervolume ----------------------------------------------------------------

def pareto_mask(F: Any) -> np.ndarray:
    """Non-dominated rows of ``F`` (minimisation). Of identical rows only the first is kept.
    Rows with a non-finite value (NaN, inf) are never on the front and dominate nothing.

    Uses moocore's dimension-sweep algorithm (O(n log n) for up to 3 objectives; moocore comes
    with pymoo)."""
    from moocore import is_nondominated

    F = np.asarray(F, dtype=float)
    n = F.shape[0]
    mask = np.zeros(n, dtype=bool)
    if n == 0:
        return mask
    ok = np.flatnonzero(np.all(np.isfinite(F), axis=1))
    if ok.size == 0:
        return mask
    Fo = F[ok]
    if F.shape[1] == 1:
        mask[ok[int(np.argmin(Fo[:, 0]))]] = True
    else:
        mask[ok[np.asarray(is_nondominated(Fo, keep_weakly=False), dtype=bool)]] = True
    return mask


def hypervolume(F: Any, ref: Sequence[float], ideal: Sequence[float] | None = None,
                nadir: Sequence[float] | None = None) -> float:
    """Hypervolume of points ``F`` (minimisation) below ``ref``; with ``ideal``/``nadir`` all
    are first normalised to [0, 1] on those bounds."""
    from moocore import hypervolume as _hv

    F = np.atleast_2d(np.asarray(F, dtype=float))
    ref = np.asarray(ref, dtype=float)
    if ideal is not None and nadir is not None:
        lo, hi = np.asarray(ideal, float), np.asarray(nadir, float)
        span = np.where(hi > lo, hi - lo, 1.0)
        F = (F - lo) / span
        ref = (ref - lo) / span
    F = F[np.all(F < ref, axis=1)]
    return float(_hv(F, ref=ref)) if len(F) else 0.0


# ---- evaluation (serial or Dask) -------------------------------------------------------------

def _score_chunk(problem: SearchProblem, X: np.ndarray) -> dict[str, np.ndarray]:
    return problem.score(X)


def _concat_scores(parts: list[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    if len(parts) == 1:
        return parts[0]
    return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}


def _check_scheduler_address(address: str) -> None:
    """Raise :class:`UserError` unless ``address`` parses as a Dask scheduler address. Checked
    before a Client is made: a Client refused on its address hangs on closing."""
    from distributed.comm.addressing import parse_address, parse_host_port
    from distributed.comm.registry import get_backend

    try:
        scheme, loc = parse_address(address)
        get_backend(scheme)
        if scheme != "inproc":
            parse_host_port(loc)
    except ValueError as exc:
        raise UserError(f"{address!r} is not a Dask scheduler address (expected "
                        f"tcp://HOST:PORT): {exc}") from None


class _Evaluator:
    """Scores index matrices serially, or in batches on an existing Dask cluster."""

    def __init__(self, problem: SearchProblem, scheduler: Any = None, chunks: int | None = None,
                 timeout_s: float = 10.0):
        self.problem = problem
        self.client = None
        self._remote = None
        self.chunks = chunks
        if scheduler is not None:
            try:
                from dask.distributed import Client
            except ImportError:  # pragma: no cover - depends on the environment
                raise UserError("--scheduler needs Dask: pip install 'chipdse[dask]'") from None
            if isinstance(scheduler, Client):
                self.client, self._own = scheduler, False
            else:
                _check_scheduler_address(str(scheduler))
                try:
                    self.client = Client(str(scheduler), set_as_default=False,
                                         timeout=timeout_s)
                except (OSError, TimeoutError, ValueError) as exc:
                    raise UserError(f"cannot reach the Dask scheduler {scheduler}: {exc}") \
                        from None
                self._own = True
            self._remote = self.client.scatter(problem, broadcast=True)

    def __call__(self, X: np.ndarray) -> dict[str, np.ndarray]:
        X = np.atleast_2d(np.asarray(X, dtype=int))
        if self.client is None or len(X) == 0:
            return self.problem.score(X)
        n = self.chunks or max(1, len(self.client.scheduler_info().get("workers", {})))
        parts = np.array_split(X, min(n, len(X)))
        futures = self.client.map(_score_chunk, [self._remote] * len(parts), parts, pure=False)
        return _concat_scores(self.client.gather(futures))

    def close(self) -> None:
        if self.client is not None and self._own:
            self.client.close()
        self.client = None


class _Archive:
    """Every evaluated design, in evaluation order."""

    def __init__(self) -> None:
        self.X: list[np.ndarray] = []
        self.scores: list[dict[str, np.ndarray]] = []

    def add(self, X: np.ndarray, scores: dict[str, np.ndarray]) -> None:
        self.X.append(np.asarray(X, dtype=int))
        self.scores.append(scores)

    @property
    def n(self) -> int:
        return int(sum(len(x) for x in self.X))

    def merged(self) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        if not self.X:
            return np.zeros((0, 0), dtype=int), {}
        return np.concatenate(self.X), _concat_scores(self.scores)

    def state(self) -> dict[str, Any]:
        X, s = self.merged()
        return {"X": X, "scores": s}

    @classmethod
    def from_state(cls, st: Mapping[str, Any]) -> _Archive:
        a = cls()
        if len(st["X"]):
            a.add(st["X"], dict(st["scores"]))
        return a


# ---- results ---------------------------------------------------------------------------------

@dataclass
class SearchResult:
    """Outcome of :func:`run_search`.

    Attributes:
        kind: problem kind ("plas", "sizing", "codesign").
        objectives: objective columns (minimised).
        frame: every distinct evaluated design: variable values, ``idx_*`` index columns,
            every metric, ``g_*`` constraints, ``feasible`` and ``pareto`` (feasible and
            non-dominated on the objectives).
        method / seed / elapsed_s / n_evaluated: how it was obtained.
        history: per generation / round: evaluated count, front size, hypervolume.
        notes: remarks (law range warnings, simulator re-check status, ...).
    """

    kind: str
    objectives: tuple[str, ...]
    frame: pd.DataFrame
    method: str
    seed: int
    elapsed_s: float
    n_evaluated: int
    history: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    config: dict[str, Any] = field(default_factory=dict)

    @property
    def front(self) -> pd.DataFrame:
        """The Pareto front (feasible, non-dominated), sorted by the first objective."""
        return self.frame[self.frame["pareto"]].sort_values(list(self.objectives))

    def front_for(self, objectives: Sequence[str], feasible_only: bool = True) -> pd.DataFrame:
        """Pareto front of the evaluated designs on other objective columns."""
        f = self.frame[self.frame["feasible"]] if feasible_only else self.frame
        m = pareto_mask(f[list(objectives)].to_numpy(float))
        return f[m].sort_values(list(objectives))

    def save(self, directory: str | Path, plot: bool = True) -> dict[str, Path]:
        """Write results.csv (all designs), front.csv, summary.json and pareto.png."""
        d = Path(directory)
        out = {"results": io.write_csv(d / "results.csv", self.frame),
               "front": io.write_csv(d / "front.csv", self.front)}
        summary = {"kind": self.kind, "method": self.method, "seed": self.seed,
                   "objectives": list(self.objectives), "n_evaluated": self.n_evaluated,
                   "n_distinct": int(len(self.frame)), "n_front": int(self.frame.pareto.sum()),
                   "elapsed_s": self.elapsed_s, "history": self.history, "notes": self.notes}
        out["summary"] = io.write_json(d / "summary.json", summary)
        if plot and len(self.objectives) >= 2:
            out["plot"] = io.save_figure(pareto_figure(self), d / "pareto.png")
        return out


def pareto_figure(result: SearchResult, x: str | None = None, y: str | None = None,
                  color: str | None = None):
    """Scatter of the feasible designs (grey) and the Pareto front (coloured)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    objs = list(result.objectives)
    x = x or ("latency_s" if "latency_s" in objs else objs[0])
    y = y or next(o for o in objs if o != x)
    rest = [o for o in objs if o not in (x, y)]
    fr = result.frame
    feas = fr[fr["feasible"]]
    if len(feas) > 20000:
        feas = feas.sample(20000, random_state=0)
    front = result.front
    scale = lambda c: 1e3 if c.endswith("_s") else 1.0  # noqa: E731
    label = lambda c: c.replace("_s", " (ms)") if c.endswith("_s") else c  # noqa: E731
    fig, ax = plt.subplots(figsize=(7, 4.5))
    ax.scatter(feas[x] * scale(x), feas[y] * scale(y), s=3, c="0.8", label="feasible designs",
               rasterized=True)
    if color is None and rest:
        color = rest[0]
    if color is not None and color in front:
        sc = ax.scatter(front[x] * scale(x), front[y] * scale(y), s=14, c=front[color],
                        cmap="viridis", label="Pareto front")
        fig.colorbar(sc, ax=ax, label=label(color))
    elif "experts" in front:
        for cat, sub in front.groupby("experts"):
            ax.scatter(sub[x] * scale(x), sub[y] * scale(y), s=14, label=f"E x K = {cat}")
    else:
        ax.scatter(front[x] * scale(x), front[y] * scale(y), s=14, label="Pareto front")
    ax.set_xlabel(label(x))
    ax.set_ylabel(label(y))
    ax.set_title(f"{result.kind}: {len(front)} Pareto designs of {len(fr)} evaluated")
    ax.legend(loc="best", fontsize=8)
    ax.grid(alpha=0.3)
    return fig


def _frame(problem: SearchProblem, X: np.ndarray, scores: Mapping[str, np.ndarray]
           ) -> pd.DataFrame:
    if len(X) == 0:
        return pd.DataFrame()
    _, first = np.unique(X, axis=0, return_index=True)
    keep = np.sort(first)
    X = X[keep]
    cols: dict[str, Any] = {}
    for j, v in enumerate(problem.variables):
        cols[v.name] = v.values(X[:, j])
    for k, v in scores.items():
        if k not in cols:
            cols[k] = np.asarray(v)[keep]
    for j, v in enumerate(problem.variables):
        cols[f"idx_{v.name}"] = X[:, j]
    frame = pd.DataFrame(cols)
    F = problem.objective_matrix(frame)
    feas = frame["feasible"].to_numpy(bool)
    par = np.zeros(len(frame), dtype=bool)
    idx = np.flatnonzero(feas)
    par[idx[pareto_mask(F[idx])]] = True
    frame["pareto"] = par
    return frame


# ---- state -----------------------------------------------------------------------------------

def _fingerprint(cfg: Mapping[str, Any]) -> str:
    text = json.dumps(cfg, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _write_state(run_dir: Path | None, state: dict[str, Any]) -> None:
    if run_dir is None:
        return
    with io.atomic_path(run_dir / STATE_FILE) as tmp:
        with open(tmp, "wb") as fh:
            pickle.dump(state, fh, protocol=pickle.HIGHEST_PROTOCOL)


def _read_state(run_dir: Path, fingerprint: str) -> dict[str, Any] | None:
    p = run_dir / STATE_FILE
    if not p.is_file():
        return None
    try:
        with open(p, "rb") as fh:
            st = pickle.load(fh)
    except (OSError, pickle.UnpicklingError, EOFError, AttributeError) as exc:
        raise UserError(f"{p}: cannot read the saved search state ({exc})") from None
    if st.get("version") != _STATE_VERSION:
        raise UserError(f"{p}: saved by another chipdse version; start a new run")
    if st.get("fingerprint") != fingerprint:
        raise UserError(f"{p}: the run was started with different settings (problem, method, "
                        "population, generations or seed); resume with the same ones")
    return st


# ---- methods ---------------------------------------------------------------------------------

def _grid(problem, evaluate, archive, progress, limit) -> list[dict[str, Any]]:
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


def _lhs(problem, evaluate, archive, progress, run_dir, state, fingerprint, seed, samples,
         rounds, stop_after, base_state) -> list[dict[str, Any]]:
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
        _write_state(run_dir, {**base_state, "round": 1, "stable": 0,
                               "rng_state": rng.bit_generator.state, "hv_scale": scale,
                               "archive": archive.state(), "history": history})
        progress(f"lhs round 0: {archive.n} evaluated, front {nf}")
    else:
        rng = np.random.default_rng()
        rng.bit_generator.state = state["rng_state"]
        history, r0, stable = list(state["history"]), state["round"], state["stable"]
        scale = state["hv_scale"]
    for x in archive.merged()[0]:
        seen.add(x.tobytes())
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
            k = x.tobytes()
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
        _write_state(run_dir, {**base_state, "round": r + 1, "stable": stable,
                               "rng_state": rng.bit_generator.state, "hv_scale": scale,
                               "archive": archive.state(), "history": history})
        progress(f"lhs round {r}: {archive.n} evaluated, front {nf}, hv {hv:.4f}")
    return history


def _polish(problem, evaluate, archive, progress) -> int:
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
    seen = {x.tobytes() for x in X}
    C = C[np.array([c.tobytes() not in seen for c in C], dtype=bool)] if len(C) else C
    C = C[problem.valid(C)] if len(C) else C
    if len(C):
        archive.add(C, evaluate(C))
    progress(f"polish: {len(C)} neighbours of {len(front)} front designs evaluated")
    return int(len(C))


class _PymooAdapter:
    """Builds the pymoo problem lazily (pymoo imports are slow)."""

    @staticmethod
    def make(problem: SearchProblem, evaluate: Callable, archive: _Archive):
        from pymoo.core.problem import Problem

        class _P(Problem):
            def __init__(self):
                super().__init__(n_var=problem.n_var, n_obj=len(problem.objectives),
                                 n_ieq_constr=len(problem.constraint_names), xl=0,
                                 xu=problem.sizes - 1, vtype=int)

            def _evaluate(self, x, out, *args, **kwargs):
                X = np.clip(np.rint(x).astype(int), 0, problem.sizes - 1)
                s = evaluate(X)
                archive.add(X, s)
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


def _nsga2(problem, evaluate, archive, progress, run_dir, state, seed, pop_size, generations,
           stop_after, base_state, polish) -> list[dict[str, Any]]:
    from pymoo.algorithms.moo.nsga2 import NSGA2
    from pymoo.operators.crossover.sbx import SBX
    from pymoo.operators.mutation.pm import PM
    from pymoo.operators.repair.rounding import RoundingRepair
    from pymoo.operators.sampling.rnd import IntegerRandomSampling

    pp = _PymooAdapter.make(problem, evaluate, archive)
    if state is None:
        algo = NSGA2(pop_size=pop_size, sampling=IntegerRandomSampling(),
                     crossover=SBX(prob=0.9, eta=15, vtype=float, repair=RoundingRepair()),
                     mutation=PM(eta=20, vtype=float, repair=RoundingRepair()),
                     eliminate_duplicates=True)
        algo.setup(pp, termination=("n_gen", generations), seed=seed, verbose=False)
        history: list[dict[str, Any]] = []
    else:
        algo = state["algorithm"]
        algo.problem = pp
        history = list(state["history"])
    done_now = 0
    while algo.has_next():
        if stop_after is not None and done_now >= stop_after:
            break
        pop = algo.ask()
        algo.evaluator.eval(pp, pop)
        algo.tell(infills=pop)
        done_now += 1
        gen = int(algo.n_gen) - 1  # pymoo counts the generation about to start
        F = algo.pop.get("F")
        G = algo.pop.get("G")
        feas = np.all(G <= 0, axis=1) if G is not None and G.size else np.ones(len(F), bool)
        history.append({"generation": gen, "evaluated": archive.n,
                        "front": int(pareto_mask(F[feas]).sum()) if feas.any() else 0,
                        "feasible_in_population": int(feas.sum())})
        if run_dir is not None:
            algo.problem = None
            _write_state(run_dir, {**base_state, "generation": gen,
                                   "algorithm": algo,
                                   "population": {"X": algo.pop.get("X"), "F": F, "G": G},
                                   "rng_state": algo.random_state.bit_generator.state,
                                   "archive": archive.state(), "history": history})
            algo.problem = pp
        progress(f"nsga2 generation {gen}/{generations}: {archive.n} evaluated, "
                 f"{history[-1]['feasible_in_population']} feasible in population")
    if polish and not algo.has_next():
        history.append({"polish": _polish(problem, evaluate, archive, progress),
                        "evaluated": archive.n})
    return history


def run_search(problem: SearchProblem, method: str = "auto", pop_size: int = 100,
               generations: int = 50, seed: int = 0, run_dir: str | Path | None = None,
               resume: bool = False, scheduler: Any = None,
               progress: Callable[[str], None] | None = None, grid_limit: int = 250_000,
               lhs_samples: int = 2000, lhs_rounds: int = 30, stop_after: int | None = None,
               simulator: Callable | str | None = "auto", recheck_points: int = 10,
               config_extra: Mapping[str, Any] | None = None,
               scheduler_timeout_s: float = 10.0, polish: bool = True) -> SearchResult:
    """Search ``problem`` and return every evaluated design with its Pareto front.

    ``method`` is ``auto`` (``grid`` when the grid has at most ``grid_limit`` designs, else
    ``nsga2``), ``grid``, ``lhs`` or ``nsga2``. ``run_dir`` receives config.json and the
    search state after every generation; with ``resume=True`` a saved state there is
    continued. ``stop_after`` ends the call after that many generations / rounds (as an
    interruption would; the state allows resuming). ``scheduler`` is a Dask scheduler address
    or Client (connection timeout ``scheduler_timeout_s``). ``simulator`` re-checks up to
    ``recheck_points`` front designs at the end (see :func:`recheck_front`; ``"auto"`` uses
    :func:`simulate_request` when the simulator is installed). ``config_extra`` is recorded
    in config.json (not part of the resume check). With ``polish`` a finished NSGA-II run
    also evaluates every one-step neighbour of its final front.
    """
    if method not in METHODS:
        raise UserError(f"unknown method {method!r} (known: {', '.join(METHODS)})")
    if method == "auto":
        method = "grid" if problem.grid_size <= grid_limit else "nsga2"
    if pop_size < 4 or generations < 1:
        raise UserError("population must be >= 4 and generations >= 1")
    say = progress or (lambda msg: None)
    rdir = Path(run_dir) if run_dir is not None else None
    settings = {"method": method, "seed": seed, "pop_size": pop_size,
                "generations": generations, "lhs_samples": lhs_samples,
                "lhs_rounds": lhs_rounds, "grid_limit": grid_limit, "polish": polish}
    cfg = {"problem": problem.config(), "search": settings}
    fp = _fingerprint(cfg)
    state = None
    if rdir is not None:
        if resume:
            state = _read_state(rdir, fp)
            if state is None:
                say(f"no saved state in {rdir}; starting a new run")
        elif (rdir / STATE_FILE).exists():
            raise UserError(f"{rdir} already holds a search state; use --resume to continue "
                            "it or choose another directory")
        io.write_json(rdir / "config.json", io.run_config(
            f"search:{problem.kind}", {**cfg, **dict(config_extra or {})}, seed))
    base = {"version": _STATE_VERSION, "fingerprint": fp, "method": method}
    archive = _Archive.from_state(state["archive"]) if state else _Archive()
    elapsed0 = state.get("elapsed_s", 0.0) if state else 0.0
    t0 = time.perf_counter()
    evaluator = _Evaluator(problem, scheduler, timeout_s=scheduler_timeout_s)
    try:
        if method == "grid":
            history = _grid(problem, evaluator, archive, say, grid_limit)
        elif method == "lhs":
            history = _lhs(problem, evaluator, archive, say, rdir, state, fp, seed, lhs_samples,
                           lhs_rounds, stop_after, base)
        else:
            history = _nsga2(problem, evaluator, archive, say, rdir, state, seed, pop_size,
                             generations, stop_after, base, polish)
    finally:
        evaluator.close()
    X, scores = archive.merged()
    frame = _frame(problem, X, scores)
    result = SearchResult(kind=problem.kind, objectives=tuple(problem.objectives), frame=frame,
                          method=method, seed=seed,
                          elapsed_s=elapsed0 + time.perf_counter() - t0,
                          n_evaluated=archive.n, history=history, config=cfg)
    if "law_in_range" in frame and len(frame) and not frame["law_in_range"].all():
        bad = int((~frame["law_in_range"]).sum())
        result.notes.append(f"{bad} of {len(frame)} designs lie outside the loss law's fitted "
                            "ranges (column law_in_range); their loss is an extrapolation")
    if not frame.empty and not frame["feasible"].any():
        result.notes.append("no evaluated design meets the budgets")
    if simulator == "auto":
        simulator = default_simulator()
        if simulator is None:
            result.notes.append("simulator re-check skipped: chipdse.sim is not available")
        elif problem.workload.batch != 1:
            simulator = None
            result.notes.append("simulator re-check skipped: it replays single requests "
                                "(batch 1)")
    if simulator is not None and (stop_after is None or _finished(history, method, generations,
                                                                  lhs_rounds)):
        recheck_front(result, problem, simulator, recheck_points)
    return result


def _workload(workload: str | Workload, precision: Any) -> tuple[Workload, float | None]:
    import dataclasses

    if isinstance(workload, Workload):
        w, budget = workload, None
    else:
        if workload not in WORKLOADS:
            raise UserError(f"unknown workload {workload!r} (known: {', '.join(WORKLOADS)})")
        w, budget = WORKLOADS[workload]
    if precision is not None:
        w = dataclasses.replace(w, precision=precision)
    return w, budget


def search(chip: Any, workload: str | Workload = "driving", precision: Any = None,
           budgets: Budgets | None = None, law: str = "plas",
           objectives: Sequence[str] = ("loss", "latency_s"), paper_model: bool = False,
           tokens: float = 10e9, **run: Any) -> SearchResult:
    """PLAS on one chip (a preset name, a chip .yaml or a Chip): Pareto-optimal architectures
    of the PLAS grid. ``workload`` is a scenario name (its latency budget applies unless
    ``budgets`` is given) or a :class:`Workload`; ``tokens`` is the training budget of the
    loss law (the ``plas`` law holds at 10B only); ``run`` goes to :func:`run_search`."""
    from chipdse.api import load_chip
    from chipdse.cost import CostOptions

    w, budget = _workload(workload, precision)
    b = budgets or Budgets(latency_s=budget)
    opts = CostOptions.paper() if paper_model else CostOptions()
    return run_search(PlasProblem(load_chip(chip), w, b, law=law, objectives=objectives,
                                  options=opts, tokens=tokens), **run)


def codesign(model: Any = None, workload: str | Workload = "driving", precision: Any = None,
             budgets: Budgets | None = None, law: str = "plas",
             objectives: Sequence[str] | None = None, template: Any = None,
             paper_model: bool = False, tokens: float = 10e9, **run: Any) -> SearchResult:
    """Joint co-design of chip (the :mod:`microarch.template`) and architecture (the PLAS grid);
    with ``model`` (a preset name, a file or a ModelArch) chip sizing for that model.
    Defaults: objectives (loss, latency, area) or, for sizing, (latency, energy, area).
    ``tokens`` is the loss law's training budget; ``run`` goes to :func:`run_search`."""
    from chipdse.api import load_model
    from chipdse.cost import CostOptions

    w, budget = _workload(workload, precision)
    b = budgets or Budgets(latency_s=budget)
    opts = CostOptions.paper() if paper_model else CostOptions()
    if model is not None:
        p: SearchProblem = ChipSizingProblem(
            load_model(model), w, b, objectives=objectives or ("latency_s", "energy_j",
                                                                "area_mm2"),
            template=template, options=opts, law=law, tokens=tokens)
    else:
        p = CoDesignProblem(w, b, law=law, objectives=objectives or ("loss", "latency_s",
                                                                     "area_mm2"),
                            template=template, options=opts, tokens=tokens)
    return run_search(p, **run)


def _finished(history, method, generations, rounds) -> bool:
    if method == "nsga2":
        gens = [h["generation"] for h in history if "generation" in h]
        return bool(gens) and gens[-1] >= generations
    return True


# ---- reporting helpers ---------------------------------------------------------------------

def front_summary(front: pd.DataFrame) -> dict[str, Any]:
    """Shares of the front's designs by kind: MoE, top-1 routing, expert counts, depth and FFN
    ratio (the paper's Sec. 5 observations)."""
    if front.empty:
        return {"n": 0}
    moe = front["n_experts"] > 1
    out = {
        "n": int(len(front)),
        "share_moe": float(moe.mean()),
        "share_top1_of_moe": float((front.loc[moe, "top_k"] == 1).mean()) if moe.any()
        else float("nan"),
        "share_e8_of_moe": float((front.loc[moe, "n_experts"] == 8).mean()) if moe.any()
        else float("nan"),
        "share_e16_of_moe": float((front.loc[moe, "n_experts"] == 16).mean()) if moe.any()
        else float("nan"),
        "share_layers_lt_20": float((front["n_layers"] < 20).mean()),
        "median_layers": float(front["n_layers"].median()),
        "median_d_model": float(front["d_model"].median()),
        "share_r_lt_4": float((front["ffn_ratio"] < 4).mean()),
        "share_r_lt_1": float((front["ffn_ratio"] < 1).mean()),
        "median_r": float(front["ffn_ratio"].median()),
    }
    return out


def matched_latency_gain(frame: pd.DataFrame, reference_latency_s: float,
                         reference_loss: float, metric: str = "total_s") -> dict[str, Any]:
    """The lowest-loss design no slower than a reference model, and its predicted perplexity
    reduction ``1 - exp(loss) / exp(reference_loss)`` (the paper's 19.42 % comparison)."""
    ok = frame[(frame[metric] <= reference_latency_s) & frame["feasible"]]
    if ok.empty:
        return {"found": False}
    best = ok.loc[ok["loss"].idxmin()]
    ratio = 1.0 - float(np.exp(best["loss"] - reference_loss))
    return {"found": True, "reference_latency_s": float(reference_latency_s),
            "reference_loss": float(reference_loss), "best_loss": float(best["loss"]),
            "best_latency_s": float(best[metric]), "perplexity_reduction": ratio,
            "best": {k: (v.item() if hasattr(v, "item") else v) for k, v in best.items()}}


def score_model(chip: Any, model: Any, workload: Workload | None = None,
                law: str = "plas", tokens: float = 10e9,
                options: Any = None) -> dict[str, float]:
    """Latencies (as the searches score them: decode at the mean context) and predicted loss of
    one existing model on one chip, e.g. the Qwen2.5-0.5B reference of the paper's 19.42 %."""
    from chipdse.accuracy import arch_inputs, check_tokens, get_law
    from chipdse.analytic import evaluate
    from chipdse.cost import CostOptions

    check_tokens(tokens, law)
    w = workload or Workload()
    ev = evaluate(model, chip, w.precision, w.batch, w.prompt, w.generate,
                  options or CostOptions(), decode="mean", with_bounds=False)
    m = model
    x = arch_inputs(m.n_layers, m.d_model, m.n_heads, m.n_kv_heads, m.head_dim, m.ffn_ratio,
                    m.n_experts, m.top_k, m.vocab_size, m.tied_embeddings, tokens)
    law_ = get_law(law)
    return {"prefill_s": float(ev.prefill_s), "decode_s": float(ev.decode.time_s),
            "total_s": float(ev.total_s), "loss": float(law_.predict(x)),
            "law_in_range": bool(law_.in_range(x))}


def dominated_share(front_a: pd.DataFrame, front_b: pd.DataFrame,
                    objectives: Sequence[str]) -> float:
    """Share of ``front_b``'s designs dominated (no worse in every objective, better in one) by
    some design of ``front_a``."""
    A = front_a[list(objectives)].to_numpy(float)
    B = front_b[list(objectives)].to_numpy(float)
    if len(B) == 0:
        return float("nan")
    if len(A) == 0:
        return 0.0
    dom = [np.any(np.all(A <= b, axis=1) & np.any(A < b, axis=1)) for b in B]
    return float(np.mean(dom))


def design_objects(problem: SearchProblem, row: Mapping[str, Any]):
    """(Chip, ModelArch) of one results row, for the simulator or reports."""
    from microarch.template import VARIABLES as CHIP_VARS
    from workloads.model import ModelArch

    model = chip = None
    if problem.kind in ("plas", "codesign"):
        heads = max(1, int(row["d_model"]) // 128)
        gqa = max(1, heads // int(row["n_kv_heads"]))
        model = ModelArch.from_plas(int(row["n_layers"]), int(row["d_model"]), gqa,
                                    float(row["ffn_ratio"]), int(row["n_experts"]),
                                    int(row["top_k"]))
    else:
        model = problem.model
    if problem.kind == "plas":
        chip = problem.chip
    else:
        chip = problem.template.build_chip(**{k: _py(row[k]) for k in CHIP_VARS})
    return chip, model


def _py(v: Any) -> Any:
    return v.item() if hasattr(v, "item") else v


def simulate_request(chip: Any, model: Any, workload: Workload) -> float:
    """Latency (s) of one request of ``workload`` (batch 1) run alone through the
    discrete-event simulator (:mod:`chipdse.sim`)."""
    from chipdse.sim import simulate
    from workloads.trace import Language, Stream, Trace, VLARequest

    req = VLARequest(language=Language(model, action_tokens=workload.generate,
                                       prompt_tokens=workload.prompt))
    trace = Trace("single-request", (Stream("request", req, rate_hz=1.0, deadline_s=1e3),),
                  duration_s=1.0)
    res = simulate(chip, None, trace, workload.precision)
    return float(res.requests["latency_s"].iloc[0])


def default_simulator() -> Callable | None:
    """:func:`simulate_request` when :mod:`chipdse.sim` can be imported, else None."""
    try:
        import chipdse.sim  # noqa: F401
    except ImportError:
        return None
    return simulate_request


def recheck_front(result: SearchResult, problem: SearchProblem, simulator: Callable,
                  max_points: int = 10) -> None:
    """Re-score up to ``max_points`` front designs (spread along the first objective) with
    ``simulator(chip, model, workload) -> total latency (s)``; adds ``sim_total_s`` and
    ``sim_rel_error`` columns to ``result.frame`` and a note."""
    front = result.front
    if front.empty:
        return
    pick = front.iloc[np.unique(np.linspace(0, len(front) - 1, min(max_points, len(front)))
                                .round().astype(int))]
    sims, errs = [], []
    for idx, row in pick.iterrows():
        chip, model = design_objects(problem, row)
        t = float(simulator(chip, model, problem.workload))
        result.frame.loc[idx, "sim_total_s"] = t
        result.frame.loc[idx, "sim_rel_error"] = t / float(row["total_s"]) - 1.0
        sims.append(t)
        errs.append(abs(t / float(row["total_s"]) - 1.0))
    result.notes.append(f"simulator re-check of {len(sims)} front designs: max |relative "
                        f"difference| to the analytic total latency {max(errs):.2e}")
