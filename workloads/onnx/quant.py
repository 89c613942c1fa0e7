"""Quantized models: QDQ pairs and the QLinear/Integer ops, as int8 ops in a float graph.

A QDQ model (what onnxruntime's `quantize_static` writes, and what TensorRT takes) keeps
float ops and marks the quantized ones with QuantizeLinear -> DequantizeLinear pairs on
their inputs. A runtime does not run those pairs as written: TensorRT fuses them into the
neighbouring kernels, so a MatMul/Gemm/Conv whose operands all come from DequantizeLinear
runs as an int8 kernel with int32 accumulation, and a QuantizeLinear right after it is
the requantizing step of that kernel's epilogue. topsim follows that:

- A MatMul, Gemm or Conv whose operands (activation and weight) are each the output of a
  DequantizeLinear of an integer tensor is mapped on those integer tensors: its inputs
  are int8, so it computes in int8 (the chip's int8 matrix rate). The weight is the int8
  initializer itself (1 byte per weight), not the folded float copy.
- Its output is the following QuantizeLinear's int8 tensor when that Q is the output's
  only reader (requantized in the epilogue: the Q emits no op); otherwise it is the float
  tensor ONNX types it as (the int32 accumulator dequantized in the epilogue; fp32 is
  also the width of int32).
- A DequantizeLinear whose readers are all such int8 ops emits no op (its scale is
  applied inside them). One that also feeds a float op (LayerNorm, Softmax, GELU, an
  add) is a `cast` op to its float type: a standalone elementwise kernel, which topsim's
  epilogue fusion may still merge into its producer.
- A QuantizeLinear that no int8 op absorbs is a `cast` op computing in its float input's
  dtype (TensorRT fuses it into the producer's epilogue where it can; here the fusion
  pass decides, as for any elementwise op).
- A Reshape, Flatten, Squeeze, Unsqueeze or Transpose between a DequantizeLinear and a
  QuantizeLinear (its output's only reader) moves the int8 data as it is: neither the
  DQ nor the Q emits an op, as TensorRT commutes such pairs away.
- A MatMul/Gemm whose weight alone is dequantized (weight-only quantization) keeps its
  float activation and reads the int8 weight: topsim's weight-only path (sim/lower.py)
  then charges the dequantization.
- DynamicQuantizeLinear is one vector kernel: a min/max pass and the quantize pass
  (DYNAMIC_QUANT_FLOPS element ops per element), writing int8 and two scalars.
  QLinearMatMul, QLinearConv, MatMulInteger and ConvInteger read int8 tensors already, so
  their mappers (mappers_nn) give int8 ops without help.

Ops between quantized ones keep their own float dtype: each topsim op computes in its
first input's dtype, so a LayerNorm after a dequantize runs at the fp16/fp32 rate.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from workloads.onnx.mapping import Mappers
from workloads.onnx.read import STANDARD_DOMAINS, Node
from workloads.onnx.state import ImportState

MAPPERS = Mappers()
mapper = MAPPERS.register

INTEGER_DTYPES = ("int8", "int4")  # topsim dtypes a DequantizeLinear input may have
# op type -> positions of its operands (what an int8 kernel reads in int8)
INT8_OPERANDS: dict[str, tuple[int, ...]] = {"MatMul": (0, 1), "Gemm": (0, 1), "Conv": (0, 1)}
# data-movement ops that move int8 data as it is when they sit between a DequantizeLinear
# and a QuantizeLinear (quantizers wrap them in Q/DQ; TensorRT commutes the pair away)
INT8_MOVES = ("Reshape", "Flatten", "Squeeze", "Unsqueeze", "Transpose")
QDQ_DOMAINS = (*STANDARD_DOMAINS, "com.microsoft")
# element ops per element of DynamicQuantizeLinear: min and max (2), then scale, round,
# add the zero point and saturate (4)
DYNAMIC_QUANT_FLOPS = 6


@dataclass
class QuantPlan:
    """Who reads what, and which tensors are dequantized integers, for one import."""

    dequantized: dict[str, str] = field(default_factory=dict)  # DQ output -> integer input
    readers: dict[str, list] = field(default_factory=dict)  # tensor -> NodeProtos reading it
    outputs: set[str] = field(default_factory=set)  # graph outputs

    def int8_node(self, proto) -> bool:
        """A MatMul/Gemm/Conv whose operands are all dequantized integer tensors, or a
        data-movement op from a dequantized tensor to a QuantizeLinear."""
        if proto.domain not in STANDARD_DOMAINS:
            return False
        if proto.op_type in INT8_MOVES:
            return (
                bool(proto.input)
                and proto.input[0] in self.dequantized
                and self.requantized_by(proto.output[0]) is not None
            )
        positions = INT8_OPERANDS.get(proto.op_type)
        if positions is None:
            return False
        inputs = list(proto.input)
        return all(p < len(inputs) and inputs[p] in self.dequantized for p in positions)

    def requantized_by(self, tensor: str) -> str | None:
        """The int8 output of the QuantizeLinear that is `tensor`'s only reader, if any."""
        readers = self.readers.get(tensor, [])
        if tensor in self.outputs or len(readers) != 1:
            return None
        (q,) = readers
        if q.op_type != "QuantizeLinear" or q.domain not in QDQ_DOMAINS or q.input[0] != tensor:
            return None
        return q.output[0]


def plan(imp: ImportState) -> QuantPlan:
    """The import's plan, made on first use from the model's top-level nodes."""
    if imp.quant is None:
        result = QuantPlan(outputs={o.name for o in imp.model.graph.output})
        for proto in imp.model.graph.node:
            for t in proto.input:
                if t:
                    result.readers.setdefault(t, []).append(proto)
            if (
                proto.op_type == "DequantizeLinear"
                and proto.domain in QDQ_DOMAINS
                and imp.dtype_of(proto.input[0]) in INTEGER_DTYPES
            ):
                result.dequantized[proto.output[0]] = proto.input[0]
        imp.quant = result
    return imp.quant


def int8_operands(imp: ImportState, node: Node) -> Node:
    """The node as its int8 kernel sees it: dequantized operands replaced by their integer
    tensors (all of them for an int8 op, the constant weight alone otherwise) and, for an
    int8 op, its output by the int8 tensor of a QuantizeLinear folded into its epilogue."""
    positions = INT8_OPERANDS.get(node.op_type, (0,) if node.op_type in INT8_MOVES else None)
    if positions is None or node.domain not in STANDARD_DOMAINS:
        return node
    quant = plan(imp)
    if not quant.dequantized:
        return node
    inputs = list(node.inputs)
    int8 = quant.int8_node(node.proto)
    if not int8 and node.op_type in INT8_MOVES:
        return node
    for p in positions:
        source = quant.dequantized.get(node.proto.input[p]) if p < len(inputs) else None
        if source is not None and (int8 or imp.is_const(source)):
            inputs[p] = imp.resolve(source)
    outputs = list(node.outputs)
    if int8:
        requantized = quant.requantized_by(node.outputs[0])
        if requantized is not None:
            outputs[0] = requantized
    return dataclasses.replace(node, inputs=inputs, outputs=outputs)


@mapper("DequantizeLinear")
def map_dequantize(imp: ImportState, node: Node) -> None:
    """No op when only int8 kernels read the result; else a cast to its float type."""
    quant = plan(imp)
    out = node.outputs[0]
    readers = quant.readers.get(out, [])
    if (
        out in quant.dequantized
        and readers
        and out not in quant.outputs
        and all(quant.int8_node(r) for r in readers)
    ):
        return
    imp.emit(node, "cast", [node.inputs[0]], [out], dtype=imp.dtype_of(out))


@mapper("QuantizeLinear")
def map_quantize(imp: ImportState, node: Node) -> None:
    """Nothing when an int8 kernel already wrote the result (its epilogue requantized);
    else a cast computing in the float input's dtype."""
    if imp.resolve(node.outputs[0]) in imp.tensors:
        return
    imp.emit(node, "cast", [node.inputs[0]], [node.outputs[0]])


@mapper("DynamicQuantizeLinear")
def map_dynamic_quantize(imp: ImportState, node: Node) -> None:
    imp.custom(node, flops_per_element=DYNAMIC_QUANT_FLOPS)
