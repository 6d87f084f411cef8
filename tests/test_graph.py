"""The request DAG: passes and their dependencies, and the order the simulator walks."""

import networkx as nx

from workloads.graph import execution_order, request_graph
from workloads.loader import load_model
from workloads.trace import Language, Vision, VLARequest

CLIP = load_model("clip-vit-large-patch14")


def vla(qwen05, cameras=3, actions=4):
    return VLARequest(Vision(CLIP, cameras, 224, 14, class_token=True),
                      Language(qwen05, actions, prompt_tokens=1024))


def test_cameras_feed_the_prefill_which_feeds_the_decode(qwen05):
    g = request_graph(vla(qwen05))
    assert nx.is_directed_acyclic_graph(g)
    assert set(g.predecessors("prefill")) == {"encode:0", "encode:1", "encode:2"}
    assert list(g.successors("prefill")) == ["decode"]
    assert g.nodes["decode"]["steps"] == 4 and g.nodes["decode"]["cls"] == "decode"
    assert all(g.nodes[f"encode:{c}"]["tokens"] == 257 for c in range(3))  # 16^2 + class
    assert g.nodes["prefill"]["tokens"] == 1024


def test_execution_order_batches_the_cameras(qwen05):
    assert execution_order(request_graph(vla(qwen05))) == [
        ["encode:0", "encode:1", "encode:2"], ["prefill"], ["decode"]]


def test_partial_requests(qwen05):
    perception = request_graph(VLARequest(Vision(CLIP, 2, 224, 14)))
    assert execution_order(perception) == [["encode:0", "encode:1"]]
    planner = request_graph(VLARequest(language=Language(qwen05, 0, prompt_tokens=64)))
    assert list(planner.nodes) == ["prefill"]  # no action tokens: no decode pass


def test_simulator_runs_the_passes_the_graph_lists(qwen05):
    """The simulator's segments follow the graph: one batched encoder pass, then the prefill
    (both on the prefill-class slot), then the decode."""
    from chipdse.sim.plan import request_segments
    from workloads.precision import Precision

    pre, dec = request_segments(vla(qwen05, cameras=3), Precision())
    assert [s.phase for s in pre] == ["encode", "prefill"]
    assert [s.phase for s in dec] == ["decode"] and dec[0].steps == 4
    # the encoder's GEMMs see all three cameras as one batch of 257-token images
    assert float(next(o for o in pre[0].ops if o.name == "qkv_proj").gemm_m) == 3 * 257
