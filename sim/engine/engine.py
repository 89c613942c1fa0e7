"""The discrete-event engine: how time passes when kernels run on a chip.

SimPy processes, each a hardware block you can find in the chip spec:
- `loader`: brings each batch's input from the input source (or, with a serving runtime,
  through its request path) into host memory, then over the host link into device
  memory, at most `prefetch` batches ahead of the one computing (prefetch 0: batch b
  loads only after batch b-1 is done).
- `launcher`: the host thread. It issues kernels in program order, batch after batch,
  `launch.latency` each (or once per graph with graph launch), never more than
  `launch.queue_depth` ahead of the device. A host kernel (an op no accelerator
  supports) makes it wait for its inputs, copy them over the host link, compute on the
  host CPU and copy the results back before it launches anything else.
- one process per device kernel: waits for its launch and its producers, holds its unit
  (one kernel at a time per unit; different units run concurrently), pays the device
  gap, then computes and moves bytes, overlapped (double buffering) or one after the other.
- `SharedLink`: DRAM and the host link; every transfer in flight gets an equal share of
  the bandwidth, capped by its own limit (a DMA engine's bandwidth), water-filled.
- `thermal`: every control period, integrates the lumped RC model with the power drawn
  (static + energy of the work finished in the period) and moves the clock one DVFS
  level down above the throttle temperature (or power cap) and up below the release one.
The engine only records what happened (`Trace`); accounting happens afterwards.
"""

from __future__ import annotations

import math

import simpy

from hardware.chip import Chip
from hardware.errors import InputError
from sim.engine.records import (
    BatchRecord,
    EngineOptions,
    KernelRecord,
    LaunchRecord,
    ThermalSample,
    Trace,
    Transfer,
)
from sim.engine.resources import SharedLink, UnitQueue, all_done
from sim.engine.thermal import ThermalState, cap_can_bind, capped_level, kernel_energy
from sim.lower import Kernel

# The simulation budget: a run needing more events than this would take many minutes (a
# 1M-op graph needs about 3M), and a run whose clock stays put for STALL_EVENTS events in a
# row is not progressing (a time so large that adding a kernel's duration leaves it equal).
MAX_EVENTS = 30_000_000
STALL_EVENTS = 2_000_000

MAX_TRANSFERS = 40_000  # transfers and launches kept for the timeline (its first 20,000 spans)
THERMAL_STEPS = 10_000  # control periods before the thermal process coarsens its period


class Engine:
    """Runs batches of kernels on a chip; `run()` returns the Trace."""

    def __init__(self, chip: Chip, kernels: list[Kernel], options: EngineOptions) -> None:
        self.chip = chip
        self.kernels = kernels
        self.options = options
        self.env = simpy.Environment()
        self.units = {n: UnitQueue(self.env) for n in chip.units}
        self.dram = SharedLink(self.env, chip.memory.dram.sustained_bandwidth, "dram")
        self.host_link = SharedLink(self.env, chip.host_link.bandwidth, "host_link")
        self.dma = simpy.Resource(self.env, capacity=chip.dma.engines) if chip.dma else None
        self.records: list[KernelRecord] = []
        self.done: list[simpy.Event] = []
        self.batch_done: list[simpy.Event] = []
        self.input_ready: list[simpy.Event] = []
        self.batches: list[BatchRecord] = []
        self.transfers: list[Transfer] = []
        self.launches: list[LaunchRecord] = []
        # host time to issue each kernel: the driver's launch plus the runtime's dispatch
        by_kind = dict(options.dispatch_by_kind)
        self.issue_s = [chip.launch.latency + options.dispatch_s] * len(kernels)
        if by_kind:
            self.issue_s = [
                chip.launch.latency
                + max([options.dispatch_s, *(by_kind.get(k, 0.0) for k in kernel.kinds)])
                for kernel in kernels
            ]
        self.launch_count = 0
        self.levels = chip.clock.levels()
        top = self.levels[0].voltage
        self.voltage_scales = [(level.voltage / top) ** 2 for level in self.levels]
        self.capped: dict[tuple[int, bool, int], int] = {}  # see power_level
        self.cap_binds = cap_can_bind(chip)
        self.level = min(options.level, len(self.levels) - 1)
        self.energy_j = 0.0
        self.finished = False
        use_thermal = options.thermal and chip.thermal is not None
        self.thermal = ThermalState(chip, options.temperature_c) if use_thermal else None
        self.thermal_trace: list[ThermalSample] = []
        self.level_s = [0.0] * len(self.levels)
        self.level_since = 0.0
        # per kernel, what every batch of it needs: its unit's fixed overhead before
        # compute (device gap + kernel overhead), its cycles and its on-chip seconds
        l2 = chip.memory.l2
        self.overhead = [
            chip.launch.device_gap + chip.units[k.unit].kernel_overhead for k in kernels
        ]
        self.cycles = [k.compute_cycles(chip.units[k.unit].instances) for k in kernels]
        self.onchip_s = [k.onchip_bytes / l2.sustained_bandwidth if l2 else 0.0 for k in kernels]
        self.top_energy: dict[tuple[int, bool], float] = {}  # see energy

    def clock(self, unit: str) -> float:
        """A unit with its own clock (the host CPU) keeps it; the rest follow DVFS."""
        own = self.chip.units[unit].clock
        return own if own is not None else self.levels[self.level].frequency

    def voltage_scale(self, level: int | None = None) -> float:
        """Dynamic energy per operation scales with V^2 relative to the top level."""
        level = self.level if level is None else level
        return self.voltage_scales[level]

    def power_level(self, kernel: Kernel, batch: int) -> int:
        """The DVFS level a kernel runs at under the power cap (the same for every steady
        batch at one governor level, so it is worked out once)."""
        if not self.cap_binds:
            return self.level
        key = (kernel.index, batch > 0, self.level)
        level = self.capped.get(key)
        if level is None:
            level = self.capped[key] = capped_level(
                kernel,
                self.chip,
                self.level,
                batch,
                self.options.overlap,
                self.voltage_scales,
                self.cycles[kernel.index],
                self.top_joules(kernel, batch),
            )
        return level

    def energy(self, kernel: Kernel, batch: int, level: int) -> float:
        """A kernel's dynamic joules at a DVFS level."""
        return self.top_joules(kernel, batch) * self.voltage_scale(level)

    def top_joules(self, kernel: Kernel, batch: int) -> float:
        """A kernel's dynamic joules at the top voltage (as kernel_energy), worked out once:
        they are the same for every steady batch."""
        key = (kernel.index, batch > 0)
        joules = self.top_energy.get(key)
        if joules is None:
            joules = self.top_energy[key] = kernel_energy(kernel, self.chip, 1.0, batch)
        return joules

    def set_level(self, level: int) -> None:
        self.level_s[self.level] += self.env.now - self.level_since
        self.level_since = self.env.now
        self.level = level

    def run(self) -> Trace:
        if self.options.load_input:
            self.env.process(self.loader())
        self.env.process(self.launcher())
        if self.thermal is not None:
            self.env.process(self.thermal_control())
        events = stalled = 0
        env = self.env
        step = env.step
        before = env.now
        while True:
            try:
                step()
            except simpy.core.EmptySchedule:
                break
            events += 1
            now = env.now
            stalled = stalled + 1 if now == before else 0
            before = now
            if events > MAX_EVENTS or stalled > STALL_EVENTS:
                raise InputError(budget_message(events, stalled, now))
        if not self.finished:
            raise RuntimeError("simulation deadlocked: a launched batch never finished")
        ran = [b for b in self.batches if b.closed]
        records = self.records[: len(ran) * len(self.kernels)]
        end = max([r.end for r in records] + [b.end for b in ran] + [0.0])
        self.level_s[self.level] += max(0.0, end - self.level_since)
        return Trace(
            records=records,
            batches=ran,
            transfers=self.transfers,
            launches=self.launches,
            launch_count=self.launch_count,
            end=end,
            events=events,
            energy_j=self.energy_j,
            thermal=self.thermal_trace,
            level_s=self.level_s,
        )

    def _ensure_batch(self, batch: int) -> None:
        """Events and records up to `batch` (created as the stream reaches them)."""
        while len(self.batch_done) <= batch:
            number = len(self.batch_done)
            self.input_ready.append(self.env.event())
            self.batch_done.append(self.env.event())
            self.batches.append(BatchRecord(start=math.inf))
            for kernel in self.kernels:
                self.records.append(KernelRecord(kernel.index, number, kernel.unit))
                self.done.append(self.env.event())

    def _more_batches(self, batch: int) -> bool:
        if batch >= self.options.batches:
            return False
        duration = self.options.duration_s
        return duration is None or self.env.now < duration

    # --- data movement -----------------------------------------------------------------

    def move(
        self, link: SharedLink, nbytes: float, label: str, latency: float = 0.0, delay: float = 0.0
    ):
        """Move bytes over a link, starting `delay` from now and paying `latency` first,
        through a DMA engine where the chip has them."""
        if nbytes <= 0:
            return
        if self.dma is not None and self.chip.dma is not None:
            if delay > 0:
                yield self.env.timeout(delay)
            start = self.env.now
            with self.dma.request() as engine:
                yield engine
                yield self.env.timeout(self.chip.dma.setup_latency + latency)
                yield link.transfer(nbytes, cap=self.chip.dma.bandwidth)
        else:
            start = self.env.now + delay
            if delay + latency > 0:  # the bytes join the link once the latency is over
                done = self.env.event()
                self.env.timeout(delay + latency).callbacks.append(
                    lambda _event: link.transfer(nbytes, done=done)
                )
                yield done
            else:
                yield link.transfer(nbytes)
        self.record_transfer(Transfer(link.name, start, self.env.now, label, nbytes))

    def record_transfer(self, transfer: Transfer) -> None:
        """Keep the first MAX_TRANSFERS transfers: the timeline shows the start of a run."""
        if len(self.transfers) < MAX_TRANSFERS:
            self.transfers.append(transfer)

    def loader(self):
        """Input source -> host memory -> device memory, `prefetch` batches ahead."""
        batch = 0
        while batch < self.options.batches and not self.finished:
            if batch - self.options.prefetch - 1 >= 0:
                yield self.batch_done[batch - self.options.prefetch - 1]
                if self.finished:
                    return
            self._ensure_batch(batch)
            record = self.batches[batch]
            record.start = self.env.now
            nbytes = self.options.input_bytes
            if self.options.request_bandwidth > 0:
                yield from self.request(batch, nbytes)
            if nbytes > 0:
                source = self.chip.input_source
                start = self.env.now
                yield self.env.timeout(source.latency + nbytes / source.bandwidth)
                self.record_transfer(
                    Transfer("input", start, self.env.now, f"input {batch}", nbytes)
                )
                yield from self.move(
                    self.host_link, nbytes, f"input {batch} to device", self.chip.host_link.latency
                )
            record.input_ready = self.env.now
            self.input_ready[batch].succeed()
            batch += 1

    def request(self, batch: int, nbytes: float):
        """A serving runtime's request path: the round trip, and the payload through it."""
        payload = nbytes + self.options.response_bytes
        start = self.env.now
        options = self.options
        yield self.env.timeout(options.request_latency_s + payload / options.request_bandwidth)
        self.record_transfer(Transfer("input", start, self.env.now, f"request {batch}", payload))

    # --- processes ---------------------------------------------------------------------

    def launcher(self):
        launch = self.chip.launch
        graph_launch = self.options.graph_launch or launch.graph_launch
        per_batch = len(self.kernels)
        batch = 0
        while True:
            in_graph = False
            base = batch * per_batch
            self._ensure_batch(batch)
            if not self.options.load_input:  # the input is already in device memory
                self.batches[batch].start = self.batches[batch].input_ready = self.env.now
                self.input_ready[batch].succeed()
            for kernel in self.kernels:
                index = base + kernel.index
                if kernel.host:
                    in_graph = False
                    yield from self.host_kernel(kernel, batch)
                    continue
                oldest = index - launch.queue_depth
                if oldest >= 0 and not self.done[oldest].triggered:
                    yield self.done[oldest]
                start = self.env.now
                if graph_launch:
                    if not in_graph:
                        yield self.env.timeout(launch.graph_latency)
                        in_graph = True
                elif self.issue_s[kernel.index] > 0:
                    yield self.env.timeout(self.issue_s[kernel.index])
                self.launch_count += 1
                if len(self.launches) < MAX_TRANSFERS:
                    self.launches.append(LaunchRecord(start, self.env.now, index))
                self.records[index].launched = self.env.now
                self.env.process(self.device_kernel(kernel, batch))
            self.env.process(self._close_batch(batch))
            batch += 1
            if not self._more_batches(batch):
                self.env.process(self._finish(batch))
                return

    def _close_batch(self, batch: int):
        per_batch = len(self.kernels)
        yield all_done(self.env, self.done[batch * per_batch : (batch + 1) * per_batch])
        self.batches[batch].end = self.env.now
        self.batches[batch].closed = True
        self.batch_done[batch].succeed()

    def _finish(self, batches: int):
        yield all_done(self.env, self.batch_done[:batches])
        self.finished = True

    def _inputs(self, kernel: Kernel, batch: int) -> simpy.Event | None:
        """The event to wait for before the kernel's inputs are all there, or None."""
        base = batch * len(self.kernels)
        waits = [self.done[base + d] for d in kernel.deps]
        if kernel.needs_input:
            waits.append(self.input_ready[batch])
        pending = [w for w in waits if not w.processed]
        if len(pending) == 1:
            return pending[0]
        return all_done(self.env, pending) if pending else None

    def host_kernel(self, kernel: Kernel, batch: int):
        index = batch * len(self.kernels) + kernel.index
        record = self.records[index]
        record.launched = self.env.now
        inputs = self._inputs(kernel, batch)
        if inputs is not None:
            yield inputs
        unit = self.units[kernel.unit]
        if not unit.take():
            yield from unit.acquire()
        try:
            record.start = self.env.now
            yield from self.move(
                self.host_link,
                kernel.host_in_bytes,
                f"{kernel.name} to host",
                self.chip.host_link.latency,
            )
            record.compute_start = self.env.now
            cycles = kernel.compute_cycles(self.chip.units[kernel.unit].instances)
            record.clock_hz = self.clock(kernel.unit)
            record.compute_s = cycles / record.clock_hz
            yield self.env.timeout(record.compute_s)
            yield from self.move(
                self.host_link,
                kernel.host_out_bytes,
                f"{kernel.name} to device",
                self.chip.host_link.latency,
            )
            record.end = self.env.now
        finally:
            unit.release()
        self.done[index].succeed()

    def device_kernel(self, kernel: Kernel, batch: int):
        index = batch * len(self.kernels) + kernel.index
        record = self.records[index]
        inputs = self._inputs(kernel, batch)
        if inputs is not None:
            yield inputs
        spec = self.chip.units[kernel.unit]
        unit = self.units[kernel.unit]
        if not unit.take():  # a free unit is taken at no cost
            yield from unit.acquire()
        try:
            record.start = self.env.now
            overhead = self.overhead[kernel.index]
            record.compute_start = record.start + overhead
            level = self.power_level(kernel, batch)
            own = spec.clock
            record.clock_hz = own if own is not None else self.levels[level].frequency
            record.compute_s = self.cycles[kernel.index] / record.clock_hz
            if self.options.overlap:
                # one timeout for the gap and the longer of compute and on-chip traffic
                # (neither is shared); the DRAM traffic moves meanwhile
                onchip_s = self.onchip_s[kernel.index]
                fixed = self.env.timeout(overhead + max(record.compute_s, onchip_s))
                yield from self.memory(kernel, record, overhead, kernel.traffic(batch))
                if not fixed.processed:
                    yield fixed
                record.memory_s = max(record.memory_s, onchip_s)
            else:
                if overhead > 0:
                    yield self.env.timeout(overhead)
                yield from self.memory(kernel, record, 0.0, kernel.read_bytes(batch), 0.5)
                yield self.env.timeout(record.compute_s)
                yield from self.memory(kernel, record, 0.0, kernel.dram_write_bytes, 0.5)
            record.end = self.env.now
        finally:
            unit.release()
        if self.chip.thermal is not None:
            self.energy_j += self.energy(kernel, batch, level)
        self.done[index].succeed()

    def memory(
        self,
        kernel: Kernel,
        record: KernelRecord,
        delay: float,
        dram_bytes: float,
        onchip_share: float = 0.0,
    ):
        """A kernel's bytes on the move, starting `delay` from now: `dram_bytes` over the
        shared DRAM after its latency (through a DMA engine where the chip has them), and
        `onchip_share` of its on-chip bytes at the on-chip bandwidth, side by side. The
        slower sets the pace; `record.memory_s` accumulates how long they took."""
        l2 = self.chip.memory.l2
        onchip_s = kernel.onchip_bytes * onchip_share / l2.sustained_bandwidth if l2 else 0.0
        if dram_bytes <= 0 and onchip_s <= 0:
            return
        begin = self.env.now + delay
        onchip = self.env.timeout(delay + onchip_s) if onchip_s > 0 else None
        if dram_bytes > 0:
            latency = self.chip.memory.dram.latency
            yield from self.move(self.dram, dram_bytes, kernel.name, latency, delay)
        if onchip is not None and not onchip.processed:
            yield onchip
        record.memory_s += self.env.now - begin

    def thermal_control(self):
        """Integrate temperature each control period and step the DVFS level.

        A run that lasts more than THERMAL_STEPS control periods (a huge batch, an absurd
        latency) doubles the period every THERMAL_STEPS steps, so the number of steps
        stays logarithmic in the simulated time: coarser control, but bounded work.
        """
        assert self.thermal is not None and self.chip.thermal is not None
        period = self.chip.thermal.period
        last_energy = 0.0
        steps = 0
        while not self.finished:
            steps += 1
            if steps % THERMAL_STEPS == 0:
                period *= 2
            yield self.env.timeout(period)
            power = self.chip.thermal.static_power + (self.energy_j - last_energy) / period
            last_energy = self.energy_j
            self.thermal.advance(power, period)
            self.thermal_trace.append(
                ThermalSample(
                    self.env.now, self.thermal.temperature, self.levels[self.level].frequency, power
                )
            )
            step = self.thermal.decide(power, self.level, len(self.levels))
            if step and not self.finished:  # a step after the last kernel slows nothing
                self.set_level(self.level + step)


def budget_message(events: int, stalled: int, now_s: float) -> str:
    """Why a run was stopped, and what to change."""
    if stalled > STALL_EVENTS:
        return (
            f"the simulation stopped: simulated time stayed at {now_s:.6g} s for "
            f"{stalled:,} events, so it would never finish; a latency, period or clock of "
            "the chip is out of proportion with its kernels' durations."
        )
    return (
        f"the simulation stopped after {MAX_EVENTS:,} events at {now_s:.6g} s of simulated "
        "time; simulate fewer batches (or a shorter --duration, or let the stream "
        "fast-forward), a smaller graph, or a thermal period that is not tiny."
    )
