"""A fuzzing harness: hostile chip files, graph files and command lines never crash topsim.

Valid inputs (the toy chip, a tiny graph, a `run` command line) are mutated: a field gets
a wrong type, a huge, tiny, negative or non-finite number, an odd string (markup, control
characters, a lone surrogate, a very long name) or deep nesting; a flag gets an odd value.
Every case must end with exit code 0 or 2 and no traceback. The "ci" profile runs a quick
sample in-process; `TOPSIM_HYPOTHESIS=slow` runs thousands, each in a subprocess limited
to CASE_SECONDS and CASE_MEMORY_BYTES (a hang or a memory blow-up is a failure too).
"""

from __future__ import annotations

import copy
import json
import os
import resource
import subprocess
import sys
from pathlib import Path

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.cli.test_corpus import REPO, topsim

SLOW = os.environ.get("TOPSIM_HYPOTHESIS") == "slow"
CASE_SECONDS = 60
CASE_MEMORY_BYTES = 2 * 2**30
FAST = settings(max_examples=25, suppress_health_check=[HealthCheck.function_scoped_fixture])

TINY_GRAPH = {
    "name": "tiny",
    "tensors": {
        "x": {"shape": [1, 3, 8, 8], "dtype": "fp16"},
        "w": {"shape": [4, 3, 3, 3], "dtype": "fp16", "const": True},
        "y": {"shape": [1, 4, 6, 6], "dtype": "fp16"},
        "z": {"shape": [1, 4, 6, 6], "dtype": "fp16"},
    },
    "inputs": ["x"],
    "ops": [
        {"name": "conv", "kind": "conv2d", "inputs": ["x", "w"], "outputs": ["y"]},
        {"name": "act", "kind": "relu", "inputs": ["y"], "outputs": ["z"]},
    ],
}

numbers = st.one_of(
    st.integers(min_value=-(10**30), max_value=10**30),
    st.sampled_from([0, -1, 10**39, 10**400, 2**64, 1e-300, 1e300, 5e-324]),
    st.floats(allow_nan=True, allow_infinity=True),
)
odd_strings = st.one_of(
    st.sampled_from(
        [
            "",
            "[bold]x[/]",
            "[/]",
            "$\\frac{}{}$",
            "\x00",
            "\x07bell",
            "\ud800",
            "2024-13-45",
            "1e400 B/s",
            "-1 GHz",
            "nan Hz",
            "1e-300 s",
            "1e20 s",
            "x" * 300,
            "9" * 5000,
        ]
    ),
    st.text(max_size=20),
)


def nested(depth: int) -> object:
    value: object = 1
    for _ in range(depth):
        value = [value]
    return value


hostile = st.one_of(
    numbers,
    odd_strings,
    st.none(),
    st.booleans(),
    st.lists(numbers, max_size=3),
    st.dictionaries(st.text(max_size=5), numbers, max_size=2),
    st.integers(min_value=5, max_value=150).map(nested),
)


def leaves(data: object, prefix: tuple = ()) -> list[tuple]:
    """Paths to every value of a nested dict/list (containers included)."""
    found = [prefix] if prefix else []
    if isinstance(data, dict):
        for key, value in data.items():
            found += leaves(value, (*prefix, key))
    elif isinstance(data, list):
        for index, value in enumerate(data):
            found += leaves(value, (*prefix, index))
    return found


def mutate(data: dict, path: tuple, value: object) -> dict:
    data = copy.deepcopy(data)
    node = data
    for part in path[:-1]:
        node = node[part]
    node[path[-1]] = value
    return data


@st.composite
def mutated(draw, base: dict) -> dict:
    data = base
    for _ in range(draw(st.integers(min_value=1, max_value=3))):
        path = draw(st.sampled_from(leaves(data)))
        data = mutate(data, path, draw(hostile))
    return data


def write(data: dict, folder: Path, name: str, as_json: bool) -> Path:
    path = folder / (name + (".json" if as_json else ".yaml"))
    if as_json:
        text = json.dumps(data, ensure_ascii=True)
    else:
        text = yaml.safe_dump(data, allow_unicode=False)
    path.write_text(text, encoding="utf-8", errors="surrogatepass")
    return path


def check(args: list[str]) -> None:
    """Exit 0 or 2 and no traceback; in the slow profile, in a bounded subprocess."""
    if not SLOW:
        result = topsim(*args)
        assert result.exception is None or isinstance(result.exception, SystemExit), (
            args,
            repr(result.exception),
        )
        assert result.exit_code in (0, 2), (args, result.exit_code, result.output[-2000:])
        assert "Traceback" not in result.output
        return

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (CASE_MEMORY_BYTES, CASE_MEMORY_BYTES))

    try:
        done = subprocess.run(
            [sys.executable, "-m", "sim.cli", *args],
            cwd=REPO,
            capture_output=True,
            timeout=CASE_SECONDS,
            preexec_fn=limit,
            env={**os.environ, "COLUMNS": "120", "NO_COLOR": "1"},
        )
    except subprocess.TimeoutExpired:
        raise AssertionError(f"{args}: still running after {CASE_SECONDS} s") from None
    err = done.stderr.decode("utf-8", "replace")
    assert done.returncode in (0, 2), (args, done.returncode, err[-2000:])
    assert "Traceback" not in err


@FAST
@given(data=st.data(), as_json=st.booleans())
def test_mutated_chip_files_are_run_or_refused(toy_spec, tmp_path_factory, data, as_json):
    chip = data.draw(mutated(toy_spec))
    path = write(chip, tmp_path_factory.mktemp("chip"), "chip", as_json)
    check(["run", "seed-conv", "--chip", str(path), "--quiet"])


@FAST
@given(data=st.data(), as_json=st.booleans())
def test_mutated_graph_files_are_run_or_refused(tmp_path_factory, data, as_json):
    graph = data.draw(mutated(TINY_GRAPH))
    path = write(graph, tmp_path_factory.mktemp("graph"), "graph", as_json)
    check(["run", str(path), "--chip", "toy", "--quiet"])


FLAGS = {
    "--batch": st.one_of(numbers.map(str), odd_strings),
    "--batches": st.one_of(numbers.map(str), odd_strings),
    "--duration": st.one_of(odd_strings, numbers.map(lambda n: f"{n} s")),
    "--prefetch": numbers.map(str),
    "--input-compression": numbers.map(str),
    "--fusion": odd_strings,
    "--top": numbers.map(str),
    "--set": st.one_of(
        st.tuples(
            st.sampled_from(
                [
                    "memory.dram.bandwidth",
                    "launch.latency",
                    "clock.nominal",
                    "name",
                    "units",
                    "memory.dram.latency",
                    "host_link.latency",
                    "launch.queue_depth",
                ]
            ),
            st.one_of(odd_strings, numbers.map(str)),
        ).map(lambda kv: f"{kv[0]}={kv[1]}"),
        odd_strings,
    ),
    "--json": st.sampled_from(["tests", "hardware/presets/toy.yaml", "/no/such/dir/x.json"]),
    "--trace": st.sampled_from(["tests", "/no/such/dir/t.json", "x" * 300 + ".json"]),
}


@FAST
@given(
    flags=st.lists(
        st.sampled_from(sorted(FLAGS)).flatmap(lambda f: FLAGS[f].map(lambda v: (f, v))),
        min_size=1,
        max_size=3,
    ),
    workload=st.sampled_from(["seed-conv", "mlp", "starved-conv", "[/]", "x.yaml"]),
)
def test_hostile_command_lines_exit_0_or_2(flags, workload):
    args = ["run", workload, "--chip", "toy", "--quiet"]
    for flag, value in flags:
        if "\x00" in value or "\ud800" in value:  # no OS passes these in argv
            continue
        args += [flag, value]
    check(args)
