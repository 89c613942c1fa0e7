"""Named workload builders: `build("resnet50", batch=8)`.

A builder is a function with keyword parameters (batch, resolution, seq, dtype ...) that
returns a `Graph`. The built-in ones are declared as `BUILDERS` tables in the modules of
`workloads.zoo`, which this module reads on first use (the zoo never imports the registry,
so the two form no import cycle); `register` adds one more under a name. `build` checks
the parameters by name and turns mistakes into `InputError`s that list what the builder
accepts.
"""

from __future__ import annotations

import difflib
import functools
import inspect
import typing
from collections.abc import Callable

from pydantic import ValidationError

from hardware.chip import DTYPE_BYTES
from hardware.errors import InputError, explain_validation, shown
from hardware.origin import Origin, record
from workloads.graph import Graph
from workloads.ops import OpShapeError

MAX_BATCH = 1_000_000  # items in one batch; a stream of batches is the way past it

# Bounds of the builders' integer parameters: each far above any real network (a graph at
# the upper bound still builds in seconds), so a value beyond one is a typo.
PARAM_BOUNDS: dict[str, tuple[int, int]] = {
    "batch": (1, MAX_BATCH),
    "resolution": (1, 16_384),
    "seq": (1, 1_048_576),
    "prompt": (1, 1_048_576),
    "tokens": (1, 1_048_576),
    "kv": (0, 1_048_576),
    "layers": (1, 1_000),
    "max_positions": (1, 16_777_216),
    "width": (1, 1_048_576),
    "length": (1, 100_000),
    "size": (1, 2**30),
}
# Bounds of the builders' real-valued parameters (a width multiplier far outside the papers'
# range still builds, but 0.01 or 100 is a typo).
FLOAT_BOUNDS: dict[str, tuple[float, float]] = {"width_mult": (0.1, 4.0)}
DTYPE_PARAMS = ("dtype", "weight_dtype", "kv_dtype", "vector_dtype")
BUILDERS: dict[str, Callable[..., Graph]] = {}


def register(name: str) -> Callable[[Callable[..., Graph]], Callable[..., Graph]]:
    def add(fn: Callable[..., Graph]) -> Callable[..., Graph]:
        BUILDERS[name] = fn
        return fn

    return add


def list_workloads() -> list[str]:
    _load_all()
    return sorted(BUILDERS)


def builder_params(name: str) -> dict[str, object]:
    """Parameter names of a builder with their defaults; an unknown name is an InputError."""
    _check_name(name)
    return dict(_defaults(BUILDERS[name]))


@functools.cache
def _defaults(builder: Callable[..., Graph]) -> tuple[tuple[str, object], ...]:
    """(name, default) of each parameter of a builder function (read once per function:
    each point of a sweep asks)."""
    return tuple((p.name, p.default) for p in inspect.signature(builder).parameters.values())


def param_choices(name: str) -> dict[str, tuple]:
    """The parameters of a builder that take one of a few values (annotated `Literal`)."""
    hints = typing.get_type_hints(BUILDERS[name])
    return {
        key: typing.get_args(hint)
        for key, hint in hints.items()
        if typing.get_origin(hint) is typing.Literal
    }


def parse_params(name: str, pairs: list[str]) -> dict[str, object]:
    """`--param key=value` strings for builder `name`, each value read as an int, a float
    or a word (in that order); `build` then checks it against the builder's parameters."""
    params: dict[str, object] = {}
    for pair in pairs:
        key, sep, text = pair.partition("=")
        key, text = key.strip().replace("-", "_"), text.strip()
        if not sep or not key or not text:
            raise InputError(f"--param {pair!r}: expected KEY=VALUE, e.g. depth=101.")
        if key in params:
            raise InputError(f"--param {key}: given twice.")
        params[key] = _parsed(text)
    return params


def _parsed(text: str) -> object:
    for kind in (int, float):
        try:
            return kind(text.replace("_", ""))
        except ValueError:
            continue
    return text


def _check_name(name: str) -> None:
    _load_all()
    if not isinstance(name, str):
        raise InputError(
            f"workload: expected a builder name (a str), got {shown(name)}; built-in "
            f"workloads: {', '.join(sorted(BUILDERS))}."
        )
    if name not in BUILDERS:
        close = difflib.get_close_matches(name, BUILDERS, n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise InputError(
            f"unknown workload {name!r}.{hint} Built-in workloads: "
            f"{', '.join(sorted(BUILDERS))}; or give a .yaml/.json/.onnx file."
        )


def build(name: str, *positional: object, **params: object) -> Graph:
    """Build a named workload; unknown names or parameters raise InputError."""
    _check_name(name)
    if positional:
        raise InputError(
            f"workload {name!r}: give its parameters by name, e.g. "
            f"workloads.build({name!r}, batch=1); got {len(positional)} positional value(s)."
        )
    allowed = builder_params(name)
    given = {k: v for k, v in params.items() if v is not None}
    for key in given:
        if key not in allowed:
            raise InputError(
                f"workload {name!r} has no parameter {key!r}; it takes "
                f"{', '.join(allowed) or 'no parameters'}."
            )
    choices = param_choices(name)
    for key, value in given.items():
        if key in choices:
            # the choice itself is passed on: an int may stand for a float (scale 1 for
            # 1.0), not a float for an int (depth 50.0 would build a "resnet50.0")
            match = [
                c
                for c in choices[key]
                if value == c
                and not isinstance(value, bool)
                and (type(value) is type(c) or (isinstance(c, float) and isinstance(value, int)))
            ]
            if match:
                given[key] = match[0]
            else:
                raise InputError(
                    f"workload {name!r}: {key} must be one of "
                    f"{', '.join(str(c) for c in choices[key])}, got {shown(value)}."
                )
            continue
        _check_param(name, key, value)
    try:
        graph = BUILDERS[name](**given)
    except ValidationError as err:
        raise explain_validation(err, f"workload {name!r}", Graph) from None
    except OpShapeError as err:
        raise InputError(f"workload {name!r} with {given}: {err}.") from None
    defaults = {k: v for k, v in allowed.items() if v is not inspect.Parameter.empty}
    return record(graph, Origin(kind="builder", name=name, parameters={**defaults, **given}))


def _check_param(name: str, key: str, value: object) -> None:
    """One builder parameter against its bounds (PARAM_BOUNDS) or the dtypes."""
    if key in DTYPE_PARAMS:
        if not isinstance(value, str) or value not in DTYPE_BYTES:
            raise InputError(
                f"workload {name!r}: unknown {key} {shown(value)}; allowed: "
                f"{', '.join(DTYPE_BYTES)}."
            )
        return
    if key == "mode":
        if value not in ("prefill", "decode"):
            raise InputError(
                f"workload {name!r}: mode must be 'prefill' or 'decode', got {shown(value)}."
            )
        return
    if key in FLOAT_BOUNDS:
        low_f, high_f = FLOAT_BOUNDS[key]
        number = isinstance(value, int | float) and not isinstance(value, bool)
        if not number or not low_f <= value <= high_f:  # type: ignore[operator]
            raise InputError(
                f"workload {name!r}: {key} must be a number from {low_f} to {high_f}, "
                f"got {shown(value)}."
            )
        return
    low, high = PARAM_BOUNDS.get(key, (1, 2**31))
    what = "a positive integer" if low == 1 else f"an integer >= {low}"
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise InputError(f"workload {name!r}: {key} must be {what}, got {shown(value)}.")
    if value > high:
        hint = (
            "; for many inputs in a row, stream batches with --batches or --duration"
            if key == "batch"
            else ""
        )
        raise InputError(
            f"workload {name!r}: {key} must be at most {high:,}, got {shown(value)}{hint}."
        )


@functools.cache
def _load_all() -> None:
    """Add the zoo's builders to the table, once (imported here, lazily, to keep
    `import workloads` cheap)."""
    from workloads.zoo import basic, cnn, efficientnet, transformer, vision_transformer

    for module in (basic, cnn, efficientnet, transformer, vision_transformer):
        BUILDERS.update(module.BUILDERS)
