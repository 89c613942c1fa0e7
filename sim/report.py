"""Terminal rendering of a finished Result with rich. Nothing here computes results."""

from __future__ import annotations

from rich.console import Group
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from hardware.quantity import format_si
from sim.account import REMEDIES
from sim.result import Result

BAR_WIDTH = 30


def ops_rate(value: float) -> str:
    """Ops/s as TOP/s (or GOP/s below one TOP/s)."""
    if value >= 1e12:
        return f"{value / 1e12:.3g} TOP/s"
    return f"{value / 1e9:.3g} GOP/s"


def seconds(value: float) -> str:
    return format_si(value, "s")


def bar(fraction: float, width: int = BAR_WIDTH, style: str = "red") -> Text:
    """A horizontal bar: `fraction` of `width` cells, drawn with eighth blocks."""
    eighths = round(max(0.0, min(1.0, fraction)) * width * 8)
    full, part = divmod(eighths, 8)
    text = "█" * full + ("▏▎▍▌▋▊▉"[part - 1] if part else "")
    return Text(text.ljust(width), style=style)


def header(result: Result) -> Table:
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold")
    grid.add_column()
    grid.add_row("workload", f"{result.workload} (batch {result.batch}, {result.dtype}, "
                             f"fusion {result.fusion})")
    grid.add_row("chip", result.chip)
    grid.add_row("latency", seconds(result.latency_s))
    grid.add_row("throughput", f"{result.throughput:,.4g} items/s")
    grid.add_row("peak", ops_rate(result.peak_ops))
    grid.add_row("delivered", f"{ops_rate(result.delivered_ops_per_s)}  "
                              f"([bold]{result.efficiency:.1%}[/] of peak)")
    grid.add_row("kernels", f"{result.kernels} ({result.launches} launches), "
                            f"DRAM traffic {format_si(result.dram_bytes, 'B')}")
    if result.offloaded_ops:
        grid.add_row("offloaded", f"{result.offloaded_ops / result.total_ops:.1%} of the ops ran "
                                  "outside the peak units")
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
    useful = result.useful_ops / (result.peak_ops * result.latency_s) if result.latency_s else 0.0
    table.add_row("useful", f"{useful:.1%}", bar(useful, style="bold green"),
                  "work done on the peak units")
    return table


def top_ops(result: Result, top: int) -> Table:
    table = Table(title=f"Top {top} kernels by time", title_justify="left")
    table.add_column("kernel", overflow="ellipsis", max_width=36, no_wrap=True)
    table.add_column("unit")
    table.add_column("time", justify="right")
    table.add_column("share", justify="right")
    table.add_column("ops/byte", justify="right")
    table.add_column("bound")
    rows = sorted(result.ops, key=lambda r: (-(r.end_s - r.start_s), r.name))[:top]
    for row in rows:
        span = row.end_s - row.start_s
        intensity = f"{row.intensity:.3g}" if row.intensity < 1e29 else "-"
        table.add_row(row.name, row.unit, seconds(span),
                      f"{span / result.latency_s:.1%}" if result.latency_s else "-",
                      intensity, row.bound)
    return table


def units(result: Result) -> Table:
    table = Table(title="Units", title_justify="left")
    table.add_column("unit")
    table.add_column("in peak")
    table.add_column("kernels", justify="right")
    table.add_column("busy", justify="right")
    table.add_column("utilization", no_wrap=True)
    for unit in result.units:
        table.add_row(unit.name, "yes" if unit.peak else ("host" if unit.host else "no"),
                      str(unit.kernels), seconds(unit.busy_s),
                      Text.assemble(bar(unit.utilization, 20, "cyan"),
                                    f" {unit.utilization:.0%}"))
    return table


def render_result(result: Result, top: int = 10) -> Group:
    return Group(Panel(header(result), title="topsim", title_align="left"), waterfall(result),
                 units(result), top_ops(result, top))


def one_line(result: Result) -> str:
    return (f"{result.workload} on {result.chip}: {seconds(result.latency_s)}, "
            f"{ops_rate(result.delivered_ops_per_s)} of {ops_rate(result.peak_ops)} "
            f"({result.efficiency:.1%}), top loss {result.top_loss()}")
