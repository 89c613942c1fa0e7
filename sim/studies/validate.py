"""Predicted vs measured: CNN builders run by onnxruntime on this CPU against topsim's
prediction on a calibrated chip (`topsim validate-model`).

Each CNN builder (fp32) is exported with `to_onnx` (random weights), run by onnxruntime
on the CPU with a fixed number of intra-op threads (warm-up runs, then the median of timed
runs), and predicted by `simulate` on the calibrated `host-cpu` chip. The chip is
calibrated once (or loaded); nothing is fitted per model. A good model ranks the models
the same way the machine does, at every batch size.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

import workloads
from hardware.calibrate import check_threads
from hardware.chip import Chip
from hardware.errors import InputError, expect_int, shown
from hardware.measure import ort_session
from sim.simulate import simulate

DEFAULT_MODELS = ("resnet50", "mobilenet-v2", "shufflenet-v2")
DEFAULT_BATCHES = (1, 8)
# onnxruntime holds a model's activations for a whole batch in memory: batch 64 of resnet50
# in fp32 needs a few GiB, far beyond it a test machine runs out
MAX_BATCH = 64
MAX_RUNS = 1000


@dataclass
class Row:
    model: str
    batch: int
    measured_s: float  # median of the timed runs
    predicted_s: float
    macs: int
    best_s: float = 0.0  # fastest timed run: the floor under the machine's other load
    losses_s: dict[str, float] = field(default_factory=dict)  # predicted, biggest first

    @property
    def error(self) -> float:
        """(predicted - measured) / measured."""
        return (self.predicted_s - self.measured_s) / self.measured_s


@dataclass
class Validation:
    chip: str
    threads: int
    runs: int
    fusion: str
    rows: list[Row]

    @property
    def median_abs_error(self) -> float:
        return statistics.median(abs(r.error) for r in self.rows)

    def ranking(self, batch: int, key: str) -> list[str]:
        rows = [r for r in self.rows if r.batch == batch]
        return [r.model for r in sorted(rows, key=lambda r: getattr(r, key))]

    @property
    def ranking_ok(self) -> bool:
        """The models sort the same by measured and by predicted latency, at every batch."""
        return all(
            self.ranking(b, "measured_s") == self.ranking(b, "predicted_s")
            for b in sorted({r.batch for r in self.rows})
        )

    def to_dict(self) -> dict:
        return {
            "chip": self.chip,
            "threads": self.threads,
            "runs": self.runs,
            "fusion": self.fusion,
            "rows": [{**asdict(r), "error": r.error} for r in self.rows],
            "median_abs_error": self.median_abs_error,
            "ranking_ok": self.ranking_ok,
        }


def _feeds(session: Any) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    feeds = {}
    for value in session.get_inputs():
        shape = [d if isinstance(d, int) else 1 for d in value.shape]
        if "int64" in value.type:
            feeds[value.name] = np.zeros(shape, dtype=np.int64)
        else:
            feeds[value.name] = rng.standard_normal(shape, dtype=np.float32)
    return feeds


def time_onnxruntime(path: str | Path, threads: int, runs: int, warmup: int = 3) -> list[float]:
    """Seconds of each timed onnxruntime CPU run, after `warmup` untimed runs.

    One session at a time: an idle session's intra-op threads spin-wait for a while after
    each run and would compete with the session being timed.
    """
    session = ort_session(path, threads)
    feeds = _feeds(session)
    for _ in range(warmup):
        session.run(None, feeds)
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        session.run(None, feeds)
        samples.append(time.perf_counter() - start)
    del session
    return samples


def check_validation(
    models: tuple[str, ...], batches: tuple[int, ...], threads: int, runs: int, warmup: int
) -> None:
    """The bounds of a validation, checked before any model is built or timed."""
    known = workloads.list_workloads()
    for name in models:
        if not isinstance(name, str) or name not in known:
            raise InputError(
                f"--model {shown(name)} is not a built-in workload; known: {', '.join(known)}."
            )
    if not batches:
        raise InputError("--batch: give at least one batch size.")
    for batch in batches:
        expect_int(batch, "--batch", 1, MAX_BATCH)
    check_threads(threads, "--threads")
    expect_int(runs, "--runs", 1, MAX_RUNS)
    expect_int(warmup, "--warmup", 0, MAX_RUNS)


def validate_models(
    chip: Chip,
    models: tuple[str, ...] = DEFAULT_MODELS,
    batches: tuple[int, ...] = DEFAULT_BATCHES,
    threads: int = 2,
    runs: int = 10,
    warmup: int = 3,
    fusion: str = "epilogue",
    progress: Callable[[Row], None] | None = None,
) -> Validation:
    """Measured (onnxruntime) vs predicted (topsim on `chip`) latency for each model/batch."""
    check_validation(models, batches, threads, runs, warmup)
    from workloads.onnx import to_onnx

    rows = []
    with tempfile.TemporaryDirectory() as folder:
        for model in models:
            for batch in batches:
                graph = workloads.build(model, batch=batch, dtype="fp32")
                path = Path(folder) / f"{model}-b{batch}.onnx"
                to_onnx(graph, path)
                times = time_onnxruntime(path, threads, runs, warmup)
                path.unlink()
                result = simulate(graph, chip, fusion=fusion)
                losses = {
                    k: v for k, v in sorted(result.losses_s.items(), key=lambda kv: -kv[1]) if v > 0
                }
                rows.append(
                    Row(
                        model,
                        batch,
                        measured_s=statistics.median(times),
                        predicted_s=result.latency_s,
                        macs=graph.macs,
                        best_s=min(times),
                        losses_s=losses,
                    )
                )
                if progress is not None:
                    progress(rows[-1])
    return Validation(chip.name, threads, runs, fusion, rows)
