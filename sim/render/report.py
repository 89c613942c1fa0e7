"""Terminal rendering of a finished Result with rich. Nothing here computes results."""

from __future__ import annotations

from collections.abc import Sequence

from rich import box
from rich.console import Console, ConsoleOptions, Group, RenderResult
from rich.jupyter import JupyterMixin
from rich.markup import escape
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from hardware.errors import InputError, expect, expect_int, shown
from hardware.quantity import format_si
from sim.losses import REMEDIES
from sim.render.format import bar, ops_rate, per_second, percent, seconds
from sim.render.gantt import Gantt
from sim.result import Result

SPARKS = "▁▂▃▄▅▆▇█"
MAX_TOP = 100_000  # kernels listed; more rows than any terminal shows


def header(result: Result) -> Table:
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold")
    grid.add_column()
    grid.add_row(
        "workload",
        f"{escape(result.workload)} (batch {result.batch}, {result.dtype}, fusion {result.fusion})",
    )
    grid.add_row("chip", escape(result.chip))
    if result.batches > 1:
        ff = ", steady batches fast-forwarded" if result.fast_forward else ""
        grid.add_row("stream", f"{result.batches:,} batches in {seconds(result.duration_s)}{ff}")
        stats = result.batch_latency
        grid.add_row(
            "latency",
            f"{seconds(result.latency_s)} (median batch; first "
            f"{seconds(stats.first_s)}, last {seconds(stats.last_s)})",
        )
    else:
        grid.add_row("latency", seconds(result.latency_s))
    grid.add_row("throughput", per_second(result.throughput))
    grid.add_row("peak", ops_rate(result.peak_ops))
    grid.add_row(
        "delivered",
        f"{ops_rate(result.delivered_ops_per_s)}  ([bold]{percent(result.efficiency)}[/] of peak)",
    )
    grid.add_row(
        "kernels",
        f"{result.kernels} ({result.launches} launches), "
        f"DRAM traffic {format_si(result.dram_bytes, 'B')}",
    )
    if result.offloaded_ops:
        grid.add_row(
            "offloaded",
            f"{result.offloaded_ops / result.total_ops:.1%} of the ops ran outside the peak units",
        )
    if result.power is not None:
        power = result.power
        hottest = (
            f", max {power.max_temperature_c:.1f} °C" if power.max_temperature_c is not None else ""
        )
        grid.add_row(
            "power",
            f"{power.average_w:.3g} W average, {power.peak_w:.3g} W peak, "
            f"{format_si(power.energy_j, 'J')}{hottest}",
        )
    return grid


def waterfall(result: Result) -> Table:
    """From peak down to delivered: one bar per loss, its share of peak capacity."""
    table = Table(title="Where the peak went", title_justify="left", box=None, pad_edge=False)
    table.add_column("", no_wrap=True)
    table.add_column("share", justify="right")
    table.add_column("", no_wrap=True)
    table.add_column("remedy", overflow="fold")
    table.add_row("peak", "100.0%", bar(1.0, style="bold blue"), "")
    for category, _ops in result.ranked_losses():
        share = result.loss_share(category)
        if share < 0.0005:
            continue
        table.add_row(category, f"-{share:.1%}", bar(share), REMEDIES[category])
    capacity = result.peak_ops * result.duration_s
    useful = result.useful_ops / capacity if capacity else 0.0
    table.add_row(
        "useful", f"{useful:.1%}", bar(useful, style="bold green"), "work done on the peak units"
    )
    return table


def numbers_table(title: str) -> Table:
    """A table that keeps every header whole at 80 columns: a rule under the header instead
    of a box, so only the first (name) column gives way, cut with an ellipsis."""
    return Table(
        title=title,
        title_justify="left",
        box=box.SIMPLE_HEAD,
        show_edge=False,
        pad_edge=False,
        collapse_padding=True,
    )


def fixed(table: Table, header: str, justify: str = "left", width: int = 0) -> None:
    """A column that never wraps nor shrinks below its header (or `width`)."""
    table.add_column(
        header,
        justify=justify,
        no_wrap=True,
        min_width=max(len(header), width),  # type: ignore[arg-type]
    )


def name_cell(name: str) -> Text:
    """A name on one line: the only cell that gives way when the table is too wide."""
    return Text(name, no_wrap=True, overflow="ellipsis")


def top_ops(result: Result, top: int) -> Table:
    table = numbers_table(f"Top {top} kernels by time")
    table.add_column("kernel", min_width=8)
    fixed(table, "unit")
    fixed(table, "time", "right", 8)
    fixed(table, "share", "right")
    fixed(table, "ops/byte", "right")
    fixed(table, "bound")
    fixed(table, "main loss")
    rows = sorted(result.ops, key=lambda r: (-(r.end_s - r.start_s), r.name))[:top]
    for row in rows:
        span = row.end_s - row.start_s
        intensity = f"{row.intensity:.3g}" if row.intensity < 1e29 else "-"
        table.add_row(
            name_cell(row.name),
            Text(row.unit),
            seconds(span),
            f"{span / result.latency_s:.1%}" if result.latency_s else "-",
            intensity,
            row.bound,
            row.main_loss(),
        )
    return table


def units(result: Result) -> Table:
    table = numbers_table("Units")
    table.add_column("unit", min_width=4)
    fixed(table, "in peak")
    fixed(table, "kernels", "right")
    fixed(table, "busy", "right", 8)
    fixed(table, "gap", "right", 8)
    fixed(table, "wait launch", "right")
    fixed(table, "utilization")
    for unit in result.units:
        table.add_row(
            name_cell(unit.name),
            "yes" if unit.peak else ("host" if unit.host else "no"),
            str(unit.kernels),
            seconds(unit.busy_s),
            seconds(unit.overhead_s),
            seconds(unit.launch_wait_s) if unit.peak else "-",
            Text.assemble(bar(unit.utilization, 12, "cyan"), f" {unit.utilization:>4.0%}"),
        )
    return table


def sparkline(times: Sequence[float], values: Sequence[float], cells: int) -> str:
    """`values` sampled at `times`, binned by time into `cells` characters (bin mean; an
    empty bin repeats the last value), scaled from the minimum to the maximum."""
    if not values or cells <= 0:
        return ""
    t0, t1 = times[0], times[-1]
    span = t1 - t0
    sums, counts = [0.0] * cells, [0] * cells
    for t, v in zip(times, values, strict=True):
        i = min(cells - 1, int((t - t0) / span * cells)) if span > 0 else 0
        sums[i] += v
        counts[i] += 1
    binned: list[float] = []
    last = values[0]
    for total, n in zip(sums, counts, strict=True):
        last = total / n if n else last
        binned.append(last)
    if span <= 0:
        binned = binned[:1]
    lo, hi = min(binned), max(binned)
    if hi - lo <= 1e-12 * max(abs(hi), 1.0):
        return SPARKS[3] * len(binned)
    top = len(SPARKS) - 1
    return "".join(SPARKS[round((v - lo) / (hi - lo) * top)] for v in binned)


class Sparklines(JupyterMixin):
    """Temperature, clock and power over a run, and batch latency over a stream."""

    LABEL_WIDTH = 13

    def __init__(self, result: Result) -> None:
        self.rows: list[tuple[str, list[float], list[float], str]] = []
        trace = result.power.trace if result.power is not None else []
        if len(trace) >= 2:
            times = [p.time_s for p in trace]
            for label, values, unit, digits in (
                ("temperature", [p.temperature_c for p in trace], "°C", 1),
                ("clock", [p.clock_hz / 1e6 for p in trace], "MHz", 0),
                ("power", [p.power_w for p in trace], "W", 2),
            ):
                self.rows.append((label, times, values, span_text(values, unit, digits)))
        if result.batches > 1 and len(result.series) >= 2:
            times = [p.time_s for p in result.series]
            values = [p.latency_s * 1e3 for p in result.series]
            self.rows.append(("batch latency", times, values, span_text(values, "ms", 3)))
        self.duration_s = result.duration_s

    def __bool__(self) -> bool:
        return bool(self.rows)

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        span_width = max(len(span) for *_, span in self.rows)
        cells = max(8, options.max_width - self.LABEL_WIDTH - span_width - 2)
        yield Text.assemble(("Over the run", "bold"), f" (0 – {seconds(self.duration_s)})")
        for label, times, values, span in self.rows:
            yield Text.assemble(
                (label.ljust(self.LABEL_WIDTH), "bold"),
                " ",
                (sparkline(times, values, cells), "cyan"),
                " ",
                (span, "dim"),
                no_wrap=True,
                overflow="ellipsis",
            )


def span_text(values: Sequence[float], unit: str, digits: int) -> str:
    """'25.0 -> 27.1 °C', with '(min .. max)' when the extremes are elsewhere; one value
    when it never changed."""

    def fmt(v: float) -> str:
        return f"{v:.{digits}f}"

    first, last, low, high = fmt(values[0]), fmt(values[-1]), fmt(min(values)), fmt(max(values))
    if low == high:
        return f"{first} {unit} throughout"
    text = f"{first} -> {last} {unit}"
    if {low, high} != {first, last}:
        text += f" ({low} .. {high})"
    return text


class Summary(JupyterMixin, Group):
    """The full summary: a rich Group that also renders itself in Jupyter."""


def render_result(result: Result, top: int = 10, color_by: str = "bound") -> Summary:
    """Header, waterfall from peak to delivered, units, Gantt, run traces, top kernels."""
    expect(result, Result, "render_result: result", " (from sim.simulate)")
    expect_int(top, "render_result: top", 0, MAX_TOP)
    if color_by not in ("bound", "kind"):
        raise InputError(
            f"render_result: color_by must be 'bound' or 'kind', got {shown(color_by)}."
        )
    parts = [
        Panel(header(result), title="topsim", title_align="left"),
        waterfall(result),
        units(result),
        Gantt(result, color_by=color_by),
    ]
    lines = Sparklines(result)
    if lines:
        parts.append(lines)
    parts.append(top_ops(result, top))
    return Summary(*parts)


def one_line(result: Result) -> str:
    expect(result, Result, "one_line: result", " (from sim.simulate)")
    return (
        f"{result.workload} on {result.chip}: {seconds(result.latency_s)}, "
        f"{ops_rate(result.delivered_ops_per_s)} of {ops_rate(result.peak_ops)} "
        f"({result.efficiency:.1%}), top loss {result.top_loss()}"
    )
