"""An LLM generation drawn for the terminal: time to first token, per-token latency,
tokens/s, the phases side by side and where the peak went in each."""

from __future__ import annotations

from rich.console import Group
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from hardware.quantity import format_si
from sim.losses import REMEDIES
from sim.render.format import bar, ops_rate, seconds
from sim.render.report import top_ops
from sim.studies.results import GenerationResult


def _header(result: GenerationResult) -> Table:
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold")
    grid.add_column()
    dtypes = result.dtype
    if (result.weight_dtype, result.kv_dtype) != (result.dtype, result.dtype):
        dtypes += f", weights {result.weight_dtype}, KV cache {result.kv_dtype}"
    grid.add_row(
        "model",
        Text(f"{result.workload} ({result.layers} layers, {dtypes}, fusion {result.fusion})"),
    )
    grid.add_row(
        "request",
        f"batch {result.batch}, prompt {result.prompt} tokens, then {result.tokens} decode steps",
    )
    grid.add_row("chip", Text(result.chip))
    memory = (
        f"weights {format_si(result.weight_bytes, 'B')} + KV cache "
        f"{format_si(result.kv_cache_bytes, 'B')} of "
        f"{format_si(result.dram_capacity_bytes, 'B')} DRAM"
    )
    if not result.fits_in_memory:
        memory += (
            "  [bold red]does not fit one chip (simulated anyway: multi-chip is out of scope)[/]"
        )
    grid.add_row("memory", memory)
    grid.add_row("time to first token", seconds(result.ttft_s))
    grid.add_row(
        "per token",
        f"first {seconds(result.per_token.first_s)}, median "
        f"{seconds(result.per_token.median_s)}, last "
        f"{seconds(result.per_token.last_s)}",
    )
    grid.add_row("decode", f"{seconds(result.decode_s)}, {result.tokens_per_s:,.4g} tokens/s")
    grid.add_row("total", seconds(result.total_s))
    grid.add_row("peak", ops_rate(result.peak_ops))
    grid.add_row(
        "delivered",
        f"{ops_rate(result.delivered_ops_per_s)}  ([bold]{result.efficiency:.1%}[/] of peak)",
    )
    simulated = len(result.samples)
    grid.add_row(
        "simulated",
        f"prefill + {simulated} of {result.tokens} decode steps "
        f"(the rest interpolated), {result.events:,} events",
    )
    if result.energy_j is not None:
        per_token = result.energy_j / (result.batch * (result.tokens + 1))
        grid.add_row(
            "energy", f"{format_si(result.energy_j, 'J')} ({format_si(per_token, 'J')} per token)"
        )
    return grid


def _phases(result: GenerationResult) -> Table:
    table = Table(title="Phases", title_justify="left")
    for name, justify in (
        ("phase", "left"),
        ("time", "right"),
        ("share", "right"),
        ("TOP/s", "right"),
        ("of peak", "right"),
        ("top loss", "left"),
    ):
        table.add_column(name, justify=justify)  # type: ignore[arg-type]
    prefill = result.prefill
    decode_ops = result.total_ops - prefill.total_ops
    rows = [
        ("prefill", result.ttft_s, prefill.total_ops, prefill.top_loss()),
        ("decode", result.decode_s, decode_ops, result.decode_top_loss()),
    ]
    for name, span, ops, top in rows:
        rate = ops / span if span else 0.0
        table.add_row(
            name,
            seconds(span),
            f"{span / result.total_s:.1%}" if result.total_s else "-",
            ops_rate(rate),
            f"{rate / result.peak_ops:.1%}",
            top,
        )
    return table


def _waterfall(result: GenerationResult) -> Table:
    table = Table(
        title="Where the peak went (prefill + decode)",
        title_justify="left",
        box=None,
        pad_edge=False,
    )
    table.add_column("", no_wrap=True)
    table.add_column("share", justify="right")
    table.add_column("seconds", justify="right")
    table.add_column("", no_wrap=True)
    table.add_column("remedy", overflow="fold")
    table.add_row("peak", "100.0%", seconds(result.total_s), bar(1.0, style="bold blue"), "")
    for category, _ops in result.ranked_losses():
        share = result.loss_share(category)
        if share < 0.0005:
            continue
        table.add_row(
            category,
            f"-{share:.1%}",
            seconds(result.losses_s[category]),
            bar(share),
            REMEDIES[category],
        )
    capacity = result.peak_ops * result.total_s
    useful = result.useful_ops / capacity if capacity else 0.0
    table.add_row(
        "useful",
        f"{useful:.1%}",
        seconds(result.useful_ops / result.peak_ops),
        bar(useful, style="bold green"),
        "work done on the peak units",
    )
    return table


def render_generation(result: GenerationResult, top: int = 10) -> Group:
    """Header, phases, the loss waterfall, and the top kernels of each phase."""
    step = result.decode_step
    decode_top = top_ops(step, top)
    decode_top.title = (
        f"Decode step at KV {result.prompt + (result.tokens - 1) // 2}: top {top} kernels by time"
    )
    prefill_top = top_ops(result.prefill, top)
    prefill_top.title = f"Prefill: top {top} kernels by time"
    return Group(
        Panel(_header(result), title="topsim generate", title_align="left"),
        _phases(result),
        _waterfall(result),
        prefill_top,
        decode_top,
    )
