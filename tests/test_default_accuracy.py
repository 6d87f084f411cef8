"""The default family efficiencies against published measurements (tests/data/README.md).

For the batch-1 TensorRT Edge-LLM rows of Qwen3 dense models and Qwen3-30B-A3B on Jetson AGX
Orin 64GB and AGX Thor, ``estimate`` with the presets as shipped must land within 20 % of every
measured decode tokens/s (mean error at most 5 %) and within 35 % of every measured prefill time
(mean at most 15 %). The decode is one step at the measured KV length (2048 tokens); the prefill
is the 2048-token prompt. The Thor family is fitted to batch 1 and 8 together: Thor's INT4 AWQ
prefill runs ~1.5x slower per token at batch 8 than at batch 1, which no term of the cost model
explains, so the fit over-predicts the batch-1 W4A16 prefill times by 16-32 % (docs/fidelity.md).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from chipdse import api
from chipdse.calibrate.measurements import load_measurements
from microarch.loader import load_chip

DATA = Path(__file__).parent / "data" / "calibration.csv"
ROWS = load_measurements(DATA).rows

def _estimate(m):
    return api.estimate(m.chip, m.model_ref, m.precision, batch=m.batch,
                        prompt=m.input_tokens, generate=1)


def _cases():
    out = []
    for m in ROWS:
        for phase in ("decode", "prefill"):
            out.append(pytest.param(m, phase,
                                    id=f"row{m.row}-{m.chip}-{m.model}-{m.precision_label}-"
                                       f"{phase}".replace(" ", "")))
    return out


def test_rows_are_the_issue_rows():
    assert len(ROWS) == 14
    assert {m.chip for m in ROWS} == {"jetson-agx-orin-64gb", "jetson-agx-thor"}
    assert all(m.batch == 1 and m.input_tokens == 2048 and m.decode_context == 2048
               for m in ROWS)
    assert all(m.model.startswith("Qwen3-") for m in ROWS)


@pytest.mark.parametrize("m, phase", _cases())
def test_default_estimate_within_target(m, phase):
    est = _estimate(m)
    if phase == "decode":
        err = est.decode_tokens_per_s / m.decode_tok_s - 1.0
        assert abs(err) <= 0.20, f"decode {est.decode_tokens_per_s:.1f} vs {m.decode_tok_s}"
    else:
        err = est.prefill_s / m.prefill_s - 1.0
        assert abs(err) <= 0.35, f"prefill {est.prefill_s * 1e3:.1f} ms vs {m.ttft_ms} ms"


def test_mean_absolute_percentage_errors():
    dec, pre = [], []
    for m in ROWS:
        est = _estimate(m)
        dec.append(abs(est.decode_tokens_per_s / m.decode_tok_s - 1.0))
        pre.append(abs(est.prefill_s / m.prefill_s - 1.0))
    assert np.mean(dec) <= 0.05
    assert np.mean(pre) <= 0.15


@pytest.mark.parametrize("sibling", ["jetson-orin-nx-16gb", "jetson-orin-nano-8gb",
                                     "jetson-agx-orin-32gb", "drive-orin-x"])
def test_orin_terms_carry_to_siblings_unchanged(sibling):
    agx, sib = load_chip("jetson-agx-orin-64gb"), load_chip(sibling)
    assert sib.family == agx.family == "orin"
    assert sib.efficiency == agx.efficiency
    assert sib.dispatch == agx.dispatch
    assert sib.sparse.per_expert_overhead_s == agx.sparse.per_expert_overhead_s


@pytest.mark.parametrize("sibling", ["jetson-t4000", "drive-thor-u"])
def test_thor_terms_carry_to_siblings_unchanged(sibling):
    thor, sib = load_chip("jetson-agx-thor"), load_chip(sibling)
    assert sib.family == thor.family == "thor"
    assert sib.efficiency == thor.efficiency
    assert sib.dispatch == thor.dispatch


def test_carried_terms_scale_with_the_sibling_hardware():
    """Same terms, different silicon: the Orin NX (half the DRAM bandwidth of AGX Orin) decodes
    a bandwidth-bound model at between 0.45 and 0.55 of AGX Orin's rate."""
    m = next(r for r in ROWS if r.chip == "jetson-agx-orin-64gb" and r.model == "Qwen3-8B")
    agx = api.estimate("jetson-agx-orin-64gb", m.model_ref, m.precision, 1, 2048, 1)
    nx = api.estimate("jetson-orin-nx-16gb", m.model_ref, m.precision, 1, 2048, 1)
    assert 0.45 < nx.decode_tokens_per_s / agx.decode_tokens_per_s < 0.55
