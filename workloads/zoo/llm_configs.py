"""The shapes of the transformer zoo: `TransformerConfig` and the named `CONFIGS`, each
with the paper table or model card its numbers come from. `workloads.zoo.transformer`
builds a Graph from any of them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from hardware.errors import InputError


@dataclass(frozen=True)
class TransformerConfig:
    """The shape of a transformer; everything a builder needs, nothing about weights."""

    name: str
    layers: int
    hidden: int
    heads: int
    kv_heads: int  # < heads: grouped-query attention (GQA)
    ffn: int
    vocab: int
    max_positions: int
    norm: Literal["layernorm", "rmsnorm"] = "layernorm"
    activation: Literal["gelu", "silu"] = "gelu"
    gated: bool = False  # SwiGLU FFN: down(act(gate(x)) * up(x))
    decoder: bool = True  # causal attention, LM head, KV-cache decode
    learned_positions: bool = True  # False: rotary embedding on q and k
    token_types: int = 0  # BERT segment embeddings
    bias: bool = True  # biases on linear layers
    tied_head: bool = False  # LM head shares the token embedding table
    pre_norm: bool = True  # False: post-norm (BERT), with a norm after the embeddings
    experts: int = 0  # > 0: the FFN is a sparse mixture of experts (workloads.zoo.moe)
    experts_per_token: int = 0  # top-k experts each token is routed to
    expert_shards: int = 1  # expert parallel: the graph holds experts / expert_shards of them

    def __post_init__(self) -> None:
        for field in ("layers", "hidden", "heads", "kv_heads", "ffn", "vocab", "max_positions"):
            value = getattr(self, field)
            if not isinstance(value, int) or value < 1:
                raise InputError(
                    f"transformer {self.name!r}: {field} must be a positive integer, got {value!r}."
                )
        if self.hidden % self.heads or self.heads % self.kv_heads:
            raise InputError(
                f"transformer {self.name!r}: hidden ({self.hidden}) must be a "
                f"multiple of heads ({self.heads}), and heads a multiple of "
                f"kv_heads ({self.kv_heads})."
            )
        if self.norm not in ("layernorm", "rmsnorm"):
            raise InputError(
                f"transformer {self.name!r}: norm must be layernorm or rmsnorm, got {self.norm!r}."
            )
        if self.activation not in ("gelu", "silu"):
            raise InputError(
                f"transformer {self.name!r}: activation must be gelu or silu, "
                f"got {self.activation!r}."
            )

        if self.experts and not 1 <= self.experts_per_token <= self.experts:
            raise InputError(
                f"transformer {self.name!r}: experts_per_token must be from 1 to experts "
                f"({self.experts}), got {self.experts_per_token!r}."
            )
        if self.expert_shards != 1 and (
            not self.experts or self.expert_shards < 1 or self.experts % self.expert_shards
        ):
            raise InputError(
                f"transformer {self.name!r}: expert_shards must divide experts "
                f"({self.experts}), got {self.expert_shards!r}."
            )

    @property
    def head_dim(self) -> int:
        return self.hidden // self.heads


# what every Llama-family decoder shares: RMSNorm, SwiGLU, rotary positions, no biases
LLAMA: dict = dict(
    norm="rmsnorm", activation="silu", gated=True, learned_positions=False, bias=False
)

CONFIGS: dict[str, TransformerConfig] = {
    # Radford et al. 2019, "Language Models are Unsupervised Multitask Learners", Table 2
    # (smallest model); exact sizes from the model card config openai-community/gpt2
    # (n_layer 12, n_embd 768, n_head 12, n_positions 1024, vocab 50257, tied head):
    # 124,439,808 parameters.
    "gpt2": TransformerConfig(
        name="gpt2",
        layers=12,
        hidden=768,
        heads=12,
        kv_heads=12,
        ffn=3072,
        vocab=50257,
        max_positions=1024,
        norm="layernorm",
        activation="gelu",
        tied_head=True,
    ),
    # Devlin et al. 2019, "BERT: Pre-training of Deep Bidirectional Transformers",
    # Section 3 (BERT-base: L=12, H=768, A=12, 110M with the pooler, FFN 4H); vocab,
    # 512 positions and 2 token types from the model card google-bert/bert-base-uncased.
    "bert-base": TransformerConfig(
        name="bert-base",
        layers=12,
        hidden=768,
        heads=12,
        kv_heads=12,
        ffn=3072,
        vocab=30522,
        max_positions=512,
        norm="layernorm",
        activation="gelu",
        decoder=False,
        token_types=2,
        pre_norm=False,
    ),
    # Touvron et al. 2023, "Llama 2: Open Foundation and Fine-Tuned Chat Models", Table 1
    # (7B, 4k context); dims from the model card meta-llama/Llama-2-7b-hf config.json
    # (hidden 4096, intermediate 11008, 32 layers, 32 heads): 6,738,415,616 parameters.
    "llama-2-7b": TransformerConfig(
        name="llama-2-7b",
        layers=32,
        hidden=4096,
        heads=32,
        kv_heads=32,
        ffn=11008,
        vocab=32000,
        max_positions=4096,
        norm="rmsnorm",
        activation="silu",
        gated=True,
        learned_positions=False,
        bias=False,
    ),
    # Llama Team 2024, "The Llama 3 Herd of Models", Table 3 (8B: 32 layers, 4096 model
    # dim, FFN 14336, 32 heads, 8 KV heads, vocab 128K); exact vocab 128256 and 8k
    # context from the model card meta-llama/Meta-Llama-3-8B: 8,030,261,248 parameters.
    "llama-3-8b": TransformerConfig(
        name="llama-3-8b",
        layers=32,
        hidden=4096,
        heads=32,
        kv_heads=8,
        ffn=14336,
        vocab=128256,
        max_positions=8192,
        norm="rmsnorm",
        activation="silu",
        gated=True,
        learned_positions=False,
        bias=False,
    ),
    # Touvron et al. 2023 (Llama 2), Table 1 (70B, GQA); dims from the model card
    # meta-llama/Llama-2-70b-hf config.json (hidden 8192, intermediate 28672, 80 layers,
    # 64 heads, 8 KV heads): 68,976,648,192 parameters.
    "llama-2-70b": TransformerConfig(
        name="llama-2-70b",
        layers=80,
        hidden=8192,
        heads=64,
        kv_heads=8,
        ffn=28672,
        vocab=32000,
        max_positions=4096,
        norm="rmsnorm",
        activation="silu",
        gated=True,
        learned_positions=False,
        bias=False,
    ),
    # Devlin et al. 2019, Section 3 (BERT-large: L=24, H=1024, A=16, 340M with the
    # pooler, FFN 4H); vocab, positions, token types as bert-base (google-bert/bert-large-uncased).
    "bert-large": TransformerConfig(
        name="bert-large",
        layers=24,
        hidden=1024,
        heads=16,
        kv_heads=16,
        ffn=4096,
        vocab=30522,
        max_positions=512,
        decoder=False,
        token_types=2,
        pre_norm=False,
    ),
    # Llama Team 2024, "The Llama 3 Herd of Models", Table 3 (70B: 80 layers, 8192 model
    # dim, FFN 28672, 64 heads, 8 KV heads, vocab 128K); 8k context from the model card
    # meta-llama/Meta-Llama-3-70B: 70,553,706,496 parameters.
    "llama-3-70b": TransformerConfig(
        name="llama-3-70b",
        layers=80,
        hidden=8192,
        heads=64,
        kv_heads=8,
        ffn=28672,
        vocab=128256,
        max_positions=8192,
        **LLAMA,
    ),
    # Llama 3.1: the same 8B and 70B shapes, with the 128K context of the herd paper's
    # Section 3.4.2 (long-context pre-training; max_position_embeddings 131072 in the model
    # cards meta-llama/Llama-3.1-8B and -70B).
    "llama-3.1-8b": TransformerConfig(
        name="llama-3.1-8b",
        layers=32,
        hidden=4096,
        heads=32,
        kv_heads=8,
        ffn=14336,
        vocab=128256,
        max_positions=131072,
        **LLAMA,
    ),
    "llama-3.1-70b": TransformerConfig(
        name="llama-3.1-70b",
        layers=80,
        hidden=8192,
        heads=64,
        kv_heads=8,
        ffn=28672,
        vocab=128256,
        max_positions=131072,
        **LLAMA,
    ),
    # Jiang et al. 2024, "Mixtral of Experts", Table 1: dim 4096, 32 layers, head dim 128,
    # hidden 14336, 32 heads, 8 KV heads, context 32768, vocab 32000, 8 experts, top 2:
    # 46.7 B parameters, 12.9 B active per token (Section 1: "47B", "13B").
    "mixtral-8x7b": TransformerConfig(
        name="mixtral-8x7b",
        layers=32,
        hidden=4096,
        heads=32,
        kv_heads=8,
        ffn=14336,
        vocab=32000,
        max_positions=32768,
        experts=8,
        experts_per_token=2,
        **LLAMA,
    ),
}
