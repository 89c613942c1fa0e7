"""Write the binary bad inputs of tests/corpus/bad/ (ONNX and UTF-16), each with NAME.expect.

Binary files cannot start with a `# expect: WORD` line, so their expected word lives in a
sidecar file. The files are committed; run this (needs `onnx`) only to change them:

    python tests/corpus/make_onnx_cases.py
"""

from __future__ import annotations

from pathlib import Path

import onnx
from onnx import TensorProto, helper

BAD = Path(__file__).resolve().parent / "bad"


def model(nodes, inputs, outputs, inits=()) -> onnx.ModelProto:
    graph = helper.make_graph(nodes, "m", inputs, outputs, initializer=list(inits))
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def value(name: str, shape, elem=TensorProto.FLOAT) -> onnx.ValueInfoProto:
    return helper.make_tensor_value_info(name, elem, shape)


def relu(x: str, y: str, name: str = "r") -> onnx.NodeProto:
    return helper.make_node("Relu", [x], [y], name=name)


def cases() -> dict[str, tuple[bytes, str]]:
    """file name -> (bytes, the word the error message must contain)."""
    good = model([relu("x", "y"), relu("y", "z", "r2")], [value("x", [1, 64, 32, 32])], [])
    whole = good.SerializeToString()
    ir0 = model([relu("x", "y")], [value("x", [4])], [value("y", [4])])
    ir0.ir_version = 0
    empty_model = helper.make_model(helper.make_graph([], "empty", [], []))
    constant = helper.make_node(
        "Constant",
        [],
        ["c"],
        name="c",
        value=helper.make_tensor("v", TensorProto.FLOAT, [2], [1.0, 2.0]),
    )
    weight3d = helper.make_tensor("w", TensorProto.FLOAT, [8, 3, 3], [0.0] * 72)
    shape = helper.make_tensor("s", TensorProto.INT64, [2], [5, 5])
    made = {
        "onnx-truncated.onnx": (whole[: len(whole) // 2], "not an ONNX model"),
        "onnx-empty.onnx": (b"", "it is empty"),
        "onnx-png-image.onnx": (
            bytes.fromhex("89504e470d0a1a0a0000000d49484452") + bytes(64),
            "not an ONNX model",
        ),
        "onnx-no-graph.onnx": (empty_model.SerializeToString(), "no graph with nodes"),
        "onnx-ir-version-zero.onnx": (ir0.SerializeToString(), "not an ONNX model"),
        "onnx-dangling-input.onnx": (
            model(
                [helper.make_node("Add", ["x", "ghost"], ["y"], name="add")],
                [value("x", [4, 4])],
                [value("y", [4, 4])],
            ).SerializeToString(),
            "'ghost'",
        ),
        "onnx-cycle.onnx": (
            model(
                [relu("b", "a", "n1"), relu("a", "b", "n2")], [value("x", [4])], [value("b", [4])]
            ).SerializeToString(),
            "cycle",
        ),
        "onnx-input-no-shape.onnx": (
            model([relu("x", "y")], [value("x", None)], [value("y", None)]).SerializeToString(),
            "no known shape",
        ),
        "onnx-only-constants.onnx": (
            model([constant], [], [value("c", [2])]).SerializeToString(),
            "computes nothing",
        ),
        "onnx-duplicate-output.onnx": (
            model(
                [relu("x", "y", "r1"), relu("x", "y", "r2")], [value("x", [4])], []
            ).SerializeToString(),
            "already produced",
        ),
        # known bugs in workloads/onnx.py (see KNOWN_BUGS in tests/cli/test_corpus.py)
        "onnx-conv-bad-weight.onnx": (
            model(
                [helper.make_node("Conv", ["x", "w"], ["y"], name="conv")],
                [value("x", [1, 3, 8, 8])],
                [value("y", None)],
                inits=[weight3d],
            ).SerializeToString(),
            "conv",
        ),
        "onnx-huge-input.onnx": (
            model([relu("x", "y")], [value("x", [2**40, 2**40])], []).SerializeToString(),
            "2^50",
        ),
        "onnx-matmul-mismatch.onnx": (
            model(
                [helper.make_node("MatMul", ["a", "b"], ["c"], name="mm")],
                [value("a", [4, 8]), value("b", [6, 2])],
                [value("c", None)],
            ).SerializeToString(),
            "mm",
        ),
        "onnx-bad-reshape.onnx": (
            model(
                [helper.make_node("Reshape", ["x", "s"], ["y"], name="rs")],
                [value("x", [4, 4])],
                [value("y", None)],
                inits=[shape],
            ).SerializeToString(),
            "rs",
        ),
        "utf16-chip.yaml": ("name: small\nclock: {nominal: 2 GHz}\n".encode("utf-16"), "UTF-8"),
    }
    return made


def main() -> None:
    for name, (data, word) in cases().items():
        (BAD / name).write_bytes(data)
        (BAD / f"{name}.expect").write_text(f"# expect: {word}\n", encoding="utf-8")


if __name__ == "__main__":
    main()
