"""Figures: written as PNG or SVG by suffix; a clear InputError without matplotlib."""

import sys

import pytest

import hardware
import sim
import workloads
from sim.render import plots

TOY = hardware.load_chip("toy")


@pytest.fixture(scope="module")
def result():
    return sim.simulate(workloads.build("mlp"), TOY, fusion="none", batches=2)


@pytest.mark.parametrize("suffix", [".png", ".svg"])
@pytest.mark.parametrize("figure", ["roofline", "waterfall", "timeline"])
def test_figures_are_written_by_suffix(result, tmp_path, figure, suffix):
    pytest.importorskip("matplotlib")
    path = tmp_path / f"{figure}{suffix}"
    if figure == "roofline":
        written = plots.roofline(result, TOY, path)
    else:
        written = getattr(plots, figure)(result, path)
    assert written == path
    assert path.stat().st_size > 1000
    head = path.read_bytes()[:200]
    assert head.startswith(b"\x89PNG") if suffix == ".png" else b"<svg" in path.read_bytes()


def test_roofline_places_kernels_without_dram_traffic(tmp_path):
    pytest.importorskip("matplotlib")
    # a fused elementwise chain reads its input once: high intensity, still plotted
    result = sim.simulate(workloads.build("elementwise-chain"), TOY, fusion="greedy")
    path = plots.roofline(result, TOY, tmp_path / "chain.svg")
    assert path.stat().st_size > 1000


def test_unknown_suffix_is_an_input_error(result, tmp_path):
    with pytest.raises(hardware.InputError, match="unknown figure type"):
        plots.waterfall(result, tmp_path / "figure.txt")


def test_missing_matplotlib_is_an_input_error(result, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib -> ImportError
    with pytest.raises(hardware.InputError, match="pip install"):
        plots.timeline(result, tmp_path / "timeline.png")
