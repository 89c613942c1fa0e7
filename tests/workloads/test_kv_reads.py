"""How a decode step's attention reads a grouped-query KV cache (transformer.KV_READS).

"per_query_head" models an attention kernel that reads each KV head once for every query
head of its group (TensorRT-LLM's masked MHA kernel without XQA); "shared" (the default)
reads it once. Numbers derived by hand on llama-3-8b (32 query heads, 8 KV heads, head
dim 128) and the toy chip (DRAM 10 GB/s).
"""

from __future__ import annotations

import pytest

import hardware
from hardware.errors import InputError
from sim.simulate import simulate
from workloads.zoo.transformer import CONFIGS, kv_cache_bytes, transformer

LLAMA3 = CONFIGS["llama-3-8b"]


def one_layer(kv_reads: str, kv: int = 4095, mode: str = "decode", **extra):
    shape = {"kv": kv} if mode == "decode" else {"seq": 16}
    return transformer(
        LLAMA3, batch=1, mode=mode, dtype="fp16", kv_reads=kv_reads, layers=1,
        embed=False, head=False, **shape, **extra,
    )  # fmt: skip


def test_per_query_head_reads_the_cache_group_size_times_with_the_same_macs():
    shared, per_head = one_layer("shared"), one_layer("per_query_head")
    # cache: K and V, 8 KV heads x 4095 tokens x 128 x 2 bytes each = 16,773,120 bytes
    assert kv_cache_bytes(shared) == 2 * 8 * 4095 * 128 * 2
    assert kv_cache_bytes(per_head) == 4 * kv_cache_bytes(shared)  # 32 / 8 query heads per group
    assert per_head.macs == shared.macs
    attention = next(op for op in per_head.ops if op.kind == "attention")
    # the appended row stays one row per KV head: only the cache is read per query head
    assert per_head.tensors[attention.inputs[3]].shape == (1, 8, 1, 128)
    assert per_head.tensors[attention.inputs[1]].shape == (1, 32, 4095, 128)


def test_the_extra_reads_cost_their_bytes_over_dram_bandwidth_on_the_toy_chip():
    chip = hardware.load_chip("toy")
    shared = simulate(one_layer("shared"), chip).latency_s
    per_head = simulate(one_layer("per_query_head"), chip).latency_s
    # 24 more heads of K and V: 2 x 24 x 4095 x 128 x 2 B = 50,319,360 B at 10 GB/s = 5.032 ms
    extra = 2 * 24 * 4095 * 128 * 2 / 10e9
    assert per_head - shared == pytest.approx(extra, rel=1e-3)


def test_prefill_and_multi_head_models_are_unchanged():
    assert one_layer("per_query_head", mode="prefill").to_dict() == (
        one_layer("shared", mode="prefill").to_dict()
    )
    mha = [
        transformer(CONFIGS["llama-2-7b"], batch=2, mode="decode", kv=64, layers=1, kv_reads=k)
        for k in ("shared", "per_query_head")
    ]
    assert mha[0].to_dict() == mha[1].to_dict()


def test_an_unknown_kv_reads_is_an_input_error_naming_the_choices():
    with pytest.raises(InputError, match="kv_reads.*shared, per_query_head"):
        one_layer("sometimes")
