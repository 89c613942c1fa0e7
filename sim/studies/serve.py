"""LLM serving under load: Poisson arrivals and a continuous-batching scheduler on one chip.

The model of a serving stack, one request at a time:

- arrivals: requests arrive as a Poisson process of `rate_per_s` for `duration_s` seconds
  (exponential gaps from a seeded generator, so a seed gives the same run). Each has a
  prompt and a number of output tokens, fixed or drawn (seeded) from a trace's rows.
- admission: first come, first served. A request is admitted when the batch has room
  (`max_batch` running) and the KV cache it will ever need, prompt + tokens, fits what
  the chip's DRAM holds after the weights. The whole need is reserved at admission, so
  a running request is never preempted (vLLM reserves page by page and preempts).
- iterations: the scheduler is one SimPy process. Each iteration is either a prefill of
  every request admitted now (prefill first, as vLLM's default does) or, when nobody
  waits or nobody fits, one decode step of every running request. A prefill makes each
  request's first token; a decode step makes one more for each. A request leaves, and
  frees its KV reservation, when its last token is made.
- iteration times come from topsim: a prefill of `n` requests is one simulated pass of
  batch n over the longest prompt (shorter prompts are padded), and a decode step of n
  requests one simulated decode step of batch n over the longest cache (shorter caches
  padded). Both lengths are rounded up to a power of two (capped at the model's context)
  and each (batch, length) pair is simulated once and cached, so a run simulates a few
  dozen graphs however many requests it serves; the rounding overstates the attention
  part of a step by less than 2x and leaves the weight reads, which dominate decode, exact.

Not modelled: chunked prefill, prefill and decode in one iteration, preemption and
swapping, paged-KV fragmentation, the host's scheduling and sampling time, several chips.
"""

from __future__ import annotations

import csv
import dataclasses
import math
from collections import deque
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import simpy

from hardware.chip import Chip
from hardware.errors import InputError, expect, expect_int
from sim.result import Model
from sim.simulate import simulate
from sim.studies.llm import kv_cache_size
from workloads.registry import MAX_BATCH
from workloads.zoo.transformer import CONFIGS, transformer

MAX_REQUESTS = 1_000_000  # arrivals in one run at most (each is a Python object)
PERCENTILES = (50, 90, 99)

# (batch, tokens) -> seconds: a prefill over `tokens` prompt tokens, or a decode step
# over `tokens` cached tokens
StepTime = Callable[[int, int], float]


@dataclasses.dataclass
class Request:
    """One request and what happened to it (times in seconds from the run's start)."""

    arrival_s: float
    prompt: int
    tokens: int
    generated: int = 0
    first_token_s: float | None = None
    done_s: float | None = None


@dataclasses.dataclass
class Activity:
    """What the chip did: iterations run and the time it was busy."""

    busy_s: float = 0.0
    prefills: int = 0
    decode_steps: int = 0
    decoded: int = 0  # sequences summed over decode steps


class Percentiles(Model):
    p50: float
    p90: float
    p99: float
    mean: float


class ServeResult(Model):
    """A serving run's latencies, throughput and goodput.

    ttft_s: arrival to first token. tpot_s: time per output token after the first,
    (done - first token) / (tokens - 1), over requests with more than one token.
    e2e_s: arrival to last token. Rates are over the makespan, from the run's start to
    the last request's last token; goodput counts the requests meeting both SLOs.
    """

    model: str
    chip: str
    dtype: str
    rate_per_s: float
    duration_s: float
    seed: int
    max_batch: int
    kv_capacity_tokens: int
    requests: int
    output_tokens: int
    makespan_s: float
    busy_share: float
    prefills: int
    decode_steps: int
    mean_decode_batch: float
    ttft_s: Percentiles
    tpot_s: Percentiles | None
    e2e_s: Percentiles
    tokens_per_s: float
    requests_per_s: float
    slo_ttft_s: float | None
    slo_tpot_s: float | None
    slo_attainment: float
    goodput_requests_per_s: float
    simulated_shapes: int


def arrivals(
    rate_per_s: float,
    duration_s: float,
    seed: int,
    lengths: Sequence[tuple[int, int]],
) -> list[Request]:
    """Poisson arrivals in [0, duration_s); each request's (prompt, tokens) is a row of
    `lengths`, the only row or one drawn uniformly (seeded)."""
    rng = np.random.default_rng(seed)
    requests: list[Request] = []
    now = rng.exponential(1 / rate_per_s)
    while now < duration_s:
        if len(requests) >= MAX_REQUESTS:
            raise InputError(f"more than {MAX_REQUESTS:,} requests; lower --rate or --duration.")
        prompt, tokens = (
            lengths[int(rng.integers(len(lengths)))] if len(lengths) > 1 else lengths[0]
        )
        requests.append(Request(arrival_s=float(now), prompt=prompt, tokens=tokens))
        now += rng.exponential(1 / rate_per_s)
    return requests


def schedule(
    requests: list[Request],
    prefill_s: StepTime,
    decode_s: StepTime,
    max_batch: int,
    kv_capacity_tokens: int,
) -> Activity:
    """Serve `requests` (sorted by arrival) to the end; fills in their token times."""
    env = simpy.Environment()
    waiting: deque[Request] = deque()
    wake: list[simpy.Event] = []  # the event the idle scheduler waits on, if it does
    activity = Activity()

    def arrive():
        for request in requests:
            yield env.timeout(request.arrival_s - env.now)
            waiting.append(request)
            if wake and not wake[0].triggered:
                wake.pop().succeed()

    def scheduler():
        running: list[Request] = []
        reserved = 0  # KV tokens promised to running requests
        finished = 0
        while finished < len(requests):
            admitted: list[Request] = []
            while (
                waiting
                and len(running) + len(admitted) < max_batch
                and reserved + waiting[0].prompt + waiting[0].tokens <= kv_capacity_tokens
            ):
                request = waiting.popleft()
                reserved += request.prompt + request.tokens
                admitted.append(request)
            if admitted:
                step = prefill_s(len(admitted), max(r.prompt for r in admitted))
                activity.prefills += 1
                batch = admitted
            elif running:
                longest = max(r.prompt + r.generated - 1 for r in running)
                step = decode_s(len(running), longest)
                activity.decode_steps += 1
                activity.decoded += len(running)
                batch = running
            else:
                wake.append(env.event())
                yield wake[0]
                continue
            yield env.timeout(step)
            activity.busy_s += step
            for request in batch:
                request.generated += 1
                if request.first_token_s is None:
                    request.first_token_s = env.now
                    running.append(request)
                if request.generated == request.tokens:
                    request.done_s = env.now
                    reserved -= request.prompt + request.tokens
                    finished += 1
            running = [r for r in running if r.done_s is None]

    env.process(arrive())
    env.process(scheduler())
    env.run()
    return activity


def summarize(
    requests: list[Request],
    activity: Activity,
    slo_ttft_s: float | None = None,
    slo_tpot_s: float | None = None,
) -> dict:
    """The ServeResult fields measured from a finished schedule."""
    ttft = np.array([r.first_token_s - r.arrival_s for r in requests])
    e2e = np.array([r.done_s - r.arrival_s for r in requests])
    tpot = np.array(
        [(r.done_s - r.first_token_s) / (r.tokens - 1) if r.tokens > 1 else 0.0 for r in requests]
    )
    several = np.array([r.tokens > 1 for r in requests])
    good = np.ones(len(requests), dtype=bool)
    if slo_ttft_s is not None:
        good &= ttft <= slo_ttft_s
    if slo_tpot_s is not None:
        good &= tpot <= slo_tpot_s
    makespan = max(r.done_s for r in requests)
    output_tokens = sum(r.tokens for r in requests)
    return dict(
        requests=len(requests),
        output_tokens=output_tokens,
        makespan_s=makespan,
        busy_share=activity.busy_s / makespan,
        prefills=activity.prefills,
        decode_steps=activity.decode_steps,
        mean_decode_batch=activity.decoded / activity.decode_steps
        if activity.decode_steps
        else 0.0,
        ttft_s=_percentiles(ttft),
        tpot_s=_percentiles(tpot[several]) if several.any() else None,
        e2e_s=_percentiles(e2e),
        tokens_per_s=output_tokens / makespan,
        requests_per_s=len(requests) / makespan,
        slo_ttft_s=slo_ttft_s,
        slo_tpot_s=slo_tpot_s,
        slo_attainment=float(good.mean()),
        goodput_requests_per_s=float(good.sum()) / makespan,
    )


def _percentiles(values: np.ndarray) -> Percentiles:
    p50, p90, p99 = (float(np.percentile(values, p)) for p in PERCENTILES)
    return Percentiles(p50=p50, p90=p90, p99=p99, mean=float(values.mean()))


def bucket(tokens: int, limit: int) -> int:
    """`tokens` rounded up to a power of two, at most `limit`."""
    return min(1 << max(tokens - 1, 0).bit_length(), limit)


class SimulatedSteps:
    """Prefill and decode-step latencies of `model` on `chip`, each (batch, length
    bucket) simulated once by topsim."""

    def __init__(self, model: str, chip: Chip, dtype: str = "fp16") -> None:
        self.config, self.chip, self.dtype = CONFIGS[model], chip, dtype
        self.cache: dict[tuple[str, int, int], float] = {}

    def _latency(self, mode: str, batch: int, tokens: int) -> float:
        # a decode step after `kv` cached tokens handles kv + 1 positions
        limit = self.config.max_positions - (mode == "decode")
        length = bucket(tokens, limit)
        key = (mode, batch, length)
        if key not in self.cache:
            shape = {"seq": length} if mode == "prefill" else {"kv": length}
            graph = transformer(self.config, batch=batch, mode=mode, dtype=self.dtype, **shape)
            self.cache[key] = simulate(graph, self.chip).latency_s
        return self.cache[key]

    def prefill_s(self, batch: int, prompt: int) -> float:
        return self._latency("prefill", batch, prompt)

    def decode_s(self, batch: int, kv: int) -> float:
        return self._latency("decode", batch, kv)

    def weight_bytes(self) -> float:
        graph = transformer(self.config, batch=1, seq=1, mode="prefill", dtype=self.dtype)
        return sum(t.nbytes for t in graph.tensors.values() if t.const)


def serve(
    model: str,
    chip: Chip,
    rate_per_s: float,
    duration_s: float,
    prompt: int = 512,
    tokens: int = 128,
    max_batch: int = 64,
    seed: int = 0,
    lengths: Sequence[tuple[int, int]] | None = None,
    slo_ttft_s: float | None = None,
    slo_tpot_s: float | None = None,
    dtype: str = "fp16",
) -> ServeResult:
    """Serve Poisson traffic of `model` on `chip` (see the module docstring).

    `lengths` (prompt, tokens) rows, when given, replace the fixed `prompt` and `tokens`.
    """
    expect(chip, Chip, "serve: chip", " (hardware.load_chip)")
    config = CONFIGS.get(model) if isinstance(model, str) else None
    if config is None or not config.decoder:
        raise InputError(
            f"serve: {model!r} is not a decoder of the zoo; known: {', '.join(CONFIGS)}."
        )
    for what, value in (("rate", rate_per_s), ("duration", duration_s)):
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not 0 < value < math.inf
        ):
            raise InputError(f"serve: {what} must be a positive number, got {value!r}.")
    expect_int(max_batch, "serve: max_batch", 1, MAX_BATCH)
    expect_int(seed, "serve: seed", 0, 2**63 - 1)
    lengths = list(lengths) if lengths else [(prompt, tokens)]
    for row_prompt, row_tokens in lengths:
        expect_int(row_prompt, "serve: prompt", 1, config.max_positions)
        expect_int(row_tokens, "serve: tokens", 1, config.max_positions)
        if row_prompt + row_tokens > config.max_positions:
            raise InputError(
                f"{model!r} handles at most {config.max_positions} positions; "
                f"prompt {row_prompt} + tokens {row_tokens} is more."
            )
    steps = SimulatedSteps(model, chip, dtype)
    free_bytes = chip.memory.dram.capacity - steps.weight_bytes()
    kv_capacity = int(free_bytes // kv_cache_size(model, 1, dtype)) if free_bytes > 0 else 0
    largest = max(p + t for p, t in lengths)
    if kv_capacity < largest:
        raise InputError(
            f"{model!r} on {chip.name}: the DRAM left after the weights holds "
            f"{kv_capacity:,} KV tokens, fewer than one request's {largest:,}."
        )
    requests = arrivals(rate_per_s, duration_s, seed, lengths)
    if not requests:
        raise InputError("serve: no request arrived; raise the rate or the duration.")
    activity = schedule(requests, steps.prefill_s, steps.decode_s, max_batch, kv_capacity)
    return ServeResult(
        model=model,
        chip=chip.name,
        dtype=dtype,
        rate_per_s=float(rate_per_s),
        duration_s=float(duration_s),
        seed=seed,
        max_batch=max_batch,
        kv_capacity_tokens=kv_capacity,
        simulated_shapes=len(steps.cache),
        **summarize(requests, activity, slo_ttft_s, slo_tpot_s),
    )


def read_trace(path: str | Path) -> list[tuple[int, int]]:
    """(prompt, tokens) rows of a CSV file with the columns `prompt` and `tokens`."""
    path = Path(path)
    try:
        with path.open(newline="", encoding="utf-8") as handle:
            rows = list(csv.DictReader(handle))
    except OSError as error:
        raise InputError(f"trace {path}: {error.strerror or error}.") from None
    lengths = []
    for number, row in enumerate(rows, start=2):
        try:
            lengths.append((int(row["prompt"]), int(row["tokens"])))
        except (KeyError, TypeError, ValueError):
            raise InputError(
                f"trace {path}, line {number}: expected integer columns prompt,tokens, got {row}."
            ) from None
    if not lengths:
        raise InputError(f"trace {path}: no rows (expected columns prompt,tokens).")
    return lengths
