"""Load model architectures: built-in presets, model YAML files, Hugging Face ``config.json``.

Supported ``model_type`` values for config.json: llama, mistral (its sliding window on every
layer when set), qwen2, qwen3, qwen3_moe, mixtral, the VLMs qwen2_vl and qwen2_5_vl (the
language model; the vision tower and projector counted in ``uncosted_params``, the tower as an
encoder from :func:`vision_from_hf_config`), the
hybrids qwen3_next and qwen3_5 / qwen3_5_moe (Gated DeltaNet + gated attention; the VLM
wrappers' ``text_config``, or their ``*_text`` types), nemotron_h (Mamba-2 + attention +
FFN blocks from ``hybrid_override_pattern``) and gemma3 / gemma3_text (sliding-window +
global attention). A missing or unsupported key is one clear error naming the file and key.

A model YAML names a hybrid's layers in ``layer_pattern``: a list of layer kinds
(:data:`workloads.model.LAYER_KINDS`), ``{repeat: N, block: [kinds]}``, or
``{hybrid_override_pattern: "M-M*-..."}`` in Nemotron-H's letters (M Mamba-2, * attention,
- MLP, E MoE; both FFN letters are the model's FFN).
"""

from __future__ import annotations

import functools
import math
import re
from importlib import resources
from pathlib import Path
from typing import Any

from microarch.schema import Reader, SpecError, excerpt, load_json, load_yaml
from workloads.model import LAYER_KINDS, ModelArch

__all__ = ["load_model", "list_models", "model_from_dict", "model_from_hf_config",
           "vision_from_hf_config"]

_QWEN_HYBRID = ("qwen3_next", "qwen3_5", "qwen3_5_text", "qwen3_5_moe", "qwen3_5_moe_text")
_GEMMA = ("gemma3", "gemma3_text")
_QWEN_VL = ("qwen2_vl", "qwen2_5_vl")
_HF_TYPES = ("llama", "mistral", "qwen2", "qwen3", "qwen3_moe", "mixtral") + _QWEN_VL \
    + _QWEN_HYBRID + ("nemotron_h",) + _GEMMA
_WRAPPERS = ("qwen3_5", "qwen3_5_moe", "gemma3")  # VLM configs: the model is text_config
_NEMOTRON_CODES = {"M": "mamba", "*": "attention", "-": "ffn", "E": "ffn"}
_NEMOTRON_BLOCKS = {"mamba": "M", "attention": "*", "mlp": "-", "moe": "E"}
MAX_PATTERN_LAYERS = 10_000


def _model_dir() -> Path:
    return Path(str(resources.files("workloads"))) / "presets" / "models"


def list_models() -> list[str]:
    """Names of the built-in model presets."""
    return sorted(p.stem for p in _model_dir().glob("*.yaml"))


def load_model(name_or_path: str | Path) -> ModelArch:
    """A model from a preset name (case ignored), a model YAML file, or a Hugging Face
    config.json. A file is parsed once per version of it (the result is immutable)."""
    s = str(name_or_path)
    p = Path(s)
    if s.endswith(".json"):
        if not p.is_file():
            raise SpecError([f"{p.name}: no such config file"])
        return _cached(str(p.resolve()), p.stat().st_mtime_ns, "json")
    if s.endswith((".yaml", ".yml")):
        if not p.is_file():
            raise SpecError([f"{p.name}: no such model file"])
        return _cached(str(p.resolve()), p.stat().st_mtime_ns, "yaml")
    models = list_models()
    s = {m.lower(): m for m in models}.get(s.lower(), s)
    preset = _model_dir() / f"{s}.yaml"
    if not preset.is_file():
        from microarch.loader import did_you_mean

        raise SpecError([f"unknown model {excerpt(s)}{did_you_mean(s, models)} (built-in: "
                         f"{', '.join(models)}; or give a model .yaml or a Hugging Face "
                         "config.json)"])
    return _cached(str(preset), preset.stat().st_mtime_ns, "yaml")


@functools.lru_cache(maxsize=256)
def _cached(path: str, _mtime_ns: int, kind: str) -> ModelArch:
    p = Path(path)
    if kind == "json":
        return model_from_hf_config(load_json(p), p.name, name=p.parent.name or p.stem)
    return model_from_dict(load_yaml(p), p.name)


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
                            choices=("swiglu", "geglu", "gelu", "relu", "relu2")),
        qk_norm=r.boolean("qk_norm"),
        causal=r.boolean("causal", default=True),
        layer_pattern=_yaml_pattern(r),
        sliding_window=r.number("sliding_window", False, 0, integer=True),
        attn_output_gate=r.boolean("attn_output_gate"),
        rope=r.boolean("rope", default=True),
        conv_kernel=r.number("conv_kernel", False, 4, integer=True, positive=True),
        linear_chunk=r.number("linear_chunk", False, 64, integer=True, positive=True),
        mamba_groups=r.number("mamba_groups", False, 1, integer=True, positive=True),
        mamba_chunk=r.number("mamba_chunk", False, 256, integer=True, positive=True),
        state_bytes_per_element=r.number("state_bytes_per_element", False, 4.0,
                                         positive=True, high=8.0),
        uncosted_params=r.number("uncosted_params", False, 0, integer=True),
    )
    for key in ("linear_num_key_heads", "linear_num_value_heads", "linear_key_head_dim",
                "linear_value_head_dim", "mamba_num_heads", "mamba_head_dim",
                "ssm_state_size"):
        kw[key] = r.number(key, False, 0, integer=True)
    r.finish()
    r.raise_if_errors()
    try:
        return ModelArch(**kw)
    except ValueError as exc:
        raise SpecError([f"{file}: {exc}"]) from None


def _yaml_pattern(r: Reader) -> tuple[str, ...]:
    """``layer_pattern`` of a model YAML (see the module docstring); () when absent."""
    if not r.has("layer_pattern"):
        return ()
    raw = r.data["layer_pattern"]
    if isinstance(raw, list):
        return r.string_list("layer_pattern", choices=LAYER_KINDS)
    sub = r.child("layer_pattern")
    if sub is None or not isinstance(raw, dict):
        r.error("expected a list of layer kinds, {repeat, block} or "
                "{hybrid_override_pattern}", "layer_pattern")
        return ()
    if sub.has("hybrid_override_pattern"):
        code = sub.string("hybrid_override_pattern")
        sub.finish()
        out = _nemotron_layers(code) if isinstance(code, str) else None
        if out is None:
            sub.error(f"{excerpt(code)} must be a string of M, *, -, E (Mamba-2, attention, "
                      "MLP, MoE)", "hybrid_override_pattern")
            return ()
        return out
    n = sub.number("repeat", integer=True, positive=True, high=MAX_PATTERN_LAYERS)
    block = sub.string_list("block", choices=LAYER_KINDS)
    sub.finish()
    if not n or not block:
        return ()
    if n * len(block) > MAX_PATTERN_LAYERS:
        sub.error(f"repeat x block is {n * len(block):,} layers, above "
                  f"{MAX_PATTERN_LAYERS:,}", "repeat")
        return ()
    return tuple(block) * int(n)


def _nemotron_layers(code: str) -> tuple[str, ...] | None:
    """Layer kinds of a Nemotron-H ``hybrid_override_pattern`` (None if not one)."""
    if not code or len(code) > MAX_PATTERN_LAYERS or any(c not in _NEMOTRON_CODES
                                                         for c in code):
        return None
    return tuple(_NEMOTRON_CODES[c] for c in code)


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
    and the key (keys of a VLM's ``text_config`` are named ``text_config.KEY``).
    """
    if not isinstance(cfg, dict):
        raise SpecError([f"{file}: expected a JSON object"])
    errors: list[str] = []
    mtype = cfg.get("model_type")
    if mtype not in _HF_TYPES:
        raise SpecError([f"{file}: model_type: {excerpt(mtype)} is not supported "
                         f"(supported: {', '.join(_HF_TYPES)})"])
    top, prefix = cfg, ""
    if mtype in _QWEN_VL and isinstance(cfg.get("text_config"), dict) \
            and "hidden_size" not in cfg:
        cfg, prefix = cfg["text_config"], "text_config."  # newer transformers nest it
    if mtype in _WRAPPERS:
        text = cfg.get("text_config")
        if not isinstance(text, dict):
            raise SpecError([f"{file}: text_config: a {mtype} config needs its language "
                             "model's text_config mapping"])
        cfg, prefix = text, "text_config."

    def integer(key: str, required: bool = True) -> int | None:
        """A positive integer at ``key``; None (with an error unless optional and absent/null)."""
        if cfg.get(key) is None:
            if required:
                errors.append(f"{file}: {prefix}{key}: missing required key")
            return None
        v = _positive_int(cfg[key])
        if v is None:
            errors.append(f"{file}: {prefix}{key}: {excerpt(cfg[key])} is not a positive "
                          "integer")
        elif v > 1 << 40:
            errors.append(f"{file}: {prefix}{key}: {excerpt(v)} is larger than any model a "
                          "chip can hold")
            return None
        return v

    def flag(key: str, default: bool) -> bool:
        v = cfg.get(key, top.get(key, default))
        if v is None:
            return default
        if not isinstance(v, bool):
            errors.append(f"{file}: {prefix if key in cfg else ''}{key}: {excerpt(v)} is not "
                          "true/false")
            return default
        return v

    layers = integer("num_hidden_layers")
    d = integer("hidden_size")
    heads = integer("num_attention_heads")
    vocab = integer("vocab_size")
    kv = integer("num_key_value_heads", required=False) or heads
    head_dim = integer("head_dim", required=False)
    if mtype == "nemotron_h" and head_dim is None:
        head_dim = integer("attention_head_dim", required=False)
    if head_dim is None and cfg.get("head_dim") is None and d and heads:
        if d % heads:  # HF default: hidden_size / heads
            errors.append(f"{file}: {prefix}head_dim: not given, and hidden_size {d} is not a "
                          f"multiple of num_attention_heads {heads}")
        else:
            head_dim = d // heads
    gemma = mtype in _GEMMA
    act_key = "hidden_activation" if gemma and "hidden_activation" in cfg else (
        "mlp_hidden_act" if mtype == "nemotron_h" else "hidden_act")
    act = cfg.get(act_key, "relu2" if mtype == "nemotron_h" else
                  "gelu_pytorch_tanh" if gemma else "silu")
    tied = flag("tie_word_embeddings", gemma)
    experts, top_k, d_ff, d_ffe, n_shared, d_shared = 1, 1, 0, 0, 0, 0
    hybrid: dict[str, Any] = {}

    def moe_keys(n_key: str, k_key: str, e_key: str, shared_key: str | None) -> None:
        nonlocal experts, top_k, d_ffe, n_shared, d_shared
        experts = integer(n_key)
        top_k = integer(k_key)
        d_ffe = integer(e_key)
        if shared_key and cfg.get(shared_key):
            n_shared, d_shared = 1, integer(shared_key) or 0

    if mtype in ("qwen3_moe", "qwen3_next", "qwen3_5_moe", "qwen3_5_moe_text"):
        moe_keys("num_experts", "num_experts_per_tok", "moe_intermediate_size",
                 None if mtype == "qwen3_moe" else "shared_expert_intermediate_size")
        if cfg.get("mlp_only_layers"):
            errors.append(f"{file}: {prefix}mlp_only_layers: mixed dense/MoE layers are not "
                          "supported")
        if cfg.get("decoder_sparse_step", 1) != 1:
            errors.append(f"{file}: {prefix}decoder_sparse_step: only 1 (every layer MoE) is "
                          "supported")
    elif mtype == "mixtral":
        experts = integer("num_local_experts")
        top_k = integer("num_experts_per_tok")
        d_ffe = integer("intermediate_size")
    elif mtype == "nemotron_h":
        pattern = _hf_nemotron_pattern(cfg, file, prefix, errors)
        if "E" in pattern and "-" in pattern:
            errors.append(f"{file}: {prefix}hybrid_override_pattern: mixed dense (-) and MoE "
                          "(E) FFN layers are not supported")
        if "E" in pattern:
            moe_keys("n_routed_experts", "num_experts_per_tok", "moe_intermediate_size",
                     "moe_shared_expert_intermediate_size")
        else:
            d_ff = integer("intermediate_size")
        hybrid = dict(layer_pattern=tuple(_NEMOTRON_CODES[c] for c in pattern), rope=False,
                      mamba_num_heads=integer("mamba_num_heads"),
                      mamba_head_dim=integer("mamba_head_dim"),
                      ssm_state_size=integer("ssm_state_size"),
                      mamba_groups=integer("n_groups", required=False) or 1,
                      conv_kernel=integer("conv_kernel", required=False) or 4,
                      mamba_chunk=integer("chunk_size", required=False) or 256,
                      state_bytes_per_element=_state_bytes(cfg, "mamba_ssm_cache_dtype", file,
                                                           prefix, errors))
    else:
        d_ff = integer("intermediate_size")
    if mtype in _QWEN_HYBRID:
        hybrid = dict(layer_pattern=_hf_qwen_pattern(cfg, layers, file, prefix, errors),
                      attn_output_gate=flag("attn_output_gate", True),
                      linear_num_key_heads=integer("linear_num_key_heads"),
                      linear_num_value_heads=integer("linear_num_value_heads"),
                      linear_key_head_dim=integer("linear_key_head_dim"),
                      linear_value_head_dim=integer("linear_value_head_dim"),
                      conv_kernel=integer("linear_conv_kernel_dim", required=False) or 4,
                      state_bytes_per_element=_state_bytes(cfg, "mamba_ssm_dtype", file,
                                                           prefix, errors))
    elif gemma:
        hybrid = dict(layer_pattern=_hf_gemma_pattern(cfg, layers, file, prefix, errors),
                      sliding_window=integer("sliding_window"))
    elif mtype == "mistral" and cfg.get("sliding_window") is not None and layers:
        # Mistral 7B v0.1 attends over a sliding window on every layer; later versions
        # write null (full attention).
        hybrid = dict(layer_pattern=("sliding_attention+ffn",) * layers,
                      sliding_window=integer("sliding_window"))
    if mtype in _QWEN_VL:
        vis = top.get("vision_config")
        if not isinstance(vis, dict):
            errors.append(f"{file}: vision_config: a {mtype} config needs its vision tower's "
                          "vision_config mapping")
        else:
            try:
                hybrid["uncosted_params"] = _qwen_vl_vision_params(vis, mtype)
            except SpecError as exc:
                errors.extend(f"{file}: {e}" for e in exc.errors)
    if act not in ("silu", "swish", "gelu", "gelu_pytorch_tanh", "relu2"):
        errors.append(f"{file}: {prefix}{act_key}: {excerpt(act)} is not supported "
                      "(silu, gelu, relu2)")
    if errors:
        raise SpecError(errors)
    activation = {"silu": "swiglu", "swish": "swiglu", "relu2": "relu2"}.get(act, "geglu")
    try:
        return ModelArch(
            name=name or top.get("_name_or_path") or mtype, n_layers=layers, d_model=d,
            n_heads=heads, n_kv_heads=kv, head_dim=head_dim, d_ff=d_ff, vocab_size=vocab,
            tied_embeddings=tied, n_experts=experts, top_k=top_k, d_ff_expert=d_ffe,
            n_shared_experts=n_shared, d_ff_shared=d_shared, activation=activation,
            qk_norm=mtype in ("qwen3", "qwen3_moe") + _QWEN_HYBRID + _GEMMA,
            source=f"Hugging Face config ({file})" + (
                "; the language model (the vision tower and projector are counted in "
                "uncosted_params; vision_from_hf_config gives the tower as an encoder)"
                if mtype in _QWEN_VL else ""), **hybrid,
        )
    except (TypeError, ValueError) as exc:
        raise SpecError([f"{file}: {prefix}{_hf_names(str(exc), mtype)}"]) from None


def _state_bytes(cfg: dict, key: str, file: str, prefix: str, errors: list[str]) -> float:
    """Bytes of a recurrent-state element from its dtype key (default float32)."""
    v = cfg.get(key, "float32")
    sizes = {"float32": 4.0, "bfloat16": 2.0, "float16": 2.0}
    if v not in sizes:
        errors.append(f"{file}: {prefix}{key}: {excerpt(v)} is not one of "
                      f"{', '.join(sizes)}")
        return 4.0
    return sizes[v]


def _layer_type_list(cfg: dict, layers: int | None, allowed: dict[str, str], file: str,
                     prefix: str, errors: list[str]) -> tuple[str, ...] | None:
    """``layer_types`` mapped through ``allowed``; None when absent (or with an error)."""
    raw = cfg.get("layer_types")
    if raw is None:
        return None
    if not (isinstance(raw, list) and all(isinstance(x, str) and x in allowed for x in raw)):
        errors.append(f"{file}: {prefix}layer_types: {excerpt(raw)} must be a list of "
                      f"{', '.join(allowed)}")
        return ()
    if layers is not None and len(raw) != layers:
        errors.append(f"{file}: {prefix}layer_types: {len(raw)} entries but num_hidden_layers "
                      f"is {layers}")
        return ()
    return tuple(allowed[x] for x in raw)


def _interval_pattern(cfg: dict, key: str, default: int, layers: int | None, every: str,
                      other: str, file: str, prefix: str, errors: list[str]) -> tuple[str, ...]:
    """Layer ``i`` is ``every`` when (i + 1) is a multiple of ``cfg[key]``, else ``other``."""
    n = cfg.get(key, default)
    v = _positive_int(n)
    if v is None:
        errors.append(f"{file}: {prefix}{key}: {excerpt(n)} is not a positive integer")
        return ()
    if layers is None or layers > MAX_PATTERN_LAYERS:
        return ()
    return tuple(every if (i + 1) % v == 0 else other for i in range(layers))


def _hf_qwen_pattern(cfg, layers, file, prefix, errors) -> tuple[str, ...]:
    kinds = {"linear_attention": "linear_attention+ffn", "full_attention": "attention+ffn"}
    out = _layer_type_list(cfg, layers, kinds, file, prefix, errors)
    if out is not None:
        return out
    return _interval_pattern(cfg, "full_attention_interval", 4, layers, "attention+ffn",
                             "linear_attention+ffn", file, prefix, errors)


def _hf_gemma_pattern(cfg, layers, file, prefix, errors) -> tuple[str, ...]:
    kinds = {"sliding_attention": "sliding_attention+ffn", "full_attention": "attention+ffn"}
    out = _layer_type_list(cfg, layers, kinds, file, prefix, errors)
    if out is not None:
        return out
    key = "sliding_window_pattern" if "sliding_window_pattern" in cfg \
        else "_sliding_window_pattern"
    return _interval_pattern(cfg, key, 6, layers, "attention+ffn", "sliding_attention+ffn",
                             file, prefix, errors)


def _hf_nemotron_pattern(cfg, file, prefix, errors) -> str:
    """Nemotron-H block letters from ``hybrid_override_pattern`` or ``layers_block_type``."""
    code = cfg.get("hybrid_override_pattern")
    if code is None and isinstance(cfg.get("layers_block_type"), list):
        blocks = cfg["layers_block_type"]
        if all(isinstance(b, str) and b in _NEMOTRON_BLOCKS for b in blocks):
            code = "".join(_NEMOTRON_BLOCKS[b] for b in blocks)
        else:
            errors.append(f"{file}: {prefix}layers_block_type: {excerpt(blocks)} must list "
                          f"{', '.join(_NEMOTRON_BLOCKS)}")
            return ""
    if not isinstance(code, str) or not code or len(code) > MAX_PATTERN_LAYERS \
            or any(c not in _NEMOTRON_CODES for c in code):
        errors.append(f"{file}: {prefix}hybrid_override_pattern: {excerpt(code)} must be a "
                      "string of M, *, -, E (Mamba-2, attention, MLP, MoE)")
        return ""
    n = _positive_int(cfg.get("num_hidden_layers"))
    if n is not None and n != len(code):
        errors.append(f"{file}: {prefix}hybrid_override_pattern: {len(code)} layers but "
                      f"num_hidden_layers is {n}")
        return ""
    return code


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


def _vision_shape(vis: dict, mtype: str) -> dict[str, int]:
    """The vision tower's widths from a Qwen2-VL / Qwen2.5-VL ``vision_config``."""
    errors: list[str] = []

    def integer(key: str, default: int | None = None) -> int:
        v = vis.get(key, default)
        n = _positive_int(v)
        if n is None:
            errors.append(f"vision_config.{key}: {excerpt(v)} is not a positive integer")
            return 1
        return n

    if mtype == "qwen2_vl":
        width = integer("embed_dim")
        ffn = width * integer("mlp_ratio", 4)
        out = integer("hidden_size")
    else:
        width = integer("hidden_size")
        ffn = integer("intermediate_size")
        out = integer("out_hidden_size")
    shape = dict(depth=integer("depth"), width=width, ffn=ffn, heads=integer("num_heads"),
                 out=out, patch=integer("patch_size", 14),
                 temporal=integer("temporal_patch_size", 2),
                 merge=integer("spatial_merge_size", 2), channels=integer("in_chans", 3))
    if errors:
        raise SpecError(errors)
    return shape


def _qwen_vl_vision_params(vis: dict, mtype: str) -> int:
    """Parameters of the vision tower and its patch merger (the projector): patch embedding
    (no bias), per block two norms, a QKV and an output projection with biases and the MLP
    (GELU with 2 matrices in Qwen2-VL, SwiGLU with 3 in Qwen2.5-VL, biases included), then
    the merger: a norm and a 2-layer MLP from merge^2 patches to the language model's width."""
    v = _vision_shape(vis, mtype)
    w, f = v["width"], v["ffn"]
    patch = v["channels"] * v["temporal"] * v["patch"] ** 2 * w
    norms = 2 * (2 * w if mtype == "qwen2_vl" else w)  # LayerNorm (w, b) or RMSNorm (w)
    attn = 3 * w * w + 3 * w + w * w + w
    mlp = 2 * w * f + f + w if mtype == "qwen2_vl" else 3 * w * f + 2 * f + w
    m = w * v["merge"] ** 2
    merger = (2 * w if mtype == "qwen2_vl" else w) + m * m + m + m * v["out"] + v["out"]
    return patch + v["depth"] * (norms + attn + mlp) + merger


def vision_from_hf_config(cfg: Any, file: str = "config.json") -> ModelArch:
    """The vision tower of a Qwen2-VL / Qwen2.5-VL ``config.json`` as an encoder
    :class:`ModelArch` (bidirectional, no vocabulary), for a trace's vision stream."""
    if not isinstance(cfg, dict) or cfg.get("model_type") not in _QWEN_VL:
        raise SpecError([f"{file}: model_type: a vision tower is read from "
                         f"{' or '.join(_QWEN_VL)} configs"])
    vis = cfg.get("vision_config")
    if not isinstance(vis, dict):
        raise SpecError([f"{file}: vision_config: missing the vision tower's mapping"])
    try:
        v = _vision_shape(vis, cfg["model_type"])
    except SpecError as exc:
        raise SpecError([f"{file}: {e}" for e in exc.errors]) from None
    if v["width"] % v["heads"]:
        raise SpecError([f"{file}: vision_config.num_heads: {v['heads']} does not divide the "
                         f"width {v['width']}"])
    return ModelArch(
        name=f"{cfg.get('_name_or_path') or cfg['model_type']}-vision", n_layers=v["depth"],
        d_model=v["width"], n_heads=v["heads"], n_kv_heads=v["heads"],
        head_dim=v["width"] // v["heads"], d_ff=v["ffn"], vocab_size=0, causal=False,
        activation="gelu" if cfg["model_type"] == "qwen2_vl" else "swiglu",
        source=f"Hugging Face config ({file}), vision_config")
