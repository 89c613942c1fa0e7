"""The Python API refuses wrong arguments with `InputError`, never a raw Python error.

Each public function is called with values of the wrong kind (None, a list, a huge
integer, NaN, a directory, a string of junk) in each argument; the only acceptable
outcome is an `InputError` whose message names the argument, or (for a value that happens
to be acceptable) a normal return.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from pathlib import Path

import pytest

import hardware
import sim
import workloads
from hardware.errors import InputError
from sim.render.report import one_line, render_result
from sim.studies.explain import explain
from sim.studies.llm import generate

WRONG = {
    "none": None,
    "list": [1, 2],
    "dict": {"a": 1},
    "huge-int": 10**400,
    "nan": math.nan,
    "inf": math.inf,
    "negative": -3,
    "bool": True,
    "junk": "\x00junk",
    "surrogate": "\ud800",
}


@pytest.fixture(scope="module")
def graph():
    return workloads.build("seed-conv")


@pytest.fixture(scope="module")
def chip():
    return hardware.load_chip("toy")


@pytest.fixture(scope="module")
def result(graph, chip):
    return sim.simulate(graph, chip)


def calls(graph, chip, result, folder: Path, bad) -> dict[str, Callable[[], object]]:
    """Every public entry point with `bad` in one argument."""
    return {
        "load_chip(name)": lambda: hardware.load_chip(bad),
        "load_chip(overrides)": lambda: hardware.load_chip("toy", overrides=bad),
        "load_chip(override value)": lambda: hardware.load_chip(
            "toy", overrides={"memory.dram.bandwidth": bad}
        ),
        "load_chip(override key)": lambda: (
            hardware.load_chip("toy", overrides={bad: 1})
            if isinstance(bad, str | int | float | None)
            else hardware.load_chip("toy", overrides={str(bad): 1})
        ),
        "load_chip(override name)": lambda: hardware.load_chip("toy", overrides={"name": bad}),
        "parse_overrides": lambda: hardware.parse_overrides(bad),
        "build(name)": lambda: workloads.build(bad),
        "build(batch)": lambda: workloads.build("resnet50", batch=bad),
        "build(layers)": lambda: workloads.build("mlp", layers=bad),
        "build(width)": lambda: workloads.build("mlp", width=bad),
        "build(dtype)": lambda: workloads.build("mlp", dtype=bad),
        "load": lambda: workloads.load(bad),
        "save(graph)": lambda: workloads.save(bad, folder / "g.yaml"),
        "save(path)": lambda: workloads.save(graph, bad),
        "simulate(graph)": lambda: sim.simulate(bad, chip),
        "simulate(chip)": lambda: sim.simulate(graph, bad),
        "simulate(options)": lambda: sim.simulate(graph, chip, bad),
        "simulate(batches)": lambda: sim.simulate(graph, chip, batches=bad),
        "simulate(fusion)": lambda: sim.simulate(graph, chip, fusion=bad),
        "simulate(prefetch)": lambda: sim.simulate(graph, chip, prefetch=bad),
        "simulate(duration_s)": lambda: sim.simulate(graph, chip, duration_s=bad),
        "render_result(result)": lambda: render_result(bad),
        "render_result(top)": lambda: render_result(result, top=bad),
        "one_line": lambda: one_line(bad),
        "explain(graph)": lambda: explain(bad, chip),
        "explain(chip)": lambda: explain(graph, bad),
        "explain(top)": lambda: explain(graph, chip, top=bad),
        "generate(name)": lambda: generate(bad, chip, prompt=4, tokens=2, layers=1),
        "generate(chip)": lambda: generate("gpt2", bad, prompt=4, tokens=2, layers=1),
        "generate(tokens)": lambda: generate("gpt2", chip, prompt=4, tokens=bad, layers=1),
        "generate(batch)": lambda: generate("gpt2", chip, prompt=4, tokens=2, batch=bad, layers=1),
    }


NAMES = list(calls(None, None, None, Path("."), None))


@pytest.mark.parametrize("bad", list(WRONG.values()), ids=list(WRONG))
@pytest.mark.parametrize("name", NAMES)
def test_wrong_arguments_raise_input_error(name, bad, graph, chip, result, tmp_path) -> None:
    call = calls(graph, chip, result, tmp_path, bad)[name]
    try:
        call()
    except InputError as err:
        assert str(err).strip(), "an empty message"
        str(err).encode("utf-8")  # printable on any terminal: no lone surrogates
    except Exception as err:  # noqa: BLE001 - the point of the test
        pytest.fail(f"{name} with {bad!r:.40}: raw {type(err).__name__}: {err}")


def test_a_directory_is_refused_as_a_file(tmp_path: Path, graph) -> None:
    for call in (
        lambda: hardware.load_chip(tmp_path),
        lambda: workloads.load(tmp_path),
        lambda: workloads.save(graph, tmp_path),
    ):
        with pytest.raises(InputError, match="directory|graph file type"):
            call()


def test_a_huge_integer_override_is_too_large_to_be_physical() -> None:
    with pytest.raises(InputError, match="memory.dram.bandwidth.*too large"):
        hardware.load_chip("toy", overrides={"memory.dram.bandwidth": 10**400})


def test_builder_parameters_are_bounded_before_building() -> None:
    with pytest.raises(InputError, match="layers must be at most 1,000"):
        workloads.build("mlp", layers=10**7)


@pytest.mark.parametrize(
    ("field", "value", "words"),
    [
        ("launch.latency", "1e11 s", "at most 3600 s"),
        ("memory.dram.latency", "1e15 s", "at most 3600 s"),
        ("host_link.latency", "1e20 s", "at most 3600 s"),
        ("clock.nominal", "1e-300 Hz", "at least 1000 Hz"),
        ("thermal.period", "1e-300 s", "at least 1e-06 s"),
    ],
)
def test_fields_that_would_stall_the_simulation_are_refused(field, value, words) -> None:
    overrides = {field: value}
    if field.startswith("thermal"):
        overrides |= {"thermal.resistance": "0.1 K/W", "thermal.capacitance": "100 J/K"}
    with pytest.raises(InputError, match=words):
        hardware.load_chip("toy", overrides=overrides)


def test_more_than_4096_units_are_refused_before_validating_them(tmp_path, toy_spec) -> None:
    unit = next(iter(toy_spec["units"].values()))
    spec = dict(toy_spec, units={f"u{i}": dict(unit, peak=i == 0) for i in range(5000)})
    path = tmp_path / "many-units.json"
    path.write_text(json.dumps(spec))
    with pytest.raises(InputError, match="at most 4096 kinds of unit"):
        hardware.load_chip(path)
