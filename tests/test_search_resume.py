"""Long searches: state written every generation, resume after an interruption with nothing
lost, Dask evaluation batches, and the CLI's -o / --resume."""

import json

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from chipdse.cli import main
from chipdse.commands.search import COMMANDS
from chipdse.errors import UserError
from chipdse.search import Budgets, CoDesignProblem, PlasProblem, Workload, run_search
from chipdse.search.space import PLAS_SPACE, Variable

for _cmd in COMMANDS:  # registered by chipdse.cli once wired; harmless if already there
    if _cmd.name not in main.commands:
        main.add_command(_cmd)


def codesign():
    return CoDesignProblem(Workload(), Budgets(latency_s=0.1, area_mm2=420.0))


def test_nsga2_resume_equals_uninterrupted(tmp_path):
    full = run_search(codesign(), method="nsga2", pop_size=24, generations=6, seed=5)
    run = tmp_path / "run"
    part = run_search(codesign(), method="nsga2", pop_size=24, generations=6, seed=5,
                      run_dir=run, stop_after=3)
    st = json.loads((run / "state.json").read_text())
    assert st["generation"] == 3
    with np.load(run / "state.npz", allow_pickle=False) as z:  # plain arrays, no pickle
        assert z["X"].shape == (part.n_evaluated, codesign().n_var)
        assert z["score:loss"].shape == (part.n_evaluated,)
    assert st["archive_rows"] == part.n_evaluated and (run / "config.json").is_file()
    resumed = run_search(codesign(), method="nsga2", pop_size=24, generations=6, seed=5,
                         run_dir=run, resume=True)
    assert resumed.n_evaluated == full.n_evaluated
    pd.testing.assert_frame_equal(resumed.frame, full.frame)
    assert [h["generation"] for h in resumed.history if "generation" in h] == list(range(1, 7))
    assert resumed.history[-1]["polish"] > 0 and resumed.history == full.history


def test_lhs_resume_equals_uninterrupted(tmp_path, orin):
    p = PlasProblem(orin, Workload(), Budgets(latency_s=0.1))
    full = run_search(p, method="lhs", lhs_samples=300, seed=2)
    run_search(p, method="lhs", lhs_samples=300, seed=2, run_dir=tmp_path, stop_after=1)
    resumed = run_search(p, method="lhs", lhs_samples=300, seed=2, run_dir=tmp_path,
                         resume=True)
    pd.testing.assert_frame_equal(resumed.frame, full.frame)
    assert resumed.history == full.history


def test_resume_guards(tmp_path):
    run_search(codesign(), method="nsga2", pop_size=12, generations=3, seed=1,
               run_dir=tmp_path, stop_after=1)
    with pytest.raises(UserError, match="already holds a search state"):
        run_search(codesign(), method="nsga2", pop_size=12, generations=3, seed=1,
                   run_dir=tmp_path)
    with pytest.raises(UserError, match="different settings"):
        run_search(codesign(), method="nsga2", pop_size=12, generations=3, seed=2,
                   run_dir=tmp_path, resume=True)
    good = (tmp_path / "state.npz").read_bytes()
    (tmp_path / "state.npz").write_bytes(b"not an archive")
    with pytest.raises(UserError, match="cannot read the saved search state"):
        run_search(codesign(), method="nsga2", pop_size=12, generations=3, seed=1,
                   run_dir=tmp_path, resume=True)
    # An archive holding a pickled object is refused, never unpickled.
    import io as _io
    buf = _io.BytesIO()
    np.savez(buf, X=np.zeros((1, codesign().n_var), dtype=np.int64),
             **{"score:loss": np.array([object()], dtype=object)})
    (tmp_path / "state.npz").write_bytes(buf.getvalue())
    with pytest.raises(UserError, match="cannot read the saved search state"):
        run_search(codesign(), method="nsga2", pop_size=12, generations=3, seed=1,
                   run_dir=tmp_path, resume=True)
    (tmp_path / "state.npz").write_bytes(good)


def test_dask_local_cluster_matches_serial(orin):
    distributed = pytest.importorskip("dask.distributed")
    space = (Variable("n_layers", (4, 8, 12)), Variable("d_model", (768, 1024)), PLAS_SPACE[2],
             Variable("kv_heads", ("1", "2")), Variable("ffn_ratio", (0.5, 1.0, 2.0)))
    p = PlasProblem(orin, Workload(), Budgets(latency_s=0.08), space=space)
    serial = run_search(p, method="nsga2", pop_size=12, generations=3, seed=4)
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=False,
                                  protocol="tcp://", host="127.0.0.1",
                                  dashboard_address=None) as cluster:
        remote = run_search(p, method="nsga2", pop_size=12, generations=3, seed=4,
                            scheduler=cluster.scheduler_address)
    pd.testing.assert_frame_equal(remote.frame, serial.frame)


def test_unreachable_scheduler_is_a_user_error(orin):
    pytest.importorskip("dask.distributed")
    p = PlasProblem(orin)
    with pytest.raises(UserError, match="Dask scheduler"):
        run_search(p, method="nsga2", pop_size=8, generations=1,
                   scheduler="tcp://127.0.0.1:9", scheduler_timeout_s=1.0)


@pytest.mark.parametrize("address", ["garbage", "tcp://host-without-port", "foo://x:1",
                                     "tcp://host:port"])
def test_malformed_scheduler_address_is_a_user_error(orin, address):
    pytest.importorskip("dask.distributed")
    with pytest.raises(UserError, match="not a Dask scheduler address"):
        run_search(PlasProblem(orin), method="nsga2", pop_size=8, generations=1,
                   scheduler=address)


def test_cli_malformed_scheduler_is_one_line():
    pytest.importorskip("dask.distributed")
    r = CliRunner().invoke(main, ["codesign", "--scheduler", "garbage", "--pop", "8",
                                  "--generations", "1"])
    assert r.exit_code == 2
    assert "not a Dask scheduler address" in r.output and "Traceback" not in r.output


CLI = ["codesign", "--workload", "driving", "--budget-area", "420mm2", "--pop", "12",
       "--generations", "4", "--seed", "3", "--format", "csv"]


def test_cli_codesign_resume(tmp_path):
    runner = CliRunner()
    full_dir, cut_dir = tmp_path / "full", tmp_path / "cut"
    r = runner.invoke(main, CLI + ["-o", str(full_dir)])
    assert r.exit_code == 0, r.output
    # An interrupted run: same options, stopped after two generations.
    cfg = json.loads((full_dir / "config.json").read_text())
    opts = cfg["inputs"]["cli"]["options"]
    assert opts["budget_area"] == "420mm2" and opts["generations"] == 4
    from chipdse.search import Budgets as B
    p = CoDesignProblem(Workload(), B(latency_s=0.1, area_mm2=420.0))
    run_search(p, method="nsga2", pop_size=12, generations=4, seed=3, run_dir=cut_dir,
               stop_after=2, config_extra={"cli": cfg["inputs"]["cli"]})
    r2 = runner.invoke(main, ["codesign", "--resume", str(cut_dir), "--format", "csv"])
    assert r2.exit_code == 0, r2.output
    a = pd.read_csv(full_dir / "results.csv")
    b = pd.read_csv(cut_dir / "results.csv")
    pd.testing.assert_frame_equal(a, b)
    for name in ("front.csv", "summary.json", "pareto.png", "config.json"):
        assert (cut_dir / name).is_file()


def test_cli_resume_errors(tmp_path):
    runner = CliRunner()
    r = runner.invoke(main, ["search", "--resume", str(tmp_path)])
    assert r.exit_code == 2 and "config.json: not found" in r.output
    r = runner.invoke(main, ["search", "--chip", "jetson-agx-orin-64gb", "--budget-latency",
                             "100 GB"])
    assert r.exit_code == 2 and "--budget-latency" in r.output
    r = runner.invoke(main, ["search", "--workload", "driving"])
    assert r.exit_code == 2 and "--chip is required" in r.output
    # A codesign run cannot be resumed as a search.
    (tmp_path / "config.json").write_text(json.dumps(
        {"inputs": {"cli": {"command": "codesign", "options": {}}}}))
    r = runner.invoke(main, ["search", "--resume", str(tmp_path)])
    assert r.exit_code == 2 and "was 'chipdse codesign', not 'chipdse search'" in r.output
