"""The import driver: from a ModelProto to a topsim Graph, one node at a time.

It fixes symbolic input sizes, runs ONNX's shape inference (topsim needs static shapes),
sorts and prunes the nodes, then gives each node in turn to the checks, the constant
folder, a recognised pattern or its mapper. A node no mapper can follow becomes a custom
op rather than failing the import: a model with an odd node is still worth simulating.
"""

from __future__ import annotations

import heapq
import os
import warnings
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from pydantic import ValidationError

from hardware.errors import InputError, explain_validation, shown
from workloads.graph import Graph, check_file_ops
from workloads.onnx.checks import check, check_schema
from workloads.onnx.fold import fold
from workloads.onnx.mappers_math import MAPPERS as MATH_MAPPERS
from workloads.onnx.mappers_nn import MAPPERS as NN_MAPPERS
from workloads.onnx.mappers_shape import MAPPERS as SHAPE_MAPPERS
from workloads.onnx.mapping import Mapper, Mappers
from workloads.onnx.patterns import Region, find_fusions
from workloads.onnx.quant import MAPPERS as QUANT_MAPPERS
from workloads.onnx.read import (
    FOLD_LIMIT,
    MICROSOFT_OPS,
    STANDARD_DOMAINS,
    Node,
    Shape,
    Unmappable,
    dims_of,
    label,
    read_model,
    read_nodes,
)
from workloads.onnx.state import ImportState
from workloads.ops import numel

MAX_DIM = 2**50  # a tensor holds at most 2^50 elements (workloads/graph.py), so no dim is more

MAPPERS = Mappers.merge(NN_MAPPERS, MATH_MAPPERS, SHAPE_MAPPERS, QUANT_MAPPERS)


def mapper_of(node: Node) -> Mapper | None:
    """The standard domain maps by op type; com.microsoft only its ops listed on purpose;
    any other domain's ops are someone else's definitions, so they map to nothing."""
    if node.domain in STANDARD_DOMAINS or (
        node.domain == "com.microsoft" and node.op_type in MICROSOFT_OPS
    ):
        return MAPPERS.get(node.op_type)
    return None


def qualified(node: Node) -> str:
    """The op type, with its domain when that is not ONNX's own."""
    return node.op_type if node.domain in STANDARD_DOMAINS else f"{node.domain}.{node.op_type}"


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
        return Importer(model, str(path), batch, dict(dims or {})).run()
    except ValidationError as err:  # a model built here that pydantic refused: still one line
        raise explain_validation(err, str(path), None) from None


class Importer(ImportState):
    """One import: `run` maps the whole model, once."""

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
            self.tensors[name] = self.tensor(
                name, dims_of(shape), self.dtype_of(name), "graph input"
            )
        nodes = self._sorted_nodes()
        nodes = self._live(nodes, [o.name for o in graph.output])
        for node in nodes:
            check_schema(self, node)
        fused = find_fusions(nodes, self)
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
        computed = {t for op in self.ops for t in op.outputs}
        outputs = list(
            dict.fromkeys(n for o in graph.output if (n := self.resolve(o.name)) in computed)
        )
        if self.approximated:
            listing = ", ".join(f"{t} (x{n})" for t, n in sorted(self.approximated.items()))
            self.notes.append(
                f"nodes mapped approximately as custom ops with ONNX's output shapes: {listing}"
            )
        check_file_ops(len(self.ops), self.source)
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
        self._check_dims(initializers)
        defaulted: set[str] = set()
        for value in graph.input:
            if value.name in initializers or not value.type.HasField("tensor_type"):
                continue
            for axis, dim in enumerate(value.type.tensor_type.shape.dim):
                if dim.HasField("dim_value") and dim.dim_value < 1:
                    raise InputError(
                        f"{self.source}: graph input {value.name!r} has size {dim.dim_value} "
                        f"on axis {axis}; topsim simulates inputs whose sizes are at least 1 "
                        "(an empty input computes nothing)."
                    )
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

    def _check_dims(self, initializers: set[str]) -> None:
        """Every name in `dims` is a symbolic dim of an input, sized at least 1."""
        symbolic = {
            dim.dim_param
            for value in self.model.graph.input
            if value.name not in initializers and value.type.HasField("tensor_type")
            for dim in value.type.tensor_type.shape.dim
            if dim.dim_param
        }
        for name, size in self.dims.items():
            if name not in symbolic:
                raise InputError(
                    f"{self.source}: dim {name!r} is not a symbolic dim of the model's "
                    f"inputs; they have {', '.join(sorted(symbolic)) or 'none'}."
                )
            if isinstance(size, bool) or not isinstance(size, int) or not 1 <= size <= MAX_DIM:
                raise InputError(
                    f"{self.source}: dim {name!r} must be a size from 1 to 2^50, got {shown(size)}."
                )
        batch = self.batch
        if batch is not None and (
            isinstance(batch, bool) or not isinstance(batch, int) or not 1 <= batch <= MAX_DIM
        ):
            raise InputError(
                f"{self.source}: batch must be a size from 1 to 2^50, got {shown(batch)}."
            )

    def _shape_inference(self) -> None:
        """ONNX's shapes, with data propagation (shape computations evaluated) only where
        plain inference left shapes open and no 1-D tensor is large: ONNX propagates a 1-D
        tensor's values one proto entry per element, so a long one costs gigabytes."""
        onnx = self.onnx
        try:
            inferred = onnx.shape_inference.infer_shapes(self.model, strict_mode=False)
            values = [*inferred.graph.input, *inferred.graph.value_info, *inferred.graph.output]
            if not all(_concrete(v) for v in values) and _small_vectors(inferred.graph):
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

    def _sorted_nodes(self) -> list[Node]:
        """Nodes in a topological order (files should be sorted; some are not).

        Kahn's algorithm with a heap of ready nodes keyed by file position, so a sorted
        file keeps its order and the cost is O(edges + nodes log nodes).
        """
        nodes = read_nodes(self.model.graph, self.onnx, self.source)
        available = set(self.tensors) | set(self.const_shapes) | {""}
        producer: dict[str, int] = {}
        for n in nodes:
            for o in n.outputs:
                if o and (o in producer or o in available):
                    first = "a graph input or initializer"
                    if o in producer:
                        first = f"node {label(nodes[producer[o]])}"
                    raise InputError(
                        f"{self.source}: tensor {o!r}, an output of node {label(n)} "
                        f"({n.op_type}), is already produced by {first}; in ONNX each "
                        "tensor has one producer."
                    )
                if o:
                    producer[o] = n.index
        consumers: list[list[int]] = [[] for _ in nodes]
        waiting = [0] * len(nodes)
        for n in nodes:
            sources = set()
            for t in n.inputs:
                if t in producer:
                    sources.add(producer[t])
                elif t not in available:
                    raise InputError(
                        f"{self.source}: tensor {t!r}, an input of node "
                        f"{n.name or n.index!r} ({n.op_type}), is produced by no node "
                        "and is neither a graph input nor an initializer; the file "
                        "may be truncated or not a complete model."
                    )
            waiting[n.index] = len(sources)
            for p in sources:
                consumers[p].append(n.index)
        ready = [i for i, k in enumerate(waiting) if k == 0]  # ascending: already a heap
        order = []
        while ready:
            index = heapq.heappop(ready)
            order.append(nodes[index])
            for c in consumers[index]:
                waiting[c] -= 1
                if waiting[c] == 0:
                    heapq.heappush(ready, c)
        if len(order) != len(nodes):
            stuck = next(n for n in nodes if waiting[n.index])
            raise InputError(
                f"{self.source}: the ONNX graph has a cycle (node {label(stuck)} "
                f"({stuck.op_type}) depends on its own output); it is not a valid model."
            )
        return order

    def _live(self, nodes: list[Node], outputs: list[str]) -> list[Node]:
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

    def _map(self, node: Node) -> None:
        try:
            self._map_node(node)
        except InputError:
            raise
        except (ArithmeticError, IndexError, KeyError, TypeError, ValueError) as exc:
            # a node the checks let through but topsim cannot read: still one paragraph
            detail = (
                "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()[:3])
                if isinstance(exc, ValidationError)
                else " ".join(str(exc).split())[:300]
            )
            raise InputError(
                f"{self.source}: node {label(node)} ({qualified(node)}): topsim cannot "
                f"map it ({exc.__class__.__name__}: {detail}); its inputs, ranks or "
                "attributes are outside what ONNX's definition of the op allows."
            ) from None

    def _map_node(self, node: Node) -> None:
        node.inputs = [self.resolve(t) if t else "" for t in node.inputs]
        check(self, node)
        if fold(self, node):
            return
        mapper = mapper_of(node)
        if mapper is None:
            self.unknown[node.op_type] += 1
            self.custom(node, accelerated=False)
            return
        mark = self.mark()
        try:
            mapper(self, node)
        except Unmappable:
            self.rollback(mark)
            self.approximated[node.op_type] += 1
            self.custom(node, flops_per_element=1.0)

    def _map_fused(self, node: Node, region: Region) -> None:
        x = self.resolve(region.x)
        params = [self.resolve(p) for p in region.params]
        mark = self.mark()
        try:
            self.emit(node, region.kind, [x, *params], [region.output])
        except Unmappable:
            self.rollback(mark)
            for member in region.nodes:  # map the members one by one after all
                self._map(member)


def _concrete(value) -> bool:
    """A tensor value whose every dimension is known."""
    if not value.type.HasField("tensor_type"):
        return True
    tensor_type = value.type.tensor_type
    return tensor_type.HasField("shape") and all(
        d.HasField("dim_value") for d in tensor_type.shape.dim
    )


def _small_vectors(graph) -> bool:
    """No known 1-D tensor (input, initializer, inferred value) over FOLD_LIMIT elements."""
    for value in [*graph.input, *graph.value_info, *graph.output]:
        dims = value.type.tensor_type.shape.dim if value.type.HasField("tensor_type") else []
        if len(dims) == 1 and dims[0].dim_value > FOLD_LIMIT:
            return False
    return all(len(t.dims) != 1 or t.dims[0] <= FOLD_LIMIT for t in graph.initializer)
