"""Transformer networks: BERT, GPT-2 and Llama as block stacks, in prefill or one decode step.

One function, `transformer`, stamps out any `TransformerConfig`:

    embedding (+ learned positions) -> layers x [norm, attention, add, norm, FFN, add]
    -> final norm -> LM head (decoders)

Attention is q/k/v projections, a split into heads, one fused `attention` op (softmax and
scale inside), a merge of the heads and the output projection. Work, per forward pass of
B sequences of S new tokens (H hidden, L layers, D head dim, F ffn, V vocab):

    linear MACs    = B*S * (L * [H*(H + 2*kv_heads*D) + H*H + (3 if gated else 2)*H*F] + H*V)
    attention MACs = 2 * B * L * heads * D * pairs
        pairs = S*(S+1)/2 for a causal prefill, S*S for an encoder, T+1 for a decode step
        with T tokens already cached

(the H*V LM head term only for decoders). That is, to well under 1%, non-embedding
parameters x tokens plus the attention term.

Modelling choices, stated so nobody has to guess:

- Token ids are fed as `fp32`, a 4-byte stand-in for int32 (there is no int32 dtype).
- A reshape is a free view and is used only where the memory layout allows it; going
  from [B, S, H*D] to [B, H, S, D] and back is a `transpose` (a copy), except when the
  moved axis has size 1 (decode, S = 1), where it is a view.
- Prefill applies the LM head to every position (as a plain forward pass does); a
  serving stack that keeps only the last token's logits does S times less head work.
- Decode reads each layer's K and V cache, const tensors "layer{i}.k_cache" /
  "layer{i}.v_cache" of shape [B, kv_heads, T, D] in the KV dtype (they live in device
  memory). The fused attention op takes the cache and the new token's k/v (appended in
  place: attention reads T+1 rows, only the new row is written).
- Rotary position embedding (Llama) is a `custom` vector op of 3 element ops per element
  (x*cos + rotate(x)*sin) on q and k; its cos/sin tables are not modelled.
- GPT-2 ties its LM head to the token embedding table [V, H]: the head is
  matmul(table, x^T), which yields the logits vocab-major ([V, B*S]) and costs one small
  transpose of the activations, but keeps the parameter count and the weight bytes right.
- `weight_dtype` is the storage dtype of the linear weights (weight-only quantization:
  the matmuls still compute in `dtype`); embedding tables stay in `dtype`.
- Mixed precision: `dtype` is the dtype of the tensors and of the matrix ops (linears,
  attention); `vector_dtype` the dtype the other ops (norms, residual adds, GELU/SiLU,
  RoPE) compute in. It defaults to `dtype`, except for an integer `dtype`, where it is
  fp16: an int8 transformer runs its GEMMs and attention in int8 and its LayerNorm,
  softmax-free vector ops and activations in fp16 reading and writing int8 tensors, as
  TensorRT's int8 BERT does (int8 I/O SkipLayerNorm and fused MHA on Turing and later).
  `vector_dtype="int8"` gives the all-int8 graph.
- No dropout, no BERT pooler (bert-base returns hidden states), biases as in each model.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Literal

from hardware.chip import DTYPE_BYTES
from hardware.errors import InputError
from workloads.builder import GraphBuilder
from workloads.graph import Graph
from workloads.ops import numel
from workloads.zoo.llm_configs import CONFIGS, TransformerConfig
from workloads.zoo.moe import moe_ffn

__all__ = ["CONFIGS", "TransformerConfig", "decode_step", "transformer"]

ID_DTYPE = "fp32"  # 4-byte stand-in for int32 token ids
ROPE_FLOPS_PER_ELEMENT = 3  # x*cos + rotate_half(x)*sin
KV_CACHE_SUFFIXES = (".k_cache", ".v_cache")
# How a decode step's attention kernel reads the KV cache of a grouped-query model:
#   "shared": each KV head is read once for the query heads of its group (a GQA-aware
#             kernel: FlashAttention/FlashDecoding, TensorRT-LLM's XQA, vLLM's paged attention)
#   "per_query_head": once per QUERY head, i.e. (heads / kv_heads) times. TensorRT-LLM's
#             masked multi-head attention kernel runs "a single CUDA thread-block per head"
#             and XQA, its GQA kernel, supports a paged KV cache only (docs/source/
#             gpt_attention.md, "Generation Phase" and "XQA Optimization", v0.7 era); an
#             engine built without --paged_kv_cache reads each KV head once per query head.
#             (Those re-reads are priced as DRAM reads: hits in L2 between the thread
#             blocks of one group are not modelled.)
KV_READS = ("shared", "per_query_head")


def transformer(
    config: TransformerConfig,
    batch: int = 1,
    seq: int = 128,
    dtype: str = "fp16",
    mode: str = "prefill",
    kv: int = 0,
    weight_dtype: str | None = None,
    kv_dtype: str | None = None,
    layers: int | None = None,
    max_positions: int | None = None,
    embed: bool = True,
    head: bool = True,
    vector_dtype: str | None = None,
    kv_reads: str = "shared",
) -> Graph:
    """The block stack of `config` as a Graph.

    mode "prefill": `seq` new tokens per sequence, no cache (`kv` must be 0).
    mode "decode": ONE step of one new token per sequence with `kv` tokens already in the
    cache (`seq` is ignored); attention runs over kv + 1 keys.
    `layers` overrides the number of layers (small graphs for tests and quick looks);
    `max_positions` the context the model accepts (a RoPE-scaled model reaches further
    than it was trained for; learned position tables grow with it).
    `embed=False` starts from a hidden-state input "hidden" [B, S, H] and `head=False` ends
    at the last layer's output: a pipeline stage that holds only some of the layers.
    `kv_reads` (see KV_READS) "per_query_head" makes a decode step's cache tensors
    [B, heads, T, D]: the bytes the kernel reads, group-size times the bytes cached, so
    kv_cache_bytes of such a graph counts reads (size the memory with "shared").
    """
    if layers is not None:
        config = dataclasses.replace(config, layers=layers)
    if max_positions is not None:
        config = dataclasses.replace(config, max_positions=max_positions)
    weight_dtype = weight_dtype or dtype
    kv_dtype = kv_dtype or dtype
    vector_dtype = vector_dtype or default_vector_dtype(dtype)
    new_tokens = _check(config, batch, seq, dtype, mode, kv, weight_dtype, kv_dtype)
    if vector_dtype not in DTYPE_BYTES:
        raise InputError(
            f"workload {config.name!r}: unknown vector_dtype {vector_dtype!r}; allowed: "
            f"{', '.join(DTYPE_BYTES)}."
        )
    if kv_reads not in KV_READS:
        raise InputError(
            f"workload {config.name!r}: unknown kv_reads {kv_reads!r}; allowed: "
            f"{', '.join(KV_READS)}."
        )
    cache_heads = config.heads if kv_reads == "per_query_head" else config.kv_heads
    graph_name = config.name if not config.decoder else f"{config.name}-{mode}"
    b = GraphBuilder(graph_name, dtype, vector_dtype)
    if embed:
        x = _embed(b, config, batch, new_tokens, first_position=kv)
    else:
        x = b.input("hidden", (batch, new_tokens, config.hidden))
    for i in range(config.layers):
        cached = kv if mode == "decode" else 0
        x = block(b, config, x, f"layer{i}", cached, weight_dtype, kv_dtype, cache_heads)
    if head and config.pre_norm:
        x = b.layernorm(x, name="final_norm", kind=config.norm)
    if head and config.decoder:
        x = _lm_head(b, config, x, weight_dtype)
    return b.build(outputs=[x])


def decode_step(
    config_name: str,
    batch: int,
    kv: int,
    dtype: str = "fp16",
    weight_dtype: str | None = None,
    kv_dtype: str | None = None,
    layers: int | None = None,
) -> Graph:
    """One decode step of a named decoder: `batch` sequences, `kv` tokens already cached."""
    if config_name not in CONFIGS:
        raise InputError(f"unknown transformer {config_name!r}; known: {', '.join(CONFIGS)}.")
    return transformer(
        CONFIGS[config_name],
        batch=batch,
        dtype=dtype,
        mode="decode",
        kv=kv,
        weight_dtype=weight_dtype,
        kv_dtype=kv_dtype,
        layers=layers,
    )


INTEGER_DTYPES = ("int8", "int4")
MIXED_VECTOR_DTYPE = "fp16"  # what int8 deployments (TensorRT, onnxruntime) keep norms in


def default_vector_dtype(dtype: str) -> str:
    """The dtype of the non-matrix ops when none is named: fp16 for an integer `dtype`
    (nobody runs LayerNorm or GELU in int8 arithmetic), else `dtype` itself."""
    return MIXED_VECTOR_DTYPE if dtype in INTEGER_DTYPES else dtype


def is_kv_cache(tensor_name: str) -> bool:
    return tensor_name.endswith(KV_CACHE_SUFFIXES)


def weight_count(graph: Graph) -> int:
    """Parameters: the const tensors, less the KV caches (state, not weights)."""
    return sum(t.numel for n, t in graph.tensors.items() if t.const and not is_kv_cache(n))


def kv_cache_bytes(graph: Graph) -> float:
    return sum(t.nbytes for n, t in graph.tensors.items() if t.const and is_kv_cache(n))


# the pieces ---------------------------------------------------------------------------------


def _check(
    config: TransformerConfig,
    batch: int,
    seq: int,
    dtype: str,
    mode: str,
    kv: int,
    weight_dtype: str,
    kv_dtype: str,
) -> int:
    """Reject impossible requests; return the number of new tokens per sequence."""
    where = f"workload {config.name!r}"
    for key, value in (("batch", batch), ("seq", seq)):
        if not isinstance(value, int) or value < 1:
            raise InputError(f"{where}: {key} must be a positive integer, got {value!r}.")
    if not isinstance(kv, int) or kv < 0:
        raise InputError(
            f"{where}: kv (tokens already cached) must be an integer >= 0, got {kv!r}."
        )
    for key, value in (("dtype", dtype), ("weight_dtype", weight_dtype), ("kv_dtype", kv_dtype)):
        if value not in DTYPE_BYTES:
            raise InputError(
                f"{where}: unknown {key} {value!r}; allowed: {', '.join(DTYPE_BYTES)}."
            )
    if mode not in ("prefill", "decode"):
        raise InputError(f"{where}: mode must be 'prefill' or 'decode', got {mode!r}.")
    if mode == "decode" and not config.decoder:
        raise InputError(f"{where} is an encoder: it has no decode mode.")
    if mode == "prefill" and kv:
        raise InputError(
            f"{where}: kv={kv} applies to mode='decode'; a prefill starts from an empty cache."
        )
    positions = seq if mode == "prefill" else kv + 1
    if positions > config.max_positions:
        raise InputError(
            f"{where} handles at most {config.max_positions} positions, asked for "
            f"{positions} (max_positions raises the limit, as RoPE scaling does)."
        )
    return seq if mode == "prefill" else 1


def _embed(
    b: GraphBuilder, config: TransformerConfig, batch: int, tokens: int, first_position: int
) -> str:
    """Token (+ position, + segment) embeddings summed: [B, S, H] in the model dtype."""
    dtype = b.dtype
    ids = b.input("ids", (batch, tokens), dtype=ID_DTYPE)
    table = b.const("embed.tokens.w", (config.vocab, config.hidden))
    x = b.op("embedding", [ids, table], name="embed.tokens", out_dtype=dtype, dtype=dtype)
    if config.learned_positions:
        # all sequences of a batch sit at the same positions: one row of ids, broadcast
        positions = b.input("positions", (1, tokens), dtype=ID_DTYPE)
        table = b.const("embed.positions.w", (config.max_positions, config.hidden))
        pos = b.op(
            "embedding", [positions, table], name="embed.positions", out_dtype=dtype, dtype=dtype
        )
        x = b.add(x, pos, name="embed.add_positions")
    if config.token_types:
        types = b.input("token_types", (batch, tokens), dtype=ID_DTYPE)
        table = b.const("embed.types.w", (config.token_types, config.hidden))
        seg = b.op("embedding", [types, table], name="embed.types", out_dtype=dtype, dtype=dtype)
        x = b.add(x, seg, name="embed.add_types")
    if not config.pre_norm:
        x = b.layernorm(x, name="embed.norm", kind=config.norm)
    return x


def block(
    b: GraphBuilder,
    config: TransformerConfig,
    x: str,
    prefix: str,
    cached: int,
    weight_dtype: str,
    kv_dtype: str,
    cache_heads: int | None = None,
) -> str:
    """One layer; pre-norm (GPT-2, Llama) or post-norm (BERT). `cache_heads`: the heads
    of the cache tensors a decode step reads (kv_heads unless the kernel reads per query
    head, see KV_READS)."""
    if config.pre_norm:
        h = b.layernorm(x, name=f"{prefix}.attn_norm", kind=config.norm)
        x = b.add(
            x,
            _attention(b, config, h, prefix, cached, weight_dtype, kv_dtype, cache_heads),
            name=f"{prefix}.attn_residual",
        )
        h = b.layernorm(x, name=f"{prefix}.ffn_norm", kind=config.norm)
        return b.add(x, _ffn(b, config, h, prefix, weight_dtype), name=f"{prefix}.ffn_residual")
    x = b.add(
        x,
        _attention(b, config, x, prefix, cached, weight_dtype, kv_dtype, cache_heads),
        name=f"{prefix}.attn_residual",
    )
    x = b.layernorm(x, name=f"{prefix}.attn_norm", kind=config.norm)
    x = b.add(x, _ffn(b, config, x, prefix, weight_dtype), name=f"{prefix}.ffn_residual")
    return b.layernorm(x, name=f"{prefix}.ffn_norm", kind=config.norm)


def _attention(
    b: GraphBuilder,
    config: TransformerConfig,
    x: str,
    prefix: str,
    cached: int,
    weight_dtype: str,
    kv_dtype: str,
    cache_heads: int | None = None,
) -> str:
    """Self-attention of the new tokens over the cache (if any) and themselves."""
    cache_heads = cache_heads or config.kv_heads
    d = config.head_dim
    heads = {}
    for proj, n_heads in (("q", config.heads), ("k", config.kv_heads), ("v", config.kv_heads)):
        t = b.linear(
            x,
            n_heads * d,
            bias=config.bias,
            name=f"{prefix}.{proj}_proj",
            weight_dtype=weight_dtype,
        )
        if proj != "v" and not config.learned_positions:
            t = b.op(
                "custom",
                [t],
                name=f"{prefix}.{proj}_rope",
                out_shapes=[list(b.shape(t))],
                flops=ROPE_FLOPS_PER_ELEMENT * numel(b.shape(t)),
                op_class="vector",
            )
        heads[proj] = _split_heads(b, t, n_heads, f"{prefix}.{proj}")
    inputs = [heads["q"], heads["k"], heads["v"]]
    if cached:
        batch = b.shape(x)[0]
        caches = [
            b.const(f"{prefix}.{proj}_cache", (batch, cache_heads, cached, d), dtype=kv_dtype)
            for proj in ("k", "v")
        ]
        inputs = [heads["q"], *caches, heads["k"], heads["v"]]
    o = b.op("attention", inputs, name=f"{prefix}.attention", causal=config.decoder)
    o = _merge_heads(b, o, f"{prefix}.attention")
    return b.linear(
        o, config.hidden, bias=config.bias, name=f"{prefix}.o_proj", weight_dtype=weight_dtype
    )


def _ffn(b: GraphBuilder, config: TransformerConfig, x: str, prefix: str, weight_dtype: str) -> str:
    if config.experts:
        return moe_ffn(b, config, x, prefix, weight_dtype)
    if config.gated:
        gate = b.linear(
            x, config.ffn, bias=config.bias, name=f"{prefix}.gate_proj", weight_dtype=weight_dtype
        )
        up = b.linear(
            x, config.ffn, bias=config.bias, name=f"{prefix}.up_proj", weight_dtype=weight_dtype
        )
        act = b.unary(config.activation, gate, name=f"{prefix}.act")
        h = b.op("mul", [act, up], name=f"{prefix}.gate_mul")
    else:
        up = b.linear(
            x, config.ffn, bias=config.bias, name=f"{prefix}.up_proj", weight_dtype=weight_dtype
        )
        h = b.unary(config.activation, up, name=f"{prefix}.act")
    return b.linear(
        h, config.hidden, bias=config.bias, name=f"{prefix}.down_proj", weight_dtype=weight_dtype
    )


def _lm_head(b: GraphBuilder, config: TransformerConfig, x: str, weight_dtype: str) -> str:
    """Logits for every position: [B, S, V], or [V, B*S] for a tied head."""
    if not config.tied_head:
        return b.linear(x, config.vocab, bias=False, name="lm_head", weight_dtype=weight_dtype)
    batch, tokens, hidden = b.shape(x)
    if "embed.tokens.w" not in b.tensors:  # a last pipeline stage holds its own copy
        b.const("embed.tokens.w", (config.vocab, config.hidden))
    flat = b.op("reshape", [x], name="lm_head.flatten", shape=[batch * tokens, hidden])
    xt = _permute(b, flat, [1, 0], "lm_head.transpose")
    return b.op("matmul", ["embed.tokens.w", xt], name="lm_head")


def _split_heads(b: GraphBuilder, x: str, n_heads: int, name: str) -> str:
    """[B, S, n*D] -> [B, n, S, D]: a view to [B, S, n, D], then a transpose."""
    batch, tokens, width = b.shape(x)
    x = b.op("reshape", [x], name=f"{name}_heads", shape=[batch, tokens, n_heads, width // n_heads])
    return _permute(b, x, [0, 2, 1, 3], f"{name}_transpose")


def _merge_heads(b: GraphBuilder, x: str, name: str) -> str:
    """[B, H, S, D] -> [B, S, H*D]: a transpose, then a view."""
    batch, n_heads, tokens, d = b.shape(x)
    x = _permute(b, x, [0, 2, 1, 3], f"{name}_transpose")
    return b.op("reshape", [x], name=f"{name}_merge", shape=[batch, tokens, n_heads * d])


def _permute(b: GraphBuilder, x: str, perm: list[int], name: str) -> str:
    """A transpose, or a free reshape when only axes of size 1 change places."""
    shape = b.shape(x)
    out = [shape[p] for p in perm]
    moved = [p for p in perm if shape[p] != 1]
    if moved == sorted(moved):
        return b.op("reshape", [x], name=name, shape=out)
    return b.op("transpose", [x], name=name, perm=perm)


# builders by name --------------------------------------------------------------------------


def bert(
    batch: int = 1,
    seq: int = 128,
    dtype: str = "fp16",
    size: Literal["base", "large"] = "base",
    vector_dtype: str | None = None,
) -> Graph:
    """BERT-`size` encoder (base: 12 x 768, 12 heads; large: 24 x 1024, 16 heads): hidden
    states for `seq` tokens, no pooler. dtype=int8 keeps norms and GELU in fp16
    (vector_dtype overrides)."""
    return transformer(
        CONFIGS[f"bert-{size}"], batch=batch, seq=seq, dtype=dtype, vector_dtype=vector_dtype
    )


def bert_base(
    batch: int = 1, seq: int = 128, dtype: str = "fp16", vector_dtype: str | None = None
) -> Graph:
    """BERT-base encoder (12 x 768, 12 heads): hidden states for `seq` tokens, no pooler.
    dtype=int8 keeps norms and GELU in fp16 (vector_dtype overrides)."""
    return bert(batch, seq, dtype, "base", vector_dtype)


def bert_large(
    batch: int = 1, seq: int = 128, dtype: str = "fp16", vector_dtype: str | None = None
) -> Graph:
    """BERT-large encoder (24 x 1024, 16 heads): hidden states for `seq` tokens, no pooler.
    dtype=int8 keeps norms and GELU in fp16 (vector_dtype overrides)."""
    return bert(batch, seq, dtype, "large", vector_dtype)


def gpt2(
    batch: int = 1,
    seq: int = 128,
    dtype: str = "fp16",
    mode: str = "prefill",
    kv: int = 0,
    vector_dtype: str | None = None,
) -> Graph:
    """GPT-2 small (124M): prefill of `seq` tokens, or one decode step after `kv` cached."""
    return transformer(
        CONFIGS["gpt2"],
        batch=batch,
        seq=seq,
        dtype=dtype,
        mode=mode,
        kv=kv,
        vector_dtype=vector_dtype,
    )


def _llama_builder(name: str):
    def builder(
        batch: int = 1,
        seq: int = 512,
        dtype: str = "fp16",
        mode: str = "prefill",
        kv: int = 0,
        weight_dtype: str | None = None,
        kv_dtype: str | None = None,
        layers: int | None = None,
        max_positions: int | None = None,
    ) -> Graph:
        return transformer(
            CONFIGS[name],
            batch=batch,
            seq=seq,
            dtype=dtype,
            mode=mode,
            kv=kv,
            weight_dtype=weight_dtype,
            kv_dtype=kv_dtype,
            layers=layers,
            max_positions=max_positions,
        )

    builder.__name__ = name.replace("-", "_").replace(".", "_")
    builder.__doc__ = (
        f"{name}: prefill of `seq` tokens, or one decode step (mode='decode') "
        f"after `kv` cached tokens, within {CONFIGS[name].max_positions:,} positions "
        "(max_positions overrides); weight/KV dtypes and layer count optional."
    )
    return builder


DECODERS = (
    "llama-2-7b",
    "llama-3-8b",
    "llama-2-70b",
    "llama-3-70b",
    "llama-3.1-8b",
    "llama-3.1-70b",
    "mixtral-8x7b",
)

# name -> builder: `workloads.registry` reads this table; nothing here imports the registry
BUILDERS: dict[str, Callable[..., Graph]] = {
    "bert": bert,
    "bert-base": bert_base,
    "bert-large": bert_large,
    "gpt2": gpt2,
    **{name: _llama_builder(name) for name in DECODERS},
}
