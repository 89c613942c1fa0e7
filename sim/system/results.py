"""What a system run found, as pydantic models (the JSON contract of `topsim system`).

System-level losses are reported here, apart from the single-chip `LOSS_CATEGORIES`: a
phase's `losses_ops` holds every chip category summed over the chips of the group, plus
`communication`, so that

    system peak ops/s x latency_s = useful_ops + sum(losses_ops)

with the system peak the chips' peak times the tensor-parallel degree.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from sim.losses import LOSS_CATEGORIES

SYSTEM_LOSS_CATEGORIES: tuple[str, ...] = (*LOSS_CATEGORIES, "communication")
COMMUNICATION_REMEDY = (
    "a faster interconnect, a lower tensor-parallel degree, or overlapping collectives with compute"
)


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


class Phase(Model):
    """One forward pass of the group (a prefill or one decode step)."""

    name: str  # prefill | decode
    new_tokens: int  # per sequence
    cached_tokens: int  # per sequence, already in the KV cache
    chip_latency_s: float  # one chip's shard, simulated on the chip
    communication_s: float  # collectives on the critical path
    latency_s: float  # chip_latency_s + communication_s (no overlap)
    communication_share: float  # communication_s / latency_s
    tokens_per_s: float  # new tokens per second, all replicas
    collectives: list[CollectiveCall]
    peak_ops: float  # system peak ops/s: TP degree x the chip's peak
    useful_ops: float
    losses_ops: dict[str, float]  # SYSTEM_LOSS_CATEGORIES
    efficiency: float  # useful / (peak x latency)


class SystemResult(Model):
    workload: str
    system: str
    chip: str
    chips: int
    tp: int
    replicas: int  # chips // tp copies of the group (data parallel); tokens/s counts them
    dtype: str
    batch: int
    seq: int
    memory: MemoryFit
    prefill: Phase
    decode: Phase
    assumptions: list[str]
