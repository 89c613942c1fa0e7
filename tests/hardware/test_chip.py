"""The Chip model on the toy preset: derived figures by hand, validation, overrides."""

from __future__ import annotations

import math

import pytest
import yaml
from pydantic import ValidationError

import hardware
from hardware import InputError, load_chip, parse_overrides
from hardware.chip import Clock, DvfsLevel
from hardware.load import validate_chip

# toy: 4 mxu instances x 64 fp16 MACs/cycle x 1 GHz x 2 ops/MAC; DRAM 10 GB/s
TOY_PEAK_FP16 = 2 * 4 * 64 * 1e9
TOY_DRAM = 10e9


def test_toy_peak_by_hand(toy: hardware.Chip) -> None:
    assert toy.peak_ops("fp16") == TOY_PEAK_FP16 == 512e9
    assert toy.peak_ops("int8") == 2 * 4 * 128 * 1e9
    # fp32 only on the vector class: best class rate 4 MACs/cycle
    assert toy.peak_ops("fp32") == 2 * 4 * 4 * 1e9
    assert toy.peak_ops("bf16") == 0.0


def test_toy_ridge_point_by_hand(toy: hardware.Chip) -> None:
    assert toy.ridge_point("fp16") == pytest.approx(51.2, rel=1e-15)
    assert toy.ridge_point("fp16") == pytest.approx(TOY_PEAK_FP16 / TOY_DRAM)


def test_host_cpu_is_not_in_the_peak(toy: hardware.Chip) -> None:
    assert toy.host_unit() == "cpu"
    assert toy.unit_peak_ops("cpu", "fp16") == 2 * 1 * 4 * 1e9
    assert toy.peak_ops("fp16") == toy.unit_peak_ops("mxu", "fp16")


def test_toy_dtypes_and_si_fields(toy: hardware.Chip) -> None:
    assert toy.dtypes() == ["fp32", "fp16", "int8"]
    assert toy.clock.nominal == 1e9
    assert toy.memory.dram.bandwidth == TOY_DRAM
    assert toy.memory.dram.capacity == 2**30
    assert toy.memory.dram.latency == pytest.approx(100e-9)
    assert toy.memory.onchip_bytes() == 2**20
    assert toy.launch.latency == pytest.approx(1e-6)
    assert toy.thermal is not None
    assert toy.thermal.energy_per_mac["int8"] == pytest.approx(0.5e-12)


def test_presets_are_listed_and_loadable() -> None:
    names = hardware.list_chips()
    assert "toy" in names
    assert names == sorted(names)
    for name in names:
        chip = load_chip(name)
        assert chip.dtypes(), name
        assert chip.sources, f"preset {name} must cite its sources"


def test_override_revalidates_and_changes_derived_figures() -> None:
    faster = load_chip("toy", overrides={"memory.dram.bandwidth": "20 GB/s"})
    assert faster.ridge_point("fp16") == pytest.approx(25.6)
    wider = load_chip("toy", overrides={"units.mxu.instances": 8})
    assert wider.peak_ops("fp16") == 2 * TOY_PEAK_FP16
    assert "user override" in wider.sources["units.mxu.instances"]
    assert load_chip("toy").peak_ops("fp16") == TOY_PEAK_FP16  # the preset is untouched


def test_override_of_a_loaded_chip(toy: hardware.Chip) -> None:
    bigger = load_chip(toy, overrides={"memory.l2.capacity": "8 MiB"})
    assert bigger.memory.onchip_bytes() == 8 * 2**20
    assert toy.memory.onchip_bytes() == 2**20


@pytest.mark.parametrize(
    ("overrides", "words"),
    [
        ({"memory.dram.bandwidth": "0 GB/s"}, ["memory.dram.bandwidth", "greater than zero"]),
        ({"units.mxu.instances": 0}, ["units.mxu.instances"]),
        ({"memory.dram.bandwith": "1 TB/s"}, ["did you mean 'bandwidth'"]),
        ({"memory.dram.bandwidth.value": 1}, ["is a value"]),
        ({"memory.dram.bandwidth": "fast"}, ["memory.dram.bandwidth", "bandwidth"]),
    ],
)
def test_bad_override_is_an_input_error(overrides: dict, words: list[str]) -> None:
    with pytest.raises(InputError) as info:
        load_chip("toy", overrides=overrides)
    for word in words:
        assert word in str(info.value)


def test_parse_overrides() -> None:
    parsed = parse_overrides(
        [
            "memory.dram.bandwidth=1TB/s",
            "units.mxu.instances=64",
            "units.mxu.tile=[8, 8, 16]",
            "launch.graph_launch=true",
        ]
    )
    assert parsed == {
        "memory.dram.bandwidth": "1TB/s",
        "units.mxu.instances": 64,
        "units.mxu.tile": [8, 8, 16],
        "launch.graph_launch": True,
    }
    with pytest.raises(InputError, match="KEY=VALUE"):
        parse_overrides(["memory.dram.bandwidth"])


def test_chip_is_frozen(toy: hardware.Chip) -> None:
    with pytest.raises(ValidationError):
        toy.name = "renamed"  # type: ignore[misc]
    with pytest.raises(ValidationError):
        toy.memory.dram.bandwidth = 1.0  # type: ignore[misc]


@pytest.mark.parametrize(
    ("path", "bad_key", "suggestion"),
    [
        ((), "memroy", "memory"),
        (("units", "mxu"), "instaces", "instances"),
        (("memory", "dram"), "bandwith", "bandwidth"),
    ],
)
def test_unknown_key_with_did_you_mean(
    toy_spec: dict, path: tuple, bad_key: str, suggestion: str
) -> None:
    node = toy_spec
    for part in path:
        node = node[part]
    node[bad_key] = node.pop(suggestion)
    with pytest.raises(InputError) as info:
        validate_chip(toy_spec, "spec.yaml")
    message = str(info.value)
    assert message.startswith("spec.yaml: ")
    assert f"did you mean {suggestion!r}" in message
    assert "\n" not in message


@pytest.mark.parametrize("bandwidth", [-1e9, "-10 GB/s", 0, "0 TB/s", math.nan, ".nan", math.inf])
def test_unphysical_dram_bandwidth_rejected(toy_spec: dict, bandwidth) -> None:
    toy_spec["memory"]["dram"]["bandwidth"] = bandwidth
    with pytest.raises(InputError, match=r"memory\.dram\.bandwidth"):
        validate_chip(toy_spec, "toy.yaml")


def test_dvfs_levels_fastest_first() -> None:
    with pytest.raises(ValidationError, match="fastest first"):
        Clock(
            nominal="1 GHz",
            dvfs=[{"frequency": "0.5 GHz", "voltage": 0.8}, {"frequency": "1 GHz", "voltage": 1.0}],
        )
    with pytest.raises(ValidationError, match="at least the nominal"):
        Clock(nominal="2 GHz", dvfs=[{"frequency": "1 GHz", "voltage": 1.0}])
    ladder = Clock(
        nominal="1 GHz",
        dvfs=[{"frequency": "1.2 GHz", "voltage": 1.1}, {"frequency": "1 GHz", "voltage": 1.0}],
    )
    assert [level.frequency for level in ladder.levels()] == [1.2e9, 1e9]


def test_no_dvfs_means_one_level_at_nominal() -> None:
    assert Clock(nominal="1 GHz").levels() == [DvfsLevel(frequency=1e9, voltage=1.0)]


def test_toy_dvfs_ladder(toy: hardware.Chip) -> None:
    assert [level.frequency for level in toy.clock.levels()] == [1e9, 0.5e9]


@pytest.mark.parametrize(
    ("overrides", "words"),
    [
        ({"thermal.release": "90 C"}, "release temperature"),
        ({"thermal.throttle": "20 C", "thermal.release": "20 C"}, "above ambient"),
        ({"units.cpu.peak": True}, "host unit cannot count"),
        ({"units.mxu.peak": False}, "at least one non-host unit"),
        ({"units.mxu.host": True}, "host"),
        ({"units.mxu.tile": [2048, 1, 2048]}, "larger than the on-chip memory"),
        ({"units.mxu.rates": {}}, "at least one"),
        ({"units.mxu.rates.matrix.fp99": 8}, "units.mxu.rates.matrix"),
    ],
)
def test_impossible_specs_rejected(overrides: dict, words: str) -> None:
    with pytest.raises(InputError, match=words):
        load_chip("toy", overrides=overrides)


def test_unknown_preset_suggests_a_close_name() -> None:
    with pytest.raises(InputError, match="Did you mean 'toy'"):
        load_chip("tyo")


def test_missing_chip_file(tmp_path) -> None:
    with pytest.raises(InputError, match="no such chip file"):
        load_chip(tmp_path / "absent.yaml")


def test_chip_file_round_trip(tmp_path, toy_spec: dict) -> None:
    path = tmp_path / "mine.yaml"
    path.write_text(yaml.safe_dump(toy_spec), encoding="utf-8")
    assert load_chip(path) == load_chip("toy")
