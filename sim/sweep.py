"""What-if sweeps: one workload on one chip over the cartesian product of varied settings.

A sweep varies keys of three kinds, told apart by name (checked in this order):
- workload builder parameters (`batch`, `resolution`, `seq`, `dtype`, ... of that builder);
- simulation options, the fields of `SimOptions` (`fusion`, `prefetch`, `batches`, ...);
- chip spec fields by dotted path (`memory.dram.bandwidth`, `units.sm.instances`).
A prefix `workload.`, `sim.` or `chip.` says which explicitly (`sim.dtype` is the dtype the
peak is quoted in, `dtype` a builder's dtype).

Values are written as a list `a,b,c`, a geometric range `a..b*F` (a, a*F, a*F^2, ... up to
b) or an arithmetic range `a..b+S`, mixed freely (`1,3..9+3`). Range endpoints may carry
units (`1MiB..256MiB*2`, parsed by hardware.quantity, one dimension per range); the
values stay text with a unit ("2MiB"), so each point's chip goes through `load_chip`'s
overrides and is validated like a chip file.

Each point is a dict key -> value with a stable id: a hash of the workload, chip, fixed
settings and the point's items. Results are appended to the output file (CSV, or JSON
lines for .jsonl/.json) one line per point, flushed and fsync'd, so a sweep killed at any
moment loses only the points in flight; `resume=True` repairs a torn last line and skips
the ids already there. A point whose spec is invalid or whose simulation fails gets its
message in the `error` column and the sweep goes on.
"""

from __future__ import annotations

import csv
import difflib
import hashlib
import io
import itertools
import json
import math
import os
import re
import signal
import time
import typing
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from pydantic import BaseModel

import hardware
import workloads
from hardware import quantity, schema
from hardware.chip import Chip
from hardware.errors import InputError
from hardware.files import load_yaml_mapping, read_text
from hardware.load import parse_assignment, split_assignment
from hardware.load import parse_scalar as _scalar
from sim.losses import LOSS_CATEGORIES
from sim.options import SimOptions
from sim.simulate import simulate
from workloads.graph import Graph

MAX_AXIS_VALUES = 10_000
MAX_POINTS = 1_000_000
MAX_ERROR_CHARS = 1000
KINDS = ("workload", "sim", "chip")
VARY_USAGE = (
    "KEY=VALUES, e.g. memory.dram.bandwidth=0.5TB/s,1TB/s or memory.l2.capacity=1MiB..64MiB*2"
)
SET_USAGE = "KEY=VALUE, e.g. batch=8"

METRIC_COLUMNS = ("latency_s", "throughput", "delivered_tops", "efficiency", "top_loss")
LOSS_COLUMNS = tuple(f"loss_{category}" for category in LOSS_CATEGORIES)

# dimension -> parser, in the order a unit string is tried
DIMENSIONS: dict[str, Callable[[str], float]] = {
    "size": quantity.parse_bytes,
    "bandwidth": quantity.parse_bandwidth,
    "frequency": quantity.parse_frequency,
    "time": quantity.parse_time,
    "power": quantity.parse_power,
    "energy": quantity.parse_energy,
    "temperature": quantity.parse_temperature,
    "thermal resistance": quantity.parse_thermal_resistance,
    "heat capacity": quantity.parse_heat_capacity,
}
_NUMBER = r"[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?"
_WITH_UNIT = re.compile(rf"^\s*({_NUMBER})\s*(\S.*?)?\s*$")
_INTEGER = re.compile(r"^\s*[-+]?\d+\s*$")
_RANGE = re.compile(r"^(?P<start>.+?)\.\.(?P<end>.+?)(?:(?P<op>[*+])(?P<step>[^*+]+))?$")


# the spec ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Axis:
    """One varied (or fixed) setting: `key` as written, its kind and name without prefix."""

    key: str
    kind: str  # workload | sim | chip
    name: str
    values: tuple[Any, ...]


@dataclass(frozen=True)
class SweepSpec:
    """A workload (builder name or graph file), a chip (preset or file), what varies."""

    workload: str
    chip: str
    axes: tuple[Axis, ...]
    settings: tuple[Axis, ...] = ()  # fixed for every point (one value each)

    @property
    def keys(self) -> list[str]:
        return [axis.key for axis in self.axes]

    @property
    def columns(self) -> list[str]:
        return ["id", *self.keys, *METRIC_COLUMNS, *LOSS_COLUMNS, "error"]


@dataclass(frozen=True)
class Point:
    id: str
    values: dict[str, Any]


def parse_values(key: str, text: str, source: str = "--vary") -> list[Any]:
    """'0.5TB/s,1TB/s' or '1MiB..8MiB*2' or '16..128+16' -> the list of values."""
    values: list[Any] = []
    for item in _split_items(text):
        if not item:
            raise InputError(
                f"{source} {key}: empty value in {text!r}; write values separated "
                "by commas, e.g. 1TB/s,2TB/s, or a range like 1MiB..64MiB*2."
            )
        values.extend(_range(key, item, source) if ".." in item else [_scalar(item)])
    return _unique(values)


def parse_vary(text: str, source: str = "--vary") -> tuple[str, list[Any]]:
    """'memory.dram.bandwidth=1TB/s,2TB/s' -> ('memory.dram.bandwidth', ['1TB/s', '2TB/s'])."""
    key, values = split_assignment(text, VARY_USAGE, source, need_value=True)
    return key, parse_values(key, values, source)


def _split_items(text: str) -> list[str]:
    """Split on commas outside brackets, so '[8, 8, 16],[4, 4, 4]' is two values."""
    items, depth, current = [], 0, []
    for char in text:
        depth += (char in "[{") - (char in "]}")
        if char == "," and depth == 0:
            items.append("".join(current).strip())
            current = []
        else:
            current.append(char)
    items.append("".join(current).strip())
    return items


def _unique(values: Iterable[Any]) -> list[Any]:
    seen: set[str] = set()
    kept = []
    for value in values:
        marker = json.dumps(value, sort_keys=True, default=str)
        if marker not in seen:
            seen.add(marker)
            kept.append(value)
    return kept


def _split_unit(text: str) -> tuple[str, str] | None:
    match = _WITH_UNIT.match(text)
    return (match.group(1), match.group(2) or "") if match else None


def _dimensions(text: str) -> list[str]:
    """The dimensions `text` parses as (every one for a bare number), in DIMENSIONS order."""
    found = []
    for name, parse in DIMENSIONS.items():
        try:
            parse(text)
        except ValueError:
            continue
        found.append(name)
    return found


def _range(key: str, item: str, source: str) -> list[Any]:
    match = _RANGE.match(item)
    if not match:
        raise InputError(
            f"{source} {key}: cannot read the range {item!r}; write START..END*FACTOR "
            "(geometric) or START..END+STEP (arithmetic), e.g. 1MiB..256MiB*2."
        )
    start, end = match["start"].strip(), match["end"].strip()
    op, step = match["op"], (match["step"] or "").strip()
    if op == "+" and re.search(r"\de$", end, re.IGNORECASE):  # '1e+3' is an exponent
        end, op, step = f"{end}+{step}", None, ""
    where = f"{source} {key}={item}"
    for part in (start, end):
        if _split_unit(part) is None:
            raise InputError(
                f"{where}: {part!r} is not a number or a quantity with a unit "
                "(e.g. 64, 2MiB, 1.5TB/s)."
            )
    units = [u for u in (_split_unit(start)[1], _split_unit(end)[1]) if u]
    if op == "+" and _split_unit(step) and _split_unit(step)[1]:
        units.append(_split_unit(step)[1])
    if op is None:
        if units or not (_INTEGER.match(start) and _INTEGER.match(end)):
            raise InputError(
                f"{where}: say how to step, e.g. {start}..{end}*2 (geometric) or "
                f"{start}..{end}+STEP (arithmetic)."
            )
        op, step = "+", "1"
    if op == "+" and _split_unit(step) is None:
        raise InputError(f"{where}: the step {step!r} is not a number or quantity.")
    if op == "*" and not (_split_unit(step) and not _split_unit(step)[1]):
        raise InputError(f"{where}: the factor {step!r} must be a plain number greater than 1.")
    if not units:
        return _numbers(start, end, op, step, where)
    return _quantities(start, end, op, step, units, where)


def _numbers(start: str, end: str, op: str, step: str, where: str) -> list[Any]:
    integers = all(_INTEGER.match(t) for t in (start, end)) and bool(
        _INTEGER.match(step) if op == "+" else float(step).is_integer()
    )
    if integers:
        return _progression(int(start), int(end), op, int(float(step)), where)
    values = _progression(float(start), float(end), op, float(step), where)
    return [float(f"{v:.12g}") for v in values]


def _quantities(
    start: str, end: str, op: str, step: str, units: list[str], where: str
) -> list[str]:
    """Values as text, each in the largest of the range's units that keeps it >= 1
    ('512KiB..4MiB*2' -> 512KiB, 1MiB, 2MiB, 4MiB)."""
    parts = [start, end] + ([step] if op == "+" else [])
    common = [d for d in _dimensions(parts[0]) if all(d in _dimensions(p) for p in parts[1:])]
    if not common:
        kinds = "; ".join(f"{p!r}: {', '.join(_dimensions(p)) or 'no known unit'}" for p in parts)
        raise InputError(
            f"{where}: the range's endpoints (and step) must be of one dimension "
            f"with known units ({kinds})."
        )
    parse = DIMENSIONS[common[0]]
    scales = sorted({(parse(f"1{u}") - parse(f"0{u}"), parse(f"0{u}"), u) for u in units})
    factor: float = float(step) if op == "*" else parse(step)
    texts = []
    for value in _progression(parse(start), parse(end), op, factor, where):
        fitting = [s for s in scales if abs(value - s[1]) >= s[0]]
        scale, offset, unit = fitting[-1] if fitting else scales[0]
        texts.append(f"{(value - offset) / scale:.12g}{unit}")
    return texts


def _progression(start: float, end: float, op: str, step: float, where: str) -> list[Any]:
    if not (math.isfinite(start) and math.isfinite(end) and math.isfinite(step)):
        raise InputError(f"{where}: the range must be finite.")
    if start > end:
        raise InputError(f"{where}: the start is larger than the end.")
    if op == "*" and (step <= 1 or start <= 0):
        raise InputError(
            f"{where}: a geometric range needs a factor greater than 1 and a start "
            f"greater than zero (got factor {step:g}, start {start:g})."
        )
    if op == "+" and step <= 0:
        raise InputError(f"{where}: an arithmetic range needs a step greater than zero.")
    count = (
        math.floor(math.log(end / start) / math.log(step) + 1e-9)
        if op == "*"
        else math.floor((end - start) / step + 1e-9)
    ) + 1
    if count > MAX_AXIS_VALUES:
        raise InputError(
            f"{where}: the range has {count:,} values; at most {MAX_AXIS_VALUES:,} per key."
        )
    return [start * step**i if op == "*" else start + i * step for i in range(count)]


# keys: workload parameter, simulation option or chip field --------------------------------


def is_builder(workload: str) -> bool:
    return workload in workloads.list_workloads()


def classify(key: str, workload: str, base_chip: Chip, source: str = "--vary") -> Axis:
    """Which kind of setting `key` is (an Axis without values); unknown keys are errors."""
    params = set(workloads.builder_params(workload)) if is_builder(workload) else set()
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
        _check_chip_path(name, base_chip, source, key)
    return Axis(key=key, kind=kind, name=name, values=())


def _check_chip_path(path: str, chip: Chip, source: str, key: str) -> None:
    """Follow the dotted path through the Chip model (and the chip's own unit names)."""
    model: type[BaseModel] = Chip
    value: Any = chip
    parts = path.split(".")
    i = 0
    while i < len(parts):
        where = ".".join(parts[:i]) or "the chip"
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
                    f"{source} {key!r}: the chip has no {parts[i - 1]} entry "
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
    if not is_builder(workload):
        workloads.load(workload)  # a clear error now for a missing or bad graph file
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


def _with_values(axis: Axis, values: Iterable[Any]) -> Axis:
    return Axis(key=axis.key, kind=axis.kind, name=axis.name, values=tuple(values))


def build_spec(
    workload: str | None = None,
    chip: str | None = None,
    vary: Iterable[str] = (),
    settings: Iterable[str] = (),
    file: str | os.PathLike | None = None,
) -> SweepSpec:
    """From the command line (`--vary K=V` texts, `--set K=V`) and an optional sweep file;
    the command line wins over the file."""
    data = load_sweep_file(file) if file is not None else {}
    workload = workload or data.get("workload")
    chip = chip or data.get("chip")
    if not workload:
        raise InputError("sweep: no workload: give it as the argument or `workload:` in --file.")
    if not chip:
        raise InputError("sweep: no chip: give --chip or `chip:` in --file.")
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
    return make_spec(str(workload), str(chip), varied, fixed)


SWEEP_FILE_KEYS = ("workload", "chip", "set", "vary")


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
    for key in ("workload", "chip"):
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
        vary[str(key)] = _unique(parsed)
    return {**data, "vary": vary, "set": {str(k): v for k, v in data.get("set", {}).items()}}


# points -----------------------------------------------------------------------------------


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
    text = json.dumps(payload, sort_keys=True, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:12]


@dataclass(frozen=True)
class Task:
    """What a worker needs for one point: small, picklable, no open files."""

    index: int
    workload: str | Graph  # a builder name, or the loaded graph of a file
    workload_params: dict[str, Any]
    options: dict[str, Any]
    chip: Chip
    chip_key: str  # fingerprint of the base chip, for the per-process cache
    overrides: dict[str, Any]


def tasks_for(spec: SweepSpec, todo: list[Point]) -> Iterator[Task]:
    workload: str | Graph = (
        spec.workload if is_builder(spec.workload) else workloads.load(spec.workload)
    )
    chip = hardware.load_chip(spec.chip)
    chip_key = hashlib.sha256(chip.model_dump_json().encode("utf-8")).hexdigest()
    kind_of = {axis.key: axis for axis in (*spec.axes, *spec.settings)}
    fixed = {axis.key: axis.values[0] for axis in spec.settings}
    for index, point in enumerate(todo):
        split: dict[str, dict[str, Any]] = {kind: {} for kind in KINDS}
        for key, value in {**fixed, **point.values}.items():
            split[kind_of[key].kind][kind_of[key].name] = value
        yield Task(
            index=index,
            workload=workload,
            workload_params=split["workload"],
            options=split["sim"],
            chip=chip,
            chip_key=chip_key,
            overrides=split["chip"],
        )


# one point, in a worker -------------------------------------------------------------------


@lru_cache(maxsize=16)
def _built(name: str, params_json: str) -> Graph:
    return workloads.build(name, **json.loads(params_json))


_CHIPS: dict[tuple[str, str], Chip] = {}
MAX_CACHED_CHIPS = 256


def _chip(task: Task) -> Chip:
    if not task.overrides:
        return task.chip
    key = (task.chip_key, json.dumps(task.overrides, sort_keys=True, default=str))
    chip = _CHIPS.get(key)
    if chip is None:
        chip = hardware.load_chip(task.chip, overrides=task.overrides)
        if len(_CHIPS) >= MAX_CACHED_CHIPS:
            _CHIPS.clear()
        _CHIPS[key] = chip
    return chip


def run_point(task: Task) -> tuple[int, dict[str, Any]]:
    """Simulate one point; its metrics, or its error message (never raises)."""
    try:
        if isinstance(task.workload, str):
            graph = _built(task.workload, json.dumps(task.workload_params, sort_keys=True))
        else:
            graph = task.workload
        result = simulate(graph, _chip(task), **task.options)
    except InputError as err:
        return task.index, {"error": _one_line(str(err))}
    except Exception as err:  # a failing point is recorded and the sweep goes on
        return task.index, {"error": _one_line(f"simulation failed: {type(err).__name__}: {err}")}
    metrics: dict[str, Any] = {
        "latency_s": result.latency_s,
        "throughput": result.throughput,
        "delivered_tops": result.delivered_ops_per_s / 1e12,
        "efficiency": result.efficiency,
        "top_loss": result.top_loss(),
    }
    for category, column in zip(LOSS_CATEGORIES, LOSS_COLUMNS, strict=True):
        metrics[column] = result.loss_share(category)
    return task.index, {k: _finite(v) for k, v in metrics.items()}


def _one_line(message: str) -> str:
    text = " ".join(message.split())
    return text if len(text) <= MAX_ERROR_CHARS else text[: MAX_ERROR_CHARS - 3] + "..."


def _finite(value: Any) -> Any:
    return None if isinstance(value, float) and not math.isfinite(value) else value


# executors --------------------------------------------------------------------------------


def _ignore_sigint() -> None:
    """Workers leave Ctrl-C to the parent, which stops submitting and keeps what finished."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def local_results(tasks: Iterable[Task], jobs: int) -> Iterator[tuple[int, dict[str, Any]]]:
    """Results as they complete; at most 4 x jobs points are in flight at once."""
    if jobs == 1:
        yield from map(run_point, tasks)
        return
    pending_tasks = iter(tasks)
    pool = ProcessPoolExecutor(max_workers=jobs, initializer=_ignore_sigint)
    try:
        pending = {pool.submit(run_point, t) for t in itertools.islice(pending_tasks, 4 * jobs)}
        while pending:
            done, pending = wait(pending, return_when=FIRST_COMPLETED)
            for future in done:
                yield future.result()
                following = next(pending_tasks, None)
                if following is not None:
                    pending.add(pool.submit(run_point, following))
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def dask_client(scheduler: Any, jobs: int) -> tuple[Any, bool]:
    """A dask.distributed Client and whether this sweep owns it: `scheduler` is an
    address or a Client; with neither, a LocalCluster of `jobs` single-threaded workers."""
    try:
        from distributed import Client
    except ImportError:
        raise InputError(
            "--executor dask needs dask.distributed: pip install "
            "'topsim[dask]' (or 'dask[distributed]')."
        ) from None
    if isinstance(scheduler, Client):
        return scheduler, False
    try:
        if scheduler:
            return Client(scheduler, timeout="10s"), True
        return Client(n_workers=jobs, threads_per_worker=1, dashboard_address=None), True
    except (OSError, TimeoutError, ValueError) as err:
        raise InputError(
            f"--scheduler {scheduler}: cannot connect to a dask scheduler "
            f"({type(err).__name__}: {err})."
        ) from None


def dask_results(tasks: Iterable[Task], client: Any) -> Iterator[tuple[int, dict[str, Any]]]:
    """Results from a dask.distributed cluster as they complete."""
    from distributed import as_completed

    task_list = list(tasks)
    futures = client.map(run_point, task_list, pure=False)
    index_of = {future.key: task.index for future, task in zip(futures, task_list, strict=True)}
    for future in as_completed(futures):
        try:
            yield future.result()
        except Exception as err:  # a lost worker: record the point, keep going
            yield (
                index_of[future.key],
                {"error": _one_line(f"dask worker failed: {type(err).__name__}: {err}")},
            )
        future.release()


# the output file --------------------------------------------------------------------------


def start_output(path: Path, columns: list[str], resume: bool) -> set[str]:
    """Start the output (a CSV header, or nothing for JSON lines), or, resuming an existing
    file, cut a torn last line and return the ids already there."""
    json_lines = output_format(path) == "jsonl"
    if resume and path.is_file():
        truncate_partial_line(path)
        rows, header = read_table(path)
        found = header if header is not None else (list(rows[0]) if rows else columns)
        if set(found) != set(columns) or (header is not None and header != columns):
            raise InputError(
                f"--resume {path}: the file's columns ({', '.join(found)}) are not "
                f"this sweep's ({', '.join(columns)}); resume with the same --vary "
                "keys, or write to a new --out file."
            )
        if header is None and not json_lines and path.stat().st_size == 0:
            append_line(path, _csv_line(columns))
        return {str(row["id"]) for row in rows if row.get("id")}
    try:
        path.write_text("" if json_lines else _csv_line(columns), encoding="utf-8", newline="")
    except OSError as err:
        raise InputError(f"--out {path}: cannot write the file ({err.strerror}).") from None
    return set()


def append_row(path: Path, columns: list[str], row: Mapping[str, Any]) -> None:
    """One line per point: JSON with every column, or CSV with None as an empty field."""
    if output_format(path) == "jsonl":
        values = {c: row.get(c) for c in columns}
        append_line(path, json.dumps(values, allow_nan=False, default=str) + "\n")
    else:
        append_line(path, _csv_line("" if row.get(c) is None else row[c] for c in columns))


def append_line(path: Path, line: str) -> None:
    """Append, flush and fsync: once this returns, the line survives a crash."""
    with open(path, "a", encoding="utf-8", newline="") as handle:
        handle.write(line)
        handle.flush()
        os.fsync(handle.fileno())


def output_format(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return "csv"
    if suffix in (".jsonl", ".json"):
        return "jsonl"
    raise InputError(
        f"--out {path}: unknown output type {suffix or '(none)'!r}; use .csv, or "
        ".jsonl / .json for JSON lines."
    )


def _csv_line(fields: Iterable[Any]) -> str:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerow(fields)
    return buffer.getvalue()


def truncate_partial_line(path: Path, chunk: int = 65536) -> int:
    """Cut a last line that has no newline (a write killed midway); the bytes removed."""
    with open(path, "rb+") as handle:
        size = handle.seek(0, os.SEEK_END)
        position = size
        while position > 0:
            start = max(0, position - chunk)
            handle.seek(start)
            block = handle.read(position - start)
            newline = block.rfind(b"\n")
            if newline >= 0:
                keep = start + newline + 1
                break
            position = start
        else:
            keep = 0
        handle.truncate(keep)
    return size - keep


def read_table(path: str | os.PathLike) -> tuple[list[dict[str, Any]], list[str] | None]:
    """The complete rows of a sweep file (metrics as floats) and the CSV header (None for
    JSON lines); a torn last line or a line that does not parse is left out."""
    path = Path(path)
    rows: list[dict[str, Any]] = []
    if output_format(path) == "jsonl":
        with open(path, encoding="utf-8") as handle:
            for line in handle:
                if not line.endswith("\n"):
                    break
                try:
                    row = json.loads(line)
                except json.JSONDecodeError:
                    continue
                if isinstance(row, dict):
                    rows.append(row)
        return rows, None
    with open(path, encoding="utf-8", newline="") as handle:
        lines = [line for line in handle if line.endswith("\n")]
    reader = csv.reader(lines)
    header = next(reader, None)
    numeric = set(METRIC_COLUMNS) - {"top_loss"} | set(LOSS_COLUMNS)
    for fields in reader:
        if header is None or len(fields) != len(header):
            continue
        row: dict[str, Any] = dict(zip(header, fields, strict=True))
        for column in numeric & set(row):
            row[column] = float(row[column]) if row[column] != "" else None
        rows.append(row)
    return rows, header


def read_rows(path: str | os.PathLike) -> list[dict[str, Any]]:
    return read_table(path)[0]


# running a sweep --------------------------------------------------------------------------


@dataclass
class SweepRun:
    """What one `run_sweep` call did."""

    path: Path
    total: int  # points in the sweep
    skipped: int  # already in the file (resume)
    ran: int  # simulated now
    failed: int  # of those, recorded with an error
    wall_s: float
    ids: list[str] = field(default_factory=list)  # every point of the sweep, in order

    @property
    def points_per_s(self) -> float:
        return self.ran / self.wall_s if self.wall_s > 0 else 0.0


def run_sweep(
    spec: SweepSpec,
    out_path: str | os.PathLike,
    jobs: int | None = None,
    resume: bool = False,
    executor: str = "local",
    scheduler: Any = None,
    progress: Callable[[int, int], None] | None = None,
    limit: int | None = None,
) -> SweepRun:
    """Run every point not yet in `out_path` (all of them unless `resume`), appending one
    line per point as it finishes. `progress(done, total)` is called before the first
    point and after each; `limit` stops after that many new points."""
    if executor not in ("local", "dask"):
        raise InputError(f"--executor {executor!r}: use 'local' or 'dask'.")
    if jobs is None:
        jobs = os.cpu_count() or 1
    if jobs < 1:
        raise InputError(f"--jobs {jobs}: must be 1 or more.")
    started = time.perf_counter()
    all_points = points(spec)
    client, owned = dask_client(scheduler, jobs) if executor == "dask" else (None, False)
    out_path = Path(out_path)
    try:
        done_ids = start_output(out_path, spec.columns, resume)
        todo = [p for p in all_points if p.id not in done_ids]
        skipped = len(all_points) - len(todo)
        if limit is not None:
            todo = todo[: max(limit, 0)]
        if progress:
            progress(0, len(todo))
        tasks = tasks_for(spec, todo)
        if client is not None:
            results = dask_results(tasks, client)
        else:
            results = local_results(tasks, min(jobs, max(len(todo), 1)))
        failed = 0
        for done, (index, metrics) in enumerate(results, start=1):
            point = todo[index]
            append_row(out_path, spec.columns, {"id": point.id, **point.values, **metrics})
            failed += bool(metrics.get("error"))
            if progress:
                progress(done, len(todo))
    finally:
        if owned:
            client.close()
    return SweepRun(
        path=out_path,
        total=len(all_points),
        skipped=skipped,
        ran=len(todo),
        failed=failed,
        wall_s=time.perf_counter() - started,
        ids=[p.id for p in all_points],
    )


def axis_number(value: Any) -> float | None:
    """A varied value as a number (SI for quantities, '2MiB' -> 2097152.0), or None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if not isinstance(value, str) or _split_unit(value) is None:
        return None
    for parse in DIMENSIONS.values():
        try:
            return parse(value)
        except ValueError:
            continue
    return None
