"""The discrete-event engine: how time passes when kernels run on a chip.

SimPy processes, each a hardware block you can find in the chip spec:
- `loader`: brings each batch's input from the input source into host memory, then over
  the host link into device memory, at most `prefetch` batches ahead of the one computing
  (prefetch 0: batch b loads only after batch b-1 is done).
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
from collections import deque
from dataclasses import dataclass

import simpy

from hardware.chip import Chip
from sim.lower import Kernel
from sim.thermal import ThermalState, kernel_energy

EPSILON_BYTES = 1e-6
MAX_TRANSFERS = 40_000  # transfers and launches kept for the timeline (its first 20,000 spans)
THERMAL_STEPS = 10_000  # control periods before the thermal process coarsens its period


class UnitQueue:
    """One kernel at a time on a unit, first come first served. Taking a free unit costs
    no event (most kernels find their unit free), unlike a simpy.Resource request."""

    def __init__(self, env: simpy.Environment) -> None:
        self.env = env
        self.busy = False
        self.waiting: deque[simpy.Event] = deque()

    def acquire(self):
        if not self.busy:
            self.busy = True
            return
        turn = self.env.event()
        self.waiting.append(turn)
        yield turn  # the releasing kernel hands the unit over: it stays busy

    def release(self) -> None:
        if self.waiting:
            self.waiting.popleft().succeed()
        else:
            self.busy = False


class SharedLink:
    """A link whose bandwidth is shared by all transfers in flight (processor sharing)."""

    def __init__(self, env: simpy.Environment, bandwidth: float, name: str) -> None:
        self.env = env
        self.bandwidth = bandwidth
        self.name = name
        self.active: dict[int, list] = {}  # id -> [remaining bytes, done event, cap]
        self.updated = 0.0
        self.version = 0
        self.next_id = 0

    def transfer(
        self, nbytes: float, cap: float = float("inf"), done: simpy.Event | None = None
    ) -> simpy.Event:
        """An event (`done`, or a new one) that fires when `nbytes` have crossed the link."""
        done = self.env.event() if done is None else done
        if nbytes <= EPSILON_BYTES:
            done.succeed()
            return done
        self._advance()
        self.active[self.next_id] = [nbytes, done, cap]
        self.next_id += 1
        self._reschedule()
        return done

    def _rates(self) -> dict[int, float]:
        """Water-filling: equal shares, transfers below their share keep their cap."""
        rates: dict[int, float] = {}
        left = self.bandwidth
        pending = sorted(self.active, key=lambda i: (self.active[i][2], i))
        for position, key in enumerate(pending):
            share = left / (len(pending) - position)
            rates[key] = min(share, self.active[key][2])
            left -= rates[key]
        return rates

    def _advance(self) -> None:
        elapsed = self.env.now - self.updated
        if elapsed > 0 and self.active:
            for key, rate in self._rates().items():
                self.active[key][0] -= rate * elapsed
        self.updated = self.env.now

    def _reschedule(self) -> None:
        for key in [k for k, v in self.active.items() if v[0] <= EPSILON_BYTES]:
            self.active.pop(key)[1].succeed()
        self.version += 1
        if not self.active:
            return
        rates = self._rates()
        wait = min(self.active[k][0] / rates[k] for k in self.active)
        version = self.version
        self.env.timeout(wait).callbacks.append(lambda _event: self._wake(version))

    def _wake(self, version: int) -> None:
        if version != self.version:
            return
        rates = self._rates()
        self._advance()
        for key, value in self.active.items():  # due now, up to float rounding (1 ps)
            if value[0] <= rates[key] * 1e-12:
                value[0] = 0.0
        self._reschedule()


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


@dataclass
class Trace:
    records: list[KernelRecord]  # batch-major: record b * len(kernels) + k
    batches: list[BatchRecord]
    transfers: list[Transfer]
    launches: list[tuple[float, float, int]]  # (start, end, record index): the first ones
    launch_count: int
    end: float
    events: int
    energy_j: float
    thermal: list[tuple[float, float, float, float]]  # (time, temperature C, clock Hz, power W)
    level_s: list[float]  # seconds spent at each DVFS level

    def record(self, batch: int, kernel: int, per_batch: int) -> KernelRecord:
        return self.records[batch * per_batch + kernel]


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


class Engine:
    """Runs batches of kernels on a chip; `run()` returns the Trace."""

    def __init__(self, chip: Chip, kernels: list[Kernel], options: EngineOptions) -> None:
        self.chip = chip
        self.kernels = kernels
        self.options = options
        self.env = simpy.Environment()
        self.units = {n: UnitQueue(self.env) for n in chip.units}
        self.dram = SharedLink(self.env, chip.memory.dram.bandwidth, "dram")
        self.host_link = SharedLink(self.env, chip.host_link.bandwidth, "host_link")
        self.dma = simpy.Resource(self.env, capacity=chip.dma.engines) if chip.dma else None
        self.records: list[KernelRecord] = []
        self.done: list[simpy.Event] = []
        self.batch_done: list[simpy.Event] = []
        self.input_ready: list[simpy.Event] = []
        self.batches: list[BatchRecord] = []
        self.transfers: list[Transfer] = []
        self.launches: list[tuple[float, float, int]] = []
        self.launch_count = 0
        self.levels = chip.clock.levels()
        self.level = min(options.level, len(self.levels) - 1)
        self.energy_j = 0.0
        self.finished = False
        use_thermal = options.thermal and chip.thermal is not None
        self.thermal = ThermalState(chip, options.temperature_c) if use_thermal else None
        self.thermal_trace: list[tuple[float, float, float, float]] = []
        self.level_s = [0.0] * len(self.levels)
        self.level_since = 0.0

    def clock(self, unit: str) -> float:
        """A unit with its own clock (the host CPU) keeps it; the rest follow DVFS."""
        own = self.chip.units[unit].clock
        return own if own is not None else self.levels[self.level].frequency

    def voltage_scale(self) -> float:
        """Dynamic energy per operation scales with V^2 relative to the top level."""
        return (self.levels[self.level].voltage / self.levels[0].voltage) ** 2

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
        events = 0
        while True:
            try:
                self.env.step()
            except simpy.core.EmptySchedule:
                break
            events += 1
        if not self.finished:
            raise RuntimeError("simulation deadlocked: a launched batch never finished")
        ran = [b for b in self.batches if b.closed]
        records = self.records[: len(ran) * len(self.kernels)]
        end = max([r.end for r in records] + [b.end for b in ran] + [0.0])
        self.level_s[self.level] += max(0.0, end - self.level_since)
        return Trace(
            records,
            ran,
            self.transfers,
            self.launches,
            self.launch_count,
            end,
            events,
            self.energy_j,
            self.thermal_trace,
            self.level_s,
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

    def move(self, link: SharedLink, nbytes: float, label: str, latency: float = 0.0):
        """Move bytes over a link, through a DMA engine where the chip has them."""
        if nbytes <= 0:
            return
        start = self.env.now
        if self.dma is not None and self.chip.dma is not None:
            with self.dma.request() as engine:
                yield engine
                yield self.env.timeout(self.chip.dma.setup_latency + latency)
                yield link.transfer(nbytes, cap=self.chip.dma.bandwidth)
        else:
            if latency > 0:
                yield self.env.timeout(latency)
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
                elif launch.latency > 0:
                    yield self.env.timeout(launch.latency)
                self.launch_count += 1
                if len(self.launches) < MAX_TRANSFERS:
                    self.launches.append((start, self.env.now, index))
                self.records[index].launched = self.env.now
                self.env.process(self.device_kernel(kernel, batch))
            self.env.process(self._close_batch(batch))
            batch += 1
            if not self._more_batches(batch):
                self.env.process(self._finish(batch))
                return

    def _close_batch(self, batch: int):
        per_batch = len(self.kernels)
        yield self.env.all_of(self.done[batch * per_batch : (batch + 1) * per_batch])
        self.batches[batch].end = self.env.now
        self.batches[batch].closed = True
        self.batch_done[batch].succeed()

    def _finish(self, batches: int):
        yield self.env.all_of(self.batch_done[:batches])
        self.finished = True

    def _wait_inputs(self, kernel: Kernel, batch: int):
        base = batch * len(self.kernels)
        waits = [self.done[base + d] for d in kernel.deps]
        if kernel.needs_input:
            waits.append(self.input_ready[batch])
        pending = [w for w in waits if not w.processed]
        if len(pending) == 1:
            yield pending[0]
        elif pending:
            yield self.env.all_of(pending)

    def host_kernel(self, kernel: Kernel, batch: int):
        index = batch * len(self.kernels) + kernel.index
        record = self.records[index]
        record.launched = self.env.now
        yield from self._wait_inputs(kernel, batch)
        unit = self.units[kernel.unit]
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
        yield from self._wait_inputs(kernel, batch)
        spec = self.chip.units[kernel.unit]
        unit = self.units[kernel.unit]
        yield from unit.acquire()
        try:
            record.start = self.env.now
            overhead = self.chip.launch.device_gap + spec.kernel_overhead
            record.compute_start = record.start + overhead
            record.clock_hz = self.clock(kernel.unit)
            record.compute_s = kernel.compute_cycles(spec.instances) / record.clock_hz
            if self.options.overlap:
                # one timeout for the gap and the longer of compute and on-chip traffic
                # (neither is shared), the DRAM traffic alongside: few events per kernel
                l2 = self.chip.memory.l2
                onchip_s = kernel.onchip_bytes / l2.bandwidth if l2 else 0.0
                fixed = self.env.timeout(overhead + max(record.compute_s, onchip_s))
                traffic = kernel.traffic(batch)
                dram = self.memory_waits(kernel, record, overhead, traffic, 0.0)
                yield fixed if not dram else self.env.all_of([fixed, *dram])
                record.memory_s = max(record.memory_s, onchip_s)
            else:
                if overhead > 0:
                    yield self.env.timeout(overhead)
                for phase in ("read", "compute", "write"):
                    if phase == "compute":
                        yield self.env.timeout(record.compute_s)
                        continue
                    nbytes = (
                        kernel.read_bytes(batch) if phase == "read" else kernel.dram_write_bytes
                    )
                    waits = self.memory_waits(kernel, record, 0.0, nbytes, 0.5)
                    if waits:
                        yield self.env.all_of(waits)
            record.end = self.env.now
        finally:
            unit.release()
        if self.chip.thermal is not None:
            self.energy_j += kernel_energy(kernel, self.chip, self.voltage_scale(), batch)
        self.done[index].succeed()

    def memory_waits(
        self,
        kernel: Kernel,
        record: KernelRecord,
        delay: float,
        dram_bytes: float,
        onchip_share: float,
    ) -> list[simpy.Event]:
        """Events for a kernel's memory traffic starting `delay` from now: DRAM bytes over the
        shared link (after the DRAM latency), and on-chip bytes at the on-chip bandwidth.
        The slower one sets the pace; `record.memory_s` accumulates how long they took."""
        waits: list[simpy.Event] = []
        l2 = self.chip.memory.l2
        onchip_s = kernel.onchip_bytes * onchip_share / l2.bandwidth if l2 else 0.0
        if onchip_s > 0:
            waits.append(self.env.timeout(delay + onchip_s))
        begin = self.env.now + delay
        if dram_bytes > 0:
            latency = self.chip.memory.dram.latency
            if self.dma is not None:
                waits.append(
                    self.env.process(self._delayed_move(delay, dram_bytes, kernel.name, latency))
                )
            else:
                done = self.env.event()
                start = self.env.timeout(delay + latency)
                start.callbacks.append(lambda _e: self.dram.transfer(dram_bytes, done=done))
                done.callbacks.append(
                    lambda _e: self.record_transfer(
                        Transfer("dram", begin, self.env.now, kernel.name, dram_bytes)
                    )
                )
                waits.append(done)
        if waits:
            pending = [len(waits)]

            def finished(_event: simpy.Event) -> None:
                pending[0] -= 1
                if pending[0] == 0:
                    record.memory_s += self.env.now - begin

            for wait in waits:
                wait.callbacks.append(finished)
        return waits

    def _delayed_move(self, delay: float, nbytes: float, label: str, latency: float):
        if delay > 0:
            yield self.env.timeout(delay)
        yield from self.move(self.dram, nbytes, label, latency)

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
                (self.env.now, self.thermal.temperature, self.levels[self.level].frequency, power)
            )
            step = self.thermal.decide(power, self.level, len(self.levels))
            if step:
                self.set_level(self.level + step)
