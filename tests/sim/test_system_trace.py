"""`topsim system --trace`: one process per stage group, one track per link, slices whose
times are the system result's."""

from __future__ import annotations

import json
from collections import defaultdict

import pytest
from typer.testing import CliRunner

from hardware.system import SYSTEM_DIR, load_system
from sim.cli.main import app
from sim.render.system_trace import system_trace
from sim.system.run import run_system

US = 1e6


def tracks(trace: dict) -> dict[tuple[str, str], list[dict]]:
    """Slices by (process name, track name)."""
    events = trace["traceEvents"]
    process = {e["pid"]: e["args"]["name"] for e in events if e["name"] == "process_name"}
    thread = {(e["pid"], e["tid"]): e["args"]["name"] for e in events if e["name"] == "thread_name"}
    found = defaultdict(list)
    for event in events:
        if event["ph"] == "X":
            found[process[event["pid"]], thread[event["pid"], event["tid"]]].append(event)
    return found


def test_a_pipeline_trace_shows_each_stage_and_link_at_the_results_times(tmp_path):
    toy4 = load_system("toy-4")
    result = run_system("gpt2", toy4, tp=2, pp=2, seq=8, batch=4, micro_batches=2)
    path = tmp_path / "system.json"
    runner = CliRunner()
    args = ["system", "gpt2", "--system", "toy-4", "--tp", "2", "--pp", "2", "--seq", "8"]
    out = runner.invoke(app, [*args, "--batch", "4", "--micro-batches", "2", "--trace", str(path)])
    assert out.exit_code == 0, out.output
    trace = json.loads(path.read_text())
    assert trace == json.loads(json.dumps(system_trace(result)))
    names = [e["args"]["name"] for e in trace["traceEvents"] if e["name"] == "process_name"]
    assert names == ["stage 0 (chips 0-1)", "stage 1 (chips 2-3)", "links"]
    found = tracks(trace)
    link_tracks = {track for process, track in found if process == "links"}
    assert link_tracks == {"stage 0 TP group", "stage 0 -> 1", "stage 1 TP group"}
    prefill = result.prefill
    for phase, offset in ((prefill, 0.0), (result.decode, prefill.latency_s)):

        def total(process, track, phase=phase):
            slices = [e for e in found[process, track] if e["cat"] == phase.name]
            return sum(e["dur"] for e in slices) / US, slices

        for stage in phase.stages:
            name = names[stage.stage]
            busy, slices = total(name, "compute")
            assert len(slices) == 2  # one per micro-batch
            assert busy == pytest.approx(stage.compute_s, rel=1e-9)
            assert total(name, "collectives")[0] == pytest.approx(stage.collectives_s, rel=1e-9)
        for link in phase.links:
            assert total("links", link.name)[0] == pytest.approx(link.busy_s, rel=1e-9)
        ends = [e["ts"] + e["dur"] for e in trace["traceEvents"] if e.get("cat") == phase.name]
        assert max(ends) / US == pytest.approx(offset + phase.latency_s, rel=1e-9)
        starts = [e["ts"] for e in trace["traceEvents"] if e.get("cat") == phase.name]
        assert min(starts) / US == pytest.approx(offset, rel=1e-9)


def test_one_stage_of_eight_chips_has_one_process_and_one_link_track():
    result = run_system("llama-2-7b", load_system("hgx-h100"), seq=16, overlap_comm=True)
    found = tracks(system_trace(result))
    assert set(found) == {
        ("stage 0 (chips 0-7)", "compute"),
        ("stage 0 (chips 0-7)", "collectives"),
        ("links", "stage 0 TP group"),
    }
    # overlapped: the links stay busy for every collective, the critical path holds less
    (link,) = [e for e in found["links", "stage 0 TP group"] if e["cat"] == "prefill"]
    (exposed,) = [e for e in found["stage 0 (chips 0-7)", "collectives"] if e["cat"] == "prefill"]
    assert link["dur"] / US == pytest.approx(result.prefill.links[0].busy_s, rel=1e-9)
    assert exposed["dur"] / US == pytest.approx(result.prefill.communication_s, rel=1e-9)
    assert exposed["dur"] < link["dur"]


def test_the_trace_refuses_stdout_and_never_overwrites_an_input(tmp_path):
    runner = CliRunner()
    for target in ("-", str(tmp_path / "t.perfetto-trace")):
        out = runner.invoke(app, ["system", "gpt2", "--system", "toy-4", "--trace", target])
        assert out.exit_code == 2 and "ending in .json" in " ".join(out.output.split())
    system = tmp_path / "mine.json"
    system.write_text((SYSTEM_DIR / "toy-4.yaml").read_text())
    before = system.read_text()
    out = runner.invoke(app, ["system", "gpt2", "--system", str(system), "--trace", str(system)])
    assert out.exit_code == 2 and system.read_text() == before
    assert "is also an input of this run" in " ".join(out.output.split())
