"""The discrete-event engine: how time passes when kernels run on a chip.

SimPy processes, each a hardware block you can find in the chip spec:
- `launcher`: the host thread. It loads the input, then issues kernels in program order,
  `launch.latency` each (or once for the whole graph with graph launch), never more
  than `launch.queue_depth` ahead of the device. A host kernel (an op no accelerator
  supports) makes it wait for its inputs, copy them over the host link, compute on the
  host CPU and copy the results back before it launches anything else.
- one process per device kernel: waits for its launch and its producers, holds its unit
  (one kernel at a time per unit; different units run concurrently), pays the device
  gap, then computes and moves bytes, overlapped (double buffering) or one after the other.
- `SharedLink`: DRAM and the host link; every transfer in flight gets an equal share of
  the bandwidth, capped by its own limit (a DMA engine's bandwidth), water-filled.
The engine only records what happened (`Trace`); accounting happens afterwards.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import simpy

from hardware.chip import Chip
from sim.lower import Kernel

EPSILON_BYTES = 1e-6


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
        self.busy_since: float | None = None
        self.busy_s = 0.0
        self.bytes_moved = 0.0

    def transfer(self, nbytes: float, cap: float = float("inf")) -> simpy.Event:
        """An event that fires when `nbytes` have crossed the link."""
        done = self.env.event()
        if nbytes <= EPSILON_BYTES:
            done.succeed()
            return done
        self._advance()
        self.active[self.next_id] = [nbytes, done, cap]
        self.next_id += 1
        self.bytes_moved += nbytes
        if self.busy_since is None:
            self.busy_since = self.env.now
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
            if self.busy_since is not None:
                self.busy_s += self.env.now - self.busy_since
                self.busy_since = None
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


@dataclass
class KernelRecord:
    """What happened to one kernel: the times accounting needs."""

    index: int
    unit: str
    launched: float = 0.0
    deps_ready: float = 0.0
    start: float = 0.0
    compute_start: float = 0.0
    end: float = 0.0
    compute_s: float = 0.0
    memory_s: float = 0.0
    clock_hz: float = 0.0
    dep_sources: list[int] = field(default_factory=list)


@dataclass
class Transfer:
    track: str
    start: float
    end: float
    label: str
    nbytes: float


@dataclass
class Trace:
    records: list[KernelRecord]
    transfers: list[Transfer]
    launches: list[tuple[float, float, int]]  # (start, end, kernel index)
    input_ready: float
    end: float
    events: int
    dram_busy_s: float


@dataclass(frozen=True)
class EngineOptions:
    overlap: bool = True
    graph_launch: bool = False
    inputs_on_device: bool = False
    input_bytes: float = 0.0


class Engine:
    """Runs kernels on a chip; `run()` returns the Trace."""

    def __init__(self, chip: Chip, kernels: list[Kernel], options: EngineOptions) -> None:
        self.chip = chip
        self.kernels = kernels
        self.options = options
        self.env = simpy.Environment()
        self.units = {n: simpy.Resource(self.env, capacity=1) for n in chip.units}
        self.dram = SharedLink(self.env, chip.memory.dram.bandwidth, "dram")
        self.host_link = SharedLink(self.env, chip.host_link.bandwidth, "host_link")
        dma = chip.dma
        self.dma = simpy.Resource(self.env, capacity=dma.engines) if dma else None
        self.launched = [self.env.event() for _ in kernels]
        self.done = [self.env.event() for _ in kernels]
        self.input_ready = self.env.event()
        self.records = [KernelRecord(k.index, k.unit) for k in kernels]
        self.transfers: list[Transfer] = []
        self.launches: list[tuple[float, float, int]] = []
        self.input_ready_at = 0.0

    def clock(self, unit: str) -> float:
        return self.chip.unit_clock(unit)

    def run(self) -> Trace:
        self.env.process(self.launcher())
        for kernel in self.kernels:
            if not kernel.host:
                self.env.process(self.device_kernel(kernel))
        events = 0
        while True:
            try:
                self.env.step()
            except simpy.core.EmptySchedule:
                break
            events += 1
        unfinished = [k.name for k, d in zip(self.kernels, self.done, strict=True) if not d.triggered]
        if unfinished:
            raise RuntimeError(f"simulation deadlocked; kernels never ran: {unfinished[:3]}")
        end = max([r.end for r in self.records] + [self.input_ready_at])
        return Trace(self.records, self.transfers, self.launches, self.input_ready_at, end, events,
                     self.dram.busy_s)

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
        self.transfers.append(Transfer(link.name, start, self.env.now, label, nbytes))

    def load_input(self):
        """Input source -> host memory -> device memory, before the first kernel needs it."""
        nbytes = self.options.input_bytes
        if nbytes > 0 and not self.options.inputs_on_device:
            source = self.chip.input_source
            start = self.env.now
            yield self.env.timeout(source.latency + nbytes / source.bandwidth)
            self.transfers.append(Transfer("input", start, self.env.now, "input load", nbytes))
            yield from self.move(self.host_link, nbytes, "input to device",
                                 self.chip.host_link.latency)
        self.input_ready_at = self.env.now
        self.input_ready.succeed()

    # --- processes ---------------------------------------------------------------------

    def launcher(self):
        launch = self.chip.launch
        graph_launch = self.options.graph_launch or launch.graph_launch
        yield from self.load_input()
        in_graph = False
        for kernel in self.kernels:
            if kernel.host:
                in_graph = False
                yield from self.host_kernel(kernel)
                continue
            oldest = kernel.index - launch.queue_depth
            if oldest >= 0 and not self.done[oldest].triggered:
                yield self.done[oldest]
            start = self.env.now
            if graph_launch:
                if not in_graph:
                    yield self.env.timeout(launch.graph_latency)
                    in_graph = True
            elif launch.latency > 0:
                yield self.env.timeout(launch.latency)
            self.launches.append((start, self.env.now, kernel.index))
            self.records[kernel.index].launched = self.env.now
            self.launched[kernel.index].succeed()

    def _wait_inputs(self, kernel: Kernel):
        waits = [self.done[d] for d in kernel.deps]
        if kernel.needs_input:
            waits.append(self.input_ready)
        if waits:
            start = self.env.now
            yield self.env.all_of(waits)
            self.records[kernel.index].memory_s += self.env.now - start
        record = self.records[kernel.index]
        record.deps_ready = self.env.now
        record.dep_sources = list(kernel.deps)

    def host_kernel(self, kernel: Kernel):
        record = self.records[kernel.index]
        record.launched = self.env.now
        yield from self._wait_inputs(kernel)
        with self.units[kernel.unit].request() as unit:
            yield unit
            record.start = self.env.now
            yield from self.move(self.host_link, kernel.host_in_bytes, f"{kernel.name} to host",
                                 self.chip.host_link.latency)
            record.compute_start = self.env.now
            cycles = kernel.compute_cycles(self.chip.units[kernel.unit].instances)
            record.clock_hz = self.clock(kernel.unit)
            record.compute_s = cycles / record.clock_hz
            yield self.env.timeout(record.compute_s)
            yield from self.move(self.host_link, kernel.host_out_bytes, f"{kernel.name} to device",
                                 self.chip.host_link.latency)
            record.end = self.env.now
        self.done[kernel.index].succeed()

    def device_kernel(self, kernel: Kernel):
        record = self.records[kernel.index]
        yield self.launched[kernel.index]
        yield from self._wait_inputs(kernel)
        spec = self.chip.units[kernel.unit]
        with self.units[kernel.unit].request() as unit:
            yield unit
            record.start = self.env.now
            overhead = self.chip.launch.device_gap + spec.kernel_overhead
            if overhead > 0:
                yield self.env.timeout(overhead)
            record.compute_start = self.env.now
            record.clock_hz = self.clock(kernel.unit)
            record.compute_s = kernel.compute_cycles(spec.instances) / record.clock_hz
            if self.options.overlap:
                compute = self.env.timeout(record.compute_s)
                memory = self.env.process(self.memory_phase(kernel))
                yield compute & memory
            else:
                yield from self.memory_phase(kernel, reads_only=True)
                yield self.env.timeout(record.compute_s)
                yield from self.memory_phase(kernel, writes_only=True)
            record.end = self.env.now
        self.done[kernel.index].succeed()

    def memory_phase(self, kernel: Kernel, reads_only: bool = False, writes_only: bool = False):
        """DRAM traffic (shared) alongside on-chip traffic; the slower one sets the pace."""
        reads = 0.0 if writes_only else kernel.dram_read_bytes
        writes = 0.0 if reads_only else kernel.dram_write_bytes
        share = 0.5 if (reads_only or writes_only) else 1.0
        onchip = kernel.onchip_bytes * share
        latency = self.chip.memory.dram.latency if (reads + writes) > 0 else 0.0
        l2 = self.chip.memory.l2
        onchip_s = onchip / l2.bandwidth if l2 else 0.0
        waits = []
        if reads + writes > 0:
            waits.append(self.env.process(self.move(self.dram, reads + writes, kernel.name, latency)))
        if onchip_s > 0:
            waits.append(self.env.timeout(onchip_s))
        if waits:
            start = self.env.now
            yield self.env.all_of(waits)
            self.records[kernel.index].memory_s += self.env.now - start
