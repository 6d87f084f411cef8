"""Golden outputs per chip preset: prefill time, decode time per token, energy and memory of one
fixed workload on every built-in chip, pinned in tests/data/golden_presets.json.

Any change of physics, preset data or family terms moves some of these numbers and fails here,
so that it arrives as a reviewed diff of the golden file. To accept a deliberate change, rerun
with ``CHIPDSE_UPDATE_GOLDEN=1 python -m pytest tests/test_golden_presets.py`` and commit the
file together with the change that moved it.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from chipdse import api
from chipdse.io import write_json

GOLDEN = Path(__file__).parent / "data" / "golden_presets.json"
WORKLOAD = dict(model="qwen2.5-0.5b", weights="fp16", activations="fp16", kv="fp16", batch=1,
                prompt=1024, generate=16)
FIELDS = ("prefill_s", "decode_s_per_token", "energy_j", "memory_bytes")


def _outputs() -> dict[str, dict[str, float]]:
    w = WORKLOAD
    p = api.make_precision(w["weights"], w["activations"], w["kv"])
    out = {}
    for name in api.list_chips():
        e = api.estimate(name, w["model"], p, w["batch"], w["prompt"], w["generate"])
        out[name] = {f: float(getattr(e, f)) for f in FIELDS}
    return out


def test_every_preset_matches_its_golden_outputs():
    got = _outputs()
    if os.environ.get("CHIPDSE_UPDATE_GOLDEN"):
        write_json(GOLDEN, {"workload": WORKLOAD, "chips": got})
    pinned = json.loads(GOLDEN.read_text())
    assert pinned["workload"] == WORKLOAD
    assert set(pinned["chips"]) == set(got), "a preset was added or removed: update the file"
    moved = [f"{chip}.{f}: {pinned['chips'][chip][f]:.6g} -> {got[chip][f]:.6g}"
             for chip in sorted(got) for f in FIELDS
             if got[chip][f] != pytest.approx(pinned["chips"][chip][f], rel=1e-9)]
    assert not moved, "golden outputs moved:\n" + "\n".join(moved)
