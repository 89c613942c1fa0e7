"""Every shipped preset loads, cites a source for each number, and hits its advertised peak."""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from typing import Any

import pytest
import yaml

import hardware
from hardware.load import PRESET_DIR

PRESETS = hardware.list_chips()

# Advertised dense peaks (ops/s) from datasheets and papers; the preset must land within 1%.
ADVERTISED_PEAKS: dict[str, tuple[str, float]] = {
    "h100-sxm/bf16": ("bf16", 989.4e12),
    "h100-sxm/fp8": ("fp8", 1978.9e12),
    "a100-sxm/bf16": ("bf16", 312e12),
    "v100-sxm/fp16": ("fp16", 125e12),
    "tpu-v1/int8": ("int8", 92e12),
    "phone-npu/fp16": ("fp16", 1.92e12),
}
HYPOTHETICAL = {"toy", "edge-npu"}
DATACENTER = ["h100-sxm", "a100-sxm", "v100-sxm", "tpu-v1"]

# A number, optionally followed by a unit: "3.35 TB/s", "700 W", "0.9 pJ", "64".
_NUMBER_WITH_UNIT = re.compile(r"^\s*[-+]?(\d|\.\d)")


def raw_preset(name: str) -> dict:
    return yaml.safe_load((PRESET_DIR / f"{name}.yaml").read_text(encoding="utf-8"))


def is_numeric(value: Any) -> bool:
    """Numbers and unit strings count; booleans, names and op kinds do not."""
    if isinstance(value, bool):
        return False
    if isinstance(value, int | float):
        return True
    return isinstance(value, str) and bool(_NUMBER_WITH_UNIT.match(value))


def numeric_leaves(node: Any, path: str = "") -> Iterator[str]:
    """Dotted paths of every numeric leaf, list items included ('clock.dvfs.0.frequency')."""
    if isinstance(node, dict):
        for key, child in node.items():
            yield from numeric_leaves(child, f"{path}.{key}" if path else str(key))
    elif isinstance(node, list):
        for index, child in enumerate(node):
            yield from numeric_leaves(child, f"{path}.{index}")
    elif is_numeric(node):
        yield path


def covered_by(path: str, keys: list[str]) -> bool:
    """True if some sources key is the path itself or a dotted prefix of it."""
    return any(path == key or path.startswith(key + ".") for key in keys)


def resolves(data: Any, dotted: str) -> bool:
    node = data
    for part in dotted.split("."):
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            return False
    return True


def test_coverage_helper_matches_dotted_prefixes_only() -> None:
    assert covered_by("units.sm.rates.matrix.bf16", ["units.sm.rates"])
    assert covered_by("clock.dvfs.0.frequency", ["clock"])
    assert covered_by("memory.l2.capacity", ["memory.l2.capacity"])
    assert not covered_by("units.smx.instances", ["units.sm"])
    assert not covered_by("memory.dram.latency", ["memory.dram.bandwidth"])


def test_numeric_leaves_walks_lists_and_skips_non_numbers() -> None:
    data = {"a": {"b": [1, {"c": "2 GHz"}], "d": True, "e": "conv2d"}, "f": "700 W"}
    assert list(numeric_leaves(data)) == ["a.b.0", "a.b.1.c", "f"]


def test_the_shipped_presets_are_all_there() -> None:
    expected = {"h100-sxm", "a100-sxm", "v100-sxm", "tpu-v1", "phone-npu", "edge-npu", "toy"}
    assert expected <= set(PRESETS)


@pytest.mark.parametrize("name", PRESETS)
def test_preset_loads_with_a_positive_peak(name: str) -> None:
    chip = hardware.load_chip(name)
    assert chip.name == name
    assert chip.dtypes(), f"{name} has no dtype with a non-zero peak"
    assert all(chip.peak_ops(d) > 0 for d in chip.dtypes())


@pytest.mark.parametrize("name", PRESETS)
def test_every_number_has_a_source(name: str) -> None:
    data = raw_preset(name)
    sources = data.get("sources") or {}
    keys = list(sources)
    spec = {k: v for k, v in data.items() if k != "sources"}
    uncovered = [p for p in numeric_leaves(spec) if not covered_by(p, keys)]
    assert not uncovered, f"{name}: numbers without a `sources` entry: {uncovered}"


@pytest.mark.parametrize("name", PRESETS)
def test_sources_are_citations_for_fields_that_exist(name: str) -> None:
    data = raw_preset(name)
    for key, citation in (data.get("sources") or {}).items():
        assert resolves(data, key), f"{name}: sources key {key!r} names no field"
        assert isinstance(citation, str) and len(citation.strip()) > 10, (
            f"{name}: sources[{key!r}] is not a citation"
        )


@pytest.mark.parametrize("case", sorted(ADVERTISED_PEAKS))
def test_advertised_peak_within_one_percent(case: str) -> None:
    name = case.split("/")[0]
    dtype, advertised = ADVERTISED_PEAKS[case]
    peak = hardware.load_chip(name).peak_ops(dtype)
    assert peak == pytest.approx(advertised, rel=0.01)


@pytest.mark.parametrize("name", PRESETS)
def test_ridge_point_is_peak_over_dram_bandwidth(name: str) -> None:
    chip = hardware.load_chip(name)
    for dtype in chip.dtypes():
        expected = chip.peak_ops(dtype) / chip.memory.dram.bandwidth
        assert chip.ridge_point(dtype) == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize("name", PRESETS)
def test_only_made_up_chips_are_hypothetical(name: str) -> None:
    chip = hardware.load_chip(name)
    assert chip.hypothetical is (name in HYPOTHETICAL)
    if chip.hypothetical:
        assert "hypothetical" in chip.description.lower()


@pytest.mark.parametrize("name", DATACENTER)
def test_datacenter_chips_stay_below_throttle_at_their_power_limit(name: str) -> None:
    thermal = hardware.load_chip(name).thermal
    assert thermal is not None and thermal.power_cap is not None
    steady = thermal.ambient + thermal.power_cap * thermal.resistance
    assert steady < thermal.throttle


def test_phone_throttles_within_tens_of_seconds_at_full_npu_load() -> None:
    chip = hardware.load_chip("phone-npu")
    thermal = chip.thermal
    assert thermal is not None
    macs_per_s = chip.peak_ops("fp16") / 2
    power = thermal.static_power + thermal.energy_per_mac["fp16"] * macs_per_s
    rise = power * thermal.resistance
    headroom = thermal.throttle - thermal.ambient
    assert rise > headroom, "a sustained full load must exceed the thermal budget"
    tau = thermal.resistance * thermal.capacitance
    time_to_throttle = -tau * math.log(1 - headroom / rise)
    assert 10 < time_to_throttle < 120
