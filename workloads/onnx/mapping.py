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

from workloads.onnx.read import Node
from workloads.onnx.state import ImportState

MapperFn = Callable[..., None]


@dataclass(frozen=True)
class Mapper:
    """A mapper function and the attribute names it takes."""

    fn: MapperFn
    attributes: frozenset[str]

    def __call__(self, imp: ImportState, node: Node) -> None:
        kwargs = {k: _text(v) for k, v in node.attrs.items() if k in self.attributes}
        self.fn(imp, node, **kwargs)


def _text(value):
    return value.decode() if isinstance(value, bytes) else value


class Mappers(dict[str, Mapper]):
    """ONNX op type -> its mapper, filled by `register`."""

    def register(self, *op_types: str) -> Callable[[MapperFn], MapperFn]:
        """A decorator: the function maps nodes of these op types."""

        def add(fn: MapperFn) -> MapperFn:
            params = inspect.signature(fn).parameters.values()
            mapper = Mapper(fn, frozenset(p.name for p in params if p.kind == p.KEYWORD_ONLY))
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
