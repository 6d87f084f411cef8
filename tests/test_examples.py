"""The scripts in examples/ run and print what their docstrings promise."""

import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


@pytest.mark.parametrize("script, args, expect", [
    ("compare_vla_frame.py", ["--draws", "20"], ["li-m100", "drive-thor-u", "frame 5-95 %"]),
    ("size_chip_for_model.py", ["--generations", "3", "--pop-size", "20"],
     ["Pareto-optimal chips for qwen2.5-0.5b", "smallest chip within the budget"]),
    ("codesign.py", ["--generations", "3", "--pop-size", "20"],
     ["Pareto-optimal (loss, latency, area) designs", "loss"]),
])
def test_example_runs(script, args, expect):
    r = subprocess.run([sys.executable, str(EXAMPLES / script), *args], capture_output=True,
                       text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    for text in expect:
        assert text in r.stdout, (text, r.stdout[-2000:])
