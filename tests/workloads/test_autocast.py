"""Autocast: each matrix op's weights and inputs stored in fp32 and cast once per pass."""

import workloads
from workloads.autocast import autocast
from workloads.builder import GraphBuilder


def _shared_weight_graph():
    """Two matmuls read one weight w (8x8), a relu between them; x is the graph input."""
    b = GraphBuilder("shared", "fp16")
    x = b.input("x", (4, 8))
    w = b.const("w", (8, 8))
    h = b.op("matmul", [x, w], name="first")
    h = b.op("relu", [h], name="act")
    b.op("matmul", [h, w], name="second")
    return b.build()


def test_each_weight_and_input_is_cast_once_from_an_fp32_copy():
    graph = _shared_weight_graph()
    amp = autocast(graph)
    casts = [op for op in amp.ops if op.kind == "cast"]
    # w is read by two matmuls but cast once (autocast's weight cache); x once; the relu's
    # output is not a weight nor an input
    assert sorted(op.outputs[0] for op in casts) == ["w", "x"]
    assert amp.inputs == ["x.fp32"]
    assert (amp.tensors["w.fp32"].dtype, amp.tensors["w.fp32"].const) == ("fp32", True)
    assert (amp.tensors["w"].dtype, amp.tensors["w"].const) == ("fp16", False)
    # the fp32 copies are twice the fp16 bytes: x 4x8 and w 8x8 at 4 bytes
    assert amp.tensors["x.fp32"].nbytes + amp.tensors["w.fp32"].nbytes == (32 + 64) * 4
    # the model's own work is unchanged
    assert amp.macs == graph.macs and len(amp.ops) == len(graph.ops) + 2


def test_a_graph_already_in_fp32_is_left_alone():
    graph = workloads.build("mlp", dtype="fp32")
    assert autocast(graph) is graph
