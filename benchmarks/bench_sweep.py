"""How fast is a sweep? Run on demand: `python benchmarks/bench_sweep.py`.

The sweep users wait for (issue "Ten times faster where users wait"): resnet50 batch 1 on
h100-sxm, 20 DRAM bandwidths x 10 L2 capacities (200 points), written to a CSV in a
temporary folder. Prints points per second with 1, 2 and N (all CPUs) workers and the
speedup over one worker, the best of `--repeat` runs each (the machine may be shared).
Target: 500 points/s on 2 cores. `--no-plan-cache` shows what the plan cache buys;
`--executor dask` runs the same on a local dask cluster of that many worker processes.

On a shared machine wall time says little: the first line is the CPU cost, one worker in
this process, points per CPU-second (time.process_time), the median of `--repeat` runs;
the second runs 2 worker processes and counts their CPU seconds (getrusage of the reaped
children), so it includes what each worker repeats (building the graph, its own plans):
2 workers that each get a core would do about points / (their CPU seconds / 2) per second.
"""

from __future__ import annotations

import argparse
import resource
import statistics
import tempfile
import time
from pathlib import Path

from sim.studies.sweep import build_spec, read_rows, run_sweep
from sim.studies.sweep.executors import cpu_count

VARY = (
    "memory.dram.bandwidth=0.5TB/s..10TB/s+0.5TB/s",
    "memory.l2.capacity=1MiB..512MiB*2",
)


def points_per_s(workers: int, executor: str, cache_plans: bool, repeat: int) -> float:
    spec = build_spec("resnet50", "h100-sxm", VARY, ["batch=1"])
    best = 0.0
    for _ in range(repeat):
        with tempfile.TemporaryDirectory() as folder:
            out = Path(folder) / "bench-sweep.csv"
            start = time.perf_counter()
            run = run_sweep(
                spec,
                out,
                jobs=workers,
                executor=executor,
                force_jobs=True,
                cache_plans=cache_plans,
            )
            wall = time.perf_counter() - start
            rows = read_rows(out)
        failed = sum(1 for row in rows if row.get("error"))
        if len(rows) != run.total or failed:
            raise SystemExit(f"{len(rows)} rows of {run.total}, {failed} failed")
        best = max(best, run.total / wall)
    return best


def points_per_cpu_s(cache_plans: bool, repeat: int) -> float:
    """Points per CPU-second of one worker in this process, the median of `repeat` runs."""
    spec = build_spec("resnet50", "h100-sxm", VARY, ["batch=1"])
    rates = []
    for _ in range(repeat):
        with tempfile.TemporaryDirectory() as folder:
            start = time.process_time()
            run = run_sweep(
                spec,
                Path(folder) / "bench-sweep.csv",
                jobs=1,
                force_jobs=True,
                cache_plans=cache_plans,
            )
            rates.append(run.total / (time.process_time() - start))
    return statistics.median(rates)


def pool_points_per_cpu_s(workers: int, cache_plans: bool, repeat: int) -> float:
    """Points per CPU-second of the `workers` worker processes of a local sweep together,
    the median of `repeat` runs (the pool reaps them before run_sweep returns)."""
    spec = build_spec("resnet50", "h100-sxm", VARY, ["batch=1"])
    rates = []
    for _ in range(repeat):
        with tempfile.TemporaryDirectory() as folder:
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            run = run_sweep(
                spec,
                Path(folder) / "bench-sweep.csv",
                jobs=workers,
                force_jobs=True,
                cache_plans=cache_plans,
            )
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
        spent = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
        rates.append(run.total / spent)
    return statistics.median(rates)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--executor", default="local", choices=("local", "dask"))
    parser.add_argument("--repeat", type=int, default=3, help="runs per worker count")
    parser.add_argument("--no-plan-cache", action="store_true", help="plan every point")
    args = parser.parse_args()
    cpus = cpu_count()
    print(
        f"200 points (resnet50 batch 1 on h100-sxm, 20 bandwidths x 10 L2 capacities), "
        f"{args.executor} executor, plan cache {'off' if args.no_plan_cache else 'on'}, "
        f"{cpus} CPUs, best of {args.repeat}"
    )
    cpu_rate = points_per_cpu_s(not args.no_plan_cache, args.repeat)
    print(f"  1 worker in process: {cpu_rate:7.1f} points per CPU-second")
    if args.executor == "local":
        pool_rate = pool_points_per_cpu_s(2, not args.no_plan_cache, args.repeat)
        print(
            f"  2 worker processes:  {pool_rate:7.1f} points per worker CPU-second; "
            f"~{2 * pool_rate:.0f} points/s were each to get a core"
        )
    single = None
    for workers in sorted({1, 2, cpus}):
        rate = points_per_s(workers, args.executor, not args.no_plan_cache, args.repeat)
        single = single or rate
        print(f"{workers:3d} worker(s): {rate:7.1f} points/s  speedup {rate / single:.2f}x")


if __name__ == "__main__":
    main()
