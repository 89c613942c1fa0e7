"""What stays on chip, and the DRAM bytes that follow from it.

Lowering lists every kernel's touches of tensors in program order (`Touches`); this module
replays them through a model of the on-chip memory:

- `Residency` is LRU over bytes: a tensor is on chip when the distinct bytes touched since
  its last touch, itself included, fit the capacity (its stack distance). More capacity
  never means more traffic.
- A read of a tensor not on chip moves its bytes from DRAM; a device kernel's write leaves
  its output on chip; new data from outside the chip (each batch's input, a host op's
  result copied back) makes any on-chip copy stale.
- A stream of batches: a cache carries what the previous batch left in it. A scratchpad's
  compiler may instead pin weights: those in first-use order that fit half the scratchpad
  are loaded once and stay, and the other half serves everything else. It keeps the plan
  that moves fewer bytes over the whole stream, batch 0 included; each plan moves fewer
  bytes with more capacity, and so does the better of the two.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Literal

from hardware.chip import Chip


class Residency:
    """Which tensors are on chip: LRU over bytes.

    Kept as the longest run of most recent tensors that fits, so each touch costs O(1)
    amortised; sizes are counted in half-bytes so the sums are exact integers (int4
    tensors have half bytes).
    """

    def __init__(self, capacity: float) -> None:
        self.capacity = int(capacity * 2)
        self.recent: OrderedDict[str, int] = OrderedDict()  # oldest first
        self.total = 0

    def resident(self, tensor: str) -> bool:
        return tensor in self.recent

    def evict(self, tensor: str) -> None:
        self.total -= self.recent.pop(tensor, 0)

    def touch(self, tensor: str, nbytes: float) -> None:
        size = int(round(nbytes * 2))
        self.total += size - self.recent.pop(tensor, 0)
        self.recent[tensor] = size
        while self.total > self.capacity:
            self.total -= self.recent.popitem(last=False)[1]


Action = Literal["read", "write", "stale"]  # stale: new data arrived in DRAM


@dataclass(slots=True)
class Touches:
    """Every touch of a tensor (a view root) by a kernel, in program order, as columns:
    a huge graph has millions, and columns of numbers and names cost the garbage
    collector nothing."""

    kernel: list[int] = field(default_factory=list)  # -1: before any kernel (a new input)
    tensor: list[str] = field(default_factory=list)
    action: list[Action] = field(default_factory=list)
    read_bytes: list[float] = field(default_factory=list)  # moved by a read that misses
    size: list[float] = field(default_factory=list)  # the tensor's bytes on chip
    weight: list[bool] = field(default_factory=list)  # a constant of the graph

    def add(
        self,
        kernel: int,
        tensor: str,
        action: Action,
        read_bytes: float = 0.0,
        size: float = 0.0,
        weight: bool = False,
    ) -> None:
        self.kernel.append(kernel)
        self.tensor.append(tensor)
        self.action.append(action)
        self.read_bytes.append(read_bytes)
        self.size.append(size)
        self.weight.append(weight)

    def rows(self):
        return zip(self.kernel, self.tensor, self.action, self.read_bytes, self.size, strict=True)


@dataclass(frozen=True, slots=True)
class Reads:
    """DRAM bytes each kernel reads in the first batch and in every later one."""

    first: list[float]
    steady: list[float]

    def total(self, batches: int) -> float:
        return sum(self.first) + sum(self.steady) * (batches - 1)


def replay(
    touches: Touches,
    kernels: int,
    residency: Residency,
    pinned: frozenset[str] = frozenset(),
    loaded: set[str] | None = None,
) -> list[float]:
    """DRAM bytes each kernel reads when the touches run through `residency` (updated in
    place). `pinned` tensors live in a reserved region: read once, when first `loaded`."""
    reads = [0.0] * kernels
    loaded = set() if loaded is None else loaded
    for kernel, tensor, action, read_bytes, size in touches.rows():
        if tensor in pinned:
            if action == "read" and tensor not in loaded:
                reads[kernel] += size  # loaded whole, once
                loaded.add(tensor)
        elif action == "stale":
            residency.evict(tensor)
        elif action == "write":
            residency.touch(tensor, size)
        else:
            if not residency.resident(tensor):
                reads[kernel] += read_bytes
            residency.touch(tensor, size)
    return reads


def dram_reads(touches: Touches, kernels: int, chip: Chip, batches: int) -> Reads:
    """Per-kernel DRAM reads of a run of `batches` batches (see the module docstring)."""
    capacity = chip.memory.onchip_bytes()
    residency = Residency(capacity)
    first = replay(touches, kernels, residency)
    if batches == 1:
        return Reads(first, first)
    carried = Reads(first, replay(touches, kernels, residency))
    if chip.memory.l2 is None or chip.memory.l2.policy != "scratchpad":
        return carried
    pins = pinned_weights(touches, capacity / 2)
    rest, loaded = Residency(capacity / 2), set[str]()
    with_pins = Reads(
        replay(touches, kernels, rest, pins, loaded), replay(touches, kernels, rest, pins, loaded)
    )
    return with_pins if with_pins.total(batches) < carried.total(batches) else carried


def pinned_weights(touches: Touches, budget: float) -> frozenset[str]:
    """The weights, in first-use order, up to the first that no longer fits `budget`."""
    pinned: set[str] = set()
    used = 0.0
    for tensor, size, weight in zip(touches.tensor, touches.size, touches.weight, strict=True):
        if weight and tensor not in pinned:
            if used + size > budget:
                break
            pinned.add(tensor)
            used += size
    return frozenset(pinned)
