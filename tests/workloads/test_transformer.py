"""Transformer builders: parameter counts, MACs and KV-cache bytes derived by hand.

Per layer, the linear weights of a block are (H hidden, D head dim, F ffn):
    H*(H + 2*kv_heads*D)  q, k, v projections
  + H*H                   output projection
  + (3 if gated else 2)*H*F   FFN (gate, up, down for SwiGLU)
and a forward pass of B*S new tokens costs those weights x tokens in MACs, plus H*V per
token for the LM head, plus 2*B*L*heads*D*pairs for attention (pairs = S(S+1)/2 causal,
S^2 bidirectional, T+1 for a decode step over T cached tokens).
"""

from __future__ import annotations

import dataclasses
import time

import pytest

from hardware.errors import InputError
from workloads import build, list_workloads
from workloads.graph import Graph
from workloads.zoo.transformer import (
    CONFIGS,
    TransformerConfig,
    decode_step,
    is_kv_cache,
    kv_cache_bytes,
    weight_count,
)

# Published parameter counts: the paper's rounded figure and the exact count of the
# released checkpoint (model cards on Hugging Face).
PUBLISHED = {
    "gpt2": (124e6, 124_439_808),
    "llama-2-7b": (6.74e9, 6_738_415_616),
    "llama-3-8b": (8.03e9, 8_030_261_248),
    "llama-2-70b": (69e9, 68_976_648_192),
}


def layer_weights(c: TransformerConfig) -> int:
    """Elements of the weight matrices of one block (no biases, no norms)."""
    d = c.head_dim
    return (
        c.hidden * (c.hidden + 2 * c.kv_heads * d)
        + c.hidden**2
        + (3 if c.gated else 2) * c.hidden * c.ffn
    )


def linear_macs(c: TransformerConfig, tokens: int) -> int:
    head = c.hidden * c.vocab if c.decoder else 0
    return tokens * (c.layers * layer_weights(c) + head)


def embedding_params(c: TransformerConfig) -> int:
    positions = c.max_positions if c.learned_positions else 0
    return (c.vocab + positions + c.token_types) * c.hidden


def small(name: str, layers: int) -> TransformerConfig:
    return dataclasses.replace(CONFIGS[name], layers=layers)


def linear_weight_bytes(graph: Graph) -> float:
    return sum(graph.tensors[op.inputs[1]].nbytes for op in graph.ops if op.kind == "linear")


# parameter counts -------------------------------------------------------------------------


def test_gpt2_has_124m_parameters_including_tied_embeddings():
    g = build("gpt2")
    rounded, exact = PUBLISHED["gpt2"]
    assert g.params == weight_count(g) == exact
    assert abs(g.params / rounded - 1) < 0.02


def test_bert_base_has_110m_parameters_less_the_pooler():
    g = build("bert-base")
    pooler = 768 * 768 + 768
    assert weight_count(g) == 109_482_240 - pooler
    assert abs((weight_count(g) + pooler) / 110e6 - 1) < 0.02


@pytest.mark.parametrize("name", ["llama-2-7b", "llama-3-8b", "llama-2-70b"])
def test_llama_parameters_extrapolated_from_one_and_two_layers(name):
    one = weight_count(build(name, seq=8, layers=1))
    two = weight_count(build(name, seq=8, layers=2))
    per_layer = two - one
    c = CONFIGS[name]
    assert per_layer == layer_weights(c) + 2 * c.hidden  # + two RMSNorm gains
    total = one + (c.layers - 1) * per_layer
    rounded, exact = PUBLISHED[name]
    assert total == exact
    assert abs(total / rounded - 1) < 0.02


def test_kv_caches_are_const_but_not_parameters():
    g = build("llama-2-7b", mode="decode", kv=16, layers=2)
    caches = [n for n, t in g.tensors.items() if t.const and is_kv_cache(n)]
    assert sorted(caches) == [f"layer{i}.{p}_cache" for i in range(2) for p in "kv"]
    assert weight_count(g) == weight_count(build("llama-2-7b", seq=8, layers=2))
    assert g.params == weight_count(g) + 2 * 2 * 32 * 16 * 128


# MACs ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "layers", "batch", "seq"),
    [
        ("gpt2", 12, 1, 128),
        ("gpt2", 12, 2, 1024),
        ("llama-2-7b", 2, 1, 512),
        ("llama-3-8b", 2, 3, 100),
        ("bert-base", 12, 2, 64),
    ],
)
def test_prefill_macs_are_weights_times_tokens_plus_attention(name, layers, batch, seq):
    c = small(name, layers)
    g = build(name, batch=batch, seq=seq, **({"layers": layers} if "llama" in name else {}))
    tokens = batch * seq
    pairs = seq * (seq + 1) // 2 if c.decoder else seq * seq
    attention = 2 * batch * c.layers * c.heads * c.head_dim * pairs
    assert g.macs == linear_macs(c, tokens) + attention
    # the rule of thumb: non-embedding parameters x tokens (the tied GPT-2 head uses the
    # embedding table once more), within 1%
    non_embedding = weight_count(g) - embedding_params(c)
    head = c.hidden * c.vocab if c.tied_head else 0
    assert abs(g.macs / ((non_embedding + head) * tokens + attention) - 1) < 0.01


def test_bert_base_is_11_2_gmacs_at_seq_128():
    g = build("bert-base", seq=128)
    assert g.macs == 12 * 128 * (4 * 768**2 + 2 * 768 * 3072) + 2 * 12 * 12 * 128**2 * 64
    assert abs(g.macs / 11.2e9 - 1) < 0.03


@pytest.mark.parametrize(
    ("name", "batch", "kv"),
    [
        ("llama-3-8b", 4, 1000),
        ("llama-2-70b", 1, 4095),
        ("gpt2", 8, 100),
    ],
)
def test_decode_step_macs_are_weights_times_batch_plus_attention_over_cache(name, batch, kv):
    layers = 2 if "llama" in name else 12
    c = small(name, layers)
    g = decode_step(name, batch, kv, layers=layers if "llama" in name else None)
    attention = 2 * batch * c.layers * c.heads * c.head_dim * (kv + 1)
    assert g.macs == linear_macs(c, batch) + attention
    non_embedding = weight_count(g) - embedding_params(c)
    head = c.hidden * c.vocab if c.tied_head else 0
    assert abs(g.macs / ((non_embedding + head) * batch + attention) - 1) < 0.01


def test_decode_step_is_the_registered_decode_mode():
    a = decode_step("llama-2-7b", 2, 10, kv_dtype="int8", layers=1)
    b = build("llama-2-7b", mode="decode", kv=10, batch=2, kv_dtype="int8", layers=1)
    assert a.to_dict() == b.to_dict()


def test_decode_with_an_empty_cache_is_a_one_token_prefill():
    assert build("gpt2", mode="decode", kv=0).macs == build("gpt2", seq=1).macs


# attention structure, GQA and the KV cache ------------------------------------------------


def test_llama_3_8b_uses_grouped_query_attention_with_1024_wide_k_and_v():
    g = build("llama-3-8b", seq=16, layers=1)
    assert g.tensors["layer0.q_proj.w"].shape == (4096, 4096)
    assert g.tensors["layer0.k_proj.w"].shape == (4096, 1024)
    assert g.tensors["layer0.v_proj.w"].shape == (4096, 1024)
    attention = next(op for op in g.ops if op.kind == "attention")
    assert [g.tensors[t].shape for t in attention.inputs] == [
        (1, 32, 16, 128),
        (1, 8, 16, 128),
        (1, 8, 16, 128),
    ]
    assert build("llama-2-7b", seq=16, layers=1).tensors["layer0.k_proj.w"].shape == (4096, 4096)


def test_decoders_are_causal_and_bert_is_bidirectional():
    for name, causal in (("gpt2", True), ("llama-2-7b", True), ("bert-base", False)):
        g = build(name, seq=8, **({"layers": 1} if "llama" in name else {}))
        assert {op.attrs["causal"] for op in g.ops if op.kind == "attention"} == {causal}
    assert not any(op.name == "lm_head" for op in build("bert-base").ops)


def test_decode_kv_cache_bytes_per_layer_are_2_b_kvheads_t_d_bytes():
    batch, kv, layers = 2, 300, 3
    for kv_dtype, nbytes in (("fp16", 2), ("int8", 1), ("int4", 0.5)):
        g = build("llama-3-8b", mode="decode", batch=batch, kv=kv, kv_dtype=kv_dtype, layers=layers)
        per_layer = 2 * batch * 8 * kv * 128 * nbytes
        layer0 = g.tensors["layer0.k_cache"].nbytes + g.tensors["layer0.v_cache"].nbytes
        assert layer0 == per_layer
        assert kv_cache_bytes(g) == layers * per_layer
    attention = next(op for op in g.ops if op.name == "layer0.attention")
    assert attention.inputs[1:3] == ["layer0.k_cache", "layer0.v_cache"]
    assert g.tensors[attention.inputs[3]].shape == (batch, 8, 1, 128)  # the appended row
    # the decode step reads the cache once: its bytes appear once in the op's reads
    assert attention.read_bytes >= per_layer


def test_int4_weights_halve_weight_bytes_of_int8():
    int8 = build("llama-2-7b", seq=8, layers=1, weight_dtype="int8")
    int4 = build("llama-2-7b", seq=8, layers=1, weight_dtype="int4")
    assert linear_weight_bytes(int4) == linear_weight_bytes(int8) / 2
    assert linear_weight_bytes(int8) == 1 * (layer_weights(CONFIGS["llama-2-7b"]) + 4096 * 32000)
    assert int4.macs == int8.macs
    assert int4.tensors["embed.tokens.w"].dtype == "fp16"  # tables are not quantized


def test_head_split_is_a_copy_in_prefill_and_a_view_in_decode():
    prefill = build("llama-2-7b", seq=8, layers=1)
    decode = build("llama-2-7b", mode="decode", kv=8, layers=1, batch=4)
    assert sum(op.kind == "transpose" for op in prefill.ops) == 4  # q, k, v, output
    assert not any(op.kind == "transpose" for op in decode.ops)


def test_llama_2_70b_prefill_builds_in_under_2_seconds():
    start = time.perf_counter()
    g = build("llama-2-70b")
    assert time.perf_counter() - start < 2.0
    assert weight_count(g) == PUBLISHED["llama-2-70b"][1]


def test_graphs_survive_the_file_schema():
    g = build("llama-3-8b", mode="decode", kv=5, layers=1)
    again = Graph.model_validate(g.to_dict())
    assert again.macs == g.macs and again.params == g.params


# the registry ------------------------------------------------------------------------------


def test_all_transformers_are_registered():
    assert {"bert-base", "gpt2", "llama-2-7b", "llama-3-8b", "llama-2-70b"} <= set(list_workloads())


@pytest.mark.parametrize(
    ("name", "params", "message"),
    [
        ("gpt2", {"seq": 2048}, "at most 1024 positions"),
        ("gpt2", {"mode": "decode", "kv": 1024}, "at most 1024 positions"),
        ("llama-2-7b", {"kv": 5}, "applies to mode='decode'"),
        ("llama-2-7b", {"mode": "train"}, "mode must be"),
        ("llama-2-7b", {"weight_dtype": "int3"}, "unknown weight_dtype"),
        ("llama-2-7b", {"mode": "decode", "kv": -1}, "kv"),
        ("bert-base", {"mode": "decode"}, "no parameter 'mode'"),
    ],
)
def test_bad_requests_are_input_errors(name, params, message):
    with pytest.raises(InputError, match=message):
        build(name, **params)


def test_unknown_decode_config_is_an_input_error():
    with pytest.raises(InputError, match="unknown transformer"):
        decode_step("llama-1-7b", 1, 10)
