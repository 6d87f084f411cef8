"""VLA model presets: pi0's Gemma 2B and action expert, DINOv2 ViT-L/14, Alpamayo-R1's expert and
a small MoE VLA language model. Parameter counts against published figures and hand counts."""

import pytest
import yaml

from microarch.schema import SpecError
from workloads.loader import list_models, load_model

# Published parameter counts, each with its source.
PUBLISHED = {
    # Gemma report (arXiv 2403.08295) Table 2: 1,981,884,416 non-embedding parameters, plus
    # PaliGemma's 257,152 x 2048 embedding (openpi gemma.py PALIGEMMA_VOCAB_SIZE).
    "gemma-2b": 1_981_884_416 + 257_152 * 2048,
    # openpi src/openpi/models/gemma.py, get_config("gemma_300m"): "# 311M params".
    "pi0-action-expert": 311e6,
    # github.com/facebookresearch/dinov2 README: "ViT-L/14 distilled 300 M".
    "dinov2-vit-large-patch14": 300e6,
    # Alpamayo model card / arXiv 2511.00088: "Action Expert: 2.3B parameters".
    "alpamayo-r1-expert": 2.3e9,
    # ~431M, 8-expert MoE VLA language model of the M100 paper (arXiv 2604.17862) as cited in
    # issue 15.
    "moe-vla-0.4b": 431e6,
}


@pytest.mark.parametrize("name", sorted(PUBLISHED))
def test_vla_preset_parameter_counts(name):
    assert name in list_models()
    assert load_model(name).total_params == pytest.approx(PUBLISHED[name], rel=0.02)


def _dense_layer(d, n_heads, n_kv, head_dim, d_ff, matrices):
    """Hand count of one block: Q and O (d x n_heads*head_dim), K and V (d x n_kv*head_dim),
    the MLP (matrices x d x d_ff)."""
    return 2 * d * n_heads * head_dim + 2 * d * n_kv * head_dim + matrices * d * d_ff


def test_gemma_2b_golden():
    m = load_model("gemma-2b")
    layer = 2 * 2048 * 2048 + 2 * 2048 * 256 + 3 * 2048 * 16384  # 110,100,480
    assert m.layer_params == 18 * layer == 1_981_808_640
    # Gemma's published non-embedding count also holds 18 x 2 + 1 RMSNorm vectors of 2048.
    assert m.layer_params + (2 * 18 + 1) * 2048 == 1_981_884_416
    assert m.embedding_params == 257_152 * 2048 and m.head_params == 0  # tied


def test_pi0_expert_golden_and_shares_the_vlm_kv_cache():
    e, vlm = load_model("pi0-action-expert"), load_model("gemma-2b")
    assert e.total_params == 18 * _dense_layer(1024, 8, 1, 256, 4096, 3) == 311_427_072
    assert e.vocab_size == 0 and e.embedding_params == 0 and e.causal
    # Expert layer l attends to the VLM's layer-l keys and values: same depth and KV width.
    assert (e.n_layers, e.d_kv, e.head_dim) == (vlm.n_layers, vlm.d_kv, vlm.head_dim)


def test_alpamayo_expert_golden_and_shares_the_vlm_kv_cache():
    e, vlm = load_model("alpamayo-r1-expert"), load_model("qwen3-8b")  # Qwen3-VL-8B text shape
    assert e.total_params == 36 * _dense_layer(2048, 16, 8, 128, 8256, 3) == 2_279_079_936
    assert e.vocab_size == 0 and e.causal and e.qk_norm
    assert (e.n_layers, e.d_kv, e.head_dim) == (vlm.n_layers, vlm.d_kv, vlm.head_dim)


def test_dinov2_is_an_encoder():
    m = load_model("dinov2-vit-large-patch14")
    assert not m.causal and m.vocab_size == 0 and m.ffn_matrices == 2
    assert m.total_params == 24 * (4 * 1024 * 1024 + 2 * 1024 * 4096) == 301_989_888


def test_moe_vla_golden():
    m = load_model("moe-vla-0.4b")
    assert m.is_moe and (m.n_experts, m.top_k) == (8, 2)
    attn = 2 * 768 * 768 + 2 * 768 * 256
    experts = 8 * 3 * 768 * 768 + 768 * 8  # eight SwiGLU experts and the router
    assert m.layer_params == 20 * (attn + experts) == 314_695_680
    assert m.total_params == 314_695_680 + 151_936 * 768 == 431_382_528
    assert m.active_params == 20 * (attn + 2 * 3 * 768 * 768 + 768 * 8) + 151_936 * 768


def test_openvla_padded_vocabulary_is_negligible():
    # OpenVLA pads Llama-2's 32,000 tokens to 32,064 (huggingface.co/openvla/openvla-7b
    # config.json pad_to_multiple_of 64); the llama-2-7b preset stays within 0.01 %.
    m = load_model("llama-2-7b")
    assert m.replace(vocab_size=32064).total_params == pytest.approx(m.total_params, rel=1e-4)


def test_moe_vla_assumption_outside_its_range_is_refused(tmp_path):
    from importlib import resources

    src = resources.files("workloads") / "presets" / "models" / "moe-vla-0.4b.yaml"
    data = yaml.safe_load(src.read_text())
    data["n_layers"]["value"] = 40  # range [12, 28]
    p = tmp_path / "moe.yaml"
    p.write_text(yaml.safe_dump(data))
    with pytest.raises(SpecError, match="n_layers"):
        load_model(p)
