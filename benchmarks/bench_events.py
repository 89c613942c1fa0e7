"""What does topsim's engine pay per SimPy event? `python benchmarks/bench_events.py`.

For a few workloads on h100-sxm, times the discrete-event run alone (`Engine.run`, the
plan made beforehand and not timed) and divides by the events it stepped; next to it, in
the same loop so both see the same machine load, a raw SimPy loop: one process yielding
`env.timeout` as many times. Prints CPU time (time.process_time) per event of each and
their ratio, the median over `--repeats` paired runs.

Target (issue 17): topsim's cost per event at most 3x a raw timeout's.
"""

from __future__ import annotations

import argparse
import statistics
import time

import simpy

import hardware
import sim
import workloads
from sim.engine import Engine
from sim.options import options_from
from sim.pipeline import engine_options, plan


def raw_timeouts(count: int) -> float:
    """CPU seconds per event of a process yielding `count` timeouts."""
    env = simpy.Environment()

    def ticker():
        for _ in range(count):
            yield env.timeout(1e-9)

    env.process(ticker())
    start = time.process_time()
    env.run()
    return (time.process_time() - start) / count


def engine_per_event(graph, chip, kernels, options) -> tuple[float, int, int]:
    """CPU seconds per event of one engine run, its events and its kernel runs."""
    engine = Engine(chip, kernels, engine_options(graph, options))
    start = time.process_time()
    trace = engine.run()
    return (time.process_time() - start) / trace.events, trace.events, len(trace.records)


def bench(workload: str, chip_name: str, repeats: int, **option_fields) -> None:
    graph = workloads.build(workload)
    chip = hardware.load_chip(chip_name)
    options = options_from(None, option_fields)
    kernels = plan(graph, chip, options)
    sim.simulate(graph, chip, options)  # warm imports and caches
    ours, raw, ratios = [], [], []
    events = runs = 0
    for _ in range(repeats):
        per_event, events, runs = engine_per_event(graph, chip, kernels, options)
        baseline = raw_timeouts(max(events, 1000))
        ours.append(per_event)
        raw.append(baseline)
        ratios.append(per_event / baseline)
    label = f"{workload} {option_fields or ''}".strip()
    print(
        f"{label:>34} on {chip_name:<9} kernels {len(kernels):5d} events {events:6d} "
        f"({events / runs:4.1f}/kernel run)  topsim {statistics.median(ours) * 1e6:6.2f} us"
        f"/event  raw timeout {statistics.median(raw) * 1e6:5.2f} us  "
        f"ratio {statistics.median(ratios):5.2f}x"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeats", type=int, default=21)
    args = parser.parse_args()
    chip = "h100-sxm" if "h100-sxm" in hardware.list_chips() else "toy"
    bench("resnet50", chip, args.repeats)
    bench("bert-base", chip, args.repeats)
    bench("resnet50", chip, args.repeats, batches=8)
    bench("resnet50", chip, args.repeats, overlap=False)


if __name__ == "__main__":
    main()
