"""The plan cache: its key holds every chip field the plan reads, and a cached sweep
writes exactly what an uncached one does (the SimPy engine stays the reference)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import hardware
import workloads
from hardware.chip import Chip
from sim.options import SimOptions
from sim.pipeline import plan
from sim.simulate import simulate
from sim.studies.sweep import build_spec, read_rows, run_sweep
from sim.studies.sweep.plans import PlanCache, plan_key

PRESETS = ["toy", "h100-sxm", "tpu-v1", "phone-npu", "edge-npu"]
OPTIONS = [SimOptions(), SimOptions(batches=4, input_compression=2.0, fusion="greedy")]


def leaves(data: Any, path: tuple = ()) -> list[tuple]:
    """Paths to every number and string in a chip's dump."""
    if isinstance(data, dict):
        return [p for key, value in data.items() for p in leaves(value, (*path, key))]
    if isinstance(data, list | tuple):
        return [p for i, value in enumerate(data) for p in leaves(value, (*path, i))]
    return [path] if isinstance(data, int | float | str) and not isinstance(data, bool) else []


def changed(data: Any, path: tuple, change) -> Any:
    if not path:
        return change(data)
    if isinstance(data, dict):
        return {k: changed(v, path[1:], change) if k == path[0] else v for k, v in data.items()}
    items = [changed(v, path[1:], change) if i == path[0] else v for i, v in enumerate(data)]
    return type(data)(items)


def variants(chip: Chip, path: tuple) -> list[Chip]:
    """The chip with the field at `path` changed in each way the schema accepts."""
    changes = [
        lambda v: v * 1.5 if isinstance(v, float) else v + 1,
        lambda v: v * 0.5 if isinstance(v, float) else max(1, v - 1),
        lambda v: v * 4 if isinstance(v, float) else v * 2,
    ]
    if isinstance(leaf(chip.model_dump(), path), str):
        changes = [lambda v: v + "-x", lambda v: "scratchpad" if v == "cache" else "cache"]
    found = []
    for change in changes:
        try:
            found.append(Chip.model_validate(changed(chip.model_dump(), path, change)))
        except ValueError:
            continue
    return found


def leaf(data: Any, path: tuple) -> Any:
    for part in path:
        data = data[part]
    return data


@pytest.mark.parametrize("preset", PRESETS)
def test_a_chip_field_outside_the_key_leaves_the_plan_unchanged(preset: str) -> None:
    chip = hardware.load_chip(preset)
    graph = workloads.build("resnet50" if preset == "h100-sxm" else "mobilenet-v2")
    reference = {id(o): plan(graph, chip, o) for o in OPTIONS}
    outside = 0
    for path in leaves(chip.model_dump()):
        for other in variants(chip, path):
            if plan_key(other) != plan_key(chip):
                continue
            outside += 1
            for options in OPTIONS:
                assert plan(graph, other, options) == reference[id(options)], path
    assert outside > 10  # dram, launch, thermal, power fields at least


def test_the_key_ignores_bandwidth_launch_and_thermal_but_not_the_l2() -> None:
    chip = hardware.load_chip("h100-sxm")
    key = plan_key(chip)
    for path, value in [
        ("memory.dram.bandwidth", "1TB/s"),
        ("launch.latency", "9us"),
        ("clock.nominal", "1GHz"),
    ]:
        assert plan_key(hardware.load_chip(chip, overrides={path: value})) == key, path
    assert plan_key(hardware.load_chip(chip, overrides={"memory.l2.capacity": "1MiB"})) != key
    two_accelerators = hardware.load_chip("tpu-v1")
    slower = hardware.load_chip(two_accelerators, overrides={"clock.nominal": "300MHz"})
    assert plan_key(slower) != plan_key(two_accelerators)  # the clock ranks mxu against act


def test_cached_results_are_identical_to_uncached_ones() -> None:
    graph = workloads.build("resnet50", batch=1)
    base = hardware.load_chip("h100-sxm")
    cache = PlanCache()
    for bandwidth in ("1TB/s", "3.35TB/s"):
        for launch in ("2us", "8us"):
            for l2 in ("8MiB", "50MiB", "256MiB"):
                chip = hardware.load_chip(
                    base,
                    overrides={
                        "memory.dram.bandwidth": bandwidth,
                        "launch.latency": launch,
                        "memory.l2.capacity": l2,
                    },
                )
                cached = simulate(graph, chip, planner=cache.plan)
                assert cached.model_dump_json() == simulate(graph, chip).model_dump_json()
    assert (cache.misses, cache.hits) == (3, 9)  # one plan per L2 capacity


def test_a_cached_sweep_writes_the_rows_an_uncached_one_does(tmp_path: Path) -> None:
    spec = build_spec(
        "resnet50",
        "h100-sxm",
        [
            "memory.dram.bandwidth=1TB/s,2TB/s,4TB/s",
            "launch.latency=1us,5us",
            "memory.l2.capacity=16MiB,64MiB",
        ],
        ["batch=1"],
    )
    cached, uncached = tmp_path / "cached.jsonl", tmp_path / "uncached.jsonl"
    run_sweep(spec, cached, jobs=1)
    run_sweep(spec, uncached, jobs=1, cache_plans=False)
    assert cached.read_bytes() == uncached.read_bytes()
    assert len(read_rows(cached)) == 12
