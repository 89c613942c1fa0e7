"""Where a chip or a graph came from, so that a Result can say how to make it again.

Loaders record an `Origin` for the object they return (`hardware.load_chip`,
`workloads.build`, `workloads.load`); `simulate` reads it back with `origin_of`. The
record lives beside the object (keyed by identity, dropped when the object is), so the
`Chip` and `Graph` models stay plain data. An object nobody recorded (built by hand, or
changed with `model_copy`) has the origin `object`: its name only.
"""

from __future__ import annotations

import hashlib
import weakref
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict


class Origin(BaseModel):
    """A preset or builder by name with its parameters, or a file with its sha256."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Literal["preset", "builder", "file", "object"]
    name: str  # preset or builder name, file path, or the object's own name
    sha256: str | None = None  # of the file read (a preset's YAML file, too)
    # chip: the dotted-path overrides; builder or Hugging Face config: its parameters
    parameters: dict[str, Any] = {}


_ORIGINS: dict[int, tuple[weakref.ref, Origin]] = {}


def record(obj: Any, origin: Origin) -> Any:
    """Remember where `obj` came from; returns `obj`."""
    key = id(obj)
    _ORIGINS[key] = (weakref.ref(obj, lambda _ref: _ORIGINS.pop(key, None)), origin)
    return obj


def origin_of(obj: Any, name: str) -> Origin:
    """The recorded origin of `obj`, or `object` named `name` when none was recorded."""
    entry = _ORIGINS.get(id(obj))
    if entry is not None and entry[0]() is obj:
        return entry[1]
    return Origin(kind="object", name=name)


def file_sha256(path: str | Path) -> str:
    """The sha256 of a file's bytes, in hex."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()
