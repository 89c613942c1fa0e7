"""Predicted vs measured on this CPU: `python benchmarks/validate_models.py [options]`.

The same as `topsim validate-model` (issue 8): calibrates this machine once (or loads
--chip), exports resnet50, mobilenet-v2 and shufflenet-v2 (fp32, random weights) to ONNX,
times each with onnxruntime (--threads intra-op threads, warm-up runs, then the median of
--runs runs), predicts it with topsim on the calibrated host-cpu chip, and prints model,
batch, measured, predicted, error %, the median |error| and whether the three models rank
the same. Needs the `onnx` extra (onnx, onnxruntime). `--help` lists the options.
"""

from __future__ import annotations

import typer

from sim.cli.calibrate import validate_model

if __name__ == "__main__":
    typer.run(validate_model)
