"""Chip specs: the `Chip` model, shipped presets and dotted-path overrides."""

from hardware.chip import DTYPE_BYTES, OP_CLASSES, Chip, Unit
from hardware.errors import InputError
from hardware.load import apply_overrides, list_chips, load_chip, parse_overrides

__all__ = [
    "DTYPE_BYTES",
    "OP_CLASSES",
    "Chip",
    "InputError",
    "Unit",
    "apply_overrides",
    "list_chips",
    "load_chip",
    "parse_overrides",
]
