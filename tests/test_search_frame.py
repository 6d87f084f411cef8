"""The results frame of a search: one row per distinct design, first evaluation kept, Pareto
flags; built from integer keys and unconsolidated columns (fast at a million designs)."""

from __future__ import annotations

import numpy as np
import pytest

from chipdse.search import Budgets, PlasProblem, Workload
from chipdse.search.pareto import pareto_mask
from chipdse.search.result import _first_of_each, results_frame


def _reference_first(X: np.ndarray) -> np.ndarray:
    _, first = np.unique(X, axis=0, return_index=True)
    return np.sort(first)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_first_of_each_is_numpys_row_unique(seed):
    rng = np.random.default_rng(seed)
    sizes = np.array([3, 1, 5, 2, 7])
    X = np.column_stack([rng.integers(0, s, 500) for s in sizes])
    want = _reference_first(X)
    assert np.array_equal(_first_of_each(X, sizes), want)  # integer keys
    assert np.array_equal(_first_of_each(X, None), want)   # rows compared as they are
    # Out-of-range indices or a radix product beyond int64 fall back to comparing rows.
    assert np.array_equal(_first_of_each(X, sizes - 1), want)
    big = np.full(sizes.size, 2**20)
    assert np.array_equal(_first_of_each(X, big), want)


@pytest.fixture(scope="module")
def problem(orin):
    return PlasProblem(orin, Workload(), Budgets(latency_s=0.1))


def test_results_frame_keeps_first_evaluations(problem):
    rng = np.random.default_rng(3)
    X = np.column_stack([rng.integers(0, s, 3000) for s in problem.sizes])
    X = X[problem.valid(X)]
    X = np.concatenate([X, X[:200]])  # the same designs again, with other (fake) scores
    s = problem.score(X[:-200])
    scores = {k: np.concatenate([np.asarray(v), np.asarray(v)[:200]]) for k, v in s.items()}
    scores["loss"] = scores["loss"].copy()
    scores["loss"][-200:] += 1.0
    f = results_frame(problem, X, scores)
    keep = _reference_first(X)
    assert len(f) == keep.size
    assert np.array_equal(f["loss"].to_numpy(), scores["loss"][keep])  # first evaluation
    idx = np.column_stack([f[f"idx_{v.name}"].to_numpy() for v in problem.variables])
    assert np.array_equal(idx, X[keep])
    for v in problem.variables:
        assert list(f[v.name]) == list(v.values(X[keep][:, list(problem.variables).index(v)]))
    F = problem.objective_matrix(f)
    feas = f["feasible"].to_numpy(bool)
    want = np.zeros(len(f), bool)
    want[np.flatnonzero(feas)[pareto_mask(F[feas])]] = True
    assert np.array_equal(f["pareto"].to_numpy(), want)
    names = [v.name for v in problem.variables]
    assert list(f.columns[:len(names)]) == names and f.columns[-1] == "pareto"


def test_results_frame_without_duplicates_takes_every_row(problem):
    X = np.unique(np.column_stack([np.arange(40) % s for s in problem.sizes]), axis=0)
    X = X[problem.valid(X)]
    s = problem.score(X)
    f = results_frame(problem, X, s)
    assert len(f) == len(X)
    assert np.array_equal(f["latency_s"].to_numpy(), np.asarray(s["latency_s"]))
    assert results_frame(problem, X[:0], s).empty
