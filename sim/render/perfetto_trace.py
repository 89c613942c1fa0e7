"""Perfetto's native protobuf trace of a Result (`--trace run.perfetto-trace` or `.pftrace`).

The same content as the Chrome JSON (sim/render/chrome_trace.py) in the format Perfetto
reads fastest: a `Trace` is `repeated TracePacket packet = 1`, so the file is a stream of
length-delimited packets, all on one packet sequence. Written from the public field
numbers of perfetto's protos/perfetto/trace/ (trace.proto, trace_packet.proto,
track_event/track_descriptor.proto, process_descriptor.proto, thread_descriptor.proto,
counter_descriptor.proto, track_event.proto, debug_annotation.proto,
interned_data/interned_data.proto); the encoder is sim/render/protobuf.py.

- Each run is a process track (pid 1, 2, ...); each timeline track a thread track of it
  (tid = 1000 * pid + n, unique over the file, since Perfetto keys threads by tid). A
  track whose slices overlap without nesting (transfers in flight together) is split
  into lanes, `dram`, `dram (2)`, ...: slices on one track must nest.
- Slices are TrackEvent SLICE_BEGIN / SLICE_END pairs, timestamps in integer ns; kernels
  nest under their "batch N" slice; a kernel's figures are debug annotations.
- A flow id leads from each launch (`flow_ids` on its begin) to its kernel
  (`terminating_flow_ids`), as the JSON's arrows.
- Counters (temperature, clock, power, batch latency, DRAM traffic) are counter tracks
  under their process, with their unit as the track's `unit_name`.
- Event and annotation names are interned (InternedData, on the packet that first uses
  them), so a kernel name repeated on every batch and track is written once.
The JSON's "otherData" summary has no counterpart here.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hardware.errors import InputError
from sim.render.chrome_trace import batch_spans, counter_samples, launch_pairs, segment_args
from sim.render.protobuf import double, fixed64, message, string, uint
from sim.render.tracks import track_order
from sim.result import Result

SUFFIXES = (".perfetto-trace", ".pftrace")
SEQUENCE_ID = 1  # every packet is on one trusted sequence
NS = 1e9

# Trace / TracePacket
TRACE_PACKET = 1
PACKET_TIMESTAMP = 8
PACKET_SEQUENCE_ID = 10
PACKET_TRACK_EVENT = 11
PACKET_INTERNED_DATA = 12
PACKET_SEQUENCE_FLAGS = 13
PACKET_TRACK_DESCRIPTOR = 60
SEQ_INCREMENTAL_STATE_CLEARED = 1
SEQ_NEEDS_INCREMENTAL_STATE = 2
# TrackDescriptor and the descriptors inside it
TRACK_UUID = 1
TRACK_NAME = 2
TRACK_PROCESS = 3
TRACK_THREAD = 4
TRACK_PARENT_UUID = 5
TRACK_COUNTER = 8
PROCESS_PID = 1
PROCESS_NAME = 6
THREAD_PID = 1
THREAD_TID = 2
THREAD_NAME = 5
COUNTER_UNIT_NAME = 6
# TrackEvent
EVENT_DEBUG_ANNOTATIONS = 4
EVENT_TYPE = 9
EVENT_NAME_IID = 10
EVENT_TRACK_UUID = 11
EVENT_CATEGORIES = 22
EVENT_DOUBLE_COUNTER_VALUE = 44
EVENT_FLOW_IDS = 47
EVENT_TERMINATING_FLOW_IDS = 48
TYPE_SLICE_BEGIN = 1
TYPE_SLICE_END = 2
TYPE_COUNTER = 4
# DebugAnnotation
ANNOTATION_NAME_IID = 1
ANNOTATION_BOOL = 2
ANNOTATION_INT = 4
ANNOTATION_DOUBLE = 5
ANNOTATION_STRING = 6
ANNOTATION_DICT_ENTRIES = 11
ANNOTATION_ARRAY_VALUES = 12
# InternedData, and its EventName / DebugAnnotationName entries
INTERNED_EVENT_NAMES = 2
INTERNED_ANNOTATION_NAMES = 3
INTERNED_IID = 1
INTERNED_NAME = 2


@dataclass
class Slice:
    """One slice to write: a segment of the timeline or a batch span."""

    track: str
    name: str
    category: str
    start_ns: int
    end_ns: int
    depth: int  # 0 for a batch span, 1 for a segment (nested inside it)
    args: dict[str, Any]
    flows_out: list[int] = field(default_factory=list)
    flows_in: list[int] = field(default_factory=list)
    lane_uuid: int = 0


class Interner:
    """Names to interning ids, and the entries new since the last packet."""

    def __init__(self) -> None:
        self.ids: dict[tuple[int, str], int] = {}
        self.new: list[bytes] = []
        self.annotations: dict[int, tuple[dict, bytes]] = {}  # id(args) -> (args, encoded)

    def iid(self, kind: int, name: str) -> int:
        found = self.ids.get((kind, name))
        if found is None:
            found = self.ids[(kind, name)] = len(self.ids) + 1
            entry = message(kind, uint(INTERNED_IID, found), string(INTERNED_NAME, name))
            self.new.append(entry)
        return found

    def take(self) -> bytes:
        """The InternedData field for the packet being written (empty if nothing new)."""
        if not self.new:
            return b""
        data = message(PACKET_INTERNED_DATA, *self.new)
        self.new = []
        return data


def ns(seconds: float) -> int:
    return round(seconds * NS)


def run_slices(result: Result, pid: int) -> list[Slice]:
    """The batch spans of one run, then its segments (in timeline order), each with the
    flow ids of the launch -> kernel pairs it starts or ends."""
    rows = {row.name: row for row in result.ops}
    spans = [
        Slice(span.track, f"batch {span.batch}", "batch", ns(span.start_s), ns(span.end_s), 0,
              {"batch": span.batch})
        for span in batch_spans(result)
    ]  # fmt: skip
    args: dict[tuple[str, str], dict[str, Any]] = {}  # one dict per kernel, shared by its runs
    segments = []
    for segment in result.timeline:
        key = (segment.kind, segment.label)
        if key not in args:
            args[key] = segment_args(result, segment, rows)
        segments.append(
            Slice(segment.track, segment.label, segment.kind, ns(segment.start_s),
                  ns(segment.end_s), 1, args[key])
        )  # fmt: skip
    for number, (launch, kernel) in enumerate(launch_pairs(result), start=1):
        flow = (pid << 32) + number
        segments[launch].flows_out.append(flow)
        segments[kernel].flows_in.append(flow)
    return spans + segments


def lanes(slices: list[Slice]) -> list[int]:
    """The lane of each slice on its track: the first lane where it nests (lane 0 unless
    slices on the track overlap without nesting)."""
    order = sorted(range(len(slices)), key=lambda i: (slices[i].start_ns, slices[i].depth,
                                                      -slices[i].end_ns))  # fmt: skip
    open_ends: dict[tuple[str, int], list[int]] = {}
    lane_of = [0] * len(slices)
    for i in order:
        piece = slices[i]
        lane = 0
        while True:
            stack = open_ends.setdefault((piece.track, lane), [])
            while stack and stack[-1] <= piece.start_ns:
                stack.pop()
            if not stack or piece.end_ns <= stack[-1]:
                stack.append(piece.end_ns)
                break
            lane += 1
        lane_of[i] = lane
    return lane_of


def track_packets(
    result: Result, pid: int, title: str | None, slices: list[Slice], uuids: Iterator[int]
) -> tuple[int, list[bytes]]:
    """Descriptors of the process, its thread tracks (lanes included) and counter tracks;
    sets each slice's `lane_uuid`."""
    process_uuid = next(uuids)
    name = f"{result.workload} on {result.chip}" + (f": {title}" if title else "")
    packets = [
        descriptor(
            uint(TRACK_UUID, process_uuid),
            message(TRACK_PROCESS, uint(PROCESS_PID, pid), string(PROCESS_NAME, name)),
        )
    ]
    lane_of = lanes(slices)
    used = {(piece.track, lane) for piece, lane in zip(slices, lane_of, strict=True)}
    tracks = track_order(result)
    lane_uuid: dict[tuple[str, int], int] = {}
    tid = 1000 * pid
    for track in tracks:
        lane = 0
        while lane == 0 or (track, lane) in used:
            tid += 1
            lane_uuid[(track, lane)] = uuid = next(uuids)
            shown = track if lane == 0 else f"{track} ({lane + 1})"
            thread = message(
                TRACK_THREAD,
                uint(THREAD_PID, pid),
                uint(THREAD_TID, tid),
                string(THREAD_NAME, shown),
            )
            packets.append(descriptor(uint(TRACK_UUID, uuid), string(TRACK_NAME, shown), thread))
            lane += 1
    for piece, lane in zip(slices, lane_of, strict=True):
        piece.lane_uuid = lane_uuid[(piece.track, lane)]
    return process_uuid, packets


def descriptor(*fields: bytes) -> bytes:
    return message(
        TRACE_PACKET,
        message(PACKET_TRACK_DESCRIPTOR, *fields),
        uint(PACKET_SEQUENCE_ID, SEQUENCE_ID),
    )


def annotation(interner: Interner, name: str, value: Any) -> bytes:
    """The fields of one DebugAnnotation (a dict and a list nest)."""
    named = uint(ANNOTATION_NAME_IID, interner.iid(INTERNED_ANNOTATION_NAMES, name))
    return named + annotation_value(interner, value)


def annotation_value(interner: Interner, value: Any) -> bytes:
    if isinstance(value, bool):
        return uint(ANNOTATION_BOOL, value)
    if isinstance(value, int):
        return uint(ANNOTATION_INT, value)
    if isinstance(value, float):
        return double(ANNOTATION_DOUBLE, value)
    if isinstance(value, dict):
        return b"".join(
            message(ANNOTATION_DICT_ENTRIES, annotation(interner, str(k), v))
            for k, v in value.items()
        )
    if isinstance(value, list | tuple):
        return b"".join(
            message(ANNOTATION_ARRAY_VALUES, annotation_value(interner, v)) for v in value
        )
    return string(ANNOTATION_STRING, str(value))


# the fields every event packet ends with, and the constant fields of events: encoded once
PACKET_TAIL = uint(PACKET_SEQUENCE_ID, SEQUENCE_ID) + uint(
    PACKET_SEQUENCE_FLAGS, SEQ_NEEDS_INCREMENTAL_STATE
)
BEGIN = uint(EVENT_TYPE, TYPE_SLICE_BEGIN)
END = uint(EVENT_TYPE, TYPE_SLICE_END)
COUNTER = uint(EVENT_TYPE, TYPE_COUNTER)


def packet(timestamp_ns: int, event: bytes, interner: Interner) -> bytes:
    return message(
        TRACE_PACKET,
        uint(PACKET_TIMESTAMP, timestamp_ns),
        message(PACKET_TRACK_EVENT, event),
        interner.take(),
        PACKET_TAIL,
    )


def begin(piece: Slice, interner: Interner) -> bytes:
    name_iid = interner.iid(INTERNED_EVENT_NAMES, piece.name)
    fields = [
        BEGIN,
        uint(EVENT_TRACK_UUID, piece.lane_uuid),
        uint(EVENT_NAME_IID, name_iid),
        string(EVENT_CATEGORIES, piece.category),
    ]
    found = interner.annotations.get(id(piece.args))
    if found is None:  # the args dict of a kernel is shared by its runs: encoded once
        encoded = b"".join(
            message(EVENT_DEBUG_ANNOTATIONS, annotation(interner, k, v))
            for k, v in piece.args.items()
        )
        found = interner.annotations[id(piece.args)] = (piece.args, encoded)
    fields.append(found[1])
    fields += [fixed64(EVENT_FLOW_IDS, flow) for flow in piece.flows_out]
    fields += [fixed64(EVENT_TERMINATING_FLOW_IDS, flow) for flow in piece.flows_in]
    return b"".join(fields)


def run_packets(
    result: Result, pid: int, title: str | None, uuids: Iterator[int], interner: Interner
) -> tuple[list[bytes], list[tuple[tuple, Any]]]:
    """One run's track descriptors, and its events keyed by their order in the file."""
    slices = run_slices(result, pid)
    process_uuid, descriptors = track_packets(result, pid, title, slices, uuids)
    events: list[tuple[tuple, Any]] = []
    # at one time: ends before begins; a begin's parent (longer, shallower) before it;
    # a launch before the kernel its flow ends on; a zero-length slice ends after it begins
    for n, piece in enumerate(slices):
        length = piece.end_ns - piece.start_ns
        rank = 0 if piece.category == "launch" else 1
        events.append(((piece.start_ns, 1, rank, -length, piece.depth, n, 0), ("B", piece)))
        end_key = (
            (piece.end_ns, 1, rank, 0, piece.depth, n, 1)
            if length == 0
            else (piece.end_ns, 0, -piece.start_ns, -piece.depth, n, 0)
        )
        events.append((end_key, ("E", piece)))
    counters: dict[str, int] = {}
    for sample in counter_samples(result):
        label = f"{sample.name} ({sample.unit})"
        if label not in counters:
            counters[label] = uuid = next(uuids)
            descriptors.append(
                descriptor(
                    uint(TRACK_UUID, uuid),
                    uint(TRACK_PARENT_UUID, process_uuid),
                    string(TRACK_NAME, label),
                    message(TRACK_COUNTER, string(COUNTER_UNIT_NAME, sample.unit)),
                )
            )
        key = (ns(sample.time_s), 2, 0, 0, 0, len(events), 0)
        events.append((key, ("C", counters[label], float(sample.value))))
    return descriptors, events


def perfetto_trace(result: Result | Sequence[tuple[str, Result]]) -> bytes:
    """The whole trace file as bytes; a sequence of (title, Result) pairs is one process
    each (as in `chrome_trace`)."""
    runs = [("", result)] if isinstance(result, Result) else list(result)
    interner = Interner()
    uuids = iter(range(1, 1 << 62))
    head = [
        message(
            TRACE_PACKET,
            uint(PACKET_SEQUENCE_ID, SEQUENCE_ID),
            uint(PACKET_SEQUENCE_FLAGS, SEQ_INCREMENTAL_STATE_CLEARED),
        )
    ]
    events: list[tuple[tuple, Any]] = []
    for pid, (title, run) in enumerate(runs, start=1):
        descriptors, run_events = run_packets(run, pid, title or None, uuids, interner)
        head += descriptors
        events += [((key[0], pid, *key[1:]), what) for key, what in run_events]
    events.sort(key=lambda item: item[0])
    body = []
    ends: dict[int, bytes] = {}  # an end event is its track's: one encoding per track
    for key, what in events:
        if what[0] == "B":
            body.append(packet(key[0], begin(what[1], interner), interner))
        elif what[0] == "E":
            uuid = what[1].lane_uuid
            if uuid not in ends:
                ends[uuid] = END + uint(EVENT_TRACK_UUID, uuid)
            body.append(packet(key[0], ends[uuid], interner))
        else:
            counter = (
                COUNTER
                + uint(EVENT_TRACK_UUID, what[1])
                + double(EVENT_DOUBLE_COUNTER_VALUE, what[2])
            )
            body.append(packet(key[0], counter, interner))
    return b"".join(head + body)


def is_perfetto_path(path: str | os.PathLike) -> bool:
    return str(path).lower().endswith(SUFFIXES)


def write_perfetto_trace(
    result: Result | Sequence[tuple[str, Result]], path: str | os.PathLike
) -> Path:
    """Write the protobuf trace of `result` to `path`; returns the path."""
    target = Path(path)
    data = perfetto_trace(result)
    try:
        target.write_bytes(data)
    except OSError as err:
        raise InputError(f"--trace {target}: cannot write the file ({err.strerror}).") from None
    return target
