"""Regressions from the third red-team round (benchmarks/redteam3.py runs the whole round):
one test per root cause, each fast."""

from __future__ import annotations

import json
import typing
from pathlib import Path

import pytest
import yaml
from pydantic import BaseModel

import hardware
import hardware.files as files
import workloads
import workloads.graph as graph_module
from hardware.chip import Chip
from hardware.errors import InputError
from hardware.quantity import check_flag
from hardware.system import System
from sim import simulate
from sim.options import SimOptions, options_from
from sim.runtimes import Runtime
from sim.studies.lut.space import Candidate
from tests.cli.test_corpus import assert_rejected, topsim
from workloads.graph import Graph

# an existing output is kept unless --resume or --overwrite ---------------------------------


def test_a_latency_table_is_never_replaced_without_overwrite(tmp_path: Path) -> None:
    from sim.studies.lut import load_space, write_lut

    out = tmp_path / "t.csv"
    space = load_space("equal-macs")
    write_lut(space, "toy", out, jobs=1, notice=lambda _: None)
    before = out.read_bytes()
    result = topsim("lut", "equal-macs", "--chip", "toy", "--out", str(out), "-j", "1")
    assert_rejected(result.exit_code, result.stdout, result.stderr, "--overwrite", str(out))
    assert "earlier run's rows" in result.stderr
    assert out.read_bytes() == before
    with pytest.raises(InputError, match="--resume"):
        write_lut(space, "toy", out, jobs=1, notice=lambda _: None)
    assert out.read_bytes() == before


def test_overwrite_replaces_a_latency_table(tmp_path: Path) -> None:
    from sim.studies.lut import load_space, read_lut, write_lut

    out = tmp_path / "t.csv"
    out.write_text("scribbles\n", encoding="utf-8")
    space = load_space("equal-macs")
    run = write_lut(space, "toy", out, jobs=1, overwrite=True, notice=lambda _: None)
    assert len(read_lut(out)) == len(run.rows) > 0


# yes/no fields take true or false only ----------------------------------------------------


@pytest.mark.parametrize(
    "setting",
    ['hypothetical="yes"', "hypothetical=1", "units.mxu.peak=0", 'launch.graph_launch="no"',
     "units.cpu.host=null"],
)  # fmt: skip
def test_a_chip_flag_that_is_not_true_or_false_is_refused(setting: str) -> None:
    result = topsim("run", "mlp", "--chip", "toy", "--set", setting, "-q")
    assert_rejected(result.exit_code, result.stdout, result.stderr, "must be true or false")


def test_yaml_booleans_still_count_as_flags() -> None:
    assert hardware.load_chip("toy", overrides={"hypothetical": False}).hypothetical is False
    assert check_flag(True) is True


def test_graph_flags_are_strict(tmp_path: Path) -> None:
    const = {"name": "g", "tensors": {"x": {"shape": [2], "const": "yes"}, "y": {"shape": [2]}},
             "ops": [{"name": "r", "kind": "relu", "inputs": ["x"], "outputs": ["y"]}]}  # fmt: skip
    causal = {
        "name": "g", "inputs": ["q", "k"],
        "tensors": {"q": {"shape": [1, 2, 4, 8]}, "k": {"shape": [1, 2, 4, 8]},
                    "o": {"shape": [1, 2, 4, 8]}},
        "ops": [{"name": "a", "kind": "attention", "inputs": ["q", "k", "k"], "outputs": ["o"],
                 "attrs": {"causal": "yes"}}],
    }  # fmt: skip
    accelerated = {
        "name": "g", "inputs": ["x"], "tensors": {"x": {"shape": [2]}, "y": {"shape": [2]}},
        "ops": [{"name": "c", "kind": "custom", "inputs": ["x"], "outputs": ["y"],
                 "attrs": {"out_shapes": [[2]], "accelerated": 0}}],
    }  # fmt: skip
    for data, says in ((const, "const"), (causal, "causal"), (accelerated, "accelerated")):
        path = tmp_path / "g.json"
        path.write_text(json.dumps(data))
        with pytest.raises(InputError, match=f"{says}.*must be true or false"):
            workloads.load(path)


def test_option_and_system_flags_are_strict(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="true or false"):
        options_from(None, {"overlap": "no"})
    system = tmp_path / "s.yaml"
    system.write_text(yaml.safe_dump({
        "name": "s", "chip": "toy", "chips": 4, "hypothetical": "yes",
        "interconnect": {"topology": "ring", "bandwidth": "1 GB/s"},
    }))  # fmt: skip
    result = topsim("system", "llama-2-7b", "--system", str(system))
    assert_rejected(result.exit_code, result.stdout, result.stderr, "true or false")


def _bool_fields(model: type[BaseModel], seen: set) -> list[str]:
    """Dotted names of the fields of `model` (and of the models inside it) typed bool
    without the Flag check."""
    if model in seen:
        return []
    seen.add(model)
    found = []
    for name, info in model.model_fields.items():
        for inner in _types(info.annotation):
            if inner is bool and not any(
                getattr(m, "func", None) is check_flag for m in _metadata(info, model, name)
            ):
                found.append(f"{model.__name__}.{name}")
            if isinstance(inner, type) and issubclass(inner, BaseModel):
                found += _bool_fields(inner, seen)
    return found


def _types(annotation: object) -> list:
    args = typing.get_args(annotation)
    if typing.get_origin(annotation) is typing.Annotated:
        return _types(args[0])
    return [t for a in args for t in _types(a)] if args else [annotation]


def _metadata(info, model: type[BaseModel], name: str) -> list:
    """The validators on a field, including those inside `Flag | None`."""
    found = list(info.metadata)
    hints = typing.get_type_hints(model, include_extras=True)
    for arg in typing.get_args(hints.get(name)) or ():
        found += list(getattr(arg, "__metadata__", ()))
    return found


@pytest.mark.parametrize("model", [Chip, System, Graph, SimOptions, Candidate, Runtime])
def test_every_yes_no_field_is_a_flag(model: type[BaseModel]) -> None:
    assert _bool_fields(model, set()) == []


# the power cap --------------------------------------------------------------------------


def test_a_power_cap_at_or_below_static_power_is_refused() -> None:
    for cap in ("1 nW", "1 W"):  # the toy chip's static power is 1 W
        with pytest.raises(InputError, match="power_cap .* must be above static_power"):
            hardware.load_chip("toy", overrides={"thermal.power_cap": cap})


def test_a_cap_slows_compute_bound_work_and_only_saves_energy_on_memory_bound_work() -> None:
    """Under a 1.05 W cap every toy kernel runs at the 500 MHz, 0.8 V level: the
    memory-bound MLP (batch 1) keeps its latency, set by DRAM, and its dynamic energy
    falls by 0.8^2; the compute-bound one (batch 256) takes twice as long."""
    free = hardware.load_chip("toy")
    capped = hardware.load_chip("toy", overrides={"thermal.power_cap": "1.05 W"})
    memory_bound = workloads.build("mlp")
    before, after = simulate(memory_bound, free), simulate(memory_bound, capped)
    assert after.latency_s == pytest.approx(before.latency_s)
    static = 1.0 * before.latency_s
    dynamic = before.power.energy_j - static
    assert after.power.energy_j == pytest.approx(static + 0.64 * dynamic)
    compute_bound = workloads.build("mlp", batch=256)
    slow = simulate(compute_bound, capped).latency_s
    assert slow > 1.9 * simulate(compute_bound, free).latency_s


def test_time_per_clock_adds_up_to_the_run() -> None:
    capped = hardware.load_chip("toy", overrides={"thermal.power_cap": "1.05 W"})
    result = simulate(workloads.build("mlp"), capped)
    assert sum(result.power.seconds_per_clock.values()) == pytest.approx(result.latency_s)


# graph files are bounded before any op is validated ---------------------------------------


def chain(ops: int) -> dict:
    return {
        "name": "chain", "inputs": ["t0"],
        "tensors": {f"t{i}": {"shape": [1, 8]} for i in range(ops + 1)},
        "ops": [{"name": f"o{i}", "kind": "relu", "inputs": [f"t{i}"], "outputs": [f"t{i + 1}"]}
                for i in range(ops)],
    }  # fmt: skip


def test_a_graph_file_over_the_file_limit_is_refused_naming_it(tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(graph_module, "MAX_FILE_OPS", 5)
    path = tmp_path / "g.json"
    path.write_text(json.dumps(chain(6)))
    result = topsim("run", str(path), "--chip", "toy")
    assert_rejected(result.exit_code, result.stdout, result.stderr, "at most 5", str(path))
    path.write_text(json.dumps(chain(5)))
    assert len(workloads.load(path).ops) == 5


def test_the_python_api_still_takes_graphs_past_the_file_limit(monkeypatch) -> None:
    monkeypatch.setattr(graph_module, "MAX_FILE_OPS", 5)
    assert len(Graph.model_validate(chain(6)).ops) == 6


def test_an_onnx_model_over_the_file_limit_is_refused(tmp_path, monkeypatch) -> None:
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper

    monkeypatch.setattr(graph_module, "MAX_FILE_OPS", 3)
    nodes = [helper.make_node("Relu", [f"t{i}"], [f"t{i + 1}"]) for i in range(4)]
    value = helper.make_tensor_value_info("t0", TensorProto.FLOAT, [1, 8])
    model = helper.make_model(helper.make_graph(nodes, "m", [value], []))
    path = tmp_path / "m.onnx"
    onnx.save(model, str(path))
    with pytest.raises(InputError, match="at most 3"):
        workloads.load(path)


def test_a_yaml_document_of_too_many_values_is_refused(tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(files, "MAX_YAML_NODES", 100)
    path = tmp_path / "g.yaml"
    path.write_text(yaml.safe_dump(chain(10)))
    with pytest.raises(InputError, match="save a graph that large as JSON"):
        workloads.load(path)


def test_the_json_depth_walk_counts_levels_as_before() -> None:
    assert [files._depth(d) for d in (1, {}, [], {"a": 1}, [[1]], {"a": [{"b": {}}]})] == [
        1, 1, 1, 2, 3, 4,
    ]  # fmt: skip


# bounds and strictness found by the round ---------------------------------------------------


def test_a_bandwidth_below_a_kilobyte_per_second_is_refused() -> None:
    """1e-300 B/s made the engine step its thermal loop for minutes."""
    for path in ("memory.dram.bandwidth", "host_link.bandwidth", "memory.l2.bandwidth"):
        result = topsim("run", "mlp", "--chip", "toy", "--set", f"{path}=1e-300", "-q")
        assert_rejected(result.exit_code, result.stdout, result.stderr, "at least 1000 B/s")
    assert hardware.load_chip("toy", overrides={"memory.dram.bandwidth": "1 kB/s"})


def test_a_boolean_is_not_a_tensor_dimension(tmp_path: Path) -> None:
    data = chain(1)
    data["tensors"]["t0"]["shape"] = [True, 8]
    path = tmp_path / "g.json"
    path.write_text(json.dumps(data))
    with pytest.raises(InputError, match=r"shape\[0\]"):
        workloads.load(path)


def test_an_onnx_dim_or_batch_beyond_2_50_is_refused(tmp_path: Path) -> None:
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper

    value = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["b", "seq"])
    node = helper.make_node("Relu", ["x"], ["y"])
    path = tmp_path / "m.onnx"
    onnx.save(helper.make_model(helper.make_graph([node], "m", [value], [])), str(path))
    result = topsim("run", str(path), "--chip", "toy", "--dim", f"seq={10**23}")
    assert_rejected(result.exit_code, result.stdout, result.stderr, "2^50")
    with pytest.raises(InputError, match="batch must be a size"):
        workloads.load(path, batch=2**60)


def test_an_output_named_by_a_hard_link_gets_a_file_of_its_own(tmp_path: Path) -> None:
    notes = tmp_path / "notes.txt"
    notes.write_text("keep me\n", encoding="utf-8")
    (tmp_path / "t.json").hardlink_to(notes)
    other = tmp_path / "other.txt"
    other.write_text("mine too\n", encoding="utf-8")
    (tmp_path / "k.csv").symlink_to(other)
    result = topsim("run", "mlp", "--chip", "toy", "--trace", str(tmp_path / "t.json"),
                    "--kernels", str(tmp_path / "k.csv"), "-q")  # fmt: skip
    assert result.exit_code == 0, result.output
    assert notes.read_text(encoding="utf-8") == "keep me\n"
    assert other.read_text(encoding="utf-8") == "mine too\n"
    assert json.loads((tmp_path / "t.json").read_text())["traceEvents"]
    assert not (tmp_path / "k.csv").is_symlink()


def test_storage_dtypes_apply_to_a_prefill_run() -> None:
    result = topsim("run", "llama-2-7b", "--chip", "toy", "--kv-dtype", "int3", "-q")
    assert_rejected(result.exit_code, result.stdout, result.stderr, "kv_dtype 'int3'")
    result = topsim("run", "mlp", "--chip", "toy", "--weight-dtype", "int4", "-q")
    assert_rejected(result.exit_code, result.stdout, result.stderr, "weight_dtype")


def test_resume_never_cuts_a_file_that_is_not_a_sweep_output(tmp_path: Path) -> None:
    """A file of one line without a newline looked like a torn last line and was cut
    to nothing before the file was checked."""
    out = tmp_path / "b.csv"
    out.write_bytes(b"\x00\xff\xfe" * 1000)
    result = topsim("sweep", "mlp", "--chip", "toy", "--vary", "batch=1,2", "--out", str(out),
                    "--resume", "-j", "1")  # fmt: skip
    assert result.exit_code == 2, result.output
    assert "not a sweep output" in result.stderr and "Traceback" not in result.output
    assert out.read_bytes() == b"\x00\xff\xfe" * 1000


@pytest.mark.parametrize("name", ["", "   "])
def test_an_empty_name_is_refused(name: str) -> None:
    result = topsim("run", "mlp", "--chip", "toy", "--set", f"name={name}", "-q")
    assert_rejected(result.exit_code, result.stdout, result.stderr, "must not be empty")


def test_an_onnx_node_topsim_cannot_map_is_one_paragraph(tmp_path: Path) -> None:
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper

    value = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])
    node = helper.make_node("Relu", ["x"], [""])
    path = tmp_path / "m.onnx"
    onnx.save(helper.make_model(helper.make_graph([node], "m", [value], [])), str(path))
    result = topsim("run", str(path), "--chip", "toy", "-q")
    assert_rejected(result.exit_code, result.stdout, result.stderr, "must not be empty")
