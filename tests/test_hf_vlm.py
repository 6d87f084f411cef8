"""Hugging Face import of Mistral and of the Qwen2-VL / Qwen2.5-VL VLM configs: the language
model with its shape, the vision tower and projector counted, the tower as an encoder, and the
published parameter counts (Hugging Face model pages: Qwen2-VL-7B-Instruct and
Qwen2.5-VL-7B-Instruct 8.29B, Mistral-7B-v0.1 7.24B)."""

import json

import pytest

from chipdse import api
from microarch.schema import SpecError
from workloads.loader import load_model, model_from_hf_config, vision_from_hf_config

DATA = "tests/data/hf"


@pytest.mark.parametrize("name, total_b", [("qwen2_5_vl_7b", 8.29), ("qwen2_vl_7b", 8.29)])
def test_qwen_vl_language_model_and_tower(name, total_b):
    m = load_model(f"{DATA}/{name}_config.json")
    assert (m.n_layers, m.d_model, m.n_heads, m.n_kv_heads, m.d_ff) == (28, 3584, 28, 4, 18944)
    assert (m.total_params + m.uncosted_params) / 1e9 == pytest.approx(total_b, abs=0.005)
    # The ViT of both is about 0.675B parameters (Qwen2-VL report: 675M).
    assert m.uncosted_params / 1e6 == pytest.approx(675, rel=0.01)
    cfg = json.load(open(f"{DATA}/{name}_config.json"))
    v = vision_from_hf_config(cfg, "config.json")
    assert (v.n_layers, v.d_model, v.n_heads, v.vocab_size, v.causal) == (32, 1280, 16, 0, False)
    # The tower costs like any encoder: a frame of it on a chip is finite and positive.
    e = api.estimate("li-m100", v, api.make_precision("int8", "int8"), 1, 1024, 0)
    assert e.prefill_s > 0


def test_mistral_sliding_window():
    m = load_model(f"{DATA}/mistral_7b_v01_config.json")
    assert m.total_params / 1e9 == pytest.approx(7.24, abs=0.005)
    assert m.sliding_window == 4096 and set(m.layer_pattern) == {"sliding_attention+ffn"}
    cfg = json.load(open(f"{DATA}/mistral_7b_v01_config.json"))
    cfg["sliding_window"] = None  # later Mistral versions: full attention
    assert model_from_hf_config(cfg).layer_pattern == ()


def test_bad_vlm_configs():
    cfg = json.load(open(f"{DATA}/qwen2_5_vl_7b_config.json"))
    del cfg["vision_config"]
    with pytest.raises(SpecError, match="x.json: vision_config: a qwen2_5_vl config needs"):
        model_from_hf_config(cfg, "x.json")
    cfg = json.load(open(f"{DATA}/qwen2_5_vl_7b_config.json"))
    cfg["vision_config"]["depth"] = -3
    with pytest.raises(SpecError, match=r"x.json: vision_config.depth: -3 is not a positive"):
        model_from_hf_config(cfg, "x.json")
    with pytest.raises(SpecError, match="a vision tower is read from"):
        vision_from_hf_config({"model_type": "llama"}, "x.json")
