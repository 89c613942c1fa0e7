"""Figures of a finished Result with matplotlib (the optional extra `plot`): the chip's
roofline with every kernel placed on it, the loss waterfall, and the timeline.

matplotlib is imported only when a figure is drawn, with the non-interactive Agg backend,
so topsim runs without it; the file type (PNG, SVG, PDF) follows the path's suffix.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

from hardware.chip import Chip
from hardware.errors import InputError
from sim.render.format import short
from sim.render.tracks import BOUND_COLORS, track_order
from sim.result import Result

SUFFIXES = (".png", ".svg", ".pdf")
MIN_SHARE = 0.0005  # losses below 0.05% of peak are left out of the waterfall, as in the terminal
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


def roofline(result: Result, chip: Chip, path: str | os.PathLike) -> Path:
    """Attainable ops/s = min(peak, DRAM bandwidth x intensity) for `result.dtype`, with each
    kernel at its arithmetic intensity (ops per DRAM byte) and achieved rate (ops over its
    time on the unit). Kernels with no DRAM traffic sit at the right edge, as triangles."""
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
    fig, ax = plt.subplots(figsize=(8, 5.5))
    xs = [lo * (hi / lo) ** (k / 200) for k in range(201)]
    ax.plot(
        xs,
        [min(peak, bandwidth * x) for x in xs],
        color="black",
        linewidth=2,
        label=f"roofline: {peak / 1e12:.3g} TOP/s {result.dtype}, {bandwidth / 1e9:.3g} GB/s DRAM",
    )
    ax.axvline(ridge, color="gray", linestyle=":", linewidth=1)
    ax.annotate(
        f"ridge {ridge:.3g} ops/B",
        (ridge, peak),
        textcoords="offset points",
        xytext=(4, -14),
        fontsize=8,
        color="gray",
    )
    seen: set[str] = set()
    for intensity, rate, row in sorted(points, key=lambda p: p[2].bound):
        no_dram = intensity >= NO_DRAM_INTENSITY
        label = None if row.bound in seen else row.bound
        seen.add(row.bound)
        ax.scatter(
            hi if no_dram else intensity,
            rate,
            color=bound_color(row.bound),
            marker="^" if no_dram else "o",
            s=28,
            alpha=0.8,
            edgecolors="black",
            linewidths=0.4,
            label=label,
            zorder=3,
        )
    for intensity, rate, row in sorted(points, key=lambda p: -(p[2].end_s - p[2].start_s))[:5]:
        x = hi if intensity >= NO_DRAM_INTENSITY else intensity
        ax.annotate(
            plain(short(row.name, 24)),
            (x, rate),
            textcoords="offset points",
            xytext=(5, 3),
            fontsize=7,
        )
    ax.set_xscale("log")
    ax.set_yscale("log")
    rates = [r for _i, r, _row in points if r > 0]
    ax.set_xlim(lo, hi * 1.5)
    ax.set_ylim(min([peak / 1e4] + [r / 2 for r in rates]), peak * 2)
    ax.set_xlabel("arithmetic intensity (ops per DRAM byte)")
    ax.set_ylabel("achieved ops/s")
    ax.set_title(
        f"{plain(result.workload)} on {plain(chip.name)}: {len(points)} kernels "
        f"(delivered {result.efficiency:.1%} of peak)"
    )
    ax.grid(True, which="both", alpha=0.2)
    ax.legend(fontsize=8, loc="lower right")
    return save(plt, fig, target)


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
    level = peak
    for n, (category, rate) in enumerate(losses, start=1):
        ax.bar(n, rate / scale, bottom=(level - rate) / scale, color=bound_color(category))
        ax.text(n, level / scale, f"-{rate / peak:.1%}", ha="center", va="bottom", fontsize=8)
        level -= rate
    ax.bar(len(labels) - 1, useful / scale, color="tab:green")
    ax.text(
        len(labels) - 1,
        useful / scale,
        f"{useful / peak:.1%}" if peak else "",
        ha="center",
        va="bottom",
        fontsize=8,
    )
    ax.set_xticks(range(len(labels)))
    ax.set_xticklabels(labels, rotation=30, ha="right")
    ax.set_ylabel(unit)
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
        ax.broken_barh(
            spans, (y - 0.4, 0.8), facecolors=color, label=None if what in seen else what
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
    for scale, unit in ((1.0, "s"), (1e-3, "ms"), (1e-6, "us")):
        if seconds >= scale or math.isclose(seconds, scale):
            return scale, unit
    return 1e-9, "ns"
