"""Decomposed activations and norms, recognised so each becomes one topsim op.

Exporters spell GELU (erf or tanh form), SiLU, hard-swish, LayerNorm and RMSNorm as chains
of elementwise nodes. Mapped node by node they would cost a kernel and a round trip to
memory each, which no runtime pays: runtimes fuse them, so the import does too.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from workloads.onnx.fold import NONDETERMINISTIC
from workloads.onnx.read import Node, Unmappable
from workloads.onnx.state import ImportState
from workloads.ops import numel

REGION_LIMIT = 14  # nodes in a recognised GELU / norm subgraph
READER_LIMIT = 64  # readers of a tensor a region grows forward from (keeps the search linear)

ELEMENTWISE_TYPES = {
    "Add",
    "Sub",
    "Mul",
    "Div",
    "Pow",
    "Sqrt",
    "Erf",
    "Tanh",
    "Sigmoid",
    "ReduceMean",
    "Reciprocal",
    "Neg",
    "Clip",
    "HardSigmoid",
}
# anchor -> (node types a region may grow backward through, and forward through)
ANCHORS: dict[str, tuple[set[str], set[str]]] = {
    "Erf": ({"Div", "Mul"}, {"Add", "Mul", "Div"}),
    "Tanh": ({"Pow", "Mul", "Add"}, {"Add", "Mul"}),
    "Sigmoid": (set(), {"Mul"}),
    "HardSigmoid": (set(), {"Mul"}),
    "Clip": ({"Add"}, {"Mul", "Div"}),
    "ReduceMean": (
        {"Pow", "Mul"},
        {"Sub", "Pow", "Mul", "ReduceMean", "Add", "Sqrt", "Div", "Reciprocal"},
    ),
}


@dataclass
class Region:
    kind: str
    x: str
    params: list[str]
    output: str
    members: set[int]
    nodes: list[Node]


def find_fusions(nodes: list[Node], importer: ImportState) -> dict[int, Region]:
    """Decomposed activations and norms: output node index -> the region it closes.

    A region grows backward from an anchor (Erf, Tanh, Sigmoid, ReduceMean ...) through
    elementwise producers whose outputs only it reads, which leaves one non-constant
    input x; then forward through elementwise nodes that read only x, constants and the
    region. It is accepted when exactly one of its tensors is read outside it.
    """
    const = _static_consts(nodes, importer)
    producer = {o: n for n in nodes for o in n.outputs if o}
    readers: dict[str, list[Node]] = {}
    for n in nodes:
        for t in dict.fromkeys(n.inputs):
            if t:
                readers.setdefault(t, []).append(n)
    graph_outputs = {o.name for o in importer.model.graph.output}
    position = {n.index: p for p, n in enumerate(nodes)}
    taken: set[int] = set()
    found: dict[int, Region] = {}
    for anchor in nodes:
        if anchor.op_type not in ANCHORS or anchor.index in taken:
            continue
        region = _grow(anchor, producer, readers, const, graph_outputs, importer)
        if region is not None and not region.members & taken:
            taken |= region.members
            found[max(region.members, key=position.__getitem__)] = region
    return found


def _static_consts(nodes: list[Node], importer: ImportState) -> set[str]:
    const = set(importer.const_shapes)
    for n in nodes:
        data = [t for t in n.inputs if t]
        if n.op_type in ("Shape", "Size") or (
            n.op_type not in NONDETERMINISTIC and all(t in const for t in data)
        ):
            const.update(o for o in n.outputs if o)
    return const


def _eligible(node: Node, importer: ImportState, types: set[str] | None = None) -> bool:
    if node.op_type not in (ELEMENTWISE_TYPES if types is None else types):
        return False
    if node.domain not in ("", "ai.onnx"):
        return False
    if node.op_type == "ReduceMean":
        axes = node.attrs.get("axes")
        if axes is None and len(node.inputs) > 1:
            value = importer.values.get(node.inputs[1])
            axes = None if value is None else list(value.reshape(-1))
        if axes is None or len(axes) != 1:
            return False
        try:
            rank = len(importer.shape(node.inputs[0]))
        except Unmappable:
            return False
        if rank == 0:
            return False
        return int(axes[0]) % rank == rank - 1 and node.attrs.get("keepdims", 1) == 1
    return True


def _grow(
    anchor: Node, producer, readers, const: set[str], graph_outputs: set[str], importer: ImportState
) -> Region | None:
    if not _eligible(anchor, importer):
        return None
    backward_types, forward_types = ANCHORS[anchor.op_type]
    members = {anchor.index: anchor}
    changed = True
    while changed:  # backward: producers read only by the region
        if len(members) > REGION_LIMIT:
            return None
        changed = False
        for node in list(members.values()):
            for t in node.inputs:
                p = producer.get(t)
                if (
                    p is None
                    or p.index in members
                    or t in const
                    or t in graph_outputs
                    or not _eligible(p, importer, backward_types)
                ):
                    continue
                if all(r.index in members for r in readers.get(t, [])):
                    members[p.index] = p
                    changed = True
    inside = {o for n in members.values() for o in n.outputs if o}
    outer = {
        t for n in members.values() for t in n.inputs if t and t not in inside and t not in const
    }
    if len(outer) != 1:
        return None
    x = outer.pop()
    changed = True
    while changed and len(members) <= REGION_LIMIT:  # forward: nodes reading only x / region
        changed = False
        for t in [x, *sorted(inside)]:
            if len(readers.get(t, [])) > READER_LIMIT:
                continue  # a tensor many nodes read (a residual stream) starts no region
            for r in readers.get(t, []):
                if r.index in members or not _eligible(r, importer, forward_types):
                    continue
                if all(not i or i == x or i in inside or i in const for i in r.inputs):
                    members[r.index] = r
                    inside.update(o for o in r.outputs if o)
                    changed = True
    if len(members) < 2 or len(members) > REGION_LIMIT:
        return None
    escaping = [
        t
        for t in inside
        if t in graph_outputs or any(r.index not in members for r in readers.get(t, []))
    ]
    if len(escaping) != 1:
        return None
    types = Counter(n.op_type for n in members.values())
    kind = _region_kind(anchor, types)
    if kind is None:
        return None
    params: list[str] = []
    if kind in ("layernorm", "rmsnorm"):
        try:
            width = importer.shape(x)[-1]
        except Unmappable:
            return None
        ordered = sorted(members.values(), key=lambda n: n.index)
        for n in ordered:
            if n.op_type not in ("Mul", "Add"):
                continue
            for t in n.inputs:
                if (
                    t in const
                    and t in importer.const_shapes
                    and numel(importer.const_shapes[t]) == width
                    and t not in params
                ):
                    params.append(t)
        params = params[: 2 if kind == "layernorm" else 1]
    nodes = sorted(members.values(), key=lambda n: n.index)
    return Region(kind, x, params, escaping[0], set(members), nodes)


def _region_kind(anchor: Node, types: Counter) -> str | None:
    if anchor.op_type == "Erf" and types["Mul"] >= 1:
        return "gelu"
    if anchor.op_type == "Tanh" and (types["Pow"] or types["Mul"] >= 3) and types["Add"] >= 2:
        return "gelu"
    if (
        anchor.op_type == "Sigmoid"
        and set(types) == {"Sigmoid", "Mul"}
        and sum(types.values()) == 2
    ):
        return "silu"
    if (
        anchor.op_type in ("HardSigmoid", "Clip")
        and types["Mul"] >= 1
        and "ReduceMean" not in types
    ):
        return "hardswish"
    if (
        anchor.op_type == "ReduceMean"
        and types["ReduceMean"] == 2
        and types["Div"] + types["Reciprocal"] + types["Mul"] >= 1
        and types["Sqrt"] <= 1
    ):
        return "layernorm" if types["Sub"] else "rmsnorm"
    if (
        anchor.op_type == "ReduceMean"
        and types["ReduceMean"] == 1
        and types["Sqrt"] == 1
        and (types["Pow"] or types["Mul"] >= 2)
        and not types["Sub"]
    ):
        return "rmsnorm"
    return None
