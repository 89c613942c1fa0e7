"""A cache of kernel plans for the points of a sweep.

The plan (`sim.pipeline.plan`: assign units, fuse, lower) is a third or more of a point's
time, and most sweeps vary fields it never reads: DRAM bandwidth and latency, launch
latency, clocks of a one-accelerator chip, thermal and power figures. `plan_key` names
exactly what the plan reads from the chip, found by reading sim/lower.py, sim/fuse.py,
sim/traffic.py and sim/dataflow.py:

- every unit, in order, without `kernel_overhead` (an engine figure) and without its
  clock: which units exist, their rates, tiles, blocks, vector width and block, what
  they support, `peak` and `host` decide placement and stages (the host unit's first rate
  table is its fallback, so the order of every table counts);
- the on-chip capacity (`memory.onchip_bytes()`: L2 capacity, 0 without an L2) and
  whether the L2 is a scratchpad (sim/traffic.py pins weights in a scratchpad);
- the clock of each accelerator unit, but only when there are two or more: it only ranks
  accelerator units against each other (`assign_units`, `decompression_kernel`).

From the options: fusion mode, batches, whether the input is loaded and its compression,
and whether fp32 matmuls may use TF32.
The graph is the same object (the cache holds it, so its id cannot be reused).
tests/sim/test_sweep_plans.py changes each chip field outside the key and checks the plan
is unchanged, and that a cached sweep writes results identical to an uncached one.

Plans are shared, not copied: nothing after `plan` changes a `Kernel`.
"""

from __future__ import annotations

import json
import threading
from collections import OrderedDict

from hardware.chip import Chip
from sim.lower import Kernel
from sim.options import SimOptions
from sim.pipeline import plan
from workloads.graph import Graph

UNIT_FIELDS_NOT_PLANNED = frozenset({"kernel_overhead", "clock"})


def plan_key(chip: Chip) -> str:
    """The chip fields the plan depends on, as JSON (see the module docstring)."""
    accelerators = [name for name, unit in chip.units.items() if not unit.host]
    fields = {
        "units": [
            [name, unit.model_dump(exclude=UNIT_FIELDS_NOT_PLANNED)]
            for name, unit in chip.units.items()
        ],
        "onchip_bytes": chip.memory.onchip_bytes(),
        "scratchpad": chip.memory.l2 is not None and chip.memory.l2.policy == "scratchpad",
        "clocks": [chip.unit_clock(n) for n in accelerators] if len(accelerators) > 1 else None,
    }
    return json.dumps(fields)


def options_key(options: SimOptions) -> tuple:
    """The options the plan reads."""
    return (
        options.fusion,
        options.batches,
        options.loads_input,
        options.input_compression,
        options.tf32,
    )


class PlanCache:
    """The most recent `size` plans; `plan` is a drop-in for `sim.pipeline.plan`.

    Safe to share between threads (a dask worker with several threads)."""

    def __init__(self, size: int = 64) -> None:
        self.size = size
        self.hits = 0
        self.misses = 0
        self._plans: OrderedDict[tuple, tuple[Graph, list[Kernel]]] = OrderedDict()
        self._lock = threading.Lock()

    def plan(self, graph: Graph, chip: Chip, options: SimOptions) -> list[Kernel]:
        key = (id(graph), plan_key(chip), options_key(options))
        with self._lock:
            entry = self._plans.get(key)
            if entry is not None and entry[0] is graph:
                self._plans.move_to_end(key)
                self.hits += 1
                return list(entry[1])
        kernels = plan(graph, chip, options)
        with self._lock:
            self.misses += 1
            self._plans[key] = (graph, kernels)
            while len(self._plans) > self.size:
                self._plans.popitem(last=False)
        return list(kernels)
