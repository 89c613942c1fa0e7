"""Is the table additive? Random networks of the space: the sum of their rows against a
simulation of the whole network.

A NAS that searches with a lookup table predicts a network's latency as the sum of its
layers' rows. Two sums are compared with the whole network's simulated latency (its input
in device memory, as the first layer's `dram` row):
- `in context`: the first layer's `dram` row, then each later layer's `onchip` row (its
  input left on chip by the layer before, its launch overlapped);
- `isolated`: every layer's `dram` row, as a table measured layer by layer on a device is.
What the sums miss: fusion across layer boundaries, what else is on chip (the previous
layer's weights compete for it; the stand-in's do not), and overlap beyond one layer.
"""

from __future__ import annotations

import random
import statistics
from dataclasses import dataclass
from typing import Any

from hardware.chip import Chip
from sim.simulate import simulate
from sim.studies.lut.blocks import is_identity, network_graph
from sim.studies.lut.space import Space
from sim.studies.lut.table import in_memory

DEFAULT_NETWORKS = 5


@dataclass(frozen=True)
class Network:
    choices: list[str]  # one candidate per layer
    simulated_s: float  # the whole network
    in_context_s: float  # sum of rows: first `dram`, then `onchip`
    isolated_s: float  # sum of `dram` rows

    @property
    def in_context_error(self) -> float:
        """(sum - simulated) / simulated: positive when the table overestimates."""
        return relative(self.in_context_s, self.simulated_s)

    @property
    def isolated_error(self) -> float:
        return relative(self.isolated_s, self.simulated_s)


@dataclass(frozen=True)
class Additivity:
    space: str
    chip: str
    seed: int
    networks: list[Network]

    @property
    def mean_abs_in_context(self) -> float:
        return statistics.fmean(abs(n.in_context_error) for n in self.networks)

    @property
    def mean_abs_isolated(self) -> float:
        return statistics.fmean(abs(n.isolated_error) for n in self.networks)


def relative(estimate: float, reference: float) -> float:
    return (estimate - reference) / reference if reference else 0.0


def sample(space: Space, networks: int, seed: int) -> list[list[str]]:
    """`networks` random choices, one candidate per layer, reproducible from `seed`."""
    rng = random.Random(seed)
    return [
        [rng.choice(sorted(layer.candidates)) for layer in space.layers] for _ in range(networks)
    ]


def lut_sums(choices: list[str], rows: list[dict[str, Any]]) -> tuple[float, float]:
    """(in context, isolated) latency sums of one network from its table rows."""
    by_key = {(r["layer"], r["candidate"], r["context"]): r for r in rows}
    in_context = isolated = 0.0
    for index, name in enumerate(choices):
        dram = by_key[(index, name, "dram")]
        chained = by_key.get((index, name, "onchip"), dram) if isolated > 0 else dram
        isolated += dram["latency_s"]
        in_context += chained["latency_s"]  # `onchip` once an earlier layer ran anything
    return in_context, isolated


def check_additivity(
    space: Space,
    chip: Chip,
    *,
    networks: int = DEFAULT_NETWORKS,
    seed: int = 0,
    fusion: str = "epilogue",
    jobs: int | None = 1,
    chosen: list[list[str]] | None = None,
) -> Additivity:
    """Sums of table rows against whole-network simulations, for `networks` random
    networks of the space (or the `chosen` ones)."""
    picks = chosen if chosen is not None else sample(space, networks, seed)
    wanted = sorted({(i, name) for choices in picks for i, name in enumerate(choices)})
    rows = in_memory(space, chip, jobs=jobs, fusion=fusion, wanted=wanted)
    failed = [r for r in rows if r.get("error")]
    if failed:
        raise RuntimeError(
            f"layer {failed[0]['layer']} {failed[0]['candidate']}: {failed[0]['error']}"
        )
    found = []
    for number, choices in enumerate(picks):
        simulated = 0.0
        layers = zip(space.layers, choices, strict=True)
        if not all(is_identity(layer, layer.candidates[name]) for layer, name in layers):
            graph = network_graph(space.layers, choices, space.dtype, f"{space.name}.net{number}")
            simulated = simulate(graph, chip, fusion=fusion).latency_s
        found.append(Network(choices, simulated, *lut_sums(choices, rows)))
    return Additivity(space.name, chip.name, seed, found)
