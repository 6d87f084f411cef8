"""Operator lists of one inference phase, as arrays over design points.

For a transformer shape, a batch and a phase (a prefill of ``tokens`` new tokens after ``past``
cached ones; a decode step is ``tokens=1``), :func:`phase_operators` returns the operators of one
forward pass. Every numeric field is a numpy array (or scalar) that broadcasts over design points,
so the same code describes one model (for the simulator and the operator graph) or a million
shapes at once (for the analytic evaluator). The fields are chip-independent: what a chip does
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
           "experts_touched", "expert_selection_probability"]

Array = Any  # numpy array or float


@dataclass(frozen=True)
class ArchArrays:
    """Transformer shape fields as arrays (or scalars) over design points."""

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
    causal: bool = True

    @classmethod
    def from_model(cls, m: ModelArch) -> ArchArrays:
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
    def stack(cls, models: Sequence[ModelArch]) -> ArchArrays:
        """One array per field over ``models`` (all must share ``causal``)."""
        rows = [cls.from_model(m) for m in models]
        if len({r.causal for r in rows}) > 1:
            raise ValueError("ArchArrays.stack: models mix causal decoders and encoders")
        kw = {f: np.array([getattr(r, f) for r in rows]) for f in cls.__dataclass_fields__
              if f != "causal"}
        return cls(**kw, causal=rows[0].causal)

    def map(self, fn) -> ArchArrays:
        """Apply ``fn`` to every array field (e.g. add an axis)."""
        kw = {f: fn(np.asarray(getattr(self, f))) for f in self.__dataclass_fields__
              if f != "causal"}
        return ArchArrays(**kw, causal=self.causal)

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
        score_bytes: attention score matrix (one copy) an unfused kernel moves through memory.
        fmt: execution format of the matrix work ("fp16", "int8", ...).
        weight_only: weights narrower than ``fmt`` (dequantised in the loop).
        convert_elements: activation elements to (de)quantise (conversion operators).
        experts: experts touched per instance (MoE expert GEMMs).
        expert_pool / expert_topk / expert_skew / routed_tokens: a grouped expert GEMM's
            routing (experts, experts per token, Zipf skew, tokens of the batch), from which
            the cost model derives each expert's token count and its row tiles.
        kind: "gemm", "attention", "nonlinear", "conversion", "gather".
        sparse24: weights are 2:4 structured-sparse.
        paper: covered by the paper's closed forms (projections, FFN, decode attention).
        layer_op: repeated per layer (True) or once per pass (False).
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
    2:4 sparse), router at FP16, embedding / head at the head format."""
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
    return a.n_layers * ((attn + ffn) * bw + router * get_format("fp16").bytes_per_element) \
        + head * bh


def kv_cache_bytes(a: ArchArrays, p: Precision, batch: Array, tokens: Array) -> Array:
    """KV-cache bytes of ``batch`` sequences of ``tokens`` tokens, all layers."""
    return 2.0 * a.n_layers * a.d_kv * p.kv.bytes_per_element * batch * tokens


def phase_operators(a: ArchArrays, p: Precision, batch: Array, tokens: Array, past: Array,
                    logits: str = "last") -> list[Op]:
    """Operators of one forward pass over ``tokens`` new tokens per sequence after ``past``
    cached ones (prefill: ``past=0``; a decode step: ``tokens=1, past=C``).

    ``logits`` is "last" (LM head on the last token of each sequence, as serving engines do),
    "all" (every token) or "none" (an encoder: no LM head).
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

    def gemm(name: str, m, k, n, paper=True, count=L, experts=0.0, weights=None,
             w_bytes=bw, w_fmt=None, layer_op=True):
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
            sparse24=sparse, paper=paper, layer_op=layer_op))

    def vector(name: str, elements, ops_per_el, sfu, count=L, layer_op=True):
        ops.append(Op(name=name, engine="vector", kind="nonlinear", count=count,
                      vector_ops=elements * ops_per_el, sfu_ops=sfu,
                      act_in_bytes=elements * bs, act_out_bytes=elements * bs,
                      layer_op=layer_op))

    def convert(name: str, elements, count=L):
        if p.quantised_activations:
            ops.append(Op(name=name, engine="vector", kind="conversion", count=count,
                          convert_elements=elements,
                          act_in_bytes=elements * get_format("fp16").bytes_per_element,
                          act_out_bytes=elements * ba))

    # Embedding gather (reads B*T rows of the table).
    if np.any(np.asarray(a.vocab_size) > 0):
        ops.append(Op(name="embedding", engine="vector", kind="gather", count=1.0,
                      weight_bytes=rows * d * bh, act_out_bytes=rows * d * bs,
                      layer_op=False))

    # --- attention block ---
    vector("attn_norm", rows * d, 5.0, rows)  # residual add + RMSNorm (rsqrt per row)
    convert("attn_quant", rows * d)
    gemm("qkv_proj", rows, d, dq + 2 * dkv)
    if a.causal:  # decoders use RoPE; the ViT encoders here use learned position embeddings
        vector("rope", rows * (dq + dkv), 4.0, 0.0)
    if a.qk_norm is not False and np.any(a.qk_norm):
        # Points without QK-norm get a zero count (operators absent, no launch either).
        vector("qk_norm", rows * (dq + dkv), 4.0, rows * (a.n_heads + a.n_kv_heads),
               count=L * np.asarray(a.qk_norm, dtype=float))
    keys_total = P + T  # keys visible to the last query
    if a.causal:
        pairs = T * P + T * (T + 1) / 2.0  # q-k pairs per sequence per head
    else:
        pairs = T * keys_total
    ops.append(Op(
        name="attention", engine="matrix", kind="attention", count=L, fmt=p.activations
        if p.a.bits >= 16 else "fp16",
        flops=4.0 * B * pairs * dq,
        vector_ops=B * a.n_heads * pairs * 3.0, sfu_ops=B * a.n_heads * pairs,
        act_in_bytes=rows * dq * bs, act_out_bytes=rows * dq * bs,
        # An encoder keeps no cache: its K/V are activations of the pass (read once).
        kv_read_bytes=B * keys_total * 2 * dkv * bkv if a.causal else 0.0,
        kv_write_bytes=B * T * 2 * dkv * bkv if a.causal else 0.0,
        score_bytes=B * a.n_heads * pairs * 2.0,  # fp16 scores
        paper=True,
    ))
    convert("o_quant", rows * dq)
    gemm("o_proj", rows, dq, d)

    # --- FFN block ---
    vector("ffn_norm", rows * d, 5.0, rows)
    convert("ffn_quant", rows * d)
    m_up = a.ffn_matrices - 1.0  # gate + up for gated activations
    dense_ff = a.d_ff + a.n_shared_experts * a.d_ff_shared
    has_dense = np.any(np.asarray(dense_ff) > 0)
    if has_dense:
        n_dense = L * (np.asarray(dense_ff) > 0)
        gemm("ffn_up", rows, d, m_up * dense_ff, count=n_dense)
        vector("ffn_act", rows * dense_ff, 3.0, rows * dense_ff, count=n_dense)
        convert("ffn_down_quant", rows * dense_ff, count=n_dense)
        gemm("ffn_down", rows, dense_ff, d, count=n_dense)
    if np.any(a.is_moe):
        n_moe = L * np.asarray(a.is_moe, dtype=float)
        E, K, dfe = a.n_experts, a.top_k, a.d_ff_expert
        skew = a.routing_skew
        touched = experts_touched(E, K, rows, skew)
        routed = rows * K
        tok_per_expert = routed / np.maximum(touched, 1e-30)
        # Routers stay in FP16 (they are tiny and routing is precision-sensitive).
        gemm("router", rows, d, E, paper=False, w_bytes=get_format("fp16").bytes_per_element,
             w_fmt="fp16", count=n_moe)
        vector("router_topk", rows * E, 4.0, rows * E, count=n_moe)
        routing = dict(expert_pool=E, expert_topk=K, expert_skew=skew, routed_tokens=rows)
        gemm("expert_up", tok_per_expert, d, m_up * dfe, experts=touched,
             weights=touched * d * m_up * dfe, count=n_moe)
        ops[-1].flops = 2.0 * routed * d * m_up * dfe
        for k_, v_ in routing.items():
            setattr(ops[-1], k_, v_)
        ops[-1].act_in_bytes = routed * d * ba
        ops[-1].act_out_bytes = routed * m_up * dfe * bs
        vector("expert_act", routed * dfe, 3.0, routed * dfe, count=n_moe)
        convert("expert_down_quant", routed * dfe, count=n_moe)
        # The per-expert overhead is charged once per touched expert per layer (on expert_up).
        gemm("expert_down", tok_per_expert, dfe, d, weights=touched * dfe * d,
             count=n_moe)
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
