"""Fitting efficiency terms: recovery of known values from data the cost model generated,
identifiability, and carrying a calibration to a sibling chip."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
import yaml

from chipdse import api
from chipdse.calibrate import (
    PRIOR,
    apply_terms,
    build_targets,
    calibrate,
    calibrated_chip_yaml,
    candidate_terms,
    family_block_yaml,
    fit_terms,
    leave_one_model_out,
    predict,
    term_value,
)
from chipdse.calibrate.measurements import COLUMNS, load_measurements
from chipdse.errors import UserError
from microarch.loader import chip_from_dict, load_chip

TRUTH = {
    "efficiency.matrix.fp16": 0.45,
    "efficiency.matrix.nvfp4": 0.62,
    "efficiency.dequant_ops_per_element": 6.0,
    "efficiency.vector": 0.35,
    "efficiency.dram": 0.88,
    "efficiency.gemm_k_overhead": 40.0,
    "dispatch.per_operator": 3.5e-6,
    "sparse.per_expert_overhead": 1.5e-6,
}
WEAK = {"efficiency.gemm_k_overhead"}  # a few % of any GEMM: recovered, but leans on the prior
LABELS = {"INT4 AWQ": ("int4", "fp16", "fp16", "fp16"),
          "NVFP4": ("nvfp4", "nvfp4", "fp16", "fp16"),
          "FP16": ("fp16", "fp16", "fp16", "fp16")}


ENGINE = "TensorRT Edge-LLM 0.10 (synthetic: rows the cost model generated)"


def synthetic_csv(path: Path, chip: str, truth: dict, models, labels, batches=(1, 8),
                  prompt: int = 1024, decode: bool = True, prefill: bool = True) -> Path:
    """Rows 'measured' by the cost model itself on ``chip`` with the ``truth`` terms."""
    c = apply_terms(load_chip(chip), truth)
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(COLUMNS)
        for model in models:
            for label in labels:
                for b in batches:
                    est = api.estimate(c, model, api.make_precision(*LABELS[label]), b, prompt,
                                       1)
                    w.writerow([chip, ENGINE, model, label, b, prompt, "",
                                f"{est.decode_tokens_per_s:.9g}" if decode else "",
                                "", f"{est.prefill_s * 1e3:.9g}" if prefill else "",
                                "synthetic"])
    return path


@pytest.fixture(scope="module")
def thor_rows(tmp_path_factory):
    p = tmp_path_factory.mktemp("syn") / "thor.csv"
    synthetic_csv(p, "jetson-agx-thor", TRUTH, ["qwen3-0.6b", "qwen3-4b", "qwen3-30b-a3b"],
                  ["INT4 AWQ", "NVFP4", "FP16"])
    return load_measurements(p).rows


def test_fit_recovers_known_terms(thor_rows):
    targets = build_targets(thor_rows)
    fit = fit_terms(targets, prior_weight=1e-4)
    assert fit.success
    for name, true in TRUTH.items():
        assert fit.values[name] == pytest.approx(true, rel=0.02), name
        assert fit.term(name).status == ("weak" if name in WEAK else "fitted"), name
    assert fit.mape("decode") < 1e-3 and fit.mape("prefill") < 1e-3
    # Thor's W4A16 GEMMs are bound by the dequantiser on the vector units, never by the
    # weight-only main loop; 1k-token prompts leave FMHA under 1 % of any row: both are held
    # at the prior, not invented.
    for name in ("efficiency.weight_only_gemm", "efficiency.attention"):
        rep = fit.term(name)
        assert rep.status == "not identified" and rep.value == PRIOR[name], name


def test_default_prior_barely_moves_well_identified_terms(thor_rows):
    fit = fit_terms(build_targets(thor_rows))  # default prior weight 0.1
    for name in ("efficiency.dram", "efficiency.matrix.nvfp4", "dispatch.per_operator"):
        assert fit.values[name] == pytest.approx(TRUTH[name], rel=0.05), name


def test_decode_rows_cannot_identify_prefill_efficiency(thor_rows):
    targets = build_targets([m for m in thor_rows if m.batch == 1], phases=("decode",))
    fit = fit_terms(targets, prior_weight=1e-3)
    for name in ("efficiency.matrix.nvfp4", "efficiency.weight_only_gemm"):
        rep = fit.term(name)
        assert rep.status == "not identified"
        assert rep.value == PRIOR["efficiency.matrix.{fmt}" if "matrix" in name else name]
        assert name not in fit.values
    assert fit.values["efficiency.dram"] == pytest.approx(TRUTH["efficiency.dram"], rel=0.03)


def test_only_weight_only_gemms_fix_only_the_product(tmp_path):
    # Orin runs INT4 AWQ GEMMs on the tensor cores with the dequantiser hidden in the main loop.
    truth = {"efficiency.matrix.fp16": 0.45, "efficiency.weight_only_gemm": 0.7}
    p = synthetic_csv(tmp_path / "w4.csv", "jetson-agx-orin-64gb", truth,
                      ["qwen3-4b", "qwen3-8b"], ["INT4 AWQ"], batches=(1,))
    fit = fit_terms(build_targets(load_measurements(p).rows), prior_weight=1e-3)
    pair = {"efficiency.matrix.fp16", "efficiency.weight_only_gemm"}
    assert any({a, b} == pair and r < -0.9 for a, b, r in fit.correlated)
    product = fit.values["efficiency.matrix.fp16"] * fit.values["efficiency.weight_only_gemm"]
    assert product == pytest.approx(0.45 * 0.7, rel=0.03)


def test_candidate_terms_follow_the_rows(thor_rows):
    dense = build_targets([m for m in thor_rows if m.model_ref != "qwen3-30b-a3b"])
    names = candidate_terms(dense)
    assert "sparse.per_expert_overhead" not in names
    assert {"efficiency.matrix.fp16", "efficiency.matrix.nvfp4", "efficiency.weight_only_gemm",
            "efficiency.dequant_ops_per_element", "efficiency.gemm_k_overhead",
            "efficiency.attention", "efficiency.dram"} <= set(names)
    orin = candidate_terms(build_targets(load_measurements(
        Path(__file__).parent / "data" / "calibration.csv").rows[:4]))
    assert "efficiency.matrix.nvfp4" not in orin  # Ampere runs INT4 AWQ GEMMs in FP16


def test_leave_one_model_out_is_exact_on_model_generated_data(tmp_path):
    # Thor's matrix efficiency is a published GEMM measurement that every fold holds: data
    # generated with it is predicted exactly by folds that fit the other terms.
    truth = {**TRUTH, "efficiency.matrix.fp16": 0.7, "efficiency.matrix.nvfp4": 0.7}
    p = synthetic_csv(tmp_path / "thor.csv", "jetson-agx-thor", truth,
                      ["qwen3-0.6b", "qwen3-4b", "qwen3-30b-a3b"], ["INT4 AWQ", "NVFP4"],
                      batches=(1,))
    loo = leave_one_model_out(build_targets(load_measurements(p).rows), prior_weight=1e-3)
    assert "efficiency.matrix.nvfp4=0.7" in loo.fold_terms.iloc[0]
    assert set(loo.held_out) == {"qwen3-0.6b", "qwen3-4b", "qwen3-30b-a3b"}
    dense = loo[loo.held_out != "qwen3-30b-a3b"]
    assert np.max(np.abs(dense.error)) < 0.01
    # Without a MoE model in the training rows the per-expert overhead stays at the prior:
    # the held-out MoE decode is predicted with it, not with a value fitted to itself.
    moe = loo[loo.held_out == "qwen3-30b-a3b"]
    assert "sparse.per_expert_overhead=4us" in moe.fold_terms.iloc[0]


def test_apply_terms_and_term_value_round_trip():
    c = load_chip("jetson-agx-orin-64gb")
    d = apply_terms(c, TRUTH)
    for name, v in TRUTH.items():
        assert term_value(d, name) == pytest.approx(v)
    assert d.matrix == c.matrix and d.memory == c.memory  # only the terms change
    with pytest.raises(UserError, match="unknown calibration term"):
        apply_terms(c, {"efficiency.bogus": 0.5})


def test_predict_matches_estimate():
    rows = load_measurements(Path(__file__).parent / "data" / "calibration.csv").rows[:2]
    t = build_targets(rows)
    pred = predict(t, [{}, {"efficiency.dram": 0.4}])
    est = api.estimate(rows[0].chip, rows[0].model_ref, rows[0].precision, 1, 2048, 1)
    assert pred[0, 0] == pytest.approx(1.0 / est.decode_tokens_per_s, rel=1e-9)
    assert pred[1, 0] == pytest.approx(est.prefill_s, rel=1e-9)
    assert pred[0, 1] > pred[0, 0] * 1.5  # halving DRAM efficiency slows the decode step


def test_calibrated_chip_file_loads_and_carries_to_siblings(tmp_path):
    p = synthetic_csv(tmp_path / "orin.csv", "jetson-agx-orin-64gb",
                      {"efficiency.dram": 0.7, "dispatch.per_operator": 6e-6},
                      ["qwen3-0.6b", "qwen3-4b"], ["INT4 AWQ"], batches=(1,))
    cal = calibrate("jetson-agx-orin-64gb", p, prior_weight=1e-3)
    assert cal.values["efficiency.dram"] == pytest.approx(0.7, rel=0.02)
    text = calibrated_chip_yaml(cal)
    assert "rows 1-2 of orin.csv" in text
    chip = chip_from_dict(yaml.safe_load(text), "calibrated.yaml")
    assert chip.efficiency.dram == pytest.approx(cal.values["efficiency.dram"], rel=1e-3)
    assert chip.sources["efficiency.dram"].startswith("source: fitted by chipdse calibrate")
    nx = chip_from_dict(yaml.safe_load(calibrated_chip_yaml(cal, sibling="jetson-orin-nx-16gb")))
    assert nx.name == "jetson-orin-nx-16gb"
    assert nx.dram == load_chip("jetson-orin-nx-16gb").dram
    assert nx.efficiency.dram == chip.efficiency.dram
    assert nx.dispatch.per_operator_s == chip.dispatch.per_operator_s
    assert "carried to this chip without refitting" in nx.sources["efficiency.dram"]
    with pytest.raises(UserError, match="family"):
        calibrated_chip_yaml(cal, sibling="jetson-agx-thor")
    fam = yaml.safe_load(family_block_yaml(cal))
    assert fam["orin"]["efficiency"]["dram"]["value"] == pytest.approx(
        cal.values["efficiency.dram"], rel=1e-3)


def test_calibrate_without_rows_of_the_chip_is_a_user_error(tmp_path):
    p = synthetic_csv(tmp_path / "orin.csv", "jetson-agx-orin-64gb", {}, ["qwen3-0.6b"],
                      ["INT4 AWQ"], batches=(1,))
    with pytest.raises(UserError, match="no row of orin.csv is measured on chip"):
        calibrate("jetson-agx-thor", p)
