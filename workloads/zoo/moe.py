"""A mixture-of-experts FFN (Mixtral's sparse MoE layer) as the expected work of a batch.

A router (linear H -> E, no bias) scores each token; the top k of E experts (each a SwiGLU
FFN) process it and their outputs are summed, weighted by the softmax of the chosen
scores (Jiang et al. 2024, "Mixtral of Experts", Section 2.1).

Which experts a token picks depends on the data, which a performance model does not have.
The assumption, stated once: routing is uniform and independent across tokens (what the
load-balancing loss trains for). Then, for T tokens in the batch:

- the expert work is exactly T x k expert-token products (the MACs are right);
- the number of experts hit at least once is E * (1 - (1 - k/E)^T) in expectation; the
  graph holds that many experts (rounded up), each with its own weights, so the weight
  bytes read are those of the experts a batch really touches: 2 of 8 for one decode
  token, all 8 once a batch has a few dozen tokens;
- each of them takes ceil(T * k / active) tokens (an even spread).

A `custom` op of no arithmetic gathers each expert's tokens (it reads the layer's input);
another sums the k outputs of each token, weighted (2 flops per element and expert).

Expert parallel (`expert_shards` = n > 1): the graph is one chip's share. The chip routes
its own T tokens and holds E / n experts; under uniform routing it receives as many
token-expert pairs (T x k) as its tokens send out, from all n chips' n x T tokens, spread
over its local experts hit by any of those tokens. Moving the tokens between chips (the
all-to-all dispatch and combine) is the system's business (sim/system/), not the graph's.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from workloads.builder import GraphBuilder

if TYPE_CHECKING:
    from workloads.zoo.llm_configs import TransformerConfig


def experts_hit(tokens: int, experts: int, top_k: int) -> int:
    """Experts that see at least one of `tokens` tokens, expected under uniform routing,
    rounded up (never fewer than top_k, never more than experts)."""
    expected = experts * (1.0 - (1.0 - top_k / experts) ** tokens)
    return min(experts, max(top_k, math.ceil(expected - 1e-9)))


def local_experts_hit(tokens: int, experts: int, top_k: int, shards: int) -> int:
    """Of one chip's experts / shards experts, those that the shards x `tokens` tokens of
    all chips hit at least once, expected under uniform routing, rounded up (>= 1)."""
    local = experts // shards
    expected = local * (1.0 - (1.0 - top_k / experts) ** (tokens * shards))
    return min(local, max(1, math.ceil(expected - 1e-9)))


def moe_ffn(
    b: GraphBuilder, config: TransformerConfig, x: str, prefix: str, weight_dtype: str
) -> str:
    """The sparse MoE block on x [B, S, H]: router, dispatch, the experts hit, combine."""
    batch, seq, hidden = b.shape(x)
    tokens, top_k = batch * seq, config.experts_per_token
    flat = b.op("reshape", [x], name=f"{prefix}.moe.flatten", shape=[tokens, hidden])
    scores = b.linear(
        flat, config.experts, bias=False, name=f"{prefix}.moe.gate", weight_dtype=weight_dtype
    )
    weights = b.op("softmax", [scores], name=f"{prefix}.moe.routing", axis=-1)
    if config.expert_shards > 1:
        active = local_experts_hit(tokens, config.experts, top_k, config.expert_shards)
    else:
        active = experts_hit(tokens, config.experts, top_k)
    per_expert = math.ceil(tokens * top_k / active)
    outputs = []
    for e in range(active):
        name = f"{prefix}.moe.experts.{e}"
        routed = b.op(
            "custom",
            [flat],
            name=f"{name}.dispatch",
            out_shapes=[[per_expert, hidden]],
            flops=0,
            op_class="vector",
        )
        gate = b.linear(
            routed, config.ffn, bias=False, name=f"{name}.w1", weight_dtype=weight_dtype
        )
        up = b.linear(routed, config.ffn, bias=False, name=f"{name}.w3", weight_dtype=weight_dtype)
        h = b.op(
            "mul", [b.unary(config.activation, gate, name=f"{name}.act"), up], name=f"{name}.mul"
        )
        outputs.append(
            b.linear(h, hidden, bias=False, name=f"{name}.w2", weight_dtype=weight_dtype)
        )
    y = b.op(
        "custom",
        [*outputs, weights],
        name=f"{prefix}.moe.combine",
        out_shapes=[[tokens, hidden]],
        flops=2 * tokens * top_k * hidden,
        op_class="vector",
    )
    return b.op("reshape", [y], name=f"{prefix}.moe.unflatten", shape=[batch, seq, hidden])
