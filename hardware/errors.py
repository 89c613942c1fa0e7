"""Bad input becomes one readable paragraph: the file, the field (dotted path), what is allowed.

`InputError` is the only exception topsim raises for user mistakes; the CLI prints its
message and exits with code 2. Pydantic's errors are rewritten here so users never see a
traceback or pydantic's internals, and unknown keys get a "did you mean".
"""

from __future__ import annotations

import difflib
import math
import os
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

MAX_INPUT_BYTES = 64 * 2**20


class InputError(ValueError):
    """A user-facing error: its message is a complete, one-paragraph explanation."""


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
        current = _inner_model(fields[part].annotation)
    fields = getattr(current, "model_fields", None)
    return sorted(fields) if fields else []


def _inner_model(annotation: Any) -> type[BaseModel] | None:
    """The pydantic model inside Optional[...], list[...], dict[str, ...] annotations."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in getattr(annotation, "__args__", ()) or ():
        found = _inner_model(arg)
        if found is not None:
            return found
    return None


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
    shown = ""
    if isinstance(value, str | int | float | bool) and not isinstance(value, dict):
        text = repr(value)
        shown = f" (got {text[:60]})"
        if isinstance(value, float) and not math.isfinite(value):
            shown = "" if f"got {value}" in message else f" (got {value})"
    if not loc:
        return f"{message}{shown}"
    return f"field {field!r}: {message}{shown}"


def explain_validation(
    err: ValidationError, source: str, model: type[BaseModel] | None
) -> InputError:
    """One paragraph for all the problems pydantic found (at most five listed)."""
    problems = [_problem(e, model) for e in err.errors()]
    more = f"; and {len(problems) - 5} more" if len(problems) > 5 else ""
    return InputError(f"{source}: " + "; ".join(problems[:5]) + more + ".")


def read_text(path: str | os.PathLike, what: str) -> str:
    """Read a user file with a size limit; missing or unreadable files become InputError."""
    p = Path(path)
    if not p.is_file():
        raise InputError(f"{p}: no such {what} file.")
    size = p.stat().st_size
    if size > MAX_INPUT_BYTES:
        raise InputError(
            f"{p}: the file is {size / 2**20:.0f} MiB; {what} files are limited "
            f"to {MAX_INPUT_BYTES // 2**20} MiB."
        )
    try:
        return p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{p}: cannot be read as UTF-8 text ({exc.__class__.__name__}).") from None


def load_yaml_mapping(text: str, source: str) -> dict:
    """Safe YAML (JSON is YAML too): no tags that construct objects, a mapping at the top."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise InputError(f"{source}: not valid YAML/JSON{where}: {problem}.") from None
    except RecursionError:
        raise InputError(f"{source}: nesting is too deep to be a topsim file.") from None
    if not isinstance(data, dict):
        kind = type(data).__name__ if data is not None else "empty"
        raise InputError(f"{source}: expected a mapping of keys at the top level, got {kind}.")
    return data
