"""How fast is a sweep? Run on demand: `python benchmarks/bench_sweep.py`.

A 1,000-point sweep of resnet50 batch 1 on h100-sxm: 10 DRAM bandwidths x 10 L2
capacities x 10 launch latencies, with the local executor (one process per core unless
--jobs says otherwise), written to a CSV in a temporary folder. Prints the wall time and
points per second. Target (issue 7): under 60 s on 2 cores.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

from sim.studies.sweep import build_spec, read_rows, run_sweep

VARY = (
    "memory.dram.bandwidth=0.5TB/s..256TB/s*2",
    "memory.l2.capacity=1MiB..512MiB*2",
    "launch.latency=1us..10us+1us",
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--jobs", type=int, default=None, help="worker processes (all cores)")
    parser.add_argument("--executor", default="local", choices=("local", "dask"))
    args = parser.parse_args()
    spec = build_spec("resnet50", "h100-sxm", VARY, ["batch=1"])
    jobs = args.jobs or os.cpu_count() or 1
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder) / "bench-sweep.csv"
        start = time.perf_counter()
        run = run_sweep(spec, out, jobs=jobs, executor=args.executor)
        wall = time.perf_counter() - start
        rows = read_rows(out)
    failed = sum(1 for row in rows if row.get("error"))
    print(
        f"{run.total} points (resnet50 batch 1 on h100-sxm), {args.executor} executor, "
        f"{jobs} jobs: {wall:.1f} s wall, {run.total / wall:.1f} points/s, "
        f"{len(rows)} rows written, {failed} failed"
    )


if __name__ == "__main__":
    main()
