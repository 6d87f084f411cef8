"""The work of one request as a networkx DAG: which pass must finish before which.

Nodes are the passes of a :class:`~workloads.trace.VLARequest`: one vision-encoder pass per
camera (``encode:0``, ``encode:1``, ...), the language model's prefill over the vision and text
tokens, and the decode of the action tokens. Edges are data dependencies: every camera's
encoder output is part of the prefill's prompt, and the decode attends over the prefill's KV
cache. Each node carries:

* ``phase``: "encode", "prefill" or "decode";
* ``cls``: the phase class whose resources it uses (:class:`chipdse.accounting.PhaseLayout`):
  "prefill" for the compute-heavy passes over many tokens, "decode" for the decode steps;
* ``model``, ``batch``, ``tokens`` (tokens per sequence) and ``steps`` (decode steps);
* ``batch_group``: passes of one group run as one batched pass on one chip (the cameras of a
  request go through the encoder as one batch); None for passes that run alone.

The simulator walks the graph in :func:`execution_order` (chipdse.sim.plan); a split of a
request over several chips partitions it. The projector between the encoder and the language
model is not a node: its cost is not modelled (see the trace presets).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from workloads.trace import VLARequest

if TYPE_CHECKING:
    import networkx as nx

__all__ = ["request_graph", "execution_order"]


def request_graph(request: VLARequest) -> nx.DiGraph:
    """The DAG of ``request`` (see the module docstring)."""
    import networkx as nx  # heavy import: only when a graph is built

    g = nx.DiGraph()
    n = 0

    def add(name: str, **attrs) -> None:
        nonlocal n
        g.add_node(name, order=n, **attrs)
        n += 1

    cams: list[str] = []
    if request.vision is not None:
        v = request.vision
        for c in range(v.cameras):
            cams.append(f"encode:{c}")
            add(cams[-1], phase="encode", cls="prefill", model=v.encoder, batch=1,
                tokens=v.encoder_tokens, steps=1, batch_group="encode")
    if request.language is not None:
        m = request.language.model
        add("prefill", phase="prefill", cls="prefill", model=m, batch=1,
            tokens=request.prefill_tokens, steps=1, batch_group=None)
        g.add_edges_from((c, "prefill") for c in cams)
        if request.action_tokens > 0:
            add("decode", phase="decode", cls="decode", model=m, batch=1, tokens=1,
                steps=request.action_tokens, batch_group=None)
            g.add_edge("prefill", "decode")
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
