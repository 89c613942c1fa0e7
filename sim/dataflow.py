"""Where each tensor's data lives and who reads it, seen through free views.

Reshape-like views (`stats.is_view`) share their input's memory: every tensor maps to its
view root, the tensor that owns the bytes. Fusion and lowering reason about roots only.
"""

from __future__ import annotations

from dataclasses import dataclass

from workloads.graph import Graph, Op


@dataclass(frozen=True, slots=True)
class Dataflow:
    roots: dict[str, str]  # tensor -> its view root (tensors that own their bytes are absent)
    producer: dict[str, Op]  # view root -> the non-view op that writes it
    readers: dict[str, tuple[str, ...]]  # view root -> names of the non-view ops reading it
    inputs: frozenset[str]  # view roots of the graph inputs
    outputs: frozenset[str]  # view roots of the graph outputs

    def root(self, tensor: str) -> str:
        return self.roots.get(tensor, tensor)


def dataflow(graph: Graph) -> Dataflow:
    roots: dict[str, str] = {}
    producer: dict[str, Op] = {}
    readers: dict[str, list[str]] = {}
    for op in graph.order:
        if op.stats.is_view:
            roots[op.outputs[0]] = roots.get(op.inputs[0], op.inputs[0])
            continue
        name = op.name
        for t in op.inputs:
            names = readers.setdefault(roots.get(t, t), [])
            if not names or names[-1] != name:
                names.append(name)
        for t in op.outputs:
            producer[t] = op
    return Dataflow(
        roots=roots,
        producer=producer,
        readers={tensor: tuple(names) for tensor, names in readers.items()},
        inputs=frozenset(roots.get(t, t) for t in graph.inputs),
        outputs=frozenset(roots.get(t, t) for t in graph.outputs),
    )
