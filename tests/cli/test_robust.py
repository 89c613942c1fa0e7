"""Red-team regressions too big or too stateful for the corpus: outputs that would
overwrite inputs, names full of markup, a huge graph, the simulation budget."""

from __future__ import annotations

import importlib.util
import json
import time
from pathlib import Path

import pytest
import yaml

import sim.engine.engine as engine
from hardware.errors import InputError
from tests.cli.test_corpus import assert_rejected, topsim
from workloads.graph import MAX_OPS

HAS_PLOT = importlib.util.find_spec("matplotlib") is not None
HAS_ONNX = importlib.util.find_spec("onnxruntime") is not None


def tiny_graph(op_name: str = "r", graph_name: str = "g") -> dict:
    return {
        "name": graph_name,
        "tensors": {"x": {"shape": [1, 64]}, "y": {"shape": [1, 64]}},
        "inputs": ["x"],
        "ops": [{"name": op_name, "kind": "relu", "inputs": ["x"], "outputs": ["y"]}],
    }


@pytest.mark.parametrize("flag", ["--json", "--trace"])
def test_an_output_equal_to_an_input_is_refused_and_the_input_kept(tmp_path, toy_spec, flag):
    graph = tmp_path / "g.json"
    graph.write_text(json.dumps(tiny_graph()))
    chip = tmp_path / "chip.yaml"
    chip.write_text(yaml.safe_dump(toy_spec))
    for target in (graph, chip):
        before = target.read_bytes()
        result = topsim("run", str(graph), "--chip", str(chip), flag, str(target))
        assert_rejected(result.exit_code, result.stdout, result.stderr, "is also an input")
        assert target.read_bytes() == before


def test_two_outputs_on_one_file_are_refused(tmp_path):
    out = tmp_path / "out.json"
    result = topsim("run", "seed-conv", "--chip", "toy", "--json", str(out), "--trace", str(out))
    assert_rejected(result.exit_code, result.stdout, result.stderr, "give two names")
    assert not out.exists()


def test_markup_and_mathtext_in_names_are_drawn_as_written(tmp_path, toy_spec):
    name = "[bold red]x[/] $\\frac{}{}$ [/]"
    graph = tmp_path / "g.json"
    graph.write_text(json.dumps(tiny_graph(op_name=name, graph_name=name)))
    spec = dict(toy_spec, name="[/]chip[link]")
    spec["units"] = {f"[/]{k}": v for k, v in toy_spec["units"].items()}
    chip = tmp_path / "chip.yaml"
    chip.write_text(yaml.safe_dump(spec))
    out = tmp_path / "r.json"
    result = topsim("run", str(graph), "--chip", str(chip), "--json", str(out))
    assert result.exit_code == 0, result.output
    assert "[bold red]x[/]" in result.stdout
    assert json.loads(out.read_text())["workload"] == name
    shown = topsim("chips", "show", str(chip))
    assert shown.exit_code == 0 and "[/]chip[link]" in shown.stdout
    listing = topsim("explain", str(graph), "--chip", str(chip))
    assert listing.exit_code == 0, listing.output
    if HAS_PLOT:
        for kind in ("roofline", "waterfall", "timeline"):
            png = tmp_path / f"{kind}.png"
            drawn = topsim("plot", kind, str(graph), "--chip", str(chip), "--out", str(png))
            assert drawn.exit_code == 0, drawn.output
            assert png.stat().st_size > 0


def test_a_graph_over_the_size_limit_is_refused_before_validation():
    ops = [{"name": "r", "kind": "relu", "inputs": ["x"], "outputs": ["y"]}] * (MAX_OPS + 1)
    start = time.perf_counter()
    with pytest.raises(InputError, match=f"at most {MAX_OPS:,}"):
        from workloads.files import graph_from_dict

        graph_from_dict({"name": "big", "tensors": {}, "ops": ops}, "big")
    assert time.perf_counter() - start < 1.0


def test_a_large_json_graph_validates_in_linear_time(tmp_path):
    n = 20_000
    tensors = {f"x{i}": {"shape": [1, 64]} for i in range(n + 1)}
    ops = [
        {"name": f"op{i}", "kind": "relu", "inputs": [f"x{i}"], "outputs": [f"x{i + 1}"]}
        for i in range(n)
    ]
    path = tmp_path / "big.json"
    path.write_text(json.dumps({"name": "big", "tensors": tensors, "inputs": ["x0"], "ops": ops}))
    start = time.perf_counter()
    result = topsim("validate", str(path))
    assert result.exit_code == 0, result.output
    # 20k ops took 15 s through YAML's pure-Python composer; JSON now takes about 1 s
    assert time.perf_counter() - start < 8.0


def test_a_run_past_the_event_budget_stops_with_a_clear_error(monkeypatch, toy):
    import sim
    import workloads

    monkeypatch.setattr(engine, "MAX_EVENTS", 50)
    with pytest.raises(InputError, match="simulation stopped after 50 events"):
        sim.simulate(workloads.build("mlp", layers=20), toy, fast_forward=False, batches=4)


def test_a_huge_integer_in_a_graph_file_is_refused(tmp_path):
    data = tiny_graph()
    data["tensors"]["x"]["shape"] = [int("9" * 50), 64]
    path = tmp_path / "g.json"
    path.write_text(json.dumps(data))
    result = topsim("validate", str(path))
    assert_rejected(result.exit_code, result.stdout, result.stderr, "limited to 40 digits")


@pytest.mark.skipif(not HAS_ONNX, reason="validate-model needs the onnx extra")
def test_validate_model_bounds_the_batch_before_measuring(tmp_path):
    start = time.perf_counter()
    result = topsim("validate-model", "--batch", "1024", "--chip", "toy")
    assert_rejected(result.exit_code, result.stdout, result.stderr, "--batch")
    assert time.perf_counter() - start < 5.0


def test_calibrate_checks_out_before_measuring(tmp_path: Path):
    start = time.perf_counter()
    result = topsim("calibrate", "--out", str(tmp_path / "missing" / "host.yaml"))
    assert_rejected(result.exit_code, result.stdout, result.stderr, "does not exist")
    assert time.perf_counter() - start < 5.0
