"""What a sweep is: one workload on one chip, the keys it varies and fixes, and its points.

A key is of one of three kinds, told apart by name (checked in this order):
- workload builder parameters (`batch`, `resolution`, `seq`, `dtype`, ... of that builder);
- simulation options, the fields of `SimOptions` (`fusion`, `prefetch`, `batches`, ...);
- chip spec fields by dotted path (`memory.dram.bandwidth`, `units.sm.instances`).
A prefix `workload.`, `sim.` or `chip.` says which explicitly (`sim.dtype` is the dtype the
peak is quoted in, `dtype` a builder's dtype). Every key is checked when the spec is made,
so a typo costs no run.

A system sweep (`system` set, no chip: sim/studies/sweep/systems.py) has two kinds instead:
`run_system` options (`tp`, `pp`, `batch`, ...) and system fields by dotted path
(`interconnect.bandwidth`, `chip.memory.dram.bandwidth`); its workload is a transformer of
the zoo.

Each point is a dict key -> value with a stable id: a hash of the workload, chip, fixed
settings and the point's items, so a resumed sweep knows which points it already has.
"""

from __future__ import annotations

import difflib
import hashlib
import itertools
import json
import math
import os
import typing
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from pydantic import BaseModel

import hardware
import workloads
from hardware import schema
from hardware.chip import Chip
from hardware.errors import InputError
from hardware.files import load_yaml_mapping, read_text
from hardware.load import parse_assignment
from hardware.system import System, load_system
from sim.losses import LOSS_CATEGORIES
from sim.options import SimOptions
from sim.studies.sweep.systems import (
    RUN_PARAMS,
    SERVE_ALIASES,
    SERVE_COLUMNS,
    SERVE_PARAMS,
    SERVE_REQUIRED,
    SYSTEM_COLUMNS,
)
from sim.studies.sweep.values import (
    SI_UNITS,
    axis_dimension,
    parse_values,
    parse_vary,
    si_value,
    unique,
)

MAX_POINTS = 1_000_000
KINDS = ("workload", "sim", "chip")
SYSTEM_KINDS = ("run", "serve", "system")
SET_USAGE = "KEY=VALUE, e.g. batch=8"
SWEEP_FILE_KEYS = ("workload", "chip", "system", "set", "vary")

METRIC_COLUMNS = ("latency_s", "throughput", "delivered_tops", "efficiency", "top_loss")
LOSS_COLUMNS = tuple(f"loss_{category}" for category in LOSS_CATEGORIES)


@dataclass(frozen=True)
class Axis:
    """One varied (or fixed) setting: `key` as written, its kind and name without prefix."""

    key: str
    kind: str  # workload | sim | chip, or for a system sweep: run | serve | system
    name: str
    values: tuple[Any, ...]

    @cached_property
    def dimension(self) -> str | None:
        """The dimension of a quantity axis ('bandwidth' for 1TB/s,2TB/s), else None."""
        return axis_dimension(self.values)

    @property
    def column(self) -> str:
        """The output column: the key, with the SI unit for quantities
        ('memory.dram.bandwidth [B/s]'), so a table reader gets numbers, not '2TB/s'."""
        return f"{self.key} [{SI_UNITS[self.dimension]}]" if self.dimension else self.key

    def cell(self, value: Any) -> Any:
        """A value as its column holds it: SI for quantities (2e12), else as given."""
        return si_value(value, self.dimension) if self.dimension else value

    def label(self, cell: Any) -> str:
        """A column's cell as the user wrote the value ('2TB/s'); the cell if unknown."""
        for value in self.values:
            if str(self.cell(value)) == str(cell):
                return str(value)
        return str(cell)


@dataclass(frozen=True)
class SweepSpec:
    """A workload (builder name or graph file), a chip (preset or file), what varies; or
    for a system sweep, a transformer of the zoo and a system (preset or file), no chip."""

    workload: str
    chip: str
    axes: tuple[Axis, ...]
    settings: tuple[Axis, ...] = ()  # fixed for every point (one value each)
    system: str | None = None  # a system sweep: each point one run_system call
    serve: bool = False  # a system sweep whose points are serve calls (serving under load)

    @property
    def keys(self) -> list[str]:
        return [axis.key for axis in self.axes]

    @property
    def columns(self) -> list[str]:
        axes = [a.column for a in self.axes]
        if self.serve:
            return ["id", *axes, *SERVE_COLUMNS, "error"]
        if self.system is not None:
            return ["id", *axes, *SYSTEM_COLUMNS, "error"]
        return ["id", *axes, *METRIC_COLUMNS, *LOSS_COLUMNS, "error"]

    def cells(self, values: Mapping[str, Any]) -> dict[str, Any]:
        """A point's values as its row holds them, by column (quantities in SI units)."""
        return {a.column: a.cell(values[a.key]) for a in self.axes if a.key in values}


@dataclass(frozen=True)
class Point:
    id: str
    values: dict[str, Any]


def classify(key: str, workload: str, base_chip: Chip, source: str = "--vary") -> Axis:
    """Which kind of setting `key` is (an Axis without values); unknown keys are errors."""
    graph_file = workloads.is_graph_file(workload)
    params = set() if graph_file else set(workloads.builder_params(workload))
    options = set(SimOptions.model_fields)
    prefix, _, rest = key.partition(".")
    if prefix in KINDS and rest:
        kind, name = prefix, rest
    elif key in params:
        kind, name = "workload", key
    elif key in options:
        kind, name = "sim", key
    elif prefix in Chip.model_fields:
        kind, name = "chip", key
    else:
        candidates = sorted(params | options | set(Chip.model_fields))
        close = difflib.get_close_matches(key, candidates, n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        of_workload = (
            f"a parameter of workload {workload!r} ({', '.join(sorted(params))})"
            if params
            else f"a parameter of {workload!r} (a graph file has none)"
        )
        raise InputError(
            f"{source} {key!r}: not {of_workload}, a simulation option "
            f"({', '.join(sorted(options))}) or a chip field by dotted path "
            f"({', '.join(Chip.model_fields)}).{hint}"
        )
    if kind == "workload" and name not in params:
        raise InputError(
            f"{source} {key!r}: workload {workload!r} has no parameter {name!r}; "
            f"it takes {', '.join(sorted(params)) or 'none'}."
        )
    if kind == "sim" and name not in options:
        raise InputError(
            f"{source} {key!r}: no simulation option {name!r}; options: "
            f"{', '.join(sorted(options))}."
        )
    if kind == "chip":
        _check_path(name, base_chip, source, key)
    return Axis(key=key, kind=kind, name=name, values=())


def classify_system_key(
    key: str, system: System, source: str = "--vary", serve: bool = False
) -> Axis:
    """A key of a system sweep: a run_system option (with `serve`: a serve option), or a
    system field by dotted path."""
    options = [*SERVE_ALIASES, *SERVE_PARAMS] if serve else list(RUN_PARAMS)
    if key in options:
        if serve:
            return Axis(key=key, kind="serve", name=SERVE_ALIASES.get(key, key), values=())
        return Axis(key=key, kind="run", name=key, values=())
    if key.partition(".")[0] in System.model_fields:
        _check_path(key, system, source, key, "the system")
        return Axis(key=key, kind="system", name=key, values=())
    candidates = [*options, *System.model_fields]
    close = difflib.get_close_matches(key, candidates, n=1)
    hint = f" Did you mean {close[0]!r}?" if close else ""
    what = "a serving run (--serve)" if serve else "a system run"
    raise InputError(
        f"{source} {key!r}: not an option of {what} ({', '.join(options)}) or a "
        f"system field by dotted path ({', '.join(System.model_fields)}, e.g. "
        f"interconnect.bandwidth or chip.memory.dram.bandwidth).{hint}"
    )


def _check_path(path: str, spec: BaseModel, source: str, key: str, root: str = "the chip") -> None:
    """Follow the dotted path through the spec's model (and the chip's own unit names)."""
    model: type[BaseModel] = type(spec)
    value: Any = spec
    parts = path.split(".")
    i = 0
    while i < len(parts):
        where = ".".join(parts[:i]) or root
        fields = model.model_fields
        if parts[i] not in fields:
            close = difflib.get_close_matches(parts[i], list(fields), n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise InputError(
                f"{source} {key!r}: {where} has no field {parts[i]!r}{hint}; "
                f"fields there: {', '.join(fields)}."
            )
        annotation = fields[parts[i]].annotation
        value = getattr(value, parts[i], None)
        i += 1
        if i == len(parts):
            return
        if typing.get_origin(annotation) is dict:
            inner = typing.get_args(annotation)[1]
            if not (isinstance(inner, type) and issubclass(inner, BaseModel)):
                return  # a table keyed by op class or dtype: load_chip checks the rest
            names = list(value or {})
            if parts[i] not in names:
                raise InputError(
                    f"{source} {key!r}: {'.'.join(parts[: i - 1]) or root} has no "
                    f"{parts[i - 1]} entry "
                    f"{parts[i]!r}; it has {', '.join(names) or 'none'}."
                )
            value, model, i = value[parts[i]], inner, i + 1
            continue
        inner_model = schema.inner_model(annotation, containers=False)
        if inner_model is None or typing.get_origin(annotation) in (list, tuple):
            raise InputError(
                f"{source} {key!r}: {'.'.join(parts[:i])!r} is a value, not a group "
                "of fields; set it whole."
            )
        model = inner_model


def make_spec(
    workload: str,
    chip: str,
    vary: Mapping[str, list[Any]],
    settings: Mapping[str, Any] | None = None,
    source: str = "--vary",
) -> SweepSpec:
    """Classify every key; the chip is loaded once here to check dotted paths."""
    base_chip = hardware.load_chip(chip)
    if workloads.is_graph_file(workload):
        workloads.load(workload)  # a clear error now for a missing or bad graph file
    else:
        workloads.builder_params(workload)  # and for an unknown builder
    axes = []
    for key, values in vary.items():
        if not values:
            raise InputError(f"{source} {key}: no values.")
        axes.append(_with_values(classify(key, workload, base_chip, source), values))
    fixed = []
    for key, value in (settings or {}).items():
        if key in vary:
            raise InputError(f"--set {key}: the key is also varied; give it in one place.")
        fixed.append(_with_values(classify(key, workload, base_chip, "--set"), [value]))
    count = math.prod(len(axis.values) for axis in axes)
    if count > MAX_POINTS:
        raise InputError(f"{source}: the sweep has {count:,} points; at most {MAX_POINTS:,}.")
    return SweepSpec(workload=workload, chip=chip, axes=tuple(axes), settings=tuple(fixed))


def make_system_spec(
    workload: str,
    system: str,
    vary: Mapping[str, list[Any]],
    settings: Mapping[str, Any] | None = None,
    source: str = "--vary",
    serve: bool = False,
) -> SweepSpec:
    """A system sweep (with `serve`, of serving runs): the system is loaded once here to
    check dotted paths."""
    from workloads.zoo.transformer import CONFIGS

    if workload not in CONFIGS:
        raise InputError(
            f"sweep --system: {workload!r} is not a transformer of the zoo; a system sweep "
            f"runs one of {', '.join(CONFIGS)}."
        )
    base = load_system(system)
    axes = []
    for key, values in vary.items():
        if not values:
            raise InputError(f"{source} {key}: no values.")
        axes.append(_with_values(classify_system_key(key, base, source, serve), values))
    fixed = []
    for key, value in (settings or {}).items():
        if key in vary:
            raise InputError(f"--set {key}: the key is also varied; give it in one place.")
        fixed.append(_with_values(classify_system_key(key, base, "--set", serve), [value]))
    if serve:
        given = {axis.name for axis in (*axes, *fixed)}
        names = {v: k for k, v in SERVE_ALIASES.items()}
        missing = [names.get(name, name) for name in SERVE_REQUIRED if name not in given]
        if missing:
            raise InputError(
                f"sweep --serve: give {' and '.join(missing)} with --vary or --set "
                f"(e.g. --vary rate=1,2,4 --set duration=60s)."
            )
    count = math.prod(len(axis.values) for axis in axes)
    if count > MAX_POINTS:
        raise InputError(f"{source}: the sweep has {count:,} points; at most {MAX_POINTS:,}.")
    return SweepSpec(
        workload=workload,
        chip="",
        axes=tuple(axes),
        settings=tuple(fixed),
        system=system,
        serve=serve,
    )


def _with_values(axis: Axis, values: Iterable[Any]) -> Axis:
    return Axis(key=axis.key, kind=axis.kind, name=axis.name, values=tuple(values))


def build_spec(
    workload: str | None = None,
    chip: str | None = None,
    vary: Iterable[str] = (),
    settings: Iterable[str] = (),
    file: str | os.PathLike | None = None,
    system: str | None = None,
    serve: bool = False,
) -> SweepSpec:
    """From the command line (`--vary K=V` texts, `--set K=V`) and an optional sweep file;
    the command line wins over the file. With a system (`--system` or `system:`), a
    system sweep."""
    data = load_sweep_file(file) if file is not None else {}
    workload = workload or data.get("workload")
    chip = chip or data.get("chip")
    system = system or data.get("system")
    if serve and not system:
        raise InputError("sweep --serve: serving runs on a system; give --system.")
    if not workload:
        raise InputError("sweep: no workload: give it as the argument or `workload:` in --file.")
    if chip and system:
        raise InputError(
            "sweep: both a chip and a system: a sweep runs one chip (--chip) or a system of "
            "chips (--system); vary the system's chip by dotted path (chip.memory.dram.bandwidth)."
        )
    if not chip and not system:
        raise InputError("sweep: no chip: give --chip (or --system) or `chip:` in --file.")
    varied: dict[str, list[Any]] = dict(data.get("vary", {}))
    cli_keys: set[str] = set()
    for text in vary:
        key, values = parse_vary(text)
        if key in cli_keys:
            raise InputError(f"--vary {key}: given twice; list all its values in one --vary.")
        cli_keys.add(key)
        varied[key] = values
    fixed: dict[str, Any] = dict(data.get("set", {}))
    for text in settings:
        key, value = parse_assignment(text, SET_USAGE)
        fixed[key] = value
    for key in cli_keys:
        fixed.pop(key, None)
    for key in list(varied):
        if key in fixed and key not in cli_keys:
            varied.pop(key)  # a --set on the command line fixes a key the file varies
    if system:
        return make_system_spec(str(workload), str(system), varied, fixed, serve=serve)
    return make_spec(str(workload), str(chip), varied, fixed)


def load_sweep_file(path: str | os.PathLike) -> dict[str, Any]:
    """A YAML sweep: workload, chip, set: {key: value}, vary: {key: [values] or 'a..b*2'}."""
    source = str(path)
    data = load_yaml_mapping(read_text(path, "sweep"), source)
    for key in data:
        if key not in SWEEP_FILE_KEYS:
            close = difflib.get_close_matches(str(key), SWEEP_FILE_KEYS, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise InputError(
                f"{source}: unknown key {key!r}{hint}; allowed keys: {', '.join(SWEEP_FILE_KEYS)}."
            )
    for key in ("workload", "chip", "system"):
        if key in data and not isinstance(data[key], str):
            raise InputError(f"{source}: {key!r} must be a name or a file path.")
    for key in ("set", "vary"):
        if not isinstance(data.get(key, {}), dict):
            raise InputError(f"{source}: {key!r} must be a mapping of keys to values.")
    vary: dict[str, list[Any]] = {}
    for key, values in data.get("vary", {}).items():
        items = values if isinstance(values, list) else [values]
        parsed: list[Any] = []
        for item in items:
            if isinstance(item, str):
                parsed.extend(parse_values(str(key), item, f"{source}: vary"))
            else:
                parsed.append(item)
        if not parsed:
            raise InputError(f"{source}: vary {key}: no values.")
        vary[str(key)] = unique(parsed)
    return {**data, "vary": vary, "set": {str(k): v for k, v in data.get("set", {}).items()}}


def points(spec: SweepSpec) -> list[Point]:
    """The cartesian product, first axis slowest, each point with its stable id."""
    keys = spec.keys
    combos = itertools.product(*(axis.values for axis in spec.axes))
    return [
        Point(
            id=point_id(spec, dict(zip(keys, combo, strict=True))),
            values=dict(zip(keys, combo, strict=True)),
        )
        for combo in combos
    ]


def point_id(spec: SweepSpec, values: Mapping[str, Any]) -> str:
    """12 hex digits of a hash of what determines the point's result."""
    payload = {
        "workload": spec.workload,
        "chip": spec.chip,
        "set": {axis.key: axis.values[0] for axis in spec.settings},
        "point": dict(values),
    }
    if spec.system is not None:  # a single-chip sweep's ids stay what they were
        payload["system"] = spec.system
    if spec.serve:
        payload["serve"] = True
    text = json.dumps(payload, sort_keys=True, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:12]
