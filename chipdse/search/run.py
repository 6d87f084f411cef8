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

import os
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


# glibc's own ceiling for its dynamic mmap threshold on 64-bit (DEFAULT_MMAP_THRESHOLD_MAX),
# and the trim threshold its dynamic rule pairs with it (twice the mmap threshold).
_MMAP_THRESHOLD_BYTES = 32 * 2**20
_TRIM_THRESHOLD_BYTES = 2 * _MMAP_THRESHOLD_BYTES
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3  # mallopt parameter numbers (glibc malloc.h)
_TASK_POINTS = 8 * 16384  # designs per Dask task once there are enough to keep every worker busy
# Fewest designs worth a task of their own: a scoring call costs ~20 ms whatever its size
# (one pass over the operator list), so splitting a smaller batch only adds round trips; and
# a batch smaller than that is scored in the client, as a round trip to a worker (10-30 ms)
# costs more than scoring it there.
_MIN_TASK_POINTS = 4096
_malloc_tuned: list[bool] = []


def _tune_malloc() -> bool:
    """Set glibc's mmap and trim thresholds in a Dask worker to what glibc's own dynamic
    rule reaches in an ordinary process (32 MiB and 64 MiB).

    Dask's nanny starts workers with ``MALLOC_TRIM_THRESHOLD_=65536``; setting any such
    variable switches off glibc's dynamic thresholds. The mmap threshold then stays at
    128 KiB, exactly the size of the evaluator's 16,384-point float64 temporaries, so each
    becomes an mmap / munmap pair, and the heap is trimmed whenever 64 KiB lie free at its
    top: every scoring call faults its memory in afresh (~100,000 page faults per 20,000
    designs against ~10 in the client) and a worker ran 1.3-1.7x slower than the same scoring
    in the client. Done once per process, only where the environment switched the dynamic
    thresholds off without choosing the mmap threshold itself, and only under glibc; the
    worker then keeps up to 64 MiB of freed memory for reuse instead of returning it at once.
    Returns whether the thresholds were set."""
    if _malloc_tuned:
        return _malloc_tuned[0]
    done = False
    env = os.environ
    if "MALLOC_MMAP_THRESHOLD_" not in env and any(
            k in env for k in ("MALLOC_TRIM_THRESHOLD_", "MALLOC_TOP_PAD_", "MALLOC_MMAP_MAX_")):
        import ctypes
        import platform

        if platform.libc_ver()[0] == "glibc":
            try:
                mallopt = ctypes.CDLL("libc.so.6").mallopt
                done = bool(mallopt(_M_MMAP_THRESHOLD, _MMAP_THRESHOLD_BYTES)) and bool(
                    mallopt(_M_TRIM_THRESHOLD, _TRIM_THRESHOLD_BYTES))
            except (OSError, AttributeError):
                done = False
    _malloc_tuned.append(done)
    return done


def _score_chunk(problem, X: np.ndarray) -> dict[str, np.ndarray]:
    """One Dask task: the scores of ``X`` (with the worker's allocator tuned first)."""
    _tune_malloc()
    return problem.score(X)


def _parts(X: np.ndarray, workers: int) -> list[np.ndarray]:
    """Task inputs: one part per worker (fewer for a batch too small to split), or blocks
    of ``_TASK_POINTS`` designs when there are more than the workers need, so that a slow
    worker does not hold the rest up."""
    n = len(X)
    if n <= _TASK_POINTS * workers:
        return np.array_split(X, max(1, min(workers, n // _MIN_TASK_POINTS)))
    return [X[i:i + _TASK_POINTS] for i in range(0, n, _TASK_POINTS)]


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
    """Scores index matrices serially, or in batches on an existing Dask cluster (batches of
    fewer than ``min_remote`` designs in the client: :data:`_MIN_TASK_POINTS`)."""

    def __init__(self, problem, scheduler: Any = None, chunks: int | None = None,
                 timeout_s: float = 10.0, min_remote: int = _MIN_TASK_POINTS):
        self.problem = problem
        self.client = None
        self._remote = None
        self.chunks = chunks
        self.min_remote = min_remote
        self.local_batches = 0  # batches a cluster was given but the client scored
        self.remote_batches = 0
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
        if self.client is None or len(X) < max(1, self.min_remote):
            if self.client is not None and len(X):
                self.local_batches += 1
            return self.problem.score(X)
        self.remote_batches += 1
        if self.chunks:
            parts = np.array_split(X, min(self.chunks, len(X)))
        else:
            parts = _parts(X, max(1, len(self.client.scheduler_info().get("workers", {}))))
        from dask.distributed import as_completed

        # The parts go to the workers as data, not inside the task graph; each result is
        # fetched as soon as its task ends, while the workers score the next parts.
        inputs = self.client.scatter(parts) if len(parts) > 1 else parts
        futures = self.client.map(_score_chunk, [self._remote] * len(parts), inputs,
                                  pure=False)
        order = {f.key: i for i, f in enumerate(futures)}
        results: list[Any] = [None] * len(futures)
        with self.client.as_current():  # as_completed looks for the current client
            for f in as_completed(futures):
                results[order[f.key]] = f.result()
        return concat_scores(results)

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
    if evaluator.local_batches:
        notes = [f"{evaluator.local_batches} evaluation batches of fewer than "
                 f"{evaluator.min_remote:,} designs were scored here, not on the Dask "
                 f"cluster (a round trip costs more than scoring them; "
                 f"{evaluator.remote_batches} went to the cluster)"]
    else:
        notes = []
    X, scores = archive.merged()
    frame = results_frame(problem, X, scores)
    result = SearchResult(kind=problem.kind, objectives=tuple(problem.objectives), frame=frame,
                          method=method, seed=seed,
                          elapsed_s=elapsed0 + time.perf_counter() - t0,
                          n_evaluated=archive.n, history=history, config=cfg)
    result.notes.extend(notes)
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
