"""Running a search: one front door (:func:`run_search`) over the methods, with evaluation
batches scored serially or on an existing Dask cluster, state saved as it goes, and the front
re-checked in the simulator at the end.

Everything is seeded and deterministic. Long searches write their state to the run directory
after every generation (:mod:`chipdse.search.state`); ``resume=True`` continues an interrupted
run and ends with exactly what an uninterrupted run gives. Evaluation batches may go to a Dask
cluster (``scheduler="tcp://HOST:PORT"``; optional dependency ``chipdse[dask]``); serial is the
default.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from chipdse import io
from chipdse.errors import UserError
from chipdse.search import methods
from chipdse.search.recheck import recheck_front, simulate_request
from chipdse.search.result import SearchResult, results_frame
from chipdse.search.state import Archive, concat_scores, fingerprint, has_state, read_state
from microarch.excerpt import excerpt

__all__ = ["run_search"]


def _score_chunk(problem, X: np.ndarray) -> dict[str, np.ndarray]:
    return problem.score(X)


SCHEDULER_SCHEMES = ("tcp", "tls", "inproc")  # the transports chipdse is tested on


def _check_scheduler_address(address: str) -> None:
    """Raise :class:`UserError` unless ``address`` parses as a Dask scheduler address. Checked
    before a Client is made: a Client refused on its address hangs on closing."""
    from distributed.comm.addressing import parse_address, parse_host_port
    from distributed.comm.registry import get_backend

    try:
        scheme, loc = parse_address(address)
        if scheme not in SCHEDULER_SCHEMES:
            raise ValueError(f"scheme {scheme!r} is not one of {', '.join(SCHEDULER_SCHEMES)}")
        get_backend(scheme)
        if scheme != "inproc":
            parse_host_port(loc)
    except ValueError as exc:
        raise UserError(f"{excerpt(address)} is not a Dask scheduler address (expected "
                        f"tcp://HOST:PORT): {exc}") from None


class _Evaluator:
    """Scores index matrices serially, or in batches on an existing Dask cluster."""

    def __init__(self, problem, scheduler: Any = None, chunks: int | None = None,
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
        return concat_scores(self.client.gather(futures))

    def close(self) -> None:
        if self.client is not None and self._own:
            self.client.close()
        self.client = None


def run_search(problem, method: str = "auto", pop_size: int = 100,
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
    ``recheck_points`` front designs at the end (see :func:`~chipdse.search.recheck.recheck_front`;
    ``"auto"`` uses :func:`~chipdse.search.recheck.simulate_request`). ``config_extra`` is recorded
    in config.json (not part of the resume check). With ``polish`` a finished NSGA-II run
    also evaluates every one-step neighbour of its final front.
    """
    if method not in methods.METHODS:
        raise UserError(f"unknown method {excerpt(method)} (known: {', '.join(methods.METHODS)})")
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
    fp = fingerprint(cfg)
    state, archive = None, Archive()
    if rdir is not None:
        io.remove_orphans(rdir)
        if resume:
            saved = read_state(rdir, fp, problem.sizes)
            if saved is None:
                say(f"no saved state in {rdir}; starting a new run")
            else:
                state, archive = saved
        elif has_state(rdir):
            raise UserError(f"{rdir} already holds a search state; use --resume to continue "
                            "it or choose another directory")
        io.write_json(rdir / "config.json", io.run_config(
            f"search:{problem.kind}", {**cfg, **dict(config_extra or {})}, seed))
    base = {"fingerprint": fp, "method": method}
    elapsed0 = state.get("elapsed_s", 0.0) if state else 0.0
    t0 = time.perf_counter()
    evaluator = _Evaluator(problem, scheduler, timeout_s=scheduler_timeout_s)
    try:
        if method == "grid":
            history = methods.grid(problem, evaluator, archive, say, grid_limit)
        elif method == "lhs":
            history = methods.lhs(problem, evaluator, archive, say, rdir, state, seed,
                                  lhs_samples, lhs_rounds, stop_after, base)
        else:
            history = methods.nsga2(problem, evaluator, archive, say, rdir, state, seed,
                                    pop_size, generations, stop_after, base, polish)
    finally:
        evaluator.close()
    X, scores = archive.merged()
    frame = results_frame(problem, X, scores)
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
        simulator = simulate_request
        if problem.workload.batch != 1:
            simulator = None
            result.notes.append("simulator re-check skipped: it replays single requests "
                                "(batch 1)")
    done = stop_after is None or methods.finished(history, method, generations, lhs_rounds)
    if simulator is not None and done:
        recheck_front(result, problem, simulator, recheck_points)
    return result
