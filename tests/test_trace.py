"""VLA traces: presets, token counts, arrival generation, strict YAML validation."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import yaml

from microarch.schema import SpecError
from workloads.loader import load_model
from workloads.trace import (
    Language,
    Stream,
    Trace,
    Vision,
    VLARequest,
    list_traces,
    load_trace,
    trace_from_dict,
)

GOOD = {
    "name": "t",
    "duration": "1 s",
    "streams": [{
        "name": "vla",
        "deadline": "100 ms",
        "arrival": {"rate": "10 Hz", "jitter": "2 ms"},
        "vision": {"encoder": "siglip-so400m-patch14-384", "cameras": 2, "image_size": 384,
                   "patch_size": 14},
        "language": {"model": "qwen2.5-0.5b", "text_tokens": 10, "action_tokens": 4},
    }],
}


def write(tmp_path, data, name="bad.yaml"):
    p = tmp_path / name
    p.write_text(yaml.safe_dump(data), encoding="utf-8")
    return p


def test_presets_load():
    names = list_traces()
    for required in ("vla-drive-10hz", "embodied-20ms", "drive-perception-vla"):
        assert required in names
    for n in names:
        t = load_trace(n)
        assert t.name == n and t.duration_s > 0 and t.streams


def test_vla_drive_10hz_is_the_plas_driving_workload():
    t = load_trace("vla-drive-10hz")
    (s,) = t.streams
    assert s.rate_hz == 10.0 and s.deadline_s == pytest.approx(0.1)
    assert s.request.vision.cameras == 6
    assert s.request.prefill_tokens == 1024 and s.request.action_tokens == 16
    assert t.duration_s * s.rate_hz == pytest.approx(100)
    assert s.request.language.model is None  # taken from --model
    assert t.missing_models() == ["vla"]
    assert t.with_model(load_model("qwen2.5-0.5b")).missing_models() == []


def test_mixed_and_decode_bound_presets():
    mixed = load_trace("drive-perception-vla")
    kinds = {s.name: (s.request.vision is not None, s.request.language is not None)
             for s in mixed.streams}
    assert kinds["perception"] == (True, False) and kinds["vla"] == (True, True)
    emb = load_trace("embodied-20ms").streams[0]
    assert emb.deadline_s == pytest.approx(0.020)
    # 256 SigLIP patches at 224 px + 32 text tokens, 7 action tokens (OpenVLA).
    assert emb.request.prefill_tokens == 256 + 32 and emb.request.action_tokens == 7


def test_vision_token_counts():
    siglip = load_model("siglip-so400m-patch14-384")
    clip = load_model("clip-vit-large-patch14")
    v = Vision(siglip, cameras=6, image_size=384, patch_size=14)
    assert v.patches_per_camera == 729 and v.encoder_tokens == 729  # 27 x 27, no class token
    c = Vision(clip, cameras=1, image_size=224, patch_size=14, class_token=True)
    assert c.patches_per_camera == 256 and c.encoder_tokens == 257
    assert c.llm_tokens_per_camera == 256  # class token dropped before the projector
    m = load_model("qwen2.5-0.5b")
    assert VLARequest(v, Language(m, 16, text_tokens=20)).prefill_tokens == 6 * 729 + 20
    pooled = Vision(siglip, 6, 384, 14, tokens_per_camera=64)
    assert VLARequest(pooled, Language(m, 16, text_tokens=20)).prefill_tokens == 6 * 64 + 20
    assert VLARequest(pooled, Language(m, 16, prompt_tokens=1024)).prefill_tokens == 1024
    assert VLARequest(pooled, Language(m, 16, prompt_tokens=1024)).vision_tokens == 6 * 64
    with pytest.raises(ValueError, match="fewer than the 4374 vision tokens"):
        VLARequest(v, Language(m, 16, prompt_tokens=1024))  # 6 x 729 patches cannot fit


def test_encoder_presets_shapes():
    s = load_model("siglip-so400m-patch14-384")
    assert (s.n_layers, s.d_model, s.n_heads, s.d_ff) == (27, 1152, 16, 4304)
    assert not s.causal and s.vocab_size == 0 and s.ffn_matrices == 2
    assert 0.40e9 < s.total_params < 0.42e9  # "so400m"
    c = load_model("clip-vit-large-patch14")
    assert (c.n_layers, c.d_model, c.n_heads, c.d_ff) == (24, 1024, 16, 4096)
    assert 0.29e9 < c.total_params < 0.31e9  # ViT-L: ~300M


def test_periodic_arrivals_without_jitter():
    m = load_model("qwen2.5-0.5b")
    s = Stream("a", VLARequest(None, Language(m, 4, 16)), rate_hz=20.0, deadline_s=0.05,
               offset_s=0.01)
    t = s.arrival_times(1.0, np.random.default_rng(0))
    assert t.size == 20
    np.testing.assert_allclose(t, 0.01 + np.arange(20) / 20.0)


def test_jitter_is_seeded_bounded_and_ordered():
    m = load_model("qwen2.5-0.5b")
    s = Stream("a", VLARequest(None, Language(m, 4, 16)), 10.0, 0.1, jitter_s=0.004)
    tr = Trace("t", (s,), 2.0)
    a1, = tr.arrivals(seed=1)
    a1b, = tr.arrivals(seed=1)
    a2, = tr.arrivals(seed=2)
    np.testing.assert_array_equal(a1, a1b)
    assert not np.array_equal(a1, a2)
    capture = np.arange(20) / 10.0
    assert np.all(a1 >= capture) and np.all(a1 <= capture + 0.004)
    assert np.all(np.diff(a1) > 0)


def test_streams_draw_independent_jitter():
    m = load_model("qwen2.5-0.5b")
    req = VLARequest(None, Language(m, 4, 16))
    tr = Trace("t", (Stream("a", req, 10.0, 0.1, 0.005), Stream("b", req, 10.0, 0.1, 0.005)),
               1.0)
    a, b = tr.arrivals(seed=0)
    assert not np.array_equal(a, b)


def test_good_file_loads_with_relative_model_path(tmp_path):
    (tmp_path / "tiny.yaml").write_text(yaml.safe_dump({
        "name": "tiny", "n_layers": 2, "d_model": 64, "n_heads": 4, "n_kv_heads": 2,
        "head_dim": 16, "d_ff": 128, "vocab_size": 100}), encoding="utf-8")
    data = copy.deepcopy(GOOD)
    data["streams"][0]["language"]["model"] = "tiny.yaml"
    t = load_trace(write(tmp_path, data, "good.yaml"))
    s = t.streams[0]
    assert s.request.language.model.name == "tiny"
    assert s.request.prefill_tokens == 2 * 729 + 10
    assert s.jitter_s == pytest.approx(0.002) and s.deadline_s == pytest.approx(0.1)


def _mutate(path: str, value):
    data = copy.deepcopy(GOOD)
    node = data
    keys = path.split(".")
    for k in keys[:-1]:
        node = node[int(k)] if k.isdigit() else node[k]
    if value is _DELETE:
        del node[keys[-1]]
    else:
        node[keys[-1]] = value
    return data


_DELETE = object()


@pytest.mark.parametrize("path, value, field, words", [
    ("streams.0.arrival.rate", "-10 Hz", "streams[0].arrival.rate", "> 0"),
    ("streams.0.vision.cameras", 0, "streams[0].vision.cameras", "> 0"),
    ("streams.0.language.model", "no-such-model", "streams[0].language.model",
     "unknown model"),
    ("streams.0.vision.encoder", "qwen2.5-0.5b", "streams[0].vision.encoder", "causal"),
    ("streams.0.deadline", "100 Hz", "streams[0].deadline", "not a time"),
    ("streams.0.deadline", "100 MB", "streams[0].deadline", "not a time"),
    ("streams.0.deadline", 100, "streams[0].deadline", "no unit"),
    ("streams.0.arrival.jitter", "150 ms", "streams[0].arrival.jitter", "period"),
    ("streams.0.language.prompt_tokens", 1024, "streams[0].language.text_tokens", "not both"),
    ("streams.0.language.action_tokens", -1, "streams[0].language.action_tokens", ">= 0"),
    ("streams.0.vision.patch_size", 500, "streams[0].vision.patch_size", "larger"),
    ("streams.0.colour", "red", "streams[0].colour", "unknown field"),
    ("duration", "10", "duration", "no unit"),
    ("streams.0.arrival.rate", _DELETE, "streams[0].arrival.rate", "missing"),
])
def test_bad_trace_is_one_line_naming_file_and_field(tmp_path, path, value, field, words):
    p = write(tmp_path, _mutate(path, value))
    with pytest.raises(SpecError) as exc:
        load_trace(p)
    lines = str(exc.value).splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith(f"bad.yaml: {field}: "), lines[0]
    assert words in lines[0]


def test_every_problem_reported_together(tmp_path):
    data = _mutate("streams.0.arrival.rate", "-1 Hz")
    data["streams"][0]["vision"]["cameras"] = 0
    with pytest.raises(SpecError) as exc:
        load_trace(write(tmp_path, data))
    assert len(exc.value.errors) == 2


def test_missing_streams_and_unknown_preset(tmp_path):
    with pytest.raises(SpecError, match=r"bad.yaml: streams: missing"):
        load_trace(write(tmp_path, {"name": "x", "duration": "1 s"}))
    with pytest.raises(SpecError, match=r"bad.yaml: streams: needs at least one"):
        load_trace(write(tmp_path, {"name": "x", "duration": "1 s", "streams": []}))
    with pytest.raises(SpecError, match="unknown trace 'nope'.*vla-drive-10hz"):
        load_trace("nope")


def test_stream_needs_vision_or_language(tmp_path):
    data = copy.deepcopy(GOOD)
    del data["streams"][0]["vision"], data["streams"][0]["language"]
    with pytest.raises(SpecError, match=r"bad.yaml: streams\[0\]: needs a vision section"):
        load_trace(write(tmp_path, data))


def test_dataclasses_validate_programmatic_input():
    m = load_model("qwen2.5-0.5b")
    req = VLARequest(None, Language(m, 4, 16))
    with pytest.raises(ValueError, match="rate_hz"):
        Stream("a", req, -1.0, 0.1)
    with pytest.raises(ValueError, match="jitter"):
        Stream("a", req, 10.0, 0.1, jitter_s=0.1)
    with pytest.raises(ValueError, match="cameras"):
        Vision(load_model("clip-vit-large-patch14"), 0, 224, 14)
    with pytest.raises(ValueError, match="unique"):
        Trace("t", (Stream("a", req, 1.0, 1.0), Stream("a", req, 1.0, 1.0)), 1.0)
    assert trace_from_dict(GOOD, "x.yaml").to_dict()["streams"][0]["request"][
        "prefill_tokens"] == 2 * 729 + 10


def test_every_preset_prefill_holds_its_vision_tokens():
    for n in list_traces():
        for s in load_trace(n).streams:
            r = s.request
            if r.language is not None:
                assert r.prefill_tokens >= r.vision_tokens, (n, s.name)


def test_vla_drive_10hz_vision_tokens_fit_the_1024_token_prefill():
    (s,) = load_trace("vla-drive-10hz").streams
    v = s.request.vision
    assert v.patches_per_camera == 256 and v.encoder_tokens == 257  # the encoder is unchanged
    assert v.llm_tokens_per_camera == 256 // 4  # 2 x 2 patch merging in the projector
    assert s.request.vision_tokens == 384 and s.request.prefill_tokens == 1024


def test_prompt_tokens_below_the_vision_tokens_is_refused(tmp_path):
    data = copy.deepcopy(GOOD)
    lang = data["streams"][0]["language"]
    del lang["text_tokens"]
    lang["prompt_tokens"] = 1000  # 2 cameras x 729 SigLIP patches = 1458
    with pytest.raises(SpecError) as exc:
        load_trace(write(tmp_path, data))
    (line,) = str(exc.value).splitlines()
    assert line.startswith("bad.yaml: streams[0].language.prompt_tokens: 1000 is fewer than "
                           "the 1458 vision tokens")
    assert "tokens_per_camera" in line
    data["streams"][0]["vision"]["tokens_per_camera"] = 400  # 800 vision + 200 text: fits
    assert load_trace(write(tmp_path, data)).streams[0].request.vision_tokens == 800


@pytest.mark.parametrize("rate, offset, duration, frames", [
    (10.0, 0.0, 0.3, 3),        # 0.3 * 10 rounds to 3.0000000000000004: no 4th frame
    (10.0, 0.0, 0.30001, 4),
    (1e-9, 0.0, 1.0, 1),        # a very slow stream still captures its frame at t = 0
    (1e-9, 0.5, 1.0, 1),
    (10.0, 5.0, 1.0, 0),        # first frame after the end
    (10.0, 1.0, 1.0, 0),        # first frame exactly at the end: [0, D) excludes it
    (20.0, 0.01, 1.0, 20),
    (3.0, 0.1, 7.3, 22),        # frames at 0.1 + i/3 < 7.3: i <= 21
])
def test_frame_count_matches_the_arrivals(rate, offset, duration, frames):
    m = load_model("qwen2.5-0.5b")
    s = Stream("a", VLARequest(None, Language(m, 4, 16)), rate, 1.0 / rate, offset_s=offset)
    assert s.frame_count(duration) == frames
    t = s.arrival_times(duration, np.random.default_rng(0))
    assert t.size == frames and np.all(t < duration) and np.all(t >= offset)


@pytest.mark.parametrize("duration", [float("inf"), float("nan"), 0.0, -1.0])
def test_durations_must_be_finite_and_positive(duration):
    m = load_model("qwen2.5-0.5b")
    s = Stream("a", VLARequest(None, Language(m, 4, 16)), 10.0, 0.1)
    with pytest.raises(ValueError, match="finite"):
        s.frame_count(duration)
    with pytest.raises(ValueError, match="finite"):
        Trace("t", (s,), 1.0).arrivals(duration)
    with pytest.raises(ValueError, match="duration_s"):
        Trace("t", (s,), duration)


def test_astronomic_frame_counts_stay_cheap():
    m = load_model("qwen2.5-0.5b")
    s = Stream("a", VLARequest(None, Language(m, 4, 16)), 10.0, 0.1)
    assert s.frame_count(1e300) == pytest.approx(1e301, rel=1e-12)
    fast = Stream("b", VLARequest(None, Language(m, 4, 16)), 1e300, 1e-301)
    with pytest.raises(ValueError, match="more frames than can be counted"):
        fast.frame_count(1e300)


def test_an_encoder_cannot_fill_the_language_model():
    with pytest.raises(SpecError, match="'clip-vit-large-patch14' is an encoder.*"
                                        "'vla-drive-10hz'"):
        load_trace("vla-drive-10hz").with_model(load_model("clip-vit-large-patch14"))
