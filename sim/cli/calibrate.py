"""`topsim calibrate` and `topsim validate-model`: measure this machine, then check topsim's
predictions against real runs of real models on it.

The functions are plain typer commands; sim/cli/main.py registers them. The measuring
lives in hardware.calibrate and the comparison in sim/studies/validate.py; this module
checks the flags and prints the table and the verdict.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.table import Table

import hardware
from hardware.errors import InputError
from sim.cli.common import JsonOption, check_outputs, emit_json, user_errors

if TYPE_CHECKING:  # measuring and validating load numpy: imported when they run
    from sim.studies.validate import Validation


def validation_table(report: Validation) -> Table:
    table = Table(
        title=f"topsim vs onnxruntime on this CPU ({report.threads} threads, chip "
        f"{report.chip}, fusion {report.fusion}, {report.runs} interleaved runs; "
        "losses in ms)"
    )
    for column in (
        "Model",
        "Batch",
        "Measured ms",
        "Best ms",
        "Predicted ms",
        "Pred/median",
        "Pred/best",
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
            f"{row.ratio:.2f}x",
            f"{row.ratio_best:.2f}x",
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
        int | None,
        typer.Option(help="CPU threads to model and measure with (default: 1)."),
    ] = None,
    quick: Annotated[bool, typer.Option("--quick", help="A fast, rougher measurement.")] = False,
) -> None:
    """Measure this machine (GEMM rate, memory bandwidth, caches, dispatch cost, what
    onnxruntime's kernels reach per op class) and write it as a chip spec whose sources say
    how each number was measured."""
    from hardware.calibrate import calibrate as measure_chip
    from hardware.calibrate import check_threads
    from sim.studies.host_rates import with_op_class_rates

    with user_errors():
        if threads is not None:
            check_threads(threads, "--threads")
        check_outputs({"--out": out})
        start = time.perf_counter()
        chip = measure_chip(
            out, quick=quick, threads=threads, device=device, refine=with_op_class_rates
        )
    efficiency = chip.units[next(iter(chip.units))].efficiency
    dtype = "fp32" if "fp32" in chip.dtypes() else chip.dtypes()[0]
    l2 = chip.memory.l2
    _stdout().print(
        f"{chip.name}: peak {chip.peak_ops(dtype) / 1e9:,.1f} GFLOP/s {dtype}, DRAM "
        f"{chip.memory.dram.bandwidth / 1e9:.1f} GB/s, on-chip "
        f"{(l2.capacity / 2**20 if l2 else 0):.0f} MiB at {(l2.bandwidth / 1e9 if l2 else 0):.1f} "
        f"GB/s, launch {chip.launch.latency * 1e6:.2f} us, efficiency "
        f"{', '.join(f'{k} {v:.2f}' for k, v in efficiency.items()) or 'not measured'}; "
        "measured in "
        f"{time.perf_counter() - start:.1f} s; wrote {out}",
        soft_wrap=True,
    )


def validate_model(
    model: Annotated[
        list[str] | None,
        typer.Option(
            "--model", "-m", help="Builders or ONNX files (FILE.onnx) to check (repeatable)."
        ),
    ] = None,
    batch: Annotated[
        list[int] | None, typer.Option("--batch", "-b", help="Batch sizes (repeatable).")
    ] = None,
    chip: Annotated[
        str | None,
        typer.Option(help="A calibrated chip file or preset; default: calibrate this machine now."),
    ] = None,
    threads: Annotated[int, typer.Option(help="onnxruntime intra-op threads.")] = 1,
    runs: Annotated[
        int, typer.Option(help="Timed runs per model, interleaved (min and median reported).")
    ] = 10,
    warmup: Annotated[int, typer.Option(help="Untimed runs first.")] = 3,
    fusion: Annotated[str, typer.Option(help="topsim fusion mode.")] = "epilogue",
    save_chip: Annotated[
        Path | None, typer.Option(help="Write the chip calibrated for this run here.")
    ] = None,
    json_out: JsonOption = None,
) -> None:
    """Run models (built-in CNNs, or ONNX files) with onnxruntime on this CPU and compare
    with topsim's predictions: per-model ratio, typical error factor, rank correlation."""
    from hardware.calibrate import calibrate as measure_chip
    from sim.studies.host_rates import with_op_class_rates
    from sim.studies.validate import (
        DEFAULT_BATCHES,
        DEFAULT_MODELS,
        check_validation,
        validate_models,
    )

    console = _stdout()
    progress = Console(stderr=True, highlight=False)  # stdout may be the JSON
    with user_errors():
        _check_onnx_extra()
        models = tuple(model or DEFAULT_MODELS)
        batches = tuple(batch or DEFAULT_BATCHES)
        check_outputs({"--save-chip": save_chip, "--json": json_out}, [chip])
        check_validation(models, batches, threads, runs, warmup)
        if chip is not None:
            target = hardware.load_chip(chip)
        else:
            progress.print(f"calibrating this machine ({threads} threads) ...")
            target = measure_chip(save_chip, threads=threads, refine=with_op_class_rates)
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
        for b in sorted({r.batch for r in report.rows})
    )
    console.print(
        f"typical error factor {report.typical_factor:.3f}x against the median runs, "
        f"{report.typical_factor_best:.3f}x against the fastest; Spearman rank correlation "
        f"{report.spearman:.3f}; median |error| {report.median_abs_error * 100:.1f}%; "
        f"ranking {verdict} ({orders})",
        soft_wrap=True,
    )
