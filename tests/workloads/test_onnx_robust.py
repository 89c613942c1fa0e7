"""Red-team ONNX models: each must import or be one clear InputError, never a traceback.

Every model is built here with onnx.helper at test time (nothing large is committed).
Sizes that take seconds or gigabytes only without the fixes run in the fast profile at a
scale that is cheap either way; TOPSIM_HYPOTHESIS=slow also runs them at the red team's
scale in a subprocess and bounds its peak memory.
"""

from __future__ import annotations

import os
import subprocess
import sys
from types import SimpleNamespace

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

from hardware.errors import InputError  # noqa: E402
from workloads.onnx import OnnxImportWarning, import_onnx, load_onnx  # noqa: E402
from workloads.onnx import read as onnx_read  # noqa: E402
from workloads.onnx.fold import evaluate  # noqa: E402
from workloads.onnx.read import Node  # noqa: E402

FLOAT = TensorProto.FLOAT
SLOW = os.environ.get("TOPSIM_HYPOTHESIS") == "slow"


def model_bytes(nodes, inputs, outputs=(), inits=(), opset=17, domains=()) -> bytes:
    graph = helper.make_graph(nodes, "redteam", inputs, list(outputs), list(inits))
    opsets = [helper.make_opsetid("", opset)] + [helper.make_opsetid(d, 1) for d in domains]
    model = helper.make_model(graph, opset_imports=opsets)
    model.ir_version = 8
    return model.SerializeToString()


def write(tmp_path, data: bytes, name: str = "redteam.onnx"):
    path = tmp_path / name
    path.write_bytes(data)
    return path


def value(name, shape, elem=FLOAT):
    return helper.make_tensor_value_info(name, elem, shape)


def const(name, array, dtype=np.float32):
    return numpy_helper.from_array(np.asarray(array, dtype=dtype), name)


def rejected(path, *words: str) -> str:
    """The import is one InputError paragraph naming the file and each of `words`."""
    with pytest.raises(InputError) as info:
        load_onnx(path)
    message = str(info.value)
    assert "\n" not in message and str(path) in message, message
    for word in words:
        assert word in message, message
    return message


def one_node(tmp_path, node, inputs, inits=(), opset=17, domains=()):
    outputs = [value(o, None) for o in node.output if o]
    return write(tmp_path, model_bytes([node], inputs, outputs, inits, opset, domains))


# --- domains ------------------------------------------------------------------------------


@pytest.mark.parametrize("op_type", ["MatMul", "Conv", "Gemm", "Split", "Shape", "Constant"])
def test_an_op_of_another_domain_is_a_host_custom_op_whatever_its_name(tmp_path, op_type):
    node = helper.make_node(op_type, ["x"], ["y"], name="n", domain="com.example")
    path = one_node(tmp_path, node, [value("x", [4, 8])], domains=["com.example"])
    with pytest.warns(OnnxImportWarning, match=op_type):
        graph = load_onnx(path, dims={})
    assert [op.kind for op in graph.order] == ["custom"]
    assert not graph.order[0].accelerated


def test_a_microsoft_op_that_is_not_mapped_on_purpose_is_custom_too(tmp_path):
    node = helper.make_node("MatMul", ["x"], ["y"], name="mm", domain="com.microsoft")
    path = one_node(tmp_path, node, [value("x", [4, 8])], domains=["com.microsoft"])
    with pytest.warns(OnnxImportWarning, match="MatMul"):
        assert [op.kind for op in load_onnx(path).order] == ["custom"]


def test_an_under_supplied_skip_layer_norm_is_an_input_error(tmp_path):
    node = helper.make_node(
        "SkipLayerNormalization", ["x", "s"], ["y"], name="sln", domain="com.microsoft"
    )
    path = one_node(
        tmp_path, node, [value("x", [2, 8]), value("s", [2, 8])], domains=["com.microsoft"]
    )
    rejected(path, "'sln'", "SkipLayerNormalization", "first 3 inputs")


def test_a_complete_skip_layer_norm_maps_to_add_and_layernorm(tmp_path):
    node = helper.make_node(
        "SkipLayerNormalization", ["x", "s", "g", "b"], ["y"], domain="com.microsoft"
    )
    inits = [const("g", np.ones(8)), const("b", np.zeros(8))]
    path = one_node(
        tmp_path, node, [value("x", [2, 8]), value("s", [2, 8])], inits, domains=["com.microsoft"]
    )
    assert [op.kind for op in load_onnx(path).order] == ["add", "layernorm"]


# --- arity, rank and attributes -----------------------------------------------------------


def test_zero_conv_strides_are_an_input_error(tmp_path):
    node = helper.make_node("Conv", ["x", "w"], ["y"], name="c", strides=[0, 0])
    path = one_node(tmp_path, node, [value("x", [1, 3, 8, 8])], [const("w", np.ones((4, 3, 3, 3)))])
    rejected(path, "'c' (Conv)", "strides")


def test_zero_pool_strides_are_an_input_error(tmp_path):
    node = helper.make_node("MaxPool", ["x"], ["y"], name="p", kernel_shape=[2, 2], strides=[1, 0])
    path = one_node(tmp_path, node, [value("x", [1, 3, 8, 8])])
    rejected(path, "'p' (MaxPool)", "strides")


@pytest.mark.parametrize(
    "op_type, attrs",
    [
        ("ReduceSum", {"axes": [0], "keepdims": 0}),
        ("ReduceMean", {"axes": [0]}),
        ("ArgMax", {}),
        ("Softmax", {}),
        ("Split", {"num_outputs": 2}),
    ],
)
def test_scalar_inputs_to_axis_ops_are_an_input_error(tmp_path, op_type, attrs):
    opset = 13 if op_type in ("ReduceSum", "ReduceMean") else 18
    if op_type == "ReduceSum":
        node = helper.make_node(op_type, ["x", "a"], ["y"], name="r", keepdims=0)
        inits = [const("a", [0], np.int64)]
    else:
        node = helper.make_node(op_type, ["x"], ["y"], name="r", **attrs)
        inits = []
    path = one_node(tmp_path, node, [value("x", [])], inits, opset=opset)
    rejected(path, f"'r' ({op_type})", "axis")


def test_gather_from_a_scalar_is_an_input_error(tmp_path):
    node = helper.make_node("Gather", ["x", "i"], ["y"], name="g")
    path = one_node(tmp_path, node, [value("x", []), value("i", [3], TensorProto.INT64)])
    rejected(path, "'g' (Gather)", "axis")


def test_split_into_zero_outputs_is_an_input_error(tmp_path):
    node = helper.make_node("Split", ["x"], ["y"], name="s", num_outputs=0)
    path = one_node(tmp_path, node, [value("x", [4, 4])], opset=18)
    rejected(path, "'s' (Split)", "num_outputs")


def test_duplicate_unsqueeze_axes_are_an_input_error(tmp_path):
    node = helper.make_node("Unsqueeze", ["x", "a"], ["y"], name="u")
    path = one_node(tmp_path, node, [value("x", [4])], [const("a", [0, 0], np.int64)])
    rejected(path, "'u' (Unsqueeze)", "axes")


def test_an_empty_clip_min_is_no_bound(tmp_path):
    node = helper.make_node("Clip", ["x", "", "hi"], ["y"], name="clip")
    path = one_node(tmp_path, node, [value("x", [4])], [const("hi", 6.0)])
    graph = load_onnx(path)
    assert [op.kind for op in graph.order] == ["custom"]


def test_float_slice_starts_are_an_input_error(tmp_path):
    node = helper.make_node("Slice", ["x", "s", "e"], ["y"], name="sl")
    inits = [const("s", [0.5]), const("e", [2.0])]
    path = one_node(tmp_path, node, [value("x", [4])], inits)
    rejected(path, "'sl' (Slice)", "starts", "int64")


def test_float_slice_starts_attribute_is_an_input_error(tmp_path):
    node = helper.make_node("Slice", ["x"], ["y"], name="sl", starts=[0.5], ends=[2.0])
    path = one_node(tmp_path, node, [value("x", [4])], opset=9)
    rejected(path, "'sl' (Slice)", "FLOATS", "takes INTS")


def test_a_wrong_rank_lstm_weight_is_an_input_error(tmp_path):
    node = helper.make_node("LSTM", ["x", "w", "r"], ["y"], name="lstm", hidden_size=4)
    inits = [const("w", np.ones((16, 3))), const("r", np.ones((1, 16, 4)))]
    path = one_node(tmp_path, node, [value("x", [5, 2, 3])], inits)
    rejected(path, "'lstm' (LSTM)", "'w'")


def test_a_wrong_rank_conv_transpose_weight_is_an_input_error(tmp_path):
    node = helper.make_node("ConvTranspose", ["x", "w"], ["y"], name="ct")
    path = one_node(tmp_path, node, [value("x", [1, 3, 8, 8])], [const("w", np.ones((3, 4)))])
    rejected(path, "'ct' (ConvTranspose)", "'w'")


def test_an_einsum_beyond_countable_work_is_an_input_error(tmp_path):
    letters = "abcdefghij"
    node = helper.make_node(
        "Einsum", [f"x{i}" for i in range(10)], ["y"], name="e", equation=",".join(letters)
    )
    inputs = [value(f"x{i}", [2**40]) for i in range(10)]
    path = write(tmp_path, model_bytes([node], inputs, [value("y", None)]))
    rejected(path, "'e' (Einsum)")


# --- files and graphs ---------------------------------------------------------------------


def relu_model(shape=(4,)) -> bytes:
    return model_bytes([helper.make_node("Relu", ["x"], ["y"])], [value("x", list(shape))])


def test_a_file_that_is_not_onnx_is_an_input_error(tmp_path):
    rejected(write(tmp_path, b"\x89PNG\r\n\x1a\n" + bytes(100)), "not an ONNX model")


def test_a_truncated_file_is_an_input_error(tmp_path):
    data = relu_model()
    rejected(write(tmp_path, data[: len(data) // 2]), "not an ONNX model")


def test_a_cycle_is_an_input_error_naming_a_node_on_it(tmp_path):
    nodes = [
        helper.make_node("Relu", ["x", "b"], ["a"], name="n1"),
        helper.make_node("Relu", ["a"], ["b"], name="n2"),
    ]
    rejected(write(tmp_path, model_bytes(nodes, [value("x", [4])])), "cycle", "'n1'")


def test_an_empty_op_type_is_an_input_error(tmp_path):
    nodes = [helper.make_node("", ["x"], ["y"], name="blank")]
    rejected(write(tmp_path, model_bytes(nodes, [value("x", [4])])), "'blank'", "empty op type")


@pytest.mark.parametrize("size", [0, -3])
def test_an_input_dimension_below_one_is_an_input_error(tmp_path, size):
    path = write(tmp_path, relu_model((4, size)))
    rejected(path, "'x'", str(size))


def test_a_tensor_produced_twice_is_an_input_error(tmp_path):
    nodes = [helper.make_node("Relu", ["x"], ["y"], name=n) for n in ("r1", "r2")]
    rejected(write(tmp_path, model_bytes(nodes, [value("x", [4])])), "already produced", "'r1'")


def test_too_many_nodes_is_an_input_error_before_any_work(tmp_path, monkeypatch):
    monkeypatch.setattr(onnx_read, "MAX_ONNX_NODES", 50)
    nodes = [helper.make_node("Relu", [f"t{i}"], [f"t{i + 1}"]) for i in range(51)]
    rejected(write(tmp_path, model_bytes(nodes, [value("t0", [4])])), "51 nodes", "at most 50")


def _varint(n: int) -> bytes:
    out = b""
    while n > 0x7F:
        out += bytes([n & 0x7F | 0x80])
        n >>= 7
    return out + bytes([n])


def test_a_million_nodes_is_refused(tmp_path):
    """The bytes are written directly (a repeated protobuf field is its entries one after
    another), so the test builds no million Python objects."""
    node = helper.make_node("Relu", ["x"], ["x"]).SerializeToString()
    graph = helper.make_graph([], "big", [value("x", [4])], []).SerializeToString()
    graph += (b"\x0a" + _varint(len(node)) + node) * 10**6  # GraphProto.node is field 1
    model = helper.make_model(
        helper.make_graph([], "", [], []), opset_imports=[helper.make_opsetid("", 17)]
    )
    model.ClearField("graph")
    data = model.SerializeToString() + b"\x3a" + _varint(len(graph)) + graph  # field 7
    rejected(write(tmp_path, data), "1000000 nodes")


# --- size: sorting, folding, constants, shape inference --------------------------------------


def wide(n: int) -> bytes:
    """n nodes reading one input, listed in reverse order: the sort must reorder them all."""
    nodes = [helper.make_node("Relu", ["x"], [f"y{i}"], name=f"r{i}") for i in range(n)]
    return model_bytes(nodes[::-1], [value("x", [4])], [value(f"y{i}", [4]) for i in range(n)])


def wide_sum(n: int) -> bytes:
    return model_bytes([helper.make_node("Sum", ["x"] * n, ["y"])], [value("x", [4])])


def folding_broadcast(n: int) -> bytes:
    """Two constants of n elements whose sum would be n * n elements if evaluated."""
    nodes = [helper.make_node("Add", ["a", "b"], ["c"]), helper.make_node("Add", ["x", "c"], ["y"])]
    inits = [const("a", np.ones((n, 1))), const("b", np.ones((1, n)))]
    return model_bytes(nodes, [value("x", [n, n])], [value("y", [n, n])], inits)


def big_constant(n: int) -> bytes:
    nodes = [helper.make_node("Add", ["x", "a"], ["y"])]
    return model_bytes(nodes, [value("x", [n])], [value("y", [n])], [const("a", np.ones(n))])


def long_vector(n: int) -> bytes:
    """A 1-D input of n elements: shape inference with data propagation grew with n."""
    nodes = [helper.make_node("Add", ["x", "x"], ["y"])]
    return model_bytes(nodes, [value("x", [n])], [value("y", [n])])


def test_sorting_a_wide_reversed_graph_keeps_file_order_of_ready_nodes(tmp_path):
    graph = load_onnx(write(tmp_path, wide(4000)))
    assert [op.name for op in graph.ops][:3] == ["r3999", "r3998", "r3997"]
    assert len(graph.ops) == 4000


def test_many_silu_regions_on_one_tensor_are_each_found(tmp_path):
    n = 3000
    nodes = [helper.make_node("Sigmoid", ["x"], [f"s{i}"]) for i in range(n)]
    nodes += [helper.make_node("Mul", ["x", f"s{i}"], [f"y{i}"]) for i in range(n)]
    data = model_bytes(nodes, [value("x", [4])], [value(f"y{i}", [4]) for i in range(n)])
    graph = load_onnx(write(tmp_path, data))
    assert len(graph.ops) == n and {op.kind for op in graph.ops} == {"silu"}


def test_a_sum_of_many_inputs_is_a_chain_of_adds(tmp_path):
    graph = load_onnx(write(tmp_path, wide_sum(5000)))
    assert len(graph.ops) == 4999 and {op.kind for op in graph.ops} == {"add"}


def test_folding_a_broadcast_past_the_budget_keeps_only_its_shape(tmp_path):
    graph = load_onnx(write(tmp_path, folding_broadcast(3000)))
    assert graph.tensors["c"].shape == (3000, 3000) and graph.tensors["c"].const


def test_the_folder_never_materialises_a_broadcast_past_the_budget():
    node = Node(0, "Add", "", "add", ["a", "b"], ["c"], {}, None)
    a, b = np.ones((30000, 1), np.float32), np.ones((1, 30000), np.float32)
    (out,) = evaluate(node, [a, b], SimpleNamespace(onnx=onnx))
    assert out.shape == (30000, 30000) and out.strides == (0, 0)


def test_large_constant_values_are_dropped_after_reading(tmp_path):
    path = write(tmp_path, big_constant(1 << 20))
    model = onnx_read.read_model(path)
    assert model.graph.initializer[0].raw_data == b"" and model.graph.initializer[0].dims == [
        1 << 20
    ]
    assert load_onnx(path).tensors["y"].shape == (1 << 20,)


def test_a_long_vector_input_imports(tmp_path):
    assert load_onnx(write(tmp_path, long_vector(1 << 22))).tensors["y"].shape == (1 << 22,)


def test_shapes_from_a_computed_reshape_target_still_come_from_data_propagation(tmp_path):
    nodes = [
        helper.make_node("Shape", ["x"], ["s"]),
        helper.make_node("Gather", ["s", "zero"], ["n"], axis=0),
        helper.make_node("Unsqueeze", ["n", "ax"], ["n1"]),
        helper.make_node("Concat", ["n1", "minus1"], ["target"], axis=0),
        helper.make_node("Reshape", ["x", "target"], ["r"]),
        helper.make_node("Erf", ["r"], ["y"]),
    ]
    inits = [
        const("zero", 0, np.int64),
        const("ax", [0], np.int64),
        const("minus1", [-1], np.int64),
    ]
    data = model_bytes(nodes, [value("x", [2, 3, 4])], [value("y", None)], inits)
    result = import_onnx(write(tmp_path, data))
    assert result.graph.tensors["y"].shape == (2, 12)
    assert not any("unknown" in note for note in result.notes)


SLOW_CASES = {
    "wide": (wide, 60000),
    "sum": (wide_sum, 100000),
    "broadcast": (folding_broadcast, 30000),
    "constant": (big_constant, 1 << 26),
    "vector": (long_vector, 1 << 26),
}
PEAK_RSS_BYTES = 2**30


@pytest.mark.skipif(not SLOW, reason="red-team scale: TOPSIM_HYPOTHESIS=slow")
@pytest.mark.skipif(not os.path.exists("/proc/self/status"), reason="peak RSS read from /proc")
@pytest.mark.parametrize("case", sorted(SLOW_CASES))
def test_red_team_scale_imports_within_a_gigabyte(tmp_path, case):
    build, n = SLOW_CASES[case]
    path = write(tmp_path, build(n))
    peak = peak_rss_of_import(path)
    assert peak < PEAK_RSS_BYTES, f"{case}: peak RSS {peak / 2**20:.0f} MiB"


def peak_rss_of_import(path) -> int:
    """Peak resident memory (bytes) of a fresh interpreter importing `path` (Linux).

    Read as VmHWM from /proc, which starts afresh at exec (getrusage's maxrss does not:
    it keeps the peak of the parent that forked the child).
    """
    script = (
        "import re, sys, warnings\n"
        "warnings.simplefilter('ignore')\n"
        "from hardware.errors import InputError\n"
        "from workloads.onnx import import_onnx\n"
        "try:\n    import_onnx(sys.argv[1])\nexcept InputError:\n    pass\n"
        "status = open('/proc/self/status').read()\n"
        "print(re.search(r'VmHWM:\\s*(\\d+)', status).group(1))\n"
    )
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    env = {**os.environ, "PYTHONPATH": root}
    done = subprocess.run(
        [sys.executable, "-c", script, str(path)], capture_output=True, text=True, env=env
    )
    assert done.returncode == 0, done.stderr
    return int(done.stdout.split()[-1]) * 1024
