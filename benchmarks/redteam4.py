"""Red-team round four: the features that landed after round three, tried as a hostile user.

    python benchmarks/redteam4.py [--only WORD] [--limit-s 10] [--limit-mb 1024] [--verbose]

Targets: the ONNX wire-format walker (workloads/onnx/lean.py) and QDQ/QLinear import
(workloads/onnx/quant.py), `topsim serve` on systems, `topsim system` plans and traces,
Parquet and Perfetto outputs, accuracy cases files with `set:`, `fit` profiles,
`validate-model`/`calibrate` bounds, and system files with the new interconnect fields.
Cases are made at run time in a fresh folder (nothing generated is committed) and judged
by round three's harness (benchmarks/redteam3.py): exit 0 or 2, no traceback, protected
files unchanged, under the CPU-time and memory limits.
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from redteam3 import problems, run_case  # noqa: E402
from redteam4_cases import onnx_cases  # noqa: E402
from redteam4_cli import cli_cases  # noqa: E402
from redteam4_inputs import accuracy_cases, fit_cases, measure_cases  # noqa: E402
from redteam4_more import api_cases, big_cases, system_file_cases  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default="", help="Run the cases whose name holds WORD.")
    parser.add_argument("--limit-s", type=float, default=10.0)
    parser.add_argument("--limit-mb", type=float, default=1024.0)
    parser.add_argument("--verbose", action="store_true", help="Print every case's last line.")
    options = parser.parse_args()
    cases = [
        c
        for c in (
            *onnx_cases(),
            *cli_cases(),
            *accuracy_cases(),
            *fit_cases(),
            *measure_cases(),
            *system_file_cases(),
            *api_cases(),
            *big_cases(),
        )
        if options.only in c.name
    ]
    failed: Counter[str] = Counter()
    total: Counter[str] = Counter()
    peak_mb = 0.0
    for case in cases:
        total[case.category] += 1
        try:
            result = run_case(case, options.limit_s)
        except Exception as err:  # the case's own files could not be made: the harness's bug
            print(f"SKIP {case.name}: its files could not be written ({err})", flush=True)
            continue
        peak_mb = max(peak_mb, result["rss_mb"])
        found = problems(result, options.limit_s, options.limit_mb)
        last = (result["output"].strip().splitlines() or [""])[-1][:160]
        if found:
            failed[case.category] += 1
            print(f"FAIL {case.name}: {'; '.join(found)} | {last}", flush=True)
        elif options.verbose:
            print(
                f"ok   {case.name} rc={result['rc']} cpu={result['cpu']:.1f}s "
                f"wall={result['wall']:.1f}s | {last}",
                flush=True,
            )
    print(
        f"\n{sum(total.values())} cases, {sum(failed.values())} failed; peak RSS {peak_mb:.0f} MB"
    )
    for category in total:
        print(f"  {category:8} {total[category]:4} cases {failed[category]:4} failed")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
