"""ONNX import reads a model's graph, never its large weights (workloads/onnx/lean.py)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

onnx = pytest.importorskip("onnx")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

from workloads.onnx import load_onnx  # noqa: E402
from workloads.onnx.lean import WireError, lean_bytes, lean_model_bytes  # noqa: E402
from workloads.onnx.read import FOLD_LIMIT, drop_large_values  # noqa: E402

BIG = 1024  # a 1024 x 1024 fp32 weight: 4 MiB, 16x FOLD_LIMIT elements


def mlp_model(width: int = BIG):
    """x[1, 8, width] -> MatMul(big weight) -> Reshape(to a small constant shape)."""
    rng = np.random.default_rng(0)
    weight = numpy_helper.from_array(rng.standard_normal((width, width), dtype=np.float32), "w")
    shape = numpy_helper.from_array(np.array([8, width], dtype=np.int64), "shape")
    nodes = [
        helper.make_node("MatMul", ["x", "w"], ["h"]),
        helper.make_node("Reshape", ["h", "shape"], ["y"]),
    ]
    graph = helper.make_graph(
        nodes,
        "mlp",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 8, width])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [8, width])],
        [weight, shape],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    return model


def test_a_big_initializer_is_not_read(tmp_path):
    path = tmp_path / "mlp.onnx"
    onnx.save(mlp_model(), path)
    assert path.stat().st_size > 4 * 2**20
    lean = lean_model_bytes(path, FOLD_LIMIT)
    assert len(lean) < 4096  # the graph, not the weight's 4 MiB
    model = onnx.load_model_from_string(lean)
    weight, shape = model.graph.initializer
    assert list(weight.dims) == [BIG, BIG] and weight.data_type == TensorProto.FLOAT
    assert not weight.raw_data and not weight.float_data
    # the small constant a Reshape needs keeps its value
    assert numpy_helper.to_array(shape).tolist() == [8, BIG]


def test_the_import_is_the_same_with_the_weights_left_out(tmp_path):
    full, bare = tmp_path / "full.onnx", tmp_path / "bare.onnx"
    onnx.save(mlp_model(), full)
    stripped = mlp_model()
    stripped.graph.initializer[0].ClearField("raw_data")  # no data at all for the weight
    onnx.save(stripped, bare)
    a, b = load_onnx(full), load_onnx(bare)
    assert [(op.kind, op.macs, op.stats.out_shapes) for op in a.ops] == [
        (op.kind, op.macs, op.stats.out_shapes) for op in b.ops
    ]
    assert a.macs == 8 * BIG * BIG


@settings(max_examples=30, deadline=None)
@given(
    width=st.integers(1, 300),
    names=st.lists(st.text("abcxyz", min_size=1, max_size=5), min_size=1, max_size=4, unique=True),
)
def test_lean_bytes_parse_as_the_model_with_large_data_dropped(width, names):
    rng = np.random.default_rng(width)
    inits = [
        numpy_helper.from_array(rng.standard_normal((width, i + 1), dtype=np.float32), n)
        for i, n in enumerate(names)
    ]
    graph = helper.make_graph(
        [helper.make_node("Identity", [names[0]], ["y"])],
        "g",
        [],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
        inits,
    )
    model = helper.make_model(graph)
    limit = 256
    lean = onnx.load_model_from_string(lean_bytes(memoryview(model.SerializeToString()), limit))
    expected = onnx.ModelProto()
    expected.CopyFrom(model)
    for tensor in expected.graph.initializer:
        if np.prod(tensor.dims) > limit:
            tensor.ClearField("raw_data")
    assert lean == expected
    drop_large_values(model, onnx)  # the in-memory rule agrees with the file rule
    model_limit = FOLD_LIMIT  # (drop_large_values uses FOLD_LIMIT; compare on that limit)
    lean_default = lean_bytes(memoryview(model.SerializeToString()), model_limit)
    assert onnx.load_model_from_string(lean_default) == model


def test_bytes_that_are_not_protobuf_are_refused():
    with pytest.raises(WireError):
        lean_bytes(memoryview(b"\xff\xff\xff"), FOLD_LIMIT)
