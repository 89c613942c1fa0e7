"""`GraphBuilder`: write a network as Python calls; shapes are inferred as you go.

    b = GraphBuilder("tiny", dtype="fp16")
    x = b.input("image", (1, 3, 32, 32))
    y = b.relu(b.conv2d(x, 8, kernel=3, padding=1))
    graph = b.build()

Each call adds one op (and its weight tensors, marked const) and returns the name of its
output tensor. Names are made unique with a running index so blocks can be stamped out in
loops.
"""

from __future__ import annotations

from typing import Any

from workloads.graph import Graph, Op, Tensor
from workloads.ops import infer

# kinds that run on a matrix engine; with a `vector_dtype` every other kind computes in it
MATRIX_KINDS = frozenset({"matmul", "linear", "conv2d", "attention"})


class GraphBuilder:
    """`dtype` is the dtype of tensors (activations and weights) and of the matrix ops;
    `vector_dtype`, if given and different, is the dtype every other op computes in (an
    int8 network with fp16 norms, softmax and activations: each such op gets the `dtype`
    attribute, reading and writing `dtype` tensors as int8 I/O kernels do)."""

    def __init__(self, name: str, dtype: str = "fp16", vector_dtype: str | None = None) -> None:
        self.name = name
        self.dtype = dtype
        self.vector_dtype = vector_dtype if vector_dtype != dtype else None
        self.tensors: dict[str, Tensor] = {}
        self.ops: list[Op] = []
        self.inputs: list[str] = []
        self._count = 0
        self._op_names: set[str] = set()

    def _fresh(self, base: str) -> str:
        self._count += 1
        return f"{base}.{self._count}" if base in self.tensors or base in self._op_names else base

    def shape(self, tensor: str) -> tuple[int, ...]:
        return self.tensors[tensor].shape

    def input(self, name: str, shape: tuple[int, ...], dtype: str | None = None) -> str:
        self.tensors[name] = Tensor(shape=shape, dtype=dtype or self.dtype)
        self.inputs.append(name)
        return name

    def const(self, name: str, shape: tuple[int, ...], dtype: str | None = None) -> str:
        name = self._fresh(name)
        self.tensors[name] = Tensor(shape=shape, dtype=dtype or self.dtype, const=True)
        return name

    def op(
        self,
        kind: str,
        inputs: list[str],
        name: str | None = None,
        n_out: int = 1,
        out_dtype: str | None = None,
        **attrs: Any,
    ) -> str | list[str]:
        """Add any op kind; returns its output name (a list when it has several)."""
        self._count += 1
        op_name = name or f"{kind}{self._count}"
        if op_name in self._op_names:
            op_name = f"{op_name}.{self._count}"
        if self.vector_dtype and kind not in MATRIX_KINDS and "dtype" not in attrs:
            attrs["dtype"] = self.vector_dtype
        stats = infer(kind, [self.tensors[t].shape for t in inputs], attrs)
        dtype = out_dtype or (self.tensors[inputs[0]].dtype if inputs else self.dtype)
        outs = []
        for i, shape in enumerate(stats.out_shapes):
            out = self._fresh(op_name if len(stats.out_shapes) == 1 else f"{op_name}:{i}")
            self.tensors[out] = Tensor(shape=shape, dtype=dtype)
            outs.append(out)
        self.ops.append(Op(name=op_name, kind=kind, inputs=inputs, outputs=outs, attrs=attrs))
        self._op_names.add(op_name)
        return outs[0] if len(outs) == 1 and n_out == 1 else outs

    # the common layers, with their weights -------------------------------------------------

    def conv2d(
        self,
        x: str,
        out_channels: int,
        kernel: int,
        stride: int = 1,
        padding: int = 0,
        groups: int = 1,
        bias: bool = False,
        name: str | None = None,
    ) -> str:
        cin = self.shape(x)[1]
        base = name or f"conv{self._count + 1}"
        w = self.const(f"{base}.w", (out_channels, cin // groups, kernel, kernel))
        inputs = [x, w] + ([self.const(f"{base}.b", (out_channels,))] if bias else [])
        attrs: dict[str, Any] = {"stride": stride, "padding": padding}
        if groups != 1:
            attrs["groups"] = groups
        return self.op("conv2d", inputs, name=name, **attrs)

    def linear(
        self,
        x: str,
        out_features: int,
        bias: bool = True,
        name: str | None = None,
        weight_dtype: str | None = None,
    ) -> str:
        base = name or f"linear{self._count + 1}"
        w = self.const(f"{base}.w", (self.shape(x)[-1], out_features), dtype=weight_dtype)
        inputs = [x, w] + ([self.const(f"{base}.b", (out_features,))] if bias else [])
        return self.op("linear", inputs, name=name)

    def batchnorm(self, x: str, name: str | None = None) -> str:
        base = name or f"bn{self._count + 1}"
        c = self.shape(x)[1]
        return self.op(
            "batchnorm",
            [x, self.const(f"{base}.scale", (c,)), self.const(f"{base}.shift", (c,))],
            name=name,
        )

    def layernorm(self, x: str, name: str | None = None, kind: str = "layernorm") -> str:
        base = name or f"{kind}{self._count + 1}"
        d = self.shape(x)[-1]
        params = [self.const(f"{base}.gamma", (d,))]
        if kind == "layernorm":
            params.append(self.const(f"{base}.beta", (d,)))
        return self.op(kind, [x, *params], name=name)

    def unary(self, kind: str, x: str, name: str | None = None) -> str:
        return self.op(kind, [x], name=name)

    def relu(self, x: str, name: str | None = None) -> str:
        return self.op("relu", [x], name=name)

    def add(self, a: str, b: str, name: str | None = None) -> str:
        return self.op("add", [a, b], name=name)

    def build(self, outputs: list[str] | None = None) -> Graph:
        return Graph(
            name=self.name,
            tensors=self.tensors,
            inputs=self.inputs,
            outputs=outputs or [],
            ops=self.ops,
        )
