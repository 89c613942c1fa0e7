"""System sweeps (`topsim sweep MODEL --system S`): each point one run_system call on the
sweep machinery: workers, failed points as rows, resume, dask, system fields by dotted
path (sim/studies/sweep/systems.py). gpt2 on the hypothetical toy-4 keeps them fast."""

from __future__ import annotations

from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from hardware.errors import InputError
from hardware.system import load_system
from sim.cli.sweep import sweep as sweep_command
from sim.studies.sweep import build_spec, read_rows, run_sweep
from sim.studies.sweep.systems import RUN_PARAMS, SYSTEM_COLUMNS
from sim.system.run import run_system

BASE = ("gpt2", "--system", "toy-4", "--set", "seq=16")


def invoke(*args: str):
    app = typer.Typer(pretty_exceptions_enable=False)
    app.command()(sweep_command)
    runner = CliRunner(env={"COLUMNS": "200", "NO_COLOR": "1"})
    return runner.invoke(app, list(args), catch_exceptions=True)


def rows_by_id(path: Path) -> dict[str, dict]:
    return {row["id"]: row for row in read_rows(path)}


def test_jobs_1_and_2_write_the_same_rows_and_a_bad_degree_is_a_failed_row(
    tmp_path: Path,
) -> None:
    one, two = tmp_path / "one.csv", tmp_path / "two.csv"
    for out, jobs in ((one, "1"), (two, "2")):
        result = invoke(
            *BASE, "--vary", "tp=1,2,3", "--vary", "batch=1,2", "--out", str(out), "--jobs", jobs
        )
        assert result.exit_code == 1, result.output  # some points failed: 1, not 2
        assert "6 points: ran 6, 2 failed" in result.stdout
        assert "2 of 6 point(s) failed" in result.stdout
    assert rows_by_id(one) == rows_by_id(two)
    rows = read_rows(one)
    failed = [r for r in rows if r["error"]]
    assert sorted(r["tp"] for r in failed) == ["3", "3"]
    assert all("does not divide the 4 chips" in r["error"] for r in failed)
    assert all(r["prefill_latency_s"] is None for r in failed)
    good = [r for r in rows if not r["error"]]
    assert {r["plan"] for r in good} == {"tp1xpp1xdp4", "tp2xpp1xdp2"}
    assert "tp2xpp1xdp2" in result.stdout  # the table shows the points


def test_a_row_is_what_run_system_says_for_that_point(tmp_path: Path) -> None:
    out = tmp_path / "s.csv"
    spec = build_spec("gpt2", vary=["tp=2", "pp=2"], settings=["seq=16"], system="toy-4")
    run_sweep(spec, out, jobs=1)
    (row,) = read_rows(out)
    assert list(row) == ["id", "tp", "pp", *SYSTEM_COLUMNS, "error"]
    result = run_system("gpt2", load_system("toy-4"), tp=2, pp=2, seq=16)
    assert row["plan"] == "tp2xpp2xdp1"
    assert row["prefill_latency_s"] == pytest.approx(result.prefill.latency_s, rel=1e-12)
    assert row["decode_tokens_per_s"] == pytest.approx(result.decode.tokens_per_s, rel=1e-12)
    assert row["decode_bubble_share"] == pytest.approx(result.decode.bubble_share, rel=1e-12)
    assert row["memory_per_chip_bytes"] == result.memory.total_bytes
    assert row["fits"] == "True"


def test_resume_runs_only_the_points_not_in_the_file(tmp_path: Path) -> None:
    out = tmp_path / "s.csv"
    spec = build_spec("gpt2", vary=["tp=1,2,4", "batch=1,2"], settings=["seq=16"], system="toy-4")
    first = run_sweep(spec, out, jobs=1, limit=2)
    assert first.ran == 2
    kept = rows_by_id(out)
    result = invoke(
        *BASE, "--vary", "tp=1,2,4", "--vary", "batch=1,2", "--out", str(out), "--resume",
        "--jobs", "1",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "6 points, 2 already in the file: ran 4" in result.stdout
    rows = rows_by_id(out)
    assert len(rows) == 6
    assert all(rows[i] == row for i, row in kept.items())  # the kept lines untouched


def test_dask_local_cluster_gives_the_local_rows(tmp_path: Path) -> None:
    distributed = pytest.importorskip("distributed")
    spec = build_spec("gpt2", vary=["tp=2,4"], settings=["seq=16"], system="toy-4")
    local_out, dask_out = tmp_path / "local.csv", tmp_path / "dask.csv"
    run_sweep(spec, local_out, jobs=1)
    with (
        distributed.LocalCluster(
            n_workers=1, threads_per_worker=2, processes=False, dashboard_address=None
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        run = run_sweep(spec, dask_out, executor="dask", scheduler=client)
    assert run.ran == 2 and run.failed == 0
    assert rows_by_id(dask_out) == rows_by_id(local_out)


def test_a_system_field_varies_by_dotted_path(tmp_path: Path) -> None:
    """A faster link cuts only communication: tp4 prefill's collectives shrink, its
    chip time stays, so latency falls and the communication share with it."""
    out = tmp_path / "s.csv"
    spec = build_spec(
        "gpt2",
        vary=["interconnect.bandwidth=1GB/s,4GB/s"],
        settings=["seq=16", "tp=4"],
        system="toy-4",
    )
    run_sweep(spec, out, jobs=1)
    slow, fast = read_rows(out)
    column = "interconnect.bandwidth [B/s]"
    assert (slow[column], fast[column]) == (1e9, 4e9)
    assert fast["prefill_latency_s"] < slow["prefill_latency_s"]
    assert fast["prefill_communication_share"] < slow["prefill_communication_share"]
    direct = run_system(
        "gpt2", load_system("toy-4", {"interconnect.bandwidth": "4GB/s"}), tp=4, seq=16
    )
    assert fast["prefill_latency_s"] == pytest.approx(direct.prefill.latency_s, rel=1e-12)


def test_a_bad_override_value_is_a_failed_row(tmp_path: Path) -> None:
    out = tmp_path / "s.csv"
    spec = build_spec(
        "gpt2", vary=["interconnect.bandwidth=2GB/s,fast"], settings=["seq=16"], system="toy-4"
    )
    run = run_sweep(spec, out, jobs=1)
    assert run.failed == 1
    (bad,) = [r for r in read_rows(out) if r["error"]]
    assert "'fast' is not a bandwidth" in bad["error"]


def test_load_system_overrides_use_the_chip_rule() -> None:
    base = load_system("toy-4")
    changed = load_system(
        "toy-4", {"interconnect.latency": "2us", "chip.memory.dram.bandwidth": "3GB/s"}
    )
    assert changed.interconnect.latency == pytest.approx(2e-6)
    assert changed.chip.memory.dram.bandwidth == pytest.approx(3e9)
    assert changed.interconnect.bandwidth == base.interconnect.bandwidth
    assert "interconnect.latency" in changed.sources  # recorded as a user override
    assert load_system(base) == base
    assert load_system(base, {"chips": 2}).chips == 2
    with pytest.raises(InputError, match="bandwith"):
        load_system("toy-4", {"interconnect.bandwith": "1GB/s"})


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--vary", "tensor=1,2"), "not an option of a system run"),
        (("--vary", "interconnect.speed=1GB/s"), "has no field 'speed'"),
        (("--chip", "toy", "--vary", "tp=1,2"), "both a chip and a system"),
        (("--vary", "tp=1,2", "--metric", "tops"), "for a system sweep"),
    ],
)
def test_bad_input_is_exit_code_2(tmp_path: Path, args: tuple[str, ...], message: str) -> None:
    result = invoke(*BASE, *args, "--out", str(tmp_path / "s.csv"))
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert not (tmp_path / "s.csv").exists()


def test_a_system_sweep_needs_a_transformer(tmp_path: Path) -> None:
    result = invoke("resnet50", "--system", "toy-4", "--out", str(tmp_path / "s.csv"))
    assert result.exit_code == 2
    assert "not a transformer of the zoo" in result.output


def test_run_keys_are_run_systems_options() -> None:
    assert {"tp", "pp", "dp", "ep", "batch", "micro_batches", "seq"} <= set(RUN_PARAMS)


# serving sweeps (--serve) -----------------------------------------------------------------


def test_a_serving_row_is_what_serve_says_for_that_point(tmp_path: Path) -> None:
    from sim.studies.serve import serve

    out = tmp_path / "s.csv"
    spec = build_spec(
        "gpt2",
        vary=["rate=5,20"],
        settings=["duration=2s", "tp=4", "prompt=32", "tokens=8"],
        system="toy-4",
        serve=True,
    )
    run = run_sweep(spec, out, jobs=1)
    assert run.failed == 0
    rows = read_rows(out)
    assert [r["rate"] for r in rows] == ["5", "20"]
    for row, rate in zip(rows, (5, 20), strict=True):
        direct = serve("gpt2", load_system("toy-4"), rate, 2.0, prompt=32, tokens=8, tp=4)
        assert row["plan"] == "tp4xdp1"
        assert row["requests"] == direct.requests
        assert row["tokens_per_s"] == pytest.approx(direct.tokens_per_s, rel=1e-12)
        assert row["ttft_p99_s"] == pytest.approx(direct.ttft_s.p99, rel=1e-12)
        assert row["tpot_p50_s"] == pytest.approx(direct.tpot_s.p50, rel=1e-12)


def test_the_serving_command_needs_a_rate_and_a_duration(tmp_path: Path) -> None:
    out = str(tmp_path / "s.csv")
    result = invoke("gpt2", "--system", "toy-4", "--serve", "--vary", "tp=2,4", "--out", out)
    assert result.exit_code == 2
    assert "give rate and duration" in result.output
    result = invoke("gpt2", "--chip", "toy", "--serve", "--vary", "rate=1,2", "--out", out)
    assert result.exit_code == 2
    assert "give --system" in result.output
    result = invoke(
        "gpt2", "--system", "toy-4", "--serve", "--vary", "rate=1,2", "--set", "duration=1s",
        "--set", "prompt=16", "--set", "tokens=4", "--out", out, "--jobs", "1",
        "--metric", "ttft", "--sort", "ttft",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "Best points by p99 time to first token" in result.stdout
