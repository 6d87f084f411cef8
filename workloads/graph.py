"""The work of one request as a networkx DAG, and the operators of each of its passes.

Nodes are the passes of a :class:`~workloads.trace.VLARequest`: one vision-encoder pass per
camera and tower (``encode:0``, ...), the language model's prefill over the vision and text
tokens, and the generation of the actions (:mod:`workloads.action`):

* autoregressive: ``decode`` (one node of ``action_tokens`` steps);
* parallel: ``action`` (one pass over all action tokens, the LM head on each);
* flow: ``decode`` of the reasoning tokens if any, then ``action`` (the expert's ``steps``
  passes over the chunk, each reading the prefix KV cache);
* speculative: ``draft_prefill`` (the draft's own prefill), then per round ``draft:r`` (the
  draft's ``draft_tokens`` decode steps) and ``verify:r`` (one pass of the language model over
  ``draft_tokens + 1`` tokens).

Edges are data dependencies. Each node carries:

* ``phase``: "encode", "prefill", "decode", "draft", "verify" or "action";
* ``cls``: the phase class whose resources it uses (:class:`chipdse.accounting.PhaseLayout`):
  "prefill" for the passes over the prompt and images, "decode" for everything that
  generates (decode steps, draft steps, verification, the action expert);
* ``model``, ``batch``, ``tokens`` (new tokens per sequence and step), ``steps``, ``past``
  (cached tokens before the first step), ``advance`` (cached tokens added per step: 1 for
  decode steps, 0 for flow steps, which re-read the same prefix), ``logits`` ("last", "all" or
  "none"), ``block_causal`` and ``flow`` (the flow head whose projections a step adds);
* ``batch_group``: passes of one group run as one batched pass on one chip (the cameras of a
  request go through a tower as one batch); None for passes that run alone.

:func:`request_passes` turns the graph into the operators of each pass
(:class:`PassOps`), the one description that ``chipdse.accounting`` (the analytic frame) and
the simulator both cost. The projector between the encoder and the language model is not a
node: its cost is not modelled (see the trace presets).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from workloads.action import FlowHead, projection_operators, projection_weight_bytes
from workloads.model import ModelArch
from workloads.ops import ArchArrays, Op, kv_cache_bytes, phase_operators, weights_total_bytes
from workloads.precision import Precision
from workloads.trace import VLARequest

if TYPE_CHECKING:
    import networkx as nx

__all__ = ["request_graph", "execution_order", "PassOps", "request_passes",
           "request_kv_bytes", "GENERATION_PHASES"]

GENERATION_PHASES = ("decode", "draft", "verify", "action")
"""Phases that generate (after the prefill)."""


def request_graph(request: VLARequest) -> nx.DiGraph:
    """The DAG of ``request`` (see the module docstring)."""
    import networkx as nx  # heavy import: only when a graph is built

    g = nx.DiGraph()
    n = 0

    def add(name: str, **attrs: Any) -> None:
        nonlocal n
        base = dict(batch=1, steps=1, past=0.0, advance=0, logits="last", block_causal=True,
                    flow=None, batch_group=None)
        base.update(attrs)
        g.add_node(name, order=n, **base)
        n += 1

    cams: list[str] = []
    if request.vision is not None:
        v = request.vision
        for t, enc in enumerate(v.encoders):
            for c in range(v.cameras):
                cams.append(f"encode:{c}" if t == 0 else f"encode:{t}:{c}")
                add(cams[-1], phase="encode", cls="prefill", model=enc,
                    tokens=v.encoder_tokens, logits="none",
                    batch_group="encode" if t == 0 else f"encode:{t}")
    if request.language is None:
        return g
    lang = request.language
    m, gen = lang.model, lang.generation
    P, N = request.prefill_tokens, request.action_tokens
    add("prefill", phase="prefill", cls="prefill", model=m, tokens=P)
    g.add_edges_from((c, "prefill") for c in cams)
    last = "prefill"

    def after(name: str) -> None:
        nonlocal last
        g.add_edge(last, name)
        last = name

    if gen.mode == "autoregressive" or (gen.mode == "flow" and N > 0):
        if N > 0:
            add("decode", phase="decode", cls="decode", model=m, tokens=1, steps=N,
                past=float(P), advance=1)
            after("decode")
    if gen.mode == "parallel":
        add("action", phase="action", cls="decode", model=m, tokens=N, past=float(P),
            logits="all")
        after("action")
    elif gen.mode == "flow":
        f = gen.flow
        add("action", phase="action", cls="decode", model=f.expert,
            tokens=gen.actions + f.state_tokens, steps=f.steps, past=float(P + N),
            logits="none", block_causal=False, flow=f)
        after("action")
    elif gen.mode == "speculative":
        sp = gen.speculative
        add("draft_prefill", phase="draft", cls="prefill", model=sp.draft, tokens=P)
        g.add_edges_from((c, "draft_prefill") for c in cams)
        k, per = sp.draft_tokens, sp.tokens_per_round
        for r in range(sp.rounds(N)):
            base = float(P) + r * per
            add(f"draft:{r}", phase="draft", cls="decode", model=sp.draft, tokens=1, steps=k,
                past=base, advance=1)
            after(f"draft:{r}")
            if r == 0:
                g.add_edge("draft_prefill", "draft:0")
            add(f"verify:{r}", phase="verify", cls="decode", model=m, tokens=k + 1, past=base,
                logits="all")
            after(f"verify:{r}")
    return g


def execution_order(g: nx.DiGraph) -> list[list[str]]:
    """The passes of ``g`` in a dependency order (ties broken by creation order), consecutive
    passes of one batch group merged into one list: each list is one pass to run."""
    import networkx as nx

    out: list[list[str]] = []
    for name in nx.lexicographical_topological_sort(g, key=lambda v: g.nodes[v]["order"]):
        group = g.nodes[name]["batch_group"]
        if out and group is not None and g.nodes[out[-1][0]]["batch_group"] == group:
            out[-1].append(name)
        else:
            out.append([name])
    return out


@dataclass
class PassOps:
    """The operators of one pass (one node, or one batch group of nodes) and what the cost
    model needs to place its weights and KV cache.

    ``past`` is the cached tokens each step attends to: a scalar when every step sees the
    same (one pass, or flow steps over a fixed prefix), else one value per step (decode
    steps); the operators' fields broadcast the same way. ``kv_total`` likewise.
    ``uses_kv_store`` marks the language-model passes whose cache lives in the request's KV
    allocation (an encoder's keys and values live only within its pass).
    """

    name: str
    phase: str
    cls: str
    model: ModelArch
    ops: list[Op]
    weights_total: float
    kv_total: Any
    past: Any
    steps: int
    uses_kv_store: bool


def _pass(name: str, node: dict, p: Precision, n_batched: int) -> PassOps:
    m: ModelArch | None = node["model"]
    if m is None:
        raise ValueError("request has no language model")
    a = ArchArrays.from_model(m)
    phase, steps = node["phase"], int(node["steps"])
    flow: FlowHead | None = node["flow"]
    batch = node["batch"] * n_batched
    if node["advance"]:  # decode-like: step i attends over past + i cached tokens
        b = float(batch)
        past = float(node["past"]) + np.arange(steps, dtype=float)
        ops = phase_operators(a, p, b, 1.0, past, logits=node["logits"])
        kv = kv_cache_bytes(a, p, b, past + 1.0)
    else:
        tokens, past = node["tokens"], float(node["past"])
        ops = phase_operators(a, p, batch, tokens, past, logits=node["logits"],
                              block_causal=node["block_causal"])
        kv = kv_cache_bytes(a, p, batch, past + tokens)
    wt = float(weights_total_bytes(a, p))
    if flow is not None:
        ops = ops + projection_operators(flow, p, node["tokens"] - flow.state_tokens)
        wt += projection_weight_bytes(flow)
    return PassOps(name, phase, node["cls"], m, ops, wt, kv, past, steps, phase != "encode")


def request_passes(request: VLARequest, precision: Precision) -> list[PassOps]:
    """The passes of one request shape in dependency order (:func:`execution_order`), each
    with its operators. The cameras of a tower form one batch group: one pass of
    ``encoder_tokens`` per camera, no LM head."""
    g = request_graph(request)
    return [_pass(group[0], g.nodes[group[0]], precision, len(group))
            for group in execution_order(g)]


def request_kv_bytes(request: VLARequest, precision: Precision) -> float:
    """KV-cache bytes a request holds at its peak: the language model's cache of the prompt
    and every generated token, the draft's cache when decoding speculatively, and the action
    chunk's keys and values while the expert runs."""
    if request.language is None:
        return 0.0
    p = precision
    lang = request.language
    P, N = request.prefill_tokens, request.action_tokens
    need = float(kv_cache_bytes(ArchArrays.from_model(lang.model), p, 1, P + N))
    gen = lang.generation
    if gen.speculative is not None:
        sp = gen.speculative
        need += float(kv_cache_bytes(ArchArrays.from_model(sp.draft), p, 1,
                                     P + N + sp.draft_tokens))
        # The target also caches the drafted tokens it verifies before rejecting some.
        need += float(kv_cache_bytes(ArchArrays.from_model(lang.model), p, 1,
                                     sp.draft_tokens + 1))
    if gen.flow is not None:
        need += float(kv_cache_bytes(ArchArrays.from_model(gen.flow.expert), p, 1,
                                     gen.actions + gen.flow.state_tokens))
    return need
