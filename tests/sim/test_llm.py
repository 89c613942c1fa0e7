"""LLM generation on h100-sxm: bounds derived by hand from bytes, bandwidth and the ridge.

The h100-sxm figures used below (hardware/presets/h100-sxm.yaml): DRAM 3.35 TB/s; fp16
peak 2 x 132 SMs x 2048 MACs x 1.83 GHz = 989.4 TOP/s; ridge point 989.4e12 / 3.35e12 =
295 ops per byte; host launch 4 us per kernel, 1 us device gap between kernels.

A decode step reads every linear weight once (plus one embedding row and the norm gains)
and the whole KV cache, so at batch 1 its latency is at least those bytes over the DRAM
bandwidth. A linear layer at batch B does B MACs per weight: 2B ops per 2 bytes (fp16),
so its intensity is about B ops per byte and it turns compute-bound once B passes the
ridge point, near B = 295.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from rich.console import Console

import hardware
import sim
from hardware.errors import InputError
from sim.losses import LOSS_CATEGORIES
from sim.render.generation import render_generation
from sim.studies.llm import (
    LATENCY_TOLERANCE,
    generate,
    interpolate_steps,
    kv_cache_size,
    sample_steps,
)
from sim.studies.results import DecodeSample, GenerationResult
from workloads import build
from workloads.ops import DEFAULT_GROUP_SIZE
from workloads.zoo.transformer import CONFIGS, TransformerConfig, decode_step

BANDWIDTH = 3.35e12
PEAK_FP16 = 2 * 132 * 2048 * 1.83e9
RIDGE = PEAK_FP16 / BANDWIDTH


@pytest.fixture(scope="module")
def h100() -> hardware.Chip:
    return hardware.load_chip("h100-sxm")


def weight_bytes_read(c: TransformerConfig, elem: float = 2.0) -> float:
    """Bytes of weights one decode step reads: linear weights, norm gains, one embedding row."""
    d = c.head_dim
    linear = c.hidden * (c.hidden + 2 * c.kv_heads * d) + c.hidden**2 + 3 * c.hidden * c.ffn
    norms = 2 * c.hidden
    return elem * (c.layers * (linear + norms) + c.hidden * c.vocab + c.hidden + c.hidden)


def kv_bytes_read(c: TransformerConfig, batch: int, cached: int, elem: float = 2.0) -> float:
    return 2 * c.layers * batch * c.kv_heads * cached * c.head_dim * elem


def decode_ops_per_s(r: GenerationResult) -> float:
    return (r.total_ops - r.prefill.total_ops) / r.decode_s


# batch 1 is memory-bound -------------------------------------------------------------------


def test_peak_and_ridge_are_the_ones_derived_by_hand(h100):
    assert h100.peak_ops("fp16") == pytest.approx(PEAK_FP16)
    assert h100.ridge_point("fp16") == pytest.approx(RIDGE)
    assert abs(RIDGE - 295.4) < 0.1


def test_decode_at_batch_1_takes_weights_plus_kv_over_bandwidth(h100):
    """Full Llama-2-7B (32 layers): 13.2 GB of weights per token -> >= 3.94 ms at 3.35 TB/s.

    Upper bound: 1.3 x the byte bound (DRAM latency per kernel, the small activation traffic,
    rounding) plus the launch overhead: one host launch before the first kernel and the
    device gap before each kernel.
    """
    prompt, tokens = 512, 8
    r = generate("llama-2-7b", h100, prompt=prompt, tokens=tokens)
    c = CONFIGS["llama-2-7b"]
    weights = weight_bytes_read(c)
    assert weights == pytest.approx(13.214e9, rel=1e-3)
    launch = h100.launch.latency + r.decode_step.kernels * h100.launch.device_gap
    for latency, cached in (
        (r.per_token.first_s, prompt),
        (r.per_token.last_s, prompt + tokens - 1),
    ):
        bound = (weights + kv_bytes_read(c, 1, cached)) / BANDWIDTH
        assert bound <= latency <= 1.3 * bound + launch
    assert r.per_token.first_s <= r.per_token.median_s <= r.per_token.last_s
    # decode delivers a few percent of peak at most: ~1 op per byte against a ridge of 295
    assert decode_ops_per_s(r) / PEAK_FP16 < 1 / RIDGE * 1.01 < 0.05


def test_the_decode_step_moves_the_bytes_derived_by_hand(h100):
    r = generate("llama-2-7b", h100, prompt=100, tokens=3, layers=2)
    c = dataclasses.replace(CONFIGS["llama-2-7b"], layers=2)
    step = r.decode_step  # the median step: 101 cached tokens
    assert step.dram_bytes >= weight_bytes_read(c) + kv_bytes_read(c, 1, 101)
    assert step.dram_bytes <= 1.01 * (weight_bytes_read(c) + kv_bytes_read(c, 1, 101))
    assert r.decode_top_loss() in ("memory", "starvation")


# throughput against batch -------------------------------------------------------------------


@pytest.fixture(scope="module")
def batch_sweep(h100) -> dict[int, GenerationResult]:
    """Llama-3-8B (GQA, 2 layers), 32-token prompt, 16 decode steps, at growing batch."""
    return {
        batch: generate("llama-3-8b", h100, prompt=32, tokens=16, batch=batch, layers=2)
        for batch in (1, 4, 16, 64, 512)
    }


def test_tokens_per_second_and_efficiency_rise_with_batch(batch_sweep):
    batches = sorted(batch_sweep)
    rates = [batch_sweep[b].tokens_per_s for b in batches]
    efficiency = [decode_ops_per_s(batch_sweep[b]) / PEAK_FP16 for b in batches]
    assert rates == sorted(rates) and len(set(rates)) == len(rates)
    assert efficiency == sorted(efficiency)
    # below the ridge, a step costs about the same at batch 1 and 64: throughput ~ batch
    assert batch_sweep[64].tokens_per_s > 40 * batch_sweep[1].tokens_per_s


def test_small_batches_are_memory_bound_and_large_ones_compute_bound(batch_sweep):
    """B = 512 > ridge (295): the linear layers are compute-bound and more than half the
    peak is delivered in decode; the memory loss left is attention reading the KV cache
    (about 4 ops per byte whatever the batch), under a tenth of the capacity."""
    assert batch_sweep[1].decode_top_loss() == "memory"
    assert decode_ops_per_s(batch_sweep[1]) / PEAK_FP16 < 0.01
    big = batch_sweep[512]
    assert big.decode_step.ops[0].bound == "compute" or any(
        row.bound == "compute" for row in big.decode_step.ops if "proj" in row.name
    )
    assert decode_ops_per_s(big) / PEAK_FP16 > 0.5
    assert big.decode_losses_ops["memory"] < 0.1 * big.peak_ops * big.decode_s


# interpolation of the decode steps ----------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "batch", "prompt", "tokens"),
    [
        ("llama-2-7b", 1, 64, 32),
        # crosses KV 256, where the attention kernels change their block choice
        ("llama-3-8b", 64, 224, 64),
    ],
)
def test_interpolated_decode_matches_simulating_every_step(h100, name, batch, prompt, tokens):
    r = generate(name, h100, prompt=prompt, tokens=tokens, batch=batch, layers=2)
    assert len(r.samples) < tokens / 4  # most steps were interpolated
    steps = interpolate_steps(r.samples, tokens)
    direct_latency = []
    direct_losses = dict.fromkeys(LOSS_CATEGORIES, 0.0)
    direct_useful = 0.0
    for i in range(tokens):
        step = sim.simulate(decode_step(name, batch, prompt + i, layers=2), h100)
        direct_latency.append(step.latency_s)
        direct_useful += step.useful_ops
        for category in LOSS_CATEGORIES:
            direct_losses[category] += step.losses_ops[category]
    direct = np.array(direct_latency)
    assert np.all(np.abs(steps["latency_s"] / direct - 1) < 0.01)
    assert r.decode_s == pytest.approx(direct.sum(), rel=0.01)
    assert r.per_token.median_s == pytest.approx(float(np.median(direct)), rel=0.01)
    assert r.per_token.first_s == pytest.approx(direct[0], rel=1e-9)
    assert r.per_token.last_s == pytest.approx(direct[-1], rel=1e-9)
    capacity = r.peak_ops * r.decode_s
    assert abs(r.decode_useful_ops - direct_useful) < 0.01 * capacity
    for category in LOSS_CATEGORIES:
        assert abs(r.decode_losses_ops[category] - direct_losses[category]) < 0.01 * capacity


def _fake_sample(step: int, latency: float) -> DecodeSample:
    return DecodeSample(
        step=step,
        kv=step,
        latency_s=latency,
        total_ops=0.0,
        useful_ops=0.0,
        offloaded_ops=0.0,
        losses_ops=dict.fromkeys(LOSS_CATEGORIES, latency),
        dram_bytes=0.0,
        energy_j=None,
        events=0,
    )


def test_an_affine_decode_needs_three_steps_first_median_last():
    seen = []

    def measure(step):
        seen.append(step)
        return _fake_sample(step, 1.0 + 0.01 * step)

    samples = sample_steps(1000, measure, peak_ops=1.0)
    assert [s.step for s in samples] == [0, 499, 999]
    assert sorted(seen) == [0, 499, 999]


def test_bisection_finds_a_kink_and_bounds_the_error():
    """A step turning from memory- to compute-bound at step 300: latency max of two lines."""

    def latency(step):
        return max(1.0 + 0.001 * step, 0.4 + 0.003 * step)

    samples = sample_steps(1000, lambda s: _fake_sample(s, latency(s)), peak_ops=1.0)
    assert 3 < len(samples) < 40
    steps = interpolate_steps(samples, 1000)["latency_s"]
    exact = np.array([latency(s) for s in range(1000)])
    assert np.max(np.abs(steps / exact - 1)) <= 2 * LATENCY_TOLERANCE


# what a generation reports ------------------------------------------------------------------


def test_ttft_is_the_prefill_simulation_latency(h100):
    r = generate("llama-2-7b", h100, prompt=128, tokens=4, batch=2, layers=2)
    prefill = sim.simulate(build("llama-2-7b", seq=128, batch=2, layers=2), h100)
    assert r.ttft_s == prefill.latency_s
    assert r.prefill.total_ops == prefill.total_ops
    assert r.total_s == pytest.approx(r.ttft_s + r.decode_s, rel=1e-12)
    assert r.tokens_per_s == pytest.approx(2 * 4 / r.decode_s)


def test_peak_times_total_time_is_useful_plus_losses(h100):
    r = generate("gpt2", h100, prompt=64, tokens=40, batch=3)
    assert r.peak_ops * r.total_s == pytest.approx(
        r.useful_ops + sum(r.losses_ops.values()), rel=1e-9
    )
    assert r.peak_ops * r.decode_s == pytest.approx(
        r.decode_useful_ops + sum(r.decode_losses_ops.values()), rel=1e-9
    )
    assert r.losses_s["memory"] == pytest.approx(r.losses_ops["memory"] / r.peak_ops)
    assert r.delivered_ops_per_s == pytest.approx(r.total_ops / r.total_s)
    assert r.efficiency == pytest.approx(r.delivered_ops_per_s / r.peak_ops)
    # ops: the prefill's plus each step's, which grow by the attention over one more key
    c = CONFIGS["gpt2"]
    first = sim.simulate(decode_step("gpt2", 3, 64), h100).total_ops
    per_key = 3 * c.layers * c.heads * (4 * c.head_dim + 5)  # 2 MACs x 2 ops, 5 softmax flops
    expected = r.prefill.total_ops + 40 * first + per_key * 40 * 39 / 2
    assert r.total_ops == pytest.approx(expected, rel=1e-9)


def test_the_median_step_result_is_at_the_median_kv_length(h100):
    r = generate("llama-2-7b", h100, prompt=50, tokens=11, layers=2)
    direct = sim.simulate(decode_step("llama-2-7b", 1, 55, layers=2), h100)
    assert r.decode_step.latency_s == direct.latency_s
    assert r.per_token.median_s == pytest.approx(direct.latency_s, rel=1e-9)


def test_memory_footprint_flags_what_does_not_fit(h100):
    r = generate("llama-2-7b", h100, prompt=100, tokens=28, batch=2, layers=2)
    c = CONFIGS["llama-2-7b"]
    assert r.kv_cache_bytes == 2 * 2 * 2 * 32 * 128 * 2 * 128  # K+V, layers, batch, heads, D
    assert r.kv_cache_bytes == kv_cache_size("llama-2-7b", 2 * 128, layers=2)
    embeddings = 2 * 2 * c.vocab * c.hidden  # token table + LM head, fp16
    assert r.weight_bytes == pytest.approx(embeddings + 2 * 2 * 202_383_360 + 2 * c.hidden)
    assert r.fits_in_memory
    small = hardware.load_chip("h100-sxm", overrides={"memory.dram.capacity": "1 GB"})
    assert not generate("llama-2-7b", small, prompt=100, tokens=2, layers=2).fits_in_memory
    # 70B: 69.0e9 parameters, 138 GB in fp16, over one H100's 80 GB; its KV cache is
    # 2 x 80 layers x 8 heads x 128 x 2 bytes = 320 KiB per token
    assert kv_cache_size("llama-2-70b", 1) == 327_680


def test_int8_weights_halve_the_weight_bytes_of_a_memory_bound_step(h100):
    fp16 = generate("llama-2-7b", h100, prompt=16, tokens=3, layers=2)
    int8 = generate("llama-2-7b", h100, prompt=16, tokens=3, layers=2, weight_dtype="int8")
    c = dataclasses.replace(CONFIGS["llama-2-7b"], layers=2)
    int8_elements = weight_bytes_read(c) / 2 - (c.layers * 2 * c.hidden + 2 * c.hidden)
    # each int8 byte saves one byte; the group scales (fp16 per 128 weights) cost 2/128
    saved = int8_elements * (1 - 2 / DEFAULT_GROUP_SIZE)
    # (to 0.1%: smaller weights also let a few more activations stay in L2)
    assert fp16.decode_step.dram_bytes - int8.decode_step.dram_bytes == pytest.approx(
        saved, rel=1e-3
    )
    assert int8.per_token.median_s < 0.6 * fp16.per_token.median_s
    assert int8.weight_dtype == "int8" and int8.kv_dtype == "fp16"


def test_generation_result_survives_json(h100):
    r = generate("gpt2", h100, prompt=8, tokens=3)
    again = GenerationResult.model_validate_json(r.model_dump_json())
    assert again == r


def test_render_shows_ttft_per_token_latency_and_losses(h100):
    r = generate("llama-2-7b", h100, prompt=64, tokens=8, layers=2)
    console = Console(record=True, width=120)
    console.print(render_generation(r))
    text = console.export_text()
    for needle in (
        "time to first token",
        "per token",
        "tokens/s",
        "prefill",
        "decode",
        "memory",
        "Decode step at KV 67",
    ):
        assert needle in text


@pytest.mark.parametrize(
    ("name", "kwargs", "message"),
    [
        ("llama-1-7b", {}, "unknown transformer"),
        ("bert-base", {}, "encoder"),
        ("gpt2", {"prompt": 1000, "tokens": 25}, "at most 1024 positions"),
        ("gpt2", {"tokens": 0}, "tokens must be a positive integer"),
        ("gpt2", {"batch": 0}, "batch must be a positive integer"),
        ("gpt2", {"batches": 4}, "batches"),
        ("gpt2", {"weight_dtype": "int3"}, "unknown weight_dtype"),
        ("gpt2", {"fusion": "magic"}, "fusion"),
    ],
)
def test_bad_requests_are_input_errors(h100, name, kwargs, message):
    args = {"prompt": 8, "tokens": 2, **kwargs}
    with pytest.raises(InputError, match=message):
        generate(name, h100, **args)
