"""ffn-ratio in quick mode: files, each best design within its budget and no worse than the
r = 4 one, the loss-vs-r envelope consistent with the table, and the verdict rule."""

import numpy as np
import pandas as pd
import pytest

from studies import ffn_ratio
from studies.base import write_result


@pytest.fixture(scope="module")
def done(tmp_path_factory):
    out = tmp_path_factory.mktemp("ffn_ratio")
    r = ffn_ratio.run(out, quick=True, seed=0)
    write_result(r, out, quick=True, seed=0)
    return r, pd.read_csv(out / "results.csv"), pd.read_csv(out / "loss_vs_r.csv"), out


def test_files_and_cases(done):
    _, t, _, out = done
    for f in ("results.csv", "loss_vs_r.csv", "ffn_ratio.png", "verdict.md", "config.json"):
        assert (out / f).is_file()
    assert len(t) == len(ffn_ratio.CHIPS_QUICK) * len(ffn_ratio.BUDGETS)


def test_best_designs(done):
    _, t, env, _ = done
    fe = t[t.n_feasible > 0]
    assert (fe.best_latency_ms <= fe.budget_ms + 1e-9).all()
    has4 = fe[fe.n_feasible_r4 > 0]
    assert (has4.r4_loss >= has4.best_loss - 1e-12).all()
    assert (has4.r4_r.between(*ffn_ratio.R4)).all()
    assert np.allclose(has4.r4_penalty_nats, has4.r4_loss - has4.best_loss)
    # A looser budget never gives a worse best loss (same chip, precision, metric).
    for _, g in fe[fe.budget_metric == "total"].groupby(["chip", "precision"]):
        assert g.sort_values("budget_ms").best_loss.is_monotonic_decreasing
    # The envelope's minimum over r is the best design's loss, at its r.
    for row in fe.itertuples():
        e = env[(env.chip == row.chip) & (env.precision == row.precision)
                & (env.budget_metric == row.budget_metric) & (env.budget_ms == row.budget_ms)]
        assert e.min_loss.min() == pytest.approx(row.best_loss)
        assert e.loc[e.min_loss.idxmin(), "ffn_ratio"] == pytest.approx(row.best_r)


def test_verdict_rule(done):
    r, t, _, _ = done
    fe = t[t.n_feasible > 0]
    lt4 = fe[fe.best_r < 4]
    share = len(lt4) / len(fe)
    med = lt4.r4_penalty_nats.fillna(np.inf).median()
    expected = False if share <= 0.5 else (True if med >= 0.01 else None)
    assert r.supports == expected
