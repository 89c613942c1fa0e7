"""Time each plot on a graph of hundreds of kernels (issue 23: under 1 s per plot).

Run from the repository root: `python benchmarks/bench_plots.py`. Prints the median of five
draws per plot after one warm-up draw (imports, fonts). A timing, not a test: the machines
are shared, so nothing here asserts a deadline.
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import sim  # noqa: E402
import workloads  # noqa: E402
from hardware import load_chip  # noqa: E402
from sim.render import plots  # noqa: E402


def main() -> None:
    chip = load_chip("toy")
    result = sim.simulate(workloads.build("bert-base"), chip, fusion="none")
    print(f"bert-base unfused on toy: {len(result.ops)} op rows")
    draws = {
        "roofline": lambda out: plots.roofline(result, chip, out),
        "timeline": lambda out: plots.timeline(result, out),
        "waterfall": lambda out: plots.waterfall(result, out),
    }
    with tempfile.TemporaryDirectory() as folder:
        for name, draw in draws.items():
            out = Path(folder) / f"{name}.png"
            draw(out)  # warm-up
            times = []
            for _ in range(5):
                start = time.perf_counter()
                draw(out)
                times.append(time.perf_counter() - start)
            print(f"{name:10s} median {statistics.median(times):.3f} s  (min {min(times):.3f} s)")


if __name__ == "__main__":
    main()
