"""How well do calibrated chips predict onnxruntime on this CPU? From a checkout's root:
`PYTHONPATH=. python benchmarks/calibration_accuracy.py --chip before.yaml --chip after.yaml
[--runs 15] [--threads 1] [--model resnet50 ...] [--batch 1 --batch 8]`.

Times the models once (as `topsim validate-model`: ONNX exports of the builders, or ONNX
files, all sessions warmed up, then `--runs` interleaved rounds, min and median kept) and
predicts them on every chip given, so the chips are compared on the very same
measurements, whatever else the machine was doing. Prints per chip the typical error
factor against the median and against the fastest runs, the Spearman rank correlation,
and each model's predicted / median ratio. Goal (issue 16): typical factor at most 1.25
after `topsim calibrate` alone.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
from pathlib import Path

import hardware
from sim.simulate import simulate
from sim.studies.validate import (
    DEFAULT_BATCHES,
    DEFAULT_MODELS,
    Row,
    Validation,
    build_cases,
    time_interleaved,
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--chip", action="append", required=True, help="chip files (repeat)")
    parser.add_argument("--model", action="append", help="builders or .onnx files (repeat)")
    parser.add_argument("--batch", action="append", type=int)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--warmup", type=int, default=3)
    args = parser.parse_args()
    chips = {name: hardware.load_chip(name) for name in args.chip}
    models = tuple(args.model or DEFAULT_MODELS)
    batches = tuple(args.batch or DEFAULT_BATCHES)
    with tempfile.TemporaryDirectory() as folder:
        cases = build_cases(models, batches, Path(folder))
        times = time_interleaved(
            {f"{c.model}/{c.batch}": c.path for c in cases}, args.threads, args.runs, args.warmup
        )
    for case in cases:
        samples = times[f"{case.model}/{case.batch}"]
        print(
            f"{case.model} batch {case.batch}: min {min(samples) * 1e3:.2f} ms, median "
            f"{statistics.median(samples) * 1e3:.2f} ms ({len(samples)} runs)"
        )
    for name, chip in chips.items():
        rows = []
        for case in cases:
            samples = times[f"{case.model}/{case.batch}"]
            predicted = simulate(case.graph, chip).latency_s
            rows.append(
                Row(case.model, case.batch, statistics.median(samples), predicted,
                    case.graph.macs, min(samples))
            )  # fmt: skip
        report = Validation(chip.name, args.threads, args.runs, "epilogue", rows)
        ratios = ", ".join(f"{r.model}/{r.batch} {r.ratio:.2f}" for r in rows)
        print(
            f"{name}: typical factor {report.typical_factor:.3f}x vs median, "
            f"{report.typical_factor_best:.3f}x vs min; Spearman {report.spearman:.3f}; "
            f"predicted/median: {ratios}"
        )


if __name__ == "__main__":
    main()
