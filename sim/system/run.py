"""`run_system`: a transformer laid over a system's chips (tensor, pipeline and data
parallel), in a prefill and one decode step; per-stage and per-link use, memory fit and
the system accounting.

Stages: check the plan (sim/system/plan.py), fit each stage's shard in memory, then for
each phase simulate one chip of each distinct stage on a micro-batch (`sim.simulate`),
cost its tensor-parallel collectives and the sends between stages (sim/system/
collectives.py), stream the micro-batches through the stages (sim/system/pipeline.py),
and account, over the w x pp chips of one group (w = tp, or ep for expert parallel) and
the pass's latency T:

    useful          = sum over stages of w x m x the chip's useful ops
    chip losses     = the same sums of each chip category
    communication   = chip peak x w x (m x the stage's collectives + its p2p wait)
    pipeline_bubble = chip peak x w x the stage's idle time otherwise

which add up to w x pp x chip peak x T exactly, stage by stage.

A model that does not fit still runs (the latency is what it would be with enough
memory); `memory.fits` is false and the result says by how much and which degree fits.
"""

from __future__ import annotations

from pydantic import ValidationError

from hardware.chip import DTYPE_BYTES
from hardware.errors import InputError, expect_int, explain_validation, shown
from hardware.system import Interconnect, System
from sim.result import Result
from sim.simulate import simulate
from sim.system.collectives import collective_s, send_s, sent_bytes
from sim.system.expert import expert_collectives, expert_config
from sim.system.overlap import HALVES, OVERLAPPED_WHAT, overlap
from sim.system.pipeline import run_pipeline, steady_period_s
from sim.system.plan import Plan, make_plan
from sim.system.results import (
    SYSTEM_LOSS_CATEGORIES,
    CollectiveCall,
    LinkUse,
    MemoryFit,
    Phase,
    StageUse,
    SystemResult,
)
from sim.system.tensor import (
    StageSlice,
    collectives,
    exchanged_bytes,
    fitting_degree,
    memory_parts,
    shard,
)
from sim.system.timeline import pass_timeline
from workloads.files import chip_dtype
from workloads.zoo.transformer import CONFIGS, TransformerConfig, transformer

ASSUMPTIONS = [
    "Megatron-style tensor parallelism: heads, MLP width and vocabulary split over the chips;"
    " norms and residual adds replicated",
    "collectives run after the compute they follow, unless --overlap-comm: then each layer's"
    " all-reduces overlap the next chunk of compute (sim/system/overlap.py)",
    "all-reduce by the system's algorithm (ring, tree or nvls); other collectives ring;"
    " reduction arithmetic free",
    "the chips of one stage run the same shard in the same time: one chip is simulated for all",
    "pipeline stages hold L / pp layers each, the first the embedding, the last the LM head; "
    "each chip of a stage sends the whole activation to its peer in the next stage",
    "forward only: gpipe and 1f1b differ only in how many micro-batches may be in flight",
    "latency and losses are one pass in isolation: the fill and drain bubble is paid; "
    "steady_tokens_per_s runs passes back to back (micro-batches cycling, no drain)",
    "data-parallel replicas run independent requests and exchange nothing; tokens/s counts them",
    "system losses (communication, pipeline_bubble) are reported apart from the chip categories",
]


def run_system(
    model: str | TransformerConfig,
    system: System,
    *,
    tp: int | None = None,
    pp: int = 1,
    ep: int = 1,
    dp: int | None = None,
    micro_batches: int = 1,
    schedule: str = "gpipe",
    seq: int = 512,
    batch: int = 1,
    dtype: str | None = None,
    overlap_comm: bool = False,
    algorithm: str | None = None,
) -> SystemResult:
    """Simulate `model` (a transformer of the zoo, or any TransformerConfig) over `system`:
    `pp` pipeline stages of `tp` chips each (default: every chip tensor-parallel) or of `ep`
    chips expert-parallel, `dp` replicas (default: as many as fit), the batch split into
    `micro_batches`; a prefill of `seq` tokens and one decode step after it.
    `overlap_comm` overlaps each layer's all-reduces with compute (sim/system/overlap.py);
    `algorithm` (ring, tree, nvls) overrides the system's all-reduce algorithm."""
    if not isinstance(system, System):
        raise InputError(
            f"run_system: expected a System (hardware.system.load_system), got {shown(system)}."
        )
    if isinstance(model, TransformerConfig):
        config = model
    elif isinstance(model, str) and model in CONFIGS:
        config = CONFIGS[model]
    else:
        raise InputError(f"unknown transformer {shown(model)}; known: {', '.join(CONFIGS)}.")
    seq = expect_int(seq, "--seq", 1, config.max_positions - 1)
    if algorithm is not None:
        system = with_algorithm(system, algorithm)
    plan = make_plan(
        config,
        system,
        tp=tp,
        pp=pp,
        ep=ep,
        dp=dp,
        micro_batches=micro_batches,
        schedule=schedule,
        batch=batch,
    )
    chip = system.chip
    dtype = dtype or chip_dtype(chip, "fp16")[0]  # the transformer builders' default
    if not isinstance(dtype, str) or dtype not in DTYPE_BYTES:
        raise InputError(
            f"--dtype: unknown dtype {shown(dtype)}; allowed: {', '.join(DTYPE_BYTES)}."
        )
    phases = {
        name: _phase(name, config, system, plan, batch, new, cached, dtype, overlap_comm)
        for name, new, cached in (("prefill", seq, 0), ("decode", 1, seq))
    }
    return SystemResult(
        workload=config.name,
        system=system.name,
        chip=chip.name,
        chips=system.chips,
        tp=plan.tp,
        pp=plan.pp,
        ep=plan.ep,
        replicas=plan.dp,
        chips_used=plan.group * plan.dp,
        micro_batches=plan.micro_batches,
        schedule=plan.schedule,
        dtype=dtype,
        batch=batch,
        seq=seq,
        overlap_comm=overlap_comm,
        algorithm=system.interconnect.algorithm,
        memory=_memory(config, system, plan, batch, seq, dtype),
        prefill=phases["prefill"],
        decode=phases["decode"],
        assumptions=ASSUMPTIONS,
    )


def _memory(
    config: TransformerConfig, system: System, plan: Plan, batch: int, seq: int, dtype: str
) -> MemoryFit:
    """The fullest stage's chip: every micro-batch's KV cache lives on it."""
    parts = max(
        (
            memory_parts(
                expert_config(config, plan.ep), plan.tp, batch // plan.ep, seq, dtype, part
            )
            for part in dict.fromkeys(plan.slices(config))
        ),
        key=sum,
    )
    weights, kv, activations = parts
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
        fitting_tp=plan.tp
        if total <= capacity
        else fitting_degree(config, system.chip, batch, seq, dtype),
    )


def _phase(
    name: str,
    config: TransformerConfig,
    system: System,
    plan: Plan,
    batch: int,
    new: int,
    cached: int,
    dtype: str,
    overlap_comm: bool = False,
) -> Phase:
    """One pass of the whole batch through the group, micro-batch by micro-batch."""
    part = expert_config(shard(config, plan.tp), plan.ep)
    tp, width, m = plan.tp, plan.width, plan.micro_batches
    micro = batch // m // plan.ep  # sequences of one chip in one micro-batch
    runs: dict[StageSlice, tuple[Result, list[CollectiveCall]]] = {}
    for piece in dict.fromkeys(plan.slices(config)):
        graph = transformer(
            part,
            batch=micro,
            seq=new,
            dtype=dtype,
            mode=name,
            kv=cached,
            layers=piece.layers,
            embed=piece.embed,
            head=piece.head,
        )
        needs = collectives(config, tp, micro, new, dtype, piece)
        needs += expert_collectives(config, plan.ep, micro, new, dtype, piece)
        calls = [
            _call(kind, what, nbytes, count, system, width) for kind, what, nbytes, count in needs
        ]
        runs[piece] = (simulate(graph, system.chip, dtype=dtype), calls)
    slices = plan.slices(config)
    activation = micro * new * config.hidden * exchanged_bytes(dtype)
    sends = [
        send_s(activation, _pairs(plan, s), system.chips, system.interconnect)
        for s in range(plan.pp - 1)
    ]
    share = system.interconnect.overlap_share
    exposed = {
        piece: _exposed(result.duration_s, calls, overlap_comm and micro * new > 1, share)
        for piece, (result, calls) in runs.items()
    }
    stage_comm = [exposed[piece] for piece in slices]
    stage_s = [
        runs[piece][0].duration_s + comm for piece, comm in zip(slices, stage_comm, strict=True)
    ]
    pipe = run_pipeline(stage_s, sends, m, plan.schedule)
    latency = pipe.makespan_s
    period = steady_period_s(stage_s, sends, m) if plan.pp > 1 else latency
    chip_peak = runs[slices[0]][0].peak_ops
    useful = 0.0
    losses = dict.fromkeys(SYSTEM_LOSS_CATEGORIES, 0.0)
    stages, links = [], []
    group_links: list[tuple[str, float] | None] = []
    stage_names, send_links = [], []
    for s, (piece, run) in enumerate(zip(slices, pipe.stages, strict=True)):
        result, calls = runs[piece]
        useful += width * m * result.useful_ops
        for category, ops in result.losses_ops.items():
            losses[category] += width * m * ops
        losses["communication"] += width * chip_peak * (m * stage_comm[s] + run.p2p_wait_s)
        losses["pipeline_bubble"] += width * chip_peak * run.bubble_s
        stages.append(
            StageUse(
                stage=s,
                layers=piece.layers,
                chips=plan.stage_chips(s),
                compute_s=m * result.duration_s,
                collectives_s=m * stage_comm[s],
                p2p_wait_s=run.p2p_wait_s,
                bubble_s=run.bubble_s,
            )
        )
        if width > 1:
            sent = sum(
                c.count * sent_bytes(c.kind, c.nbytes, width, system.interconnect) for c in calls
            )
            group = "TP" if plan.ep == 1 else "EP"
            busy = sum(c.total_s for c in calls)
            links.append(_link(f"stage {s} {group} group", m * sent, m * busy, latency))
            group_links.append((links[-1].name, busy))
        else:
            group_links.append(None)
        chips = plan.stage_chips(s)
        span = f"chips {chips[0]}-{chips[-1]}" if len(chips) > 1 else f"chip {chips[0]}"
        stage_names.append(f"stage {s} ({span})")
        if s + 1 < plan.pp:
            links.append(
                _link(f"stage {s} -> {s + 1}", m * activation, pipe.link_busy_s[s], latency)
            )
            send_links.append(links[-1].name)
    calls = [
        c.model_copy(update={"what": f"stage {s}: {c.what}"}) if plan.pp > 1 else c
        for s, piece in enumerate(slices)
        for c in runs[piece][1]
    ]
    if plan.pp > 1:
        one = sends[0]
        calls.append(
            CollectiveCall(
                kind="send",
                what="activations to the next stage, per micro-batch",
                nbytes=activation,
                count=plan.pp - 1,
                time_s=one,
                total_s=sum(sends),
            )
        )
    chip_latency = sum(runs[piece][0].duration_s for piece in slices)
    communication = sum(stage_comm) + sum(sends)
    hidden = sum(sum(c.total_s for c in runs[piece][1]) for piece in slices) - sum(stage_comm)
    peak = plan.group * chip_peak
    capacity = peak * latency
    return Phase(
        name=name,
        new_tokens=new,
        cached_tokens=cached,
        chip_latency_s=chip_latency,
        communication_s=communication,
        hidden_communication_s=hidden,
        latency_s=latency,
        communication_share=losses["communication"] / capacity if capacity else 0.0,
        bubble_share=losses["pipeline_bubble"] / capacity if capacity else 0.0,
        tokens_per_s=plan.dp * batch * new / latency if latency else 0.0,
        steady_tokens_per_s=plan.dp * batch * new / period if period else 0.0,
        collectives=calls,
        peak_ops=peak,
        useful_ops=useful,
        losses_ops=losses,
        efficiency=useful / capacity if capacity else 0.0,
        stages=stages,
        links=links,
        peak_in_flight=pipe.peak_in_flight,
        timeline=pass_timeline(
            name,
            pipe,
            stage_names,
            [runs[piece][0].duration_s for piece in slices],
            group_links,
            send_links,
        ),
    )


def _exposed(
    compute_s: float, calls: list[CollectiveCall], overlap_comm: bool, share: float
) -> float:
    """Seconds of one micro-batch's collectives on the stage's critical path: all of them,
    or with `overlap_comm` what overlapping each layer's all-reduces (split in two halves
    of the tokens) leaves exposed."""
    total = sum(c.total_s for c in calls)
    if not overlap_comm:
        return total
    layered = [c for c in calls if c.kind == "all_reduce" and c.what == OVERLAPPED_WHAT]
    chunked = sum(c.total_s for c in layered)
    chunks = HALVES * sum(c.count for c in layered)
    return overlap(compute_s, chunked, chunks, total - chunked, share).exposed_s


def with_algorithm(system: System, algorithm: str) -> System:
    """`system` with its all-reduce algorithm replaced (checked like the spec's field)."""
    link = system.interconnect
    try:
        new = Interconnect.model_validate({**link.model_dump(), "algorithm": algorithm})
    except ValidationError as err:
        raise explain_validation(err, "--algorithm", Interconnect) from None
    return system.model_copy(update={"interconnect": new})


def _pairs(plan: Plan, stage: int) -> list[tuple[int, int]]:
    """Each chip of `stage` sends to the chip of the same rank in the next stage."""
    return list(zip(plan.stage_chips(stage), plan.stage_chips(stage + 1), strict=True))


def _call(
    kind: str, what: str, nbytes: float, count: int, system: System, chips: int
) -> CollectiveCall:
    one = collective_s(kind, nbytes, chips, system.interconnect)
    return CollectiveCall(
        kind=kind, what=what, nbytes=nbytes, count=count, time_s=one, total_s=count * one
    )


def _link(name: str, nbytes: float, busy: float, latency: float) -> LinkUse:
    return LinkUse(
        name=name, nbytes=nbytes, busy_s=busy, busy_share=busy / latency if latency else 0.0
    )
