"""Fuzzing the ONNX importer: random small models either import or are one InputError.

Hypothesis draws graphs of one to three nodes from the mapped op types, a few unknown
ones and other domains, with random attributes (right and wrong types, zeros, negatives),
inputs of rank 0 to 4 (sizes 0 and symbolic included), constants of either dtype and
empty input names. The fast profile (`ci` in tests/conftest.py) checks only the outcome;
TOPSIM_HYPOTHESIS=slow runs many more, each in a forked child whose peak memory is bounded.
"""

from __future__ import annotations

import multiprocessing
import os
import re
import warnings
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

onnx = pytest.importorskip("onnx")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

from hardware.errors import InputError  # noqa: E402
from workloads.graph import Graph  # noqa: E402
from workloads.onnx import MAPPERS, OnnxImport, import_onnx  # noqa: E402

SLOW = os.environ.get("TOPSIM_HYPOTHESIS") == "slow"
EXTRA_MEMORY_BYTES = 2**30  # one fuzzed import may grow the process by at most this

OP_TYPES = sorted(MAPPERS) + ["Shape", "Size", "Constant", "Range", "Mystery", "If"]
DOMAINS = ["", "", "", "", "ai.onnx", "com.microsoft", "com.example"]
DIMS = st.sampled_from([1, 2, 3, 4, 8, "N"])
ODD_DIMS = st.sampled_from([0, -1, 1, 3])  # one input in ten holds these

small_int = st.integers(-3, 5)
attribute_values = st.one_of(
    small_int,
    st.floats(-4, 8, allow_nan=False, width=32),
    st.lists(small_int, min_size=1, max_size=5),
    st.lists(st.floats(-2, 4, allow_nan=False, width=32), min_size=1, max_size=3),
    st.sampled_from(
        ["NOTSET", "SAME_UPPER", "VALID", "nearest", "linear", "ij,jk->ik", "i,i", "..."]
    ),
)
ATTRIBUTE_NAMES = [
    "axis",
    "axes",
    "keepdims",
    "strides",
    "pads",
    "dilations",
    "kernel_shape",
    "group",
    "perm",
    "num_outputs",
    "split",
    "transA",
    "transB",
    "equation",
    "starts",
    "ends",
    "auto_pad",
    "ceil_mode",
    "mode",
    "to",
    "alpha",
    "min",
    "max",
    "hidden_size",
    "allowzero",
    "shape",
    "noop_with_empty_axes",
]


@st.composite
def constants(draw, name: str):
    shape = draw(st.lists(st.integers(1, 4), min_size=0, max_size=2))
    dtype = draw(st.sampled_from([np.float32, np.int64]))
    values = draw(st.lists(small_int, min_size=int(np.prod(shape)), max_size=int(np.prod(shape))))
    return numpy_helper.from_array(np.array(values, dtype=dtype).reshape(shape), name)


odd = st.integers(0, 9).map(lambda k: int(k == 0))  # 1 one time in ten


@st.composite
def models(draw) -> bytes:
    """A serialized ModelProto: random inputs, constants and up to three random nodes."""
    inputs = [
        helper.make_tensor_value_info(
            f"x{i}",
            draw(st.sampled_from([TensorProto.FLOAT, TensorProto.FLOAT, TensorProto.INT64])),
            draw(st.lists(ODD_DIMS if draw(odd) else DIMS, min_size=0, max_size=4)),
        )
        for i in range(draw(st.integers(1, 2)))
    ]
    inits = [draw(constants(f"c{i}")) for i in range(draw(st.integers(0, 3)))]
    available = [c.name for c in inits] + [i.name for i in inputs]
    nodes = []
    for k in range(draw(st.integers(1, 3))):
        pool = available + [""] if draw(odd) else available[-3:]
        names = draw(st.lists(st.sampled_from(pool), min_size=draw(odd) ^ 1, max_size=3))
        outputs = [f"n{k}_{j}" for j in range(1 + draw(odd) * draw(st.integers(1, 2)))]
        keys = draw(st.lists(st.sampled_from(ATTRIBUTE_NAMES), max_size=3, unique=True))
        attrs = {key: draw(attribute_values) for key in keys}
        nodes.append(
            helper.make_node(
                draw(st.sampled_from(OP_TYPES)),
                names,
                outputs,
                name=f"node{k}",
                domain=draw(st.sampled_from(DOMAINS)),
                **attrs,
            )
        )
        available += outputs
    graph = helper.make_graph(
        nodes,
        "fuzz",
        inputs,
        [helper.make_tensor_value_info(o, TensorProto.FLOAT, None) for o in nodes[-1].output],
        inits,
    )
    opsets = [helper.make_opsetid("", draw(st.sampled_from([11, 13, 17, 18])))]
    opsets += [helper.make_opsetid(d, 1) for d in ("com.microsoft", "com.example")]
    model = helper.make_model(graph, opset_imports=opsets)
    model.ir_version = 8
    return model.SerializeToString()


def outcome(path) -> str:
    """'graph' or 'input error'; anything else escapes as the exception it is."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            result = import_onnx(path)
        except InputError as err:
            assert str(err) and "\n" not in str(err), str(err)
            return "input error"
    assert isinstance(result, OnnxImport) and isinstance(result.graph, Graph)
    return "graph"


def _status_bytes(field: str) -> int:
    status = Path("/proc/self/status").read_text(encoding="ascii")
    return int(re.search(rf"{field}:\s*(\d+)", status).group(1)) * 1024


def _child(path, conn) -> None:
    """In a forked child: reset the peak RSS (clear_refs 5), import, report the growth."""
    try:
        with open("/proc/self/clear_refs", "w", encoding="ascii") as refs:
            refs.write("5")
        start = _status_bytes("VmRSS")
        what = outcome(path)
        conn.send((what, _status_bytes("VmHWM") - start))
    except BaseException as exc:  # the test reports it
        conn.send((f"{exc.__class__.__name__}: {exc}", 0))


def isolated_outcome(path) -> tuple[str, int]:
    """The outcome of importing `path` in a forked child, and how far its RSS peaked above
    where it started (bytes)."""
    context = multiprocessing.get_context("fork")
    parent, child = context.Pipe()
    process = context.Process(target=_child, args=(path, child))
    process.start()
    result = parent.recv()
    process.join()
    return result


@given(data=models())
def test_a_random_model_imports_or_is_one_input_error(tmp_path_factory, data):
    path = tmp_path_factory.mktemp("fuzz") / "model.onnx"
    path.write_bytes(data)
    if not SLOW or not os.path.exists("/proc/self/clear_refs"):
        assert outcome(path) in ("graph", "input error")
        return
    what, growth = isolated_outcome(path)
    assert what in ("graph", "input error"), what
    assert growth < EXTRA_MEMORY_BYTES, f"the import grew RSS by {growth / 2**20:.0f} MiB"
