"""`topsim run --from result.json`: make a Result again from its provenance.

The chip and workload are loaded as the first run loaded them (preset or builder by name
with the same overrides and parameters, or the same file) and the run takes every
recorded option. A preset or file whose bytes changed since is still used, with a
warning naming it: the new numbers are the point of re-running more often than not.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer
from pydantic import ValidationError

import hardware
import workloads
from hardware.errors import InputError, explain_validation
from hardware.files import read_text
from hardware.load import PRESET_DIR
from hardware.origin import Origin, file_sha256


def recorded_provenance(path: Path) -> dict[str, Any]:
    """The `provenance` of a Result JSON file (schema 1.2 or later)."""
    try:
        data = json.loads(read_text(path, "result"))
    except json.JSONDecodeError as err:
        raise InputError(f"--from {path}: not valid JSON ({err.msg}, line {err.lineno}).") from None
    provenance = data.get("provenance") if isinstance(data, dict) else None
    if not isinstance(provenance, dict):
        version = data.get("schema_version", "?") if isinstance(data, dict) else "?"
        raise InputError(
            f"--from {path}: the result (schema {version}) records no provenance; results "
            "written by topsim with schema 1.2 or later do."
        )
    return provenance


def warn_if_changed(origin: Origin, file: Path, what: str) -> None:
    if not file.is_file():
        raise InputError(f"--from: the {what} file {file} is gone; cannot re-run.")
    if origin.sha256 is not None and file_sha256(file) != origin.sha256:
        typer.echo(f"warning: the {what} {file} changed since the result was made.", err=True)


def rerun_inputs(path: Path) -> tuple[Any, Any, dict[str, Any]]:
    """The graph, the chip and the SimOptions fields a Result file was made with."""
    from sim.result import Provenance

    try:
        provenance = Provenance.model_validate(recorded_provenance(path))
    except ValidationError as err:
        raise explain_validation(err, f"--from {path} (its provenance)", Provenance) from None
    if provenance.topsim_version != hardware.__version__:
        typer.echo(
            f"warning: {path} was made by topsim {provenance.topsim_version}, "
            f"this is {hardware.__version__}.",
            err=True,
        )
    chip, work = provenance.chip, provenance.workload
    if "object" in (chip.kind, work.kind):
        built = "chip" if chip.kind == "object" else "workload"
        raise InputError(
            f"--from {path}: its {built} was built in Python, not loaded by name or from a "
            "file, so topsim cannot load it again."
        )
    chip_file = PRESET_DIR / f"{chip.name}.yaml" if chip.kind == "preset" else Path(chip.name)
    warn_if_changed(chip, chip_file, "chip preset" if chip.kind == "preset" else "chip file")
    spec = hardware.load_chip(chip.name, overrides=chip.parameters or None)
    if work.kind == "builder":
        graph = workloads.build(work.name, **work.parameters)
    else:
        warn_if_changed(work, Path(work.name), "workload file")
        if work.parameters and Path(work.name).suffix.lower() == ".onnx":  # sized dims
            graph = workloads.load(work.name, **work.parameters)
        elif work.parameters and Path(work.name).suffix.lower() == ".json":  # an HF config
            graph = from_recorded_hf(work.name, work.parameters, path)
        else:
            graph = workloads.load(work.name)
    return graph, spec, provenance.options


def from_recorded_hf(name: str, parameters: dict, path: Path):
    """A Hugging Face config built with the parameters a Result recorded (checked)."""
    from workloads.hf import PARAMETERS

    unknown = sorted(set(parameters) - set(PARAMETERS))
    if unknown:
        raise InputError(
            f"--from {path}: the workload's recorded parameters {', '.join(unknown)} are not "
            f"parameters of a Hugging Face config ({', '.join(PARAMETERS)})."
        )
    return workloads.from_hf_config(name, **parameters)
