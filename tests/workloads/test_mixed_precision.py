"""Mixed precision in one graph: an int8 transformer keeps its vector ops in fp16.

On the toy chip (hardware/presets/toy.yaml) the matrix engine has int8 and fp16 rates
but its vector lanes only fp16 and fp32: an int8 LayerNorm cannot run there and falls
back to the host CPU, an fp16 one stays on the accelerator at 8 element ops per cycle.
"""

from __future__ import annotations

import pytest

import hardware
import sim
from hardware.errors import InputError
from sim.lower import assign_units
from workloads import build
from workloads.zoo.transformer import CONFIGS, transformer

TOY = hardware.load_chip("toy")
MATRIX = {"linear", "matmul", "attention", "conv2d"}


def _bert(**kwargs):
    return transformer(CONFIGS["bert-base"], batch=1, seq=16, layers=1, **kwargs)


def test_int8_bert_runs_matrix_ops_in_int8_and_the_rest_in_fp16():
    graph = build("bert-base", seq=16, dtype="int8")
    by_kind: dict[str, set[str]] = {}
    for op in graph.ops:
        by_kind.setdefault(op.kind, set()).add(op.dtype)
    assert by_kind["linear"] == by_kind["attention"] == {"int8"}
    assert by_kind["layernorm"] == by_kind["add"] == by_kind["gelu"] == {"fp16"}
    # tensors stay int8: the fp16 ops read and write int8 (int8 I/O kernels)
    norm = next(op for op in graph.ops if op.kind == "layernorm")
    assert graph.tensors[norm.inputs[0]].dtype == graph.tensors[norm.outputs[0]].dtype == "int8"
    assert norm.read_bytes == pytest.approx(16 * 768 + 2 * 768)


def test_vector_dtype_int8_gives_the_all_int8_graph():
    graph = build("bert-base", seq=16, dtype="int8", vector_dtype="int8")
    assert {op.dtype for op in graph.ops if op.kind != "embedding"} == {"int8"}
    mixed = build("bert-base", seq=16, dtype="int8")
    assert mixed.macs == graph.macs
    assert sum(t.nbytes for t in mixed.tensors.values()) == sum(
        t.nbytes for t in graph.tensors.values()
    )


def test_float_graphs_are_unchanged():
    for dtype in ("fp16", "bf16", "fp32"):
        graph = build("bert-base", seq=16, dtype=dtype)
        assert {op.dtype for op in graph.ops} == {dtype}
        assert not any("dtype" in op.attrs for op in graph.ops if op.kind != "embedding")


def test_bad_vector_dtype_is_an_input_error():
    with pytest.raises(InputError, match="vector_dtype"):
        build("bert-base", dtype="int8", vector_dtype="int3")


def test_fp16_norms_stay_on_the_accelerator_where_int8_ones_fall_back_to_the_host():
    mixed, all_int8 = _bert(dtype="int8"), _bert(dtype="int8", vector_dtype="int8")
    a, b = assign_units(mixed, TOY), assign_units(all_int8, TOY)
    for op in mixed.ops:
        if op.kind in MATRIX:  # the same int8 GEMMs, stage for stage
            assert a.unit[op.name] == b.unit[op.name] == "mxu"
            assert a.stage[op.name] == b.stage[op.name]
        if op.kind == "layernorm":
            assert a.unit[op.name] == "mxu" and a.stage[op.name].rate == 8
            assert b.unit[op.name] == "cpu"
    # fewer host round trips: the mixed graph is faster on this chip
    assert sim.simulate(mixed, TOY).latency_s < sim.simulate(all_int8, TOY).latency_s
