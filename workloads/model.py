"""Model architectures: dense and GQA transformers, mixtures of experts, vision encoders, and
hybrids that mix attention with linear attention, state-space layers and sliding windows.

A :class:`ModelArch` is the shape of a network, nothing about how it runs. Parameter counts and
per-token sizes are derived from the shape; the operator lists of :mod:`workloads.ops` are built
from the same fields.

A hybrid names each layer's blocks in ``layer_pattern`` (one entry per layer): a sequence mixer
(``attention``, ``sliding_attention``, ``linear_attention`` for Gated DeltaNet, ``mamba`` for a
Mamba-2 state-space mixer) followed by an FFN (``+ffn``), or an FFN alone (``ffn``). Qwen3.5
layers are ``linear_attention+ffn`` / ``attention+ffn``; Nemotron-H layers are ``mamba``,
``attention`` or ``ffn`` alone; Gemma 3 layers are ``sliding_attention+ffn`` / ``attention+ffn``.
An empty pattern is a plain transformer (every layer ``attention+ffn``).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from microarch.excerpt import excerpt

__all__ = ["ModelArch", "PLAS_VOCAB_SIZE", "ROUTING_SKEW", "MIXERS", "LAYER_KINDS",
           "parse_layer"]

PLAS_VOCAB_SIZE = 151936
"""Vocabulary of the Qwen2.5 / Qwen3 tokenizer (``vocab_size`` in
huggingface.co/Qwen/Qwen2.5-0.5B/blob/main/config.json): the PLAS models of arXiv 2602.10377
are trained with it (their baseline is Qwen2.5-0.5B)."""

_ACTIVATIONS = {"swiglu": 3, "geglu": 3, "gelu": 2, "relu": 2, "relu2": 2}

MIXERS = ("attention", "sliding_attention", "linear_attention", "mamba")
"""Sequence mixers a layer may hold (see the module docstring)."""

LAYER_KINDS = tuple(f"{m}+ffn" for m in MIXERS) + MIXERS + ("ffn",)
"""Every layer kind of ``layer_pattern``."""


def parse_layer(kind: str) -> tuple[str | None, bool]:
    """(mixer or None, has an FFN) of one ``layer_pattern`` entry."""
    if kind not in LAYER_KINDS:
        raise ValueError(f"layer kind {excerpt(kind)} is not one of {', '.join(LAYER_KINDS)}")
    if kind == "ffn":
        return None, True
    mixer, _, ffn = kind.partition("+")
    return mixer, bool(ffn)

ROUTING_SKEW = 0.78
"""Default routing skew of a mixture of experts on real, diverse requests: the exponent s of
a Zipf popularity law over the experts (the r-th most used expert takes a share of the
routing proportional to r^-s). 0.78 is the exponent whose normalised entropy matches the
routing concentration 0.111 (one minus the normalised entropy of the expert-selection
distribution) published for Qwen3-30B-A3B in the llama.cpp routing profile at
mcp-tool-shop-org.github.io/gpu-container/handbook/derisk/ (128 experts). That profile covers
about 1k tokens, which overstates skew, so the range is [0, 0.78]; 0 is uniform routing.
See :func:`workloads.ops.experts_touched` for how it enters."""


# Sizes no chip could hold: a shape above these is refused (typos and hostile inputs), far
# above every published model (the largest dense layers are d_model 18,432, vocabularies
# about 260k, MoE models up to 384 routed experts; 2026).
MAX_SIZE = {"n_layers": 10_000, "d_model": 1 << 20, "n_heads": 1 << 16, "n_kv_heads": 1 << 16,
            "head_dim": 1 << 14, "d_ff": 1 << 24, "vocab_size": 1 << 24,
            "n_experts": 1 << 16, "top_k": 1 << 16, "d_ff_expert": 1 << 24,
            "n_shared_experts": 1 << 10, "d_ff_shared": 1 << 24, "sliding_window": 1 << 30,
            "linear_num_key_heads": 1 << 16, "linear_num_value_heads": 1 << 16,
            "linear_key_head_dim": 1 << 14, "linear_value_head_dim": 1 << 14,
            "conv_kernel": 1 << 10, "linear_chunk": 1 << 16, "mamba_num_heads": 1 << 16,
            "mamba_head_dim": 1 << 14, "ssm_state_size": 1 << 16, "mamba_groups": 1 << 16,
            "mamba_chunk": 1 << 16, "uncosted_params": 1 << 46}
MAX_PARAMS = 1e14

@dataclass(frozen=True)
class ModelArch:
    """The shape of a decoder-only transformer (or a ViT encoder when ``causal`` is False).

    Attributes:
        name: label.
        n_layers: transformer blocks.
        d_model: hidden width d.
        n_heads / n_kv_heads: query and key/value heads (GQA when n_kv_heads < n_heads).
        head_dim: per-head width (q width = n_heads * head_dim, need not equal d_model).
        d_ff: dense FFN intermediate width (per layer; 0 for pure-MoE layers).
        vocab_size: vocabulary (0 for a vision encoder: no embedding table or LM head).
        tied_embeddings: the LM head shares the embedding matrix.
        n_experts / top_k: routed experts and experts per token (1/1 = dense).
        d_ff_expert: intermediate width of one routed expert.
        n_shared_experts / d_ff_shared: always-active shared experts and their width.
        activation: FFN type; swiglu/geglu use 3 matrices, gelu/relu 2.
        qk_norm: RMSNorm on q and k per head (Qwen3).
        causal: decoder (True) or bidirectional encoder (False).
        routing_skew: Zipf exponent of expert popularity (0 = uniform routing; see
            :data:`ROUTING_SKEW`). A property of the model and of its inputs.
        layer_pattern: the kind of every layer (:data:`LAYER_KINDS`; empty: all
            ``attention+ffn``).
        sliding_window: keys a ``sliding_attention`` query sees (itself included), tokens.
        attn_output_gate: attention output gated by a sigmoid of a second query-width
            projection (Qwen3-Next / Qwen3.5 gated attention).
        rope: rotary position embedding on attention layers (Nemotron-H uses none).
        linear_num_key_heads / linear_num_value_heads / linear_key_head_dim /
            linear_value_head_dim: Gated DeltaNet heads (query/key heads, value heads) and
            widths; each value head keeps a key_dim x value_dim recurrent state.
        conv_kernel: width of the causal depthwise convolution of linear-attention and Mamba
            layers (its last ``conv_kernel - 1`` inputs are state).
        linear_chunk: chunk length of the chunked linear-attention scan at prefill.
        mamba_num_heads / mamba_head_dim / ssm_state_size / mamba_groups: Mamba-2 heads, head
            width, state size N and B/C groups (each head keeps a head_dim x N state).
        mamba_chunk: chunk length of the Mamba-2 chunked scan (SSD) at prefill.
        state_bytes_per_element: bytes of a recurrent-state element (4: FP32, the
            ``mamba_ssm_dtype`` of the Qwen3.5 configs and the Mamba-2 kernels' default).
        uncosted_params: checkpoint parameters that no costed operator reads (a vision tower,
            which runs as its own encoder model, or a multi-token-prediction head unused by
            plain decoding); only in :attr:`checkpoint_params`.
        source: where the numbers come from.
    """

    name: str
    n_layers: int
    d_model: int
    n_heads: int
    n_kv_heads: int
    head_dim: int
    d_ff: int
    vocab_size: int
    tied_embeddings: bool = False
    n_experts: int = 1
    top_k: int = 1
    d_ff_expert: int = 0
    n_shared_experts: int = 0
    d_ff_shared: int = 0
    activation: str = "swiglu"
    qk_norm: bool = False
    causal: bool = True
    routing_skew: float = ROUTING_SKEW
    layer_pattern: tuple[str, ...] = ()
    sliding_window: int = 0
    attn_output_gate: bool = False
    rope: bool = True
    linear_num_key_heads: int = 0
    linear_num_value_heads: int = 0
    linear_key_head_dim: int = 0
    linear_value_head_dim: int = 0
    conv_kernel: int = 4
    linear_chunk: int = 64
    mamba_num_heads: int = 0
    mamba_head_dim: int = 0
    ssm_state_size: int = 0
    mamba_groups: int = 1
    mamba_chunk: int = 256
    state_bytes_per_element: float = 4.0
    uncosted_params: int = 0
    source: str = ""

    def __post_init__(self) -> None:
        for name in ("n_layers", "d_model", "n_heads", "n_kv_heads", "head_dim"):
            v = getattr(self, name)
            if not (isinstance(v, int) and v > 0):
                raise ValueError(f"ModelArch.{name} must be a positive integer, got {excerpt(v)}")
        for name in ("d_ff", "vocab_size", "d_ff_expert", "n_shared_experts", "d_ff_shared"):
            v = getattr(self, name)
            if not (isinstance(v, int) and v >= 0):
                raise ValueError(f"ModelArch.{name} must be an integer >= 0, got {excerpt(v)}")
        for name, top in MAX_SIZE.items():
            v = getattr(self, name)
            if isinstance(v, (int, float)) and v > top:
                raise ValueError(f"ModelArch.{name} is {v:.3g}, above {top:,}: larger than any "
                                 "model a chip can hold")
        if self.n_heads % self.n_kv_heads:
            raise ValueError(f"ModelArch.n_heads ({self.n_heads}) must be a multiple of "
                             f"n_kv_heads ({self.n_kv_heads})")
        if self.n_experts < 1 or not 1 <= self.top_k <= self.n_experts:
            raise ValueError(f"ModelArch.top_k must be in [1, n_experts={self.n_experts}], "
                             f"got {self.top_k}")
        if self.is_moe and self.d_ff_expert <= 0:
            raise ValueError("ModelArch.d_ff_expert must be > 0 for a mixture of experts")
        if not self.is_moe and self.d_ff <= 0:
            raise ValueError("ModelArch.d_ff must be > 0 for a dense model")
        if not 0.0 <= self.routing_skew <= 4.0:
            raise ValueError(f"ModelArch.routing_skew must be in [0, 4], got "
                             f"{excerpt(self.routing_skew)}")
        if self.activation not in _ACTIVATIONS:
            raise ValueError(f"ModelArch.activation must be one of {sorted(_ACTIVATIONS)}, "
                             f"got {excerpt(self.activation)}")
        self._check_hybrid()

        if self.total_params > MAX_PARAMS:
            raise ValueError(f"the model has {self.total_params:.3g} parameters, above "
                             f"{MAX_PARAMS:.0e}: more than any chip or system holds")

    def _check_hybrid(self) -> None:
        ints = ("sliding_window", "linear_num_key_heads", "linear_num_value_heads",
                "linear_key_head_dim", "linear_value_head_dim", "mamba_num_heads",
                "mamba_head_dim", "ssm_state_size", "uncosted_params")
        for name in ints + ("conv_kernel", "linear_chunk", "mamba_groups", "mamba_chunk"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < (0 if name in ints else 1):
                raise ValueError(f"ModelArch.{name} must be an integer >= "
                                 f"{0 if name in ints else 1}, got {excerpt(v)}")
        for name in ("attn_output_gate", "rope"):
            if not isinstance(getattr(self, name), bool):
                raise ValueError(f"ModelArch.{name} must be true/false, got "
                                 f"{excerpt(getattr(self, name))}")
        if not (isinstance(self.state_bytes_per_element, (int, float))
                and 0.0 < self.state_bytes_per_element <= 8.0):
            raise ValueError("ModelArch.state_bytes_per_element must be in (0, 8], got "
                             f"{excerpt(self.state_bytes_per_element)}")
        if not isinstance(self.layer_pattern, tuple):
            raise ValueError("ModelArch.layer_pattern must be a tuple of layer kinds")
        if not self.layer_pattern:
            return
        if len(self.layer_pattern) != self.n_layers:
            raise ValueError(f"ModelArch.layer_pattern has {len(self.layer_pattern)} entries "
                             f"but n_layers is {self.n_layers}")
        kinds = [parse_layer(k) for k in self.layer_pattern]
        mixers = {m for m, _ in kinds}
        if "sliding_attention" in mixers and self.sliding_window < 1:
            raise ValueError("ModelArch.sliding_window must be >= 1 with sliding_attention "
                             "layers")
        if "linear_attention" in mixers:
            for name in ("linear_num_key_heads", "linear_num_value_heads",
                         "linear_key_head_dim", "linear_value_head_dim"):
                if getattr(self, name) < 1:
                    raise ValueError(f"ModelArch.{name} must be >= 1 with linear_attention "
                                     "layers")
            if self.linear_num_value_heads % self.linear_num_key_heads:
                raise ValueError(f"ModelArch.linear_num_value_heads "
                                 f"({self.linear_num_value_heads}) must be a multiple of "
                                 f"linear_num_key_heads ({self.linear_num_key_heads})")
        if "mamba" in mixers:
            for name in ("mamba_num_heads", "mamba_head_dim", "ssm_state_size"):
                if getattr(self, name) < 1:
                    raise ValueError(f"ModelArch.{name} must be >= 1 with mamba layers")
            if self.mamba_num_heads % self.mamba_groups:
                raise ValueError(f"ModelArch.mamba_num_heads ({self.mamba_num_heads}) must be "
                                 f"a multiple of mamba_groups ({self.mamba_groups})")
        if not any(f for _, f in kinds):
            raise ValueError("ModelArch.layer_pattern has no FFN layer")

    # -- derived shape -------------------------------------------------------------------
    @property
    def is_moe(self) -> bool:
        return self.n_experts > 1

    @property
    def is_hybrid(self) -> bool:
        """Anything but a plain transformer of ``attention+ffn`` layers with an ungated output."""
        return self.attn_output_gate or any(k != "attention+ffn" for k in self.layer_pattern)

    @property
    def layers(self) -> tuple[str, ...]:
        """The kind of every layer (``layer_pattern``, or all ``attention+ffn``)."""
        return self.layer_pattern or ("attention+ffn",) * self.n_layers

    def layers_with(self, mixer: str | None = None, ffn: bool | None = None) -> tuple[int, ...]:
        """Indices of the layers holding ``mixer`` (any mixer: ``"any"``) and/or an FFN."""
        out = []
        for i, k in enumerate(self.layers):
            m, f = parse_layer(k)
            if mixer is not None and not (m == mixer or (mixer == "any" and m is not None)):
                continue
            if ffn is not None and f != ffn:
                continue
            out.append(i)
        return tuple(out)

    def n_layers_with(self, mixer: str | None = None, ffn: bool | None = None) -> int:
        return len(self.layers_with(mixer, ffn))

    @property
    def linear_key_dim(self) -> int:
        """Gated DeltaNet query / key width, linear_num_key_heads * linear_key_head_dim."""
        return self.linear_num_key_heads * self.linear_key_head_dim

    @property
    def linear_value_dim(self) -> int:
        """Gated DeltaNet value (output) width, linear_num_value_heads * value head dim."""
        return self.linear_num_value_heads * self.linear_value_head_dim

    @property
    def mamba_inner(self) -> int:
        """Mamba-2 inner width, mamba_num_heads * mamba_head_dim."""
        return self.mamba_num_heads * self.mamba_head_dim

    @property
    def d_q(self) -> int:
        """Query width, n_heads * head_dim."""
        return self.n_heads * self.head_dim

    @property
    def d_kv(self) -> int:
        """Key (= value) width, n_kv_heads * head_dim (the paper's d_m)."""
        return self.n_kv_heads * self.head_dim

    @property
    def gqa(self) -> float:
        """Query heads per KV head."""
        return self.n_heads / self.n_kv_heads

    @property
    def ffn_matrices(self) -> int:
        """Weight matrices per FFN (3 for gated activations, 2 otherwise)."""
        return _ACTIVATIONS[self.activation]

    @property
    def rho(self) -> float:
        """Expert activation rate K/E (1 for dense)."""
        return self.top_k / self.n_experts

    @property
    def ffn_ratio(self) -> float:
        """Activated FFN expansion r: activated intermediate width / d_model."""
        act = (self.d_ff + self.top_k * self.d_ff_expert * (self.n_experts > 1)
               + self.n_shared_experts * self.d_ff_shared)
        return act / self.d_model

    # -- parameter counts ----------------------------------------------------------------
    @property
    def attention_params_per_layer(self) -> int:
        d = self.d_model
        gate = d * self.d_q if self.attn_output_gate else 0
        return d * self.d_q + gate + 2 * d * self.d_kv + self.d_q * d

    @property
    def linear_attention_params_per_layer(self) -> int:
        """One Gated DeltaNet mixer: the q/k/v/z/b/a input projection, the depthwise
        convolution over q, k, v, and the output projection (norm and decay vectors ignored)."""
        d, kd, vd = self.d_model, self.linear_key_dim, self.linear_value_dim
        return (d * (2 * kd + 2 * vd + 2 * self.linear_num_value_heads)
                + (2 * kd + vd) * self.conv_kernel + vd * d)

    @property
    def mamba_params_per_layer(self) -> int:
        """One Mamba-2 mixer: the z/x/B/C/dt input projection, the depthwise convolution (with
        its bias) over x, B, C, and the output projection (norm and A/D/dt vectors ignored)."""
        d, di = self.d_model, self.mamba_inner
        gn = self.mamba_groups * self.ssm_state_size
        return (d * (2 * di + 2 * gn + self.mamba_num_heads)
                + (di + 2 * gn) * (self.conv_kernel + 1) + di * d)

    @property
    def ffn_params_per_layer(self) -> int:
        """Stored FFN parameters of one layer (all experts, router, shared experts)."""
        m, d = self.ffn_matrices, self.d_model
        p = m * d * self.d_ff
        if self.is_moe:
            p += self.n_experts * m * d * self.d_ff_expert + d * self.n_experts
        p += self.n_shared_experts * m * d * self.d_ff_shared
        return p

    @property
    def active_ffn_params_per_layer(self) -> int:
        """FFN parameters one token touches."""
        m, d = self.ffn_matrices, self.d_model
        p = m * d * self.d_ff + self.n_shared_experts * m * d * self.d_ff_shared
        if self.is_moe:
            p += self.top_k * m * d * self.d_ff_expert + d * self.n_experts
        return p

    @property
    def embedding_params(self) -> int:
        return self.vocab_size * self.d_model

    @property
    def head_params(self) -> int:
        """LM-head parameters stored separately from the embedding (0 when tied)."""
        return 0 if self.tied_embeddings else self.vocab_size * self.d_model

    def _mixer_params(self) -> int:
        return (self.n_layers_with("attention") + self.n_layers_with("sliding_attention")) \
            * self.attention_params_per_layer \
            + self.n_layers_with("linear_attention") * self.linear_attention_params_per_layer \
            + self.n_layers_with("mamba") * self.mamba_params_per_layer

    @property
    def layer_params(self) -> int:
        """All transformer-block parameters (norm weights ignored)."""
        if not self.is_hybrid:
            return self.n_layers * (self.attention_params_per_layer + self.ffn_params_per_layer)
        return self._mixer_params() + self.n_layers_with(ffn=True) * self.ffn_params_per_layer

    @property
    def total_params(self) -> int:
        return self.layer_params + self.embedding_params + self.head_params

    @property
    def checkpoint_params(self) -> int:
        """Parameters of the published checkpoint: :attr:`total_params` plus
        :attr:`uncosted_params` (vision tower, multi-token-prediction head)."""
        return self.total_params + self.uncosted_params

    @property
    def active_params(self) -> int:
        """Parameters touched per token (embedding row ignored, LM head counted)."""
        if self.is_hybrid:
            return (self._mixer_params()
                    + self.n_layers_with(ffn=True) * self.active_ffn_params_per_layer
                    + self.vocab_size * self.d_model)
        return (self.n_layers * (self.attention_params_per_layer
                                 + self.active_ffn_params_per_layer)
                + self.vocab_size * self.d_model)

    def kv_bytes_per_token(self, kv_bytes_per_element: float) -> float:
        """KV-cache bytes one token adds across all layers, beyond every sliding window (the
        full-attention layers only: sliding-window layers stop growing at their window, and
        linear-attention and Mamba layers keep a fixed state instead,
        :meth:`recurrent_state_bytes`)."""
        n = self.n_layers_with("attention") if self.is_hybrid else self.n_layers
        return 2.0 * n * self.d_kv * kv_bytes_per_element

    def kv_cache_bytes(self, tokens: float, kv_bytes_per_element: float) -> float:
        """KV-cache bytes of one sequence of ``tokens`` tokens: full-attention layers hold
        every token, sliding-window layers at most ``sliding_window``."""
        held = (self.n_layers_with("attention") * tokens
                + self.n_layers_with("sliding_attention") * min(tokens, self.sliding_window))
        return 2.0 * self.d_kv * kv_bytes_per_element * (held if self.is_hybrid
                                                         else self.n_layers * tokens)

    def recurrent_state_bytes(self, conv_bytes_per_element: float = 2.0) -> float:
        """Fixed per-sequence state of the linear-attention and Mamba layers: each head's
        recurrent state (at ``state_bytes_per_element``) and the last ``conv_kernel - 1``
        convolution inputs (at ``conv_bytes_per_element``)."""
        k1 = self.conv_kernel - 1
        gdn = (self.linear_num_value_heads * self.linear_key_head_dim
               * self.linear_value_head_dim * self.state_bytes_per_element
               + (2 * self.linear_key_dim + self.linear_value_dim) * k1
               * conv_bytes_per_element)
        gn = self.mamba_groups * self.ssm_state_size
        mamba = (self.mamba_inner * self.ssm_state_size * self.state_bytes_per_element
                 + (self.mamba_inner + 2 * gn) * k1 * conv_bytes_per_element)
        return float(self.n_layers_with("linear_attention") * gdn
                     + self.n_layers_with("mamba") * mamba)

    def replace(self, **changes) -> ModelArch:
        return dataclasses.replace(self, **changes)

    @classmethod
    def from_plas(cls, n_layers: int, d_model: int, gqa: int, ffn_ratio: float,
                  n_experts: int = 1, top_k: int = 1, head_dim: int = 128,
                  vocab_size: int = PLAS_VOCAB_SIZE, tied_embeddings: bool = True,
                  name: str | None = None) -> ModelArch:
        """Build from the PLAS variables theta = (l, d, d/gqa, r, K/E).

        ``ffn_ratio`` is the *activated* expansion (for MoE, top_k * d_ff_expert / d), as in
        the paper; head count is d / head_dim and KV heads n_heads // gqa (at least 1), so the
        built model's :attr:`gqa` can differ from the requested one when the head count is
        not a multiple of it: read the actual value from the returned model.
        """
        n_heads = max(1, d_model // head_dim)
        n_kv = max(1, n_heads // int(gqa))
        inter = max(1, int(round(ffn_ratio * d_model)))
        moe = n_experts > 1
        return cls(
            name=name or f"plas-l{n_layers}-d{d_model}-g{gqa}-r{ffn_ratio:g}-e{n_experts}k{top_k}",
            n_layers=int(n_layers), d_model=int(d_model), n_heads=n_heads, n_kv_heads=n_kv,
            head_dim=head_dim, d_ff=0 if moe else inter, vocab_size=vocab_size,
            tied_embeddings=tied_embeddings, n_experts=int(n_experts), top_k=int(top_k),
            d_ff_expert=max(1, int(round(inter / top_k))) if moe else 0,
            source="PLAS search space (arXiv 2602.10377, Table 5)",
        )
