"""What a system run found, as pydantic models (the JSON contract of `topsim system`).

System-level losses are reported here, apart from the single-chip `LOSS_CATEGORIES`: a
phase's `losses_ops` holds every chip category summed over the chips of the group, plus
`communication` (chips waiting for collectives or for a pipeline transfer) and
`pipeline_bubble` (a stage idle while the pipeline fills and drains), so that

    system peak ops/s x latency_s = useful_ops + sum(losses_ops)

with the system peak the chip's peak times the chips of one group (tp x ep x pp).
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from sim.losses import LOSS_CATEGORIES

SYSTEM_LOSS_CATEGORIES: tuple[str, ...] = (*LOSS_CATEGORIES, "communication", "pipeline_bubble")
COMMUNICATION_REMEDY = (
    "a faster interconnect, a lower tensor-parallel degree, or overlapping collectives with compute"
)
BUBBLE_REMEDY = (
    "more micro-batches per pass (GPipe's bubble is (p - 1) / (m + p - 1)), fewer pipeline "
    "stages, or stages of equal time"
)
SYSTEM_REMEDIES: dict[str, str] = {
    "communication": COMMUNICATION_REMEDY,
    "pipeline_bubble": BUBBLE_REMEDY,
}


class Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CollectiveCall(Model):
    """`count` collectives of one kind, each on a `nbytes` buffer per chip."""

    kind: str
    what: str  # where in the model, e.g. "after each layer's attention and MLP"
    nbytes: float
    count: int
    time_s: float  # one collective
    total_s: float  # count x time_s


class MemoryFit(Model):
    """One chip's DRAM footprint for a tensor-parallel shard."""

    capacity_bytes: float
    weights_bytes: float
    kv_cache_bytes: float
    activation_bytes: float
    total_bytes: float
    fits: bool
    overflow_bytes: float  # total - capacity when it does not fit, else 0
    fitting_tp: int | None  # smallest TP degree whose shard fits; None: none up to the limit


class StageUse(Model):
    """One pipeline stage (its tp chips run alike) over one pass; the four times add up to
    the pass's latency."""

    stage: int
    layers: int
    chips: list[int]  # system chip indices of the stage's tensor-parallel group
    compute_s: float  # the chip's own work, all micro-batches
    collectives_s: float  # its tensor-parallel collectives, all micro-batches
    p2p_wait_s: float  # idle, waiting for an activation on its way from the previous stage
    bubble_s: float  # idle otherwise: pipeline fill, drain and schedule stalls


class LinkUse(Model):
    """Traffic on one group of links over one pass."""

    name: str  # e.g. "stage 0 TP group", "stage 0 -> 1"
    nbytes: float  # bytes each chip of the group sends, all micro-batches
    busy_s: float  # time the links are in use
    busy_share: float  # busy_s / the pass's latency


class TimelineSlice(Model):
    """Something a stage group or a link did during a pass (sim/system/timeline.py)."""

    process: str  # "stage 0 (chips 0-3)" or "links"
    track: str  # compute | collectives, or the link group's name
    name: str  # e.g. "prefill micro-batch 2"
    start_s: float  # from the start of the pass
    end_s: float


class Phase(Model):
    """One forward pass of the group (a prefill or one decode step)."""

    name: str  # prefill | decode
    new_tokens: int  # per sequence
    cached_tokens: int  # per sequence, already in the KV cache
    chip_latency_s: float  # one micro-batch's compute through every stage (simulated chips)
    communication_s: float  # one micro-batch's collectives and sends on the critical path
    hidden_communication_s: float = 0.0  # its collectives overlapped with compute instead
    latency_s: float  # the pass; chip_latency_s + communication_s for one micro-batch
    communication_share: float  # losses_ops["communication"] / (peak_ops x latency_s)
    bubble_share: float  # losses_ops["pipeline_bubble"] / (peak_ops x latency_s)
    tokens_per_s: float  # new tokens per second, all replicas, this pass alone
    steady_tokens_per_s: float  # the same with passes back to back: no fill, no drain
    collectives: list[CollectiveCall]
    peak_ops: float  # system peak ops/s: TP degree x the chip's peak
    useful_ops: float
    losses_ops: dict[str, float]  # SYSTEM_LOSS_CATEGORIES
    efficiency: float  # useful / (peak x latency)
    stages: list[StageUse]
    links: list[LinkUse]
    peak_in_flight: int  # micro-batches between entering stage 0 and leaving the last
    timeline: list[TimelineSlice] = []  # what each stage group and link did, when


class SystemResult(Model):
    workload: str
    system: str
    overrides: dict[str, str] = {}  # system (and chip.*) fields changed from the file, as --set
    chip: str
    chips: int
    tp: int
    pp: int  # pipeline stages, each of tp (or ep) chips
    ep: int  # expert-parallel chips per stage (MoE; attention data-parallel over them)
    replicas: int  # data-parallel copies of the tp x pp group; tokens/s counts them
    chips_used: int  # tp x pp x replicas
    micro_batches: int  # the batch of a pass is split into this many
    schedule: str  # gpipe | 1f1b (sim/system/pipeline.py: what each means for inference)
    dtype: str
    batch: int
    seq: int
    overlap_comm: bool = False  # each layer's all-reduces overlapped with compute
    algorithm: str = "ring"  # the all-reduce algorithm: ring | tree | nvls
    memory: MemoryFit
    prefill: Phase
    decode: Phase
    assumptions: list[str]


class PlanRow(Model):
    """One plan's figures, from its SystemResult."""

    plan: str  # e.g. "tp4xpp2"
    tp: int
    pp: int
    ep: int
    replicas: int
    chips_used: int
    prefill_latency_s: float
    decode_latency_s: float
    prefill_tokens_per_s: float
    decode_tokens_per_s: float
    decode_steady_tokens_per_s: float  # passes back to back (no pipeline drain)
    prefill_communication_share: float
    decode_communication_share: float
    prefill_bubble_share: float
    decode_bubble_share: float
    memory_per_chip_bytes: float
    capacity_bytes: float
    fits: bool


class PlanTable(Model):
    workload: str
    system: str
    overrides: dict[str, str] = {}  # as SystemResult.overrides
    batch: int
    seq: int
    dtype: str
    rows: list[PlanRow]
    skipped: dict[str, str] = {}  # --sweep: plan -> why the model or system refused it
