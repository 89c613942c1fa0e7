"""Sustained runs without simulating every event of every batch.

A long stream repeats the same batch. At a fixed DVFS level, batches in steady state are
identical: same period, same energy, same losses. So for each level the stream reaches we
run the discrete-event engine twice, for W = 2 + 2 x prefetch batches (the warm-up) and
for W + 1, with the clock held at that level; the difference is one steady batch (period,
latency, energy, losses, what each unit did, launches). Time then advances batch by batch
with arithmetic only; temperature follows the RC model exactly under each batch's average
power, and the governor is consulted once per control period, as in the engine. A level
change re-profiles (once per level, cached). The first W batches come from the warm-up
run at the starting level, so the start-up transient (pipeline fill, the first input
loads) is simulated, not assumed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from hardware.chip import Chip
from sim.account import Accounting
from sim.assemble import build_result, dram_bytes, power_report, thin, unit_usage
from sim.engine import Trace
from sim.engine.records import ThermalSample
from sim.engine.thermal import ThermalState
from sim.losses import LOSS_CATEGORIES
from sim.lower import Kernel
from sim.options import SimOptions
from sim.pipeline import run_engine
from sim.result import BatchStats, Result, SeriesPoint, UnitUsage
from workloads.graph import Graph


@dataclass
class Profile:
    """A level's 2-batch run and what one more steady batch adds."""

    two: Trace  # the warm-up run (named for its usual two batches)
    two_books: Accounting
    units: list[UnitUsage]  # what the warm-up run's units did
    unit_step: list[UnitUsage]  # what one more steady batch adds to each unit
    launches: int  # launches one more steady batch adds
    period_s: float
    latency_s: float
    warm_latencies: list[float]  # each warm-up batch's, as in a long stream
    energy_j: float
    useful_ops: float
    losses_ops: dict[str, float]
    events: int


def profile(
    graph: Graph, chip: Chip, options: SimOptions, dtype: str, kernels: list[Kernel], level: int
) -> Profile:
    def run(batches: int) -> tuple[Trace, Accounting]:
        return run_engine(
            graph,
            chip,
            options,
            dtype,
            kernels,
            batches=batches,
            duration_s=None,
            thermal=False,
            level=level,
        )

    warm = warm_batches(options)
    two, two_books = run(warm)
    three, three_books = run(warm + 1)
    # a batch's latency depends on the `prefetch` batches loading behind it: the last
    # ones of a run have none (a tail, shorter); a steady batch is the last with a full
    # set behind it, and it stands for the warm-up run's tail too
    steady = three.batches[len(three.batches) - 1 - options.prefetch]
    latency_s = steady.end - steady.start
    head = len(two.batches) - options.prefetch
    warm_latencies = [b.end - b.start for b in two.batches[:head]]
    warm_latencies += [latency_s] * (len(two.batches) - head)
    units = unit_usage(chip, kernels, two, two_books, dtype)
    more = unit_usage(chip, kernels, three, three_books, dtype)
    return Profile(
        two=two,
        two_books=two_books,
        units=units,
        unit_step=[unit_delta(a, b) for a, b in zip(units, more, strict=True)],
        launches=three.launch_count - two.launch_count,
        period_s=three.end - two.end,
        latency_s=latency_s,
        warm_latencies=warm_latencies,
        energy_j=three.energy_j - two.energy_j,
        useful_ops=three_books.useful_ops - two_books.useful_ops,
        losses_ops={
            c: three_books.losses_ops[c] - two_books.losses_ops[c] for c in LOSS_CATEGORIES
        },
        events=two.events + three.events,
    )


def warm_batches(options: SimOptions) -> int:
    """Batches simulated before a stream is steady: two, plus twice the prefetch depth (a
    batch loaded ahead waits behind the ones before it once the pipeline is full, and its
    latency also depends on the ones loading behind it), at most MAX_WARM_BATCHES."""
    return min(2 + 2 * options.prefetch, MAX_WARM_BATCHES)


def unit_delta(before: UnitUsage, after: UnitUsage) -> UnitUsage:
    """What a unit did between two runs (one more batch)."""
    return before.model_copy(
        update={field: getattr(after, field) - getattr(before, field) for field in UNIT_TOTALS}
    )


def add_units(base: list[UnitUsage], step: list[UnitUsage], repeat: int) -> list[UnitUsage]:
    return [
        unit.model_copy(
            update={f: getattr(unit, f) + getattr(more, f) * repeat for f in UNIT_TOTALS}
        )
        for unit, more in zip(base, step, strict=True)
    ]


MAX_WARM_BATCHES = 18
UNIT_TOTALS = ("kernels", "busy_s", "overhead_s", "launch_wait_s", "useful_ops")


def settled(state: ThermalState | None, power: float, level: int, levels: int) -> bool:
    """True when the governor can never move the clock again at this power: the die and
    its steady temperature both sit where `decide` answers 0 (they converge monotonically,
    so the temperature never leaves that band)."""
    if state is None:
        return True
    final = state.decide(power, level, levels, state.steady_temperature(power))
    return final == 0 and state.decide(power, level, levels) == 0


def weighted_stats(latencies: list[tuple[float, int]]) -> BatchStats:
    """First, median and last of per-batch latencies kept as (latency, repeat count)."""
    total = sum(count for _, count in latencies)
    middle, seen, median = (total - 1) / 2, 0, latencies[0][0]
    ordered = sorted(latencies)
    lower = upper = None
    for value, count in ordered:
        if lower is None and seen + count > int(middle):
            lower = value
        if upper is None and seen + count > int(middle + 0.5):
            upper = value
        seen += count
    median = ((lower or 0.0) + (upper or 0.0)) / 2
    return BatchStats(
        count=total, first_s=latencies[0][0], median_s=median, last_s=latencies[-1][0]
    )


def sustained(
    graph: Graph, chip: Chip, options: SimOptions, dtype: str, peak: float, kernels: list[Kernel]
) -> Result:
    levels = chip.clock.levels()
    profiles: dict[int, Profile] = {}

    def at(level: int) -> Profile:
        if level not in profiles:
            profiles[level] = profile(graph, chip, options, dtype, kernels, level)
        return profiles[level]

    use_thermal = options.thermal and chip.thermal is not None
    state = ThermalState(chip) if use_thermal else None
    static = chip.thermal.static_power if chip.thermal else 0.0
    period_control = chip.thermal.period if chip.thermal else float("inf")
    ambient = chip.thermal.ambient if chip.thermal else 0.0
    level = 0
    start = at(0)
    time = start.two.end
    energy = start.two.energy_j
    useful = start.two_books.useful_ops
    losses = dict(start.two_books.losses_ops)
    level_s = [0.0] * len(levels)
    level_s[0] = time
    latencies = [(latency, 1) for latency in start.warm_latencies]
    # (time, latency, clock, temperature) per batch, or per jump over settled batches
    series = [
        (b.end, latency, levels[0].frequency, ambient)
        for b, latency in zip(start.two.batches, start.warm_latencies, strict=True)
    ]
    thermal_trace: list[ThermalSample] = []
    if state is not None:
        power = static + energy / time
        state.advance(power, time)
        thermal_trace.append(ThermalSample(time, state.temperature, levels[0].frequency, power))
        series[-1] = (*series[-1][:3], state.temperature)
    next_control = period_control
    batches = len(start.two.batches)
    units = start.units
    launches = start.two.launch_count
    while batches < options.batches and (options.duration_s is None or time < options.duration_s):
        steady = at(level)
        power = static + steady.energy_j / steady.period_s
        repeat = 1
        if settled(state, power, level, len(levels)):
            left = options.batches - batches
            if options.duration_s is not None:
                left = min(left, max(1, math.ceil((options.duration_s - time) / steady.period_s)))
            repeat = left
        span = steady.period_s * repeat
        time += span
        energy += steady.energy_j * repeat
        useful += steady.useful_ops * repeat
        for category in LOSS_CATEGORIES:
            losses[category] += steady.losses_ops[category] * repeat
        level_s[level] += span
        units = add_units(units, steady.unit_step, repeat)
        launches += steady.launches * repeat
        latencies.append((steady.latency_s, repeat))
        batches += repeat
        if state is not None:
            state.advance(power, span)
            if time >= next_control:
                sample = ThermalSample(time, state.temperature, levels[level].frequency, power)
                thermal_trace.append(sample)
                level += state.decide(power, level, len(levels))
                next_control = time + period_control
        temperature = state.temperature if state else ambient
        series.append((time, steady.latency_s, levels[level].frequency, temperature))
    books = Accounting(
        useful_ops=useful, losses_ops=losses, unit_useful=start.two_books.unit_useful
    )
    # the per-kernel rows show the first batches, as simulated
    books.inside, books.before = start.two_books.inside, start.two_books.before
    base = build_result(graph, chip, options, dtype, peak, kernels, start.two, books)
    items = base.batch * batches
    total_ops = float(graph.total_ops) * batches
    stats = weighted_stats(latencies)
    points = [
        SeriesPoint(time_s=t, latency_s=lat, clock_hz=f, temperature_c=temp)
        for t, lat, f, temp in thin(series)
    ]
    return base.model_copy(
        update=dict(
            latency_s=stats.median_s,
            duration_s=time,
            batches=batches,
            fast_forward=True,
            batch_latency=stats,
            series=points,
            power=power_report(
                chip, energy, time, level_s, thermal_trace, state.max_temperature if state else None
            ),
            throughput=items / time,
            total_ops=total_ops,
            useful_ops=useful,
            delivered_ops_per_s=total_ops / time,
            efficiency=total_ops / time / peak,
            losses_ops=losses,
            losses_s={c: v / peak for c, v in losses.items()},
            dram_bytes=dram_bytes(kernels, batches),
            offloaded_ops=base.offloaded_ops / len(start.two.batches) * batches,
            launches=launches,
            units=[unit.model_copy(update={"utilization": unit.busy_s / time}) for unit in units],
            events=sum(p.events for p in profiles.values()),
        )
    )
