"""`topsim fit` on half of a real onnxruntime profile, predicting the other half. From a
checkout's root: `PYTHONPATH=. python benchmarks/fit_profile.py --chip host-cpu.yaml
[--model resnet50 ...] [--runs 10] [--profiles FILE.json ...]`.

Exports each model (fp32 builders, random weights) to ONNX, runs it with onnxruntime on
this CPU (1 intra-op thread unless --threads, profiling on, `--runs` runs after a warm-up),
and reads the profile with topsim's reader (one measurement per distinct op: the fastest
of its runs, or with --median the median). The ops ran inside networks at batch 1, so
their operands are read at the last-level cache's bandwidth when they all fit in it.
The measurements are split in two halves (a seeded shuffle); the chip's achievable-rate
parameters are fitted on the first half only and the second half is predicted: the
script prints the typical error factor exp(mean |ln(pred/meas)|) on the held-out half
before and after the fit, then the same with the halves swapped. Goal (issue 16): at
most 1.10 on the held-out half. Without --chip it calibrates this machine first (as
`topsim calibrate`). The profile JSONs are kept with --keep-profile DIR.
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
from pathlib import Path

import numpy as np

import hardware
import workloads
from hardware.calibrate import calibrate
from sim.studies.fit import fit_chip, folds_of, log_errors, predict, typical_factor
from sim.studies.host_rates import cache_resident, with_op_class_rates
from sim.studies.measurements import read_onnxruntime_profile


def profile(model: str, batch: int, threads: int, runs: int, folder: Path) -> Path:
    """Run `model` under onnxruntime's profiler; the profile file's path."""
    import onnxruntime as ort

    from workloads.onnx import to_onnx

    path = folder / f"{model}-b{batch}.onnx"
    to_onnx(workloads.build(model, batch=batch, dtype="fp32"), path)
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.enable_profiling = True
    options.profile_file_prefix = str(folder / f"{model}-b{batch}-profile")
    options.log_severity_level = 3
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(0)
    feeds = {
        i.name: rng.standard_normal([d if isinstance(d, int) else 1 for d in i.shape]).astype(
            np.float32
        )
        for i in session.get_inputs()
    }
    for _ in range(runs + 1):
        session.run(None, feeds)
    return Path(session.end_profiling())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--chip", help="a calibrated chip file (default: calibrate now)")
    parser.add_argument("--model", action="append", help="builders (repeatable)")
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--keep-profile", type=Path, help="copy the profile JSONs here")
    parser.add_argument(
        "--profiles", type=Path, nargs="+", help="use these profile JSONs instead of running"
    )
    parser.add_argument(
        "--median", action="store_true", help="each op's median run, not its fastest"
    )
    args = parser.parse_args()
    models = args.model or ["resnet50", "mobilenet-v2", "shufflenet-v2"]
    if args.chip:
        chip = hardware.load_chip(args.chip)
    else:
        chip = calibrate(threads=args.threads, refine=with_op_class_rates)
    rows = []
    skipped: dict[str, int] = {}
    with tempfile.TemporaryDirectory() as tmp:
        paths = args.profiles or [
            profile(model, args.batch, args.threads, args.runs, Path(tmp)) for model in models
        ]
        for path in paths:
            if args.keep_profile:
                args.keep_profile.mkdir(parents=True, exist_ok=True)
                shutil.copy(path, args.keep_profile / path.name)
            read = read_onnxruntime_profile(
                json.loads(path.read_text()), str(path), fastest=not args.median
            )
            rows += read.rows
            for reason, count in read.skipped.items():
                skipped[reason] = skipped.get(reason, 0) + count
    # the ops ran inside networks at batch 1: their operands come from the last-level cache
    chip = cache_resident(chip, rows)
    statistic = "median" if args.median else "fastest"
    print(f"{len(rows)} distinct ops from {', '.join(p.name for p in paths)} ({statistic} run "
          f"of each op); skipped: "
          f"{sum(skipped.values())} events ({'; '.join(sorted(skipped)) or 'none'})")  # fmt: skip
    halves = folds_of(len(rows), 2, seed=args.seed)
    for name, (train_ids, test_ids) in (("A->B", halves), ("B->A", halves[::-1])):
        train = [rows[i] for i in train_ids]
        test = [rows[i] for i in test_ids]
        fit = fit_chip(chip, train, folds=0)
        before = typical_factor(log_errors(predict(chip, test), test))
        after = typical_factor(log_errors(predict(fit.chip, test), test))
        fitted = ", ".join(f"{p} {v:.3g}" for p, v in fit.values.items())
        print(
            f"fit on half {name}: {len(train)} ops fitted, {len(test)} held out; held-out "
            f"typical error {before:.3f}x -> {after:.3f}x (on the fitted half "
            f"{fit.before:.3f}x -> {fit.after:.3f}x); fitted: {fitted}; at the upper "
            f"bound 1: {', '.join(fit.at_bound) or 'none'}"
        )


if __name__ == "__main__":
    main()
