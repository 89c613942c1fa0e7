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
- `topology: torus2d` with `dims: [X, Y]` (X x Y = chips): chip i sits at (i mod X,
  i div X); every row and every column closes into a ring (a TPU pod slice's ICI). The
  figures are those of one link, one direction.
- `algorithm` (default `ring`): how an all-reduce runs; `tree` (NCCL's double binary
  tree) and `nvls` (NVLink SHARP: the NVSwitch reduces) on a `switch` (`tree` also on a
  `hierarchical` system: the all-reduce between its nodes), costed in
  sim/system/collectives.py. `overlap_share` (default 0): the share of a chip's compute
  (SMs) a collective's kernels hold while they run beside compute, charged when
  collectives overlap compute (`--overlap-comm`, sim/system/overlap.py).
- `topology: hierarchical` with `node_chips` and `inter_node`: nodes of `node_chips`
  chips, each node a switch of the figures above (NVLink), and every chip with its own
  port (`inter_node`: bandwidth, efficiency, latency) into a non-blocking network
  between the nodes (InfiniBand).

The `host` is informational (what drives the chips); the simulation does not use it yet.
Systems load like chips: `load_system("hgx-h100")` or a YAML/JSON file; bad input is one
`InputError` paragraph. Overrides are dotted paths, applied by the chip loader's one rule
(`hardware.load.apply_overrides`): `load_system("hgx-h100", overrides={"interconnect.
bandwidth": "300 GB/s"})`; a path under `chip.` overrides the system's chip
(`chip.memory.dram.bandwidth`).
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, ValidationError, model_validator

from hardware.chip import Chip, Spec, Sustained
from hardware.errors import InputError, explain_validation
from hardware.files import load_yaml_mapping, path_kind, read_text, user_path
from hardware.load import PRESET_DIR, apply_overrides, load_chip
from hardware.quantity import Bytes, Flag, Name, Seconds, Text

SYSTEM_DIR = Path(__file__).parent / "systems"
ALGORITHMS = ("ring", "tree", "nvls")  # all-reduce algorithms (sim/system/collectives.py)
MAX_CHIPS = 4096  # chips in one system; each link is a simulated resource


class NetworkPort(Sustained):
    """Each chip's port into the network between nodes (per direction)."""

    latency: Seconds = 0.0


class Interconnect(Sustained):
    """Chip-to-chip links: one port per chip, per direction (see the module docstring)."""

    topology: Literal["ring", "switch", "torus2d", "hierarchical"]
    latency: Seconds = 0.0
    algorithm: Literal[ALGORITHMS] = "ring"
    overlap_share: float = Field(default=0.0, ge=0.0, lt=1.0)
    dims: tuple[int, int] | None = None  # torus2d: X x Y
    node_chips: int | None = Field(default=None, ge=1)  # hierarchical: chips per node
    inter_node: NetworkPort | None = None  # hierarchical: the network between nodes

    @model_validator(mode="after")
    def _topology_fields(self) -> Interconnect:
        if self.topology == "torus2d" and (self.dims is None or min(self.dims) < 1):
            raise ValueError("a torus2d needs dims: [X, Y], two positive integers")
        if self.topology == "hierarchical" and (self.node_chips is None or not self.inter_node):
            raise ValueError("a hierarchical interconnect needs node_chips and inter_node")
        tree_between_nodes = self.algorithm == "tree" and self.topology == "hierarchical"
        if self.algorithm != "ring" and self.topology != "switch" and not tree_between_nodes:
            raise ValueError(
                f"algorithm {self.algorithm} needs topology switch (a tree or an in-switch "
                f"reduction over one non-blocking switch; tree also between the nodes of a "
                f"hierarchical system); a {self.topology} runs ring"
            )
        if self.topology in ("ring", "switch") and (
            self.dims or self.node_chips or self.inter_node
        ):
            raise ValueError(
                "dims belongs to torus2d, node_chips and inter_node to hierarchical only"
            )
        return self


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

    @model_validator(mode="after")
    def _chips_fill_the_topology(self) -> System:
        link = self.interconnect
        if link.dims and link.dims[0] * link.dims[1] != self.chips:
            raise ValueError(
                f"interconnect.dims {link.dims[0]} x {link.dims[1]} must hold all "
                f"{self.chips} chips"
            )
        if link.node_chips and self.chips % link.node_chips:
            raise ValueError(
                f"interconnect.node_chips ({link.node_chips}) must divide chips ({self.chips})"
            )
        return self

    def peak_ops(self, dtype: str, chips: int | None = None) -> float:
        """Ops/s of `chips` (default: all) chips together at their advertised peak."""
        return (chips or self.chips) * self.chip.peak_ops(dtype)


def list_systems() -> list[str]:
    """Names of the shipped system presets, sorted."""
    return sorted(p.stem for p in SYSTEM_DIR.glob("*.yaml"))


def load_system(
    name_or_path: str | Path | System, overrides: Mapping[str, Any] | None = None
) -> System:
    """A system preset name, a YAML/JSON system file, or a System, validated; `overrides`
    are dotted paths -> values (`chip.` paths go to the system's chip)."""
    if isinstance(name_or_path, System):
        data = name_or_path.model_dump()
        data["chip"] = name_or_path.chip
        source, folder = f"system {name_or_path.name!r}", None
    else:
        data, source, folder = _system_data(name_or_path)
    if overrides:
        if not isinstance(overrides, Mapping):
            raise InputError(
                f"{source}: overrides must be a mapping of dotted paths to values, e.g. "
                f"{{'interconnect.bandwidth': '300 GB/s'}}, got {type(overrides).__name__}."
            )
        chip_changes = {
            str(k).partition(".")[2]: v for k, v in overrides.items() if str(k).startswith("chip.")
        }
        others = {k: v for k, v in overrides.items() if not str(k).startswith("chip.")}
        chip = data.pop("chip", None)
        if "chip" in others:  # the whole chip replaced (a preset or a chip file), then changed
            others = dict(others)
            chip = others.pop("chip")
        data = apply_overrides(data, others, source) if others else data
        if chip_changes:
            if not isinstance(chip, Chip | str) or not chip:
                raise InputError(f"{source}: cannot override chip fields: no chip named.")
            if isinstance(chip, str):
                chip = _chip_path(chip, folder)
            try:
                chip = load_chip(chip, overrides=chip_changes)
            except InputError as err:
                raise InputError(f"{source}: field 'chip': {err}") from None
        if chip is not None:
            data["chip"] = chip
    return validate_system(data, source, folder)


def _system_data(name_or_path: str | Path) -> tuple[dict, str, Path | None]:
    """The raw mapping of a preset or a system file, its source name and folder."""
    path = user_path(name_or_path, "system (a preset name or a system file)")
    text = str(path)
    if text in list_systems():
        file = SYSTEM_DIR / f"{text}.yaml"
        data = load_yaml_mapping(file.read_text(encoding="utf-8"), f"system preset {text!r}")
        return data, f"system preset {text!r}", None
    if path.suffix.lower() in (".yaml", ".yml", ".json") or path_kind(path) is not None:
        return load_yaml_mapping(read_text(path, "system"), str(path)), str(path), path.parent
    close = difflib.get_close_matches(text, list_systems(), n=1)
    hint = f" Did you mean {close[0]!r}?" if close else ""
    raise InputError(
        f"unknown system {text!r}: not a preset and not a file.{hint} "
        f"Presets: {', '.join(list_systems())}."
    )


def _chip_path(chip_ref: str, folder: Path | None) -> str:
    """A system file's chip: a preset name, or a path relative to the system file."""
    is_preset = path_kind(PRESET_DIR / f"{chip_ref}.yaml") == "file"  # OSError-safe
    if folder is not None and not is_preset and not Path(chip_ref).is_absolute():
        return str(folder / chip_ref)
    return chip_ref


def validate_system(data: dict, source: str, folder: Path | None = None) -> System:
    """A System from its raw mapping; the `chip` entry is loaded as a chip preset or file
    (a relative path is read from `folder`, the system file's folder)."""
    chip_ref = data.get("chip")
    if isinstance(chip_ref, Chip):
        pass  # already loaded (a System's own chip, or one with overrides)
    elif isinstance(chip_ref, str) and chip_ref:
        try:
            chip = load_chip(_chip_path(chip_ref, folder))
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
