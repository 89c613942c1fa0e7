"""Mappers of the layers that carry the MACs: convolutions, matrix products, norms, pools.

These are where the simulated time goes, so they map to topsim's own kinds (conv2d,
linear, matmul, batchnorm, layernorm, pools, softmax) whenever the shapes allow: a
custom op counts only what it is told. A constant right-hand weight makes a `linear`
(weights are read once per batch); padding that cannot be made symmetric becomes an
explicit copy, as runtimes do it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from workloads.graph import Op
from workloads.onnx.mapping import Mappers
from workloads.onnx.quant import int8_operands
from workloads.onnx.read import Node, Shape, Unmappable
from workloads.onnx.state import ImportState
from workloads.ops import numel

MAPPERS = Mappers()
mapper = MAPPERS.register


def _attr_pair(values: Sequence[int] | None, default: int) -> tuple[int, int]:
    if not values:
        return default, default
    return int(values[0]), int(values[-1])


def _drop_axis(shape: Shape, axis: int) -> Shape:
    return shape[:axis] + shape[axis + 1 :]


def _spatial(
    imp: ImportState,
    node: Node,
    x: str,
    kernel: tuple[int, int],
    strides: tuple[int, int],
    dilations: tuple[int, int],
    auto_pad: str,
    pads: Sequence[int] | None,
    ceil_mode: bool = False,
) -> tuple[str, list[int]]:
    """The input (padded by a copy if the pads cannot be made symmetric) and the padding."""
    shape = imp.shape(x)
    size = shape[2:]
    pads = [int(p) for p in (pads if pads is not None else [0, 0, 0, 0])]
    if auto_pad in ("SAME_UPPER", "SAME_LOWER"):
        pads = [0, 0, 0, 0]
        for i in range(2):
            out = -(-size[i] // strides[i])
            total = max(0, (out - 1) * strides[i] + (kernel[i] - 1) * dilations[i] + 1 - size[i])
            low = total // 2 if auto_pad == "SAME_UPPER" else total - total // 2
            pads[i], pads[i + 2] = low, total - low
    elif auto_pad == "VALID":
        pads = [0, 0, 0, 0]
    if ceil_mode:
        for i in range(2):
            span = size[i] + pads[i] + pads[i + 2] - ((kernel[i] - 1) * dilations[i] + 1)
            floor_out = span // strides[i] + 1
            ceil_out = -(-span // strides[i]) + 1
            if (ceil_out - 1) * strides[i] >= size[i] + pads[i]:  # ONNX drops a window
                ceil_out -= 1  # starting in the padding
            pads[i + 2] += (ceil_out - floor_out) * strides[i]
    if pads[0] == pads[2] and pads[1] == pads[3]:
        return x, [pads[0], pads[1]]
    if (pads[0] + pads[2]) % 2 == 0 and (pads[1] + pads[3]) % 2 == 0:
        return x, [(pads[0] + pads[2]) // 2, (pads[1] + pads[3]) // 2]
    padded = (shape[0], shape[1], size[0] + pads[0] + pads[2], size[1] + pads[1] + pads[3])
    out = imp.fresh(f"{node.outputs[0]}/pad")
    imp.tensors[out] = imp.tensor(out, padded, imp.tensors[imp.declare(x)].dtype, "padded input")
    name = imp.op_name(node, ".pad")
    imp.op_names.add(name)
    imp.ops.append(
        Op(
            name=name,
            kind="custom",
            inputs=[imp.declare(x)],
            outputs=[out],
            attrs={"out_shapes": [list(padded)], "macs": 0, "flops": 0, "op_class": "vector"},
        )
    )
    return out, [0, 0]


# --- convolutions and matrix products ---------------------------------------------------------


def _conv(
    imp: ImportState,
    node: Node,
    x: str,
    w: str,
    bias: str,
    auto_pad: str,
    dilations: Sequence[int] | None,
    group: int,
    pads: Sequence[int] | None,
    strides: Sequence[int] | None,
) -> None:
    """A 2-D convolution as conv2d, a 1-D one as conv2d over [N, C, 1, L], others custom."""
    xs, ws = imp.shape(x), imp.shape(w)
    if len(ws) != len(xs) or len(xs) < 3:
        raise Unmappable(f"conv weight {list(ws)} does not fit input {list(xs)}")
    group = int(group)
    out = node.outputs[0]
    if len(xs) == 3:
        x4 = imp.view(node, x, (xs[0], xs[1], 1, xs[2]), suffix=".as2d")
        w4 = (
            imp.const_as(w, (ws[0], ws[1], 1, ws[2]), ".as2d")
            if imp.is_const(w)
            else imp.view(node, w, (ws[0], ws[1], 1, ws[2]), suffix=".w2d")
        )
        kernel, stride = (1, ws[2]), (1, _attr_pair(strides, 1)[0])
        dilation = (1, _attr_pair(dilations, 1)[0])
        pads_1d = [int(p) for p in (pads if pads is not None else [0, 0])]
        x4, padding = _spatial(
            imp, node, x4, kernel, stride, dilation, auto_pad, [0, pads_1d[0], 0, pads_1d[-1]]
        )
        inputs = [x4, w4] + ([bias] if bias else [])
        y = imp.emit(
            node,
            "conv2d",
            inputs,
            None,
            suffix=".conv2d",
            stride=list(stride),
            padding=padding,
            dilation=list(dilation),
            groups=group,
        )[0]
        imp.view(node, y, imp.onnx_shapes.get(out) or _drop_axis(imp.shape(y), 2), out=out)
        return
    if len(xs) != 4:
        macs = numel(imp.shape(out)) * numel(ws[1:]) if imp.onnx_shapes.get(out) else 0
        imp.custom(node, macs=macs, op_class="matrix")
        return
    kernel = (int(ws[2]), int(ws[3]))
    stride_hw = _attr_pair(strides, 1)
    dilation_hw = _attr_pair(dilations, 1)
    x, padding = _spatial(imp, node, x, kernel, stride_hw, dilation_hw, auto_pad, pads)
    inputs = [x, w] + ([bias] if bias else [])
    attrs: dict[str, Any] = {
        "stride": list(stride_hw),
        "padding": padding,
        "dilation": list(dilation_hw),
    }
    if group != 1:
        attrs["groups"] = group
    imp.emit(node, "conv2d", inputs, [out], **attrs)


@mapper("Conv")
def map_conv(
    imp: ImportState,
    node: Node,
    *,
    auto_pad: str = "NOTSET",
    dilations: Sequence[int] | None = None,
    group: int = 1,
    pads: Sequence[int] | None = None,
    strides: Sequence[int] | None = None,
) -> None:
    node = int8_operands(imp, node)
    bias = node.inputs[2] if len(node.inputs) > 2 else ""
    x, w = node.inputs[0], node.inputs[1]
    _conv(imp, node, x, w, bias, auto_pad, dilations, group, pads, strides)


@mapper("ConvInteger")
def map_conv_integer(
    imp: ImportState,
    node: Node,
    *,
    auto_pad: str = "NOTSET",
    dilations: Sequence[int] | None = None,
    group: int = 1,
    pads: Sequence[int] | None = None,
    strides: Sequence[int] | None = None,
) -> None:
    """Inputs 3 and 4 are zero points, not a bias."""
    x, w = node.inputs[0], node.inputs[1]
    _conv(imp, node, x, w, "", auto_pad, dilations, group, pads, strides)


@mapper("QLinearConv")
def map_qlinear_conv(
    imp: ImportState,
    node: Node,
    *,
    auto_pad: str = "NOTSET",
    dilations: Sequence[int] | None = None,
    group: int = 1,
    pads: Sequence[int] | None = None,
    strides: Sequence[int] | None = None,
) -> None:
    """x, its scale and zero point, w, its scale and zero point, y's, then the bias."""
    bias = node.inputs[8] if len(node.inputs) > 8 else ""
    x, w = node.inputs[0], node.inputs[3]
    _conv(imp, node, x, w, bias, auto_pad, dilations, group, pads, strides)


@mapper("ConvTranspose")
def map_conv_transpose(imp: ImportState, node: Node, *, group: int = 1) -> None:
    xs, ws = imp.shape(node.inputs[0]), imp.shape(node.inputs[1])
    group = int(group)
    macs = numel(xs) * ws[1] * numel(ws[2:]) // max(1, group) * group
    imp.custom(node, macs=macs, op_class="matrix")


@mapper("Gemm")
def map_gemm(imp: ImportState, node: Node, *, transA: int = 0, transB: int = 0) -> None:
    node = int8_operands(imp, node)
    a, b = node.inputs[0], node.inputs[1]
    c = node.inputs[2] if len(node.inputs) > 2 else ""
    out = node.outputs[0]
    if transA:
        a = imp.emit(node, "transpose", [a], suffix=".transA", perm=[1, 0])[0]
    bs = imp.shape(b)
    n = bs[0] if transB else bs[1]
    if imp.is_const(b):
        k = bs[1] if transB else bs[0]
        w = imp.const_as(b, (k, n), ".T")
        bias = []
        if c and imp.is_const(c) and numel(imp.shape(c)) == n:
            bias = [imp.const_as(c, (n,), ".flat")]
        if bias or not c:
            imp.emit(node, "linear", [a, w, *bias], [out])
            return
        y = imp.emit(node, "linear", [a, w], suffix=".linear")[0]
    else:
        if transB:
            b = imp.emit(node, "transpose", [b], suffix=".transB", perm=[1, 0])[0]
        if not c:
            imp.emit(node, "matmul", [a, b], [out])
            return
        y = imp.emit(node, "matmul", [a, b], suffix=".matmul")[0]
    imp.emit(node, "add", [y, c], [out], suffix=".bias")


def _matmul(imp: ImportState, node: Node, a: str, b: str) -> None:
    """numpy matmul semantics; a constant 2-D right-hand side makes a `linear`."""
    out = node.outputs[0]
    sa, sb = imp.shape(a), imp.shape(b)
    if len(sa) == 1 or len(sb) == 1:
        a2 = imp.view(node, a, (1, sa[0]), suffix=".a2d") if len(sa) == 1 else a
        b2 = imp.view(node, b, (sb[0], 1), suffix=".b2d") if len(sb) == 1 else b
        kind = "linear" if imp.is_const(b2) and len(imp.shape(b2)) == 2 else "matmul"
        y = imp.emit(node, kind, [a2, b2], suffix=f".{kind}")[0]
        shape = imp.shape(y)
        shape = shape[:-2] + shape[-1:] if len(sa) == 1 else shape
        shape = shape[:-1] if len(sb) == 1 else shape
        imp.view(node, y, shape, out=out)
        return
    if imp.is_const(b) and len(sb) == 2:
        imp.emit(node, "linear", [a, b], [out])
    else:
        imp.emit(node, "matmul", [a, b], [out])


@mapper("MatMul", "MatMulInteger")
def map_matmul(imp: ImportState, node: Node) -> None:
    node = int8_operands(imp, node)
    _matmul(imp, node, node.inputs[0], node.inputs[1])


@mapper("QLinearMatMul")
def map_qlinear_matmul(imp: ImportState, node: Node) -> None:
    """a, its scale and zero point, then b: the operands are inputs 1 and 4."""
    _matmul(imp, node, node.inputs[0], node.inputs[3])


@mapper("Einsum")
def map_einsum(imp: ImportState, node: Node, *, equation: str = "") -> None:
    """A custom matrix op with one MAC per point of the labels' product space."""
    terms = equation.replace(" ", "").split("->")[0].split(",")
    sizes: dict[str, int] = {}
    for term, t in zip(terms, node.inputs, strict=False):
        if "..." in term:
            imp.custom(node, op_class="matrix", flops_per_element=1)
            return
        for label, size in zip(term, imp.shape(t), strict=False):
            sizes[label] = max(sizes.get(label, 1), size)
    imp.custom(node, macs=math.prod(sizes.values()), op_class="matrix")


@mapper("LSTM", "GRU", "RNN")
def map_rnn(imp: ImportState, node: Node) -> None:
    xs, ws = imp.shape(node.inputs[0]), imp.shape(node.inputs[1])  # x [T,B,I], W [dirs, G*H, I]
    rs = imp.shape(node.inputs[2])  # R [dirs, G*H, H]
    steps, batch = xs[0], xs[1]
    macs = steps * batch * ws[0] * ws[1] * (ws[2] + rs[2])
    imp.custom(node, macs=macs, op_class="matrix", flops_per_element=4)


# --- norms -------------------------------------------------------------------------------------


@mapper("BatchNormalization")
def map_batchnorm(imp: ImportState, node: Node) -> None:
    x, scale, shift = node.inputs[:3]
    imp.emit(node, "batchnorm", [x, scale, shift], [node.outputs[0]])


def _last_axis_norm(imp: ImportState, node: Node, kind: str, axis: int) -> None:
    """A norm over the last axis as topsim's op; over other axes, a custom op."""
    x = node.inputs[0]
    rank = len(imp.shape(x))
    if not -rank <= int(axis) < rank:
        raise imp.reject(
            node, f"axis={axis} for input {x!r} of rank {rank}; it takes an axis in [-r, r-1]"
        )
    if int(axis) % rank != rank - 1:
        imp.custom(node, flops_per_element=8)
        return
    params = [t for t in node.inputs[1 : 3 if kind == "layernorm" else 2] if t]
    params = [
        imp.const_as(p, (imp.shape(x)[-1],), ".flat") if imp.is_const(p) else p for p in params
    ]
    imp.emit(node, kind, [x, *params], [node.outputs[0]])


@mapper("LayerNormalization")
def map_layernorm(imp: ImportState, node: Node, *, axis: int = -1) -> None:
    _last_axis_norm(imp, node, "layernorm", axis)


@mapper("SimplifiedLayerNormalization", "RMSNormalization")
def map_rmsnorm(imp: ImportState, node: Node, *, axis: int = -1) -> None:
    _last_axis_norm(imp, node, "rmsnorm", axis)


def _skip_norm(imp: ImportState, node: Node, kind: str) -> None:
    """ONNX Runtime's fused residual add + norm: x + skip (+ bias), then the norm."""
    x, skip = node.inputs[0], node.inputs[1]
    y = imp.emit(node, "add", [x, skip], suffix=".skip")[0]
    bias_at = 4 if kind == "layernorm" else 3
    if len(node.inputs) > bias_at and node.inputs[bias_at]:
        y = imp.emit(node, "add", [y, node.inputs[bias_at]], suffix=".bias")[0]
    params = [t for t in node.inputs[2 : 4 if kind == "layernorm" else 3] if t]
    imp.emit(node, kind, [y, *params], [node.outputs[0]])
    if len(node.outputs) > 3 and node.outputs[3]:
        imp.alias[node.outputs[3]] = y


@mapper("SkipLayerNormalization")
def map_skip_layernorm(imp: ImportState, node: Node) -> None:
    _skip_norm(imp, node, "layernorm")


@mapper("SkipSimplifiedLayerNormalization")
def map_skip_rmsnorm(imp: ImportState, node: Node) -> None:
    _skip_norm(imp, node, "rmsnorm")


@mapper("InstanceNormalization", "GroupNormalization")
def map_group_norm(imp: ImportState, node: Node) -> None:
    imp.custom(node, flops_per_element=8)


@mapper("LpNormalization")
def map_lp_norm(imp: ImportState, node: Node) -> None:
    imp.custom(node, flops_per_element=3)


# --- pools and softmax ------------------------------------------------------------------------


@mapper("MaxPool", "AveragePool", "LpPool")
def map_pool(
    imp: ImportState,
    node: Node,
    *,
    auto_pad: str = "NOTSET",
    ceil_mode: int = 0,
    dilations: Sequence[int] | None = None,
    kernel_shape: Sequence[int] = (),
    pads: Sequence[int] | None = None,
    strides: Sequence[int] | None = None,
) -> None:
    """2-D max and average pools as topsim's; others (and MaxPool's indices) custom."""
    x = node.inputs[0]
    xs = imp.shape(x)
    used_outputs = [o for o in node.outputs[1:] if o]
    if (
        len(xs) != 4
        or len(kernel_shape) != 2
        or any(d != 1 for d in (dilations if dilations is not None else [1]))
        or used_outputs
    ):
        window = numel(kernel_shape) if kernel_shape else 1
        imp.custom(node, flops_per_element=window)
        return
    kernel_hw = (int(kernel_shape[0]), int(kernel_shape[1]))
    stride_hw = _attr_pair(strides, 1)
    x, padding = _spatial(
        imp, node, x, kernel_hw, stride_hw, (1, 1), auto_pad, pads, ceil_mode=bool(ceil_mode)
    )
    kind = "maxpool" if node.op_type == "MaxPool" else "avgpool"
    imp.emit(
        node,
        kind,
        [x],
        [node.outputs[0]],
        kernel=list(kernel_hw),
        stride=list(stride_hw),
        padding=padding,
    )


@mapper("GlobalAveragePool", "GlobalMaxPool")
def map_global_pool(imp: ImportState, node: Node) -> None:
    x = node.inputs[0]
    if node.op_type == "GlobalAveragePool" and len(imp.shape(x)) == 4:
        imp.emit(node, "global_avgpool", [x], [node.outputs[0]])
        return
    xs = imp.shape(x)
    imp.custom(node, out_shapes=[xs[:2] + (1,) * (len(xs) - 2)], flops_per_element=numel(xs[2:]))


@mapper("Softmax", "LogSoftmax")
def map_softmax(imp: ImportState, node: Node, *, axis: int | None = None) -> None:
    """`axis` defaults to -1 from opset 13, to 1 before (where it also flattens)."""
    x = node.inputs[0]
    axis = int((-1 if imp.opset >= 13 else 1) if axis is None else axis)
    if node.op_type != "Softmax":
        imp.custom(node, flops_per_element=5)
        return
    imp.emit(node, "softmax", [x], [node.outputs[0]], axis=axis)
