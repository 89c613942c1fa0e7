"""The workload options every command shares: --param, the chip's default dtype,
--max-positions, validate's peaks per dtype and the sweep table's order."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

import hardware
from sim.cli.main import app
from sim.studies.sweep.table import read_rows


def invoke(*args: str):
    runner = CliRunner(env={"COLUMNS": "200", "NO_COLOR": "1"})
    return runner.invoke(app, list(args), catch_exceptions=False)


def test_param_reaches_the_builder():
    result = invoke("run", "resnet", "--chip", "toy", "--param", "depth=18", "-q")
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("resnet18 on toy")


def test_param_errors_name_the_allowed_values():
    result = invoke("run", "shufflenet-v2", "--chip", "toy", "-p", "scale=3")
    assert result.exit_code == 2
    assert "scale must be one of 0.5, 1.0, 1.5, 2.0" in result.output


def test_param_and_named_option_together_are_refused():
    result = invoke("run", "mlp", "--chip", "toy", "--batch", "2", "-p", "batch=4")
    assert result.exit_code == 2
    assert "given twice" in result.output


def test_int8_chip_builds_in_its_default_dtype_and_says_why(tmp_path: Path):
    out = tmp_path / "r.json"
    result = invoke("run", "seed-conv", "--chip", "tpu-v1", "--json", str(out))
    assert result.exit_code == 0, result.output
    assert "dtype int8: tpu-v1's default_dtype (none given)." in result.stdout
    assert json.loads(out.read_text())["dtype"] == "int8"


def test_a_given_dtype_wins_and_prints_no_note():
    result = invoke("run", "seed-conv", "--chip", "toy", "--dtype", "int8")
    assert result.exit_code == 0, result.output
    assert "default_dtype" not in result.stdout and "int8" in result.stdout


def test_default_dtype_must_have_a_peak():
    with pytest.raises(hardware.errors.InputError, match="default_dtype fp64 has no peak"):
        hardware.load_chip("tpu-v1", overrides={"default_dtype": "fp64"})


def test_compare_takes_the_workload_options_and_each_chips_dtype():
    result = invoke(
        "compare",
        "mobilenet-v2",
        "-c",
        "edge-npu",
        "-c",
        "toy",
        "--batch",
        "2",
        "--param",
        "width_mult=0.5",
        "--json",
        "-",
    )
    assert result.exit_code == 0, result.output
    runs = json.loads(result.stdout)
    assert [(r["chip"], r["dtype"], r["batch"]) for r in runs] == [
        ("edge-npu", "int8", 2),
        ("toy", "fp16", 2),
    ]


def test_generation_context_limit_and_override():
    args = [
        "run",
        "llama-3-8b",
        "-c",
        "h100-sxm",
        "--mode",
        "generate",
        "--prompt",
        "8190",
        "--tokens",
        "4",
        "-p",
        "layers=1",
        "-q",
    ]
    refused = invoke(*args)
    assert refused.exit_code == 2 and "at most 8192 positions" in refused.output
    allowed = invoke(*args, "--max-positions", "16384")
    assert allowed.exit_code == 0, allowed.output


def test_validate_lists_the_peak_of_every_dtype():
    result = invoke("validate", "hardware/presets/h100-sxm.yaml")
    assert "peak 989 TOP/s fp16" in result.stdout
    assert "1,979 TOP/s fp8" in result.stdout and "61.8 TOP/s fp64" in result.stdout
    assert "peak 91.8 TOP/s int8" in invoke("validate", "hardware/presets/tpu-v1.yaml").stdout


def _sweep(tmp_path: Path, *extra: str):
    out = tmp_path / "s.csv"
    result = invoke(
        "sweep",
        "seed-conv",
        "--chip",
        "toy",
        "--vary",
        "memory.dram.bandwidth=1GB/s,10GB/s,100GB/s",
        "--out",
        str(out),
        "--jobs",
        "1",
        *extra,
    )
    assert result.exit_code == 0, result.output
    return result.stdout, read_rows(out)


def _column(stdout: str) -> list[str]:
    """The bandwidth column of the table of points (its rows start with the value)."""
    cells = [line.split() for line in stdout.splitlines()]
    return [c[1] for c in cells if len(c) > 2 and c[1][0].isdigit() and c[1].endswith("GB/s")]


def test_sweep_table_follows_the_varied_values(tmp_path: Path):
    stdout, _ = _sweep(tmp_path)
    assert "Points by memory.dram.bandwidth" in stdout
    assert _column(stdout)[:3] == ["1GB/s", "10GB/s", "100GB/s"]


def test_sweep_sort_by_a_metric_is_best_first(tmp_path: Path):
    stdout, rows = _sweep(tmp_path, "--sort", "latency")
    assert "Best points by latency" in stdout
    assert _column(stdout)[-1] == "1GB/s"  # the slowest last; 10 and 100 GB/s tie (compute-bound)
    assert _column(stdout)[:2] == ["10GB/s", "100GB/s"]  # a tie keeps the values' order


def test_sweep_sort_refuses_an_unknown_key(tmp_path: Path):
    result = CliRunner().invoke(
        app,
        [
            "sweep",
            "seed-conv",
            "--chip",
            "toy",
            "--vary",
            "fusion=none,greedy",
            "--out",
            str(tmp_path / "s.csv"),
            "--sort",
            "colour",
        ],
    )
    assert result.exit_code == 2
    assert "choose a metric" in result.output


def test_sweep_builds_in_the_chips_default_dtype_as_run_does(tmp_path: Path):
    out = tmp_path / "s.csv"
    vary = "memory.dram.bandwidth=34GB/s,68GB/s"
    result = invoke("sweep", "mlp", "--chip", "tpu-v1", "--vary", vary, "--out", str(out))
    assert result.exit_code == 0, result.output
    rows = read_rows(out)
    assert len(rows) == 2 and not any(row.get("error") for row in rows)
