"""Phase and request accounting, in one place for ``estimate``, the simulator and every search.

Which share of the chip each phase runs on (:class:`PhaseLayout`), and what a request costs in
time and energy. The physics, stated once:

* A chip draws its static (leakage and always-on) power for as long as it is on. Every
  operator carries the static power of the compute share it holds: :func:`chipdse.cost.op_cost`
  adds ``static_power_w x time`` of the :class:`~chipdse.cost.ChipParams` it runs on, and a
  partition holds its share of the static power (:meth:`ChipParams.partition`).
* The share no operator holds still leaks, unless the chip power-gates idle units
  (:func:`idle_power_w`): ``static_w x (1 - busy compute share)``, or nothing with power gating,
  except during a reconfiguration stall, which keeps the whole chip powered.
* A request is charged its operators plus the idle power while it is in flight; when several
  requests are in flight they share the idle power equally (the simulator), so that the
  requests' energies and the idle time with nothing in flight add up to the chip's energy.

One request run alone (``estimate``, the searches, a lone request in the simulator):

* ``fixed``: every phase runs on the whole chip; nothing idles.
* ``static``: the prefill-class phases (vision encoder, prefill) run on the prefill partition
  (compute share ``s``) and decode on the rest, so the decode partition idles through prefill
  (``static_w (1 - s)``) and the prefill partition through decode (``static_w s``).
* ``reconfigurable``: a lone request never has both phase classes active, so each phase gets the
  whole chip and nothing is reconfigured; nothing idles.

The simulator's per-request figures reproduce the lone-request ones to 1e-9 (tested): both use
the same partitions (:func:`partition_params`), the same operator costs and :func:`idle_power_w`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from chipdse.analytic import phase_cost
from chipdse.cost import ChipParams, CostOptions
from microarch.chip import Chip, PhaseMode, PhaseResources
from workloads.graph import PassOps, request_passes
from workloads.precision import Precision
from workloads.trace import VLARequest

__all__ = ["Shares", "FULL", "PhaseLayout", "partition_params", "idle_power_w",
           "lone_idle_power_w", "LonePhases", "lone_phases", "RequestEstimate",
           "request_estimate", "PassCost", "request_passes_cost", "MODE_CODES"]

Array = Any

MODE_CODES = {m: i for i, m in enumerate(PhaseMode)}
"""Phase mode -> integer code (the searches' vectorised mode arrays)."""


@dataclass(frozen=True)
class Shares:
    """Fractions of the chip one execution slot holds."""

    compute: float
    bandwidth: float
    sram: float


FULL = Shares(1.0, 1.0, 1.0)


def partition_params(full: ChipParams, s: Shares) -> ChipParams:
    """``full`` reduced to the resources of one partition (``full`` itself for FULL)."""
    if s == FULL:
        return full
    return full.partition(s.compute, s.bandwidth, s.sram)


class PhaseLayout:
    """Which slot each phase class uses, and each slot's shares in each configuration.

    Phase classes: ``"prefill"`` (the vision encoder and the prefill: compute-heavy passes over
    many tokens) and ``"decode"`` (bandwidth-heavy steps). Configurations: ``"full"`` (fixed
    mode; reconfigurable with at most one class active) and ``"split"`` (static mode;
    reconfigurable with both classes active).
    """

    def __init__(self, phase: PhaseResources):
        self.phase = phase
        self.mode = PhaseMode(phase.mode)
        if self.mode == PhaseMode.FIXED:
            self.slot_names: tuple[str, ...] = ("chip",)
            self.slot_of = {"prefill": 0, "decode": 0}
            self.initial = "full"
        else:
            self.slot_names = ("prefill", "decode")
            self.slot_of = {"prefill": 0, "decode": 1}
            self.initial = "split" if self.mode == PhaseMode.STATIC else "full"
        p = phase
        self._split = (Shares(p.prefill_compute_share, p.prefill_bandwidth_share,
                              p.prefill_sram_share),
                       Shares(1.0 - p.prefill_compute_share, 1.0 - p.prefill_bandwidth_share,
                              1.0 - p.prefill_sram_share))

    def shares(self, slot: int, config: str) -> Shares:
        return FULL if config == "full" else self._split[slot]

    def desired(self, active: dict[str, int], current: str) -> str:
        """Configuration a reconfigurable chip wants for the active classes."""
        if self.mode != PhaseMode.RECONFIGURABLE:
            return current
        return "split" if active["prefill"] > 0 and active["decode"] > 0 else "full"

    def lone_shares(self, cls: str) -> Shares:
        """Shares a phase class gets when one request runs alone (see the module docstring)."""
        return self.shares(self.slot_of[cls], self.initial)


def idle_power_w(static_w: Array, busy_compute_share: Array, power_gating: Array,
                 stalled: Array = False) -> Array:
    """Static power drawn by the share of the chip no operator holds: ``static_w x (1 - busy
    share)``; nothing where idle units are power-gated, except during a reconfiguration stall
    (``stalled``), which keeps the chip powered."""
    idle = np.asarray(static_w, float) * np.clip(1.0 - np.asarray(busy_compute_share, float),
                                                 0.0, 1.0)
    gated = np.asarray(power_gating, bool) & ~np.asarray(stalled, bool)
    return np.where(gated, 0.0, idle)


def lone_idle_power_w(static_w: Array, mode: Array, prefill_compute_share: Array,
                      power_gating: Array) -> tuple[Array, Array]:
    """Idle power while a lone request's prefill-class phases run, and while its decode runs
    (``mode``: a :class:`PhaseMode` code of :data:`MODE_CODES`, arrays broadcast)."""
    static = np.asarray(mode) == MODE_CODES[PhaseMode.STATIC]
    sc = np.asarray(prefill_compute_share, float)
    pre = idle_power_w(static_w, np.where(static, sc, 1.0), power_gating)
    dec = idle_power_w(static_w, np.where(static, 1.0 - sc, 1.0), power_gating)
    return pre, dec


@dataclass(frozen=True)
class LonePhases:
    """The resources of each phase class of a lone request, and the idle power beside it."""

    prefill: ChipParams
    decode: ChipParams
    prefill_idle_w: float
    decode_idle_w: float


def lone_phases(chip: Chip, options: CostOptions = CostOptions(),
                full: ChipParams | None = None) -> LonePhases:
    """:class:`LonePhases` of ``chip`` (``full``: its ChipParams, if already built)."""
    full = full if full is not None else ChipParams.from_chip(chip, ideal=options.ideal_chip)
    lay = PhaseLayout(chip.phase)
    pre_idle, dec_idle = lone_idle_power_w(full.static_power_w, MODE_CODES[lay.mode],
                                           chip.phase.prefill_compute_share,
                                           chip.phase.power_gating)
    return LonePhases(partition_params(full, lay.lone_shares("prefill")),
                      partition_params(full, lay.lone_shares("decode")),
                      _scalar(pre_idle), _scalar(dec_idle))


def _scalar(x):
    """A float, or the array itself when ``x`` varies over stacked chips."""
    a = np.asarray(x, dtype=float)
    return float(a) if a.ndim == 0 else a


@dataclass(frozen=True)
class PassCost:
    """Cost of one pass of a lone request (every step summed; arrays over stacked chips).

    ``single_token_s`` is the time of steps over one new token (decode and draft steps),
    the rest being passes over many tokens (encoder, prefill, verification, parallel and flow
    action passes); the cost model's calibrated prediction error differs between the two.
    ``flops`` counts matrix and vector arithmetic (2 per MAC) before any sparsity."""

    name: str
    phase: str
    cls: str
    model: str
    steps: int
    tokens_per_step: float
    time_s: Any
    energy_j: Any
    dram_bytes: Any
    flops: float
    time_by_bound: dict[str, Any]

    @property
    def single_token(self) -> bool:
        return self.tokens_per_step == 1.0 and self.phase in ("decode", "draft")


def _pass_cost(po: PassOps, params: ChipParams, options: CostOptions,
               with_bounds: bool) -> PassCost:
    if np.ndim(po.past) == 0:  # every step the same: cost one, times the steps
        r = phase_cost(po.ops, params, po.weights_total, po.kv_total, options, with_bounds)
        k = float(po.steps)
        t, e, d = r.time_s * k, r.energy_j * k, r.dram_bytes * k
        by = {b: v * k for b, v in r.time_by_bound.items()}
    else:  # the operators carry one trailing axis over the steps
        prm = params.map(lambda x: x[..., None] if np.ndim(x) else x)
        r = phase_cost(po.ops, prm, po.weights_total, po.kv_total, options, with_bounds)
        shape = np.broadcast_shapes(np.shape(r.time_s), np.shape(po.past))
        s = lambda x: np.sum(np.broadcast_to(x, shape), axis=-1)  # noqa: E731
        t, e, d = s(r.time_s), s(r.energy_j), s(r.dram_bytes)
        by = {b: s(v) for b, v in r.time_by_bound.items()}
    flops = 0.0
    for op in po.ops:
        per = np.asarray(op.flops) + np.asarray(op.vector_ops)
        flops += float(np.sum(np.broadcast_to(per * op.count, np.shape(po.past))))
    if np.ndim(po.past) == 0:
        flops *= po.steps
    tokens = _tokens_per_step(po)
    return PassCost(po.name, po.phase, po.cls, po.model.name, po.steps, tokens,
                    _scalar(t), _scalar(e), _scalar(d), flops,
                    {b: _scalar(v) for b, v in by.items()})


def _tokens_per_step(po: PassOps) -> float:
    emb = [o for o in po.ops if o.kind == "gemm" and o.layer_op]
    return float(np.max(np.asarray(emb[0].gemm_m))) if emb else 1.0


def request_passes_cost(request: VLARequest, chip: Chip, precision: Precision,
                        options: CostOptions = CostOptions(), full: ChipParams | None = None,
                        with_bounds: bool = True) -> tuple[list[PassCost], LonePhases]:
    """The cost of every pass of ``request`` run alone on ``chip`` (the operators of
    :func:`workloads.graph.request_passes`, each on the resources of its phase class), and
    the lone-request resources they ran on."""
    lp = lone_phases(chip, options, full=full)
    params = {"prefill": lp.prefill, "decode": lp.decode}
    return [_pass_cost(po, params[po.cls], options, with_bounds)
            for po in request_passes(request, precision)], lp


@dataclass(frozen=True)
class RequestEstimate:
    """Phase latencies and energy of one request run alone (seconds, joules).

    ``energy_j`` is every operator's energy plus ``idle_energy_j``, the static power of the
    idle share while the request runs (see the module docstring). ``draft_s`` (a draft
    model's prefill and steps), ``verify_s`` (speculative verification) and ``action_s``
    (parallel or flow-matching action passes) are 0 for autoregressive generation.
    ``single_token_s`` is the part of the total spent in one-token steps (decode, draft)."""

    encode_s: float
    prefill_s: float
    decode_s: float
    energy_j: float
    idle_energy_j: float
    draft_s: float = 0.0
    verify_s: float = 0.0
    action_s: float = 0.0
    single_token_s: float = 0.0
    actions: int = 0
    passes: tuple[PassCost, ...] = ()

    @property
    def total_s(self) -> float:
        return (self.encode_s + self.prefill_s + self.decode_s + self.draft_s + self.verify_s
                + self.action_s)

    @property
    def generation_s(self) -> float:
        """Time from the end of the prefill to the last action."""
        return self.decode_s + self.verify_s + self.action_s + sum(
            p.time_s for p in self.passes if p.phase == "draft" and p.cls == "decode")

    @property
    def energy_per_action_j(self) -> float:
        return self.energy_j / self.actions if self.actions else float("nan")


def request_estimate(request: VLARequest, chip: Chip, precision: Precision,
                     options: CostOptions = CostOptions(),
                     full: ChipParams | None = None) -> RequestEstimate:
    """Latency and energy of ``request`` run alone on ``chip``.

    Every pass of :func:`workloads.graph.request_passes` (the vision towers with the cameras
    as the batch and no LM head, the prefill, then the action generation) is costed by
    :func:`chipdse.analytic.phase_cost` on the resources of its phase class, every step at its
    own context. The simulator reproduces this to 1e-9 relative for a lone request. With
    ``full`` (many variants of ``chip`` stacked, :meth:`ChipParams.stack`), every field is an
    array over them."""
    passes, lp = request_passes_cost(request, chip, precision, options, full,
                                     with_bounds=False)
    by = dict.fromkeys(("encode", "prefill", "decode", "draft", "verify", "action"), 0.0)
    cls_s = {"prefill": 0.0, "decode": 0.0}
    op_j = single = 0.0
    for pc in passes:
        by[pc.phase] = by[pc.phase] + pc.time_s
        cls_s[pc.cls] = cls_s[pc.cls] + pc.time_s
        op_j = op_j + pc.energy_j
        if pc.single_token:
            single = single + pc.time_s
    idle_j = lp.prefill_idle_w * cls_s["prefill"] + lp.decode_idle_w * cls_s["decode"]
    return RequestEstimate(by["encode"], by["prefill"], by["decode"], op_j + idle_j, idle_j,
                           by["draft"], by["verify"], by["action"], single, request.actions,
                           tuple(passes))
