"""A workload is a DAG of ops over named tensors, validated once.

The same schema is the YAML/JSON file format and the Python API:

    name: tiny
    tensors:
      x:  {shape: [1, 3, 32, 32], dtype: fp16}
      w:  {shape: [8, 3, 3, 3], dtype: fp16, const: true}   # weights: const
      y:  {shape: [1, 8, 30, 30], dtype: fp16}
    inputs: [x]                 # fed from outside each batch
    outputs: [y]
    ops:
      - {name: conv, kind: conv2d, inputs: [x, w], outputs: [y], attrs: {stride: 1}}

Validation checks that every tensor is produced exactly once (by an op, as a graph input,
or as a const), that the graph is acyclic, and that each op's declared output shapes are
the ones its kind infers. A declared tensor that nothing produces is an error even if no op
reads it (likely a typo); unused graph inputs, unused consts and ops whose outputs nobody
reads are legal, and so is a graph of several disconnected parts.
"""

from __future__ import annotations

import heapq
from collections.abc import Mapping
from functools import cached_property
from typing import Annotated, Any, Literal, NamedTuple

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PrivateAttr,
    field_validator,
    model_validator,
)

from hardware.chip import DTYPE_BYTES, Dtype
from hardware.errors import InputError
from hardware.quantity import Flag, Name, reject_bool
from workloads.ops import KINDS, OpShapeError, OpStats, infer, numel

OpKind = Literal[tuple(KINDS)]  # type: ignore[valid-type]

# The largest graph topsim takes, checked before any op is validated: a million ops
# simulate in under a minute (benchmarks/bench_scale.py); a bigger one is a mistake or a
# graph to split. Each op declares about two tensors.
MAX_OPS = 1_000_000
MAX_TENSORS = 4 * MAX_OPS
# The largest graph read from a file (YAML, JSON, ONNX): a file is untrusted input, and
# every command on one must finish in seconds (issue 15: 10 s and 1 GB). 10k ops is five
# times an unrolled Llama-2-70B (about 2k); `explain` of 20k independent matmuls took
# 8.5 s of CPU on h100-sxm (benchmarks/redteam3.py), 10k half that. Bigger graphs are
# built in Python, up to MAX_OPS.
MAX_FILE_OPS = 10_000


def check_file_ops(count: int, source: str) -> None:
    """Refuse a graph file of more than MAX_FILE_OPS ops, before any op is validated."""
    if count > MAX_FILE_OPS:
        raise InputError(
            f"{source}: the graph has {count:,} ops; a graph file may hold at most "
            f"{MAX_FILE_OPS:,} (a run of more takes minutes): split the model, simulate "
            "a repeated block and scale, or build the graph in Python (up to "
            f"{MAX_OPS:,} ops)."
        )


Dim = Annotated[int, BeforeValidator(reject_bool)]  # YAML's `true` is not a size of 1


class Tensor(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    shape: tuple[Dim, ...] = Field(min_length=0)
    dtype: Dtype = "fp16"
    const: Flag = False

    @field_validator("shape")
    @classmethod
    def _positive_dims(cls, shape: tuple[int, ...]) -> tuple[int, ...]:
        if any(d < 1 for d in shape):
            raise ValueError(f"every dimension must be >= 1, got {list(shape)}")
        if numel(shape) > 2**50:
            raise ValueError(f"shape {list(shape)} has more than 2^50 elements")
        return shape

    @cached_property
    def numel(self) -> int:
        return numel(self.shape)

    @cached_property
    def nbytes(self) -> float:
        return self.numel * DTYPE_BYTES[self.dtype]


class Derived(NamedTuple):
    """An op's numbers, derived once by the graph that owns it."""

    stats: OpStats
    dtype: str
    read_bytes: float  # minimal: each input once
    write_bytes: float


class Op(BaseModel):
    """One node. Derived numbers (`macs`, `ops`, `op_class`, `gemm`, bytes) are filled in
    by the graph that owns the op, from the op's kind and its input tensors."""

    model_config = ConfigDict(extra="forbid")

    name: Name = Field(min_length=1)
    kind: OpKind
    inputs: list[Name]
    outputs: list[Name] = Field(min_length=1)
    attrs: dict[str, Any] = Field(default_factory=dict)

    # computed by the graph that owns the op, never read from a file nor written to one;
    # a plain field, since the simulator reads it for every op of a huge graph
    derived: Any = Field(default=None, exclude=True, repr=False)

    @field_validator("derived", mode="before")
    @classmethod
    def _computed(cls, value: Any) -> Any:
        if value is not None and not isinstance(value, Derived):
            raise ValueError("is computed from the op's kind and inputs; do not give it")
        return value

    def _numbers(self) -> Derived:
        if self.derived is None:
            raise RuntimeError(f"op {self.name!r} is not part of a validated graph")
        return self.derived

    @property
    def stats(self) -> OpStats:
        return self._numbers().stats

    @property
    def macs(self) -> int:
        return self.stats.macs

    @property
    def ops(self) -> int:
        return self.stats.ops

    @property
    def op_class(self) -> str:
        return self.stats.op_class

    @property
    def gemm(self):
        return self.stats.gemm

    @property
    def dtype(self) -> str:
        """The dtype the op computes in (its first input's, unless `attrs.dtype` says)."""
        return self._numbers().dtype

    @property
    def read_bytes(self) -> float:
        """Minimal bytes read: each input once (only the gathered rows of an embedding)."""
        return self._numbers().read_bytes

    @property
    def write_bytes(self) -> float:
        return self._numbers().write_bytes

    @property
    def accelerated(self) -> bool:
        """False for a custom op declared as running only on the host CPU."""
        return bool(self.attrs.get("accelerated", True))


class Totals(NamedTuple):
    """A graph's sums over its ops, derived once (see `Graph.totals`)."""

    macs: int
    ops: int
    dtype: str  # the dtype most MACs (or, without MACs, most ops) are computed in


class Graph(BaseModel):
    """Derived figures (`order`, `totals`) are computed once and kept; assigning a field,
    or a copy with fields replaced, forgets them. A validated graph's lists are not to be
    changed in place: build a new graph (its ops' numbers are derived by validation, too)."""

    model_config = ConfigDict(extra="forbid")

    name: Name = Field(min_length=1)
    tensors: dict[Name, Tensor]
    inputs: list[Name] = []
    outputs: list[Name] = []
    ops: list[Op] = Field(min_length=1)

    _order: list[Op] | None = PrivateAttr(default=None)
    _totals: Totals | None = PrivateAttr(default=None)

    def __setattr__(self, name: str, value: Any) -> None:
        super().__setattr__(name, value)
        if name in type(self).model_fields:
            self._forget()

    def model_copy(self, *, update: Mapping[str, Any] | None = None, deep: bool = False) -> Graph:
        copied = super().model_copy(update=update, deep=deep)
        if update:
            copied._forget()
        return copied

    def _forget(self) -> None:
        """Drop what was derived from the fields (see the class docstring)."""
        self._order = None
        self._totals = None

    @model_validator(mode="before")
    @classmethod
    def _size(cls, data: Any) -> Any:
        """Refuse a graph over MAX_OPS ops or MAX_TENSORS tensors before reading any."""
        if isinstance(data, dict):
            for key, limit in (("ops", MAX_OPS), ("tensors", MAX_TENSORS)):
                items = data.get(key)
                if isinstance(items, list | dict) and len(items) > limit:
                    raise ValueError(
                        f"the graph has {len(items):,} {key}; topsim takes at most {limit:,} "
                        "(split the model, or simulate a repeated block and scale)"
                    )
        return data

    @model_validator(mode="after")
    def _check(self) -> Graph:
        self._check_names()
        shared: dict[tuple, Derived] = {}  # repeated layers share one record (it is immutable)
        for op in self.ops:
            self._derive(op, shared)
        self._check_outputs()
        _ = self.order
        self._check_orphans()
        return self

    def _check_names(self) -> None:
        producers: dict[str, str] = {}
        seen_ops: set[str] = set()
        for name in self.inputs:
            if name not in self.tensors:
                raise ValueError(f"inputs: tensor {name!r} is not declared in tensors")
            producers[name] = "graph input"
        for op in self.ops:
            if op.name in seen_ops:
                raise ValueError(f"op name {op.name!r} is used twice")
            seen_ops.add(op.name)
            for t in op.inputs + op.outputs:
                if t not in self.tensors:
                    raise ValueError(f"op {op.name!r}: tensor {t!r} is not declared in tensors")
            for t in op.outputs:
                if t in producers or self.tensors[t].const:
                    first = producers.get(t, "a const declaration")
                    raise ValueError(f"op {op.name!r}: tensor {t!r} is already produced by {first}")
                producers[t] = op.name
        for op in self.ops:
            for t in op.inputs:
                if t not in producers and not self.tensors[t].const:
                    raise ValueError(
                        f"op {op.name!r}: input {t!r} is dangling: no op produces it, "
                        "and it is neither a graph input nor const"
                    )
        for name in self.outputs:
            if name not in producers:
                raise ValueError(f"outputs: tensor {name!r} is not produced by any op")

    def _check_orphans(self) -> None:
        """A declared tensor nothing produces (and no op reads: that is 'dangling')."""
        produced = set(self.inputs) | {t for op in self.ops for t in op.outputs}
        for name, tensor in self.tensors.items():
            if name not in produced and not tensor.const:
                raise ValueError(
                    f"tensor {name!r} is declared but nothing produces it: it is no op's "
                    "output, not a graph input and not const (remove it, or list it in inputs)"
                )

    def _derive(self, op: Op, shared: dict[tuple, Derived]) -> None:
        tensors = self.tensors
        ins = [tensors[t] for t in op.inputs]
        outs = [tensors[t] for t in op.outputs]
        shapes = [t.shape for t in ins]
        try:
            stats = infer(op.kind, shapes, op.attrs)
        except OpShapeError as exc:
            raise ValueError(f"op {op.name!r} ({op.kind}): {exc}") from None
        except (TypeError, ValueError, IndexError, OverflowError, ZeroDivisionError):
            # a combination of shapes and attributes no check above names: still the user's
            raise ValueError(
                f"op {op.name!r} ({op.kind}): its inputs {[list(s) for s in shapes]} and "
                f"attributes do not fit a {op.kind} op (see the graph schema in README.md)"
            ) from None
        if len(stats.out_shapes) != len(outs):
            raise ValueError(
                f"op {op.name!r} ({op.kind}) makes {len(stats.out_shapes)} outputs "
                f"but lists {len(outs)}"
            )
        for name, tensor, shape in zip(op.outputs, outs, stats.out_shapes, strict=True):
            if tensor.shape != tuple(shape):
                raise ValueError(
                    f"op {op.name!r} ({op.kind}): output {name!r} is declared "
                    f"{list(tensor.shape)} but the op makes {list(shape)}"
                )
        dtype = op.attrs.get("dtype") or (ins or outs)[0].dtype
        if not isinstance(dtype, str) or dtype not in DTYPE_BYTES:
            raise ValueError(
                f"op {op.name!r}: unknown dtype {str(dtype)[:40]!r} in attribute 'dtype'; "
                f"allowed: {', '.join(DTYPE_BYTES)}"
            )
        if op.kind == "embedding":  # the table's gathered rows: as many as it writes
            read = ins[0].nbytes + outs[0].nbytes
        else:  # each input once
            read = 0.0
            for t in dict.fromkeys(op.inputs):
                read += tensors[t].nbytes
        write = sum(t.nbytes for t in outs)
        if stats.is_view:
            read = write = 0.0
        key = (id(stats), dtype, read, write)  # stats: one object per distinct op (infer)
        derived = shared.get(key)
        if derived is None:
            derived = shared[key] = Derived(stats, dtype, read, write)
        op.derived = derived

    def _check_outputs(self) -> None:
        if not self.outputs:
            consumed = {t for op in self.ops for t in op.inputs}
            self.outputs = [t for op in self.ops for t in op.outputs if t not in consumed]

    @property
    def order(self) -> list[Op]:
        """Ops in a topological order; among ops ready at the same time, the one listed
        first in `ops` goes first (the program order of the network's author)."""
        if self._order is None:
            self._order = self._topological()
        return self._order

    def _topological(self) -> list[Op]:
        producer = {t: i for i, op in enumerate(self.ops) for t in op.outputs}
        waiting = [0] * len(self.ops)
        consumers: list[list[int]] = [[] for _ in self.ops]
        for i, op in enumerate(self.ops):
            for p in {producer[t] for t in op.inputs if t in producer}:
                consumers[p].append(i)
                waiting[i] += 1
        ready = [i for i, n in enumerate(waiting) if n == 0]
        heapq.heapify(ready)
        order: list[Op] = []
        while ready:
            i = heapq.heappop(ready)
            order.append(self.ops[i])
            for c in consumers[i]:
                waiting[c] -= 1
                if waiting[c] == 0:
                    heapq.heappush(ready, c)
        if len(order) != len(self.ops):
            stuck = sorted(self.ops[i].name for i, k in enumerate(waiting) if k > 0)
            raise ValueError(f"the graph has a cycle through op(s) {', '.join(stuck[:5])}")
        return order

    @property
    def totals(self) -> Totals:
        """MACs, ops and main dtype of the whole graph (a simulation reads them per run)."""
        if self._totals is None:
            self._totals = self._summed()
        return self._totals

    def _summed(self) -> Totals:
        weight: dict[str, int] = {}
        macs = ops = 0
        for op in self.ops:
            stats = op.stats
            macs += stats.macs
            ops += stats.ops
            weight[op.dtype] = weight.get(op.dtype, 0) + (stats.macs or stats.ops) + 1
        dtype = max(sorted(weight), key=lambda d: weight[d])
        return Totals(macs=macs, ops=ops, dtype=dtype)

    @property
    def macs(self) -> int:
        return self.totals.macs

    @property
    def total_ops(self) -> int:
        return self.totals.ops

    @property
    def params(self) -> int:
        return sum(t.numel for t in self.tensors.values() if t.const)

    @property
    def dtype(self) -> str:
        """The dtype most MACs (or, without MACs, most ops) are computed in."""
        return self.totals.dtype

    @property
    def input_bytes(self) -> float:
        return sum(self.tensors[t].nbytes for t in self.inputs)

    @property
    def output_bytes(self) -> float:
        return sum(self.tensors[t].nbytes for t in self.outputs)

    def to_dict(self) -> dict:
        """The file schema: plain lists and scalars, defaults left out."""
        data = self.model_dump(mode="json", exclude_defaults=True)
        data["tensors"] = {
            n: {
                "shape": list(t.shape),
                **({"dtype": t.dtype}),
                **({"const": True} if t.const else {}),
            }
            for n, t in self.tensors.items()
        }
        return data
