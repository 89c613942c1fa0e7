"""What a system is: N identical chips joined by an interconnect, and the host they sit in.

A `System` names its chip (a preset or a chip file, resolved relative to the system file)
and how many of them it has. The interconnect is described per chip port:

- `bandwidth` is what one chip can send in one direction at once (the line rate; NVLink's
  "900 GB/s bidirectional" is 450 GB/s here), `efficiency` the share of it that a
  collective library sustains (protocol overhead), `latency` the fixed cost of one
  transfer step (the alpha of the alpha-beta model).
- `topology: ring`: chip i has one link to chip i+1 (mod N), used in one direction. A
  transfer to a chip k places away crosses k links, store-and-forward.
- `topology: switch`: every chip has one port into a non-blocking switch; any transfer
  is one hop, holding the sender's egress and the receiver's ingress port.

The `host` is informational (what drives the chips); the simulation does not use it yet.
Systems load like chips: `load_system("hgx-h100")` or a YAML/JSON file; bad input is one
`InputError` paragraph.
"""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Literal

from pydantic import Field, ValidationError

from hardware.chip import Chip, Spec, Sustained
from hardware.errors import InputError, explain_validation
from hardware.files import load_yaml_mapping, path_kind, read_text, user_path
from hardware.load import PRESET_DIR, load_chip
from hardware.quantity import Bytes, Flag, Name, Seconds, Text

SYSTEM_DIR = Path(__file__).parent / "systems"
MAX_CHIPS = 4096  # chips in one system; each link is a simulated resource


class Interconnect(Sustained):
    """Chip-to-chip links: one port per chip, per direction (see the module docstring)."""

    topology: Literal["ring", "switch"]
    latency: Seconds = 0.0


class Host(Spec):
    """The host the chips sit in (informational: not simulated yet)."""

    description: Text = ""
    memory: Bytes | None = None


class System(Spec):
    """N chips of one spec, an interconnect, a host. `chip` is the loaded Chip."""

    name: Name
    description: Text = ""
    hypothetical: Flag = False
    chip: Chip
    chips: int = Field(ge=2, le=MAX_CHIPS)
    interconnect: Interconnect
    host: Host = Host()
    sources: dict[Text, Text] = {}

    def peak_ops(self, dtype: str, chips: int | None = None) -> float:
        """Ops/s of `chips` (default: all) chips together at their advertised peak."""
        return (chips or self.chips) * self.chip.peak_ops(dtype)


def list_systems() -> list[str]:
    """Names of the shipped system presets, sorted."""
    return sorted(p.stem for p in SYSTEM_DIR.glob("*.yaml"))


def load_system(name_or_path: str | Path) -> System:
    """A system preset name or a YAML/JSON system file, validated."""
    path = user_path(name_or_path, "system (a preset name or a system file)")
    text = str(path)
    if text in list_systems():
        file = SYSTEM_DIR / f"{text}.yaml"
        data = load_yaml_mapping(file.read_text(encoding="utf-8"), f"system preset {text!r}")
        source, folder = f"system preset {text!r}", None
    elif path.suffix.lower() in (".yaml", ".yml", ".json") or path_kind(path) is not None:
        data = load_yaml_mapping(read_text(path, "system"), str(path))
        source, folder = str(path), path.parent
    else:
        close = difflib.get_close_matches(text, list_systems(), n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise InputError(
            f"unknown system {text!r}: not a preset and not a file.{hint} "
            f"Presets: {', '.join(list_systems())}."
        )
    return validate_system(data, source, folder)


def validate_system(data: dict, source: str, folder: Path | None = None) -> System:
    """A System from its raw mapping; the `chip` entry is loaded as a chip preset or file
    (a relative path is read from `folder`, the system file's folder)."""
    chip_ref = data.get("chip")
    if isinstance(chip_ref, str) and chip_ref:
        is_preset = (PRESET_DIR / f"{chip_ref}.yaml").is_file()
        if folder is not None and not is_preset and not Path(chip_ref).is_absolute():
            chip_ref = str(folder / chip_ref)
        try:
            chip = load_chip(chip_ref)
        except InputError as err:
            raise InputError(f"{source}: field 'chip': {err}") from None
        data = {**data, "chip": chip}
    elif "chip" in data:
        raise InputError(
            f"{source}: field 'chip' must name a chip preset or a chip file, got {chip_ref!r}."
        )
    try:
        return System.model_validate(data)
    except ValidationError as err:
        raise explain_validation(err, source, System) from None
