"""The Result: everything a run found, as one pydantic model (the JSON contract).

Renderers (terminal summary, traces, plots) take a finished Result and draw it; nothing
here computes. `schema_version` changes whenever a field changes meaning; fields are only
ever added (1.2 added `provenance`), so an older file still loads.
"""

from __future__ import annotations

import html
from typing import Any

from pydantic import BaseModel, ConfigDict

from hardware.origin import Origin
from hardware.quantity import format_si

SCHEMA_VERSION = "1.2"


def ranked(losses: dict[str, float]) -> list[tuple[str, float]]:
    """Loss categories with a non-zero share, biggest first (ties by name)."""
    return sorted(((k, v) for k, v in losses.items() if v > 0), key=lambda kv: (-kv[1], kv[0]))


def top(losses: dict[str, float]) -> str:
    """The biggest loss category, or "none"."""
    items = ranked(losses)
    return items[0][0] if items else "none"


class Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class OpRow(Model):
    """One kernel (an op, or ops fused into one launch)."""

    name: str
    kinds: list[str]
    unit: str
    start_s: float
    end_s: float
    ops: float
    dram_bytes: float
    onchip_bytes: float
    intensity: float  # ops per DRAM byte (inf written as a large number for zero bytes)
    compute_s: float
    memory_s: float
    # what set the kernel's duration: the longest of its launch overhead (device gap and
    # kernel overhead), its compute and its memory time; "host" for host kernels, the
    # loss category for overhead kernels (input decompression)
    bound: str
    losses_ops: dict[str, float]  # ops of the unit's peak lost while the kernel ran
    waited_ops: dict[str, float] = {}  # lost while its unit idled before it, by reason

    def main_loss(self) -> str:
        """The biggest loss while the kernel ran (ties by name), or "-" when none."""
        items = ranked(self.losses_ops)
        return items[0][0] if items else "-"

    def lost_ops(self, category: str) -> float:
        """Ops of `category` lost in the kernel and in the idle time it waited through."""
        return self.losses_ops.get(category, 0.0) + self.waited_ops.get(category, 0.0)


class UnitUsage(Model):
    name: str
    peak: bool
    host: bool
    instances: int
    kernels: int
    busy_s: float  # computing or moving its kernels' bytes
    overhead_s: float = 0.0  # inside its kernels before compute: device gap, kernel overhead
    launch_wait_s: float = 0.0  # idle, its next kernel not launched yet (peak units only)
    utilization: float  # busy_s / duration
    useful_ops: float


class Segment(Model):
    """A span on one track of the timeline: a kernel, a transfer, or a launch."""

    track: str
    start_s: float
    end_s: float
    label: str
    kind: str  # kernel | transfer | launch | input
    nbytes: float = 0.0  # bytes moved, for transfers


class BatchStats(Model):
    """Per-batch latency over a stream: from the batch's input load to its last kernel."""

    count: int
    first_s: float
    median_s: float
    last_s: float


class SeriesPoint(Model):
    """One batch of a stream (or one control period, for thermal traces)."""

    time_s: float
    latency_s: float
    clock_hz: float
    temperature_c: float


class ThermalPoint(Model):
    time_s: float
    temperature_c: float
    clock_hz: float
    power_w: float


class Power(Model):
    energy_j: float
    average_w: float
    peak_w: float  # highest power over one control period (or one batch)
    max_temperature_c: float | None
    seconds_per_clock: dict[str, float]  # DVFS level ("960 MHz") -> seconds spent there
    trace: list[ThermalPoint]


class Provenance(Model):
    """What made a Result, enough to make it again (`topsim run --from result.json`)."""

    topsim_version: str
    chip: Origin  # preset name and overrides, or the file and its sha256
    workload: Origin  # builder name and parameters, or the file and its sha256
    options: dict[str, Any]  # every SimOptions field, defaults included


class Result(Model):
    schema_version: str = SCHEMA_VERSION
    workload: str
    chip: str
    dtype: str
    batch: int
    fusion: str
    overlap: bool
    graph_launch: bool
    latency_s: float  # one batch; over a stream, the median batch
    duration_s: float  # the whole run: equals latency_s for a single batch
    batches: int
    fast_forward: bool  # steady batches advanced analytically (see sim/sustain.py)
    batch_latency: BatchStats
    series: list[SeriesPoint]
    power: Power | None
    throughput: float  # items (batch elements) per second, over the whole run
    total_ops: float
    useful_ops: float
    offloaded_ops: float  # ops run on units outside the advertised peak (host, ...)
    peak_ops: float  # advertised peak, ops/s, for `dtype`
    delivered_ops_per_s: float
    efficiency: float  # delivered / peak
    losses_ops: dict[str, float]
    losses_s: dict[str, float]  # losses_ops / peak_ops: seconds of the whole chip
    # invariant: peak_ops * duration_s == useful_ops + sum(losses_ops.values())
    kernels: int
    launches: int
    dram_bytes: float
    events: int
    ops: list[OpRow]  # one per kernel; for huge graphs only the 5,000 longest (see `kernels`)
    units: list[UnitUsage]
    timeline: list[Segment]  # the first 20,000 spans by start time
    provenance: Provenance | None = None  # None in results written before schema 1.2

    def ranked_losses(self) -> list[tuple[str, float]]:
        return ranked(self.losses_ops)

    def top_loss(self) -> str:
        return top(self.losses_ops)

    def loss_share(self, category: str) -> float:
        """Fraction of peak capacity over the run lost to `category`."""
        capacity = self.peak_ops * self.duration_s
        return self.losses_ops.get(category, 0.0) / capacity if capacity else 0.0

    def __repr__(self) -> str:
        """One line (the full data is `model_dump()`; a notebook shows `_repr_html_`)."""
        return (
            f"Result({self.workload!r} on {self.chip!r}: {format_si(self.latency_s, 's')}, "
            f"{self.delivered_ops_per_s / 1e12:.3g} of {self.peak_ops / 1e12:.3g} TOP/s "
            f"({self.efficiency:.1%}), top loss {self.top_loss()})"
        )

    __str__ = __repr__

    def _repr_html_(self) -> str:
        """A compact table for Jupyter: what ran, how fast, the three biggest losses. Data
        only, formatted here: the renderers (sim.render) draw the full report."""
        losses = ", ".join(
            f"{html.escape(name)} {self.loss_share(name):.1%}"
            for name, _ in self.ranked_losses()[:3]
        )
        rows = [
            ("workload", html.escape(self.workload)),
            ("chip", html.escape(self.chip)),
            ("latency", format_si(self.latency_s, "s")),
            ("delivered", f"{self.delivered_ops_per_s / 1e12:.3g} TOP/s"),
            ("efficiency", f"{self.efficiency:.1%} of {self.peak_ops / 1e12:.3g} TOP/s"),
            ("top losses", losses or "none"),
        ]
        cells = "".join(
            f'<tr><th style="text-align:left">{name}</th><td style="text-align:left">'
            f"{value}</td></tr>"
            for name, value in rows
        )
        return f"<table>{cells}</table>"
