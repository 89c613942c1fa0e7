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

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from redteam3 import run_round  # noqa: E402
from redteam4_cases import onnx_cases  # noqa: E402
from redteam4_cli import cli_cases  # noqa: E402
from redteam4_inputs import accuracy_cases, fit_cases, measure_cases  # noqa: E402
from redteam4_more import api_cases, big_cases, system_file_cases  # noqa: E402


def all_cases() -> list:
    return [
        *onnx_cases(),
        *cli_cases(),
        *accuracy_cases(),
        *fit_cases(),
        *measure_cases(),
        *system_file_cases(),
        *api_cases(),
        *big_cases(),
    ]


def main() -> None:
    run_round(all_cases, __doc__.splitlines()[0])


if __name__ == "__main__":
    main()
