"""`topsim calibrate` (quick mode) and the validate-model machinery on this machine."""

from __future__ import annotations

import importlib.util
import json

import pytest
import typer
import yaml
from typer.testing import CliRunner

import hardware
from hardware.calibrate import calibrate
from hardware.errors import InputError
from hardware.measure import cache_sizes, elementwise_sizes, physical_cores, usable_cpus
from sim.cli.calibrate import calibrate as calibrate_command
from sim.cli.calibrate import validate_model as validate_model_command
from sim.studies.validate import Row, Validation


@pytest.fixture(scope="module")
def chip_file(tmp_path_factory):
    """One quick calibration of this machine, written as a spec file."""
    path = tmp_path_factory.mktemp("calibrated") / "host-cpu.yaml"
    calibrate(path, quick=True)
    return path


def test_calibrated_chip_loads_and_has_a_positive_peak(chip_file):
    chip = hardware.load_chip(chip_file)
    assert chip.name == "host-cpu"
    assert chip.peak_ops("fp32") > 0 and chip.peak_ops("fp64") > 0
    assert chip.units["cpu"].peak and not chip.units["cpu"].host
    assert chip.units["cpu"].instances == 1  # one core unless --threads says otherwise
    assert physical_cores(usable_cpus()) >= 1
    assert chip.host_unit() == "host"
    assert chip.memory.dram.bandwidth > 0 and chip.memory.l2.capacity > 0
    assert chip.launch.latency > 0 and chip.launch.queue_depth == 1


def test_every_measured_number_says_how_it_was_measured(chip_file):
    spec = yaml.safe_load(chip_file.read_text())
    sources = spec["sources"]
    for key in (
        "clock.nominal",
        "units.cpu.rates.matrix",
        "units.cpu.rates.vector",
        "memory.dram.bandwidth",
        "memory.l2.capacity",
        "memory.l2.bandwidth",
        "launch.latency",
    ):
        assert sources[key].startswith("measured by topsim calibrate on "), key
    assert "&id" not in chip_file.read_text()  # plain YAML, no anchors


def test_calibration_can_model_fewer_threads(tmp_path):
    chip = calibrate(quick=True, threads=1)
    assert chip.units["cpu"].instances == 1
    assert not (tmp_path / "host-cpu.yaml").exists()  # no `out`: nothing written


def test_os_facts():
    caches = cache_sizes()
    assert all(size > 0 and shared >= 1 for size, shared in caches.values())
    small, large = elementwise_sizes(32 * 1024, "float32")
    assert small < large and 3 * large * 4 <= 32 * 1024


def test_unknown_device_is_an_input_error():
    with pytest.raises(InputError, match="unknown device"):
        calibrate(quick=True, device="tpu")


@pytest.mark.skipif(
    importlib.util.find_spec("torch") is not None,
    reason="torch is installed: the no-torch message does not apply",
)
def test_cuda_without_torch_is_a_clear_input_error():
    with pytest.raises(InputError, match="torch is not installed"):
        calibrate(quick=True, device="cuda")


def test_ranking_and_median_error():
    rows = [
        Row("a", 1, measured_s=1.0, predicted_s=1.1, macs=1),
        Row("b", 1, measured_s=2.0, predicted_s=1.6, macs=1),
        Row("c", 1, measured_s=3.0, predicted_s=3.3, macs=1),
    ]
    report = Validation("chip", 2, 5, "epilogue", rows)
    assert report.median_abs_error == pytest.approx(0.1)
    assert report.ranking_ok
    rows[1].predicted_s = 0.9  # b now predicted faster than a
    assert not report.ranking_ok
    assert json.loads(json.dumps(report.to_dict()))["rows"][0]["error"] == pytest.approx(0.1)


def command_app() -> typer.Typer:
    app = typer.Typer()
    app.command()(calibrate_command)
    app.command("validate-model")(validate_model_command)
    return app


def test_calibrate_command_writes_the_spec(tmp_path):
    out = tmp_path / "me.yaml"
    result = CliRunner().invoke(command_app(), ["calibrate", "--quick", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert f"wrote {out}" in result.output.replace("\n", "")
    assert hardware.load_chip(out).peak_ops("fp32") > 0


def test_calibrate_command_rejects_a_bad_device(tmp_path):
    result = CliRunner().invoke(
        command_app(), ["calibrate", "--device", "tpu", "--out", str(tmp_path / "x.yaml")]
    )
    assert result.exit_code == 2


def test_validate_model_measures_and_predicts(chip_file):
    pytest.importorskip("onnxruntime")
    result = CliRunner().invoke(
        command_app(),
        [
            "validate-model",
            "--chip",
            str(chip_file),
            "--model",
            "shufflenet-v2",
            "--model",
            "mobilenet-v2",
            "--batch",
            "1",
            "--runs",
            "2",
            "--warmup",
            "1",
            "--json",
            "-",
        ],
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert [(r["model"], r["batch"]) for r in report["rows"]] == [
        ("shufflenet-v2", 1),
        ("mobilenet-v2", 1),
    ]
    for row in report["rows"]:
        assert row["measured_s"] > 0 and row["predicted_s"] > 0 and row["best_s"] > 0
        assert row["macs"] > 0
    assert isinstance(report["ranking_ok"], bool)


def test_validate_model_rejects_an_unknown_model(chip_file):
    result = CliRunner().invoke(
        command_app(), ["validate-model", "--chip", str(chip_file), "--model", "resnet51"]
    )
    assert result.exit_code == 2


def test_cache_levels_come_from_a_sysfs_tree(tmp_path):
    # a hand-made cpu0/cache: L1d 48K, L1i 32K (skipped), L2 2048K per core, L3 32M shared
    # by 16 CPUs; an index with a malformed size is skipped, a missing shared list is 1 CPU
    levels = [
        ("1", "Data", "48K", "0-1"),
        ("1", "Instruction", "32K", "0-1"),
        ("2", "Unified", "2048K", None),
        ("3", "Unified", "32M", "0-7,16-23"),
        ("4", "Unified", "lots", "0"),
    ]
    for i, (level, kind, size, shared) in enumerate(levels):
        index = tmp_path / "cpu0" / "cache" / f"index{i}"
        index.mkdir(parents=True)
        (index / "level").write_text(level + "\n")
        (index / "type").write_text(kind + "\n")
        (index / "size").write_text(size + "\n")
        if shared:
            (index / "shared_cpu_list").write_text(shared + "\n")
    assert cache_sizes(tmp_path) == {
        "L1d": (48 * 2**10, 2),
        "L2": (2 * 2**20, 1),
        "L3": (32 * 2**20, 16),
    }


def test_an_empty_sysfs_tree_finds_no_caches(tmp_path):
    assert cache_sizes(tmp_path) == {}


def test_interleaved_timing_reports_min_and_median():
    from hardware.measure import interleaved

    calls = []
    timings = interleaved({"a": lambda: calls.append("a"), "b": lambda: calls.append("b")}, 4)
    assert calls == ["a", "b"] * 5  # one warm-up each, then round-robin
    assert timings["a"].runs == 4 and timings["a"].best_s <= timings["a"].median_s
    assert timings["a"].spread >= 0


def test_calibrated_sources_give_the_spread_and_the_measured_scaling(chip_file):
    sources = yaml.safe_load(chip_file.read_text())["sources"]
    assert "interleaved runs" in sources["memory.dram.bandwidth"]
    assert "% slower" in sources["memory.dram.bandwidth"]
    assert "measured scaling" in sources["units.cpu.rates.matrix"]
