"""Overriding a loaded Chip object (what each sweep point does) keeps the validated
sub-models it does not touch. It must accept and refuse exactly what overriding the
chip's whole dump and validating that does, with the same messages (and, for presets,
what overriding the preset by name does), and never change the chip it started from."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hardware import InputError, load_chip
from hardware.load import apply_overrides, validate_chip

CHIPS = ("toy", "h100-sxm")


def outcome(chip: Any, overrides: dict) -> tuple[str, Any]:
    try:
        return "chip", load_chip(chip, overrides=overrides).model_dump()
    except InputError as err:
        return "error", str(err)


def whole(base: Any, overrides: dict) -> tuple[str, Any]:
    """The reference: every field dumped, overridden, and validated as a whole."""
    try:
        data = apply_overrides(base.model_dump(), overrides, base.name)
        return "chip", validate_chip(data, base.name).model_dump()
    except InputError as err:
        return "error", str(err)


def same_as_whole(name: str, overrides: dict) -> None:
    base = load_chip(name)
    before = base.model_dump()
    assert outcome(base, overrides) == whole(base, overrides)
    assert base.model_dump() == before


def leaf_paths(data: Any, prefix: str = "") -> list[str]:
    if isinstance(data, dict) and data:
        return [p for k, v in data.items() for p in leaf_paths(v, f"{prefix}{k}.")]
    return [prefix[:-1]]


@pytest.mark.parametrize(
    "overrides",
    [
        {"memory.dram.bandwidth": "2 TB/s", "memory.l2.capacity": "8 MiB"},
        {"memory.dram.bandwidth": "0 GB/s"},
        {"memory.dram.bandwith": "1 TB/s"},
        {"memory.dram.bandwidth.value": 1},
        {"units.mxu.instances": 0},
        {"units.mxu.tile": [2048, 1, 2048]},
        {"units.mxu.rates.matrix.fp99": 8},
        {"units.cpu.peak": True},
        {"thermal.release": "90 C"},
        {"memory.l2": None},
        {"memory.l2": {"capacity": "1 MiB", "bandwidth": "1 TB/s"}, "memory.l2.capacity": "2 MiB"},
        {"memory.local.capacity": "64 KiB"},
        {"sources": 3, "name": "other"},
        {"dma.engines": 2},
        {"nothing.here": 1},
        {},
    ],
)
def test_overriding_the_object_is_overriding_the_whole_chip(overrides: dict) -> None:
    same_as_whole("toy", overrides)
    assert outcome(load_chip("toy"), overrides) == outcome("toy", overrides)


@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_any_override_of_the_object_matches_the_whole_chip(data: st.DataObject) -> None:
    name = data.draw(st.sampled_from(CHIPS))
    paths = leaf_paths(load_chip(name).model_dump())
    path = st.sampled_from(paths) | st.builds(
        lambda p, s: f"{p}.{s}", st.sampled_from(paths), st.sampled_from(["x", "capacity", "0"])
    )
    value = (
        st.none()
        | st.booleans()
        | st.integers(-5, 2**41)
        | st.floats(allow_nan=False)
        | st.sampled_from(["1 TB/s", "8 MiB", "fast", "2 GHz", "", "90 C"])
        | st.lists(st.integers(0, 4096), max_size=3)
    )
    overrides = data.draw(st.dictionaries(path, value, min_size=1, max_size=3))
    same_as_whole(name, overrides)


def test_a_model_given_as_a_value_is_a_value() -> None:
    """As in the raw mapping: a later path cannot reach into it (and nothing is changed)."""
    toy = load_chip("toy")
    overrides = {"memory": toy.memory, "memory.l2.capacity": "2 MiB"}
    same_as_whole("toy", overrides)
    assert outcome(toy, overrides)[0] == "error"
    assert outcome(toy, {"memory": toy.memory})[0] == "chip"
