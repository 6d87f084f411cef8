"""Operator lists of one inference phase, as arrays over design points.

For a transformer shape, a batch and a phase (a prefill of ``tokens`` new tokens after ``past``
cached ones; a decode step is ``tokens=1``), :func:`phase_operators` returns the operators of one
forward pass. Hybrid models add their sequence mixers beside attention: sliding-window attention
(keys bounded by the window), Gated DeltaNet linear attention and Mamba-2 state-space layers
(a chunked scan on the matrix engines at prefill, a recurrent step on the vector units at
decode), whose fixed recurrent state is read and written like the KV cache
(``state_read_bytes`` / ``state_write_bytes``) and counted with it in :func:`kv_cache_bytes`.

Every numeric field is a numpy array (or scalar) that broadcasts over design points, so the
same code describes one model (for the simulator and the operator graph) or a million shapes at
once (for the analytic evaluator). The fields are chip-independent: what a chip does
with them (tiling, residency, fusion, dispatch) is decided in ``chipdse.cost``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from microarch.formats import get_format
from workloads.model import ModelArch
from workloads.precision import Precision

__all__ = ["ArchArrays", "Op", "phase_operators", "weights_total_bytes", "kv_cache_bytes",
           "recurrent_state_bytes", "experts_touched", "expert_selection_probability",
           "sliding_pairs", "GDN_DECODE_OPS", "MAMBA_DECODE_OPS"]

Array = Any  # numpy array or float


# Fields of ArchArrays that are not arrays over design points.
_STATIC = ("causal", "pattern")


@dataclass(frozen=True)
class ArchArrays:
    """Transformer shape fields as arrays (or scalars) over design points.

    Hybrid layer counts: ``n_swa_layers`` (sliding-window attention), ``n_gdn_layers`` (Gated
    DeltaNet), ``n_mamba_layers`` (Mamba-2), ``n_mixerless_layers`` (FFN only) and
    ``n_ffnless_layers`` (mixer only); every other layer is full attention + FFN. ``pattern``
    is the per-layer kind list of a single model (:attr:`ModelArch.layers`), used to place
    each operator in its layers; None for populations and plain transformers.
    """

    n_layers: Array
    d_model: Array
    n_heads: Array
    n_kv_heads: Array
    head_dim: Array
    d_ff: Array
    vocab_size: Array
    tied_embeddings: Array
    n_experts: Array
    top_k: Array
    d_ff_expert: Array
    n_shared_experts: Array = 0
    d_ff_shared: Array = 0
    ffn_matrices: Array = 3
    qk_norm: Array = False
    routing_skew: Array = 0.0
    n_swa_layers: Array = 0.0
    n_gdn_layers: Array = 0.0
    n_mamba_layers: Array = 0.0
    n_mixerless_layers: Array = 0.0
    n_ffnless_layers: Array = 0.0
    sliding_window: Array = 0.0
    attn_gate: Array = False
    rope: Array = True
    gdn_k_heads: Array = 0.0
    gdn_v_heads: Array = 0.0
    gdn_k_dim: Array = 0.0
    gdn_v_dim: Array = 0.0
    conv_kernel: Array = 4.0
    gdn_chunk: Array = 64.0
    mamba_heads: Array = 0.0
    mamba_head_dim: Array = 0.0
    ssm_state: Array = 0.0
    mamba_groups: Array = 1.0
    mamba_chunk: Array = 256.0
    state_bytes: Array = 4.0
    causal: bool = True
    pattern: tuple[str, ...] | None = None

    @classmethod
    def from_model(cls, m: ModelArch) -> ArchArrays:
        if m.is_hybrid:
            return cls._from_hybrid(m)
        return cls(
            n_layers=float(m.n_layers), d_model=float(m.d_model), n_heads=float(m.n_heads),
            n_kv_heads=float(m.n_kv_heads), head_dim=float(m.head_dim), d_ff=float(m.d_ff),
            vocab_size=float(m.vocab_size), tied_embeddings=bool(m.tied_embeddings),
            n_experts=float(m.n_experts), top_k=float(m.top_k),
            d_ff_expert=float(m.d_ff_expert) if m.is_moe else 0.0,
            n_shared_experts=float(m.n_shared_experts), d_ff_shared=float(m.d_ff_shared),
            ffn_matrices=float(m.ffn_matrices), qk_norm=bool(m.qk_norm),
            routing_skew=float(m.routing_skew), causal=m.causal,
        )

    @classmethod
    def _from_hybrid(cls, m: ModelArch) -> ArchArrays:
        base = cls.from_model(m.replace(layer_pattern=(), attn_output_gate=False))
        n = lambda mixer=None, ffn=None: float(m.n_layers_with(mixer, ffn))  # noqa: E731
        kw = {f: getattr(base, f) for f in cls.__dataclass_fields__}
        kw.update(
            n_swa_layers=n("sliding_attention"), n_gdn_layers=n("linear_attention"),
            n_mamba_layers=n("mamba"), n_mixerless_layers=float(m.n_layers - n("any")),
            n_ffnless_layers=float(m.n_layers - n(ffn=True)),
            sliding_window=float(m.sliding_window), attn_gate=bool(m.attn_output_gate),
            rope=bool(m.rope), gdn_k_heads=float(m.linear_num_key_heads),
            gdn_v_heads=float(m.linear_num_value_heads),
            gdn_k_dim=float(m.linear_key_head_dim), gdn_v_dim=float(m.linear_value_head_dim),
            conv_kernel=float(m.conv_kernel), gdn_chunk=float(m.linear_chunk),
            mamba_heads=float(m.mamba_num_heads), mamba_head_dim=float(m.mamba_head_dim),
            ssm_state=float(m.ssm_state_size), mamba_groups=float(m.mamba_groups),
            mamba_chunk=float(m.mamba_chunk), state_bytes=float(m.state_bytes_per_element),
            pattern=m.layers)
        return cls(**kw)

    @classmethod
    def stack(cls, models: Sequence[ModelArch]) -> ArchArrays:
        """One array per field over ``models`` (all must share ``causal``)."""
        rows = [cls.from_model(m) for m in models]
        if len({r.causal for r in rows}) > 1:
            raise ValueError("ArchArrays.stack: models mix causal decoders and encoders")
        kw = {f: np.array([getattr(r, f) for r in rows]) for f in cls.__dataclass_fields__
              if f not in _STATIC}
        patterns = {r.pattern for r in rows}
        return cls(**kw, causal=rows[0].causal,
                   pattern=patterns.pop() if len(patterns) == 1 else None)

    def map(self, fn) -> ArchArrays:
        """Apply ``fn`` to every array field (e.g. add an axis)."""
        kw = {f: fn(np.asarray(getattr(self, f))) for f in self.__dataclass_fields__
              if f not in _STATIC}
        return ArchArrays(**kw, causal=self.causal, pattern=self.pattern)

    @property
    def is_hybrid(self) -> bool:
        """Some point has a layer other than full attention + FFN, or a gated attention."""
        return any(np.any(np.asarray(getattr(self, f)) != 0) for f in (
            "n_swa_layers", "n_gdn_layers", "n_mamba_layers", "n_mixerless_layers",
            "n_ffnless_layers", "attn_gate"))

    @property
    def n_mixer_layers(self) -> Array:
        """Layers holding a sequence mixer (attention of either kind, linear, Mamba)."""
        return self.n_layers - self.n_mixerless_layers

    @property
    def n_attention_layers(self) -> Array:
        """Full-attention layers."""
        return (self.n_mixer_layers - self.n_swa_layers - self.n_gdn_layers
                - self.n_mamba_layers)

    @property
    def n_ffn_layers(self) -> Array:
        return self.n_layers - self.n_ffnless_layers

    @property
    def gdn_key_width(self) -> Array:
        return self.gdn_k_heads * self.gdn_k_dim

    @property
    def gdn_value_width(self) -> Array:
        return self.gdn_v_heads * self.gdn_v_dim

    @property
    def gdn_conv_width(self) -> Array:
        """Channels of the Gated DeltaNet convolution (q, k, v)."""
        return 2.0 * self.gdn_key_width + self.gdn_value_width

    @property
    def gdn_in_width(self) -> Array:
        """Outputs of the Gated DeltaNet input projection (q, k, v, z, b, a)."""
        return 2.0 * self.gdn_key_width + 2.0 * self.gdn_value_width + 2.0 * self.gdn_v_heads

    @property
    def mamba_inner(self) -> Array:
        return self.mamba_heads * self.mamba_head_dim

    @property
    def mamba_conv_width(self) -> Array:
        """Channels of the Mamba-2 convolution (x, B, C)."""
        return self.mamba_inner + 2.0 * self.mamba_groups * self.ssm_state

    @property
    def mamba_in_width(self) -> Array:
        """Outputs of the Mamba-2 input projection (z, x, B, C, dt)."""
        return 2.0 * self.mamba_inner + 2.0 * self.mamba_groups * self.ssm_state \
            + self.mamba_heads

    @property
    def d_q(self) -> Array:
        return self.n_heads * self.head_dim

    @property
    def d_kv(self) -> Array:
        return self.n_kv_heads * self.head_dim

    @property
    def is_moe(self) -> Array:
        return np.asarray(self.n_experts) > 1


@dataclass
class Op:
    """One operator of a phase; numeric fields broadcast over design points.

    Attributes:
        name: operator name ("qkv_proj", "attention", ...).
        engine: "matrix" or "vector".
        count: instances per forward pass (layers for per-layer operators).
        flops: matrix ops (2 per MAC) per instance, before any sparsity.
        vector_ops / sfu_ops: element-wise and transcendental ops per instance.
        weight_bytes / weight_elements: weights read per instance (dense storage).
        gemm_m / gemm_n / gemm_k: GEMM shape (rows = tokens) for tiling; 0 when not a GEMM.
        act_in_bytes / act_out_bytes: activation traffic per instance.
        kv_read_bytes / kv_write_bytes: KV-cache traffic per instance.
        state_read_bytes / state_write_bytes: recurrent-state traffic per instance (placed
            with the KV cache).
        score_bytes: attention score matrix (one copy) an unfused kernel moves through memory.
        fmt: execution format of the matrix work ("fp16", "int8", ...).
        weight_only: weights narrower than ``fmt`` (dequantised in the loop).
        convert_elements: activation elements to (de)quantise (conversion operators).
        experts: experts touched per instance (MoE expert GEMMs).
        expert_pool / expert_topk / expert_skew / routed_tokens: a grouped expert GEMM's
            routing (experts, experts per token, Zipf skew, tokens of the batch), from which
            the cost model derives each expert's token count and its row tiles.
        kind: "gemm", "attention", "scan" (a fused sequence-mixing kernel of a linear-attention
            or state-space layer), "nonlinear", "conversion", "gather".
        sparse24: weights are 2:4 structured-sparse.
        paper: covered by the paper's closed forms (projections, FFN, decode attention).
        layer_op: repeated per layer (True) or once per pass (False).
        layers: the layers (indices) a per-layer operator runs in, for a single hybrid model;
            None: every layer.
    """

    name: str
    engine: str
    kind: str
    count: Array
    fmt: str = "fp16"
    flops: Array = 0.0
    vector_ops: Array = 0.0
    sfu_ops: Array = 0.0
    weight_bytes: Array = 0.0
    weight_elements: Array = 0.0
    gemm_m: Array = 0.0
    gemm_n: Array = 0.0
    gemm_k: Array = 0.0
    act_in_bytes: Array = 0.0
    act_out_bytes: Array = 0.0
    kv_read_bytes: Array = 0.0
    kv_write_bytes: Array = 0.0
    state_read_bytes: Array = 0.0
    state_write_bytes: Array = 0.0
    score_bytes: Array = 0.0
    convert_elements: Array = 0.0
    experts: Array = 0.0
    expert_pool: Array = 0.0
    expert_topk: Array = 0.0
    expert_skew: Array = 0.0
    routed_tokens: Array = 0.0
    weight_only: bool = False
    sparse24: bool = False
    paper: bool = False
    layer_op: bool = True
    layers: tuple[int, ...] | None = None


def expert_selection_probability(n_experts: Array, top_k: Array, skew: Array = 0.0,
                                 max_experts: int | None = None) -> np.ndarray:
    """Probability that one token routes to each expert, by popularity rank (a trailing axis
    of length ``max_experts``, zero past each point's expert count).

    Expert popularity follows a Zipf law of exponent ``skew`` over ranks r = 1..E,
    p_r = r^-s / sum(r^-s); a token picks ``top_k`` distinct experts, so it lands on expert r
    with probability min(1, k p_r). ``skew = 0`` is uniform routing, k / E for every expert."""
    e = np.asarray(n_experts, dtype=float)
    k = np.asarray(top_k, dtype=float)
    s = np.asarray(skew, dtype=float)
    n = int(max_experts or np.max(e))
    r = np.arange(1, n + 1, dtype=float)
    live = r <= e[..., None]
    w = np.where(live, r ** -s[..., None], 0.0)
    p = w / np.sum(w, axis=-1, keepdims=True)
    return np.minimum(1.0, k[..., None] * p)


def experts_touched(n_experts: Array, top_k: Array, tokens: Array, skew: Array = 0.0) -> Array:
    """Expected distinct experts hit by ``tokens`` routed tokens: sum over experts of
    1 - (1 - q_r)^tokens with q_r from :func:`expert_selection_probability`. With uniform
    routing (``skew = 0``) this is E (1 - (1 - k/E)^tokens); skewed routing concentrates the
    tokens of a batch on the popular experts, so fewer distinct experts are touched (1 for
    a dense model)."""
    e = np.asarray(n_experts, dtype=float)
    k = np.asarray(top_k, dtype=float)
    if np.ndim(skew) == 0 and float(skew) == 0.0:
        return np.where(e > 1, e * (1.0 - (1.0 - k / np.maximum(e, 1.0)) ** tokens), 1.0)
    shape = np.broadcast_shapes(np.shape(e), np.shape(k), np.shape(skew), np.shape(tokens))
    q = expert_selection_probability(np.broadcast_to(e, shape), np.broadcast_to(k, shape),
                                     np.broadcast_to(np.asarray(skew, float), shape))
    t = np.broadcast_to(np.asarray(tokens, dtype=float), shape)[..., None]
    touched = np.sum(1.0 - (1.0 - q) ** t, axis=-1)
    return np.where(np.broadcast_to(e, shape) > 1, touched, 1.0)


SPARSE24_INDEX_BYTES = 2 / 8 / 2
"""2:4 metadata per original element: a 2-bit position index per kept value, half are kept
(NVIDIA Ampere architecture whitepaper, 2020, "Fine-grained structured sparsity")."""


def _sparse24_bytes(bytes_per_element: float) -> float:
    """Bytes per original element of a 2:4-compressed weight: half the values plus indices."""
    return 0.5 * bytes_per_element + SPARSE24_INDEX_BYTES


def weights_total_bytes(a: ArchArrays, p: Precision) -> Array:
    """Stored weight bytes: blocks at the weight format (2:4-compressed when the deployment is
    2:4 sparse), router at FP16, embedding / head at the head format. A hybrid's mixers count
    in their own layers; their depthwise convolutions stay FP16 like the router."""
    bw, bh = p.w.bytes_per_element, p.h.bytes_per_element
    if p.sparsity_2_4:
        bw = _sparse24_bytes(bw)
    d = a.d_model
    attn = d * a.d_q + 2 * d * a.d_kv + a.d_q * d
    m = a.ffn_matrices
    ffn = (m * d * a.d_ff + np.where(a.is_moe, a.n_experts * m * d * a.d_ff_expert, 0.0)
           + a.n_shared_experts * m * d * a.d_ff_shared)
    router = np.where(a.is_moe, d * a.n_experts, 0.0)
    head = a.vocab_size * d * np.where(a.tied_embeddings, 1.0, 2.0)
    if not a.is_hybrid:
        return a.n_layers * ((attn + ffn) * bw + router * get_format("fp16").bytes_per_element) \
            + head * bh
    attn = attn + np.where(a.attn_gate, d * a.d_q, 0.0)
    n_attn = a.n_attention_layers + a.n_swa_layers
    gdn = d * a.gdn_in_width + a.gdn_value_width * d
    mamba = d * a.mamba_in_width + a.mamba_inner * d
    gdn_conv = a.gdn_conv_width * a.conv_kernel
    mamba_conv = a.mamba_conv_width * (a.conv_kernel + 1.0)  # weights and bias
    blocks = n_attn * attn + a.n_gdn_layers * gdn + a.n_mamba_layers * mamba \
        + a.n_ffn_layers * ffn
    fp16 = a.n_ffn_layers * router + a.n_gdn_layers * gdn_conv + a.n_mamba_layers * mamba_conv
    return blocks * bw + fp16 * get_format("fp16").bytes_per_element + head * bh


def recurrent_state_bytes(a: ArchArrays, p: Precision, batch: Array) -> Array:
    """Fixed state of ``batch`` sequences over the linear-attention and Mamba layers: each
    head's recurrent state (``state_bytes`` per element) and the convolution inputs the next
    step needs (``conv_kernel - 1`` per channel, 16-bit). Zero for a transformer."""
    if not a.is_hybrid:
        return 0.0
    bs = max(p.a.bytes_per_element, get_format("fp16").bytes_per_element)
    k1 = a.conv_kernel - 1.0
    gdn = a.gdn_v_heads * a.gdn_k_dim * a.gdn_v_dim * a.state_bytes \
        + a.gdn_conv_width * k1 * bs
    mamba = a.mamba_inner * a.ssm_state * a.state_bytes + a.mamba_conv_width * k1 * bs
    return batch * (a.n_gdn_layers * gdn + a.n_mamba_layers * mamba)


def kv_cache_bytes(a: ArchArrays, p: Precision, batch: Array, tokens: Array) -> Array:
    """KV-store bytes of ``batch`` sequences of ``tokens`` tokens, all layers: the KV cache
    (sliding-window layers hold at most their window) and a hybrid's recurrent state
    (:func:`recurrent_state_bytes`), which is placed with it."""
    if not a.is_hybrid:
        return 2.0 * a.n_layers * a.d_kv * p.kv.bytes_per_element * batch * tokens
    held = a.n_attention_layers * tokens + a.n_swa_layers * np.minimum(tokens, a.sliding_window)
    return 2.0 * a.d_kv * p.kv.bytes_per_element * batch * held \
        + recurrent_state_bytes(a, p, batch)


def sliding_pairs(tokens: Array, past: Array, window: Array) -> Array:
    """Query-key pairs per sequence and head of ``tokens`` new queries after ``past`` cached
    tokens when each query sees at most ``window`` keys (itself included):
    sum over t = past+1 .. past+tokens of min(t, window)."""
    T, P, W = tokens, past, window
    low = np.clip(W - P, 0.0, T)  # queries whose whole history fits in the window
    return low * P + low * (low + 1.0) / 2.0 + (T - low) * W


GDN_DECODE_OPS = 7.0
"""Vector ops per state element of one Gated DeltaNet recurrent step (per value head): decay
S <- g S (1), the memory read S^T k (2), the delta-rule write S + k (beta (v - S^T k))^T (2)
and the output S^T q (2) (Yang, Kautz, Hatamizadeh, "Gated Delta Networks", arXiv 2412.06464,
eq. 10)."""

MAMBA_DECODE_OPS = 5.0
"""Vector ops per state element of one Mamba-2 recurrent step (per head): decay h <- exp(dt A) h
(1), the input write + dt x B^T (2) and the readout h C (2) (Dao and Gu, "Transformers are
SSMs", arXiv 2405.21060, the SSD recurrence)."""


def _gdn_chunk_flops(c: Array, dk: Array, dv: Array) -> Array:
    """Matrix ops per token and value head of the chunked Gated DeltaNet scan (chunk ``c``,
    WY representation of arXiv 2412.06464 sec. 3.3): per chunk K K^T and Q K^T (2 c^2 dk
    each), the triangular solve (c^3 / 3 MACs), W = A K (2 c^2 dk), U = A V (2 c^2 dv), the
    state reads W S and Q S and the state update K^T U (2 c dk dv each) and the intra-chunk
    output (Q K^T) U (2 c^2 dv), divided by the c tokens of the chunk."""
    return 6.0 * c * dk + 4.0 * c * dv + 6.0 * dk * dv + 2.0 * c * c / 3.0


def _mamba_chunk_flops(q: Array, hd: Array, n: Array, heads_per_group: Array) -> Array:
    """Matrix ops per token and head of the Mamba-2 chunked scan (SSD, chunk ``q``,
    arXiv 2405.21060 sec. 6): C B^T within the chunk (2 q N, shared by the heads of a group),
    its product with X (2 q hd), the chunk state B^T X and the output from the carried state
    C h (2 N hd each)."""
    return 2.0 * q * n / np.maximum(heads_per_group, 1.0) + 2.0 * q * hd + 4.0 * n * hd


def phase_operators(a: ArchArrays, p: Precision, batch: Array, tokens: Array, past: Array,
                    logits: str = "last", block_causal: bool = True) -> list[Op]:
    """Operators of one forward pass over ``tokens`` new tokens per sequence after ``past``
    cached ones (prefill: ``past=0``; a decode step: ``tokens=1, past=C``).

    ``logits`` is "last" (LM head on the last token of each sequence, as serving engines do),
    "all" (every token) or "none" (an encoder: no LM head). A hybrid's operators carry the
    count of the layers they run in (and, for a single model, ``layers``). With
    ``block_causal`` False, a decoder's new tokens attend to each other both ways (the action
    chunk of a flow-matching expert), still after the ``past`` cached ones.
    """
    B, T, P = batch, tokens, past
    ba, bw, bkv, bh = (p.a.bytes_per_element, p.w.bytes_per_element,
                       p.kv.bytes_per_element, p.h.bytes_per_element)
    # Quantised activations exist only as GEMM inputs (written by a conversion operator); the
    # residual stream, norms, activations, attention and GEMM outputs stay 16-bit.
    bs = max(ba, get_format("fp16").bytes_per_element)
    d, dq, dkv, L = a.d_model, a.d_q, a.d_kv, a.n_layers
    rows = B * T
    fmt, wo = p.gemm_format(), p.weight_only()
    s24 = p.sparsity_2_4
    ops: list[Op] = []
    hybrid = a.is_hybrid
    if hybrid:
        n_mix, n_full, n_swa = a.n_mixer_layers, a.n_attention_layers, a.n_swa_layers
        n_attn, n_ffn = n_full + n_swa, a.n_ffn_layers
    else:
        n_mix = n_full = n_attn = n_ffn = L
        n_swa = 0.0
    lay = _layer_sets(a) if hybrid else {}

    def present(count) -> bool:
        return not hybrid or bool(np.any(np.asarray(count) > 0))

    def gemm(name: str, m, k, n, paper=True, count=L, experts=0.0, weights=None,
             w_bytes=bw, w_fmt=None, layer_op=True, layers=None):
        welems = k * n if weights is None else weights
        sparse = s24 and w_fmt is None
        f = p.gemm_format(w_fmt) if w_fmt else fmt
        ops.append(Op(
            name=name, engine="matrix", kind="gemm", count=count, fmt=f,
            flops=2.0 * m * k * n,
            weight_bytes=welems * (_sparse24_bytes(w_bytes) if sparse else w_bytes),
            weight_elements=welems,
            gemm_m=m, gemm_n=n, gemm_k=k, act_in_bytes=m * k * ba, act_out_bytes=m * n * bs,
            experts=experts, weight_only=p.weight_only(w_fmt) if w_fmt else wo,
            sparse24=sparse, paper=paper, layer_op=layer_op, layers=layers))

    def vector(name: str, elements, ops_per_el, sfu, count=L, layer_op=True, layers=None):
        ops.append(Op(name=name, engine="vector", kind="nonlinear", count=count,
                      vector_ops=elements * ops_per_el, sfu_ops=sfu,
                      act_in_bytes=elements * bs, act_out_bytes=elements * bs,
                      layer_op=layer_op, layers=layers))

    def convert(name: str, elements, count=L, layers=None):
        if p.quantised_activations:
            ops.append(Op(name=name, engine="vector", kind="conversion", count=count,
                          convert_elements=elements,
                          act_in_bytes=elements * get_format("fp16").bytes_per_element,
                          act_out_bytes=elements * ba, layers=layers))

    # Embedding gather (reads B*T rows of the table).
    if np.any(np.asarray(a.vocab_size) > 0):
        ops.append(Op(name="embedding", engine="vector", kind="gather", count=1.0,
                      weight_bytes=rows * d * bh, act_out_bytes=rows * d * bs,
                      layer_op=False))

    # --- attention block (every sequence mixer shares its norm and input quantisation) ---
    vector("attn_norm", rows * d, 5.0, rows, count=n_mix, layers=lay.get("mix"))
    convert("attn_quant", rows * d, count=n_mix, layers=lay.get("mix"))
    if present(n_attn):
        at = lay.get("attn")
        if hybrid:
            gate = np.asarray(a.attn_gate, dtype=float)
            gemm("qkv_proj", rows, d, dq * (1.0 + gate) + 2 * dkv, count=n_attn, layers=at)
            rope = np.asarray(a.rope, dtype=float)
            if a.causal and np.any(rope > 0):
                vector("rope", rows * (dq + dkv), 4.0, 0.0, count=n_attn * rope,
                       layers=at if np.all(rope > 0) else None)
        else:
            gemm("qkv_proj", rows, d, dq + 2 * dkv)
            if a.causal:  # decoders use RoPE; the ViT encoders here use learned positions
                vector("rope", rows * (dq + dkv), 4.0, 0.0)
        if a.qk_norm is not False and np.any(a.qk_norm):
            # Points without QK-norm get a zero count (operators absent, no launch either).
            vector("qk_norm", rows * (dq + dkv), 4.0, rows * (a.n_heads + a.n_kv_heads),
                   count=n_attn * np.asarray(a.qk_norm, dtype=float),
                   layers=at if np.all(np.asarray(a.qk_norm)) else None)
        keys_total = P + T  # keys visible to the last query
        if a.causal and block_causal:
            pairs = T * P + T * (T + 1) / 2.0  # q-k pairs per sequence per head
        else:
            pairs = T * keys_total
        fa_fmt = p.activations if p.a.bits >= 16 else "fp16"
        if present(n_full):
            ops.append(Op(
                name="attention", engine="matrix", kind="attention", count=n_full, fmt=fa_fmt,
                flops=4.0 * B * pairs * dq,
                vector_ops=B * a.n_heads * pairs * 3.0, sfu_ops=B * a.n_heads * pairs,
                act_in_bytes=rows * dq * bs, act_out_bytes=rows * dq * bs,
                # An encoder keeps no cache: its K/V are activations of the pass (read once).
                kv_read_bytes=B * keys_total * 2 * dkv * bkv if a.causal else 0.0,
                kv_write_bytes=B * T * 2 * dkv * bkv if a.causal else 0.0,
                score_bytes=B * a.n_heads * pairs * 2.0,  # fp16 scores
                paper=True, layers=lay.get("full"),
            ))
        if hybrid and present(n_swa):
            W = np.maximum(a.sliding_window, 1.0)
            sp = sliding_pairs(T, P, W)
            # Keys read: the window behind the first new query, then one more per query.
            keys = np.minimum(keys_total, W + T - 1.0)
            ops.append(Op(
                name="sliding_attention", engine="matrix", kind="attention", count=n_swa,
                fmt=fa_fmt, flops=4.0 * B * sp * dq,
                vector_ops=B * a.n_heads * sp * 3.0, sfu_ops=B * a.n_heads * sp,
                act_in_bytes=rows * dq * bs, act_out_bytes=rows * dq * bs,
                kv_read_bytes=B * keys * 2 * dkv * bkv, kv_write_bytes=B * T * 2 * dkv * bkv,
                score_bytes=B * a.n_heads * sp * 2.0, paper=True, layers=lay.get("swa")))
        if hybrid and np.any(np.asarray(a.attn_gate)):
            gate_n = n_attn * np.asarray(a.attn_gate, dtype=float)
            # o * sigmoid(gate): one sigmoid and one multiply per output element.
            vector("attn_gate", rows * dq, 2.0, rows * dq, count=gate_n,
                   layers=at if np.all(np.asarray(a.attn_gate)) else None)
        convert("o_quant", rows * dq, count=n_attn, layers=at if hybrid else None)
        gemm("o_proj", rows, dq, d, count=n_attn, layers=at if hybrid else None)

    if hybrid:
        recurrent = np.ndim(T) == 0 and float(T) == 1.0
        _gdn_ops(ops, a, B, T, P, bs, recurrent, gemm, vector, convert, lay.get("gdn"))
        _mamba_ops(ops, a, B, T, P, bs, recurrent, gemm, vector, convert, lay.get("mamba"))

    # --- FFN block ---
    fl = lay.get("ffn")
    vector("ffn_norm", rows * d, 5.0, rows, count=n_ffn, layers=fl)
    convert("ffn_quant", rows * d, count=n_ffn, layers=fl)
    m_up = a.ffn_matrices - 1.0  # gate + up for gated activations
    dense_ff = a.d_ff + a.n_shared_experts * a.d_ff_shared
    has_dense = np.any(np.asarray(dense_ff) > 0)
    if has_dense:
        n_dense = n_ffn * (np.asarray(dense_ff) > 0)
        dl = fl if np.all(np.asarray(dense_ff) > 0) else None
        gemm("ffn_up", rows, d, m_up * dense_ff, count=n_dense, layers=dl)
        vector("ffn_act", rows * dense_ff, 3.0, rows * dense_ff, count=n_dense, layers=dl)
        convert("ffn_down_quant", rows * dense_ff, count=n_dense, layers=dl)
        gemm("ffn_down", rows, dense_ff, d, count=n_dense, layers=dl)
    if np.any(a.is_moe):
        n_moe = n_ffn * np.asarray(a.is_moe, dtype=float)
        ml = fl if np.all(a.is_moe) else None
        E, K, dfe = a.n_experts, a.top_k, a.d_ff_expert
        skew = a.routing_skew
        touched = experts_touched(E, K, rows, skew)
        routed = rows * K
        tok_per_expert = routed / np.maximum(touched, 1e-30)
        # Routers stay in FP16 (they are tiny and routing is precision-sensitive).
        gemm("router", rows, d, E, paper=False, w_bytes=get_format("fp16").bytes_per_element,
             w_fmt="fp16", count=n_moe, layers=ml)
        vector("router_topk", rows * E, 4.0, rows * E, count=n_moe, layers=ml)
        routing = dict(expert_pool=E, expert_topk=K, expert_skew=skew, routed_tokens=rows)
        gemm("expert_up", tok_per_expert, d, m_up * dfe, experts=touched,
             weights=touched * d * m_up * dfe, count=n_moe, layers=ml)
        ops[-1].flops = 2.0 * routed * d * m_up * dfe
        for k_, v_ in routing.items():
            setattr(ops[-1], k_, v_)
        ops[-1].act_in_bytes = routed * d * ba
        ops[-1].act_out_bytes = routed * m_up * dfe * bs
        vector("expert_act", routed * dfe, 3.0, routed * dfe, count=n_moe, layers=ml)
        convert("expert_down_quant", routed * dfe, count=n_moe, layers=ml)
        # The per-expert overhead is charged once per touched expert per layer (on expert_up).
        gemm("expert_down", tok_per_expert, dfe, d, weights=touched * dfe * d,
             count=n_moe, layers=ml)
        ops[-1].flops = 2.0 * routed * dfe * d
        for k_, v_ in routing.items():
            setattr(ops[-1], k_, v_)
        ops[-1].act_in_bytes = routed * dfe * ba
        ops[-1].act_out_bytes = routed * d * bs

    # --- head ---
    if logits != "none" and np.any(np.asarray(a.vocab_size) > 0):
        head_rows = B if logits == "last" else rows
        vector("final_norm", head_rows * d, 5.0, head_rows, count=1.0, layer_op=False)
        gemm("lm_head", head_rows, d, a.vocab_size, paper=False, count=1.0, w_bytes=bh,
             w_fmt=p.head, layer_op=False)
    return ops


def _layer_sets(a: ArchArrays) -> dict[str, tuple[int, ...]]:
    """Layer indices of each operator group of a single hybrid model (empty: a population,
    whose operators run by count alone)."""
    if a.pattern is None:
        return {}
    kinds = [k.partition("+") for k in a.pattern]
    mixer = [None if m == "ffn" else m for m, _, _ in kinds]
    ffn = [m == "ffn" or f == "ffn" for m, _, f in kinds]
    pick = lambda pred: tuple(i for i in range(len(kinds)) if pred(i))  # noqa: E731
    return {"mix": pick(lambda i: mixer[i] is not None),
            "attn": pick(lambda i: mixer[i] in ("attention", "sliding_attention")),
            "full": pick(lambda i: mixer[i] == "attention"),
            "swa": pick(lambda i: mixer[i] == "sliding_attention"),
            "gdn": pick(lambda i: mixer[i] == "linear_attention"),
            "mamba": pick(lambda i: mixer[i] == "mamba"),
            "ffn": pick(lambda i: ffn[i])}


def _conv_op(name: str, a: ArchArrays, B, rows, channels, bs, count, layers) -> Op:
    """Causal depthwise convolution (``conv_kernel`` taps, SiLU after): 2 ops per tap and
    channel, one SiLU; the last ``conv_kernel - 1`` inputs of every channel are state, read
    and written once per pass."""
    k = a.conv_kernel
    conv_state = B * channels * (k - 1.0) * bs
    return Op(name=name, engine="vector", kind="scan", count=count,
              vector_ops=rows * channels * (2.0 * k + 1.0), sfu_ops=rows * channels,
              act_in_bytes=rows * channels * bs, act_out_bytes=rows * channels * bs,
              state_read_bytes=conv_state, state_write_bytes=conv_state, layers=layers)


def _scan_op(name: str, B, T, P, rows, heads, state_elems, bs, sb, recurrent, step_ops,
             chunk, chunk_flops, act_in, act_out, sfu_per_token, fmt, count, layers) -> Op:
    """The recurrence of a linear-attention or state-space mixer over ``heads`` heads of
    ``state_elems`` state elements each.

    Decode (one token, ``recurrent``): a recurrent step on the vector units, ``step_ops`` per
    state element, the state read and written once. Prefill: the chunked scan on the matrix
    engines (``chunk_flops`` per token and head), the state carried between chunks written
    and read back as an activation (one copy per chunk, at ``sb`` bytes), the final state
    written and the initial state read when there is a past."""
    state = B * heads * state_elems * sb
    if recurrent:
        return Op(name=name, engine="vector", kind="scan", count=count,
                  vector_ops=rows * heads * state_elems * step_ops,
                  sfu_ops=rows * sfu_per_token, act_in_bytes=act_in, act_out_bytes=act_out,
                  state_read_bytes=state, state_write_bytes=state, layers=layers)
    chunks = B * np.ceil(np.maximum(T, 1.0) / chunk)
    carried = chunks * heads * state_elems * sb
    return Op(name=name, engine="matrix", kind="scan", count=count, fmt=fmt,
              flops=rows * heads * chunk_flops,
              # decay masks exp(g_i - g_j) within each chunk: one exp and one multiply per pair
              vector_ops=rows * heads * chunk * 2.0,
              sfu_ops=rows * (heads * chunk + sfu_per_token),
              act_in_bytes=act_in + carried, act_out_bytes=act_out + carried,
              state_read_bytes=np.where(np.asarray(P) > 0, state, 0.0),
              state_write_bytes=state, layers=layers)


def _gdn_ops(ops, a, B, T, P, bs, recurrent, gemm, vector, convert, layers) -> None:
    """Gated DeltaNet mixer (Qwen3-Next / Qwen3.5 ``linear_attention`` layers): input
    projection to q, k, v, z, b, a; causal convolution over q, k, v; the gated delta-rule
    recurrence; gated RMSNorm with z; output projection."""
    n = a.n_gdn_layers
    if not np.any(np.asarray(n) > 0):
        return
    rows = B * T
    kd, vd, hv = a.gdn_key_width, a.gdn_value_width, a.gdn_v_heads
    gemm("gdn_in_proj", rows, a.d_model, a.gdn_in_width, count=n, layers=layers)
    ops.append(_conv_op("gdn_conv", a, B, rows, a.gdn_conv_width, bs, n, layers))
    # L2 norm of q and k (about 4 ops and one rsqrt per element / head), decay and beta gates
    # (exp, softplus, sigmoid per value head).
    l2 = rows * 2.0 * kd * 4.0
    scan = _scan_op("gdn_scan", B, T, P, rows, hv, a.gdn_k_dim * a.gdn_v_dim, bs,
                    a.state_bytes, recurrent, GDN_DECODE_OPS, a.gdn_chunk,
                    _gdn_chunk_flops(a.gdn_chunk, a.gdn_k_dim, a.gdn_v_dim),
                    rows * (a.gdn_conv_width + 2.0 * hv) * bs, rows * vd * bs,
                    3.0 * hv + 2.0 * a.gdn_k_heads, "fp16", n, layers)
    scan.vector_ops = scan.vector_ops + l2
    ops.append(scan)
    # RMSNorm of each head's output times SiLU(z).
    vector("gdn_norm_gate", rows * vd, 6.0, rows * (vd + hv), count=n, layers=layers)
    convert("gdn_out_quant", rows * vd, count=n, layers=layers)
    gemm("gdn_out_proj", rows, vd, a.d_model, count=n, layers=layers)


def _mamba_ops(ops, a, B, T, P, bs, recurrent, gemm, vector, convert, layers) -> None:
    """Mamba-2 mixer (Nemotron-H ``mamba`` layers): input projection to z, x, B, C, dt;
    causal convolution over x, B, C; the selective state-space scan; gated RMSNorm with z;
    output projection."""
    n = a.n_mamba_layers
    if not np.any(np.asarray(n) > 0):
        return
    rows = B * T
    hn, di = a.mamba_heads, a.mamba_inner
    gemm("mamba_in_proj", rows, a.d_model, a.mamba_in_width, count=n, layers=layers)
    ops.append(_conv_op("mamba_conv", a, B, rows, a.mamba_conv_width, bs, n, layers))
    scan = _scan_op("mamba_scan", B, T, P, rows, hn, a.mamba_head_dim * a.ssm_state, bs,
                    a.state_bytes, recurrent, MAMBA_DECODE_OPS, a.mamba_chunk,
                    _mamba_chunk_flops(a.mamba_chunk, a.mamba_head_dim, a.ssm_state,
                                       hn / np.maximum(a.mamba_groups, 1.0)),
                    rows * (a.mamba_conv_width + hn) * bs, rows * di * bs,
                    2.0 * hn, "fp16", n, layers)
    scan.vector_ops = scan.vector_ops + rows * di * 2.0  # the D x skip term
    ops.append(scan)
    vector("mamba_norm_gate", rows * di, 6.0, rows * (di + a.mamba_groups), count=n,
           layers=layers)
    convert("mamba_out_quant", rows * di, count=n, layers=layers)
    gemm("mamba_out_proj", rows, di, a.d_model, count=n, layers=layers)
