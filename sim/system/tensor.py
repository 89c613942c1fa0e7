"""Tensor parallelism (Megatron-style) for a transformer on a system of chips.

Each of the `tp` chips holds 1/tp of every layer: the attention heads (and KV heads,
replicated when there are fewer KV heads than chips), the MLP's inner width, and the
vocabulary of the embedding and the LM head. Norms and residual adds are replicated. One
chip's shard is built with the transformer builder and simulated with `sim.simulate`;
every chip runs the same shard at the same time, so one simulation stands for all.

The collectives of one forward pass of B sequences of S new tokens (H hidden, L layers,
V vocab, d bytes per element of the values exchanged: the model dtype, but at least 2:
what is reduced is the row-parallel GEMM's output, and 8-bit (and narrower) stacks keep
that output and the residual stream in 16 bits, since summing tp partial products in
8 bits would throw away the precision the accumulator kept):

    all_reduce  2L x  B*S*H*d      after each layer's attention and after its MLP
    all_reduce  1  x  B*S*H*d      after the vocabulary-parallel embedding
    all_gather  1  x  B*S*V'*d     the LM head's logits (V' = V padded to a multiple of tp)

They run on the critical path, after the shard's compute, each costed by
sim/system/collectives.py; with `--overlap-comm` the per-layer all-reduces overlap the
next chunk of compute instead (sim/system/overlap.py).
"""

from __future__ import annotations

import dataclasses
import math

from hardware.chip import DTYPE_BYTES, Chip
from hardware.errors import InputError
from sim.system.collectives import CollectiveNeed
from workloads.graph import Graph
from workloads.zoo.transformer import TransformerConfig, kv_cache_bytes, transformer

MAX_TP = 64  # the largest degree searched for one that fits


@dataclasses.dataclass(frozen=True)
class StageSlice:
    """What one pipeline stage holds: `layers` layers, the embedding, the final norm and
    LM head (the whole model: all layers, both ends)."""

    layers: int
    embed: bool
    head: bool


@dataclasses.dataclass(frozen=True)
class ShardConfig(TransformerConfig):
    """A TransformerConfig whose heads are a shard of the model's: the head dimension is
    the full model's (hidden / heads), not hidden / (the shard's heads)."""

    shard_head_dim: int = 1

    @property
    def head_dim(self) -> int:
        return self.shard_head_dim


def tp_problem(config: TransformerConfig, tp: int) -> str | None:
    """Why `config` cannot be split `tp` ways, or None when it can."""
    if tp == 1:
        return None
    if config.heads % tp:
        return f"its {config.heads} attention heads do not split evenly over {tp} chips"
    if config.kv_heads % tp and tp % config.kv_heads:
        return f"its {config.kv_heads} KV heads neither split over nor replicate onto {tp} chips"
    if config.ffn % tp:
        return f"its MLP width {config.ffn} does not split evenly over {tp} chips"
    return None


def valid_degrees(config: TransformerConfig, limit: int = MAX_TP) -> list[int]:
    return [tp for tp in range(1, limit + 1) if tp_problem(config, tp) is None]


def shard(config: TransformerConfig, tp: int) -> TransformerConfig:
    """One chip's 1/tp of `config` (the config itself for tp = 1)."""
    problem = tp_problem(config, tp)
    if problem:
        degrees = ", ".join(str(n) for n in valid_degrees(config, 16))
        raise InputError(
            f"tensor parallelism: {config.name!r} cannot be split over {tp} chips: {problem}. "
            f"Degrees that work (up to 16): {degrees}."
        )
    if tp == 1:
        return config
    fields = {f.name: getattr(config, f.name) for f in dataclasses.fields(TransformerConfig)}
    fields.update(
        name=f"{config.name}-tp{tp}",
        heads=config.heads // tp,
        kv_heads=max(1, config.kv_heads // tp),
        ffn=config.ffn // tp,
        vocab=math.ceil(config.vocab / tp),
    )
    return ShardConfig(**fields, shard_head_dim=config.head_dim)


def exchanged_bytes(dtype: str) -> int:
    """Bytes per element a tensor-parallel collective moves for a model in `dtype`."""
    return max(DTYPE_BYTES[dtype], 2)


def collectives(
    config: TransformerConfig,
    tp: int,
    batch: int,
    new_tokens: int,
    dtype: str,
    stage: StageSlice | None = None,
) -> list[CollectiveNeed]:
    """The collectives of one forward pass of the layers of `stage`
    (default: the whole model); none for tp = 1."""
    stage = stage or StageSlice(config.layers, True, True)
    if tp == 1:
        return []
    width = exchanged_bytes(dtype)
    activation = batch * new_tokens * config.hidden * width
    calls = [
        CollectiveNeed(
            "all_reduce", "after each layer's attention and MLP", activation, 2 * stage.layers
        )
    ]
    if stage.embed:
        calls.append(
            CollectiveNeed("all_reduce", "after the vocabulary-parallel embedding", activation, 1)
        )
    if config.decoder and stage.head:
        logits = batch * new_tokens * math.ceil(config.vocab / tp) * tp * width
        calls.append(CollectiveNeed("all_gather", "the LM head's logits", logits, 1))
    return calls


def activation_bytes(graph: Graph) -> float:
    """The largest working set of one op: its non-constant inputs and outputs. An
    inference runtime frees activations as it goes, so this is what must be live."""
    tensors = graph.tensors
    return max(
        sum(tensors[name].nbytes for name in (*op.inputs, *op.outputs) if not tensors[name].const)
        for op in graph.ops
    )


def memory_parts(
    config: TransformerConfig,
    tp: int,
    batch: int,
    seq: int,
    dtype: str,
    stage: StageSlice | None = None,
) -> tuple[float, float, float]:
    """(weights, KV cache, activations) bytes on one chip of a `tp`-way shard of `stage`
    (default: the whole model), for a prefill of `seq` tokens and a decode step over them.
    The graphs are built with one and two layers and the per-layer part scaled to the
    stage's depth (layers are identical), which is exact and fast."""
    stage = stage or StageSlice(config.layers, True, True)
    part = shard(config, tp)
    ends = {"embed": stage.embed, "head": stage.head}
    sizes = []
    for layers in (1, 2):
        step = transformer(
            part, batch=batch, dtype=dtype, mode="decode", kv=seq, layers=layers, **ends
        )
        weights = sum(t.nbytes for t in step.tensors.values() if t.const) - kv_cache_bytes(step)
        sizes.append((weights, kv_cache_bytes(step), activation_bytes(step)))
    prefill = transformer(part, batch=batch, seq=seq, dtype=dtype, mode="prefill", layers=1, **ends)
    (w1, kv1, act1), (w2, kv2, _) = sizes
    extra = stage.layers - 1
    return w1 + extra * (w2 - w1), kv1 + extra * (kv2 - kv1), max(act1, activation_bytes(prefill))


def fitting_degree(
    config: TransformerConfig, chip: Chip, batch: int, seq: int, dtype: str
) -> int | None:
    """The smallest TP degree (up to MAX_TP) whose shard fits one chip's DRAM."""
    capacity = chip.memory.dram.capacity
    for tp in valid_degrees(config):
        if sum(memory_parts(config, tp, batch, seq, dtype)) <= capacity:
            return tp
    return None
