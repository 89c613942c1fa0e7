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
from hardware.errors import InputError, explain_validation
from workloads.graph import Graph
from workloads.ops import OpShapeError

MAX_BATCH = 1_000_000  # items in one batch; a stream of batches is the way past it
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
    for key in ("batch", "resolution", "seq", "prompt", "tokens", "layers"):
        if key in given and (not isinstance(given[key], int) or given[key] < 1):
            raise InputError(
                f"workload {name!r}: {key} must be a positive integer, got {given[key]!r}."
            )
    if isinstance(given.get("batch"), int) and given["batch"] > MAX_BATCH:
        raise InputError(
            f"workload {name!r}: batch must be at most {MAX_BATCH:,}, got {given['batch']:,}; "
            "for many inputs in a row, stream batches with --batches or --duration."
        )
    if "dtype" in given and given["dtype"] not in DTYPE_BYTES:
        raise InputError(
            f"workload {name!r}: unknown dtype {given['dtype']!r}; allowed: "
            f"{', '.join(DTYPE_BYTES)}."
        )
    try:
        return BUILDERS[name](**given)
    except ValidationError as err:
        raise explain_validation(err, f"workload {name!r}", Graph) from None
    except OpShapeError as err:
        raise InputError(f"workload {name!r} with {given}: {err}.") from None


@functools.cache
def _load_all() -> None:
    """Add the zoo's builders to the table, once (imported here, lazily, to keep
    `import workloads` cheap)."""
    from workloads.zoo import basic, cnn, transformer

    for module in (basic, cnn, transformer):
        BUILDERS.update(module.BUILDERS)
