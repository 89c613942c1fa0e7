"""Accounting: where every op/s of the advertised peak went, exactly.

For each unit counted in the peak, its capacity P_u (ops/s at nominal clock) over the run
[0, T] is split, instant by instant, into useful work and one named loss:

Inside a kernel on the unit (duration D, of which the first part is the device gap):
- launch: the device gap and the unit's fixed kernel overhead;
- starvation: instances with no tile to run while the kernel computes, and wave tails
  (tiles not a multiple of the instances, edge tiles counted full);
- unspecialized: the op ran on a slower op class / dtype than the unit's best;
- sustained: real kernels reach only `efficiency` of the class's rate (the unit's spec);
- shape: padding to the native tile or vector width;
- a stage's extra cycles per tile (sim/lower.py) by the category lowering gave them:
  exposed dequantization of quantized weights (unspecialized), systolic fill and drain
  (starvation);
- thermal: the clock below nominal while it computed;
- memory / no_overlap: the rest of the kernel, when bytes, not math, set the pace: the
  whole unit waits then (with overlap off, the part that overlap would have hidden is
  `no_overlap`), except that through the DRAM latency, which every tile pays in
  parallel, instances without a tile count as starved.
Between kernels, each instant is blamed on the earliest still-pending reason the next
kernel could not start: its launch (`launch`), a producer on the host (`host_fallback`)
or on another unit (`idle_unit`), or the input (`input_io`); idle time after a unit's
last kernel is `host_fallback` while the host computes, else `idle_unit`.

Since the pieces partition [0, T] for every unit, peak_ops * T = useful + sum(losses).
"""

from __future__ import annotations

import math
from array import array
from dataclasses import dataclass, field

from hardware.chip import Chip
from sim.engine import Trace
from sim.losses import CATEGORY_INDEX, LOSS_CATEGORIES
from sim.lower import Kernel


class PerKernel:
    """Ops by [kernel, loss category], as one flat array of doubles: compact for huge
    graphs, and no numpy to import for a command that simulates once."""

    def __init__(self, kernels: int) -> None:
        self.width = len(LOSS_CATEGORIES)
        self.values = array("d", bytes(8 * kernels * self.width))  # all 0.0

    def add(self, kernel: int, category: int, ops: float) -> None:
        self.values[kernel * self.width + category] += ops

    def __getitem__(self, key: tuple[int, int]) -> float:
        kernel, category = key
        return self.values[kernel * self.width + category]

    def row(self, kernel: int) -> array:
        return self.values[kernel * self.width : (kernel + 1) * self.width]

    def sum(self) -> float:
        return math.fsum(self.values)


@dataclass
class Accounting:
    """Totals, and per kernel (summed over batches) the ops lost inside it and in the idle
    time before it, as [kernel, category] arrays (compact for huge graphs)."""

    kernels: int = 0
    useful_ops: float = 0.0
    losses_ops: dict[str, float] = field(
        default_factory=lambda: dict.fromkeys(LOSS_CATEGORIES, 0.0)
    )
    unit_useful: dict[str, float] = field(default_factory=dict)
    inside: PerKernel = field(init=False)
    before: PerKernel = field(init=False)

    def __post_init__(self) -> None:
        self.inside = PerKernel(self.kernels)
        self.before = PerKernel(self.kernels)

    def add(self, category: str, ops: float, kernel: int | None = None, gap: bool = False) -> None:
        if ops == 0:
            return
        self.losses_ops[category] += ops
        if kernel is not None:
            (self.before if gap else self.inside).add(kernel, CATEGORY_INDEX[category], ops)

    def kernel_losses(self, kernel: int) -> dict[str, float]:
        """Ops lost inside one kernel, by category (non-zero ones)."""
        return _named(self.inside.row(kernel))

    def gap_losses(self, kernel: int) -> dict[str, float]:
        """Ops lost while the kernel's unit idled before it, waiting for it."""
        return _named(self.before.row(kernel))


def _named(row: array) -> dict[str, float]:
    return {c: float(v) for c, v in zip(LOSS_CATEGORIES, row, strict=True) if v != 0}


@dataclass(frozen=True, slots=True)
class UnitNumbers:
    """What kernel_breakdown needs of a unit, the same for all its kernels."""

    f_nominal: float  # Hz
    best: float  # its best rate for the run's dtype, MAC slots per cycle per instance
    instances: int

    @classmethod
    def of(cls, chip: Chip, unit: str, dtype: str) -> UnitNumbers:
        spec = chip.units[unit]
        return cls(chip.unit_clock(unit), spec.best_rate(dtype), spec.instances)


def kernel_breakdown(
    kernel: Kernel,
    chip: Chip,
    dtype: str,
    record,
    overlap: bool,
    numbers: UnitNumbers | None = None,
) -> dict[str, float]:
    """Seconds of the unit's full capacity lost to each category inside one kernel
    (`numbers`: the unit's, if the caller has them)."""
    numbers = numbers or UnitNumbers.of(chip, kernel.unit, dtype)
    f_nominal, best, instances = numbers.f_nominal, numbers.best, numbers.instances
    active = kernel.active_instances(instances)
    active_share = active / instances
    busy = record.end - record.compute_start
    if kernel.overhead is not None:
        return {"launch": record.compute_start - record.start, kernel.overhead: busy, "useful": 0.0}
    actual = record.compute_s
    # while the kernel computes, instances without a tile starve; once only bytes are
    # left to move, the whole unit waits on memory, busy or not
    seconds = {
        "launch": record.compute_start - record.start,
        "starvation": actual * (1 - active_share),
    }
    ideal = unspecialized = sustained = shape = spread = 0.0
    extras: dict[str, float] = {}
    for stage in kernel.stages:
        if stage.slots == 0:
            continue
        ideal += stage.useful_ops / (2 * active * best * f_nominal)
        at_class = stage.slots / (active * stage.rate * f_nominal)
        at_sustained = at_class / stage.efficiency
        padded = stage.padded_slots / (active * stage.rate * stage.efficiency * f_nominal)
        unspecialized += at_class - stage.useful_ops / (2 * active * best * f_nominal)
        sustained += at_sustained - at_class
        shape += padded - at_sustained
        spread += padded
        for category, cycles in stage.extras:
            extra = stage.tiles * cycles / (active * f_nominal)
            extras[category] = extras.get(category, 0.0) + extra
            spread += extra
    nominal = kernel.compute_cycles(instances) / f_nominal
    for category, value in (
        *extras.items(),
        ("unspecialized", unspecialized),
        ("sustained", sustained),
        ("shape", shape),
        ("starvation", nominal - spread),
        ("thermal", actual - nominal),
    ):
        seconds[category] = seconds.get(category, 0.0) + value * active_share
    rest = busy - actual
    no_overlap = 0.0 if overlap else min(rest, actual)
    # the DRAM latency is paid by every tile in parallel: instances idle through it were
    # starved of tiles; time spent streaming bytes is memory for the whole unit
    moves = kernel.traffic(record.batch) > 0
    latency = chip.memory.dram.latency if moves else 0.0
    if chip.dma is not None and moves:
        latency += chip.dma.setup_latency
    latency_wait = min(rest - no_overlap, latency)
    seconds["starvation"] += latency_wait * (1 - active_share)
    seconds["memory"] = rest - no_overlap - latency_wait * (1 - active_share)
    seconds["no_overlap"] = no_overlap
    seconds["useful"] = ideal * active_share
    return seconds


def account(
    kernels: list[Kernel],
    trace: Trace,
    chip: Chip,
    dtype: str,
    overlap: bool,
    serial_input: bool = False,
) -> Accounting:
    """Split every peak unit's capacity over [0, T]; per-kernel losses are summed over batches.

    With `serial_input` (inputs loaded with no prefetch), the part of a wait for input that
    prefetching could have hidden behind the previous batch's work is `no_overlap`.
    """
    result = Accounting(kernels=len(kernels))
    per_batch = len(kernels)
    host_busy = [(r.start, r.end) for r in trace.records if kernels[r.kernel].host]
    for unit_name, unit in chip.units.items():
        if not unit.peak:
            continue
        peak = chip.unit_peak_ops(unit_name, dtype)
        cursor = 0.0
        useful = 0.0
        mine = sorted((r for r in trace.records if r.unit == unit_name), key=lambda r: r.start)
        numbers = UnitNumbers.of(chip, unit_name, dtype)
        for record in mine:
            kernel = kernels[record.kernel]
            for category, span in _gap_blame(
                kernel, record, kernels, trace, per_batch, cursor, serial_input
            ):
                result.add(category, peak * span, kernel.index, gap=True)
            parts = kernel_breakdown(kernel, chip, dtype, record, overlap, numbers)
            useful += peak * parts.pop("useful")
            for category, span in parts.items():
                result.add(category, peak * span, kernel.index)
            cursor = record.end
        for category, span in _tail_blame(cursor, trace.end, host_busy):
            result.add(category, peak * span)
        result.unit_useful[unit_name] = useful
        result.useful_ops += useful
    return result


def _gap_blame(
    kernel: Kernel,
    record,
    kernels: list[Kernel],
    trace: Trace,
    per_batch: int,
    start: float,
    serial_input: bool,
) -> list[tuple[str, float]]:
    """Split an idle gap by the earliest still-pending reason the kernel could not start."""
    end = record.start
    if end <= start:
        return []
    pending = [(record.launched, "launch")]
    base = record.batch * per_batch
    for dep in kernel.deps:
        category = "host_fallback" if kernels[dep].host else "idle_unit"
        pending.append((trace.records[base + dep].end, category))
    if kernel.needs_input:
        pending.append((trace.batches[record.batch].input_ready, "input_io"))
    blame: list[tuple[str, float]] = []
    cursor = start
    for when, category in sorted(pending):
        if when <= cursor:
            continue
        stop = min(when, end)
        if category == "input_io" and serial_input and record.batch > 0:
            previous = trace.batches[record.batch - 1]
            hideable = min(stop - cursor, previous.end - previous.input_ready)
            blame.append(("no_overlap", hideable))
            blame.append(("input_io", stop - cursor - hideable))
        else:
            blame.append((category, stop - cursor))
        cursor = stop
        if cursor >= end:
            break
    if cursor < end:
        blame.append(("idle_unit", end - cursor))
    return blame


def _tail_blame(
    start: float, end: float, host_busy: list[tuple[float, float]]
) -> list[tuple[str, float]]:
    """After a unit's last kernel: host_fallback while the host computes, else idle_unit."""
    if end <= start:
        return []
    host = sum(max(0.0, min(e, end) - max(s, start)) for s, e in host_busy)
    return [("host_fallback", host), ("idle_unit", end - start - host)]
