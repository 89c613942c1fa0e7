"""Explain a run: the losses ranked with their remedies, the kernels behind each, and what
the top remedies would buy, measured by simulating again with the remedy applied.

Nothing here guesses a speedup. Each what-if is a second `simulate` call on a changed chip
(`hardware.load_chip(chip, overrides)`), changed options, or a changed graph, and its
speedup is the ratio of the two runs: old latency / new latency for one batch, and new
throughput / old throughput (old time per item / new) for streams and for batch changes.
Remedies that need a different model (layer sizes, dtypes, op mapping) are stated, not
quantified.

`compare` puts several results side by side (several chips, or several workloads).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from pydantic import BaseModel, ConfigDict
from rich.table import Table
from rich.text import Text

import hardware
from hardware.chip import Chip
from hardware.errors import InputError
from sim.losses import LOSS_CATEGORIES, REMEDIES
from sim.options import SimOptions, options_from
from sim.report import Summary, ops_rate, per_second, percent, seconds
from sim.result import Result
from sim.simulate import simulate
from workloads.files import graph_from_dict
from workloads.graph import Graph

MIN_SHARE = 0.001  # losses below 0.1% of peak capacity are not explained
TOP_OPS = 3  # kernels named per loss
BANDWIDTH_FACTOR = 2.0
ONCHIP_FACTOR = 4.0
BATCH_FACTOR = 4
PREFETCH = 2
COMPRESSION = 4.0
COOLING_FACTOR = 0.5  # thermal resistance x this


class Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class OpBlame(Model):
    """A kernel's part in one loss: its ops lost, as a share of that loss over all kernels."""

    name: str
    unit: str
    loss_ops: float
    share: float


class WhatIf(Model):
    """One remedy applied and simulated: `speedup` > 1 means better."""

    change: str  # "2x DRAM bandwidth", "greedy fusion", ...
    metric: str  # "latency" (one batch) or "throughput" (streams, batch changes)
    latency_s: float
    throughput: float
    efficiency: float
    speedup: float
    top_loss: str  # the biggest loss after the change

    def summary(self) -> str:
        if self.speedup >= 1:
            better = "faster" if self.metric == "latency" else "the throughput"
            return f"{self.change}: {self.speedup:.2g}x {better}"
        return f"{self.change}: {1 / self.speedup:.2g}x slower"


class LossExplanation(Model):
    category: str
    loss_ops: float
    share: float  # of peak capacity over the run
    remedy: str
    ops: list[OpBlame]
    what_ifs: list[WhatIf]
    advice: str | None = None  # what would help where a re-run cannot say how much


class Explanation(Model):
    result: Result
    losses: list[LossExplanation]

    def best(self) -> WhatIf | None:
        """The what-if with the largest speedup (first listed wins ties)."""
        candidates = [w for loss in self.losses for w in loss.what_ifs]
        return max(candidates, key=lambda w: w.speedup, default=None)


# --- what-ifs ---------------------------------------------------------------------------


@dataclass
class Change:
    """A remedy as a re-run: a new chip, options or graph (None keeps the baseline's)."""

    name: str
    chip: Chip | None = None
    options: dict = field(default_factory=dict)
    graph: Graph | None = None
    batch_change: bool = False  # compare time per item, not latency


def chip_change(name: str, chip: Chip, overrides: dict) -> list[Change]:
    """The remedy as a changed chip, or nothing if that chip would not be valid (a remedy
    the spec's own limits reject is no remedy)."""
    try:
        return [Change(name, chip=hardware.load_chip(chip, overrides))]
    except InputError:
        return []


def accelerated_copy(graph: Graph, names: Sequence[str]) -> Graph:
    """A copy of `graph` with the named ops marked `accelerated: true`."""
    data = graph.to_dict()
    for op in data["ops"]:
        if op["name"] in names:
            op["attrs"] = {**op.get("attrs", {}), "accelerated": True}
    return graph_from_dict(data, f"{graph.name} (ops accelerated)")


def remedies(
    category: str,
    graph: Graph,
    chip: Chip,
    options: SimOptions,
    rebuild: Callable[[int], Graph] | None,
    batch: int,
) -> list[Change]:
    """The re-runs that test the remedies of one loss category on this setup."""
    changes: list[Change] = []
    greedy = Change("greedy fusion", options={"fusion": "greedy"})
    if category == "memory":
        bandwidth = chip.memory.dram.bandwidth * BANDWIDTH_FACTOR
        changes += chip_change(
            f"{BANDWIDTH_FACTOR:g}x DRAM bandwidth", chip, {"memory.dram.bandwidth": bandwidth}
        )
        if chip.memory.l2 is not None:
            capacity = chip.memory.l2.capacity * ONCHIP_FACTOR
            changes += chip_change(
                f"{ONCHIP_FACTOR:g}x on-chip memory", chip, {"memory.l2.capacity": capacity}
            )
        if options.fusion != "greedy":
            changes.append(greedy)
    elif category == "no_overlap":
        if not options.overlap:
            changes.append(Change("overlap transfers and compute", options={"overlap": True}))
        if options.loads_input and options.prefetch == 0:
            changes.append(Change(f"prefetch {PREFETCH} batches", options={"prefetch": PREFETCH}))
    elif category == "starvation":
        if rebuild is not None:
            changes.append(
                Change(
                    f"batch {batch * BATCH_FACTOR}",
                    graph=rebuild(batch * BATCH_FACTOR),
                    batch_change=True,
                )
            )
        if options.fusion != "greedy":
            changes.append(greedy)
    elif category == "host_fallback":
        on_host = [op.name for op in graph.ops if not op.accelerated]
        if on_host:
            names = ", ".join(on_host[:3]) + (" ..." if len(on_host) > 3 else "")
            changes.append(
                Change(
                    f"implement {names} on the accelerator", graph=accelerated_copy(graph, on_host)
                )
            )
    elif category == "input_io":
        if options.loads_input:
            if options.prefetch < PREFETCH:
                changes.append(
                    Change(f"prefetch {PREFETCH} batches", options={"prefetch": PREFETCH})
                )
            if options.input_compression < COMPRESSION:
                changes.append(
                    Change(
                        f"{COMPRESSION:g}x input compression",
                        options={"input_compression": COMPRESSION},
                    )
                )
            link = chip.host_link.bandwidth * BANDWIDTH_FACTOR
            changes += chip_change(
                f"{BANDWIDTH_FACTOR:g}x host link bandwidth", chip, {"host_link.bandwidth": link}
            )
    elif category == "launch":
        if options.fusion != "greedy":
            changes.append(greedy)
        if not (options.graph_launch or chip.launch.graph_launch):
            changes.append(Change("graph launch", options={"graph_launch": True}))
    elif category == "thermal" and chip.thermal is not None:
        resistance = chip.thermal.resistance * COOLING_FACTOR
        changes += chip_change(
            f"{1 / COOLING_FACTOR:g}x better cooling (thermal resistance x{COOLING_FACTOR:g})",
            chip,
            {"thermal.resistance": resistance},
        )
    return changes


def advice(category: str, chip: Chip, result: Result) -> str | None:
    """What would help, for losses no re-run of the same model can quantify."""
    peak_units = [(name, unit) for name, unit in chip.units.items() if unit.peak]
    if category == "shape":
        tiles = ", ".join(
            f"{name}: {'x'.join(map(str, unit.tile))} tile, vector width {unit.vector_width}"
            for name, unit in peak_units
        )
        return f"make layer dimensions multiples of the native shapes ({tiles})"
    if category == "unspecialized":
        best = []
        for name, unit in peak_units:
            rate = unit.best_rate(result.dtype)
            fast = [c for c, table in unit.rates.items() if table.get(result.dtype) == rate]
            best.append(f"{name}: {'/'.join(fast)} in {result.dtype}")
        return "move work to the fastest op class and dtype (" + ", ".join(best) + ")"
    if category == "idle_unit":
        return "the busy units are listed in the summary; spread work over the idle ones"
    if category == "host_fallback":
        return "ops no accelerator unit supports run on the host; add support on the chip"
    return None


def measure(base: Result, new: Result, change: Change, streaming: bool) -> WhatIf:
    by_throughput = streaming or change.batch_change
    if by_throughput:
        speedup = new.throughput / base.throughput if base.throughput else 0.0
    else:
        speedup = base.latency_s / new.latency_s if new.latency_s else 0.0
    return WhatIf(
        change=change.name,
        metric="throughput" if by_throughput else "latency",
        latency_s=new.latency_s,
        throughput=new.throughput,
        efficiency=new.efficiency,
        speedup=speedup,
        top_loss=new.top_loss(),
    )


def blame(result: Result, category: str, top: int = TOP_OPS) -> list[OpBlame]:
    """The kernels with the most ops lost to `category` (share of the kernels' total)."""
    lost = [(row.lost_ops(category), row) for row in result.ops]
    total = sum(v for v, _row in lost)
    ranked = sorted((item for item in lost if item[0] > 0), key=lambda i: (-i[0], i[1].name))
    return [
        OpBlame(name=row.name, unit=row.unit, loss_ops=v, share=v / total)
        for v, row in ranked[:top]
    ]


def explain(
    graph: Graph,
    chip: Chip,
    options: SimOptions | None = None,
    *,
    rebuild: Callable[[int], Graph] | None = None,
    top: int = 3,
    **kwargs: object,
) -> Explanation:
    """Simulate, rank the losses, and re-simulate the remedies of the `top` biggest.

    `rebuild(batch)` returns the workload at another batch size (e.g.
    `lambda b: workloads.build("resnet50", batch=b)`); without it, bigger-batch what-ifs
    are skipped. Keyword arguments are SimOptions fields, as for `simulate`.
    """
    options = options_from(options, kwargs)
    base = simulate(graph, chip, options)
    runs: dict[str, WhatIf] = {}
    losses = []
    ranked = [(c, v) for c, v in base.ranked_losses() if base.loss_share(c) >= MIN_SHARE]
    for rank, (category, loss_ops) in enumerate(ranked):
        what_ifs = []
        if rank < top:
            for change in remedies(category, graph, chip, options, rebuild, base.batch):
                if change.name not in runs:
                    new_options = SimOptions(**{**options.model_dump(), **change.options})
                    new = simulate(change.graph or graph, change.chip or chip, new_options)
                    runs[change.name] = measure(base, new, change, options.streaming)
                what_ifs.append(runs[change.name])
        losses.append(
            LossExplanation(
                category=category,
                loss_ops=loss_ops,
                share=base.loss_share(category),
                remedy=REMEDIES[category],
                ops=blame(base, category),
                what_ifs=what_ifs,
                advice=advice(category, chip, base) if not what_ifs else None,
            )
        )
    return Explanation(result=base, losses=losses)


# --- rendering --------------------------------------------------------------------------


def short(name: str, limit: int = 32) -> str:
    return name if len(name) <= limit else name[: limit - 1] + "…"


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
        remedy = loss.remedy + (f"\n[dim]{loss.advice}[/]" if loss.advice else "")
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
                what_if.top_loss,
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
        table.add_row(label, *(cell(r) for r in results))
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
