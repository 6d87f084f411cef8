"""Per-tensor numeric formats of a deployment: weights, activations, KV cache, LM head.

How a GEMM executes follows from the pair (weights, activations): it runs in the wider of the
two; it is *weight-only* quantised when the weights are narrower (dequantised on the fly); its
activations need (de)quantising at boundaries when they are narrower than 16 bits.
"""

from __future__ import annotations

from dataclasses import dataclass

from microarch.formats import NumericFormat, get_format

__all__ = ["Precision", "HEAD_RULE", "default_head"]


HEAD_RULE = ("a quantised deployment (weights narrower than 16 bits) keeps its embedding and "
             "LM head in FP16, as AWQ and GPTQ checkpoints, TensorRT Edge-LLM (unless "
             "--lm_head_quantization), ModelOpt FP8 / NVFP4 and llama.cpp k-quants (Q6_K "
             "output) do; 16-bit weights keep their own format")
"""The default LM-head format, in words (``--head`` overrides it)."""


def default_head(weights: str) -> str:
    """The LM-head format a deployment with ``weights`` uses unless told (:data:`HEAD_RULE`)."""
    w = get_format(weights)
    return w.name if w.bits >= 16 else "fp16"


@dataclass(frozen=True)
class Precision:
    """Formats of one deployment.

    Attributes:
        weights: transformer-block weights.
        activations: GEMM activation inputs / outputs.
        kv_cache: KV-cache elements.
        head: embedding table and LM head (None: :data:`HEAD_RULE`: the weight format
            for 16-bit weights, FP16 for quantised ones).
        sparsity_2_4: GEMM weights pruned to 2:4 structured sparsity.
    """

    weights: str = "fp16"
    activations: str = "fp16"
    kv_cache: str = "fp16"
    head: str | None = None
    sparsity_2_4: bool = False

    def __post_init__(self) -> None:
        for name in ("weights", "activations", "kv_cache"):
            object.__setattr__(self, name, get_format(getattr(self, name)).name)
        object.__setattr__(self, "head", get_format(self.head or default_head(self.weights))
                           .name)

    @property
    def w(self) -> NumericFormat:
        return get_format(self.weights)

    @property
    def a(self) -> NumericFormat:
        return get_format(self.activations)

    @property
    def kv(self) -> NumericFormat:
        return get_format(self.kv_cache)

    @property
    def h(self) -> NumericFormat:
        return get_format(self.head)

    def gemm_format(self, weights: str | None = None) -> str:
        """Execution format of a GEMM with these activations and ``weights`` (default: the
        block weights): the wider of the two."""
        w = get_format(weights or self.weights)
        return w.name if w.bits > self.a.bits else self.a.name

    def weight_only(self, weights: str | None = None) -> bool:
        """True when weights are narrower than the execution format (dequant in the loop)."""
        return get_format(weights or self.weights).bits < get_format(self.gemm_format(weights)).bits

    @property
    def quantised_activations(self) -> bool:
        """Activations narrower than 16 bits: quantise before / dequantise after each GEMM."""
        return self.a.bits < 16

    def label(self) -> str:
        s = f"w{self.weights}-a{self.activations}-kv{self.kv_cache}"
        return s + ("-2:4" if self.sparsity_2_4 else "")
