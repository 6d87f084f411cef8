"""Loss laws: published values, validity flags, perplexity, and fitting recovers known
coefficients from synthetic training runs."""

import numpy as np
import pandas as pd
import pytest

from chipdse.errors import UserError
from chipdse.search.laws import (
    LAWS,
    arch_inputs,
    check_tokens,
    fit_law,
    fit_law_csv,
    get_law,
    loss_from_perplexity,
    perplexity,
    r_squared,
)


def test_plas_sanity_value_qwen_shape():
    # docs/reference/plas.md: a Qwen2.5-0.5B-like shape (l=24, d=896, r=5.43, gqa=7, rho=1)
    # gives L ~ 3.48.
    law = LAWS["plas"]
    loss = law.predict(n_layers=24, d_model=896, d_kv=896 / 7, ffn_ratio=5.43, rho=1.0)
    assert float(loss) == pytest.approx(3.48, abs=0.01)


def test_plas_terms_by_hand():
    law = LAWS["plas"]
    l, d, dm, r, rho = 8.0, 2048.0, 256.0, 0.5, 1 / 16
    hand = (9.96 / l**1.63 + 0.031 * rho**1.09 / (r**0.17 * d**-0.33)
            + 500 / (r**0.17 * d**0.97) + 0.20 / dm**0.05 + 2.53)
    assert float(law.predict(n_layers=l, d_model=d, d_kv=dm, ffn_ratio=r, rho=rho)) == \
        pytest.approx(hand, rel=1e-12)


def test_plas_monotone_in_depth_width_and_sparsity():
    law = LAWS["plas"]
    base = dict(n_layers=12, d_model=1536, d_kv=384, ffn_ratio=1.0, rho=0.5)
    f = lambda **kw: float(law.predict({**base, **kw}))
    assert f(n_layers=16) < f(n_layers=12)          # deeper is better
    assert f(rho=1 / 16) < f(rho=1.0)               # sparser MoE is better at equal r
    assert f(d_kv=1536) < f(d_kv=128)               # more KV width is better


def test_chinchilla_reference_point():
    # Chinchilla itself: 70B parameters, 1.4T tokens -> E + A/N^a + B/D^b.
    got = float(LAWS["chinchilla"].predict(params=70e9, tokens=1.4e12))
    hand = 1.69 + 406.4 / 70e9**0.34 + 410.7 / 1.4e12**0.28
    assert got == pytest.approx(hand, rel=1e-12)
    assert got == pytest.approx(1.94, abs=0.01)


def test_moe_granular_more_granular_is_better():
    law = LAWS["moe-granular"]
    a = law.predict(params=1e9, tokens=1e10, granularity=1)
    b = law.predict(params=1e9, tokens=1e10, granularity=8)
    assert b < a


def test_validity_flags_and_messages():
    law = LAWS["plas"]
    x = dict(n_layers=np.array([8, 40]), d_model=np.array([1024, 1024]),
             d_kv=np.array([256, 256]), ffn_ratio=np.array([1.0, 1.0]),
             rho=np.array([1.0, 1.0]))
    assert law.in_range(x).tolist() == [True, False]
    problems = law.range_problems(x)
    assert len(problems) == 1 and "n_layers" in problems[0] and "[4, 32]" in problems[0]
    assert np.all(np.isfinite(law.predict(x)))       # still computed, only flagged
    assert not law.in_range(n_layers=8, d_model=1024, d_kv=2048, ffn_ratio=1, rho=1)
    assert not law.in_range(n_layers=8, d_model=1024, d_kv=256, ffn_ratio=1, rho=1 / 32)


def test_perplexity_roundtrip():
    loss = np.array([2.5, 3.0, 3.9])
    assert np.allclose(perplexity(loss), np.exp(loss))
    assert np.allclose(loss_from_perplexity(perplexity(loss)), loss)
    assert LAWS["plas"].perplexity(n_layers=24, d_model=896, d_kv=128, ffn_ratio=5.43,
                                   rho=1.0) == pytest.approx(np.exp(3.475), rel=1e-3)


def test_arch_inputs_qwen_param_count():
    x = arch_inputs(24, 896, 14, 2, 64, 4864 / 896)
    # Qwen2.5-0.5B has 494M parameters (0.49B on its model card), tied embeddings.
    assert float(x["params"]) == pytest.approx(494e6, rel=0.01)
    assert float(x["d_kv"]) == 128 and float(x["rho"]) == 1.0
    moe = arch_inputs(8, 2048, 16, 2, 128, 0.5, n_experts=16, top_k=2)
    assert float(moe["rho"]) == pytest.approx(1 / 8)
    assert float(moe["granularity"]) == 2


def _synthetic_plas(coeffs, n=300, seed=1, noise=0.0):
    rng = np.random.default_rng(seed)
    d = rng.choice([768, 1024, 1536, 2048, 2560, 3072], n).astype(float)
    frame = pd.DataFrame({
        "l": rng.choice(np.arange(4, 33, 4), n).astype(float),
        "d": d,
        "d_m": d / rng.choice([1, 2, 4, 8, 16], n),
        "r": rng.uniform(0.25, 6.0, n),
        "rho": rng.choice([1.0, 1 / 8, 2 / 8, 1 / 16, 2 / 16], n),
    })
    law = LAWS["plas"].with_coefficients(coeffs)
    y = law.predict(n_layers=frame.l, d_model=frame.d, d_kv=frame.d_m, ffn_ratio=frame.r,
                    rho=frame.rho)
    frame["loss"] = y + noise * rng.standard_normal(n)
    return frame


def test_fit_recovers_known_plas_coefficients():
    pub = dict(LAWS["plas"].coefficients)
    rng = np.random.default_rng(7)
    truth = {k: v * rng.uniform(0.85, 1.15) for k, v in pub.items()}
    frame = _synthetic_plas(truth)
    res = fit_law(frame, "plas", holdout=0.2, seed=3)   # starts from the published values
    assert res.converged
    assert res.r2_train > 0.99999 and res.r2_holdout > 0.99999
    for k, v in truth.items():
        assert res.coefficients[k] == pytest.approx(v, rel=2e-3), k
    assert res.n_train + res.n_holdout == len(frame) and res.n_holdout == 60


def test_fit_with_noise_reports_sensible_r2():
    frame = _synthetic_plas(dict(LAWS["plas"].coefficients), n=400, noise=0.02, seed=5)
    res = fit_law(frame, "plas", holdout=0.25, seed=0)
    assert 0.8 < res.r2_train < 1.0 and 0.7 < res.r2_holdout < 1.0
    assert res.rmse_train == pytest.approx(0.02, rel=0.25)


def test_fit_chinchilla_from_csv_with_perplexity(tmp_path):
    truth = dict(E=1.8, A=450.0, B=1500.0, alpha=0.33, beta=0.35)
    rng = np.random.default_rng(0)
    n_p = 10 ** rng.uniform(8, 10, 200)
    n_t = 10 ** rng.uniform(9.7, 11.5, 200)
    loss = LAWS["chinchilla"].with_coefficients(truth).predict(params=n_p, tokens=n_t)
    path = tmp_path / "runs.csv"
    pd.DataFrame({"N": n_p, "D": n_t, "perplexity": np.exp(loss)}).to_csv(path, index=False)
    res = fit_law_csv(path, "chinchilla", holdout=0.2, seed=0)
    for k, v in truth.items():
        assert res.coefficients[k] == pytest.approx(v, rel=1e-3), k
    assert res.to_dict()["law"] == "chinchilla-fit"


def test_fit_bad_inputs_name_file_and_column(tmp_path):
    p = tmp_path / "runs.csv"
    pd.DataFrame({"l": [4, 8], "d": [768, 1024], "loss": [3.5, 3.4]}).to_csv(p, index=False)
    with pytest.raises(UserError, match=r"runs.csv: missing column 'd_kv'"):
        fit_law_csv(p, "plas")
    pd.DataFrame({"N": [1e8, "x"], "D": [1e10, 1e10], "loss": [3, 3]}).to_csv(p, index=False)
    with pytest.raises(UserError, match=r"runs.csv: column 'N' row 2"):
        fit_law_csv(p, "chinchilla")
    with pytest.raises(UserError, match="no such file"):
        fit_law_csv(tmp_path / "nope.csv")
    with pytest.raises(UserError, match="unknown loss law"):
        get_law("kaplan")
    with pytest.raises(UserError, match="cannot fit"):
        fit_law(pd.DataFrame({"N": [1e8], "D": [1e10], "loss": [3.0]}), "chinchilla")


def test_r_squared_definition():
    y = np.array([1.0, 2.0, 3.0])
    assert r_squared(y, y) == 1.0
    assert r_squared(y, np.full(3, 2.0)) == 0.0


def test_plas_law_is_valid_at_its_10b_token_budget_only():
    law = LAWS["plas"]
    x = {k: np.array([v, v, v]) for k, v in
         dict(n_layers=8, d_model=1024, d_kv=256, ffn_ratio=1.0, rho=1.0).items()}
    x["tokens"] = np.array([10e9, 1e12, 5e9])
    assert law.in_range(x).tolist() == [True, False, False]
    probs = law.range_problems(x)
    assert len(probs) == 1 and "tokens" in probs[0] and "2 point(s)" in probs[0]
    # The law has no token term: the prediction does not move with tokens.
    assert np.ptp(law.predict(x)) == 0.0
    inputs = arch_inputs(8, 1024, 8, 2, 128, 1.0, tokens=1e11)
    assert not law.in_range(inputs) and LAWS["chinchilla"].in_range(inputs)


@pytest.mark.parametrize("tokens", [0.0, -1.0, np.nan, np.inf, [1e10, 0.0]])
def test_token_budgets_must_be_finite_and_positive(tokens):
    with pytest.raises(UserError, match="training tokens must be a finite number > 0"):
        check_tokens(tokens)
    with pytest.raises(UserError, match="training tokens must be a finite number > 0"):
        arch_inputs(8, 1024, 8, 2, 128, 1.0, tokens=tokens)


def test_check_tokens_by_law():
    check_tokens(10e9, "plas")
    check_tokens(1e12, "chinchilla")       # token-dependent: outside its range is only flagged
    check_tokens(1e3, "moe-granular")
    with pytest.raises(UserError, match="'plas' has no token term and holds at 10B"):
        check_tokens(1e12, "plas")
    with pytest.raises(UserError, match="'plas' has no token term"):
        check_tokens(9e9, LAWS["plas"].with_coefficients({"E": 2.6}))
