"""Predicted vs measured: models run by onnxruntime on this CPU against topsim's
prediction on a calibrated chip (`topsim validate-model`).

The models are built-in builders (fp32, exported with `to_onnx`, random weights) and any
ONNX files the user names. Each is run by onnxruntime on the CPU with a fixed number of
intra-op threads, and predicted by `simulate` on the calibrated `host-cpu` chip (an ONNX
file through topsim's importer). The chip is calibrated once (or loaded); nothing is
fitted per model. All sessions are opened first and warmed up, then timed interleaved
(one run of each model in turn, `runs` rounds), so a burst of load from other processes
slows every model alike; each model reports its fastest and its median run.

The summary: the typical error factor exp(mean |ln(predicted / measured)|) against the
median and against the fastest runs, and the Spearman rank correlation of predicted and
measured times over all rows. A good model ranks the models the way the machine does.
"""

from __future__ import annotations

import math
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

    @property
    def ratio(self) -> float:
        """predicted / median measured."""
        return self.predicted_s / self.measured_s

    @property
    def ratio_best(self) -> float:
        """predicted / fastest measured."""
        return self.predicted_s / (self.best_s or self.measured_s)


def typical_factor(ratios: list[float]) -> float:
    """exp(mean |ln ratio|): 1.25 means typically 25% off, either way."""
    return math.exp(sum(abs(math.log(r)) for r in ratios) / len(ratios))


def ranks(values: list[float]) -> list[float]:
    """1-based ranks, ties sharing their mean rank."""
    order = sorted(range(len(values)), key=lambda i: values[i])
    result = [0.0] * len(values)
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and values[order[j + 1]] == values[order[i]]:
            j += 1
        for k in range(i, j + 1):
            result[order[k]] = (i + j) / 2 + 1
        i = j + 1
    return result


def spearman(a: list[float], b: list[float]) -> float:
    """Spearman's rank correlation (Pearson's on the ranks); nan for fewer than 2 values
    or a constant list."""
    if len(a) < 2:
        return float("nan")
    ra, rb = ranks(a), ranks(b)
    ma, mb = statistics.fmean(ra), statistics.fmean(rb)
    cov = sum((x - ma) * (y - mb) for x, y in zip(ra, rb, strict=True))
    var = math.sqrt(sum((x - ma) ** 2 for x in ra) * sum((y - mb) ** 2 for y in rb))
    return cov / var if var else float("nan")


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

    @property
    def typical_factor(self) -> float:
        """Typical error factor against the median runs."""
        return typical_factor([r.ratio for r in self.rows])

    @property
    def typical_factor_best(self) -> float:
        """Typical error factor against the fastest runs."""
        return typical_factor([r.ratio_best for r in self.rows])

    @property
    def spearman(self) -> float:
        """Rank correlation of predicted and median measured times over all rows."""
        return spearman([r.predicted_s for r in self.rows], [r.measured_s for r in self.rows])

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
            "rows": [
                {**asdict(r), "error": r.error, "ratio": r.ratio, "ratio_best": r.ratio_best}
                for r in self.rows
            ],
            "median_abs_error": self.median_abs_error,
            "typical_factor": self.typical_factor,
            "typical_factor_best": self.typical_factor_best,
            "spearman": _finite(self.spearman),
            "ranking_ok": self.ranking_ok,
        }


def _finite(value: float) -> float | None:
    return value if math.isfinite(value) else None


def _feeds(session: Any) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    feeds = {}
    for value in session.get_inputs():
        shape = [d if isinstance(d, int) else 1 for d in value.shape]
        if "int64" in value.type:
            feeds[value.name] = np.zeros(shape, dtype=np.int64)
        elif "int32" in value.type:
            feeds[value.name] = np.zeros(shape, dtype=np.int32)
        else:
            feeds[value.name] = rng.standard_normal(shape, dtype=np.float32)
    return feeds


def time_interleaved(
    paths: dict[str, Path], threads: int, runs: int, warmup: int = 3
) -> dict[str, list[float]]:
    """Seconds of each timed onnxruntime CPU run of each model, the models taking turns.

    All sessions are open at once; idle sessions' intra-op threads sleep instead of
    spin-waiting (they would compete with the session being timed).
    """
    sessions = {}
    for key, path in paths.items():
        session = ort_session(path, threads, spinning=False)
        feeds = _feeds(session)
        for _ in range(warmup):
            session.run(None, feeds)
        sessions[key] = (session, feeds)
    samples: dict[str, list[float]] = {key: [] for key in sessions}
    for _ in range(runs):
        for key, (session, feeds) in sessions.items():
            start = time.perf_counter()
            session.run(None, feeds)
            samples[key].append(time.perf_counter() - start)
    return samples


def time_onnxruntime(path: str | Path, threads: int, runs: int, warmup: int = 3) -> list[float]:
    """Seconds of each timed onnxruntime CPU run of one model, after `warmup` runs."""
    return time_interleaved({"model": Path(path)}, threads, runs, warmup)["model"]


def is_onnx_file(model: str) -> bool:
    return model.lower().endswith(".onnx")


def check_validation(
    models: tuple[str, ...], batches: tuple[int, ...], threads: int, runs: int, warmup: int
) -> None:
    """The bounds of a validation, checked before any model is built or timed."""
    known = workloads.list_workloads()
    for name in models:
        if isinstance(name, str) and is_onnx_file(name):
            if not Path(name).is_file():
                raise InputError(f"--model {name}: no such ONNX file.")
            continue
        if not isinstance(name, str) or name not in known:
            raise InputError(
                f"--model {shown(name)} is neither an ONNX file (a path ending in .onnx) "
                f"nor a built-in workload; known: {', '.join(known)}."
            )
    if not batches:
        raise InputError("--batch: give at least one batch size.")
    for batch in batches:
        expect_int(batch, "--batch", 1, MAX_BATCH)
    check_threads(threads, "--threads")
    expect_int(runs, "--runs", 1, MAX_RUNS)
    expect_int(warmup, "--warmup", 0, MAX_RUNS)


@dataclass(frozen=True)
class Case:
    """One row to measure: a model at a batch, its ONNX file and its topsim graph."""

    model: str
    batch: int
    path: Path
    graph: Any


def build_cases(models: tuple[str, ...], batches: tuple[int, ...], folder: Path) -> list[Case]:
    """Builders at each batch (exported to `folder`); ONNX files as they are (batch 1 for
    dynamic dimensions, as onnxruntime is fed)."""
    from workloads.onnx import load_onnx, to_onnx

    cases = []
    for model in models:
        if is_onnx_file(model):
            graph = load_onnx(model)  # dynamic dimensions: 1, as onnxruntime is fed
            cases.append(Case(Path(model).name, 1, Path(model), graph))
            continue
        for batch in batches:
            graph = workloads.build(model, batch=batch, dtype="fp32")
            path = folder / f"{model}-b{batch}.onnx"
            to_onnx(graph, path)
            cases.append(Case(model, batch, path, graph))
    return cases


def validate_models(
    chip: Chip,
    models: tuple[str, ...] = DEFAULT_MODELS,
    batches: tuple[int, ...] = DEFAULT_BATCHES,
    threads: int = 1,
    runs: int = 10,
    warmup: int = 3,
    fusion: str = "epilogue",
    progress: Callable[[Row], None] | None = None,
) -> Validation:
    """Measured (onnxruntime) vs predicted (topsim on `chip`) latency for each model/batch."""
    check_validation(models, batches, threads, runs, warmup)
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        cases = build_cases(models, batches, Path(folder))
        times = time_interleaved(
            {f"{c.model}/{c.batch}": c.path for c in cases}, threads, runs, warmup
        )
        for case in cases:
            samples = times[f"{case.model}/{case.batch}"]
            result = simulate(case.graph, chip, fusion=fusion)
            losses = {
                k: v for k, v in sorted(result.losses_s.items(), key=lambda kv: -kv[1]) if v > 0
            }
            rows.append(
                Row(
                    case.model,
                    case.batch,
                    measured_s=statistics.median(samples),
                    predicted_s=result.latency_s,
                    macs=case.graph.macs,
                    best_s=min(samples),
                    losses_s=losses,
                )
            )
            if progress is not None:
                progress(rows[-1])
    return Validation(chip.name, threads, runs, fusion, rows)
