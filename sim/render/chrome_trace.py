"""Chrome trace-event JSON of a Result, for Perfetto (ui.perfetto.dev) and chrome://tracing.

The format is the "JSON Object Format" of the Trace Event Format: {"traceEvents": [...]},
times in microseconds. One process is the run (an LLM generation writes two: its prefill
and one decode step at the median KV length); each timeline track (every unit, dram,
host_link, input, launcher) is a thread named by "M" metadata events, and every segment is
an "X" complete event on it. Each unit track nests its kernels under a "batch N" slice,
and a flow arrow ("s" -> "f") leads from each launch to the kernel it started. Counter
("C") events, on the same process, carry the temperature, clock and power the thermal
model sampled (over the whole run, which for a fast-forwarded stream is longer than the
timeline), the latency of each batch of a stream, and the DRAM traffic in flight along the
timeline.

DRAM bandwidth in use is derived, not recorded: a kernel's DRAM bytes (its op row) are
spread over its transfer segments in proportion to their duration, and each segment is
taken to move its bytes at a constant rate from start to end. The total bytes are exact;
the rate is an average over each transfer (fair sharing makes the instantaneous rate
vary, and the DMA/DRAM latency at a transfer's start moves nothing). The number of
transfers in flight is exact.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NamedTuple

from hardware.files import write_output
from sim.render.tracks import track_order
from sim.result import Result, Segment

US = 1e6  # trace-event times are microseconds


class CounterSample(NamedTuple):
    """One value of a counter track at a time."""

    name: str
    unit: str
    time_s: float
    value: float


class BatchSpan(NamedTuple):
    """The span of one batch's kernels on one track."""

    track: str
    batch: int
    start_s: float
    end_s: float


def segment_args(result: Result, segment: Segment, rows: dict) -> dict[str, Any]:
    """What Perfetto shows when a slice is selected."""
    row = rows.get(segment.label) if segment.kind == "kernel" else None
    if row is None:
        return {"kind": segment.kind}
    args: dict[str, Any] = {
        "kind": segment.kind,
        "ops": row.kinds,
        "unit": row.unit,
        "useful_ops": row.ops,
        "dram_bytes": row.dram_bytes,
        "onchip_bytes": row.onchip_bytes,
        "bound": row.bound,
        "compute_s": row.compute_s,
        "memory_s": row.memory_s,
    }
    if row.intensity < 1e29:
        args["intensity_ops_per_byte"] = row.intensity
    args["losses_ops"] = {k: v for k, v in row.losses_ops.items() if v}
    args["waited_ops"] = {k: v for k, v in row.waited_ops.items() if v}
    return args


def transfer_bytes(result: Result) -> list[float | None]:
    """Bytes moved by each segment on the dram track (None on other tracks).

    A segment's own `nbytes` if the Result records it; else derived: each kernel's DRAM bytes
    (its op row, per batch) times its occurrences on the timeline, spread over its transfer
    segments in proportion to their duration."""
    rows = {row.name: row for row in result.ops}
    kernels = Counter(s.label for s in result.timeline if s.kind == "kernel")
    busy: dict[str, float] = {}
    for segment in result.timeline:
        if segment.track == "dram":
            busy[segment.label] = busy.get(segment.label, 0.0) + segment.end_s - segment.start_s
    out: list[float | None] = []
    for segment in result.timeline:
        recorded = getattr(segment, "nbytes", None)
        row = rows.get(segment.label)
        if segment.track != "dram":
            out.append(None)
        elif recorded is not None:
            out.append(recorded)
        elif row is None or not busy[segment.label]:
            out.append(0.0)
        else:
            total = row.dram_bytes * kernels[segment.label]
            out.append(total * (segment.end_s - segment.start_s) / busy[segment.label])
    return out


def dram_samples(result: Result) -> list[CounterSample]:
    """DRAM bytes/s in use (derived) and transfers in flight (exact), at each change."""
    changes: list[tuple[float, float, int]] = []
    for segment, nbytes in zip(result.timeline, transfer_bytes(result), strict=True):
        if segment.track != "dram" or segment.end_s <= segment.start_s:
            continue
        rate = (nbytes or 0.0) / (segment.end_s - segment.start_s)
        changes.append((segment.start_s, rate, 1))
        changes.append((segment.end_s, -rate, -1))
    changes.sort(key=lambda c: (c[0], c[2]))
    samples = []
    rate = 0.0
    flying = 0
    i = 0
    while i < len(changes):
        time = changes[i][0]
        while i < len(changes) and changes[i][0] == time:
            rate += changes[i][1]
            flying += changes[i][2]
            i += 1
        rate = 0.0 if flying == 0 or abs(rate) < 1e-6 else rate
        samples.append(CounterSample("DRAM bandwidth in use", "GB/s", time, rate / 1e9))
        samples.append(CounterSample("DRAM transfers in flight", "transfers", time, flying))
    return samples


def counter_samples(result: Result) -> list[CounterSample]:
    """Every counter of the run: the thermal model's temperature, clock and power (over
    the whole run), each batch's latency (a stream), the DRAM traffic along the timeline."""
    samples: list[CounterSample] = []
    if result.power is not None:
        for point in result.power.trace:
            time = point.time_s
            samples.append(CounterSample("temperature", "°C", time, point.temperature_c))
            samples.append(CounterSample("clock", "MHz", time, point.clock_hz / 1e6))
            samples.append(CounterSample("power", "W", time, point.power_w))
    if result.batches > 1:
        for point in result.series:
            latency_ms = point.latency_s * 1e3
            samples.append(CounterSample("batch latency", "ms", point.time_s, latency_ms))
    return samples + dram_samples(result)


def dram_counters(result: Result, pid: int = 1) -> list[dict[str, Any]]:
    """Counter events: DRAM bytes/s in use (derived) and transfers in flight (exact)."""
    return [counter(s.name, s.time_s, {s.unit: s.value}, pid) for s in dram_samples(result)]


def batch_of(result: Result) -> list[int | None]:
    """The batch of each kernel segment (None for other segments): a kernel runs once per
    batch, so its n-th occurrence on the timeline (by start time) is batch n."""
    seen: Counter[str] = Counter()
    out: list[int | None] = []
    for segment in result.timeline:
        if segment.kind == "kernel":
            out.append(seen[segment.label])
            seen[segment.label] += 1
        else:
            out.append(None)
    return out


def batch_spans(result: Result) -> list[BatchSpan]:
    """A "batch N" span on each unit track, covering that batch's kernels there, so the
    kernels nest under their batch. A batch whose span would cross the previous one's on
    the same track (kernels of two batches interleaved) gets no span: trace viewers need
    slices on one track to nest."""
    spans: dict[tuple[str, int], list[float]] = {}
    for segment, batch in zip(result.timeline, batch_of(result), strict=True):
        if batch is None:
            continue
        span = spans.setdefault((segment.track, batch), [segment.start_s, segment.end_s])
        span[0] = min(span[0], segment.start_s)
        span[1] = max(span[1], segment.end_s)
    out: list[BatchSpan] = []
    last_end: dict[str, float] = {}
    for (track, batch), (start, end) in sorted(spans.items(), key=lambda kv: kv[1][0]):
        if start < last_end.get(track, float("-inf")):
            continue
        last_end[track] = end
        out.append(BatchSpan(track, batch, start, end))
    return out


def batch_slices(result: Result, tids: dict[str, int], pid: int = 1) -> list[dict[str, Any]]:
    """The batch spans as "X" events (see `batch_spans`)."""
    return [
        {
            "name": f"batch {span.batch}",
            "cat": "batch",
            "ph": "X",
            "ts": span.start_s * US,
            "dur": (span.end_s - span.start_s) * US,
            "pid": pid,
            "tid": tids[span.track],
            "args": {"batch": span.batch},
        }
        for span in batch_spans(result)
    ]


def launch_pairs(result: Result) -> list[tuple[int, int]]:
    """(launch, kernel) indices into the timeline: the n-th launch of a kernel name
    starts the n-th kernel of that name."""
    kernels: dict[str, list[int]] = {}
    for index, segment in enumerate(result.timeline):
        if segment.kind == "kernel":
            kernels.setdefault(segment.label, []).append(index)
    taken: Counter[str] = Counter()
    pairs: list[tuple[int, int]] = []
    for index, segment in enumerate(result.timeline):
        if segment.kind != "launch":
            continue
        n = taken[segment.label]
        taken[segment.label] += 1
        runs = kernels.get(segment.label, [])
        if n < len(runs):
            pairs.append((index, runs[n]))
    return pairs


def launch_flows(result: Result, tids: dict[str, int], pid: int = 1) -> list[dict[str, Any]]:
    """A flow arrow ("s" to "f") from each launch slice to the kernel it launched."""
    events: list[dict[str, Any]] = []
    for number, (launch_index, kernel_index) in enumerate(launch_pairs(result), start=1):
        launch, kernel = result.timeline[launch_index], result.timeline[kernel_index]
        flow = {"name": "launch", "cat": "launch", "id": (pid << 32) + number, "pid": pid}
        events.append({**flow, "ph": "s", "ts": launch.start_s * US, "tid": tids[launch.track]})
        events.append(
            {**flow, "ph": "f", "bp": "e", "ts": kernel.start_s * US, "tid": tids[kernel.track]}
        )
    return events


def counter(name: str, time_s: float, values: dict[str, float], pid: int = 1) -> dict[str, Any]:
    return {"name": name, "ph": "C", "ts": time_s * US, "pid": pid, "args": values}


def metadata(
    name: str, args: dict[str, Any], tid: int | None = None, pid: int = 1
) -> dict[str, Any]:
    event = {"name": name, "ph": "M", "pid": pid, "args": args}
    if tid is not None:
        event["tid"] = tid
    return event


def process_events(result: Result, pid: int = 1, title: str | None = None) -> list[dict]:
    """Every event of one run, as process `pid`."""
    tracks = track_order(result)
    tids = {track: n + 1 for n, track in enumerate(tracks)}
    name = f"{result.workload} on {result.chip}" + (f": {title}" if title else "")
    events: list[dict[str, Any]] = [
        metadata("process_name", {"name": name}, pid=pid),
        metadata("process_sort_index", {"sort_index": pid - 1}, pid=pid),
    ]
    for track, tid in tids.items():
        events.append(metadata("thread_name", {"name": track}, tid, pid))
        events.append(metadata("thread_sort_index", {"sort_index": tid}, tid, pid))
    rows = {row.name: row for row in result.ops}
    for segment in result.timeline:
        events.append(
            {
                "name": segment.label,
                "cat": segment.kind,
                "ph": "X",
                "ts": segment.start_s * US,
                "dur": (segment.end_s - segment.start_s) * US,
                "pid": pid,
                "tid": tids[segment.track],
                "args": segment_args(result, segment, rows),
            }
        )
    events += batch_slices(result, tids, pid) + launch_flows(result, tids, pid)
    for sample in counter_samples(result):
        events.append(counter(sample.name, sample.time_s, {sample.unit: sample.value}, pid))
    return events


def chrome_trace(result: Result | Sequence[tuple[str, Result]]) -> dict[str, Any]:
    """The trace as a JSON-ready dict: {"traceEvents": [...], "displayTimeUnit": "ns", ...}.

    A sequence of (title, Result) pairs becomes one process each (the first one's figures
    go into "otherData")."""
    runs = [("", result)] if isinstance(result, Result) else list(result)
    events: list[dict[str, Any]] = []
    for pid, (title, run) in enumerate(runs, start=1):
        events += process_events(run, pid, title or None)
    result = runs[0][1]
    return {
        "traceEvents": events,
        "displayTimeUnit": "ns",
        "otherData": {
            "workload": result.workload,
            "chip": result.chip,
            "dtype": result.dtype,
            "batch": result.batch,
            "batches": result.batches,
            "latency_s": result.latency_s,
            "duration_s": result.duration_s,
            "delivered_ops_per_s": result.delivered_ops_per_s,
            "peak_ops": result.peak_ops,
            "efficiency": result.efficiency,
            "schema_version": result.schema_version,
        },
    }


def write_chrome_trace(
    result: Result | Sequence[tuple[str, Result]], path: str | os.PathLike
) -> Path:
    """Write the Chrome trace-event JSON of `result` to `path`; returns the path."""
    target = Path(path)
    data = chrome_trace(result)
    write_output(target, json.dumps(data, allow_nan=False), "--trace")
    return target
