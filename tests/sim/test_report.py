"""The rich summary and the terminal Gantt, rendered at 80 and 200 columns on the toy chip."""

import pytest
from rich.console import Console

import hardware
import sim
import workloads
from sim.render.gantt import Gantt, axis_lines, batch_ends, nice_step, union_length
from sim.render.report import one_line, render_result, sparkline
from sim.render.tracks import track_order
from sim.result import OpRow

TOY = hardware.load_chip("toy")
WIDTHS = (80, 200)


def render(renderable, width: int) -> str:
    console = Console(record=True, width=width, color_system=None)
    console.print(renderable)
    return console.export_text()


def lines_fit(text: str, width: int) -> bool:
    return all(len(line) <= width for line in text.splitlines())


@pytest.fixture(scope="module")
def mlp():
    return sim.simulate(workloads.build("mlp"), TOY)


@pytest.fixture(scope="module")
def stream():
    return sim.simulate(workloads.build("seed-conv"), TOY, duration_s=0.05)


@pytest.mark.parametrize("width", WIDTHS)
def test_summary_has_every_section_and_fits_the_width(mlp, width):
    text = render(render_result(mlp), width)
    assert lines_fit(text, width)
    for expected in (
        "workload",
        "mlp (batch 1, fp16",
        "peak",
        "512 GOP/s",
        "delivered",
        "Where the peak went",
        "memory",
        "Units",
        "Timeline",
        "launcher",
        "Top 10 kernels by time",
        "main loss",
        "ops/byte",
    ):
        assert expected in text, expected
    for row in mlp.ops:
        assert row.name in text
    assert "Over the run" not in text  # one batch: no temperature/clock trace to draw


def test_top_kernels_show_bound_and_main_loss(mlp):
    text = render(render_result(mlp, top=2), 200)
    assert "Top 2 kernels by time" in text
    row = max(mlp.ops, key=lambda r: (r.end_s - r.start_s, r.name))
    line = next(line for line in text.splitlines() if line.startswith(row.name))
    assert row.bound in line
    assert row.main_loss() == "memory"
    assert line.rstrip().endswith("memory")


@pytest.mark.parametrize("width", WIDTHS)
def test_headers_stay_whole_and_long_names_give_way(width):
    # resnet's fused kernels have long names: only the name cell is cut, never a header
    result = sim.simulate(workloads.build("resnet50"), TOY, fusion="epilogue")
    text = render(render_result(result), width)
    assert lines_fit(text, width)
    header = next(line for line in text.splitlines() if line.startswith("kernel "))
    assert header.split() == [
        "kernel",
        "unit",
        "time",
        "share",
        "ops/byte",
        "bound",
        "main",
        "loss",
    ]
    unit_header = next(line for line in text.splitlines() if line.startswith("unit "))
    assert unit_header.split() == [
        "unit",
        "in",
        "peak",
        "kernels",
        "busy",
        "gap",
        "wait",
        "launch",
        "utilization",
    ]
    rows = [line for line in text.splitlines() if "…" in line]
    assert rows if width == 80 else not rows
    assert "%" in text.splitlines()[text.splitlines().index(unit_header) + 2]


def test_main_loss_is_the_biggest_category_ties_by_name():
    def main(losses):
        fields = dict.fromkeys(("start_s", "end_s", "ops", "dram_bytes", "onchip_bytes"), 0.0)
        fields |= dict.fromkeys(("intensity", "compute_s", "memory_s"), 0.0)
        row = OpRow(name="k", kinds=[], unit="u", bound="compute", losses_ops=losses, **fields)
        return row.main_loss()

    assert main({"launch": 1.0, "memory": 3.0}) == "memory"
    assert main({"shape": 2.0, "launch": 2.0}) == "launch"
    assert main({"memory": 0.0}) == "-"


def test_waterfall_useful_share_is_over_the_whole_run(stream):
    useful = stream.useful_ops / (stream.peak_ops * stream.duration_s)
    total = useful + sum(stream.loss_share(c) for c in stream.losses_ops)
    assert total == pytest.approx(1.0, rel=1e-9)
    text = render(render_result(stream), 200)
    line = next(line for line in text.splitlines() if line.startswith("useful"))
    assert f"{useful:.1%}" in line


@pytest.mark.parametrize("width", WIDTHS)
def test_stream_summary_shows_batches_and_run_traces(stream, width):
    text = render(render_result(stream), width)
    assert lines_fit(text, width)
    assert f"{stream.batches:,} batches" in text
    assert "median batch" in text
    for label in ("Over the run", "temperature", "clock", "power", "batch latency"):
        assert label in text


def test_one_line_stays_short(mlp):
    line = one_line(mlp)
    assert line.startswith("mlp on toy:")
    assert "top loss memory" in line
    assert "\n" not in line


def test_summary_renders_in_jupyter(mlp):
    bundle = render_result(mlp)._repr_mimebundle_([], [])
    assert "Where the peak went" in bundle["text/plain"]
    assert "<pre" in bundle["text/html"]


# --- Gantt --------------------------------------------------------------------------------


@pytest.mark.parametrize("width", WIDTHS)
def test_gantt_has_a_row_per_track_and_fits(mlp, width):
    text = render(Gantt(mlp), width)
    assert lines_fit(text, width)
    rows = text.splitlines()
    for track in ("mxu", "cpu", "dram", "launcher"):
        assert any(line.startswith(track) for line in rows), track
    assert track_order(mlp) == ["mxu", "cpu", "dram", "launcher"]
    assert rows[-2].rstrip().endswith("us")  # tick labels with the time unit
    assert "┬" in rows[-3]


def test_gantt_names_kernels_that_fit_and_shows_busy_share(mlp):
    text = render(Gantt(mlp), 200)
    mxu = next(line for line in text.splitlines() if line.startswith("mxu"))
    for row in mlp.ops:
        assert row.name in mxu
    assert mxu.endswith("100%")
    cpu = next(line for line in text.splitlines() if line.startswith("cpu"))
    assert cpu.endswith("0%") and "█" not in cpu


def test_gantt_colors_by_bound_or_kind(mlp):
    assert "bound: " in render(Gantt(mlp), 200) and "memory" in render(Gantt(mlp), 200)
    by_kind = render(Gantt(mlp, color_by="kind"), 200)
    assert "colors: " in by_kind and "linear" in by_kind
    with pytest.raises(ValueError):
        Gantt(mlp, color_by="size")


def test_gantt_marks_short_segments_in_long_cells():
    # 50 unfused elementwise kernels of ~0.4 us each, 1 us launches: at 80 columns a cell
    # is ~0.8 us, so some kernels hold less than half a cell and show as a low block.
    result = sim.simulate(workloads.build("elementwise-chain"), TOY, fusion="none")
    text = render(Gantt(result), 80)
    mxu = next(line for line in text.splitlines() if line.startswith("mxu"))
    assert "▁" in mxu and "█" in mxu


def test_gantt_of_many_batches_shows_the_first_and_says_so():
    result = sim.simulate(workloads.build("mlp"), TOY, batches=6)
    ends = batch_ends(result)
    assert len(ends) == 6
    assert ends == sorted(ends)
    text = render(Gantt(result, max_batches=2), 200)
    assert "first 2 of 6 batches" in text
    fewer = render(Gantt(result, max_batches=10), 200)
    assert "first 6 of 6 batches" in fewer
    assert "host_link" in text and "input" in text


def test_gantt_of_a_fast_forwarded_stream_says_so(stream):
    text = render(Gantt(stream), 80)
    assert stream.fast_forward
    assert f"of {stream.batches:,} batches" in text and "fast-forwarded" in text


def test_axis_ticks_are_round_numbers():
    assert nice_step(917e-6, 7) == pytest.approx(200e-6)
    assert nice_step(1.0, 10) == pytest.approx(0.1)
    rule, labels, unit = axis_lines(0.0, 917e-6, 60)
    assert unit == "us"
    assert labels.plain.split() == ["0", "200", "400", "600", "800"]  # at most 6 ticks
    assert len(rule.plain) == 60 and len(labels.plain) == 60


def test_union_length_counts_overlaps_once():
    assert union_length([(0, 2), (1, 3), (5, 6)]) == 4
    assert union_length([]) == 0


def test_sparkline_spans_minimum_to_maximum():
    line = sparkline([0, 1, 2, 3], [0, 1, 2, 3], 4)
    assert line == "▁▃▆█"
    assert sparkline([0, 1], [5, 5], 6) == "▄" * 6
    assert len(sparkline([0, 10], [1, 2], 40)) == 40


def test_names_are_shown_literally_not_as_markup():
    b = workloads.GraphBuilder("net[bold]")
    x = b.input("x", (1, 256))
    b.relu(x, name="act[red]")
    result = sim.simulate(b.build(), TOY)
    text = render(render_result(result), 200)
    assert "net[bold]" in text and "act[red]" in text
