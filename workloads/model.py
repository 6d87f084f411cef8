"""Model architectures: dense and GQA transformers, mixtures of experts, vision encoders.

A :class:`ModelArch` is the shape of a network, nothing about how it runs. Parameter counts and
per-token sizes are derived from the shape; the operator lists of :mod:`workloads.ops` are built
from the same fields.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from microarch.excerpt import excerpt

__all__ = ["ModelArch", "PLAS_VOCAB_SIZE", "ROUTING_SKEW"]

PLAS_VOCAB_SIZE = 151936
"""Vocabulary of the Qwen2.5 / Qwen3 tokenizer (``vocab_size`` in
huggingface.co/Qwen/Qwen2.5-0.5B/blob/main/config.json): the PLAS models of arXiv 2602.10377
are trained with it (their baseline is Qwen2.5-0.5B)."""

_ACTIVATIONS = {"swiglu": 3, "geglu": 3, "gelu": 2, "relu": 2}

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
            "n_shared_experts": 1 << 10, "d_ff_shared": 1 << 24}
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
            if v > top:
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

        if self.total_params > MAX_PARAMS:
            raise ValueError(f"the model has {self.total_params:.3g} parameters, above "
                             f"{MAX_PARAMS:.0e}: more than any chip or system holds")

    # -- derived shape -------------------------------------------------------------------
    @property
    def is_moe(self) -> bool:
        return self.n_experts > 1

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
        return d * self.d_q + 2 * d * self.d_kv + self.d_q * d

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

    @property
    def layer_params(self) -> int:
        """All transformer-block parameters (norm weights ignored)."""
        return self.n_layers * (self.attention_params_per_layer + self.ffn_params_per_layer)

    @property
    def total_params(self) -> int:
        return self.layer_params + self.embedding_params + self.head_params

    @property
    def active_params(self) -> int:
        """Parameters touched per token (embedding row ignored, LM head counted)."""
        return (self.n_layers * (self.attention_params_per_layer
                                 + self.active_ffn_params_per_layer)
                + self.vocab_size * self.d_model)

    def kv_bytes_per_token(self, kv_bytes_per_element: float) -> float:
        """KV-cache bytes one token adds across all layers."""
        return 2.0 * self.n_layers * self.d_kv * kv_bytes_per_element

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
