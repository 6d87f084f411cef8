"""plas-orin in quick mode: files written, every verdict's word from its draws and threshold,
the fronts non-dominated and within the shared budget, the engine what-if, the matched-latency
gain from its own numbers, the tornado's mechanism, and the machinery (vectorised draws, the
candidate screen, the front rule) against the plain API."""

import json

import numpy as np
import pandas as pd
import pytest

from chipdse import api
from studies import plas_orin
from studies.base import AGREE, CLAIMS, MOE_BUDGET_S, MOE_DOMINANCE_SHARE, Uncertain, write_result


@pytest.fixture(scope="module")
def done(tmp_path_factory):
    out = tmp_path_factory.mktemp("plas_orin")
    r = plas_orin.run(out, quick=True, seed=0)
    write_result(r, out, quick=True, seed=0)
    return r, out


def _verdicts(out):
    return pd.read_csv(out / "verdicts.csv")


def test_files_and_tables(done):
    r, out = done
    for f in ("results.csv", "fronts.csv", "trends.csv", "reference.csv", "draws.csv",
              "screen.csv", "verdicts.csv", "tornado.csv", "fronts.png", "claims.png",
              "tornado.png", "verdict.md", "config.json"):
        assert (out / f).is_file(), f
    t = pd.read_csv(out / "results.csv")
    # 3 cost models (calibrated, calibrated + engine, paper roofline) x 2 precisions x 3 kinds.
    assert len(t) == 18
    assert set(t.latency) == {"prefill", "decode", "total"}
    cfg = json.loads((out / "config.json").read_text())["inputs"]
    assert cfg["quick"] is True and cfg["draws"] == 40
    text = (out / "verdict.md").read_text()
    assert r.verdict_word in text
    for v in r.verdicts:
        assert v.line() in text


def test_one_claim_one_threshold_one_budget():
    moe = CLAIMS["moe-dominance"]
    assert plas_orin.MOE is moe and moe.threshold == MOE_DOMINANCE_SHARE
    assert plas_orin.BUDGET_S == MOE_BUDGET_S
    for c in (plas_orin.TOP1, plas_orin.SHALLOW, plas_orin.R_BELOW_4, plas_orin.GAIN,
              plas_orin.ENGINE):
        assert CLAIMS[c.key] is c and c.source


def test_verdict_words_follow_the_draws(done):
    r, out = done
    v = _verdicts(out)
    assert len(v) == len(r.verdicts) == 15
    for row, verdict in zip(v.itertuples(), r.verdicts):
        s = np.asarray(verdict.samples, float)
        assert len(s) == 40
        held = np.mean(verdict.claim.holds(s[np.isfinite(s)]))
        word = ("supported" if held >= AGREE else "not supported" if held <= 1 - AGREE
                else "undetermined")
        assert row.verdict == word == verdict.word
        assert row.share_holding == pytest.approx(held)
        assert row.p05 <= row.nominal + 0.05 and row.nominal - 0.05 <= row.p95
    # The samples are the per-draw columns of draws.csv.
    d = pd.read_csv(out / "draws.csv")
    by = {(x.claim.key, x.scope): x for x in r.verdicts}
    for p in plas_orin.PRECISIONS:
        for k in plas_orin.KINDS:
            s = by[("moe-dominance", f"{p}, {k} front")].samples
            assert np.allclose(d[f"moe_{k}_{p}"], s, equal_nan=True)
        s = by[("moe-engine-gain", f"{p}, total front")].samples
        assert np.allclose(d[f"engine_saving_{p}"], s, equal_nan=True)
    # The MoE share verdicts match the bands in results.csv.
    t = pd.read_csv(out / "results.csv").set_index(["cost_model", "precision", "latency"])
    for p in plas_orin.PRECISIONS:
        for k in plas_orin.KINDS:
            x = by[("moe-dominance", f"{p}, {k} front")]
            assert t.loc[("chipdse", p, k), "share_moe"] == pytest.approx(x.nominal)
            assert t.loc[("chipdse", p, k), "share_moe_holding"] == pytest.approx(
                x.share_holding)


def test_fronts_within_budget_and_non_dominated(done):
    _, out = done
    f = pd.read_csv(out / "fronts.csv")
    assert (f.total_s <= plas_orin.BUDGET_S + 1e-12).all()
    for (_, _, kind), g in f.groupby(["cost_model", "precision", "latency"]):
        g = g.sort_values(f"{kind}_s")
        # Along a 2-objective front, loss strictly falls as latency grows.
        assert (np.diff(g["loss"].to_numpy()) < 0).all()
        assert api.pareto_mask(g[["loss", f"{kind}_s"]].to_numpy(float)).all()
    # The paper's ideal roofline is never slower than the calibrated model at the fast end.
    t = pd.read_csv(out / "results.csv").set_index(["cost_model", "precision", "latency"])
    for p in ("fp16", "int8"):
        for k in ("prefill", "decode", "total"):
            assert (t.loc[("paper-roofline", p, k), "fastest_ms"]
                    <= t.loc[("chipdse", p, k), "fastest_ms"])
    # The nominal shares in results.csv are the fronts'.
    for (m, p, k), g in f.groupby(["cost_model", "precision", "latency"]):
        assert t.loc[(m, p, k), "share_moe"] == pytest.approx(g.is_moe.mean())
        assert t.loc[(m, p, k), "n"] == len(g)


def test_engine_raises_the_moe_share(done):
    r, out = done
    t = pd.read_csv(out / "results.csv").set_index(["cost_model", "precision", "latency"])
    d = pd.read_csv(out / "draws.csv")
    for p in plas_orin.PRECISIONS:
        for k in plas_orin.KINDS:
            on, off = (t.loc[(m, p, k), "share_moe"] for m in ("chipdse+native-moe", "chipdse"))
            assert on >= off
        assert np.median(d[f"moe_on_total_{p}"]) >= np.median(d[f"moe_total_{p}"])
        # The engine only removes launches: it never slows a design down.
        assert (d[f"engine_saving_{p}"].dropna() >= 0).all()
    # Its verdicts: the share with the engine, and the saving against the claimed bar.
    scopes = [v.scope for v in r.verdicts if v.claim is plas_orin.ENGINE]
    assert scopes == ["fp16, total front", "int8, total front"]


def test_engine_variant_changes_only_moe_designs():
    chip = api.load_chip(plas_orin.CHIP)
    w = plas_orin._workload(api.make_precision("fp16", "fp16", "fp16"))
    off = api.PlasProblem(chip, w, api.Budgets())
    on = api.PlasProblem(plas_orin.engine_variant(chip), w, api.Budgets())
    X = plas_orin.grid_indices(off)[::97]
    a, b = plas_orin.score_grid(off, X), plas_orin.score_grid(on, X)
    dense = ~a.is_moe.to_numpy()
    assert np.array_equal(a.total_s[dense], b.total_s[dense])
    assert (b.total_s[~dense] < a.total_s[~dense]).all()


def test_reference_gain(done):
    _, out = done
    ref = pd.read_csv(out / "reference.csv")
    assert ref.found.all()
    assert (ref.best_total_ms <= ref.ref_total_ms + 1e-9).all()
    # Perplexity reduction is 1 - exp(best - reference) and positive (the reference is a
    # design of similar size the grid can beat at equal latency).
    assert np.allclose(ref.perplexity_reduction, 1 - np.exp(ref.best_loss - ref.ref_loss))
    assert (ref.perplexity_reduction > 0).all()
    # INT8 makes the same reference architecture faster on both cost models.
    r = ref.set_index(["cost_model", "precision"]).ref_total_ms
    assert r["chipdse", "int8"] < r["chipdse", "fp16"]
    assert r["paper-roofline", "int8"] < r["paper-roofline", "fp16"]
    cal = ref[ref.cost_model == "chipdse"]
    assert (cal.perplexity_reduction_p05 <= cal.perplexity_reduction + 1e-9).all()
    assert (cal.perplexity_reduction <= cal.perplexity_reduction_p95 + 1e-9).all()


def test_tornado_names_the_mechanism(done):
    r, out = done
    t = pd.read_csv(out / "tornado.csv")
    head = next(v for v in r.verdicts if v.scope == "fp16, total front")
    assert t.base.iloc[0] == pytest.approx(head.nominal)
    top2 = set(t.number.head(2))
    assert top2 == {"family:orin.sparse.per_expert_overhead", "family:orin.dispatch.per_operator"}
    # Fewer launches per expert, more MoE on the front.
    pe = t.set_index("number").loc["family:orin.sparse.per_expert_overhead"]
    assert pe.metric_low > pe.metric_high
    assert head.swing.startswith("orin.sparse.per_expert_overhead")


def test_screen_check_recorded(done):
    _, out = done
    s = pd.read_csv(out / "screen.csv")
    assert s.probe_exact.all()
    assert (s.candidates < s.designs / 5).all()


def test_candidate_fronts_equal_the_whole_grids_on_a_draw():
    """The screen and the vectorised draws against the plain API: on a drawn chip, the fronts
    of the screened candidates are those of the whole grid scored one design set at a time."""
    u = Uncertain([plas_orin.CHIP], 3, seed=5)
    w = plas_orin._workload(api.make_precision("int8", "int8", "fp16"))
    prob = api.PlasProblem(u.chips[plas_orin.CHIP], w, api.Budgets())
    X = plas_orin.grid_indices(prob)
    nom = plas_orin.score_grid(prob, X)
    cand = np.flatnonzero(plas_orin.screen(nom, ("prefill_s", "decode_s"),
                                           plas_orin.SCREEN_MARGIN, 1.25 * plas_orin.BUDGET_S))
    f = u.draws.time_factor[plas_orin.CHIP]
    drawn = plas_orin.score_draws(prob, X[cand], u.draws.chips[plas_orin.CHIP], f)
    for i in range(3):
        chip = u.draws.chips[plas_orin.CHIP][i]
        whole = plas_orin.score_grid(api.PlasProblem(chip, w, api.Budgets()), X)
        pre = whole["prefill_s"].to_numpy() * f["prefill"][i]
        dec = whole["decode_s"].to_numpy() * f["decode"][i]
        assert np.allclose(drawn["prefill_s"][i], pre[cand], rtol=1e-12)
        assert np.allclose(drawn["decode_s"][i], dec[cand], rtol=1e-12)
        ok = whole["feasible"].to_numpy() & (pre + dec <= plas_orin.BUDGET_S)
        for t_all, t_c in ((pre, drawn["prefill_s"][i]), (dec, drawn["decode_s"][i]),
                           (pre + dec, drawn["total_s"][i])):
            ix = np.flatnonzero(ok)
            exact = ix[api.pareto_mask(np.column_stack([whole["loss"].to_numpy()[ix],
                                                         t_all[ix]]))]
            ok_c = drawn["feasible"][i] & (drawn["total_s"][i] <= plas_orin.BUDGET_S)
            mine = cand[plas_orin.front_mask(nom.loss.to_numpy()[cand], t_c, ok_c)]
            assert set(exact) == set(mine)


def test_reference_on_draws_is_score_model():
    """The reference's per-draw latency (vectorised) is score_model's on each drawn chip."""
    u = Uncertain([plas_orin.CHIP], 3, seed=2)
    w = plas_orin._workload(api.make_precision("int8", "int8", "fp16"))
    s = api.estimate_samples(u.chips[plas_orin.CHIP], api.load_model(plas_orin.REFERENCE),
                             w.precision, w.batch, w.prompt, w.generate, u.draws)["total_s"]
    f = u.draws.time_factor[plas_orin.CHIP]
    for i, chip in enumerate(u.draws.chips[plas_orin.CHIP]):
        r = api.score_model(chip, plas_orin.REFERENCE, w)
        assert s[i] == pytest.approx(r["prefill_s"] * f["prefill"][i]
                                     + r["decode_s"] * f["decode"][i], rel=1e-9)


def test_score_grid_is_problem_score():
    """Scoring one expert shape at a time changes nothing but the speed."""
    chip = api.load_chip(plas_orin.CHIP)
    w = plas_orin._workload(api.make_precision("fp16", "fp16", "fp16"))
    prob = api.PlasProblem(chip, w, api.Budgets())
    X = plas_orin.grid_indices(prob)
    X = X[np.random.default_rng(0).choice(len(X), 1500, replace=False)]
    a, b = plas_orin.score_grid(prob, X), prob.score(X)
    for k in ("loss", "prefill_s", "decode_s", "total_s", "memory_bytes", "feasible", "is_moe"):
        assert np.array_equal(a[k].to_numpy(), np.asarray(b[k])), k


def test_front_mask_is_pareto_mask():
    rng = np.random.default_rng(1)
    for _ in range(100):
        n = int(rng.integers(1, 50))
        loss = rng.integers(0, 6, n).astype(float)
        t = rng.integers(0, 6, (3, n)).astype(float)
        ok = rng.random((3, n)) > 0.2
        m = plas_orin.front_mask(loss, t, ok)
        for i in range(3):
            ix = np.flatnonzero(ok[i])
            ref = np.zeros(n, dtype=bool)
            if len(ix):
                ref[ix[api.pareto_mask(np.column_stack([loss[ix], t[i, ix]]))]] = True
            assert np.array_equal(m[i], ref)
