"""Graphs to and from files: YAML or JSON in the schema of `Graph`, or ONNX (extra `onnx`).

`is_graph_file` is the one rule that tells a graph file from a builder name wherever a
workload is named (the command line, sweeps, what-if rebuilds).
"""

from __future__ import annotations

import json
import os
from typing import Any

import yaml
from pydantic import ValidationError

from hardware.chip import Chip
from hardware.errors import InputError, explain_validation
from hardware.files import load_yaml_mapping, path_kind, read_text, user_path
from hardware.origin import Origin, file_sha256, record
from workloads.graph import Graph, check_file_ops
from workloads.hf import from_hf_config, is_hf_config
from workloads.registry import builder_params, list_workloads

GRAPH_SUFFIXES = (".yaml", ".yml", ".json")
WORKLOAD_FILE_SUFFIXES = (*GRAPH_SUFFIXES, ".onnx")


def is_graph_file(workload: str | os.PathLike) -> bool:
    """Whether `workload` names a graph file rather than a builder.

    A builder's name always means the builder (even if a file of that name exists);
    otherwise a graph suffix (.yaml, .yml, .json, .onnx) or an existing path means a file
    (`load` then says what is wrong with it), and anything else is taken as a builder name
    (`build` then lists the builders if it is unknown).
    """
    path = user_path(workload, "workload (a builder name or a graph file)")
    if str(path) in list_workloads():
        return False
    return path.suffix.lower() in WORKLOAD_FILE_SUFFIXES or path_kind(path) is not None


def load(
    path: str | os.PathLike, *, batch: int | None = None, dims: dict[str, int] | None = None
) -> Graph:
    """Read a graph from .yaml/.yml/.json (or .onnx with the `onnx` extra); a Hugging Face
    `config.json` is built with its defaults (workloads/hf.py). An ONNX model's symbolic
    input dims take sizes: `batch` for the leading ones, `dims` by name."""
    p = user_path(path, "graph file")
    if p.suffix.lower() == ".onnx":
        from workloads.onnx import load_onnx

        graph = load_onnx(p, batch=batch, dims=dims)  # first: it refuses a huge file unread
        shape = {k: v for k, v in (("batch", batch), ("dims", dims)) if v}
        origin = Origin(kind="file", name=str(p), sha256=file_sha256(p), parameters=shape)
        return record(graph, origin)
    if batch is not None or dims:
        raise InputError(
            f"{p}: batch and dims size an ONNX model's symbolic inputs; this graph file "
            "fixes its own shapes."
        )
    if p.suffix.lower() not in GRAPH_SUFFIXES:
        raise InputError(
            f"{p}: unknown graph file type {p.suffix or '(none)'!r}; use .yaml, "
            ".yml, .json or .onnx."
        )
    data = load_yaml_mapping(read_text(p, "graph"), str(p))
    if is_hf_config(data):
        return from_hf_config(p)
    ops = data.get("ops")
    check_file_ops(len(ops) if isinstance(ops, list) else 0, str(p))
    graph = graph_from_dict(data, str(p))
    return record(graph, Origin(kind="file", name=str(p), sha256=file_sha256(p)))


def graph_from_dict(data: dict, source: str) -> Graph:
    if not isinstance(data, dict):
        raise InputError(f"{source}: a graph is a mapping of keys, got {type(data).__name__}.")
    try:
        return Graph.model_validate(data)
    except ValidationError as err:
        raise explain_validation(err, source, Graph) from None


def save(graph: Graph, path: str | os.PathLike) -> None:
    """Write a graph as YAML or JSON (by suffix); `load` reads it back identically."""
    if not isinstance(graph, Graph):
        raise InputError(f"save: expected a Graph, got {type(graph).__name__}.")
    p = user_path(path, "graph file to write")
    if path_kind(p) == "dir":
        raise InputError(f"{p}: is a directory; give a file name ending in .yaml or .json.")
    data = graph.to_dict()
    if p.suffix.lower() == ".json":
        text = json.dumps(data, indent=1) + "\n"
    else:
        text = yaml.safe_dump(data, sort_keys=False, default_flow_style=None)
    try:
        p.write_text(text, encoding="utf-8")
    except OSError as err:
        raise InputError(f"{p}: cannot write the graph ({err.strerror or err}).") from None


def dtype_for(spec: str, chip: Chip, given: object) -> tuple[Any, str | None]:
    """The dtype to build workload `spec` in for `chip`, and why: the user's, else the
    chip's `default_dtype`, else the builder's default when the chip has a peak for it,
    else the chip's main dtype. Files (and builders without a dtype) keep their own."""
    if given is not None:
        return given, None
    if is_graph_file(spec):
        return None, None
    params = builder_params(spec)
    if "dtype" not in params:
        return None, None
    return chip_dtype(chip, params["dtype"])


def chip_dtype(chip: Chip, default: object) -> tuple[str, str]:
    """The dtype a model whose own default is `default` runs in on `chip`, and why: the
    chip's `default_dtype`, else `default` when the chip has a peak for it, else the chip's
    main dtype (the rule of `dtype_for` once no dtype was given)."""
    if chip.default_dtype is not None:
        return chip.default_dtype, f"{chip.name}'s default_dtype (none given)"
    if isinstance(default, str) and chip.peak_ops(default) > 0:
        return default, f"the builder's default, which {chip.name} has a peak for"
    best = chip.main_dtype()
    return best, f"{chip.name} has no {default} peak; {best} is its main dtype"
