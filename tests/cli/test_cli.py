"""The `topsim` command line: listings, validation, and bad input as exit code 2."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

import hardware
import workloads
from sim.cli.main import app

CORPUS = Path(__file__).resolve().parent.parent / "corpus"


def topsim(*args: str):
    """Run the app in-process; a wide terminal so rich does not wrap the figures."""
    runner = CliRunner(env={"COLUMNS": "200", "NO_COLOR": "1"})
    return runner.invoke(app, list(args), catch_exceptions=True)


def ok(*args: str) -> str:
    result = topsim(*args)
    assert result.exception is None, result.exception
    assert result.exit_code == 0, result.output
    return result.stdout


def test_chips_table_lists_presets_with_derived_figures() -> None:
    out = ok("chips")
    for name in hardware.list_chips():
        assert name in out
    # toy: fp16 0.512 TOP/s, 10 GB/s DRAM, 1 MiB cache, ridge 51.2 ops/B for fp16
    assert "fp16 0.512" in out
    assert "10 GB/s" in out
    assert "1 MiB cache" in out
    assert "51.2 (fp16)" in out


def test_chips_show_toy_has_derived_peaks_and_sources() -> None:
    out = ok("chips", "show", "toy")
    assert "fp16: peak 0.512 TOP/s, ridge point 51.2 ops/B" in out
    assert "bandwidth: 10 GB/s" in out
    assert "energy_per_mac" in out and "0.5 pJ" in out
    assert "sources" in out and "hypothetical, chosen for hand arithmetic" in out


def test_chips_show_accepts_a_file() -> None:
    out = ok("chips", "show", str(CORPUS / "good" / "small-chip.yaml"))
    assert "fp16: peak 0.256 TOP/s, ridge point 32 ops/B" in out


def test_chips_json_on_stdout() -> None:
    listing = json.loads(ok("chips", "--json", "-"))
    assert [c["name"] for c in listing] == hardware.list_chips()
    toy = next(c for c in listing if c["name"] == "toy")
    assert toy["hypothetical"] is True
    assert toy["peak_ops"] == {"fp32": 32e9, "fp16": 512e9, "int8": 1024e9}
    assert toy["dram_bandwidth"] == 10e9
    assert toy["onchip_bytes"] == 2**20
    assert toy["ridge_point"]["fp16"] == pytest.approx(51.2)
    assert toy["main_dtype"] == "fp16"


def test_chips_json_to_a_file(tmp_path: Path) -> None:
    target = tmp_path / "chips.json"
    result = topsim("chips", "--json", str(target))
    assert result.exit_code == 0
    assert json.loads(target.read_text(encoding="utf-8")) == json.loads(ok("chips", "--json", "-"))


def test_json_to_an_unwritable_path_is_exit_2(tmp_path: Path) -> None:
    result = topsim("chips", "--json", str(tmp_path / "no-such-dir" / "chips.json"))
    assert result.exit_code == 2
    assert "cannot write" in result.stderr


def test_workloads_table() -> None:
    out = ok("workloads")
    for name in workloads.list_workloads():
        assert name in out
    assert "225 M" in out  # seed-conv


def test_workloads_json_on_stdout() -> None:
    listing = {w["name"]: w for w in json.loads(ok("workloads", "--json", "-"))}
    assert sorted(listing) == workloads.list_workloads()
    assert listing["seed-conv"]["macs"] == 225_000_000
    assert listing["seed-conv"]["params"] == 100 * 100 * 3 * 3
    assert listing["seed-conv"]["op_count"] == 1
    assert listing["starved-conv"]["macs"] == 2_450
    assert listing["seed-conv"]["defaults"] == {"batch": 1, "dtype": "fp16"}
    assert listing["mlp"]["op_count"] == 8


def test_validate_good_chip() -> None:
    out = ok("validate", str(CORPUS / "good" / "small-chip.yaml"))
    assert out.startswith("OK ")
    assert "chip 'small': peak 0.256 TOP/s fp16, ridge point 32 ops/B" in out
    assert out.count("\n") == 1


def test_validate_preset_file() -> None:
    out = ok("validate", str(hardware.load.PRESET_DIR / "toy.yaml"))
    assert "peak 0.512 TOP/s fp16, ridge point 51.2 ops/B" in out


@pytest.mark.parametrize(
    ("name", "summary"),
    [
        ("tiny-graph.yaml", "graph 'tiny': 1 ops, 194,400 MACs, 216 params"),
        ("tiny-graph.json", "graph 'tiny-json': 1 ops, 64 MACs, 16 params"),
    ],
)
def test_validate_good_graph(name: str, summary: str) -> None:
    out = ok("validate", str(CORPUS / "good" / name))
    assert out.startswith("OK ") and summary in out


def test_bug_in_a_command_is_not_swallowed(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken() -> list[str]:
        raise RuntimeError("a real bug")

    monkeypatch.setattr(hardware, "list_chips", broken)
    result = topsim("chips")
    assert isinstance(result.exception, RuntimeError)
    assert result.exit_code == 1


def test_python_dash_m_and_no_traceback_for_bad_input(repo_root: Path) -> None:
    help_run = subprocess.run(
        [sys.executable, "-m", "sim.cli", "--help"],
        cwd=repo_root,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert help_run.returncode == 0
    assert "validate" in help_run.stdout
    bad = subprocess.run(
        [sys.executable, "-m", "sim.cli", "validate", str(CORPUS / "bad" / "cyclic-graph.yaml")],
        cwd=repo_root,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert bad.returncode == 2
    assert "cycle" in bad.stderr
    assert "Traceback" not in bad.stderr + bad.stdout


def test_generation_refuses_flags_that_do_not_apply(tmp_path) -> None:
    result = topsim("run", "gpt2", "--chip", "h100-sxm", "--mode", "generate", "--batches", "5")
    assert result.exit_code == 2
    assert "--batches" in result.output and "do not apply" in result.output
    result = topsim("run", "gpt2", "--chip", "h100-sxm", "--mode", "generate", "--batch", "0")
    assert result.exit_code == 2
    assert "batch must be a positive integer" in result.output


def test_generation_writes_its_trace_and_follows_overlap(tmp_path) -> None:
    trace = tmp_path / "g.json"
    base = ["run", "gpt2", "--chip", "h100-sxm", "--mode", "generate", "--prompt", "16"]
    ok(*base, "--tokens", "4", "--trace", str(trace), "--json", str(tmp_path / "a.json"))
    names = {
        e["args"]["name"]
        for e in json.loads(trace.read_text())["traceEvents"]
        if e["name"] == "process_name"
    }
    assert any(n.endswith(": prefill") for n in names)
    assert any("decode step at KV 17" in n for n in names)  # prompt 16 + median step 1
    ok(*base, "--tokens", "4", "--no-overlap", "--json", str(tmp_path / "b.json"))
    overlapped = json.loads((tmp_path / "a.json").read_text())
    serial = json.loads((tmp_path / "b.json").read_text())
    assert serial["ttft_s"] > overlapped["ttft_s"]
