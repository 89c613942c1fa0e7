"""Round four's cases (see redteam4.py): each a command line and the files it needs, made in
a fresh folder when it runs. `protect` names files that must stay byte for byte as they were.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from redteam3_cases import Case, dump

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
        wire(f"truncated-{share}", lambda h, g, t, s=share: _valid(h, g, t)[: int(len(_valid(h, g, t)) * s)])
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
    wire("packed-dims-100k", lambda h, g, t: h + ld(7, g + ld(5, ld(1, varint(2**40) * 100_000) + t)))
    wire("dims-negative", lambda h, g, t: h + ld(7, g + ld(5, key(1, 0) + varint(2**64 - 5) + t)))
    wire("dims-packed-truncated", lambda h, g, t: h + ld(7, g + ld(5, ld(1, b"\xff\xff") + t)))
    wire("dims-as-fixed32", lambda h, g, t: h + ld(7, g + ld(5, key(1, 5) + b"\xff\xff\xff\x7f" + t)))
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
    add("sparse-2GB", lambda p: _sparse(p, 2**31 + 10))
    add("sparse-1.9GB", lambda p: _sparse(p, 2**31 - 2**26))
    # the same files through the other commands that read ONNX
    for name, content in (("fifo", lambda p: os.mkfifo(p)), ("garbage", os.urandom(512))):
        add(f"info-{name}", content, command=("info",))
        add(f"export-{name}", content, "--chip", "toy", command=("explain",))
    cases += quant_cases()
    return cases


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
            Case(f"qdq-{name}", "qdq", ["run", "m.onnx", "--chip", "toy", "-q"], {"m.onnx": write}, ["m.onnx"])
        )

    w8 = t("w", np.ones((16, 8), np.int8))

    def matmul(scale_x=0.1, zp_x=0, scale_w=0.1, zp_w=None, axis_w=None, w=w8, zp_elem=TensorProto.INT8):
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
    add("per-channel-wrong-length", lambda: matmul(scale_w=t("sw", np.full(5, 0.1, np.float32)), axis_w=1))
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
    add("dq-no-outputs", lambda: _qdq([n("DequantizeLinear", ["x", "s"], []), n("Relu", ["x"], ["y"])], inits))
    add("q-no-outputs", lambda: _qdq([n("QuantizeLinear", ["x", "s", "z"], []), n("Relu", ["x"], ["y"])], inits))
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
            [n("QuantizeLinear", ["x", "s", "z"], ["a"]), n("QuantizeLinear", ["a", "s", "z"], ["y"])],
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
        add(f"qlinearmatmul-{arity}-inputs", lambda names=names: _qdq([n("QLinearMatMul", names, ["y"])], qlin))
    add("matmulinteger-1-input", lambda: _qdq([n("MatMulInteger", ["x"], ["y"])], qlin))
    add("matmulinteger-float", lambda: _qdq([n("MatMulInteger", ["x", "x"], ["y"])], qlin))
    x4 = [helper.make_tensor_value_info("x", TensorProto.INT8, [1, 3, 8, 8])]
    add("qlinearconv-2-inputs", lambda: _qdq([n("QLinearConv", ["x", "s"], ["y"])], qlin, x4))
    add("qlinearconv-rank2-w", lambda: _qdq([n("QLinearConv", ["x", "s", "z", "w", "s", "z", "s", "z"], ["y"])], qlin, x4))
    add("convinteger-1-input", lambda: _qdq([n("ConvInteger", ["x"], ["y"])], qlin, x4))
    add("dynamicquant-no-outputs", lambda: _qdq([n("DynamicQuantizeLinear", ["x"], []), n("Relu", ["x"], ["y"])], qlin))
    add("dynamicquant-no-inputs", lambda: _qdq([n("DynamicQuantizeLinear", [], ["y", "a", "b"])], qlin))
    return cases


# --- command lines --------------------------------------------------------------------------


def cli_cases() -> list[Case]:
    cases: list[Case] = []

    def add(category, name, args, files=None, protect=()):
        files = files or {}
        cases.append(Case(f"{category}-{name}", category, args, files, list(protect or files)))

    serve = ["serve", "llama-2-7b", "--duration", "2s"]
    on_sys = [*serve, "--system", "toy-4", "--rate", "1"]
    for tp in ("0", "-1", "3", "5", "8", str(10**20)):
        add("serve", f"tp-{tp}", [*on_sys, "--tp", tp])
    add("serve", "tp-without-system", [*serve, "--rate", "1", "--tp", "2", "-c", "toy"])
    add("serve", "system-and-chip", [*on_sys, "-c", "toy"])
    add("serve", "system-missing", [*serve, "--rate", "1", "--system", "no-such-sys"])
    add("serve", "system-is-chip", [*serve, "--rate", "1", "--system", "toy"])
    add("serve", "system-fifo", [*serve, "--rate", "1", "--system", "s.yaml"], {"s.yaml": lambda p: os.mkfifo(p)})
    for route in ("bogus", "", "ROUND-ROBIN", "least_loaded"):
        add("serve", f"route-{route or 'empty'}", [*on_sys, "--route", route])
    for chunk in ("0", "-1", "1", str(10**9), str(10**30)):
        add("serve", f"chunk-{chunk}", [*on_sys, "--chunk", chunk])
    for block in ("0", "-1", "1", str(10**9)):
        add("serve", f"block-{block}", [*on_sys, "--block", block])
    for rates in ("", ",", "1,,2", "0", "-1", "nan", "inf", "1e308", "1e-300", "a,b", "1," * 5000,
                  "1e400", "0x10", "1_000", "1;2"):
        add("serve", f"rates-{rates[:12] or 'empty'}", [*serve, "-c", "h100-sxm", "--rates", rates])
    add("serve", "rate-and-rates", [*serve, "-c", "h100-sxm", "--rate", "1", "--rates", "1,2"])
    add("serve", "million-requests", ["serve", "llama-2-7b", "--duration", "1s", "-c", "h100-sxm", "--rate", "1e6"])
    add("serve", "duration-1e9", ["serve", "llama-2-7b", "--duration", "1e9", "-c", "h100-sxm", "--rate", "1"])
    for duration in ("0", "-1", "nan", "1e400", "1 fortnight", "1e-300", "inf"):
        add("serve", f"duration-{duration}", ["serve", "llama-2-7b", "--duration", duration, "-c", "toy", "--rate", "1"])
    for name, text in (
        ("negative", "prompt,tokens\n-5,10\n"),
        ("zero", "prompt,tokens\n0,0\n"),
        ("huge", "prompt,tokens\n1000000000000,10\n"),
        ("float", "prompt,tokens\n1.5,2\n"),
        ("swapped", "tokens,prompt\n10,20\n"),
        ("header-only", "prompt,tokens\n"),
        ("missing-col", "prompt\n5\n"),
        ("short-row", "prompt,tokens\n5\n"),
        ("nul", "prompt,tokens\n5\x00,6\n"),
        ("stray-quote", 'prompt,tokens\n"5,6\n7,8\n'),
        ("bigfield", "prompt,tokens\n" + "1" * 200_000 + ",5\n"),
        ("digits-5000", "prompt,tokens\n" + "1" * 5000 + ",5\n"),
        ("many-rows", "prompt,tokens\n" + "16,4\n" * 300_000),
        ("bom", "\ufeffprompt,tokens\n5,6\n"),
        ("underscore", "prompt,tokens\n1_0,5\n"),
    ):
        add("serve", f"trace-{name}", [*serve, "-c", "h100-sxm", "--rate", "1", "--trace-file", "t.csv"], {"t.csv": text})
    add("serve", "trace-bad-utf8", [*serve, "-c", "h100-sxm", "--rate", "1", "--trace-file", "t.csv"], {"t.csv": b"prompt,tokens\n\xff\xfe,5\n"})
    add("serve", "trace-fifo", [*serve, "-c", "h100-sxm", "--rate", "1", "--trace-file", "t.csv"], {"t.csv": lambda p: os.mkfifo(p)})
    add("serve", "trace-dir", [*serve, "-c", "h100-sxm", "--rate", "1", "--trace-file", "t.csv"], {"t.csv": lambda p: p.mkdir()})
    add("serve", "trace-dev-zero", [*serve, "-c", "h100-sxm", "--rate", "1", "--trace-file", "/dev/zero"])
    add("serve", "json-is-trace", [*serve, "-c", "h100-sxm", "--rate", "1", "--trace-file", "t.csv", "--json", "t.csv"], {"t.csv": "prompt,tokens\n5,6\n"})
    for slo in ("-1ms", "nan", "0", "1e400 s", "abc"):
        add("serve", f"slo-{slo}", [*serve, "-c", "h100-sxm", "--rate", "1", "--slo-ttft", slo])
    add("serve", "max-batch-0", [*serve, "-c", "h100-sxm", "--rate", "1", "--max-batch", "0"])
    add("serve", "max-batch-huge", [*serve, "-c", "h100-sxm", "--rate", "1", "--max-batch", str(10**12)])
    add("serve", "prompt-huge", [*serve, "-c", "h100-sxm", "--rate", "1", "--prompt", str(10**12)])
    add("serve", "tokens-huge", [*serve, "-c", "h100-sxm", "--rate", "1", "--tokens", str(10**9)])

    system = ["system", "llama-2-7b", "--system", "toy-4"]
    for flag, values in (
        ("--pp", ("0", "-1", "3", "64", str(10**6))),
        ("--dp", ("0", "-1", "3", str(10**9))),
        ("--ep", ("0", "2", "-1")),
        ("--micro-batches", ("0", "-1", "3", str(10**9))),
        ("--tp", ("0", "3", str(10**20))),
        ("--schedule", ("foo", "", "1F1B", "interleaved")),
        ("--algorithm", ("foo", "tree", "nvls", "", "RING")),
        ("--seq", ("0", str(10**12))),
        ("--batch", ("0", str(10**12))),
        ("--dtype", ("int3", "")),
    ):
        for value in values:
            add("system", f"{flag[2:]}-{value[:10] or 'empty'}", [*system, flag, value])
    add("system", "micro-batches-huge-batch", [*system, "--batch", str(10**9), "--micro-batches", str(10**9)])
    add("system", "micro-batches-million", [*system, "--batch", str(10**6), "--micro-batches", str(10**6), "--pp", "2"])
    for plans in ("", "tp", "tp0", "tp-1", "tp4xtp2", "x", "tp4,,", "tp" + "9" * 30, "tp2xpp2xep2xdp2",
                  "pp3", "foo", "tp1e3", "tp" + "9" * 5000, ",".join(["tp4"] * 5000), "tp4 x pp1", "TP4",
                  "tp2xpp2,tp2xpp2", "dp4", "ep4", "tp½", "tp٤"):
        add("system", f"plans-{plans[:14] or 'empty'}", [*system, "--plans", plans])
    add("system", "plans-and-sweep", [*system, "--plans", "tp4", "--sweep"])
    add("system", "plans-and-tp", [*system, "--plans", "tp4", "--tp", "2"])
    add("system", "sweep-big", ["system", "llama-2-70b", "--system", "hgx-h100-x2", "--sweep"])
    add("system", "trace-is-system", ["system", "llama-2-7b", "--system", "s.yaml", "--trace", "s.yaml"], {"s.yaml": dump(SYSTEM_BASE)})
    add("system", "json-is-system", ["system", "llama-2-7b", "--system", "s.yaml", "--json", "s.yaml"], {"s.yaml": dump(SYSTEM_BASE)})
    add("system", "trace-equals-json", [*system, "--trace", "o.json", "--json", "o.json"])
    add("system", "trace-perfetto", [*system, "--trace", "o.perfetto-trace"])
    add("system", "trace-pftrace", [*system, "--trace", "o.pftrace"])
    add("system", "trace-missing-dir", [*system, "--trace", "no/such/dir/o.json"])
    add("system", "trace-dir", [*system, "--trace", "d"], {"d": lambda p: p.mkdir()})
    add("system", "trace-existing", [*system, "--trace", "old.json"], {"old.json": '{"mine": 1}'})
    add("system", "trace-sweep", [*system, "--sweep", "--trace", "o.json"])
    add("system", "overlap-tp1", [*system, "--tp", "1", "--overlap-comm"])
    add("system", "moe-ep-on-dense", ["system", "llama-2-7b", "--system", "toy-4", "--ep", "4", "--tp", "1"])

    run = ["run", "mlp", "--chip", "toy", "-q"]
    for name in ("o.perfetto-trace", "o.pftrace", "o.PFTRACE", ".pftrace"):
        add("trace", f"run-{name}", [*run, "--trace", name])
    add("trace", "run-pftrace-is-chip", ["run", "mlp", "--chip", "c.yaml", "-q", "--trace", "c.yaml"], {"c.yaml": dump({"name": "x", "base": "toy", "hypothetical": True})})
    add("trace", "run-pftrace-existing", [*run, "--trace", "old.pftrace"], {"old.pftrace": b"precious"})
    add("trace", "run-pftrace-dir", [*run, "--trace", "d.pftrace"], {"d.pftrace": lambda p: p.mkdir()})
    add("trace", "run-pftrace-fifo", [*run, "--trace", "f.pftrace"], {"f.pftrace": lambda p: os.mkfifo(p)})
    add("trace", "run-pftrace-big-graph", ["run", "resnet50", "--chip", "h100-sxm", "-q", "--trace", "o.pftrace"])
    add("parquet", "kernels", [*run, "--kernels", "k.parquet"])
    add("parquet", "kernels-is-chip", ["run", "mlp", "--chip", "c.yaml", "-q", "--kernels", "c.yaml"], {"c.yaml": dump({"name": "x", "base": "toy", "hypothetical": True})})
    add("parquet", "kernels-existing", [*run, "--kernels", "k.parquet"], {"k.parquet": b"precious"})
    add("parquet", "kernels-dir", [*run, "--kernels", "k.parquet"], {"k.parquet": lambda p: p.mkdir()})
    add("parquet", "kernels-equals-json", [*run, "--kernels", "k.parquet", "--json", "k.parquet"])
    add("parquet", "kernels-missing-dir", [*run, "--kernels", "no/k.parquet"])
    sweep = ["sweep", "mlp", "--chip", "toy", "--vary", "batch=1,2", "-j", "1"]
    add("parquet", "sweep-out", [*sweep, "--out", "s.parquet"])
    add("parquet", "sweep-existing-garbage", [*sweep, "--out", "s.parquet"], {"s.parquet": os.urandom(500)})
    add("parquet", "sweep-resume-garbage", [*sweep, "--out", "s.parquet", "--resume"], {"s.parquet": os.urandom(500)})
    add("parquet", "sweep-resume-truncated-magic", [*sweep, "--out", "s.parquet", "--resume"], {"s.parquet": b"PAR1" + os.urandom(100) + b"PAR1"})
    add("parquet", "sweep-resume-empty", [*sweep, "--out", "s.parquet", "--resume"], {"s.parquet": b""})
    add("parquet", "sweep-resume-partial-garbage", [*sweep, "--out", "s.parquet", "--resume"], {"s.parquet.partial.csv": b"\xff\xfe\x00garbage,\n\"\n"})
    add("parquet", "sweep-resume-partial-dir", [*sweep, "--out", "s.parquet", "--resume"], {"s.parquet.partial.csv": lambda p: p.mkdir()})
    add("parquet", "sweep-resume-csv-as-parquet", [*sweep, "--out", "s.parquet", "--resume"], {"s.parquet": "batch,latency\n1,2\n"})
    add("parquet", "sweep-out-dir", [*sweep, "--out", "s.parquet"], {"s.parquet": lambda p: p.mkdir()})
    add("parquet", "sweep-resume-fifo", [*sweep, "--out", "s.parquet", "--resume"], {"s.parquet": lambda p: os.mkfifo(p)})
    add("parquet", "sweep-resume-valid-foreign", [*sweep, "--out", "s.parquet", "--resume"], {"s.parquet": _foreign_parquet})
    cases += _accuracy_cases() + _fit_cases() + _measure_cases()
    return cases


def _foreign_parquet(path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.table({"a": [1, 2], "b": ["x", "y"]}), str(path))


CASE = {
    "id": "rt-1",
    "chip": "toy",
    "device": "toy",
    "workload": {"gemm": [64, 64, 64], "dtype": "fp16"},
    "runtime": "x",
    "metric": "latency_s",
    "measured": 1e-5,
    "source": "hypothetical",
    "setup": "hypothetical",
    "split": "holdout",
}


def _accuracy_cases() -> list[Case]:
    cases = []

    def add(name, content):
        cases.append(Case(f"accuracy-{name}", "accuracy", ["accuracy", "--cases", "c.yaml"], {"c.yaml": content}, ["c.yaml"]))

    def with_set(value):
        return dump({"cases": [{**CASE, "set": value}]})

    add("valid", dump({"cases": [CASE]}))
    for name, value in (
        ("null", None), ("list", ["memory.dram.bandwidth"]), ("string", "memory.dram.bandwidth=1 TB/s"),
        ("empty", {}), ("unknown-key", {"no.such.field": 1}), ("bad-unit", {"memory.dram.bandwidth": "lots"}),
        ("int-400-digits", {"memory.dram.bandwidth": 10**400}), ("nan", {"memory.dram.bandwidth": float("nan")}),
        ("neg", {"memory.dram.bandwidth": "-1 TB/s"}), ("nested", {"memory": {"dram": {"bandwidth": "1 TB/s"}}}),
        ("dunder", {"__class__": 1}), ("name", {"name": "evil\u202e"}), ("hypothetical", {"hypothetical": "yes"}),
        ("units-null", {"units": None}), ("key-int", {1: 2}), ("capacity-zero", {"memory.dram.capacity": "0 GB"}),
        ("bool", {"memory.dram.bandwidth": True}), ("list-value", {"memory.dram.bandwidth": [1, 2]}),
        ("clock-huge", {"clock.nominal": "1e30 GHz"}), ("launch-huge", {"launch.latency": "1e11 s"}),
        ("many-keys", {f"k{i}": i for i in range(5000)}),
    ):
        add(f"set-{name}", with_set(value))
    add("huge-file", dump({"cases": [{**CASE, "id": f"c{i}"} for i in range(20000)]}))
    add("many-gemm-big", dump({"cases": [{**CASE, "id": f"c{i}", "workload": {"gemm": [10**6, 10**6, 10**6], "dtype": "fp16"}} for i in range(200)]}))
    add("not-a-map", "- 1\n- 2\n")
    add("cases-map", dump({"cases": {"a": CASE}}))
    add("dup-ids", dump({"cases": [CASE, CASE]}))
    add("measured-text", dump({"cases": [{**CASE, "measured": "fast"}]}))
    add("measured-zero", dump({"cases": [{**CASE, "measured": 0}]}))
    add("gemm-negative", dump({"cases": [{**CASE, "workload": {"gemm": [-1, 64, 64], "dtype": "fp16"}}]}))
    add("generate-system-bad", dump({"cases": [{**CASE, "metric": "ttft_s", "workload": {"generate": "llama-2-7b", "system": "nope", "tp": 0, "prompt": 1, "tokens": 1, "batch": 1, "dtype": "fp16"}}]}))
    add("fifo", lambda p: os.mkfifo(p))
    add("bad-utf8", b"cases:\n  - id: \xff\n")
    add("anchors-bomb", "a: &a [x,x,x,x,x,x,x,x,x]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\nc: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]\nd: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]\ne: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]\nf: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]\ncases: [*f]\n")
    return cases


def _fit_cases() -> list[Case]:
    cases = []

    def add(name, data):
        text = data if isinstance(data, str) else json.dumps(data)
        cases.append(Case(f"fit-{name}", "fit", ["fit", "toy", "-m", "p.json", "--folds", "0"], {"p.json": text}, ["p.json"]))

    good = {"cat": "Node", "name": "mm_kernel_time", "dur": 10, "args": {"op_name": "MatMul",
            "input_type_shape": [{"float": [64, 64]}, {"float": [64, 64]}], "output_type_shape": [{"float": [64, 64]}]}}
    add("ort-valid", [good] * 3)
    add("ort-args-list", [{**good, "args": [1, 2]}])
    add("ort-args-string", [{**good, "args": "x"}])
    add("ort-dur-string", [{**good, "dur": "abc"}])
    add("ort-dur-inf", [{**good, "dur": 1e308 * 10}] if False else '[{"cat":"Node","name":"a_kernel_time","dur":1e999,"args":' + json.dumps(good["args"]) + "}]")
    add("ort-dur-nan", '[{"cat":"Node","name":"a_kernel_time","dur":NaN,"args":' + json.dumps(good["args"]) + "}]")
    add("ort-dur-negative", [{**good, "dur": -5}])
    add("ort-dur-list", [{**good, "dur": [5]}])
    add("ort-shape-strings", [{**good, "args": {**good["args"], "input_type_shape": [{"float": ["a", "b"]}]}}])
    add("ort-shape-huge", [{**good, "args": {**good["args"], "input_type_shape": [{"float": [10**30, 64]}, {"float": [64, 64]}]}}])
    add("ort-shape-negative", [{**good, "args": {**good["args"], "input_type_shape": [{"float": [-64, 64]}, {"float": [64, 64]}]}}])
    add("ort-shape-map", [{**good, "args": {**good["args"], "input_type_shape": {"float": [64]}}}])
    add("ort-op-name-list", [{**good, "args": {**good["args"], "op_name": ["MatMul"]}}])
    add("ort-name-list", [{**good, "name": ["x"]}])
    add("ort-dtype-weird", [{**good, "args": {**good["args"], "input_type_shape": [{"complex128": [64, 64]}, {"float": [64, 64]}]}}])
    add("ort-conv-bad", [{**good, "args": {"op_name": "Conv", "input_type_shape": [{"float": [1]}, {"float": [1]}], "output_type_shape": [{"float": [1]}]}}])
    add("ort-transpose-bad", [{**good, "args": {"op_name": "Transpose", "input_type_shape": [{"float": [2, 3]}], "output_type_shape": [{"float": [7, 7]}]}}])
    add("ort-concat-bad", [{**good, "args": {"op_name": "Concat", "input_type_shape": [{"float": [2, 3]}, {"float": [4, 5, 6]}], "output_type_shape": [{"float": [9]}]}}])
    add("ort-gemm-one-input", [{**good, "args": {"op_name": "Gemm", "input_type_shape": [{"float": [2, 3]}], "output_type_shape": [{"float": [2, 3]}]}}])
    add("ort-gemm-scalar", [{**good, "args": {"op_name": "Gemm", "input_type_shape": [{"float": []}, {"float": []}], "output_type_shape": [{"float": []}]}}])
    add("ort-many", [good] * 200_000)
    add("ort-empty", [])
    add("ort-scalars", [1, "x", None])
    add("deep-json", "[" * 100_000 + "]" * 100_000)
    kernel = {"ph": "X", "cat": "kernel", "name": "k", "ts": 5, "dur": 3, "args": {"correlation": 1}}
    launch = {"ph": "X", "cat": "cuda_runtime", "name": "cudaLaunchKernel", "pid": 1, "tid": 1, "ts": 2, "dur": 1, "args": {"correlation": 1}}
    op = {"ph": "X", "cat": "cpu_op", "name": "aten::mm", "pid": 1, "tid": 1, "ts": 1, "dur": 10,
          "args": {"Input Dims": [[64, 64], [64, 64]], "Input type": ["float", "float"]}}
    add("chrome-valid", {"traceEvents": [kernel, launch, op]})
    add("chrome-args-list", {"traceEvents": [{**kernel, "args": [1]}, launch, op]})
    add("chrome-correlation-list", {"traceEvents": [kernel, {**launch, "args": {"correlation": [1]}}, op]})
    add("chrome-correlation-map", {"traceEvents": [{**kernel, "args": {"correlation": {"a": 1}}}, launch, op]})
    add("chrome-dur-string", {"traceEvents": [{**kernel, "dur": "abc"}, launch, op]})
    add("chrome-ts-string", {"traceEvents": [kernel, {**launch, "ts": "x"}, op]})
    add("chrome-op-dur-string", {"traceEvents": [kernel, launch, {**op, "dur": "x"}]})
    add("chrome-dims-strings", {"traceEvents": [kernel, launch, {**op, "args": {"Input Dims": [["a"]], "Input type": ["float"]}}]})
    add("chrome-dims-huge", {"traceEvents": [kernel, launch, {**op, "args": {"Input Dims": [[10**30, 64], [64, 64]], "Input type": ["float"]}}]})
    add("chrome-dims-nested", {"traceEvents": [kernel, launch, {**op, "args": {"Input Dims": [[[64]], [64]], "Input type": ["float"]}}]})
    add("chrome-types-string", {"traceEvents": [kernel, launch, {**op, "args": {"Input Dims": [[64, 64], [64, 64]], "Input type": "float"}}]})
    add("chrome-op-args-list", {"traceEvents": [kernel, launch, {**op, "args": [1]}]})
    add("chrome-dur-negative", {"traceEvents": [{**kernel, "dur": -3}, launch, op]})
    add("chrome-events-not-list", {"traceEvents": {"a": 1}})
    add("chrome-name-list", {"traceEvents": [kernel, launch, {**op, "name": ["aten::mm"]}]})
    add("chrome-pid-list", {"traceEvents": [kernel, {**launch, "pid": [1]}, op]})
    add("chrome-many", {"traceEvents": [kernel, launch, op] * 50_000})
    return cases


def _measure_cases() -> list[Case]:
    cases = []

    def add(category, name, args, files=None):
        files = files or {}
        cases.append(Case(f"{category}-{name}", category, args, files, list(files)))

    vm = ["validate-model", "--chip", "toy", "--runs", "1", "--warmup", "0"]
    add("validate", "model-missing", [*vm, "-m", "nope.onnx"])
    add("validate", "model-dir", [*vm, "-m", "d.onnx"], {"d.onnx": lambda p: p.mkdir()})
    add("validate", "model-fifo", [*vm, "-m", "f.onnx"], {"f.onnx": lambda p: os.mkfifo(p)})
    add("validate", "model-garbage", [*vm, "-m", "g.onnx"], {"g.onnx": os.urandom(1000)})
    add("validate", "model-truncated", [*vm, "-m", "t.onnx"], {"t.onnx": lambda p: p.write_bytes(_model().SerializeToString()[:200])})
    add("validate", "model-unknown-builder", [*vm, "-m", "no-such-builder"])
    add("validate", "model-empty-name", [*vm, "-m", ""])
    add("validate", "model-yaml", [*vm, "-m", "g.yaml"], {"g.yaml": "ops: []\n"})
    add("validate", "model-dynamic-dims", [*vm, "-m", "dyn.onnx"], {"dyn.onnx": lambda p: p.write_bytes(_dynamic_model())})
    for flag, value in (("--batch", "0"), ("--batch", "-1"), ("--batch", str(10**9)), ("--runs", "0"),
                        ("--runs", str(10**12)), ("--warmup", "-1"), ("--warmup", str(10**12)),
                        ("--threads", "0"), ("--threads", "-1"), ("--threads", "100000"), ("--fusion", "bogus")):
        add("validate", f"{flag[2:]}-{value}", ["validate-model", "--chip", "toy", "-m", "nope.onnx", flag, value])
    add("validate", "save-chip-is-model", [*vm, "-m", "m.onnx", "--save-chip", "m.onnx"], {"m.onnx": lambda p: p.write_bytes(_model().SerializeToString())})
    add("validate", "json-is-model", [*vm, "-m", "m.onnx", "--json", "m.onnx"], {"m.onnx": lambda p: p.write_bytes(_model().SerializeToString())})
    for value in ("0", "-1", "100000", str(10**30)):
        add("calibrate", f"threads-{value}", ["calibrate", "--quick", "--threads", value, "-o", "c.yaml"])
    add("calibrate", "device-tpu", ["calibrate", "--quick", "--device", "tpu", "-o", "c.yaml"])
    add("calibrate", "device-cuda", ["calibrate", "--quick", "--device", "cuda", "-o", "c.yaml"])
    add("calibrate", "out-dir", ["calibrate", "--quick", "-o", "d"], {"d": lambda p: p.mkdir()})
    add("calibrate", "out-missing-dir", ["calibrate", "--quick", "-o", "no/such/c.yaml"])
    add("calibrate", "out-existing", ["calibrate", "--quick", "--threads", "0", "-o", "c.yaml"], {"c.yaml": "precious"})
    return cases


def _dynamic_model() -> bytes:
    from onnx import TensorProto, helper

    graph = helper.make_graph(
        [helper.make_node("Relu", ["x"], ["y"])],
        "d",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", "M"])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", "M"])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    return model.SerializeToString()


# --- system files -------------------------------------------------------------------------


def system_file_cases() -> list[Case]:
    cases = []

    def add(name, interconnect=None, **top):
        data = {**SYSTEM_BASE, **top}
        if interconnect is not None:
            data["interconnect"] = interconnect
        cases.append(Case(f"sysfile-{name}", "sysfile", ["system", "llama-2-7b", "--system", "s.yaml"], {"s.yaml": dump(data)}, ["s.yaml"]))

    ring = SYSTEM_BASE["interconnect"]
    switch = {**ring, "topology": "switch"}
    for value in (7, ["ring"], "RING", "tree", "nvls", None, "", {"a": 1}):
        add(f"algorithm-{str(value)[:8]}", {**ring, "algorithm": value})
        add(f"switch-algorithm-{str(value)[:8]}", {**switch, "algorithm": value})
    for value in (1, 1.0, -0.1, "50%", float("nan"), float("inf"), "abc", 10**400, 0.999999, True, [0.1]):
        add(f"overlap-{str(value)[:8]}", {**switch, "overlap_share": value})
    torus = {**ring, "topology": "torus2d"}
    for value in (None, [2], [2, 2, 2], [0, 4], [-2, -2], [2, "a"], [1000, 1000], "2x2", [2.5, 1.6],
                  [10**6, 10**6], [10**400, 1], {"x": 2, "y": 2}, [True, 4]):
        extra = {} if value is None else {"dims": value}
        add(f"torus-dims-{str(value)[:12]}", {**torus, **extra})
    add("torus-million-chips", {**torus, "dims": [1000, 1000]}, chips=10**6)
    add("torus-big-chips", {**torus, "dims": [10**6, 10**6]}, chips=10**12)
    hier = {**ring, "topology": "hierarchical", "node_chips": 2, "inter_node": {"bandwidth": "1 GB/s", "latency": "1 us"}}
    add("hier-valid", hier)
    for value in (0, 3, 10**9, "four", -2, 2.5, None, 10**400):
        add(f"hier-node-chips-{str(value)[:8]}", {**hier, "node_chips": value})
    for value in (None, {}, "fast", [1], {"bandwidth": "0 GB/s"}, {"bandwidth": "-1 GB/s"},
                  {"bandwidth": "1 GB/s", "latency": "1e20 s"}, {"bandwidth": "1 GB/s", "efficiency": 2},
                  {"bandwidth": "1 GB/s", "efficiency": 0}, {"bandwidth": "1e400 GB/s"}, {"bandwidth": "1 GB/s", "extra": 1}):
        add(f"hier-inter-node-{str(value)[:14]}", {**hier, "inter_node": value})
    add("ring-with-inter-node", {**ring, "inter_node": hier["inter_node"]})
    add("switch-with-node-chips", {**switch, "node_chips": 2})
    add("ring-with-dims", {**ring, "dims": [2, 2]})
    add("hier-tree", {**hier, "algorithm": "tree"})
    add("hier-nvls", {**hier, "algorithm": "nvls"})
    add("ring-million-chips", ring, chips=10**6)
    add("chips-zero", ring, chips=0)
    add("hier-node-chips-one-node", {**hier, "node_chips": 4})
    add("hier-overlap", {**hier, "overlap_share": 0.5})
    return cases
