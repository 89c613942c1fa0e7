"""`topsim fit CHIP --measurements FILE`: fit a chip's achievable rates to measured op times.

The fitting lives in sim/studies/fit.py and the readers in sim/studies/measurements.py;
this module checks the flags, prints the errors before and after, and writes the spec.
"""

from __future__ import annotations

import datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

import hardware
from hardware.errors import InputError
from hardware.files import write_output
from sim.cli.common import check_outputs, stdout, user_errors


def fit(
    chip: Annotated[str, typer.Argument(help="A chip preset or chip file to start from.")],
    measurements: Annotated[
        Path,
        typer.Option(
            "--measurements",
            "-m",
            help="CSV (kind, shapes, dtype, seconds), onnxruntime profile or Chrome trace JSON.",
        ),
    ],
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="Write the fitted chip spec here.")
    ] = None,
    folds: Annotated[int, typer.Option(help="Cross-validation folds (0: none).")] = 5,
    param: Annotated[
        list[str] | None,
        typer.Option("--param", "-p", help="Fit only this dotted path (repeatable)."),
    ] = None,
) -> None:
    """Fit the chip's efficiencies, DRAM efficiency and launch costs to measured op times."""
    from hardware.calibrate import spec_yaml  # the fit and its readers load when it runs
    from sim.studies.fit import fit_chip, fitted_spec
    from sim.studies.measurements import read_measurements

    console = stdout()
    with user_errors():
        check_outputs({"--out": out}, [chip, str(measurements)])
        if not 0 <= folds <= 100:
            raise InputError(f"--folds must be from 0 to 100, got {folds}.")
        start = hardware.load_chip(chip)
        data = read_measurements(measurements)
        if not data.rows:
            raise InputError(
                f"--measurements {measurements}: no measurement topsim can model "
                f"({sum(data.skipped.values())} events skipped)."
            )
        result = fit_chip(start, data.rows, only=param, folds=folds)
    table = Table(title=f"{start.name} fitted to {len(data.rows)} measurements ({data.format})")
    for column in ("Parameter", "Start", "Fitted"):
        table.add_column(column, justify="left" if column == "Parameter" else "right")
    for path, value in result.values.items():
        table.add_row(path, f"{result.start[path]:.4g}", f"{value:.4g}")
    console.print(table)
    if result.not_fitted:
        console.print(
            f"not fitted (no measurement depends on them): {', '.join(result.not_fitted)}"
        )
    if result.at_bound:
        console.print(
            f"at their upper bound 1 (the measurements run at least at the rated rate; if "
            f"they would run faster, the rated figure is too low or the model counts work the "
            f"kernels do not do): {', '.join(result.at_bound)}",
            soft_wrap=True,
        )
    for reason, count in sorted(data.skipped.items(), key=lambda item: -item[1]):
        console.print(f"skipped {count} event(s): {reason}", soft_wrap=True)
    cv = (
        f"; {result.folds}-fold cross-validated {result.cross_validated:.3f}x"
        if result.cross_validated is not None
        else ""
    )
    console.print(
        f"typical error exp(mean |ln(pred/meas)|): before {result.before:.3f}x, after "
        f"{result.after:.3f}x{cv} ({result.evaluations} fit evaluations)",
        soft_wrap=True,
    )
    if out is not None:
        today = datetime.date.today().isoformat()
        spec = fitted_spec(result, str(measurements), data.format, len(data.rows), today)
        with user_errors():
            write_output(out, spec_yaml(spec), "--out")
        console.print(f"wrote {out}")
