"""`topsim sweep`: what-if sweeps on the command line, with a progress bar, tables, a plot.

The command is a plain function; sim/cli/main.py registers it with `app.command()(sweep)`.
Running lives in sim/studies/sweep/; this module only draws: a rich progress bar with ETA while
points run, then a table of the best points and one of which loss dominates where, and
optionally a matplotlib figure of the metric against one or two varied fields.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from hardware.errors import InputError
from sim.cli.common import user_errors
from sim.losses import REMEDIES

# --metric name -> (column, label, True when smaller is better)
METRICS: dict[str, tuple[str, str, bool]] = {
    "latency": ("latency_s", "latency", True),
    "tops": ("delivered_tops", "delivered TOP/s", False),
    "throughput": ("throughput", "throughput (items/s)", False),
    "efficiency": ("efficiency", "efficiency (delivered / peak)", False),
}
# a system sweep's (`--system`): its rows are run_system's plan rows
SYSTEM_METRICS: dict[str, tuple[str, str, bool]] = {
    "latency": ("prefill_latency_s", "prefill latency", True),
    "decode_latency": ("decode_latency_s", "decode step latency", True),
    "tokens_per_s": ("decode_tokens_per_s", "decode tokens/s (all replicas)", False),
    "prefill_tokens_per_s": ("prefill_tokens_per_s", "prefill tokens/s (all replicas)", False),
}
# a serving sweep's (`--system --serve`)
SERVE_METRICS: dict[str, tuple[str, str, bool]] = {
    "latency": ("e2e_p99_s", "p99 end-to-end latency", True),
    "ttft": ("ttft_p99_s", "p99 time to first token", True),
    "tpot": ("tpot_p99_s", "p99 time per output token", True),
    "tokens_per_s": ("tokens_per_s", "output tokens/s", False),
    "goodput": ("goodput_requests_per_s", "goodput (requests/s within the SLO)", False),
}
MODE_METRICS = {"chip": METRICS, "system": SYSTEM_METRICS, "serve": SERVE_METRICS}
# --metric name -> (the unit its plot axis is drawn in, the factor from its column to it)
METRIC_UNITS: dict[str, tuple[str, float]] = {
    "latency": ("s", 1.0),
    "tops": ("OP/s", 1e12),
    "throughput": ("/s", 1.0),
    "efficiency": ("%", 100.0),
    "decode_latency": ("s", 1.0),
    "tokens_per_s": ("tokens/s", 1.0),
    "prefill_tokens_per_s": ("tokens/s", 1.0),
    "ttft": ("s", 1.0),
    "tpot": ("s", 1.0),
    "goodput": ("requests/s", 1.0),
}

if TYPE_CHECKING:  # the sweep machinery and matplotlib load when a sweep runs
    from sim.studies.sweep import SweepRun, SweepSpec


def mode(spec: SweepSpec) -> str:
    """chip, system or serve: which rows a sweep writes, so which metrics it has."""
    return "serve" if spec.serve else "system" if spec.system is not None else "chip"


def metric_column(metric: str, mode: str = "chip") -> tuple[str, str, bool]:
    metrics = MODE_METRICS[mode]
    if metric not in metrics:
        kind = {"chip": "a chip", "system": "a system", "serve": "a serving"}[mode]
        raise InputError(
            f"--metric {metric!r}: for {kind} sweep, choose one of {', '.join(metrics)}."
        )
    return metrics[metric]


def sweep(
    workload: Annotated[
        str | None,
        typer.Argument(help="A builder name or a graph file (or `workload:` in --file)."),
    ] = None,
    chip: Annotated[
        str | None, typer.Option("--chip", help="A chip preset or file (or `chip:` in --file).")
    ] = None,
    system: Annotated[
        str | None,
        typer.Option(
            "--system",
            help="A system preset or file instead of --chip: each point one `topsim system` "
            "run; vary tp, pp, ep, dp, micro_batches, batch, seq, ... and system fields by "
            "dotted path (interconnect.bandwidth).",
        ),
    ] = None,
    serve: Annotated[
        bool,
        typer.Option(
            "--serve",
            help="With --system: each point one `topsim serve` run; vary rate, duration, tp, "
            "prompt, tokens, max_batch, chunk, ... (rate and duration are needed).",
        ),
    ] = False,
    vary: Annotated[
        list[str] | None,
        typer.Option(
            "--vary",
            metavar="KEY=VALUES",
            help="A varied key: a chip field by dotted path, a workload parameter or a "
            "simulation option (with --system: a system run option or a system field); "
            "values a,b,c or ranges a..b*2 / a..b+step (repeatable).",
        ),
    ] = None,
    settings: Annotated[
        list[str] | None,
        typer.Option("--set", metavar="KEY=VALUE", help="A key fixed for every point."),
    ] = None,
    file: Annotated[
        Path | None, typer.Option("--file", help="A YAML sweep: workload, chip, set, vary.")
    ] = None,
    out: Annotated[
        Path,
        typer.Option(
            "--out",
            help="Results, appended point by point (.csv or .jsonl); .parquet (pyarrow) is "
            "written at the end, its rows kept in X.parquet.partial.csv until then.",
        ),
    ] = Path("sweep.csv"),
    jobs: Annotated[
        int | None, typer.Option("--jobs", "-j", help="Worker processes (default: all cores).")
    ] = None,
    resume: Annotated[
        bool, typer.Option("--resume", help="Keep the points already in --out, run the rest.")
    ] = False,
    executor: Annotated[
        str, typer.Option("--executor", help="local (processes) or dask (dask.distributed).")
    ] = "local",
    scheduler: Annotated[
        str | None, typer.Option("--scheduler", help="Address of a dask scheduler.")
    ] = None,
    plot: Annotated[
        Path | None, typer.Option("--plot", help="Draw the metric against the varied fields.")
    ] = None,
    metric: Annotated[
        str,
        typer.Option(
            "--metric",
            help="latency, tops, throughput or efficiency (with --system: latency (prefill), "
            "decode_latency, tokens_per_s (decode), prefill_tokens_per_s; with --serve: "
            "latency (p99 end to end), ttft, tpot (p99), tokens_per_s, goodput).",
        ),
    ] = "latency",
    top: Annotated[int, typer.Option("--top", help="Rows in the table of points.")] = 10,
    sort: Annotated[
        str | None,
        typer.Option(
            "--sort",
            help="Order of the table of points: a metric (latency, tops, throughput, "
            "efficiency: best first) or a varied key (default: the varied values, in the "
            "order given).",
        ),
    ] = None,
    overwrite: Annotated[
        bool,
        typer.Option("--overwrite", help="Replace an existing --out file (else it is kept)."),
    ] = False,
    force_jobs: Annotated[
        bool, typer.Option("--force-jobs", help="Run --jobs workers even beyond the CPUs.")
    ] = False,
) -> None:
    """Run a workload over the cartesian product of varied chip fields, workload
    parameters and simulation options (or, with --system, a transformer over parallelism
    degrees, batch and system fields); write one line per point to --out."""
    with user_errors():
        metric_column(metric, "serve" if serve else "system" if system is not None else "chip")
        if plot is not None:
            check_plot_path(plot)  # before the sweep: a bad --plot should not cost a run
        from sim.studies.sweep import build_spec, check_outputs, read_rows, run_sweep
        from sim.studies.sweep.run import input_files

        spec = build_spec(
            workload, chip, vary or [], settings or [], file, system=system, serve=serve
        )
        check_sort(sort, spec)
        inputs = input_files(spec) + ([file] if file is not None else [])
        check_outputs(out, inputs=inputs, others=[("--plot", plot)] if plot else [])
        console = Console(stderr=True, highlight=False)

        def notice(message: str) -> None:
            console.print(f"note: {message}", style="yellow", markup=False, soft_wrap=True)

        with progress_bar(console) as progress:
            run = run_sweep(
                spec,
                out,
                jobs=jobs,
                resume=resume,
                executor=executor,
                scheduler=scheduler,
                progress=progress,
                overwrite=overwrite,
                force_jobs=force_jobs,
                notice=notice,
            )
        ids = set(run.ids)
        rows = [r for r in read_rows(out) if r.get("id") in ids]
        stdout = Console(highlight=False)
        stdout.print(run_line(run))
        stdout.print(best_table(rows, spec, metric, top, sort=sort))
        if spec.system is None:  # a system row has no single-chip top loss
            stdout.print(dominance_table(rows, spec, metric))
        errors = [r for r in rows if r.get("error")]
        if errors:
            stdout.print(
                f"[red]{len(errors)} of {len(rows)} point(s) failed[/] (their error is in "
                f"the `error` column of {escape(str(out))}); first: "
                f"{escape(errors[0]['error'])}",
                markup=True,
                soft_wrap=True,
            )
        if plot is not None and len(errors) < len(rows):
            plot_sweep(rows, spec, metric, plot)
            console.print(f"wrote {plot}")
    if errors:
        raise typer.Exit(1)  # some points failed: not bad input (2), not a clean run (0)


@contextmanager
def progress_bar(console: Console) -> Iterator[Any]:
    """A rich progress bar with ETA; yields the `progress(done, total)` callback."""
    with Progress(
        TextColumn("sweep"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("points"),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
        console=console,
    ) as bar:
        task = bar.add_task("sweep", total=None)

        def update(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        yield update


def run_line(run: SweepRun) -> str:
    kept = f", {run.skipped} already in the file" if run.skipped else ""
    failed = f", {run.failed} failed" if run.failed else ""
    return (
        f"{run.total} points{kept}: ran {run.ran}{failed} in {run.wall_s:.1f} s "
        f"({run.points_per_s:.1f} points/s) -> {run.path}"
    )


def _value(row: dict[str, Any], column: str) -> float | None:
    value = row.get(column)
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def ranked(rows: list[dict[str, Any]], spec: SweepSpec, metric: str) -> list[dict[str, Any]]:
    """Successful rows, best first by `metric`; ties in the order of the sweep's values."""
    column, _, smaller_better = metric_column(metric, mode(spec))
    good = [r for r in rows if not r.get("error") and _value(r, column) is not None]
    sign = 1.0 if smaller_better else -1.0
    position = positions(spec)

    def order(row: dict[str, Any]) -> tuple:
        return (
            sign * _value(row, column),
            *(position[a.key].get(str(row.get(a.column)), 0) for a in spec.axes),
        )

    return sorted(good, key=order)


def positions(spec: SweepSpec) -> dict[str, dict[str, int]]:
    """key -> (a cell of its column, as text) -> the value's place in the order given."""
    return {a.key: {str(a.cell(v)): i for i, v in enumerate(a.values)} for a in spec.axes}


def check_sort(sort: str | None, spec: SweepSpec) -> None:
    metrics = MODE_METRICS[mode(spec)]
    if sort is not None and sort not in metrics and sort not in spec.keys:
        raise InputError(
            f"--sort {sort!r}: choose a metric ({', '.join(metrics)}) or a varied key "
            f"({', '.join(spec.keys) or 'none'})."
        )


def by_values(
    rows: list[dict[str, Any]], spec: SweepSpec, first: str | None = None
) -> list[dict[str, Any]]:
    """Successful rows in the order of the varied values as given (the first axis slowest),
    `first` moved to the front; not in the order the points finished."""
    good = [r for r in rows if not r.get("error")]
    position = positions(spec)
    axes = sorted(spec.axes, key=lambda a: a.key != first)  # stable: `first` to the front
    return sorted(
        good, key=lambda r: tuple(position[a.key].get(str(r.get(a.column)), 0) for a in axes)
    )


def best_table(
    rows: list[dict[str, Any]],
    spec: SweepSpec,
    metric: str,
    top: int = 10,
    *,
    sort: str | None = None,
) -> Table:
    """The points, `top` of them: best first when `sort` is a metric, else in the order of
    the varied values (`sort` a varied key: that one first)."""
    if sort in MODE_METRICS[mode(spec)]:
        ordered = ranked(rows, spec, sort)
        title = f"Best points by {metric_column(sort, mode(spec))[1]}"
    else:
        ordered = by_values(rows, spec, sort)
        title = f"Points by {sort or ', '.join(spec.keys) or 'the varied values'}"
    if spec.serve:
        return serve_table(ordered[: max(top, 0)], spec, title)
    if spec.system is not None:
        return system_table(ordered[: max(top, 0)], spec, title)
    table = Table(title=title)
    for key in spec.keys:
        table.add_column(key)
    table.add_column("latency", justify="right")
    table.add_column("TOP/s", justify="right")
    table.add_column("efficiency", justify="right")
    table.add_column("top loss")
    for row in ordered[: max(top, 0)]:
        loss = row["top_loss"]
        share = _value(row, f"loss_{loss}")
        table.add_row(
            *(axis.label(row.get(axis.column, "")) for axis in spec.axes),
            f"{row['latency_s'] * 1e3:.4g} ms",
            f"{row['delivered_tops']:.4g}",
            f"{row['efficiency']:.1%}",
            f"{loss} ({share:.0%})" if share is not None else str(loss),
        )
    return table


def system_table(rows: list[dict[str, Any]], spec: SweepSpec, title: str) -> Table:
    """A system sweep's points: the plan, both phases, the system losses, memory fit."""
    caption = "tok/s: decode, all replicas; comm %, bubble %: prefill/decode; GiB per chip"
    table = Table(title=title, caption=caption)
    for key in spec.keys:
        table.add_column(key)
    table.add_column("plan", no_wrap=True)
    headers = ("prefill ms", "decode ms", "tok/s", "comm %", "bubble %", "GiB")
    for name in headers:
        table.add_column(name, justify="right")
    table.add_column("fits")
    for row in rows:
        table.add_row(
            *(axis.label(row.get(axis.column, "")) for axis in spec.axes),
            str(row["plan"]),
            f"{row['prefill_latency_s'] * 1e3:.4g}",
            f"{row['decode_latency_s'] * 1e3:.4g}",
            f"{row['decode_tokens_per_s']:.4g}",
            _shares(row, "communication"),
            _shares(row, "bubble"),
            f"{row['memory_per_chip_bytes'] / 2**30:.3g}",
            "yes" if str(row["fits"]) == "True" else "no",
        )
    return table


def serve_table(rows: list[dict[str, Any]], spec: SweepSpec, title: str) -> Table:
    """A serving sweep's points: latency percentiles, throughput, goodput."""
    table = Table(title=title, caption="ms; goodput: requests/s within the SLO")
    for key in spec.keys:
        table.add_column(key)
    table.add_column("plan", no_wrap=True)
    headers = ("TTFT p50", "TTFT p99", "TPOT p50", "TPOT p99", "e2e p99", "tok/s", "goodput")
    for name in headers:
        table.add_column(name, justify="right")
    columns = ("ttft_p50_s", "ttft_p99_s", "tpot_p50_s", "tpot_p99_s", "e2e_p99_s")
    for row in rows:
        table.add_row(
            *(axis.label(row.get(axis.column, "")) for axis in spec.axes),
            str(row["plan"]),
            *("-" if row[c] is None else f"{row[c] * 1e3:.4g}" for c in columns),
            f"{row['tokens_per_s']:.4g}",
            f"{row['goodput_requests_per_s']:.4g}",
        )
    return table


def _shares(row: dict[str, Any], name: str) -> str:
    """'18/1': the prefill and decode shares of a system loss, in percent."""
    prefill, decode = row[f"prefill_{name}_share"], row[f"decode_{name}_share"]
    return f"{prefill * 100:.0f}/{decode * 100:.0f}"


def _sorted_values(values: set[str]) -> list[str]:
    from sim.studies.sweep import axis_number

    def key(text: str) -> tuple[int, float, str]:
        number = axis_number(text)
        return (0, number, text) if number is not None else (1, 0.0, text)

    return sorted(values, key=key)


def dominance_table(rows: list[dict[str, Any]], spec: SweepSpec, metric: str) -> Table:
    """For each loss that is the biggest somewhere: how many points, where, the remedy."""
    column, label, _ = metric_column(metric, mode(spec))
    table = Table(title="Which loss dominates where")
    table.add_column("top loss", style="bold")
    table.add_column("points", justify="right")
    table.add_column("where")
    table.add_column("remedy")
    good = ranked(rows, spec, metric)
    groups: dict[str, list[dict[str, Any]]] = {}
    for row in good:
        groups.setdefault(str(row["top_loss"]), []).append(row)
    for loss, members in sorted(groups.items(), key=lambda kv: (-len(kv[1]), kv[0])):
        where = []
        for axis in spec.axes:
            seen = {axis.label(r.get(axis.column)) for r in members}
            every = {str(v) for v in axis.values}
            if len(every) > 1:
                shown = "all" if seen >= every else ", ".join(_sorted_values(seen))
                where.append(f"{axis.key}: {shown}")
        table.add_row(loss, str(len(members)), "\n".join(where) or "all", REMEDIES.get(loss, ""))
    return table


def plot_module(path: Path) -> Any:
    """matplotlib.pyplot (sim.render.plots.pyplot), or an InputError naming `--plot`."""
    from sim.render.plots import pyplot

    try:
        return pyplot()
    except (InputError, ImportError):  # no matplotlib, or a broken one
        raise InputError(
            f"--plot {path}: drawing needs matplotlib: pip install 'topsim[plot]'."
        ) from None


def check_plot_path(path: Path) -> None:
    """matplotlib is there and can write `path` (its type, its folder), before any work."""
    plt = plot_module(path)
    types = plt.Figure().canvas.get_supported_filetypes()
    suffix = path.suffix.lower().lstrip(".")
    if suffix not in types:
        raise InputError(
            f"--plot {path}: cannot draw a {('.' + suffix) if suffix else 'file without a suffix'}"
            f"; name the file with one of {', '.join('.' + t for t in sorted(types))}."
        )


def plot_sweep(rows: list[dict[str, Any]], spec: SweepSpec, metric: str, path: Path) -> None:
    """The metric against the first varied field: a line, one line per value of a second
    field, or a heatmap when both fields are numeric. Further fields keep their best."""
    from sim.render.plots import SweepFigure, sweep_plot
    from sim.studies.sweep import axis_number
    from sim.studies.sweep.values import SI_UNITS

    plot_module(path)
    column, label, smaller_better = metric_column(metric, mode(spec))
    unit, scale = METRIC_UNITS[metric]
    varied = [axis for axis in spec.axes if len(axis.values) > 1]
    if not varied:
        raise InputError(f"--plot {path}: nothing to draw; vary a field over two or more values.")
    x_axis, series_axis = varied[0], (varied[1] if len(varied) > 1 else None)
    best: dict[tuple[str, str], float] = {}
    for row in ranked(rows, spec, metric):  # best first: the first seen per cell is kept
        cell = (
            x_axis.label(row.get(x_axis.column)),
            series_axis.label(row.get(series_axis.column)) if series_axis else "",
        )
        best.setdefault(cell, _value(row, column) * scale)
    if not best:
        raise InputError(f"--plot {path}: no point finished without an error.")
    xs = [str(v) for v in x_axis.values]
    series = [str(v) for v in series_axis.values] if series_axis else [""]
    x_numbers = [axis_number(x_axis.cell(v)) for v in x_axis.values]
    numeric = all(x is not None for x in x_numbers)
    others = [a.key for a in varied[2:]]
    title = f"{Path(spec.workload).name} on {Path(spec.system or spec.chip).name}" + (
        f"\n(the best over {', '.join(others)})" if others else ""
    )
    figure = SweepFigure(
        values=[[best.get((x, s), float("nan")) for x in xs] for s in series],
        xs=x_numbers,
        x_labels=xs,
        x_name=x_axis.key,
        x_unit=SI_UNITS[x_axis.dimension] if x_axis.dimension else "",
        series=series,
        series_name=series_axis.key if series_axis else "",
        metric=label,
        unit=unit,
        title=title,
        heatmap=bool(series_axis and numeric and all(axis_number(v) is not None for v in series)),
        smaller_better=smaller_better,
    )
    sweep_plot(figure, path)
