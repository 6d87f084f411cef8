"""Load model architectures: built-in presets, model YAML files, Hugging Face ``config.json``.

Supported ``model_type`` values for config.json: llama, qwen2, qwen3, qwen3_moe, mixtral.
A missing or unsupported key is one clear error naming the file and key.
"""

from __future__ import annotations

import math
import re
from importlib import resources
from pathlib import Path
from typing import Any

from microarch.schema import Reader, SpecError, excerpt, load_json, load_yaml
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
        data = load_json(p)
        return model_from_hf_config(data, p.name, name=p.parent.name or p.stem)
    if s.endswith((".yaml", ".yml")):
        if not p.is_file():
            raise SpecError([f"{p.name}: no such model file"])
        return model_from_dict(load_yaml(p), p.name)
    preset = _model_dir() / f"{s}.yaml"
    if not preset.is_file():
        raise SpecError([f"unknown model {excerpt(s)} (built-in: {', '.join(list_models())}; "
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


def _positive_int(value: Any) -> int | None:
    """``value`` as an int if it is a whole number >= 1 (JSON may write 32 as 32.0), else None."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    if isinstance(value, float) and not (math.isfinite(value) and value.is_integer()):
        return None
    return int(value) if value >= 1 else None


def model_from_hf_config(cfg: Any, file: str = "config.json", name: str | None = None
                         ) -> ModelArch:
    """Translate a Hugging Face ``config.json`` mapping into a :class:`ModelArch`.

    Every size is checked to be a whole number >= 1; each problem is one error naming the file
    and the key.
    """
    if not isinstance(cfg, dict):
        raise SpecError([f"{file}: expected a JSON object"])
    errors: list[str] = []

    def integer(key: str, required: bool = True) -> int | None:
        """A positive integer at ``key``; None (with an error unless optional and absent/null)."""
        if cfg.get(key) is None:
            if required:
                errors.append(f"{file}: {key}: missing required key")
            return None
        v = _positive_int(cfg[key])
        if v is None:
            errors.append(f"{file}: {key}: {excerpt(cfg[key])} is not a positive integer")
        elif v > 1 << 40:
            errors.append(f"{file}: {key}: {excerpt(v)} is larger than any model a chip can "
                          "hold")
            return None
        return v

    mtype = cfg.get("model_type")
    if mtype not in _HF_TYPES:
        raise SpecError([f"{file}: model_type: {excerpt(mtype)} is not supported "
                         f"(supported: {', '.join(_HF_TYPES)})"])
    layers = integer("num_hidden_layers")
    d = integer("hidden_size")
    heads = integer("num_attention_heads")
    vocab = integer("vocab_size")
    kv = integer("num_key_value_heads", required=False) or heads
    head_dim = integer("head_dim", required=False)
    if cfg.get("head_dim") is None and d and heads:  # HF default: hidden_size / heads
        if d % heads:
            errors.append(f"{file}: head_dim: not given, and hidden_size {d} is not a "
                          f"multiple of num_attention_heads {heads}")
        else:
            head_dim = d // heads
    act = cfg.get("hidden_act", "silu")
    tied = cfg.get("tie_word_embeddings", False)
    if not isinstance(tied, bool):
        errors.append(f"{file}: tie_word_embeddings: {excerpt(tied)} is not true/false")
    experts, top_k, d_ff, d_ffe = 1, 1, 0, 0
    if mtype == "qwen3_moe":
        experts = integer("num_experts")
        top_k = integer("num_experts_per_tok")
        d_ffe = integer("moe_intermediate_size")
        if cfg.get("mlp_only_layers"):
            errors.append(f"{file}: mlp_only_layers: mixed dense/MoE layers are not supported")
        if cfg.get("decoder_sparse_step", 1) != 1:
            errors.append(f"{file}: decoder_sparse_step: only 1 (every layer MoE) is supported")
    elif mtype == "mixtral":
        experts = integer("num_local_experts")
        top_k = integer("num_experts_per_tok")
        d_ffe = integer("intermediate_size")
    else:
        d_ff = integer("intermediate_size")
    if act not in ("silu", "swish", "gelu", "gelu_pytorch_tanh"):
        errors.append(f"{file}: hidden_act: {excerpt(act)} is not supported (silu, gelu)")
    if errors:
        raise SpecError(errors)
    try:
        return ModelArch(
            name=name or cfg.get("_name_or_path") or mtype, n_layers=layers, d_model=d,
            n_heads=heads, n_kv_heads=kv, head_dim=head_dim, d_ff=d_ff, vocab_size=vocab,
            tied_embeddings=tied, n_experts=experts, top_k=top_k, d_ff_expert=d_ffe,
            activation="swiglu" if act in ("silu", "swish") else "geglu",
            qk_norm=mtype in ("qwen3", "qwen3_moe"), source=f"Hugging Face config ({file})",
        )
    except (TypeError, ValueError) as exc:
        raise SpecError([f"{file}: {_hf_names(str(exc), mtype)}"]) from None


# ModelArch fields by the config.json key that sets them, for messages in the file's own terms.
_HF_KEYS = {"n_layers": "num_hidden_layers", "d_model": "hidden_size",
            "n_heads": "num_attention_heads", "n_kv_heads": "num_key_value_heads",
            "head_dim": "head_dim", "d_ff": "intermediate_size", "vocab_size": "vocab_size",
            "top_k": "num_experts_per_tok", "tied_embeddings": "tie_word_embeddings"}


def _hf_names(message: str, mtype: str) -> str:
    """``message`` with ModelArch field names replaced by the config.json keys."""
    keys = dict(_HF_KEYS)
    keys["n_experts"] = "num_local_experts" if mtype == "mixtral" else "num_experts"
    keys["d_ff_expert"] = "intermediate_size" if mtype == "mixtral" else "moe_intermediate_size"
    message = message.replace("ModelArch.", "")
    return re.sub(r"\b(" + "|".join(sorted(keys, key=len, reverse=True)) + r")\b",
                  lambda m: keys[m.group(1)], message)
