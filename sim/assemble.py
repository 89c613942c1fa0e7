"""Assemble a Result from one engine run: kernel rows, unit usage, the timeline, power.

Large runs stay small: the longest MAX_ROWS kernels, the first MAX_SEGMENTS timeline
spans and MAX_SERIES points of each time series are kept.
"""

from __future__ import annotations

import heapq
import math
import statistics

from hardware.chip import Chip
from sim.account import Accounting
from sim.engine import Trace
from sim.engine.records import ThermalSample
from sim.losses import CATEGORY_INDEX, LOSS_CATEGORIES
from sim.lower import Kernel
from sim.options import SimOptions
from sim.result import (
    BatchStats,
    Power,
    Result,
    SeriesPoint,
    ThermalPoint,
    UnitUsage,
)
from workloads.graph import Graph

MAX_SERIES = 2000  # points kept in time series (longer ones are thinned evenly)
MAX_ROWS = 5000  # kernel rows kept in a Result: the longest ones (huge graphs stay small)


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
    trace: list[ThermalSample],
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
        ThermalPoint(
            time_s=s.time_s, temperature_c=s.temperature_c, clock_hz=s.clock_hz, power_w=s.power_w
        )
        for s in thin(trace)
    ]
    peak = max([s.power_w for s in trace] + [average])
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
    kept = kernels if options.details else []
    if len(kept) > MAX_ROWS:
        longest = sorted(
            kernels, key=lambda k: (first[k.index].start - first[k.index].end, k.index)
        )
        kept = sorted(longest[:MAX_ROWS], key=lambda k: k.index)
    rows = [
        _row(k, first[k.index], books.kernel_losses(k.index), books.gap_losses(k.index))
        for k in kept
    ]
    units = unit_usage(chip, kernels, trace, books, dtype)
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
            clock_hz=max(r.clock_hz for r in trace.records[i * per_batch : (i + 1) * per_batch]),
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
                (sample.temperature_c for sample in trace.thermal),
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
        timeline=_segments(kernels, trace) if options.details else [],
    )
    fields.update(stream)
    return Result(**fields)


def unit_usage(
    chip: Chip, kernels: list[Kernel], trace: Trace, books: Accounting, dtype: str
) -> list[UnitUsage]:
    """What each unit did over the run: kernels, time busy, in overheads, waiting for
    launches (peak units, from the accounting), and useful ops."""
    duration = trace.end
    launch = CATEGORY_INDEX["launch"]
    records_of: dict[str, list] = {name: [] for name in chip.units}
    for r in trace.records:
        records_of[r.unit].append(r)
    kernels_of: dict[str, list[Kernel]] = {name: [] for name in chip.units}
    for k in kernels:
        kernels_of[k.unit].append(k)
    units = []
    for name, unit in chip.units.items():
        records = records_of[name]
        busy = sum(r.end - r.compute_start for r in records)
        waited = sum(books.before[k.index, launch] for k in kernels_of[name])
        useful = books.unit_useful.get(name)  # accounted for peak units only
        if useful is None:
            useful = sum(kernels[r.kernel].useful_ops for r in records)
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
                useful_ops=useful,
            )
        )
    return units


def _seconds_of(ops: float, chip: Chip, unit: str, dtype: str) -> float:
    """Ops of a unit's peak as seconds of that unit."""
    rate = chip.unit_peak_ops(unit, dtype)
    return ops / rate if rate > 0 else 0.0


def _temperature_at(trace: Trace, time: float, chip: Chip) -> float:
    """The last thermal sample at or before `time` (ambient before the first)."""
    temperature = chip.thermal.ambient if chip.thermal else 0.0
    for sample in trace.thermal:
        if sample.time_s > time:
            break
        temperature = sample.temperature_c
    return temperature


def _batch(graph: Graph) -> int:
    shapes = [graph.tensors[t].shape for t in graph.inputs]
    return shapes[0][0] if shapes and shapes[0] else 1


def _row(kernel: Kernel, record, losses: dict[str, float], waited: dict[str, float]) -> dict:
    """A kernel's row (an OpRow's fields), with times from its first batch.

    Rows and timeline segments go to the Result as fields, so that pydantic validates
    them all in one call when the Result is made, not one object at a time."""
    useful = kernel.useful_ops
    intensity = useful / kernel.dram_bytes if kernel.dram_bytes else math.inf
    return dict(
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


def _segments(kernels: list[Kernel], trace: Trace) -> list[dict]:
    """The timeline's first MAX_SEGMENTS spans (kernels, launches, transfers) by start
    time, as Segment fields (see _row)."""

    def spans():
        for r in trace.records:
            yield (r.start, r.unit, kernels[r.kernel].name, r.end, "kernel", 0.0)
        for launch in trace.launches:
            if launch.end > launch.start:
                index = launch.record
                label = (
                    kernels[trace.records[index].kernel].name if index < len(trace.records) else ""
                )
                yield (launch.start, "launcher", label or "launch", launch.end, "launch", 0.0)
        for t in trace.transfers:
            kind = "input" if t.track == "input" else "transfer"
            yield (t.start, t.track, t.label, t.end, kind, t.nbytes)

    first = heapq.nsmallest(MAX_SEGMENTS, spans(), key=lambda span: span[:3])
    return [
        dict(track=track, start_s=start, end_s=end, label=label, kind=kind, nbytes=nbytes)
        for start, track, label, end, kind, nbytes in first
    ]
