"""Graph validation, file round trips, topological order and per-op numbers by hand."""

from __future__ import annotations

import copy
import json

import pytest

import workloads
from hardware import InputError
from workloads import Graph, GraphBuilder
from workloads.files import graph_from_dict
from workloads.ops import Gemm


def tiny_conv() -> dict:
    """The schema example: 3x3 conv, 3 -> 8 channels, 32x32 -> 30x30."""
    return {
        "name": "tiny",
        "tensors": {
            "x": {"shape": [1, 3, 32, 32], "dtype": "fp16"},
            "w": {"shape": [8, 3, 3, 3], "dtype": "fp16", "const": True},
            "y": {"shape": [1, 8, 30, 30], "dtype": "fp16"},
        },
        "inputs": ["x"],
        "outputs": ["y"],
        "ops": [
            {
                "name": "conv",
                "kind": "conv2d",
                "inputs": ["x", "w"],
                "outputs": ["y"],
                "attrs": {"stride": 1},
            }
        ],
    }


def diamond(op_order: list[int]) -> dict:
    """x -> (left, right) -> join -> tail; op names deliberately not in dependency order."""
    ops = [
        {"name": "z_split", "kind": "relu", "inputs": ["x"], "outputs": ["a"]},
        {"name": "b_left", "kind": "sigmoid", "inputs": ["a"], "outputs": ["l"]},
        {"name": "a_right", "kind": "tanh", "inputs": ["a"], "outputs": ["r"]},
        {"name": "m_join", "kind": "add", "inputs": ["l", "r"], "outputs": ["j"]},
        {"name": "c_tail", "kind": "relu", "inputs": ["j"], "outputs": ["y"]},
    ]
    return {
        "name": "diamond",
        "tensors": {t: {"shape": [2, 8]} for t in ("x", "a", "l", "r", "j", "y")},
        "inputs": ["x"],
        "ops": [ops[i] for i in op_order],
    }


def rejected(data: dict) -> str:
    with pytest.raises(InputError) as info:
        graph_from_dict(data, "g.yaml")
    message = str(info.value)
    assert message.startswith("g.yaml: ")
    return message


def single_op(kind: str, inputs: dict, outputs: dict, attrs: dict | None = None):
    """A one-op graph; the first input is the graph input, the rest are const."""
    tensors = {}
    for i, (name, (shape, dtype)) in enumerate(inputs.items()):
        tensors[name] = {"shape": shape, "dtype": dtype, "const": i > 0}
    for name, (shape, dtype) in outputs.items():
        tensors[name] = {"shape": shape, "dtype": dtype}
    graph = graph_from_dict(
        {
            "name": kind,
            "tensors": tensors,
            "inputs": [next(iter(inputs))],
            "ops": [
                {
                    "name": "op",
                    "kind": kind,
                    "inputs": list(inputs),
                    "outputs": list(outputs),
                    "attrs": attrs or {},
                }
            ],
        },
        "test",
    )
    return graph, graph.ops[0]


# validation ---------------------------------------------------------------------------------


def test_schema_example_is_valid() -> None:
    graph = graph_from_dict(tiny_conv(), "tiny.yaml")
    assert graph.macs == 1 * 8 * 30 * 30 * 3 * 3 * 3 == 194_400
    assert graph.params == 8 * 3 * 3 * 3
    assert graph.input_bytes == 3 * 32 * 32 * 2
    assert graph.dtype == "fp16"


def test_cyclic_graph_rejected() -> None:
    data = diamond([0, 1, 2, 3, 4])
    data["inputs"] = []
    data["ops"][0]["inputs"] = ["y"]  # the tail feeds the head
    assert "cycle" in rejected(data)


def test_shape_mismatch_rejected() -> None:
    data = tiny_conv()
    data["tensors"]["y"]["shape"] = [1, 8, 32, 32]
    message = rejected(data)
    assert "'conv'" in message
    assert "[1, 8, 32, 32]" in message and "[1, 8, 30, 30]" in message


def test_incompatible_inputs_rejected() -> None:
    data = tiny_conv()
    data["tensors"]["w"]["shape"] = [8, 4, 3, 3]
    assert "channels" in rejected(data)


def test_dangling_tensor_rejected() -> None:
    data = tiny_conv()
    data["inputs"] = []
    assert "dangling" in rejected(data)


def test_undeclared_tensor_rejected() -> None:
    data = tiny_conv()
    data["ops"][0]["inputs"] = ["x", "weights"]
    assert "'weights' is not declared" in rejected(data)


def test_duplicate_producer_rejected() -> None:
    data = diamond([0, 1, 2, 3, 4])
    data["ops"][2]["outputs"] = ["l"]  # both branches write l
    assert "already produced" in rejected(data)


def test_op_writing_a_graph_input_rejected() -> None:
    data = diamond([0, 1, 2, 3, 4])
    data["ops"][0]["outputs"] = ["x"]
    assert "already produced by graph input" in rejected(data)


def test_op_writing_a_const_rejected() -> None:
    data = tiny_conv()
    data["ops"][0]["outputs"] = ["w"]
    assert "already produced" in rejected(data)


def test_duplicate_op_name_rejected() -> None:
    data = diamond([0, 1, 2, 3, 4])
    data["ops"][2]["name"] = "b_left"
    assert "used twice" in rejected(data)


def test_unknown_op_kind_rejected() -> None:
    data = tiny_conv()
    data["ops"][0]["kind"] = "convolution"
    message = rejected(data)
    assert "ops[0].kind" in message and "'conv2d'" in message


def test_unknown_attribute_rejected() -> None:
    data = tiny_conv()
    data["ops"][0]["attrs"] = {"strides": 1}
    message = rejected(data)
    assert "'strides'" in message and "stride" in message


def test_unknown_key_rejected_with_did_you_mean() -> None:
    data = tiny_conv()
    data["tensor"] = data.pop("tensors")
    assert "did you mean 'tensors'" in rejected(data)
    data = tiny_conv()
    data["ops"][0]["input"] = data["ops"][0].pop("inputs")
    assert "did you mean 'inputs'" in rejected(data)


def test_non_positive_dimension_rejected() -> None:
    data = tiny_conv()
    data["tensors"]["x"]["shape"] = [1, 3, 0, 32]
    assert "tensors.x" in rejected(data)


def test_unknown_dtype_rejected() -> None:
    data = tiny_conv()
    data["tensors"]["x"]["dtype"] = "fp12"
    assert "tensors.x.dtype" in rejected(data)


# files --------------------------------------------------------------------------------------


def mixed_graph() -> Graph:
    """A small graph with several kinds, attributes, a const and a custom op."""
    b = GraphBuilder("mixed", dtype="fp16")
    x = b.input("image", (2, 3, 16, 16))
    x = b.relu(b.batchnorm(b.conv2d(x, 8, kernel=3, stride=2, padding=1)))
    x = b.conv2d(x, 8, kernel=3, padding=1, groups=8, name="dw")
    x = b.op("channel_shuffle", [x], groups=2)
    x = b.op("global_avgpool", [x])
    x = b.op("flatten", [x])
    x = b.linear(x, 10)
    b.op(
        "custom",
        [x],
        name="postprocess",
        out_shapes=[[2, 10]],
        macs=0,
        flops=100,
        accelerated=False,
    )
    return b.build()


@pytest.mark.parametrize("suffix", [".yaml", ".yml", ".json"])
def test_file_round_trip_is_exact(tmp_path, suffix: str) -> None:
    graph = mixed_graph()
    path = tmp_path / f"mixed{suffix}"
    workloads.save(graph, path)
    loaded = workloads.load(path)
    assert loaded.to_dict() == graph.to_dict()
    assert loaded.model_dump() == graph.model_dump()
    assert [op.name for op in loaded.order] == [op.name for op in graph.order]
    assert (loaded.macs, loaded.total_ops, loaded.params) == (
        graph.macs,
        graph.total_ops,
        graph.params,
    )
    again = tmp_path / f"again{suffix}"
    workloads.save(loaded, again)
    assert again.read_bytes() == path.read_bytes()


def test_json_file_is_plain_json(tmp_path) -> None:
    path = tmp_path / "tiny.json"
    workloads.save(graph_from_dict(tiny_conv(), "tiny"), path)
    data = json.loads(path.read_text(encoding="utf-8"))
    assert data["tensors"]["w"] == {"shape": [8, 3, 3, 3], "dtype": "fp16", "const": True}
    assert data["ops"][0]["attrs"] == {"stride": 1}


def test_unknown_file_type_rejected(tmp_path) -> None:
    path = tmp_path / "graph.txt"
    path.write_text("name: x\n", encoding="utf-8")
    with pytest.raises(InputError, match="unknown graph file type"):
        workloads.load(path)


# order --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("op_order", "expected"),
    [
        ([0, 1, 2, 3, 4], ["z_split", "b_left", "a_right", "m_join", "c_tail"]),
        ([4, 3, 2, 1, 0], ["z_split", "a_right", "b_left", "m_join", "c_tail"]),
        ([3, 0, 4, 2, 1], ["z_split", "a_right", "b_left", "m_join", "c_tail"]),
    ],
)
def test_ready_ops_keep_the_order_they_are_listed_in(op_order, expected) -> None:
    # dependencies first; of the two branches ready together, the one listed first runs
    # first, whatever the names ("layer10" does not jump ahead of "layer2")
    graph = graph_from_dict(diamond(op_order), "diamond")
    assert [op.name for op in graph.order] == expected


def test_order_respects_every_dependency() -> None:
    graph = mixed_graph()
    position = {op.name: i for i, op in enumerate(graph.order)}
    producers = {t: op for op in graph.ops for t in op.outputs}
    for op in graph.ops:
        for tensor in op.inputs:
            if tensor in producers:
                assert position[producers[tensor].name] < position[op.name]


# per-op numbers -------------------------------------------------------------------------------


def test_conv_macs_gemm_and_bytes() -> None:
    graph, op = single_op(
        "conv2d",
        {"x": ([2, 16, 56, 56], "fp16"), "w": ([32, 16, 3, 3], "fp16")},
        {"y": ([2, 32, 28, 28], "fp16")},
        {"stride": 2, "padding": 1},
    )
    assert op.macs == 2 * 32 * 28 * 28 * 16 * 3 * 3 == 7_225_344
    assert op.ops == 2 * op.macs
    assert op.op_class == "matrix"
    assert op.gemm == Gemm(batch=1, m=2 * 28 * 28, n=32, k=16 * 3 * 3)
    assert op.read_bytes == (2 * 16 * 56 * 56 + 32 * 16 * 9) * 2
    assert op.write_bytes == 2 * 32 * 28 * 28 * 2


def test_grouped_conv_gemm_per_group() -> None:
    _, op = single_op(
        "conv2d",
        {"x": ([1, 16, 8, 8], "fp16"), "w": ([32, 4, 3, 3], "fp16")},
        {"y": ([1, 32, 8, 8], "fp16")},
        {"padding": 1, "groups": 4},
    )
    assert op.macs == 32 * 8 * 8 * 4 * 9
    assert op.gemm == Gemm(batch=4, m=64, n=8, k=36)
    assert op.op_class == "matrix"


def test_depthwise_conv_is_vector_class() -> None:
    _, op = single_op(
        "conv2d",
        {"x": ([1, 32, 14, 14], "fp16"), "w": ([32, 1, 3, 3], "fp16")},
        {"y": ([1, 32, 14, 14], "fp16")},
        {"padding": 1, "groups": 32},
    )
    assert op.macs == 32 * 14 * 14 * 9
    assert op.op_class == "vector"
    assert op.gemm is None


def test_batched_matmul_gemm_view() -> None:
    _, op = single_op(
        "matmul",
        {"a": ([2, 64, 128], "bf16"), "b": ([128, 32], "bf16")},
        {"c": ([2, 64, 32], "bf16")},
    )
    assert op.gemm == Gemm(batch=2, m=64, n=32, k=128)
    assert op.macs == op.gemm.macs == 2 * 64 * 32 * 128
    assert op.dtype == "bf16"
    assert op.read_bytes == (2 * 64 * 128 + 128 * 32) * 2
    assert op.write_bytes == 2 * 64 * 32 * 2


def test_linear_with_bias() -> None:
    _, op = single_op(
        "linear",
        {"x": ([4, 16], "fp16"), "w": ([16, 8], "fp16"), "b": ([8], "fp16")},
        {"y": ([4, 8], "fp16")},
    )
    assert op.gemm == Gemm(batch=1, m=4, n=8, k=16)
    assert op.macs == 4 * 8 * 16
    assert op.ops == 2 * 4 * 8 * 16 + 4 * 8  # bias adds one element op per output


def test_embedding_reads_only_gathered_rows() -> None:
    _, op = single_op(
        "embedding",
        {"ids": ([1, 16], "int8"), "table": ([1000, 64], "fp16")},
        {"out": ([1, 16, 64], "fp16")},
    )
    assert op.macs == 0
    # the 16 ids (1 byte each) plus 16 rows of 64 fp16 values, not the 1000-row table
    assert op.read_bytes == 16 * 1 + 16 * 64 * 2
    assert op.write_bytes == 16 * 64 * 2


def test_reshape_moves_no_bytes() -> None:
    _, op = single_op(
        "reshape", {"x": ([2, 3, 4], "fp16")}, {"y": ([6, 4], "fp16")}, {"shape": [-1, 4]}
    )
    assert op.stats.is_view
    assert op.read_bytes == op.write_bytes == 0
    assert op.ops == 0


def test_elementwise_flops() -> None:
    _, op = single_op("add", {"a": ([4, 8], "fp16"), "b": ([8], "fp16")}, {"c": ([4, 8], "fp16")})
    assert op.macs == 0
    assert op.ops == 32
    assert op.op_class == "vector"


def test_graph_totals_are_sums_over_ops() -> None:
    graph = mixed_graph()
    assert graph.macs == sum(op.macs for op in graph.ops)
    assert graph.total_ops == sum(op.ops for op in graph.ops)
    assert not graph.ops[-1].accelerated


def test_validated_graph_input_is_not_mutated() -> None:
    data = tiny_conv()
    before = copy.deepcopy(data)
    graph_from_dict(data, "tiny")
    assert data == before


def test_totals_are_the_sums_over_ops_and_assignment_forgets_them() -> None:
    graph = mixed_graph()
    assert graph.macs == sum(op.macs for op in graph.ops)
    assert graph.total_ops == sum(op.ops for op in graph.ops)
    assert graph.totals is graph.totals  # worked out once
    order = graph.order
    graph.outputs = list(graph.outputs)
    assert graph._totals is None and graph._order is None
    assert graph.order == order and graph.totals.ops == sum(op.ops for op in graph.ops)
    renamed = graph.model_copy(update={"name": "other"})
    assert renamed._totals is None and renamed._order is None
    assert graph.model_copy()._totals == graph.totals  # a plain copy keeps them
