"""Mappers of elementwise arithmetic, casts and reductions.

Most of these are cheap next to the layers around them but not free: each reads and
writes its tensors once. Ops with a topsim kind (relu, add, cast ...) become it; the rest
become custom vector ops with an estimate of element operations per output element, so
their memory traffic and a plausible compute cost still count.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from workloads.onnx.fold import axes_of
from workloads.onnx.mapping import Mappers
from workloads.onnx.read import Node
from workloads.onnx.state import ImportState
from workloads.ops import numel

MAPPERS = Mappers()
mapper = MAPPERS.register

# ONNX op -> (topsim kind, or None for a custom vector op; element ops per output element)
UNARY: dict[str, tuple[str | None, int]] = {
    "Relu": ("relu", 1),
    "Sigmoid": ("sigmoid", 4),
    "Tanh": ("tanh", 4),
    "Exp": ("exp", 1),
    "Neg": ("neg", 1),
    "Sqrt": ("sqrt", 1),
    "Gelu": ("gelu", 8),
    "HardSwish": ("hardswish", 4),
    "FastGelu": ("gelu", 8),
    "QuickGelu": ("gelu", 8),
    "BiasGelu": ("gelu", 8),
    "Erf": (None, 4),
    "Log": (None, 4),
    "Softplus": (None, 4),
    "Softsign": (None, 2),
    "LeakyRelu": (None, 2),
    "Elu": (None, 4),
    "Selu": (None, 4),
    "Celu": (None, 4),
    "ThresholdedRelu": (None, 2),
    "HardSigmoid": (None, 3),
    "Mish": (None, 8),
    "Abs": (None, 1),
    "Floor": (None, 1),
    "Ceil": (None, 1),
    "Round": (None, 1),
    "Sign": (None, 1),
    "Reciprocal": (None, 1),
    "Not": (None, 1),
    "IsNaN": (None, 1),
    "IsInf": (None, 1),
    "Sin": (None, 4),
    "Cos": (None, 4),
    "Tan": (None, 4),
    "Asin": (None, 4),
    "Acos": (None, 4),
    "Atan": (None, 4),
    "Sinh": (None, 4),
    "Cosh": (None, 4),
    "Asinh": (None, 4),
    "Acosh": (None, 4),
    "Atanh": (None, 4),
    "Shrink": (None, 2),
    "BitwiseNot": (None, 1),
}
BINARY: dict[str, str | None] = {
    "Add": "add",
    "Sub": "sub",
    "Mul": "mul",
    "Div": "div",
    "Max": "max",
    "Min": "min",
    "Sum": "add",
    "Mean": "add",
    "Equal": None,
    "Less": None,
    "Greater": None,
    "LessOrEqual": None,
    "GreaterOrEqual": None,
    "And": None,
    "Or": None,
    "Xor": None,
    "Mod": None,
    "BitShift": None,
    "PRelu": None,
    "BitwiseAnd": None,
    "BitwiseOr": None,
    "BitwiseXor": None,
    "Where": None,
}


@mapper(*UNARY)
def map_unary(imp: ImportState, node: Node) -> None:
    kind, flops = UNARY[node.op_type]
    x = node.inputs[0]
    if node.op_type == "BiasGelu":
        x = imp.emit(node, "add", [x, node.inputs[1]], suffix=".bias")[0]
    if kind is None:
        imp.custom(node, flops_per_element=flops)
        return
    imp.emit(node, kind, [x], [node.outputs[0]])


@mapper(*BINARY)
def map_binary(imp: ImportState, node: Node) -> None:
    """Variadic ops (Sum, Max, Mean ...) become a chain of binary ops."""
    kind = BINARY[node.op_type]
    inputs = [t for t in node.inputs if t]
    if kind is None or len(inputs) < 2:
        if len(inputs) == 1 and kind is not None:
            imp.alias[node.outputs[0]] = inputs[0]
            return
        imp.custom(node, flops_per_element=1 if node.op_type != "PRelu" else 2)
        return
    y = inputs[0]
    mean = node.op_type == "Mean"
    for i, other in enumerate(inputs[1:], start=1):
        last = i == len(inputs) - 1 and not mean
        y = imp.emit(
            node,
            kind,
            [y, other],
            [node.outputs[0]] if last else None,
            suffix="" if last else f".{i}",
        )[0]
    if mean:
        scale = imp.fresh(f"{node.outputs[0]}/1_over_n")
        imp.set_const(scale, np.array(1.0 / len(inputs), dtype=np.float32))
        imp.emit(node, "mul", [y, scale], [node.outputs[0]])


@mapper("Pow")
def map_pow(imp: ImportState, node: Node) -> None:
    """Constant exponents 2, 0.5 and 1 are a square, a sqrt and nothing."""
    exponent = imp.value(node.inputs[1])
    x, out = node.inputs[0], node.outputs[0]
    if exponent is not None and exponent.size == 1:
        e = float(exponent.reshape(-1)[0])
        if e == 2.0:
            imp.emit(node, "mul", [x, x], [out])
            return
        if e == 0.5:
            imp.emit(node, "sqrt", [x], [out])
            return
        if e == 1.0:
            imp.alias[out] = x
            return
    imp.custom(node, flops_per_element=4)


@mapper("Clip")
def map_clip(
    imp: ImportState, node: Node, *, min: float | None = None, max: float | None = None
) -> None:
    """Bounds are attributes before opset 11, constant inputs after: [0, 6] is relu6."""
    low, high = min, max
    if len(node.inputs) > 1 and node.inputs[1]:
        value = imp.value(node.inputs[1])
        low = None if value is None else float(value.reshape(-1)[0])
    if len(node.inputs) > 2 and node.inputs[2]:
        value = imp.value(node.inputs[2])
        high = None if value is None else float(value.reshape(-1)[0])
    x, out = node.inputs[0], node.outputs[0]
    if low == 0.0 and high == 6.0:
        imp.emit(node, "relu6", [x], [out])
    elif low == 0.0 and (high is None or math.isinf(high)):
        imp.emit(node, "relu", [x], [out])
    else:
        imp.custom(node, flops_per_element=2)


@mapper("Cast", "CastLike")
def map_cast(imp: ImportState, node: Node) -> None:
    """The output dtype comes from ONNX's type inference, not from `to`."""
    imp.emit(node, "cast", [node.inputs[0]], [node.outputs[0]], dtype=None)


def _reduction(imp: ImportState, node: Node, axes: list[int], keepdims: int) -> None:
    """A custom op reading every input element once per output element's share."""
    xs = imp.shape(node.inputs[0])
    keep = bool(keepdims)
    out = tuple(1 if i in axes else d for i, d in enumerate(xs) if keep or i not in axes)
    per_output = numel(xs) / max(1, numel(out))
    weight = 2 if node.op_type in ("ReduceL2", "ReduceSumSquare", "ReduceLogSumExp") else 1
    imp.custom(node, out_shapes=[out], flops_per_element=per_output * weight)


@mapper(
    "ReduceMean",
    "ReduceSum",
    "ReduceMax",
    "ReduceMin",
    "ReduceProd",
    "ReduceL1",
    "ReduceL2",
    "ReduceLogSum",
    "ReduceLogSumExp",
    "ReduceSumSquare",
)
def map_reduce(
    imp: ImportState,
    node: Node,
    *,
    axes: Sequence[int] | None = None,
    keepdims: int = 1,
    noop_with_empty_axes: int = 0,
) -> None:
    """`axes` is an attribute before opset 18 (13 for ReduceSum), an input after."""
    xs = imp.shape(node.inputs[0])
    found = axes_of(axes, [imp.value(t) for t in node.inputs])
    if found is None and noop_with_empty_axes:
        imp.alias[node.outputs[0]] = node.inputs[0]
        return
    found = list(range(len(xs))) if found is None else [a % len(xs) for a in found]
    _reduction(imp, node, found, keepdims)


@mapper("ArgMax", "ArgMin")
def map_arg_reduce(imp: ImportState, node: Node, *, axis: int = 0, keepdims: int = 1) -> None:
    xs = imp.shape(node.inputs[0])
    _reduction(imp, node, [int(axis) % len(xs)], keepdims)


@mapper("CumSum", "TopK")
def map_scan(imp: ImportState, node: Node) -> None:
    imp.custom(node, flops_per_element=1)
