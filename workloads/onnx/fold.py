"""Constant folding: what runtimes compute once at load time emits no op here.

Shape computations (Shape, Gather of a dim, Concat into a Reshape target ...) and anything
whose inputs are all constant are evaluated with numpy, up to `FOLD_LIMIT` elements, so
that Reshape targets and Split sizes are known and the graph keeps only run-time work.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from workloads.onnx.read import FOLD_LIMIT, STANDARD_DOMAINS, Node, Shape, Unmappable, np_elem_type
from workloads.onnx.state import ImportState
from workloads.ops import numel

NONDETERMINISTIC = {
    "RandomNormal",
    "RandomUniform",
    "RandomNormalLike",
    "RandomUniformLike",
    "Multinomial",
    "Bernoulli",
}


def fold(imp: ImportState, node: Node) -> bool:
    """Constant nodes (and shape computations) are evaluated here and emit no op."""
    if node.domain not in STANDARD_DOMAINS:
        return False  # another domain's op of the same name is not ONNX's
    data = [t for t in node.inputs if t]
    if node.op_type in ("Shape", "Size"):
        x = node.inputs[0]
        try:
            shape = imp.shape(x)
        except Unmappable:
            return False
        value = np.array(shape, dtype=np.int64)
        if node.op_type == "Shape":
            start, end = node.attrs.get("start", 0), node.attrs.get("end", len(shape))
            value = value[start:end]
        else:
            value = np.array(numel(shape), dtype=np.int64)
        imp.set_const(node.outputs[0], value)
        return True
    if node.op_type in NONDETERMINISTIC or not all(imp.is_const(t) for t in data):
        return False
    values = [imp.values.get(t) if t else None for t in node.inputs]
    result = None
    if all(v is not None or not t for v, t in zip(values, node.inputs, strict=True)):
        try:
            result = evaluate(node, values, imp)
        except Exception:  # an op or a case the small evaluator does not know
            result = None
    outputs = [(i, out) for i, out in enumerate(node.outputs) if out]
    computed = {i: result[i] for i, _ in outputs if result is not None and i < len(result)}
    if any(i not in computed and imp.onnx_shapes.get(out) is None for i, out in outputs):
        return False  # neither evaluated nor shaped: map it as an op on constants
    for i, out in outputs:
        if i in computed and computed[i].size <= FOLD_LIMIT:
            imp.set_const(out, np.asarray(computed[i]))
        elif i in computed:
            imp.const_shapes[out] = tuple(computed[i].shape)
            imp.onnx_types.setdefault(out, np_elem_type(computed[i], imp.onnx))
        else:
            imp.const_shapes[out] = imp.onnx_shapes[out]
    return True


def axes_of(axes, values: list, position: int = 1) -> list[int] | None:
    """The `axes` attribute if given, else the constant input at `position` (opset 13+)."""
    if axes is not None:
        return [int(a) for a in axes]
    if len(values) > position and values[position] is not None:
        return [int(a) for a in np.asarray(values[position]).reshape(-1)]
    return None


def evaluate(node: Node, values: list, importer: ImportState) -> list[np.ndarray] | None:
    """numpy evaluation of the ops that shape computations use; None if not supported."""
    op, a, v = node.op_type, node.attrs, values
    onnx = importer.onnx
    if op == "Constant":
        if "value" in a and numel(tuple(a["value"].dims)) > FOLD_LIMIT:  # values not read
            dtype = onnx.helper.tensor_dtype_to_np_dtype(a["value"].data_type)
            return [_placeholder(tuple(a["value"].dims), dtype)]
        if "value" in a:
            return [onnx.numpy_helper.to_array(a["value"])]
        for key, dtype in (
            ("value_float", np.float32),
            ("value_floats", np.float32),
            ("value_int", np.int64),
            ("value_ints", np.int64),
        ):
            if key in a:
                return [np.array(a[key], dtype=dtype)]
        return None
    if op in ("Identity", "Dropout"):
        return [v[0]]
    if op == "Cast":
        dtype = onnx.helper.tensor_dtype_to_np_dtype(a["to"])
        return [v[0].astype(dtype)]
    if op == "ConstantOfShape":
        shape = tuple(int(d) for d in v[0])
        fill = (
            onnx.numpy_helper.to_array(a["value"]).reshape(-1)[0] if "value" in a else np.float32(0)
        )
        if numel(shape) > FOLD_LIMIT:
            return [np.broadcast_to(np.asarray(fill), shape)]
        return [np.full(shape, fill)]
    if op == "Gather":
        axis = a.get("axis", 0) % max(1, v[0].ndim)
        shape = v[0].shape[:axis] + np.shape(v[1]) + v[0].shape[axis + 1 :]
        if numel(shape) > FOLD_LIMIT:
            return [_placeholder(shape, v[0].dtype)]
        return [np.take(v[0], v[1].astype(np.int64), axis=a.get("axis", 0))]
    if op == "Unsqueeze":
        axes = axes_of(a.get("axes"), v)
        out = v[0]
        for axis in sorted(x % (out.ndim + len(axes)) for x in axes):
            out = np.expand_dims(out, axis)
        return [out]
    if op == "Squeeze":
        axes = axes_of(a.get("axes"), v)
        return [np.squeeze(v[0], axis=tuple(axes) if axes is not None else None)]
    if op == "Concat" and sum(np.size(x) for x in v if x is not None) > FOLD_LIMIT:
        return None  # its shape comes from shape inference
    if op == "Concat":
        return [np.concatenate([np.asarray(x) for x in v if x is not None], axis=a.get("axis", 0))]
    if op == "Slice":
        data = v[0]
        if "starts" in a:
            starts, ends, axes, steps = a["starts"], a["ends"], a.get("axes"), None
        else:
            starts, ends = list(v[1]), list(v[2])
            axes = list(v[3]) if len(v) > 3 and v[3] is not None else None
            steps = list(v[4]) if len(v) > 4 and v[4] is not None else None
        axes = axes if axes is not None else list(range(len(starts)))
        index = [slice(None)] * data.ndim
        for i, axis in enumerate(axes):
            index[int(axis)] = slice(
                int(starts[i]), int(ends[i]), int(steps[i]) if steps is not None else 1
            )
        return [data[tuple(index)]]
    if op == "Reshape":
        return [
            v[0].reshape(
                reshape_target(
                    tuple(v[0].shape), [int(d) for d in v[1]], bool(a.get("allowzero", 0))
                )
            )
        ]
    if op == "Flatten":
        axis = a.get("axis", 1) % max(1, v[0].ndim) if v[0].ndim else 0
        return [v[0].reshape(numel(v[0].shape[:axis]), -1)]
    if op == "Transpose":
        return [np.transpose(v[0], a.get("perm"))]
    if op == "Expand":
        shape = np.broadcast_shapes(v[0].shape, tuple(int(d) for d in v[1]))
        return [np.broadcast_to(v[0], shape)]
    if op == "Tile":
        repeats = [int(r) for r in v[1]]
        if v[0].size * numel(repeats) > FOLD_LIMIT:
            return None
        return [np.tile(v[0], repeats)]
    if op == "Range":
        if abs((float(v[1]) - float(v[0])) / float(v[2])) > FOLD_LIMIT:
            return None
        return [np.arange(v[0], v[1], v[2])]
    if op in ("Where", "Max", "Min", "Sum", *NUMPY_BINARY):
        shape = np.broadcast_shapes(*(np.shape(x) for x in v))
        if numel(shape) > FOLD_LIMIT:  # a broadcast past the budget: never materialised
            return [_placeholder(shape, np.result_type(*v))]
    if op == "Where":
        return [np.where(v[0], v[1], v[2])]
    if op in ("ReduceProd", "ReduceSum", "ReduceMax", "ReduceMin", "ReduceMean"):
        axes = axes_of(a.get("axes"), v)
        fn = {
            "ReduceProd": np.prod,
            "ReduceSum": np.sum,
            "ReduceMax": np.max,
            "ReduceMin": np.min,
            "ReduceMean": np.mean,
        }[op]
        keep = bool(a.get("keepdims", 1))
        return [np.asarray(fn(v[0], axis=tuple(axes) if axes else None, keepdims=keep))]
    if op in NUMPY_UNARY:
        return [np.asarray(NUMPY_UNARY[op](v[0]))]
    if op in NUMPY_BINARY:
        x, y = v[0], v[1]
        if op == "Div" and np.issubdtype(np.asarray(x).dtype, np.integer):
            return [np.asarray(np.trunc(np.divide(x, y))).astype(np.asarray(x).dtype)]
        return [np.asarray(NUMPY_BINARY[op](x, y))]
    if op in ("Max", "Min", "Sum"):
        fn = {"Max": np.maximum, "Min": np.minimum, "Sum": np.add}[op]
        out = v[0]
        for other in v[1:]:
            out = fn(out, other)
        return [np.asarray(out)]
    return None


def _placeholder(shape: Shape, dtype) -> np.ndarray:
    """A constant too large to evaluate: its shape and dtype, in no memory."""
    return np.broadcast_to(np.zeros((), dtype=dtype), shape)


NUMPY_UNARY: dict[str, Callable] = {
    "Neg": np.negative,
    "Abs": np.abs,
    "Floor": np.floor,
    "Ceil": np.ceil,
    "Sqrt": np.sqrt,
    "Not": np.logical_not,
    "Sign": np.sign,
    "Reciprocal": np.reciprocal,
    "Relu": lambda x: np.maximum(x, 0),
    "Exp": np.exp,
    "Log": np.log,
    "Round": np.round,
    "Sigmoid": lambda x: 1 / (1 + np.exp(-x)),
    "Tanh": np.tanh,
}
NUMPY_BINARY: dict[str, Callable] = {
    "Add": np.add,
    "Sub": np.subtract,
    "Mul": np.multiply,
    "Div": np.divide,
    "Pow": np.power,
    "Equal": np.equal,
    "Less": np.less,
    "Greater": np.greater,
    "LessOrEqual": np.less_equal,
    "GreaterOrEqual": np.greater_equal,
    "And": np.logical_and,
    "Or": np.logical_or,
    "Xor": np.logical_xor,
    "Mod": np.mod,
}


def reshape_target(shape: Shape, target: list[int], allowzero: bool) -> Shape:
    """ONNX Reshape semantics: 0 copies the input dim (unless allowzero), -1 is inferred."""
    out = [
        shape[i] if (d == 0 and not allowzero and i < len(shape)) else d
        for i, d in enumerate(target)
    ]
    if -1 in out:
        known = numel([d for d in out if d != -1])
        out[out.index(-1)] = numel(shape) // known if known else 0
    return tuple(int(d) for d in out)
