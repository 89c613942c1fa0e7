"""Red-team round three, part two: ONNX models, systems, command-line combinations and
the Python API (see redteam3_cases.py for the model of a case)."""

from __future__ import annotations

import json
import os
from pathlib import Path

from redteam3_cases import GRAPH_OK, LLAMA, Case, dump


def _onnx(nodes, inputs, outputs, inits=(), opset=17, domains=(), **graph_kw):
    from onnx import helper

    g = helper.make_graph(nodes, "m", inputs, outputs, initializer=list(inits), **graph_kw)
    ops = [helper.make_opsetid("", opset), *(helper.make_opsetid(d, 1) for d in domains)]
    model = helper.make_model(g, opset_imports=ops)
    model.ir_version = 8
    return model


def _v(name, shape, elem=1):
    from onnx import helper

    return helper.make_tensor_value_info(name, elem, shape)


def _writer(build):
    def write(path: Path) -> None:
        import onnx

        onnx.save(build(), str(path))

    return write


def onnx_cases() -> list[Case]:
    import numpy as np
    from onnx import TensorProto, helper, numpy_helper

    n = helper.make_node
    cases: list[Case] = []

    def add(name, build, *extra):
        cases.append(
            Case(
                f"onnx-{name}",
                "onnx",
                ["run", "m.onnx", "--chip", "toy", "-q", *extra],
                {"m.onnx": _writer(build)},
                ["m.onnx"],
            )
        )

    x4 = [_v("x", [1, 3, 8, 8])]
    add("opset-1", lambda: _onnx([n("Relu", ["x"], ["y"])], x4, [], opset=1))
    add("opset-99", lambda: _onnx([n("Relu", ["x"], ["y"])], x4, [], opset=99))
    add(
        "domain-ml",
        lambda: _onnx(
            [n("Normalizer", ["x"], ["y"], domain="ai.onnx.ml")], x4, [], domains=["ai.onnx.ml"]
        ),
    )
    add(
        "domain-custom-relu",
        lambda: _onnx([n("Relu", ["x"], ["y"], domain="evil.corp")], x4, [], domains=["evil.corp"]),
    )
    add("domain-undeclared", lambda: _onnx([n("Foo", ["x"], ["y"], domain="nowhere")], x4, []))
    add(
        "conv-group-mismatch",
        lambda: _onnx(
            [n("Conv", ["x", "w"], ["y"], group=2)],
            x4,
            [],
            [numpy_helper.from_array(np.zeros((4, 3, 3, 3), np.float32), "w")],
        ),
    )
    add(
        "conv-negative-pads",
        lambda: _onnx(
            [n("Conv", ["x", "w"], ["y"], pads=[-5, -5, -5, -5])],
            x4,
            [],
            [numpy_helper.from_array(np.zeros((4, 3, 3, 3), np.float32), "w")],
        ),
    )
    add(
        "conv-kernel-shape-lies",
        lambda: _onnx(
            [n("Conv", ["x", "w"], ["y"], kernel_shape=[9, 9])],
            x4,
            [],
            [numpy_helper.from_array(np.zeros((4, 3, 3, 3), np.float32), "w")],
        ),
    )
    add(
        "gemm-transA-string",
        lambda: _onnx(
            [n("Gemm", ["a", "b"], ["y"], transA="yes")], [_v("a", [4, 8]), _v("b", [8, 4])], []
        ),
    )
    add(
        "gemm-rank3",
        lambda: _onnx([n("Gemm", ["a", "b"], ["y"])], [_v("a", [2, 4, 8]), _v("b", [8, 4])], []),
    )
    add(
        "matmul-scalar",
        lambda: _onnx([n("MatMul", ["a", "b"], ["y"])], [_v("a", []), _v("b", [])], []),
    )
    add(
        "reshape-allowzero",
        lambda: _onnx(
            [n("Reshape", ["x", "s"], ["y"], allowzero=1)],
            x4,
            [],
            [numpy_helper.from_array(np.array([0, 0, 0, 0], np.int64), "s")],
        ),
    )
    add(
        "reshape-huge",
        lambda: _onnx(
            [n("Reshape", ["x", "s"], ["y"])],
            x4,
            [],
            [numpy_helper.from_array(np.array([2**40, -1], np.int64), "s")],
        ),
    )
    add(
        "constant-of-shape-huge",
        lambda: _onnx(
            [n("ConstantOfShape", ["s"], ["c"]), n("Add", ["x", "c"], ["y"])],
            [_v("x", [1])],
            [],
            [numpy_helper.from_array(np.array([2**20, 2**20], np.int64), "s")],
        ),
    )
    add(
        "range-huge",
        lambda: _onnx(
            [n("Range", ["a", "b", "d"], ["r"]), n("Cast", ["r"], ["y"], to=1)],
            [],
            [],
            [
                numpy_helper.from_array(np.array(0, np.int64), "a"),
                numpy_helper.from_array(np.array(2**40, np.int64), "b"),
                numpy_helper.from_array(np.array(1, np.int64), "d"),
            ],
        ),
    )
    add(
        "expand-huge",
        lambda: _onnx(
            [n("Expand", ["x", "s"], ["y"])],
            [_v("x", [1, 1])],
            [],
            [numpy_helper.from_array(np.array([2**24, 2**24], np.int64), "s")],
        ),
    )
    add(
        "tile-huge",
        lambda: _onnx(
            [n("Tile", ["x", "r"], ["y"])],
            [_v("x", [2, 2])],
            [],
            [numpy_helper.from_array(np.array([2**30, 2**30], np.int64), "r")],
        ),
    )
    add(
        "pad-huge",
        lambda: _onnx(
            [n("Pad", ["x", "p"], ["y"])],
            [_v("x", [2, 2])],
            [],
            [numpy_helper.from_array(np.array([0, 0, 2**40, 2**40], np.int64), "p")],
        ),
    )
    add(
        "topk-k-huge",
        lambda: _onnx(
            [n("TopK", ["x", "k"], ["v", "i"])],
            [_v("x", [4, 8])],
            [],
            [numpy_helper.from_array(np.array([2**40], np.int64), "k")],
        ),
    )
    add(
        "split-num-outputs-huge",
        lambda: _onnx([n("Split", ["x"], ["a", "b"], axis=1, num_outputs=10**6)], x4, [], opset=18),
    )
    add(
        "resize-scales-nan",
        lambda: _onnx(
            [n("Resize", ["x", "", "s"], ["y"])],
            x4,
            [],
            [numpy_helper.from_array(np.array([1, 1, np.nan, np.inf], np.float32), "s")],
        ),
    )
    add(
        "einsum-bad-equation",
        lambda: _onnx(
            [n("Einsum", ["a", "b"], ["y"], equation="ij,jk->zz...")],
            [_v("a", [2, 3]), _v("b", [3, 4])],
            [],
        ),
    )
    add(
        "einsum-many-letters",
        lambda: _onnx(
            [n("Einsum", ["a"], ["y"], equation="abcdefghijklmnopqrstuvwxyz->")],
            [_v("a", [2] * 26)],
            [],
        ),
    )
    add(
        "loop-subgraph",
        lambda: _onnx(
            [
                n(
                    "Loop",
                    ["m", "c"],
                    ["o"],
                    body=helper.make_graph(
                        [n("Identity", ["cond"], ["cond_out"])],
                        "body",
                        [_v("i", [], TensorProto.INT64), _v("cond", [], TensorProto.BOOL)],
                        [_v("cond_out", [], TensorProto.BOOL)],
                    ),
                )
            ],
            [_v("m", [], TensorProto.INT64), _v("c", [], TensorProto.BOOL)],
            [],
        ),
    )
    add(
        "if-subgraph",
        lambda: _onnx(
            [
                n(
                    "If",
                    ["c"],
                    ["y"],
                    then_branch=helper.make_graph(
                        [n("Relu", ["x"], ["t"])], "t", [], [_v("t", [1, 3, 8, 8])]
                    ),
                    else_branch=helper.make_graph(
                        [n("Sigmoid", ["x"], ["e"])], "e", [], [_v("e", [1, 3, 8, 8])]
                    ),
                )
            ],
            [*x4, _v("c", [], TensorProto.BOOL)],
            [],
        ),
    )
    add(
        "string-input",
        lambda: _onnx([n("Identity", ["s"], ["y"])], [_v("s", [4], TensorProto.STRING)], []),
    )
    add(
        "complex-input",
        lambda: _onnx([n("Relu", ["s"], ["y"])], [_v("s", [4], TensorProto.COMPLEX64)], []),
    )
    add("dim-negative", lambda: _onnx([n("Relu", ["x"], ["y"])], [_v("x", [-4, 3])], []))
    add("dim-huge", lambda: _onnx([n("Relu", ["x"], ["y"])], [_v("x", [2**62, 2**62])], []))
    add(
        "dim-param-unnamed",
        lambda: _onnx([n("Relu", ["x"], ["y"])], [_v("x", ["", "seq"])], []),
        "--dim",
        "seq=-5",
    )
    add(
        "dim-param-huge",
        lambda: _onnx([n("Relu", ["x"], ["y"])], [_v("x", ["b", "seq"])], []),
        "--dim",
        "seq=99999999999999999999999",
    )
    add(
        "duplicate-node-names",
        lambda: _onnx(
            [n("Relu", ["x"], ["y"], name="a"), n("Relu", ["y"], ["z"], name="a")], x4, []
        ),
    )
    add(
        "node-output-twice",
        lambda: _onnx([n("Relu", ["x"], ["y"]), n("Sigmoid", ["x"], ["y"])], x4, []),
    )
    add("node-empty-output-name", lambda: _onnx([n("Relu", ["x"], [""])], x4, []))
    add(
        "attr-int-as-tensor",
        lambda: _onnx(
            [n("Softmax", ["x"], ["y"], axis=helper.make_tensor("t", TensorProto.INT64, [1], [1]))],
            x4,
            [],
        ),
    )
    add(
        "sparse-initializer",
        lambda: _onnx(
            [n("MatMul", ["a", "w"], ["y"])],
            [_v("a", [2, 4])],
            [],
            sparse_initializer=[
                helper.make_sparse_tensor(
                    helper.make_tensor("w", TensorProto.FLOAT, [1], [1.0]),
                    helper.make_tensor("i", TensorProto.INT64, [1], [0]),
                    [4, 4],
                )
            ],
        ),
    )

    def external(location: str):
        def build():
            w = TensorProto(name="w", data_type=TensorProto.FLOAT, dims=[8, 8])
            w.data_location = TensorProto.EXTERNAL
            for k, v in (("location", location), ("offset", "0"), ("length", "256")):
                entry = w.external_data.add()
                entry.key, entry.value = k, v
            return _onnx([n("MatMul", ["a", "w"], ["y"])], [_v("a", [2, 8])], [], [w])

        return build

    add("external-etc-passwd", external("/etc/passwd"))
    add("external-traversal", external("../../../../etc/shadow"))
    add("external-missing", external("weights.bin"))
    add("external-dev-zero", external("/dev/zero"))

    def relu_chain(count: int):
        def build():
            nodes = [n("Relu", [f"t{i}"], [f"t{i + 1}"]) for i in range(count)]
            return _onnx(nodes, [_v("t0", [1, 16])], [])

        return build

    add("chain-10000", relu_chain(10_000))
    add("chain-10001", relu_chain(10_001))
    add("chain-19000", relu_chain(19_000))
    add("chain-21000", relu_chain(21_000))

    def sum_wide():
        names = [f"i{k}" for k in range(5000)]
        return _onnx([n("Sum", names, ["y"])], [_v(k, [1, 4]) for k in names], [])

    add("sum-5000-inputs", sum_wide)
    for case in cases:
        case.category = "onnx"
    return cases


SYSTEM = {
    "name": "s",
    "chip": "toy",
    "chips": 4,
    "interconnect": {"topology": "ring", "bandwidth": "1 GB/s", "latency": "1 us"},
}


def system_cases() -> list[Case]:
    cases: list[Case] = []
    changes = {
        "chips-1": {"chips": 1},
        "chips-huge": {"chips": 10**9},
        "chips-str": {"chips": "4"},
        "chips-float": {"chips": 4.0},
        "chips-bool": {"chips": True},
        "chip-missing": {"chip": "no-such"},
        "chip-self": {"chip": "s.yaml"},
        "chip-inline": {"chip": {"name": "x", "base": "toy"}},
        "topology-mesh": {"interconnect": {"topology": "mesh", "bandwidth": "1 GB/s"}},
        "link-bw-zero": {"interconnect": {"topology": "ring", "bandwidth": "0 GB/s"}},
        "link-latency-hour": {
            "interconnect": {"topology": "ring", "bandwidth": "1 GB/s", "latency": "2 h"}
        },
        "hypothetical-yes": {"hypothetical": "yes"},
        "host-memory-neg": {"host": {"memory": "-1 GB"}},
        "name-markup": {"name": "[bold]x"},
        "unknown-key": {"chipz": 4},
    }
    for name, change in changes.items():
        cases.append(
            Case(
                f"system-{name}",
                "system",
                ["system", "llama-2-7b", "--system", "s.yaml"],
                {"s.yaml": dump({**SYSTEM, **change})},
                ["s.yaml"],
            )
        )
    base = {"s.yaml": dump(SYSTEM)}
    for name, extra in {
        "tp-3": ["--tp", "3"],
        "tp-0": ["--tp", "0"],
        "tp-huge": ["--tp", "4096"],
        "seq-0": ["--seq", "0"],
        "batch-huge": ["--batch", "100000000"],
        "dtype-bad": ["--dtype", "fp9"],
        "model-file": ["--system", "s.yaml"],
    }.items():
        model = "config.json" if name == "model-file" else "llama-2-7b"
        files = {**base, "config.json": json.dumps(LLAMA)}
        cases.append(
            Case(
                f"system-{name}",
                "system",
                ["system", model, "--system", "s.yaml", *extra],
                files,
                ["s.yaml"],
            )
        )
    return cases


def cli_cases() -> list[Case]:
    cases: list[Case] = []
    files = {
        "c.yaml": dump({"name": "rt", "base": "toy"}),
        "g.yaml": GRAPH_OK,
        "notes.txt": "keep me\n",
        "config.json": json.dumps(LLAMA),
    }
    keep = ["c.yaml", "g.yaml", "notes.txt", "config.json"]

    def add(name: str, *args: str, more: dict | None = None) -> None:
        cases.append(Case(f"cli-{name}", "cli", list(args), {**files, **(more or {})}, keep))

    add("json-is-chip", "run", "mlp", "--chip", "c.yaml", "--json", "c.yaml")
    add("json-is-graph", "run", "g.yaml", "--chip", "toy", "--json", "./g.yaml")
    add(
        "json-via-symlink",
        "run",
        "g.yaml",
        "--chip",
        "toy",
        "--json",
        "link.json",
        more={"link.json": lambda p: os.symlink(p.parent / "g.yaml", p)},
    )
    add(
        "trace-is-notes-hardlink",
        "run",
        "mlp",
        "--chip",
        "toy",
        "--trace",
        "hard.json",
        more={"hard.json": lambda p: os.link(p.parent / "notes.txt", p)},
    )
    add("kernels-is-chip", "run", "mlp", "--chip", "c.yaml", "--kernels", "c.yaml")
    add("kernels-dev-full", "run", "mlp", "--chip", "toy", "--kernels", "/dev/full")
    add("json-dev-full", "run", "mlp", "--chip", "toy", "--json", "/dev/full")
    add("trace-dev-full", "run", "mlp", "--chip", "toy", "--trace", "/dev/full")
    add("json-dir", "run", "mlp", "--chip", "toy", "--json", ".")
    add(
        "json-readonly-dir",
        "run",
        "mlp",
        "--chip",
        "toy",
        "--json",
        "ro/out.json",
        more={"ro": lambda p: (p.mkdir(), p.chmod(0o500))},
    )
    add("json-under-file", "run", "mlp", "--chip", "toy", "--json", "notes.txt/out.json")
    add("json-name-too-long", "run", "mlp", "--chip", "toy", "--json", "x" * 300 + ".json")
    add(
        "json-and-trace-same",
        "run",
        "mlp",
        "--chip",
        "toy",
        "--json",
        "o.json",
        "--trace",
        "o.json",
    )
    add(
        "kernels-and-json-same",
        "run",
        "mlp",
        "--chip",
        "toy",
        "--json",
        "o.json",
        "--kernels",
        "o.json",
    )
    add("from-notes", "run", "--from", "notes.txt")
    add("from-chip", "run", "--from", "c.yaml")
    add(
        "from-fake-result",
        "run",
        "--from",
        "r.json",
        more={"r.json": json.dumps({"schema_version": 999, "workload": "mlp", "chip": "toy"})},
    )
    add(
        "from-result-bad-provenance",
        "run",
        "--from",
        "r.json",
        more={
            "r.json": json.dumps(
                {
                    "schema_version": 1,
                    "provenance": {
                        "chip": {"kind": "file", "name": "/etc/passwd"},
                        "workload": {"kind": "builder", "name": "rm -rf /"},
                    },
                }
            )
        },
    )
    add("from-with-chip", "run", "mlp", "--from", "notes.txt", "--chip", "toy")
    add("set-empty-value", "run", "mlp", "--chip", "toy", "--set", "memory.dram.bandwidth=")
    add("set-dots-only", "run", "mlp", "--chip", "toy", "--set", "...=1")
    add("set-base", "run", "mlp", "--chip", "toy", "--set", "base=h100-sxm")
    add("set-name-list", "run", "mlp", "--chip", "toy", "--set", "name=[1,2]")
    add("set-yaml-flow-map", "run", "mlp", "--chip", "toy", "--set", "memory={dram: 1}")
    add("set-anchor", "run", "mlp", "--chip", "toy", "--set", "name=&a [*a]")
    add("set-graph-launch-yes", "run", "mlp", "--chip", "toy", "--set", "launch.graph_launch=yes")
    add(
        "set-huge-number-of-sets",
        "run",
        "mlp",
        "--chip",
        "toy",
        *[a for i in range(2000) for a in ("--set", f"sources.k{i}=v")],
    )
    add("param-unknown", "run", "mlp", "--chip", "toy", "--param", "colour=red")
    add("param-layers-bool", "run", "mlp", "--chip", "toy", "--param", "layers=true")
    add("param-layers-max", "run", "mlp", "--chip", "toy", "--param", "layers=1000")
    add("param-width-float-str", "run", "mobilenet", "--chip", "toy", "--param", "width_mult=1e-9")
    add("dim-on-builder", "run", "mlp", "--chip", "toy", "--dim", "seq=4")
    add("dim-no-equals", "run", "g.yaml", "--chip", "toy", "--dim", "seq")
    add("batch-on-graph-file", "run", "g.yaml", "--chip", "toy", "--batch", "8")
    add("top-huge", "run", "mlp", "--chip", "toy", "--top", "1000000000")
    add("duration-1e-300", "run", "mlp", "--chip", "toy", "--duration", "1e-300s")
    add("duration-year", "run", "mlp", "--chip", "toy", "--duration", "1 year")
    add("batches-max", "run", "mlp", "--chip", "toy", "--batches", "1000000000", "-q")
    add(
        "batches-no-ff",
        "run",
        "mlp",
        "--chip",
        "toy",
        "--batches",
        "100000",
        "-q",
        "--set",
        "thermal.period=1us",
    )
    add(
        "prefetch-huge",
        "run",
        "mlp",
        "--chip",
        "toy",
        "--batches",
        "4",
        "--prefetch",
        "1000000000",
        "-q",
    )
    add(
        "input-compression-huge",
        "run",
        "mlp",
        "--chip",
        "toy",
        "--batches",
        "4",
        "--input-compression",
        "1e308",
        "-q",
    )
    add("runtime-bad", "run", "mlp", "--chip", "toy", "--runtime", "pytorch")
    add(
        "mode-generate-tokens-huge",
        "run",
        "llama-2-7b",
        "--chip",
        "h100-sxm",
        "--mode",
        "generate",
        "--tokens",
        "1000000",
        "-q",
    )
    add("seq-huge-llm", "run", "llama-2-7b", "--chip", "h100-sxm", "--seq", "10000000", "-q")
    add("max-positions-0", "run", "llama-2-7b", "--chip", "h100-sxm", "--max-positions", "0")
    add("weight-dtype-int4", "run", "llama-2-7b", "--chip", "toy", "--weight-dtype", "int4", "-q")
    add("kv-dtype-bad", "run", "llama-2-7b", "--chip", "toy", "--kv-dtype", "int3")
    add("explain-top-huge", "explain", "mlp", "--chip", "toy", "--top", "100000")
    add("explain-graph-json-out-is-graph", "explain", "g.yaml", "--chip", "toy", "--json", "g.yaml")
    add(
        "compare-same-chip-50", "compare", "mlp", *[a for _ in range(50) for a in ("--chip", "toy")]
    )
    add("compare-bad-second", "compare", "mlp", "g.yaml", "--chip", "toy", "--chip", "nope")
    add("compare-json-is-config", "compare", "mlp", "--chip", "toy", "--json", "config.json")
    # --json names an output: an existing file there (not an input of the run) is replaced
    cases[-1].protect = ["c.yaml", "g.yaml", "notes.txt"]
    add(
        "sweep-1e6-points",
        "sweep",
        "mlp",
        "--chip",
        "toy",
        "--vary",
        "batch=1..1000000+1",
        "--out",
        "s.csv",
    )
    add(
        "sweep-range-reversed",
        "sweep",
        "mlp",
        "--chip",
        "toy",
        "--vary",
        "batch=8..1*2",
        "--out",
        "s.csv",
    )
    add(
        "sweep-range-step-zero",
        "sweep",
        "mlp",
        "--chip",
        "toy",
        "--vary",
        "batch=1..8+0",
        "--out",
        "s.csv",
    )
    add(
        "sweep-out-notes-txt",
        "sweep",
        "mlp",
        "--chip",
        "toy",
        "--vary",
        "batch=1,2",
        "--out",
        "notes.txt",
    )
    add(
        "sweep-resume-binary",
        "sweep",
        "mlp",
        "--chip",
        "toy",
        "--vary",
        "batch=1,2",
        "--out",
        "b.csv",
        "--resume",
        "-j",
        "1",
        more={"b.csv": b"\x00\xff\xfe" * 1000},
    )
    cases[-1].protect = [*keep, "b.csv"]  # --resume must not cut a file it did not write
    add(
        "sweep-file-yaml-bomb",
        "sweep",
        "--file",
        "sw.yaml",
        more={
            "sw.yaml": "a: &a [x,x,x,x,x,x,x,x,x]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a]\n"
            "c: &c [*b,*b,*b,*b,*b,*b,*b,*b]\nd: [*c,*c,*c,*c,*c,*c,*c,*c]\n"
        },
    )
    add(
        "sweep-vary-name",
        "sweep",
        "mlp",
        "--chip",
        "toy",
        "--vary",
        "name=a,b",
        "--out",
        "s.csv",
        "-j",
        "1",
    )
    add(
        "sweep-vary-hypothetical-str",
        "sweep",
        "mlp",
        "--chip",
        "toy",
        "--vary",
        'hypothetical="yes","no"',
        "--out",
        "s.csv",
        "-j",
        "1",
    )
    add(
        "sweep-plot-is-chip",
        "sweep",
        "mlp",
        "--chip",
        "c.yaml",
        "--vary",
        "batch=1,2",
        "--out",
        "s.csv",
        "--plot",
        "c.yaml",
    )
    add("sweep-jobs-negative", "sweep", "mlp", "--chip", "toy", "--vary", "batch=1,2", "-j", "-3")
    add(
        "sweep-metric-bad",
        "sweep",
        "mlp",
        "--chip",
        "toy",
        "--vary",
        "batch=1,2",
        "--metric",
        "speed",
    )
    add(
        "sweep-sort-unknown",
        "sweep",
        "mlp",
        "--chip",
        "toy",
        "--vary",
        "batch=1,2",
        "--sort",
        "colour",
        "--out",
        "s.csv",
        "-j",
        "1",
    )
    add(
        "lut-out-existing-table",
        "lut",
        "equal-macs",
        "--chip",
        "toy",
        "--out",
        "t.csv",
        "-j",
        "1",
        more={"t.csv": lambda p: _lut_table(p)},
    )
    add("lut-out-dev-full", "lut", "equal-macs", "--chip", "toy", "--out", "/dev/full", "-j", "1")
    add("lut-space-is-chip", "lut", "c.yaml", "--chip", "toy", "--out", "t.csv")
    add(
        "lut-check-networks-max",
        "lut",
        "check",
        "equal-macs",
        "--chip",
        "toy",
        "--networks",
        "1000",
    )
    add("lut-space-dir", "lut", ".", "--chip", "toy")
    add(
        "serve-rate-zero",
        "serve",
        "llama-2-7b",
        "--duration",
        "10s",
        "--chip",
        "h100-sxm",
        "--rate",
        "0",
    )
    add(
        "serve-rate-huge",
        "serve",
        "llama-2-7b",
        "--duration",
        "10s",
        "--chip",
        "h100-sxm",
        "--rate",
        "1e12",
    )
    add(
        "serve-rate-nan",
        "serve",
        "llama-2-7b",
        "--duration",
        "10s",
        "--chip",
        "h100-sxm",
        "--rate",
        "nan",
    )
    add(
        "serve-duration-huge",
        "serve",
        "llama-2-7b",
        "--duration",
        "10s",
        "--chip",
        "h100-sxm",
        "--rate",
        "100",
        "--duration",
        "1e9 s",
    )
    add(
        "serve-max-batch-huge",
        "serve",
        "llama-2-7b",
        "--duration",
        "10s",
        "--chip",
        "h100-sxm",
        "--rate",
        "10",
        "--max-batch",
        "100000000",
    )
    add(
        "serve-trace-file-notes",
        "serve",
        "llama-2-7b",
        "--duration",
        "10s",
        "--chip",
        "h100-sxm",
        "--rate",
        "1",
        "--trace-file",
        "notes.txt",
    )
    add(
        "serve-slo-words",
        "serve",
        "llama-2-7b",
        "--duration",
        "10s",
        "--chip",
        "h100-sxm",
        "--rate",
        "1",
        "--slo-ttft",
        "soon",
    )
    add(
        "serve-model-graph",
        "serve",
        "g.yaml",
        "--duration",
        "10s",
        "--chip",
        "h100-sxm",
        "--rate",
        "1",
    )
    add("fit-measurements-notes", "fit", "toy", "-m", "notes.txt")
    add(
        "fit-out-is-measurements",
        "fit",
        "toy",
        "-m",
        "m.csv",
        "-o",
        "m.csv",
        more={"m.csv": "kind,shapes,dtype,seconds\nmatmul,64x64;64x64,fp16,1e-5\n"},
    )
    add(
        "fit-folds-huge",
        "fit",
        "toy",
        "-m",
        "m.csv",
        "--folds",
        "1000000",
        more={"m.csv": "kind,shapes,dtype,seconds\nmatmul,64x64;64x64,fp16,1e-5\n"},
    )
    add(
        "fit-param-unknown",
        "fit",
        "toy",
        "-m",
        "m.csv",
        "-p",
        "memory.nope",
        more={"m.csv": "kind,shapes,dtype,seconds\nmatmul,64x64;64x64,fp16,1e-5\n"},
    )
    add("accuracy-cases-notes", "accuracy", "--cases", "notes.txt")
    add("accuracy-split-bad", "accuracy", "--split", "everything")
    add("chips-export-out-chip", "chips", "export", "c.yaml", "--out", "c.yaml")
    add("chips-export-out-dir", "chips", "export", "toy", "--out", ".")
    add("chips-export-dev-full", "chips", "export", "toy", "--out", "/dev/full")
    add("chips-show-graph", "chips", "show", "g.yaml")
    add("chips-show-config", "chips", "show", "config.json")
    add("validate-dev-null", "validate", "/dev/null")
    add("validate-fifo", "validate", "fifo.yaml", more={"fifo.yaml": lambda p: os.mkfifo(p)})
    add("validate-json-is-input", "validate", "c.yaml", "--json", "c.yaml")
    add("plot-out-is-graph", "plot", "roofline", "g.yaml", "--chip", "toy", "-o", "g.yaml")
    add("plot-out-txt", "plot", "roofline", "mlp", "--chip", "toy", "-o", "p.txt")
    add("plot-kind-bad", "plot", "pie", "mlp", "--chip", "toy")
    add("chip-empty-string", "run", "mlp", "--chip", "")
    add("chip-path-traversal", "run", "mlp", "--chip", "../../../../etc/passwd")
    add("workload-100k-chars", "run", "w" * 100_000, "--chip", "toy")
    add("workload-dash", "run", "-", "--chip", "toy")
    add("workload-unicode", "run", "ｍｌｐ", "--chip", "toy")
    return cases


def _lut_table(path: Path) -> None:
    from sim.studies.lut import load_space, write_lut

    write_lut(load_space("equal-macs"), "toy", path, jobs=1, notice=lambda _: None)


def api_cases() -> list[Case]:
    snippets = {
        "simulate-none": "sim.simulate(None, hardware.load_chip('toy'))",
        "simulate-chip-str": "sim.simulate(workloads.build('mlp'), 'toy')",
        "simulate-options-dict-bad": "sim.simulate(workloads.build('mlp'), hardware.load_chip('toy'), "  # noqa: E501
        "options={'overlap': 'no'})",
        "simulate-options-kw": "sim.simulate(workloads.build('mlp'), hardware.load_chip('toy'), batches='3')",  # noqa: E501
        "load-chip-int": "hardware.load_chip(5)",
        "load-chip-bytes": "hardware.load_chip(b'toy')",
        "load-chip-overrides-list": "hardware.load_chip('toy', overrides=[('a', 1)])",
        "load-chip-override-bool-flag": "hardware.load_chip('toy', overrides={'hypothetical': 'no'})",  # noqa: E501
        "load-chip-override-nan": "hardware.load_chip('toy', overrides={'clock.nominal': float('nan')})",  # noqa: E501
        "load-chip-override-object": "hardware.load_chip('toy', overrides={'name': object()})",
        "load-chip-path-nul": "hardware.load_chip('to\\x00y.yaml')",
        "workloads-load-int": "workloads.load(3)",
        "workloads-load-dir": "workloads.load('.')",
        "workloads-build-layers-str": "workloads.build('mlp', layers='4')",
        "workloads-build-unknown-kw": "workloads.build('mlp', colour=1)",
        "workloads-build-batch-float": "workloads.build('resnet50', batch=1.5)",
        "workloads-build-name-none": "workloads.build(None)",
        "workloads-save-none": "workloads.save(None, 'x.yaml')",
        "graph-validate-bool-const": "from workloads.graph import Graph\n"
        "Graph.model_validate({'name':'g','tensors':{'x':{'shape':[1],"
        "'const':1}},'ops':[]})",
    }
    cases = []
    for name, body in snippets.items():
        code = (
            "import sys\nimport hardware, workloads, sim\nfrom hardware.errors import InputError\n"
            "try:\n"
            + "".join(f"    {line}\n" for line in body.splitlines())
            + "except InputError as err:\n    print('InputError:', err)\n    sys.exit(2)\n"
            "except Exception as err:\n"
            "    from pydantic import ValidationError\n"
            "    if isinstance(err, ValidationError) and 'graph-validate' in sys.argv[-1]:\n"
            "        print('ValidationError (pydantic model used directly)'); sys.exit(2)\n"
            "    raise\n"
        )
        cases.append(Case(f"api-{name}", "api", ["--python", code, name]))
    return cases
