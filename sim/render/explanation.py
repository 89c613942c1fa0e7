"""Explanations and comparisons drawn for the terminal: the losses ranked with remedies,
kernels and measured what-ifs; several results side by side."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from rich.table import Table
from rich.text import Text

from sim.losses import LOSS_CATEGORIES
from sim.render.format import ops_rate, per_second, percent, seconds, short
from sim.render.report import Summary
from sim.result import Result
from sim.studies.results import MIN_SHARE, Explanation


def render_explanation(explanation: Explanation) -> Summary:
    """The losses ranked with remedy and kernels, then the measured what-ifs."""
    result = explanation.result
    head = Text.assemble(
        (f"{result.workload} on {result.chip}", "bold"),
        f": {seconds(result.latency_s)}, {ops_rate(result.delivered_ops_per_s)} of "
        f"{ops_rate(result.peak_ops)} ({result.efficiency:.1%} of peak)",
    )
    losses = Table(title="Losses, biggest first", title_justify="left")
    losses.add_column("#", justify="right")
    losses.add_column("loss", no_wrap=True)
    losses.add_column("share", justify="right")
    losses.add_column("remedy", ratio=3)
    losses.add_column("kernels most responsible", ratio=2)
    for n, loss in enumerate(explanation.losses, start=1):
        kernels = Text("\n".join(f"{short(op.name)} ({op.share:.0%})" for op in loss.ops) or "-")
        remedy = Text(loss.remedy)
        if loss.advice:
            remedy.append("\n" + loss.advice, style="dim")
        losses.add_row(str(n), loss.category, f"{loss.share:.1%}", remedy, kernels)
    parts: list = [head, losses]
    what_ifs = Table(title="What if (each re-simulated)", title_justify="left")
    what_ifs.add_column("loss", no_wrap=True)
    what_ifs.add_column("change")
    what_ifs.add_column("latency", justify="right")
    what_ifs.add_column("efficiency", justify="right")
    what_ifs.add_column("speedup", justify="right", no_wrap=True)
    what_ifs.add_column("then top loss")
    for loss in explanation.losses:
        for what_if in loss.what_ifs:
            style = (
                "green" if what_if.speedup > 1.005 else ("red" if what_if.speedup < 0.995 else "")
            )
            unit = "" if what_if.metric == "latency" else " thr."
            what_ifs.add_row(
                loss.category,
                Text(what_if.change),
                seconds(what_if.latency_s),
                f"{what_if.efficiency:.1%}",
                Text(f"{what_if.speedup:.2f}x{unit}", style=style),
                Text(what_if.top_loss),
            )
    if what_ifs.row_count:
        parts.append(what_ifs)
        best = explanation.best()
        if best is not None:
            parts.append(Text.assemble(("best remedy: ", "bold"), best.summary()))
    return Summary(*parts)


# --- side by side -----------------------------------------------------------------------


def column_title(result: Result, results: Sequence[Result]) -> str:
    same_workload = len({r.workload for r in results}) == 1
    same_chip = len({r.chip for r in results}) == 1
    if same_workload and not same_chip:
        return result.chip
    if same_chip and not same_workload:
        return result.workload
    return f"{result.workload} on {result.chip}"


def compare(results: Sequence[Result]) -> Table:
    """Several results side by side: latency, throughput, TOP/s, efficiency, loss shares
    (of peak capacity); for one workload, how far each is from the best throughput."""
    table = Table(title="Side by side", title_justify="left")
    table.add_column("")
    for result in results:
        table.add_column(Text(column_title(result, results)), justify="right")
    rows: list[tuple[str, Callable[[Result], str]]] = [
        ("batch", lambda r: f"{r.batch} ({r.dtype})"),
        ("latency", lambda r: seconds(r.latency_s)),
        ("throughput", lambda r: per_second(r.throughput)),
        ("peak", lambda r: ops_rate(r.peak_ops)),
        ("delivered", lambda r: ops_rate(r.delivered_ops_per_s)),
        ("efficiency", lambda r: percent(r.efficiency)),
    ]
    for label, cell in rows:
        table.add_row(label, *(Text(cell(r)) for r in results))
    if results and len({r.workload for r in results}) == 1:
        best = max(r.throughput for r in results)
        table.add_row(
            "vs best",
            *(
                f"{best / r.throughput:.2f}x slower" if r.throughput < best else "best"
                for r in results
            ),
        )
    table.add_section()
    for category in LOSS_CATEGORIES:
        shares = [r.loss_share(category) for r in results]
        if max(shares, default=0.0) >= MIN_SHARE:
            table.add_row(category, *(percent(s) if s else "-" for s in shares))
    table.add_row("useful", *(percent(useful_share(r)) for r in results), style="bold")
    table.add_row("top loss", *(r.top_loss() for r in results))
    return table


def useful_share(result: Result) -> float:
    capacity = result.peak_ops * result.duration_s
    return result.useful_ops / capacity if capacity else 0.0
