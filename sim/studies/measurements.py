"""Measured kernel times, read from a CSV, an onnxruntime profile or a Chrome/PyTorch trace.

Each reader turns a file into `Measurement`s: one op (a topsim kind with its input shapes,
dtype and attributes) and the seconds it took. Repeats of the same op are one measurement,
their median time. What a reader cannot map to a topsim op it counts under `skipped`, by
reason, so a fit says what it left out instead of guessing.

CSV columns (a header row names them, in any order; `#` starts a comment line):

    kind     topsim op kind: linear, matmul, conv2d, relu, add, softmax, ... (`topsim run`'s)
    shapes   input shapes, tensors split by ';', dimensions by 'x': `64x256;256x512`
    dtype    fp32, fp16, bf16, int8, ...
    seconds  the measured time of one run of the op (a number, in seconds)
    attrs    optional: `stride=2;padding=3` (integers, or lists as `1,2`)
    name     optional: a label for the report
"""

from __future__ import annotations

import csv
import json
import statistics
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import ValidationError

from hardware.errors import InputError
from hardware.files import read_text
from workloads import GraphBuilder
from workloads.graph import Graph
from workloads.ops import KINDS, conv_out

CSV_COLUMNS = ("kind", "shapes", "dtype", "seconds")
MAX_ROWS = 100_000  # measurements in one file

# an element type as profilers spell it -> topsim dtype
DTYPES = {
    "float": "fp32",
    "float32": "fp32",
    "float16": "fp16",
    "half": "fp16",
    "c10::half": "fp16",
    "bfloat16": "bf16",
    "c10::bfloat16": "bf16",
    "double": "fp64",
    "float64": "fp64",
    "int8": "int8",
    "signed char": "int8",
}
for _name in ("fp64", "fp32", "tf32", "fp16", "bf16", "fp8", "int8", "int4"):
    DTYPES[_name] = _name

# ONNX op_type -> topsim kind (ops whose attributes the profile does not record but the
# shapes determine)
ONNX_KINDS = {
    "Conv": "conv2d",
    "FusedConv": "conv2d",  # onnxruntime's Conv with its activation fused in
    "MatMul": "matmul",
    "Gemm": "linear",
    "Relu": "relu",
    "Sigmoid": "sigmoid",
    "Tanh": "tanh",
    "Gelu": "gelu",
    "Add": "add",
    "Sub": "sub",
    "Mul": "mul",
    "Div": "div",
    "Softmax": "softmax",
    "LayerNormalization": "layernorm",
    "BatchNormalization": "batchnorm",
    "GlobalAveragePool": "global_avgpool",
    "Concat": "concat",
    "Transpose": "transpose",
}

# PyTorch aten op -> topsim kind; the outermost mapped op around a kernel names it
ATEN_KINDS = {
    "aten::linear": "linear",
    "aten::addmm": "linear",
    "aten::mm": "matmul",
    "aten::bmm": "matmul",
    "aten::matmul": "matmul",
    "aten::conv2d": "conv2d",
    "aten::relu": "relu",
    "aten::relu_": "relu",
    "aten::gelu": "gelu",
    "aten::silu": "silu",
    "aten::sigmoid": "sigmoid",
    "aten::tanh": "tanh",
    "aten::add": "add",
    "aten::add_": "add",
    "aten::mul": "mul",
    "aten::mul_": "mul",
    "aten::sub": "sub",
    "aten::div": "div",
    "aten::softmax": "softmax",
    "aten::_softmax": "softmax",
    "aten::layer_norm": "layernorm",
}


@dataclass(frozen=True)
class Measurement:
    """One op as measured: `seconds` is the median of `samples` runs."""

    kind: str
    shapes: tuple[tuple[int, ...], ...]
    dtype: str
    seconds: float
    attrs: tuple[tuple[str, object], ...] = ()
    label: str = ""
    samples: int = 1

    def graph(self) -> Graph:
        """The op alone, its inputs in device memory: what a microbenchmark times."""
        b = GraphBuilder(self.label or self.kind, dtype=self.dtype)
        inputs = [b.input(f"in{i}", shape) for i, shape in enumerate(self.shapes)]
        out = b.op(self.kind, inputs, name="op", **dict(self.attrs))
        return b.build(out if isinstance(out, list) else [out])


@dataclass
class Measurements:
    """What a file held: the measurements, and how many events were skipped, by reason."""

    path: str
    format: str
    rows: list[Measurement]
    skipped: Counter = field(default_factory=Counter)


def read_measurements(path: str | Path) -> Measurements:
    """A measurement file, its format told by its content (CSV, or JSON of either profile)."""
    path = Path(path)
    text = read_text(path, "measurements")  # a regular file of bounded size, UTF-8
    if not text.lstrip().startswith(("[", "{")):
        return read_csv(text, str(path))
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(f"--measurements {path}: not valid JSON ({exc}).") from None
    if isinstance(data, list):
        return read_onnxruntime_profile(data, str(path))
    if isinstance(data, dict) and isinstance(data.get("traceEvents"), list):
        return read_chrome_trace(data["traceEvents"], str(path))
    raise InputError(
        f"--measurements {path}: JSON that is neither an onnxruntime profile (a list of "
        "events) nor a Chrome trace (an object with 'traceEvents')."
    )


# --- CSV ---------------------------------------------------------------------------------------


def _shape(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(d) for d in text.strip().lower().split("x") if d.strip())
    except ValueError:
        raise ValueError(f"shapes are dimensions joined by x (64x256), got {text[:40]!r}") from None


def _attr_value(text: str) -> object:
    try:
        parts = [int(p) for p in text.split(",")]
    except ValueError:
        raise ValueError(f"attrs are key=int or key=int,int, got a value {text[:40]!r}") from None
    return parts[0] if len(parts) == 1 else parts


def read_csv(text: str, path: str = "<csv>") -> Measurements:
    """Rows of kind, shapes, dtype, seconds (and optional attrs, name); see the module doc."""
    lines = [
        line for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")
    ]
    reader = csv.DictReader(lines)
    missing = [c for c in CSV_COLUMNS if c not in (reader.fieldnames or [])]
    if missing:
        raise InputError(
            f"{path}: the header must name the columns {', '.join(CSV_COLUMNS)} (and optionally "
            f"attrs, name); missing {', '.join(missing)}."
        )
    rows = []
    number = 1
    try:
        for number, row in enumerate(reader, start=2):
            if len(rows) >= MAX_ROWS:
                raise InputError(f"{path}: more than {MAX_ROWS:,} measurements; split the file.")
            rows.append(_csv_row(row, number, path))
    except csv.Error as exc:
        raise InputError(f"{path} row {number + 1}: not valid CSV ({exc}).") from None
    return Measurements(path, "csv", _merged(rows))


def _csv_row(row: dict, number: int, path: str) -> Measurement:
    """One CSV row as a measurement; any problem names the row and the column."""
    where = f"{path} row {number}"
    if None in row or any(value is None for value in row.values()):
        raise InputError(
            f"{where}: not the header's number of columns; check this line's commas and quotes."
        )
    dtype = DTYPES.get(row["dtype"].strip().lower())
    if dtype is None:
        raise InputError(
            f"{where}: dtype {row['dtype'].strip()[:40]!r} is unknown; allowed: "
            f"{', '.join(sorted(DTYPES))}."
        )
    kind = row["kind"].strip()
    if kind not in KINDS:
        raise InputError(
            f"{where}: kind {kind[:40]!r} is not an op kind topsim knows; allowed: "
            f"{', '.join(sorted(KINDS))}."
        )
    try:
        seconds = float(row["seconds"])
        if not 1e-9 <= seconds <= 3600:
            raise ValueError(f"seconds must be from 1e-9 (1 ns) to 3600, got {row['seconds'][:40]}")
        attrs = tuple(
            (key.strip(), _attr_value(value))
            for key, _, value in (a.partition("=") for a in (row.get("attrs") or "").split(";"))
            if key.strip()
        )
        measurement = Measurement(
            kind=kind,
            shapes=tuple(_shape(s) for s in row["shapes"].split(";")),
            dtype=dtype,
            seconds=seconds,
            attrs=attrs,
            label=(row.get("name") or "").strip() or f"row {number}",
        )
        measurement.graph()
    except ValidationError as exc:
        raise InputError(f"{where}: {exc.errors()[0]['msg'][:300]}") from None
    except (InputError, ValueError, TypeError, AttributeError) as exc:
        message = " ".join(str(exc).split())
        raise InputError(f"{where}: {message[:300]}") from None
    return measurement


def _merged(rows: list[Measurement], fastest: bool = False) -> list[Measurement]:
    """Repeats of one op (kind, shapes, dtype, attrs) as one measurement: the median time,
    or with `fastest` the fastest (on a busy machine other processes only add time)."""
    groups: dict[tuple, list[Measurement]] = defaultdict(list)
    for row in rows:
        groups[(row.kind, row.shapes, row.dtype, row.attrs)].append(row)
    merged = []
    for same in groups.values():
        samples = sum(m.samples for m in same)
        times = [m.seconds for m in same]
        seconds = min(times) if fastest else statistics.median(times)
        merged.append(Measurement(**{**same[0].__dict__, "seconds": seconds, "samples": samples}))
    return merged


def _checked(measurement: Measurement, skipped: Counter, what: str) -> list[Measurement]:
    try:
        measurement.graph()
    except (InputError, ValueError, TypeError, KeyError) as exc:
        skipped[f"{what}: shapes do not make a topsim {measurement.kind} ({exc})"[:160]] += 1
        return []
    return [measurement]


# --- onnxruntime profile -----------------------------------------------------------------------


def _conv_attrs(shapes: list, out: tuple[int, ...]) -> tuple[tuple[str, object], ...]:
    """Stride and padding of a Conv from its input, weight and output shapes."""
    x, w = shapes[0], shapes[1]
    groups = x[1] // w[1] if w[1] else 1
    for stride in (1, 2, 3, 4):
        for pad in range(0, w[2] + 1):
            if conv_out(x[2], w[2], stride, pad, 1) == out[2]:
                attrs: tuple[tuple[str, object], ...] = (("stride", stride), ("padding", pad))
                return attrs + ((("groups", groups),) if groups != 1 else ())
    raise ValueError(f"no stride and padding give output {list(out)}")


def _concat_axis(shapes: list, out: tuple[int, ...]) -> int:
    """The axis along which `shapes` add up to `out` (the others equal)."""
    for axis in range(len(out)):
        if sum(s[axis] for s in shapes) == out[axis] and all(
            s[:axis] + s[axis + 1 :] == out[:axis] + out[axis + 1 :] for s in shapes
        ):
            return axis
    raise ValueError(f"no concat axis gives output {list(out)}")


def _perm(shape: tuple[int, ...], out: tuple[int, ...]) -> list[int]:
    """A permutation taking `shape` to `out` (equal sizes keep their order; a transpose's
    cost depends only on its bytes)."""
    free = list(range(len(shape)))
    perm = []
    for size in out:
        axis = next((a for a in free if shape[a] == size), None)
        if axis is None:
            raise ValueError(f"{list(out)} is not a permutation of {list(shape)}")
        free.remove(axis)
        perm.append(axis)
    return perm


def _onnx_op(op_type: str, shapes: list, out: tuple[int, ...] | None) -> tuple[str, list, tuple]:
    """The topsim kind, input shapes and attributes of a profiled node. Fused forms map to
    their main op: a Conv with a fourth input (onnxruntime's NCHWc Conv with the residual
    Sum fused in) and a FusedConv (activation fused in) to conv2d on the first three; a
    Gemm whose prepacked weight the profile leaves out gets it back from the shapes."""
    kind = ONNX_KINDS[op_type]
    attrs: tuple = ()
    if op_type in ("Conv", "FusedConv"):
        if out is None:
            raise ValueError("no output shape")
        shapes = shapes[:3]
        attrs = _conv_attrs(shapes, out)
    elif op_type == "Gemm" and len(shapes) == 2 and len(shapes[1]) == 1 and out is not None:
        shapes = [shapes[0], (shapes[0][-1], out[-1]), shapes[1]]  # x, W (prepacked), bias
    elif op_type == "Gemm" and shapes[0][-1] != shapes[1][0]:  # transB=1: W is [N, K]
        shapes = [shapes[0], tuple(reversed(shapes[1])), *shapes[2:]]
    elif op_type in ("BatchNormalization", "LayerNormalization"):
        shapes = shapes[:3]  # scale and bias; the running statistics fold into them
    elif op_type in ("Concat", "Transpose"):
        if out is None:
            raise ValueError("no output shape")
        if op_type == "Concat":
            attrs = (("axis", _concat_axis(shapes, out)),)
        else:
            attrs = (("perm", tuple(_perm(shapes[0], out))),)
    return kind, shapes, attrs


def read_onnxruntime_profile(
    events: list, path: str = "<profile>", fastest: bool = False
) -> Measurements:
    """Node events (`cat: Node`, `*_kernel_time`) with op_name, input shapes and dur (us);
    repeats of an op merged to their median time, or with `fastest` their fastest."""
    skipped: Counter = Counter()
    rows = []
    for event in events:
        if not isinstance(event, dict) or event.get("cat") != "Node":
            continue
        if not str(event.get("name", "")).endswith("_kernel_time"):
            continue  # fences and sessions carry no kernel time
        args = event.get("args") or {}
        op_type = str(args.get("op_name", "?"))
        if op_type not in ONNX_KINDS:
            skipped[f"{op_type}: no topsim kind for this ONNX op"] += 1
            continue
        try:
            inputs = [next(iter(t.items())) for t in args.get("input_type_shape", [])]
            outputs = [next(iter(t.values())) for t in args.get("output_type_shape", [])]
            dtype = DTYPES[inputs[0][0].lower()]
            kind, shapes, attrs = _onnx_op(
                op_type,
                [tuple(int(d) for d in s) for _, s in inputs],
                tuple(int(d) for d in outputs[0]) if outputs else None,
            )
            seconds = float(event["dur"]) * 1e-6
        except (KeyError, ValueError, TypeError, IndexError, StopIteration, AttributeError) as exc:
            skipped[f"{op_type}: incomplete event ({type(exc).__name__}: {exc})"[:160]] += 1
            continue
        if seconds <= 0:
            skipped[f"{op_type}: zero duration"] += 1
            continue
        label = str(event["name"]).removesuffix("_kernel_time")
        rows += _checked(
            Measurement(kind, tuple(shapes), dtype, seconds, attrs, label), skipped, op_type
        )
    return Measurements(path, "onnxruntime profile", _merged(rows, fastest), skipped)


# --- Chrome trace (PyTorch profiler) -----------------------------------------------------------


def _is_kernel(event: dict) -> bool:
    return event.get("ph") == "X" and str(event.get("cat", "")).lower() in ("kernel", "gpu_op")


def read_chrome_trace(events: list, path: str = "<trace>") -> Measurements:
    """Kernel events (`cat: kernel`, dur in us) joined to the aten op that launched them.

    A kernel's launch (a runtime event with the same `args.correlation`) lies inside its aten
    op's CPU event on the same thread; the outermost mapped op names it and gives the shapes
    (`Input Dims`, recorded with `record_shapes=True`). An op's time is the sum of the
    kernels it launched. Kernels no mapped op launched are skipped, by kernel name.
    """
    events = [e for e in events if isinstance(e, dict) and e.get("ph") == "X"]
    launches = {}
    cpu_ops: dict[tuple, list[dict]] = defaultdict(list)
    for event in events:
        cat = str(event.get("cat", "")).lower()
        args = event.get("args") or {}
        if cat in ("cuda_runtime", "runtime", "cuda_driver") and "correlation" in args:
            launches[args["correlation"]] = event
        elif cat in ("cpu_op", "operator"):
            cpu_ops[(event.get("pid"), event.get("tid"))].append(event)
    op_time: dict[int, float] = defaultdict(float)
    op_event: dict[int, dict] = {}
    skipped: Counter = Counter()
    for kernel in filter(_is_kernel, events):
        launch = launches.get((kernel.get("args") or {}).get("correlation"))
        owner = _outermost_mapped(launch, cpu_ops) if launch else None
        if owner is None:
            name = str(kernel.get("name", "?"))[:60]
            skipped[f"kernel {name}: no mapped aten op launched it"] += 1
            continue
        op_time[id(owner)] += float(kernel.get("dur", 0)) * 1e-6
        op_event[id(owner)] = owner
    rows = []
    for key, owner in op_event.items():
        name = owner["name"]
        args = owner.get("args") or {}
        raw = [
            tuple(int(d) for d in s) if isinstance(s, list) else ()
            for s in args.get("Input Dims", [])
        ]
        types = args.get("Input type", [])
        dtype = DTYPES.get(str(types[0]).lower()) if types else None
        if name == "aten::conv2d":
            skipped[f"{name}: stride and padding are not in the trace"] += 1
            continue
        dims = _aten_inputs(name, raw)
        if not dims or dtype is None:
            skipped[f"{name}: no input shapes or dtype (profile with record_shapes=True)"] += 1
            continue
        kind = ATEN_KINDS[name]
        measurement = Measurement(kind, tuple(dims), dtype, op_time[key], label=name)
        rows += _checked(measurement, skipped, name)
    return Measurements(path, "chrome trace", _merged(rows), skipped)


def _aten_inputs(name: str, raw: list[tuple[int, ...]]) -> list[tuple[int, ...]]:
    """An aten op's tensor inputs in topsim's order (scalars and empty shapes dropped)."""
    if not raw or not raw[0]:
        return []
    if name == "aten::addmm" and len(raw) >= 3:  # (bias, a, b)
        return [raw[1], raw[2], raw[0]]
    if name == "aten::linear" and len(raw) >= 2:  # weight is [out, in]
        return [raw[0], tuple(reversed(raw[1])), *[r for r in raw[2:3] if r]]
    if name in ("aten::softmax", "aten::_softmax"):
        return raw[:1]
    if name == "aten::layer_norm":  # (input, normalized_shape, weight, bias, eps, cudnn)
        return [raw[0], *[r for r in raw[2:4] if r]]
    return [r for r in raw if r]


def _outermost_mapped(launch: dict, cpu_ops: dict[tuple, list[dict]]) -> dict | None:
    start = float(launch.get("ts", 0))
    around = [
        op
        for op in cpu_ops.get((launch.get("pid"), launch.get("tid")), [])
        if op.get("name") in ATEN_KINDS
        and float(op.get("ts", 0)) <= start <= float(op.get("ts", 0)) + float(op.get("dur", 0))
    ]
    return min(around, key=lambda op: float(op.get("ts", 0)), default=None)
