"""Chip files that start from another chip (`base:`): deep merge, sources, the rules."""

from __future__ import annotations

from pathlib import Path

import pytest

import hardware
from hardware.errors import InputError


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_derived_chip_merges_over_its_base(tmp_path: Path) -> None:
    chip = hardware.load_chip(
        write(
            tmp_path / "fast-toy.yaml",
            "base: toy\nname: fast-toy\nhypothetical: true\n"
            "memory: {dram: {bandwidth: 20 GB/s}}\n"
            "sources: {memory.dram.bandwidth: doubled for the test}\n",
        )
    )
    toy = hardware.load_chip("toy")
    assert chip.memory.dram.bandwidth == 2 * toy.memory.dram.bandwidth
    assert chip.units == toy.units and chip.memory.l2 == toy.memory.l2
    assert chip.ridge_point("fp16") == pytest.approx(toy.ridge_point("fp16") / 2)
    assert chip.sources["memory.dram.bandwidth"] == "doubled for the test"
    assert set(toy.sources) <= set(chip.sources)


def test_base_may_be_a_file_next_to_it(tmp_path: Path) -> None:
    write(tmp_path / "a.yaml", "base: toy\nname: a\nhypothetical: true\n")
    chip = hardware.load_chip(
        write(tmp_path / "b.yaml", "base: a.yaml\nname: b\nhypothetical: true\n")
    )
    assert chip.name == "b" and chip.peak_ops("fp16") == hardware.load_chip("toy").peak_ops("fp16")


def test_derived_chip_must_state_hypothetical(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="hypothetical"):
        hardware.load_chip(write(tmp_path / "c.yaml", "base: h100-sxm\nname: c\n"))


def test_base_loop_is_an_input_error(tmp_path: Path) -> None:
    write(tmp_path / "x.yaml", "base: y.yaml\nname: x\nhypothetical: true\n")
    write(tmp_path / "y.yaml", "base: x.yaml\nname: y\nhypothetical: true\n")
    with pytest.raises(InputError, match="loop"):
        hardware.load_chip(tmp_path / "x.yaml")
