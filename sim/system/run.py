"""`run_system`: a transformer, tensor-parallel over a system's chips, in a prefill and
one decode step; per-chip latency, communication, memory fit and the system accounting.

Stages: check the request, fit the shard in memory, then for each phase simulate one
chip's shard (`sim.simulate`), add its collectives on the critical path, and account:

    latency_s  = chip latency + sum of collectives   (no overlap of compute and comms)
    useful     = tp x the chip's useful ops
    losses     = tp x each chip loss category, + communication = system peak x comm time

A model that does not fit still runs (the latency is what it would be with enough
memory); `memory.fits` is false and the result says by how much and which degree fits.
"""

from __future__ import annotations

from hardware.errors import InputError, expect_int
from hardware.system import System
from sim.result import Result
from sim.simulate import simulate
from sim.system.collectives import collective_s
from sim.system.results import (
    SYSTEM_LOSS_CATEGORIES,
    CollectiveCall,
    MemoryFit,
    Phase,
    SystemResult,
)
from sim.system.tensor import collectives, fitting_degree, memory_parts, shard
from workloads.zoo.transformer import CONFIGS, TransformerConfig, transformer

MAX_BATCH = 4096

ASSUMPTIONS = [
    "Megatron-style tensor parallelism: heads, MLP width and vocabulary split over the chips;"
    " norms and residual adds replicated",
    "collectives run after the compute they follow, never overlapped with it",
    "ring collective algorithms (no tree, no in-switch reduction); reduction arithmetic free",
    "every chip runs the same shard in the same time: one chip is simulated for all",
    "chips beyond the TP group form data-parallel replicas; tokens/s counts them",
    "system losses (communication) are reported here, apart from the single-chip categories",
]


def run_system(
    model: str,
    system: System,
    *,
    tp: int | None = None,
    seq: int = 512,
    batch: int = 1,
    dtype: str | None = None,
) -> SystemResult:
    """Simulate `model` (a transformer of the zoo) tensor-parallel over `tp` chips of
    `system` (default: all): a prefill of `seq` tokens and one decode step after it."""
    if model not in CONFIGS:
        raise InputError(f"unknown transformer {model!r}; known: {', '.join(CONFIGS)}.")
    config = CONFIGS[model]
    tp = system.chips if tp is None else expect_int(tp, "--tp", 1, system.chips)
    seq = expect_int(seq, "--seq", 1, config.max_positions - 1)
    batch = expect_int(batch, "--batch", 1, MAX_BATCH)
    chip = system.chip
    dtype = dtype or chip.default_dtype or ("fp16" if chip.peak_ops("fp16") else chip.main_dtype())
    part = shard(config, tp)
    memory = _memory(config, system, tp, batch, seq, dtype)
    phases = {}
    for name, new, cached in (("prefill", seq, 0), ("decode", 1, seq)):
        mode = "prefill" if name == "prefill" else "decode"
        graph = transformer(part, batch=batch, seq=new, dtype=dtype, mode=mode, kv=cached)
        chip_result = simulate(graph, chip, dtype=dtype)
        calls = [
            _call(kind, what, nbytes, count, system, tp)
            for kind, what, nbytes, count in collectives(config, tp, batch, new, dtype)
        ]
        replicas = system.chips // tp
        phases[name] = _phase(name, new, cached, chip_result, calls, tp, replicas * batch * new)
    return SystemResult(
        workload=model,
        system=system.name,
        chip=chip.name,
        chips=system.chips,
        tp=tp,
        replicas=system.chips // tp,
        dtype=dtype,
        batch=batch,
        seq=seq,
        memory=memory,
        prefill=phases["prefill"],
        decode=phases["decode"],
        assumptions=ASSUMPTIONS,
    )


def _memory(
    config: TransformerConfig, system: System, tp: int, batch: int, seq: int, dtype: str
) -> MemoryFit:
    weights, kv, activations = memory_parts(config, tp, batch, seq, dtype)
    capacity = system.chip.memory.dram.capacity
    total = weights + kv + activations
    return MemoryFit(
        capacity_bytes=capacity,
        weights_bytes=weights,
        kv_cache_bytes=kv,
        activation_bytes=activations,
        total_bytes=total,
        fits=total <= capacity,
        overflow_bytes=max(0.0, total - capacity),
        fitting_tp=tp
        if total <= capacity
        else fitting_degree(config, system.chip, batch, seq, dtype),
    )


def _call(
    kind: str, what: str, nbytes: float, count: int, system: System, tp: int
) -> CollectiveCall:
    one = collective_s(kind, nbytes, tp, system.interconnect)
    return CollectiveCall(
        kind=kind, what=what, nbytes=nbytes, count=count, time_s=one, total_s=count * one
    )


def _phase(
    name: str,
    new: int,
    cached: int,
    chip_result: Result,
    calls: list[CollectiveCall],
    tp: int,
    tokens: int,
) -> Phase:
    """The system's accounting of one pass: tp chips, then the collectives."""
    comm_s = sum(call.total_s for call in calls)
    latency = chip_result.duration_s + comm_s
    peak = tp * chip_result.peak_ops
    losses = {c: tp * chip_result.losses_ops.get(c, 0.0) for c in SYSTEM_LOSS_CATEGORIES}
    losses["communication"] = peak * comm_s
    useful = tp * chip_result.useful_ops
    return Phase(
        name=name,
        new_tokens=new,
        cached_tokens=cached,
        chip_latency_s=chip_result.duration_s,
        communication_s=comm_s,
        latency_s=latency,
        communication_share=comm_s / latency if latency else 0.0,
        tokens_per_s=tokens / latency if latency else 0.0,
        collectives=calls,
        peak_ops=peak,
        useful_ops=useful,
        losses_ops=losses,
        efficiency=useful / (peak * latency) if latency else 0.0,
    )
