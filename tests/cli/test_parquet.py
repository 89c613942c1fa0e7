"""Parquet outputs (the `parquet` extra): sweeps, the latency table and the per-kernel
report, typed as their CSV is, resumable, and a clear error without pyarrow."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

import hardware
import sim
import workloads
from hardware.errors import InputError
from sim.cli.main import app
from sim.render.frames import kernel_rows, write_kernels
from sim.studies.lut import space_from, write_lut
from sim.studies.sweep import build_spec, read_rows, run_sweep
from sim.studies.sweep.store import journal_path

pq = pytest.importorskip("pyarrow.parquet")
pa = pytest.importorskip("pyarrow")

TOY = hardware.load_chip("toy")
VARY = ["memory.dram.bandwidth=1GB/s,10GB/s", "batch=1,2"]


def invoke(*args: str):
    return CliRunner(env={"COLUMNS": "200"}).invoke(app, list(args), catch_exceptions=True)


def types(path: Path) -> dict[str, str]:
    return {f.name: str(f.type) for f in pq.read_schema(path)}


def test_sweep_parquet_is_the_csv_with_typed_columns(tmp_path: Path):
    spec = build_spec("seed-conv", "toy", VARY)
    run_sweep(spec, tmp_path / "s.csv", jobs=1)
    run_sweep(spec, tmp_path / "s.parquet", jobs=1)
    assert not journal_path(tmp_path / "s.parquet").exists()
    table = pq.read_table(tmp_path / "s.parquet")
    assert table.column_names == spec.columns  # the CSV's header, units in the names
    kinds = types(tmp_path / "s.parquet")
    assert kinds["memory.dram.bandwidth [B/s]"] == "double"
    assert kinds["batch"] == "int64"
    assert kinds["latency_s"] == kinds["loss_memory"] == "double"
    assert kinds["id"] == kinds["top_loss"] == kinds["error"] == "string"
    by_id = {row["id"]: row for row in read_rows(tmp_path / "s.csv")}
    rows = table.to_pylist()
    assert len(rows) == len(by_id) == 4
    for row in rows:
        csv_row = by_id[row["id"]]
        assert row["latency_s"] == csv_row["latency_s"]
        assert row["memory.dram.bandwidth [B/s]"] == csv_row["memory.dram.bandwidth [B/s]"]
        assert row["batch"] == int(csv_row["batch"])
        assert row["error"] is None


def test_sweep_parquet_resumes_from_the_file_and_from_a_stopped_runs_journal(tmp_path: Path):
    out = tmp_path / "s.parquet"
    small = build_spec("seed-conv", "toy", ["batch=1,2"])
    run_sweep(small, out, jobs=1)
    bigger = build_spec("seed-conv", "toy", ["batch=1,2,4"])
    again = run_sweep(bigger, out, jobs=1, resume=True)
    assert (again.skipped, again.ran) == (2, 1)
    assert sorted(pq.read_table(out).column("batch").to_pylist()) == [1, 2, 4]
    # a run stopped after one point leaves its rows in the journal; --resume continues it
    out2 = tmp_path / "t.parquet"
    run_sweep(bigger, journal_path(out2), jobs=1, limit=1)
    assert not out2.exists()
    done = run_sweep(bigger, out2, jobs=1, resume=True)
    assert (done.skipped, done.ran) == (1, 2)
    assert sorted(pq.read_table(out2).column("batch").to_pylist()) == [1, 2, 4]
    assert not journal_path(out2).exists()


def test_sweep_parquet_resume_with_other_columns_is_refused(tmp_path: Path):
    out = tmp_path / "s.parquet"
    run_sweep(build_spec("seed-conv", "toy", ["batch=1,2"]), out, jobs=1)
    with pytest.raises(InputError, match="columns"):
        run_sweep(build_spec("seed-conv", "toy", ["fusion=none"]), out, jobs=1, resume=True)


def test_a_parquet_file_that_is_no_sweep_is_not_replaced(tmp_path: Path):
    out = tmp_path / "mine.parquet"
    pq.write_table(pa.table({"a": [1, 2]}), out)
    result = invoke("sweep", "seed-conv", "--chip", "toy", "--vary", "batch=1,2",
                    "--out", str(out))  # fmt: skip
    assert result.exit_code == 2
    assert pq.read_table(out).column_names == ["a"]


def test_cli_sweep_writes_parquet(tmp_path: Path):
    out = tmp_path / "s.parquet"
    args = ["sweep", "seed-conv", "--chip", "toy", "--vary", "batch=1,2", "-j", "1"]
    result = invoke(*args, "--out", str(out))
    assert result.exit_code == 0, result.output
    assert "2 points: ran 2" in result.output
    assert pq.read_table(out).num_rows == 2


def test_lut_parquet_has_the_tables_rows(tmp_path: Path):
    space = space_from(
        {
            "name": "tiny",
            "dtype": "fp16",
            "candidates": {"conv": {"block": "conv", "kernel": 3}, "skip": {"block": "skip"}},
            "stages": [{"resolution": 8, "in": 8, "out": 8, "stride": 1, "repeat": 1}],
        },
        "tiny",
    )
    run = write_lut(space, TOY, tmp_path / "t.parquet", jobs=1)
    table = pq.read_table(tmp_path / "t.parquet")
    assert table.num_rows == len(run.rows) > 0
    kinds = types(tmp_path / "t.parquet")
    assert kinds["layer"] == "int64" and kinds["latency_s"] == "double"
    assert kinds["energy_j"] == "double" and kinds["candidate"] == "string"
    again = write_lut(space, TOY, tmp_path / "t.parquet", jobs=1, resume=True)
    assert again.measured == 0 and len(again.rows) == len(run.rows)


def test_kernels_parquet_matches_the_rows(tmp_path: Path):
    result = sim.simulate(workloads.build("mlp"), TOY)
    write_kernels(result, tmp_path / "k.parquet")
    rows = pq.read_table(tmp_path / "k.parquet").to_pylist()
    assert rows == kernel_rows(result)
    cli = invoke("run", "mlp", "--chip", "toy", "-q", "--kernels", str(tmp_path / "c.parquet"))
    assert cli.exit_code == 0, cli.output
    assert pq.read_table(tmp_path / "c.parquet").num_rows == len(result.ops)


@pytest.mark.parametrize(
    "args",
    [
        ["sweep", "seed-conv", "--chip", "toy", "--vary", "batch=1,2", "--out", "{d}/s.parquet"],
        ["lut", "equal-macs", "--chip", "toy", "--out", "{d}/t.parquet"],
        ["run", "mlp", "--chip", "toy", "--kernels", "{d}/k.parquet"],
    ],
)
def test_without_pyarrow_parquet_is_a_clear_error(tmp_path: Path, monkeypatch, args):
    monkeypatch.setitem(sys.modules, "pyarrow", None)  # import pyarrow now fails
    monkeypatch.setitem(sys.modules, "pyarrow.parquet", None)
    result = invoke(*[a.format(d=tmp_path) for a in args])
    assert result.exit_code == 2, result.output
    said = " ".join(result.output.split())
    assert "topsim[parquet]" in said and "Traceback" not in said
    assert list(tmp_path.iterdir()) == []  # nothing written, nothing run


def test_a_stopped_parquet_run_says_where_its_rows_are(tmp_path: Path):
    from sim.studies.sweep.store import open_output

    out = tmp_path / "s.parquet"
    spec = build_spec("seed-conv", "toy", ["batch=1,2"])
    said: list[str] = []
    writer, _ = open_output(out, spec.columns, resume=False, notice=said.append)
    writer.close()  # stopped: no finish
    assert not out.exists() and journal_path(out).exists()
    assert said and str(journal_path(out)) in said[0] and "--resume" in said[0]
