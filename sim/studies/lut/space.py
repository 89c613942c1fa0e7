"""A search space as NAS papers write it: candidate blocks, and stages of searchable layers.

A space file (YAML) names its candidates and its stages:

    candidates:
      k3_e6: {block: mbconv, kernel: 3, expansion: 6}
      mb:    {block: mbconv, kernel: [3, 5, 7], expansion: [3, 6]}   # 6 candidates
      skip:  {block: skip}
    stages:
      - {resolution: 56, in: 24, out: 32, stride: 2, repeat: 4, choices: [mb, skip]}

A field given as a list expands into one candidate per combination, named with the
values (`mb_k5_e3`). A stage's first layer takes the stage's stride and input channels;
its other layers map `out` to `out` at stride 1. `choices` (all candidates if left out)
names candidates or expanded groups. A `skip` is an identity where the layer keeps its
shape; where it does not, it is a 1x1 conv projection when `project` is set (FBNet's
builder) and no candidate of that layer otherwise (ProxylessNAS's zero op).
"""

from __future__ import annotations

import itertools
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from hardware.chip import DTYPE_BYTES
from hardware.errors import InputError, explain_validation
from hardware.files import load_yaml_mapping, read_text
from hardware.quantity import Flag

SPACE_DIR = Path(__file__).resolve().parents[3] / "spaces"
BlockKind = Literal["conv", "dwsep", "mbconv", "shuffle", "transformer", "skip"]
EXPANDED = ("kernel", "expansion", "groups", "se", "dtype")  # fields a list may vary
SUFFIX = {"kernel": "k", "expansion": "e", "groups": "g", "se": "se", "dtype": ""}


class Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class Candidate(Model):
    """One block choice. `expansion` is the inverted residual's (or the transformer
    MLP's) width factor; `groups` applies to the 1x1 convs (and a plain conv); `dtype`
    defaults to the space's."""

    block: BlockKind
    kernel: int = Field(default=3, ge=1, le=15)
    expansion: float = Field(default=1, gt=0, le=16)
    groups: int = Field(default=1, ge=1, le=1024)
    se: Flag = False
    dtype: str | None = None
    heads: int = Field(default=4, ge=1, le=256)  # transformer only
    project: Flag = False  # skip only: a 1x1 conv where the shape changes


class Stage(Model):
    resolution: int = Field(ge=1, le=8192)  # input height and width
    in_channels: int = Field(alias="in", ge=1, le=1 << 16)
    out_channels: int = Field(alias="out", ge=1, le=1 << 16)
    stride: int = Field(default=1, ge=1, le=4)
    repeat: int = Field(default=1, ge=1, le=64)
    choices: list[str] | None = None


class SpaceFile(Model):
    name: str
    source: str = ""  # where the macro-architecture and blocks come from
    batch: int = Field(default=1, ge=1, le=4096)
    dtype: str = "fp16"
    candidates: dict[str, dict]
    stages: list[Stage] = Field(min_length=1, max_length=256)


@dataclass(frozen=True)
class Layer:
    """One searchable layer: its input [N, C, H, W], output channels, stride, choices."""

    index: int
    stage: int
    input_shape: tuple[int, int, int, int]
    out_channels: int
    stride: int
    candidates: dict[str, Candidate]

    @property
    def keeps_shape(self) -> bool:
        return self.stride == 1 and self.input_shape[1] == self.out_channels


@dataclass(frozen=True)
class Space:
    name: str
    source: str
    dtype: str
    layers: list[Layer]
    path: Path | None = None


def expand(name: str, fields: dict, source: str) -> dict[str, Candidate]:
    """A candidate whose fields hold lists: one candidate per combination."""
    varied = [k for k in EXPANDED if isinstance(fields.get(k), list)]
    found = {}
    for combo in itertools.product(*(fields[k] for k in varied)):
        chosen = {**fields, **dict(zip(varied, combo, strict=True))}
        suffix = "".join(f"_{SUFFIX[k]}{_short(v)}" for k, v in zip(varied, combo, strict=True))
        try:
            found[name + suffix] = Candidate(**chosen)
        except ValidationError as err:
            raise explain_validation(err, f"{source}: candidates.{name}", Candidate) from None
    return found


def _short(value: object) -> str:
    if isinstance(value, bool):
        return "" if value else "0"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def space_from(data: dict, source: str, path: Path | None = None) -> Space:
    """A Space from a parsed file, every name and field checked."""
    try:
        spec = SpaceFile(**data)
    except ValidationError as err:
        raise explain_validation(err, source, SpaceFile) from None
    groups = {name: expand(name, dict(fields), source) for name, fields in spec.candidates.items()}
    if not groups:
        raise InputError(f"{source}: candidates: give at least one candidate block.")
    owner: dict[str, str] = {}
    for group, expanded in groups.items():
        for name in expanded:
            if name in owner:
                raise InputError(
                    f"{source}: candidates: {owner[name]!r} and {group!r} both make a candidate "
                    f"named {name!r}; rename one of them."
                )
            owner[name] = group
    for candidate in (c for group in groups.values() for c in group.values()):
        dtype = candidate.dtype or spec.dtype
        if dtype not in DTYPE_BYTES:
            raise InputError(
                f"{source}: dtype {dtype!r} is unknown; use one of {list(DTYPE_BYTES)}."
            )
    layers: list[Layer] = []
    for number, stage in enumerate(spec.stages):
        chosen: dict[str, Candidate] = {}
        for choice in stage.choices if stage.choices is not None else list(groups):
            if choice not in groups:
                raise InputError(
                    f"{source}: stages[{number}].choices: {choice!r} is no candidate; "
                    f"the candidates are {', '.join(groups)}."
                )
            chosen.update(groups[choice])
        channels, size = stage.in_channels, stage.resolution
        for repeat in range(stage.repeat):
            stride = stage.stride if repeat == 0 else 1
            layer = Layer(
                len(layers), number, (spec.batch, channels, size, size), stage.out_channels,
                stride, {},
            )  # fmt: skip
            allowed = {
                name: c
                for name, c in chosen.items()
                if c.block != "skip" or layer.keeps_shape or c.project
            }
            layers.append(Layer(**{**layer.__dict__, "candidates": allowed}))
            channels, size = stage.out_channels, (size + stride - 1) // stride
    return Space(spec.name, spec.source, spec.dtype, layers, path)


def load_space(name_or_path: str | os.PathLike) -> Space:
    """A space file, or a built-in one by name (`topsim lut fbnet`: spaces/fbnet.yaml)."""
    path = Path(name_or_path)
    if not path.exists() and (SPACE_DIR / f"{name_or_path}.yaml").is_file():
        path = SPACE_DIR / f"{name_or_path}.yaml"
    if not path.is_file():
        known = ", ".join(sorted(p.stem for p in SPACE_DIR.glob("*.yaml")))
        raise InputError(f"space {str(name_or_path)!r}: no such file nor built-in space ({known}).")
    source = str(path)
    return space_from(load_yaml_mapping(read_text(path, "space"), source), source, path)
