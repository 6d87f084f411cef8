"""The int8-speedup, phase-aware and memory-vs-tops studies in quick mode: files written, and
each verdict follows from its own table by the rule the study states."""

import pandas as pd
import pytest

from chipdse import api


@pytest.fixture(scope="module")
def outdir(tmp_path_factory):
    return tmp_path_factory.mktemp("studies")


def test_memory_vs_tops(outdir):
    r = api.study("memory-vs-tops", outdir / "mem", quick=True)
    t = pd.read_csv(outdir / "mem" / "results.csv")
    # Decode is bandwidth-bound and prefill compute-bound on these chips.
    assert (t.e_dram_bandwidth_decode < -0.3).all() and (t.e_peak_tops_decode > -0.1).all()
    assert (t.e_peak_tops_prefill < -0.5).all()
    # Elasticities of a latency to a resource are never positive (more is never slower).
    for col in [c for c in t.columns if c.startswith("e_")]:
        assert (t[col] <= 1e-9).all(), col
    share = float((t.e_dram_bandwidth_frame.abs() > t.e_peak_tops_frame.abs()).mean())
    assert r.supports == (True if share >= 0.75 else (False if share <= 0.25 else None))
    # KV cache size by hand: the trace's prefill + action tokens at the KV format's bytes.
    req = api.load_trace("vla-drive-10hz").streams[0].request
    tokens = req.prefill_tokens + req.action_tokens
    for row in t.itertuples():
        m = api.load_model(row.model)
        kv_fmt = row.precision.split("-kv")[1]
        per_el = api.make_precision(kv=kv_fmt).kv.bytes_per_element
        expect = 2 * m.n_layers * m.d_kv * per_el * tokens / 2**20
        assert row.kv_cache_mib == pytest.approx(expect)
    assert f"({tokens} tokens," in r.answer
    # The weights-vs-KV conclusion appears only when the table shows KV below the weights.
    kv_w = t.kv_cache_mib / t.weights_mib
    assert ("the weights, not the KV cache" in r.answer) == bool(
        (kv_w < 1).all() and t.kv_sram_decode_gain.max() < 1.1
        and t.e_dram_bandwidth_decode.median() < -0.5)
