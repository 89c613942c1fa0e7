"""A terminal Gantt chart of a Result's timeline, drawn with rich at any width.

Time is binned: each character cell covers an equal slice of the shown window and shows the
segment that holds most of that slice on its track, as a full block when the track is busy
for at least half the cell and a low block when it is busy for less (so a 1 us launch in a
1 ms run still leaves a mark). A run of cells held by one kernel carries its name when it
fits. Kernels are colored by their bound (or by op kind); transfers, input loads and
launches have colors of their own.

Long runs are compressed: a stream with more than `max_batches` batches on its timeline
shows its first `max_batches` (the later ones repeat them), and a fast-forwarded stream has
only its first batches on the timeline anyway; the title says which part is shown.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from rich.console import Console, ConsoleOptions, RenderResult
from rich.jupyter import JupyterMixin
from rich.measure import Measurement
from rich.text import Text

from sim.render.tracks import BOUND_COLORS, track_order
from sim.result import Result, Segment

KIND_PALETTE = (
    "green",
    "cyan",
    "magenta",
    "yellow",
    "bright_red",
    "bright_green",
    "bright_magenta",
    "dark_orange",
    "bright_cyan",
    "blue",
    "orchid",
    "gold3",
)
OTHER_COLORS = {"transfer": "bright_blue", "input": "yellow", "launch": "grey50"}

FULL, LOW = "█", "▁"
MIN_BAR_CELLS = 10
MAX_NAME_WIDTH = 10
SHARE_WIDTH = 5  # " 100%"
MIN_CUT_LABEL = 6  # a name cut shorter than this says nothing: draw blocks instead


@dataclass
class Cell:
    covered: float = 0.0  # seconds of the cell's slice some segment holds (overlaps add up)
    owner: int = -1  # index of the segment holding the largest part
    owner_s: float = 0.0


def batch_ends(result: Result) -> list[float]:
    """End of each batch on the timeline: the latest k-th occurrence of any kernel."""
    occurrences: dict[str, list[Segment]] = {}
    for segment in result.timeline:
        if segment.kind == "kernel":
            occurrences.setdefault(segment.label, []).append(segment)
    if not occurrences:
        return []
    count = max(len(v) for v in occurrences.values())
    return [max(v[k].end_s for v in occurrences.values() if len(v) > k) for k in range(count)]


def shown_window(result: Result, max_batches: int) -> tuple[float, float, str]:
    """The time window to draw and a note saying which part of the run it is."""
    end = max((s.end_s for s in result.timeline), default=0.0)
    ends = batch_ends(result)
    on_timeline = len(ends)
    if on_timeline > max_batches:
        end = ends[max_batches - 1]
        shown = max_batches
    else:
        shown = on_timeline
    if result.batches <= 1:
        return 0.0, end, ""
    note = f"first {shown} of {result.batches:,} batches"
    if result.fast_forward and on_timeline < result.batches:
        note += " (the rest fast-forwarded)"
    elif shown < result.batches:
        note += " (later batches repeat them)"
    return 0.0, end, note


def nice_step(span: float, max_ticks: int) -> float:
    """The smallest 1, 2 or 5 x 10^k step giving at most `max_ticks` intervals over `span`."""
    raw = span / max(1, max_ticks)
    magnitude = 10 ** math.floor(math.log10(raw))
    for factor in (1, 2, 5, 10):
        if factor * magnitude >= raw:
            return factor * magnitude
    return 10 * magnitude


def time_unit(value: float) -> tuple[str, float]:
    for name, scale in (("s", 1.0), ("ms", 1e-3), ("us", 1e-6), ("ns", 1e-9)):
        if value >= scale:
            return name, scale
    return "ps", 1e-12


def tick_label(value: float, scale: float) -> str:
    return f"{value / scale:.6g}"


def duration_text(value: float) -> str:
    unit, scale = time_unit(value)
    return f"{value / scale:.3g} {unit}"


def axis_lines(t0: float, t1: float, cells: int) -> tuple[Text, Text, str]:
    """The axis rule with tick marks, the tick labels under it, and the unit."""
    span = t1 - t0
    step = nice_step(span, max(1, cells // 10))
    unit, scale = time_unit(t1)
    rule = ["─"] * cells
    labels = [" "] * cells
    ticks = int(math.floor(span / step + 1e-9))
    free_from = 0
    for i in range(ticks + 1):
        value = t0 + i * step
        position = min(cells - 1, int(round((value - t0) / span * cells)))
        rule[position] = "┬" if position < cells - 1 else "┐"
        text = tick_label(value, scale)
        start = position if position + len(text) <= cells else cells - len(text)
        if start < free_from or start < 0:
            continue
        labels[start : start + len(text)] = list(text)
        free_from = start + len(text) + 1
    rule[0] = "┌" if rule[0] == "─" else "┬"
    return Text("".join(rule), style="dim"), Text("".join(labels), style="dim"), unit


class Gantt(JupyterMixin):
    """Renderable Gantt of `result.timeline`; the width comes from the console."""

    def __init__(self, result: Result, color_by: str = "bound", max_batches: int = 4) -> None:
        if color_by not in ("bound", "kind"):
            raise ValueError(f"color_by must be 'bound' or 'kind', got {color_by!r}")
        self.result = result
        self.color_by = color_by
        self.max_batches = max(1, max_batches)
        self.rows = {row.name: row for row in result.ops}
        self.kind_colors: dict[str, str] = {}

    def __rich_measure__(self, console: Console, options: ConsoleOptions) -> Measurement:
        return Measurement(MIN_BAR_CELLS + 8, options.max_width)

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        yield from self.lines(options.max_width)

    # --- colors --------------------------------------------------------------------------

    def color_key(self, segment: Segment) -> str:
        """What the segment's color stands for: its bound or kind, or 'transfer' ..."""
        if segment.kind != "kernel":
            return segment.kind
        row = self.rows.get(segment.label)
        if row is None:
            return "kernel"
        return row.bound if self.color_by == "bound" else (row.kinds[0] if row.kinds else "?")

    def color(self, key: str) -> str:
        if key in OTHER_COLORS:
            return OTHER_COLORS[key]
        if self.color_by == "bound" and key in BOUND_COLORS:
            return BOUND_COLORS[key]
        if key not in self.kind_colors:
            self.kind_colors[key] = KIND_PALETTE[len(self.kind_colors) % len(KIND_PALETTE)]
        return self.kind_colors[key]

    # --- drawing -------------------------------------------------------------------------

    def lines(self, width: int) -> list[Text]:
        result = self.result
        t0, t1, note = shown_window(result, self.max_batches)
        if not result.timeline or t1 <= t0:
            return [Text("timeline: (empty)", style="dim")]
        tracks = track_order(result)
        name_width = min(MAX_NAME_WIDTH, max(len(t) for t in tracks))
        cells = max(MIN_BAR_CELLS, width - name_width - 1 - SHARE_WIDTH)
        grid, busy = self.bin(tracks, t0, t1, cells)
        rule, labels, unit = axis_lines(t0, t1, cells)
        cell_s = (t1 - t0) / cells
        title = Text.assemble(
            ("Timeline", "bold"), f" 0 – {duration_text(t1)}, one cell = {duration_text(cell_s)}"
        )
        if note:
            title.append(f"; {note}", style="dim")
        out = [title]
        for track in tracks:
            line = Text(track[:name_width].ljust(name_width) + " ", style="bold")
            line.append_text(self.bar(grid[track], cell_s))
            line.append(f"{busy[track]:>{SHARE_WIDTH}.0%}", style="dim")
            out.append(line)
        pad = " " * (name_width + 1)
        out.append(Text(pad) + rule)
        out.append(Text(pad) + labels + Text(f" {unit}", style="dim"))
        out.append(self.legend(t0, t1))
        return out

    def bin(
        self, tracks: list[str], t0: float, t1: float, cells: int
    ) -> tuple[dict[str, list[Cell]], dict[str, float]]:
        """Per track, the cells with their covered time and owner; and the busy share."""
        cell_s = (t1 - t0) / cells
        grid = {t: [Cell() for _ in range(cells)] for t in tracks}
        spans: dict[str, list[tuple[float, float]]] = {t: [] for t in tracks}
        for index, segment in enumerate(self.result.timeline):
            start, end = max(segment.start_s, t0), min(segment.end_s, t1)
            if end <= start or segment.track not in grid:
                continue
            spans[segment.track].append((start, end))
            row = grid[segment.track]
            first = min(cells - 1, int((start - t0) / cell_s))
            last = min(cells - 1, int((end - t0) / cell_s))
            for i in range(first, last + 1):
                lo, hi = t0 + i * cell_s, t0 + (i + 1) * cell_s
                overlap = min(end, hi) - max(start, lo)
                if overlap <= 0:
                    continue
                cell = row[i]
                cell.covered += overlap
                if overlap > cell.owner_s:
                    cell.owner, cell.owner_s = index, overlap
        busy = {t: union_length(spans[t]) / (t1 - t0) for t in tracks}
        return grid, busy

    def bar(self, row: list[Cell], cell_s: float) -> Text:
        text = Text()
        i = 0
        while i < len(row):
            cell = row[i]
            if cell.owner < 0:
                text.append(" ")
                i += 1
                continue
            full = cell.covered >= 0.5 * cell_s
            j = i + 1
            while (
                j < len(row)
                and row[j].owner == cell.owner
                and (row[j].covered >= 0.5 * cell_s) == full
            ):
                j += 1
            segment = self.result.timeline[cell.owner]
            color = self.color(self.color_key(segment))
            text.append_text(self.run(segment.label, j - i, full, color))
            i = j
        return text

    @staticmethod
    def run(label: str, length: int, full: bool, color: str) -> Text:
        """`length` cells of one segment: its name on its color when it fits, else blocks."""
        if not full:
            return Text(LOW * length, style=color)
        room = length - 1
        if len(label) > room and room < MIN_CUT_LABEL:
            return Text(FULL * length, style=color)
        name = label if len(label) <= room else label[: room - 1] + "…"
        return Text.assemble((name, f"bold black on {color}"), (FULL * (length - len(name)), color))

    def legend(self, t0: float, t1: float) -> Text:
        keys = dict.fromkeys(
            self.color_key(s) for s in self.result.timeline if s.end_s > t0 and s.start_s < t1
        )
        text = Text("colors: " if self.color_by == "kind" else "bound: ", style="dim")
        for n, key in enumerate(sorted(keys, key=lambda k: (k in OTHER_COLORS, k))):
            if n:
                text.append("  ")
            text.append(FULL, style=self.color(key))
            text.append(f" {key}")
        return text


def union_length(spans: list[tuple[float, float]]) -> float:
    total = 0.0
    cursor = -math.inf
    for start, end in sorted(spans):
        if end <= cursor:
            continue
        total += end - max(start, cursor)
        cursor = end
    return total


def gantt(result: Result, color_by: str = "bound", max_batches: int = 4) -> Gantt:
    """The Gantt of `result` as a rich renderable (print it on any console)."""
    return Gantt(result, color_by=color_by, max_batches=max_batches)
