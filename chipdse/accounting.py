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

from chipdse.analytic import evaluate
from chipdse.cost import ChipParams, CostOptions
from microarch.chip import Chip, PhaseMode, PhaseResources
from workloads.precision import Precision
from workloads.trace import VLARequest

__all__ = ["Shares", "FULL", "PhaseLayout", "partition_params", "idle_power_w",
           "lone_idle_power_w", "LonePhases", "lone_phases", "RequestEstimate",
           "request_estimate", "MODE_CODES"]

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
class RequestEstimate:
    """Phase latencies and energy of one request run alone (seconds, joules).

    ``energy_j`` is every operator's energy plus ``idle_energy_j``, the static power of the
    idle share while the request runs (see the module docstring)."""

    encode_s: float
    prefill_s: float
    decode_s: float
    energy_j: float
    idle_energy_j: float

    @property
    def total_s(self) -> float:
        return self.encode_s + self.prefill_s + self.decode_s


def request_estimate(request: VLARequest, chip: Chip, precision: Precision,
                     options: CostOptions = CostOptions(),
                     full: ChipParams | None = None) -> RequestEstimate:
    """Latency and energy of ``request`` run alone on ``chip``.

    The encoder pass is an evaluation of the encoder with the cameras as the batch, the image
    tokens as the prompt and no LM head; the prefill and decode are an evaluation of the
    language model with every decode step costed at its own context (``decode="exact"``).
    The simulator reproduces this to 1e-9 relative for a lone request. With ``full`` (many
    variants of ``chip`` stacked, :meth:`ChipParams.stack`), every field is an array over
    them."""
    lp = lone_phases(chip, options, full=full)
    enc_s = pre_s = dec_s = op_j = 0.0
    if request.vision is not None:
        v = request.vision
        ev = evaluate(v.encoder, lp.prefill, precision, batch=v.cameras,
                      prompt=v.encoder_tokens, generate=0, options=options, with_bounds=False,
                      logits="none")
        enc_s, op_j = _scalar(ev.prefill.time_s), op_j + _scalar(ev.prefill.energy_j)
    if request.language is not None:
        m = request.language.model
        if m is None:
            raise ValueError("request has no language model")
        pre = evaluate(m, lp.prefill, precision, batch=1, prompt=request.prefill_tokens,
                       generate=0, options=options, with_bounds=False)
        pre_s, op_j = _scalar(pre.prefill.time_s), op_j + _scalar(pre.prefill.energy_j)
        if request.action_tokens > 0:
            dec = evaluate(m, lp.decode, precision, batch=1, prompt=request.prefill_tokens,
                           generate=request.action_tokens, options=options, decode="exact",
                           with_bounds=False)
            dec_s, op_j = _scalar(dec.decode.time_s), op_j + _scalar(dec.decode.energy_j)
    idle_j = lp.prefill_idle_w * (enc_s + pre_s) + lp.decode_idle_w * dec_s
    return RequestEstimate(enc_s, pre_s, dec_s, op_j + idle_j, idle_j)
