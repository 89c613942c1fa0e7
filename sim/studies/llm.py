"""LLM generation: a prefill, then `tokens` decode steps over a growing KV cache.

`generate` simulates one request (a batch of `batch` sequences):

- prefill: the prompt's `prompt` tokens in one forward pass, one `simulate` of the
  prefill graph; its latency is the time to first token (TTFT).
- decode: step i (0-based, i < tokens) runs one token per sequence over `prompt + i`
  cached tokens. Steps run back to back, each launched by the host after the previous
  one finished (the next token depends on the last logits), each from a cold on-chip
  cache, at the nominal clock and the same thermal state.

Decode steps repeat the same kernel sequence; only the KV length changes, and with it
only the attention kernels' bytes and work. A step's latency and useful ops are then
affine in the KV length while each kernel keeps its bound, and piecewise affine over a
long decode (an attention kernel may cross from memory- to compute-bound). So the
discrete-event engine runs a few steps only: the first, the last, the median, and the
midpoint of any interval where the line between its ends misses the simulated midpoint
by more than `LATENCY_TOLERANCE` (or a loss category by more than `LOSS_TOLERANCE` of
the step's peak capacity); such an interval is split in two. For a convex kink the
midpoint miss is at least half the interval's largest miss, so the error stays within
twice the tolerance. Every other step is interpolated. Interpolation is linear, so the
identity peak * latency = useful + sum(losses) holds for each interpolated step as for
the simulated ones, and for the totals.

Not modelled: sampling on the host and copying logits back, the KV cache's own writes
beyond the new row, batching policies of a serving stack (every sequence has the same
prompt length and generates the same number of tokens), and multi-chip sharding (a
model that does not fit one chip's DRAM is simulated anyway and flagged).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import numpy as np

from hardware.chip import DTYPE_BYTES, Chip
from hardware.errors import InputError, expect, expect_int, shown
from sim.losses import LOSS_CATEGORIES
from sim.options import options_from
from sim.result import BatchStats, Result
from sim.simulate import simulate
from sim.studies.results import DecodeSample, GenerationResult, median_step
from workloads.registry import MAX_BATCH, PARAM_BOUNDS
from workloads.zoo.transformer import CONFIGS, TransformerConfig, transformer

# interpolation error allowed at an interval's midpoint: for the step latency and useful
# ops, relative; for each loss category, as a share of the step's peak capacity (peak
# ops/s x latency). Losses get more slack: as the KV length grows, padding and the block
# choice of the attention kernels move capacity between `shape`, `starvation` and
# `memory` in stairs and saw teeth (up to ~1% of a step every 8 or 256 KV tokens) while
# the latency stays affine; summed over a decode these average out (measured: 0.3% of the
# capacity with 3 samples and with 17, against simulating every step).
LATENCY_TOLERANCE = 1e-3
LOSS_TOLERANCE = 2e-2
MAX_DECODE_SAMPLES = 33  # simulated decode steps at most (then interpolation is accepted)
STREAM_OPTIONS = ("batches", "duration_s", "prefetch", "input_compression", "load_input")


def generate(
    config_name: str,
    chip: Chip,
    prompt: int,
    tokens: int,
    batch: int = 1,
    dtype: str = "fp16",
    weight_dtype: str | None = None,
    kv_dtype: str | None = None,
    layers: int | None = None,
    fusion: str | None = None,
    max_positions: int | None = None,
    **options: object,
) -> GenerationResult:
    """Simulate a prefill of `prompt` tokens and `tokens` decode steps of `config_name`.

    `options` are SimOptions fields (overlap, graph_launch, thermal, dtype of the peak);
    stream options (batches, duration_s, ...) do not apply to one request.
    """
    expect(chip, Chip, "generate: chip", " (hardware.load_chip)")
    config = CONFIGS.get(config_name) if isinstance(config_name, str) else None
    if config is not None and max_positions is not None:  # RoPE scaling past the trained context
        expect_int(max_positions, f"generation of {config_name!r}: max_positions", 1, 2**24)
        config = dataclasses.replace(config, max_positions=max_positions)
    config = _check(config_name, prompt, tokens, batch, options, layers, config)
    chosen = {"fusion": fusion} if fusion is not None else {}  # else the runtime's default
    # the prompt starts in device memory: a serving runtime's request path (a cost per
    # request of sim.simulate) is not charged to the prefill nor to every decode step
    sim_options = options_from(None, {**chosen, **options, "load_input": False})
    weight_dtype = weight_dtype or dtype
    kv_dtype = kv_dtype or dtype
    shape = dict(dtype=dtype, weight_dtype=weight_dtype, kv_dtype=kv_dtype, layers=layers)

    prefill_graph = transformer(config, batch=batch, seq=prompt, mode="prefill", **shape)
    prefill = simulate(prefill_graph, chip, sim_options)

    middle = median_step(tokens)
    median_result: list[Result] = []

    def measure(step: int) -> DecodeSample:
        graph = transformer(config, batch=batch, mode="decode", kv=prompt + step, **shape)
        result = simulate(graph, chip, sim_options)
        if step == middle:
            median_result.append(result)
        return _sample(step, prompt + step, result)

    samples = sample_steps(tokens, measure, prefill.peak_ops)
    if not median_result:  # only when max_samples stopped the bisection before the middle
        measure(middle)
    steps = interpolate_steps(samples, tokens)

    latencies = steps["latency_s"]
    decode_s = float(latencies.sum())
    decode_losses = {c: float(steps[c].sum()) for c in LOSS_CATEGORIES}
    decode_useful = float(steps["useful_ops"].sum())
    peak = prefill.peak_ops
    total_s = prefill.latency_s + decode_s
    total_ops = prefill.total_ops + float(steps["total_ops"].sum())
    losses = {c: prefill.losses_ops[c] + decode_losses[c] for c in LOSS_CATEGORIES}
    energy = None
    if prefill.power is not None and all(s.energy_j is not None for s in samples):
        energy = prefill.power.energy_j + float(steps["energy_j"].sum())
    used_layers = layers or config.layers
    weights = sum(t.nbytes for t in prefill_graph.tensors.values() if t.const)
    kv_bytes = kv_cache_size(config_name, batch * (prompt + tokens), kv_dtype, used_layers)
    capacity = chip.memory.dram.capacity
    return GenerationResult(
        workload=config_name,
        chip=chip.name,
        dtype=dtype,
        weight_dtype=weight_dtype,
        kv_dtype=kv_dtype,
        layers=used_layers,
        batch=batch,
        prompt=prompt,
        tokens=tokens,
        fusion=sim_options.fusion,
        ttft_s=prefill.latency_s,
        per_token=BatchStats(
            count=tokens,
            first_s=float(latencies[0]),
            median_s=float(np.median(latencies)),
            last_s=float(latencies[-1]),
        ),
        decode_s=decode_s,
        total_s=total_s,
        tokens_per_s=batch * tokens / decode_s if decode_s else 0.0,
        total_ops=total_ops,
        useful_ops=prefill.useful_ops + decode_useful,
        offloaded_ops=prefill.offloaded_ops + float(steps["offloaded_ops"].sum()),
        peak_ops=peak,
        delivered_ops_per_s=total_ops / total_s if total_s else 0.0,
        efficiency=total_ops / total_s / peak if total_s else 0.0,
        losses_ops=losses,
        losses_s={c: v / peak for c, v in losses.items()},
        decode_useful_ops=decode_useful,
        decode_losses_ops=decode_losses,
        dram_bytes=prefill.dram_bytes + float(steps["dram_bytes"].sum()),
        energy_j=energy,
        weight_bytes=weights,
        kv_cache_bytes=kv_bytes,
        dram_capacity_bytes=capacity,
        fits_in_memory=weights + kv_bytes <= capacity,
        events=prefill.events + sum(s.events for s in samples),
        samples=samples,
        prefill=prefill,
        decode_step=median_result[0],
    )


def kv_cache_size(
    config_name: str, tokens: int, kv_dtype: str = "fp16", layers: int | None = None
) -> float:
    """Bytes of the K and V caches holding `tokens` tokens (summed over the batch)."""
    config = CONFIGS[config_name]
    per_token = 2 * (layers or config.layers) * config.kv_heads * config.head_dim
    return per_token * DTYPE_BYTES[kv_dtype] * tokens


def sample_steps(
    tokens: int,
    measure: Callable[[int], DecodeSample],
    peak_ops: float,
    max_samples: int = MAX_DECODE_SAMPLES,
) -> list[DecodeSample]:
    """Simulate steps 0, tokens-1 and (tokens-1)//2, then bisect where not affine."""
    done: dict[int, DecodeSample] = {}

    def at(step: int) -> DecodeSample:
        if step not in done:
            done[step] = measure(step)
        return done[step]

    first, last = at(0), at(tokens - 1)
    intervals = [(first.step, last.step)]
    while intervals:
        a, b = intervals.pop()
        if b - a < 2:
            continue
        if len(done) >= max_samples:
            break
        middle = at((a + b) // 2)
        if not _affine(done[a], done[b], middle, peak_ops):
            intervals += [(middle.step, b), (a, middle.step)]
    return [done[s] for s in sorted(done)]


def _affine(a: DecodeSample, b: DecodeSample, middle: DecodeSample, peak_ops: float) -> bool:
    """Whether the line through a and b meets `middle` within the tolerances."""
    weight = (middle.step - a.step) / (b.step - a.step)

    def miss(x: float, y: float, actual: float) -> float:
        return abs(x + weight * (y - x) - actual)

    for x, y, actual in (
        (a.latency_s, b.latency_s, middle.latency_s),
        (a.useful_ops, b.useful_ops, middle.useful_ops),
    ):
        if miss(x, y, actual) > LATENCY_TOLERANCE * abs(actual):
            return False
    capacity = peak_ops * middle.latency_s
    return all(
        miss(a.losses_ops[c], b.losses_ops[c], middle.losses_ops[c]) <= LOSS_TOLERANCE * capacity
        for c in LOSS_CATEGORIES
    )


def interpolate_steps(samples: list[DecodeSample], tokens: int) -> dict[str, np.ndarray]:
    """Every step's figures (latency_s, total_ops, useful_ops, offloaded_ops, dram_bytes,
    energy_j, and each loss category in ops), linear between the simulated steps around it."""
    steps = np.arange(tokens)
    xs = np.array([s.step for s in samples], dtype=float)

    def line(values: list[float]) -> np.ndarray:
        return np.interp(steps, xs, np.array(values, dtype=float))

    fields = {
        name: line([getattr(s, name) for s in samples])
        for name in ("latency_s", "total_ops", "useful_ops", "offloaded_ops", "dram_bytes")
    }
    fields["energy_j"] = line([s.energy_j or 0.0 for s in samples])
    for category in LOSS_CATEGORIES:
        fields[category] = line([s.losses_ops[category] for s in samples])
    return fields


def _sample(step: int, kv: int, result: Result) -> DecodeSample:
    return DecodeSample(
        step=step,
        kv=kv,
        latency_s=result.latency_s,
        total_ops=result.total_ops,
        useful_ops=result.useful_ops,
        offloaded_ops=result.offloaded_ops,
        losses_ops=dict(result.losses_ops),
        dram_bytes=result.dram_bytes,
        energy_j=result.power.energy_j if result.power else None,
        events=result.events,
    )


def _check(
    config_name: str,
    prompt: int,
    tokens: int,
    batch: int,
    options: dict,
    layers: int | None,
    config: TransformerConfig | None,
) -> TransformerConfig:
    if config is None:
        raise InputError(f"unknown transformer {config_name!r}; known: {', '.join(CONFIGS)}.")
    if not config.decoder:
        raise InputError(f"{config_name!r} is an encoder: it does not generate tokens.")
    for key, value in (("prompt", prompt), ("tokens", tokens), ("batch", batch)):
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise InputError(
                f"generation of {config_name!r}: {key} must be a positive integer, "
                f"got {shown(value)}."
            )
    expect_int(batch, f"generation of {config_name!r}: batch", 1, MAX_BATCH)
    if layers is not None:
        expect_int(layers, f"generation of {config_name!r}: layers", 1, PARAM_BOUNDS["layers"][1])
    if prompt + tokens > config.max_positions:  # small ints from here on
        raise InputError(
            f"{config_name!r} handles at most {config.max_positions} positions; "
            f"prompt {prompt} + tokens {tokens} = {prompt + tokens} (--max-positions "
            "raises the limit, as RoPE scaling does)."
        )
    stream = sorted(set(options) & set(STREAM_OPTIONS))
    if stream:
        raise InputError(
            f"generation simulates one request; option(s) {', '.join(stream)} "
            "apply to streams of batches (use sim.simulate)."
        )
    return config
