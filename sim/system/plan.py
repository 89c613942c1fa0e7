"""A parallelism plan: how a model is laid over a system's chips, checked before any run.

A group of tp x pp chips runs one copy of the model: pp pipeline stages of L / pp layers
each, every stage split tensor-parallel over tp chips (or, for a mixture of experts,
expert-parallel over ep chips: sim/system/expert.py). `dp` copies of the group (data
parallel replicas) serve independent requests; in inference they exchange nothing.
Chips are numbered group by group, stage by stage: stage s of replica r holds chips
r*tp*pp + s*tp ... + tp - 1, so a stage's tensor-parallel group sits on neighbouring
chips (one NVLink node on a hierarchical system) and pipeline sends cross from one
group to the next.
"""

from __future__ import annotations

import dataclasses

from hardware.errors import InputError, expect_int
from hardware.system import System
from sim.system.expert import ep_problem
from sim.system.pipeline import SCHEDULES
from sim.system.tensor import StageSlice, shard
from workloads.zoo.transformer import TransformerConfig

MAX_BATCH = 4096


@dataclasses.dataclass(frozen=True)
class Plan:
    """Checked degrees of one run (see the module docstring for the chip layout)."""

    tp: int
    pp: int
    dp: int
    micro_batches: int
    schedule: str
    ep: int = 1

    @property
    def width(self) -> int:
        """Chips of one stage: tp tensor-parallel or ep expert-parallel."""
        return self.tp * self.ep

    @property
    def group(self) -> int:
        """Chips of one model copy."""
        return self.width * self.pp

    def stage_chips(self, stage: int) -> list[int]:
        """System chip indices of `stage` in the first replica."""
        return list(range(stage * self.width, (stage + 1) * self.width))

    def slices(self, config: TransformerConfig) -> list[StageSlice]:
        per_stage = config.layers // self.pp
        last = self.pp - 1
        return [StageSlice(per_stage, s == 0, s == last) for s in range(self.pp)]


def make_plan(
    config: TransformerConfig,
    system: System,
    *,
    tp: int | None,
    pp: int,
    dp: int | None,
    micro_batches: int,
    schedule: str,
    batch: int,
    ep: int = 1,
) -> Plan:
    """Check every degree against the system and the model; one InputError per problem."""
    chips = system.chips
    pp = expect_int(pp, "--pp", 1, chips)
    if config.layers % pp:
        divisors = [n for n in range(1, min(config.layers, chips) + 1) if config.layers % n == 0]
        raise InputError(
            f"--pp {pp}: {config.name!r} has {config.layers} layers, which do not split "
            f"evenly over {pp} pipeline stages; stages that work on {chips} chips: "
            f"{', '.join(map(str, divisors))}."
        )
    ep = expect_int(ep, "--ep", 1, chips)
    if tp is None:
        tp = chips // pp if ep == 1 else 1
    tp = expect_int(tp, "--tp", 1, chips)
    shard(config, tp)  # the heads, KV heads and MLP split tp ways, or a clear error
    problem = ep_problem(config, ep, tp)
    if problem:
        raise InputError(f"--ep {ep}: {problem}.")
    if chips % (tp * ep * pp):
        raise InputError(
            f"--tp {tp} x --ep {ep} x --pp {pp} = {tp * ep * pp} chips per model copy does "
            f"not divide the {chips} chips of {system.name!r}; choose degrees whose product "
            f"divides {chips}."
        )
    most = chips // (tp * ep * pp)
    dp = most if dp is None else expect_int(dp, "--dp", 1, most)
    batch = expect_int(batch, "--batch", 1, MAX_BATCH)
    micro_batches = expect_int(micro_batches, "--micro-batches", 1, batch)
    if batch % micro_batches:
        raise InputError(
            f"--micro-batches {micro_batches} does not divide --batch {batch}: every "
            f"micro-batch must hold the same number of sequences."
        )
    if batch % (micro_batches * ep):
        raise InputError(
            f"--batch {batch} must split into {micro_batches} micro-batches of {ep} equal "
            f"shares, one per expert-parallel chip: use a multiple of {micro_batches * ep}."
        )
    if schedule not in SCHEDULES:
        raise InputError(f"--schedule must be one of {', '.join(SCHEDULES)}, got {schedule!r}.")
    return Plan(tp=tp, pp=pp, dp=dp, micro_batches=micro_batches, schedule=schedule, ep=ep)
