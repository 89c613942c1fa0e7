"""Fusion: which ops share one kernel (one launch, no DRAM round trip in between).

- `none`: every op is its own kernel.
- `epilogue`: an elementwise op (activation, bias, batch norm, residual add, gating
  multiply) joins the kernel that produces one of its inputs, when that tensor has no
  other reader and both run on the same unit; the intermediate stays in registers.
- `greedy`: additionally any op joins such a producer when the tensor between them fits
  in half the on-chip memory (the other half holds the operands being streamed).
Host ops are never fused: each is a synchronisation point. Reshape-like views are free
and belong to no kernel: fusion sees through them to the op that made the data.

The rule that keeps the kernel graph a DAG: kernels are numbered as they are created,
and an op may only join the newest of the kernels that produce its inputs. Every kernel
then reads only from older kernels, so creation order is a topological order (kernels
are issued in it) and every fused group is convex: no path leaves a group and comes back.
"""

from __future__ import annotations

from typing import Literal, get_args

from hardware.chip import Chip
from sim.dataflow import Dataflow
from workloads.graph import Graph, Op
from workloads.ops import BINARY_FLOPS, UNARY_FLOPS

FusionMode = Literal["none", "epilogue", "greedy"]
FUSION_MODES: tuple[str, ...] = get_args(FusionMode)
EPILOGUE_KINDS = frozenset(UNARY_FLOPS) | frozenset(BINARY_FLOPS) | {"batchnorm"}


def group_ops(
    graph: Graph, chip: Chip, assignment: dict[str, str], mode: str, flow: Dataflow
) -> list[list[Op]]:
    """Non-view ops partitioned into kernels, in a topological (execution) order."""
    members = [op for op in graph.order if not op.stats.is_view]
    if mode == "none":
        return [[op] for op in members]
    budget = chip.memory.onchip_bytes() / 2
    group_of: dict[str, int] = {}
    groups: list[list[Op]] = []
    producer, root_of = flow.producer, flow.roots.get  # root_of(t, t) is flow.root(t)
    hosts = {name for name, unit in chip.units.items() if unit.host}
    for op in members:
        sources = []
        for t in op.inputs:
            root = root_of(t, t)
            if root in producer:
                sources.append((group_of[producer[root].name], root))
        target = None
        if sources and assignment[op.name] not in hosts:
            newest = max(index for index, _ in sources)
            if any(
                index == newest
                and _joins(op, flow.producer[root], mode, chip, assignment)
                and _private(op, root, flow, graph, budget)
                for index, root in sources
            ):
                target = newest
        if target is None:
            target = len(groups)
            groups.append([])
        groups[target].append(op)
        group_of[op.name] = target
    return groups


def _joins(op: Op, source: Op, mode: str, chip: Chip, assignment: dict[str, str]) -> bool:
    """Same unit, not the host, and the mode lets this kind of op join."""
    unit = assignment[source.name]
    if unit != assignment[op.name] or chip.units[unit].host:
        return False
    return mode == "greedy" or (mode == "epilogue" and op.kind in EPILOGUE_KINDS)


def _private(op: Op, tensor: str, flow: Dataflow, graph: Graph, budget: float) -> bool:
    """The tensor between producer and `op` never leaves the kernel: `op` is its only
    reader, it is not a graph output, and it stays in registers (an epilogue) or, in greedy
    mode, fits the on-chip budget."""
    if tensor in flow.outputs or flow.readers.get(tensor, (op.name,)) != (op.name,):
        return False
    return op.kind in EPILOGUE_KINDS or graph.tensors[tensor].nbytes <= budget
