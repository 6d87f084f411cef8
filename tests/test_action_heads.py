"""Action generation: flow-matching experts, parallel and speculative decoding, chunking.

Golden FLOPs and bytes of one flow step and one speculative round against hand
calculations; properties (more flow steps or a longer chunk is never faster; acceptance 1
equals parallel decoding); the simulator equals the analytic frame to 1e-9 for every mode; the
chunk-continuity check; bad trace files.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from chipdse import api
from chipdse.accounting import request_estimate
from chipdse.sim import simulate
from chipdse.sim.results import chunk_continuity
from microarch.loader import load_chip
from microarch.schema import SpecError
from workloads.action import ActionGeneration, Chunking, FlowHead, Speculative
from workloads.graph import request_kv_bytes, request_passes
from workloads.loader import load_model
from workloads.ops import ArchArrays, kv_cache_bytes
from workloads.precision import Precision
from workloads.trace import Language, Stream, Trace, Vision, VLARequest, load_trace

QWEN = load_model("qwen2.5-0.5b")  # 24 layers, d 896, 14 / 2 heads of 64, d_ff 4864
CLIP = load_model("clip-vit-large-patch14")
# An expert that can read QWEN's cache: same depth and KV width (2 x 64), narrower.
EXPERT = QWEN.replace(name="test-expert", d_model=512, d_ff=1536, n_heads=8, vocab_size=0,
                      tied_embeddings=False)
DRAFT = QWEN.replace(name="test-draft", n_layers=4)
P16 = Precision()
PROMPT = 300


def flow(steps: int = 10, actions: int = 16, state: int = 1, reasoning: int = 0) -> VLARequest:
    gen = ActionGeneration("flow", actions, flow=FlowHead(EXPERT, steps, 7, state))
    return VLARequest(Vision(CLIP, 1, 224, 14, class_token=True),
                      Language(QWEN, reasoning, prompt_tokens=PROMPT, generation=gen))


def spec(tokens: int = 16, k: int = 4, alpha: float = 0.7) -> VLARequest:
    gen = ActionGeneration("speculative", 1, speculative=Speculative(DRAFT, k, alpha))
    return VLARequest(None, Language(QWEN, tokens, prompt_tokens=PROMPT, generation=gen))


def parallel(tokens: int = 16) -> VLARequest:
    return VLARequest(None, Language(QWEN, tokens, prompt_tokens=PROMPT,
                                     generation=ActionGeneration("parallel", 1)))


def one_shot(req: VLARequest) -> Trace:
    return Trace("single", (Stream("s", req, 1.0, 10.0),), 0.05)


def _pass(req: VLARequest, phase: str, index: int = 0):
    return [p for p in request_passes(req, P16) if p.phase == phase][index]


def _sum(ops, field: str) -> float:
    return float(sum(np.sum(np.asarray(getattr(o, field)) * o.count) for o in ops))


# ---- golden values ---------------------------------------------------------------------------

def test_flow_step_flops_and_bytes_by_hand():
    req = flow(steps=10, actions=16, state=1)
    po = _pass(req, "action")
    assert po.steps == 10 and po.past == PROMPT
    L, d, ff, dq, dkv, T, P = 24, 512, 1536, 8 * 64, 2 * 64, 17, PROMPT
    per_layer = (2 * T * d * (dq + 2 * dkv) + 2 * T * dq * d  # qkv, o
                 + 2 * T * d * 2 * ff + 2 * T * ff * d          # swiglu up+gate, down
                 + 4 * T * (P + T) * dq)                       # attention, chunk bidirectional
    proj = 2 * (16 * 7 * d + 1 * 7 * d + 16 * 2 * d * d + 16 * d * d + 16 * d * 7)
    matrix = _sum([o for o in po.ops if o.engine == "matrix"], "flops")
    assert matrix == pytest.approx(L * per_layer + proj, rel=1e-12)
    weights = _sum(po.ops, "weight_bytes")
    w_layers = L * (d * (dq + 2 * dkv) + dq * d + 3 * d * ff) * 2
    w_proj = (7 * d + 7 * d + 2 * d * d + d * d + d * 7) * 2
    assert weights == pytest.approx(w_layers + w_proj, rel=1e-12)
    # Each layer reads the prefix cache (and the chunk's own keys) at the expert's KV width.
    kv = _sum(po.ops, "kv_read_bytes")
    assert kv == pytest.approx(L * (P + T) * 2 * dkv * 2, rel=1e-12)


def test_speculative_round_by_hand():
    sp = Speculative(DRAFT, 4, 0.7)
    assert sp.tokens_per_round == pytest.approx((1 - 0.7 ** 5) / 0.3, rel=1e-12)  # 2.7731
    assert sp.rounds(16) == 6 and sp.rounds(7) == 3 and sp.rounds(0) == 0
    assert Speculative(DRAFT, 4, 1.0).tokens_per_round == 5.0
    assert Speculative(DRAFT, 4, 0.0).tokens_per_round == 1.0
    req = spec(16, 4, 0.7)
    phases = [p.name for p in request_passes(req, P16)]
    assert phases == ["prefill", "draft_prefill"] + [
        n for r in range(6) for n in (f"draft:{r}", f"verify:{r}")]
    v = _pass(req, "verify", 2)
    base = PROMPT + 2 * sp.tokens_per_round
    assert v.past == pytest.approx(base)
    L, d, ff, dq, dkv, T, V = 24, 896, 4864, 14 * 64, 128, 5, 151936
    layers = L * (2 * T * d * (dq + 2 * dkv) + 2 * T * dq * d + 2 * T * d * 3 * ff
                  + 4 * (T * base + T * (T + 1) / 2) * dq)
    head = 2 * T * d * V  # the LM head scores every verified position
    assert _sum([o for o in v.ops if o.engine == "matrix"], "flops") == \
        pytest.approx(layers + head, rel=1e-12)
    draft = _pass(req, "draft", 2)  # draft:1 (index 0 is the draft's prefill)
    assert draft.steps == 4
    np.testing.assert_allclose(draft.past, base - sp.tokens_per_round + np.arange(4))


def test_kv_allocation_counts_draft_and_chunk():
    a = ArchArrays.from_model(QWEN)
    plain = float(kv_cache_bytes(a, P16, 1, PROMPT + 16))
    assert request_kv_bytes(parallel(16), P16) == pytest.approx(plain)
    draft = float(kv_cache_bytes(ArchArrays.from_model(DRAFT), P16, 1, PROMPT + 16 + 4))
    verify = float(kv_cache_bytes(a, P16, 1, 5))
    assert request_kv_bytes(spec(16, 4), P16) == pytest.approx(plain + draft + verify)


# ---- properties ------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def thor():
    return load_chip("jetson-agx-thor")


def test_more_flow_steps_and_longer_chunks_are_never_faster(thor):
    t = [request_estimate(flow(steps=k), thor, P16).total_s for k in (1, 2, 5, 10, 20)]
    assert all(b >= a for a, b in zip(t, t[1:]))
    c = [request_estimate(flow(actions=h), thor, P16).total_s for h in (1, 8, 16, 50, 128)]
    assert all(b >= a for a, b in zip(c, c[1:]))


def test_acceptance_one_equals_parallel_decoding_of_the_round(thor):
    k = 4
    s = request_estimate(spec(tokens=k + 1, k=k, alpha=1.0), thor, P16)
    p = request_estimate(parallel(tokens=k + 1), thor, P16)
    assert s.verify_s == pytest.approx(p.action_s, rel=1e-12)
    assert [pc.name for pc in s.passes].count("verify:0") == 1  # one round


def test_speculation_pays_only_with_acceptance(thor):
    ar = request_estimate(VLARequest(None, Language(QWEN, 16, prompt_tokens=PROMPT)), thor, P16)
    hi = request_estimate(spec(alpha=0.9), thor, P16)
    lo = request_estimate(spec(alpha=0.0), thor, P16)
    assert hi.total_s < ar.total_s < lo.total_s


@pytest.mark.parametrize("make", [flow, spec, parallel,
                                  lambda: flow(reasoning=5, state=0)],
                         ids=["flow", "speculative", "parallel", "flow+reasoning"])
@pytest.mark.parametrize("mode", ["fixed", "static"])
def test_simulator_equals_analytic_frame(make, mode, thor):
    from chipdse.sim import with_phase

    chip = with_phase(thor, mode, prefill_compute_share=0.6, prefill_bandwidth_share=0.4)
    req = make()
    res = simulate(chip, trace=one_shot(req))
    est = request_estimate(req, chip, P16)
    (row,) = res.requests.itertuples()
    assert row.latency_s == pytest.approx(est.total_s, rel=1e-9, abs=0)
    assert row.energy_j == pytest.approx(est.energy_j, rel=1e-9)
    busy = res.event_summary.groupby("phase")["busy_s"].sum()
    for ph in ("encode", "prefill", "decode", "draft", "verify", "action"):
        assert busy.get(ph, 0.0) == pytest.approx(getattr(est, f"{ph}_s"), rel=1e-9, abs=1e-15)


def test_frame_bands_cover_the_new_phases(thor):
    draws = api.draw(["jetson-agx-thor"], n=32, seed=1)
    tr = one_shot(flow())
    s = api.frame_estimate_samples("jetson-agx-thor", draws, trace=tr)
    point = api.frame_estimate("jetson-agx-thor", trace=tr)
    assert s["action_s"].shape == (32,) and np.all(s["action_s"] > 0)
    assert np.percentile(s["total_s"], 5) < point.total_s < np.percentile(s["total_s"], 95)


# ---- chunking --------------------------------------------------------------------------------

def test_chunk_continuity_overlapped():
    # chunks every 0.5 s, each lasts 0.5 s; the third is 0.1 s late
    ready = np.array([0.2, 0.7, 1.3, 1.7])
    c = chunk_continuity(ready, ready - np.arange(4) * 0.5, 0.5, True, 2.0)
    assert c["chunk_stalls"] == 1 and c["stall_s"] == pytest.approx(0.1)
    assert c["motion_duty"] == pytest.approx(1 - 0.1 / (2.2 - 0.2))
    never = chunk_continuity(np.array([0.2, np.inf]), np.array([0.2, np.inf]), 0.5, True, 2.0)
    assert never["stall_s"] == pytest.approx(2.0 - 0.7)


def test_chunk_continuity_synchronous():
    lat = np.array([0.1, 0.2])
    c = chunk_continuity(lat, lat, 0.5, False, 5.0)
    assert c["chunk_stalls"] == 2 and c["stall_s"] == pytest.approx(0.3)
    assert c["motion_duty"] == pytest.approx(1.0 / 1.3)


def test_simulated_chunk_check_matches_latencies():
    tr = load_trace("pi0-manipulation-50hz")
    res = simulate("jetson-agx-thor", trace=tr, duration_s=3.0)
    row = res.summary.iloc[0]
    lat = res.requests.latency_s.to_numpy()
    # Alone, each chunk is ready long before the 0.5 s its predecessor lasts.
    assert lat.max() < 0.5 and row.chunk_stalls == 0 and row.motion_duty == 1.0


def test_chunking_validation():
    req = flow(actions=16)
    with pytest.raises(ValueError, match="execute 20 exceeds the 16 actions"):
        Stream("s", req, 1.0, 1.0, chunking=Chunking(20, 50.0))
    with pytest.raises(ValueError, match="control_rate_hz"):
        Chunking(4, 0.0)


# ---- bad inputs ------------------------------------------------------------------------------

def test_expert_must_match_the_cache_it_reads():
    bad = EXPERT.replace(name="shallow", n_layers=12)
    gen = ActionGeneration("flow", 16, flow=FlowHead(bad, 10, 7))
    with pytest.raises(ValueError, match="12 layers .* which has 24"):
        Language(QWEN, 0, prompt_tokens=PROMPT, generation=gen)
    with pytest.raises(ValueError, match="acceptance"):
        Speculative(DRAFT, 4, 1.5)
    with pytest.raises(ValueError, match="action_tokens must be >= 1 for parallel"):
        Language(QWEN, 0, prompt_tokens=PROMPT, generation=ActionGeneration("parallel", 1))


def _trace_file(tmp_path: Path, generation: str, chunking: str = "") -> Path:
    p = tmp_path / "t.yaml"
    p.write_text(f"""name: t
duration: "1 s"
streams:
  - name: s
    deadline: "100 ms"
    arrival: {{rate: "10 Hz"}}
    language:
      model: gemma-2b
      prompt_tokens: 100
      action_tokens: 0
      generation:
{generation}
{chunking}""")
    return p


@pytest.mark.parametrize("gen, message", [
    ("        mode: diffusionn", "generation.mode: 'diffusionn' is not one of"),
    ("        mode: flow\n        expert: qwen3-0.6b\n        steps: 10\n        action_dim: 32",
     "streams[0].language.generation: action expert 'qwen3-0.6b' has 28 layers"),
    ("        mode: flow\n        expert: pi0-action-expert\n        steps: 0\n"
     "        action_dim: 32", "generation.steps: number must be > 0"),
    ("        mode: speculative\n        draft: qwen3-0.6b\n        draft_tokens: 4\n"
     "        acceptance: 0.7", "speculative generation needs action_tokens >= 1"),
    ("        mode: flow\n        expert: pi0-action-expert\n        steps: 10\n"
     "        action_dim: 32\n        bogus: 1", "generation.bogus"),
])
def test_bad_generation_sections(tmp_path, gen, message):
    with pytest.raises(SpecError) as exc:
        load_trace(_trace_file(tmp_path, gen))
    assert message in str(exc.value)
    assert "t.yaml" in str(exc.value)


def test_bad_chunking_section(tmp_path):
    gen = ("        mode: flow\n        expert: pi0-action-expert\n        steps: 10\n"
           "        action_dim: 32\n        actions: 50")
    chunk = "    chunking: {execute: 60, control_rate: 50}"
    with pytest.raises(SpecError) as exc:
        load_trace(_trace_file(tmp_path, gen, chunk))
    assert "chunking.control_rate: 50 has no unit" in str(exc.value)
    chunk = '    chunking: {execute: 60, control_rate: "50 Hz"}'
    with pytest.raises(SpecError, match="execute 60 exceeds the 50 actions"):
        load_trace(_trace_file(tmp_path, gen, chunk))


def test_presets_load_and_round_trip():
    for name in ("pi0-manipulation-50hz", "alpamayo-drive-10hz", "openvla-manipulation-5hz"):
        t = load_trace(name)
        d = t.to_dict()["streams"][0]
        assert d["chunking"]["execute"] >= 1
        assert d["request"]["language"]["generation"]["mode"] in ("flow", "autoregressive")
    v = load_trace("openvla-manipulation-5hz").streams[0].request.vision
    assert [e.name for e in v.encoders] == ["dinov2-vit-large-patch14",
                                            "siglip-so400m-patch14-384"]


def test_estimate_trace_cli_matches_the_api():
    import json

    from click.testing import CliRunner

    from chipdse.cli import main

    r = CliRunner().invoke(main, ["estimate", "--trace", "pi0-manipulation-50hz", "--chip",
                                  "jetson-agx-thor", "--format", "json"])
    assert r.exit_code == 0, r.output
    d = json.loads(r.output)
    e = api.frame_estimate("jetson-agx-thor", trace="pi0-manipulation-50hz")
    assert d["total_s"] == pytest.approx(e.total_s, rel=1e-12)
    assert d["actions"] == 50
    assert [p["pass"] for p in d["passes"]] == ["encode:0", "prefill", "action"]
    assert sum(p["time_s"] for p in d["passes"]) == pytest.approx(e.total_s, rel=1e-12)
    r = CliRunner().invoke(main, ["estimate", "--chip", "jetson-agx-thor"])
    assert r.exit_code == 2 and "--model" in r.output
    r = CliRunner().invoke(main, ["estimate", "--trace", "vla-drive-10hz", "--chip",
                                  "jetson-agx-thor"])
    assert r.exit_code == 2 and "give --model" in r.output
