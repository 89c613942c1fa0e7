"""`topsim accuracy`: topsim's predictions against published measurements of real chips.

The cases and the statistics live in sim/studies/accuracy.py; this module picks the
split, prints one row per case (measured, predicted, ratio) and a summary per split,
lists the cases it skipped and why, or writes the same as JSON.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from sim.cli.common import JsonOption, emit_json, stdout, user_errors

if TYPE_CHECKING:  # the study (and the simulator under it) loads when the command runs
    from sim.studies.accuracy import Accuracy, Row

UNITS = {
    "latency_s": ("ms", 1e3),
    "ttft_s": ("ms", 1e3),
    "throughput": ("items/s", 1.0),
    "tera_ops_per_s": ("TOP/s", 1.0),
    "output_tokens_per_s": ("tok/s", 1.0),
    "output_tokens_per_s_per_chip": ("tok/s/chip", 1.0),
}


def _value(row: Row, value: float) -> str:
    unit, scale = UNITS[row.metric]
    return f"{value * scale:,.4g} {unit}"


def _ratio(ratio: float) -> str:
    style = "green" if 0.75 <= ratio <= 1.25 else "yellow" if 0.5 <= ratio <= 2 else "red"
    return f"[{style}]{ratio:.2f}[/{style}]"


def cases_table(report: Accuracy) -> Table:
    table = Table(title=f"topsim vs published measurements (split: {report.split})")
    for column in ("Case", "Chip", "Split", "Measured", "Predicted", "Pred/meas"):
        table.add_column(column, justify="left" if column in ("Case", "Chip", "Split") else "right")
    for row in report.rows:
        table.add_row(
            row.id,
            row.chip,
            row.split,
            _value(row, row.measured),
            _value(row, row.predicted),
            _ratio(row.ratio),
        )
    return table


def summary_table(report: Accuracy) -> Table:
    table = Table(title="Error per split (typical factor = exp(mean |ln(pred/meas)|))")
    for column in ("Split", "Cases", "Typical factor", "Worst factor", "Worst case", "Within 25%"):
        table.add_column(column, justify="left" if column in ("Split", "Worst case") else "right")
    for name, s in report.summary.items():
        if not s.cases:
            table.add_row(name, "0", "-", "-", "-", "-")
            continue
        table.add_row(
            name,
            str(s.cases),
            f"{s.typical_factor:.2f}x",
            f"{s.worst_factor:.1f}x",
            s.worst_case or "",
            f"{s.within_25pct:.0%}",
        )
    return table


def accuracy(
    split: Annotated[str, typer.Option(help="Which cases: fit, holdout or all.")] = "all",
    cases: Annotated[
        Path | None,
        typer.Option("--cases", help="A cases file (default: the shipped validation set)."),
    ] = None,
    json_out: JsonOption = None,
) -> None:
    """Predict published measurements of real chips and show how far off topsim is."""
    with user_errors():
        from sim.studies.accuracy import load_cases, run_cases

        report = run_cases(load_cases(cases), split)
    if json_out is not None:
        emit_json(report.model_dump_json(indent=2), json_out)
        return
    console = stdout()
    console.print(cases_table(report))
    console.print(summary_table(report))
    if report.skipped:
        console.print("[bold]Skipped (not counted):[/bold]")
        for skip in report.skipped:
            console.print(f"  {skip.id}: {skip.reason}", markup=False)
