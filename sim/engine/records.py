"""What the engine records: the times accounting and the Result need, nothing else."""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple


class LaunchRecord(NamedTuple):
    """The host issuing one kernel: from `start` to `end`, for kernel record `record`."""

    start: float
    end: float
    record: int


class ThermalSample(NamedTuple):
    """One control period of the thermal model."""

    time_s: float
    temperature_c: float
    clock_hz: float
    power_w: float


@dataclass(slots=True)
class KernelRecord:
    """What happened to one kernel instance (kernel k of batch b): the times accounting needs."""

    kernel: int  # index in the per-batch kernel list
    batch: int
    unit: str
    launched: float = 0.0
    start: float = 0.0
    compute_start: float = 0.0
    end: float = 0.0
    compute_s: float = 0.0
    memory_s: float = 0.0
    clock_hz: float = 0.0


@dataclass(slots=True)
class Transfer:
    track: str
    start: float
    end: float
    label: str
    nbytes: float


@dataclass(slots=True)
class BatchRecord:
    start: float  # its input began loading (or its first kernel was launched)
    input_ready: float = 0.0
    end: float = 0.0
    closed: bool = False  # all its kernels finished


@dataclass(slots=True)
class Trace:
    records: list[KernelRecord]  # batch-major: record b * len(kernels) + k
    batches: list[BatchRecord]
    transfers: list[Transfer]
    launches: list[LaunchRecord]  # the first ones
    launch_count: int
    end: float
    events: int
    energy_j: float
    thermal: list[ThermalSample]
    level_s: list[float]  # seconds spent at each DVFS level


@dataclass(frozen=True)
class EngineOptions:
    overlap: bool = True
    graph_launch: bool = False
    load_input: bool = False
    input_bytes: float = 0.0  # per batch, as transferred (after compression)
    batches: int = 1
    prefetch: int = 0
    duration_s: float | None = None  # stop starting batches after this much time
    thermal: bool = True  # run the thermal model when the chip has one
    level: int = 0  # DVFS level to start at (fixed when thermal is off)
    temperature_c: float | None = None  # starting temperature (default: ambient)
    dispatch_s: float = 0.0  # the runtime's host time per kernel, on top of the launch
    # op kinds whose host path costs more, and that cost (the runtime's dispatch_by_kind)
    dispatch_by_kind: tuple[tuple[str, float], ...] = ()
    # a serving runtime's request path (0 bandwidth: none): a fixed round trip, then the
    # input bytes and the `response_bytes` of the output through it, before the host link
    request_latency_s: float = 0.0
    request_bandwidth: float = 0.0
    response_bytes: float = 0.0
