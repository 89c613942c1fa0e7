"""Reading an ONNX file: the bytes, the dtypes, and the nodes with their attributes.

Only the graph and the shapes are read: weights are never needed (large initializers'
data is skipped in the file, see lean.py), and external data
(weights in other files, named by paths inside the model) is never opened, so a model
cannot make topsim read a file it did not name. Attributes are parsed once, here, into
Python values; every later stage reads them from the `Node`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from hardware.errors import InputError
from workloads.graph import MAX_FILE_OPS
from workloads.onnx.lean import WireError, lean_model_bytes

Shape = tuple[int, ...]

MAX_ONNX_BYTES = 2**31  # protobuf's limit for one serialized message
# nodes in a model: shape arithmetic and constants fold away, so a model of MAX_FILE_OPS
# ops may have more nodes (exported transformers: about twice as many); an import takes
# ~0.1 ms of CPU a node, so more would not finish in seconds
MAX_ONNX_NODES = 2 * MAX_FILE_OPS
FOLD_LIMIT = 1 << 16  # constant values up to this many elements are read and evaluated here
STANDARD_DOMAINS = ("", "ai.onnx")
# ONNX Runtime's contrib ops (domain com.microsoft) that the mappers follow on purpose,
# with the inputs each requires (its documented signature)
MICROSOFT_OPS: dict[str, int] = {
    "Gelu": 1,
    "FastGelu": 1,
    "QuickGelu": 1,
    "BiasGelu": 2,
    "SkipLayerNormalization": 3,
    "SkipSimplifiedLayerNormalization": 3,
    "SimplifiedLayerNormalization": 2,
    "LayerNormalization": 2,
    "QuantizeLinear": 2,
    "DequantizeLinear": 2,
}

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


def onnx_module():
    """The `onnx` package, or an InputError naming the extra that provides it."""
    try:
        import onnx
    except ModuleNotFoundError:
        raise InputError(
            "reading or writing ONNX needs the 'onnx' extra: pip install 'topsim[onnx]'."
        ) from None
    return onnx


def read_model(path: str | os.PathLike):
    """The ModelProto of an ONNX file, or an InputError saying why it is not one.

    The bytes are parsed directly (`load_model_from_string`), so external data files named
    inside the model are never opened; the data of initializers over FOLD_LIMIT elements
    is left out before parsing (`lean.lean_model_bytes`), never read into memory.
    """
    onnx = onnx_module()
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
        data = lean_model_bytes(p, FOLD_LIMIT)
    except OSError as exc:
        raise InputError(f"{p}: cannot be read ({exc.strerror}).") from None
    except WireError:  # not protobuf this walk understands: the parser says what it is
        data = None
    try:
        if data is None:
            data = p.read_bytes()
        model = onnx.load_model_from_string(data)
    except OSError as exc:
        raise InputError(f"{p}: cannot be read ({exc.strerror}).") from None
    except Exception as exc:  # protobuf DecodeError and friends
        raise InputError(
            f"{p}: not an ONNX model: the bytes are not a valid ONNX protobuf "
            f"({exc.__class__.__name__}); the file may be truncated, or another kind "
            "of file with an .onnx name."
        ) from None
    del data
    if not model.HasField("graph") or not model.graph.node or model.ir_version < 1:
        what = "it is empty" if not size else "it has no graph with nodes and no IR version"
        raise InputError(
            f"{p}: not an ONNX model: {what} (the file may be truncated or not an ONNX export)."
        )
    nodes = len(model.graph.node)
    nodes = nodes if nodes > MAX_ONNX_NODES else count_nodes(model)
    if nodes > MAX_ONNX_NODES:
        raise InputError(
            f"{p}: the model has {nodes} nodes (subgraphs and functions included); topsim "
            f"imports at most {MAX_ONNX_NODES} (a simulation of more would not finish)."
        )
    drop_large_values(model, onnx)
    return model


def count_nodes(model) -> int:
    """Nodes of the main graph, of every subgraph (If, Loop, Scan bodies) and of functions."""
    graphs, count = [model.graph], sum(len(f.node) for f in model.functions)
    while graphs:
        graph = graphs.pop()
        count += len(graph.node)
        for node in graph.node:
            for attribute in node.attribute:
                if attribute.HasField("g"):
                    graphs.append(attribute.g)
                graphs.extend(attribute.graphs)
    return count


def drop_large_values(model, onnx) -> None:
    """Forget the values of constants over FOLD_LIMIT elements, keeping dims and dtype.

    The import needs only small constants' values (shapes, axes, scales); the rest would
    be copied again by shape inference, so memory would follow the weights, not the graph.
    """
    tensors = list(model.graph.initializer)
    for sparse in model.graph.sparse_initializer:
        tensors += [sparse.values, sparse.indices]
    for node in model.graph.node:
        for a in node.attribute:
            if a.type == onnx.AttributeProto.TENSOR:
                tensors.append(a.t)
            elif a.type == onnx.AttributeProto.SPARSE_TENSOR:
                tensors += [a.sparse_tensor.values, a.sparse_tensor.indices]
    for tensor in tensors:
        if numel_of(tensor.dims) > FOLD_LIMIT:
            for name in DATA_FIELDS:
                tensor.ClearField(name)


DATA_FIELDS = (
    "raw_data",
    "float_data",
    "int32_data",
    "string_data",
    "int64_data",
    "double_data",
    "uint64_data",
)


def numel_of(dims) -> int:
    count = 1
    for d in dims:
        count *= max(0, int(d))
    return count


def onnx_dtype(elem_type: int) -> str:
    onnx = onnx_module()
    name = onnx.TensorProto.DataType.Name(elem_type) if elem_type else "FLOAT"
    return ONNX_DTYPES.get(name, "fp32")


def dims_of(shape: Shape) -> Shape:
    """topsim dims are >= 1: an empty dimension (0) counts as 1."""
    return tuple(max(1, int(d)) for d in shape)


class Unmappable(Exception):
    """This node cannot be mapped as planned; the caller falls back to a custom op."""


@dataclass
class Node:
    """One ONNX node; `attrs` holds its attributes as Python values (strings as bytes)."""

    index: int
    op_type: str
    domain: str
    name: str
    inputs: list[str]
    outputs: list[str]
    attrs: dict[str, Any]
    proto: Any


def read_nodes(graph, onnx, source: str) -> list[Node]:
    """The graph's nodes in file order; tensor attributes held in external data are left out."""
    for i, proto in enumerate(graph.node):
        if not proto.op_type:
            raise InputError(
                f"{source}: node {proto.name or i!r} has an empty op type; every ONNX node "
                "names its operator (Conv, MatMul, ...)."
            )
    return [
        Node(
            i,
            proto.op_type,
            proto.domain,
            proto.name,
            list(proto.input),
            list(proto.output),
            {
                a.name: onnx.helper.get_attribute_value(a)
                for a in proto.attribute
                if a.type != onnx.AttributeProto.TENSOR or not external(a.t, onnx)
            },
            proto,
        )
        for i, proto in enumerate(graph.node)
    ]


def external(tensor, onnx) -> bool:
    return tensor.data_location == onnx.TensorProto.EXTERNAL or bool(tensor.external_data)


def np_elem_type(value: np.ndarray, onnx) -> int:
    try:
        return onnx.helper.np_dtype_to_tensor_dtype(value.dtype)
    except Exception:
        return onnx.TensorProto.FLOAT


def label(node: Node) -> str:
    """How messages name a node: its name, or its index and first output."""
    if node.name:
        return repr(node.name)
    first = next((o for o in node.outputs if o), "")
    return f"#{node.index}" + (f" (making {first!r})" if first else "")
