"""chipdse sweep / api.sweep: every point equals `estimate` at that point, the table is the
full cartesian product, files are written, Dask gives the same table, bad input is refused."""

import json

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from chipdse import api
from chipdse.cli import main
from chipdse.errors import UserError
from chipdse.sweep import MAX_POINTS, SweepSpec

P8 = api.make_precision("int8", "int8", "fp16")
P4 = api.make_precision("int4", "fp16", "fp16")
CHIPS = ["jetson-agx-orin-64gb", "jetson-agx-orin-64gb@15W", "li-m100"]
MODELS = ["qwen3-0.6b", "llama-3.2-1b"]


@pytest.fixture(scope="module")
def table():
    return api.sweep(CHIPS, MODELS, [P8, P4], batch=[1, 4], prompt=[128, 512],
                     generate=[0, 8])


def test_cartesian_product(table):
    assert len(table) == len(CHIPS) * len(MODELS) * 2 * 2 * 2 * 2
    keys = table[["chip", "power_mode", "model", "precision", "batch", "prompt_tokens",
                  "generate_tokens"]]
    assert not keys.duplicated().any()
    assert set(table.power_mode) == {"MAXN", "15W", ""}


def test_every_point_equals_estimate(table):
    precs = {P8.label(): P8, P4.label(): P4}
    for r in table.itertuples():
        chip = r.chip + (f"@{r.power_mode}" if r.power_mode else "")
        e = api.estimate(chip, r.model, precs[r.precision], int(r.batch),
                         int(r.prompt_tokens), int(r.generate_tokens))
        for k in ("prefill_s", "total_s", "energy_j", "prefill_energy_j", "idle_energy_j",
                  "memory_bytes", "weights_bytes", "kv_cache_bytes"):
            assert getattr(r, k) == getattr(e, k), k
        if r.generate_tokens:
            assert r.decode_s_per_token == e.decode_s_per_token
            assert r.decode_energy_j_per_token == e.decode_energy_j_per_token
            assert r.decode_bottleneck == e.decode_bottleneck
            for b, v in e.decode_time_by_bound.items():
                assert getattr(r, f"decode_{b}_s") == v
        else:
            assert np.isnan(r.decode_s_per_token) and r.decode_s == 0.0
        assert r.prefill_bottleneck == e.prefill_bottleneck
        assert bool(r.fits_in_memory) == e.fits_in_memory


def test_chip_cost_column(table):
    from microarch.cost_usd import chip_cost

    for chip, g in table.groupby("chip"):
        k = chip_cost(api.load_chip(chip))
        assert (g.cost_usd == k.cost_usd).all()
        assert (g.cost_usd_low <= g.cost_usd).all() and (g.cost_usd <= g.cost_usd_high).all()


def test_more_batch_more_throughput(table):
    t = table[table.generate_tokens > 0]
    for _, g in t.groupby(["chip", "power_mode", "model", "precision", "prompt_tokens",
                           "generate_tokens"]):
        g = g.sort_values("batch")
        assert (np.diff(g.decode_tokens_per_s) > 0).all()


def test_cli_writes_table_and_figures(tmp_path):
    out = tmp_path / "sw"
    r = CliRunner().invoke(main, ["sweep", "--chip", "jetson-agx-orin-64gb,li-m100",
                                  "--model", "qwen3-0.6b", "--weights", "int8,int4",
                                  "--batch", "1,4", "-o", str(out), "--format", "json"])
    assert r.exit_code == 0, r.output
    rows = json.loads(r.stdout)
    assert len(rows) == 2 * 2 * 2
    assert {"tok_per_s", "total_ms", "batch", "precision"} <= set(rows[0])
    pq = pd.read_parquet(out / "sweep.parquet")
    csv = pd.read_csv(out / "sweep.csv", keep_default_na=False, na_values=[""])
    assert len(pq) == len(csv) == 8
    assert np.allclose(pq.total_s, csv.total_s, rtol=1e-12)
    for f in ("tokens_per_s.png", "energy_per_token.png", "batch_scaling.png", "config.json"):
        assert (out / f).is_file(), f
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["inputs"]["points"] == 8


@pytest.mark.parametrize("args, msg", [
    (["--batch", "0"], "--batch: 0 is outside"),
    (["--batch", "two"], "--batch: 'two' is not an integer"),
    (["--weights", "int3"], "--weights: unknown format 'int3'"),
    (["--chip", "no-such-chip"], "no-such-chip"),
])
def test_cli_bad_input(tmp_path, args, msg):
    base = {"--chip": "li-m100", "--model": "qwen3-0.6b"}
    for k, v in zip(args[::2], args[1::2]):
        base[k] = v
    argv = ["sweep", "-o", str(tmp_path / "o")] + [x for kv in base.items() for x in kv]
    r = CliRunner().invoke(main, argv)
    assert r.exit_code == 2
    line = r.output.strip().splitlines()[-1]
    assert line.startswith("error:") and msg in line, r.output
    assert not (tmp_path / "o" / "sweep.csv").exists()


def test_spec_limits():
    with pytest.raises(UserError, match="exceed the limit"):
        SweepSpec(("li-m100",), ("qwen3-0.6b",), (P8,), tuple(range(1, 1001)),
                  tuple(range(1, 1002)), (1,))
    assert MAX_POINTS == 1_000_000
    with pytest.raises(UserError, match="generate values must be integers >= 0"):
        SweepSpec(("li-m100",), ("qwen3-0.6b",), (P8,), (1,), (1,), (-1,))
    with pytest.raises(UserError, match="encoder"):
        api.sweep(["li-m100"], ["siglip-so400m-patch14-384"], [P8], generate=[4])


def test_dask_gives_the_same_table():
    distributed = pytest.importorskip("dask.distributed")
    with distributed.Client(processes=False, n_workers=1, threads_per_worker=1,
                            dashboard_address=None) as client:
        d = api.sweep(["li-m100", "jetson-agx-thor"], ["qwen3-0.6b"], [P8], batch=[1, 2],
                      scheduler=client)
    s = api.sweep(["li-m100", "jetson-agx-thor"], ["qwen3-0.6b"], [P8], batch=[1, 2])
    pd.testing.assert_frame_equal(d, s)


def test_format_substitution_is_reported():
    e = api.estimate("jetson-agx-orin-64gb", "qwen3-0.6b", api.make_precision("fp8", "fp8"))
    assert e.format_substitutions == {"fp8": "fp16"}
    assert api.estimate("jetson-agx-thor", "qwen3-0.6b",
                        api.make_precision("fp8", "fp8")).format_substitutions == {}
    r = CliRunner().invoke(main, ["estimate", "--chip", "jetson-agx-orin-64gb", "--model",
                                  "qwen3-0.6b", "--weights", "nvfp4", "--activations", "nvfp4",
                                  "--format", "json"])
    assert r.exit_code == 0
    assert "no nvfp4 matrix lanes; nvfp4 GEMMs run (and are estimated) in fp16" in r.stderr
    assert json.loads(r.stdout)["format_substitutions"] == {"nvfp4": "fp16"}


def test_systems_in_a_sweep():
    from chipdse.system import estimate_system
    from microarch.system import load_system

    t = api.sweep(["drive-thor-u"], ["qwen3-1.7b"], [P8], batch=[1, 4],
                  systems=["dual-drive-thor-u"])
    sys_rows = t[t.chips == 2]
    assert len(sys_rows) == 2 and (t[t.chips == 1].chip == "drive-thor-u").all()
    for r in sys_rows.itertuples():
        e = estimate_system(load_system("dual-drive-thor-u"), "qwen3-1.7b", P8, int(r.batch),
                            1024, 16)
        assert (r.total_s, r.energy_j) == (e.total_s, e.energy_j)
    one = t[t.chips == 1].set_index("batch")
    assert (sys_rows.set_index("batch").cost_usd == 2 * one.cost_usd).all()
    r = CliRunner().invoke(main, ["sweep", "--system", "dual-li-m100", "--model", "qwen3-0.6b",
                                  "-o", "/dev/null/x"])
    assert r.exit_code == 2
