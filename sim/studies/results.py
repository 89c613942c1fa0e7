"""What the studies return, as data: an LLM generation and an explanation of a run.

Like `Result`, these are pydantic models (the JSON contract) that renderers draw; nothing
here simulates.
"""

from __future__ import annotations

from sim.result import SCHEMA_VERSION, BatchStats, Model, Result, ranked
from sim.result import top as top_loss

MIN_SHARE = 0.001  # losses below 0.1% of peak capacity are not explained


def median_step(tokens: int) -> int:
    """The decode step kept whole in a GenerationResult: the middle one."""
    return (tokens - 1) // 2


class DecodeSample(Model):
    """One decode step run through the discrete-event engine."""

    step: int  # 0-based: the step generating token step + 2 (the prefill made the first)
    kv: int  # tokens already in the cache
    latency_s: float
    total_ops: float
    useful_ops: float
    offloaded_ops: float
    losses_ops: dict[str, float]
    dram_bytes: float
    energy_j: float | None
    events: int


class GenerationResult(Model):
    """A prefill and a decode, with the decode's per-step figures summed over all steps.

    Invariant: peak_ops * total_s == useful_ops + sum(losses_ops.values()), where
    total_s = ttft_s + decode_s.
    """

    schema_version: str = SCHEMA_VERSION
    workload: str
    chip: str
    dtype: str
    weight_dtype: str
    kv_dtype: str
    layers: int
    batch: int
    prompt: int
    tokens: int  # decode steps (tokens generated after the first)
    fusion: str
    ttft_s: float  # the prefill's latency: time to first token
    per_token: BatchStats  # decode step latency: first, median, last over `tokens` steps
    decode_s: float
    total_s: float
    tokens_per_s: float  # batch * tokens / decode_s
    total_ops: float
    useful_ops: float
    offloaded_ops: float
    peak_ops: float
    delivered_ops_per_s: float  # total_ops / total_s
    efficiency: float
    losses_ops: dict[str, float]  # prefill + decode
    losses_s: dict[str, float]
    decode_useful_ops: float
    decode_losses_ops: dict[str, float]
    dram_bytes: float
    energy_j: float | None
    weight_bytes: float  # stored weights (whole embedding tables included)
    kv_cache_bytes: float  # the cache after the last step: batch x (prompt + tokens) tokens
    dram_capacity_bytes: float
    fits_in_memory: bool  # weights + final KV cache <= DRAM capacity (activations ignored)
    events: int  # engine events over all simulated runs
    samples: list[DecodeSample]  # the decode steps simulated (the rest interpolated)
    prefill: Result
    decode_step: Result  # the step at the median KV length

    def ranked_losses(self) -> list[tuple[str, float]]:
        return ranked(self.losses_ops)

    @property
    def decode_step_kv(self) -> int:
        """Tokens in the KV cache at `decode_step`, the median step."""
        return self.prompt + median_step(self.tokens)

    def top_loss(self) -> str:
        return top_loss(self.losses_ops)

    def decode_top_loss(self) -> str:
        return top_loss(self.decode_losses_ops)

    def loss_share(self, category: str) -> float:
        capacity = self.peak_ops * self.total_s
        return self.losses_ops.get(category, 0.0) / capacity if capacity else 0.0


class OpBlame(Model):
    """A kernel's part in one loss: its ops lost, as a share of that loss over all kernels."""

    name: str
    unit: str
    loss_ops: float
    share: float


class WhatIf(Model):
    """One remedy applied and simulated: `speedup` > 1 means better."""

    change: str  # "2x DRAM bandwidth", "greedy fusion", ...
    metric: str  # "latency" (one batch) or "throughput" (streams, batch changes)
    latency_s: float
    throughput: float
    efficiency: float
    speedup: float
    top_loss: str  # the biggest loss after the change

    def summary(self) -> str:
        if self.speedup >= 1:
            better = "faster" if self.metric == "latency" else "the throughput"
            return f"{self.change}: {self.speedup:.2g}x {better}"
        return f"{self.change}: {1 / self.speedup:.2g}x slower"


class LossExplanation(Model):
    category: str
    loss_ops: float
    share: float  # of peak capacity over the run
    remedy: str
    ops: list[OpBlame]
    what_ifs: list[WhatIf]
    advice: str | None = None  # what would help where a re-run cannot say how much


class Explanation(Model):
    result: Result
    losses: list[LossExplanation]

    def best(self) -> WhatIf | None:
        """The what-if with the largest speedup (first listed wins ties)."""
        candidates = [w for loss in self.losses for w in loss.what_ifs]
        return max(candidates, key=lambda w: w.speedup, default=None)
