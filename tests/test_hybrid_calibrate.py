"""Hybrid rows of the built-in measurements: mapped to presets, predicted with the terms fitted to
the dense rows (their role is transfer, also on AGX Orin / Thor), never fitted unless asked, and
their decode predicted as well as the dense rows'."""

from __future__ import annotations

import numpy as np
import pytest

from chipdse.calibrate.measurements import builtin_measurements_path, load_measurements
from chipdse.calibrate.predict import Loader, build_targets, predict
from chipdse.calibrate.run import calibrate, is_hybrid_row, row_role

MS = load_measurements(builtin_measurements_path())
LOADER = Loader()
HYBRID_PRESETS = {"qwen3.5-0.8b", "qwen3.5-2b", "qwen3.5-4b", "qwen3.5-9b", "qwen3.5-27b",
                  "qwen3.5-35b-a3b", "qwen3.6-35b-a3b", "nemotron-3-nano-4b",
                  "nemotron-3-nano-30b-a3b"}


def test_hybrid_rows_are_mapped():
    hybrid = [m for m in MS.rows if is_hybrid_row(m, LOADER)]
    assert {m.model_ref for m in hybrid} == HYBRID_PRESETS
    assert len(hybrid) == 127
    assert len(MS.rows) + len(MS.unmapped) == 253
    left = {u.value for _, u in MS.unmapped}
    assert not any(v.startswith(("Qwen3.5", "Qwen3.6", "NVIDIA-Nemotron-3-Nano-4B"))
                   for v in left)
    gemma = [u for _, u in MS.unmapped if "gemma-4" in u.value.lower()]
    assert gemma and all("global_head_dim" in u.reason for u in gemma)


def test_hybrid_rows_are_transfer_rows_everywhere():
    roles = {}
    for t in build_targets(MS.rows):
        roles.setdefault((is_hybrid_row(t.m, LOADER), t.m.device), set()).add(
            row_role(t, LOADER))
    assert roles[(True, "Jetson AGX Orin 64GB")] == {"transfer"}
    assert roles[(True, "Jetson AGX Thor Developer Kit (T5000)")] <= {"transfer",
                                                                       "other-stack"}
    assert roles[(False, "Jetson AGX Orin 64GB")] == {"calibration"}


def _rows(chip_substring: str, hybrid: bool, batch: int = 1, phase: str = "decode"):
    return [t for t in build_targets(MS.rows, (phase,))
            if chip_substring in t.m.device and t.batch == batch and "0.10" in t.m.engine
            and is_hybrid_row(t.m, LOADER) == hybrid]


@pytest.mark.parametrize("device", ["AGX Orin", "AGX Thor"])
def test_qwen35_decode_carries_from_the_dense_fit(device):
    """Batch-1 decode of the dense-FFN Qwen3.5 models, predicted with the shipped (dense-fitted)
    terms: every row within 12 %, mean within 5 % (docs/fidelity.md, hybrid section)."""
    rows = [t for t in _rows(device, True)
            if (t.m.model_ref or "").startswith("qwen3.5") and "35b" not in t.m.model_ref]
    assert len(rows) >= 5
    pred = predict(rows, [{}], loader=LOADER)[:, 0]
    err = np.array([t.measured_s / p - 1.0 for t, p in zip(rows, pred)])  # tokens/s error
    assert np.all(np.abs(err) <= 0.12), err
    assert np.mean(np.abs(err)) <= 0.05


def test_calibrate_does_not_fit_hybrid_rows_unless_asked(tmp_path):
    lines = builtin_measurements_path().read_text(encoding="utf-8").splitlines()
    orin = [ln for ln in lines[1:] if ln.startswith("Jetson AGX Orin 64GB")
            and ",Qwen3-" in ln and "VLM" not in ln][:3]
    hyb = [ln for ln in lines[1:] if ln.startswith("Jetson AGX Orin 64GB")
           and ",Qwen3.5-0.8B," in ln]
    p = tmp_path / "m.csv"
    p.write_text("\n".join([lines[0], *orin, *hyb]) + "\n", encoding="utf-8")
    dense_fit = calibrate("jetson-agx-orin-64gb", p, prior_weight=1.0)
    assert sorted(dense_fit.fit.rows) == [1, 2, 3]
    with_hybrid = calibrate("jetson-agx-orin-64gb", p, prior_weight=1.0, include_hybrid=True)
    assert sorted(with_hybrid.fit.rows) == [1, 2, 3, 4]
    only = tmp_path / "h.csv"
    only.write_text("\n".join([lines[0], *hyb]) + "\n", encoding="utf-8")
    assert calibrate("jetson-agx-orin-64gb", only, prior_weight=1.0).fit.rows == [1]
