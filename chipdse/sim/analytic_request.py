"""Analytic latency of one request with nothing contending, from :func:`chipdse.analytic.evaluate`.

The simulator must reproduce this to 1e-9 relative for a lone request: both sum the same
operators costed by the same :func:`chipdse.cost.op_cost`. The encoder pass is an evaluation of
the encoder with the cameras as the batch, the image tokens as the prompt, no generated tokens
and no LM head; the prefill and the decode are an evaluation of the language model with decode
steps costed one by one (``decode="exact"``).
"""

from __future__ import annotations

from dataclasses import dataclass

from chipdse.analytic import evaluate
from chipdse.cost import ChipParams, CostOptions
from microarch.chip import Chip
from workloads.precision import Precision
from workloads.trace import VLARequest

__all__ = ["RequestEstimate", "request_estimate"]


@dataclass(frozen=True)
class RequestEstimate:
    """Phase latencies and energy of one uncontended request (seconds, joules)."""

    encode_s: float
    prefill_s: float
    decode_s: float
    energy_j: float

    @property
    def total_s(self) -> float:
        return self.encode_s + self.prefill_s + self.decode_s


def _f(x) -> float:
    return float(x)


def request_estimate(request: VLARequest, chip: Chip | ChipParams, precision: Precision,
                     options: CostOptions = CostOptions(),
                     decode_chip: Chip | ChipParams | None = None) -> RequestEstimate:
    """Latency of ``request`` run alone: encoder and prefill on ``chip``, decode on
    ``decode_chip`` (default ``chip``; give the two partitions of a static chip to compare with
    a statically partitioned simulation)."""
    dchip = chip if decode_chip is None else decode_chip
    enc_s = pre_s = dec_s = energy = 0.0
    if request.vision is not None:
        v = request.vision
        ev = evaluate(v.encoder, chip, precision, batch=v.cameras, prompt=v.encoder_tokens,
                      generate=0, options=options, with_bounds=False, logits="none")
        enc_s, energy = _f(ev.prefill.time_s), energy + _f(ev.prefill.energy_j)
    if request.language is not None:
        m = request.language.model
        if m is None:
            raise ValueError("request has no language model")
        pre = evaluate(m, chip, precision, batch=1, prompt=request.prefill_tokens, generate=0,
                       options=options, with_bounds=False)
        pre_s, energy = _f(pre.prefill.time_s), energy + _f(pre.prefill.energy_j)
        if request.action_tokens > 0:
            dec = evaluate(m, dchip, precision, batch=1, prompt=request.prefill_tokens,
                           generate=request.action_tokens, options=options, decode="exact",
                           with_bounds=False)
            dec_s, energy = _f(dec.decode.time_s), energy + _f(dec.decode.energy_j)
    return RequestEstimate(enc_s, pre_s, dec_s, energy)
