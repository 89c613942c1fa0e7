"""Iteration times for `topsim serve`, simulated by topsim and cached by shape.

One replica is `tp` chips running a Megatron tensor-parallel shard of the model
(sim/system/tensor.py; tp = 1 is the whole model on one chip). An iteration's time is
one chip's shard simulated with `sim.simulate`, plus the collectives of that pass on the
critical path, each costed on the system's interconnect (sim/system/collectives.py),
exactly as `topsim system` does for one prefill and one decode step.

- a prefill of `n` requests: a pass of batch n over the longest prompt (shorter ones
  padded); a decode step of n requests: batch n over the longest cache (shorter padded).
  Both lengths are rounded up to a power of two (within the model's context), so a run
  simulates a few dozen graphs; the rounding overstates the attention part of a step by
  less than 2x and leaves the weight reads, which dominate decode, exact.
- a mixed iteration of chunked prefill, `d` decodes (longest cache K) and `c` prefill
  tokens: one pass of c + d tokens as a prefill of one sequence (every token through the
  weights once, read once), plus the decodes' attention over their caches, taken as
  decode(d, K) - decode(d, 1). The c + d tokens are rounded up to a multiple of 64 (a
  power of two below 64). Not modelled: a chunk's attention to the context its earlier
  chunks cached (4 x context x hidden x layers ops a token, a few % of a 70B model's
  2 x parameters at a few thousand tokens of context).
"""

from __future__ import annotations

import math

from hardware.chip import DTYPE_BYTES, Chip
from hardware.system import Interconnect
from sim.simulate import simulate
from sim.system.collectives import collective_s
from sim.system.tensor import collectives, memory_parts, shard
from workloads.zoo.transformer import CONFIGS, transformer

MIXED_GRAIN = 64  # tokens: a mixed iteration's pass is rounded up to a multiple of this


def bucket(tokens: int, limit: int) -> int:
    """`tokens` rounded up to a power of two, at most `limit`."""
    return min(1 << max(tokens - 1, 0).bit_length(), limit)


def grain(tokens: int) -> int:
    """`tokens` rounded up to a power of two below MIXED_GRAIN, a multiple of it above."""
    if tokens <= MIXED_GRAIN:
        return bucket(tokens, MIXED_GRAIN)
    return math.ceil(tokens / MIXED_GRAIN) * MIXED_GRAIN


class SimulatedSteps:
    """Iteration latencies of `model` on one replica: `tp` chips of `chip` joined by
    `link` (needed when tp > 1), each (kind, batch, length) simulated once. `kv_reads`:
    how the decode attention kernel reads a grouped-query cache (transformer.KV_READS)."""

    def __init__(
        self,
        model: str,
        chip: Chip,
        dtype: str = "fp16",
        tp: int = 1,
        link: Interconnect | None = None,
        runtime: str | None = None,
        kv_reads: str = "shared",
    ) -> None:
        self.config, self.chip, self.dtype, self.tp, self.link = (
            CONFIGS[model],
            chip,
            dtype,
            tp,
            link,
        )
        self.options = {"runtime": runtime} if runtime else {}
        self.kv_reads = kv_reads  # how decode attention reads the cache (transformer.KV_READS)
        self.part = shard(self.config, tp)
        self.cache: dict[tuple[str, int, int], float] = {}

    def _pass_s(self, mode: str, batch: int, length: int) -> float:
        key = (mode, batch, length)
        if key not in self.cache:
            shape = {"seq": length} if mode == "prefill" else {"kv": length}
            graph = transformer(
                self.part, batch=batch, mode=mode, dtype=self.dtype, kv_reads=self.kv_reads,
                **shape,
            )  # fmt: skip
            seconds = simulate(graph, self.chip, **self.options).latency_s
            new = length if mode == "prefill" else 1
            for kind, _, nbytes, count in collectives(self.config, self.tp, batch, new, self.dtype):
                seconds += count * collective_s(kind, nbytes, self.tp, self.link)
            self.cache[key] = seconds
        return self.cache[key]

    def prefill_s(self, batch: int, prompt: int) -> float:
        return self._pass_s("prefill", batch, bucket(prompt, self.config.max_positions))

    def decode_s(self, batch: int, kv: int) -> float:
        # a decode step after `kv` cached tokens handles kv + 1 positions
        return self._pass_s("decode", batch, bucket(kv, self.config.max_positions - 1))

    def mixed_s(self, decodes: int, longest: int, prefill_tokens: int, context: int) -> float:
        """A chunked-prefill iteration (see the module docstring); `context` is unused."""
        tokens = grain(decodes + prefill_tokens)
        rows = math.ceil(tokens / self.config.max_positions)
        seconds = self._pass_s("prefill", rows, math.ceil(tokens / rows))
        if decodes:
            attention = self.decode_s(decodes, longest) - self.decode_s(decodes, 1)
            seconds += max(attention, 0.0)
        return seconds

    def decode_exact_s(self, batch: int, kv: int) -> float:
        """A decode step after `kv` cached tokens, interpolated linearly in `kv` between
        the steps simulated at the powers of two around it (a step's KV reads grow
        linearly with the cache; its weight reads do not change)."""
        limit = self.config.max_positions - 1
        low = min(1 << max(kv, 1).bit_length() - 1, limit)
        high = min(2 * low, limit)
        if kv <= low or high == low:
            return self._pass_s("decode", batch, min(kv, limit))
        at_low, at_high = self._pass_s("decode", batch, low), self._pass_s("decode", batch, high)
        return at_low + (kv - low) / (high - low) * (at_high - at_low)

    def generation_s(self, batch: int, prompt: int, tokens: int) -> tuple[float, float]:
        """(prefill, prefill + decode) seconds of a static batch: a prefill of `prompt`
        tokens (its length rounded up to a power of two), then `tokens` decode steps."""
        prefill = self.prefill_s(batch, prompt)
        decode = sum(self.decode_exact_s(batch, prompt + step) for step in range(tokens))
        return prefill, prefill + decode

    def weight_bytes(self) -> float:
        """The weights one chip holds."""
        if self.tp == 1:
            graph = transformer(self.config, batch=1, seq=1, mode="prefill", dtype=self.dtype)
            return sum(t.nbytes for t in graph.tensors.values() if t.const)
        return memory_parts(self.config, self.tp, 1, 1, self.dtype)[0]

    def kv_bytes_per_token(self) -> float:
        """The K and V one chip caches per token (KV heads split, or replicated when
        there are fewer than chips)."""
        part = self.part
        return 2 * part.layers * part.kv_heads * part.head_dim * DTYPE_BYTES[self.dtype]
