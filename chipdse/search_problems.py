"""Search problems: PLAS (model on a fixed chip), chip sizing (chip for a fixed model) and joint
co-design, each scoring whole populations of integer-indexed designs at once.

Every variable is an index into an ordered option list (:class:`Variable`). A problem decodes an
index matrix X (designs x variables) into numpy arrays - a transformer shape as
:class:`~workloads.ops.ArchArrays`, a chip as :class:`~chipdse.cost.ChipParams` built from the
parametric template (:mod:`microarch.template`) - and scores them with
:func:`chipdse.analytic.evaluate` (decode at the mean context, no bound classification) and a
loss law (:mod:`chipdse.accuracy`). No per-design Python objects are made.

PLAS architecture space (arXiv 2602.10377, Table 5): l in {4, 8, ..., 32};
d in {768, ..., 3072}; (E, K) in {(1,1), (8,1), (8,2), (16,1), (16,2)}; KV heads in
{1, 2, 4, 8, n_h}; r (activated FFN expansion; not listed by the paper) from 0.25 to 6 in steps
of 0.125. Shapes follow :meth:`workloads.model.ModelArch.from_plas`: head_dim 128 (n_h = d/128),
SwiGLU, MoE experts of width r d / K, and the Qwen2.5 tokenizer's vocabulary of 151,936 with tied
embeddings (the paper trains with it: its baseline is Qwen2.5-0.5B). A KV-head count that does
not divide n_h is replaced by the largest one of {1, 2, 4, 8} that does (grid enumeration skips
such duplicates).

Phase modes of the chip, for one request run alone (as the simulator runs it): ``fixed`` and
``reconfigurable`` run each phase on the whole chip (a lone request never has both phases
active, so nothing is reconfigured); ``static`` runs prefill on the prefill partition and decode
on the rest (partitions as :func:`chipdse.sim.resources.partition_params` defines them), and the
partition left idle still draws its static power unless the chip power-gates idle units. Their
benefit, overlapping phases of concurrent requests, only shows in the simulator's traces.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from chipdse.accuracy import LossLaw, arch_inputs, check_tokens, get_law, perplexity
from chipdse.analytic import evaluate
from chipdse.cost import ChipParams, CostOptions
from chipdse.errors import UserError
from microarch.chip import Chip, PhaseMode
from microarch.template import VARIABLES as CHIP_VARIABLES
from microarch.template import ChipTemplate
from workloads.model import ModelArch
from workloads.ops import ArchArrays
from workloads.precision import Precision

__all__ = ["Variable", "Workload", "WORKLOADS", "Budgets", "PLAS_SPACE", "CHIP_SPACE",
           "SearchProblem", "PlasProblem", "ChipSizingProblem", "CoDesignProblem",
           "template_params", "plas_arch_arrays", "OBJECTIVES", "evaluate_phases",
           "enumerate_indices", "product_indices"]

Array = Any

HEAD_DIM = 128
VOCAB = 151936  # Qwen2.5 tokenizer (huggingface.co/Qwen/Qwen2.5-0.5B config.json)


@dataclass(frozen=True)
class Variable:
    """A design variable: an ordered list of option values, searched by index."""

    name: str
    options: tuple

    def __post_init__(self) -> None:
        if len(self.options) < 1:
            raise UserError(f"variable {self.name!r} needs at least one option")
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


@dataclass(frozen=True)
class Workload:
    """What one request does, and which latency is the objective.

    Attributes:
        name: label.
        batch / prompt / generate: sequences, prompt tokens, generated tokens.
        precision: formats of weights, activations, KV cache.
        metric: the latency objective: ``total`` (prefill + all decode steps), ``prefill``, or
            ``decode`` (all decode steps).
    """

    name: str = "driving"
    batch: int = 1
    prompt: int = 1024
    generate: int = 16
    precision: Precision = field(default_factory=Precision)
    metric: str = "total"

    def __post_init__(self) -> None:
        if self.metric not in ("total", "prefill", "decode"):
            raise UserError(f"latency metric must be total, prefill or decode, got "
                            f"{self.metric!r}")
        if self.batch < 1 or self.prompt < 1 or self.generate < 0:
            raise UserError("batch and prompt must be >= 1 and generate >= 0")

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "batch": self.batch, "prompt": self.prompt,
                "generate": self.generate, "precision": self.precision.label(),
                "metric": self.metric}


# Table 2 of arXiv 2602.10377: scenario budgets. The paper gives the request shape (B=1,
# 1024 prompt tokens, 16 generated) for driving; the other scenarios reuse it (assumption).
WORKLOADS: dict[str, tuple[Workload, float]] = {
    "driving": (Workload("driving", metric="total"), 0.100),
    "embodied": (Workload("embodied", metric="decode"), 0.020),
    "smart-home": (Workload("smart-home", metric="total"), 0.500),
    "serving": (Workload("serving", metric="total"), 2.0),
}
"""Scenario name -> (workload, default latency budget in s)."""


@dataclass(frozen=True)
class Budgets:
    """Constraints (None = unconstrained). Memory is always bounded by the chip's DRAM.

    A given budget must be a finite number > 0 (a zero or negative budget can never be met,
    and a negative one would flip the sign of its normalised constraint)."""

    latency_s: float | None = None
    memory_bytes: float | None = None
    power_w: float | None = None
    area_mm2: float | None = None

    def __post_init__(self) -> None:
        for name, unit in (("latency_s", "s"), ("memory_bytes", "bytes"), ("power_w", "W"),
                           ("area_mm2", "mm^2")):
            v = getattr(self, name)
            if v is None:
                continue
            try:
                ok = bool(np.isfinite(float(v)) and float(v) > 0)
            except (TypeError, ValueError):
                ok = False
            if not ok:
                raise UserError(f"budget {name} must be a finite number > 0 ({unit}), "
                                f"got {v!r}")
            object.__setattr__(self, name, float(v))

    def to_dict(self) -> dict[str, Any]:
        return {"latency_s": self.latency_s, "memory_bytes": self.memory_bytes,
                "power_w": self.power_w, "area_mm2": self.area_mm2}


OBJECTIVES = {
    "loss": "predicted loss (nats/token)", "latency_s": "latency of the chosen metric (s)",
    "total_s": "prefill + decode (s)", "prefill_s": "prefill (s)", "decode_s": "decode (s)",
    "energy_j": "energy per request (J)", "area_mm2": "die area (mm^2)",
    "power_w": "peak power (W)", "avg_power_w": "energy / total latency (W)",
    "memory_bytes": "weights + KV + activations (bytes)",
}


# ---- decoding ------------------------------------------------------------------------------

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
        d_ff=np.where(moe, 0.0, inter), vocab_size=float(VOCAB), tied_embeddings=True,
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


def _plas_numbers(X: np.ndarray, variables: Sequence[Variable],
                  offset: int = 0) -> dict[str, np.ndarray]:
    """Numeric PLAS variables from the index columns ``offset..offset+4`` of ``X``."""
    tables = [_option_table(v) for v in variables[offset:offset + 5]]
    c = lambda j: X[:, offset + j]  # noqa: E731
    ek = tables[2][c(2)]
    return {"n_layers": tables[0][c(0)], "d_model": tables[1][c(1)],
            "n_experts": ek[:, 0], "top_k": ek[:, 1], "kv_heads": tables[3][c(3)],
            "ffn_ratio": tables[4][c(4)]}


def template_params(arrays: Mapping[str, Any], ideal: bool = False) -> ChipParams:
    """:class:`ChipParams` of a template population (:meth:`ChipTemplate.arrays`); the same
    figures :meth:`ChipParams.from_chip` derives from :meth:`ChipTemplate.build_chip`."""
    eff, disp = arrays["efficiency"], arrays["dispatch"]
    e = (lambda x: 1.0) if ideal else (lambda x: x)
    rates = {f: arrays["matrix_peak"][ex] * (1.0 if ideal else eff.matrix_for(ex))
             for f, ex in arrays["exec_format"].items()}
    kv_cap = np.asarray(arrays["kv_capacity"], float)
    has_kv = kv_cap > 0
    per_expert = np.where(arrays["native_moe"], 0.0, arrays["per_expert_overhead_s"])
    return ChipParams(
        name="template", matrix_rate=rates, matrix_energy=dict(arrays["matrix_energy"]),
        weight_only_efficiency=e(eff.weight_only_gemm), sparse_speedup=1.0,
        vector_rate=arrays["vector_peak"] * e(eff.vector),
        sfu_rate=arrays["sfu_peak"] * e(eff.vector), vector_energy=arrays["vector_energy"],
        dram_bw=arrays["dram_bandwidth"] * e(eff.dram), dram_energy=arrays["dram_energy"],
        dram_capacity=arrays["dram_capacity"], sram_bytes=arrays["sram_capacity"],
        sram_bw=arrays["sram_bandwidth"] * e(eff.sram), sram_energy=arrays["sram_energy"],
        pinnable_bytes=arrays["pinnable_bytes"], cache_bytes=0.0,  # scratchpad, no cache
        kv_capacity=kv_cap,
        kv_bw=np.where(has_kv, arrays["kv_bandwidth"] * e(eff.sram), 1.0),
        kv_energy=np.where(has_kv, arrays["kv_energy"], 0.0),
        per_op_s=0.0 if ideal else disp.per_operator_s,
        per_expert_s=0.0 if ideal else per_expert,
        fused_attention=disp.fused_attention, fused_nonlinear=arrays["fused_nonlinear"],
        fused_dequant=True, fused_conversion=arrays["fused_nonlinear"], conversion_ops=2.0,
        static_power_w=arrays["static_power_w"])


def _take(x: Any, idx: np.ndarray) -> Any:
    return np.asarray(x)[idx] if np.ndim(x) >= 1 else x


def _cp_take(cp: ChipParams, idx: np.ndarray) -> ChipParams:
    return cp.map(lambda x: _take(x, idx))


def _partition(cp: ChipParams, compute: Any, bandwidth: Any, sram: Any) -> ChipParams:
    """One static partition of ``cp`` (:meth:`ChipParams.partition`), on arrays."""
    return cp.partition(compute, bandwidth, sram)


def evaluate_phases(arch: ArchArrays, cp: ChipParams, workload: Workload, options: CostOptions,
                    mode: Array = 0, shares: tuple[Any, Any, Any] = (0.5, 0.5, 0.5),
                    power_gating: Array = False) -> dict[str, np.ndarray]:
    """Prefill / decode time and energy and memory of each point of one request run alone,
    honouring the phase mode (index into :class:`PhaseMode`: 0 fixed, 1 static,
    2 reconfigurable). ``shares`` are the prefill partition's (compute, bandwidth, SRAM)
    shares; decode gets the rest. A lone request never has both phases active, so a
    reconfigurable chip keeps its whole-chip configuration and pays no reconfiguration (as in
    the simulator).

    Energy follows the simulator's accounting (:mod:`chipdse.sim.results`): a partition's
    operators carry the static power of its compute share, and in static mode the partition
    left idle still leaks, ``static_w * ((1 - sc) * prefill_s + sc * decode_s)`` for a
    prefill compute share ``sc``, unless ``power_gating`` gates idle units."""
    w = workload
    ev = evaluate(arch, cp, w.precision, w.batch, w.prompt, w.generate, options,
                  decode="mean", with_bounds=False)
    n = np.broadcast_shapes(np.shape(ev.prefill.time_s), np.shape(mode))
    pre = np.array(np.broadcast_to(ev.prefill.time_s, n), dtype=float)
    dec = np.array(np.broadcast_to(ev.decode.time_s, n), dtype=float)
    e_pre = np.array(np.broadcast_to(ev.prefill.energy_j, n), dtype=float)
    e_dec = np.array(np.broadcast_to(ev.decode.energy_j, n), dtype=float)
    mode = np.broadcast_to(np.asarray(mode), n)
    static = np.flatnonzero(np.ravel(mode) == 1)
    if static.size:
        vec = len(n) > 0
        take = (lambda x: _take(x, static)) if vec else (lambda x: x)  # noqa: E731
        a_s = arch.map(take) if vec else arch
        c_s = _cp_take(cp, static) if vec else cp
        sc, sb, ss = (take(np.broadcast_to(np.asarray(x, float), n)) for x in shares)
        p_ev = evaluate(a_s, _partition(c_s, sc, sb, ss), w.precision, w.batch, w.prompt,
                        w.generate, options, decode="mean", with_bounds=False)
        d_ev = evaluate(a_s, _partition(c_s, 1 - sc, 1 - sb, 1 - ss), w.precision, w.batch,
                        w.prompt, w.generate, options, decode="mean", with_bounds=False)
        t_pre, t_dec = p_ev.prefill.time_s, d_ev.decode.time_s
        # The idle partition's leakage: decode's share idles through prefill, and prefill's
        # share through decode (zero where idle units are power-gated).
        gated = take(np.broadcast_to(np.asarray(power_gating, bool), n))
        idle_w = np.where(gated, 0.0, np.asarray(c_s.static_power_w, float))
        ep_s = p_ev.prefill.energy_j + idle_w * (1 - sc) * t_pre
        ed_s = d_ev.decode.energy_j + idle_w * sc * t_dec
        if vec:
            pre[static], e_pre[static] = t_pre, ep_s
            dec[static], e_dec[static] = t_dec, ed_s
        else:
            pre, e_pre = np.asarray(t_pre, float), np.asarray(ep_s, float)
            dec, e_dec = np.asarray(t_dec, float), np.asarray(ed_s, float)
    mem = np.broadcast_to(ev.memory_bytes, n).astype(float)
    cap = np.broadcast_to(ev.dram_capacity_bytes, n).astype(float)
    return {"prefill_s": pre, "decode_s": dec, "total_s": pre + dec, "energy_j": e_pre + e_dec,
            "memory_bytes": mem, "weights_bytes": np.broadcast_to(ev.weights_bytes, n) + 0.0,
            "dram_capacity_bytes": cap}


# ---- problems ------------------------------------------------------------------------------

class SearchProblem:
    """A search problem over integer-indexed variables.

    Subclasses define ``variables``, ``objectives`` and :meth:`_score`. :meth:`score` maps an
    index matrix to a dict of metric arrays (one row per design) including the objectives, the
    normalised constraints ``g_*`` (<= 0 feasible) and ``feasible``.
    """

    kind = "problem"
    variables: tuple[Variable, ...] = ()
    objectives: tuple[str, ...] = ()

    def __init__(self, workload: Workload, budgets: Budgets, objectives: Sequence[str],
                 options: CostOptions = CostOptions()):
        unknown = [o for o in objectives if o not in OBJECTIVES]
        if unknown:
            raise UserError(f"unknown objective(s) {', '.join(unknown)} (known: "
                            f"{', '.join(OBJECTIVES)})")
        if len(objectives) < 1:
            raise UserError("a search needs at least one objective")
        self.workload = workload
        self.budgets = budgets
        self.objectives = tuple(objectives)
        self.options = options

    # -- space --------------------------------------------------------------------------------
    @property
    def n_var(self) -> int:
        return len(self.variables)

    @property
    def sizes(self) -> np.ndarray:
        return np.array([v.size for v in self.variables])

    @property
    def grid_size(self) -> int:
        return int(np.prod(self.sizes.astype(object)))

    def values(self, X: Array) -> dict[str, np.ndarray]:
        """Option values of each variable for index matrix ``X``."""
        X = np.atleast_2d(np.asarray(X, dtype=int))
        if X.shape[1] != self.n_var:
            raise UserError(f"expected {self.n_var} variables per design, got {X.shape[1]}")
        return {v.name: v.values(X[:, j]) for j, v in enumerate(self.variables)}

    def valid(self, X: Array) -> np.ndarray:
        """Designs that are not duplicates of another by decoding (grid enumeration skips
        the others)."""
        return np.ones(np.atleast_2d(X).shape[0], dtype=bool)

    @property
    def constraint_names(self) -> list[str]:
        names = []
        b = self.budgets
        if b.latency_s is not None:
            names.append("g_latency")
        names.append("g_memory")
        if b.power_w is not None:
            names.append("g_power")
        if b.area_mm2 is not None:
            names.append("g_area")
        return names

    # -- scoring ------------------------------------------------------------------------------
    def _score(self, X: np.ndarray, values: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        raise NotImplementedError

    def score(self, X: Array) -> dict[str, np.ndarray]:
        """Every metric of the designs ``X`` (index matrix), objectives and constraints
        included. ``feasible``: every constraint met and every objective finite."""
        X = np.atleast_2d(np.asarray(X, dtype=int))
        vals = self.values(X)
        out = self._score(X, vals)
        n = X.shape[0]
        out = {k: np.broadcast_to(np.asarray(v), (n,)).copy() for k, v in out.items()}
        w = self.workload
        out["latency_s"] = out[f"{w.metric}_s"]
        b = self.budgets
        g = {}
        if b.latency_s is not None:
            g["g_latency"] = out["latency_s"] / b.latency_s - 1.0
        cap = out["dram_capacity_bytes"]
        limit = cap if b.memory_bytes is None else np.minimum(cap, b.memory_bytes)
        g["g_memory"] = out["memory_bytes"] / limit - 1.0
        if b.power_w is not None:
            g["g_power"] = out["power_w"] / b.power_w - 1.0
        if b.area_mm2 is not None:
            g["g_area"] = out["area_mm2"] / b.area_mm2 - 1.0
        out.update(g)
        # A design whose objectives are not all finite cannot be ranked: infeasible.
        finite = np.all(np.isfinite(self.objective_matrix(out)), axis=1)
        out["feasible"] = np.all(np.stack([g[k] <= 0 for k in g]), axis=0) & finite
        for k, v in vals.items():
            out.setdefault(k, v)
        return out

    def objective_matrix(self, scores: Mapping[str, np.ndarray]) -> np.ndarray:
        return np.column_stack([np.asarray(scores[o], float) for o in self.objectives])

    def constraint_matrix(self, scores: Mapping[str, np.ndarray]) -> np.ndarray:
        return np.column_stack([np.asarray(scores[c], float) for c in self.constraint_names])

    def config(self) -> dict[str, Any]:
        """Everything that defines the problem (for config.json and resume checks)."""
        return {"kind": self.kind, "workload": self.workload.to_dict(),
                "budgets": self.budgets.to_dict(), "objectives": list(self.objectives),
                "cost_options": {k: getattr(self.options, k) for k in
                                 ("activation_traffic", "kv_write_traffic", "tiling",
                                  "ideal_chip")},
                "variables": {v.name: list(v.options) for v in self.variables}}

    def describe(self, row: Mapping[str, Any]) -> str:
        """One-line label of a design (a results row)."""
        return ", ".join(f"{v.name}={row[v.name]}" for v in self.variables)


class _ArchMixin:
    law: LossLaw
    tokens: float

    def _arch(self, X: np.ndarray) -> tuple[ArchArrays, dict[str, np.ndarray]]:
        p = _plas_numbers(X, self.variables)
        arch, kv = plas_arch_arrays(p["n_layers"], p["d_model"], p["n_experts"], p["top_k"],
                                    p["kv_heads"], p["ffn_ratio"])
        x = arch_inputs(arch.n_layers, arch.d_model, arch.n_heads, kv, HEAD_DIM,
                        p["ffn_ratio"], p["n_experts"], p["top_k"], VOCAB, True, self.tokens)
        loss = self.law.predict(x)
        info = {"loss": loss, "perplexity": perplexity(loss),
                "law_in_range": self.law.in_range(x), "params": x["params"],
                "active_params": x["active_params"], "n_kv_heads": kv,
                "n_experts": p["n_experts"], "top_k": p["top_k"],
                "is_moe": p["n_experts"] > 1, "rho": x["rho"]}
        return arch, info

    def _arch_valid(self, X: np.ndarray, offset: int = 0) -> np.ndarray:
        p = _plas_numbers(np.atleast_2d(X), self.variables, offset)
        heads = np.floor(p["d_model"] / HEAD_DIM)
        mha = p["kv_heads"] == 0
        req = np.where(mha, heads, p["kv_heads"])
        ok = (np.mod(heads, req) == 0) & (req <= heads)
        # "n_h" duplicates an explicit count when n_h is 1, 2, 4 or 8.
        dup = mha & np.isin(heads, (1.0, 2.0, 4.0, 8.0))
        return ok & ~dup


class PlasProblem(_ArchMixin, SearchProblem):
    """PLAS: model architecture on a fixed chip. Objectives default to (loss, latency_s);
    budgets on latency and memory."""

    kind = "plas"

    def __init__(self, chip: Chip, workload: Workload = Workload(),
                 budgets: Budgets = Budgets(), law: str | LossLaw = "plas",
                 objectives: Sequence[str] = ("loss", "latency_s"),
                 space: Sequence[Variable] = PLAS_SPACE, options: CostOptions = CostOptions(),
                 tokens: float = 10e9):
        super().__init__(workload, budgets, objectives, options)
        self.chip = chip
        self.law = get_law(law)
        check_tokens(tokens, self.law)
        self.tokens = float(tokens)
        self.variables = tuple(space)
        if [v.name for v in self.variables] != [v.name for v in PLAS_SPACE]:
            raise UserError("PLAS space must have the variables "
                            + ", ".join(v.name for v in PLAS_SPACE))
        tech = chip.technology
        for what, label, value, budget in (
                ("area_mm2", "die area", tech.die_area_mm2, budgets.area_mm2),
                ("power_w", "maximum power", tech.tdp_w, budgets.power_w)):
            if value is None and (what in self.objectives or budget is not None):
                raise UserError(f"{chip.name} publishes no {label}: {what} cannot be an "
                                "objective or a budget of a search on it")
        self._cp = ChipParams.from_chip(chip, ideal=options.ideal_chip)
        ph = chip.phase
        self._mode = list(PhaseMode).index(ph.mode)
        self._shares = (ph.prefill_compute_share, ph.prefill_bandwidth_share,
                        ph.prefill_sram_share)
        self._gating = bool(ph.power_gating)

    def valid(self, X: Array) -> np.ndarray:
        return self._arch_valid(np.asarray(X, int))

    def _score(self, X, vals):
        arch, info = self._arch(X)
        perf = evaluate_phases(arch, self._cp, self.workload, self.options, self._mode,
                               self._shares, self._gating)
        area = self.chip.technology.die_area_mm2
        return {**info, **perf, "area_mm2": np.nan if area is None else area,
                "power_w": self.chip.technology.tdp_w or np.nan,
                "avg_power_w": perf["energy_j"] / perf["total_s"]}

    def config(self):
        return {**super().config(), "chip": self.chip.name, "law": self.law.name,
                "law_coefficients": dict(self.law.coefficients), "tokens": self.tokens}


class _ChipMixin:
    template: ChipTemplate

    def _chip(self, vals: Mapping[str, np.ndarray], ideal: bool):
        arrays = self.template.arrays(**{k: vals[k] for k in CHIP_VARIABLES})
        cp = template_params(arrays, ideal=ideal)
        info = {"area_mm2": arrays["area"]["total_mm2"],
                "accel_area_mm2": arrays["area"]["total_mm2"] - arrays["area"]["cpu_mm2"]
                - arrays["area"]["uncore_mm2"],
                "power_w": arrays["peak_power"]["total_w"],
                "static_power_w": arrays["static_power_w"],
                "int8_tops": arrays["matrix_peak"]["int8"] / 1e12,
                "dram_gb_per_s": arrays["dram_bandwidth"] / 1e9}
        return cp, arrays, info


class ChipSizingProblem(_ChipMixin, SearchProblem):
    """Chip sizing: template chip parameters for a fixed model. Objectives default to
    (latency_s, energy_j, area_mm2)."""

    kind = "sizing"

    def __init__(self, model: ModelArch, workload: Workload = Workload(),
                 budgets: Budgets = Budgets(),
                 objectives: Sequence[str] = ("latency_s", "energy_j", "area_mm2"),
                 space: Sequence[Variable] = CHIP_SPACE, template: ChipTemplate | None = None,
                 options: CostOptions = CostOptions(), law: str | LossLaw = "plas",
                 tokens: float = 10e9):
        super().__init__(workload, budgets, objectives, options)
        if not model.causal:
            raise UserError(f"model {model.name!r} is an encoder (causal: false): chip sizing "
                            "needs a causal language model (prefill and decode)")
        self.model = model
        self.template = template or ChipTemplate()
        self.variables = tuple(space)
        if [v.name for v in self.variables] != list(CHIP_VARIABLES):
            raise UserError("chip space must have the variables " + ", ".join(CHIP_VARIABLES))
        self._model_arrays = ArchArrays.from_model(model)
        self.law = get_law(law)
        check_tokens(tokens, self.law)
        self.tokens = float(tokens)
        x = arch_inputs(model.n_layers, model.d_model, model.n_heads, model.n_kv_heads,
                        model.head_dim, model.ffn_ratio, model.n_experts, model.top_k,
                        model.vocab_size, model.tied_embeddings, tokens)
        self._loss = float(self.law.predict(x))

    def _score(self, X, vals):
        cp, arrays, info = self._chip(vals, self.options.ideal_chip)
        perf = evaluate_phases(self._model_arrays, cp, self.workload, self.options,
                               arrays["phase_mode"], self.template.shares)
        return {**info, **perf, "loss": self._loss, "avg_power_w":
                perf["energy_j"] / perf["total_s"]}

    def config(self):
        return {**super().config(), "model": self.model.name, "template": repr(self.template),
                "law": self.law.name, "tokens": self.tokens}


class CoDesignProblem(_ArchMixin, _ChipMixin, SearchProblem):
    """Joint co-design of the model architecture and the chip. Objectives default to
    (loss, latency_s, area_mm2); constraints on latency, memory, power and area."""

    kind = "codesign"

    def __init__(self, workload: Workload = Workload(), budgets: Budgets = Budgets(),
                 law: str | LossLaw = "plas",
                 objectives: Sequence[str] = ("loss", "latency_s", "area_mm2"),
                 arch_space: Sequence[Variable] = PLAS_SPACE,
                 chip_space: Sequence[Variable] = CHIP_SPACE,
                 template: ChipTemplate | None = None, options: CostOptions = CostOptions(),
                 tokens: float = 10e9):
        super().__init__(workload, budgets, objectives, options)
        self.law = get_law(law)
        check_tokens(tokens, self.law)
        self.tokens = float(tokens)
        self.template = template or ChipTemplate()
        self.variables = tuple(arch_space) + tuple(chip_space)
        names = [v.name for v in self.variables]
        if names != [v.name for v in PLAS_SPACE] + list(CHIP_VARIABLES):
            raise UserError("co-design space must have the PLAS variables then the chip "
                            "variables")

    def valid(self, X: Array) -> np.ndarray:
        return self._arch_valid(np.asarray(X, int))

    def _score(self, X, vals):
        arch, ainfo = self._arch(X)
        cp, arrays, cinfo = self._chip(vals, self.options.ideal_chip)
        perf = evaluate_phases(arch, cp, self.workload, self.options, arrays["phase_mode"],
                               self.template.shares)
        return {**ainfo, **cinfo, **perf, "avg_power_w": perf["energy_j"] / perf["total_s"]}

    def config(self):
        return {**super().config(), "law": self.law.name,
                "law_coefficients": dict(self.law.coefficients), "tokens": self.tokens,
                "template": repr(self.template)}


def enumerate_indices(sizes: Sequence[int], start: int, stop: int) -> np.ndarray:
    """Rows ``start..stop-1`` of the full index grid (last variable fastest)."""
    flat = np.arange(start, stop, dtype=np.int64)
    return np.stack(np.unravel_index(flat, tuple(int(s) for s in sizes)), axis=1)


def product_indices(sizes: Sequence[int]) -> np.ndarray:
    """The whole index grid (small grids only)."""
    return np.array(list(itertools.product(*(range(int(s)) for s in sizes))), dtype=int)
