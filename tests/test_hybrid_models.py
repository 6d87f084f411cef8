"""Hybrid model schema: presets and their parameter counts against published ones, the per-layer
pattern, Hugging Face import of Qwen3.5 / Qwen3-Next, Nemotron-H and Gemma 3 configs, and bad
inputs naming the file and key."""

from __future__ import annotations

import json

import pytest

from microarch.schema import SpecError
from workloads.loader import load_model, model_from_hf_config
from workloads.model import ModelArch
from workloads.ops import ArchArrays, weights_total_bytes
from workloads.precision import Precision

# (preset, published count, what it counts, the published figure's rounding step, source)
PUBLISHED = [
    ("qwen3.5-0.8b", 0.9e9, "checkpoint", 0.1e9, "HF safetensors count, autoslm catalog"),
    ("qwen3.5-2b", 2.3e9, "checkpoint", 0.1e9, "HF safetensors count, autoslm catalog"),
    ("qwen3.5-4b", 4.7e9, "checkpoint", 0.1e9, "HF safetensors count, autoslm catalog"),
    ("qwen3.5-9b", 9_653_104_368, "checkpoint", 1.0, "Brooooooklyn/Qwen3.5-9B-unsloth-mlx"),
    ("qwen3.5-27b", 27e9, "language", 1e9, "model name (27B)"),
    ("qwen3.5-35b-a3b", 36e9, "checkpoint", 1e9, "autoslm catalog: 36B total / 3B active"),
    ("nemotron-3-nano-4b", 3.97e9, "language", 0.01e9, "fitmyllm.com (HF count)"),
    ("nemotron-3-nano-30b-a3b", 31.6e9, "language", 0.1e9, "Nemotron 3 Nano report"),
    ("gemma-3-1b", 1.000e9, "language", 1e6, "Gemma 3 report Table 1: 302M + 698M"),
]


@pytest.mark.parametrize("name,published,scope,step,source", PUBLISHED,
                         ids=[p[0] for p in PUBLISHED])
def test_parameter_counts_match_published(name, published, scope, step, source):
    """Within 2 %, or, where the publisher rounds coarser than 2 %, within that rounding."""
    m = load_model(name)
    got = m.checkpoint_params if scope == "checkpoint" else m.total_params
    assert abs(got - published) <= max(0.02 * published, step / 2), (got, published, source)


def test_qwen35_9b_checkpoint_count_is_exact_to_the_norms():
    # 9,653,104,368 published; the difference is norm and decay vectors the count ignores.
    m = load_model("qwen3.5-9b")
    assert abs(m.checkpoint_params - 9_653_104_368) / 9_653_104_368 < 1e-4


def test_gemma3_split_matches_the_report():
    m = load_model("gemma-3-1b")
    assert m.embedding_params == pytest.approx(302e6, rel=0.002)
    assert m.layer_params == pytest.approx(698e6, rel=0.002)


def test_nemotron_layer_mix_and_kv_per_token():
    m = load_model("nemotron-3-nano-4b")
    assert (m.n_layers_with("mamba"), m.n_layers_with("attention"),
            m.n_layers_with(None, ffn=True)) == (21, 4, 17)
    assert m.n_layers_with("any") == 25 and not m.rope
    # 4 attention layers x 8 KV heads x 128 x 2 (K, V) x 2 bytes = 16 KiB per token
    assert m.kv_bytes_per_token(2.0) == 16 * 1024


def test_qwen35_pattern_and_state():
    m = load_model("qwen3.5-4b")
    assert m.layers[:4] == ("linear_attention+ffn",) * 3 + ("attention+ffn",)
    assert m.n_layers_with("linear_attention") == 24 and m.n_layers_with("attention") == 8
    # 24 layers x 32 value heads x 128 x 128 x 4 bytes + conv state (8192 ch x 3 x 2 bytes)
    assert m.recurrent_state_bytes() == 24 * (32 * 128 * 128 * 4 + 8192 * 3 * 2)
    assert m.kv_bytes_per_token(2.0) == 2 * 8 * 4 * 256 * 2


@pytest.mark.parametrize("name", ["qwen3.5-0.8b", "qwen3.5-4b", "nemotron-3-nano-4b",
                                  "gemma-3-1b", "qwen3.5-35b-a3b", "nemotron-3-nano-30b-a3b"])
def test_fp16_weight_bytes_are_two_bytes_per_parameter(name):
    m = load_model(name)
    wt = weights_total_bytes(ArchArrays.from_model(m), Precision())
    assert float(wt) == pytest.approx(2.0 * m.total_params, rel=1e-12)


QWEN35_0_8B_HF = {
    "architectures": ["Qwen3_5ForConditionalGeneration"], "model_type": "qwen3_5",
    "tie_word_embeddings": True,
    "text_config": {
        "model_type": "qwen3_5_text", "vocab_size": 248320, "hidden_size": 1024,
        "intermediate_size": 3584, "num_hidden_layers": 24, "num_attention_heads": 8,
        "num_key_value_heads": 2, "head_dim": 256, "attn_output_gate": True,
        "linear_num_key_heads": 16, "linear_num_value_heads": 16, "linear_key_head_dim": 128,
        "linear_value_head_dim": 128, "linear_conv_kernel_dim": 4, "full_attention_interval": 4,
        "layer_types": ["linear_attention"] * 3 + ["full_attention"],
        "mamba_ssm_dtype": "float32", "hidden_act": "silu"},
}
QWEN35_0_8B_HF["text_config"]["layer_types"] *= 6

NEMOTRON_4B_HF = {
    "architectures": ["NemotronHForCausalLM"], "model_type": "nemotron_h", "hidden_size": 3136,
    "vocab_size": 131072, "num_hidden_layers": 42, "tie_word_embeddings": False,
    "hybrid_override_pattern": "M-M-M-MM-M-M*-M-M*-M-M-M*-M-M-MM*-MMM-M-M-",
    "mamba_num_heads": 96, "mamba_head_dim": 80, "ssm_state_size": 128, "n_groups": 8,
    "conv_kernel": 4, "chunk_size": 256, "num_attention_heads": 40, "num_key_value_heads": 8,
    "head_dim": 128, "intermediate_size": 12544, "mlp_hidden_act": "relu2"}

GEMMA3_1B_HF = {
    "architectures": ["Gemma3ForCausalLM"], "model_type": "gemma3_text", "hidden_size": 1152,
    "intermediate_size": 6912, "num_hidden_layers": 26, "num_attention_heads": 4,
    "num_key_value_heads": 1, "head_dim": 256, "sliding_window": 512,
    "sliding_window_pattern": 6, "vocab_size": 262144,
    "hidden_activation": "gelu_pytorch_tanh"}


def _same_shape(a: ModelArch, b: ModelArch) -> None:
    fields = [f for f in ModelArch.__dataclass_fields__ if f not in ("name", "source",
                                                                     "uncosted_params")]
    diff = {f: (getattr(a, f), getattr(b, f)) for f in fields if getattr(a, f) != getattr(b, f)}
    assert not diff


@pytest.mark.parametrize("cfg,preset", [(QWEN35_0_8B_HF, "qwen3.5-0.8b"),
                                        (NEMOTRON_4B_HF, "nemotron-3-nano-4b"),
                                        (GEMMA3_1B_HF, "gemma-3-1b")],
                         ids=["qwen3.5", "nemotron-h", "gemma3"])
def test_hf_import_gives_the_preset_shape(cfg, preset):
    _same_shape(model_from_hf_config(cfg), load_model(preset))


def test_hf_import_interval_form_and_qwen3_next_moe():
    text = dict(QWEN35_0_8B_HF["text_config"])
    del text["layer_types"]  # every 4th layer full attention, from full_attention_interval
    m = model_from_hf_config(dict(QWEN35_0_8B_HF, text_config=text))
    assert m.layers == load_model("qwen3.5-0.8b").layers
    nxt = dict(text, model_type="qwen3_next", num_experts=512, num_experts_per_tok=10,
               moe_intermediate_size=512, shared_expert_intermediate_size=512,
               tie_word_embeddings=False, num_hidden_layers=48, hidden_size=2048,
               num_attention_heads=16, linear_num_value_heads=32)
    m = model_from_hf_config(nxt)
    assert m.is_moe and m.n_shared_experts == 1 and m.d_ff_shared == 512 and m.d_ff == 0
    assert m.n_layers_with("attention") == 12 and m.attn_output_gate
    # Qwen3-Next-80B-A3B: 80B total parameters published
    assert m.total_params == pytest.approx(80e9, rel=0.02)


def test_hf_import_gemma_wrapper_and_layer_types(tmp_path):
    cfg = {"model_type": "gemma3", "text_config": dict(GEMMA3_1B_HF)}
    cfg["text_config"]["layer_types"] = (["sliding_attention"] * 5 + ["full_attention"]) * 4 \
        + ["sliding_attention"] * 2
    del cfg["text_config"]["sliding_window_pattern"]
    p = tmp_path / "config.json"
    p.write_text(json.dumps(cfg))
    _same_shape(load_model(p), load_model("gemma-3-1b"))


def test_yaml_pattern_forms(tmp_path):
    base = ("name: x\nn_layers: 4\nd_model: 512\nn_heads: 8\nn_kv_heads: 2\nhead_dim: 64\n"
            "d_ff: 1024\nvocab_size: 1000\ntied_embeddings: true\n")
    listed = base + ("linear_num_key_heads: 4\nlinear_num_value_heads: 8\n"
                     "linear_key_head_dim: 64\nlinear_value_head_dim: 64\n"
                     "layer_pattern: [linear_attention+ffn, linear_attention+ffn, "
                     "linear_attention+ffn, attention+ffn]\n")
    repeated = listed.replace("layer_pattern: [linear_attention+ffn, linear_attention+ffn, "
                              "linear_attention+ffn, attention+ffn]",
                              "layer_pattern: {repeat: 2, block: [linear_attention+ffn, "
                              "linear_attention+ffn]}")
    nemo = base + ("mamba_num_heads: 8\nmamba_head_dim: 64\nssm_state_size: 16\n"
                   "layer_pattern: {hybrid_override_pattern: 'M-M*'}\n")
    for i, (text, want) in enumerate([
            (listed, ("linear_attention+ffn",) * 3 + ("attention+ffn",)),
            (repeated, ("linear_attention+ffn",) * 4),
            (nemo, ("mamba", "ffn", "mamba", "attention"))]):
        p = tmp_path / f"m{i}.yaml"
        p.write_text(text)
        assert load_model(p).layers == want


BASE_YAML = ("name: x\nn_layers: 2\nd_model: 512\nn_heads: 8\nn_kv_heads: 2\nhead_dim: 64\n"
             "d_ff: 1024\nvocab_size: 1000\ntied_embeddings: true\n")


@pytest.mark.parametrize("extra,needle", [
    ("layer_pattern: [attention+ffn, conv+ffn]\n",
     "m.yaml: layer_pattern: conv+ffn not one of"),
    ("layer_pattern: [attention+ffn]\n",
     "m.yaml: ModelArch.layer_pattern has 1 entries but n_layers is 2"),
    ("layer_pattern: [sliding_attention+ffn, attention+ffn]\n",
     "m.yaml: ModelArch.sliding_window must be >= 1 with sliding_attention layers"),
    ("layer_pattern: [linear_attention+ffn, attention+ffn]\n",
     "m.yaml: ModelArch.linear_num_key_heads must be >= 1 with linear_attention layers"),
    ("layer_pattern: [mamba, attention]\nmamba_num_heads: 4\nmamba_head_dim: 8\n"
     "ssm_state_size: 4\n", "m.yaml: ModelArch.layer_pattern has no FFN layer"),
    ("layer_pattern: {repeat: 2}\n", "m.yaml: layer_pattern.block: missing required field"),
    ("layer_pattern: {hybrid_override_pattern: 'M-X'}\n",
     "m.yaml: layer_pattern.hybrid_override_pattern: 'M-X' must be a string of M, *, -, E"),
    ("layer_pattern: 7\n", "m.yaml: layer_pattern: expected a list of layer kinds"),
    ("sliding_window: -4\n", "m.yaml: sliding_window: number must be >= 0, got -4"),
    ("state_bytes_per_element: 16\n", "m.yaml: state_bytes_per_element: 16 is outside"),
])
def test_model_yaml_hybrid_errors(tmp_path, extra, needle):
    p = tmp_path / "m.yaml"
    p.write_text(BASE_YAML + extra)
    with pytest.raises(SpecError) as exc:
        load_model(p)
    assert any(e.startswith(needle) for e in exc.value.errors), exc.value.errors


@pytest.mark.parametrize("change,needle", [
    (lambda c: c["text_config"].update(layer_types=["linear_attention"] * 3),
     "config.json: text_config.layer_types: 3 entries but num_hidden_layers is 24"),
    (lambda c: c["text_config"].update(layer_types=["conv"] * 24),
     "config.json: text_config.layer_types: ['conv', 'conv'"),
    (lambda c: c["text_config"].update(linear_num_value_heads=0),
     "config.json: text_config.linear_num_value_heads: 0 is not a positive integer"),
    (lambda c: c["text_config"].pop("linear_key_head_dim"),
     "config.json: text_config.linear_key_head_dim: missing required key"),
    (lambda c: c["text_config"].update(mamba_ssm_dtype="int8"),
     "config.json: text_config.mamba_ssm_dtype: 'int8' is not one of"),
    (lambda c: c["text_config"].update(linear_num_key_heads=5),
     "config.json: text_config.linear_num_value_heads (16) must be a multiple of "
     "linear_num_key_heads (5)"),
    (lambda c: c.pop("text_config"), "config.json: text_config: a qwen3_5 config needs"),
])
def test_hf_qwen35_errors_name_the_key(change, needle):
    cfg = json.loads(json.dumps(QWEN35_0_8B_HF))
    change(cfg)
    with pytest.raises(SpecError) as exc:
        model_from_hf_config(cfg)
    assert any(e.startswith(needle) for e in exc.value.errors), exc.value.errors


@pytest.mark.parametrize("change,needle", [
    (lambda c: c.update(hybrid_override_pattern="M-Q"),
     "config.json: hybrid_override_pattern: 'M-Q' must be a string of M, *, -, E"),
    (lambda c: c.update(num_hidden_layers=41),
     "config.json: hybrid_override_pattern: 42 layers but num_hidden_layers is 41"),
    (lambda c: c.update(hybrid_override_pattern="M-ME" * 10 + "M-"),
     "config.json: hybrid_override_pattern: mixed dense (-) and MoE (E)"),
    (lambda c: c.update(mamba_num_heads=None), "config.json: mamba_num_heads: missing"),
    (lambda c: c.update(mlp_hidden_act="tanh"), "config.json: mlp_hidden_act: 'tanh' is not"),
])
def test_hf_nemotron_errors_name_the_key(change, needle):
    cfg = dict(NEMOTRON_4B_HF)
    change(cfg)
    with pytest.raises(SpecError) as exc:
        model_from_hf_config(cfg)
    assert any(e.startswith(needle) for e in exc.value.errors), exc.value.errors


def test_hf_nemotron_layers_block_type_form():
    cfg = dict(NEMOTRON_4B_HF)
    code = cfg.pop("hybrid_override_pattern")
    cfg["layers_block_type"] = [{"M": "mamba", "*": "attention", "-": "mlp"}[c] for c in code]
    _same_shape(model_from_hf_config(cfg), load_model("nemotron-3-nano-4b"))
    cfg["layers_block_type"] = ["mamba", "conv"]
    with pytest.raises(SpecError) as exc:
        model_from_hf_config(cfg)
    assert exc.value.errors[0].startswith("config.json: layers_block_type: ['mamba', 'conv']")


def test_hf_gemma_needs_its_window():
    cfg = dict(GEMMA3_1B_HF)
    del cfg["sliding_window"]
    with pytest.raises(SpecError) as exc:
        model_from_hf_config(cfg)
    assert exc.value.errors == ["config.json: sliding_window: missing required key"]


@pytest.mark.parametrize("kw,needle", [
    (dict(mamba_groups=0), "ModelArch.mamba_groups must be an integer >= 1"),
    (dict(attn_output_gate="yes"), "ModelArch.attn_output_gate must be true/false"),
    (dict(state_bytes_per_element=0.0), "ModelArch.state_bytes_per_element must be in (0, 8]"),
    (dict(layer_pattern=["attention+ffn", "attention+ffn"]),
     "ModelArch.layer_pattern must be a tuple"),
    (dict(layer_pattern=("mamba+ffn", "ffn"), mamba_num_heads=6, mamba_head_dim=8,
          ssm_state_size=4, mamba_groups=4),
     "ModelArch.mamba_num_heads (6) must be a multiple of mamba_groups (4)"),
])
def test_model_arch_validates_hybrid_fields(kw, needle):
    base = dict(name="x", n_layers=2, d_model=64, n_heads=4, n_kv_heads=2, head_dim=16,
                d_ff=128, vocab_size=10)
    with pytest.raises(ValueError, match=needle.replace("(", r"\(").replace(")", r"\)")):
        ModelArch(**{**base, **kw})
