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
from typing import Any

from hardware.files import write_output
from sim.render.tracks import track_order
from sim.result import Result, Segment

US = 1e6  # trace-event times are microseconds


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


def dram_counters(result: Result, pid: int = 1) -> list[dict[str, Any]]:
    """Counter events: DRAM bytes/s in use (derived) and transfers in flight (exact)."""
    changes: list[tuple[float, float, int]] = []
    for segment, nbytes in zip(result.timeline, transfer_bytes(result), strict=True):
        if segment.track != "dram" or segment.end_s <= segment.start_s:
            continue
        rate = (nbytes or 0.0) / (segment.end_s - segment.start_s)
        changes.append((segment.start_s, rate, 1))
        changes.append((segment.end_s, -rate, -1))
    if not changes:
        return []
    changes.sort(key=lambda c: (c[0], c[2]))
    events = []
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
        events.append(counter("DRAM bandwidth in use", time, {"GB/s": rate / 1e9}, pid))
        events.append(counter("DRAM transfers in flight", time, {"transfers": flying}, pid))
    return events


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


def batch_slices(result: Result, tids: dict[str, int], pid: int = 1) -> list[dict[str, Any]]:
    """A "batch N" slice on each unit track, spanning that batch's kernels there, so the
    kernels nest under their batch. A batch whose span would cross the previous one's on
    the same track (kernels of two batches interleaved) gets no slice: trace viewers need
    slices on one track to nest."""
    spans: dict[tuple[str, int], list[float]] = {}
    for segment, batch in zip(result.timeline, batch_of(result), strict=True):
        if batch is None:
            continue
        span = spans.setdefault((segment.track, batch), [segment.start_s, segment.end_s])
        span[0] = min(span[0], segment.start_s)
        span[1] = max(span[1], segment.end_s)
    events: list[dict[str, Any]] = []
    last_end: dict[str, float] = {}
    for (track, batch), (start, end) in sorted(spans.items(), key=lambda kv: kv[1][0]):
        if start < last_end.get(track, float("-inf")):
            continue
        last_end[track] = end
        events.append(
            {
                "name": f"batch {batch}",
                "cat": "batch",
                "ph": "X",
                "ts": start * US,
                "dur": (end - start) * US,
                "pid": pid,
                "tid": tids[track],
                "args": {"batch": batch},
            }
        )
    return events


def launch_flows(result: Result, tids: dict[str, int], pid: int = 1) -> list[dict[str, Any]]:
    """A flow arrow ("s" to "f") from each launch slice to the kernel it launched: the n-th
    launch of a kernel name starts the n-th kernel of that name."""
    kernels: dict[str, list[Segment]] = {}
    for segment in result.timeline:
        if segment.kind == "kernel":
            kernels.setdefault(segment.label, []).append(segment)
    taken: Counter[str] = Counter()
    events: list[dict[str, Any]] = []
    for segment in result.timeline:
        if segment.kind != "launch":
            continue
        n = taken[segment.label]
        taken[segment.label] += 1
        runs = kernels.get(segment.label, [])
        if n >= len(runs):
            continue
        kernel = runs[n]
        flow = {"name": "launch", "cat": "launch", "id": (pid << 32) + len(events) // 2 + 1}
        flow["pid"] = pid
        events.append({**flow, "ph": "s", "ts": segment.start_s * US, "tid": tids[segment.track]})
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
    if result.power is not None:
        for point in result.power.trace:
            time = point.time_s
            events.append(counter("temperature", time, {"°C": point.temperature_c}, pid))
            events.append(counter("clock", time, {"MHz": point.clock_hz / 1e6}, pid))
            events.append(counter("power", time, {"W": point.power_w}, pid))
    if result.batches > 1:
        for point in result.series:
            latency = {"ms": point.latency_s * 1e3}
            events.append(counter("batch latency", point.time_s, latency, pid))
    return events + dram_counters(result, pid)


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
