"""What an import has built so far, and the one way ops are added to it.

Mappers only ever add ops through `emit`, `view` and `custom`, which check each topsim op
against ONNX's own shape inference; a mapper that cannot follow its plan raises
`Unmappable`, and the importer rolls the state back (`mark`, `rollback`) to map the node
as a custom op instead. So a half-mapped node never leaves tensors or ops behind.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import numpy as np
from pydantic import ValidationError

from hardware.errors import InputError
from workloads.graph import Op, Tensor
from workloads.onnx.read import (
    Node,
    Shape,
    Unmappable,
    dims_of,
    label,
    np_elem_type,
    onnx_dtype,
    onnx_module,
)
from workloads.ops import OpShapeError, infer, numel


class ImportState:
    """Tensors, ops, aliases and known constants of one import."""

    def __init__(self, model, source: str, batch: int | None, dims: dict[str, int]) -> None:
        self.onnx = onnx_module()
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
        self.quant: Any = None  # quant.QuantPlan, made when a mapper first needs it
        self.chosen: dict[str, int] = {}  # input dimensions this import chose -> their sizes
        # numbered names: base -> the lowest k whose `base.k` may be free (all below are
        # taken), and each numbered name -> (base, k), so that naming stays linear
        self._next_k: dict[str, int] = {}
        self._numbered: dict[str, tuple[str, int]] = {}
        opsets = {o.domain: o.version for o in model.opset_import}
        self.opset = opsets.get("", opsets.get("ai.onnx", 13))

    # -- tensors ----------------------------------------------------------------------------

    def resolve(self, name: str) -> str:
        while name in self.alias:
            name = self.alias[name]
        return name

    def dtype_of(self, name: str) -> str:
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
            raise Unmappable(f"the shape of {name!r} is unknown")
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
                name, dims_of(self.const_shapes[name]), self.dtype_of(name), "constant", const=True
            )
            return name
        raise Unmappable(f"tensor {name!r} is not available")

    def const_as(self, name: str, shape: Shape, suffix: str) -> str:
        """A constant re-declared with another shape (a transposed or flattened weight)."""
        name = self.resolve(name)
        if tuple(self.shape(name)) == tuple(shape):
            return self.declare(name)
        if numel(self.shape(name)) != numel(shape):
            raise Unmappable(f"cannot view constant {name!r} as {list(shape)}")
        alias = f"{name}{suffix}"
        if alias not in self.tensors:
            self.tensors[alias] = self.tensor(
                alias, dims_of(shape), self.dtype_of(name), "constant", const=True
            )
        return alias

    def fresh(self, base: str) -> str:
        return self._unique(
            base, lambda n: n in self.tensors or n in self.onnx_shapes or n in self.const_shapes
        )

    def op_name(self, node: Node, suffix: str = "") -> str:
        return self._unique(
            (node.name or f"{node.op_type}_{node.index}") + suffix, self.op_names.__contains__
        )

    def _unique(self, base: str, taken) -> str:
        """`base`, or `base.k` for the lowest free k >= 2 (remembered, so never rescanned)."""
        if not taken(base):
            return base
        k = self._next_k.get(base, 2)
        while taken(f"{base}.{k}"):
            k += 1
        self._next_k[base] = k
        name = f"{base}.{k}"
        self._numbered[name] = (base, k)
        return name

    def reject(self, node: Node, problem: str) -> InputError:
        """The error for a node whose inputs or attributes ONNX's definition does not allow."""
        return InputError(
            f"{self.source}: node {label(node)} ({node.op_type}): {problem}; the model is "
            "not valid ONNX."
        )

    # -- emitting ---------------------------------------------------------------------------

    def emit(
        self,
        node: Node,
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
            raise Unmappable(str(exc)) from None
        if outputs is None:
            outputs = [self.fresh(f"{node.outputs[0]}/{kind}") for _ in stats.out_shapes]
        if len(outputs) != len(stats.out_shapes):
            raise Unmappable(
                f"{kind} makes {len(stats.out_shapes)} outputs, the node has {len(outputs)}"
            )
        for out, shape in zip(outputs, stats.out_shapes, strict=True):
            expected = self.onnx_shapes.get(out)
            if expected is not None and dims_of(expected) != tuple(shape):
                raise Unmappable(
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
        self, node: Node, x: str, shape: Shape, out: str | None = None, suffix: str = ""
    ) -> str:
        """A free reshape view of `x` (an alias when the shape does not change)."""
        x = self.resolve(x)
        if tuple(self.shape(x)) == tuple(dims_of(shape)) and out is not None:
            self.alias[out] = x
            return x
        if x in self.const_shapes and x not in self.tensors:
            result = self.const_as(x, shape, f"[{','.join(map(str, shape))}]")
            if out is not None:
                self.alias[out] = result
            return result
        return self.emit(
            node, "reshape", [x], [out] if out else None, suffix=suffix, shape=list(dims_of(shape))
        )[0]

    def custom(
        self,
        node: Node,
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
        for t in dict.fromkeys(self.resolve(t) for t in node.inputs if t):
            if t not in self.values and (t in self.tensors or t in self.const_shapes):
                inputs.append(self.declare(t))
        elements = sum(numel(dims_of(s)) for s in out_shapes)
        attrs: dict[str, Any] = {
            "out_shapes": [list(dims_of(s)) for s in out_shapes],
            "macs": int(macs),
            "flops": int(round(flops_per_element * elements)),
            "op_class": op_class,
        }
        if not accelerated:
            attrs["accelerated"] = False
        dtype = self.dtype_of(outputs[0]) if not inputs else self.tensors[inputs[0]].dtype
        for o, s in zip(outputs, out_shapes, strict=True):
            self.tensors[o] = self.tensor(
                o,
                dims_of(s),
                self.dtype_of(o) if o in self.onnx_types else dtype,
                f"{node.op_type} output",
            )
        suffix = "" if node.op_type in (node.name or "") else f" [{node.op_type}]"
        name = self.op_name(node, suffix)
        self.op_names.add(name)
        self.ops.append(Op(name=name, kind="custom", inputs=inputs, outputs=outputs, attrs=attrs))

    def _guess_shape(self, node: Node, output: str) -> Shape:
        """An output ONNX could not shape: assume its first input's shape, and say so."""
        for t in node.inputs:
            if t and self.resolve(t) not in self.values:
                try:
                    shape = self.shape(t)
                except Unmappable:
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

    # -- rollback ---------------------------------------------------------------------------

    def set_const(self, name: str, value: np.ndarray) -> None:
        """`name` is a constant whose value is known (a folded shape, a scale)."""
        self.values[name] = value
        self.const_shapes[name] = tuple(value.shape)
        self.onnx_types.setdefault(name, np_elem_type(value, self.onnx))

    def mark(self):
        """A point to roll back to if the next node cannot be mapped as planned.

        Tensors, ops and aliases are only ever added, so a point is their counts: marking
        costs nothing however large the graph is.
        """
        return (len(self.ops), len(self.tensors), len(self.alias))

    def rollback(self, mark) -> None:
        count, tensors, aliases = mark
        freed = [op.name for op in self.ops[count:]]
        self.op_names.difference_update(freed)
        del self.ops[count:]
        while len(self.tensors) > tensors:
            freed.append(self.tensors.popitem()[0])
        while len(self.alias) > aliases:
            self.alias.popitem()
        for name in freed:  # a freed `base.k` may be handed out again
            if name in self._numbered:
                base, k = self._numbered.pop(name)
                self._next_k[base] = min(self._next_k.get(base, k), k)
