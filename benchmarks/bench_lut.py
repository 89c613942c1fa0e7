"""How long the FBNet lookup table takes on one chip (goal: under 10 s on 2 cores).

    python benchmarks/bench_lut.py [--chip phone-npu] [--jobs 2]

Builds all 22 x 9 candidates of FBNet's space (spaces/fbnet.yaml), each in both contexts,
through the sweep's local workers, and prints the wall time.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from sim.studies.lut import load_space, write_lut


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chip", default="phone-npu")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--space", default="fbnet")
    args = parser.parse_args()
    started = time.perf_counter()
    space = load_space(args.space)
    with tempfile.TemporaryDirectory() as folder:
        run = write_lut(space, args.chip, Path(folder) / "lut.csv", jobs=args.jobs)
    wall_s = time.perf_counter() - started
    print(
        f"{args.space} on {args.chip}: {len(space.layers)} layers, {len(run.rows)} rows, "
        f"{run.measured} distinct blocks, {run.workers} worker(s): {wall_s:.2f} s "
        f"(goal: under 10 s)"
    )


if __name__ == "__main__":
    main()
