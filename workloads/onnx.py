"""ONNX models as topsim graphs, and topsim graphs as runnable ONNX models (extra `onnx`).

`load_onnx(path)` reads only the graph and the shapes: weights are never needed, and
external data (weights stored in other files, named by paths inside the model) is never
opened. The model:

- Symbolic input dimensions become concrete: the leading axis of a graph input gets
  `batch`, a dimension named in `dims` gets that value, any other gets 1 (with a
  warning). Then ONNX shape inference (with data propagation) fills in the shapes.
- Nodes that compute only shapes or constants (Shape, Constant, and anything whose inputs
  are all constant: initializers, Shape outputs) are evaluated here, as runtimes fold them
  at load time, and emit no op; Identity and Dropout are aliases. Reshape, Flatten,
  Squeeze, Unsqueeze and layout-preserving Transposes become free `reshape` views.
- Every other node becomes topsim ops: Conv -> conv2d, Gemm/MatMul with a constant
  weight -> linear, otherwise matmul, Gather from a constant table -> embedding,
  activations, norms, pools, softmax, concat/split/transpose by name. Decomposed GELU (Erf
  or tanh form), SiLU, hard-swish and LayerNorm/RMSNorm subgraphs are recognised and
  become one op each. Known ONNX ops with no topsim kind (Slice, Pad, Resize, Reduce*,
  Where ...) become `custom` ops with their element operations counted.
- Unknown op types become `custom` ops on the host (`accelerated: false`) with output
  shapes from shape inference, and one warning lists them; the import never fails
  because of an op type.
- Shape mismatches are rejected at load time: a standard ONNX node whose shapes contradict
  each other (a Conv weight of the wrong rank or channel count, a MatMul or Gemm whose
  inner dimensions differ, a Reshape to another element count, inputs that do not
  broadcast, ...) or that lacks a required input is an InputError naming the file, the
  node, its op type and the shapes. So is a tensor topsim cannot hold (over 2^50
  elements).
- Warnings (`OnnxImportWarning`, a UserWarning) are one self-contained line each, naming
  the file; `import_onnx` returns the same lines (`OnnxImport.messages()`) instead of
  warning, for callers that print them their own way.
- Dtypes: float32 -> fp32, float16 -> fp16, bfloat16 -> bf16, float64 -> fp64,
  (u)int8 -> int8, float8 -> fp8, (u)int4 -> int4, bool -> int8 (1 byte); int16/uint16
  -> fp16 and int32/int64 and the other integer types -> fp32, stand-ins of 2 and 4 bytes
  (topsim has no integer dtypes wider than int8: 64-bit ids are counted as 4 bytes).

`to_onnx(graph, path)` writes a topsim graph (from the builders) as an ONNX model with
seeded random weights that onnxruntime can execute: a real run of the same architecture
by kernels nobody here wrote.
"""

from __future__ import annotations

import math
import os
import warnings
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import ValidationError

from hardware.errors import InputError, explain_validation
from workloads.graph import Graph, Op, Tensor
from workloads.ops import OpShapeError, infer, numel

Shape = tuple[int, ...]

MAX_ONNX_BYTES = 2**31  # protobuf's limit for one serialized message
FOLD_LIMIT = 1 << 16  # constant values up to this many elements are evaluated here
REGION_LIMIT = 14  # nodes in a recognised GELU / norm subgraph

ONNX_DTYPES: dict[str, str] = {
    "FLOAT": "fp32",
    "FLOAT16": "fp16",
    "BFLOAT16": "bf16",
    "DOUBLE": "fp64",
    "INT8": "int8",
    "UINT8": "int8",
    "BOOL": "int8",
    "INT4": "int4",
    "UINT4": "int4",
    "FLOAT8E4M3FN": "fp8",
    "FLOAT8E4M3FNUZ": "fp8",
    "FLOAT8E5M2": "fp8",
    "FLOAT8E5M2FNUZ": "fp8",
    "INT16": "fp16",
    "UINT16": "fp16",
}  # everything else (int32, int64, uint32, uint64, string): fp32, a 4-byte stand-in


class OnnxImportWarning(UserWarning):
    """Ops that were approximated or have no topsim equivalent (one line, names the file)."""


@dataclass
class OnnxImport:
    """A loaded model: the graph, and what the import had to approximate."""

    graph: Graph
    unknown_ops: Counter = field(default_factory=Counter)  # op type -> count (host custom ops)
    notes: list[str] = field(default_factory=list)
    source: str = ""  # the file, as the caller named it

    def messages(self) -> list[str]:
        """The import's warnings: one self-contained line each, naming the file.

        `load_onnx` emits exactly these as `OnnxImportWarning`s; a command-line tool can
        print them itself (e.g. as `warning: LINE` on stderr) instead.
        """
        prefix = f"{self.source}: " if self.source else ""
        lines = []
        if self.unknown_ops:
            listing = ", ".join(f"{t} (x{n})" for t, n in sorted(self.unknown_ops.items()))
            lines.append(
                f"{prefix}op types with no topsim equivalent run as custom ops on the host "
                f"(no MACs counted, shapes from ONNX shape inference): {listing}."
            )
        lines.extend(f"{prefix}{note}." for note in self.notes)
        return [" ".join(line.split()) for line in lines]  # one line, whatever names hold


def _onnx():
    try:
        import onnx
    except ModuleNotFoundError:
        raise InputError(
            "reading or writing ONNX needs the 'onnx' extra: pip install 'topsim[onnx]'."
        ) from None
    return onnx


def load_onnx(
    path: str | os.PathLike, batch: int | None = None, dims: Mapping[str, int] | None = None
) -> Graph:
    """The topsim Graph of an ONNX model; see the module docstring for the mapping.

    Ops without a topsim equivalent and any approximations are reported with
    `warnings.warn(..., OnnxImportWarning)`, one self-contained line each (the lines of
    `OnnxImport.messages()`). User mistakes in the file raise InputError.
    """
    result = import_onnx(path, batch=batch, dims=dims)
    for message in result.messages():
        warnings.warn(message, OnnxImportWarning, stacklevel=2)
    return result.graph


def import_onnx(
    path: str | os.PathLike, batch: int | None = None, dims: Mapping[str, int] | None = None
) -> OnnxImport:
    """Like `load_onnx`, but returns the unknown op types and notes instead of warning.

    `OnnxImport.messages()` gives the warnings `load_onnx` would emit, as one-line strings.
    """
    if batch is not None and (not isinstance(batch, int) or batch < 1):
        raise InputError(f"{path}: batch must be a positive integer, got {batch!r}.")
    model = read_model(path)
    try:
        return _Importer(model, str(path), batch, dict(dims or {})).run()
    except ValidationError as err:  # a model built here that pydantic refused: still one line
        raise explain_validation(err, str(path), None) from None


def read_model(path: str | os.PathLike):
    """The ModelProto of an ONNX file, or an InputError saying why it is not one.

    The bytes are parsed directly (`load_model_from_string`), so external data files named
    inside the model are never opened.
    """
    onnx = _onnx()
    p = Path(path)
    if not p.is_file():
        raise InputError(f"{p}: no such ONNX file.")
    size = p.stat().st_size
    if size > MAX_ONNX_BYTES:
        raise InputError(
            f"{p}: the file is {size / 2**30:.1f} GiB; a single ONNX file is at most "
            "2 GiB (larger models keep their weights as external data)."
        )
    try:
        data = p.read_bytes()
    except OSError as exc:
        raise InputError(f"{p}: cannot be read ({exc.strerror}).") from None
    try:
        model = onnx.load_model_from_string(data)
    except Exception as exc:  # protobuf DecodeError and friends
        raise InputError(
            f"{p}: not an ONNX model: the bytes are not a valid ONNX protobuf "
            f"({exc.__class__.__name__}); the file may be truncated, or another kind "
            "of file with an .onnx name."
        ) from None
    if not model.HasField("graph") or not model.graph.node or model.ir_version < 1:
        what = "it is empty" if not data else "it has no graph with nodes and no IR version"
        raise InputError(
            f"{p}: not an ONNX model: {what} (the file may be truncated or not an ONNX export)."
        )
    return model


def onnx_dtype(elem_type: int) -> str:
    onnx = _onnx()
    name = onnx.TensorProto.DataType.Name(elem_type) if elem_type else "FLOAT"
    return ONNX_DTYPES.get(name, "fp32")


def _dims(shape: Shape) -> Shape:
    """topsim dims are >= 1: an empty dimension (0) counts as 1."""
    return tuple(max(1, int(d)) for d in shape)


class _Unmappable(Exception):
    """This node cannot be mapped as planned; the caller falls back to a custom op."""


# --- the importer --------------------------------------------------------------------------


@dataclass
class _Node:
    index: int
    op_type: str
    domain: str
    name: str
    inputs: list[str]
    outputs: list[str]
    attrs: dict[str, Any]
    proto: Any


class _Importer:
    def __init__(self, model, source: str, batch: int | None, dims: dict[str, int]) -> None:
        self.onnx = _onnx()
        self.model = model
        self.source = source
        self.batch = batch
        self.dims = dims
        self.tensors: dict[str, Tensor] = {}
        self.ops: list[Op] = []
        self.op_names: set[str] = set()
        self.alias: dict[str, str] = {}
        self.const_shapes: dict[str, Shape] = {}  # constant tensors: initializers, folded
        self.values: dict[str, np.ndarray] = {}  # small constants whose values are known
        self.onnx_shapes: dict[str, Shape | None] = {}  # from shape inference; None: unknown
        self.onnx_types: dict[str, int] = {}
        self.unknown: Counter = Counter()
        self.approximated: Counter = Counter()
        self.notes: list[str] = []
        self.chosen: dict[str, int] = {}  # input dimensions this import chose -> their sizes
        opsets = {o.domain: o.version for o in model.opset_import}
        self.opset = opsets.get("", opsets.get("ai.onnx", 13))

    # -- driver -----------------------------------------------------------------------------

    def run(self) -> OnnxImport:
        graph = self.model.graph
        self._fix_input_dims()
        self._shape_inference()
        initializers = {t.name for t in graph.initializer}
        initializers |= {t.values.name for t in graph.sparse_initializer}
        for tensor in graph.initializer:
            self._add_initializer(tensor)
        for sparse in graph.sparse_initializer:
            self.const_shapes[sparse.values.name] = tuple(sparse.dims)
            self.onnx_types[sparse.values.name] = sparse.values.data_type
        inputs = [i.name for i in graph.input if i.name not in initializers]
        for name in inputs:
            shape = self.onnx_shapes.get(name)
            if shape is None:
                raise InputError(
                    f"{self.source}: graph input {name!r} has no known shape; give "
                    "its dimensions with dims={...}."
                )
            self.tensors[name] = self.tensor(name, _dims(shape), self._dtype(name), "graph input")
        nodes = self._sorted_nodes()
        nodes = self._live(nodes, [o.name for o in graph.output])
        fused = _find_fusions(nodes, self)
        skip = {i for region in fused.values() for i in region.members} - set(fused)
        for node in nodes:
            if node.index in skip:
                continue
            if node.index in fused:
                self._map_fused(node, fused[node.index])
            else:
                self._map(node)
        if not self.ops:
            raise InputError(
                f"{self.source}: the model computes nothing at run time (every node "
                "is a constant or a shape computation)."
            )
        outputs = []
        for o in graph.output:
            name = self.resolve(o.name)
            if any(name in op.outputs for op in self.ops) and name not in outputs:
                outputs.append(name)
        if self.approximated:
            listing = ", ".join(f"{t} (x{n})" for t, n in sorted(self.approximated.items()))
            self.notes.append(
                f"nodes mapped approximately as custom ops with ONNX's output shapes: {listing}"
            )
        try:
            result = Graph(
                name=graph.name or Path(self.source).stem,
                tensors=self.tensors,
                inputs=inputs,
                outputs=outputs,
                ops=self.ops,
            )
        except ValidationError as err:
            raise explain_validation(err, self.source, Graph) from None
        return OnnxImport(result, self.unknown, self.notes, self.source)

    def _fix_input_dims(self) -> None:
        """Concrete sizes for symbolic input dims: leading axis -> batch, named -> dims."""
        graph = self.model.graph
        initializers = {t.name for t in graph.initializer}
        leading = {
            i.type.tensor_type.shape.dim[0].dim_param
            for i in graph.input
            if i.name not in initializers
            and i.type.tensor_type.shape.dim
            and i.type.tensor_type.shape.dim[0].dim_param
        }
        defaulted: set[str] = set()
        for value in graph.input:
            if value.name in initializers or not value.type.HasField("tensor_type"):
                continue
            for axis, dim in enumerate(value.type.tensor_type.shape.dim):
                if dim.HasField("dim_value") and dim.dim_value > 0 and axis > 0:
                    continue
                if dim.HasField("dim_value") and dim.dim_value > 0:
                    if self.batch is None or self.batch == dim.dim_value:
                        continue
                    size = dim.dim_value  # a fixed batch stays: reshapes may depend on it
                    self.notes.append(
                        f"input {value.name!r} has a fixed batch of {size}; "
                        f"batch={self.batch} was not applied to it"
                    )
                elif dim.dim_param in self.dims:
                    size = int(self.dims[dim.dim_param])
                elif axis == 0 or dim.dim_param in leading:
                    size = self.batch or 1
                else:
                    size = 1
                    defaulted.add(dim.dim_param or f"{value.name}[{axis}]")
                self.chosen[dim.dim_param or f"{value.name}[{axis}]"] = size
                dim.Clear()
                dim.dim_value = size
        if defaulted:
            self.notes.append(
                "symbolic input dimensions set to 1: "
                + ", ".join(sorted(defaulted))
                + " (choose them with dims={name: size})"
            )

    def _shape_inference(self) -> None:
        onnx = self.onnx
        try:
            inferred = onnx.shape_inference.infer_shapes(
                self.model, strict_mode=False, data_prop=True
            )
        except Exception as exc:  # inference is help, not a requirement
            self.notes.append(
                f"ONNX shape inference failed ({exc.__class__.__name__}); shapes "
                "come from topsim's own op rules"
            )
            inferred = self.model
        graph = inferred.graph
        for value in [*graph.input, *graph.value_info, *graph.output]:
            if not value.type.HasField("tensor_type"):
                continue
            tensor_type = value.type.tensor_type
            self.onnx_types.setdefault(value.name, tensor_type.elem_type)
            shape: Shape | None = None
            if tensor_type.HasField("shape"):
                dims = tensor_type.shape.dim
                if all(d.HasField("dim_value") for d in dims):
                    shape = tuple(int(d.dim_value) for d in dims)
            if shape is not None or value.name not in self.onnx_shapes:
                self.onnx_shapes[value.name] = shape

    def _add_initializer(self, tensor) -> None:
        self.const_shapes[tensor.name] = tuple(int(d) for d in tensor.dims)
        self.onnx_types[tensor.name] = tensor.data_type
        value = self._tensor_value(tensor)
        if value is not None:
            self.values[tensor.name] = value

    def _tensor_value(self, tensor) -> np.ndarray | None:
        """A small tensor's value; external data is never read, large tensors never copied."""
        if tensor.data_location == self.onnx.TensorProto.EXTERNAL or tensor.external_data:
            return None
        if numel(tuple(tensor.dims)) > FOLD_LIMIT:
            return None
        try:
            return self.onnx.numpy_helper.to_array(tensor)
        except Exception:  # a tensor without data (weights stripped) or an odd type
            return None

    def _sorted_nodes(self) -> list[_Node]:
        """Nodes in a topological order (files should be sorted; some are not)."""
        graph = self.model.graph
        nodes = []
        for i, proto in enumerate(graph.node):
            attrs = {
                a.name: self.onnx.helper.get_attribute_value(a)
                for a in proto.attribute
                if a.type != self.onnx.AttributeProto.TENSOR or not _external(a.t, self.onnx)
            }
            nodes.append(
                _Node(
                    i,
                    proto.op_type,
                    proto.domain,
                    proto.name,
                    list(proto.input),
                    list(proto.output),
                    attrs,
                    proto,
                )
            )
        available = set(self.tensors) | set(self.const_shapes) | {""}
        producer = {o: n.index for n in nodes for o in n.outputs if o}
        waiting = {}
        for n in nodes:
            for t in n.inputs:
                if t not in available and t not in producer:
                    raise InputError(
                        f"{self.source}: tensor {t!r}, an input of node "
                        f"{n.name or n.index!r} ({n.op_type}), is produced by no node "
                        "and is neither a graph input nor an initializer; the file "
                        "may be truncated or not a complete model."
                    )
            waiting[n.index] = len({producer[t] for t in n.inputs if t in producer})
        consumers: dict[int, list[int]] = {n.index: [] for n in nodes}
        for n in nodes:
            for p in sorted({producer[t] for t in n.inputs if t in producer}):
                consumers[p].append(n.index)
        ready = sorted(i for i, k in waiting.items() if k == 0)
        order = []
        while ready:
            index = ready.pop(0)
            order.append(nodes[index])
            for c in consumers[index]:
                waiting[c] -= 1
                if waiting[c] == 0:
                    ready.append(c)
            ready.sort()
        if len(order) != len(nodes):
            raise InputError(f"{self.source}: the ONNX graph has a cycle; it is not a valid model.")
        return order

    def _live(self, nodes: list[_Node], outputs: list[str]) -> list[_Node]:
        """Only the nodes the graph outputs depend on (runtimes drop the rest)."""
        if not outputs:
            return nodes
        needed = set(outputs)
        live = []
        for node in reversed(nodes):
            if any(o in needed for o in node.outputs if o):
                live.append(node)
                needed.update(t for t in node.inputs if t)
        return list(reversed(live))

    # -- tensors ----------------------------------------------------------------------------

    def resolve(self, name: str) -> str:
        while name in self.alias:
            name = self.alias[name]
        return name

    def _dtype(self, name: str) -> str:
        return onnx_dtype(self.onnx_types.get(name, 0))

    def is_const(self, name: str) -> bool:
        return name in self.const_shapes

    def value(self, name: str) -> np.ndarray | None:
        return self.values.get(self.resolve(name)) if name else None

    def shape(self, name: str) -> Shape:
        name = self.resolve(name)
        if name in self.tensors:
            return self.tensors[name].shape
        if name in self.values:
            return tuple(self.values[name].shape)
        if name in self.const_shapes:
            return self.const_shapes[name]
        known = self.onnx_shapes.get(name)
        if known is None:
            raise _Unmappable(f"the shape of {name!r} is unknown")
        return known

    def tensor(self, name: str, shape: Shape, dtype: str, what: str, const: bool = False):
        """A topsim Tensor, or an InputError naming the file and the tensor (never pydantic's)."""
        try:
            return Tensor(shape=shape, dtype=dtype, const=const)
        except ValidationError as err:
            problems = "; ".join(
                str(e.get("msg", "is invalid")).removeprefix("Value error, ") for e in err.errors()
            )
            raise InputError(
                f"{self.source}: {what} {name!r} cannot be represented in topsim: {problems}."
            ) from None

    def declare(self, name: str) -> str:
        """Make sure `name` (an activation or a constant) is a topsim tensor; return it."""
        name = self.resolve(name)
        if name in self.tensors:
            return name
        if name in self.const_shapes:
            self.tensors[name] = self.tensor(
                name, _dims(self.const_shapes[name]), self._dtype(name), "constant", const=True
            )
            return name
        raise _Unmappable(f"tensor {name!r} is not available")

    def const_as(self, name: str, shape: Shape, suffix: str) -> str:
        """A constant re-declared with another shape (a transposed or flattened weight)."""
        name = self.resolve(name)
        if tuple(self.shape(name)) == tuple(shape):
            return self.declare(name)
        if numel(self.shape(name)) != numel(shape):
            raise _Unmappable(f"cannot view constant {name!r} as {list(shape)}")
        alias = f"{name}{suffix}"
        if alias not in self.tensors:
            self.tensors[alias] = self.tensor(
                alias, _dims(shape), self._dtype(name), "constant", const=True
            )
        return alias

    def fresh(self, base: str) -> str:
        name, k = base, 1
        while name in self.tensors or name in self.onnx_shapes or name in self.const_shapes:
            k += 1
            name = f"{base}.{k}"
        return name

    def op_name(self, node: _Node, suffix: str = "") -> str:
        base = (node.name or f"{node.op_type}_{node.index}") + suffix
        name, k = base, 1
        while name in self.op_names:
            k += 1
            name = f"{base}.{k}"
        return name

    # -- emitting ---------------------------------------------------------------------------

    def emit(
        self,
        node: _Node,
        kind: str,
        inputs: list[str],
        outputs: list[str] | None = None,
        suffix: str = "",
        dtype: str | None = None,
        **attrs: Any,
    ) -> list[str]:
        """Add one topsim op; outputs default to fresh internal tensors. Returns them."""
        names = [self.declare(t) for t in inputs]
        shapes = [self.tensors[t].shape for t in names]
        try:
            stats = infer(kind, shapes, attrs)
        except OpShapeError as exc:
            raise _Unmappable(str(exc)) from None
        if outputs is None:
            outputs = [self.fresh(f"{node.outputs[0]}/{kind}") for _ in stats.out_shapes]
        if len(outputs) != len(stats.out_shapes):
            raise _Unmappable(
                f"{kind} makes {len(stats.out_shapes)} outputs, the node has {len(outputs)}"
            )
        for out, shape in zip(outputs, stats.out_shapes, strict=True):
            expected = self.onnx_shapes.get(out)
            if expected is not None and _dims(expected) != tuple(shape):
                raise _Unmappable(
                    f"topsim's {kind} makes {list(shape)} but ONNX infers "
                    f"{list(expected)} for {out!r}"
                )
        out_dtype = dtype or (self.tensors[names[0]].dtype if names else "fp32")
        for out, shape in zip(outputs, stats.out_shapes, strict=True):
            known = self.onnx_types.get(out)
            self.tensors[out] = self.tensor(
                out,
                tuple(shape),
                onnx_dtype(known) if known else out_dtype,
                f"{node.op_type} output",
            )
        if dtype is not None:
            attrs["dtype"] = dtype
        name = self.op_name(node, suffix)
        self.op_names.add(name)
        self.ops.append(Op(name=name, kind=kind, inputs=names, outputs=outputs, attrs=attrs))
        return outputs

    def view(
        self, node: _Node, x: str, shape: Shape, out: str | None = None, suffix: str = ""
    ) -> str:
        """A free reshape view of `x` (an alias when the shape does not change)."""
        x = self.resolve(x)
        if tuple(self.shape(x)) == tuple(_dims(shape)) and out is not None:
            self.alias[out] = x
            return x
        if x in self.const_shapes and x not in self.tensors:
            result = self.const_as(x, shape, f"[{','.join(map(str, shape))}]")
            if out is not None:
                self.alias[out] = result
            return result
        return self.emit(
            node, "reshape", [x], [out] if out else None, suffix=suffix, shape=list(_dims(shape))
        )[0]

    def custom(
        self,
        node: _Node,
        flops_per_element: float = 0.0,
        macs: int = 0,
        op_class: str = "vector",
        accelerated: bool = True,
        out_shapes: list[Shape] | None = None,
    ) -> None:
        """A custom op for the node: inputs are its activations and large constants."""
        outputs = [o for o in node.outputs if o]
        if out_shapes is None:
            out_shapes = []
            for o in outputs:
                known = self.onnx_shapes.get(o)
                if known is None:
                    known = self._guess_shape(node, o)
                out_shapes.append(known)
        inputs = []
        for t in node.inputs:
            t = self.resolve(t) if t else t
            if not t or t in self.values or t in inputs:
                continue
            if t in self.tensors or t in self.const_shapes:
                inputs.append(self.declare(t))
        elements = sum(numel(_dims(s)) for s in out_shapes)
        attrs: dict[str, Any] = {
            "out_shapes": [list(_dims(s)) for s in out_shapes],
            "macs": int(macs),
            "flops": int(round(flops_per_element * elements)),
            "op_class": op_class,
        }
        if not accelerated:
            attrs["accelerated"] = False
        dtype = self._dtype(outputs[0]) if not inputs else self.tensors[inputs[0]].dtype
        for o, s in zip(outputs, out_shapes, strict=True):
            self.tensors[o] = self.tensor(
                o,
                _dims(s),
                self._dtype(o) if o in self.onnx_types else dtype,
                f"{node.op_type} output",
            )
        suffix = "" if node.op_type in (node.name or "") else f" [{node.op_type}]"
        name = self.op_name(node, suffix)
        self.op_names.add(name)
        self.ops.append(Op(name=name, kind="custom", inputs=inputs, outputs=outputs, attrs=attrs))

    def _guess_shape(self, node: _Node, output: str) -> Shape:
        """An output ONNX could not shape: assume its first input's shape, and say so."""
        for t in node.inputs:
            if t and self.resolve(t) not in self.values:
                try:
                    shape = self.shape(t)
                except _Unmappable:
                    continue
                self.notes.append(
                    f"the shape of {output!r} ({node.op_type}) is unknown; assumed "
                    f"{list(shape)}, the shape of its input"
                )
                return shape
        raise InputError(
            f"{self.source}: node {node.name or node.index!r} ({node.op_type}): the "
            f"shape of its output {output!r} is unknown even after ONNX shape "
            "inference; topsim needs static shapes (set symbolic input sizes with "
            "dims={...})."
        )

    # -- per node ---------------------------------------------------------------------------

    def _map(self, node: _Node) -> None:
        node.inputs = [self.resolve(t) if t else "" for t in node.inputs]
        self._check(node)
        if self._fold(node):
            return
        mapper = MAPPERS.get(node.op_type)
        if mapper is None:
            self.unknown[node.op_type] += 1
            self.custom(node, accelerated=False)
            return
        mark = (len(self.ops), set(self.tensors), dict(self.alias))
        try:
            mapper(self, node)
        except _Unmappable:
            self._rollback(mark)
            self.approximated[node.op_type] += 1
            self.custom(node, flops_per_element=1.0)

    def _check(self, node: _Node) -> None:
        """A standard node that lacks a required input, or whose shapes contradict each
        other, is an InputError: shape mismatches are rejected at load time."""
        if node.domain not in ("", "ai.onnx"):
            return  # other domains' ops are not ONNX's: nothing to hold them to
        problem = _missing_input(self, node)
        check = SHAPE_CHECKS.get(node.op_type)
        if problem is None and check is not None:
            try:
                mismatch = check(self, node)
            except _Unmappable:  # a shape is unknown: nothing to compare
                mismatch = None
            if mismatch:
                problem = f"shape mismatch: {mismatch}"
        if problem:
            verdict = "the model is not valid ONNX"
            if self.chosen and problem.startswith("shape mismatch"):
                sizes = ", ".join(f"{k}={v}" for k, v in sorted(self.chosen.items()))
                verdict = (
                    f"the model may assume other sizes for the input dimensions set at "
                    f"import ({sizes}; choose them with batch= and dims=)"
                )
            raise InputError(
                f"{self.source}: node {_label(node)} ({node.op_type}): {problem}; {verdict}."
            )

    def _rollback(self, mark) -> None:
        count, tensors, alias = mark
        for op in self.ops[count:]:
            self.op_names.discard(op.name)
        del self.ops[count:]
        for name in set(self.tensors) - tensors:
            del self.tensors[name]
        self.alias = alias

    def _fold(self, node: _Node) -> bool:
        """Constant nodes (and shape computations) are evaluated here and emit no op."""
        data = [t for t in node.inputs if t]
        if node.op_type in ("Shape", "Size"):
            x = node.inputs[0]
            try:
                shape = self.shape(x)
            except _Unmappable:
                return False
            value = np.array(shape, dtype=np.int64)
            if node.op_type == "Shape":
                start, end = node.attrs.get("start", 0), node.attrs.get("end", len(shape))
                value = value[start:end]
            else:
                value = np.array(numel(shape), dtype=np.int64)
            self._set_const(node.outputs[0], value)
            return True
        if node.op_type in NONDETERMINISTIC or not all(self.is_const(t) for t in data):
            return False
        if node.domain not in ("", "ai.onnx") and data:
            return False
        values = [self.values.get(t) if t else None for t in node.inputs]
        result = None
        if all(v is not None or not t for v, t in zip(values, node.inputs, strict=True)):
            try:
                result = _evaluate(node, values, self)
            except Exception:  # an op or a case the small evaluator does not know
                result = None
        outputs = [(i, out) for i, out in enumerate(node.outputs) if out]
        computed = {i: result[i] for i, _ in outputs if result is not None and i < len(result)}
        if any(i not in computed and self.onnx_shapes.get(out) is None for i, out in outputs):
            return False  # neither evaluated nor shaped: map it as an op on constants
        for i, out in outputs:
            if i in computed and computed[i].size <= FOLD_LIMIT:
                self._set_const(out, np.asarray(computed[i]))
            elif i in computed:
                self.const_shapes[out] = tuple(computed[i].shape)
                self.onnx_types.setdefault(out, _np_elem_type(computed[i], self.onnx))
            else:
                self.const_shapes[out] = self.onnx_shapes[out]
        return True

    def _set_const(self, name: str, value: np.ndarray) -> None:
        self.values[name] = value
        self.const_shapes[name] = tuple(value.shape)
        self.onnx_types.setdefault(name, _np_elem_type(value, self.onnx))

    def _map_fused(self, node: _Node, region: _Region) -> None:
        x = self.resolve(region.x)
        params = [self.resolve(p) for p in region.params]
        mark = (len(self.ops), set(self.tensors), dict(self.alias))
        try:
            self.emit(node, region.kind, [x, *params], [region.output])
        except _Unmappable:
            self._rollback(mark)
            for member in region.nodes:  # map the members one by one after all
                self._map(member)


def _label(node: _Node) -> str:
    if node.name:
        return repr(node.name)
    first = next((o for o in node.outputs if o), "")
    return f"#{node.index}" + (f" (making {first!r})" if first else "")


_SCHEMAS: dict[tuple[str, int], Any] = {}


def _missing_input(imp: _Importer, node: _Node) -> str | None:
    """The first required input (by ONNX's schema for the model's opset) the node lacks."""
    key = (node.op_type, imp.opset)
    if key not in _SCHEMAS:
        try:
            _SCHEMAS[key] = imp.onnx.defs.get_schema(node.op_type, imp.opset, "")
        except Exception:  # no such op in this opset (or this onnx): nothing to check
            _SCHEMAS[key] = None
    schema = _SCHEMAS[key]
    if schema is None:
        return None
    single = imp.onnx.defs.OpSchema.FormalParameterOption.Single
    for i, formal in enumerate(schema.inputs):
        if formal.option == single and (i >= len(node.inputs) or not node.inputs[i]):
            return (
                f"ONNX's {node.op_type} requires input {i + 1} ({formal.name}), "
                f"which the node does not have (it has {len([t for t in node.inputs if t])})"
            )
    return None


def _external(tensor, onnx) -> bool:
    return tensor.data_location == onnx.TensorProto.EXTERNAL or bool(tensor.external_data)


def _np_elem_type(value: np.ndarray, onnx) -> int:
    try:
        return onnx.helper.np_dtype_to_tensor_dtype(value.dtype)
    except Exception:
        return onnx.TensorProto.FLOAT


NONDETERMINISTIC = {
    "RandomNormal",
    "RandomUniform",
    "RandomNormalLike",
    "RandomUniformLike",
    "Multinomial",
    "Bernoulli",
}


# --- constant evaluation (shape computations) ------------------------------------------------


def _axes(node: _Node, values: list, position: int = 1) -> list[int] | None:
    if "axes" in node.attrs:
        return [int(a) for a in node.attrs["axes"]]
    if len(values) > position and values[position] is not None:
        return [int(a) for a in np.asarray(values[position]).reshape(-1)]
    return None


def _evaluate(node: _Node, values: list, importer: _Importer) -> list[np.ndarray] | None:
    """numpy evaluation of the ops that shape computations use; None if not supported."""
    op, a, v = node.op_type, node.attrs, values
    onnx = importer.onnx
    if op == "Constant":
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
        return [np.take(v[0], v[1].astype(np.int64), axis=a.get("axis", 0))]
    if op == "Unsqueeze":
        axes = _axes(node, v)
        out = v[0]
        for axis in sorted(x % (out.ndim + len(axes)) for x in axes):
            out = np.expand_dims(out, axis)
        return [out]
    if op == "Squeeze":
        axes = _axes(node, v)
        return [np.squeeze(v[0], axis=tuple(axes) if axes is not None else None)]
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
                _reshape_target(
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
    if op == "Where":
        return [np.where(v[0], v[1], v[2])]
    if op in ("ReduceProd", "ReduceSum", "ReduceMax", "ReduceMin", "ReduceMean"):
        axes = _axes(node, v)
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


def _reshape_target(shape: Shape, target: list[int], allowzero: bool) -> Shape:
    """ONNX Reshape semantics: 0 copies the input dim (unless allowzero), -1 is inferred."""
    out = [
        shape[i] if (d == 0 and not allowzero and i < len(shape)) else d
        for i, d in enumerate(target)
    ]
    if -1 in out:
        known = numel([d for d in out if d != -1])
        out[out.index(-1)] = numel(shape) // known if known else 0
    return tuple(int(d) for d in out)


# --- recognised subgraphs: GELU, SiLU, hard-swish, LayerNorm, RMSNorm --------------------------


ELEMENTWISE_TYPES = {
    "Add",
    "Sub",
    "Mul",
    "Div",
    "Pow",
    "Sqrt",
    "Erf",
    "Tanh",
    "Sigmoid",
    "ReduceMean",
    "Reciprocal",
    "Neg",
    "Clip",
    "HardSigmoid",
}
# anchor -> (node types a region may grow backward through, and forward through)
ANCHORS: dict[str, tuple[set[str], set[str]]] = {
    "Erf": ({"Div", "Mul"}, {"Add", "Mul", "Div"}),
    "Tanh": ({"Pow", "Mul", "Add"}, {"Add", "Mul"}),
    "Sigmoid": (set(), {"Mul"}),
    "HardSigmoid": (set(), {"Mul"}),
    "Clip": ({"Add"}, {"Mul", "Div"}),
    "ReduceMean": (
        {"Pow", "Mul"},
        {"Sub", "Pow", "Mul", "ReduceMean", "Add", "Sqrt", "Div", "Reciprocal"},
    ),
}


@dataclass
class _Region:
    kind: str
    x: str
    params: list[str]
    output: str
    members: set[int]
    nodes: list[_Node]


def _find_fusions(nodes: list[_Node], importer: _Importer) -> dict[int, _Region]:
    """Decomposed activations and norms: output node index -> the region it closes.

    A region grows backward from an anchor (Erf, Tanh, Sigmoid, ReduceMean ...) through
    elementwise producers whose outputs only it reads, which leaves one non-constant
    input x; then forward through elementwise nodes that read only x, constants and the
    region. It is accepted when exactly one of its tensors is read outside it.
    """
    const = _static_consts(nodes, importer)
    producer = {o: n for n in nodes for o in n.outputs if o}
    readers: dict[str, list[_Node]] = {}
    for n in nodes:
        for t in dict.fromkeys(n.inputs):
            if t:
                readers.setdefault(t, []).append(n)
    graph_outputs = {o.name for o in importer.model.graph.output}
    taken: set[int] = set()
    found: dict[int, _Region] = {}
    for anchor in nodes:
        if anchor.op_type not in ANCHORS or anchor.index in taken:
            continue
        region = _grow(anchor, producer, readers, const, graph_outputs, importer)
        if region is not None and not region.members & taken:
            taken |= region.members
            found[max(region.members, key=lambda i: _position(nodes, i))] = region
    return found


def _position(nodes: list[_Node], index: int) -> int:
    return next(p for p, n in enumerate(nodes) if n.index == index)


def _static_consts(nodes: list[_Node], importer: _Importer) -> set[str]:
    const = set(importer.const_shapes)
    for n in nodes:
        data = [t for t in n.inputs if t]
        if n.op_type in ("Shape", "Size") or (
            n.op_type not in NONDETERMINISTIC and all(t in const for t in data)
        ):
            const.update(o for o in n.outputs if o)
    return const


def _eligible(node: _Node, importer: _Importer, types: set[str] | None = None) -> bool:
    if node.op_type not in (ELEMENTWISE_TYPES if types is None else types):
        return False
    if node.domain not in ("", "ai.onnx"):
        return False
    if node.op_type == "ReduceMean":
        axes = node.attrs.get("axes")
        if axes is None and len(node.inputs) > 1:
            value = importer.values.get(node.inputs[1])
            axes = None if value is None else list(value.reshape(-1))
        if axes is None or len(axes) != 1:
            return False
        try:
            rank = len(importer.shape(node.inputs[0]))
        except _Unmappable:
            return False
        return int(axes[0]) % rank == rank - 1 and node.attrs.get("keepdims", 1) == 1
    return True


def _grow(
    anchor: _Node, producer, readers, const: set[str], graph_outputs: set[str], importer: _Importer
) -> _Region | None:
    if not _eligible(anchor, importer):
        return None
    backward_types, forward_types = ANCHORS[anchor.op_type]
    members = {anchor.index: anchor}
    changed = True
    while changed:  # backward: producers read only by the region
        changed = False
        for node in list(members.values()):
            for t in node.inputs:
                p = producer.get(t)
                if (
                    p is None
                    or p.index in members
                    or t in const
                    or t in graph_outputs
                    or not _eligible(p, importer, backward_types)
                ):
                    continue
                if all(r.index in members for r in readers.get(t, [])):
                    members[p.index] = p
                    changed = True
    inside = {o for n in members.values() for o in n.outputs if o}
    outer = {
        t for n in members.values() for t in n.inputs if t and t not in inside and t not in const
    }
    if len(outer) != 1:
        return None
    x = outer.pop()
    changed = True
    while changed and len(members) <= REGION_LIMIT:  # forward: nodes reading only x / region
        changed = False
        for t in [x, *sorted(inside)]:
            for r in readers.get(t, []):
                if r.index in members or not _eligible(r, importer, forward_types):
                    continue
                if all(not i or i == x or i in inside or i in const for i in r.inputs):
                    members[r.index] = r
                    inside.update(o for o in r.outputs if o)
                    changed = True
    if len(members) < 2 or len(members) > REGION_LIMIT:
        return None
    escaping = [
        t
        for t in inside
        if t in graph_outputs or any(r.index not in members for r in readers.get(t, []))
    ]
    if len(escaping) != 1:
        return None
    types = Counter(n.op_type for n in members.values())
    kind = _region_kind(anchor, types)
    if kind is None:
        return None
    params: list[str] = []
    if kind in ("layernorm", "rmsnorm"):
        try:
            width = importer.shape(x)[-1]
        except _Unmappable:
            return None
        ordered = sorted(members.values(), key=lambda n: n.index)
        for n in ordered:
            if n.op_type not in ("Mul", "Add"):
                continue
            for t in n.inputs:
                if (
                    t in const
                    and t in importer.const_shapes
                    and numel(importer.const_shapes[t]) == width
                    and t not in params
                ):
                    params.append(t)
        params = params[: 2 if kind == "layernorm" else 1]
    nodes = sorted(members.values(), key=lambda n: n.index)
    return _Region(kind, x, params, escaping[0], set(members), nodes)


def _region_kind(anchor: _Node, types: Counter) -> str | None:
    if anchor.op_type == "Erf" and types["Mul"] >= 1:
        return "gelu"
    if anchor.op_type == "Tanh" and (types["Pow"] or types["Mul"] >= 3) and types["Add"] >= 2:
        return "gelu"
    if (
        anchor.op_type == "Sigmoid"
        and set(types) == {"Sigmoid", "Mul"}
        and sum(types.values()) == 2
    ):
        return "silu"
    if (
        anchor.op_type in ("HardSigmoid", "Clip")
        and types["Mul"] >= 1
        and "ReduceMean" not in types
    ):
        return "hardswish"
    if (
        anchor.op_type == "ReduceMean"
        and types["ReduceMean"] == 2
        and types["Div"] + types["Reciprocal"] + types["Mul"] >= 1
        and types["Sqrt"] <= 1
    ):
        return "layernorm" if types["Sub"] else "rmsnorm"
    if (
        anchor.op_type == "ReduceMean"
        and types["ReduceMean"] == 1
        and types["Sqrt"] == 1
        and (types["Pow"] or types["Mul"] >= 2)
        and not types["Sub"]
    ):
        return "rmsnorm"
    return None


# --- the mappers -----------------------------------------------------------------------------


def _attr_pair(values: list[int] | None, default: int) -> tuple[int, int]:
    if not values:
        return default, default
    return int(values[0]), int(values[-1])


def _spatial(
    imp: _Importer,
    node: _Node,
    x: str,
    kernel: tuple[int, int],
    strides: tuple[int, int],
    dilations: tuple[int, int],
    ceil_mode: bool = False,
) -> tuple[str, list[int]]:
    """The input (padded by a copy if the pads cannot be made symmetric) and the padding."""
    shape = imp.shape(x)
    size = shape[2:]
    auto = node.attrs.get("auto_pad", b"NOTSET")
    auto = auto.decode() if isinstance(auto, bytes) else str(auto)
    pads = [int(p) for p in node.attrs.get("pads", [0, 0, 0, 0])]
    if auto in ("SAME_UPPER", "SAME_LOWER"):
        pads = [0, 0, 0, 0]
        for i in range(2):
            out = -(-size[i] // strides[i])
            total = max(0, (out - 1) * strides[i] + (kernel[i] - 1) * dilations[i] + 1 - size[i])
            low = total // 2 if auto == "SAME_UPPER" else total - total // 2
            pads[i], pads[i + 2] = low, total - low
    elif auto == "VALID":
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


def map_conv(imp: _Importer, node: _Node, x_at: int = 0, w_at: int = 1, b_at: int | None = 2):
    x, w = node.inputs[x_at], node.inputs[w_at]
    bias = node.inputs[b_at] if b_at is not None and len(node.inputs) > b_at else ""
    xs, ws = imp.shape(x), imp.shape(w)
    if len(ws) != len(xs) or len(xs) < 3:
        raise _Unmappable(f"conv weight {list(ws)} does not fit input {list(xs)}")
    group = int(node.attrs.get("group", 1))
    out = node.outputs[0]
    if len(xs) == 3:  # 1-D convolution as a conv2d over [N, C, 1, L]
        node1d = node.attrs.copy()
        x4 = imp.view(node, x, (xs[0], xs[1], 1, xs[2]), suffix=".as2d")
        w4 = (
            imp.const_as(w, (ws[0], ws[1], 1, ws[2]), ".as2d")
            if imp.is_const(w)
            else imp.view(node, w, (ws[0], ws[1], 1, ws[2]), suffix=".w2d")
        )
        kernel, stride = (1, ws[2]), (1, _attr_pair(node1d.get("strides"), 1)[0])
        dilation = (1, _attr_pair(node1d.get("dilations"), 1)[0])
        pads = [int(p) for p in node1d.get("pads", [0, 0])]
        node.attrs = {**node1d, "pads": [0, pads[0], 0, pads[-1]]}
        x4, padding = _spatial(imp, node, x4, kernel, stride, dilation)
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
    strides = _attr_pair(node.attrs.get("strides"), 1)
    dilations = _attr_pair(node.attrs.get("dilations"), 1)
    x, padding = _spatial(imp, node, x, kernel, strides, dilations)
    inputs = [x, w] + ([bias] if bias else [])
    attrs: dict[str, Any] = {
        "stride": list(strides),
        "padding": padding,
        "dilation": list(dilations),
    }
    if group != 1:
        attrs["groups"] = group
    imp.emit(node, "conv2d", inputs, [out], **attrs)


def _drop_axis(shape: Shape, axis: int) -> Shape:
    return shape[:axis] + shape[axis + 1 :]


def map_conv_transpose(imp: _Importer, node: _Node):
    xs, ws = imp.shape(node.inputs[0]), imp.shape(node.inputs[1])
    group = int(node.attrs.get("group", 1))
    macs = numel(xs) * ws[1] * numel(ws[2:]) // max(1, group) * group
    imp.custom(node, macs=macs, op_class="matrix")


def map_gemm(imp: _Importer, node: _Node):
    a, b = node.inputs[0], node.inputs[1]
    c = node.inputs[2] if len(node.inputs) > 2 else ""
    out = node.outputs[0]
    if node.attrs.get("transA", 0):
        a = imp.emit(node, "transpose", [a], suffix=".transA", perm=[1, 0])[0]
    bs = imp.shape(b)
    n = bs[0] if node.attrs.get("transB", 0) else bs[1]
    if imp.is_const(b):
        k = bs[1] if node.attrs.get("transB", 0) else bs[0]
        w = imp.const_as(b, (k, n), ".T")
        bias = []
        if c and imp.is_const(c) and numel(imp.shape(c)) == n:
            bias = [imp.const_as(c, (n,), ".flat")]
        if bias or not c:
            imp.emit(node, "linear", [a, w, *bias], [out])
            return
        y = imp.emit(node, "linear", [a, w], suffix=".linear")[0]
    else:
        if node.attrs.get("transB", 0):
            b = imp.emit(node, "transpose", [b], suffix=".transB", perm=[1, 0])[0]
        if not c:
            imp.emit(node, "matmul", [a, b], [out])
            return
        y = imp.emit(node, "matmul", [a, b], suffix=".matmul")[0]
    imp.emit(node, "add", [y, c], [out], suffix=".bias")


def map_matmul(imp: _Importer, node: _Node, a_at: int = 0, b_at: int = 1):
    a, b = node.inputs[a_at], node.inputs[b_at]
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


def map_unary(imp: _Importer, node: _Node):
    kind, flops = UNARY[node.op_type]
    x = node.inputs[0]
    if node.op_type == "BiasGelu":
        x = imp.emit(node, "add", [x, node.inputs[1]], suffix=".bias")[0]
    if kind is None:
        imp.custom(node, flops_per_element=flops)
        return
    imp.emit(node, kind, [x], [node.outputs[0]])


def map_binary(imp: _Importer, node: _Node):
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
        imp._set_const(scale, np.array(1.0 / len(inputs), dtype=np.float32))
        imp.emit(node, "mul", [y, scale], [node.outputs[0]])


def map_pow(imp: _Importer, node: _Node):
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


def map_clip(imp: _Importer, node: _Node):
    low = node.attrs.get("min")
    high = node.attrs.get("max")
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


def map_cast(imp: _Importer, node: _Node):
    x = node.inputs[0]
    out = node.outputs[0]
    imp.emit(node, "cast", [x], [out], dtype=None)


def map_alias(imp: _Importer, node: _Node):
    imp.alias[node.outputs[0]] = node.inputs[0]


def map_batchnorm(imp: _Importer, node: _Node):
    x, scale, shift = node.inputs[:3]
    imp.emit(node, "batchnorm", [x, scale, shift], [node.outputs[0]])


def map_layernorm(imp: _Importer, node: _Node, kind: str = "layernorm"):
    x = node.inputs[0]
    rank = len(imp.shape(x))
    if int(node.attrs.get("axis", -1)) % rank != rank - 1:
        imp.custom(node, flops_per_element=8)
        return
    params = [t for t in node.inputs[1 : 3 if kind == "layernorm" else 2] if t]
    params = [
        imp.const_as(p, (imp.shape(x)[-1],), ".flat") if imp.is_const(p) else p for p in params
    ]
    imp.emit(node, kind, [x, *params], [node.outputs[0]])


def map_skip_layernorm(imp: _Importer, node: _Node, kind: str = "layernorm"):
    x, skip = node.inputs[0], node.inputs[1]
    y = imp.emit(node, "add", [x, skip], suffix=".skip")[0]
    bias_at = 4 if kind == "layernorm" else 3
    if len(node.inputs) > bias_at and node.inputs[bias_at]:
        y = imp.emit(node, "add", [y, node.inputs[bias_at]], suffix=".bias")[0]
    params = [t for t in node.inputs[2 : 4 if kind == "layernorm" else 3] if t]
    imp.emit(node, kind, [y, *params], [node.outputs[0]])
    if len(node.outputs) > 3 and node.outputs[3]:
        imp.alias[node.outputs[3]] = y


def map_pool(imp: _Importer, node: _Node):
    x = node.inputs[0]
    xs = imp.shape(x)
    kernel = node.attrs.get("kernel_shape", [])
    used_outputs = [o for o in node.outputs[1:] if o]
    if (
        len(xs) != 4
        or len(kernel) != 2
        or any(d != 1 for d in node.attrs.get("dilations", [1]))
        or used_outputs
    ):
        window = numel(kernel) if kernel else 1
        imp.custom(node, flops_per_element=window)
        return
    kernel_hw = (int(kernel[0]), int(kernel[1]))
    strides = _attr_pair(node.attrs.get("strides"), 1)
    x, padding = _spatial(
        imp, node, x, kernel_hw, strides, (1, 1), ceil_mode=bool(node.attrs.get("ceil_mode", 0))
    )
    kind = "maxpool" if node.op_type == "MaxPool" else "avgpool"
    imp.emit(
        node,
        kind,
        [x],
        [node.outputs[0]],
        kernel=list(kernel_hw),
        stride=list(strides),
        padding=padding,
    )


def map_global_pool(imp: _Importer, node: _Node):
    x = node.inputs[0]
    if node.op_type == "GlobalAveragePool" and len(imp.shape(x)) == 4:
        imp.emit(node, "global_avgpool", [x], [node.outputs[0]])
        return
    xs = imp.shape(x)
    imp.custom(node, out_shapes=[xs[:2] + (1,) * (len(xs) - 2)], flops_per_element=numel(xs[2:]))


def map_softmax(imp: _Importer, node: _Node):
    x = node.inputs[0]
    default = -1 if imp.opset >= 13 else 1
    axis = int(node.attrs.get("axis", default))
    if node.op_type != "Softmax":
        imp.custom(node, flops_per_element=5)
        return
    imp.emit(node, "softmax", [x], [node.outputs[0]], axis=axis)


def map_reduce(imp: _Importer, node: _Node):
    xs = imp.shape(node.inputs[0])
    axes = _axes(node, [imp.value(t) for t in node.inputs])
    keep = bool(node.attrs.get("keepdims", 1))
    if axes is None and node.attrs.get("noop_with_empty_axes", 0):
        imp.alias[node.outputs[0]] = node.inputs[0]
        return
    axes = list(range(len(xs))) if axes is None else [a % len(xs) for a in axes]
    if node.op_type in ("ArgMax", "ArgMin"):
        axes = [int(node.attrs.get("axis", 0)) % len(xs)]
    out = tuple(1 if i in axes else d for i, d in enumerate(xs) if keep or i not in axes)
    per_output = numel(xs) / max(1, numel(out))
    weight = 2 if node.op_type in ("ReduceL2", "ReduceSumSquare", "ReduceLogSumExp") else 1
    imp.custom(node, out_shapes=[out], flops_per_element=per_output * weight)


def map_concat(imp: _Importer, node: _Node):
    inputs = [t for t in node.inputs if t]
    axis = int(node.attrs.get("axis", 0))
    if len(inputs) == 1:
        imp.alias[node.outputs[0]] = inputs[0]
        return
    imp.emit(node, "concat", inputs, [node.outputs[0]], axis=axis)


def map_split(imp: _Importer, node: _Node):
    x = node.inputs[0]
    xs = imp.shape(x)
    axis = int(node.attrs.get("axis", 0)) % len(xs)
    outputs = list(node.outputs)
    sizes = node.attrs.get("split")
    if sizes is None and len(node.inputs) > 1 and node.inputs[1]:
        value = imp.value(node.inputs[1])
        if value is None:
            raise _Unmappable("split sizes are not constant")
        sizes = [int(s) for s in value.reshape(-1)]
    if sizes is None:
        parts = int(node.attrs.get("num_outputs", len(outputs)))
        chunk = -(-xs[axis] // parts)
        sizes = [min(chunk, xs[axis] - i * chunk) for i in range(parts)]
    sizes = [int(s) for s in sizes]
    if len(sizes) == 1:
        imp.alias[outputs[0]] = x
        return
    names = [o or imp.fresh(f"{x}/split{i}") for i, o in enumerate(outputs)]
    imp.emit(node, "split", [x], names, axis=axis, sizes=sizes)


def map_reshape(imp: _Importer, node: _Node):
    x, out = node.inputs[0], node.outputs[0]
    xs = imp.shape(x)
    op = node.op_type
    if op == "Reshape":
        target = imp.value(node.inputs[1]) if len(node.inputs) > 1 else None
        if target is None and "shape" in node.attrs:
            target = np.array(node.attrs["shape"])
        shape = (
            _reshape_target(
                xs, [int(d) for d in target.reshape(-1)], bool(node.attrs.get("allowzero", 0))
            )
            if target is not None
            else imp.onnx_shapes.get(out)
        )
    elif op == "Flatten":
        axis = int(node.attrs.get("axis", 1)) % (len(xs) + 1) if xs else 0
        shape = (numel(xs[:axis]), numel(xs[axis:]))
    elif op in ("Squeeze", "Unsqueeze"):
        axes = _axes(node, [imp.value(t) for t in node.inputs])
        if op == "Squeeze":
            drop = (
                {a % len(xs) for a in axes}
                if axes is not None
                else {i for i, d in enumerate(xs) if d == 1}
            )
            shape = tuple(d for i, d in enumerate(xs) if i not in drop)
        else:
            if axes is None:
                raise _Unmappable("unsqueeze axes are not constant")
            rank = len(xs) + len(axes)
            put = {a % rank for a in axes}
            rest = iter(xs)
            shape = tuple(1 if i in put else next(rest) for i in range(rank))
    else:
        shape = imp.onnx_shapes.get(out)
    if shape is None:
        raise _Unmappable("the target shape is unknown")
    if (
        op == "Flatten"
        and len(xs) >= 2
        and node.attrs.get("axis", 1) == 1
        and x not in imp.const_shapes
    ):
        imp.emit(node, "flatten", [x], [out], axis=1)
        return
    imp.view(node, x, tuple(shape), out=out)


def map_transpose(imp: _Importer, node: _Node):
    x, out = node.inputs[0], node.outputs[0]
    xs = imp.shape(x)
    perm = [int(p) for p in node.attrs.get("perm", list(reversed(range(len(xs)))))]
    moved = [p for p in perm if xs[p] != 1]
    if moved == sorted(moved):  # only size-1 axes move: the memory layout is unchanged
        imp.view(node, x, tuple(xs[p] for p in perm), out=out)
        return
    imp.emit(node, "transpose", [x], [out], perm=perm)


def map_gather(imp: _Importer, node: _Node):
    data, indices = node.inputs[0], node.inputs[1]
    axis = int(node.attrs.get("axis", 0))
    ds = imp.shape(data)
    if imp.is_const(data) and len(ds) == 2 and axis % 2 == 0 and not imp.is_const(indices):
        imp.emit(node, "embedding", [indices, data], [node.outputs[0]], dtype=imp._dtype(data))
        return
    ids = imp.shape(indices)
    axis %= len(ds)
    imp.custom(node, out_shapes=[ds[:axis] + ids + ds[axis + 1 :]])


def map_copy(imp: _Importer, node: _Node):
    """Data movement with no arithmetic (Slice, Pad, Expand, Tile, ...): a custom copy."""
    imp.custom(node)


def map_resize(imp: _Importer, node: _Node):
    mode = node.attrs.get("mode", b"nearest")
    mode = mode.decode() if isinstance(mode, bytes) else str(mode)
    imp.custom(node, flops_per_element=0 if mode == "nearest" else 4)


def map_einsum(imp: _Importer, node: _Node):
    equation = node.attrs.get("equation", b"")
    equation = equation.decode() if isinstance(equation, bytes) else str(equation)
    terms = equation.replace(" ", "").split("->")[0].split(",")
    sizes: dict[str, int] = {}
    for term, t in zip(terms, node.inputs, strict=False):
        if "..." in term:
            imp.custom(node, op_class="matrix", flops_per_element=1)
            return
        for label, size in zip(term, imp.shape(t), strict=False):
            sizes[label] = max(sizes.get(label, 1), size)
    imp.custom(node, macs=math.prod(sizes.values()), op_class="matrix")


def map_rnn(imp: _Importer, node: _Node):
    xs, ws = imp.shape(node.inputs[0]), imp.shape(node.inputs[1])  # x [T,B,I], W [dirs, G*H, I]
    rs = imp.shape(node.inputs[2])  # R [dirs, G*H, H]
    steps, batch = xs[0], xs[1]
    macs = steps * batch * ws[0] * ws[1] * (ws[2] + rs[2])
    imp.custom(node, macs=macs, op_class="matrix", flops_per_element=4)


def map_quantize(imp: _Importer, node: _Node):
    imp.emit(node, "cast", [node.inputs[0]], [node.outputs[0]])


# --- shape checks: contradictions in a standard node are rejected ------------------------------
# Each takes the importer and a node of the standard domain and returns what is wrong with its
# shapes (a phrase naming the tensors and their shapes), or None. A shape nobody knows raises
# _Unmappable, which means "nothing to check".


def _s(shape: Shape) -> str:
    return str([int(d) for d in shape])


def _check_conv(imp: _Importer, node: _Node) -> str | None:
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


def _check_matmul(imp: _Importer, node: _Node) -> str | None:
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


def _check_gemm(imp: _Importer, node: _Node) -> str | None:
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


def _check_broadcast(imp: _Importer, node: _Node) -> str | None:
    inputs = [t for t in node.inputs if t]
    shapes = [tuple(imp.shape(t)) for t in inputs]
    try:
        np.broadcast_shapes(*shapes)
    except ValueError:
        listing = ", ".join(f"{t!r} is {_s(s)}" for t, s in zip(inputs, shapes, strict=True))
        return f"the inputs do not broadcast: {listing}"
    return None


def _check_reshape(imp: _Importer, node: _Node) -> str | None:
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


def _check_squeeze(imp: _Importer, node: _Node) -> str | None:
    if node.op_type != "Squeeze":
        return None
    x = node.inputs[0]
    xs = imp.shape(x)
    axes = _axes(node, [imp.value(t) for t in node.inputs])
    for axis in axes or []:
        if not -len(xs) <= axis < len(xs):
            return f"axis {axis} is out of range for input {x!r} {_s(xs)}"
        if xs[axis] != 1:
            return f"axis {axis} of input {x!r} {_s(xs)} has size {xs[axis]}, not 1"
    return None


def _check_transpose(imp: _Importer, node: _Node) -> str | None:
    x = node.inputs[0]
    xs = imp.shape(x)
    perm = node.attrs.get("perm")
    if perm is not None and sorted(int(p) for p in perm) != list(range(len(xs))):
        return f"perm={[int(p) for p in perm]} is not a permutation of the axes of {x!r} {_s(xs)}"
    return None


def _check_concat(imp: _Importer, node: _Node) -> str | None:
    inputs = [t for t in node.inputs if t]
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


def _check_split(imp: _Importer, node: _Node) -> str | None:
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


SHAPE_CHECKS: dict[str, Callable[[_Importer, _Node], str | None]] = {
    "Conv": _check_conv,
    "ConvInteger": _check_conv,
    "QLinearConv": _check_conv,
    "MatMul": _check_matmul,
    "MatMulInteger": _check_matmul,
    "QLinearMatMul": _check_matmul,
    "Gemm": _check_gemm,
    **{op: _check_broadcast for op in (*BINARY, "Pow")},
    "Reshape": _check_reshape,
    "Squeeze": _check_squeeze,
    "Transpose": _check_transpose,
    "Concat": _check_concat,
    "Split": _check_split,
}


MAPPERS: dict[str, Callable[[_Importer, _Node], None]] = {
    "Conv": map_conv,
    "ConvInteger": lambda imp, n: map_conv(imp, n, 0, 1, None),
    "QLinearConv": lambda imp, n: map_conv(imp, n, 0, 3, 8),
    "ConvTranspose": map_conv_transpose,
    "Gemm": map_gemm,
    "MatMul": map_matmul,
    "MatMulInteger": map_matmul,
    "QLinearMatMul": lambda imp, n: map_matmul(imp, n, 0, 3),
    **{op: map_unary for op in UNARY},
    **{op: map_binary for op in BINARY},
    "Pow": map_pow,
    "Clip": map_clip,
    "Cast": map_cast,
    "CastLike": map_cast,
    "QuantizeLinear": map_quantize,
    "DequantizeLinear": map_quantize,
    "DynamicQuantizeLinear": map_quantize,
    "Identity": map_alias,
    "Dropout": map_alias,
    "BatchNormalization": map_batchnorm,
    "LayerNormalization": map_layernorm,
    "SimplifiedLayerNormalization": lambda imp, n: map_layernorm(imp, n, "rmsnorm"),
    "RMSNormalization": lambda imp, n: map_layernorm(imp, n, "rmsnorm"),
    "SkipLayerNormalization": map_skip_layernorm,
    "SkipSimplifiedLayerNormalization": lambda imp, n: map_skip_layernorm(imp, n, "rmsnorm"),
    "InstanceNormalization": lambda imp, n: imp.custom(n, flops_per_element=8),
    "GroupNormalization": lambda imp, n: imp.custom(n, flops_per_element=8),
    "LpNormalization": lambda imp, n: imp.custom(n, flops_per_element=3),
    "MaxPool": map_pool,
    "AveragePool": map_pool,
    "LpPool": map_pool,
    "GlobalAveragePool": map_global_pool,
    "GlobalMaxPool": map_global_pool,
    "Softmax": map_softmax,
    "LogSoftmax": map_softmax,
    **{
        op: map_reduce
        for op in (
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
            "ArgMax",
            "ArgMin",
        )
    },
    "Concat": map_concat,
    "Split": map_split,
    "Reshape": map_reshape,
    "Flatten": map_reshape,
    "Squeeze": map_reshape,
    "Unsqueeze": map_reshape,
    "Transpose": map_transpose,
    "Gather": map_gather,
    **{
        op: map_copy
        for op in (
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
    },
    "CumSum": lambda imp, n: imp.custom(n, flops_per_element=1),
    "TopK": lambda imp, n: imp.custom(n, flops_per_element=1),
    "Resize": map_resize,
    "Upsample": map_resize,
    "Einsum": map_einsum,
    "LSTM": map_rnn,
    "GRU": map_rnn,
    "RNN": map_rnn,
}


# --- export ----------------------------------------------------------------------------------


TOPSIM_TO_ONNX = {
    "fp32": "FLOAT",
    "fp16": "FLOAT16",
    "bf16": "BFLOAT16",
    "fp64": "DOUBLE",
    "int8": "INT8",
    "tf32": "FLOAT",
}
EXPORT_OPSET = 17


def to_onnx(graph: Graph, path: str | os.PathLike, seed: int = 0) -> None:
    """Write `graph` as an ONNX model (opset 17) with seeded random weights.

    Weights are drawn so activations stay of order 1 (He-style scaling for convolutions,
    1/sqrt(fan-in) for linear layers, unit norm scales), so no run slows down on
    denormals or overflows. Token-id inputs (read by `embedding`) become int64 inputs.
    `custom` ops have no ONNX equivalent and are rejected with an InputError.
    """
    onnx = _onnx()
    exporter = _Exporter(graph, np.random.default_rng(seed), onnx)
    model = exporter.build()
    size = model.ByteSize()
    if size >= MAX_ONNX_BYTES:
        raise InputError(
            f"{graph.name}: the ONNX model would be {size / 2**30:.1f} GiB, over the "
            "2 GiB limit of one ONNX file; export a smaller configuration."
        )
    try:
        Path(path).write_bytes(model.SerializeToString())
    except OSError as exc:
        raise InputError(f"{path}: cannot write the ONNX file ({exc.strerror}).") from None


class _Exporter:
    def __init__(self, graph: Graph, rng: np.random.Generator, onnx) -> None:
        self.graph = graph
        self.rng = rng
        self.onnx = onnx
        self.helper = onnx.helper
        self.nodes: list = []
        self.initializers: list = []
        self.names: set[str] = set(graph.tensors)
        self.id_inputs: set[str] = {op.inputs[0] for op in graph.ops if op.kind == "embedding"}
        self.scales = self._weight_scales()

    def elem(self, dtype: str) -> int:
        if dtype not in TOPSIM_TO_ONNX:
            raise InputError(
                f"{self.graph.name}: dtype {dtype} has no ONNX export here; "
                f"supported: {', '.join(TOPSIM_TO_ONNX)}."
            )
        return getattr(self.onnx.TensorProto, TOPSIM_TO_ONNX[dtype])

    def np_dtype(self, dtype: str):
        if dtype == "bf16":
            import ml_dtypes

            return ml_dtypes.bfloat16
        return self.helper.tensor_dtype_to_np_dtype(self.elem(dtype))

    def fresh(self, base: str) -> str:
        name, k = base, 1
        while name in self.names:
            k += 1
            name = f"{base}.{k}"
        self.names.add(name)
        return name

    def constant(self, base: str, value: np.ndarray) -> str:
        name = self.fresh(base)
        self.initializers.append(self.onnx.numpy_helper.from_array(value, name))
        return name

    def node(self, op_type: str, inputs: list[str], outputs: list[str], name: str, **attrs) -> None:
        self.nodes.append(
            self.helper.make_node(op_type, inputs, outputs, name=self.fresh(name), **attrs)
        )

    def _weight_scales(self) -> dict[str, tuple[str, float]]:
        """const tensor -> (init kind, standard deviation) from the op that reads it."""
        scales: dict[str, tuple[str, float]] = {}
        for op in self.graph.ops:
            for position, t in enumerate(op.inputs):
                shape = self.graph.tensors[t].shape
                if not self.graph.tensors[t].const or t in scales:
                    continue
                if op.kind == "conv2d" and position == 1:
                    scales[t] = ("normal", math.sqrt(2.0 / max(1, numel(shape[1:]))))
                elif op.kind in ("linear", "matmul") and len(shape) >= 2:
                    fan_in = shape[-2] if position == 1 else shape[-1]
                    scales[t] = ("normal", 1.0 / math.sqrt(max(1, fan_in)))
                elif op.kind in ("batchnorm", "layernorm", "rmsnorm") and position == 1:
                    scales[t] = ("one", 0.1)
                else:
                    scales[t] = ("normal", 0.02 if op.kind != "embedding" else 1.0)
        return scales

    def weight(self, name: str) -> None:
        tensor = self.graph.tensors[name]
        kind, std = self.scales.get(name, ("normal", 0.02))
        if tensor.dtype == "int8":
            value = self.rng.integers(-8, 8, size=tensor.shape, dtype=np.int8)
        else:
            value = self.rng.standard_normal(tensor.shape, dtype=np.float32) * np.float32(std)
            if kind == "one":
                value += np.float32(1.0)
            value = value.astype(self.np_dtype(tensor.dtype))
        self.initializers.append(self.onnx.numpy_helper.from_array(value, name))

    def value_info(self, name: str):
        tensor = self.graph.tensors[name]
        elem = self.onnx.TensorProto.INT64 if name in self.id_inputs else self.elem(tensor.dtype)
        return self.helper.make_tensor_value_info(name, elem, list(tensor.shape))

    def build(self):
        graph = self.graph
        for name, tensor in graph.tensors.items():
            if tensor.const:
                self.weight(name)
        for op in graph.order:
            exporter = EXPORTERS.get(op.kind)
            if exporter is None:
                raise InputError(
                    f"{graph.name}: op {op.name!r} is a {op.kind} op, which has no "
                    "ONNX equivalent; to_onnx exports graphs of standard ops only."
                )
            exporter(self, op)
        inputs = [self.value_info(t) for t in graph.inputs]
        outputs = [self.value_info(t) for t in graph.outputs]
        onnx_graph = self.helper.make_graph(
            self.nodes, graph.name, inputs, outputs, self.initializers
        )
        model = self.helper.make_model(
            onnx_graph,
            producer_name="topsim",
            opset_imports=[self.helper.make_opsetid("", EXPORT_OPSET)],
        )
        model.ir_version = 8
        return model

    def ids(self, name: str) -> str:
        """Token ids as int64 (an int64 graph input already, or cast from the fp32 stand-in)."""
        if name in self.graph.inputs:
            return name
        out = self.fresh(f"{name}/int64")
        self.node("Cast", [name], [out], f"{name}/cast", to=self.onnx.TensorProto.INT64)
        return out

    def scalar(self, base: str, value: float, dtype: str) -> str:
        return self.constant(base, np.array(value, dtype=self.np_dtype(dtype)))

    def shape_const(self, base: str, shape: list[int]) -> str:
        return self.constant(base, np.array(shape, dtype=np.int64))


def _export_conv(e: _Exporter, op: Op) -> None:
    a = op.attrs
    sh, sw = _pair_of(a.get("stride", 1))
    ph, pw = _pair_of(a.get("padding", 0))
    dh, dw = _pair_of(a.get("dilation", 1))
    w = e.graph.tensors[op.inputs[1]].shape
    e.node(
        "Conv",
        op.inputs,
        op.outputs,
        op.name,
        kernel_shape=[w[2], w[3]],
        strides=[sh, sw],
        pads=[ph, pw, ph, pw],
        dilations=[dh, dw],
        group=int(a.get("groups", 1)),
    )


def _pair_of(value) -> tuple[int, int]:
    return (int(value), int(value)) if isinstance(value, int) else (int(value[0]), int(value[1]))


def _export_linear(e: _Exporter, op: Op) -> None:
    x = op.inputs[0]
    if len(e.graph.tensors[x].shape) == 2:
        e.node("Gemm", op.inputs, op.outputs, op.name)
        return
    if len(op.inputs) == 2:
        e.node("MatMul", op.inputs, op.outputs, op.name)
        return
    y = e.fresh(f"{op.outputs[0]}/matmul")
    e.node("MatMul", op.inputs[:2], [y], op.name)
    e.node("Add", [y, op.inputs[2]], op.outputs, f"{op.name}.bias")


def _export_unary(e: _Exporter, op: Op) -> None:
    x, out = op.inputs[0], op.outputs[0]
    dtype = e.graph.tensors[x].dtype
    simple = {
        "relu": "Relu",
        "sigmoid": "Sigmoid",
        "tanh": "Tanh",
        "exp": "Exp",
        "neg": "Neg",
        "sqrt": "Sqrt",
        "hardswish": "HardSwish",
        "copy": "Identity",
    }
    if op.kind in simple:
        e.node(simple[op.kind], [x], [out], op.name)
    elif op.kind == "relu6":
        low, high = e.scalar(f"{op.name}.min", 0.0, dtype), e.scalar(f"{op.name}.max", 6.0, dtype)
        e.node("Clip", [x, low, high], [out], op.name)
    elif op.kind == "cast":
        e.node("Cast", [x], [out], op.name, to=e.elem(e.graph.tensors[out].dtype))
    elif op.kind == "silu":
        s = e.fresh(f"{out}/sigmoid")
        e.node("Sigmoid", [x], [s], f"{op.name}.sigmoid")
        e.node("Mul", [x, s], [out], op.name)
    elif op.kind == "gelu":  # x * 0.5 * (1 + erf(x / sqrt 2)), as PyTorch exports it
        t1, t2, t3, t4 = (e.fresh(f"{out}/gelu{i}") for i in range(4))
        e.node(
            "Div", [x, e.scalar(f"{op.name}.sqrt2", math.sqrt(2.0), dtype)], [t1], f"{op.name}.div"
        )
        e.node("Erf", [t1], [t2], f"{op.name}.erf")
        e.node("Add", [t2, e.scalar(f"{op.name}.one", 1.0, dtype)], [t3], f"{op.name}.add")
        e.node("Mul", [x, t3], [t4], f"{op.name}.mul")
        e.node("Mul", [t4, e.scalar(f"{op.name}.half", 0.5, dtype)], [out], op.name)


def _export_binary(e: _Exporter, op: Op) -> None:
    names = {"add": "Add", "sub": "Sub", "mul": "Mul", "div": "Div", "max": "Max", "min": "Min"}
    e.node(names[op.kind], op.inputs, op.outputs, op.name)


def _export_batchnorm(e: _Exporter, op: Op) -> None:
    x = op.inputs[0]
    tensor = e.graph.tensors[x]
    channels = tensor.shape[1]
    dt = e.np_dtype(tensor.dtype)
    params = list(op.inputs[1:])
    if len(params) < 1:
        params.append(e.constant(f"{op.name}.scale", np.ones(channels, dtype=dt)))
    if len(params) < 2:
        params.append(e.constant(f"{op.name}.shift", np.zeros(channels, dtype=dt)))
    mean = e.constant(f"{op.name}.mean", np.zeros(channels, dtype=dt))
    var = e.constant(f"{op.name}.var", np.ones(channels, dtype=dt))
    e.node("BatchNormalization", [x, *params, mean, var], op.outputs, op.name, epsilon=1e-5)


def _export_layernorm(e: _Exporter, op: Op) -> None:
    e.node("LayerNormalization", op.inputs, op.outputs, op.name, axis=-1, epsilon=1e-5)


def _export_rmsnorm(e: _Exporter, op: Op) -> None:
    x, out = op.inputs[0], op.outputs[0]
    dtype = e.graph.tensors[x].dtype
    sq, mean, eps, root, norm = (e.fresh(f"{out}/rms{i}") for i in range(5))
    e.node("Mul", [x, x], [sq], f"{op.name}.square")
    e.node("ReduceMean", [sq], [mean], f"{op.name}.mean", axes=[-1], keepdims=1)
    e.node("Add", [mean, e.scalar(f"{op.name}.eps", 1e-6, dtype)], [eps], f"{op.name}.eps")
    e.node("Sqrt", [eps], [root], f"{op.name}.sqrt")
    if len(op.inputs) == 1:
        e.node("Div", [x, root], [out], op.name)
        return
    e.node("Div", [x, root], [norm], f"{op.name}.div")
    e.node("Mul", [norm, op.inputs[1]], [out], op.name)


def _export_pool(e: _Exporter, op: Op) -> None:
    a = op.attrs
    kernel = _pair_of(a.get("kernel", 2))
    stride = _pair_of(a.get("stride", a.get("kernel", 2)))
    ph, pw = _pair_of(a.get("padding", 0))
    e.node(
        "MaxPool" if op.kind == "maxpool" else "AveragePool",
        op.inputs,
        op.outputs,
        op.name,
        kernel_shape=list(kernel),
        strides=list(stride),
        pads=[ph, pw, ph, pw],
    )


def _export_attention(e: _Exporter, op: Op) -> None:
    """softmax(q k^T / sqrt(D) + causal mask) v, over the cache and the new keys if given."""
    q, k, v = op.inputs[:3]
    out = op.outputs[0]
    tensors = e.graph.tensors
    b, h, s, d = tensors[q].shape
    dtype = tensors[q].dtype
    if len(op.inputs) == 5:
        k2, v2 = e.fresh(f"{out}/k_all"), e.fresh(f"{out}/v_all")
        e.node("Concat", [k, op.inputs[3]], [k2], f"{op.name}.k_concat", axis=2)
        e.node("Concat", [v, op.inputs[4]], [v2], f"{op.name}.v_concat", axis=2)
        k, v = k2, v2
        t = tensors[op.inputs[1]].shape[2] + tensors[op.inputs[3]].shape[2]
    else:
        t = tensors[k].shape[2]
    kv_heads = tensors[op.inputs[1]].shape[1]
    if kv_heads != h:  # grouped-query attention: repeat each kv head h / kv_heads times
        group = h // kv_heads
        repeated = []
        for name, tag in ((k, "k"), (v, "v")):
            r5, ex, r4 = (e.fresh(f"{out}/{tag}_rep{i}") for i in range(3))
            e.node(
                "Reshape",
                [name, e.shape_const(f"{op.name}.{tag}5", [b, kv_heads, 1, t, d])],
                [r5],
                f"{op.name}.{tag}_unsqueeze",
            )
            e.node(
                "Expand",
                [r5, e.shape_const(f"{op.name}.{tag}x", [b, kv_heads, group, t, d])],
                [ex],
                f"{op.name}.{tag}_expand",
            )
            e.node(
                "Reshape",
                [ex, e.shape_const(f"{op.name}.{tag}4", [b, h, t, d])],
                [r4],
                f"{op.name}.{tag}_merge",
            )
            repeated.append(r4)
        k, v = repeated
    kt, scores, scaled, probs = (e.fresh(f"{out}/att{i}") for i in range(4))
    e.node("Transpose", [k], [kt], f"{op.name}.kT", perm=[0, 1, 3, 2])
    e.node("MatMul", [q, kt], [scores], f"{op.name}.qk")
    e.node(
        "Mul",
        [scores, e.scalar(f"{op.name}.scale", 1 / math.sqrt(d), dtype)],
        [scaled],
        f"{op.name}.scale",
    )
    if op.attrs.get("causal", False):
        mask = np.triu(np.full((s, t), -1e4, dtype=np.float32), k=t - s + 1)
        masked = e.fresh(f"{out}/masked")
        e.node(
            "Add",
            [scaled, e.constant(f"{op.name}.mask", mask.astype(e.np_dtype(dtype)))],
            [masked],
            f"{op.name}.mask",
        )
        scaled = masked
    e.node("Softmax", [scaled], [probs], f"{op.name}.softmax", axis=-1)
    e.node("MatMul", [probs, v], [out], op.name)


def _export_split(e: _Exporter, op: Op) -> None:
    sizes = e.shape_const(f"{op.name}.sizes", [int(s) for s in op.attrs["sizes"]])
    e.node("Split", [op.inputs[0], sizes], op.outputs, op.name, axis=int(op.attrs.get("axis", -1)))


def _export_shuffle(e: _Exporter, op: Op) -> None:
    n, c, h, w = e.graph.tensors[op.inputs[0]].shape
    groups = int(op.attrs.get("groups", 2))
    r5, tr = e.fresh(f"{op.outputs[0]}/groups"), e.fresh(f"{op.outputs[0]}/swapped")
    e.node(
        "Reshape",
        [op.inputs[0], e.shape_const(f"{op.name}.g", [n, groups, c // groups, h, w])],
        [r5],
        f"{op.name}.split_groups",
    )
    e.node("Transpose", [r5], [tr], f"{op.name}.transpose", perm=[0, 2, 1, 3, 4])
    e.node("Reshape", [tr, e.shape_const(f"{op.name}.c", [n, c, h, w])], op.outputs, op.name)


EXPORTERS: dict[str, Callable[[_Exporter, Op], None]] = {
    "conv2d": _export_conv,
    "linear": _export_linear,
    "matmul": lambda e, op: e.node("MatMul", op.inputs, op.outputs, op.name),
    **{
        k: _export_unary
        for k in (
            "relu",
            "relu6",
            "gelu",
            "silu",
            "sigmoid",
            "tanh",
            "hardswish",
            "exp",
            "neg",
            "sqrt",
            "cast",
            "copy",
        )
    },
    **{k: _export_binary for k in ("add", "sub", "mul", "div", "max", "min")},
    "batchnorm": _export_batchnorm,
    "layernorm": _export_layernorm,
    "rmsnorm": _export_rmsnorm,
    "maxpool": _export_pool,
    "avgpool": _export_pool,
    "global_avgpool": lambda e, op: e.node("GlobalAveragePool", op.inputs, op.outputs, op.name),
    "softmax": lambda e, op: e.node(
        "Softmax", op.inputs, op.outputs, op.name, axis=int(op.attrs.get("axis", -1))
    ),
    "attention": _export_attention,
    "concat": lambda e, op: e.node(
        "Concat", op.inputs, op.outputs, op.name, axis=int(op.attrs.get("axis", -1))
    ),
    "split": _export_split,
    "reshape": lambda e, op: e.node(
        "Reshape",
        [
            op.inputs[0],
            e.shape_const(f"{op.name}.shape", list(e.graph.tensors[op.outputs[0]].shape)),
        ],
        op.outputs,
        op.name,
    ),
    "flatten": lambda e, op: e.node(
        "Flatten", op.inputs, op.outputs, op.name, axis=int(op.attrs.get("axis", 1))
    ),
    "transpose": lambda e, op: e.node(
        "Transpose",
        op.inputs,
        op.outputs,
        op.name,
        perm=list(op.attrs.get("perm", reversed(range(len(e.graph.tensors[op.inputs[0]].shape))))),
    ),
    "channel_shuffle": _export_shuffle,
    "embedding": lambda e, op: e.node(
        "Gather", [op.inputs[1], e.ids(op.inputs[0])], op.outputs, op.name, axis=0
    ),
}
