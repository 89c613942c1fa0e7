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
    "width": (1, 1_048_576),
    "length": (1, 100_000),
    "size": (1, 2**30),
}
DTYPE_PARAMS = ("dtype", "weight_dtype", "kv_dtype")
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
    return {p.name: p.default for p in inspect.signature(BUILDERS[name]).parameters.values()}


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


def build(name: str, **params: object) -> Graph:
    """Build a named workload; unknown names or parameters raise InputError."""
    _check_name(name)
    allowed = builder_params(name)
    given = {k: v for k, v in params.items() if v is not None}
    for key in given:
        if key not in allowed:
            raise InputError(
                f"workload {name!r} has no parameter {key!r}; it takes "
                f"{', '.join(allowed) or 'no parameters'}."
            )
    for key, value in given.items():
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
    from workloads.zoo import basic, cnn, transformer

    for module in (basic, cnn, transformer):
        BUILDERS.update(module.BUILDERS)
