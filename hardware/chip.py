"""What a chip is: compute units, memories, data movers, launch and thermal behaviour.

A `Chip` is frozen and validated once. Rates are MACs per cycle per instance for each
(op class, dtype) a unit supports; everything with a unit is SI inside (see quantity.py).
Derived figures (`peak_ops`, `ridge_point`) are computed, never stored.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator, model_validator

from hardware.quantity import (
    Bandwidth,
    Bytes,
    Celsius,
    Flag,
    Frequency,
    Joules,
    JoulesPerKelvin,
    KelvinPerWatt,
    Name,
    PositiveSeconds,
    Seconds,
    Text,
    Watts,
    reject_bool,
)

Dtype = Literal["fp64", "fp32", "tf32", "fp16", "bf16", "fp8", "int8", "int4"]
OpClass = Literal["matrix", "vector", "scalar"]

DTYPE_BYTES: dict[str, float] = {
    "fp64": 8,
    "fp32": 4,
    "tf32": 4,
    "fp16": 2,
    "bf16": 2,
    "fp8": 1,
    "int8": 1,
    "int4": 0.5,
}
OP_CLASSES: tuple[str, ...] = ("matrix", "vector", "scalar")
MAX_UNITS = 4096  # kinds of compute unit in one chip; each is simulated as its own resource

# counts and rates have a ceiling far above any real part (a typo, not a design, is above)
PositiveInt = Annotated[int, BeforeValidator(reject_bool), Field(gt=0, le=2**40)]
PositiveRate = Annotated[
    float, BeforeValidator(reject_bool), Field(gt=0, le=1e12, allow_inf_nan=False)
]


class Spec(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class DvfsLevel(Spec):
    """One operating point: clock frequency and core voltage."""

    frequency: Frequency
    voltage: PositiveRate


class Clock(Spec):
    """Nominal (advertised) clock and the DVFS ladder, fastest first."""

    nominal: Frequency
    dvfs: list[DvfsLevel] = []

    @model_validator(mode="after")
    def _ladder(self) -> Clock:
        freqs = [level.frequency for level in self.dvfs]
        if freqs and freqs != sorted(freqs, reverse=True):
            raise ValueError("dvfs levels must be listed fastest first")
        if freqs and freqs[0] < self.nominal:
            raise ValueError("the fastest dvfs level must be at least the nominal clock")
        return self

    def levels(self) -> list[DvfsLevel]:
        """The DVFS ladder, or a single level at the nominal clock (1 V) if none is given."""
        return list(self.dvfs) or [DvfsLevel(frequency=self.nominal, voltage=1.0)]


class Unit(Spec):
    """A kind of compute unit with `instances` identical copies (SMs, cores, arrays).

    `rates[op_class][dtype]` is MACs per cycle per instance (one MAC = 2 ops; an
    elementwise operation occupies one MAC slot). `tile` (M, N, K) is the native matrix
    shape work is padded to; `vector_width` the lanes vector work is padded to. One
    parallel tile of a matrix op is an output block from `blocks` (the lowering picks the
    block that finishes soonest); a vector op is split into chunks of `vector_block`
    elements. `supports` lists op kinds, or "*" for all. A `host` unit is the CPU that
    runs what no accelerator unit supports. `efficiency[op_class]` is the share of the
    class's rate that real kernels sustain (a published microbenchmark's best large GEMM
    over the rated peak: power-limited clocks, instruction and pipeline overheads), at
    least 1%: below that no real kernel runs. `matrix_efficiency[dtype]` overrides
    `efficiency.matrix` for a dtype whose best GEMMs sustain a different share of its own
    rate (fp8 at twice bf16's rate meets the power and issue limits sooner).
    `systolic` (rows, cols) marks the matrix engine as a weight-stationary systolic array
    of that many PEs: each fold of a tile then pays the array's fill and drain
    (sim/lower.py); None for engines that issue whole tiles at once (GPU tensor cores).
    """

    instances: PositiveInt
    rates: dict[OpClass, dict[Dtype, PositiveRate]]
    peak: Flag = True
    host: Flag = False
    clock: Frequency | None = None
    tile: tuple[PositiveInt, PositiveInt, PositiveInt] = (1, 1, 1)
    vector_width: PositiveInt = 1
    blocks: list[tuple[PositiveInt, PositiveInt]] = [(64, 64)]
    vector_block: PositiveInt = 4096
    supports: list[str] = ["*"]
    kernel_overhead: Seconds = 0.0
    efficiency: dict[OpClass, Annotated[float, Field(ge=0.01, le=1.0)]] = {}
    matrix_efficiency: dict[Dtype, Annotated[float, Field(ge=0.01, le=1.0)]] = {}
    systolic: tuple[PositiveInt, PositiveInt] | None = None

    @field_validator("rates")
    @classmethod
    def _some_rate(cls, rates: dict) -> dict:
        if not any(rates.values()):
            raise ValueError("a unit needs at least one (op class, dtype) rate")
        return rates

    @field_validator("blocks")
    @classmethod
    def _some_block(cls, blocks: list) -> list:
        if not blocks:
            raise ValueError("a unit needs at least one output block shape")
        return blocks

    def supports_kind(self, kind: str) -> bool:
        return "*" in self.supports or kind in self.supports

    def sustained_share(self, op_class: str, dtype: str) -> float:
        """The share of its rate that a kernel of `op_class` in `dtype` sustains."""
        if op_class == "matrix" and dtype in self.matrix_efficiency:
            return self.matrix_efficiency[dtype]  # type: ignore[index]
        return self.efficiency.get(op_class, 1.0)  # type: ignore[call-overload]

    def rate(self, op_class: str, dtype: str) -> float | None:
        """MACs per cycle per instance, or None if the unit cannot run this class/dtype."""
        return self.rates.get(op_class, {}).get(dtype)  # type: ignore[call-overload]

    def best_rate(self, dtype: str) -> float:
        """The fastest class's rate for `dtype` (0 if the unit has none)."""
        return max((table.get(dtype, 0.0) for table in self.rates.values()), default=0.0)


class Sustained(Spec):
    """A rated bandwidth and the share of it that real transfers sustain (refresh, bank
    and turnaround for DRAM; protocol overhead for links; tag, bank and fill conflicts for
    an on-chip cache), as copy microbenchmarks measure."""

    bandwidth: Bandwidth
    efficiency: float = Field(default=1.0, ge=0.01, le=1.0)

    @property
    def sustained_bandwidth(self) -> float:
        return self.bandwidth * self.efficiency


class Dram(Sustained):
    """Device memory; `bandwidth` is the rated figure."""

    capacity: Bytes
    latency: Seconds = 0.0


class OnChip(Sustained):
    """The last on-chip level: a hardware cache or a software-managed scratchpad;
    `bandwidth` is the rated figure, `efficiency` the share of it kernels sustain."""

    capacity: Bytes
    policy: Literal["cache", "scratchpad"] = "cache"


class LocalBuffer(Spec):
    """Per-instance buffer (shared memory, unified buffer)."""

    capacity: Bytes


class Memory(Spec):
    dram: Dram
    l2: OnChip | None = None
    local: LocalBuffer | None = None

    def onchip_bytes(self) -> float:
        return self.l2.capacity if self.l2 else 0.0


class Dma(Spec):
    """DMA engines moving DRAM<->scratchpad and host<->device; each has its own bandwidth."""

    engines: PositiveInt
    bandwidth: Bandwidth
    setup_latency: Seconds = 0.0


class HostLink(Spec):
    """PCIe or similar between host memory and device memory."""

    bandwidth: Bandwidth
    latency: Seconds = 0.0


class InputSource(Spec):
    """Where each batch's input comes from before it reaches host memory."""

    kind: Literal["memory", "disk", "camera", "network"] = "memory"
    bandwidth: Bandwidth = 1e15
    latency: Seconds = 0.0


class Launch(Spec):
    """Host-side cost of issuing kernels and the device-side gap between them.

    The host spends `latency` per kernel; at most `queue_depth` launched kernels wait
    ahead of the device. With `graph_launch` the whole graph is launched once for
    `graph_latency` and kernels then only pay the device gap.
    """

    latency: Seconds = 0.0
    device_gap: Seconds = 0.0
    queue_depth: PositiveInt = 1024
    graph_launch: Flag = False
    graph_latency: Seconds = 0.0


class Thermal(Spec):
    """Lumped RC thermal model and the power model that drives it."""

    resistance: KelvinPerWatt
    capacitance: JoulesPerKelvin
    ambient: Celsius = 25.0
    throttle: Celsius = 85.0
    release: Celsius = 80.0
    period: PositiveSeconds = 0.01
    static_power: Watts = 0.0
    energy_per_mac: dict[Dtype, Joules] = {}
    energy_per_dram_byte: Joules = 0.0
    energy_per_onchip_byte: Joules = 0.0
    power_cap: Watts | None = None

    @model_validator(mode="after")
    def _hysteresis(self) -> Thermal:
        if self.release > self.throttle:
            raise ValueError("release temperature must not be above the throttle temperature")
        if self.throttle <= self.ambient:
            raise ValueError("throttle temperature must be above ambient")
        if self.power_cap is not None and self.power_cap <= self.static_power:
            raise ValueError(
                f"power_cap ({self.power_cap:g} W) must be above static_power "
                f"({self.static_power:g} W): static power is drawn at every clock, so no "
                "DVFS level can hold the chip under that cap"
            )
        return self


# what a chip is summarized by when it states no default_dtype: the usual inference dtypes
MAIN_DTYPE_PREFERENCE = ("fp16", "bf16", "int8", "fp8", "tf32", "fp32", "int4", "fp64")


class Chip(Spec):
    """A whole accelerator (or SoC) as topsim sees it. See DESIGN.md, hardware/."""

    name: Name
    description: Text = ""
    hypothetical: Flag = False
    clock: Clock
    units: dict[Name, Unit]
    memory: Memory
    dma: Dma | None = None
    host_link: HostLink = HostLink(bandwidth=16e9, latency=2e-6)
    input_source: InputSource = InputSource()
    launch: Launch = Launch()
    thermal: Thermal | None = None
    # the dtype a workload is built in when the user names none (an int8-only inference
    # part); None: the builder's default if the chip has a peak for it, else the chip's
    # first supported dtype
    default_dtype: Dtype | None = None
    sources: dict[Text, Text] = {}

    @field_validator("units", mode="before")
    @classmethod
    def _few_units(cls, units: object) -> object:
        if isinstance(units, dict | list) and len(units) > MAX_UNITS:
            raise ValueError(
                f"a chip has at most {MAX_UNITS} kinds of unit, got {len(units):,}; give "
                "identical copies as one unit with `instances`"
            )
        return units

    @model_validator(mode="after")
    def _units_make_sense(self) -> Chip:
        if not self.units:
            raise ValueError("a chip needs at least one compute unit")
        if not any(u.peak and not u.host for u in self.units.values()):
            raise ValueError("at least one non-host unit must count toward the peak (peak: true)")
        if sum(u.host for u in self.units.values()) > 1:
            raise ValueError("at most one unit may be the host (host: true)")
        for name, unit in self.units.items():
            if unit.host and unit.peak:
                raise ValueError(f"units.{name}: the host unit cannot count toward the peak")
            if self.memory.l2 and unit.tile[0] * unit.tile[2] > self.memory.l2.capacity:
                raise ValueError(f"units.{name}.tile is larger than the on-chip memory")
        if self.default_dtype is not None and self.peak_ops(self.default_dtype) <= 0:
            raise ValueError(
                f"default_dtype {self.default_dtype} has no peak on this chip; its peak "
                f"dtypes: {', '.join(self.dtypes()) or 'none'}"
            )
        return self

    def unit_clock(self, name: str) -> float:
        unit = self.units[name]
        return unit.clock or self.clock.nominal

    def unit_peak_ops(self, name: str, dtype: str) -> float:
        """Ops/s of one unit at its best class for `dtype`, all instances, nominal clock."""
        unit = self.units[name]
        return 2.0 * unit.instances * unit.best_rate(dtype) * self.unit_clock(name)

    def peak_ops(self, dtype: str) -> float:
        """Advertised peak ops/s: units counted in the peak, best class, nominal clock."""
        return sum(self.unit_peak_ops(n, dtype) for n, u in self.units.items() if u.peak)

    def ridge_point(self, dtype: str) -> float:
        """Ops per DRAM byte above which the chip is compute-bound for `dtype`."""
        return self.peak_ops(dtype) / self.memory.dram.bandwidth

    def dtypes(self) -> list[str]:
        """Dtypes with a non-zero peak, in DTYPE_BYTES order."""
        return [d for d in DTYPE_BYTES if self.peak_ops(d) > 0]

    def main_dtype(self) -> str:
        """The dtype the chip is summarized by: its `default_dtype`, else the first of
        MAIN_DTYPE_PREFERENCE it has a peak for."""
        if self.default_dtype is not None:
            return self.default_dtype
        dtypes = self.dtypes()
        return next((d for d in MAIN_DTYPE_PREFERENCE if d in dtypes), dtypes[0])

    def host_unit(self) -> str | None:
        return next((n for n, u in self.units.items() if u.host), None)
