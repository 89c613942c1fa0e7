"""Mappers of ops that move or relabel data: reshapes, transposes, concat, split, gathers.

Runtimes implement a change of shape that keeps the memory layout as a view, at no cost,
so Reshape, Flatten, Squeeze, Unsqueeze and layout-preserving Transposes become free
`reshape` views (or plain aliases); only a real relayout costs a kernel. Copies with no
arithmetic (Slice, Pad, Expand ...) are custom ops that count their traffic only.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from workloads.onnx.fold import axes_of, reshape_target
from workloads.onnx.mapping import Mappers
from workloads.onnx.quant import int8_operands
from workloads.onnx.read import Node, Unmappable
from workloads.onnx.state import ImportState
from workloads.ops import numel

MAPPERS = Mappers()
mapper = MAPPERS.register


@mapper("Identity", "Dropout")
def map_alias(imp: ImportState, node: Node) -> None:
    """At inference these return their input: the output is another name for it."""
    imp.alias[node.outputs[0]] = node.inputs[0]


@mapper("Concat")
def map_concat(imp: ImportState, node: Node, *, axis: int = 0) -> None:
    inputs = [t for t in node.inputs if t]
    axis = int(axis)
    if len(inputs) == 1:
        imp.alias[node.outputs[0]] = inputs[0]
        return
    imp.emit(node, "concat", inputs, [node.outputs[0]], axis=axis)


@mapper("Split")
def map_split(
    imp: ImportState,
    node: Node,
    *,
    axis: int = 0,
    num_outputs: int | None = None,
    split: Sequence[int] | None = None,
) -> None:
    """Sizes from `split` (before opset 13), the constant second input, or equal parts."""
    x = node.inputs[0]
    xs = imp.shape(x)
    axis = int(axis) % len(xs)
    outputs = list(node.outputs)
    sizes = split
    if sizes is None and len(node.inputs) > 1 and node.inputs[1]:
        value = imp.value(node.inputs[1])
        if value is None:
            raise Unmappable("split sizes are not constant")
        sizes = [int(s) for s in value.reshape(-1)]
    if sizes is None:
        parts = int(num_outputs if num_outputs is not None else len(outputs))
        chunk = -(-xs[axis] // parts)
        sizes = [min(chunk, xs[axis] - i * chunk) for i in range(parts)]
    sizes = [int(s) for s in sizes]
    if len(sizes) == 1:
        imp.alias[outputs[0]] = x
        return
    names = [o or imp.fresh(f"{x}/split{i}") for i, o in enumerate(outputs)]
    imp.emit(node, "split", [x], names, axis=axis, sizes=sizes)


@mapper("Reshape")
def map_reshape(
    imp: ImportState,
    node: Node,
    *,
    allowzero: int = 0,
    shape: Sequence[int] | None = None,
) -> None:
    """The target is the constant second input, or the `shape` attribute of Reshape-1."""
    node = int8_operands(imp, node)
    x, out = node.inputs[0], node.outputs[0]
    xs = imp.shape(x)
    target = imp.value(node.inputs[1]) if len(node.inputs) > 1 else None
    if target is None and shape is not None:
        target = np.array(shape)
    new_shape = (
        reshape_target(xs, [int(d) for d in target.reshape(-1)], bool(allowzero))
        if target is not None
        else imp.onnx_shapes.get(out)
    )
    if new_shape is None:
        raise Unmappable("the target shape is unknown")
    imp.view(node, x, tuple(new_shape), out=out)


@mapper("Flatten")
def map_flatten(imp: ImportState, node: Node, *, axis: int = 1) -> None:
    """To 2-D around `axis`: topsim's flatten for activations at axis 1, else a view."""
    node = int8_operands(imp, node)
    x, out = node.inputs[0], node.outputs[0]
    xs = imp.shape(x)
    at = int(axis) % (len(xs) + 1) if xs else 0
    shape = (numel(xs[:at]), numel(xs[at:]))
    if len(xs) >= 2 and axis == 1 and x not in imp.const_shapes:
        imp.emit(node, "flatten", [x], [out], axis=1)
        return
    imp.view(node, x, shape, out=out)


@mapper("Squeeze")
def map_squeeze(imp: ImportState, node: Node, *, axes: Sequence[int] | None = None) -> None:
    """Without axes, every axis of size 1 goes."""
    node = int8_operands(imp, node)
    x, out = node.inputs[0], node.outputs[0]
    xs = imp.shape(x)
    found = axes_of(axes, [imp.value(t) for t in node.inputs])
    drop = (
        {a % len(xs) for a in found}
        if found is not None
        else {i for i, d in enumerate(xs) if d == 1}
    )
    imp.view(node, x, tuple(d for i, d in enumerate(xs) if i not in drop), out=out)


@mapper("Unsqueeze")
def map_unsqueeze(imp: ImportState, node: Node, *, axes: Sequence[int] | None = None) -> None:
    node = int8_operands(imp, node)
    x, out = node.inputs[0], node.outputs[0]
    xs = imp.shape(x)
    found = axes_of(axes, [imp.value(t) for t in node.inputs])
    if found is None:
        raise Unmappable("unsqueeze axes are not constant")
    rank = len(xs) + len(found)
    put = {a % rank for a in found}
    rest = iter(xs)
    imp.view(node, x, tuple(1 if i in put else next(rest) for i in range(rank)), out=out)


@mapper("Transpose")
def map_transpose(imp: ImportState, node: Node, *, perm: Sequence[int] | None = None) -> None:
    """Without `perm`, the axes reverse; moving only size-1 axes is a free view."""
    node = int8_operands(imp, node)
    x, out = node.inputs[0], node.outputs[0]
    xs = imp.shape(x)
    order = [int(p) for p in (perm if perm is not None else list(reversed(range(len(xs)))))]
    moved = [p for p in order if xs[p] != 1]
    if moved == sorted(moved):  # only size-1 axes move: the memory layout is unchanged
        imp.view(node, x, tuple(xs[p] for p in order), out=out)
        return
    imp.emit(node, "transpose", [x], [out], perm=order)


@mapper("Gather")
def map_gather(imp: ImportState, node: Node, *, axis: int = 0) -> None:
    """Rows of a constant 2-D table at run-time ids are an embedding lookup."""
    data, indices = node.inputs[0], node.inputs[1]
    axis = int(axis)
    ds = imp.shape(data)
    if imp.is_const(data) and len(ds) == 2 and axis % 2 == 0 and not imp.is_const(indices):
        imp.emit(node, "embedding", [indices, data], [node.outputs[0]], dtype=imp.dtype_of(data))
        return
    ids = imp.shape(indices)
    axis %= len(ds)
    imp.custom(node, out_shapes=[ds[:axis] + ids + ds[axis + 1 :]])


@mapper(
    "Slice",
    "Pad",
    "Expand",
    "Tile",
    "GatherElements",
    "GatherND",
    "ScatterND",
    "ScatterElements",
    "DepthToSpace",
    "SpaceToDepth",
    "Trilu",
    "ConstantOfShape",
    "EyeLike",
    "ReverseSequence",
)
def map_copy(imp: ImportState, node: Node) -> None:
    """Data movement with no arithmetic: a custom copy."""
    imp.custom(node)


@mapper("Resize", "Upsample")
def map_resize(imp: ImportState, node: Node, *, mode: str = "nearest") -> None:
    """Nearest-neighbour resizing only copies; interpolation costs a few ops per element."""
    imp.custom(node, flops_per_element=0 if mode == "nearest" else 4)
