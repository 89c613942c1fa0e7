"""A graph as PyTorch's automatic mixed precision (autocast) runs it.

Under `torch.autocast` the model keeps its parameters and gets its inputs in fp32; each op
on autocast's lower-precision list (convolutions, matmuls, linear layers) casts its
floating-point operands to the lower precision as it runs, and autocast's weight cache
keeps one cast copy of each parameter for the duration of the autocast region, i.e. one
forward pass (PyTorch documentation, "Automatic Mixed Precision package - torch.amp":
ops that can autocast to float16 include conv2d, linear, matmul; `cache_enabled`, the
weight cache inside autocast, defaults to True and is cleared when the region exits).

`autocast(graph)` makes that explicit: every tensor that a matrix op reads and that is a
const (a weight) or a graph input is stored in `storage` (fp32) and turned into the
graph's own tensor by a `cast` op, once per forward pass however many ops read it. The
compute dtypes are unchanged, so the cast kernels (and their reads of the fp32 copies)
are the whole difference.
"""

from __future__ import annotations

from workloads.graph import Graph, Op, Tensor

CAST_SUFFIX = ".autocast"


def autocast(graph: Graph, storage: str = "fp32") -> Graph:
    """`graph` with each matrix op's weights and inputs stored in `storage` and cast per pass."""
    inputs = set(graph.inputs)
    cast: list[str] = []
    for op in graph.order:
        if op.op_class != "matrix":
            continue
        for name in op.inputs:
            tensor = graph.tensors[name]
            wanted = (tensor.const or name in inputs) and tensor.dtype != storage
            if wanted and name not in cast:
                cast.append(name)
    if not cast:
        return graph
    tensors = dict(graph.tensors)
    stored = {name: f"{name}.{storage}" for name in cast}
    ops: list[Op] = []
    for name in cast:
        tensor = tensors[name]
        tensors[stored[name]] = Tensor(shape=tensor.shape, dtype=storage, const=tensor.const)
        tensors[name] = Tensor(shape=tensor.shape, dtype=tensor.dtype)  # now made per pass
        ops.append(Op(name=name + CAST_SUFFIX, kind="cast", inputs=[stored[name]], outputs=[name]))
    ops += [op.model_copy(update={"derived": None}) for op in graph.ops]
    return Graph(
        name=graph.name,
        tensors=tensors,
        inputs=[stored.get(name, name) for name in graph.inputs],
        outputs=list(graph.outputs),
        ops=ops,
    )
