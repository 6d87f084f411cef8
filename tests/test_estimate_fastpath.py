"""The per-call path of api.estimate (cached plans, chipdse.plan_cache) against the
vectorised evaluator it stands for: every field the same to the last bit."""

from __future__ import annotations

import math
import os
import shutil

import numpy as np
import pytest

from chipdse import api, plan_cache
from chipdse.analytic import _BoundSums, _RunningSum
from chipdse.cost import (
    BOUNDS,
    CostOptions,
    _argmax_arrays,
    _argmax_first,
    _grouped_tiles_arrays,
    _grouped_tiles_recent,
)
from chipdse.errors import SpecError, UserError
from microarch.loader import preset_path


def _bits(x):
    """A value with its floats as exact bit strings (NaN as one token)."""
    if isinstance(x, float):
        return "nan" if math.isnan(x) else x.hex()
    if isinstance(x, dict):
        return {k: _bits(v) for k, v in x.items()}
    if isinstance(x, (tuple, list)):
        return [_bits(v) for v in x]
    return (type(x).__name__, x)


@pytest.fixture(scope="module")
def chips():
    orin, m100, thor = (api.load_chip(n) for n in ("jetson-agx-orin-64gb", "li-m100",
                                                     "jetson-agx-thor"))
    return {
        "orin": orin,
        "m100": m100,
        # static phase split with a KV SRAM (prefill and decode on different partitions, the KV
        # cache spilling from SRAM to DRAM during the decode)
        "orin-static-kv": api.chip_variant(orin, "orin-static-kv", phase_mode="static",
                                           prefill_share=0.6, kv_sram_bytes=64 * 2**20),
        "m100-kv-moe": api.chip_variant(m100, "m100-kv-moe", kv_sram_bytes=256 * 2**20,
                                        native_moe=True),
        "thor-reconfigurable": api.chip_variant(thor, "thor-reconf", prefill_share=0.5,
                                                phase_mode="reconfigurable"),
    }


FP16 = ("fp16", "fp16", "fp16")
W8A8 = ("int8", "int8", "fp16")
W4 = ("int4", "fp16", "fp16")
FP8 = ("fp8", "fp8", "fp8")

# (chip, model, precision, batch, prompt, generate): dense, MoE, hybrid (Gated DeltaNet + MoE,
# Mamba-2), an encoder; decode steps across block boundaries and thousands of tokens.
CASES = [
    ("orin", "llama-2-7b", W8A8, 1, 512, 16),
    ("orin", "llama-2-7b", W8A8, 1, 2048, 128),
    ("orin", "llama-2-7b", FP16, 1, 1, 1),
    ("orin", "llama-2-7b", W4, 4, 255, 2),
    ("orin", "llama-2-7b", FP16, 2, 1024, 0),
    ("m100", "llama-2-7b", W8A8, 1, 256, 300),
    ("m100", "qwen3-0.6b", FP8, 3, 100, 5000),
    ("orin-static-kv", "llama-2-7b", W8A8, 1, 300, 1000),
    ("orin-static-kv", "qwen3-0.6b", FP16, 8, 4000, 700),
    ("thor-reconfigurable", "qwen3-0.6b", FP8, 2, 511, 513),
    ("orin", "qwen3-30b-a3b", W4, 1, 1024, 64),
    ("m100-kv-moe", "qwen3-30b-a3b", W8A8, 4, 300, 257),
    ("orin-static-kv", "qwen3.5-35b-a3b", W8A8, 2, 700, 300),
    ("m100", "qwen3.5-0.8b", FP16, 1, 1, 9),
    ("thor-reconfigurable", "nemotron-3-nano-4b", W4, 1, 2048, 2000),
    ("m100-kv-moe", "nemotron-3-nano-4b", FP8, 3, 7, 0),
    ("orin", "siglip-so400m-patch14-384", FP16, 6, 729, 0),
]


@pytest.mark.parametrize("case", CASES, ids=lambda c: "-".join(map(str, c[:2] + c[3:])))
def test_fast_path_equals_the_evaluator_bit_for_bit(chips, case):
    cname, mname, prec, batch, prompt, generate = case
    c, m, p = chips[cname], api.load_model(mname), api.make_precision(*prec)
    for opts in (CostOptions(), CostOptions.paper()):
        fast = api._estimate_values(c, m, p, batch, prompt, generate, opts)
        slow = api._estimate_values(c, m, p, batch, prompt, generate, opts, fast=False)
        assert _bits(fast) == _bits(slow)
        # again, now from the cached passes
        assert _bits(api._estimate_values(c, m, p, batch, prompt, generate, opts)) == \
            _bits(slow)


def test_estimate_is_the_evaluator_through_the_public_call(chips):
    """estimate() with int counts takes the plan; numpy counts take the evaluator: same
    Estimate, field by field (the counts compare equal)."""
    c, m = chips["orin-static-kv"], api.load_model("qwen3-30b-a3b")
    p = api.make_precision("int8", "int8")
    e = api.estimate(c, m, p, 2, 1000, 300)
    g = api.estimate(c, m, p, np.int64(2), np.int64(1000), np.int64(300))
    assert _bits({k: v for k, v in e.to_dict().items()
                  if k not in ("batch", "prompt_tokens", "generate_tokens")}) == \
        _bits({k: v for k, v in g.to_dict().items()
               if k not in ("batch", "prompt_tokens", "generate_tokens")})
    assert (e.batch, e.prompt_tokens, e.generate_tokens) == (2, 1000, 300)


def test_decode_steps_are_summed_per_call_not_reused_across_lengths(chips):
    """Two calls that share their first steps differ by exactly the extra steps' cost, and
    sweeping the generate length costs no new pass after the first."""
    c, m, p = chips["orin"], api.load_model("qwen3-0.6b"), api.make_precision()
    e16 = api.estimate(c, m, p, 1, 500, 16)
    e17 = api.estimate(c, m, p, 1, 500, 17)
    e1 = api.estimate(c, m, p, 1, 516, 1)
    assert e17.decode_s_per_token * 17 == pytest.approx(
        e16.decode_s_per_token * 16 + e1.decode_s_per_token, rel=1e-12)
    plan = plan_cache.plan_for(c, m, p, CostOptions())
    costed = []
    orig = plan._cost_blocks
    plan._cost_blocks = lambda *a: costed.append(a) or orig(*a)
    try:
        for g in range(1, 12):
            api.estimate(c, m, p, 1, 500, g)
    finally:
        del plan._cost_blocks
    assert costed == []


def test_plans_and_names_are_reused(chips):
    c, m, p = chips["m100"], api.load_model("llama-2-7b"), api.make_precision()
    assert plan_cache.plan_for(c, m, p, CostOptions()) is \
        plan_cache.plan_for(c, m, p, CostOptions())
    assert plan_cache.plan_for(c, m, p, CostOptions()) is not \
        plan_cache.plan_for(c, m, p, CostOptions.paper())
    assert plan_cache.load_chip_cached("li-m100") is plan_cache.load_chip_cached("li-m100")
    assert plan_cache.load_model_cached("LLaMA-2-7B") is plan_cache.load_model_cached(
        "llama-2-7b")
    by_name = api.estimate("li-m100", "llama-2-7b", p, 1, 333, 33)
    by_object = api.estimate(c, m, p, 1, 333, 33)
    assert _bits(by_name.to_dict()) == _bits(by_object.to_dict())


def test_power_mode_by_name_is_cached_and_right():
    chip = api.load_chip("jetson-agx-orin-64gb")
    if not chip.power_modes:
        pytest.skip("no power modes on this preset")
    mode = chip.power_modes[-1].name
    ref = f"jetson-agx-orin-64gb@{mode}"
    assert plan_cache.load_chip_cached(ref) is plan_cache.load_chip_cached(ref)
    e = api.estimate(ref, "qwen3-0.6b", prompt=64, generate=4)
    assert e.power_mode == mode
    direct = api.estimate(api.load_chip(ref), "qwen3-0.6b", prompt=64, generate=4)
    assert _bits(e.to_dict()) == _bits(direct.to_dict())


def test_an_edited_chip_file_is_read_again(tmp_path):
    path = tmp_path / "my-chip.yaml"
    shutil.copy(preset_path("jetson-agx-orin-64gb"), path)
    before = api.estimate(str(path), "qwen3-0.6b", prompt=128, generate=8)
    assert plan_cache.load_chip_cached(str(path)) is plan_cache.load_chip_cached(str(path))
    text = path.read_text()
    assert "static_power:" in text
    lines = [ln if not ln.strip().startswith("static_power:") else
             ln.split("static_power:")[0] + 'static_power: {value: "99 W", assumption: "test"}'
             for ln in text.splitlines()]
    path.write_text("\n".join(lines) + "\n")
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    after = api.estimate(str(path), "qwen3-0.6b", prompt=128, generate=8)
    assert after.energy_j > before.energy_j
    fresh = api.estimate(api.load_chip(str(path)), "qwen3-0.6b", prompt=128, generate=8)
    assert _bits(after.to_dict()) == _bits(fresh.to_dict())


def test_errors_are_the_same_on_the_cached_path():
    with pytest.raises(SpecError, match="unknown chip"):
        api.estimate("no-such-chip", "qwen3-0.6b")
    with pytest.raises(SpecError, match="unknown model"):
        api.estimate("li-m100", "no-such-model")
    for _ in range(2):  # a refused plan is refused again, not remembered as fine
        with pytest.raises(UserError, match="cannot execute fp32 GEMMs"):
            api.estimate("li-m100", "qwen3-0.6b", api.make_precision("fp32", "fp32"))
    with pytest.raises(UserError, match="encoder"):
        api.estimate("li-m100", "siglip-so400m-patch14-384", generate=4)


def test_clear_forgets_everything(chips):
    c, m, p = chips["orin"], api.load_model("qwen3-0.6b"), api.make_precision()
    e = api.estimate(c, m, p, 1, 100, 10)
    plan = plan_cache.plan_for(c, m, p, CostOptions())
    plan_cache.clear()
    assert plan_cache.plan_for(c, m, p, CostOptions()) is not plan
    assert _bits(api.estimate(c, m, p, 1, 100, 10).to_dict()) == _bits(e.to_dict())


# ---- the evaluator's sums and bounds, against the plain numpy expressions they replace ------


def _naive_phase_sums(terms):
    t = 0.0
    by = {b: 0.0 for b in BOUNDS}
    for bound, tc in terms:
        t = t + tc
        for i, b in enumerate(BOUNDS):
            by[b] = by[b] + np.where(bound == i, tc, 0.0)
    return t, by


@pytest.mark.parametrize("shapes", [[(), (), ()], [(), (5,), (3, 1), (3, 5)],
                                    [(4, 1), (4, 6), (6,), ()], [(2, 3, 4), (4,), (3, 1)]])
def test_running_and_bound_sums_are_the_plain_sums(shapes):
    rng = np.random.default_rng(len(shapes))
    terms = []
    for k, s in enumerate(shapes * 3):
        tc = rng.random(s) * 10.0 ** rng.integers(-9, 3)
        if s and k == 4:
            tc.flat[0] = np.nan
        bound = rng.integers(0, len(BOUNDS), s) if s else np.intp(k % len(BOUNDS))
        terms.append((bound, tc if s else float(tc)))
    run, sums = _RunningSum(), _BoundSums()
    for bound, tc in terms:
        run.add(tc)
        sums.add(bound, tc)
    t, by = _naive_phase_sums(terms)
    assert np.shape(run.value) == np.shape(t)
    assert np.asarray(run.value).tobytes() == np.asarray(t).tobytes()
    got = sums.result()
    for b in BOUNDS:
        assert np.shape(got[b]) == np.shape(by[b])
        assert np.asarray(got[b]).tobytes() == np.asarray(by[b]).tobytes()


def test_argmax_without_a_stack_is_numpys():
    rng = np.random.default_rng(3)
    vals = [rng.integers(0, 3, (50, 7)).astype(float) for _ in range(6)]  # many ties
    vals[2][0, 0] = vals[4][0, 0] = np.nan
    vals[5][1, :] = np.nan
    vals[0] = vals[0][:, :1]  # broadcasting
    vals[3] = 1.0
    want = np.argmax(np.stack(np.broadcast_arrays(*vals)), axis=0)
    assert np.array_equal(_argmax_arrays(vals), want)
    assert _argmax_first([1.0, 3.0, 3.0, np.nan, 2.0, np.nan]) == 3
    assert _argmax_first([0.0, 2.0, 2.0, 1.0, 0.0, 0.0]) == 1


def test_grouped_tiles_of_recent_arguments_are_reused_by_value():
    a = (8.0, 2.0, 0.0, np.array([1.0, 4.0, 16.0]), np.array([16.0, 16.0, 32.0]))
    first = _grouped_tiles_recent(a)
    again = _grouped_tiles_recent(tuple(x.copy() if isinstance(x, np.ndarray) else x
                                        for x in a))
    assert again is first
    other = _grouped_tiles_recent(a[:3] + (np.array([1.0, 4.0, 17.0]), a[4]))
    assert other is not first
    direct = _grouped_tiles_arrays(a)
    for x, y in zip(first, direct):
        assert np.asarray(x).tobytes() == np.asarray(y).tobytes()
