"""`topsim fit`: the fit recovers parameters topsim itself made the measurements with, and
each reader parses a small hand-written file (tests/sim/data) as a person reads it."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

import hardware
from hardware.errors import InputError
from sim.cli.main import app
from sim.studies.fit import (
    candidate_parameters,
    coordinate_search,
    fit_chip,
    folds_of,
    predict,
    typical_factor,
)
from sim.studies.measurements import Measurement, read_csv, read_measurements

DATA = Path(__file__).parent / "data"
TRUTH = {"units.mxu.efficiency.matrix": 0.6, "memory.dram.efficiency": 0.7}


def synthetic(overrides: dict) -> list[Measurement]:
    """GEMMs (compute-bound on toy) and elementwise ops (DRAM-bound), timed by topsim."""
    chip = hardware.load_chip("toy", overrides)
    ops = [Measurement("matmul", ((n, n), (n, n)), "fp16", 1.0) for n in (64, 128, 256)]
    ops += [Measurement("relu", ((1, n),), "fp16", 1.0) for n in (1 << 14, 1 << 18, 1 << 20)]
    ops += [Measurement("add", ((1, 1 << 18), (1, 1 << 18)), "fp16", 1.0)]
    return [
        Measurement(m.kind, m.shapes, m.dtype, seconds)
        for m, seconds in zip(ops, predict(chip, ops), strict=True)
    ]


def test_fit_recovers_matrix_and_dram_efficiency_within_5_percent():
    fit = fit_chip(hardware.load_chip("toy"), synthetic(TRUTH), only=list(TRUTH), folds=0)
    for path, true in TRUTH.items():
        assert fit.values[path] == pytest.approx(true, rel=0.05)
    assert fit.before > 1.3 and fit.after < 1.01


def test_fit_recovers_the_onchip_efficiency_within_5_percent():
    # operands in the cache (DRAM made faster than the 100 GB/s on-chip level, as for
    # kernels whose data stays in the last-level cache): elementwise ops are on-chip-bound
    cached = {"memory.dram.bandwidth": 400e9}
    truth = {"units.mxu.efficiency.matrix": 0.6, "memory.l2.efficiency": 0.45}
    start = hardware.load_chip("toy", cached)
    measured = synthetic({**cached, **truth})
    fit = fit_chip(start, measured, only=list(truth), folds=0)
    for path, true in truth.items():
        assert fit.values[path] == pytest.approx(true, rel=0.05)
    assert fit.before > 1.3 and fit.after < 1.01
    assert "memory.l2.efficiency" in {p.path for p in candidate_parameters(start)}


def test_an_efficiency_the_measurements_want_above_1_stays_at_1_and_is_reported():
    # measured on a chip with twice the DRAM bandwidth: the elementwise ops beat the rated
    # 10 GB/s, so DRAM's efficiency pins at 1 and the fit says so; the matrix one does not
    faster = synthetic({"memory.dram.bandwidth": 20e9, "units.mxu.efficiency.matrix": 0.6})
    fit = fit_chip(hardware.load_chip("toy"), faster, only=list(TRUTH), folds=0)
    assert fit.values["memory.dram.efficiency"] == 1.0
    assert fit.at_bound == ["memory.dram.efficiency"]
    # on toy the on-chip level (100 GB/s) does not bind these ops at 1: the fit leaves
    # its efficiency there, and it is not listed as pressing on the bound
    loose = fit_chip(hardware.load_chip("toy"), faster, only=["memory.l2.efficiency"], folds=0)
    assert loose.values["memory.l2.efficiency"] == 1.0 and loose.at_bound == []
    assert (
        fit_chip(hardware.load_chip("toy"), synthetic(TRUTH), only=list(TRUTH), folds=0).at_bound
        == []
    )


def test_fit_leaves_parameters_no_measurement_depends_on():
    fit = fit_chip(
        hardware.load_chip("toy"),
        synthetic(TRUTH),
        only=["memory.dram.efficiency", "units.cpu.efficiency.matrix"],
        folds=0,
    )
    assert fit.not_fitted == ["units.cpu.efficiency.matrix"]
    assert list(fit.values) == ["memory.dram.efficiency"]


def test_cross_validation_predicts_held_out_measurements():
    fit = fit_chip(hardware.load_chip("toy"), synthetic(TRUTH), only=list(TRUTH), folds=3)
    # a fold may hold out most GEMMs, leaving the matrix efficiency loosely constrained
    assert fit.folds == 3 and 1.0 < fit.cross_validated < 1.1


def test_unknown_parameter_is_an_input_error():
    with pytest.raises(InputError, match="cannot fit units.mxu.rates"):
        fit_chip(hardware.load_chip("toy"), synthetic({}), only=["units.mxu.rates"])


def test_coordinate_search_finds_a_bounded_minimum():
    # (x - 1)^2 + (y - 5)^2 with y bounded to [-2, 2]: the minimum is at (1, 2)
    x, evaluations = coordinate_search(
        lambda v: (v[0] - 1) ** 2 + (v[1] - 5) ** 2, [0.0, 0.0], [(-3, 3), (-2, 2)]
    )
    assert x[0] == pytest.approx(1, abs=2e-3) and x[1] == 2
    assert evaluations < 200


def test_folds_are_deterministic_and_cover_every_measurement():
    assert folds_of(12, 5) == folds_of(12, 5)
    assert sorted(i for fold in folds_of(12, 5) for i in fold) == list(range(12))
    assert len(folds_of(3, 5)) == 3


def test_typical_factor():
    assert typical_factor([math.log(2), -math.log(2)]) == pytest.approx(2.0)


def test_csv_reader_parses_the_sample():
    data = read_measurements(DATA / "toy-measurements.csv")
    assert data.format == "csv" and len(data.rows) == 7
    conv = next(m for m in data.rows if m.kind == "conv2d")
    assert conv.shapes == ((1, 16, 32, 32), (32, 16, 3, 3))
    assert dict(conv.attrs) == {"stride": 1, "padding": 1}
    assert conv.dtype == "fp16" and conv.seconds == pytest.approx(3.182e-5)


def test_csv_repeats_are_one_measurement_at_the_median():
    text = "kind,shapes,dtype,seconds\n" + "".join(
        f"relu,1x64,fp32,{s}\n" for s in ("1e-6", "3e-6", "2.5e-6")
    )
    (row,) = read_csv(text).rows
    assert row.seconds == 2.5e-6 and row.samples == 3


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("kind,shapes,seconds\n", "missing dtype"),
        ("kind,shapes,dtype,seconds\nrelu,1x64,fp32,-1\n", "row 2"),
        ("kind,shapes,dtype,seconds\nmatmul,2x3;4x5,fp32,1e-6\n", "row 2"),
        ("kind,shapes,dtype,seconds\nrelu,1x64,fp99,1e-6\n", "row 2"),
    ],
)
def test_csv_mistakes_name_the_row(text, message):
    with pytest.raises(InputError, match=message):
        read_csv(text, "m.csv")


def test_onnxruntime_profile_reader_parses_the_sample():
    data = read_measurements(DATA / "ort-profile.json")
    assert data.format == "onnxruntime profile"
    by_label = {m.label: m for m in data.rows}
    conv = by_label["conv1"]  # three runs: 40, 44, 42 us
    assert conv.kind == "conv2d" and conv.seconds == pytest.approx(42e-6) and conv.samples == 3
    assert dict(conv.attrs) == {"stride": 2, "padding": 1}  # (32 + 2 - 3) // 2 + 1 = 16
    assert by_label["relu1"].shapes == ((1, 16, 16, 16),) and by_label["relu1"].dtype == "fp32"
    gemm = by_label["fc"]  # Gemm with transB: W [10, 4096] is linear's [4096, 10]
    assert gemm.kind == "linear" and gemm.shapes == ((1, 4096), (4096, 10), (10,))
    assert dict(data.skipped) == {"NonMaxSuppression: no topsim kind for this ONNX op": 1}


def test_chrome_trace_reader_joins_kernels_to_their_aten_op():
    data = read_measurements(DATA / "torch-trace.json")
    assert data.format == "chrome trace"
    linear, relu = sorted(data.rows, key=lambda m: m.kind)
    # the sgemm kernel was launched inside aten::addmm inside aten::linear: the outer op
    assert linear.kind == "linear" and linear.shapes == ((32, 512), (512, 256), (256,))
    assert linear.seconds == pytest.approx(12.5e-6)
    assert relu.shapes == ((32, 256),) and relu.seconds == pytest.approx(2e-6)
    assert sum(data.skipped.values()) == 2 and any("gatherTopK" in k for k in data.skipped)


def test_fit_command_writes_a_spec_with_fitted_sources(tmp_path):
    out = tmp_path / "fitted.yaml"
    args = ["fit", "toy", "--measurements", str(DATA / "toy-measurements.csv"), "--out", str(out)]
    args += ["--folds", "2", "-p", "units.mxu.efficiency.matrix", "-p", "memory.dram.efficiency"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "before" in result.output and "2-fold cross-validated" in result.output
    chip = hardware.load_chip(out)
    assert chip.units["mxu"].efficiency["matrix"] == pytest.approx(0.6, rel=0.05)
    assert chip.memory.dram.efficiency == pytest.approx(0.7, rel=0.05)
    sources = yaml.safe_load(out.read_text())["sources"]
    assert "toy-measurements.csv" in sources["memory.dram.efficiency"]
