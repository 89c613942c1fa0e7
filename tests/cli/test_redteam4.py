"""Regressions from the fourth red-team round (benchmarks/redteam4.py runs the whole round):
one test per root cause, each fast."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from hardware.errors import InputError
from hardware.system import load_system
from sim.studies import accuracy, measurements
from sim.studies.serve import read_trace, serve_rates
from sim.system.run import run_system
from sim.system.sweep import compare_plans, parse_plans
from tests.cli.test_corpus import assert_rejected, topsim
from workloads.onnx.lean import lean_bytes
from workloads.onnx.read import MAX_RANK, WHOLE_PARSE_BYTES, read_model

# the wire-format walker: a product of many huge dims is held at the limit ------------------


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte, value = value & 0x7F, value >> 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def _ld(number: int, payload: bytes) -> bytes:
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def test_many_huge_dims_are_counted_in_linear_time() -> None:
    dims = _ld(1, _varint(2**40) * 100_000)  # a 4-million-bit product if multiplied out
    tensor = dims + _ld(9, b"\0" * 16)  # raw_data
    model = _ld(7, _ld(5, tensor))
    lean = lean_bytes(memoryview(model), 1 << 16)
    assert b"\0" * 16 not in lean  # over the limit: its data left out
    assert len(lean) < len(model)


def test_a_zero_dim_after_huge_ones_is_still_empty() -> None:
    tensor = _ld(1, _varint(2**40) * 3 + _varint(0)) + _ld(9, b"\1" * 16)
    model = _ld(7, _ld(5, tensor))
    assert b"\1" * 16 in lean_bytes(memoryview(model), 1 << 16)  # 0 elements: kept


def _model_bytes() -> bytes:
    pytest.importorskip("onnx")
    import numpy as np
    from onnx import TensorProto, helper, numpy_helper

    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "W"], ["y"])],
        "m",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 256])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 300])],
        initializer=[numpy_helper.from_array(np.ones((256, 300), np.float32), "W")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    return model.SerializeToString()


def test_a_constant_of_100k_dims_is_refused_by_rank(tmp_path: Path) -> None:
    tensor = _ld(1, _varint(2**40) * 100_000) + _ld(8, b"W") + _varint(2 << 3) + _varint(1)
    path = tmp_path / "m.onnx"
    path.write_bytes(_model_bytes() + _ld(7, _ld(5, tensor)))
    with pytest.raises(InputError, match=f"at most {MAX_RANK}"):
        read_model(path)


def test_a_large_file_the_walker_refuses_is_not_read_whole(tmp_path: Path) -> None:
    path = tmp_path / "m.onnx"
    with open(path, "wb") as handle:  # a sparse file: the model, then zeros (field 0)
        handle.write(_model_bytes())
        handle.truncate(WHOLE_PARSE_BYTES + 2**20)
    result = topsim("run", str(path), "--chip", "toy", "-q")
    assert_rejected(result.exit_code, result.stdout, result.stderr, "not valid protobuf")


# serve --trace-file: read as every user file is ---------------------------------------------


@pytest.mark.parametrize(
    ("content", "word"),
    [
        (b"prompt,tokens\n\xff\xfe,5\n", "UTF-8"),
        (b"prompt,tokens\n" + b"1" * 200_000 + b",5\n", "field larger"),
    ],
)
def test_a_bad_serve_trace_file_is_an_input_error(
    tmp_path: Path, content: bytes, word: str
) -> None:
    path = tmp_path / "t.csv"
    path.write_bytes(content)
    with pytest.raises(InputError, match=word):
        read_trace(path)


def test_a_serve_trace_that_is_a_pipe_is_refused_without_waiting(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    os.mkfifo(path)
    with pytest.raises(InputError, match="not a regular file"):
        read_trace(path)


def test_a_serve_trace_error_quotes_a_short_row(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_text("prompt,tokens\n" + "x" * 100_000 + ",5\n", encoding="utf-8")
    with pytest.raises(InputError) as caught:
        read_trace(path)
    assert len(str(caught.value)) < 300


# fit: malformed profiles are skipped events, not crashes ---------------------------------------

GOOD = {
    "cat": "Node",
    "name": "mm_kernel_time",
    "dur": 10,
    "args": {
        "op_name": "MatMul",
        "input_type_shape": [{"float": [64, 64]}, {"float": [64, 64]}],
        "output_type_shape": [{"float": [64, 64]}],
    },
}


@pytest.mark.parametrize(
    "event",
    [
        {**GOOD, "args": [1, 2]},
        {**GOOD, "args": "x"},
        {**GOOD, "dur": float("inf")},
        {**GOOD, "dur": float("nan")},
        {**GOOD, "dur": 1e12},
    ],
)
def test_a_malformed_onnxruntime_event_is_skipped(event: dict) -> None:
    found = measurements.read_onnxruntime_profile([event, GOOD])
    assert len(found.rows) == 1
    assert sum(found.skipped.values()) == 1


KERNEL = {"ph": "X", "cat": "kernel", "name": "k", "ts": 5, "dur": 3, "args": {"correlation": 1}}
LAUNCH = {
    "ph": "X",
    "cat": "cuda_runtime",
    "name": "launch",
    "pid": 1,
    "tid": 1,
    "ts": 2,
    "dur": 1,
    "args": {"correlation": 1},
}
OP = {
    "ph": "X",
    "cat": "cpu_op",
    "name": "aten::mm",
    "pid": 1,
    "tid": 1,
    "ts": 1,
    "dur": 10,
    "args": {"Input Dims": [[64, 64], [64, 64]], "Input type": ["float", "float"]},
}


@pytest.mark.parametrize(
    "events",
    [
        [{**KERNEL, "args": [1]}, LAUNCH, OP],
        [KERNEL, {**LAUNCH, "args": {"correlation": [1]}}, OP],
        [{**KERNEL, "dur": "abc"}, LAUNCH, OP],
        [KERNEL, {**LAUNCH, "ts": "x"}, OP],
        [KERNEL, LAUNCH, {**OP, "dur": float("nan")}],
        [KERNEL, LAUNCH, {**OP, "args": {"Input Dims": [["a"]], "Input type": ["float"]}}],
        [KERNEL, LAUNCH, {**OP, "args": {"Input Dims": [[64, 64]], "Input type": "float"}}],
        [KERNEL, {**LAUNCH, "pid": [1]}, OP],
        [{**KERNEL, "dur": -3}, LAUNCH, OP],
        [KERNEL, LAUNCH, {**OP, "name": ["aten::mm"]}],
    ],
)
def test_a_malformed_chrome_trace_gives_no_rows_and_no_crash(events: list) -> None:
    found = measurements.read_chrome_trace(events)
    assert found.rows == []
    assert found.skipped


def test_the_good_chrome_trace_still_reads() -> None:
    assert len(measurements.read_chrome_trace([KERNEL, LAUNCH, OP]).rows) == 1


def test_deeply_nested_json_measurements_are_an_input_error(tmp_path: Path) -> None:
    path = tmp_path / "p.json"
    path.write_text("[" * 100_000 + "]" * 100_000, encoding="utf-8")
    with pytest.raises(InputError, match="nested"):
        measurements.read_measurements(path)


# system --plans: a degree of thousands of digits -------------------------------------------


def test_a_plan_degree_of_5000_digits_is_refused() -> None:
    with pytest.raises(InputError, match="at most 9"):
        parse_plans("tp" + "9" * 5000)
    assert parse_plans("tp999999999") == [{"tp": 999_999_999}]


# validate-model never writes over a model it reads ----------------------------------------


def test_validate_model_json_equal_to_the_model_is_refused(tmp_path: Path) -> None:
    pytest.importorskip("onnxruntime")
    path = tmp_path / "m.onnx"
    path.write_bytes(_model_bytes())
    before = path.read_bytes()
    result = topsim(
        "validate-model", "--chip", "toy", "-m", str(path), "--runs", "1", "--json", str(path)
    )
    assert_rejected(result.exit_code, result.stdout, result.stderr, "input", str(path))
    assert path.read_bytes() == before


# accuracy --cases: the guarded loader every user file goes through ------------------------


def test_a_cases_file_goes_through_the_guarded_yaml_loader(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("cases: []\ncases: []\n", encoding="utf-8")
    with pytest.raises(InputError, match="duplicate key"):
        accuracy.load_cases(path)
    path.write_text("cases:\n" + "  - [1, 2, 3, 4, 5, 6, 7, 8, 9]\n" * 30_000, encoding="utf-8")
    with pytest.raises(InputError, match="values"):  # refused before building 300k values
        accuracy.load_cases(path)


# the Python API of today's features raises InputError, never TypeError ---------------------


def _toy4():
    return load_system("toy-4")


@pytest.mark.parametrize(
    "call",
    [
        lambda: run_system(["x"], _toy4()),
        lambda: run_system("llama-2-7b", "toy-4"),
        lambda: run_system("llama-2-7b", _toy4(), dtype=["fp16"]),
        lambda: parse_plans(None),
        lambda: compare_plans("llama-2-7b", _toy4(), "tp4"),
        lambda: compare_plans("llama-2-7b", _toy4(), [{"zz": 1}]),
        lambda: compare_plans(["x"], _toy4(), None),
    ],
)
def test_system_api_rejects_wrong_types(call) -> None:
    with pytest.raises(InputError):
        call()


@pytest.mark.parametrize(
    "kwargs",
    [
        {"rates_per_s": 5},
        {"lengths": [(1,)]},
        {"lengths": 5},
        {"slo_ttft_s": "1"},
        {"slo_tpot_s": float("nan")},
    ],
)
def test_serve_api_rejects_wrong_types(kwargs: dict) -> None:
    import hardware

    args = {"rates_per_s": [1.0], "duration_s": 1.0, **kwargs}
    with pytest.raises(InputError):
        serve_rates("llama-2-7b", hardware.load_chip("h100-sxm"), **args)


@pytest.mark.parametrize(
    "call",
    [
        lambda: read_trace(None),
        lambda: accuracy.load_cases(5),
        lambda: measurements.read_measurements(None),
        lambda: measurements.read_chrome_trace(None),
        lambda: read_model(5),
    ],
)
def test_file_readers_reject_a_path_that_is_not_one(call) -> None:
    with pytest.raises(InputError):
        call()


# the walker leaves out large tensors wherever the model holds them -------------------------


def test_large_tensors_in_constants_subgraphs_and_sparse_initializers_are_left_out() -> None:
    pytest.importorskip("onnx")
    import numpy as np
    from onnx import ModelProto, TensorProto, helper, numpy_helper

    def big(name: str):
        return numpy_helper.from_array(np.ones((10, 10), np.float32), name)

    value = helper.make_tensor_value_info
    then = helper.make_graph(
        [helper.make_node("Identity", ["b"], ["t"])], "then", [], [value("t", 1, None)],
        initializer=[big("b")],
    )  # fmt: skip
    other = helper.make_graph(
        [helper.make_node("Identity", ["x"], ["e"])], "else", [], [value("e", 1, None)]
    )
    sparse = helper.make_sparse_tensor(
        big("v"), numpy_helper.from_array(np.arange(100), "i"), [100]
    )
    graph = helper.make_graph(
        [
            helper.make_node("Constant", [], ["k"], value=big("k")),
            helper.make_node("If", ["c"], ["y"], then_branch=then, else_branch=other),
        ],
        "m",
        [value("x", 1, [10, 10]), value("c", TensorProto.BOOL, [])],
        [value("y", 1, None)],
        sparse_initializer=[sparse],
    )
    data = helper.make_model(graph).SerializeToString()
    lean = ModelProto.FromString(lean_bytes(memoryview(data), 16))
    constant = lean.graph.node[0].attribute[0].t
    (branch,) = (
        a.g.initializer[0] for a in lean.graph.node[1].attribute if a.name == "then_branch"
    )
    values = lean.graph.sparse_initializer[0].values
    for tensor in (constant, branch, values):
        assert list(tensor.dims) == [10, 10] or list(tensor.dims) == [100]
        assert not tensor.raw_data and not tensor.float_data
    assert ModelProto.FromString(lean_bytes(memoryview(data), 1000)) == ModelProto.FromString(data)


def test_messages_nested_past_protobufs_limit_are_refused() -> None:
    from workloads.onnx.lean import MAX_DEPTH, WireError

    body = b"\0" * 40_000  # long enough to be walked at limit 16
    for _ in range(MAX_DEPTH + 2):  # graph -> node -> attribute.g -> graph -> ...
        body = _ld(1, _ld(5, _ld(6, body)))
    with pytest.raises(WireError, match="nested"):
        lean_bytes(memoryview(_ld(7, body)), 16)


# a name longer than the file system allows is a missing file, not an OSError ---------------

LONG = "x" * 5000


@pytest.mark.parametrize(
    "args",
    [
        ("run", f"{LONG}.onnx", "--chip", "toy", "-q"),
        ("lut", LONG, "--chip", "toy"),
        ("validate-model", "--chip", "toy", "-m", f"{LONG}.onnx"),
    ],
)
def test_a_path_too_long_for_the_file_system_is_an_input_error(args: tuple) -> None:
    result = topsim(*args)
    assert_rejected(result.exit_code, result.stdout, result.stderr, "x")


def test_a_system_whose_chip_name_is_too_long_is_an_input_error(tmp_path: Path) -> None:
    system = tmp_path / "s.yaml"
    system.write_text(
        "name: s\nhypothetical: true\nchips: 4\nhost: {description: h}\n"
        f"chip: {LONG}\ninterconnect: {{topology: ring, bandwidth: 1 GB/s, latency: 1 us}}\n",
        encoding="utf-8",
    )
    with pytest.raises(InputError, match="field 'chip'"):
        load_system(system)


# a system override of the whole chip is applied, never silently dropped ---------------------


def test_a_system_override_of_the_chip_replaces_it() -> None:
    assert load_system("toy-4", overrides={"chip": "h100-sxm"}).chip.name == "h100-sxm"
    changed = load_system(
        "toy-4", overrides={"chip": "h100-sxm", "chip.memory.dram.capacity": "1 GB"}
    )
    assert changed.chip.memory.dram.capacity == 1e9
    with pytest.raises(InputError, match="field 'chip'"):
        load_system("toy-4", overrides={"chip": "no-such-chip"})
