"""Walking a spec's pydantic models: which model a field's annotation holds.

Error explanations (the keys allowed where a typo was made) and sweeps (checking a dotted
chip path before any point runs) both follow field annotations down from `Chip`; this is
the one place that reads `Model | None`, `list[Model]` and `dict[str, Model]` apart.
"""

from __future__ import annotations

import types
import typing
from typing import Any

from pydantic import BaseModel

UNION_ORIGINS = (typing.Union, types.UnionType)


def inner_model(annotation: Any, containers: bool = True) -> type[BaseModel] | None:
    """The pydantic model of a `Model` or `Model | None` annotation; with `containers`, also
    the first one inside list[...], tuple[...] and dict[str, ...] at any depth."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    if not containers and typing.get_origin(annotation) not in UNION_ORIGINS:
        return None
    for arg in getattr(annotation, "__args__", ()) or ():
        found = inner_model(arg, containers)
        if found is not None:
            return found
    return None
