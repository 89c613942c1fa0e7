"""Chrome trace-event JSON: parsed back and checked against the Result it came from."""

import json

import pytest

import hardware
import sim
import workloads
from sim.render.chrome_trace import chrome_trace, transfer_bytes, write_chrome_trace

TOY = hardware.load_chip("toy")


def strict_load(path) -> dict:
    def reject(constant):
        raise ValueError(f"{constant} is not JSON that chrome://tracing reads")

    return json.loads(path.read_text(encoding="utf-8"), parse_constant=reject)


@pytest.fixture(scope="module")
def stream():
    return sim.simulate(workloads.build("mlp"), TOY, batches=3)


def thread_names(events: list[dict]) -> dict[int, str]:
    return {
        e["tid"]: e["args"]["name"] for e in events if e["ph"] == "M" and e["name"] == "thread_name"
    }


def test_every_segment_is_a_complete_event_on_its_named_track(stream, tmp_path):
    path = write_chrome_trace(stream, tmp_path / "run.json")
    data = strict_load(path)
    events = data["traceEvents"]
    names = thread_names(events)
    assert sorted(names.values()) == sorted(
        ["mxu", "cpu", "dram", "host_link", "input", "launcher"]
    )
    process = [e for e in events if e["ph"] == "M" and e["name"] == "process_name"]
    assert process[0]["args"]["name"] == "mlp on toy"
    slices = [e for e in events if e["ph"] == "X" and e["cat"] != "batch"]
    assert len(slices) == len(stream.timeline)
    for event, segment in zip(slices, stream.timeline, strict=True):
        assert names[event["tid"]] == segment.track
        assert event["name"] == segment.label
        assert event["cat"] == segment.kind
        assert event["ts"] == pytest.approx(segment.start_s * 1e6, rel=1e-12, abs=1e-9)
        assert event["dur"] == pytest.approx(
            (segment.end_s - segment.start_s) * 1e6, rel=1e-12, abs=1e-9
        )
        assert event["pid"] == 1


def test_kernel_events_carry_their_op_row(stream):
    events = chrome_trace(stream)["traceEvents"]
    kernels = [e for e in events if e["ph"] == "X" and e["cat"] == "kernel"]
    assert len(kernels) == 3 * len(stream.ops)  # every kernel of every batch
    rows = {row.name: row for row in stream.ops}
    for event in kernels:
        row = rows[event["name"]]
        assert event["args"]["bound"] == row.bound
        assert event["args"]["dram_bytes"] == row.dram_bytes
        assert event["args"]["intensity_ops_per_byte"] == pytest.approx(row.intensity)


@pytest.mark.parametrize("overlap", [True, False])
def test_dram_bandwidth_counter_moves_the_kernels_bytes_within_the_chip_bandwidth(overlap):
    result = sim.simulate(workloads.build("mlp", layers=2), TOY, overlap=overlap, batches=2)
    events = chrome_trace(result)["traceEvents"]
    bandwidth = [e for e in events if e["name"] == "DRAM bandwidth in use"]
    flying = [e for e in events if e["name"] == "DRAM transfers in flight"]
    assert bandwidth and len(bandwidth) == len(flying)
    assert max(e["args"]["GB/s"] for e in bandwidth) <= TOY.memory.dram.bandwidth / 1e9 * 1.0001
    # the counter is a step function: its integral is every DRAM byte on the timeline
    moved = sum(
        e["args"]["GB/s"] * 1e9 * (nxt["ts"] - e["ts"]) * 1e-6
        for e, nxt in zip(bandwidth, bandwidth[1:], strict=False)
    )
    kernels = sum(1 for s in result.timeline if s.kind == "kernel")
    assert moved == pytest.approx(
        result.dram_bytes / result.batches * kernels / len(result.ops), rel=1e-9
    )
    assert flying[-1]["args"]["transfers"] == 0
    assert bandwidth[-1]["args"]["GB/s"] == 0
    per_segment = [b for b in transfer_bytes(result) if b is not None]
    assert len(per_segment) == sum(1 for s in result.timeline if s.track == "dram")


def test_sustained_run_has_temperature_clock_and_latency_counters(tmp_path):
    hot = hardware.load_chip("toy", {"thermal.resistance": 100, "thermal.capacitance": 0.001})
    result = sim.simulate(workloads.build("seed-conv"), hot, duration_s=0.2)
    data = strict_load(write_chrome_trace(result, tmp_path / "hot.json"))
    counters = [e for e in data["traceEvents"] if e["ph"] == "C"]
    temperature = [e for e in counters if e["name"] == "temperature"]
    clock = [e for e in counters if e["name"] == "clock"]
    assert len(temperature) == len(clock) == len(result.power.trace)
    for event, point in zip(temperature, result.power.trace, strict=True):
        assert event["ts"] == pytest.approx(point.time_s * 1e6)
        assert event["args"]["°C"] == pytest.approx(point.temperature_c)
    assert {e["args"]["MHz"] for e in clock} == {1000.0, 500.0}  # it throttled
    latency = [e for e in counters if e["name"] == "batch latency"]
    assert len(latency) == len(result.series)
    assert data["otherData"]["batches"] == result.batches


def test_unwritable_trace_path_is_an_input_error(stream, tmp_path):
    with pytest.raises(hardware.InputError, match="cannot write"):
        write_chrome_trace(stream, tmp_path / "missing-dir" / "run.json")


def test_each_launch_flows_to_the_kernel_it_started(stream):
    events = chrome_trace(stream)["traceEvents"]
    names = thread_names(events)
    starts = {e["id"]: e for e in events if e["ph"] == "s"}
    finishes = {e["id"]: e for e in events if e["ph"] == "f"}
    launches = [s for s in stream.timeline if s.kind == "launch"]
    assert len(starts) == len(finishes) == len(launches) == 3 * len(stream.ops)
    kernels = [e for e in events if e["ph"] == "X" and e["cat"] == "kernel"]
    for flow_id, start in starts.items():
        finish = finishes[flow_id]
        assert names[start["tid"]] == "launcher" and finish["bp"] == "e"
        assert start["ts"] <= finish["ts"]  # a kernel starts after its launch
        target = [k for k in kernels if k["tid"] == finish["tid"] and k["ts"] == finish["ts"]]
        assert len(target) == 1  # the arrow lands on the start of one kernel slice


def test_kernels_nest_under_one_batch_slice_per_unit_track(stream):
    events = chrome_trace(stream)["traceEvents"]
    batches = [e for e in events if e["ph"] == "X" and e["cat"] == "batch"]
    kernels = [e for e in events if e["ph"] == "X" and e["cat"] == "kernel"]
    assert [b["name"] for b in batches] == ["batch 0", "batch 1", "batch 2"]
    for kernel in kernels:
        inside = [
            b
            for b in batches
            if b["tid"] == kernel["tid"]
            and b["ts"] <= kernel["ts"]
            and kernel["ts"] + kernel["dur"] <= b["ts"] + b["dur"] + 1e-9
        ]
        assert len(inside) == 1
    for a, b in zip(batches, batches[1:], strict=False):  # slices on one track never cross
        assert a["ts"] + a["dur"] <= b["ts"] + 1e-9


def test_links_have_their_own_tracks(stream):
    names = set(thread_names(chrome_trace(stream)["traceEvents"]).values())
    assert {"dram", "host_link", "input"} <= names
