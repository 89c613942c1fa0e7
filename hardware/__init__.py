"""Chip specs: the `Chip` model, shipped presets and dotted-path overrides.

The names below are imported on first use, so a command that only lists or parses does
not pay for what it never touches.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from hardware.version import __version__

if TYPE_CHECKING:
    from hardware.chip import DTYPE_BYTES, OP_CLASSES, Chip, Unit
    from hardware.errors import InputError
    from hardware.load import apply_overrides, list_chips, load_chip, parse_overrides

# public name -> the module that defines it (imported on first use, in __getattr__)
_LAZY = {
    "DTYPE_BYTES": "hardware.chip",
    "OP_CLASSES": "hardware.chip",
    "Chip": "hardware.chip",
    "Unit": "hardware.chip",
    "InputError": "hardware.errors",
    "apply_overrides": "hardware.load",
    "list_chips": "hardware.load",
    "load_chip": "hardware.load",
    "parse_overrides": "hardware.load",
}

__all__ = [
    "Chip",
    "DTYPE_BYTES",
    "InputError",
    "OP_CLASSES",
    "Unit",
    "__version__",
    "apply_overrides",
    "list_chips",
    "load_chip",
    "parse_overrides",
]


def __getattr__(name: str) -> Any:
    if name in ("DTYPE_BYTES", "OP_CLASSES", "Chip", "Unit"):
        from hardware import chip as module
    elif name in ("InputError",):
        from hardware import errors as module
    elif name in ("apply_overrides", "list_chips", "load_chip", "parse_overrides"):
        from hardware import load as module
    else:
        raise AttributeError(f"module 'hardware' has no attribute {name!r}")
    value = globals()[name] = getattr(module, name)
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
