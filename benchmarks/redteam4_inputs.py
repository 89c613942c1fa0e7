"""Round four's input-file cases: accuracy cases files, fit profiles, validate-model and
calibrate bounds (see redteam4.py)."""

from __future__ import annotations

import json
import os

from redteam3_cases import Case, dump
from redteam4_cases import _model

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


def accuracy_cases() -> list[Case]:
    cases = []

    def add(name, content):
        cases.append(
            Case(
                f"accuracy-{name}",
                "accuracy",
                ["accuracy", "--cases", "c.yaml"],
                {"c.yaml": content},
                ["c.yaml"],
            )
        )

    def with_set(value):
        return dump({"cases": [{**CASE, "set": value}]})

    add("valid", dump({"cases": [CASE]}))
    for name, value in (
        ("null", None),
        ("list", ["memory.dram.bandwidth"]),
        ("string", "memory.dram.bandwidth=1 TB/s"),
        ("empty", {}),
        ("unknown-key", {"no.such.field": 1}),
        ("bad-unit", {"memory.dram.bandwidth": "lots"}),
        ("int-400-digits", {"memory.dram.bandwidth": 10**400}),
        ("nan", {"memory.dram.bandwidth": float("nan")}),
        ("neg", {"memory.dram.bandwidth": "-1 TB/s"}),
        ("nested", {"memory": {"dram": {"bandwidth": "1 TB/s"}}}),
        ("dunder", {"__class__": 1}),
        ("name", {"name": "evil\u202e"}),
        ("hypothetical", {"hypothetical": "yes"}),
        ("units-null", {"units": None}),
        ("key-int", {1: 2}),
        ("capacity-zero", {"memory.dram.capacity": "0 GB"}),
        ("bool", {"memory.dram.bandwidth": True}),
        ("list-value", {"memory.dram.bandwidth": [1, 2]}),
        ("clock-huge", {"clock.nominal": "1e30 GHz"}),
        ("launch-huge", {"launch.latency": "1e11 s"}),
        ("many-keys", {f"k{i}": i for i in range(5000)}),
    ):
        add(f"set-{name}", with_set(value))
    add("huge-file", dump({"cases": [{**CASE, "id": f"c{i}"} for i in range(20000)]}))
    add(
        "many-gemm-big",
        dump(
            {
                "cases": [
                    {
                        **CASE,
                        "id": f"c{i}",
                        "workload": {"gemm": [10**6, 10**6, 10**6], "dtype": "fp16"},
                    }
                    for i in range(200)
                ]
            }
        ),
    )
    add("not-a-map", "- 1\n- 2\n")
    add("cases-map", dump({"cases": {"a": CASE}}))
    add("dup-ids", dump({"cases": [CASE, CASE]}))
    add("measured-text", dump({"cases": [{**CASE, "measured": "fast"}]}))
    add("measured-zero", dump({"cases": [{**CASE, "measured": 0}]}))
    add(
        "gemm-negative",
        dump({"cases": [{**CASE, "workload": {"gemm": [-1, 64, 64], "dtype": "fp16"}}]}),
    )
    add(
        "generate-system-bad",
        dump(
            {
                "cases": [
                    {
                        **CASE,
                        "metric": "ttft_s",
                        "workload": {
                            "generate": "llama-2-7b",
                            "system": "nope",
                            "tp": 0,
                            "prompt": 1,
                            "tokens": 1,
                            "batch": 1,
                            "dtype": "fp16",
                        },
                    }
                ]
            }
        ),
    )
    add("fifo", lambda p: os.mkfifo(p))
    add("bad-utf8", b"cases:\n  - id: \xff\n")
    add(
        "anchors-bomb",
        "a: &a [x,x,x,x,x,x,x,x,x]\n"
        + "".join(
            f"{b}: &{b} [{','.join(['*' + a] * 9)}]\n"
            for a, b in zip("abcde", "bcdef", strict=True)
        )
        + "cases: [*f]\n",
    )
    return cases


def fit_cases() -> list[Case]:
    cases = []

    def add(name, data):
        text = data if isinstance(data, str) else json.dumps(data)
        cases.append(
            Case(
                f"fit-{name}",
                "fit",
                ["fit", "toy", "-m", "p.json", "--folds", "0"],
                {"p.json": text},
                ["p.json"],
            )
        )

    good = {
        "cat": "Node",
        "name": "mm_kernel_time",
        "dur": 10,
        "args": {
            "op_name": "MatMul",
            "input_type_shape": [{"float": [64, 64]}, {"float": [64, 64]}],
            "output_type_shape": [{"float": [64, 64]}],
        },
    }
    add("ort-valid", [good] * 3)
    add("ort-args-list", [{**good, "args": [1, 2]}])
    add("ort-args-string", [{**good, "args": "x"}])
    add("ort-dur-string", [{**good, "dur": "abc"}])
    add(
        "ort-dur-inf",
        [{**good, "dur": 1e308 * 10}]
        if False
        else '[{"cat":"Node","name":"a_kernel_time","dur":1e999,"args":'
        + json.dumps(good["args"])
        + "}]",
    )
    add(
        "ort-dur-nan",
        '[{"cat":"Node","name":"a_kernel_time","dur":NaN,"args":' + json.dumps(good["args"]) + "}]",
    )
    add("ort-dur-negative", [{**good, "dur": -5}])
    add("ort-dur-list", [{**good, "dur": [5]}])
    add(
        "ort-shape-strings",
        [{**good, "args": {**good["args"], "input_type_shape": [{"float": ["a", "b"]}]}}],
    )
    add(
        "ort-shape-huge",
        [
            {
                **good,
                "args": {
                    **good["args"],
                    "input_type_shape": [{"float": [10**30, 64]}, {"float": [64, 64]}],
                },
            }
        ],
    )
    add(
        "ort-shape-negative",
        [
            {
                **good,
                "args": {
                    **good["args"],
                    "input_type_shape": [{"float": [-64, 64]}, {"float": [64, 64]}],
                },
            }
        ],
    )
    add("ort-shape-map", [{**good, "args": {**good["args"], "input_type_shape": {"float": [64]}}}])
    add("ort-op-name-list", [{**good, "args": {**good["args"], "op_name": ["MatMul"]}}])
    add("ort-name-list", [{**good, "name": ["x"]}])
    add(
        "ort-dtype-weird",
        [
            {
                **good,
                "args": {
                    **good["args"],
                    "input_type_shape": [{"complex128": [64, 64]}, {"float": [64, 64]}],
                },
            }
        ],
    )
    add(
        "ort-conv-bad",
        [
            {
                **good,
                "args": {
                    "op_name": "Conv",
                    "input_type_shape": [{"float": [1]}, {"float": [1]}],
                    "output_type_shape": [{"float": [1]}],
                },
            }
        ],
    )
    add(
        "ort-transpose-bad",
        [
            {
                **good,
                "args": {
                    "op_name": "Transpose",
                    "input_type_shape": [{"float": [2, 3]}],
                    "output_type_shape": [{"float": [7, 7]}],
                },
            }
        ],
    )
    add(
        "ort-concat-bad",
        [
            {
                **good,
                "args": {
                    "op_name": "Concat",
                    "input_type_shape": [{"float": [2, 3]}, {"float": [4, 5, 6]}],
                    "output_type_shape": [{"float": [9]}],
                },
            }
        ],
    )
    add(
        "ort-gemm-one-input",
        [
            {
                **good,
                "args": {
                    "op_name": "Gemm",
                    "input_type_shape": [{"float": [2, 3]}],
                    "output_type_shape": [{"float": [2, 3]}],
                },
            }
        ],
    )
    add(
        "ort-gemm-scalar",
        [
            {
                **good,
                "args": {
                    "op_name": "Gemm",
                    "input_type_shape": [{"float": []}, {"float": []}],
                    "output_type_shape": [{"float": []}],
                },
            }
        ],
    )
    add("ort-many", [good] * 200_000)
    add("ort-empty", [])
    add("ort-scalars", [1, "x", None])
    add("deep-json", "[" * 100_000 + "]" * 100_000)
    kernel = {
        "ph": "X",
        "cat": "kernel",
        "name": "k",
        "ts": 5,
        "dur": 3,
        "args": {"correlation": 1},
    }
    launch = {
        "ph": "X",
        "cat": "cuda_runtime",
        "name": "cudaLaunchKernel",
        "pid": 1,
        "tid": 1,
        "ts": 2,
        "dur": 1,
        "args": {"correlation": 1},
    }
    op = {
        "ph": "X",
        "cat": "cpu_op",
        "name": "aten::mm",
        "pid": 1,
        "tid": 1,
        "ts": 1,
        "dur": 10,
        "args": {"Input Dims": [[64, 64], [64, 64]], "Input type": ["float", "float"]},
    }
    add("chrome-valid", {"traceEvents": [kernel, launch, op]})
    add("chrome-args-list", {"traceEvents": [{**kernel, "args": [1]}, launch, op]})
    add(
        "chrome-correlation-list",
        {"traceEvents": [kernel, {**launch, "args": {"correlation": [1]}}, op]},
    )
    add(
        "chrome-correlation-map",
        {"traceEvents": [{**kernel, "args": {"correlation": {"a": 1}}}, launch, op]},
    )
    add("chrome-dur-string", {"traceEvents": [{**kernel, "dur": "abc"}, launch, op]})
    add("chrome-ts-string", {"traceEvents": [kernel, {**launch, "ts": "x"}, op]})
    add("chrome-op-dur-string", {"traceEvents": [kernel, launch, {**op, "dur": "x"}]})
    add(
        "chrome-dims-strings",
        {
            "traceEvents": [
                kernel,
                launch,
                {**op, "args": {"Input Dims": [["a"]], "Input type": ["float"]}},
            ]
        },
    )
    add(
        "chrome-dims-huge",
        {
            "traceEvents": [
                kernel,
                launch,
                {**op, "args": {"Input Dims": [[10**30, 64], [64, 64]], "Input type": ["float"]}},
            ]
        },
    )
    add(
        "chrome-dims-nested",
        {
            "traceEvents": [
                kernel,
                launch,
                {**op, "args": {"Input Dims": [[[64]], [64]], "Input type": ["float"]}},
            ]
        },
    )
    add(
        "chrome-types-string",
        {
            "traceEvents": [
                kernel,
                launch,
                {**op, "args": {"Input Dims": [[64, 64], [64, 64]], "Input type": "float"}},
            ]
        },
    )
    add("chrome-op-args-list", {"traceEvents": [kernel, launch, {**op, "args": [1]}]})
    add("chrome-dur-negative", {"traceEvents": [{**kernel, "dur": -3}, launch, op]})
    add("chrome-events-not-list", {"traceEvents": {"a": 1}})
    add("chrome-name-list", {"traceEvents": [kernel, launch, {**op, "name": ["aten::mm"]}]})
    add("chrome-pid-list", {"traceEvents": [kernel, {**launch, "pid": [1]}, op]})
    add("chrome-many", {"traceEvents": [kernel, launch, op] * 50_000})
    return cases


def measure_cases() -> list[Case]:
    cases = []

    def add(category, name, args, files=None):
        files = files or {}
        cases.append(Case(f"{category}-{name}", category, args, files, list(files)))

    vm = ["validate-model", "--chip", "toy", "--runs", "1", "--warmup", "0"]
    add("validate", "model-missing", [*vm, "-m", "nope.onnx"])
    add("validate", "model-dir", [*vm, "-m", "d.onnx"], {"d.onnx": lambda p: p.mkdir()})
    add("validate", "model-fifo", [*vm, "-m", "f.onnx"], {"f.onnx": lambda p: os.mkfifo(p)})
    add("validate", "model-garbage", [*vm, "-m", "g.onnx"], {"g.onnx": os.urandom(1000)})
    add(
        "validate",
        "model-truncated",
        [*vm, "-m", "t.onnx"],
        {"t.onnx": lambda p: p.write_bytes(_model().SerializeToString()[:200])},
    )
    add("validate", "model-unknown-builder", [*vm, "-m", "no-such-builder"])
    add("validate", "model-empty-name", [*vm, "-m", ""])
    add("validate", "model-yaml", [*vm, "-m", "g.yaml"], {"g.yaml": "ops: []\n"})
    add(
        "validate",
        "model-dynamic-dims",
        [*vm, "-m", "dyn.onnx"],
        {"dyn.onnx": lambda p: p.write_bytes(_dynamic_model())},
    )
    for flag, value in (
        ("--batch", "0"),
        ("--batch", "-1"),
        ("--batch", str(10**9)),
        ("--runs", "0"),
        ("--runs", str(10**12)),
        ("--warmup", "-1"),
        ("--warmup", str(10**12)),
        ("--threads", "0"),
        ("--threads", "-1"),
        ("--threads", "100000"),
        ("--fusion", "bogus"),
    ):
        add(
            "validate",
            f"{flag[2:]}-{value}",
            ["validate-model", "--chip", "toy", "-m", "nope.onnx", flag, value],
        )
    add(
        "validate",
        "save-chip-is-model",
        [*vm, "-m", "m.onnx", "--save-chip", "m.onnx"],
        {"m.onnx": lambda p: p.write_bytes(_model().SerializeToString())},
    )
    add(
        "validate",
        "json-is-model",
        [*vm, "-m", "m.onnx", "--json", "m.onnx"],
        {"m.onnx": lambda p: p.write_bytes(_model().SerializeToString())},
    )
    for value in ("0", "-1", "100000", str(10**30)):
        add(
            "calibrate",
            f"threads-{value}",
            ["calibrate", "--quick", "--threads", value, "-o", "c.yaml"],
        )
    add("calibrate", "device-tpu", ["calibrate", "--quick", "--device", "tpu", "-o", "c.yaml"])
    add("calibrate", "device-cuda", ["calibrate", "--quick", "--device", "cuda", "-o", "c.yaml"])
    add("calibrate", "out-dir", ["calibrate", "--quick", "-o", "d"], {"d": lambda p: p.mkdir()})
    add("calibrate", "out-missing-dir", ["calibrate", "--quick", "-o", "no/such/c.yaml"])
    add(
        "calibrate",
        "out-existing",
        ["calibrate", "--quick", "--threads", "0", "-o", "c.yaml"],
        {"c.yaml": "precious"},
    )
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
