"""Explain a run: the losses ranked with their remedies, the kernels behind each, and what
the top remedies would buy, measured by simulating again with the remedy applied.

Nothing here guesses a speedup. Each what-if is a second `simulate` call on a changed chip
(`hardware.load_chip(chip, overrides)`), changed options, or a changed graph, and its
speedup is the ratio of the two runs: old latency / new latency for one batch, and new
throughput / old throughput (old time per item / new) for streams and for batch changes.
Remedies that need a different model (layer sizes, dtypes, op mapping) are stated, not
quantified.

A memory loss names its binding resource, per kernel the one that sets the pace of its
bytes as the engine moves them (sim/engine): the DRAM bandwidth; the DMA engines (a
transfer holds one engine, so it moves no faster than one engine's bandwidth); the DRAM
latency (plus the DMA setup) when the transfer is too small to amortize it; the on-chip
bandwidth when the kernel's on-chip bytes take longer than its DRAM ones; the host link
for kernels on the host. Concurrent kernels sharing the DRAM are not modelled here: the
classification is per kernel on its own. The loss's remedy text and what-ifs follow the
resources that bind most of it (doubling the DRAM bandwidth buys nothing when the DMA
engines bind).

"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import hardware
from hardware.chip import Chip
from hardware.errors import InputError, expect, expect_int
from sim.losses import REMEDIES
from sim.options import SimOptions, options_from
from sim.result import OpRow, Result
from sim.simulate import simulate
from sim.studies.results import (
    MIN_SHARE,
    Explanation,
    LossExplanation,
    OpBlame,
    WhatIf,
)
from workloads.files import graph_from_dict
from workloads.graph import Graph

TOP_OPS = 3  # kernels named per loss
BANDWIDTH_FACTOR = 2.0
ONCHIP_FACTOR = 4.0
BATCH_FACTOR = 4
PREFETCH = 2
COMPRESSION = 4.0
COOLING_FACTOR = 0.5  # thermal resistance x this
LATENCY_FACTOR = 0.5
BINDING_SHARE = 0.25  # a resource binding this share of the memory loss gets its what-ifs

DRAM_BANDWIDTH = "DRAM bandwidth"
DMA_ENGINES = "DMA engines"
ONCHIP_BANDWIDTH = "on-chip bandwidth"
HOST_LINK = "host link"
DRAM_LATENCY = "DRAM latency"


# --- what binds a memory loss -----------------------------------------------------------


def binding_resource(row: OpRow, chip: Chip) -> str:
    """The resource that sets the pace of one kernel's bytes (see the module docstring)."""
    unit = chip.units.get(row.unit)
    if unit is not None and unit.host:
        return HOST_LINK
    dram, dma, l2 = chip.memory.dram, chip.dma, chip.memory.l2
    bandwidth, streamer = dram.sustained_bandwidth, DRAM_BANDWIDTH
    latency = dram.latency
    if dma is not None:
        latency += dma.setup_latency
        if dma.bandwidth < bandwidth:
            bandwidth, streamer = dma.bandwidth, DMA_ENGINES
    stream_s = row.dram_bytes / bandwidth
    dram_s = latency + stream_s if row.dram_bytes > 0 else 0.0
    if l2 is not None and row.onchip_bytes / l2.sustained_bandwidth > dram_s:
        return ONCHIP_BANDWIDTH
    return DRAM_LATENCY if latency > stream_s else streamer


def memory_bindings(result: Result, chip: Chip) -> list[tuple[str, float]]:
    """Each binding resource with its share of the memory loss, biggest first."""
    lost: dict[str, float] = {}
    for row in result.ops:
        ops = row.lost_ops("memory")
        if ops > 0:
            resource = binding_resource(row, chip)
            lost[resource] = lost.get(resource, 0.0) + ops
    total = sum(lost.values())
    ranked = sorted(lost.items(), key=lambda item: (-item[1], item[0]))
    return [(resource, ops / total) for resource, ops in ranked]


def memory_remedy(chip: Chip, bindings: list[tuple[str, float]]) -> str:
    """The memory remedy for what binds it: the resource, why, and what relieves it."""
    if not bindings:
        return REMEDIES["memory"]
    resource, share = bindings[0]
    dram, dma = chip.memory.dram, chip.dma
    why = {
        DRAM_BANDWIDTH: f"{dram.sustained_bandwidth / 1e9:.4g} GB/s sustained",
        DMA_ENGINES: (
            f"{dma.engines} engine(s) of {dma.bandwidth / 1e9:.4g} GB/s each, a transfer on "
            f"one, below the DRAM's {dram.sustained_bandwidth / 1e9:.4g} GB/s"
            if dma is not None
            else ""
        ),
        DRAM_LATENCY: "transfers too small to amortize the access latency",
        ONCHIP_BANDWIDTH: "on-chip bytes take longer than the DRAM ones",
        HOST_LINK: "bytes to and from host kernels",
    }[resource]
    relief = {
        DRAM_BANDWIDTH: "fuse layers, use higher-intensity layers, or add DRAM bandwidth / "
        "on-chip memory",
        DMA_ENGINES: "faster or more DMA engines, fuse layers, or keep tensors on chip",
        DRAM_LATENCY: "fewer, bigger transfers (fusion, bigger batch) or lower-latency memory",
        ONCHIP_BANDWIDTH: "more on-chip bandwidth, or fewer passes over on-chip data (fusion)",
        HOST_LINK: "a faster host link, or run those ops on the accelerator",
    }[resource]
    others = ", ".join(f"{r} {s:.0%}" for r, s in bindings[1:] if s >= BINDING_SHARE)
    also = f"; also {others}" if others else ""
    return f"bound by {resource} ({share:.0%} of it: {why}{also}): {relief}"


def binding_changes(resource: str, chip: Chip) -> list[Change]:
    """Re-runs that relieve one binding resource."""
    f = BANDWIDTH_FACTOR
    if resource == DRAM_BANDWIDTH:
        bandwidth = chip.memory.dram.bandwidth * f
        return chip_change(f"{f:g}x DRAM bandwidth", chip, {"memory.dram.bandwidth": bandwidth})
    if resource == DMA_ENGINES and chip.dma is not None:
        dma = chip.dma
        changes = chip_change(
            f"{f:g}x DMA bandwidth per engine", chip, {"dma.bandwidth": dma.bandwidth * f}
        )
        if dma.engines * dma.bandwidth < chip.memory.dram.sustained_bandwidth:
            changes += chip_change(
                f"{f:g}x DMA engines", chip, {"dma.engines": int(dma.engines * f)}
            )
        return changes
    if resource == DRAM_LATENCY:
        overrides: dict = {"memory.dram.latency": chip.memory.dram.latency * LATENCY_FACTOR}
        if chip.dma is not None:
            overrides["dma.setup_latency"] = chip.dma.setup_latency * LATENCY_FACTOR
        return chip_change(f"{LATENCY_FACTOR:g}x DRAM latency", chip, overrides)
    if resource == ONCHIP_BANDWIDTH and chip.memory.l2 is not None:
        bandwidth = chip.memory.l2.bandwidth * f
        return chip_change(f"{f:g}x on-chip bandwidth", chip, {"memory.l2.bandwidth": bandwidth})
    if resource == HOST_LINK:
        link = chip.host_link.bandwidth * f
        return chip_change(f"{f:g}x host link bandwidth", chip, {"host_link.bandwidth": link})
    return []


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
    bindings: Sequence[tuple[str, float]] = ((DRAM_BANDWIDTH, 1.0),),
) -> list[Change]:
    """The re-runs that test the remedies of one loss category on this setup; a memory
    loss's start with those relieving its `bindings` (resource, share of the loss)."""
    changes: list[Change] = []
    greedy = Change("greedy fusion", options={"fusion": "greedy"})
    if category == "memory":
        for rank, (resource, share) in enumerate(bindings):
            if rank == 0 or share >= BINDING_SHARE:
                changes += binding_changes(resource, chip)
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
    expect(graph, Graph, "explain: graph", " (workloads.build or workloads.load)")
    expect(chip, Chip, "explain: chip", " (hardware.load_chip)")
    expect_int(top, "explain: top", 0, 1000)
    if rebuild is not None and not callable(rebuild):
        raise InputError("explain: rebuild must be a function batch -> Graph, or None.")
    options = options_from(options, kwargs)
    base = simulate(graph, chip, options)
    runs: dict[str, WhatIf] = {}
    losses = []
    ranked = [(c, v) for c, v in base.ranked_losses() if base.loss_share(c) >= MIN_SHARE]
    bindings = memory_bindings(base, chip)
    for rank, (category, loss_ops) in enumerate(ranked):
        what_ifs = []
        if rank < top:
            for change in remedies(
                category, graph, chip, options, rebuild, base.batch,
                bindings or [(DRAM_BANDWIDTH, 1.0)],
            ):  # fmt: skip
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
                remedy=memory_remedy(chip, bindings)
                if category == "memory"
                else REMEDIES[category],
                ops=blame(base, category),
                what_ifs=what_ifs,
                advice=advice(category, chip, base) if not what_ifs else None,
            )
        )
    return Explanation(result=base, losses=losses)
