"""What a search optimises for: the request shape and latency objective (:class:`Workload`), the
scenarios of the source paper (:data:`WORKLOADS`), budgets (:class:`Budgets`) and the objective
columns a problem can minimise (:data:`OBJECTIVES`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from chipdse.errors import UserError
from microarch.excerpt import excerpt
from workloads.precision import Precision

__all__ = ["Workload", "WORKLOADS", "Budgets", "OBJECTIVES"]


@dataclass(frozen=True)
class Workload:
    """What one request does, and which latency is the objective.

    Attributes:
        name: label.
        batch / prompt / generate: sequences, prompt tokens, generated tokens.
        precision: formats of weights, activations, KV cache.
        metric: the latency objective: ``total`` (prefill + all decode steps), ``prefill``, or
            ``decode`` (all decode steps).
        decode: ``mean`` costs one decode step at the mean context (exact while every
            operator's time is affine in the context, and what large searches use); ``exact``
            costs every step at its own context, as ``estimate`` and the simulator do.
    """

    name: str = "driving"
    batch: int = 1
    prompt: int = 1024
    generate: int = 16
    precision: Precision = field(default_factory=Precision)
    metric: str = "total"
    decode: str = "mean"

    def __post_init__(self) -> None:
        if self.decode not in ("mean", "exact"):
            raise UserError(f"decode costing must be 'mean' or 'exact', got {excerpt(self.decode)}")
        if self.metric not in ("total", "prefill", "decode"):
            raise UserError(f"latency metric must be total, prefill or decode, got "
                            f"{excerpt(self.metric)}")
        if self.batch < 1 or self.prompt < 1 or self.generate < 0:
            raise UserError("batch and prompt must be >= 1 and generate >= 0")

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "batch": self.batch, "prompt": self.prompt,
                "generate": self.generate, "precision": self.precision.label(),
                "metric": self.metric, "decode": self.decode}

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
    cost_usd: float | None = None

    def __post_init__(self) -> None:
        for name, unit in (("latency_s", "s"), ("memory_bytes", "bytes"), ("power_w", "W"),
                           ("area_mm2", "mm^2"), ("cost_usd", "USD")):
            v = getattr(self, name)
            if v is None:
                continue
            try:
                ok = bool(np.isfinite(float(v)) and float(v) > 0)
            except (TypeError, ValueError):
                ok = False
            if not ok:
                raise UserError(f"budget {name} must be a finite number > 0 ({unit}), "
                                f"got {excerpt(v)}")
            object.__setattr__(self, name, float(v))

    def to_dict(self) -> dict[str, Any]:
        out = {"latency_s": self.latency_s, "memory_bytes": self.memory_bytes,
               "power_w": self.power_w, "area_mm2": self.area_mm2}
        if self.cost_usd is not None:  # absent when unset: earlier runs keep their fingerprint
            out["cost_usd"] = self.cost_usd
        return out

OBJECTIVES = {
    "loss": "predicted loss (nats/token)", "latency_s": "latency of the chosen metric (s)",
    "total_s": "prefill + decode (s)", "prefill_s": "prefill (s)", "decode_s": "decode (s)",
    "energy_j": "energy per request (J)", "area_mm2": "die area (mm^2)",
    "power_w": "peak power (W)", "avg_power_w": "energy / total latency (W)",
    "memory_bytes": "weights + KV + activations (bytes)",
    "cost_usd": "chip cost per unit incl. NRE / volume (USD, microarch.cost_usd)",
}
