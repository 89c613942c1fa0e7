"""Chrome trace-event JSON of a finished SystemResult, for Perfetto and chrome://tracing.

One process per pipeline stage group (its chips run alike: "stage 0 (chips 0-3)") with a
"compute" and a "collectives" track (the collectives' part of the critical path), and one
"links" process with one track per link group (a stage's tensor-parallel group, the link
between two stages). The prefill pass comes first and the decode step right after it;
every slice is an "X" complete event of the phase's timeline (sim/system/timeline.py).
Nothing is computed here but the layout.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from hardware.errors import InputError
from sim.render.chrome_trace import US, metadata
from sim.system.results import SystemResult

TRACKS = ("compute", "collectives")  # the tracks of a stage group's process


def system_trace(result: SystemResult) -> dict[str, Any]:
    """The trace as a JSON-ready dict: {"traceEvents": [...], "otherData": {...}}."""
    phases = (result.prefill, result.decode)
    names: dict[str, None] = {}
    links: dict[str, None] = {}
    for phase in phases:
        for piece in phase.timeline:
            if piece.track in TRACKS:
                names.setdefault(piece.process)
        for link in phase.links:
            links.setdefault(link.name)
    pids = {name: pid for pid, name in enumerate([*names, "links"], start=1)}
    tids: dict[tuple[str, str], int] = {}
    events: list[dict[str, Any]] = []
    for name, pid in pids.items():
        events.append(metadata("process_name", {"name": name}, pid=pid))
        events.append(metadata("process_sort_index", {"sort_index": pid}, pid=pid))
        for tid, track in enumerate(links if name == "links" else TRACKS, start=1):
            tids[name, track] = tid
            events.append(metadata("thread_name", {"name": track}, tid, pid))
            events.append(metadata("thread_sort_index", {"sort_index": tid}, tid, pid))
    offset = 0.0
    for phase in phases:
        for piece in phase.timeline:
            events.append(
                {
                    "name": piece.name,
                    "cat": phase.name,
                    "ph": "X",
                    "ts": (offset + piece.start_s) * US,
                    "dur": (piece.end_s - piece.start_s) * US,
                    "pid": pids[piece.process],
                    "tid": tids[piece.process, piece.track],
                    "args": {"phase": phase.name},
                }
            )
        offset += phase.latency_s
    return {
        "traceEvents": events,
        "displayTimeUnit": "ns",
        "otherData": {
            "workload": result.workload,
            "system": result.system,
            "chip": result.chip,
            "tp": result.tp,
            "pp": result.pp,
            "ep": result.ep,
            "micro_batches": result.micro_batches,
            "overlap_comm": result.overlap_comm,
            "algorithm": result.algorithm,
            "prefill_latency_s": result.prefill.latency_s,
            "decode_latency_s": result.decode.latency_s,
        },
    }


def write_system_trace(result: SystemResult, path: str | os.PathLike) -> Path:
    """Write the Chrome trace-event JSON of `result` to `path`; returns the path."""
    target = Path(path)
    data = system_trace(result)
    try:
        target.write_text(json.dumps(data, allow_nan=False), encoding="utf-8")
    except OSError as err:
        raise InputError(f"--trace {target}: cannot write the file ({err.strerror}).") from None
    return target
