"""Fusion (sim/fuse.py) on its own: which ops share a kernel, on the toy chip.

Toy chip: every accelerated op runs on the `mxu` unit; ops marked `accelerated: false` fall
back to the host `cpu`. On-chip memory is 1 MiB, so greedy fusion's budget for the tensor
between producer and consumer is half of it: 524,288 B = 262,144 fp16 elements.
"""

import pytest

import hardware
from sim.dataflow import dataflow
from sim.fuse import group_ops
from sim.lower import assign_units, lower
from workloads import GraphBuilder

TOY = hardware.load_chip("toy")
BUDGET_ELEMENTS = (1 << 20) // 2 // 2  # half of 1 MiB, in fp16 elements: 262,144


def groups_of(graph, mode):
    flow = dataflow(graph)
    groups = group_ops(graph, TOY, assign_units(graph, TOY).unit, mode, flow)
    return [[op.name for op in group] for group in groups]


def mlp_block():
    # x -> fc0 (linear) -> act (relu) -> fc1 (linear) -> y
    b = GraphBuilder("block")
    h = b.linear(b.input("x", (4, 16)), 16, name="fc0")
    h = b.relu(h, name="act")
    return b.build([b.linear(h, 16, name="fc1")])


def host_op(b, x, name):
    shape = list(b.shape(x))
    return b.op("custom", [x], name=name, out_shapes=[shape], flops=1, accelerated=False)


def test_none_makes_one_kernel_per_op():
    assert groups_of(mlp_block(), "none") == [["fc0"], ["act"], ["fc1"]]


def test_epilogue_joins_an_elementwise_op_but_not_a_matrix_op():
    # act (relu) joins fc0; fc1 is a linear, not an elementwise epilogue
    assert groups_of(mlp_block(), "epilogue") == [["fc0", "act"], ["fc1"]]


def test_epilogue_does_not_join_a_non_elementwise_vector_op():
    b = GraphBuilder("t")
    a = b.relu(b.input("x", (1, 64)), name="a")
    g = b.build([b.op("softmax", [a], name="soft")])
    assert groups_of(g, "epilogue") == [["a"], ["soft"]]
    assert groups_of(g, "greedy") == [["a", "soft"]]


def test_greedy_joins_any_op_whose_input_is_private():
    # a [4, 16] fp16 activation is 128 B, far below the 524,288 B budget
    assert groups_of(mlp_block(), "greedy") == [["fc0", "act", "fc1"]]


@pytest.mark.parametrize(
    ("elements", "fused"),
    [
        (BUDGET_ELEMENTS, True),  # 262,144 * 2 B = 524,288 B: exactly the budget, joins
        (BUDGET_ELEMENTS + 8, False),  # 524,304 B > 524,288 B: kept apart
    ],
)
def test_greedy_joins_only_when_the_tensor_fits_half_the_on_chip_memory(elements, fused):
    # relu a = relu(x) feeds a softmax (not an epilogue kind: only greedy may join it)
    b = GraphBuilder("t")
    a = b.relu(b.input("x", (1, elements)), name="a")
    g = b.build([b.op("softmax", [a], name="soft")])
    assert groups_of(g, "greedy") == ([["a", "soft"]] if fused else [["a"], ["soft"]])


def test_greedy_fuses_at_least_what_epilogue_fuses():
    # fuse.py: greedy joins "additionally" to epilogue's rule. a = relu(x) of 262,152
    # elements is 524,304 B > the budget; epilogue fuses y = relu(a) into a's kernel
    b = GraphBuilder("t")
    a = b.relu(b.input("x", (1, BUDGET_ELEMENTS + 8)), name="a")
    g = b.build([b.relu(a, name="y")])
    assert groups_of(g, "epilogue") == [["a", "y"]]
    assert groups_of(g, "greedy") == [["a", "y"]]


@pytest.mark.parametrize("mode", ["epilogue", "greedy"])
def test_an_op_whose_input_has_a_second_reader_does_not_join(mode):
    # a is read by both b and c: a kernel that keeps a private would hide it from the other
    b = GraphBuilder("t")
    a = b.relu(b.input("x", (1, 64)), name="a")
    g = b.build([b.relu(a, name="b"), b.relu(a, name="c")])
    assert groups_of(g, mode) == [["a"], ["b"], ["c"]]


@pytest.mark.parametrize("mode", ["epilogue", "greedy"])
def test_host_ops_never_fuse(mode):
    # host -> host: each is its own synchronisation point; host -> relu: different units
    b = GraphBuilder("t")
    h = host_op(b, b.input("x", (1, 64)), "h0")
    h = host_op(b, h, "h1")
    g = b.build([b.relu(h, name="r")])
    units = assign_units(g, TOY).unit
    assert [units[n] for n in ("h0", "h1", "r")] == ["cpu", "cpu", "mxu"]
    assert groups_of(g, mode) == [["h0"], ["h1"], ["r"]]


def test_fusion_sees_through_views():
    # linear -> reshape (a free view, no kernel) -> relu: the relu reads the linear's bytes
    b = GraphBuilder("t")
    h = b.linear(b.input("x", (4, 16)), 16, name="fc", bias=False)
    h = b.op("reshape", [h], name="view", shape=[64])
    g = b.build([b.relu(h, name="act")])
    assert groups_of(g, "epilogue") == [["fc", "act"]]
    assert groups_of(g, "none") == [["fc"], ["act"]]  # the view is in no kernel


def gated(up_reader=False):
    # gate = fc(x), up = fc(x), y = gate * up; up is made second, so its kernel is newer
    b = GraphBuilder("gated")
    x = b.input("x", (4, 16))
    gate = b.linear(x, 16, name="gate", bias=False)
    up = b.linear(x, 16, name="up", bias=False)
    outputs = [b.op("mul", [gate, up], name="mul")]
    if up_reader:
        outputs.append(b.relu(up, name="side"))
    return b.build(outputs)


def test_a_multi_input_op_joins_the_newest_producer_kernel():
    # gate is kernel 0, up is kernel 1: mul joins kernel 1, and reads gate from kernel 0
    assert groups_of(gated(), "epilogue") == [["gate"], ["up", "mul"]]


def test_a_multi_input_op_never_joins_an_older_kernel():
    # up has a second reader, so mul cannot join kernel 1; joining gate's kernel 0 would
    # make kernel 0 read from the newer kernel 1, so mul gets a kernel of its own
    assert groups_of(gated(up_reader=True), "epilogue") == [["gate"], ["up"], ["mul"], ["side"]]


@pytest.mark.parametrize("up_reader", [False, True])
@pytest.mark.parametrize("mode", ["none", "epilogue", "greedy"])
def test_groups_are_in_topological_order_and_kernels_depend_on_older_ones(mode, up_reader):
    graph = gated(up_reader)
    flow = dataflow(graph)
    placement = assign_units(graph, TOY)
    groups = group_ops(graph, TOY, placement.unit, mode, flow)
    group_of = {op.name: i for i, group in enumerate(groups) for op in group}
    for i, group in enumerate(groups):
        for op in group:
            for t in op.inputs:
                root = flow.root(t)
                if root in flow.producer:
                    assert group_of[flow.producer[root].name] <= i
    kernels = lower(graph, TOY, groups, placement, flow)
    assert all(dep < k.index for k in kernels for dep in k.deps)


def test_graph_outputs_are_never_fused_away():
    # h is a graph output and relu's input: relu must not keep h inside its kernel
    b = GraphBuilder("t")
    h = b.linear(b.input("x", (4, 16)), 16, name="fc", bias=False)
    g = b.build([h, b.relu(h, name="act")])
    for mode in ("epilogue", "greedy"):
        assert groups_of(g, mode) == [["fc"], ["act"]]
    # and lowering writes h back: 4*16*2 = 128 B from each kernel
    flow = dataflow(g)
    placement = assign_units(g, TOY)
    groups = group_ops(g, TOY, placement.unit, "greedy", flow)
    kernels = lower(g, TOY, groups, placement, flow)
    assert [k.dram_write_bytes for k in kernels] == [128, 128]
