"""Load chips from presets or files, and change them by dotted path.

`load_chip("h100-sxm", overrides={"memory.dram.bandwidth": "2 TB/s"})` reads the preset,
replaces the field, and validates the result as a whole, so an override can never produce
a chip that a file could not. Overriding a `Chip` object (each point of a sweep) opens
only the sub-models along the overridden paths into mappings and keeps the rest as the
validated objects they are, which pydantic takes as they are: the whole chip is still
validated (its model validators see every field), at a fraction of the cost.

A chip file may start from another chip: `base: h100-sxm` (a preset, or a file path
relative to the file) is read first and the file's fields are merged over it, mapping by
mapping (`units`, `memory`, `sources` ...), so the file states only what differs. A
derived chip must say whether it is `hypothetical` (it no longer is the chip its base's
sources measured). `chip_yaml` writes a chip back as YAML that loads to an equal chip.
"""

from __future__ import annotations

import copy
import difflib
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from hardware.chip import Chip
from hardware.errors import InputError, explain_validation
from hardware.files import load_yaml_mapping, path_kind, read_text, safe_yaml, user_path
from hardware.origin import Origin, file_sha256, record
from hardware.quantity import MAX_NAME_CHARS

PRESET_DIR = Path(__file__).parent / "presets"
MAX_BASE_DEPTH = 8  # a chain of `base:` files longer than this is a mistake


def list_chips() -> list[str]:
    """Names of the shipped presets, sorted."""
    return sorted(p.stem for p in PRESET_DIR.glob("*.yaml"))


def _preset_or_path(
    name_or_path: str | Path, relative_to: Path | None = None
) -> tuple[dict, str, Path]:
    """The raw mapping of a preset or chip file, the name it goes by, and the file read."""
    path = user_path(name_or_path, "chip (a preset name or a chip file)")
    text = str(path)
    if text in list_chips():
        preset = PRESET_DIR / f"{text}.yaml"
        data = load_yaml_mapping(preset.read_text(encoding="utf-8"), f"chip preset {text!r}")
        return data, text, preset
    if len(text) > 4 * MAX_NAME_CHARS:
        raise InputError(f"chip {text[:40]!r}...: a name or path of {len(text):,} characters.")
    if relative_to is not None and not path.is_absolute():
        path = relative_to / path
    if path.suffix.lower() in (".yaml", ".yml", ".json") or path_kind(path) is not None:
        return load_yaml_mapping(read_text(path, "chip"), str(path)), str(path), path
    close = difflib.get_close_matches(text, list_chips(), n=1)
    hint = f" Did you mean {close[0]!r}?" if close else ""
    raise InputError(
        f"unknown chip {text!r}: not a preset and not a file.{hint} "
        f"Presets: {', '.join(list_chips())}."
    )


def merged(base: dict, changes: dict) -> dict:
    """`base` with `changes` laid over it: mappings merge key by key, anything else
    (numbers, strings, lists) is replaced."""
    out = copy.deepcopy(base)
    for key, value in changes.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merged(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def resolve_base(data: dict, source: str, file: Path, chain: tuple[str, ...] = ()) -> dict:
    """A chip mapping with its `base:` (and the base's own base) merged in."""
    if "base" not in data:
        return data
    base_name = data["base"]
    if not isinstance(base_name, str) or not base_name:
        raise InputError(f"{source}: base must be a preset name or a chip file, got {base_name!r}.")
    if "hypothetical" not in data:
        raise InputError(
            f"{source}: a chip derived from base {base_name!r} must state 'hypothetical: true' "
            "(or 'hypothetical: false' if it describes a real chip)."
        )
    if len(chain) >= MAX_BASE_DEPTH or base_name in chain:
        raise InputError(
            f"{source}: base chips form a loop or a chain over {MAX_BASE_DEPTH}: "
            f"{' -> '.join((*chain, base_name))}."
        )
    folder = file.parent if file.parent != PRESET_DIR else None
    base_data, base_source, base_file = _preset_or_path(base_name, folder)
    base_data = resolve_base(base_data, base_source, base_file, (*chain, base_name))
    changes = {k: v for k, v in data.items() if k != "base"}
    return merged(base_data, changes)


OVERRIDE_USAGE = "KEY=VALUE with a dotted key, e.g. memory.dram.bandwidth=2TB/s"


def parse_overrides(pairs: Iterable[str]) -> dict[str, Any]:
    """['memory.dram.bandwidth=1TB/s', ...] -> {'memory.dram.bandwidth': '1TB/s', ...}."""
    if isinstance(pairs, str) or not isinstance(pairs, Iterable):
        raise InputError(f"--set: expected a list of {OVERRIDE_USAGE}, got {pairs!r:.60}.")
    overrides: dict[str, Any] = {}
    for pair in pairs:
        if not isinstance(pair, str):
            raise InputError(f"--set: expected {OVERRIDE_USAGE}, got {pair!r:.60}.")
        key, value = parse_assignment(pair)
        overrides[key] = value
    return overrides


def parse_assignment(text: str, usage: str = OVERRIDE_USAGE) -> tuple[str, Any]:
    """'key=64' -> ('key', 64): one `--set`, the value read by `parse_scalar`."""
    key, value = split_assignment(text, usage)
    return key, parse_scalar(value)


def split_assignment(
    text: str, usage: str, source: str = "--set", need_value: bool = False
) -> tuple[str, str]:
    """'key = value' -> ('key', 'value'), both stripped. No '=', no key (or, with
    `need_value`, no value) is the InputError "{source} {text!r}: expected {usage}."."""
    key, sep, value = text.partition("=")
    key, value = key.strip(), value.strip()
    if not sep or not key or (need_value and not value):
        raise InputError(f"{source} {text!r}: expected {usage}.")
    return key, value


def parse_scalar(value: str) -> Any:
    """YAML scalars and lists ('64', 'true', '[8, 8, 16]'); anything else stays a string."""
    try:
        parsed = safe_yaml(value)  # guarded: no alias bombs from a command line either
    except yaml.YAMLError:
        return value
    return parsed if isinstance(parsed, int | float | bool | list | dict) else value


def apply_overrides(
    data: dict | BaseModel, overrides: Mapping[str, Any], source: str = "override"
) -> dict:
    """A copy of the raw spec dict with each dotted path replaced (creating mappings).

    Given a validated model, the copy is its fields, with only the models and mappings
    along the overridden paths opened (copied into new mappings); everything else is
    shared with the model, never changed."""
    if not isinstance(overrides, Mapping):
        raise InputError(
            f"{source}: overrides must be a mapping of dotted paths to values, e.g. "
            f"{{'memory.dram.bandwidth': '2 TB/s'}}, got {type(overrides).__name__}."
        )
    if isinstance(data, BaseModel):
        owned: set[int] | None = set()  # ids of the mappings this copy made (its own)
        data = _opened(data, owned)
    else:
        data, owned = copy.deepcopy(data), None
    for path, value in overrides.items():
        if not isinstance(path, str) or not path or len(path) > MAX_NAME_CHARS:
            raise InputError(
                f"{source}: override key {path!r:.60} is not a dotted path such as "
                "'memory.dram.bandwidth'."
            )
        parts = path.split(".")
        node = data
        for depth, part in enumerate(parts[:-1]):
            child = node.get(part) if isinstance(node, dict) else None
            if child is None:
                child = node[part] = {}
            elif owned is not None:
                child = node[part] = _opened(child, owned)
            if not isinstance(child, dict):
                where = ".".join(parts[: depth + 1])
                raise InputError(
                    f"{source}: cannot set {path!r}: {where!r} is a value, not a group of fields."
                )
            node = child
        node[parts[-1]] = value
        if owned is not None and isinstance(value, BaseModel):
            owned.add(id(value))  # a model given as a value stays one, as in a raw dict
        data.setdefault("sources", {})
        if owned is not None:
            data["sources"] = _opened(data["sources"], owned)
        if isinstance(data["sources"], dict):
            data["sources"][path] = f"user override ({_short(value)})"
    return data


def _opened(node: Any, owned: set[int]) -> Any:
    """`node` as a mapping of this copy's own: a model's fields, or a copy of a mapping
    (once; `owned` holds what was copied); anything else as it is."""
    if id(node) in owned:
        return node
    if isinstance(node, BaseModel):
        node = {name: getattr(node, name) for name in type(node).model_fields}
    elif isinstance(node, dict):
        node = dict(node)
    else:
        return node
    owned.add(id(node))
    return node


def _short(value: Any) -> str:
    """An override as its source line says it (a huge value is cut, never converted)."""
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 128:
        return f"an integer of {value.bit_length()} bits"
    text = repr(value) if not isinstance(value, str) else value
    return text if len(text) <= 100 else text[:97] + "..."


def validate_chip(data: dict, source: str) -> Chip:
    try:
        return Chip.model_validate(data)
    except ValidationError as err:
        raise explain_validation(err, source, Chip) from None


def load_chip(name_or_path: str | Path | Chip, overrides: Mapping[str, Any] | None = None) -> Chip:
    """A preset name, a YAML/JSON file, or a Chip; overrides are dotted paths -> values."""
    if isinstance(name_or_path, Chip):
        data, source, file = name_or_path, name_or_path.name, None
    else:
        data, source, file = _preset_or_path(name_or_path)
        data = resolve_base(data, source, file)
    if overrides is not None or isinstance(data, Chip):
        data = apply_overrides(data, {} if overrides is None else overrides, source)
    chip = validate_chip(data, source)
    preset = file is not None and file.parent == PRESET_DIR and source in list_chips()
    origin = Origin(
        kind="object" if file is None else "preset" if preset else "file",
        name=source,
        sha256=None if file is None else file_sha256(file),
        parameters=dict(overrides or {}),
    )
    return record(chip, origin)


def chip_yaml(chip: Chip) -> str:
    """The whole chip as YAML (SI numbers, no base): `load_chip` reads it back equal."""
    return yaml.safe_dump(chip.model_dump(mode="json"), sort_keys=False, allow_unicode=True)
