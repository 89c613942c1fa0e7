"""`simulate(graph, chip, ...)`: the one entry point, running the pipeline in order."""

from __future__ import annotations

import gc
import heapq
import math
import statistics
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from hardware.chip import DTYPE_BYTES, Chip
from hardware.errors import InputError
from sim.account import CATEGORY_INDEX, LOSS_CATEGORIES, Accounting, account
from sim.dataflow import dataflow
from sim.engine import Engine, EngineOptions, Trace
from sim.fuse import group_ops
from sim.lower import Kernel, assign_units, decompression_kernel, lower, prepend
from sim.result import (
    BatchStats,
    OpRow,
    Power,
    Result,
    Segment,
    SeriesPoint,
    ThermalPoint,
    UnitUsage,
)
from workloads.graph import Graph

MAX_BATCHES = 10**9  # a stream of more batches than this is a typo, not a question
MAX_DURATION_S = 1e7  # about four months of simulated time
MAX_SERIES = 2000  # points kept in time series (longer ones are thinned evenly)
MAX_ROWS = 5000  # kernel rows kept in a Result: the longest ones (huge graphs stay small)
FAST_FORWARD_BATCHES = 8  # streams longer than this are fast-forwarded unless told not to


class SimOptions(BaseModel):
    """How to run.

    One batch by default, its input already in device memory (as a latency benchmark
    measures). A stream (`batches` > 1 or `duration_s`) loads each batch's input from the
    chip's input source over the host link, `prefetch` batches ahead, unless `load_input`
    says otherwise; `input_compression` R divides the bytes moved by R and adds a
    decompression kernel. Long streams are fast-forwarded (see sim/sustain.py).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    fusion: Literal["none", "epilogue", "greedy"] = "epilogue"
    overlap: bool = True
    graph_launch: bool = False
    load_input: bool | None = None
    dtype: str | None = None  # the dtype the peak is quoted in; default: the graph's
    batches: int = Field(default=1, ge=1, le=MAX_BATCHES)
    duration_s: float | None = Field(default=None, gt=0, le=MAX_DURATION_S, allow_inf_nan=False)
    prefetch: int = Field(default=0, ge=0)
    input_compression: float = Field(default=1.0, ge=1.0, allow_inf_nan=False)
    thermal: bool = True
    fast_forward: bool = True

    @model_validator(mode="after")
    def _stream(self) -> SimOptions:
        if self.duration_s is not None and self.batches == 1:
            object.__setattr__(self, "batches", MAX_BATCHES)
        return self

    @property
    def streaming(self) -> bool:
        return self.batches > 1 or self.duration_s is not None

    @property
    def loads_input(self) -> bool:
        return self.streaming if self.load_input is None else self.load_input


OPTION_FLAGS = {"duration_s": "--duration", "input_compression": "--input-compression"}


def options_from(options: SimOptions | None, kwargs: dict) -> SimOptions:
    try:
        if options is None:
            return SimOptions(**kwargs)
        return SimOptions(**{**options.model_dump(), **kwargs}) if kwargs else options
    except ValidationError as err:
        first = err.errors()[0]
        field = ".".join(str(p) for p in first["loc"]) or "options"
        flag = OPTION_FLAGS.get(field, "--" + field.replace("_", "-"))
        raise InputError(
            f"simulation option {flag} ({field}): {first['msg']} (got {first.get('input')!r})."
        ) from None


def plan(graph: Graph, chip: Chip, options: SimOptions) -> list[Kernel]:
    """Lower and fuse: the per-batch kernel list, with a decompression kernel if asked."""
    stages: dict = {}
    flow = dataflow(graph)
    assignment = assign_units(graph, chip, stages)
    groups = group_ops(graph, chip, assignment, options.fusion, flow)
    kernels = lower(graph, chip, groups, assignment, flow, stages, streaming=options.streaming)
    if options.loads_input and options.input_compression > 1 and graph.input_bytes > 0:
        raw = graph.input_bytes
        kernels = prepend(decompression_kernel(chip, raw / options.input_compression, raw), kernels)
    return kernels


def engine_options(graph: Graph, options: SimOptions, **overrides) -> EngineOptions:
    fields = dict(
        overlap=options.overlap,
        graph_launch=options.graph_launch,
        load_input=options.loads_input,
        input_bytes=graph.input_bytes / options.input_compression,
        batches=options.batches,
        prefetch=options.prefetch,
        duration_s=options.duration_s,
        thermal=options.thermal,
    )
    fields.update(overrides)
    return EngineOptions(**fields)


def simulate(graph: Graph, chip: Chip, options: SimOptions | None = None, **kwargs) -> Result:
    """Run `graph` on `chip`; keyword arguments are SimOptions fields."""
    # the graph and chip outlive the run: keep the cycle collector off them (it would walk
    # every op of a huge graph on each full pass) while it still frees the engine's garbage
    gc.freeze()
    try:
        return _simulate(graph, chip, options, kwargs)
    finally:
        gc.unfreeze()


def _simulate(graph: Graph, chip: Chip, options: SimOptions | None, kwargs: dict) -> Result:
    options = options_from(options, kwargs)
    dtype = options.dtype or graph.dtype
    if dtype not in DTYPE_BYTES:
        raise InputError(f"dtype {dtype!r} is unknown; allowed: {', '.join(DTYPE_BYTES)}.")
    peak = chip.peak_ops(dtype)
    if peak <= 0:
        raise InputError(
            f"chip {chip.name!r} has no peak rate for dtype {dtype!r}; its peak "
            f"units support {', '.join(chip.dtypes()) or 'nothing'}."
        )
    kernels = plan(graph, chip, options)
    long_stream = options.duration_s is not None or options.batches > FAST_FORWARD_BATCHES
    if options.fast_forward and long_stream:
        from sim.sustain import sustained

        return sustained(graph, chip, options, dtype, peak, kernels)
    trace, books = run_engine(graph, chip, options, dtype, kernels)
    return build_result(graph, chip, options, dtype, peak, kernels, trace, books)


def run_engine(
    graph: Graph, chip: Chip, options: SimOptions, dtype: str, kernels: list[Kernel], **overrides
) -> tuple[Trace, Accounting]:
    """One discrete-event run (EngineOptions `overrides` on top of `options`), accounted."""
    trace = Engine(chip, kernels, engine_options(graph, options, **overrides)).run()
    books = account(
        kernels,
        trace,
        chip,
        dtype,
        options.overlap,
        serial_input=options.loads_input and options.prefetch == 0,
    )
    return trace, books


def dram_bytes(kernels: list[Kernel], batches: int) -> float:
    """DRAM bytes of a run of `batches` batches (later ones may find tensors on chip)."""
    first = sum(k.traffic(0) for k in kernels)
    return first + sum(k.traffic(1) for k in kernels) * (batches - 1)


def batch_stats(latencies: list[float]) -> BatchStats:
    return BatchStats(
        count=len(latencies),
        first_s=latencies[0],
        median_s=statistics.median(latencies),
        last_s=latencies[-1],
    )


def thin(points: list, limit: int = MAX_SERIES) -> list:
    """At most `limit` evenly spaced points, always keeping the last."""
    if len(points) <= limit:
        return points
    step = len(points) / limit
    kept = [points[int(i * step)] for i in range(limit - 1)]
    return kept + [points[-1]]


def clock_label(hz: float) -> str:
    return f"{hz / 1e6:.0f} MHz"


def power_report(
    chip: Chip,
    energy_j: float,
    duration_s: float,
    level_s: list[float],
    trace: list[tuple[float, float, float, float]],
    max_temperature: float | None,
) -> Power | None:
    if chip.thermal is None:
        return None
    static = chip.thermal.static_power
    average = static + energy_j / duration_s if duration_s else static
    levels = chip.clock.levels()
    spent: dict[str, float] = {}
    for level, seconds in zip(levels, level_s, strict=True):
        if seconds > 0:
            spent[clock_label(level.frequency)] = (
                spent.get(clock_label(level.frequency), 0) + seconds
            )
    points = [
        ThermalPoint(time_s=t, temperature_c=temp, clock_hz=f, power_w=p)
        for t, temp, f, p in thin(trace)
    ]
    peak = max([p for *_, p in trace] + [average])
    return Power(
        energy_j=energy_j + static * duration_s,
        average_w=average,
        peak_w=peak,
        max_temperature_c=max_temperature,
        seconds_per_clock=spent,
        trace=points,
    )


def build_result(
    graph: Graph,
    chip: Chip,
    options: SimOptions,
    dtype: str,
    peak: float,
    kernels: list[Kernel],
    trace: Trace,
    books: Accounting,
    **stream: object,
) -> Result:
    """The Result of one DES run (a stream's fast-forward passes its totals in `stream`)."""
    duration = trace.end
    per_batch = len(kernels)
    first = trace.records[:per_batch]
    kept = kernels
    if len(kernels) > MAX_ROWS:
        longest = sorted(
            kernels, key=lambda k: (first[k.index].start - first[k.index].end, k.index)
        )
        kept = sorted(longest[:MAX_ROWS], key=lambda k: k.index)
    rows = [
        _row(k, first[k.index], books.kernel_losses(k.index), books.gap_losses(k.index))
        for k in kept
    ]
    units = []
    launch = CATEGORY_INDEX["launch"]
    for name, unit in chip.units.items():
        records = [r for r in trace.records if r.unit == name]
        busy = sum(r.end - r.compute_start for r in records)
        waited = sum(books.before[k.index, launch] for k in kernels if k.unit == name)
        units.append(
            UnitUsage(
                name=name,
                peak=unit.peak,
                host=unit.host,
                instances=unit.instances,
                kernels=len(records),
                busy_s=busy,
                overhead_s=sum(r.compute_start - r.start for r in records),
                launch_wait_s=_seconds_of(waited, chip, name, dtype) if unit.peak else 0.0,
                utilization=busy / duration if duration else 0.0,
                useful_ops=books.unit_useful.get(
                    name, sum(kernels[r.kernel].useful_ops for r in records)
                ),
            )
        )
    batches = len(trace.batches)
    items = _batch(graph) * batches
    total_ops = float(graph.total_ops) * batches
    offloaded = sum(
        kernels[r.kernel].useful_ops for r in trace.records if not chip.units[r.unit].peak
    )
    losses = {c: books.losses_ops[c] for c in LOSS_CATEGORIES}
    latencies = [b.end - b.start for b in trace.batches]
    series = [
        SeriesPoint(
            time_s=b.end,
            latency_s=b.end - b.start,
            clock_hz=max(
                (r.clock_hz for r in trace.records[i * per_batch : (i + 1) * per_batch]),
                default=chip.clock.nominal,  # a graph of views only runs no kernel
            ),
            temperature_c=_temperature_at(trace, b.end, chip),
        )
        for i, b in enumerate(trace.batches)
    ]
    fields = dict(
        workload=graph.name,
        chip=chip.name,
        dtype=dtype,
        batch=_batch(graph),
        fusion=options.fusion,
        overlap=options.overlap,
        graph_launch=options.graph_launch or chip.launch.graph_launch,
        latency_s=statistics.median(latencies) if batches > 1 else duration,
        duration_s=duration,
        batches=batches,
        fast_forward=False,
        batch_latency=batch_stats(latencies),
        series=thin(series),
        power=power_report(
            chip,
            trace.energy_j,
            duration,
            trace.level_s,
            trace.thermal,
            max(
                (temp for _t, temp, _f, _p in trace.thermal),
                default=chip.thermal.ambient if chip.thermal else None,
            ),
        ),
        throughput=items / duration if duration else 0.0,
        total_ops=total_ops,
        useful_ops=books.useful_ops,
        offloaded_ops=offloaded,
        peak_ops=peak,
        delivered_ops_per_s=total_ops / duration if duration else 0.0,
        efficiency=total_ops / duration / peak if duration else 0.0,
        losses_ops=losses,
        losses_s={c: v / peak for c, v in losses.items()},
        kernels=len(kernels),
        launches=trace.launch_count,
        dram_bytes=dram_bytes(kernels, batches),
        events=trace.events,
        ops=rows,
        units=units,
        timeline=_segments(kernels, trace),
    )
    fields.update(stream)
    return Result(**fields)


def _seconds_of(ops: float, chip: Chip, unit: str, dtype: str) -> float:
    """Ops of a unit's peak as seconds of that unit."""
    rate = chip.unit_peak_ops(unit, dtype)
    return ops / rate if rate > 0 else 0.0


def _temperature_at(trace: Trace, time: float, chip: Chip) -> float:
    """The last thermal sample at or before `time` (ambient before the first)."""
    temperature = chip.thermal.ambient if chip.thermal else 0.0
    for t, temp, _f, _p in trace.thermal:
        if t > time:
            break
        temperature = temp
    return temperature


def _batch(graph: Graph) -> int:
    shapes = [graph.tensors[t].shape for t in graph.inputs]
    return shapes[0][0] if shapes and shapes[0] else 1


def _row(kernel: Kernel, record, losses: dict[str, float], waited: dict[str, float]) -> OpRow:
    """A kernel's row, with times from its first batch."""
    useful = kernel.useful_ops
    intensity = useful / kernel.dram_bytes if kernel.dram_bytes else math.inf
    return OpRow(
        name=kernel.name,
        kinds=list(kernel.kinds),
        unit=kernel.unit,
        start_s=record.start,
        end_s=record.end,
        ops=useful,
        dram_bytes=kernel.dram_bytes,
        onchip_bytes=kernel.onchip_bytes,
        intensity=min(intensity, 1e30),
        compute_s=record.compute_s,
        memory_s=record.memory_s,
        bound=bound(kernel, record),
        losses_ops=losses,
        waited_ops=waited,
    )


def bound(kernel: Kernel, record) -> str:
    """What set a kernel's duration: the longest of its launch overhead, compute and
    memory time (ties: compute, then memory); host and overhead kernels say what they are."""
    if kernel.host:
        return "host"
    if kernel.overhead is not None:
        return kernel.overhead
    phases = {
        "compute": record.compute_s,
        "memory": record.memory_s,
        "launch": record.compute_start - record.start,
    }
    return max(("compute", "memory", "launch"), key=lambda phase: phases[phase])


MAX_SEGMENTS = 20000


def _segments(kernels: list[Kernel], trace: Trace) -> list[Segment]:
    """The timeline's first MAX_SEGMENTS spans (kernels, launches, transfers) by start time."""

    def spans():
        for r in trace.records:
            yield (r.start, r.unit, kernels[r.kernel].name, r.end, "kernel", 0.0)
        for start, end, index in trace.launches:
            if end > start:
                label = (
                    kernels[trace.records[index].kernel].name if index < len(trace.records) else ""
                )
                yield (start, "launcher", label or "launch", end, "launch", 0.0)
        for t in trace.transfers:
            kind = "input" if t.track == "input" else "transfer"
            yield (t.start, t.track, t.label, t.end, kind, t.nbytes)

    first = heapq.nsmallest(MAX_SEGMENTS, spans(), key=lambda span: span[:3])
    return [
        Segment(track=track, start_s=start, end_s=end, label=label, kind=kind, nbytes=nbytes)
        for start, track, label, end, kind, nbytes in first
    ]
