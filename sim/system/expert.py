"""Expert parallelism for a mixture-of-experts transformer (Mixtral-class).

With `ep` chips in a stage, each chip runs attention data-parallel on its own batch / ep
sequences (its attention weights a full copy) and holds experts / ep whole experts. In
every MoE layer the chip's tokens go to the chips of the experts they were routed to and
come back (GShard, Lepikhin et al. 2021, Section 2.2: dispatch and combine as all-to-all):

    all_to_all  L x  T*k*H*d   dispatch: each of the chip's T tokens to its k experts
    all_to_all  L x  T*k*H*d   combine: the k expert outputs of each token back

(T = the chip's tokens = batch / ep x new tokens, k experts per token, H hidden, d bytes
per element). Under uniform routing each chip sends 1/ep of the buffer to each chip (its
own share stays), which is the all-to-all of sim/system/collectives.py. The chip's graph
(workloads/zoo/moe.py, `expert_shards`) holds its local experts and the T x k
token-expert pairs they receive. Not combined with tensor parallelism in one stage.
"""

from __future__ import annotations

import dataclasses

from hardware.chip import DTYPE_BYTES
from sim.system.collectives import CollectiveNeed
from sim.system.tensor import StageSlice
from workloads.zoo.llm_configs import TransformerConfig


def ep_problem(config: TransformerConfig, ep: int, tp: int) -> str | None:
    """Why `config` cannot be spread `ep` ways expert-parallel, or None when it can."""
    if ep == 1:
        return None
    if not config.experts:
        return f"{config.name!r} is not a mixture-of-experts model (it has no experts)"
    if config.experts % ep:
        return f"its {config.experts} experts do not split evenly over {ep} chips"
    if tp > 1:
        return "tensor and expert parallelism in one stage are not modelled; use --tp 1"
    return None


def expert_config(config: TransformerConfig, ep: int) -> TransformerConfig:
    """One chip's share: every attention weight, experts / ep experts (config for ep 1)."""
    if ep == 1:
        return config
    return dataclasses.replace(config, name=f"{config.name}-ep{ep}", expert_shards=ep)


def expert_collectives(
    config: TransformerConfig, ep: int, batch: int, new_tokens: int, dtype: str, stage: StageSlice
) -> list[CollectiveNeed]:
    """The collectives of one forward pass of the stage's layers, for
    a chip with `batch` sequences of its own; none for ep = 1."""
    if ep == 1:
        return []
    routed = batch * new_tokens * config.experts_per_token * config.hidden * DTYPE_BYTES[dtype]
    return [
        CollectiveNeed(
            "all_to_all",
            "MoE dispatch of each layer's tokens to their experts",
            routed,
            stage.layers,
        ),
        CollectiveNeed(
            "all_to_all", "MoE combine of each layer's expert outputs", routed, stage.layers
        ),
    ]
