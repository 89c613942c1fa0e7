"""How fast is one simulation? Run on demand: `python benchmarks/bench_simulate.py`.

Prints CPU time per simulation (time.process_time: the machine may be shared; best and
median of repeats) and SimPy events per op for
a few workloads. Target (issue 4): resnet50 batch 1 on h100-sxm in < 100 ms and < 30
events per op on a 2-core machine.
"""

from __future__ import annotations

import argparse
import statistics
import time

import hardware
import sim
import workloads


def bench(workload: str, chip_name: str, repeats: int, **params) -> None:
    graph = workloads.build(workload, **params)
    chip = hardware.load_chip(chip_name)
    sim.simulate(graph, chip)  # warm imports and caches
    times = []
    for _ in range(repeats):
        start = time.process_time()
        result = sim.simulate(graph, chip)
        times.append(time.process_time() - start)
    print(
        f"{workload:>16} on {chip_name:<9} ops {len(graph.ops):5d}  kernels {result.kernels:5d}  "
        f"best {min(times) * 1e3:7.1f} ms  median {statistics.median(times) * 1e3:7.1f} ms  "
        f"events/op {result.events / len(graph.ops):5.1f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=10)
    args = parser.parse_args()
    chip = "h100-sxm" if "h100-sxm" in hardware.list_chips() else "toy"
    for workload in ("resnet50", "mobilenet-v2", "shufflenet-v2", "bert-base"):
        bench(workload, chip, args.repeats)


if __name__ == "__main__":
    main()
