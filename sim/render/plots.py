"""Figures of a finished Result with matplotlib (the optional extra `plot`): the chip's
roofline with every kernel placed on it, the loss waterfall, and the timeline.

matplotlib is imported only when a figure is drawn, with the non-interactive Agg backend,
so topsim runs without it; the file type (PNG, SVG, PDF) follows the path's suffix.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hardware.chip import Chip
from hardware.errors import InputError
from sim.render.format import engineering, short
from sim.render.tracks import BOUND_COLORS, track_order
from sim.result import OpRow, Result

SUFFIXES = (".png", ".svg", ".pdf")
MIN_SHARE = 0.0005  # losses below 0.05% of peak are left out of the waterfall, as in the terminal
LABELLED = 8  # kernels named on the roofline: the longest, where a label fits
MARKER_RADIUS_PT = 3.5  # a roofline marker (s=28: 5.3 pt across) and a little air
EDGED_SEGMENTS = 400  # timeline bars get a thin white edge (to tell them apart) up to this
NO_DRAM_INTENSITY = 1e29  # OpRow.intensity at or above this means "no DRAM bytes"
# rich color names of the Gantt -> matplotlib colors
MPL_COLORS = {
    "green": "tab:green",
    "red": "tab:red",
    "dark_orange": "darkorange",
    "magenta": "tab:purple",
    "yellow": "gold",
    "bright_yellow": "khaki",
    "blue": "tab:blue",
    "bright_cyan": "tab:cyan",
    "grey50": "tab:gray",
    "bright_red": "crimson",
    "white": "lightgray",
}
TRACK_COLORS = {"transfer": "tab:cyan", "input": "goldenrod", "launch": "tab:gray"}


def pyplot() -> Any:
    """matplotlib.pyplot on the Agg backend, or an InputError saying how to get it."""
    try:
        import matplotlib
    except ImportError:
        raise InputError(
            "plots need matplotlib, which is not installed; install the `plot` "
            "extra: pip install 'topsim[plot]' (or pip install matplotlib)."
        ) from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plain(text: str) -> str:
    """A name drawn as written: `$` would start matplotlib's mathtext (`$\\frac{}{}$` in an
    op name fails the whole figure), so it is escaped."""
    return text.replace("$", r"\$")


def output_path(path: str | os.PathLike) -> Path:
    target = Path(path)
    if target.suffix.lower() not in SUFFIXES:
        raise InputError(
            f"{target}: unknown figure type {target.suffix or '(none)'!r}; use "
            f"{', '.join(SUFFIXES)}."
        )
    return target


def save(plt: Any, fig: Any, target: Path) -> Path:
    try:
        fig.savefig(target, bbox_inches="tight", dpi=150)
    except OSError as err:
        raise InputError(f"{target}: cannot write the figure ({err.strerror}).") from None
    finally:
        plt.close(fig)
    return target


def bound_color(bound: str) -> str:
    return MPL_COLORS.get(BOUND_COLORS.get(bound, ""), "tab:olive")


def ceilings(chip: Chip, dtype: str) -> list[tuple[float, str]]:
    """Every compute ceiling worth a line, highest first: each unit's rate for each op class
    at `dtype`, and each other dtype of the peak units at its best class. Equal ceilings
    share one line, their names joined."""
    named: dict[float, list[str]] = {}
    for name, unit in chip.units.items():
        clock = 2.0 * unit.instances * chip.unit_clock(name)
        for op_class, table in unit.rates.items():
            if table.get(dtype):
                named.setdefault(clock * table[dtype], []).append(f"{name} {op_class} {dtype}")
        if unit.peak:
            for other in sorted({d for table in unit.rates.values() for d in table} - {dtype}):
                named.setdefault(clock * unit.best_rate(other), []).append(f"{name} {other}")
    return sorted(((rate, ", ".join(names)) for rate, names in named.items()), reverse=True)


def spread(positions: list[float], gap: float) -> list[float]:
    """`positions` (sorted, descending) moved apart so neighbours are at least `gap` apart,
    each moved as little as a top-down sweep allows."""
    placed: list[float] = []
    for y in positions:
        placed.append(min(y, placed[-1] - gap) if placed else y)
    return placed


def rate_axis(ax: Any, axis: str, unit: str) -> None:
    """Ticks of a log axis in engineering units ('100 GOP/s', '1 TB/s'); minor ticks bare."""
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    target = ax.yaxis if axis == "y" else ax.xaxis
    target.set_major_locator(LogLocator(base=10, numticks=12))
    target.set_major_formatter(FuncFormatter(lambda v, _pos: engineering(v, unit)))
    target.set_minor_formatter(NullFormatter())


def label_kernels(
    ax: Any,
    placed: list[tuple[float, float, str]],
    fontsize: float = 7,
    points: Sequence[tuple[float, float]] = (),
) -> list:
    """Annotate each (x, y, text) beside its point where it overlaps no earlier label and
    no marker of `points` (every kernel drawn), and stays inside the axes; a label with no
    free spot is left out. Sizes are estimated from the font size (0.6 em per character),
    in display pixels at the figure's dpi."""
    fig = ax.figure
    px = fig.dpi / 72.0
    frame = ax.get_window_extent()
    radius = MARKER_RADIUS_PT * px
    markers = [ax.transData.transform(point) for point in points]
    boxes: list[tuple[float, float, float, float]] = [
        (mx - radius, my - radius, mx + radius, my + radius) for mx, my in markers
    ]
    texts = []
    for x, y, text in placed:
        px_x, px_y = ax.transData.transform((x, y))
        width, height = len(text) * fontsize * 0.6 * px, fontsize * 1.3 * px
        spots = ((6, 4), (6, -14), (-6, 4), (-6, -14), (6, 16), (6, -26), (-6, 16), (-6, -26),
                 (14, 28), (14, -38), (-14, 28), (-14, -38))  # fmt: skip
        for dx, dy in spots:
            left = px_x + dx * px - (width if dx < 0 else 0)
            bottom = px_y + dy * px
            box = (left, bottom, left + width, bottom + height)
            inside = frame.x0 <= box[0] and box[2] <= frame.x1
            inside = inside and frame.y0 <= box[1] and box[3] <= frame.y1
            if inside and not any(overlaps(box, other) for other in boxes):
                boxes.append(box)
                texts.append(
                    ax.annotate(
                        plain(text),
                        (x, y),
                        textcoords="offset points",
                        xytext=(dx, dy),
                        ha="right" if dx < 0 else "left",
                        va="bottom",
                        fontsize=fontsize,
                        # a roof or grid line under a label does not cross its letters
                        bbox={
                            "boxstyle": "square,pad=0.1",
                            "fc": "white",
                            "ec": "none",
                            "alpha": 0.8,
                        },
                        arrowprops={"arrowstyle": "-", "color": "gray", "linewidth": 0.5},
                    )
                )
                break
    return texts


def kernel_labels(
    points: list[tuple[float, float, OpRow]], right: float, count: int
) -> list[tuple[float, float, str]]:
    """(x, y, name) of the `count` longest kernels; kernels drawn at the same spot (repeated
    layers) share one label that says how many more sit there."""
    spots: dict[tuple[float, float], list[OpRow]] = {}
    for intensity, rate, row in points:
        x = right if intensity >= NO_DRAM_INTENSITY else intensity
        spots.setdefault((round(math.log10(x), 2), round(math.log10(rate), 2)), []).append(row)
    where = {id(row): key for key, rows in spots.items() for row in rows}
    longest = sorted(points, key=lambda p: (-(p[2].end_s - p[2].start_s), p[2].name))
    out: list[tuple[float, float, str]] = []
    done: set[tuple[float, float]] = set()
    for intensity, rate, row in longest:
        key = where[id(row)]
        if key in done:
            continue
        done.add(key)
        more = len(spots[key]) - 1
        name = short(row.name, 28) + (f" (+{more})" if more else "")
        out.append((right if intensity >= NO_DRAM_INTENSITY else intensity, rate, name))
        if len(out) == count:
            break
    return out


def overlaps(a: tuple[float, ...], b: tuple[float, ...]) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def roofline(
    result: Result, chip: Chip, path: str | os.PathLike, *, labels: int = LABELLED
) -> Path:
    """Attainable ops/s = min(ceiling, bandwidth x intensity): the DRAM roof, the on-chip
    roof (its bandwidth over the same DRAM intensity, an upper bound for data reused on
    chip), and a ceiling per unit, op class and dtype. Each kernel sits at its arithmetic
    intensity (ops per DRAM byte) and achieved rate (ops over its time on the unit), one
    scatter per bound; kernels with no DRAM traffic sit at the right edge, as triangles.
    The `labels` longest kernels are named where a label fits without overlap."""
    target = output_path(path)
    plt = pyplot()
    peak = chip.peak_ops(result.dtype)
    bandwidth = chip.memory.dram.bandwidth
    ridge = peak / bandwidth
    points = [
        (row.intensity, row.ops / (row.end_s - row.start_s), row)
        for row in result.ops
        if row.ops > 0 and row.end_s > row.start_s
    ]
    finite = [i for i, _r, _row in points if i < NO_DRAM_INTENSITY]
    lo = min([ridge / 100] + [i / 2 for i in finite if i > 0])
    hi = max([ridge * 100] + [i * 2 for i in finite])
    roofs = ceilings(chip, result.dtype)
    rates = [r for _i, r, _row in points if r > 0]
    bottom = min([peak / 1e4] + [r / 2 for r in rates])
    top = max([peak] + [rate for rate, _name in roofs]) * 2
    fig, ax = plt.subplots(figsize=(9, 6))
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlim(lo, hi * 1.5)
    ax.set_ylim(bottom, top)
    ax.plot(
        [lo, ridge, hi * 1.5],
        [bandwidth * lo, peak, peak],
        color="black",
        linewidth=2,
        label=f"DRAM {engineering(bandwidth, 'B/s')}, peak {engineering(peak, 'OP/s')}",
        zorder=2,
    )
    onchip = chip.memory.l2
    if onchip is not None and onchip.bandwidth > bandwidth:
        knee = peak / onchip.bandwidth
        ax.plot(
            [lo, knee],
            [onchip.bandwidth * lo, peak],
            color="tab:blue",
            linestyle="--",
            linewidth=1.2,
            label=f"on-chip (l2) {engineering(onchip.bandwidth, 'B/s')}",
            zorder=2,
        )
    draw_ceilings(ax, roofs, peak, bandwidth, hi * 1.5, bottom)
    ax.axvline(ridge, color="gray", linestyle=":", linewidth=1)
    ax.annotate(
        f"ridge {ridge:.3g} ops/B",
        (ridge, bottom),
        textcoords="offset points",
        xytext=(4, 4),
        fontsize=8,
        color="gray",
    )
    groups: dict[tuple[str, bool], tuple[list[float], list[float]]] = {}
    for intensity, rate, row in points:
        no_dram = intensity >= NO_DRAM_INTENSITY
        xs, ys = groups.setdefault((row.bound, no_dram), ([], []))
        xs.append(hi if no_dram else intensity)
        ys.append(rate)
    for (bound, no_dram), (xs, ys) in sorted(groups.items()):
        ax.scatter(
            xs,
            ys,
            color=bound_color(bound),
            marker="^" if no_dram else "o",
            s=28,
            alpha=0.8,
            edgecolors="black",
            linewidths=0.4,
            label=f"{bound}{' (no DRAM bytes)' if no_dram else ''}: {len(xs)}",
            zorder=3,
        )
    drawn_at = [(xs[i], ys[i]) for xs, ys in groups.values() for i in range(len(xs))]
    label_kernels(ax, kernel_labels(points, hi, labels), points=drawn_at)
    rate_axis(ax, "y", "OP/s")
    ax.xaxis.set_major_formatter("{x:g}")
    ax.set_xlabel("arithmetic intensity (ops per DRAM byte)")
    ax.set_ylabel("achieved rate (ops/s)")
    ax.set_title(
        f"{plain(result.workload)} on {plain(chip.name)}: {len(points)} kernels "
        f"(delivered {result.efficiency:.1%} of peak)"
    )
    ax.grid(True, which="major", alpha=0.2)
    ax.legend(fontsize=8, loc="upper left", framealpha=0.9)
    return save(plt, fig, target)


def draw_ceilings(
    ax: Any,
    roofs: list[tuple[float, str]],
    peak: float,
    bandwidth: float,
    right: float,
    bottom: float,
) -> None:
    """Each compute ceiling from where the DRAM roof meets it to the right edge, labelled
    at the right, labels pushed apart (in log space) so none overlap."""
    shown = [(rate, name) for rate, name in roofs if rate >= bottom]
    gap = math.log10(ax.get_ylim()[1] / ax.get_ylim()[0]) * 0.035
    heights = spread([math.log10(rate) for rate, _name in shown], gap)
    for (rate, name), height in zip(shown, heights, strict=True):
        main = math.isclose(rate, peak)
        if not main:
            ax.plot(
                [rate / bandwidth, right],
                [rate, rate],
                color="gray",
                linewidth=0.8,
                linestyle="-.",
                zorder=1,
            )
        ax.text(
            right,
            10**height,
            f" {short(name, 34)}  {engineering(rate, 'OP/s')}",
            fontsize=7,
            va="center",
            ha="left",
            color="black" if main else "dimgray",
        )


def waterfall(result: Result, path: str | os.PathLike) -> Path:
    """Peak TOP/s, minus each loss category (its ops over the run's duration), down to
    the useful rate on the peak units: bars stacked like the terminal waterfall."""
    target = output_path(path)
    plt = pyplot()
    duration = result.duration_s
    peak = result.peak_ops
    losses = (
        [(c, v / duration) for c, v in result.ranked_losses() if result.loss_share(c) >= MIN_SHARE]
        if duration
        else []
    )
    useful = result.useful_ops / duration if duration else 0.0
    scale, unit = (1e12, "TOP/s") if peak >= 1e12 else (1e9, "GOP/s")
    labels = ["peak"] + [c for c, _v in losses] + ["useful"]
    fig, ax = plt.subplots(figsize=(max(6, 0.9 * len(labels) + 2), 4.5))
    ax.bar(0, peak / scale, color="tab:blue")
    ax.text(0, peak / scale, engineering(peak, "OP/s"), ha="center", va="bottom", fontsize=8)
    level = peak
    for n, (category, rate) in enumerate(losses, start=1):
        ax.bar(n, rate / scale, bottom=(level - rate) / scale, color=bound_color(category))
        ax.text(
            n,
            level / scale,
            f"-{rate / peak:.1%}\n{engineering(rate, 'OP/s')}",
            ha="center",
            va="bottom",
            fontsize=7,
        )
        level -= rate
    ax.bar(len(labels) - 1, useful / scale, color="tab:green")
    ax.text(
        len(labels) - 1,
        useful / scale,
        f"{useful / peak:.1%}\n{engineering(useful, 'OP/s')}" if peak else "",
        ha="center",
        va="bottom",
        fontsize=8,
    )
    ax.set_xticks(range(len(labels)))
    ax.set_xticklabels(labels, rotation=30, ha="right")
    ax.set_ylabel(unit)
    ax.set_ylim(0, peak / scale * 1.12 if peak else 1)
    ax.set_title(
        f"{plain(result.workload)} on {plain(result.chip)}: where the peak went "
        f"(delivered {result.delivered_ops_per_s / scale:.3g} {unit})"
    )
    ax.grid(True, axis="y", alpha=0.2)
    return save(plt, fig, target)


def timeline(result: Result, path: str | os.PathLike) -> Path:
    """One row per track, kernels colored by their bound, transfers, inputs and launches
    in their own colors (the whole recorded timeline)."""
    target = output_path(path)
    plt = pyplot()
    tracks = track_order(result)
    rows = {row.name: row for row in result.ops}
    end = max((s.end_s for s in result.timeline), default=0.0)
    scale, unit = time_scale(end)
    fig, ax = plt.subplots(figsize=(11, 0.5 * len(tracks) + 1.5))
    by_color: dict[tuple[str, str], list[tuple[float, float]]] = {}
    for segment in result.timeline:
        if segment.kind == "kernel":
            row = rows.get(segment.label)
            key = (segment.track, row.bound if row else "kernel")
        else:
            key = (segment.track, segment.kind)
        by_color.setdefault(key, []).append(
            (segment.start_s / scale, (segment.end_s - segment.start_s) / scale)
        )
    seen: set[str] = set()
    for (track, what), spans in sorted(by_color.items()):
        color = TRACK_COLORS.get(what) or bound_color(what)
        y = len(tracks) - 1 - tracks.index(track)
        edged = len(result.timeline) <= EDGED_SEGMENTS  # back-to-back bars stay apart
        ax.broken_barh(
            spans,
            (y - 0.4, 0.8),
            facecolors=color,
            edgecolors="white" if edged else "none",
            linewidth=0.4 if edged else 0.0,
            label=None if what in seen else what,
        )
        seen.add(what)
    ax.set_yticks(range(len(tracks)))
    ax.set_yticklabels([plain(track) for track in reversed(tracks)])
    ax.set_xlim(0, end / scale if end else 1)
    ax.set_xlabel(f"time ({unit})")
    note = f", first batches of {result.batches:,}" if result.batches > 1 else ""
    ax.set_title(f"{plain(result.workload)} on {plain(result.chip)}: timeline{note}")
    ax.legend(
        fontsize=8,
        loc="upper center",
        bbox_to_anchor=(0.5, -0.15),
        ncols=min(6, max(1, len(seen))),
        frameon=False,
    )
    ax.grid(True, axis="x", alpha=0.2)
    return save(plt, fig, target)


def time_scale(seconds: float) -> tuple[float, str]:
    for scale, unit in ((1.0, "s"), (1e-3, "ms"), (1e-6, "µs")):
        if seconds >= scale or math.isclose(seconds, scale):
            return scale, unit
    return 1e-9, "ns"


# sweeps ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SweepFigure:
    """What a sweep plot shows: the metric (its best per cell) over one varied field,
    one line per value of a second field, or a heatmap when `heatmap` is set."""

    values: list[list[float]]  # [series][x]; nan where no point finished
    xs: list[float | None]  # x positions (SI numbers), None where a value is not a number
    x_labels: list[str]  # the values as the user wrote them
    x_name: str
    x_unit: str  # the SI unit of the x values ('' for plain numbers or text)
    series: list[str]  # values of the second field ([''] without one)
    series_name: str
    metric: str  # the axis label: "latency"
    unit: str  # the metric's unit: "s", "OP/s", "/s", "%"
    title: str
    heatmap: bool = False
    smaller_better: bool = True


def sweep_plot(figure: SweepFigure, path: str | os.PathLike) -> Path:
    """Draw a sweep: values in engineering units ('120 µs', '2 TB/s'), the metric's axis
    from zero (a time or a rate is read against zero), numbers written in heatmap cells."""
    from matplotlib.ticker import FuncFormatter

    target = Path(path)
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(7, 4.5))
    shown = FuncFormatter(lambda v, _pos: "0" if v == 0 else engineering(v, figure.unit))
    x_ticks = [
        engineering(x, figure.x_unit) if figure.x_unit and x is not None else label
        for x, label in zip(figure.xs, figure.x_labels, strict=True)
    ]
    if figure.heatmap:
        image = ax.imshow(
            figure.values,
            origin="lower",
            aspect="auto",
            cmap="viridis_r" if figure.smaller_better else "viridis",
        )
        ax.set_xticks(range(len(x_ticks)), x_ticks, rotation=45, ha="right")
        ax.set_yticks(range(len(figure.series)), figure.series)
        ax.set_ylabel(figure.series_name)
        fig.colorbar(image, ax=ax, label=figure.metric, format=shown)
        write_cells(ax, image, figure)
    else:
        numeric = all(x is not None for x in figure.xs)
        positions = figure.xs if numeric else list(range(len(figure.xs)))
        for name, ys in zip(figure.series, figure.values, strict=True):
            label = f"{figure.series_name}={name}" if figure.series_name else None
            ax.plot(positions, ys, marker="o", label=label)
        if numeric and min(positions) > 0 and max(positions) / min(positions) >= 8:
            ax.set_xscale("log")
        ax.set_xticks(positions, x_ticks, rotation=45, ha="right")
        ax.minorticks_off()
        finite = [v for ys in figure.values for v in ys if math.isfinite(v)]
        top = max(finite, default=0.0)
        ax.set_ylim(0, top * 1.08 if top > 0 else 1)  # the highest point clear of the frame
        ax.yaxis.set_major_formatter(shown)
        ax.set_ylabel(figure.metric)
        if figure.series_name:
            ax.legend(fontsize="small")
        ax.grid(True, alpha=0.3)
    ax.set_xlabel(figure.x_name)
    ax.set_title(plain(figure.title))
    try:
        fig.tight_layout()
        fig.savefig(target, dpi=120)
    except OSError as err:
        raise InputError(f"--plot {target}: cannot write the file ({err.strerror}).") from None
    finally:
        plt.close(fig)
    return target


def write_cells(ax: Any, image: Any, figure: SweepFigure) -> None:
    """Each heatmap cell's value, in black or white, whichever reads on its color."""
    for row, values in enumerate(figure.values):
        for column, value in enumerate(values):
            if not math.isfinite(value):
                continue
            red, green, blue, _ = image.cmap(image.norm(value))
            dark = 0.299 * red + 0.587 * green + 0.114 * blue < 0.5
            ax.text(
                column,
                row,
                engineering(value, figure.unit),
                ha="center",
                va="center",
                fontsize=7,
                color="white" if dark else "black",
            )
