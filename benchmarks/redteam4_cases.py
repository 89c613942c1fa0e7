"""Round four's cases (see redteam4.py): each a command line and the files it needs, made in
a fresh folder when it runs. `protect` names files that must stay byte for byte as they were.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from redteam3_cases import Case

SYSTEM_BASE = {
    "name": "rt-sys",
    "hypothetical": True,
    "chip": "toy",
    "chips": 4,
    "interconnect": {"topology": "ring", "bandwidth": "1 GB/s", "latency": "1 us"},
    "host": {"description": "hypothetical host"},
}


# --- protobuf wire bytes, by hand ----------------------------------------------------------


def varint(value: int, width: int = 0) -> bytes:
    """A varint of `value`, padded with continuation bytes to `width` bytes when asked."""
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value or len(out) + 1 < width:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def key(number: int, wire: int, width: int = 0) -> bytes:
    return varint(number << 3 | wire, width)


def ld(number: int, payload: bytes, length: int | None = None) -> bytes:
    """A length-delimited field; `length` lies about the payload's size when given."""
    return key(number, 2) + varint(len(payload) if length is None else length) + payload


def _model(weight_cols: int = 300):
    """x[1,256] @ W[256,cols] (W over the walker's 65,536-element limit) -> y."""
    import numpy as np
    from onnx import TensorProto, helper, numpy_helper

    w = numpy_helper.from_array(np.ones((256, weight_cols), np.float32), "W")
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "W"], ["y"])],
        "m",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 256])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, weight_cols])],
        initializer=[w],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    return model


def _parts(weight_cols: int = 300) -> tuple[bytes, bytes, bytes]:
    """(model without graph, graph without initializers, the initializer's TensorProto)."""
    model = _model(weight_cols)
    tensor = model.graph.initializer[0].SerializeToString()
    graph = model.graph.__class__()
    graph.CopyFrom(model.graph)
    del graph.initializer[:]
    head = model.__class__()
    head.CopyFrom(model)
    head.ClearField("graph")
    return head.SerializeToString(), graph.SerializeToString(), tensor


def wire_file(mutate) -> bytes:
    head, graph, tensor = _parts()
    return mutate(head, graph, tensor)


def _valid(h, g, t):
    return h + ld(7, g + ld(5, t))


def onnx_cases() -> list[Case]:
    cases: list[Case] = []

    def add(name, content, *extra, command=("run",)):
        args = [*command, "m.onnx", *(["--chip", "toy", "-q"] if command == ("run",) else [])]
        cases.append(Case(f"onnx-{name}", "onnx", [*args, *extra], {"m.onnx": content}, ["m.onnx"]))

    def wire(name, mutate):
        add(f"wire-{name}", lambda p: p.write_bytes(wire_file(mutate)))

    wire("valid", _valid)
    for share in (0.1, 0.5, 0.9, 0.999):
        wire(
            f"truncated-{share}",
            lambda h, g, t, s=share: _valid(h, g, t)[: int(len(_valid(h, g, t)) * s)],
        )
    wire("truncated-minus-1", lambda h, g, t: _valid(h, g, t)[:-1])
    wire("graph-wire-group", lambda h, g, t: h + key(7, 3) + varint(len(g)) + g)
    wire("graph-wire-end-group", lambda h, g, t: h + key(7, 4) + g)
    wire("graph-wire-fixed64", lambda h, g, t: h + key(7, 1) + g[:8])
    wire("graph-wire-6", lambda h, g, t: h + key(7, 6) + g)
    wire("graph-wire-7", lambda h, g, t: h + key(7, 7) + g)
    wire("init-wire-varint", lambda h, g, t: h + ld(7, g + key(5, 0) + varint(5)))
    wire("init-wire-fixed32", lambda h, g, t: h + ld(7, g + key(5, 5) + b"abcd"))
    wire("varint-11-bytes-key", lambda h, g, t: key(1, 0, 11) + varint(8) + _valid(h, g, t))
    wire("varint-11-bytes-value", lambda h, g, t: key(1, 0) + varint(8, 11) + _valid(h, g, t))
    wire("varint-10-bytes-max", lambda h, g, t: key(1, 0) + b"\xff" * 9 + b"\x01" + _valid(h, g, t))
    wire("varint-20-bytes-length", lambda h, g, t: h + key(7, 2) + varint(len(g), 20) + g)
    wire("varint-all-continuation", lambda h, g, t: h + key(7, 2) + b"\xff" * 64)
    wire("length-past-end", lambda h, g, t: h + ld(7, g, len(g) + 1000))
    wire("length-2GB", lambda h, g, t: h + ld(7, g, 2**31))
    wire("length-2-64", lambda h, g, t: h + ld(7, g, 2**64 - 1))
    wire("nested-init-lies-long", lambda h, g, t: h + ld(7, g + ld(5, t, len(t) + 50) + b"\0" * 10))
    wire("nested-init-lies-short", lambda h, g, t: h + ld(7, g + ld(5, t, 3) + t[3:]))
    wire("nested-dims-lie", lambda h, g, t: h + ld(7, g + ld(5, ld(1, varint(256), 99) + t)))
    wire("zero-length-graph", lambda h, g, t: h + ld(7, b""))
    wire("zero-length-init", lambda h, g, t: h + ld(7, g + ld(5, b"")))
    wire("zero-length-everything", lambda h, g, t: ld(7, b"") + ld(8, b"") + ld(2, b""))
    wire("field-number-0", lambda h, g, t: key(0, 0) + varint(1) + _valid(h, g, t))
    wire("field-number-max", lambda h, g, t: key(2**29 - 1, 0) + varint(1) + _valid(h, g, t))
    wire("field-number-beyond", lambda h, g, t: key(2**40, 0) + varint(1) + _valid(h, g, t))
    wire("two-graphs", lambda h, g, t: _valid(h, g, t) + ld(7, g + ld(5, t)))
    wire("packed-dims-huge", lambda h, g, t: h + ld(7, g + ld(5, ld(1, varint(2**62) * 2000) + t)))
    wire(
        "packed-dims-100k", lambda h, g, t: h + ld(7, g + ld(5, ld(1, varint(2**40) * 100_000) + t))
    )
    wire("dims-negative", lambda h, g, t: h + ld(7, g + ld(5, key(1, 0) + varint(2**64 - 5) + t)))
    wire("dims-packed-truncated", lambda h, g, t: h + ld(7, g + ld(5, ld(1, b"\xff\xff") + t)))
    wire(
        "dims-as-fixed32", lambda h, g, t: h + ld(7, g + ld(5, key(1, 5) + b"\xff\xff\xff\x7f" + t))
    )
    wire("init-data-then-dims", lambda h, g, t: h + ld(7, g + ld(5, t + key(1, 0) + varint(10**6))))
    wire("many-initializers", lambda h, g, t: h + ld(7, g + ld(5, t) * 40))
    wire("only-initializers", lambda h, g, t: h + ld(7, ld(5, t)))
    wire("bytes-after-model", lambda h, g, t: _valid(h, g, t) + b"\x00" * 100)
    wire("garbage-after-model", lambda h, g, t: _valid(h, g, t) + os.urandom(300))

    add("random-bytes", lambda p: p.write_bytes(os.urandom(4096)))
    add("random-bytes-1", lambda p: p.write_bytes(b"\x08"))
    add("empty", b"")
    add("png", b"\x89PNG\r\n\x1a\n" + b"\0" * 200)
    add("zip", b"PK\x03\x04" + b"\0" * 200)
    add("yaml-graph", "ops: []\n")
    add("text", "this is not an onnx file\n" * 100)
    add("json", json.dumps({"graph": {"node": []}}))
    add("utf16", "hello".encode("utf-16"))
    add("directory", lambda p: p.mkdir())
    add("fifo", lambda p: os.mkfifo(p))
    add("symlink-loop", lambda p: os.symlink(p.name, p))
    add("symlink-dev-zero", lambda p: os.symlink("/dev/zero", p))
    add("symlink-dangling", lambda p: os.symlink("nowhere.onnx", p))
    add("no-read-permission", lambda p: (p.write_bytes(_model().SerializeToString()), p.chmod(0)))
    add("constant-300MB", lambda p: p.write_bytes(_weights_elsewhere("constant")))
    add("if-branch-300MB", lambda p: p.write_bytes(_weights_elsewhere("if")))
    add("sparse-2GB", lambda p: _sparse(p, 2**31 + 10))
    add("sparse-1.9GB", lambda p: _sparse(p, 2**31 - 2**26))
    # the same files through the other commands that read ONNX
    for name, content in (("fifo", lambda p: os.mkfifo(p)), ("garbage", os.urandom(512))):
        add(f"info-{name}", content, command=("info",))
        add(f"export-{name}", content, "--chip", "toy", command=("explain",))
    cases += quant_cases()
    return cases


def _weights_elsewhere(where: str) -> bytes:
    """A 300 MB weight held by a Constant node or as an initializer of an If branch (the
    places a walk of the top-level initializers alone would miss)."""
    import numpy as np
    from onnx import TensorProto, helper, numpy_helper

    weight = numpy_helper.from_array(np.ones((256, 300_000), np.float32), "W")
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 256])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, None)
    if where == "constant":
        nodes = [
            helper.make_node("Constant", [], ["W"], value=weight),
            helper.make_node("MatMul", ["x", "W"], ["y"]),
        ]
        graph = helper.make_graph(nodes, "m", [x], [y])
    else:
        then = helper.make_graph(
            [helper.make_node("MatMul", ["x", "W"], ["t"])],
            "then",
            [],
            [helper.make_tensor_value_info("t", TensorProto.FLOAT, None)],
            initializer=[weight],
        )
        other = helper.make_graph(
            [helper.make_node("Identity", ["x"], ["e"])],
            "else",
            [],
            [helper.make_tensor_value_info("e", TensorProto.FLOAT, None)],
        )
        c = helper.make_tensor_value_info("c", TensorProto.BOOL, [])
        node = helper.make_node("If", ["c"], ["y"], then_branch=then, else_branch=other)
        graph = helper.make_graph([node], "m", [x, c], [y])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    return model.SerializeToString()


def _sparse(path: Path, size: int) -> None:
    with open(path, "wb") as handle:
        handle.write(_model().SerializeToString())
        handle.truncate(size)


# --- QDQ / QLinear ------------------------------------------------------------------------


def _qdq(nodes, inits, inputs=None, outputs=("y",), opset=21, extra_domains=()):
    from onnx import TensorProto, helper

    graph = helper.make_graph(
        nodes,
        "q",
        inputs or [helper.make_tensor_value_info("x", TensorProto.FLOAT, [4, 16])],
        [helper.make_tensor_value_info(o, TensorProto.UNDEFINED, None) for o in outputs],
        initializer=inits,
    )
    ops = [helper.make_opsetid("", opset), *(helper.make_opsetid(d, 1) for d in extra_domains)]
    model = helper.make_model(graph, opset_imports=ops)
    model.ir_version = 10
    return model


def quant_cases() -> list[Case]:
    import numpy as np
    from onnx import TensorProto, helper, numpy_helper

    n = helper.make_node
    cases: list[Case] = []

    def t(name, array):
        return numpy_helper.from_array(np.asarray(array), name)

    def scalar(name, value, elem=TensorProto.FLOAT):
        return helper.make_tensor(name, elem, [], [value])

    def add(name, build):
        def write(path, build=build):
            path.write_bytes(build().SerializeToString())

        cases.append(
            Case(
                f"qdq-{name}",
                "qdq",
                ["run", "m.onnx", "--chip", "toy", "-q"],
                {"m.onnx": write},
                ["m.onnx"],
            )
        )

    w8 = t("w", np.ones((16, 8), np.int8))

    def matmul(
        scale_x=0.1, zp_x=0, scale_w=0.1, zp_w=None, axis_w=None, w=w8, zp_elem=TensorProto.INT8
    ):
        zx = TensorProto(name="zx", data_type=zp_elem)  # int32_data: any value, unchecked
        if zp_elem == TensorProto.FLOAT:
            zx.float_data.append(zp_x)
        else:
            zx.int32_data.append(zp_x)
        inits = [w, scalar("sx", scale_x), zx]
        inits.append(scale_w if not isinstance(scale_w, float) else scalar("sw", scale_w))
        dq_w_inputs = ["w", "sw"] + (["zw"] if zp_w is not None else [])
        if zp_w is not None:
            inits.append(zp_w)
        kw = {} if axis_w is None else {"axis": axis_w}
        return _qdq(
            [
                n("QuantizeLinear", ["x", "sx", "zx"], ["xq"]),
                n("DequantizeLinear", ["xq", "sx", "zx"], ["xd"]),
                n("DequantizeLinear", dq_w_inputs, ["wd"], **kw),
                n("MatMul", ["xd", "wd"], ["y"]),
            ],
            inits,
        )

    add("valid", matmul)
    for value in (0.0, -1.0, float("nan"), float("inf"), 1e-45, 3.4e38):
        add(f"scale-{value}", lambda v=value: matmul(scale_x=v))
    add("zp-300", lambda: matmul(zp_x=300))
    add("zp-uint16", lambda: matmul(zp_x=7, zp_elem=TensorProto.UINT16))
    add("zp-int16", lambda: matmul(zp_x=7, zp_elem=TensorProto.INT16))
    add("zp-int4", lambda: matmul(zp_x=3, zp_elem=TensorProto.INT4))
    add("zp-uint4", lambda: matmul(zp_x=3, zp_elem=TensorProto.UINT4))
    add("zp-float", lambda: matmul(zp_x=1, zp_elem=TensorProto.FLOAT))
    add("zp-int32", lambda: matmul(zp_x=1, zp_elem=TensorProto.INT32))
    per_channel = t("sw", np.full(8, 0.1, np.float32))
    add("per-channel-ok", lambda: matmul(scale_w=per_channel, axis_w=1))
    for axis in (2, -3, 5, 2**40):
        add(f"per-channel-axis-{axis}", lambda a=axis: matmul(scale_w=per_channel, axis_w=a))
    add(
        "per-channel-wrong-length",
        lambda: matmul(scale_w=t("sw", np.full(5, 0.1, np.float32)), axis_w=1),
    )
    add("scale-rank-2", lambda: matmul(scale_w=t("sw", np.full((2, 4), 0.1, np.float32))))
    add("scale-empty", lambda: matmul(scale_w=t("sw", np.zeros(0, np.float32))))
    add("zp-shape-mismatch", lambda: matmul(zp_w=t("zw", np.zeros(3, np.int8))))
    add("w-int4", lambda: matmul(w=helper.make_tensor("w", TensorProto.INT4, [16, 8], [1] * 128)))
    add("w-uint16", lambda: matmul(w=t("w", np.ones((16, 8), np.uint16))))
    add("w-int32", lambda: matmul(w=t("w", np.ones((16, 8), np.int32))))
    add("w-float", lambda: matmul(w=t("w", np.ones((16, 8), np.float32))))
    add("w-rank-0", lambda: matmul(w=t("w", np.int8(3))))
    add("w-rank-1", lambda: matmul(w=t("w", np.ones(16, np.int8))))
    add("w-big", lambda: matmul(w=t("w", np.ones((16, 70000), np.int8))))
    inits = [scalar("s", 0.1), helper.make_tensor("z", TensorProto.INT8, [], [0])]
    add("q-only", lambda: _qdq([n("QuantizeLinear", ["x", "s", "z"], ["y"])], inits))
    add("q-no-zp", lambda: _qdq([n("QuantizeLinear", ["x", "s"], ["y"])], inits))
    add("q-one-input", lambda: _qdq([n("QuantizeLinear", ["x"], ["y"])], inits))
    add("q-no-inputs", lambda: _qdq([n("QuantizeLinear", [], ["y"])], inits))
    add("dq-no-inputs", lambda: _qdq([n("DequantizeLinear", [], ["y"])], inits))
    add("dq-empty-input", lambda: _qdq([n("DequantizeLinear", ["", "s"], ["y"])], inits))
    add(
        "dq-no-outputs",
        lambda: _qdq([n("DequantizeLinear", ["x", "s"], []), n("Relu", ["x"], ["y"])], inits),
    )
    add(
        "q-no-outputs",
        lambda: _qdq([n("QuantizeLinear", ["x", "s", "z"], []), n("Relu", ["x"], ["y"])], inits),
    )
    add("dq-of-float", lambda: _qdq([n("DequantizeLinear", ["x", "s"], ["y"])], inits))
    add(
        "dq-chain",
        lambda: _qdq(
            [
                n("QuantizeLinear", ["x", "s", "z"], ["a"]),
                n("DequantizeLinear", ["a", "s", "z"], ["b"]),
                n("DequantizeLinear", ["b", "s"], ["c"]),
                n("DequantizeLinear", ["c", "s"], ["y"]),
            ],
            inits,
        ),
    )
    add(
        "q-chain",
        lambda: _qdq(
            [
                n("QuantizeLinear", ["x", "s", "z"], ["a"]),
                n("QuantizeLinear", ["a", "s", "z"], ["y"]),
            ],
            inits,
        ),
    )
    add(
        "dq-twice-same-output",
        lambda: _qdq(
            [
                n("QuantizeLinear", ["x", "s", "z"], ["a"]),
                n("DequantizeLinear", ["a", "s", "z"], ["y"]),
                n("DequantizeLinear", ["a", "s", "z"], ["y"]),
            ],
            inits,
        ),
    )
    add(
        "q-reads-itself",
        lambda: _qdq([n("QuantizeLinear", ["y", "s", "z"], ["y"])], inits),
    )
    add(
        "move-no-inputs",
        lambda: _qdq(
            [
                n("QuantizeLinear", ["x", "s", "z"], ["a"]),
                n("DequantizeLinear", ["a", "s", "z"], ["b"]),
                n("Transpose", [], ["c"]),
                n("QuantizeLinear", ["c", "s", "z"], ["y"]),
            ],
            inits,
        ),
    )
    add(
        "move-no-outputs",
        lambda: _qdq(
            [
                n("QuantizeLinear", ["x", "s", "z"], ["a"]),
                n("DequantizeLinear", ["a", "s", "z"], ["b"]),
                n("Transpose", ["b"], []),
                n("Relu", ["b"], ["y"]),
            ],
            inits,
        ),
    )
    add(
        "q-of-move-empty-input",
        lambda: _qdq(
            [
                n("QuantizeLinear", ["x", "s", "z"], ["a"]),
                n("DequantizeLinear", ["a", "s", "z"], ["b"]),
                n("Reshape", ["b", "shape"], ["c"]),
                n("QuantizeLinear", [], ["y"]),
            ],
            [*inits, t("shape", np.array([64], np.int64))],
        ),
    )
    add(
        "matmul-one-input-dq",
        lambda: _qdq(
            [
                n("QuantizeLinear", ["x", "s", "z"], ["a"]),
                n("DequantizeLinear", ["a", "s", "z"], ["b"]),
                n("MatMul", ["b"], ["y"]),
            ],
            inits,
        ),
    )
    add(
        "matmul-no-outputs",
        lambda: _qdq(
            [
                n("QuantizeLinear", ["x", "s", "z"], ["a"]),
                n("DequantizeLinear", ["a", "s", "z"], ["b"]),
                n("MatMul", ["b", "b"], []),
                n("Relu", ["x"], ["y"]),
            ],
            inits,
        ),
    )
    add(
        "dq-ms-domain",
        lambda: _qdq(
            [
                n("QuantizeLinear", ["x", "s", "z"], ["a"], domain="com.microsoft"),
                n("DequantizeLinear", ["a", "s", "z"], ["y"], domain="com.microsoft"),
            ],
            inits,
            extra_domains=("com.microsoft",),
        ),
    )
    add("dq-block-size", lambda: matmul(scale_w=t("sw", np.full((4, 8), 0.1, np.float32))))
    qlin = [scalar("s", 0.1), helper.make_tensor("z", TensorProto.INT8, [], [0]), w8]
    for arity in (0, 1, 3, 7, 9):
        names = ["x", "s", "z", "w", "s", "z", "s", "z", "extra"][:arity]
        add(
            f"qlinearmatmul-{arity}-inputs",
            lambda names=names: _qdq([n("QLinearMatMul", names, ["y"])], qlin),
        )
    add("matmulinteger-1-input", lambda: _qdq([n("MatMulInteger", ["x"], ["y"])], qlin))
    add("matmulinteger-float", lambda: _qdq([n("MatMulInteger", ["x", "x"], ["y"])], qlin))
    x4 = [helper.make_tensor_value_info("x", TensorProto.INT8, [1, 3, 8, 8])]
    add("qlinearconv-2-inputs", lambda: _qdq([n("QLinearConv", ["x", "s"], ["y"])], qlin, x4))
    add(
        "qlinearconv-rank2-w",
        lambda: _qdq([n("QLinearConv", ["x", "s", "z", "w", "s", "z", "s", "z"], ["y"])], qlin, x4),
    )
    add("convinteger-1-input", lambda: _qdq([n("ConvInteger", ["x"], ["y"])], qlin, x4))
    add(
        "dynamicquant-no-outputs",
        lambda: _qdq([n("DynamicQuantizeLinear", ["x"], []), n("Relu", ["x"], ["y"])], qlin),
    )
    add(
        "dynamicquant-no-inputs",
        lambda: _qdq([n("DynamicQuantizeLinear", [], ["y", "a", "b"])], qlin),
    )
    return cases
