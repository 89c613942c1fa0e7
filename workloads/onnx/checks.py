"""Shape contradictions in a standard ONNX node are rejected at load time.

A file whose shapes disagree (a Conv weight of the wrong rank, a MatMul whose inner
dimensions differ, a Reshape to another element count) is not a model any runtime would
run; simulating it anyway would give a confident answer about nothing. So such a node, or
one that lacks an input ONNX's schema requires, is an InputError naming the file, the node,
its op type and the shapes.

Each check takes the importer and a node of the standard domain and returns what is wrong
with its shapes (a phrase naming the tensors and their shapes), or None. A shape nobody
knows raises `Unmappable`, which means "nothing to check".
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from hardware.errors import InputError
from workloads.onnx.fold import axes_of
from workloads.onnx.read import MICROSOFT_OPS, STANDARD_DOMAINS, Node, Shape, Unmappable, label
from workloads.onnx.state import ImportState
from workloads.ops import numel

# ops whose inputs broadcast against each other (ONNX's multidirectional broadcasting)
BROADCASTING = (
    "Add",
    "Sub",
    "Mul",
    "Div",
    "Max",
    "Min",
    "Sum",
    "Mean",
    "Equal",
    "Less",
    "Greater",
    "LessOrEqual",
    "GreaterOrEqual",
    "And",
    "Or",
    "Xor",
    "Mod",
    "BitShift",
    "PRelu",
    "BitwiseAnd",
    "BitwiseOr",
    "BitwiseXor",
    "Where",
    "Pow",
)


def check_schema(imp: ImportState, node: Node) -> None:
    """A node that breaks its op's signature (ONNX's schema, or ONNX Runtime's for the
    contrib ops mapped on purpose) is an InputError; run on every node before any stage
    reads their inputs and attributes."""
    if node.op_type in MICROSOFT_OPS and node.domain in ("com.microsoft", *STANDARD_DOMAINS):
        need, have = MICROSOFT_OPS[node.op_type], node.inputs[: MICROSOFT_OPS[node.op_type]]
        if len(have) < need or not all(have) or not node.outputs or not node.outputs[0]:
            raise InputError(
                f"{imp.source}: node {label(node)} ({node.op_type}): ONNX "
                f"Runtime's {node.op_type} requires its first {need} inputs and an output; "
                f"the node has inputs {node.inputs} and outputs {node.outputs}."
            )
    if node.domain in STANDARD_DOMAINS:
        problem = _missing_input(imp, node)
        if problem:
            raise InputError(
                f"{imp.source}: node {label(node)} ({node.op_type}): {problem}; "
                "the model is not valid ONNX."
            )


def check(imp: ImportState, node: Node) -> None:
    """A standard node whose attributes are out of range, or whose shapes contradict each
    other, is an InputError: shape mismatches are rejected at load time."""
    if node.domain not in STANDARD_DOMAINS:
        return  # other domains' ops are not ONNX's: nothing to hold them to
    problem = _attribute_problem(imp, node)
    shape_check = SHAPE_CHECKS.get(node.op_type)
    if problem is None and shape_check is not None:
        try:
            mismatch = shape_check(imp, node)
        except Unmappable:  # a shape is unknown: nothing to compare
            mismatch = None
        if mismatch:
            problem = f"shape mismatch: {mismatch}"
    if problem:
        verdict = "the model is not valid ONNX"
        if imp.chosen and problem.startswith("shape mismatch"):
            sizes = ", ".join(f"{k}={v}" for k, v in sorted(imp.chosen.items()))
            verdict = (
                f"the model may assume other sizes for the input dimensions set at "
                f"import ({sizes}; choose them with batch= and dims=)"
            )
        raise InputError(
            f"{imp.source}: node {label(node)} ({node.op_type}): {problem}; {verdict}."
        )


_SCHEMAS: dict[tuple[str, int], Any] = {}
_INTEGER_TYPES = {f"tensor({t}int{b})" for t in ("", "u") for b in (8, 16, 32, 64)}


def _schema(imp: ImportState, node: Node):
    """ONNX's schema of the op at the model's opset, else its first (runtimes such as ONNX
    Runtime define some ops, LayerNormalization say, before ONNX did, with its signature)."""
    key = (node.op_type, imp.opset)
    if key not in _SCHEMAS:
        _SCHEMAS[key] = None
        for version in (imp.opset, 1_000):
            try:
                _SCHEMAS[key] = imp.onnx.defs.get_schema(node.op_type, version, "")
                break
            except Exception:  # no such op in this opset (or this onnx)
                continue
    return _SCHEMAS[key]


def _missing_input(imp: ImportState, node: Node) -> str | None:
    """What the node breaks of ONNX's schema for the model's opset: a required input it
    lacks, too many inputs or outputs, an attribute of the wrong type or a missing required
    one, a float tensor where only integers are allowed (indices, starts, axes ...)."""
    schema = _schema(imp, node)
    if schema is None:
        return None
    op = node.op_type
    single = imp.onnx.defs.OpSchema.FormalParameterOption.Single
    for i, formal in enumerate(schema.inputs):
        if formal.option == single and (i >= len(node.inputs) or not node.inputs[i]):
            return (
                f"ONNX's {op} requires input {i + 1} ({formal.name}), "
                f"which the node does not have (it has {len([t for t in node.inputs if t])})"
            )
    if len(node.inputs) > schema.max_input:
        return f"it has {len(node.inputs)} inputs; ONNX's {op} takes at most {schema.max_input}"
    outputs = len(node.outputs)
    if not schema.min_output <= outputs <= schema.max_output:
        allowed = f"{schema.min_output} to {schema.max_output}"
        if schema.min_output == schema.max_output:
            allowed = str(schema.min_output)
        return f"it has {outputs} outputs; ONNX's {op} makes {allowed}"
    attr_type = imp.onnx.AttributeProto.AttributeType
    given = {a.name: a.type for a in node.proto.attribute}
    for name, spec in schema.attributes.items():
        if name not in given:
            if spec.required:
                return f"ONNX's {op} requires attribute {name!r}, which the node does not have"
        elif given[name] and given[name] != int(spec.type):
            return (
                f"attribute {name!r} is of type {attr_type.Name(given[name])}; ONNX's {op} "
                f"takes {attr_type.Name(int(spec.type))}"
            )
    constraints = {c.type_param_str: set(c.allowed_type_strs) for c in schema.type_constraints}
    for i, (formal, t) in enumerate(zip(schema.inputs, node.inputs, strict=False)):
        allowed = constraints.get(formal.type_str, {formal.type_str})
        elem = imp.onnx_types.get(t)
        if not t or not elem or not allowed <= _INTEGER_TYPES:
            continue
        kind = f"tensor({imp.onnx.TensorProto.DataType.Name(elem).lower()})"
        if kind not in allowed:
            return (
                f"input {i + 1} ({formal.name}) {t!r} is a {kind}; ONNX's {op} takes "
                f"{' or '.join(sorted(allowed))} there"
            )
    return None


WINDOW_OPS = {
    "Conv",
    "ConvInteger",
    "QLinearConv",
    "ConvTranspose",
    "MaxPool",
    "AveragePool",
    "LpPool",
}
# ops with an `axis` attribute that must name an axis of their first input
AXIS_OPS = {
    "ArgMax",
    "ArgMin",
    "Gather",
    "GatherElements",
    "Softmax",
    "LogSoftmax",
    "Hardmax",
    "Concat",
    "Split",
    "LayerNormalization",
    "Compress",
    "ScatterElements",
}
# ops whose `axes` (attribute, or constant second input) name axes of the first input
AXES_OPS = {"Squeeze", "ReduceMean", "ReduceSum", "ReduceMax", "ReduceMin", "ReduceProd"}
AXES_OPS |= {"ReduceL1", "ReduceL2", "ReduceLogSum", "ReduceLogSumExp", "ReduceSumSquare"}


def _attribute_problem(imp: ImportState, node: Node) -> str | None:
    """Attribute values out of ONNX's range: non-positive strides, dilations, kernels or
    groups, negative pads, zero split parts, axes outside the input or repeated."""
    a, op = node.attrs, node.op_type
    if op in WINDOW_OPS:
        for name in ("strides", "dilations", "kernel_shape"):
            if name in a and any(int(v) < 1 for v in a[name]):
                return f"{name}={list(a[name])}; each must be a positive integer"
        if "pads" in a and any(int(v) < 0 for v in a["pads"]):
            return f"pads={list(a['pads'])}; each must be at least 0"
        if int(a.get("group", 1)) < 1:
            return f"group={a['group']}; it must be a positive integer"
    if op == "Split" and "num_outputs" in a and not 1 <= int(a["num_outputs"]) <= len(node.outputs):
        return (
            f"num_outputs={a['num_outputs']} for a node with {len(node.outputs)} outputs; "
            "it must be between 1 and the number of outputs"
        )
    if op not in AXIS_OPS and op not in AXES_OPS and op != "Unsqueeze":
        return None
    try:
        rank = len(imp.shape(node.inputs[0]))
    except Unmappable:
        return None
    if op in AXIS_OPS:
        axis = int(
            a.get(
                "axis",
                1
                if op in ("Softmax", "LogSoftmax") and imp.opset < 13
                else -1
                if op in ("Softmax", "LogSoftmax", "Hardmax", "LayerNormalization")
                else 0,
            )
        )
        if not -rank <= axis < rank:
            what = "a scalar" if rank == 0 else f"of rank {rank}"
            return (
                f"axis={axis} but input {node.inputs[0]!r} is {what}; "
                f"ONNX's {op} takes an axis in [-r, r-1] of an input of rank r >= 1"
            )
        return None
    axes = axes_of(a.get("axes"), [imp.value(t) for t in node.inputs])
    if axes is None:
        return None
    if op == "Unsqueeze":
        rank += len(axes)
    if any(not -rank <= x < rank for x in axes) or len({x % max(1, rank) for x in axes}) < len(
        axes
    ):
        what = "the output" if op == "Unsqueeze" else f"input {node.inputs[0]!r}"
        return (
            f"axes={axes} for {what} of rank {rank}: ONNX's {op} takes distinct axis "
            "values in [-r, r-1]"
        )
    return None


def _check_rnn(imp: ImportState, node: Node) -> str | None:
    for role, t in zip(("input X", "weight W", "recurrence R"), node.inputs[:3], strict=False):
        shape = imp.shape(t)
        if len(shape) != 3:
            return (
                f"{role} {t!r} is {_s(shape)}; ONNX's {node.op_type} takes X as "
                "[seq, batch, input], W and R as [directions, gates*hidden, ...], all 3-D"
            )
    return None


def _check_conv_transpose(imp: ImportState, node: Node) -> str | None:
    x, w = node.inputs[0], node.inputs[1]
    xs, ws = imp.shape(x), imp.shape(w)
    if len(xs) < 3 or len(ws) != len(xs):
        return (
            f"input {x!r} is {_s(xs)} and weight {w!r} is {_s(ws)}; ConvTranspose takes "
            "[N, C, spatial...] and a weight [C, M/group, kernel...] of the same rank"
        )
    if ws[0] != xs[1]:
        return f"weight {w!r} {_s(ws)} takes {ws[0]} channels but input {x!r} {_s(xs)} has {xs[1]}"
    return None


MAX_COUNTED_MACS = 2**62  # beyond this a count means nothing (and overflows int64 consumers)


def _check_einsum(imp: ImportState, node: Node) -> str | None:
    equation = node.attrs.get("equation", b"")
    equation = (equation.decode() if isinstance(equation, bytes) else str(equation)).replace(
        " ", ""
    )
    terms = equation.split("->")[0].split(",")
    inputs = [t for t in node.inputs if t]
    if len(terms) != len(inputs):
        return (
            f"equation {equation!r} has {len(terms)} operands but the node has {len(inputs)} inputs"
        )
    sizes: dict[str, int] = {}
    for term, t in zip(terms, inputs, strict=True):
        shape = imp.shape(t)
        letters = term.replace("...", "")
        if len(letters) > len(shape) or ("..." not in term and len(letters) != len(shape)):
            return f"term {term!r} of equation {equation!r} does not fit input {t!r} {_s(shape)}"
        for letter, size in zip(
            letters, shape if "..." not in term else shape[len(shape) - len(letters) :], strict=True
        ):
            sizes[letter] = max(sizes.get(letter, 1), int(size))
    work = 1
    for size in sizes.values():
        work *= size
    if work > MAX_COUNTED_MACS:
        return (
            f"equation {equation!r} spans {work:.3g} points over its labels; topsim counts "
            f"at most 2^62 multiply-accumulates for one op"
        )
    return None


def _s(shape: Shape) -> str:
    return str([int(d) for d in shape])


def _check_conv(imp: ImportState, node: Node) -> str | None:
    x_at, w_at, b_at = {"Conv": (0, 1, 2), "ConvInteger": (0, 1, None), "QLinearConv": (0, 3, 8)}[
        node.op_type
    ]
    op = node.op_type
    x, w = node.inputs[x_at], node.inputs[w_at]
    xs, ws = imp.shape(x), imp.shape(w)
    if len(xs) < 3:
        return f"input {x!r} is {_s(xs)}; {op} takes [N, C, spatial...], at least 3-D"
    if len(ws) != len(xs):
        return (
            f"weight {w!r} is {_s(ws)} ({len(ws)}-D) but input {x!r} is {_s(xs)} "
            f"({len(xs)}-D): a {op} weight is [M, C/group, kernel...], as many axes as its input"
        )
    group = int(node.attrs.get("group", 1))
    if group < 1:
        return f"group={group}; it must be a positive integer"
    if xs[1] != ws[1] * group:
        return (
            f"input {x!r} {_s(xs)} has {xs[1]} channels but weight {w!r} {_s(ws)} with "
            f"group={group} takes {ws[1] * group}"
        )
    if ws[0] % group:
        return f"weight {w!r} {_s(ws)} has {ws[0]} output channels, not a multiple of group={group}"
    kernel = node.attrs.get("kernel_shape")
    if kernel is not None and [int(k) for k in kernel] != [int(k) for k in ws[2:]]:
        return f"kernel_shape={[int(k) for k in kernel]} but weight {w!r} is {_s(ws)}"
    b = node.inputs[b_at] if b_at is not None and len(node.inputs) > b_at else ""
    if b:
        bs = imp.shape(b)
        if tuple(bs) != (ws[0],):
            return f"bias {b!r} is {_s(bs)} but weight {w!r} {_s(ws)} makes {ws[0]} channels"
    auto = node.attrs.get("auto_pad", b"NOTSET")
    auto = auto.decode() if isinstance(auto, bytes) else str(auto)
    if auto in ("NOTSET", "VALID"):
        rank = len(xs) - 2
        pads = [int(p) for p in node.attrs.get("pads", [0] * 2 * rank)] if auto == "NOTSET" else []
        pads = pads if len(pads) == 2 * rank else [0] * 2 * rank
        dilations = [int(d) for d in node.attrs.get("dilations", [1] * rank)]
        dilations = dilations if len(dilations) == rank else [1] * rank
        for i in range(rank):
            span = (ws[2 + i] - 1) * dilations[i] + 1
            room = xs[2 + i] + pads[i] + pads[i + rank]
            if room < span:
                return (
                    f"the kernel of weight {w!r} {_s(ws)} spans {span} along spatial axis {i}, "
                    f"more than input {x!r} {_s(xs)} has there with its padding ({room})"
                )
    return None


def _check_matmul(imp: ImportState, node: Node) -> str | None:
    b_at = 3 if node.op_type == "QLinearMatMul" else 1
    a, b = node.inputs[0], node.inputs[b_at]
    sa, sb = imp.shape(a), imp.shape(b)
    if not sa or not sb:
        scalar = a if not sa else b
        return f"{scalar!r} is a scalar; {node.op_type} takes tensors of at least one dimension"
    inner_a, inner_b = sa[-1], sb[0] if len(sb) == 1 else sb[-2]
    if inner_a != inner_b:
        return (
            f"the inner dimensions differ: {a!r} is {_s(sa)} and {b!r} is {_s(sb)} "
            f"({inner_a} != {inner_b})"
        )
    try:
        np.broadcast_shapes(tuple(sa[:-2]), tuple(sb[:-2]))
    except ValueError:
        return (
            f"the batch dimensions of {a!r} {_s(sa)} and {b!r} {_s(sb)} do not broadcast "
            f"({_s(sa[:-2])} against {_s(sb[:-2])})"
        )
    return None


def _check_gemm(imp: ImportState, node: Node) -> str | None:
    a, b = node.inputs[0], node.inputs[1]
    sa, sb = imp.shape(a), imp.shape(b)
    if len(sa) != 2 or len(sb) != 2:
        return f"Gemm takes 2-D A and B; {a!r} is {_s(sa)} and {b!r} is {_s(sb)}"
    m, k = (sa[1], sa[0]) if node.attrs.get("transA", 0) else (sa[0], sa[1])
    k2, n = (sb[1], sb[0]) if node.attrs.get("transB", 0) else (sb[0], sb[1])
    if k != k2:
        trans_a, trans_b = int(node.attrs.get("transA", 0)), int(node.attrs.get("transB", 0))
        return (
            f"the inner dimensions differ: A {a!r} is {_s(sa)} and B {b!r} is {_s(sb)} "
            f"with transA={trans_a}, transB={trans_b} ({k} != {k2})"
        )
    c = node.inputs[2] if len(node.inputs) > 2 else ""
    if c:
        cs = imp.shape(c)
        try:
            fits = np.broadcast_shapes(tuple(cs), (m, n)) == (m, n)
        except ValueError:
            fits = False
        if not fits:
            return f"C {c!r} is {_s(cs)}, which does not broadcast to the product's [{m}, {n}]"
    return None


def _check_broadcast(imp: ImportState, node: Node) -> str | None:
    inputs = [t for t in node.inputs if t]
    shapes = [tuple(imp.shape(t)) for t in inputs]
    try:
        np.broadcast_shapes(*shapes)
    except ValueError:
        listing = ", ".join(f"{t!r} is {_s(s)}" for t, s in zip(inputs, shapes, strict=True))
        return f"the inputs do not broadcast: {listing}"
    return None


def _check_reshape(imp: ImportState, node: Node) -> str | None:
    x = node.inputs[0]
    target = imp.value(node.inputs[1]) if len(node.inputs) > 1 and node.inputs[1] else None
    if target is None and "shape" in node.attrs:  # Reshape-1
        target = np.array(node.attrs["shape"])
    if target is None:
        return None
    xs = tuple(imp.shape(x))
    raw = imp.onnx_shapes.get(x) or ()
    wanted = [int(d) for d in np.asarray(target).reshape(-1)]
    allowzero = bool(node.attrs.get("allowzero", 0))
    shown = f"input {x!r} is {_s(xs)} ({numel(xs)} elements) but the target shape is {wanted}"
    if wanted.count(-1) > 1 or any(d < -1 for d in wanted):
        return f"{shown}: it may hold one -1 and no other negative size"
    if allowzero and 0 in wanted and -1 in wanted:
        return f"{shown}: with allowzero=1 it cannot hold both 0 and -1"
    if not allowzero and any(d == 0 and i >= len(xs) for i, d in enumerate(wanted)):
        return f"{shown}: a 0 copies the input's size, and the input has only {len(xs)} axes"
    if 0 in xs or 0 in raw:
        return None  # an empty tensor: topsim counts empty dims as 1, nothing to compare
    out = [xs[i] if d == 0 and not allowzero else d for i, d in enumerate(wanted)]
    known = numel([d for d in out if d != -1])
    if known == 0:
        return None
    if -1 in out:
        if numel(xs) % known:
            return f"{shown}: {numel(xs)} elements cannot be split into parts of {known}"
    elif known != numel(xs):
        return f"{shown} ({known} elements)"
    return None


def _check_squeeze(imp: ImportState, node: Node) -> str | None:
    if node.op_type != "Squeeze":
        return None
    x = node.inputs[0]
    xs = imp.shape(x)
    axes = axes_of(node.attrs.get("axes"), [imp.value(t) for t in node.inputs])
    for axis in axes or []:
        if not -len(xs) <= axis < len(xs):
            return f"axis {axis} is out of range for input {x!r} {_s(xs)}"
        if xs[axis] != 1:
            return f"axis {axis} of input {x!r} {_s(xs)} has size {xs[axis]}, not 1"
    return None


def _check_transpose(imp: ImportState, node: Node) -> str | None:
    x = node.inputs[0]
    xs = imp.shape(x)
    perm = node.attrs.get("perm")
    if perm is not None and sorted(int(p) for p in perm) != list(range(len(xs))):
        return f"perm={[int(p) for p in perm]} is not a permutation of the axes of {x!r} {_s(xs)}"
    return None


def _check_concat(imp: ImportState, node: Node) -> str | None:
    inputs = [t for t in node.inputs if t]
    if not inputs:
        return "it has no inputs; Concat takes at least one"
    shapes = [tuple(imp.shape(t)) for t in inputs]
    listing = ", ".join(f"{t!r} is {_s(s)}" for t, s in zip(inputs, shapes, strict=True))
    rank = len(shapes[0])
    if any(len(s) != rank for s in shapes):
        return f"the inputs differ in rank: {listing}"
    axis = int(node.attrs.get("axis", 0))
    if not -rank <= axis < rank:
        return f"axis={axis} is out of range for rank-{rank} inputs: {listing}"
    axis %= rank
    if any(s[:axis] + s[axis + 1 :] != shapes[0][:axis] + shapes[0][axis + 1 :] for s in shapes):
        return f"the inputs differ outside axis {axis}: {listing}"
    return None


def _check_split(imp: ImportState, node: Node) -> str | None:
    x = node.inputs[0]
    xs = imp.shape(x)
    axis = int(node.attrs.get("axis", 0))
    if not -len(xs) <= axis < len(xs):
        return f"axis={axis} is out of range for input {x!r} {_s(xs)}"
    sizes = node.attrs.get("split")
    if sizes is None and len(node.inputs) > 1 and node.inputs[1]:
        value = imp.value(node.inputs[1])
        sizes = None if value is None else value.reshape(-1)
    if sizes is None:
        return None
    sizes = [int(s) for s in sizes]
    if sum(sizes) != xs[axis] and 0 not in (imp.onnx_shapes.get(x) or ()):
        return (
            f"the split sizes {sizes} add up to {sum(sizes)} but axis {axis} of input "
            f"{x!r} {_s(xs)} has {xs[axis]}"
        )
    if len(sizes) != len(node.outputs):
        return f"{len(sizes)} split sizes {sizes} for {len(node.outputs)} outputs"
    return None


SHAPE_CHECKS: dict[str, Callable[[ImportState, Node], str | None]] = {
    "Conv": _check_conv,
    "ConvInteger": _check_conv,
    "QLinearConv": _check_conv,
    "MatMul": _check_matmul,
    "MatMulInteger": _check_matmul,
    "QLinearMatMul": _check_matmul,
    "Gemm": _check_gemm,
    **{op: _check_broadcast for op in BROADCASTING},
    "Reshape": _check_reshape,
    "Squeeze": _check_squeeze,
    "Transpose": _check_transpose,
    "Concat": _check_concat,
    "Split": _check_split,
    "LSTM": _check_rnn,
    "GRU": _check_rnn,
    "RNN": _check_rnn,
    "ConvTranspose": _check_conv_transpose,
    "Einsum": _check_einsum,
}
