"""ffn-ratio in quick mode: files; each optimum within its budget, on the bounds it is flagged
on and in the law's range as stated; looser budgets never lose accuracy; dense, MoE and all
designs consistent; the loss-vs-r envelope, the law what-if and the tornado consistent with
the table; and every verdict word follows the rule from its own draws."""

import json

import numpy as np
import pandas as pd
import pytest

from chipdse import api
from studies import ffn_ratio as study
from studies.base import AGREE, write_result


@pytest.fixture(scope="module")
def done(tmp_path_factory):
    out = tmp_path_factory.mktemp("ffn_ratio")
    r = study.run(out, quick=True, seed=0)
    write_result(r, out, quick=True, seed=0)
    return r, pd.read_csv(out / "results.csv"), out


def test_files_and_cases(done):
    r, t, out = done
    for f in ("results.csv", "loss_vs_r.csv", "law_exponent.csv", "gemm_shape.csv",
              "tornado.csv", "tornado_all.csv", "verdicts.csv", "verdict.md", "config.json",
              "ffn_ratio.png", "law_exponent.png", "gemm_shape.png", "tornado.png"):
        assert (out / f).is_file(), f
    assert len(t) == len(study.CHIPS_QUICK) * len(study.BUDGETS)
    assert set(t.precision) == {"fp16"}
    assert (t.draws == study.samples_for(True)).all()
    cfg = json.loads((out / "config.json").read_text())["inputs"]
    assert cfg["window_holds"] is True  # no draw moved latencies outside the candidate window


def test_optima_within_budget_and_consistent(done):
    _, t, _ = done
    for cls in study.CLASSES:
        fe = t[t[f"{cls}_feasible"].astype(bool)]
        assert (fe[f"{cls}_latency_ms"] <= fe.budget_ms * (1 + 1e-9)).all()
        assert (fe[f"{cls}_r4_penalty_nats"] >= -1e-12).all()
        fits4 = fe[fe[f"{cls}_r4_fits"].astype(bool)]
        assert fits4[f"{cls}_r4_r"].between(*study.R4).all()
        assert (fe[f"{cls}_r_lt_4"].astype(bool) == (fe[f"{cls}_r"] < 4)).all()
        assert (fe[f"{cls}_r4_costly"].astype(bool)
                == (fe[f"{cls}_r4_penalty_nats"] >= study.MATERIAL_NATS)).all()
        # Draw bands bracket a share and are ordered.
        assert (fe[f"{cls}_r_p05"] <= fe[f"{cls}_r_p95"]).all()
        assert fe[f"{cls}_r_lt_4_share"].between(0, 1).all()
    # "all" is the better of dense and MoE, and MoE / dense are what they say.
    both = t[t.all_feasible.astype(bool)]
    best = np.fmin(both.dense_loss, both.moe_loss)
    assert np.allclose(both.all_loss, best)
    assert (t.loc[t.dense_feasible.astype(bool), "dense_experts"] == "1x1").all()
    assert (t.loc[t.moe_feasible.astype(bool), "moe_experts"] != "1x1").all()


def test_looser_budgets_never_lose_accuracy(done):
    _, t, _ = done
    for cls in study.CLASSES:
        for _, g in t[t.budget_metric == "total"].groupby("chip"):
            g = g.sort_values("budget_ms")
            feas = g[f"{cls}_feasible"].astype(bool).to_numpy()
            assert np.all(np.diff(feas.astype(int)) >= 0)  # once something fits, it keeps fitting
            loss = g.loc[feas, f"{cls}_loss"].to_numpy()
            assert np.all(np.diff(loss) <= 1e-12)


def test_flagged_bounds_and_law_range(done):
    _, t, _ = done
    space = {v.name: v.options for v in api.PlasProblem(
        api.load_chip(study.CHIPS_QUICK[0])).variables}
    law = api.get_law("plas")
    for cls in study.CLASSES:
        fe = t[t[f"{cls}_feasible"].astype(bool)]
        floor = fe[f"{cls}_r_on_floor"].astype(bool)
        assert (fe.loc[floor, f"{cls}_r"] == min(space["ffn_ratio"])).all()
        assert (fe.loc[~floor, f"{cls}_r"] > min(space["ffn_ratio"])).all()
        for row in fe.itertuples():
            flags = getattr(row, f"{cls}_on_bound")
            flags = "" if not isinstance(flags, str) else flags
            r, layers, d = (getattr(row, f"{cls}_{k}") for k in ("r", "layers", "d_model"))
            for name, value, opts in (("r", r, space["ffn_ratio"]),
                                      ("layers", layers, space["n_layers"]),
                                      ("d", d, space["d_model"])):
                on = value in (min(opts), max(opts))
                assert (f"{name}={value:g} (grid" in flags) == on, (name, value, flags)
            e, k = (int(x) for x in getattr(row, f"{cls}_experts").split("x"))
            ok = law.in_range(n_layers=layers, d_model=d, rho=k / e, tokens=10e9)
            assert bool(getattr(row, f"{cls}_law_in_range")) == bool(ok)


def test_envelope_matches_optima(done):
    _, t, out = done
    env = pd.read_csv(out / "loss_vs_r.csv")
    for row in t.itertuples():
        for cls in ("dense", "moe"):
            if not getattr(row, f"{cls}_feasible"):
                continue
            e = env[(env.chip == row.chip) & (env.budget_metric == row.budget_metric)
                    & (env.budget_ms == row.budget_ms) & (env.kind == cls)]
            assert e.min_loss.min() == pytest.approx(getattr(row, f"{cls}_loss"))
            assert e.loc[e.min_loss.idxmin(), "ffn_ratio"] == pytest.approx(
                getattr(row, f"{cls}_r"))


def _nominal_metric(t, key, cls):
    fe = t[t[f"{cls}_feasible"].astype(bool)]
    if key == study.BELOW4.key:
        return float((fe[f"{cls}_r"] < 4).mean())
    return float((fe[f"{cls}_r4_penalty_nats"] >= study.MATERIAL_NATS).mean())


def test_verdicts_follow_rule(done):
    r, t, out = done
    v = pd.read_csv(out / "verdicts.csv")
    assert len(v) == 2 * len(study.CLASSES) == len(r.verdicts)
    labels = {lab: k for k, lab in study.CLASS_LABELS.items()}
    for row, verdict in zip(v.itertuples(), r.verdicts):
        samples = np.asarray(verdict.samples, float)
        assert len(samples) == study.samples_for(True)
        share = float(np.mean(samples >= row.threshold))
        assert row.share_holding == pytest.approx(share)
        word = ("supported" if share >= AGREE else "not supported" if share <= 1 - AGREE
                else "undetermined")
        assert row.verdict == word
        assert row.nominal == pytest.approx(_nominal_metric(t, row.claim, labels[row.scope]))
        assert row.p05 <= row.p95
    md = (out / "verdict.md").read_text()
    assert r.verdict_word in md
    assert "partly follows from the law" in r.answer


def test_law_sweep_reproduces_table(done):
    _, t, out = done
    sweep = pd.read_csv(out / "law_exponent.csv")
    fitted = sweep[sweep.fitted.astype(bool)]
    assert set(fitted.r_exponent) == {0.17}
    for cls in study.CLASSES:
        row = fitted[fitted.kind == cls].iloc[0]
        assert row.share_r_lt_4 == pytest.approx(_nominal_metric(t, study.BELOW4.key, cls))


def test_tornado_and_shape_tables(done):
    r, t, out = done
    tor = pd.read_csv(out / "tornado_all.csv")
    for verdict in r.verdicts:
        part = tor[(tor.claim == verdict.claim.key) & (tor.scope == verdict.scope)]
        assert len(part) and np.allclose(part.base, verdict.nominal)
        assert np.allclose(part.swing, (part.metric_high - part.metric_low).abs())
    shape = pd.read_csv(out / "gemm_shape.csv")
    # The shape model only ever slows a GEMM down, and every optimum's factor is >= 1.
    assert (shape.factor_p05 >= 1 - 1e-9).all()
    fe = t[t.all_feasible.astype(bool)]
    assert (fe.all_shape_factor >= 1 - 1e-9).all()
