"""Operator sequences of a request and their costs on a slot.

A request's stages are runs of operators that use one slot: the ``prefill``-class stage (the
vision encoder passes, the language model's prefill, a draft model's prefill) and the
``decode`` stage (everything that generates: decode steps, draft steps and verification,
parallel or flow-matching action passes). Each pass's operators come from
:func:`workloads.graph.request_passes` exactly as the analytic frame builds them, and each
operator's cost comes only from :func:`chipdse.cost.op_cost` on the ChipParams of the slot
that runs it; the per-layer list is then laid out in execution order (embedding or action
projections, each layer's operators, final norm and LM head).
The passes of a request and their order come from its DAG (:mod:`workloads.graph`). The steps
of a pass are costed together along one array axis (decode step ``i`` attends over
``prompt + i`` cached tokens; flow steps all read the same prefix).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from chipdse.accounting import Shares
from chipdse.cost import ChipParams, CostOptions, op_cost, placement
from workloads.graph import PassOps, request_passes
from workloads.model import ModelArch
from workloads.ops import Op
from workloads.precision import Precision
from workloads.trace import VLARequest

__all__ = ["PHASES", "UNITS", "Segment", "Stage", "StagePlan", "build_stages", "cost_stage",
           "OpNames", "request_segments"]

PHASES = ("encode", "prefill", "decode", "draft", "verify", "action")
# Units whose utilisation is tracked (work in seconds of the whole chip at its achieved rate).
UNITS = ("matrix", "vector", "dram", "sram", "kv_sram")


class OpNames:
    """Interning of operator names to small integers (for compact event logs)."""

    def __init__(self) -> None:
        self.names: list[str] = []
        self._index: dict[str, int] = {}

    def __call__(self, name: str) -> int:
        if name not in self._index:
            self._index[name] = len(self.names)
            self.names.append(name)
        return self._index[name]


@dataclass
class Segment:
    """One phase of a request shape: its operator types and their execution order.

    ``kv_total`` is what :func:`op_cost` needs to place the KV cache (scalar, or one value per
    decode step); ``uses_kv_store`` marks the language-model phases whose cache lives in the
    request's KV allocation (the encoder's keys and values live only within its pass).
    """

    phase: str
    model: ModelArch
    ops: list[Op]
    weights_total: float
    kv_total: object
    steps: int
    order: np.ndarray      # op-type index per position of one pass
    layer: np.ndarray      # layer per position of one pass (-1 outside the layers)
    uses_kv_store: bool

    @property
    def n_ops(self) -> int:
        return int(self.order.size * self.steps)


@dataclass
class Stage:
    """Consecutive segments that run on the slot of one phase class."""

    cls: str               # "prefill" or "decode"
    segments: list[Segment]
    op_id: np.ndarray      # interned operator name per operator of the stage
    layer: np.ndarray
    step: np.ndarray       # decode step, -1 for the single-pass phases
    phase: np.ndarray      # index into PHASES

    @property
    def n_ops(self) -> int:
        return int(self.op_id.size)


@dataclass
class StagePlan:
    """Costs of every operator of a stage on one slot configuration (arrays of n_ops).

    ``cum_s`` is the running sum of ``duration_s``: operator j of a batch that starts at
    operator i at time t0 ends at ``t0 + cum_s[j] - cum_s[i-1]``. ``work_s`` is
    (len(UNITS), n_ops): seconds of each unit's whole-chip achieved rate.
    """

    stage: Stage
    shares: Shares
    duration_s: np.ndarray
    cum_s: np.ndarray
    energy_j: np.ndarray
    dram_bytes: np.ndarray
    sram_bytes: np.ndarray
    kv_bytes: np.ndarray
    bound: np.ndarray
    work_s: np.ndarray

    @property
    def n_ops(self) -> int:
        return int(self.duration_s.size)


# Operators outside the layers that run before them (the rest run after the final layer).
_HEAD_OPS = frozenset({"embedding", "action_in_proj", "state_proj", "time_mlp_in",
                       "time_mlp_act", "time_mlp_out"})


def _layout(ops: list[Op], n_layers: int) -> tuple[np.ndarray, np.ndarray]:
    head = [i for i, o in enumerate(ops) if not o.layer_op and o.name in _HEAD_OPS]
    body = [i for i, o in enumerate(ops) if o.layer_op]
    tail = [i for i, o in enumerate(ops) if not o.layer_op and o.name not in _HEAD_OPS]
    for i in body:
        want = n_layers if ops[i].layers is None else len(ops[i].layers)
        if float(np.max(ops[i].count)) != float(want):
            raise ValueError(f"operator {ops[i].name}: count {ops[i].count} != layers {want}")
    if all(ops[i].layers is None for i in body):
        per_layer = [body] * n_layers
    else:  # a hybrid: each operator in the layers it runs in
        per_layer = [[i for i in body if ops[i].layers is None or j in ops[i].layers]
                     for j in range(n_layers)]
    order = np.array(head + [i for ids in per_layer for i in ids] + tail, dtype=np.int64)
    layer = np.concatenate([np.full(len(head), -1),
                            np.repeat(np.arange(n_layers), [len(ids) for ids in per_layer]),
                            np.full(len(tail), -1)]).astype(np.int32)
    return order, layer


def _segment(po: PassOps) -> Segment:
    order, layer = _layout(po.ops, po.model.n_layers)
    return Segment(po.phase, po.model, po.ops, po.weights_total, po.kv_total, po.steps, order,
                   layer, po.uses_kv_store)


def request_segments(request: VLARequest,
                     precision: Precision) -> tuple[list[Segment], list[Segment]]:
    """The passes of one request shape (:func:`workloads.graph.request_passes`, the same
    operators the analytic frame costs), as (prefill-class, decode-class) segments in
    dependency order. Cheap: nothing is laid out per operator yet, so the operator count
    (``sum(s.n_ops)``) is known before any per-operator array is built."""
    out: dict[str, list[Segment]] = {"prefill": [], "decode": []}
    for po in request_passes(request, precision):
        out[po.cls].append(_segment(po))
    return out["prefill"], out["decode"]


def build_stages(request: VLARequest, precision: Precision, names: OpNames,
                 segments: tuple[list[Segment], list[Segment]] | None = None) -> list[Stage]:
    """The stages of one request shape (the same for every request of a stream), from its
    :func:`request_segments` (built here unless given)."""
    pre, dec = segments if segments is not None else request_segments(request, precision)
    stages = []
    for cls, segs in (("prefill", pre), ("decode", dec)):
        if not segs:
            continue
        op_id, layer, step, phase = [], [], [], []
        for s in segs:
            ids = np.array([names(o.name) for o in s.ops], dtype=np.int32)[s.order]
            op_id.append(np.tile(ids, s.steps))
            layer.append(np.tile(s.layer, s.steps))
            step.append(np.repeat(np.arange(s.steps, dtype=np.int32), s.order.size)
                        if s.steps > 1 or s.phase == "decode"
                        else np.full(s.order.size, -1, dtype=np.int32))
            phase.append(np.full(s.n_ops, PHASES.index(s.phase), dtype=np.int8))
        stages.append(Stage(cls, segs, np.concatenate(op_id), np.concatenate(layer),
                            np.concatenate(step), np.concatenate(phase)))
    return stages


_FIELDS = ("time_s", "energy_j", "dram_bytes", "sram_bytes", "kv_bytes", "compute_s",
           "serial_s", "bound")


def _cost_segment(seg: Segment, params: ChipParams, options: CostOptions) -> dict[str, np.ndarray]:
    """Per-operator arrays of one segment, in execution order (steps x pass, flattened)."""
    k = seg.steps
    table = {f: np.empty((len(seg.ops), k)) for f in _FIELDS}
    engine = np.empty(len(seg.ops), dtype=bool)
    where = placement(params, seg.weights_total, seg.kv_total)  # shared by the pass's operators
    for t, op in enumerate(seg.ops):
        c = op_cost(op, params, seg.weights_total, seg.kv_total, options, where=where)
        for f in _FIELDS:
            table[f][t] = np.broadcast_to(np.asarray(getattr(c, f), dtype=float), (k,))
        engine[t] = op.engine == "matrix"
    steps = np.arange(k)[:, None]
    out = {f: v[seg.order[None, :], steps].ravel() for f, v in table.items()}
    out["is_matrix"] = np.tile(engine[seg.order], k)
    return out


def cost_stage(stage: Stage, full: ChipParams, params: ChipParams, shares: Shares,
               kv_sram_bytes: float | None, options: CostOptions) -> StagePlan:
    """Cost every operator of ``stage`` on a slot with ``params`` (a share ``shares`` of the
    chip ``full``). ``kv_sram_bytes`` is the request's KV-SRAM allocation (None: no cache)."""
    parts = []
    for seg in stage.segments:
        prm = params
        if seg.uses_kv_store and kv_sram_bytes is not None:
            prm = params.replace(kv_capacity_bytes=kv_sram_bytes)
        parts.append(_cost_segment(seg, prm, options))
    cat = {f: np.concatenate([p_[f] for p_ in parts]) for f in parts[0]}
    dur = cat["time_s"]
    is_m = cat["is_matrix"]
    compute_full = cat["compute_s"] * shares.compute
    work = np.stack([
        np.where(is_m, compute_full, 0.0),
        np.where(is_m, 0.0, compute_full) + cat["serial_s"] * shares.compute,
        cat["dram_bytes"] / float(full.dram_bytes_per_s),
        cat["sram_bytes"] / float(full.sram_bytes_per_s),
        cat["kv_bytes"] / float(full.kv_bytes_per_s),
    ])
    return StagePlan(stage=stage, shares=shares, duration_s=dur, cum_s=np.cumsum(dur),
                     energy_j=cat["energy_j"], dram_bytes=cat["dram_bytes"],
                     sram_bytes=cat["sram_bytes"], kv_bytes=cat["kv_bytes"],
                     bound=cat["bound"].astype(np.int8), work_s=work)
