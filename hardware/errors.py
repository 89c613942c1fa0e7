"""Bad input becomes one readable paragraph: the file, the field (dotted path), what is allowed.

`InputError` is the only exception topsim raises for user mistakes; the CLI prints its
message and exits with code 2. Pydantic's errors are rewritten here so users never see a
traceback or pydantic's internals, and unknown keys get a "did you mean".
"""

from __future__ import annotations

import difflib
import math
from typing import Any

from pydantic import BaseModel, ValidationError

from hardware.schema import inner_model


class InputError(ValueError):
    """A user-facing error: its message is a complete, one-paragraph explanation.

    A lone surrogate quoted from the input (a name or a path no encoder can write) is
    kept as its escape, so the message prints on any terminal and in any JSON."""

    def __init__(self, message: str = "") -> None:
        super().__init__(str(message).encode("utf-8", "backslashreplace").decode("utf-8"))


def shown(value: Any, limit: int = 60) -> str:
    """`repr(value)` cut to `limit` characters; an integer of hundreds of digits is
    described, not converted (Python refuses past 4300 digits, and nobody reads them)."""
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 200:
        return f"an integer of {value.bit_length()} bits"
    try:
        text = repr(value)
    except Exception:  # a user object whose repr fails is still reported
        text = f"<{type(value).__name__}>"
    text = text.encode("utf-8", "backslashreplace").decode("utf-8")
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _allowed_keys(model: type[BaseModel] | None, loc: tuple) -> list[str]:
    """Field names of the model reached by following `loc` (best effort)."""
    current: Any = model
    for part in loc:
        if current is None:
            return []
        if isinstance(part, int):
            continue
        fields = getattr(current, "model_fields", None)
        if fields is None:
            return []
        if part not in fields:
            return sorted(fields)
        current = inner_model(fields[part].annotation)
    fields = getattr(current, "model_fields", None)
    return sorted(fields) if fields else []


def _dotted(loc: tuple) -> str:
    parts: list[str] = []
    for part in loc:
        if isinstance(part, int):
            parts.append(f"[{part}]")
        elif parts:
            parts.append(f".{part}")
        else:
            parts.append(str(part))
    return "".join(parts) or "(top level)"


def _problem(error: dict, model: type[BaseModel] | None) -> str:
    loc = tuple(p for p in error["loc"] if not (isinstance(p, str) and p.startswith("function-")))
    if len(loc) >= 2 and loc[-1] == "[key]":  # a bad key of a mapping, not a bad value
        message = str(error.get("msg", "is invalid"))
        return f"field {_dotted(loc[:-2])!r}: key {loc[-2]!r} is not allowed: {message}"
    field = _dotted(loc)
    if error["type"] == "extra_forbidden":
        allowed = _allowed_keys(model, loc[:-1])
        name = str(loc[-1]) if loc else ""
        close = difflib.get_close_matches(name, allowed, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        listing = f"; allowed keys here: {', '.join(allowed)}" if allowed else ""
        return f"unknown key {field!r}{hint}{listing}"
    if error["type"] == "missing":
        return f"field {field!r} is required but missing"
    message = str(error.get("msg", "is invalid"))
    for prefix in ("Value error, ", "Assertion failed, "):
        message = message.removeprefix(prefix)
    value = error.get("input")
    got = ""
    if isinstance(value, str | int | float | bool) and not isinstance(value, dict):
        text = shown(value)
        got = "" if text in message else f" (got {text})"
        if isinstance(value, float) and not math.isfinite(value):
            got = "" if f"got {value}" in message else f" (got {value})"
    if not loc:
        return f"{message}{got}"
    return f"field {field!r}: {message}{got}"


def explain_validation(
    err: ValidationError, source: str, model: type[BaseModel] | None
) -> InputError:
    """One paragraph for all the problems pydantic found (at most five listed)."""
    problems = [_problem(e, model) for e in err.errors()]
    more = f"; and {len(problems) - 5} more" if len(problems) > 5 else ""
    return InputError(f"{source}: " + "; ".join(problems[:5]) + more + ".")


def expect(value: Any, kind: type | tuple[type, ...], what: str, hint: str = "") -> Any:
    """`value` if it is a `kind`, else the InputError a Python caller should see (not the
    AttributeError the first use of a wrong object would raise deep inside)."""
    if isinstance(value, kind) and not (isinstance(value, bool) and kind is not bool):
        return value
    names = kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
    raise InputError(
        f"{what}: expected a {names}{hint}, got {type(value).__name__} {shown(value)}."
    )


def expect_int(value: Any, what: str, low: int, high: int) -> int:
    """An integer argument from `low` to `high` (a bool, a float or None is refused)."""
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise InputError(f"{what} must be an integer from {low:,} to {high:,}, got {shown(value)}.")
    return value
