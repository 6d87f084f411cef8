"""Operator graphs of one phase as networkx DAGs (one node per operator instance).

Nodes are numbered in execution order and carry the operator's fields as scalars: FLOPs, vector
ops, bytes per memory role (weights, KV read / write, activations) and the engine it runs on.
Edges are data dependencies: within a layer each operator feeds the next, and a layer's last
operator feeds the next layer's first. The simulator walks this graph; the analytic evaluator
sums the same operators without expanding them.
"""

from __future__ import annotations

import dataclasses

import networkx as nx
import numpy as np

from workloads.model import ModelArch
from workloads.ops import ArchArrays, Op, phase_operators
from workloads.precision import Precision

__all__ = ["build_graph", "graph_ops", "ROLE_FIELDS"]

ROLE_FIELDS = ("weight_bytes", "kv_read_bytes", "kv_write_bytes", "act_in_bytes",
               "act_out_bytes")


def _scalar(op: Op) -> Op:
    kw = {}
    for f in dataclasses.fields(op):
        v = getattr(op, f.name)
        if isinstance(v, np.ndarray):
            if v.size != 1:
                raise ValueError(f"operator {op.name}: field {f.name} is not a scalar")
            v = float(v.reshape(-1)[0])
        kw[f.name] = v
    return Op(**kw)


def graph_ops(model: ModelArch, precision: Precision, batch: int, tokens: int, past: int,
              logits: str = "last") -> list[Op]:
    """The phase's operators with scalar fields (the per-layer list, not expanded)."""
    a = ArchArrays.from_model(model)
    return [_scalar(o) for o in phase_operators(a, precision, batch, tokens, past, logits)]


def build_graph(model: ModelArch, precision: Precision, phase: str, batch: int = 1,
                tokens: int | None = None, context: int = 0, logits: str = "last") -> nx.DiGraph:
    """DAG of one phase.

    ``phase`` is "prefill" (``tokens`` prompt tokens, nothing cached) or "decode" (one step
    with ``context`` tokens already cached). Node attributes: ``op`` (the :class:`Op`),
    ``name``, ``layer`` (-1 for per-pass operators), ``engine`` and the fields of ``Op``.
    """
    if phase == "prefill":
        if not tokens or tokens < 1:
            raise ValueError("build_graph: prefill needs tokens >= 1")
        ops = graph_ops(model, precision, batch, tokens, 0, logits)
    elif phase == "decode":
        if context < 0:
            raise ValueError("build_graph: decode needs context >= 0")
        ops = graph_ops(model, precision, batch, 1, context, logits)
    else:
        raise ValueError(f"build_graph: phase must be 'prefill' or 'decode', got {phase!r}")
    g = nx.DiGraph(phase=phase, model=model.name, batch=batch, tokens=tokens, context=context)
    head = [o for o in ops if not o.layer_op and o.name == "embedding"]
    body = [o for o in ops if o.layer_op]
    tail = [o for o in ops if not o.layer_op and o.name != "embedding"]
    seq: list[tuple[int, Op]] = [(-1, o) for o in head]
    for layer in range(model.n_layers):
        seq.extend((layer, o) for o in body)
    seq.extend((-1, o) for o in tail)
    prev = None
    for i, (layer, o) in enumerate(seq):
        attrs = {f.name: getattr(o, f.name) for f in dataclasses.fields(o)
                 if f.name not in ("extra", "count")}
        g.add_node(i, op=o, layer=layer, **attrs)
        if prev is not None:
            g.add_edge(prev, i)
        prev = i
    return g
