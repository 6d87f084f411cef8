"""The command line: estimate's JSON contract, tables, roofline PNG, errors; what start-up
loads (commands and heavy libraries only when used)."""

import importlib
import json
import math
import subprocess
import sys

import click
import pandas as pd
import pytest
from click.testing import CliRunner

from chipdse.cli import main

KEYS = {"chip", "model", "prefill_s", "decode_s_per_token", "decode_tokens_per_s", "total_s",
        "weights_bytes", "kv_cache_bytes", "fits_in_memory", "prefill_bottleneck",
        "decode_bottleneck", "energy_j"}


def run(*args):
    return CliRunner().invoke(main, list(args))


def test_estimate_json_contract():
    r = run("estimate", "--chip", "jetson-agx-orin-64gb", "--model", "qwen2.5-0.5b",
            "--batch", "2", "--prompt", "512", "--generate", "8", "--format", "json")
    assert r.exit_code == 0, r.output
    d = json.loads(r.output)
    assert KEYS <= set(d)
    assert d["decode_tokens_per_s"] == 2 / d["decode_s_per_token"]
    assert abs(d["total_s"] - (d["prefill_s"] + 8 * d["decode_s_per_token"])) < 1e-12
    assert d["decode_bottleneck"] == "dram"
    assert d["fits_in_memory"] is True


def test_estimate_csv_and_output_file(tmp_path):
    out = tmp_path / "e.csv"
    r = run("estimate", "--chip", "li-m100", "--model", "qwen3-0.6b", "--weights", "int8",
            "--activations", "int8", "--format", "csv", "-o", str(out))
    assert r.exit_code == 0, r.output
    header = out.read_text().splitlines()[0].split(",")
    assert "prefill_s" in header and "decode_tokens_per_s" in header


def test_model_too_big_is_reported_not_crashed():
    r = run("estimate", "--chip", "jetson-orin-nano-8gb", "--model", "qwen3-30b-a3b",
            "--format", "json")
    assert r.exit_code == 0
    assert "warning: qwen3-30b-a3b needs" in r.output
    d = json.loads(r.output[r.output.index("{"):])
    assert d["fits_in_memory"] is False


def test_unknown_chip_one_line():
    r = run("estimate", "--chip", "orin-9000", "--model", "qwen3-0.6b")
    assert r.exit_code == 2
    assert r.output.count("\n") == 1 and r.output.startswith("error: unknown chip 'orin-9000'")


def test_roofline_png(tmp_path):
    out = tmp_path / "roof.png"
    r = run("roofline", "--chip", "jetson-agx-thor", "--model", "qwen3-0.6b", "-o", str(out))
    assert r.exit_code == 0, r.output
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_chips_and_models_listing():
    r = run("chips", "list", "--format", "json")
    names = {row["name"] for row in json.loads(r.output)}
    assert {"jetson-agx-orin-64gb", "li-m100", "drive-thor-u"} <= names
    r = run("chips", "show", "li-m100", "--format", "json")
    d = json.loads(r.output)
    assert any("2604.17862" in v for v in d["sources"].values())
    r = run("models", "show", "qwen3-30b-a3b", "--format", "json")
    assert json.loads(r.output)["experts"] == 128


def test_format_choices_follow_microarch_formats():
    from chipdse.commands.common import FORMATS
    from microarch import formats

    assert set(formats.FORMATS) <= set(FORMATS)
    assert set(formats.ALIASES) <= set(FORMATS)
    for name in FORMATS:  # every offered name is one the format table resolves
        formats.get_format(name)


def test_format_aliases_accepted_and_canonical():
    r = run("estimate", "--chip", "jetson-agx-thor", "--model", "qwen3-0.6b", "--weights",
            "fp4", "--activations", "BFloat16", "--kv", "e4m3", "--format", "json")
    assert r.exit_code == 0, r.output
    assert json.loads(r.output)["precision"] == "wnvfp4-abf16-kvfp8"
    ref = run("estimate", "--chip", "jetson-agx-thor", "--model", "qwen3-0.6b", "--weights",
              "nvfp4", "--activations", "bf16", "--kv", "fp8", "--format", "json")
    assert json.loads(ref.output) == json.loads(r.output)


def test_unknown_format_rejected():
    r = run("estimate", "--chip", "jetson-agx-thor", "--model", "qwen3-0.6b", "--weights", "fp5")
    assert r.exit_code == 2
    assert "Invalid value for '--weights'" in r.output


# -- start-up: commands and heavy libraries load only when used --------------------------

_HEAVY = ("numpy", "pandas", "scipy", "matplotlib", "simpy", "pymoo", "pyarrow", "networkx",
          "dask", "chipdse.search", "chipdse.sim", "chipdse.calibrate", "chipdse.api")


def test_help_lists_every_command_without_importing_any():
    code = ("import sys\nfrom chipdse.cli import main\ntry:\n    main(['--help'])\n"
            "except SystemExit:\n    pass\n"
            f"print('LOADED', [m for m in {_HEAVY!r} if m in sys.modules]"
            " + [m for m in sys.modules if m.startswith(('chipdse.commands', 'microarch', "
            "'workloads'))])\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines()[-1] == "LOADED []"
    from chipdse.cli import COMMANDS

    for name in COMMANDS:
        assert f"  {name} " in r.stdout


def test_estimate_loads_no_search_simulator_calibration_or_plotting():
    code = ("import sys\nfrom chipdse.cli import main\ntry:\n    main()\n"
            "except SystemExit as e:\n    assert not e.code, e.code\n"
            "print('LOADED', sorted(m for m in ('pandas', 'scipy', 'matplotlib', 'simpy', "
            "'pymoo', 'pyarrow', 'networkx', 'dask', 'chipdse.search', 'chipdse.sim', "
            "'chipdse.calibrate') if m in sys.modules))\n")
    for fmt in ("table", "json"):
        r = subprocess.run([sys.executable, "-c", code, "estimate", "--chip",
                            "jetson-agx-orin-64gb", "--model", "qwen3-0.6b", "--format", fmt],
                           capture_output=True, text=True)
        assert r.returncode == 0, r.stderr
        assert r.stdout.splitlines()[-1] == "LOADED []", fmt


def test_command_table_matches_the_commands():
    """The one-line helps `chipdse --help` shows without importing the commands are the
    commands' own, and every command of every listed module is listed."""
    from chipdse.cli import COMMANDS

    for module in {m for m, _ in COMMANDS.values()}:
        for cmd in importlib.import_module(module).COMMANDS:
            assert cmd.name in COMMANDS and COMMANDS[cmd.name][0] == module, cmd.name
            listed = click.Command(cmd.name, help=COMMANDS[cmd.name][1])
            assert listed.get_short_help_str(1000) == cmd.get_short_help_str(1000), cmd.name
    for name in COMMANDS:
        assert main.get_command(None, name) is not None, name
    assert main.get_command(None, "no-such-command") is None


def test_unknown_command_is_one_line():
    r = CliRunner().invoke(main, ["estimat"], standalone_mode=True)
    assert r.exit_code == 2
    assert r.output.count("\n") == 1 and "No such command 'estimat'" in r.output


def test_api_names_resolve_lazily():
    code = ("import sys\nfrom chipdse import api\n"
            "print(sorted(m for m in ('pandas', 'scipy', 'matplotlib', 'simpy', 'pymoo', "
            "'chipdse.search', 'chipdse.sim', 'chipdse.calibrate') if m in sys.modules))\n"
            "missing = [n for n in api.__all__ if not hasattr(api, n)]\n"
            "assert not missing, missing\n"
            "from chipdse.api import SimOptions, run_search, calibrate\n"
            "import chipdse.sim, chipdse.search, chipdse.calibrate\n"
            "assert api.simulate is chipdse.sim.simulate and run_search is "
            "chipdse.search.run_search and calibrate is chipdse.calibrate.calibrate\n"
            "assert set(api.__all__) <= set(dir(api))\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "[]"
    from chipdse import api

    with pytest.raises(AttributeError, match="no attribute 'nothing_here'"):
        api.nothing_here  # noqa: B018


def test_columns_table_looks_like_pandas():
    from chipdse.commands.common import columns_table

    cols = {"stream": ["vla", "all"], "requests": [100, 100], "latency_mean_s": [4.543, 4.5],
            "deadline_s": [0.1, math.nan], "misses": [100, 3],
            "energy_per_frame_j": [3.136, 12345.678]}
    want = pd.DataFrame(cols).to_string(index=False, float_format=lambda x: f"{x:.4g}")
    assert columns_table(cols) == want
