"""Load model architectures: built-in presets, model YAML files, Hugging Face ``config.json``.

Supported ``model_type`` values for config.json: llama, qwen2, qwen3, qwen3_moe, mixtral.
A missing or unsupported key is one clear error naming the file and key.
"""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path
from typing import Any

from microarch.schema import Reader, SpecError, load_yaml
from workloads.model import ModelArch

__all__ = ["load_model", "list_models", "model_from_dict", "model_from_hf_config"]

_HF_TYPES = ("llama", "qwen2", "qwen3", "qwen3_moe", "mixtral")


def _model_dir() -> Path:
    return Path(str(resources.files("workloads"))) / "presets" / "models"


def list_models() -> list[str]:
    """Names of the built-in model presets."""
    return sorted(p.stem for p in _model_dir().glob("*.yaml"))


def load_model(name_or_path: str | Path) -> ModelArch:
    """A model from a preset name, a model YAML file, or a Hugging Face config.json."""
    s = str(name_or_path)
    p = Path(s)
    if s.endswith(".json"):
        if not p.is_file():
            raise SpecError([f"{p.name}: no such config file"])
        try:
            data = json.loads(p.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise SpecError([f"{p.name}: malformed JSON at line {exc.lineno}: {exc.msg}"]) from None
        return model_from_hf_config(data, p.name, name=p.parent.name or p.stem)
    if s.endswith((".yaml", ".yml")):
        if not p.is_file():
            raise SpecError([f"{p.name}: no such model file"])
        return model_from_dict(load_yaml(p), p.name)
    preset = _model_dir() / f"{s}.yaml"
    if not preset.is_file():
        raise SpecError([f"unknown model {s!r} (built-in: {', '.join(list_models())}; "
                         "or give a model .yaml or a Hugging Face config.json)"])
    return model_from_dict(load_yaml(preset), preset.name)


def model_from_dict(data: Any, file: str = "<model>") -> ModelArch:
    """Build a :class:`ModelArch` from a parsed model YAML mapping."""
    r = Reader(data, file)
    kw = dict(
        name=r.string("name"),
        source=r.string("source", required=False, default=""),
        n_layers=r.number("n_layers", integer=True, positive=True),
        d_model=r.number("d_model", integer=True, positive=True),
        n_heads=r.number("n_heads", integer=True, positive=True),
        n_kv_heads=r.number("n_kv_heads", integer=True, positive=True),
        head_dim=r.number("head_dim", integer=True, positive=True),
        d_ff=r.number("d_ff", integer=True),
        vocab_size=r.number("vocab_size", integer=True),
        tied_embeddings=r.boolean("tied_embeddings"),
        n_experts=r.number("n_experts", False, 1, integer=True, positive=True),
        top_k=r.number("top_k", False, 1, integer=True, positive=True),
        d_ff_expert=r.number("d_ff_expert", False, 0, integer=True),
        n_shared_experts=r.number("n_shared_experts", False, 0, integer=True),
        d_ff_shared=r.number("d_ff_shared", False, 0, integer=True),
        activation=r.string("activation", False, "swiglu",
                            choices=("swiglu", "geglu", "gelu", "relu")),
        qk_norm=r.boolean("qk_norm"),
        causal=r.boolean("causal", default=True),
    )
    r.finish()
    r.raise_if_errors()
    try:
        return ModelArch(**kw)
    except ValueError as exc:
        raise SpecError([f"{file}: {exc}"]) from None


def model_from_hf_config(cfg: Any, file: str = "config.json", name: str | None = None
                         ) -> ModelArch:
    """Translate a Hugging Face ``config.json`` mapping into a :class:`ModelArch`."""
    if not isinstance(cfg, dict):
        raise SpecError([f"{file}: expected a JSON object"])
    errors: list[str] = []

    def need(key: str) -> Any:
        if key not in cfg:
            errors.append(f"{file}: {key}: missing required key")
            return None
        return cfg[key]

    mtype = cfg.get("model_type")
    if mtype not in _HF_TYPES:
        raise SpecError([f"{file}: model_type: {mtype!r} is not supported "
                         f"(supported: {', '.join(_HF_TYPES)})"])
    layers = need("num_hidden_layers")
    d = need("hidden_size")
    heads = need("num_attention_heads")
    vocab = need("vocab_size")
    kv = cfg.get("num_key_value_heads") or heads
    head_dim = cfg.get("head_dim") or (d // heads if d and heads else None)
    act = cfg.get("hidden_act", "silu")
    experts, top_k, d_ff, d_ffe = 1, 1, 0, 0
    if mtype == "qwen3_moe":
        experts = need("num_experts")
        top_k = need("num_experts_per_tok")
        d_ffe = need("moe_intermediate_size")
        if cfg.get("mlp_only_layers"):
            errors.append(f"{file}: mlp_only_layers: mixed dense/MoE layers are not supported")
        if cfg.get("decoder_sparse_step", 1) != 1:
            errors.append(f"{file}: decoder_sparse_step: only 1 (every layer MoE) is supported")
    elif mtype == "mixtral":
        experts = need("num_local_experts")
        top_k = need("num_experts_per_tok")
        d_ffe = need("intermediate_size")
    else:
        d_ff = need("intermediate_size")
    if act not in ("silu", "swish", "gelu", "gelu_pytorch_tanh"):
        errors.append(f"{file}: hidden_act: {act!r} is not supported (silu, gelu)")
    if errors:
        raise SpecError(errors)
    try:
        return ModelArch(
            name=name or cfg.get("_name_or_path") or mtype, n_layers=int(layers), d_model=int(d),
            n_heads=int(heads), n_kv_heads=int(kv), head_dim=int(head_dim), d_ff=int(d_ff),
            vocab_size=int(vocab), tied_embeddings=bool(cfg.get("tie_word_embeddings", False)),
            n_experts=int(experts), top_k=int(top_k), d_ff_expert=int(d_ffe),
            activation="swiglu" if act in ("silu", "swish") else "geglu",
            qk_norm=mtype in ("qwen3", "qwen3_moe"), source=f"Hugging Face config ({file})",
        )
    except (TypeError, ValueError) as exc:
        raise SpecError([f"{file}: {exc}"]) from None
