"""Per-op-class efficiencies from micro-kernels (sim/studies/host_rates.py), the profiler
reading of hardware/op_kernels.py, and validate-model's statistics."""

from __future__ import annotations

import copy
import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hardware.load import validate_chip
from hardware.measure import Timing
from hardware.op_kernels import KERNELS, KernelTime, kernel_model, profiled_runs
from sim.studies.fit import predict
from sim.studies.host_rates import apply_kernel_times, cache_resident, measurement
from sim.studies.validate import Row, Validation, spearman, typical_factor, validate_models

SPEC = {
    "name": "host-cpu",
    "clock": {"nominal": "2.5 GHz"},
    "units": {
        "cpu": {
            "instances": 1,
            "rates": {"matrix": {"fp32": 16.0}, "vector": {"fp32": 4.0}},
            "vector_width": 16,
        },
        "host": {
            "instances": 1,
            "peak": False,
            "host": True,
            "rates": {"matrix": {"fp32": 16.0}, "vector": {"fp32": 4.0}},
        },
    },
    "memory": {
        "dram": {"capacity": "16 GiB", "bandwidth": "20 GB/s"},
        "l2": {"capacity": "32 MiB", "bandwidth": "80 GB/s"},
    },
    "launch": {"latency": "0.3 us", "queue_depth": 1},
    "sources": {"units.cpu.rates.matrix": "hand-made for a test"},
}


def synthetic_times(spec: dict) -> list[KernelTime]:
    """Each micro-kernel's time as topsim predicts it on `spec` (operands in the cache)."""
    placeholder = [KernelTime(k, Timing(1e-3, 1e-3, 1)) for k in KERNELS]
    measured = [measurement(t) for t in placeholder]
    chip = cache_resident(validate_chip(spec, "truth"), measured)
    seconds = predict(chip, measured)
    return [KernelTime(k, Timing(s, 1.1 * s, 5)) for k, s in zip(KERNELS, seconds, strict=True)]


def with_efficiency(spec: dict, matrix: float, vector: float) -> dict:
    truth = copy.deepcopy(spec)
    for unit in truth["units"].values():
        unit["efficiency"] = {"matrix": matrix, "vector": vector}
    return truth


def test_the_fit_recovers_the_efficiencies_the_kernels_ran_at():
    times = synthetic_times(with_efficiency(SPEC, 0.6, 0.3))
    spec = apply_kernel_times(copy.deepcopy(SPEC), times, "synthetic runtime", threads=1)
    for unit in ("cpu", "host"):
        efficiency = spec["units"][unit]["efficiency"]
        assert efficiency["matrix"] == pytest.approx(0.6, rel=0.02)
        assert efficiency["vector"] == pytest.approx(0.3, rel=0.02)
    assert spec["units"]["cpu"]["rates"] == SPEC["units"]["cpu"]["rates"]  # none beat the peak
    source = spec["sources"]["units.cpu.efficiency"]
    assert "synthetic runtime" in source and KERNELS[0].name in source
    assert "median" in source and "before" in source and "after" in source
    chip = validate_chip(spec, "fitted")  # the written spec is a valid chip
    assert chip.units["cpu"].efficiency["vector"] == pytest.approx(0.3, rel=0.02)


def test_a_kernel_faster_than_the_rated_peak_raises_the_rate():
    fast = copy.deepcopy(SPEC)
    fast["units"]["cpu"]["rates"]["vector"]["fp32"] = 12.0  # the kernels ran 3x faster
    times = synthetic_times(fast)
    spec = apply_kernel_times(copy.deepcopy(SPEC), times, "synthetic runtime", threads=1)
    assert spec["units"]["cpu"]["rates"]["vector"]["fp32"] >= 11.9
    assert "raised" in spec["sources"]["units.cpu.rates.vector"]
    assert spec["units"]["cpu"]["efficiency"]["vector"] <= 1.0


def test_profiled_runs_drop_warmups_and_layout_conversions():
    def event(op: str, dur: int) -> dict:
        return {"cat": "Node", "name": f"n_{op}_kernel_time", "dur": dur, "args": {"op_name": op}}

    events = [
        {"cat": "Session", "name": "session_initialization", "dur": 900},
        event("ReorderInput", 5),
        event("Conv", 100),
        event("ReorderOutput", 5),
        event("Conv", 80),
        event("Conv", 70),
    ]
    assert profiled_runs(events, warmup=1) == pytest.approx([80e-6, 70e-6])


def test_kernel_models_are_valid_onnx():
    onnx = pytest.importorskip("onnx")
    for kernel in KERNELS:
        onnx.checker.check_model(kernel_model(kernel), full_check=True)


@given(st.lists(st.floats(0.1, 10.0), min_size=2, max_size=12, unique=True))
def test_spearman_is_one_for_any_increasing_map_and_minus_one_reversed(values):
    assert spearman(values, [v**3 + 1 for v in values]) == pytest.approx(1.0)
    assert spearman(values, [-v for v in values]) == pytest.approx(-1.0)


def test_typical_factor_and_report():
    assert typical_factor([2.0, 0.5]) == pytest.approx(2.0)
    rows = [
        Row("a", 1, measured_s=1.0, predicted_s=1.2, macs=1, best_s=0.9),
        Row("b", 1, measured_s=2.0, predicted_s=1.6, macs=1, best_s=1.8),
    ]
    report = Validation("chip", 1, 5, "epilogue", rows)
    assert report.typical_factor == pytest.approx(math.exp((math.log(1.2) + math.log(1.25)) / 2))
    assert report.typical_factor_best == pytest.approx(
        math.exp((math.log(1.2 / 0.9) + math.log(1.8 / 1.6)) / 2)
    )
    assert report.spearman == pytest.approx(1.0)
    data = report.to_dict()
    assert data["rows"][0]["ratio"] == pytest.approx(1.2)


def test_validate_model_takes_an_onnx_file(tmp_path):
    pytest.importorskip("onnxruntime")
    onnx = pytest.importorskip("onnx")
    path = tmp_path / "gemm.onnx"
    onnx.save(kernel_model(KERNELS[0]), path)
    chip = validate_chip(SPEC, "test chip")
    report = validate_models(chip, (str(path),), (1,), threads=1, runs=2, warmup=1)
    (row,) = report.rows
    assert row.model == "gemm.onnx" and row.macs == 256 * 1024 * 768
    assert row.best_s <= row.measured_s and row.predicted_s > 0
