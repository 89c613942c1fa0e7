"""Sweeps: spec parsing, stable points, resumable append-only output, executors, and two
behaviours a person can reason out: a cache-size knee and bandwidth-bound decode."""

from __future__ import annotations

import json
import random
import statistics
import subprocess
import sys
import time
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

import hardware
import sim
import workloads
from hardware.errors import InputError
from sim.cli.sweep import sweep as sweep_command
from sim.studies.sweep import (
    build_spec,
    classify,
    load_sweep_file,
    parse_values,
    parse_vary,
    point_id,
    points,
    read_rows,
    read_table,
    run_sweep,
)
from sim.studies.sweep import worker as sweep_worker

REPO_ROOT = Path(__file__).resolve().parents[2]


def small_spec(*extra: str):
    """seed-conv on the toy chip over 3 bandwidths x 2 fusion modes: 6 quick points."""
    return build_spec(
        "seed-conv",
        "toy",
        ["memory.dram.bandwidth=5GB/s,10GB/s,20GB/s", "fusion=none,epilogue", *extra],
    )


def by_id(rows: list[dict]) -> dict[str, dict]:
    return {row["id"]: row for row in rows}


# parsing ----------------------------------------------------------------------------------


def test_a_list_keeps_the_text_the_chip_spec_accepts() -> None:
    assert parse_vary("memory.dram.bandwidth=0.5TB/s,1TB/s,2TB/s") == (
        "memory.dram.bandwidth",
        ["0.5TB/s", "1TB/s", "2TB/s"],
    )
    assert parse_values("fusion", "none,epilogue,greedy") == ["none", "epilogue", "greedy"]
    assert parse_values("batch", "1,2,8") == [1, 2, 8]
    assert parse_values("units.npu.tile", "[8, 8, 16],[4, 4, 4]") == [[8, 8, 16], [4, 4, 4]]


def test_geometric_range_with_units_steps_by_the_factor() -> None:
    assert parse_values("memory.l2.capacity", "1MiB..256MiB*2") == [
        "1MiB",
        "2MiB",
        "4MiB",
        "8MiB",
        "16MiB",
        "32MiB",
        "64MiB",
        "128MiB",
        "256MiB",
    ]
    # each value in the largest of the range's units that keeps it >= 1
    assert parse_values("memory.l2.capacity", "256KiB..2MiB*2") == [
        "256KiB",
        "512KiB",
        "1MiB",
        "2MiB",
    ]
    assert parse_values("batch", "1..64*2") == [1, 2, 4, 8, 16, 32, 64]
    assert parse_values("launch.latency", "1us..1ms*10") == ["1us", "10us", "100us", "1ms"]


def test_arithmetic_range_steps_by_the_increment() -> None:
    assert parse_values("units.sm.instances", "16..128+16") == [16, 32, 48, 64, 80, 96, 112, 128]
    assert parse_values("memory.l2.capacity", "1MiB..4MiB+1MiB") == ["1MiB", "2MiB", "3MiB", "4MiB"]
    assert parse_values("x", "0.1..0.5+0.1") == [0.1, 0.2, 0.3, 0.4, 0.5]
    assert parse_values("batch", "1..3") == [1, 2, 3]  # integers step by one
    assert parse_values("batch", "1,4..16*2,4") == [1, 4, 8, 16]  # mixed, duplicates dropped


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("memory.l2.capacity=1MiB..2GHz*2", "one dimension"),
        ("memory.l2.capacity=8MiB..1MiB*2", "start is larger"),
        ("batch=1..8*1", "factor greater than 1"),
        ("batch=0..8*2", "start greater than zero"),
        ("units.sm.instances=16..128+0", "step greater than zero"),
        ("memory.l2.capacity=1MiB..8MiB", "say how to step"),
        ("memory.l2.capacity=big..huge*2", "not a number"),
        ("memory.l2.capacity=1MiB..8MiB*2MiB", "plain number"),
        ("batch=1,,2", "empty value"),
        ("batch=1..100000000+1", "at most"),
    ],
)
def test_bad_values_raise_input_error_naming_the_key(text: str, expected: str) -> None:
    key = text.partition("=")[0]
    with pytest.raises(InputError, match=expected) as caught:
        parse_vary(text)
    assert key in str(caught.value)


@pytest.mark.parametrize("text", ["memory.dram.bandwidth", "=1,2", "batch="])
def test_a_vary_without_key_or_values_is_an_input_error(text: str) -> None:
    with pytest.raises(InputError, match="KEY=VALUES"):
        parse_vary(text)


def test_keys_are_workload_parameters_sim_options_or_chip_paths() -> None:
    h100 = hardware.load_chip("h100-sxm")
    kinds = {
        key: classify(key, "resnet50", h100).kind
        for key in (
            "batch",
            "resolution",
            "dtype",
            "fusion",
            "prefetch",
            "sim.dtype",
            "memory.dram.bandwidth",
            "units.sm.instances",
            "chip.launch.latency",
        )
    }
    assert kinds == {
        "batch": "workload",
        "resolution": "workload",
        "dtype": "workload",
        "fusion": "sim",
        "prefetch": "sim",
        "sim.dtype": "sim",
        "memory.dram.bandwidth": "chip",
        "units.sm.instances": "chip",
        "chip.launch.latency": "chip",
    }
    assert classify("seq", "llama-2-7b", h100).kind == "workload"


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        ("memory.dram.bandwidht", "did you mean 'bandwidth'"),
        ("units.tensr.instances", "no units entry 'tensr'"),
        ("memory.dram.bandwidth.peak", "is a value"),
        ("bacth", "Did you mean 'batch'"),
        ("seq", "not a parameter of workload 'resnet50'"),
        ("workload.seq", "has no parameter 'seq'"),
        ("sim.speed", "no simulation option 'speed'"),
    ],
)
def test_unknown_keys_are_input_errors_with_a_hint(key: str, expected: str) -> None:
    with pytest.raises(InputError, match=expected) as caught:
        build_spec("resnet50", "h100-sxm", [f"{key}=1,2"])
    assert key in str(caught.value)


def test_product_order_and_ids_are_stable() -> None:
    spec = small_spec()
    first, again = points(spec), points(small_spec())
    assert [p.values for p in first] == [
        {"memory.dram.bandwidth": bw, "fusion": mode}
        for bw in ("5GB/s", "10GB/s", "20GB/s")
        for mode in ("none", "epilogue")
    ]
    assert [p.id for p in first] == [p.id for p in again]
    assert len({p.id for p in first}) == 6
    # the id hashes the sorted items: the order of --vary does not change it
    swapped = build_spec(
        "seed-conv", "toy", ["fusion=none,epilogue", "memory.dram.bandwidth=5GB/s,10GB/s,20GB/s"]
    )
    assert {p.id for p in points(swapped)} == {p.id for p in first}
    # ... but what is fixed does: another chip or setting is another point
    other = build_spec(
        "seed-conv",
        "toy",
        ["memory.dram.bandwidth=5GB/s,10GB/s,20GB/s", "fusion=none,epilogue"],
        ["batch=2"],
    )
    assert not {p.id for p in points(other)} & {p.id for p in first}
    assert point_id(spec, first[0].values) == first[0].id


def test_sweep_file_gives_workload_chip_and_ranges(tmp_path: Path) -> None:
    path = tmp_path / "sweep.yaml"
    path.write_text(
        "workload: resnet50\nchip: edge-npu\nset: {dtype: int8}\n"
        "vary:\n  memory.l2.capacity: 1MiB..4MiB*2\n  fusion: [none, greedy]\n"
        "  memory.dram.bandwidth: [6.4GB/s, 12.8GB/s..51.2GB/s*2]\n",
        encoding="utf-8",
    )
    spec = build_spec(file=path)
    assert (spec.workload, spec.chip) == ("resnet50", "edge-npu")
    assert {a.key: a.values for a in spec.axes} == {
        "memory.l2.capacity": ("1MiB", "2MiB", "4MiB"),
        "fusion": ("none", "greedy"),
        "memory.dram.bandwidth": ("6.4GB/s", "12.8GB/s", "25.6GB/s", "51.2GB/s"),
    }
    assert [(a.key, a.values) for a in spec.settings] == [("dtype", ("int8",))]
    # the command line wins: its chip, its values for a key
    spec = build_spec(None, "tpu-v1", ["fusion=epilogue"], [], path)
    assert spec.chip == "tpu-v1"
    assert dict((a.key, a.values) for a in spec.axes)["fusion"] == ("epilogue",)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("workload: resnet50\nchip: toy\nvaryy: {batch: [1]}\n", "did you mean 'vary'"),
        ("workload: resnet50\nchip: toy\nvary: [batch]\n", "'vary' must be a mapping"),
        (
            "workload: resnet50\nchip: toy\nvary: {batch: 4..1*2}\n",
            "vary batch=4..1\\*2: the start is larger",
        ),
        ("chip: toy\nvary: {batch: [1]}\n", "no workload"),
        ("workload: resnet50\nchip: toy\nvary: {batch: []}\n", "vary batch: no values"),
    ],
)
def test_bad_sweep_files_are_input_errors(tmp_path: Path, text: str, expected: str) -> None:
    path = tmp_path / "sweep.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(InputError, match=expected):
        build_spec(file=path)


def test_missing_sweep_file_is_an_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no such sweep file"):
        load_sweep_file(tmp_path / "nope.yaml")


# running ----------------------------------------------------------------------------------


def test_local_run_writes_every_point_once(tmp_path: Path) -> None:
    spec = small_spec()
    out = tmp_path / "sweep.csv"
    calls: list[tuple[int, int]] = []
    run = run_sweep(spec, out, jobs=2, progress=lambda done, total: calls.append((done, total)))
    rows, header = read_table(out)
    assert header == spec.columns
    assert header[:3] == ["id", "memory.dram.bandwidth [B/s]", "fusion"]
    assert header[-1] == "error" and "loss_memory" in header and "delivered_tops" in header
    assert sorted(r["id"] for r in rows) == sorted(p.id for p in points(spec))
    assert (run.total, run.ran, run.skipped, run.failed) == (6, 6, 0, 0)
    assert calls[0] == (0, 6) and calls[-1] == (6, 6) and len(calls) == 7
    # each row is the same as simulating the point directly
    for point in points(spec):
        row = by_id(rows)[point.id]
        chip = hardware.load_chip(
            "toy", overrides={"memory.dram.bandwidth": point.values["memory.dram.bandwidth"]}
        )
        direct = sim.simulate(workloads.build("seed-conv"), chip, fusion=point.values["fusion"])
        assert row["latency_s"] == direct.latency_s
        assert row["top_loss"] == direct.top_loss()
        assert row["loss_starvation"] == direct.loss_share("starvation")
        assert row["delivered_tops"] == pytest.approx(direct.delivered_ops_per_s / 1e12)
        assert row["error"] == ""


def test_bandwidth_helps_seed_conv_on_toy_only_where_memory_bound(tmp_path: Path) -> None:
    # seed-conv moves 1.18 MB: 118 us at 10 GB/s, hidden under ~917 us of compute; at
    # 1 GB/s it takes 1.18 ms and sets the pace.
    spec = build_spec("seed-conv", "toy", ["memory.dram.bandwidth=1GB/s,10GB/s,100GB/s"])
    out = tmp_path / "bw.jsonl"
    run_sweep(spec, out, jobs=1)
    latency = {r["memory.dram.bandwidth [B/s]"]: r["latency_s"] for r in read_rows(out)}
    assert latency[1e9] > 1.18e-3
    assert latency[10e9] == pytest.approx(latency[100e9], rel=1e-3)


def test_resume_skips_finished_points_and_repairs_a_torn_line(tmp_path: Path) -> None:
    spec = small_spec()
    out = tmp_path / "sweep.csv"
    first = run_sweep(spec, out, jobs=1, limit=2)
    assert (first.ran, first.skipped) == (2, 0)
    done = {r["id"] for r in read_rows(out)}
    assert len(done) == 2
    with open(out, "a", encoding="utf-8") as handle:  # killed while writing a third row
        handle.write("0123456789ab,10GB/s,epil")
    with pytest.warns(UserWarning, match="torn last line"):
        second = run_sweep(spec, out, jobs=2, resume=True)
    assert (second.ran, second.skipped) == (4, 2)
    rows, header = read_table(out)
    ids = [r["id"] for r in rows]
    assert len(ids) == len(set(ids)) == 6
    assert set(ids) == {p.id for p in points(spec)}
    text = out.read_text(encoding="utf-8")
    assert "epil\n" not in text and "0123456789ab" not in text
    assert text.count("\n") == 7  # header + 6 rows, every line complete
    third = run_sweep(spec, out, jobs=1, resume=True)
    assert (third.ran, third.skipped) == (0, 6)
    assert len(read_rows(out)) == 6


# fault injection: kill points (rows written before SIGKILL) drawn once from a seeded RNG,
# so the runs are deterministic in what they ask for but land at arbitrary byte offsets
KILL_POINTS = sorted(random.Random(10).sample(range(1, 90), 6))


@pytest.mark.parametrize(
    ("rows_before_kill", "suffix"),
    [(n, ".csv" if i % 2 else ".jsonl") for i, n in enumerate(KILL_POINTS)],
)
def test_a_killed_sweep_loses_only_the_points_in_flight(
    tmp_path: Path, rows_before_kill: int, suffix: str
) -> None:
    """SIGKILL a sweep in another process once some rows are written; resume finishes it
    with every point exactly once (whenever the kill landed, even mid-line)."""
    out = tmp_path / f"killed{suffix}"
    vary = ["memory.dram.bandwidth=1GB/s..100GB/s+1GB/s"]
    script = (
        "from sim.studies.sweep import build_spec, run_sweep\n"
        f"run_sweep(build_spec('resnet50', 'toy', {vary!r}), {str(out)!r}, jobs=1)\n"
    )
    child = subprocess.Popen([sys.executable, "-c", script], cwd=REPO_ROOT)
    try:
        deadline = time.monotonic() + 60
        while child.poll() is None and time.monotonic() < deadline:
            if out.is_file() and out.read_bytes().count(b"\n") >= rows_before_kill:
                break
            time.sleep(0.005)
    finally:
        child.kill()
        child.wait()
    survivors = {r["id"] for r in read_rows(out)}
    assert survivors
    spec = build_spec("resnet50", "toy", vary)
    run = run_sweep(spec, out, jobs=2, resume=True)
    assert run.skipped == len(survivors) and run.ran == 100 - len(survivors)
    ids = [r["id"] for r in read_rows(out)]
    assert len(ids) == len(set(ids)) == 100


def test_resume_of_json_lines_repairs_a_torn_line(tmp_path: Path) -> None:
    spec = small_spec()
    out = tmp_path / "sweep.jsonl"
    run_sweep(spec, out, jobs=1, limit=4)
    with open(out, "a", encoding="utf-8") as handle:
        handle.write('{"id": "0123456789ab", "latency')
    with pytest.warns(UserWarning, match="torn last line"):
        run_sweep(spec, out, jobs=1, resume=True)
    lines = out.read_text(encoding="utf-8").splitlines()
    rows = [json.loads(line) for line in lines]
    assert len(rows) == 6 and len({r["id"] for r in rows}) == 6
    assert all(set(r) == set(spec.columns) for r in rows)


def test_an_earlier_sweep_is_kept_unless_resumed_or_overwritten(tmp_path: Path) -> None:
    spec = small_spec()
    out = tmp_path / "sweep.csv"
    run_sweep(spec, out, jobs=1, limit=3)
    with pytest.raises(InputError, match="--overwrite"):
        run_sweep(spec, out, jobs=1, limit=2)
    assert len(read_rows(out)) == 3
    run_sweep(spec, out, jobs=1, limit=2, overwrite=True)
    assert len(read_rows(out)) == 2


def test_resume_with_other_columns_is_an_input_error(tmp_path: Path) -> None:
    out = tmp_path / "sweep.csv"
    run_sweep(small_spec(), out, jobs=1, limit=1)
    other = build_spec("seed-conv", "toy", ["memory.dram.bandwidth=5GB/s,10GB/s"])
    with pytest.raises(InputError, match="columns"):
        run_sweep(other, out, jobs=1, resume=True)


def test_unknown_output_type_is_an_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="unknown output type"):
        run_sweep(small_spec(), tmp_path / "sweep.txt", jobs=1)


def test_invalid_points_are_recorded_and_the_sweep_goes_on(tmp_path: Path) -> None:
    # 0 GB/s is physically impossible; 'sideways' is no fusion mode
    spec = build_spec(
        "seed-conv", "toy", ["memory.dram.bandwidth=0GB/s,10GB/s", "fusion=none,sideways"]
    )
    out = tmp_path / "sweep.csv"
    run = run_sweep(spec, out, jobs=2)
    rows = {(r["memory.dram.bandwidth [B/s]"], r["fusion"]): r for r in read_rows(out)}
    assert len(rows) == 4 and run.failed == 3
    assert "memory.dram.bandwidth" in rows[(0.0, "none")]["error"]
    assert "greater than zero" in rows[(0.0, "none")]["error"]
    assert "fusion" in rows[(10e9, "sideways")]["error"]
    assert rows[(10e9, "none")]["error"] == ""
    assert rows[(10e9, "none")]["latency_s"] > 0
    assert rows[(0.0, "none")]["latency_s"] is None


def test_a_failing_simulation_is_recorded_with_its_message(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = sweep_worker.simulate

    def flaky(graph, chip, planner, **options):
        if options.get("fusion") == "none":
            raise ZeroDivisionError("float division by zero")
        return real(graph, chip, planner=planner, **options)

    monkeypatch.setattr(sweep_worker, "simulate", flaky)
    out = tmp_path / "sweep.jsonl"
    run = run_sweep(small_spec(), out, jobs=1)  # in this process, so the patch applies
    rows = read_rows(out)
    failed = [r for r in rows if r["error"]]
    assert run.failed == len(failed) == 3
    assert all(r["fusion"] == "none" for r in failed)
    assert "ZeroDivisionError: float division by zero" in failed[0]["error"]
    assert all(r["latency_s"] > 0 for r in rows if not r["error"])


def test_dask_local_cluster_gives_the_same_results_as_local(tmp_path: Path) -> None:
    distributed = pytest.importorskip("distributed")
    spec = small_spec()
    local_out, dask_out = tmp_path / "local.csv", tmp_path / "dask.csv"
    run_sweep(spec, local_out, jobs=2)
    with (
        distributed.LocalCluster(
            n_workers=1, threads_per_worker=2, processes=False, dashboard_address=None
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        run = run_sweep(spec, dask_out, executor="dask", scheduler=client)
    assert run.ran == 6
    assert by_id(read_rows(dask_out)) == by_id(read_rows(local_out))


def test_unknown_executor_is_an_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="executor"):
        run_sweep(small_spec(), tmp_path / "s.csv", executor="slurm")


# behaviours -------------------------------------------------------------------------------


def test_scratchpad_size_sweep_is_monotone_with_a_knee_where_activations_fit(
    tmp_path: Path,
) -> None:
    """resnet50 batch 1 int8 on edge-npu (software scratchpad), 64 KiB .. 32 MiB by x2.

    Model (sim/lower.py): a tensor is read from chip when the bytes touched since it was
    written fit the capacity (LRU stack distance). A layer's input follows its producer
    directly, so it stays on chip once capacity >= its size; a residual shortcut also has
    to outlive its block's intermediates (~A/4 each) and weights, about 2-3x its own size.
    So with A the largest activation tensor (112x112x64 or 56x56x256 int8 = 784 KiB),
    activations start to fit between A and 4A; beyond that only weights, read once per
    inference whatever the capacity, remain.

    Knee (definition): the first capacity whose latency is within 2% of the latency at the
    largest capacity. Checked: latency never rises with capacity; the knee lies in
    [A, 4A]; it is sharp (the doubling into it saves at least 10x more than any doubling
    after it); and below A the chip is at least 10% slower than at the plateau.
    """
    graph = workloads.build("resnet50", batch=1, dtype="int8")
    largest_activation = max(t.nbytes for t in graph.tensors.values() if not t.const)
    assert largest_activation == 112 * 112 * 64
    spec = build_spec(
        "resnet50", "edge-npu", ["memory.l2.capacity=64KiB..32MiB*2"], ["batch=1", "dtype=int8"]
    )
    out = tmp_path / "l2.csv"
    run_sweep(spec, out, jobs=2)
    rows = read_rows(out)
    assert not any(r["error"] for r in rows)
    curve = sorted((r["memory.l2.capacity [B]"], r["latency_s"]) for r in rows)
    capacities = [c for c, _ in curve]
    latency = [t for _, t in curve]
    assert len(curve) == 10
    assert all(b <= a * (1 + 1e-12) for a, b in zip(latency, latency[1:], strict=False))
    plateau = latency[-1]
    knee = next(i for i, t in enumerate(latency) if t <= 1.02 * plateau)
    assert largest_activation <= capacities[knee] <= 4 * largest_activation
    drops = [a - b for a, b in zip(latency, latency[1:], strict=False)]
    assert drops[knee - 1] >= 10 * max(drops[knee:])
    below = [t for c, t in curve if c < largest_activation]
    assert min(below) >= 1.10 * plateau


def test_decode_scales_with_bandwidth_until_the_fixed_costs_take_over(tmp_path: Path) -> None:
    """llama-2-7b decode (2 layers, 512 cached tokens) batch 1 on h100-sxm, DRAM bandwidth
    0.125 .. 128 TB/s by x2.

    One decode step reads every weight once for ~1 MAC each (~1 op/B, far below the
    H100's ridge point), so latency ~ D / B + F: D the DRAM bytes, F what does not move
    with bandwidth (compute, launches). Let B* = D / F (F = latency at the top bandwidth).
    Doubling B speeds up by (D/B + F) / (D/2B + F): at least 1.8 when B <= B*/8 (memory
    bound, near-linear), at most 1.11 when B >= 4 B* (launch/compute bound).
    """
    graph = workloads.build("llama-2-7b", mode="decode", kv=512, layers=2)
    dram_bytes = sim.simulate(graph, hardware.load_chip("h100-sxm")).dram_bytes
    spec = build_spec(
        "llama-2-7b",
        "h100-sxm",
        ["memory.dram.bandwidth=0.125TB/s..128TB/s*2"],
        ["mode=decode", "kv=512", "layers=2", "batch=1"],
    )
    out = tmp_path / "bw.csv"
    run_sweep(spec, out, jobs=2)
    rows = sorted(read_rows(out), key=lambda r: r["memory.dram.bandwidth [B/s]"])
    bandwidth = [r["memory.dram.bandwidth [B/s]"] for r in rows]
    latency = [r["latency_s"] for r in rows]
    assert len(rows) == 11
    fixed = latency[-1]
    crossover = dram_bytes / fixed
    speedups = [(b, a / c) for b, a, c in zip(bandwidth, latency, latency[1:], strict=False)]
    memory_bound = [s for b, s in speedups if b <= crossover / 8]
    fixed_bound = [s for b, s in speedups if b >= 4 * crossover]
    assert len(memory_bound) >= 3 and len(fixed_bound) >= 2
    assert min(memory_bound) >= 1.8
    assert max(fixed_bound) <= 1.11
    assert statistics.median(memory_bound) >= 1.9  # near-linear, not merely faster
    assert rows[0]["top_loss"] == "memory"
    assert rows[-1]["top_loss"] != "memory"


# the command ------------------------------------------------------------------------------


def invoke(*args: str):
    app = typer.Typer(pretty_exceptions_enable=False)
    app.command()(sweep_command)
    runner = CliRunner(env={"COLUMNS": "200", "NO_COLOR": "1"})
    return runner.invoke(app, list(args), catch_exceptions=True)


def test_command_writes_the_file_and_prints_best_points(tmp_path: Path) -> None:
    out = tmp_path / "sweep.csv"
    result = invoke(
        "seed-conv",
        "--chip",
        "toy",
        "--vary",
        "memory.dram.bandwidth=1GB/s,10GB/s",
        "--vary",
        "fusion=none,epilogue",
        "--out",
        str(out),
        "--jobs",
        "1",
    )
    assert result.exit_code == 0, result.output
    assert len(read_rows(out)) == 4
    assert "Points by memory.dram.bandwidth, fusion" in result.stdout
    assert "Which loss dominates where" in result.stdout
    assert "4 points: ran 4" in result.stdout


def test_command_turns_bad_input_into_exit_code_2(tmp_path: Path) -> None:
    result = invoke(
        "seed-conv",
        "--chip",
        "toy",
        "--vary",
        "memory.dram.bandwidht=1GB/s",
        "--out",
        str(tmp_path / "s.csv"),
    )
    assert result.exit_code == 2
    assert "did you mean 'bandwidth'" in result.output
    result = invoke(
        "seed-conv",
        "--chip",
        "toy",
        "--vary",
        "batch=1,2",
        "--metric",
        "speed",
        "--out",
        str(tmp_path / "s.csv"),
    )
    assert result.exit_code == 2
    assert "--metric" in result.output


def test_command_plots_a_heatmap_of_two_numeric_fields(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    png = tmp_path / "sweep.png"
    result = invoke(
        "seed-conv",
        "--chip",
        "toy",
        "--vary",
        "memory.dram.bandwidth=1GB/s,10GB/s",
        "--vary",
        "memory.l2.capacity=256KiB..1MiB*2",
        "--out",
        str(tmp_path / "s.csv"),
        "--jobs",
        "1",
        "--plot",
        str(png),
        "--metric",
        "tops",
    )
    assert result.exit_code == 0, result.output
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_plot_without_matplotlib_is_an_input_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import builtins

    real_import = builtins.__import__

    def no_matplotlib(name, *args, **kwargs):
        if name.startswith("matplotlib"):
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_matplotlib)
    result = invoke(
        "seed-conv",
        "--chip",
        "toy",
        "--vary",
        "fusion=none,epilogue",
        "--out",
        str(tmp_path / "s.csv"),
        "--jobs",
        "1",
        "--plot",
        str(tmp_path / "s.png"),
    )
    assert result.exit_code == 2
    assert "matplotlib" in result.output
    assert not (tmp_path / "s.csv").exists()  # refused before the sweep ran
