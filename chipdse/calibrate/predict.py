"""Predictions of measured quantities: which rows are comparable, and the cost model's time for
each under any set of term values.

Predictions always come from :func:`chipdse.analytic.evaluate` (the one cost function): a
measured decode step is one decode step at the row's context, a measured prefill is the prefill
of the row's prompt. Many value sets of one chip are evaluated in one vectorised call.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from chipdse.analytic import evaluate
from chipdse.calibrate.measurements import Measurement
from chipdse.calibrate.terms import apply_terms
from chipdse.cost import ChipParams
from microarch.chip import Chip
from microarch.loader import load_chip
from workloads.loader import load_model
from workloads.model import ModelArch
from workloads.ops import ArchArrays, phase_operators
from workloads.precision import Precision

__all__ = ["Target", "build_targets", "Loader", "predict", "predict_chips", "candidate_terms",
           "precision_label"]


def precision_label(p: Precision) -> str:
    return f"w{p.weights}-a{p.activations}-kv{p.kv_cache}-head{p.head}"


@dataclass(frozen=True)
class Target:
    """One measured quantity: the decode step or the prefill of one row, in seconds."""

    m: Measurement
    phase: str          # "decode" | "prefill"
    measured_s: float
    tokens: int         # decode: cached context; prefill: prompt tokens per sequence

    @property
    def batch(self) -> int:
        return self.m.batch


def build_targets(rows: Iterable[Measurement], phases: Sequence[str] = ("decode", "prefill")
                  ) -> list[Target]:
    """The comparable quantities of ``rows`` (phases a row does not publish are skipped)."""
    out = []
    for m in rows:
        if m.chip is None or m.model_ref is None or m.precision is None:
            continue
        if "decode" in phases and m.decode_step_s is not None:
            out.append(Target(m, "decode", m.decode_step_s, m.decode_context))
        if "prefill" in phases and m.prefill_s is not None:
            tokens = m.input_tokens or round(m.prefill_s * (m.prefill_tok_s or 0.0))
            if tokens >= 1:
                out.append(Target(m, "prefill", m.prefill_s, int(tokens)))
    return out


class Loader:
    """Chips and models by reference, each loaded once."""

    def __init__(self, chips: Mapping[str, Chip] | None = None,
                 models: Mapping[str, ModelArch] | None = None):
        self.chips: dict[str, Chip] = dict(chips or {})
        self.models: dict[str, ModelArch] = dict(models or {})

    def chip(self, ref: str) -> Chip:
        if ref not in self.chips:
            self.chips[ref] = load_chip(ref)
        return self.chips[ref]

    def model(self, ref: str) -> ModelArch:
        if ref not in self.models:
            self.models[ref] = load_model(ref)
        return self.models[ref]


@dataclass
class _Query:
    chip: str
    model: ModelArch
    precision: Precision
    batch: int
    prompt: int
    generate: int
    targets: list[tuple[int, str]] = field(default_factory=list)


def _queries(targets: Sequence[Target], loader: Loader) -> list[_Query]:
    """One evaluate() call per row, or two when its prefill and decode contexts differ."""
    out: list[_Query] = []
    by_row: dict[tuple[str, int], dict[str, int]] = {}
    for i, t in enumerate(targets):
        by_row.setdefault((t.m.chip or "", t.m.row), {})[t.phase] = i
    for (chip, _), phases in by_row.items():
        t0 = targets[next(iter(phases.values()))]
        model, p, b = loader.model(t0.m.model_ref or ""), t0.m.precision, t0.batch
        dec, pre = phases.get("decode"), phases.get("prefill")
        if dec is not None and pre is not None and targets[dec].tokens == targets[pre].tokens:
            out.append(_Query(chip, model, p, b, targets[pre].tokens, 1,
                              [(pre, "prefill"), (dec, "decode")]))
            continue
        if pre is not None:
            out.append(_Query(chip, model, p, b, targets[pre].tokens, 0, [(pre, "prefill")]))
        if dec is not None:
            out.append(_Query(chip, model, p, b, targets[dec].tokens, 1, [(dec, "decode")]))
    return out


def predict(targets: Sequence[Target], value_sets: Sequence[Mapping[str, float]],
            chips: Mapping[str, Chip] | None = None, loader: Loader | None = None
            ) -> np.ndarray:
    """Predicted seconds of every target under each set of term values: shape (targets, sets).

    All value sets of one chip are evaluated in one vectorised call per row.
    """
    loader = loader or Loader(chips)
    refs = {t.m.chip or "" for t in targets}
    variants = {ref: [apply_terms(loader.chip(ref), vs) for vs in value_sets] for ref in refs}
    return predict_chips(targets, variants, loader)


def predict_chips(targets: Sequence[Target], variants: Mapping[str, Sequence[Chip]],
                  loader: Loader) -> np.ndarray:
    """Predicted seconds of every target on each of its chip's ``variants`` (the same number
    for every chip reference): shape (targets, variants)."""
    queries = _queries(targets, loader)
    n = len(next(iter(variants.values()))) if variants else 0
    out = np.empty((len(targets), n))
    params: dict[str, ChipParams] = {}
    for q in queries:
        if q.chip not in params:
            params[q.chip] = ChipParams.stack([ChipParams.from_chip(c)
                                               for c in variants[q.chip]])
        ev = evaluate(q.model, params[q.chip], q.precision, q.batch, q.prompt, q.generate,
                      with_bounds=False)
        for idx, phase in q.targets:
            t = ev.prefill.time_s if phase == "prefill" else ev.decode.time_s
            out[idx] = np.broadcast_to(np.asarray(t, dtype=float), (n,))
    return out


def candidate_terms(targets: Sequence[Target], chips: Mapping[str, Chip] | None = None,
                    loader: Loader | None = None) -> list[str]:
    """Terms the cost model uses for these rows on these chips (read off their operators)."""
    loader = loader or Loader(chips)
    fmts: set[str] = set()
    weight_only = moe = tiled = False
    for t in targets:
        chip, p = loader.chip(t.m.chip or ""), t.m.precision
        if p is None:
            continue
        tiled |= chip.matrix.tiling is not None and bool(chip.matrix.cores)
        a = ArchArrays.from_model(loader.model(t.m.model_ref or ""))
        ops = (phase_operators(a, p, t.batch, t.tokens, 0.0) if t.phase == "prefill"
               else phase_operators(a, p, t.batch, 1.0, t.tokens))
        for op in ops:
            if op.engine != "matrix":
                continue
            fmts.add(chip.matrix.execution_format(op.fmt))
            weight_only |= op.weight_only and chip.quant.fused_dequant
            moe |= bool(np.any(np.asarray(op.experts) > 0)) and not chip.sparse.native_moe
    names = [f"efficiency.matrix.{f}" for f in sorted(fmts)]
    if weight_only:
        names += ["efficiency.weight_only_gemm", "efficiency.dequant_ops_per_element"]
    if tiled:
        names.append("efficiency.gemm_k_overhead")
    names.append("efficiency.attention")
    names += ["efficiency.vector", "efficiency.dram", "efficiency.sram", "dispatch.per_operator"]
    if moe:
        names.append("sparse.per_expert_overhead")
    return names
