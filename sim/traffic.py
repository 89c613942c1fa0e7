"""What stays on chip, and the DRAM bytes that follow from it.

Lowering lists every kernel's touches of tensors in program order (`Access`); this module
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
from dataclasses import dataclass
from typing import Literal, NamedTuple

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


class Access(NamedTuple):
    """One touch of a tensor (a view root), in program order."""

    kernel: int  # the kernel touching it (-1: before any kernel, as a new input arrives)
    tensor: str
    action: Literal["read", "write", "stale"]  # stale: new data arrived in DRAM
    read_bytes: float = 0.0  # bytes a read moves from DRAM when the tensor is not on chip
    size: float = 0.0  # the tensor's bytes on chip
    weight: bool = False  # a constant of the graph


@dataclass(frozen=True, slots=True)
class Reads:
    """DRAM bytes each kernel reads in the first batch and in every later one."""

    first: list[float]
    steady: list[float]

    def total(self, batches: int) -> float:
        return sum(self.first) + sum(self.steady) * (batches - 1)


def replay(
    accesses: list[Access],
    kernels: int,
    residency: Residency,
    pinned: frozenset[str] = frozenset(),
    loaded: set[str] | None = None,
) -> list[float]:
    """DRAM bytes each kernel reads when the accesses run through `residency` (updated in
    place). `pinned` tensors live in a reserved region: read once, when first `loaded`."""
    reads = [0.0] * kernels
    loaded = set() if loaded is None else loaded
    for access in accesses:
        if access.tensor in pinned:
            if access.action == "read" and access.tensor not in loaded:
                reads[access.kernel] += access.size  # loaded whole, once
                loaded.add(access.tensor)
        elif access.action == "stale":
            residency.evict(access.tensor)
        elif access.action == "write":
            residency.touch(access.tensor, access.size)
        else:
            if not residency.resident(access.tensor):
                reads[access.kernel] += access.read_bytes
            residency.touch(access.tensor, access.size)
    return reads


def dram_reads(accesses: list[Access], kernels: int, chip: Chip, batches: int) -> Reads:
    """Per-kernel DRAM reads of a run of `batches` batches (see the module docstring)."""
    capacity = chip.memory.onchip_bytes()
    residency = Residency(capacity)
    first = replay(accesses, kernels, residency)
    if batches == 1:
        return Reads(first, first)
    carried = Reads(first, replay(accesses, kernels, residency))
    if chip.memory.l2 is None or chip.memory.l2.policy != "scratchpad":
        return carried
    pins = pinned_weights(accesses, capacity / 2)
    rest, loaded = Residency(capacity / 2), set[str]()
    with_pins = Reads(
        replay(accesses, kernels, rest, pins, loaded), replay(accesses, kernels, rest, pins, loaded)
    )
    return with_pins if with_pins.total(batches) < carried.total(batches) else carried


def pinned_weights(accesses: list[Access], budget: float) -> frozenset[str]:
    """The weights, in first-use order, up to the first that no longer fits `budget`."""
    pinned: set[str] = set()
    used = 0.0
    for access in accesses:
        if access.weight and access.tensor not in pinned:
            if used + access.size > budget:
                break
            pinned.add(access.tensor)
            used += access.size
    return frozenset(pinned)
