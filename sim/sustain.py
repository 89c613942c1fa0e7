"""Sustained runs without simulating every event of every batch.

A long stream repeats the same batch. At a fixed DVFS level, batches in steady state are
identical: same period, same energy, same losses. So for each level the stream reaches we
run the discrete-event engine twice, for 2 and for 3 batches with the clock held at that
level; the difference is one steady batch (period, latency, energy, losses). Time then
advances batch by batch with arithmetic only; temperature follows the RC model exactly
under each batch's average power, and the governor is consulted once per control period,
as in the engine. A level change re-profiles (once per level, cached). The first two
batches come from the 2-batch run at the starting level, so the start-up transient
(pipeline fill, the first input load) is simulated, not assumed.
"""

from __future__ import annotations

from dataclasses import dataclass

from hardware.chip import Chip
from sim.account import LOSS_CATEGORIES, Accounting, account
from sim.engine import Engine, Trace
from sim.lower import Kernel
from sim.result import Result, SeriesPoint
from sim.simulate import (
    SimOptions,
    batch_stats,
    build_result,
    engine_options,
    power_report,
    thin,
)
from sim.thermal import ThermalState
from workloads.graph import Graph


@dataclass
class Profile:
    """A level's 2-batch run and what one more steady batch adds."""

    two: Trace
    two_books: Accounting
    period_s: float
    latency_s: float
    energy_j: float
    useful_ops: float
    losses_ops: dict[str, float]
    events: int


def profile(
    graph: Graph, chip: Chip, options: SimOptions, dtype: str, kernels: list[Kernel], level: int
) -> Profile:
    def run(batches: int) -> tuple[Trace, Accounting]:
        engine = Engine(
            chip,
            kernels,
            engine_options(
                graph, options, batches=batches, duration_s=None, thermal=False, level=level
            ),
        )
        trace = engine.run()
        return trace, account(
            kernels,
            trace,
            chip,
            dtype,
            options.overlap,
            serial_input=options.loads_input and options.prefetch == 0,
        )

    two, two_books = run(2)
    three, three_books = run(3)
    last = three.batches[-1]
    return Profile(
        two=two,
        two_books=two_books,
        period_s=three.end - two.end,
        latency_s=last.end - last.start,
        energy_j=three.energy_j - two.energy_j,
        useful_ops=three_books.useful_ops - two_books.useful_ops,
        losses_ops={
            c: three_books.losses_ops[c] - two_books.losses_ops[c] for c in LOSS_CATEGORIES
        },
        events=two.events + three.events,
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
    level = 0
    start = at(0)
    time = start.two.end
    energy = start.two.energy_j
    useful = start.two_books.useful_ops
    losses = dict(start.two_books.losses_ops)
    level_s = [0.0] * len(levels)
    level_s[0] = time
    latencies = [b.end - b.start for b in start.two.batches]
    series = [
        SeriesPoint(
            time_s=b.end,
            latency_s=b.end - b.start,
            clock_hz=levels[0].frequency,
            temperature_c=chip.thermal.ambient if chip.thermal else 0.0,
        )
        for b in start.two.batches
    ]
    thermal_trace: list[tuple[float, float, float, float]] = []
    if state is not None:
        power = static + energy / time
        state.advance(power, time)
        thermal_trace.append((time, state.temperature, levels[0].frequency, power))
        series[-1].temperature_c = state.temperature
    next_control = period_control
    batches = 2
    while batches < options.batches and (options.duration_s is None or time < options.duration_s):
        steady = at(level)
        time += steady.period_s
        energy += steady.energy_j
        useful += steady.useful_ops
        for category in LOSS_CATEGORIES:
            losses[category] += steady.losses_ops[category]
        level_s[level] += steady.period_s
        latencies.append(steady.latency_s)
        batches += 1
        if state is not None:
            power = static + steady.energy_j / steady.period_s
            state.advance(power, steady.period_s)
            if time >= next_control:
                thermal_trace.append((time, state.temperature, levels[level].frequency, power))
                level += state.decide(power, level, len(levels))
                next_control = time + period_control
        series.append(
            SeriesPoint(
                time_s=time,
                latency_s=steady.latency_s,
                clock_hz=levels[level].frequency,
                temperature_c=state.temperature if state else 0.0,
            )
        )
    books = Accounting(
        useful_ops=useful,
        losses_ops=losses,
        kernel_losses=start.two_books.kernel_losses,
        gap_losses=start.two_books.gap_losses,
        unit_useful=start.two_books.unit_useful,
    )
    base = build_result(graph, chip, options, dtype, peak, kernels, start.two, books)
    items = base.batch * batches
    total_ops = float(graph.total_ops) * batches
    return base.model_copy(
        update=dict(
            latency_s=batch_stats(latencies).median_s,
            duration_s=time,
            batches=batches,
            fast_forward=True,
            batch_latency=batch_stats(latencies),
            series=thin(series),
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
            dram_bytes=sum(k.dram_bytes for k in kernels) * batches,
            offloaded_ops=base.offloaded_ops / len(start.two.batches) * batches,
            events=sum(p.events for p in profiles.values()),
        )
    )
