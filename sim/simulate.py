"""`simulate(graph, chip, ...)`: the one entry point, running the pipeline in order."""

from __future__ import annotations

import math
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from hardware.chip import DTYPE_BYTES, Chip
from hardware.errors import InputError
from sim.account import LOSS_CATEGORIES, account
from sim.engine import Engine, EngineOptions, Trace
from sim.fuse import group_ops
from sim.lower import Kernel, assign_units, lower
from sim.result import OpRow, Result, Segment, UnitUsage
from workloads.graph import Graph


class SimOptions(BaseModel):
    """How to run: fusion mode, double buffering, launch mode, where the input starts.

    By default the input is already in device memory, as a latency benchmark measures;
    `load_input=True` first brings it from the chip's input source over the host link.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    fusion: Literal["none", "epilogue", "greedy"] = "epilogue"
    overlap: bool = True
    graph_launch: bool = False
    load_input: bool = False
    dtype: str | None = None  # the dtype the peak is quoted in; default: the graph's
    batches: int = Field(default=1, ge=1)


def simulate(graph: Graph, chip: Chip, options: SimOptions | None = None, **kwargs) -> Result:
    """Run `graph` on `chip`; keyword arguments are SimOptions fields."""
    if options is None:
        try:
            options = SimOptions(**kwargs)
        except Exception as exc:  # pydantic ValidationError: a user mistake in an option
            raise InputError(f"simulation options: {exc}".splitlines()[0] + ".") from None
    elif kwargs:
        options = options.model_copy(update=kwargs)
    dtype = options.dtype or graph.dtype
    if dtype not in DTYPE_BYTES:
        raise InputError(f"dtype {dtype!r} is unknown; allowed: {', '.join(DTYPE_BYTES)}.")
    peak = chip.peak_ops(dtype)
    if peak <= 0:
        raise InputError(f"chip {chip.name!r} has no peak rate for dtype {dtype!r}; its peak "
                         f"units support {', '.join(chip.dtypes()) or 'nothing'}.")
    assignment = assign_units(graph, chip)
    groups = group_ops(graph, chip, assignment, options.fusion)
    kernels = lower(graph, chip, groups, assignment)
    engine_options = EngineOptions(overlap=options.overlap, graph_launch=options.graph_launch,
                                   inputs_on_device=not options.load_input,
                                   input_bytes=graph.input_bytes)
    trace = Engine(chip, kernels, engine_options).run()
    books = account(kernels, trace, chip, dtype, options.overlap)
    return _result(graph, chip, options, dtype, peak, kernels, trace, books)


def _batch(graph: Graph) -> int:
    shapes = [graph.tensors[t].shape for t in graph.inputs]
    return shapes[0][0] if shapes and shapes[0] else 1


def _result(graph, chip, options, dtype, peak, kernels: list[Kernel], trace: Trace, books) -> Result:
    latency = trace.end
    total_ops = float(graph.total_ops)
    rows = [_row(k, trace, books.kernel_losses[k.index], books.gap_losses[k.index])
            for k in kernels]
    units = []
    for name, unit in chip.units.items():
        records = [trace.records[k.index] for k in kernels if k.unit == name]
        busy = sum(r.end - r.start for r in records)
        units.append(UnitUsage(name=name, peak=unit.peak, host=unit.host, instances=unit.instances,
                               kernels=len(records), busy_s=busy,
                               utilization=busy / latency if latency else 0.0,
                               useful_ops=books.unit_useful.get(
                                   name, sum(k.useful_ops for k in kernels if k.unit == name))))
    offloaded = sum(k.useful_ops for k in kernels if not chip.units[k.unit].peak)
    losses = {c: books.losses_ops[c] for c in LOSS_CATEGORIES}
    batch = _batch(graph)
    return Result(
        workload=graph.name, chip=chip.name, dtype=dtype, batch=batch, fusion=options.fusion,
        overlap=options.overlap, graph_launch=options.graph_launch or chip.launch.graph_launch,
        latency_s=latency, throughput=batch / latency if latency else 0.0, total_ops=total_ops,
        useful_ops=books.useful_ops, offloaded_ops=offloaded, peak_ops=peak,
        delivered_ops_per_s=total_ops / latency if latency else 0.0,
        efficiency=total_ops / latency / peak if latency else 0.0,
        losses_ops=losses, losses_s={c: v / peak for c, v in losses.items()},
        kernels=len(kernels), launches=len(trace.launches),
        dram_bytes=sum(k.dram_bytes for k in kernels), events=trace.events,
        ops=rows, units=units, timeline=_segments(kernels, trace),
    )


def _row(kernel: Kernel, trace: Trace, losses: dict[str, float], gap: dict[str, float]) -> OpRow:
    """A kernel's row: its bound from what happened inside it; its losses include the idle
    time before it that it was waiting for (launch, producers, input)."""
    record = trace.records[kernel.index]
    useful = kernel.useful_ops
    if kernel.host:
        bound = "host"
    else:
        shares = dict(losses)
        shares["compute"] = sum(v for k, v in losses.items() if k in ("unspecialized", "shape",
                                                                       "thermal")) + useful
        for k in ("unspecialized", "shape", "thermal"):
            shares.pop(k, None)
        bound = max(sorted(shares), key=lambda k: shares[k]) if shares else "compute"
    intensity = useful / kernel.dram_bytes if kernel.dram_bytes else math.inf
    return OpRow(name=kernel.name, kinds=list(kernel.kinds), unit=kernel.unit, start_s=record.start,
                 end_s=record.end, ops=useful, dram_bytes=kernel.dram_bytes,
                 onchip_bytes=kernel.onchip_bytes,
                 intensity=min(intensity, 1e30), compute_s=record.compute_s,
                 memory_s=record.memory_s, bound=bound,
                 losses_ops={k: losses.get(k, 0.0) + gap.get(k, 0.0)
                             for k in sorted(set(losses) | set(gap))})


def _segments(kernels: list[Kernel], trace: Trace) -> list[Segment]:
    segments = [Segment(track=k.unit, start_s=trace.records[k.index].start,
                        end_s=trace.records[k.index].end, label=k.name, kind="kernel")
                for k in kernels]
    segments += [Segment(track="launcher", start_s=s, end_s=e, label=kernels[i].name, kind="launch")
                 for s, e, i in trace.launches if e > s]
    segments += [Segment(track=t.track, start_s=t.start, end_s=t.end, label=t.label,
                         kind="input" if t.track == "input" else "transfer")
                 for t in trace.transfers]
    return sorted(segments, key=lambda s: (s.start_s, s.track, s.label))
