"""LLM serving under load: Poisson arrivals served by continuous batching on a chip, or
on a system's chips as tensor-parallel replicas.

The model of a serving stack, one request at a time:

- arrivals: requests arrive as a Poisson process of `rate_per_s` for `duration_s` seconds
  (exponential gaps from a seeded generator, so a seed gives the same run). Each has a
  prompt and a number of output tokens, fixed or drawn (seeded) from a trace's rows.
- replicas: on a system of N chips, a replica is `tp` chips running a tensor-parallel
  shard; N // tp replicas serve side by side (data parallel), each request routed to
  one (round-robin or least-loaded). On a chip there is one replica of one chip.
- scheduling (sim/studies/batching.py): first come, first served, prefill first or
  chunked prefill, KV reserved whole at admission or paged with preemption (recompute).
- KV room: what one chip's DRAM holds after its share of the weights, in tokens of the
  chip's share of the KV cache.
- iteration times (sim/studies/serve_steps.py): simulated by topsim per shape and cached,
  tensor-parallel collectives included; a run simulates a few dozen graphs however many
  requests it serves.

Not modelled: swapping KV to host memory, paged-KV fragmentation inside a block (a block
is counted whole), the host's scheduling and sampling time, speculative decoding,
pipeline parallelism.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from hardware.chip import Chip
from hardware.errors import InputError, expect_int, shown
from hardware.files import read_text, user_path
from hardware.system import System
from sim.result import Model
from sim.studies.batching import ROUTES, Activity, Request, schedule
from sim.studies.serve_steps import SimulatedSteps, bucket
from workloads.registry import MAX_BATCH
from workloads.zoo.transformer import CONFIGS

__all__ = ["Request", "SimulatedSteps", "arrivals", "bucket", "schedule", "serve", "summarize"]

MAX_REQUESTS = 1_000_000  # arrivals in one run at most (each is a Python object)
PERCENTILES = (50, 90, 99)


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
    system: str | None  # None: served on one chip
    chips: int  # the system's (1 on a chip); chips % tp of them stay idle
    tp: int  # chips per replica
    replicas: int
    route: str
    chunk: int | None  # chunked prefill's token budget; None: prefill first
    block: int | None  # paged KV's block in tokens; None: whole need reserved
    dtype: str
    rate_per_s: float
    duration_s: float
    seed: int
    max_batch: int  # per replica
    kv_capacity_tokens: int  # per replica
    requests: int
    output_tokens: int
    makespan_s: float
    busy_share: float
    prefills: int
    decode_steps: int
    mixed_steps: int
    preemptions: int
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


def summarize(
    requests: list[Request],
    activity: Activity,
    slo_ttft_s: float | None = None,
    slo_tpot_s: float | None = None,
    replicas: int = 1,
) -> dict:
    """The ServeResult fields measured from a finished schedule (the busy share is the
    mean over `replicas`)."""
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
        busy_share=activity.busy_s / (makespan * replicas),
        prefills=activity.prefills,
        decode_steps=activity.decode_steps,
        mixed_steps=activity.mixed_steps,
        preemptions=activity.preemptions,
        mean_decode_batch=activity.decoded / (activity.decode_steps + activity.mixed_steps)
        if activity.decode_steps + activity.mixed_steps
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


def serve(
    model: str,
    hardware: Chip | System,
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
    *,
    tp: int | None = None,
    route: str = "round-robin",
    chunk: int | None = None,
    block: int | None = None,
) -> ServeResult:
    """Serve Poisson traffic of `model` on `hardware`, a chip or a system (see the module
    docstring); on a system, `tp` chips per replica (default: all of them).

    `lengths` (prompt, tokens) rows, when given, replace the fixed `prompt` and `tokens`.
    """
    return serve_rates(
        model, hardware, [rate_per_s], duration_s, prompt, tokens, max_batch, seed, lengths,
        slo_ttft_s, slo_tpot_s, dtype, tp=tp, route=route, chunk=chunk, block=block,
    )[0]  # fmt: skip


def serve_rates(
    model: str,
    hardware: Chip | System,
    rates_per_s: Sequence[float],
    duration_s: float,
    prompt: int = 512,
    tokens: int = 128,
    max_batch: int = 64,
    seed: int = 0,
    lengths: Sequence[tuple[int, int]] | None = None,
    slo_ttft_s: float | None = None,
    slo_tpot_s: float | None = None,
    dtype: str = "fp16",
    *,
    tp: int | None = None,
    route: str = "round-robin",
    chunk: int | None = None,
    block: int | None = None,
) -> list[ServeResult]:
    """`serve` at each rate of `rates_per_s` (same seed), the step times simulated once
    for all of them."""
    config = CONFIGS.get(model) if isinstance(model, str) else None
    if config is None or not config.decoder:
        raise InputError(
            f"serve: {model!r} is not a decoder of the zoo; known: {', '.join(CONFIGS)}."
        )
    if isinstance(hardware, System):
        chip, system = hardware.chip, hardware
        tp = system.chips if tp is None else expect_int(tp, "serve: tp", 1, system.chips)
    elif isinstance(hardware, Chip):
        chip, system = hardware, None
        if tp not in (None, 1):
            raise InputError(f"serve: tp {tp!r} needs a system (--system); one chip is tp 1.")
        tp = 1
    else:
        raise InputError(
            f"serve: expected a Chip (hardware.load_chip) or a System (hardware.load_system), "
            f"got {type(hardware).__name__}."
        )
    if isinstance(rates_per_s, str | bytes) or not isinstance(rates_per_s, Sequence):
        raise InputError(f"serve: rates must be a list of numbers, got {shown(rates_per_s)}.")
    if not rates_per_s:
        raise InputError("serve: no rate given.")
    slos = [("slo_ttft_s", slo_ttft_s), ("slo_tpot_s", slo_tpot_s)]
    for what, value in [
        ("duration", duration_s),
        *(("rate", rate) for rate in rates_per_s),
        *((name, slo) for name, slo in slos if slo is not None),
    ]:
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not 0 < value < math.inf
        ):
            raise InputError(f"serve: {what} must be a positive number, got {shown(value)}.")
    if route not in ROUTES:
        raise InputError(f"serve: route must be one of {', '.join(ROUTES)}, got {shown(route)}.")
    expect_int(max_batch, "serve: max_batch", 1, MAX_BATCH)
    expect_int(seed, "serve: seed", 0, 2**63 - 1)
    for name, value in (("chunk", chunk), ("block", block)):
        if value is not None:
            expect_int(value, f"serve: {name}", 1, 1 << 20)
    if lengths is not None and (
        isinstance(lengths, str | bytes)
        or not isinstance(lengths, Sequence)
        or not all(isinstance(row, Sequence) and len(row) == 2 for row in lengths)
    ):
        raise InputError(
            f"serve: lengths must be a list of (prompt, tokens) pairs, got {shown(lengths)}."
        )
    lengths = list(lengths) if lengths else [(prompt, tokens)]
    for row_prompt, row_tokens in lengths:
        expect_int(row_prompt, "serve: prompt", 1, config.max_positions)
        expect_int(row_tokens, "serve: tokens", 1, config.max_positions)
        if row_prompt + row_tokens > config.max_positions:
            raise InputError(
                f"{model!r} handles at most {config.max_positions} positions; "
                f"prompt {row_prompt} + tokens {row_tokens} is more."
            )
    steps = SimulatedSteps(model, chip, dtype, tp, system.interconnect if system else None)
    where = f"{system.name} (TP {tp})" if system else chip.name
    free_bytes = chip.memory.dram.capacity - steps.weight_bytes()
    kv_capacity = int(free_bytes // steps.kv_bytes_per_token()) if free_bytes > 0 else 0
    largest = max(p + t for p, t in lengths)
    if kv_capacity < largest:
        raise InputError(
            f"{model!r} on {where}: the DRAM left after the weights holds "
            f"{kv_capacity:,} KV tokens, fewer than one request's {largest:,}."
        )
    replicas = system.chips // tp if system else 1
    results = []
    for rate in rates_per_s:
        requests = arrivals(rate, duration_s, seed, lengths)
        if not requests:
            raise InputError(
                f"serve: no request arrived at {rate}/s; raise the rate or the duration."
            )
        activity = schedule(
            requests, steps.prefill_s, steps.decode_s, max_batch, kv_capacity,
            chunk=chunk, block=block, mixed_s=steps.mixed_s, replicas=replicas, route=route,
        )  # fmt: skip
        results.append(
            ServeResult(
                model=model,
                chip=chip.name,
                system=system.name if system else None,
                chips=system.chips if system else 1,
                tp=tp,
                replicas=replicas,
                route=route,
                chunk=chunk,
                block=block,
                dtype=dtype,
                rate_per_s=float(rate),
                duration_s=float(duration_s),
                seed=seed,
                max_batch=max_batch,
                kv_capacity_tokens=kv_capacity,
                simulated_shapes=len(steps.cache),
                **summarize(requests, activity, slo_ttft_s, slo_tpot_s, replicas),
            )
        )
    return results


def read_trace(path: str | Path) -> list[tuple[int, int]]:
    """(prompt, tokens) rows of a CSV file with the columns `prompt` and `tokens`."""
    path = user_path(path, "trace file")
    text = read_text(path, "trace")  # a regular UTF-8 file of bounded size (not a pipe)
    try:
        rows = list(csv.DictReader(io.StringIO(text, newline="")))
    except csv.Error as error:  # a field past csv's limit, a stray NUL
        raise InputError(
            f"trace {path}: not a CSV file of integer columns prompt,tokens ({error})."
        ) from None
    lengths = []
    for number, row in enumerate(rows, start=2):
        try:
            lengths.append((int(row["prompt"]), int(row["tokens"])))
        except (KeyError, TypeError, ValueError):
            raise InputError(
                f"trace {path}, line {number}: expected integer columns prompt,tokens, "
                f"got {shown(row)}."
            ) from None
    if not lengths:
        raise InputError(f"trace {path}: no rows (expected columns prompt,tokens).")
    return lengths
