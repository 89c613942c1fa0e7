"""Fusion: which ops share one kernel (one launch, no DRAM round trip in between).

- `none`: every op is its own kernel.
- `epilogue`: an elementwise op (activation, bias, batch norm, residual add) joins the
  kernel of the op that produces its main input, when it is that tensor's only reader
  and runs on the same unit; the intermediate stays in registers.
- `greedy`: additionally any op joins its producer's kernel when the tensor between them
  has no other reader, they run on the same unit, and the tensor fits in half the
  on-chip memory (the other half holds the operands being streamed).
Host ops are never fused: each is a synchronisation point.
"""

from __future__ import annotations

from typing import Literal

from hardware.chip import Chip
from sim.lower import consumers, view_roots
from workloads.graph import Graph, Op
from workloads.ops import BINARY_FLOPS, UNARY_FLOPS

FusionMode = Literal["none", "epilogue", "greedy"]
FUSION_MODES: tuple[str, ...] = ("none", "epilogue", "greedy")
EPILOGUE_KINDS = frozenset(UNARY_FLOPS) | frozenset(BINARY_FLOPS) | {"batchnorm"}


def group_ops(graph: Graph, chip: Chip, assignment: dict[str, str], mode: str) -> list[list[Op]]:
    """Ops partitioned into kernels, in execution order."""
    if mode == "none":
        return [[op] for op in graph.order]
    roots = view_roots(graph)
    readers = consumers(graph, roots)
    outputs = {roots.get(t, t) for t in graph.outputs}
    producer = {roots.get(t, t): op for op in graph.ops for t in op.outputs}
    budget = chip.memory.onchip_bytes() / 2
    group_of: dict[str, int] = {}
    groups: list[list[Op]] = []
    for op in graph.order:
        target = None
        if not chip.units[assignment[op.name]].host and op.inputs:
            main = roots.get(op.inputs[0], op.inputs[0])
            source = producer.get(main)
            if source is not None and _joins(
                op, source, main, mode, chip, assignment, readers, outputs, graph, budget
            ):
                target = group_of[source.name]
        if target is None:
            target = len(groups)
            groups.append([])
        groups[target].append(op)
        group_of[op.name] = target
    return [g for g in groups if g]


def _joins(
    op: Op,
    source: Op,
    tensor: str,
    mode: str,
    chip: Chip,
    assignment: dict[str, str],
    readers: dict[str, list[str]],
    outputs: set[str],
    graph: Graph,
    budget: float,
) -> bool:
    if assignment[source.name] != assignment[op.name] or tensor in outputs:
        return False
    if (
        any(r != op.name for r in readers.get(tensor, ()))
        or chip.units[assignment[source.name]].host
    ):
        return False
    if op.stats.is_view or source.stats.is_view:
        return True
    if mode == "epilogue":
        return op.kind in EPILOGUE_KINDS
    # `tensor` is a view root: always a declared tensor of the graph
    return mode == "greedy" and graph.tensors[tensor].nbytes <= budget
