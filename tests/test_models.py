"""Model presets and Hugging Face config.json import."""

import json

import pytest

from microarch.schema import SpecError
from workloads.loader import list_models, load_model, model_from_hf_config

# Published parameter counts (billions) from each model card.
PARAMS_B = {"qwen2.5-0.5b": 0.49, "qwen2.5-1.5b": 1.54, "qwen3-0.6b": 0.6, "qwen3-1.7b": 1.7,
            "qwen3-4b": 4.0, "qwen3-8b": 8.2, "qwen3-30b-a3b": 30.5, "llama-2-7b": 6.74,
            "llama-3.1-8b": 8.03, "llama-3.2-1b": 1.24, "llama-3.2-3b": 3.21}


@pytest.mark.parametrize("name", sorted(PARAMS_B))
def test_preset_parameter_counts(name):
    m = load_model(name)
    assert m.total_params / 1e9 == pytest.approx(PARAMS_B[name], rel=0.02)


def test_all_required_presets_exist():
    assert set(PARAMS_B) <= set(list_models())


def test_qwen3_moe_active_params():
    m = load_model("qwen3-30b-a3b")
    assert m.is_moe and m.top_k == 8 and m.n_experts == 128
    assert m.active_params / 1e9 == pytest.approx(3.3, rel=0.1)  # "A3B": ~3.3B activated


QWEN3_CFG = {"model_type": "qwen3", "num_hidden_layers": 28, "hidden_size": 1024,
             "num_attention_heads": 16, "num_key_value_heads": 8, "head_dim": 128,
             "intermediate_size": 3072, "vocab_size": 151936, "tie_word_embeddings": True,
             "hidden_act": "silu"}


def test_hf_import_matches_preset(tmp_path):
    p = tmp_path / "qwen3-0.6b" / "config.json"
    p.parent.mkdir()
    p.write_text(json.dumps(QWEN3_CFG))
    m = load_model(p)
    ref = load_model("qwen3-0.6b")
    assert m.total_params == ref.total_params
    assert m.qk_norm and m.tied_embeddings and m.name == "qwen3-0.6b"


def test_hf_import_moe_and_mixtral(tmp_path):
    moe = {"model_type": "qwen3_moe", "num_hidden_layers": 48, "hidden_size": 2048,
           "num_attention_heads": 32, "num_key_value_heads": 4, "head_dim": 128,
           "moe_intermediate_size": 768, "num_experts": 128, "num_experts_per_tok": 8,
           "vocab_size": 151936, "tie_word_embeddings": False, "hidden_act": "silu",
           "intermediate_size": 6144, "decoder_sparse_step": 1, "mlp_only_layers": []}
    p = tmp_path / "config.json"
    p.write_text(json.dumps(moe))
    assert load_model(p).total_params == load_model("qwen3-30b-a3b").total_params
    mix = {"model_type": "mixtral", "num_hidden_layers": 32, "hidden_size": 4096,
           "num_attention_heads": 32, "num_key_value_heads": 8, "intermediate_size": 14336,
           "num_local_experts": 8, "num_experts_per_tok": 2, "vocab_size": 32000}
    p.write_text(json.dumps(mix))
    m = load_model(p)
    assert m.total_params / 1e9 == pytest.approx(46.7, rel=0.01)  # Mixtral-8x7B: 46.7B


@pytest.mark.parametrize("mutate,needle", [
    (lambda c: c.pop("hidden_size"), "config.json: hidden_size: missing required key"),
    (lambda c: c.update(model_type="gpt2"), "config.json: model_type: 'gpt2' is not supported"),
    (lambda c: c.update(hidden_act="tanh"), "config.json: hidden_act: 'tanh' is not supported"),
])
def test_hf_import_errors(tmp_path, mutate, needle):
    cfg = dict(QWEN3_CFG)
    mutate(cfg)
    p = tmp_path / "config.json"
    p.write_text(json.dumps(cfg))
    with pytest.raises(SpecError) as exc:
        load_model(p)
    assert str(exc.value).startswith(needle)


@pytest.mark.parametrize("key,value,needle", [
    ("num_hidden_layers", 32.7, "config.json: num_hidden_layers: 32.7 is not a positive integer"),
    ("num_hidden_layers", "x", "config.json: num_hidden_layers: 'x' is not a positive integer"),
    ("num_attention_heads", 0, "config.json: num_attention_heads: 0 is not a positive integer"),
    ("vocab_size", 0, "config.json: vocab_size: 0 is not a positive integer"),
    ("intermediate_size", -1, "config.json: intermediate_size: -1 is not a positive integer"),
    ("hidden_size", True, "config.json: hidden_size: True is not a positive integer"),
    ("head_dim", 64.5, "config.json: head_dim: 64.5 is not a positive integer"),
    ("num_key_value_heads", [8], "config.json: num_key_value_heads: [8] is not a positive "
                                 "integer"),
    ("tie_word_embeddings", "yes", "config.json: tie_word_embeddings: 'yes' is not true/false"),
])
def test_hf_import_integer_keys(tmp_path, key, value, needle):
    cfg = dict(QWEN3_CFG, **{key: value})
    p = tmp_path / "config.json"
    p.write_text(json.dumps(cfg))
    with pytest.raises(SpecError) as exc:
        load_model(p)
    assert exc.value.errors == [needle]


def test_hf_import_moe_sizes_checked():
    moe = dict(QWEN3_CFG, model_type="qwen3_moe", num_experts=0, num_experts_per_tok=8.5,
               moe_intermediate_size=768)
    with pytest.raises(SpecError) as exc:
        model_from_hf_config(moe)
    assert exc.value.errors == ["config.json: num_experts: 0 is not a positive integer",
                                "config.json: num_experts_per_tok: 8.5 is not a positive integer"]


def test_hf_import_whole_floats_and_derived_head_dim():
    cfg = dict(QWEN3_CFG, num_hidden_layers=28.0, num_key_value_heads=None)
    del cfg["head_dim"]
    m = model_from_hf_config(cfg)
    assert m.n_layers == 28 and isinstance(m.n_layers, int)
    assert m.head_dim == 1024 // 16 and m.n_kv_heads == 16
    cfg["num_attention_heads"] = 24  # 1024 is not a multiple of 24: no head_dim to derive
    cfg["num_key_value_heads"] = 8
    with pytest.raises(SpecError) as exc:
        model_from_hf_config(cfg)
    assert exc.value.errors == ["config.json: head_dim: not given, and hidden_size 1024 is not "
                                "a multiple of num_attention_heads 24"]


@pytest.mark.parametrize("value,message", [
    (".nan", "m.yaml: d_ff: number must be finite, got nan"),
    (".inf", "m.yaml: d_ff: number must be finite, got inf"),
    ("1024.5", "m.yaml: d_ff: 1024.5 is not an integer"),
])
def test_model_yaml_non_finite_and_fractional(tmp_path, value, message):
    p = tmp_path / "m.yaml"
    p.write_text("name: x\nn_layers: 2\nd_model: 512\nn_heads: 8\nn_kv_heads: 4\n"
                 f"head_dim: 64\nd_ff: {value}\nvocab_size: 1000\ntied_embeddings: true\n")
    with pytest.raises(SpecError) as exc:
        load_model(p)
    assert exc.value.errors == [message]


def test_model_yaml_errors(tmp_path):
    p = tmp_path / "m.yaml"
    p.write_text("name: x\nn_layers: -2\nd_model: 512\nn_heads: 8\nn_kv_heads: 3\n"
                 "head_dim: 64\nd_ff: 1024\nvocab_size: 1000\ntied_embeddings: true\nwings: 2\n")
    with pytest.raises(SpecError) as exc:
        load_model(p)
    errs = exc.value.errors
    assert "m.yaml: n_layers: number must be > 0, got -2" in errs
    assert "m.yaml: wings: unknown field" in errs


def test_unknown_model_name():
    with pytest.raises(SpecError, match="unknown model 'gpt-5'"):
        load_model("gpt-5")


def test_model_and_trace_names_ignore_case_and_suggest():
    from microarch.schema import SpecError
    from workloads.loader import load_model as lm
    from workloads.trace import load_trace as lt

    assert lm("Qwen3-0.6B") is lm("qwen3-0.6b")  # parsed once, immutable
    assert lt("VLA-Drive-10Hz").name == lt("vla-drive-10hz").name
    with pytest.raises(SpecError, match="did you mean qwen3-1.7b or qwen3-0.6b"):
        lm("qwen3-0.7b")
    with pytest.raises(SpecError, match="did you mean vla-drive-10hz"):
        lt("vla-drive-10h")
