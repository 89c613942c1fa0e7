"""CLI conventions: --version, -h, flags shown without values, JSON outputs, --from."""

from __future__ import annotations

import importlib.metadata
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

import hardware
from hardware.load import chip_yaml
from sim.cli.main import app


def topsim(*args: str):
    return CliRunner(env={"COLUMNS": "200", "NO_COLOR": "1"}).invoke(app, list(args))


def test_version_matches_the_installed_distribution() -> None:
    result = topsim("--version")
    assert result.exit_code == 0
    assert result.stdout.strip() == f"topsim {importlib.metadata.version('topsim')}"


@pytest.mark.parametrize("command", [[], ["run"], ["sweep"], ["chips", "show"]])
def test_short_help_and_flags_take_no_value(command: list[str]) -> None:
    out = topsim(*command, "-h").stdout
    assert "Usage: topsim" in out and "-h, --help" in out
    assert "<bool>" not in out


def test_shell_completion_is_offered() -> None:
    assert "--install-completion" in topsim("--help").stdout


def test_chips_show_and_validate_json_take_a_preset() -> None:
    shown = json.loads(topsim("chips", "show", "toy", "--json", "-").stdout)
    assert shown["peak_ops"]["fp16"] == pytest.approx(512e9)
    checked = json.loads(topsim("validate", "toy", "--json", "-").stdout)
    assert checked["ok"] and checked["kind"] == "chip" and checked["name"] == "toy"


@pytest.mark.parametrize("name", hardware.list_chips())
def test_export_loads_back_identically(name: str, tmp_path: Path) -> None:
    path = tmp_path / f"{name}.yaml"
    path.write_text(chip_yaml(hardware.load_chip(name)), encoding="utf-8")
    assert hardware.load_chip(path) == hardware.load_chip(name)


def test_chips_export_command_and_schema(tmp_path: Path) -> None:
    out = tmp_path / "toy.yaml"
    assert topsim("chips", "export", "toy", "--out", str(out)).exit_code == 0
    assert hardware.load_chip(out) == hardware.load_chip("toy")
    schema = json.loads(topsim("chips", "schema").stdout)
    assert "units" in schema["properties"]


def test_run_from_a_result_makes_it_again(tmp_path: Path) -> None:
    first = tmp_path / "first.json"
    args = ["run", "mlp", "--chip", "toy", "--set", "memory.dram.bandwidth=20GB/s"]
    assert topsim(*args, "--batch", "2", "--json", str(first)).exit_code == 0
    again = tmp_path / "again.json"
    assert topsim("run", "--from", str(first), "--json", str(again)).exit_code == 0
    a, b = json.loads(first.read_text()), json.loads(again.read_text())
    assert a["latency_s"] == b["latency_s"] and a["provenance"] == b["provenance"]
    assert a["provenance"]["workload"]["parameters"]["batch"] == 2


def test_run_from_warns_when_the_chip_file_changed(tmp_path: Path) -> None:
    chip = tmp_path / "chip.yaml"
    chip.write_text(chip_yaml(hardware.load_chip("toy")), encoding="utf-8")
    first = tmp_path / "first.json"
    assert topsim("run", "mlp", "--chip", str(chip), "--json", str(first)).exit_code == 0
    chip.write_text(chip.read_text() + "\n# edited\n", encoding="utf-8")
    result = topsim("run", "--from", str(first), "-q")
    assert result.exit_code == 0
    assert "changed since" in result.stderr


def test_run_from_an_old_result_says_why_not(tmp_path: Path) -> None:
    old = tmp_path / "old.json"
    old.write_text(json.dumps({"schema_version": "1.1", "latency_s": 1.0}))
    result = topsim("run", "--from", str(old))
    assert result.exit_code == 2
    assert "no provenance" in result.stderr
