"""Per-kernel and per-unit tables of a Result: DataFrames for notebooks, CSV for files."""

import csv
import sys

import pytest

import hardware
import sim
import workloads
from sim.render import frames

TOY = hardware.load_chip("toy")


@pytest.fixture(scope="module")
def result():
    return sim.simulate(workloads.build("mlp"), TOY, batches=2)


def test_kernel_rows_are_the_op_rows_longest_first(result):
    rows = frames.kernel_rows(result)
    assert [r["kernel"] for r in rows] == [
        r.name for r in sorted(result.ops, key=lambda r: (-(r.end_s - r.start_s), r.name))
    ]
    by_name = {r.name: r for r in result.ops}
    for record in rows:
        row = by_name[record["kernel"]]
        assert record["time_s"] == pytest.approx(row.end_s - row.start_s)
        assert record["ops_per_s"] == pytest.approx(row.ops / (row.end_s - row.start_s))
        assert record["bound"] == row.bound and record["main_loss"] == row.main_loss()
        assert record["loss_memory_ops"] == pytest.approx(row.lost_ops("memory"))


def test_dataframes_have_a_row_per_kernel_and_per_unit(result):
    pytest.importorskip("pandas")
    kernels = frames.kernels(result)
    assert len(kernels) == len(result.ops)
    assert {"kernel", "unit", "time_s", "dram_bytes", "bound"} <= set(kernels.columns)
    assert kernels["ops"].sum() == pytest.approx(sum(r.ops for r in result.ops))
    units = frames.units(result)
    assert list(units["unit"]) == [u.name for u in result.units]
    assert units.set_index("unit").loc["mxu", "in_peak"]


def test_missing_pandas_is_an_input_error(result, monkeypatch):
    monkeypatch.setitem(sys.modules, "pandas", None)  # import pandas -> ImportError
    with pytest.raises(hardware.InputError, match="pip install 'topsim\\[pandas\\]'"):
        frames.kernels(result)


def test_kernels_csv_has_a_header_and_a_line_per_kernel(result, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "pandas", None)  # the CSV needs no pandas
    path = frames.write_kernels_csv(result, tmp_path / "kernels.csv")
    with path.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == len(result.ops)
    assert float(rows[0]["time_s"]) == pytest.approx(frames.kernel_rows(result)[0]["time_s"])


def test_unwritable_csv_is_an_input_error(result, tmp_path):
    with pytest.raises(hardware.InputError, match="cannot write"):
        frames.write_kernels_csv(result, tmp_path / "missing" / "kernels.csv")
