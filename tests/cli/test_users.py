"""What users bring from notebooks and pandas: typed sweep tables, honest output types,
the per-kernel CSV, symbolic ONNX dims, and a Result that prints short in a notebook."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from typer.testing import CliRunner

import hardware
import sim
import workloads
from hardware.errors import InputError
from sim.cli.main import app
from sim.studies.sweep import build_spec, read_rows, run_sweep

pd = pytest.importorskip("pandas")
onnx = pytest.importorskip("onnx")


def invoke(*args: str):
    return CliRunner().invoke(app, list(args), catch_exceptions=True)


# sweeps -----------------------------------------------------------------------------------


def test_sweep_quantity_columns_are_si_numbers_with_the_unit_in_the_header(tmp_path: Path):
    out = tmp_path / "bw.csv"
    spec = build_spec("seed-conv", "toy", ["memory.dram.bandwidth=1GB/s,10GB/s", "batch=1,2"])
    run_sweep(spec, out, jobs=1)
    frame = pd.read_csv(out)
    assert list(frame.columns[:3]) == ["id", "memory.dram.bandwidth [B/s]", "batch"]
    assert frame["memory.dram.bandwidth [B/s]"].dtype.kind == "f"
    assert sorted(set(frame["memory.dram.bandwidth [B/s]"])) == [1e9, 10e9]
    assert frame["batch"].dtype.kind == "i" and frame["latency_s"].dtype.kind == "f"
    rows = read_rows(out)  # our own reader agrees
    assert {r["memory.dram.bandwidth [B/s]"] for r in rows} == {1e9, 10e9}


def test_sweep_jsonl_reads_as_json_lines(tmp_path: Path):
    out = tmp_path / "bw.jsonl"
    result = invoke(
        "sweep", "seed-conv", "--chip", "toy", "--vary", "memory.l2.capacity=64KiB,1MiB",
        "--out", str(out), "--jobs", "1",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    frame = pd.read_json(out, lines=True)
    assert sorted(frame["memory.l2.capacity [B]"]) == [65536, 1048576]


@pytest.mark.parametrize(
    ("name", "expected"),
    [("x.json", "JSON Lines"), ("x.json", "x.jsonl")],
)
def test_sweep_refuses_json_with_the_conversion(tmp_path, name, expected):
    args = ["sweep", "seed-conv", "--chip", "toy", "--vary", "batch=1,2"]
    result = invoke(*args, "--out", str(tmp_path / name))
    assert result.exit_code == 2
    assert expected in " ".join(result.output.split())
    assert not (tmp_path / name).exists()
    with pytest.raises(InputError, match="--out"):
        run_sweep(build_spec("seed-conv", "toy", ["batch=1,2"]), tmp_path / name)


def test_a_sweep_with_failed_points_exits_1_and_says_how_many(tmp_path: Path):
    out = tmp_path / "s.csv"
    result = invoke(
        "sweep", "seed-conv", "--chip", "toy", "--vary", "memory.dram.bandwidth=0GB/s,10GB/s",
        "--out", str(out), "--jobs", "1",
    )  # fmt: skip
    assert result.exit_code == 1, result.output
    assert "1 of 2 point(s) failed" in " ".join(result.output.split())


def test_sweep_plots_in_engineering_units_from_zero_with_heatmap_values(tmp_path: Path):
    plt = pytest.importorskip("matplotlib.pyplot")
    from sim.render.plots import SweepFigure, sweep_plot

    drawn = {}
    real_close = plt.close
    plt.close = lambda fig: drawn.setdefault("fig", fig)  # keep the figure to read it
    try:
        line = SweepFigure(
            values=[[2e-3, 1e-3]], xs=[1e9, 2e9], x_labels=["1GB/s", "2GB/s"],
            x_name="memory.dram.bandwidth", x_unit="B/s", series=[""], series_name="",
            metric="latency", unit="s", title="t",
        )  # fmt: skip
        sweep_plot(line, tmp_path / "line.png")
        ax = drawn.pop("fig").axes[0]
        assert ax.get_ylim()[0] == 0
        assert ax.get_ylim()[1] > 2e-3 * 1.05  # the highest point clear of the frame
        assert ax.yaxis.get_major_formatter()(0.0, 0) == "0"  # not "0 s"
        assert [t.get_text() for t in ax.get_xticklabels()] == ["1 GB/s", "2 GB/s"]
        assert "ms" in ax.yaxis.get_major_formatter()(1.5e-3, 0)
        heat = SweepFigure(
            values=[[1e-3, 2e-3], [3e-3, 4e-3]], xs=[1.0, 2.0], x_labels=["1", "2"],
            x_name="batch", x_unit="", series=["8", "16"], series_name="seq",
            metric="latency", unit="s", title="t", heatmap=True,
        )  # fmt: skip
        sweep_plot(heat, tmp_path / "heat.png")
        texts = {t.get_text() for t in drawn.pop("fig").axes[0].texts}
        assert texts == {"1 ms", "2 ms", "3 ms", "4 ms"}
    finally:
        plt.close = real_close
    assert (tmp_path / "line.png").stat().st_size and (tmp_path / "heat.png").stat().st_size


# run --kernels ----------------------------------------------------------------------------


def test_run_kernels_writes_one_row_a_kernel(tmp_path: Path):
    out = tmp_path / "k.csv"
    result = invoke("run", "seed-conv", "--chip", "toy", "-q", "--kernels", str(out))
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(out.open()))
    graph_result = sim.simulate(workloads.build("seed-conv"), hardware.load_chip("toy"))
    assert len(rows) == graph_result.kernels
    assert {"kernel", "time_s", "bound"} <= set(rows[0])


def test_run_kernels_path_is_checked_before_the_run(tmp_path: Path):
    result = invoke("run", "seed-conv", "--chip", "toy", "--kernels", str(tmp_path / "no/k.csv"))
    assert result.exit_code == 2 and "--kernels" in result.output


# --dim and --batch on a symbolic ONNX model -------------------------------------------------


def symbolic_model(path: Path) -> Path:
    """x[batch, seq, 16] @ w[16, 32]: 2 * batch * seq * 16 * 32 ops."""
    import numpy as np
    from onnx import TensorProto, helper, numpy_helper

    w = numpy_helper.from_array(np.zeros((16, 32), dtype=np.float32), "w")
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "w"], ["y"])],
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", "seq", 16])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", "seq", 32])],
        [w],
    )
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)
    return path


def test_dim_and_batch_size_a_symbolic_onnx_model(tmp_path: Path):
    path = symbolic_model(tmp_path / "m.onnx")
    graph = workloads.load(path, batch=4, dims={"seq": 8})
    assert graph.total_ops == 2 * 4 * 8 * 16 * 32
    out = tmp_path / "r.json"
    result = invoke(
        "run", str(path), "--chip", "toy", "--batch", "4", "--dim", "seq=8", "--json", str(out)
    )
    assert result.exit_code == 0, result.output
    assert sim.Result.model_validate_json(out.read_text()).total_ops == 2 * 4 * 8 * 16 * 32
    again = tmp_path / "again.json"
    rerun = invoke("run", "--from", str(out), "--json", str(again))  # sizes in the provenance
    assert rerun.exit_code == 0, rerun.output
    assert sim.Result.model_validate_json(again.read_text()).total_ops == 2 * 4 * 8 * 16 * 32


@pytest.mark.parametrize(
    ("args", "expected"),
    [(["--dim", "sequence=8"], "they have batch, seq"), (["--dim", "seq=0"], "NAME=SIZE")],
)
def test_bad_dims_are_input_errors(tmp_path: Path, args, expected):
    path = symbolic_model(tmp_path / "m.onnx")
    result = invoke("run", str(path), "--chip", "toy", *args)
    assert result.exit_code == 2 and expected in " ".join(result.output.split())


def test_dim_on_a_builder_is_refused():
    result = invoke("run", "seed-conv", "--chip", "toy", "--dim", "seq=8")
    assert result.exit_code == 2 and "ONNX" in result.output


# Result in a notebook ---------------------------------------------------------------------


def test_result_repr_is_one_short_line_and_html_a_compact_table():
    result = sim.simulate(workloads.build("seed-conv"), hardware.load_chip("toy"))
    text = repr(result)
    assert len(text) < 200 and "\n" not in text and "seed-conv" in text and "toy" in text
    page = result._repr_html_()
    assert page.startswith("<table>") and len(page) < 2000
    for label in ("workload", "chip", "latency", "delivered", "efficiency", "top losses"):
        assert f">{label}<" in page
    assert result.ranked_losses()[0][0] in page
