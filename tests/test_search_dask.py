"""Scoring on Dask: task partitioning, bit-identical scores, small batches kept in the client,
and the worker allocator fix (glibc's mmap / trim thresholds under Dask's environment)."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

from chipdse.search import Budgets, PlasProblem, Workload, run_search
from chipdse.search.run import _MIN_TASK_POINTS, _TASK_POINTS, _Evaluator, _parts
from chipdse.search.space import PLAS_SPACE, Variable


@pytest.fixture(scope="module")
def plas(orin):
    return PlasProblem(orin, Workload(), Budgets(latency_s=0.1))


def designs(problem, n: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    X = np.column_stack([rng.integers(0, s, n) for s in problem.sizes])
    return X[problem.valid(X)]


@pytest.mark.parametrize("n, workers, parts", [
    (10, 4, 1),                       # too small to split
    (_MIN_TASK_POINTS * 2 - 1, 4, 1),
    (_MIN_TASK_POINTS * 2, 4, 2),
    (_MIN_TASK_POINTS * 10, 4, 4),    # one part per worker
    (_TASK_POINTS * 2, 2, 2),
    (_TASK_POINTS * 5 + 7, 2, 6),     # blocks of _TASK_POINTS beyond the workers' share
])
def test_parts_cover_the_batch_in_order(n, workers, parts):
    X = np.arange(n * 2).reshape(n, 2)
    got = _parts(X, workers)
    assert len(got) == parts
    assert np.array_equal(np.concatenate(got), X)
    if n > _TASK_POINTS * workers:
        assert max(len(p) for p in got) == _TASK_POINTS


def _env(**extra) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_")}
    env.update(extra)
    return env


def _python(code: str, **env) -> str:
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                       env=_env(**env))
    assert r.returncode == 0, r.stderr
    return r.stdout.strip()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's allocator")
def test_malloc_is_tuned_only_where_the_environment_pinned_it():
    code = "from chipdse.search.run import _tune_malloc; print(_tune_malloc(), _tune_malloc())"
    assert _python(code) == "False False"  # an ordinary process: glibc's dynamic rule
    assert _python(code, MALLOC_TRIM_THRESHOLD_="65536") == "True True"  # a Dask worker
    # A threshold the environment chose itself is left alone.
    assert _python(code, MALLOC_TRIM_THRESHOLD_="65536",
                   MALLOC_MMAP_THRESHOLD_="131072") == "False False"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's allocator")
def test_tuned_worker_scores_without_refaulting_its_memory():
    """Under Dask's MALLOC_TRIM_THRESHOLD_ each 16,384-design scoring call faulted its
    temporaries in afresh; tuned, a repeated call reuses them."""
    code = (
        "import resource, numpy as np\n"
        "from chipdse.search import Budgets, PlasProblem, Workload\n"
        "from chipdse.search.run import _score_chunk\n"
        "from microarch.loader import load_chip\n"
        "p = PlasProblem(load_chip('jetson-agx-orin-64gb'), Workload(), Budgets())\n"
        "rng = np.random.default_rng(0)\n"
        "X = np.column_stack([rng.integers(0, s, 30000) for s in p.sizes])\n"
        "X = X[p.valid(X)][:16384]\n"
        "_score_chunk(p, X)\n"
        "f = resource.getrusage(resource.RUSAGE_SELF).ru_minflt\n"
        "_score_chunk(p, X)\n"
        "print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - f)\n")
    pinned = int(_python(code, MALLOC_TRIM_THRESHOLD_="65536",
                         MALLOC_MMAP_THRESHOLD_="131072"))  # the worker as it was
    tuned = int(_python(code, MALLOC_TRIM_THRESHOLD_="65536"))
    assert pinned > 5000  # every temporary mapped and faulted in again
    assert tuned * 20 < pinned


@pytest.fixture(scope="module")
def cluster():
    distributed = pytest.importorskip("dask.distributed")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False,
                                  protocol="tcp://", host="127.0.0.1",
                                  dashboard_address=None) as c:
        yield c


def test_remote_scores_are_bit_identical(plas, cluster):
    X = designs(plas, 400)
    serial = plas.score(X)
    ev = _Evaluator(plas, cluster.scheduler_address, chunks=3, min_remote=1)
    try:
        remote = ev(X)
        assert (ev.remote_batches, ev.local_batches) == (1, 0)
        auto = _Evaluator(plas, ev.client, min_remote=1)(X)  # one part per worker
    finally:
        ev.close()
    for got in (remote, auto):
        assert set(got) == set(serial)
        for k, v in serial.items():
            a, b = np.asarray(v), np.asarray(got[k])
            assert a.dtype == b.dtype and np.array_equal(a, b, equal_nan=a.dtype.kind == "f"), k


def test_small_batches_stay_in_the_client_with_a_note(orin, cluster):
    space = (Variable("n_layers", (4, 8, 12)), Variable("d_model", (768, 1024)), PLAS_SPACE[2],
             Variable("kv_heads", ("1", "2")), Variable("ffn_ratio", (0.5, 1.0, 2.0)))
    p = PlasProblem(orin, Workload(), Budgets(latency_s=0.08), space=space)
    serial = run_search(p, method="nsga2", pop_size=12, generations=3, seed=4, simulator=None)
    remote = run_search(p, method="nsga2", pop_size=12, generations=3, seed=4, simulator=None,
                        scheduler=cluster.scheduler_address)
    assert remote.frame.equals(serial.frame)
    notes = [n for n in remote.notes if "not on the Dask cluster" in n]
    assert len(notes) == 1 and f"fewer than {_MIN_TASK_POINTS:,} designs" in notes[0]
    assert not any("Dask" in n for n in serial.notes)
