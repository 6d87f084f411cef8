"""Design spaces: variables as ordered option lists, the PLAS architecture grid, the chip
template's variables, and decoding index matrices into transformer shapes.

Every variable is an index into an ordered option list (:class:`Variable`). A problem decodes an
index matrix X (designs x variables) into numpy arrays; no per-design Python objects are made.

PLAS architecture space (arXiv 2602.10377, Table 5): l in {4, 8, ..., 32};
d in {768, ..., 3072}; (E, K) in {(1,1), (8,1), (8,2), (16,1), (16,2)}; KV heads in
{1, 2, 4, 8, n_h}; r (activated FFN expansion; not listed by the paper) from 0.25 to 6 in steps
of 0.125. Shapes follow :meth:`workloads.model.ModelArch.from_plas`: head_dim 128 (n_h = d/128),
SwiGLU, MoE experts of width r d / K, and the Qwen2.5 tokenizer's vocabulary
(:data:`workloads.model.PLAS_VOCAB_SIZE`) with tied embeddings (the paper trains with it: its
baseline is Qwen2.5-0.5B). A KV-head count that does not divide n_h is replaced by the largest
one of {1, 2, 4, 8} that does (grid enumeration skips such duplicates).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from chipdse.errors import UserError
from microarch.excerpt import excerpt
from microarch.template import VARIABLES as CHIP_VARIABLES
from workloads.model import PLAS_VOCAB_SIZE
from workloads.ops import ArchArrays

__all__ = ["Variable", "PLAS_SPACE", "CHIP_SPACE", "CHIP_VARIABLES", "HEAD_DIM",
           "plas_arch_arrays", "plas_numbers", "enumerate_indices"]

Array = Any

HEAD_DIM = 128


@dataclass(frozen=True)
class Variable:
    """A design variable: an ordered list of option values, searched by index."""

    name: str
    options: tuple

    def __post_init__(self) -> None:
        if len(self.options) < 1:
            raise UserError(f"variable {excerpt(self.name)} needs at least one option")
        object.__setattr__(self, "options", tuple(self.options))

    @property
    def size(self) -> int:
        return len(self.options)

    def values(self, idx: Array) -> np.ndarray:
        return np.asarray(self.options, dtype=object if isinstance(self.options[0], str)
                          else None)[np.asarray(idx, dtype=int)]

_R_OPTIONS = tuple(float(x) for x in np.round(np.arange(0.25, 6.0001, 0.125), 4))

_MOE = ((1, 1), (8, 1), (8, 2), (16, 1), (16, 2))

PLAS_SPACE: tuple[Variable, ...] = (
    Variable("n_layers", tuple(range(4, 33, 4))),
    Variable("d_model", (768, 1024, 1280, 1536, 1792, 2048, 2304, 2560, 3072)),
    Variable("experts", tuple(f"{e}x{k}" for e, k in _MOE)),
    Variable("kv_heads", ("1", "2", "4", "8", "n_h")),
    Variable("ffn_ratio", _R_OPTIONS),
)
"""The PLAS grid (Table 5 of arXiv 2602.10377, with the FFN-ratio axis made explicit)."""

CHIP_SPACE: tuple[Variable, ...] = tuple(Variable(k, v) for k, v in CHIP_VARIABLES.items())
"""The chip template's design variables (:data:`microarch.template.VARIABLES`)."""


def plas_arch_arrays(n_layers: Array, d_model: Array, n_experts: Array, top_k: Array,
                     kv_heads: Array, ffn_ratio: Array) -> tuple[ArchArrays, np.ndarray]:
    """ArchArrays of PLAS shapes (``kv_heads`` 0 = as many as query heads) and the effective
    KV-head counts. The mapping is :meth:`ModelArch.from_plas`'s, on arrays."""
    l, d = np.asarray(n_layers, float), np.asarray(d_model, float)
    e, k = np.asarray(n_experts, float), np.asarray(top_k, float)
    r = np.asarray(ffn_ratio, float)
    heads = np.maximum(1.0, np.floor(d / HEAD_DIM))
    req = np.asarray(kv_heads, float)
    req = np.where(req <= 0, heads, req)
    kv = np.ones_like(heads * req)
    for c in (2.0, 4.0, 8.0):
        kv = np.where((c <= req) & (np.mod(heads, c) == 0), c, kv)
    kv = np.where(req >= heads, heads, kv)
    inter = np.maximum(1.0, np.round(r * d))
    moe = e > 1
    a = ArchArrays(
        n_layers=l, d_model=d, n_heads=heads, n_kv_heads=kv, head_dim=float(HEAD_DIM),
        d_ff=np.where(moe, 0.0, inter), vocab_size=float(PLAS_VOCAB_SIZE), tied_embeddings=True,
        n_experts=e, top_k=k, d_ff_expert=np.where(moe, np.maximum(1.0, np.round(inter / k)),
                                                   0.0),
        ffn_matrices=3.0, qk_norm=False)
    return a, kv


def _option_table(var: Variable) -> np.ndarray:
    """Numeric table of a PLAS variable's options (experts -> (E, K); kv_heads "n_h" -> 0)."""
    if var.name == "experts":
        try:
            return np.array([[float(t) for t in str(o).split("x")] for o in var.options])
        except ValueError:
            raise UserError(f"experts options must read 'ExK' (e.g. '8x1'), got "
                            f"{var.options}") from None
    if var.name == "kv_heads":
        return np.array([0.0 if str(o) == "n_h" else float(o) for o in var.options])
    return np.asarray(var.options, dtype=float)


def plas_numbers(X: np.ndarray, variables: Sequence[Variable],
                  offset: int = 0) -> dict[str, np.ndarray]:
    """Numeric PLAS variables from the index columns ``offset..offset+4`` of ``X``."""
    tables = [_option_table(v) for v in variables[offset:offset + 5]]
    c = lambda j: X[:, offset + j]  # noqa: E731
    ek = tables[2][c(2)]
    return {"n_layers": tables[0][c(0)], "d_model": tables[1][c(1)],
            "n_experts": ek[:, 0], "top_k": ek[:, 1], "kv_heads": tables[3][c(3)],
            "ffn_ratio": tables[4][c(4)]}


def enumerate_indices(sizes: Sequence[int], start: int, stop: int) -> np.ndarray:
    """Rows ``start..stop-1`` of the full index grid (last variable fastest)."""
    flat = np.arange(start, stop, dtype=np.int64)
    return np.stack(np.unravel_index(flat, tuple(int(s) for s in sizes)), axis=1)
