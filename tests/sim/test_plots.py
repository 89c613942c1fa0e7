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


@pytest.fixture
def drawn(monkeypatch):
    """The figures the plots save, kept for their artists."""
    pytest.importorskip("matplotlib")
    figures = []
    original = plots.save

    def keep(plt, fig, target):
        figures.append(fig)
        return original(plt, fig, target)

    monkeypatch.setattr(plots, "save", keep)
    return figures


@pytest.fixture(scope="module")
def many():
    # bert-base unfused on the toy chip: hundreds of kernels, repeated layers at one spot
    return sim.simulate(workloads.build("bert-base"), TOY, fusion="none")


def texts(ax):
    return [t.get_text() for t in ax.texts] + [t.get_text() for t in ax.get_yticklabels()]


def test_roofline_draws_one_scatter_per_bound_and_every_roof(many, drawn, tmp_path):
    plots.roofline(many, TOY, tmp_path / "roofline.png")
    ax = drawn[0].axes[0]
    groups = {(r.bound, r.intensity >= plots.NO_DRAM_INTENSITY) for r in many.ops if r.ops > 0}
    assert len(ax.collections) == len(groups)
    assert sum(len(c.get_offsets()) for c in ax.collections) == sum(
        1 for r in many.ops if r.ops > 0 and r.end_s > r.start_s
    )
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert legend[0] == "DRAM 10 GB/s, peak 512 GOP/s"
    assert legend[1] == "on-chip (l2) 100 GB/s"
    ceilings = plots.ceilings(TOY, "fp16")
    # mxu matrix fp16 = 2 x 4 x 64 x 1 GHz; vector fp16 = 2 x 4 x 8 x 1 GHz; mxu int8, fp32
    assert [rate for rate, _name in ceilings] == [1024e9, 512e9, 64e9, 32e9, 8e9, 2e9]
    labels = " ".join(t.get_text() for t in ax.texts)
    for _rate, name in ceilings:
        assert name in labels
    assert "512 GOP/s" in labels and "8 GOP/s" in labels


def test_figures_use_engineering_units(many, drawn, tmp_path):
    plots.roofline(many, TOY, tmp_path / "roofline.png")
    plots.waterfall(many, tmp_path / "waterfall.png")
    plots.timeline(many, tmp_path / "timeline.png")
    roof, fall, line = (fig.axes[0] for fig in drawn)
    ticks = [t.get_text() for t in roof.get_yticklabels() if t.get_text()]
    assert ticks and all(t.endswith("OP/s") for t in ticks)
    everything = texts(roof) + texts(fall) + [roof.get_ylabel(), fall.get_ylabel()]
    assert not [t for t in everything if "e+" in t or "e-" in t or "$10^" in t]
    assert fall.get_ylim()[0] == 0 and fall.get_ylabel() == "GOP/s"
    assert any("GOP/s" in t.get_text() and "%" in t.get_text() for t in fall.texts)
    assert line.get_xlim()[0] == 0 and line.get_xlabel() in ("time (ms)", "time (µs)", "time (s)")


def test_roofline_labels_never_overlap_and_name_the_longest(many, drawn, tmp_path):
    plots.roofline(many, TOY, tmp_path / "roofline.png")
    fig = drawn[0]
    ax = fig.axes[0]
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    renderer = FigureCanvasAgg(fig).get_renderer()  # saved figures are closed
    notes = [t for t in ax.texts if getattr(t, "arrow_patch", None) is not None]
    assert 1 <= len(notes) <= plots.LABELLED
    boxes = [t.get_window_extent(renderer) for t in notes]
    for i, a in enumerate(boxes):
        for b in boxes[i + 1 :]:
            assert not a.overlaps(b)
    longest = min(many.ops, key=lambda r: (-(r.end_s - r.start_s), r.name))
    assert any(t.get_text().startswith(longest.name[:20]) for t in notes)


def test_roofline_labels_cover_no_kernels_marker(drawn, tmp_path):
    # resnet50 on h100-sxm: kernels bunched together, where labels used to cover markers
    h100 = hardware.load_chip("h100-sxm")
    result = sim.simulate(workloads.build("resnet50"), h100)
    plots.roofline(result, h100, tmp_path / "roofline.png")
    fig = drawn[0]
    ax = fig.axes[0]
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    canvas = FigureCanvasAgg(fig)  # saved figures are closed: draw again to place the text
    canvas.draw()
    renderer = canvas.get_renderer()
    notes = [t for t in ax.texts if getattr(t, "arrow_patch", None) is not None]
    assert len(notes) >= 4
    markers = [ax.transData.transform(xy) for c in ax.collections for xy in c.get_offsets()]
    from matplotlib.text import Text

    for note in notes:
        box = Text.get_window_extent(note, renderer)  # the words, not the leader line
        box = box.expanded(1.0, 1.0).padded(2.6 * fig.dpi / 72)  # a marker's radius (s=28)
        assert not [m for m in markers if box.contains(*m)], note.get_text()


def test_timeline_bars_are_told_apart(drawn, tmp_path):
    result = sim.simulate(workloads.build("mlp"), TOY)  # back-to-back launches
    plots.timeline(result, tmp_path / "timeline.png")
    bars = drawn[0].axes[0].collections
    assert bars and all(list(b.get_edgecolor()[0]) == [1.0, 1.0, 1.0, 1.0] for b in bars)
