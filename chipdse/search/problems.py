"""Search problems: PLAS (model on a fixed chip), chip sizing (chip for a fixed model) and joint
co-design, each scoring whole populations of integer-indexed designs at once.

A problem decodes an index matrix X (designs x variables) into numpy arrays (a transformer
shape as :class:`~workloads.ops.ArchArrays`; a chip as the
:class:`~microarch.figures.ChipFigures` of the parametric template, :mod:`microarch.template`,
mapped to :class:`~chipdse.cost.ChipParams` by the same ``ChipParams.from_figures`` every
preset goes through) and scores them with :func:`chipdse.analytic.evaluate` and a loss law
(:mod:`chipdse.search.laws`). No per-design Python objects are made.

Each design is one request run alone, accounted as :mod:`chipdse.accounting` says (the same
figures ``estimate`` and the simulator give): on a ``static`` chip prefill runs on the prefill
partition and decode on the rest, and the partition left idle leaks unless the chip power-gates
idle units. The benefit of phase modes, overlapping phases of concurrent requests, only shows in
the simulator's traces.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from chipdse.accounting import MODE_CODES, lone_idle_power_w
from chipdse.analytic import evaluate
from chipdse.cost import ChipParams, CostOptions
from chipdse.errors import UserError
from chipdse.search.laws import LossLaw, arch_inputs, check_tokens, get_law, perplexity
from chipdse.search.scenarios import OBJECTIVES, Budgets, Workload
from chipdse.search.space import (
    CHIP_SPACE,
    CHIP_VARIABLES,
    HEAD_DIM,
    PLAS_SPACE,
    Variable,
    plas_arch_arrays,
    plas_numbers,
)
from microarch.chip import Chip
from microarch.template import ChipTemplate
from workloads.model import PLAS_VOCAB_SIZE, ModelArch
from workloads.ops import ArchArrays

__all__ = ["SearchProblem", "PlasProblem", "ChipSizingProblem", "CoDesignProblem",
           "evaluate_phases"]

Array = Any


def _take(x: Any, idx: np.ndarray) -> Any:
    return np.asarray(x)[idx] if np.ndim(x) >= 1 else x


def evaluate_phases(arch: ArchArrays, cp: ChipParams, workload: Workload, options: CostOptions,
                    mode: Array = 0, shares: tuple[Any, Any, Any] = (0.5, 0.5, 0.5),
                    power_gating: Array = False) -> dict[str, np.ndarray]:
    """Prefill / decode time and energy and memory of each point's request run alone, in the
    point's phase mode (a code of :data:`chipdse.accounting.MODE_CODES`). ``shares`` are the
    prefill partition's (compute, bandwidth, SRAM) shares of a static chip; decode gets the
    rest. Energy includes the idle partition's leakage (:mod:`chipdse.accounting`)."""
    w = workload
    ev = evaluate(arch, cp, w.precision, w.batch, w.prompt, w.generate, options,
                  decode=w.decode, with_bounds=False)
    n = np.broadcast_shapes(np.shape(ev.prefill.time_s), np.shape(mode))
    pre = np.array(np.broadcast_to(ev.prefill.time_s, n), dtype=float)
    dec = np.array(np.broadcast_to(ev.decode.time_s, n), dtype=float)
    e_pre = np.array(np.broadcast_to(ev.prefill.energy_j, n), dtype=float)
    e_dec = np.array(np.broadcast_to(ev.decode.energy_j, n), dtype=float)
    mode = np.broadcast_to(np.asarray(mode), n)
    static = np.flatnonzero(np.ravel(mode) == MODE_CODES["static"])
    if static.size:
        vec = len(n) > 0
        take = (lambda x: _take(x, static)) if vec else (lambda x: x)  # noqa: E731
        a_s = arch.map(take) if vec else arch
        c_s = cp.map(lambda x: _take(x, static)) if vec else cp
        sc, sb, ss = (take(np.broadcast_to(np.asarray(x, float), n)) for x in shares)
        p_ev = evaluate(a_s, c_s.partition(sc, sb, ss), w.precision, w.batch, w.prompt,
                        w.generate, options, decode=w.decode, with_bounds=False)
        d_ev = evaluate(a_s, c_s.partition(1 - sc, 1 - sb, 1 - ss), w.precision, w.batch,
                        w.prompt, w.generate, options, decode=w.decode, with_bounds=False)
        if vec:
            pre[static], e_pre[static] = p_ev.prefill.time_s, p_ev.prefill.energy_j
            dec[static], e_dec[static] = d_ev.decode.time_s, d_ev.decode.energy_j
        else:
            pre, e_pre = np.asarray(p_ev.prefill.time_s, float), np.asarray(
                p_ev.prefill.energy_j, float)
            dec, e_dec = np.asarray(d_ev.decode.time_s, float), np.asarray(
                d_ev.decode.energy_j, float)
    idle_pre, idle_dec = lone_idle_power_w(
        np.broadcast_to(np.asarray(cp.static_power_w, float), n), mode,
        np.broadcast_to(np.asarray(shares[0], float), n), power_gating)
    e_pre = e_pre + idle_pre * pre
    e_dec = e_dec + idle_dec * dec
    mem = np.broadcast_to(ev.memory_bytes, n).astype(float)
    cap = np.broadcast_to(ev.dram_capacity_bytes, n).astype(float)
    return {"prefill_s": pre, "decode_s": dec, "total_s": pre + dec, "energy_j": e_pre + e_dec,
            "memory_bytes": mem, "weights_bytes": np.broadcast_to(ev.weights_bytes, n) + 0.0,
            "dram_capacity_bytes": cap}


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
                 options: CostOptions = CostOptions(), volume_units: float | None = None):
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
        if volume_units is not None and not (np.isfinite(float(volume_units))
                                             and float(volume_units) > 0):
            raise UserError(f"volume must be a finite number of units > 0, got {volume_units}")
        # Units shipped, over which the chip's one-time engineering is spread in cost_usd
        # (None: the cost data's default volume).
        self.volume_units = None if volume_units is None else float(volume_units)

    @property
    def uses_cost(self) -> bool:
        """Whether ``cost_usd`` is an objective or a budget of this problem."""
        return "cost_usd" in self.objectives or self.budgets.cost_usd is not None

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
        if b.cost_usd is not None:
            names.append("g_cost")
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
        if b.cost_usd is not None:
            g["g_cost"] = out["cost_usd"] / b.cost_usd - 1.0
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
                "variables": {v.name: list(v.options) for v in self.variables},
                **({"volume_units": self.volume_units}
                   if self.volume_units is not None or self.uses_cost else {})}

    def describe(self, row: Mapping[str, Any]) -> str:
        """One-line label of a design (a results row)."""
        return ", ".join(f"{v.name}={row[v.name]}" for v in self.variables)


class _ArchMixin:
    law: LossLaw
    tokens: float

    def _arch(self, X: np.ndarray) -> tuple[ArchArrays, dict[str, np.ndarray]]:
        p = plas_numbers(X, self.variables)
        arch, kv = plas_arch_arrays(p["n_layers"], p["d_model"], p["n_experts"], p["top_k"],
                                    p["kv_heads"], p["ffn_ratio"])
        x = arch_inputs(arch.n_layers, arch.d_model, arch.n_heads, kv, HEAD_DIM,
                        p["ffn_ratio"], p["n_experts"], p["top_k"], PLAS_VOCAB_SIZE, True,
                        self.tokens)
        loss = self.law.predict(x)
        info = {"loss": loss, "perplexity": perplexity(loss),
                "law_in_range": self.law.in_range(x), "params": x["params"],
                "active_params": x["active_params"], "n_kv_heads": kv,
                "n_experts": p["n_experts"], "top_k": p["top_k"],
                "is_moe": p["n_experts"] > 1, "rho": x["rho"]}
        return arch, info

    def _arch_valid(self, X: np.ndarray, offset: int = 0) -> np.ndarray:
        p = plas_numbers(np.atleast_2d(X), self.variables, offset)
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
                 tokens: float = 10e9, volume_units: float | None = None):
        super().__init__(workload, budgets, objectives, options, volume_units)
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
        self._cost_usd = np.nan
        try:
            from microarch.cost_usd import chip_cost

            self._cost_usd = chip_cost(chip, self.volume_units).cost_usd
        except (ValueError, KeyError, StopIteration, ArithmeticError) as exc:
            if self.uses_cost:
                raise UserError(f"cost_usd cannot be an objective or a budget: {exc}") from None
        self._cp = ChipParams.from_chip(chip, ideal=options.ideal_chip)
        ph = chip.phase
        self._mode = MODE_CODES[ph.mode]
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
                "power_w": self.chip.technology.tdp_w or np.nan, "cost_usd": self._cost_usd,
                "avg_power_w": perf["energy_j"] / perf["total_s"]}

    def config(self):
        return {**super().config(), "chip": self.chip.name, "law": self.law.name,
                "law_coefficients": dict(self.law.coefficients), "tokens": self.tokens}


class _ChipMixin:
    template: ChipTemplate

    def _chip(self, vals: Mapping[str, np.ndarray], ideal: bool):
        arrays = self.template.arrays(**{k: vals[k] for k in CHIP_VARIABLES})
        f = arrays["figures"]
        cp = ChipParams.from_figures(f, ideal=ideal)
        info = {"area_mm2": arrays["area"]["total_mm2"],
                "accel_area_mm2": arrays["area"]["total_mm2"] - arrays["area"]["cpu_mm2"]
                - arrays["area"]["uncore_mm2"],
                "power_w": arrays["peak_power"]["total_w"],
                "static_power_w": f.static_power_w,
                "int8_tops": f.matrix_peak_ops_per_s["int8"] / 1e12,
                "dram_gb_per_s": f.dram_bytes_per_s / 1e9}
        cost = arrays["cost"]
        vol = getattr(self, "volume_units", None)
        info["cost_usd"] = (cost["cost_usd"] if vol is None
                            else cost["unit_usd"] + cost["nre_usd"] / vol)
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
                 tokens: float = 10e9, volume_units: float | None = None):
        super().__init__(workload, budgets, objectives, options, volume_units)
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
                 tokens: float = 10e9, volume_units: float | None = None):
        super().__init__(workload, budgets, objectives, options, volume_units)
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
