"""ONNX import (graphs built with onnx.helper, and our builders' exports) and export."""

from __future__ import annotations

import os
import threading
import warnings

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

import workloads  # noqa: E402
from hardware.errors import InputError  # noqa: E402
from workloads.onnx import OnnxImportWarning, import_onnx, load_onnx, to_onnx  # noqa: E402

FLOAT = TensorProto.FLOAT


def save(
    tmp_path, nodes, inputs, outputs, initializers=(), value_info=(), opset=17, name="model.onnx"
):
    graph = helper.make_graph(
        nodes, "test", inputs, outputs, list(initializers), value_info=list(value_info)
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 8
    path = tmp_path / name
    path.write_bytes(model.SerializeToString())
    return path


def weight(name, shape, seed=0):
    values = np.random.default_rng(seed).standard_normal(shape).astype(np.float32)
    return numpy_helper.from_array(values, name)


def scalar(name, value):
    return numpy_helper.from_array(np.array(value, dtype=np.float32), name)


def kinds(graph):
    return [op.kind for op in graph.order]


def test_conv_bn_relu_maps_to_three_ops_with_hand_counted_macs(tmp_path):
    nodes = [
        helper.make_node("Conv", ["x", "w"], ["c"], pads=[1, 1, 1, 1], strides=[2, 2]),
        helper.make_node("BatchNormalization", ["c", "s", "b", "m", "v"], ["n"]),
        helper.make_node("Relu", ["n"], ["y"]),
    ]
    inits = [
        weight("w", (8, 3, 3, 3)),
        weight("s", (8,)),
        weight("b", (8,)),
        weight("m", (8,)),
        weight("v", (8,)),
    ]
    path = save(
        tmp_path,
        nodes,
        [helper.make_tensor_value_info("x", FLOAT, [1, 3, 16, 16])],
        [helper.make_tensor_value_info("y", FLOAT, None)],
        inits,
    )
    graph = load_onnx(path)
    assert kinds(graph) == ["conv2d", "batchnorm", "relu"]
    conv = graph.order[0]
    assert conv.attrs["stride"] == [2, 2] and conv.attrs["padding"] == [1, 1]
    # 8 x 8 x 8 outputs, each 3 x 3 x 3 MACs
    assert graph.macs == 8 * 8 * 8 * 27
    assert graph.tensors["y"].shape == (1, 8, 8, 8)
    assert graph.tensors["y"].dtype == "fp32"
    assert graph.outputs == ["y"]


def test_grouped_conv_and_asymmetric_padding(tmp_path):
    nodes = [
        helper.make_node("Conv", ["x", "w"], ["d"], group=4, pads=[1, 1, 1, 1]),
        helper.make_node("Conv", ["d", "w2"], ["y"], pads=[0, 0, 1, 1], strides=[2, 2]),
    ]
    inits = [weight("w", (4, 1, 3, 3)), weight("w2", (4, 4, 2, 2))]
    path = save(
        tmp_path,
        nodes,
        [helper.make_tensor_value_info("x", FLOAT, [1, 4, 8, 8])],
        [helper.make_tensor_value_info("y", FLOAT, None)],
        inits,
    )
    graph = load_onnx(path)
    depthwise = graph.order[0]
    assert depthwise.attrs["groups"] == 4 and depthwise.op_class == "vector"
    # (8 + 0 + 1 - 2) // 2 + 1 = 4: the pad op makes the asymmetric padding explicit
    assert graph.tensors["y"].shape == (1, 4, 4, 4)
    assert graph.macs == 4 * 8 * 8 * 9 + 4 * 4 * 4 * 4 * 4


def test_matmul_add_and_erf_gelu_become_linear_add_gelu(tmp_path):
    nodes = [
        helper.make_node("MatMul", ["x", "w"], ["h"]),
        helper.make_node("Add", ["h", "bias"], ["a"]),
        helper.make_node("Div", ["a", "sqrt2"], ["g0"]),
        helper.make_node("Erf", ["g0"], ["g1"]),
        helper.make_node("Add", ["g1", "one"], ["g2"]),
        helper.make_node("Mul", ["a", "g2"], ["g3"]),
        helper.make_node("Mul", ["g3", "half"], ["y"]),
    ]
    inits = [
        weight("w", (8, 16)),
        weight("bias", (16,)),
        scalar("sqrt2", 1.4142135),
        scalar("one", 1.0),
        scalar("half", 0.5),
    ]
    path = save(
        tmp_path,
        nodes,
        [helper.make_tensor_value_info("x", FLOAT, [2, 4, 8])],
        [helper.make_tensor_value_info("y", FLOAT, None)],
        inits,
    )
    graph = load_onnx(path)
    assert kinds(graph) == ["linear", "add", "gelu"]
    assert graph.macs == 2 * 4 * 8 * 16
    assert graph.tensors["y"].shape == (2, 4, 16)


def test_tanh_gelu_and_decomposed_layernorm_are_recognised(tmp_path):
    # GPT-2's gelu_new: 0.5 * x * (1 + tanh(sqrt(2/pi) * (x + 0.044715 x^3)))
    gelu = [
        helper.make_node("Pow", ["x", "three"], ["p"]),
        helper.make_node("Mul", ["p", "c"], ["pc"]),
        helper.make_node("Add", ["x", "pc"], ["s"]),
        helper.make_node("Mul", ["s", "k"], ["sk"]),
        helper.make_node("Tanh", ["sk"], ["t"]),
        helper.make_node("Add", ["t", "one"], ["t1"]),
        helper.make_node("Mul", ["x", "half"], ["xh"]),
        helper.make_node("Mul", ["xh", "t1"], ["g"]),
    ]
    norm = [
        helper.make_node("ReduceMean", ["g"], ["mu"], axes=[-1]),
        helper.make_node("Sub", ["g", "mu"], ["d"]),
        helper.make_node("Pow", ["d", "two"], ["d2"]),
        helper.make_node("ReduceMean", ["d2"], ["var"], axes=[-1]),
        helper.make_node("Add", ["var", "eps"], ["ve"]),
        helper.make_node("Sqrt", ["ve"], ["sd"]),
        helper.make_node("Div", ["d", "sd"], ["z"]),
        helper.make_node("Mul", ["z", "gamma"], ["zg"]),
        helper.make_node("Add", ["zg", "beta"], ["y"]),
    ]
    inits = [
        scalar("three", 3.0),
        scalar("c", 0.044715),
        scalar("k", 0.7978845),
        scalar("one", 1.0),
        scalar("half", 0.5),
        scalar("two", 2.0),
        scalar("eps", 1e-5),
        weight("gamma", (16,)),
        weight("beta", (16,)),
    ]
    path = save(
        tmp_path,
        gelu + norm,
        [helper.make_tensor_value_info("x", FLOAT, [1, 4, 16])],
        [helper.make_tensor_value_info("y", FLOAT, None)],
        inits,
    )
    graph = load_onnx(path)
    assert kinds(graph) == ["gelu", "layernorm"]
    assert graph.order[1].inputs == ["g", "gamma", "beta"]


def test_shape_computations_fold_away_and_reshape_is_a_view(tmp_path):
    # the PyTorch-style dynamic flatten: Shape -> Gather -> Unsqueeze -> Concat -> Reshape
    nodes = [
        helper.make_node("Relu", ["x"], ["r"]),
        helper.make_node("Shape", ["r"], ["shape"]),
        helper.make_node("Gather", ["shape", "zero"], ["n"], axis=0),
        helper.make_node("Unsqueeze", ["n", "axes"], ["n1"]),
        helper.make_node("Concat", ["n1", "minus_one"], ["target"], axis=0),
        helper.make_node("Reshape", ["r", "target"], ["flat"]),
        helper.make_node("Identity", ["flat"], ["y"]),
    ]
    inits = [
        numpy_helper.from_array(np.array(0, dtype=np.int64), "zero"),
        numpy_helper.from_array(np.array([0], dtype=np.int64), "axes"),
        numpy_helper.from_array(np.array([-1], dtype=np.int64), "minus_one"),
    ]
    path = save(
        tmp_path,
        nodes,
        [helper.make_tensor_value_info("x", FLOAT, ["N", 2, 3, 4])],
        [helper.make_tensor_value_info("y", FLOAT, None)],
        inits,
    )
    graph = load_onnx(path, batch=5)
    assert kinds(graph) == ["relu", "reshape"]
    assert graph.tensors["x"].shape == (5, 2, 3, 4)
    assert graph.order[1].stats.is_view
    assert graph.tensors[graph.outputs[0]].shape == (5, 24)


def test_cnn_export_ops_map_by_name(tmp_path):
    nodes = [
        helper.make_node("Clip", ["x", "zero", "six"], ["c"]),
        helper.make_node("MaxPool", ["c"], ["m"], kernel_shape=[3, 3], strides=[2, 2], ceil_mode=1),
        helper.make_node("Split", ["m", "halves"], ["s0", "s1"], axis=1),
        helper.make_node("Concat", ["s1", "s0"], ["cat"], axis=1),
        helper.make_node("GlobalAveragePool", ["cat"], ["g"]),
        helper.make_node("Transpose", ["g"], ["gt"], perm=[0, 2, 3, 1]),  # only 1s move: a view
        helper.make_node("Flatten", ["gt"], ["f"], axis=1),
        helper.make_node("Gemm", ["f", "w", "b"], ["y"], transB=1),
    ]
    inits = [
        scalar("zero", 0.0),
        scalar("six", 6.0),
        weight("w", (10, 4)),
        weight("b", (10,)),
        numpy_helper.from_array(np.array([2, 2], dtype=np.int64), "halves"),
    ]
    path = save(
        tmp_path,
        nodes,
        [helper.make_tensor_value_info("x", FLOAT, [1, 4, 8, 8])],
        [helper.make_tensor_value_info("y", FLOAT, None)],
        inits,
    )
    graph = load_onnx(path)
    assert kinds(graph) == [
        "relu6",
        "maxpool",
        "split",
        "concat",
        "global_avgpool",
        "reshape",
        "flatten",
        "linear",
    ]
    # ceil mode: (8 - 3) / 2 rounded up + 1 = 4 rows; the extra bottom/right padding (2) is
    # even, so it becomes symmetric padding 1 with the same output and cost
    assert graph.tensors["m"].shape == (1, 4, 4, 4)
    assert graph.order[1].attrs["padding"] == [1, 1]
    linear = graph.order[-1]
    assert graph.tensors[linear.inputs[1]].shape == (4, 10)  # transB: declared [in, out]
    assert graph.macs == 40


def test_gather_from_a_table_is_an_embedding_and_int64_ids_count_as_fp32(tmp_path):
    nodes = [
        helper.make_node("Gather", ["table", "ids"], ["e"]),
        helper.make_node("Softmax", ["e"], ["y"], axis=-1),
    ]
    path = save(
        tmp_path,
        nodes,
        [helper.make_tensor_value_info("ids", TensorProto.INT64, ["batch", "seq"])],
        [helper.make_tensor_value_info("y", FLOAT, None)],
        [weight("table", (100, 8))],
        name="embed.onnx",
    )
    with pytest.warns(OnnxImportWarning, match="seq"):  # the non-batch symbolic dim -> 1
        graph = load_onnx(path, batch=2)
    assert kinds(graph) == ["embedding", "softmax"]
    assert graph.tensors["ids"].dtype == "fp32" and graph.tensors["ids"].shape == (2, 1)
    assert graph.order[0].dtype == "fp32"
    graph = load_onnx(path, batch=2, dims={"seq": 7})
    assert graph.tensors["y"].shape == (2, 7, 8)


def test_unknown_op_becomes_a_host_custom_op_with_one_warning(tmp_path):
    nodes = [
        helper.make_node("Relu", ["x"], ["r"]),
        helper.make_node("FancyOp", ["r"], ["f"], domain="com.example"),
        helper.make_node("Mystery", ["f"], ["y"], domain="com.example"),
    ]
    path = save(
        tmp_path,
        nodes,
        [helper.make_tensor_value_info("x", FLOAT, [1, 8])],
        [helper.make_tensor_value_info("y", FLOAT, [1, 8])],
        value_info=[helper.make_tensor_value_info("f", FLOAT, [1, 8])],
    )
    model = onnx.load(path)
    model.opset_import.append(helper.make_opsetid("com.example", 1))
    path.write_bytes(model.SerializeToString())
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        graph = load_onnx(path)
    messages = [str(w.message) for w in caught if issubclass(w.category, OnnxImportWarning)]
    assert len(messages) == 1 and "FancyOp" in messages[0] and "Mystery" in messages[0]
    custom = [op for op in graph.order if op.kind == "custom"]
    assert len(custom) == 2 and not any(op.accelerated for op in custom)
    assert graph.tensors["y"].shape == (1, 8)
    result = import_onnx(path)
    assert dict(result.unknown_ops) == {"FancyOp": 1, "Mystery": 1}


def test_known_ops_without_a_kind_become_accelerated_custom_ops(tmp_path):
    nodes = [
        helper.make_node("Slice", ["x", "starts", "ends", "axes"], ["s"]),
        helper.make_node("ReduceSum", ["s"], ["y"], axes=[1], keepdims=0),
    ]
    inits = [
        numpy_helper.from_array(np.array([v], dtype=np.int64), n)
        for n, v in (("starts", 0), ("ends", 4), ("axes", 1))
    ]
    path = save(
        tmp_path,
        nodes,
        [helper.make_tensor_value_info("x", FLOAT, [2, 10])],
        [helper.make_tensor_value_info("y", FLOAT, None)],
        inits,
        opset=13,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # known ops: no warning
        graph = load_onnx(path)
    assert kinds(graph) == ["custom", "custom"]
    assert all(op.accelerated for op in graph.ops)
    assert graph.tensors["s"].shape == (2, 4) and graph.tensors["y"].shape == (2,)
    assert graph.order[1].stats.flops == 8  # 4 elements summed into each of 2 outputs


def one_node_model(tmp_path, node, inputs, inits=(), output="y"):
    return save(
        tmp_path,
        [node],
        [helper.make_tensor_value_info(n, FLOAT, shape) for n, shape in inputs],
        [helper.make_tensor_value_info(output, FLOAT, None)],
        inits,
        name="bad.onnx",
    )


def assert_one_paragraph(error, *words):
    message = str(error.value)
    assert "\n" not in message and "bad.onnx" in message, message
    for word in words:
        assert word in message, f"{word!r} not in {message!r}"


def test_a_conv_weight_that_is_not_4d_is_an_input_error_naming_the_node(tmp_path):
    node = helper.make_node("Conv", ["x", "w"], ["y"], name="conv1")
    path = one_node_model(tmp_path, node, [("x", [1, 3, 8, 8])], [weight("w", (8, 3, 3))])
    with pytest.raises(InputError) as info:  # was an IndexError in map_conv
        load_onnx(path)
    assert_one_paragraph(info, "'conv1' (Conv)", "[8, 3, 3]", "[1, 3, 8, 8]", "shape mismatch")


@pytest.mark.parametrize(
    "node, inputs, inits, words",
    [
        (
            helper.make_node("MatMul", ["a", "b"], ["y"], name="mm"),
            [("a", [4, 8]), ("b", [6, 2])],
            [],
            ["'mm' (MatMul)", "[4, 8]", "[6, 2]", "inner dimensions"],
        ),
        (
            helper.make_node("MatMul", ["a", "w"], ["y"], name="proj"),
            [("a", [2, 5, 8])],
            [weight("w", (7, 3))],
            ["'proj' (MatMul)", "[2, 5, 8]", "[7, 3]"],
        ),
        (
            helper.make_node("MatMul", ["a", "b"], ["y"], name="bmm"),
            [("a", [2, 4, 8]), ("b", [3, 8, 2])],
            [],
            ["'bmm' (MatMul)", "do not broadcast", "[2]", "[3]"],
        ),
        (
            helper.make_node("Reshape", ["x", "s"], ["y"], name="rs"),
            [("x", [4, 4])],
            [numpy_helper.from_array(np.array([5, 5], dtype=np.int64), "s")],
            ["'rs' (Reshape)", "[4, 4]", "[5, 5]", "16 elements", "25 elements"],
        ),
        (
            helper.make_node("Reshape", ["x", "s"], ["y"], name="rs"),
            [("x", [3, 5])],
            [numpy_helper.from_array(np.array([-1, 4], dtype=np.int64), "s")],
            ["'rs' (Reshape)", "[3, 5]", "[-1, 4]"],
        ),
        (
            helper.make_node("Gemm", ["a", "w"], ["y"], name="fc", transB=1),
            [("a", [2, 8])],
            [weight("w", (10, 6))],
            ["'fc' (Gemm)", "[2, 8]", "[10, 6]", "transB=1"],
        ),
        (
            helper.make_node("Add", ["a", "b"], ["y"], name="sum"),
            [("a", [2, 3]), ("b", [4])],
            [],
            ["'sum' (Add)", "do not broadcast", "[2, 3]", "[4]"],
        ),
        (
            helper.make_node("Conv", ["x", "w"], ["y"], name="c"),
            [("x", [1, 3, 8, 8])],
            [weight("w", (8, 4, 3, 3))],
            ["'c' (Conv)", "3 channels", "takes 4"],
        ),
        (
            helper.make_node("Conv", ["x", "w"], ["y"], name="c"),
            [("x", [1, 3, 2, 2])],
            [weight("w", (8, 3, 3, 3))],
            ["'c' (Conv)", "spans 3", "[1, 3, 2, 2]"],
        ),
        (
            helper.make_node("Concat", ["a", "b"], ["y"], name="cat", axis=1),
            [("a", [2, 3]), ("b", [4, 3])],
            [],
            ["'cat' (Concat)", "outside axis 1", "[2, 3]", "[4, 3]"],
        ),
        (
            helper.make_node("Split", ["x", "sizes"], ["y", "z"], name="sp", axis=1),
            [("x", [2, 6])],
            [numpy_helper.from_array(np.array([2, 3], dtype=np.int64), "sizes")],
            ["'sp' (Split)", "[2, 3]", "add up to 5", "[2, 6]"],
        ),
    ],
    ids=[
        "matmul",
        "matmul-weight",
        "matmul-batch",
        "reshape",
        "reshape-minus-one",
        "gemm",
        "broadcast",
        "conv-channels",
        "conv-kernel",
        "concat",
        "split",
    ],
)
def test_shape_mismatches_are_rejected_at_load_time(tmp_path, node, inputs, inits, words):
    path = one_node_model(tmp_path, node, inputs, inits, output=node.output[0])
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no custom-op fallback and warning any more
        with pytest.raises(InputError) as info:
            load_onnx(path)
    assert_one_paragraph(info, "shape mismatch", *words)


def test_consistent_shapes_still_import(tmp_path):
    nodes = [
        helper.make_node("Reshape", ["x", "s"], ["r"]),  # 0 copies, -1 is inferred
        helper.make_node("MatMul", ["r", "w"], ["m"]),
        helper.make_node("Add", ["m", "b"], ["y"]),  # broadcast [2, 3, 5] + [5]
    ]
    inits = [
        numpy_helper.from_array(np.array([0, 3, -1], dtype=np.int64), "s"),
        weight("w", (4, 5)),
        weight("b", (5,)),
    ]
    path = save(
        tmp_path,
        nodes,
        [helper.make_tensor_value_info("x", FLOAT, [2, 12])],
        [helper.make_tensor_value_info("y", FLOAT, None)],
        inits,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        graph = load_onnx(path)
    assert kinds(graph) == ["reshape", "linear", "add"]
    assert graph.tensors["y"].shape == (2, 3, 5)


def test_a_mismatch_after_choosing_symbolic_sizes_says_which_were_chosen(tmp_path):
    nodes = [
        helper.make_node("Reshape", ["x", "s"], ["r"], name="fixed"),  # batch 1 baked in
        helper.make_node("Relu", ["r"], ["y"]),
    ]
    target = numpy_helper.from_array(np.array([1, 3, 4], dtype=np.int64), "s")
    path = save(
        tmp_path,
        nodes,
        [helper.make_tensor_value_info("x", FLOAT, ["N", 12])],
        [helper.make_tensor_value_info("y", FLOAT, None)],
        [target],
        name="bad.onnx",
    )
    assert load_onnx(path).tensors["y"].shape == (1, 3, 4)  # the batch the model assumes
    with pytest.raises(InputError) as info:
        load_onnx(path, batch=4)
    assert_one_paragraph(info, "'fixed' (Reshape)", "[4, 12]", "N=4", "batch=")


def test_a_node_without_a_required_input_is_an_input_error(tmp_path):
    node = helper.make_node("Conv", ["x"], ["y"], name="lonely")
    path = one_node_model(tmp_path, node, [("x", [1, 3, 8, 8])])
    with pytest.raises(InputError) as info:
        load_onnx(path)
    assert_one_paragraph(info, "'lonely' (Conv)", "requires input 2 (W)")


def test_an_unknown_op_type_with_odd_shapes_still_becomes_a_custom_op(tmp_path):
    node = helper.make_node("MatMul", ["a", "b"], ["y"], name="mm", domain="com.example")
    path = one_node_model(tmp_path, node, [("a", [4, 8]), ("b", [6, 2])])
    model = onnx.load(path)
    model.opset_import.append(helper.make_opsetid("com.example", 1))
    path.write_bytes(model.SerializeToString())
    with pytest.warns(OnnxImportWarning, match="MatMul"):
        graph = load_onnx(path)
    assert kinds(graph) == ["custom"]


def test_a_tensor_too_large_for_topsim_is_an_input_error_naming_it(tmp_path):
    node = helper.make_node("Relu", ["x"], ["y"], name="r")
    path = one_node_model(tmp_path, node, [("x", [2**40, 2**40])])
    with pytest.raises(InputError) as info:  # was a raw pydantic ValidationError
        load_onnx(path)
    assert_one_paragraph(info, "graph input 'x'", "2^50")
    assert "pydantic" not in str(info.value)


def test_a_huge_intermediate_tensor_is_an_input_error_too(tmp_path):
    node = helper.make_node("Expand", ["x", "s"], ["y"], name="grow")
    big = numpy_helper.from_array(np.array([2**30, 2**30], dtype=np.int64), "s")
    path = one_node_model(tmp_path, node, [("x", [1, 1])], [big])
    with pytest.raises(InputError) as info:
        load_onnx(path)
    assert_one_paragraph(info, "Expand output 'y'", "2^50")


def test_warnings_are_one_self_contained_line_each(tmp_path):
    nodes = [
        helper.make_node("Relu", ["x"], ["r"]),
        helper.make_node("Fancy", ["r"], ["y"], domain="com.example"),
    ]
    path = save(
        tmp_path,
        nodes,
        [helper.make_tensor_value_info("x", FLOAT, ["N", "seq\nlen", 8])],
        [helper.make_tensor_value_info("y", FLOAT, [1, 1, 8])],
        name="noisy.onnx",
    )
    model = onnx.load(path)
    model.opset_import.append(helper.make_opsetid("com.example", 1))
    path.write_bytes(model.SerializeToString())
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        load_onnx(path)
    messages = [str(w.message) for w in caught if issubclass(w.category, OnnxImportWarning)]
    assert issubclass(OnnxImportWarning, UserWarning)
    assert len(messages) == 2  # the unknown op types, and the defaulted dimension
    assert all(m.startswith(f"{path}: ") and "\n" not in m for m in messages), messages
    assert "Fancy (x1)" in messages[0] and "set to 1" in messages[1]
    result = import_onnx(path)  # for a CLI that prints them itself: the same lines
    assert result.messages() == messages
    assert dict(result.unknown_ops) == {"Fancy": 1}


@pytest.mark.parametrize(
    "content, problem",
    [
        (b"this is plain text, not a protobuf at all", "not an ONNX model"),
        (b"", "not an ONNX model"),
        (b"\x08\x07", "not an ONNX model"),
    ],
)
def test_non_onnx_files_are_input_errors(tmp_path, content, problem):
    path = tmp_path / "bad.onnx"
    path.write_bytes(content)
    with pytest.raises(InputError, match=problem) as info:
        load_onnx(path)
    assert "bad.onnx" in str(info.value) and "\n" not in str(info.value)


def test_truncated_file_is_an_input_error(tmp_path):
    graph = workloads.build("seed-conv", dtype="fp32")
    path = tmp_path / "seed.onnx"
    to_onnx(graph, path)
    data = path.read_bytes()
    for cut in (len(data) // 2, len(data) - 7, 40):
        truncated = tmp_path / f"cut{cut}.onnx"
        truncated.write_bytes(data[:cut])
        with pytest.raises(InputError, match=f"cut{cut}.onnx"):
            load_onnx(truncated)


def test_missing_file_is_an_input_error(tmp_path):
    with pytest.raises(InputError, match="no such ONNX file"):
        load_onnx(tmp_path / "absent.onnx")


def external_weight_model(tmp_path, location: str):
    w = TensorProto(name="w", data_type=FLOAT, dims=[4, 8])
    w.data_location = TensorProto.EXTERNAL
    for key, value in (("location", location), ("offset", "0"), ("length", "128")):
        entry = w.external_data.add()
        entry.key, entry.value = key, value
    nodes = [helper.make_node("MatMul", ["x", "w"], ["y"])]
    return save(
        tmp_path,
        nodes,
        [helper.make_tensor_value_info("x", FLOAT, [2, 4])],
        [helper.make_tensor_value_info("y", FLOAT, None)],
        [w],
        name="external.onnx",
    )


def test_external_data_is_never_read(tmp_path, monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("external data must not be loaded")

    monkeypatch.setattr(onnx.external_data_helper, "load_external_data_for_tensor", refuse)
    monkeypatch.setattr(onnx.external_data_helper, "load_external_data_for_model", refuse)
    graph = load_onnx(external_weight_model(tmp_path, "/etc/passwd"))
    assert kinds(graph) == ["linear"] and graph.macs == 2 * 4 * 8
    assert graph.tensors["w"].const and graph.tensors["w"].shape == (4, 8)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs named pipes")
def test_external_data_file_is_never_opened(tmp_path):
    # opening a FIFO for reading blocks until a writer comes: any open() would hang here
    fifo = tmp_path / "weights.bin"
    os.mkfifo(fifo)
    path = external_weight_model(tmp_path, str(fifo))
    outcome: dict = {}

    def load() -> None:
        try:
            outcome["graph"] = load_onnx(path)
        except Exception as exc:  # reported below
            outcome["error"] = exc

    worker = threading.Thread(target=load, daemon=True)
    worker.start()
    worker.join(timeout=20)
    if worker.is_alive():  # unblock the reader so the thread can finish
        with open(fifo, "wb") as writer:
            writer.write(b"\0" * 128)
        pytest.fail("load_onnx opened the external data file")
    assert "error" not in outcome, outcome.get("error")
    assert outcome["graph"].macs == 64


@pytest.mark.parametrize("name", ["resnet50", "mobilenet-v2", "shufflenet-v2"])
def test_builder_round_trip_keeps_the_macs(tmp_path, name):
    graph = workloads.build(name, batch=1, dtype="fp32")
    path = tmp_path / f"{name}.onnx"
    to_onnx(graph, path)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        loaded = workloads.load(path)
    assert abs(loaded.macs - graph.macs) <= 0.01 * graph.macs
    assert loaded.params == graph.params
    assert not [op for op in loaded.ops if op.kind == "custom"]


@pytest.mark.parametrize("name", ["bert-base", "gpt2"])
def test_transformer_round_trip(tmp_path, name):
    from workloads.zoo.transformer import CONFIGS, transformer

    graph = transformer(CONFIGS[name], batch=2, seq=16, dtype="fp32", layers=1)
    path = tmp_path / f"{name}.onnx"
    to_onnx(graph, path)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        loaded = load_onnx(path)
    # the export computes the whole causal score matrix: a few % more attention MACs
    assert abs(loaded.macs - graph.macs) <= 0.01 * graph.macs
    found = {op.kind for op in loaded.ops}
    assert {"embedding", "linear", "layernorm", "gelu", "softmax", "matmul"} <= found
    assert "custom" not in found


def test_export_runs_in_onnxruntime(tmp_path):
    ort = pytest.importorskip("onnxruntime")
    graph = workloads.build("shufflenet-v2", batch=2, resolution=64, dtype="fp32")
    path = tmp_path / "shufflenet.onnx"
    to_onnx(graph, path, seed=3)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    image = np.random.default_rng(0).standard_normal((2, 3, 64, 64), dtype=np.float32)
    (logits,) = session.run(None, {"image": image})
    assert logits.shape == (2, 1000) and np.isfinite(logits).all()
    again = tmp_path / "again.onnx"
    to_onnx(graph, again, seed=3)
    assert again.read_bytes() == path.read_bytes()  # seeded: the same weights every time


def test_custom_ops_cannot_be_exported(tmp_path):
    from workloads.builder import GraphBuilder

    b = GraphBuilder("c", "fp32")
    x = b.input("x", (1, 4))
    b.op("custom", [x], out_shapes=[[1, 4]], flops=4)
    with pytest.raises(InputError, match="custom"):
        to_onnx(b.build(), tmp_path / "c.onnx")


TORCHVISION = {
    "resnet50": "resnet50",
    "mobilenet-v2": "mobilenet_v2",
    "shufflenet-v2": "shufflenet_v2_x1_0",
}


@pytest.mark.parametrize("name", sorted(TORCHVISION))
def test_torchvision_exports_match_the_builders(tmp_path, name):
    torch = pytest.importorskip("torch")
    torchvision = pytest.importorskip("torchvision")
    model = getattr(torchvision.models, TORCHVISION[name])(weights=None).eval()
    path = tmp_path / f"{name}.onnx"
    image = torch.randn(1, 3, 224, 224)
    try:
        torch.onnx.export(model, (image,), str(path), opset_version=17, dynamo=False)
    except TypeError:  # older torch: no `dynamo` argument
        torch.onnx.export(model, (image,), str(path), opset_version=17)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        loaded = load_onnx(path)
    expected = workloads.build(name, batch=1, dtype="fp32").macs
    assert abs(loaded.macs - expected) <= 0.01 * expected
