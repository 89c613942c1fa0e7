"""`topsim calibrate` and `topsim validate-model`: measure this machine, then check topsim's
predictions against real runs of real models on it.

The functions are plain typer commands; `sim/cli.py` registers them with
`app.command()(calibrate)` and `app.command("validate-model")(validate_model)`.

validate-model: each CNN builder (fp32) is exported with `to_onnx` (random weights), run by
onnxruntime on the CPU with a fixed number of intra-op threads (warm-up runs, then the
median of timed runs), and predicted by `sim.simulate` on the calibrated `host-cpu` chip.
The chip is calibrated once (or loaded with --chip); nothing is fitted per model.
"""

from __future__ import annotations

import json
import statistics
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Annotated

import numpy as np
import typer
from rich.console import Console
from rich.table import Table

import hardware
import workloads
from hardware.calibrate import calibrate as measure_chip
from hardware.chip import Chip
from hardware.errors import InputError
from hardware.measure import ort_session
from sim.simulate import simulate

DEFAULT_MODELS = ("resnet50", "mobilenet-v2", "shufflenet-v2")
DEFAULT_BATCHES = (1, 8)


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


def _feeds(session) -> dict[str, np.ndarray]:
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


def validate_models(
    chip: Chip,
    models: tuple[str, ...] = DEFAULT_MODELS,
    batches: tuple[int, ...] = DEFAULT_BATCHES,
    threads: int = 2,
    runs: int = 10,
    warmup: int = 3,
    fusion: str = "epilogue",
    progress=None,
) -> Validation:
    """Measured (onnxruntime) vs predicted (topsim on `chip`) latency for each model/batch."""
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


def validation_table(report: Validation) -> Table:
    table = Table(
        title=f"topsim vs onnxruntime on this CPU ({report.threads} threads, chip "
        f"{report.chip}, fusion {report.fusion}, median of {report.runs} runs; "
        "losses in ms)"
    )
    for column in (
        "Model",
        "Batch",
        "Measured ms",
        "Best ms",
        "Predicted ms",
        "Error %",
        "Largest losses",
    ):
        table.add_column(
            column, justify="left" if column in ("Model", "Largest losses") else "right"
        )
    for row in report.rows:
        top = ", ".join(f"{k} {v * 1e3:.3g}" for k, v in list(row.losses_s.items())[:2])
        table.add_row(
            row.model,
            str(row.batch),
            f"{row.measured_s * 1e3:.2f}",
            f"{row.best_s * 1e3:.2f}",
            f"{row.predicted_s * 1e3:.2f}",
            f"{row.error * 100:+.1f}",
            top,
        )
    return table


def _stdout() -> Console:
    return Console(highlight=False)


def _check_onnx_extra() -> None:
    try:
        import onnx  # noqa: F401
        import onnxruntime  # noqa: F401
    except ModuleNotFoundError as err:
        raise InputError(
            f"validate-model needs {err.name}: pip install 'topsim[onnx]' (onnx and onnxruntime)."
        ) from None


def calibrate(
    out: Annotated[Path, typer.Option("--out", "-o", help="Where to write the chip spec.")] = Path(
        "host-cpu.yaml"
    ),
    device: Annotated[str, typer.Option(help="cpu, or cuda (needs PyTorch and a GPU).")] = "cpu",
    threads: Annotated[
        int | None, typer.Option(help="CPU threads to model (default: the physical cores).")
    ] = None,
    quick: Annotated[bool, typer.Option("--quick", help="A fast, rougher measurement.")] = False,
) -> None:
    """Measure this machine (GEMM rate, memory bandwidth, caches, dispatch cost) and write it
    as a chip spec whose sources say how each number was measured."""
    from sim.cli import user_errors

    with user_errors():
        if threads is not None and threads < 1:
            raise InputError(f"--threads must be a positive integer, got {threads}.")
        start = time.perf_counter()
        chip = measure_chip(out, quick=quick, threads=threads, device=device)
    dtype = "fp32" if "fp32" in chip.dtypes() else chip.dtypes()[0]
    l2 = chip.memory.l2
    _stdout().print(
        f"{chip.name}: peak {chip.peak_ops(dtype) / 1e9:,.1f} GFLOP/s {dtype}, DRAM "
        f"{chip.memory.dram.bandwidth / 1e9:.1f} GB/s, on-chip "
        f"{(l2.capacity / 2**20 if l2 else 0):.0f} MiB at {(l2.bandwidth / 1e9 if l2 else 0):.1f} "
        f"GB/s, launch {chip.launch.latency * 1e6:.2f} us; measured in "
        f"{time.perf_counter() - start:.1f} s; wrote {out}",
        soft_wrap=True,
    )


def validate_model(
    model: Annotated[
        list[str] | None, typer.Option("--model", "-m", help="Builders to check (repeatable).")
    ] = None,
    batch: Annotated[
        list[int] | None, typer.Option("--batch", "-b", help="Batch sizes (repeatable).")
    ] = None,
    chip: Annotated[
        str | None,
        typer.Option(help="A calibrated chip file or preset; default: calibrate this machine now."),
    ] = None,
    threads: Annotated[int, typer.Option(help="onnxruntime intra-op threads.")] = 2,
    runs: Annotated[int, typer.Option(help="Timed runs per model (the median is used).")] = 10,
    warmup: Annotated[int, typer.Option(help="Untimed runs first.")] = 3,
    fusion: Annotated[str, typer.Option(help="topsim fusion mode.")] = "epilogue",
    save_chip: Annotated[
        Path | None, typer.Option(help="Write the chip calibrated for this run here.")
    ] = None,
    json_out: Annotated[
        str | None,
        typer.Option("--json", metavar="PATH", help="Write JSON to PATH ('-' for stdout)."),
    ] = None,
) -> None:
    """Run CNNs with onnxruntime on this CPU and compare with topsim's predictions."""
    from sim.cli import emit_json, user_errors

    console = _stdout()
    progress = Console(stderr=True, highlight=False)  # stdout may be the JSON
    with user_errors():
        _check_onnx_extra()
        models = tuple(model or DEFAULT_MODELS)
        batches = tuple(batch or DEFAULT_BATCHES)
        known = workloads.list_workloads()
        for name in models:
            if name not in known:
                raise InputError(
                    f"--model {name!r} is not a built-in workload; known: {', '.join(known)}."
                )
        if min(batches) < 1 or threads < 1 or runs < 1 or warmup < 0:
            raise InputError(
                "--batch, --threads and --runs must be positive and --warmup non-negative."
            )
        if chip is not None:
            target = hardware.load_chip(chip)
        else:
            progress.print(f"calibrating this machine ({threads} threads) ...")
            target = measure_chip(save_chip, threads=threads)
        report = validate_models(
            target,
            models,
            batches,
            threads,
            runs,
            warmup,
            fusion,
            progress=lambda r: progress.print(
                f"  {r.model} batch {r.batch}: measured {r.measured_s * 1e3:.2f} ms (best "
                f"{r.best_s * 1e3:.2f}), predicted {r.predicted_s * 1e3:.2f} ms"
            ),
        )
    if json_out is not None:
        emit_json(json.dumps(report.to_dict(), indent=2), json_out)
        if json_out == "-":
            return
    console.print(validation_table(report))
    verdict = "right" if report.ranking_ok else "WRONG"
    orders = "; ".join(
        f"batch {b}: measured {' < '.join(report.ranking(b, 'measured_s'))}, "
        f"predicted {' < '.join(report.ranking(b, 'predicted_s'))}"
        for b in batches
    )
    best = statistics.median(abs(r.predicted_s / r.best_s - 1) for r in report.rows)
    console.print(
        f"median |error| {report.median_abs_error * 100:.1f}% (against the best runs: "
        f"{best * 100:.1f}%); ranking {verdict} ({orders})",
        soft_wrap=True,
    )
