"""Operator graphs: one node per operator instance, in order, with the analytic totals."""

import networkx as nx
import pytest

from chipdse.analytic import evaluate
from workloads.graph import build_graph
from workloads.ops import ArchArrays, phase_operators
from workloads.precision import Precision


def test_graph_is_a_chain_covering_every_operator(qwen05):
    g = build_graph(qwen05, Precision(), "decode", batch=1, context=100)
    assert nx.is_directed_acyclic_graph(g)
    per_layer = [o for o in phase_operators(ArchArrays.from_model(qwen05), Precision(), 1, 1,
                                            100) if o.layer_op]
    assert g.number_of_nodes() == 24 * len(per_layer) + 3  # embedding, final norm, LM head
    assert nx.dag_longest_path_length(g) == g.number_of_nodes() - 1
    assert g.nodes[0]["name"] == "embedding" and g.nodes[g.number_of_nodes() - 1]["name"] == \
        "lm_head"


def test_graph_flops_match_analytic(qwen05):
    g = build_graph(qwen05, Precision(), "prefill", batch=1, tokens=256)
    flops = sum(d["flops"] for _, d in g.nodes(data=True))
    # 2 x active params x tokens for the layers; causal attention 4 x d_q x pairs; LM head once
    m = qwen05
    layer = 2 * 256 * m.n_layers * (m.attention_params_per_layer + m.ffn_params_per_layer)
    attn = 4 * m.d_q * 256 * 257 / 2 * m.n_layers
    head = 2 * m.vocab_size * m.d_model
    assert flops == pytest.approx(layer + attn + head, rel=1e-12)


def test_graph_time_equals_analytic_prefill(qwen05, orin):
    """Costing every node of the graph one by one gives the analytic prefill sum."""
    from chipdse.cost import ChipParams, op_cost
    from workloads.ops import kv_cache_bytes, weights_total_bytes

    p = Precision()
    g = build_graph(qwen05, p, "prefill", batch=1, tokens=256)
    a = ArchArrays.from_model(qwen05)
    cp = ChipParams.from_chip(orin)
    wt, kv = weights_total_bytes(a, p), kv_cache_bytes(a, p, 1, 256)
    t = sum(float(op_cost(d["op"], cp, wt, kv).time_s) for _, d in g.nodes(data=True))
    assert t == pytest.approx(float(evaluate(qwen05, orin, p, 1, 256, 0).prefill_s), rel=1e-12)


def test_bad_phase():
    from workloads.loader import load_model
    with pytest.raises(ValueError, match="phase must be"):
        build_graph(load_model("qwen3-0.6b"), Precision(), "train")
