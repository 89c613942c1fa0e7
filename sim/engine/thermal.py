"""Thermal and power model: a lumped RC network driven by the power the work draws.

Power = static + dynamic, where the dynamic energy of a kernel is its MACs times the
energy per MAC of its dtype plus its DRAM and on-chip bytes times their energy per byte,
scaled by (V / V_top)^2 for the DVFS level it ran at. The die temperature follows

    C dT/dt = P - (T - T_ambient) / R,

integrated exactly over each control period with P held constant:
T' = T_amb + P R + (T - T_amb - P R) exp(-dt / (R C)). Above the throttle temperature (or
the power cap) the clock steps one DVFS level down; below the release temperature (and
under 90% of the cap) it steps back up: hysteresis, as firmware governors do.
"""

from __future__ import annotations

import math

from hardware.chip import Chip
from sim.lower import Kernel

CAP_RELEASE = 0.9  # step back up only once average power is this far under the cap


def kernel_energy(kernel: Kernel, chip: Chip, voltage_scale: float, batch: int = 0) -> float:
    """Dynamic joules of one kernel on the accelerator (host kernels heat the host, not it)."""
    thermal = chip.thermal
    if thermal is None or kernel.host:
        return 0.0
    per_mac = thermal.energy_per_mac
    joules = per_mac.get(kernel.dtype)
    if joules is None:  # a dtype the spec gives no energy for: the costliest one it gives
        joules = max(per_mac.values(), default=0.0)
    compute = sum(stage.slots for stage in kernel.stages) * joules
    moved = (
        kernel.traffic(batch) * thermal.energy_per_dram_byte
        + kernel.onchip_bytes * thermal.energy_per_onchip_byte
    )
    return (compute + moved) * voltage_scale


def cap_can_bind(chip: Chip) -> bool:
    """Whether any kernel could draw more than the power cap: static power plus every
    accelerator unit at its most power-hungry rate, DRAM and the on-chip level at full
    bandwidth, at the top clock. When it cannot, no kernel needs its power worked out."""
    thermal = chip.thermal
    if thermal is None or thermal.power_cap is None:
        return False
    costliest = max(thermal.energy_per_mac.values(), default=0.0)
    power = thermal.static_power + chip.memory.dram.bandwidth * thermal.energy_per_dram_byte
    if chip.memory.l2 is not None:
        power += chip.memory.l2.bandwidth * thermal.energy_per_onchip_byte
    for name, unit in chip.units.items():
        if unit.host:
            continue
        per_cycle = max(
            rate * thermal.energy_per_mac.get(dtype, costliest)
            for table in unit.rates.values()
            for dtype, rate in table.items()
        )
        power += per_cycle * unit.instances * chip.unit_clock(name)
    return power > thermal.power_cap


def capped_level(
    kernel: Kernel,
    chip: Chip,
    floor: int,
    batch: int,
    overlap: bool,
    voltage_scales: list[float],
    cycles: float,
    top_joules: float,
) -> int:
    """The fastest DVFS level, at or below `floor` (the thermal governor's), at which the
    kernel's power stays under the chip's power cap. `cycles` is the kernel's compute
    cycles on its unit, `top_joules` its `kernel_energy` at the top voltage (scale 1), both
    as the engine has them already.

    GPUs hold their power limit within milliseconds by lowering the clock; a kernel's
    power is the static power plus its dynamic energy (MACs, bytes moved, scaled by V^2)
    over its duration at that clock, with its bytes moved at the sustained DRAM bandwidth.
    Memory-bound kernels barely change power with the clock; compute-bound ones do.
    """
    thermal = chip.thermal
    if thermal is None or thermal.power_cap is None or kernel.host:
        return floor
    levels = chip.clock.levels()
    unit = chip.units[kernel.unit]
    if unit.clock is not None:  # a unit with its own clock is not capped with the rest
        return floor
    l2 = chip.memory.l2
    memory_s = kernel.traffic(batch) / chip.memory.dram.sustained_bandwidth
    memory_s += kernel.onchip_bytes / l2.sustained_bandwidth if l2 else 0.0
    overhead = chip.launch.device_gap + unit.kernel_overhead
    for level in range(floor, len(levels)):
        compute_s = cycles / levels[level].frequency
        busy = max(compute_s, memory_s) if overlap else compute_s + memory_s
        duration = overhead + busy
        if duration <= 0:
            return level
        power = thermal.static_power + top_joules * voltage_scales[level] / duration
        if power <= thermal.power_cap:
            return level
    return len(levels) - 1


class ThermalState:
    """Temperature of the die and the throttle decision."""

    def __init__(self, chip: Chip, temperature_c: float | None = None) -> None:
        assert chip.thermal is not None
        self.spec = chip.thermal
        self.temperature = self.spec.ambient if temperature_c is None else temperature_c
        self.max_temperature = self.temperature

    @property
    def time_constant_s(self) -> float:
        return self.spec.resistance * self.spec.capacitance

    def steady_temperature(self, power_w: float) -> float:
        return self.spec.ambient + power_w * self.spec.resistance

    def advance(self, power_w: float, seconds: float) -> None:
        target = self.steady_temperature(power_w)
        decay = math.exp(-seconds / self.time_constant_s)
        self.temperature = target + (self.temperature - target) * decay
        self.max_temperature = max(self.max_temperature, self.temperature)

    def decide(
        self, power_w: float, level: int, levels: int, temperature_c: float | None = None
    ) -> int:
        """-1, 0 or +1: the DVFS step (+1 is one level slower), at the die's temperature or
        at `temperature_c` (what the governor would answer there)."""
        temperature = self.temperature if temperature_c is None else temperature_c
        cap = self.spec.power_cap
        too_hot = temperature > self.spec.throttle or (cap is not None and power_w > cap)
        if too_hot:
            return 1 if level + 1 < levels else 0
        cool = temperature < self.spec.release and (cap is None or power_w < CAP_RELEASE * cap)
        return -1 if cool and level > 0 else 0
