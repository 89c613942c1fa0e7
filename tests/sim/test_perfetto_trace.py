"""Perfetto protobuf traces: decoded by a small decoder written here (not the writer's
encoder) and checked against the Result: tracks, slices and their nesting, timestamps,
flows, counters. Where the `perfetto` package is installed, its own generated protos
parse the file too (a check of our field numbers against perfetto's)."""

from __future__ import annotations

import struct
from collections import Counter, defaultdict
from dataclasses import dataclass, field

import pytest
from hypothesis import given
from hypothesis import strategies as st

import hardware
import sim
import workloads
from sim.render import perfetto_trace as pt
from sim.render.chrome_trace import batch_spans, counter_samples, launch_pairs
from sim.render.perfetto_trace import Slice, lanes, perfetto_trace, write_perfetto_trace
from sim.render.protobuf import varint
from sim.render.tracks import track_order

TOY = hardware.load_chip("toy")


# a decoder, field numbers written out from perfetto's .proto files ---------------------


def read_varint(data: bytes, at: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        byte = data[at]
        at += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if byte < 0x80:
            return value, at


def fields(data: bytes) -> list[tuple[int, object]]:
    """(field number, value): an int for varints, bytes for fixed64 and length-delimited."""
    out = []
    at = 0
    while at < len(data):
        tag, at = read_varint(data, at)
        number, wire = tag >> 3, tag & 7
        if wire == 0:
            value, at = read_varint(data, at)
        elif wire == 1:
            value, at = data[at : at + 8], at + 8
        elif wire == 2:
            length, at = read_varint(data, at)
            value, at = data[at : at + length], at + length
        else:
            raise AssertionError(f"wire type {wire} in field {number}")
        out.append((number, value))
    assert at == len(data)
    return out


def first(data: bytes, number: int, default=None):
    return next((v for n, v in fields(data) if n == number), default)


@dataclass
class Decoded:
    tracks: dict[int, dict] = field(default_factory=dict)  # uuid -> descriptor
    events: list[dict] = field(default_factory=list)  # in file order


def decode(data: bytes) -> Decoded:
    decoded = Decoded()
    names: dict[int, str] = {}
    for number, packet in fields(data):
        assert number == 1  # Trace.packet
        packet_fields = dict(fields(packet))
        assert packet_fields[10] == 1  # trusted_packet_sequence_id
        if 12 in packet_fields:  # interned_data: event_names (2), debug_annotation_names (3)
            for kind, entry in fields(packet_fields[12]):
                assert kind in (2, 3)
                names[first(entry, 1)] = first(entry, 2).decode()
        if 60 in packet_fields:  # track_descriptor
            desc = packet_fields[60]
            track = {"uuid": first(desc, 1), "parent": first(desc, 5)}
            if first(desc, 3) is not None:  # process: pid 1, process_name 6
                process = first(desc, 3)
                track |= {"pid": first(process, 1), "name": first(process, 6).decode()}
            elif first(desc, 4) is not None:  # thread: pid 1, tid 2, thread_name 5
                thread = first(desc, 4)
                track |= {"pid": first(thread, 1), "tid": first(thread, 2)}
                track["name"] = first(thread, 5).decode()
            else:  # counter track: name 2, counter 8 { unit_name 6 }
                track |= {"name": first(desc, 2).decode(), "unit": first(first(desc, 8), 6)}
            decoded.tracks[track["uuid"]] = track
        if 11 in packet_fields:  # track_event
            event_fields = fields(packet_fields[11])
            event = {"ts": packet_fields[8], "flows": [], "ends_flows": [], "args": {}}
            for n, value in event_fields:
                if n == 9:
                    event["type"] = value
                elif n == 11:
                    event["track"] = value
                elif n == 10:
                    event["name"] = names[value]
                elif n == 22:
                    event["cat"] = value.decode()
                elif n == 44:
                    event["value"] = struct.unpack("<d", value)[0]
                elif n == 47:
                    event["flows"].append(struct.unpack("<Q", value)[0])
                elif n == 48:
                    event["ends_flows"].append(struct.unpack("<Q", value)[0])
                elif n == 4:
                    event["args"][names[first(value, 1)]] = value
            decoded.events.append(event)
    return decoded


# checks --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def stream():
    return sim.simulate(workloads.build("mlp"), TOY, batches=3)


def slices_by_track(decoded: Decoded) -> dict[str, list[tuple[str, str, int, int]]]:
    """Replays begin/end per track, asserting they nest: track name -> (name, category,
    begin ns, end ns) for every slice."""
    stacks: dict[int, list[dict]] = defaultdict(list)
    out: dict[str, list] = defaultdict(list)
    last_ts: dict[int, int] = {}
    for event in decoded.events:
        track = event["track"]
        assert event["ts"] >= last_ts.get(track, 0), "events on a track go forward in time"
        last_ts[track] = event["ts"]
        if event["type"] == 1:
            stacks[track].append(event)
        elif event["type"] == 2:
            begun = stacks[track].pop()  # an end without a begin would raise here
            name = decoded.tracks[track]["name"]
            out[name].append((begun["name"], begun["cat"], begun["ts"], event["ts"]))
    assert all(not stack for stack in stacks.values()), "every slice ends"
    return out


def test_tracks_are_the_process_and_the_results_tracks(stream):
    decoded = decode(perfetto_trace(stream))
    processes = [t for t in decoded.tracks.values() if "pid" in t and "tid" not in t]
    threads = [t for t in decoded.tracks.values() if "tid" in t]
    assert [p["name"] for p in processes] == ["mlp on toy"]
    assert [t["name"] for t in threads] == track_order(stream)
    assert all(t["pid"] == processes[0]["pid"] for t in threads)
    assert len({t["tid"] for t in threads}) == len(threads)


def test_every_segment_is_a_slice_with_its_times_in_ns(stream):
    decoded = decode(perfetto_trace(stream))
    found = slices_by_track(decoded)
    expected: dict[str, list] = defaultdict(list)
    for s in stream.timeline:
        expected[s.track].append((s.label, s.kind, round(s.start_s * 1e9), round(s.end_s * 1e9)))
    for span in batch_spans(stream):
        start, end = round(span.start_s * 1e9), round(span.end_s * 1e9)
        expected[span.track].append((f"batch {span.batch}", "batch", start, end))
    assert {k: sorted(v) for k, v in found.items()} == {k: sorted(v) for k, v in expected.items()}
    assert sum(len(v) for v in found.values()) == len(stream.timeline) + len(batch_spans(stream))


def test_kernels_carry_their_op_row_as_annotations(stream):
    decoded = decode(perfetto_trace(stream))
    kernels = [e for e in decoded.events if e.get("cat") == "kernel" and e["type"] == 1]
    assert len(kernels) == 3 * len(stream.ops)
    rows = {row.name: row for row in stream.ops}
    for event in kernels:
        bound = first(event["args"]["bound"], 6).decode()  # string_value
        dram = struct.unpack("<d", first(event["args"]["dram_bytes"], 5))[0]  # double_value
        assert bound == rows[event["name"]].bound
        assert dram == rows[event["name"]].dram_bytes


def test_each_launch_flows_to_its_kernel(stream):
    decoded = decode(perfetto_trace(stream))
    starts = {f: e for e in decoded.events for f in e["flows"]}
    ends = {f: e for e in decoded.events for f in e["ends_flows"]}
    assert len(starts) == len(ends) == len(launch_pairs(stream)) > 0
    for flow, launch in starts.items():
        kernel = ends[flow]
        assert launch["cat"] == "launch" and kernel["cat"] == "kernel"
        assert launch["name"] == kernel["name"]
        assert launch["ts"] <= kernel["ts"]
        assert decoded.events.index(launch) < decoded.events.index(kernel)


def test_counters_are_tracks_with_every_sample(stream):
    decoded = decode(perfetto_trace(stream))
    counted = Counter(decoded.tracks[e["track"]]["name"] for e in decoded.events if e["type"] == 4)
    samples = counter_samples(stream)
    assert counted == Counter(f"{s.name} ({s.unit})" for s in samples)
    label = "DRAM bandwidth in use (GB/s)"
    counters = [e for e in decoded.events if e["type"] == 4]
    bandwidth = [e["value"] for e in counters if decoded.tracks[e["track"]]["name"] == label]
    assert bandwidth == [s.value for s in samples if s.name == "DRAM bandwidth in use"]
    units = {t["name"]: t["unit"] for t in decoded.tracks.values() if "unit" in t}
    assert units["DRAM bandwidth in use (GB/s)"] == b"GB/s"


def test_two_runs_are_two_processes_with_distinct_thread_ids(tmp_path):
    first_run = sim.simulate(workloads.build("mlp"), TOY)
    second_run = sim.simulate(workloads.build("mlp", layers=2), TOY)
    path = write_perfetto_trace([("a", first_run), ("b", second_run)], tmp_path / "t.pftrace")
    decoded = decode(path.read_bytes())
    processes = [t for t in decoded.tracks.values() if "pid" in t and "tid" not in t]
    assert [p["name"] for p in processes] == ["mlp on toy: a", "mlp on toy: b"]
    threads = [t for t in decoded.tracks.values() if "tid" in t]
    assert len({t["tid"] for t in threads}) == len(threads)
    flows = [f for e in decoded.events for f in e["flows"]]
    assert len(flows) == len(set(flows)) == len(launch_pairs(first_run) + launch_pairs(second_run))


def piece(track: str, start: int, end: int, depth: int = 1) -> Slice:
    return Slice(track, "x", "transfer", start, end, depth, {})


def test_overlapping_slices_go_to_lanes_and_nested_ones_stay():
    slices = [piece("dram", 0, 10), piece("dram", 5, 15), piece("dram", 6, 8), piece("sm", 0, 4)]
    assert lanes(slices) == [0, 1, 0, 0]  # (6, 8) nests in (0, 10)
    nested = [piece("sm", 0, 10, depth=0), piece("sm", 0, 10), piece("sm", 10, 10)]
    assert lanes(nested) == [0, 0, 0]


@given(st.lists(st.tuples(st.integers(0, 50), st.integers(0, 20)), max_size=30))
def test_lanes_always_nest(spans):
    slices = [piece("t", start, start + length) for start, length in spans]
    lane_of = lanes(slices)
    for a, lane_a in zip(slices, lane_of, strict=True):
        for b, lane_b in zip(slices, lane_of, strict=True):
            if a is not b and lane_a == lane_b:
                disjoint = a.end_ns <= b.start_ns or b.end_ns <= a.start_ns
                inside = (a.start_ns <= b.start_ns and b.end_ns <= a.end_ns) or (
                    b.start_ns <= a.start_ns and a.end_ns <= b.end_ns
                )
                assert disjoint or inside


@given(st.integers(0, 2**64 - 1))
def test_varints_read_back(value):
    assert read_varint(varint(value), 0) == (value, len(varint(value)))


def test_perfettos_own_protos_parse_the_file(stream):
    pb = pytest.importorskip("perfetto.protos.perfetto.trace.perfetto_trace_pb2")
    trace = pb.Trace.FromString(perfetto_trace(stream))
    begins = [p for p in trace.packet if p.track_event.type == pb.TrackEvent.TYPE_SLICE_BEGIN]
    assert len(begins) == len(stream.timeline) + len(batch_spans(stream))
    assert {p.track_descriptor.thread.thread_name for p in trace.packet} >= set(track_order(stream))


def test_field_numbers_are_perfettos():
    pb = pytest.importorskip("perfetto.protos.perfetto.trace.perfetto_trace_pb2")
    checks = {
        (pb.TracePacket, "timestamp"): pt.PACKET_TIMESTAMP,
        (pb.TracePacket, "trusted_packet_sequence_id"): pt.PACKET_SEQUENCE_ID,
        (pb.TracePacket, "track_event"): pt.PACKET_TRACK_EVENT,
        (pb.TracePacket, "interned_data"): pt.PACKET_INTERNED_DATA,
        (pb.TracePacket, "sequence_flags"): pt.PACKET_SEQUENCE_FLAGS,
        (pb.TracePacket, "track_descriptor"): pt.PACKET_TRACK_DESCRIPTOR,
        (pb.TrackDescriptor, "counter"): pt.TRACK_COUNTER,
        (pb.TrackDescriptor, "parent_uuid"): pt.TRACK_PARENT_UUID,
        (pb.TrackEvent, "flow_ids"): pt.EVENT_FLOW_IDS,
        (pb.TrackEvent, "terminating_flow_ids"): pt.EVENT_TERMINATING_FLOW_IDS,
        (pb.TrackEvent, "double_counter_value"): pt.EVENT_DOUBLE_COUNTER_VALUE,
        (pb.TrackEvent, "name_iid"): pt.EVENT_NAME_IID,
        (pb.DebugAnnotation, "dict_entries"): pt.ANNOTATION_DICT_ENTRIES,
        (pb.InternedData, "debug_annotation_names"): pt.INTERNED_ANNOTATION_NAMES,
    }
    for (message, name), number in checks.items():
        assert message.DESCRIPTOR.fields_by_name[name].number == number, name


def test_trace_processor_loads_it(stream, tmp_path):
    """Optional: needs the perfetto package and a local trace_processor_shell binary
    (TRACE_PROCESSOR_SHELL); the package would otherwise download one."""
    import os

    shell = os.environ.get("TRACE_PROCESSOR_SHELL")
    if not shell:
        pytest.skip("set TRACE_PROCESSOR_SHELL to a trace_processor_shell binary")
    tp_module = pytest.importorskip("perfetto.trace_processor")
    path = write_perfetto_trace(stream, tmp_path / "t.perfetto-trace")
    config = tp_module.TraceProcessorConfig(bin_path=shell)
    with tp_module.TraceProcessor(trace=str(path), config=config) as tp:
        count = next(iter(tp.query("select count(*) as n from slice"))).n
        flows = next(iter(tp.query("select count(*) as n from flow"))).n
    assert count == len(stream.timeline) + len(batch_spans(stream))
    assert flows == len(launch_pairs(stream))


def test_cli_trace_format_follows_the_suffix(tmp_path):
    import json

    from typer.testing import CliRunner

    from sim.cli.main import app

    runner = CliRunner()
    for name in ("t.perfetto-trace", "t.pftrace"):
        done = runner.invoke(
            app, ["run", "mlp", "--chip", "toy", "-q", "--trace", str(tmp_path / name)]
        )
        assert done.exit_code == 0, done.output
        decoded = decode((tmp_path / name).read_bytes())
        assert any(t.get("name") == "mlp on toy" for t in decoded.tracks.values())
    done = runner.invoke(
        app, ["run", "mlp", "--chip", "toy", "-q", "--trace", str(tmp_path / "t.json")]
    )
    assert done.exit_code == 0, done.output
    assert "traceEvents" in json.loads((tmp_path / "t.json").read_text())
    generation = ["run", "gpt2", "--chip", "toy", "--mode", "generate", "--prompt", "8",
                  "--tokens", "2", "--param", "layers=1", "-q"]  # fmt: skip
    done = runner.invoke(app, [*generation, "--trace", str(tmp_path / "g.pftrace")])
    assert done.exit_code == 0, done.output
    decoded = decode((tmp_path / "g.pftrace").read_bytes())
    processes = [t["name"] for t in decoded.tracks.values() if "pid" in t and "tid" not in t]
    assert len(processes) == 2 and "prefill" in processes[0] and "decode step" in processes[1]
