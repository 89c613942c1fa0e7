"""Quantized ONNX models (QDQ pairs, QLinear/Integer ops) import as int8 ops in float graphs.

Every model is built here with onnx.helper (nothing committed). The timing checks use the
toy chip (hardware/presets/toy.yaml): 4 instances, matrix fp16 64 and int8 128 MACs per
cycle, vector fp16 8 per cycle, no int8 vector lanes (an int8 vector op goes to the host).
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

import hardware
from sim.lower import assign_units
from workloads.onnx import OnnxImportWarning, import_onnx, load_onnx

onnx = pytest.importorskip("onnx")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

TOY = hardware.load_chip("toy")
M, K, N = 64, 128, 256


def _init(name: str, value) -> object:
    return numpy_helper.from_array(np.asarray(value), name)


def _save(tmp_path, name, nodes, inputs, outputs, inits, opset=17) -> str:
    graph = helper.make_graph(nodes, name, inputs, outputs, inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    onnx.checker.check_model(model)
    path = tmp_path / f"{name}.onnx"
    onnx.save(model, path)
    return str(path)


def _scales(*names: str) -> list:
    inits = []
    for name in names:
        inits += [_init(f"s_{name}", np.float32(0.02)), _init(f"z_{name}", np.int8(0))]
    return inits


def qdq_model(tmp_path, quantized: bool = True) -> str:
    """x[M,K] fp32 -> (Q, DQ) -> MatMul with a (DQ) int8 weight -> (Q, DQ) -> fp16 LayerNorm.

    With quantized=False the same network without Q/DQ: an fp16 MatMul and LayerNorm.
    """
    rng = np.random.default_rng(0)
    norm = [_init("g", np.ones(N, np.float16)), _init("b", np.zeros(N, np.float16))]
    layernorm = helper.make_node("LayerNormalization", ["h", "g", "b"], ["z"], axis=-1)
    out = [helper.make_tensor_value_info("z", TensorProto.FLOAT16, [M, N])]
    if not quantized:
        w = _init("w", rng.standard_normal((K, N)).astype(np.float16))
        nodes = [helper.make_node("MatMul", ["x", "w"], ["h"]), layernorm]
        x = [helper.make_tensor_value_info("x", TensorProto.FLOAT16, [M, K])]
        return _save(tmp_path, "plain", nodes, x, out, [w, *norm])
    w_q = _init("w_q", rng.integers(-127, 127, (K, N)).astype(np.int8))
    nodes = [
        helper.make_node("QuantizeLinear", ["x", "s_x", "z_x"], ["x_q"]),
        helper.make_node("DequantizeLinear", ["x_q", "s_x", "z_x"], ["x_dq"]),
        helper.make_node("DequantizeLinear", ["w_q", "s_w", "z_w"], ["w_dq"]),
        helper.make_node("MatMul", ["x_dq", "w_dq"], ["y"]),
        helper.make_node("QuantizeLinear", ["y", "s_y", "z_y"], ["y_q"]),
        helper.make_node("DequantizeLinear", ["y_q", "s_y", "z_y"], ["y_dq"]),
        helper.make_node("Cast", ["y_dq"], ["h"], to=TensorProto.FLOAT16),
        layernorm,
    ]
    x = [helper.make_tensor_value_info("x", TensorProto.FLOAT, [M, K])]
    return _save(tmp_path, "qdq", nodes, x, out, [w_q, *_scales("x", "w", "y"), *norm])


def test_qdq_matmul_imports_as_an_int8_op_with_int8_weights_and_requantized_output(tmp_path):
    with warnings.catch_warnings():
        warnings.simplefilter("error", OnnxImportWarning)
        graph = load_onnx(qdq_model(tmp_path))
    ops = {op.name: op for op in graph.ops}
    # Q(x) is a cast op; the DQs feeding the MatMul and the Q after it emit no op
    assert [op.kind for op in graph.ops] == ["cast", "linear", "cast", "cast", "layernorm"]
    linear = next(op for op in graph.ops if op.kind == "linear")
    assert linear.dtype == "int8"
    assert [graph.tensors[t].dtype for t in linear.inputs] == ["int8", "int8"]
    assert linear.inputs[1] == "w_q" and graph.tensors["w_q"].const
    assert linear.outputs == ["y_q"] and graph.tensors["y_q"].dtype == "int8"
    assert linear.macs == M * K * N
    assert linear.read_bytes == M * K + K * N  # 1 byte each
    assert linear.write_bytes == M * N
    quantize = ops["QuantizeLinear_0"]
    assert quantize.dtype == "fp32" and graph.tensors[quantize.outputs[0]].dtype == "int8"
    dequantize = ops["DequantizeLinear_5"]  # feeds a float op: a cast computing in fp32
    assert dequantize.dtype == "fp32" and dequantize.inputs == ["y_q"]
    norm = next(op for op in graph.ops if op.kind == "layernorm")
    assert norm.dtype == "fp16"


def test_int8_gemm_takes_half_the_fp16_cycles_and_the_norm_keeps_its_fp16_time(tmp_path):
    quantized = load_onnx(qdq_model(tmp_path))
    plain = load_onnx(qdq_model(tmp_path, quantized=False))
    q_stages, p_stages = assign_units(quantized, TOY).stage, assign_units(plain, TOY).stage

    def stage(graph, stages, kind):
        return stages[next(op.name for op in graph.ops if op.kind == kind)]

    # GEMM M=64, N=256, K=128 on 16x16 blocks: 4*16 = 64 tiles, 16 waves on 4 instances;
    # a tile is 16*16*128 MACs at 64 (fp16) or 128 (int8) per cycle: 512 or 256 cycles
    fp16, int8 = stage(plain, p_stages, "linear"), stage(quantized, q_stages, "linear")
    assert fp16.rate == 64 and int8.rate == 128
    waves = math.ceil(fp16.tiles / 4)
    assert waves == math.ceil(int8.tiles / 4)
    assert waves * fp16.tile_cycles == pytest.approx(16 * 512 / fp16.efficiency)
    assert waves * int8.tile_cycles == pytest.approx(16 * 256 / int8.efficiency)
    # the LayerNorm is the same fp16 op in both graphs: same unit, rate and cycles
    a, b = stage(plain, p_stages, "layernorm"), stage(quantized, q_stages, "layernorm")
    assert a.rate == b.rate == 8
    assert (a.tiles, a.tile_cycles) == (b.tiles, b.tile_cycles)


def test_weight_only_dequantize_keeps_the_float_activation(tmp_path):
    w_q = _init("w_q", np.ones((K, N), np.int8))
    nodes = [
        helper.make_node("DequantizeLinear", ["w_q", "s_w", "z_w"], ["w_dq"]),
        helper.make_node("MatMul", ["x", "w_dq"], ["y"]),
    ]
    x = [helper.make_tensor_value_info("x", TensorProto.FLOAT, [M, K])]
    y = [helper.make_tensor_value_info("y", TensorProto.FLOAT, [M, N])]
    graph = load_onnx(_save(tmp_path, "wonly", nodes, x, y, [w_q, *_scales("w")]))
    (linear,) = graph.ops
    assert linear.dtype == "fp32" and linear.inputs == ["x", "w_q"]
    assert graph.tensors["w_q"].dtype == "int8"  # the weight-only path of sim/lower.py


def test_dequantize_read_by_an_int8_op_and_a_float_op_is_one_cast(tmp_path):
    """x_dq feeds the MatMul (int8, reads x_q) and a Relu (float): one cast for the Relu."""
    nodes = [
        helper.make_node("QuantizeLinear", ["x", "s_x", "z_x"], ["x_q"]),
        helper.make_node("DequantizeLinear", ["x_q", "s_x", "z_x"], ["x_dq"]),
        helper.make_node("DequantizeLinear", ["w_q", "s_w", "z_w"], ["w_dq"]),
        helper.make_node("MatMul", ["x_dq", "w_dq"], ["y"]),
        helper.make_node("Relu", ["x_dq"], ["r"]),
    ]
    x = [helper.make_tensor_value_info("x", TensorProto.FLOAT, [M, K])]
    outs = [
        helper.make_tensor_value_info("y", TensorProto.FLOAT, [M, N]),
        helper.make_tensor_value_info("r", TensorProto.FLOAT, [M, K]),
    ]
    inits = [_init("w_q", np.ones((K, N), np.int8)), *_scales("x", "w")]
    graph = load_onnx(_save(tmp_path, "shared", nodes, x, outs, inits))
    kinds = {op.name: (op.kind, op.dtype, op.inputs) for op in graph.ops}
    assert kinds["MatMul_3"] == ("linear", "int8", ["x_q", "w_q"])
    assert kinds["DequantizeLinear_1"] == ("cast", "fp32", ["x_q"])
    assert kinds["Relu_4"] == ("relu", "fp32", ["x_dq"])
    # no Q follows the MatMul: its int32 accumulator is dequantized to ONNX's fp32 output
    assert graph.tensors["y"].dtype == "fp32"


def test_qlinear_and_integer_ops_are_int8(tmp_path):
    rng = np.random.default_rng(1)
    conv_w = _init("cw", rng.integers(-8, 8, (8, 4, 3, 3)).astype(np.int8))
    inits = [
        _init("w", rng.integers(-8, 8, (K, N)).astype(np.int8)),
        conv_w,
        _init("sa", np.float32(0.1)),
        _init("za", np.uint8(128)),
        _init("sw", np.float32(0.1)),
        _init("zw", np.int8(0)),
        _init("sy", np.float32(0.1)),
        _init("zy", np.uint8(128)),
    ]
    nodes = [
        helper.make_node("DynamicQuantizeLinear", ["x"], ["xq", "xs", "xz"]),
        helper.make_node("MatMulInteger", ["xq", "w", "xz"], ["acc"]),
        helper.make_node("QLinearMatMul", ["xq", "sa", "za", "w", "sw", "zw", "sy", "zy"], ["qmm"]),
        helper.make_node("ConvInteger", ["img", "cw"], ["cacc"], pads=[1, 1, 1, 1]),
        helper.make_node(
            "QLinearConv",
            ["img", "sa", "za", "cw", "sw", "zw", "sy", "zy"],
            ["qconv"],
            pads=[1, 1, 1, 1],
        ),
    ]
    ins = [
        helper.make_tensor_value_info("x", TensorProto.FLOAT, [M, K]),
        helper.make_tensor_value_info("img", TensorProto.UINT8, [1, 4, 16, 16]),
    ]
    outs = [
        helper.make_tensor_value_info("acc", TensorProto.INT32, [M, N]),
        helper.make_tensor_value_info("qmm", TensorProto.UINT8, [M, N]),
        helper.make_tensor_value_info("cacc", TensorProto.INT32, [1, 8, 16, 16]),
        helper.make_tensor_value_info("qconv", TensorProto.UINT8, [1, 8, 16, 16]),
    ]
    path = _save(tmp_path, "qlinear", nodes, ins, outs, inits, opset=13)
    result = import_onnx(path)
    assert result.messages() == []
    graph = result.graph
    matrix = [op for op in graph.ops if op.op_class == "matrix"]
    assert [op.kind for op in matrix] == ["linear", "linear", "conv2d", "conv2d"]
    assert all(op.dtype == "int8" for op in matrix)
    assert [op.macs for op in matrix] == [M * K * N] * 2 + [8 * 16 * 16 * 4 * 9] * 2
    assert graph.tensors["qmm"].dtype == graph.tensors["qconv"].dtype == "int8"
    assert graph.tensors["acc"].dtype == "fp32"  # int32 accumulators: 4-byte stand-in
    dynamic = graph.ops[0]
    assert dynamic.kind == "custom" and dynamic.dtype == "fp32"
    assert dynamic.stats.flops == 6 * (M * K + 2)  # min/max and quantize, per element


def test_onnxruntime_quantized_model_imports_without_warnings(tmp_path):
    """quantize_static (QDQ, int8 activations and weights) of MatMul -> LayerNorm ->
    MatMul: both MatMuls int8, the LayerNorm fp32."""
    quantization = pytest.importorskip("onnxruntime.quantization")
    rng = np.random.default_rng(2)
    inits = [
        _init("w1", rng.standard_normal((K, N)).astype(np.float32)),
        _init("w2", rng.standard_normal((N, K)).astype(np.float32)),
        _init("g", np.ones(N, np.float32)),
        _init("b", np.zeros(N, np.float32)),
    ]
    nodes = [
        helper.make_node("MatMul", ["x", "w1"], ["h"]),
        helper.make_node("LayerNormalization", ["h", "g", "b"], ["n"], axis=-1),
        helper.make_node("MatMul", ["n", "w2"], ["y"]),
    ]
    x = [helper.make_tensor_value_info("x", TensorProto.FLOAT, [M, K])]
    y = [helper.make_tensor_value_info("y", TensorProto.FLOAT, [M, K])]
    source = _save(tmp_path, "float", nodes, x, y, inits)

    class Reader(quantization.CalibrationDataReader):
        def __init__(self) -> None:
            self.batches = iter([{"x": rng.standard_normal((M, K)).astype(np.float32)}])

        def get_next(self):
            return next(self.batches, None)

    target = str(tmp_path / "quantized.onnx")
    quantization.quantize_static(
        source,
        target,
        Reader(),
        quant_format=quantization.QuantFormat.QDQ,
        activation_type=quantization.QuantType.QInt8,
        weight_type=quantization.QuantType.QInt8,
        op_types_to_quantize=["MatMul"],
    )
    result = import_onnx(target)
    assert result.messages() == []
    graph = result.graph
    matmuls = [op for op in graph.ops if op.op_class == "matrix"]
    assert len(matmuls) == 2 and all(op.dtype == "int8" for op in matmuls)
    assert all(graph.tensors[op.inputs[1]].dtype == "int8" for op in matmuls)
    assert sum(op.macs for op in matmuls) == 2 * M * K * N
    (norm,) = [op for op in graph.ops if op.kind == "layernorm"]
    assert norm.dtype == "fp32"


def test_qdq_conv_and_gemm_with_int32_bias_are_int8(tmp_path):
    """onnxruntime's QDQ layout: int8 weight and int32 bias each behind a DequantizeLinear."""
    rng = np.random.default_rng(3)
    inits = [
        _init("cw", rng.integers(-8, 8, (8, 4, 3, 3)).astype(np.int8)),
        _init("cb", np.zeros(8, np.int32)),
        _init("gw", rng.integers(-8, 8, (N, 8 * 16 * 16)).astype(np.int8)),  # transB
        _init("gb", np.zeros(N, np.int32)),
        _init("s_b", np.float32(0.0004)),
        _init("z_b", np.int32(0)),
        *_scales("x", "w", "c", "f"),
    ]
    nodes = [
        helper.make_node("QuantizeLinear", ["img", "s_x", "z_x"], ["img_q"]),
        helper.make_node("DequantizeLinear", ["img_q", "s_x", "z_x"], ["img_dq"]),
        helper.make_node("DequantizeLinear", ["cw", "s_w", "z_w"], ["cw_dq"]),
        helper.make_node("DequantizeLinear", ["cb", "s_b", "z_b"], ["cb_dq"]),
        helper.make_node("Conv", ["img_dq", "cw_dq", "cb_dq"], ["c"], pads=[1, 1, 1, 1]),
        helper.make_node("QuantizeLinear", ["c", "s_c", "z_c"], ["c_q"]),
        helper.make_node("DequantizeLinear", ["c_q", "s_c", "z_c"], ["c_dq"]),
        helper.make_node("Flatten", ["c_dq"], ["flat"]),
        helper.make_node("QuantizeLinear", ["flat", "s_f", "z_f"], ["flat_q"]),
        helper.make_node("DequantizeLinear", ["flat_q", "s_f", "z_f"], ["flat_dq"]),
        helper.make_node("DequantizeLinear", ["gw", "s_w", "z_w"], ["gw_dq"]),
        helper.make_node("DequantizeLinear", ["gb", "s_b", "z_b"], ["gb_dq"]),
        helper.make_node("Gemm", ["flat_dq", "gw_dq", "gb_dq"], ["y"], transB=1),
    ]
    x = [helper.make_tensor_value_info("img", TensorProto.FLOAT, [1, 4, 16, 16])]
    y = [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, N])]
    result = import_onnx(_save(tmp_path, "conv_gemm", nodes, x, y, inits))
    assert result.messages() == []
    graph = result.graph
    conv = next(op for op in graph.ops if op.kind == "conv2d")
    gemm = next(op for op in graph.ops if op.kind == "linear")
    assert conv.dtype == gemm.dtype == "int8"
    assert conv.inputs[:2] == ["img_q", "cw"] and conv.outputs == ["c_q"]
    assert conv.macs == 8 * 16 * 16 * 4 * 9
    assert graph.tensors[gemm.inputs[1]].dtype == "int8"  # the transposed int8 weight
    assert gemm.macs == 8 * 16 * 16 * N
    assert graph.tensors["y"].dtype == "fp32"  # no Q after the Gemm: a float output


def test_onnxruntime_quantized_bert_layer_runs_its_matmuls_in_int8(tmp_path):
    """One BERT layer exported by topsim, quantized by onnxruntime (QDQ, every op it
    quantizes), imported back: the 8 matrix products are int8 with the MACs of the float
    graph, LayerNorm and Softmax stay fp32, and it simulates faster than the fp32 model."""
    quantization = pytest.importorskip("onnxruntime.quantization")
    import sim
    from workloads.onnx import to_onnx
    from workloads.zoo.transformer import CONFIGS, transformer

    source = transformer(CONFIGS["bert-base"], batch=1, seq=16, layers=1, dtype="fp32")
    plain, target = tmp_path / "bert.onnx", str(tmp_path / "bert_qdq.onnx")
    to_onnx(source, plain)
    model = onnx.load(plain)
    feeds = {
        i.name: np.zeros([d.dim_value for d in i.type.tensor_type.shape.dim], np.int64)
        for i in model.graph.input
    }

    class Reader(quantization.CalibrationDataReader):
        def __init__(self) -> None:
            self.batches = iter([feeds])

        def get_next(self):
            return next(self.batches, None)

    quantization.quantize_static(
        str(plain), target, Reader(), quant_format=quantization.QuantFormat.QDQ
    )
    result = import_onnx(target)
    assert result.messages() == []
    graph = result.graph
    matrix = [op for op in graph.ops if op.op_class == "matrix"]
    assert len(matrix) == 8 and {op.dtype for op in matrix} == {"int8"}
    assert graph.macs == source.macs
    assert {op.dtype for op in graph.ops if op.kind in ("layernorm", "softmax")} == {"fp32"}
    chip = hardware.load_chip("a100-sxm")
    assert sim.simulate(graph, chip).latency_s < sim.simulate(load_onnx(plain), chip).latency_s


def test_transpose_between_dequantize_and_quantize_moves_int8_data(tmp_path):
    """x_q -> DQ -> Transpose -> Q -> DQ -> MatMul: the transpose copies int8 bytes and
    none of the Q/DQ nodes around it emits an op."""
    nodes = [
        helper.make_node("QuantizeLinear", ["x", "s_x", "z_x"], ["x_q"]),
        helper.make_node("DequantizeLinear", ["x_q", "s_x", "z_x"], ["x_dq"]),
        helper.make_node("Transpose", ["x_dq"], ["t"], perm=[1, 0]),
        helper.make_node("QuantizeLinear", ["t", "s_t", "z_t"], ["t_q"]),
        helper.make_node("DequantizeLinear", ["t_q", "s_t", "z_t"], ["t_dq"]),
        helper.make_node("DequantizeLinear", ["w_q", "s_w", "z_w"], ["w_dq"]),
        helper.make_node("MatMul", ["t_dq", "w_dq"], ["y"]),
    ]
    x = [helper.make_tensor_value_info("x", TensorProto.FLOAT, [K, M])]
    y = [helper.make_tensor_value_info("y", TensorProto.FLOAT, [M, N])]
    inits = [_init("w_q", np.ones((K, N), np.int8)), *_scales("x", "t", "w")]
    graph = load_onnx(_save(tmp_path, "moves", nodes, x, y, inits))
    assert [(op.kind, op.dtype) for op in graph.ops] == [
        ("cast", "fp32"),  # the first QuantizeLinear: fp32 in, int8 out
        ("transpose", "int8"),
        ("linear", "int8"),
    ]
    transpose = graph.ops[1]
    assert transpose.inputs == ["x_q"] and transpose.outputs == ["t_q"]
    assert transpose.read_bytes == transpose.write_bytes == M * K
