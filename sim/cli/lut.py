"""`topsim lut`: a latency lookup table of a NAS search space on one chip, and its check.

    topsim lut SPACE --chip CHIP [--out lut.csv] [--jobs N] [--resume]
    topsim lut check SPACE --chip CHIP [--networks 5] [--seed 0]

SPACE is a space file or a built-in one (spaces/: fbnet, proxylessnas-mobile,
equal-macs). The work lives in sim/studies/lut/; this module only draws the results.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from hardware.errors import InputError
from sim.cli.common import (
    ChipOption,
    FusionOption,
    JsonOption,
    SetOption,
    check_fusion,
    check_outputs,
    emit_json,
    figure,
    load_chip_with,
    user_errors,
)

ALL_ROWS = 24  # a table this small is printed whole; a bigger one as a line per layer

if TYPE_CHECKING:  # the study is imported when the command runs
    from sim.studies.lut import Additivity, LutRun


def lut(
    space_or_check: Annotated[
        str, typer.Argument(metavar="SPACE|check", help="A space file or built-in space.")
    ],
    space: Annotated[
        str | None, typer.Argument(metavar="[SPACE]", help="After `check`: the space.")
    ] = None,
    chip: ChipOption = "toy",
    settings: SetOption = None,
    out: Annotated[
        Path,
        typer.Option(
            "--out",
            help="The table, appended as blocks finish (.csv, .jsonl); .parquet (pyarrow) "
            "is written at the end.",
        ),
    ] = Path("lut.csv"),
    jobs: Annotated[
        int | None, typer.Option("--jobs", "-j", help="Worker processes (default: all cores).")
    ] = None,
    resume: Annotated[
        bool, typer.Option("--resume", help="Keep the rows already in --out, run the rest.")
    ] = False,
    overwrite: Annotated[
        bool, typer.Option("--overwrite", help="Replace an existing --out file (else it is kept).")
    ] = False,
    fusion: FusionOption = "epilogue",
    networks: Annotated[
        int, typer.Option("--networks", min=1, max=1000, help="check: random networks.")
    ] = 5,
    seed: Annotated[int, typer.Option("--seed", help="check: the networks' random seed.")] = 0,
    json_out: JsonOption = None,
) -> None:
    """Simulate every candidate block of a NAS search space on CHIP, input from DRAM and
    on chip after the previous layer (`lut check`: sums of rows vs whole networks)."""
    with user_errors():
        checking = space_or_check == "check"
        if checking and space is None:
            raise InputError("topsim lut check SPACE: name the space to check.")
        if not checking and space is not None:
            raise InputError(f"topsim lut {space_or_check} {space}: give one SPACE.")
        check_fusion(fusion)
        from sim.studies.lut import check_additivity, load_space, write_lut

        found = load_space(space if checking else space_or_check)
        check_outputs({"--json": json_out}, [chip])
        target = load_chip_with(chip, settings)
        console = Console(highlight=False)
        if checking:
            report = check_additivity(
                found, target, networks=networks, seed=seed, fusion=fusion, jobs=jobs
            )
            if json_out:
                emit_json(additivity_json(report), json_out)
            console.print(additivity_table(report))
            return
        run = write_lut(
            found, target, out, jobs=jobs, fusion=fusion, resume=resume, overwrite=overwrite,
            inputs=[Path(chip)],
        )  # fmt: skip
        if json_out:
            emit_json(run.rows, json_out)
        console.print(lut_table(run, found.name, target.name))


def _us(seconds: Any) -> str:
    return "-" if seconds is None else figure(seconds * 1e6)


def _loss(row: dict[str, Any]) -> str:
    if row.get("error"):
        return f"error: {row['error']}"
    share = row.get("top_loss_share") or 0.0
    return f"{row['top_loss']} {share:.0%}" if row.get("top_loss") != "none" else "none"


def lut_table(run: LutRun, space: str, chip: str) -> Table:
    """Every row of a small table; for a big one, each layer's fastest and slowest
    candidate that computes anything, in context (`onchip` where given)."""
    kept = f", {run.skipped} already in the file" if run.skipped else ""
    title = (
        f"{space} on {chip}: {len(run.rows)} rows, {run.measured} blocks simulated{kept} "
        f"in {run.wall_s:.1f} s ({run.workers} worker(s)) -> {run.path}"
    )
    table = Table(title=title, title_justify="left")
    if len(run.rows) <= ALL_ROWS:
        for header in ("layer", "candidate", "MMACs", "context", "us"):
            table.add_column(
                header, justify="left" if header in ("candidate", "context") else "right"
            )
        table.add_column("uJ", justify="right")
        table.add_column("TOP/s", justify="right")
        table.add_column("top loss")
        for row in sorted(run.rows, key=lambda r: (r["layer"], r["candidate"], r["context"])):
            energy = row.get("energy_j")
            macs = figure((row.get("macs") or 0) / 1e6)
            table.add_row(
                str(row["layer"]), row["candidate"], macs,
                row["context"], _us(row.get("latency_s")),
                "-" if energy is None else figure(energy * 1e6),
                figure(row.get("delivered_tops") or 0.0), _loss(row),
            )  # fmt: skip
        return table
    for header in ("layer", "input", "out", "fastest", "us", "slowest", "us", "its top loss"):
        table.add_column(header, justify="right" if header in ("layer", "us", "out") else "left")
    for layer, rows in sorted(in_context_rows(run.rows).items()):
        good = [r for r in rows if not r.get("error") and r.get("macs")]  # identities: 0 s
        good.sort(key=lambda r: r["latency_s"])
        if not good:
            continue
        fast, slow = good[0], good[-1]
        table.add_row(
            str(layer), fast["input"], str(fast["out_channels"]), fast["candidate"],
            _us(fast["latency_s"]), slow["candidate"], _us(slow["latency_s"]), _loss(slow),
        )  # fmt: skip
    return table


def in_context_rows(rows: list[dict[str, Any]]) -> dict[int, list[dict[str, Any]]]:
    """Per layer, one row per candidate: `onchip` where the table has it, else `dram`."""
    chosen: dict[tuple[int, str], dict[str, Any]] = {}
    for row in rows:
        key = (int(row["layer"]), row["candidate"])
        if key not in chosen or row["context"] == "onchip":
            chosen[key] = row
    by_layer: dict[int, list[dict[str, Any]]] = {}
    for (layer, _), row in chosen.items():
        by_layer.setdefault(layer, []).append(row)
    return by_layer


def additivity_table(report: Additivity) -> Table:
    table = Table(
        title=f"additivity of the {report.space} table on {report.chip} (seed {report.seed}): "
        "sum of rows vs the whole network simulated",
        title_justify="left",
    )
    for header in ("network", "simulated us", "sum in context us", "error", "sum isolated us"):
        table.add_column(header, justify="right")
    table.add_column("error", justify="right")
    for number, net in enumerate(report.networks):
        table.add_row(
            str(number), _us(net.simulated_s), _us(net.in_context_s),
            f"{net.in_context_error:+.2%}", _us(net.isolated_s), f"{net.isolated_error:+.2%}",
        )  # fmt: skip
    table.add_row(
        "mean |error|", "", "", f"{report.mean_abs_in_context:.2%}", "",
        f"{report.mean_abs_isolated:.2%}",
    )  # fmt: skip
    return table


def additivity_json(report: Additivity) -> dict[str, Any]:
    return {
        "space": report.space,
        "chip": report.chip,
        "seed": report.seed,
        "mean_abs_in_context_error": report.mean_abs_in_context,
        "mean_abs_isolated_error": report.mean_abs_isolated,
        "networks": [
            {
                "choices": n.choices,
                "simulated_s": n.simulated_s,
                "in_context_s": n.in_context_s,
                "in_context_error": n.in_context_error,
                "isolated_s": n.isolated_s,
                "isolated_error": n.isolated_error,
            }
            for n in report.networks
        ],
    }
