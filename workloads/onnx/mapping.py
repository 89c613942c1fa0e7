"""How ONNX op types find their mappers, and how a node's attributes reach them.

A mapper is a plain function `(importer, node, *, attribute=default, ...)`: its keyword-only
parameters are the ONNX attributes it reads, with the spec's defaults, so the signature
documents the op and no mapper digs in `node.attrs`. Attributes it does not name are left
out, as ONNX runtimes ignore them; string attributes arrive as `str`.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass

from hardware.errors import InputError
from workloads.onnx.read import Node, label
from workloads.onnx.state import ImportState

MapperFn = Callable[..., None]


@dataclass(frozen=True)
class Mapper:
    """A mapper function and the attributes it takes, each with the Python type its
    annotation names (`int`, `float`, `str`, or `list` for a sequence)."""

    fn: MapperFn
    attributes: dict[str, type]

    def __call__(self, imp: ImportState, node: Node) -> None:
        kwargs = {k: _text(v) for k, v in node.attrs.items() if k in self.attributes}
        for name, value in kwargs.items():
            expected = self.attributes[name]
            if not _fits(value, expected):
                raise InputError(
                    f"{imp.source}: node {label(node)} ({node.op_type}): attribute {name!r} "
                    f"is {value!r}; {node.op_type} takes {_NOUNS[expected]} there."
                )
        self.fn(imp, node, **kwargs)


_NOUNS = {int: "an integer", float: "a number", str: "a string", list: "a list of integers"}


def _kind(annotation: str) -> type:
    """The attribute type a mapper's parameter annotation names (a string: PEP 563)."""
    for marker, kind in (("Sequence", list), ("float", float), ("str", str)):
        if marker in annotation:
            return kind
    return int


def _fits(value, expected: type) -> bool:
    if expected is list:
        return isinstance(value, list) and all(isinstance(v, int) for v in value)
    if expected is float:
        return isinstance(value, int | float)
    return isinstance(value, expected)


def _text(value):
    return value.decode() if isinstance(value, bytes) else value


class Mappers(dict[str, Mapper]):
    """ONNX op type -> its mapper, filled by `register`."""

    def register(self, *op_types: str) -> Callable[[MapperFn], MapperFn]:
        """A decorator: the function maps nodes of these op types."""

        def add(fn: MapperFn) -> MapperFn:
            params = inspect.signature(fn).parameters.values()
            mapper = Mapper(
                fn, {p.name: _kind(str(p.annotation)) for p in params if p.kind == p.KEYWORD_ONLY}
            )
            for op_type in op_types:
                if op_type in self:
                    raise ValueError(f"two mappers for ONNX op {op_type}")
                self[op_type] = mapper
            return fn

        return add

    @classmethod
    def merge(cls, *tables: Mappers) -> Mappers:
        """One table from several; an op type in two of them is a programming error."""
        merged = cls()
        for table in tables:
            for op_type, mapper in table.items():
                if op_type in merged:
                    raise ValueError(f"two mappers for ONNX op {op_type}")
                merged[op_type] = mapper
        return merged
