"""`topsim serve MODEL (--chip CHIP | --system S [--tp N]) --rate R --duration D`: an LLM
served under Poisson load by continuous batching on one chip or on a system's
tensor-parallel replicas (sim/studies/serve.py); `--rates 1,2,4` tabulates it vs load."""

from __future__ import annotations

from typing import Annotated

import typer

from hardware.errors import InputError
from sim.cli.common import (
    JsonOption,
    check_outputs,
    emit_json,
    figure,
    load_chip_with,
    user_errors,
)


def serve(
    model: Annotated[str, typer.Argument(help="A decoder of the zoo, e.g. llama-2-7b.")],
    duration: Annotated[
        str, typer.Option(help="How long requests arrive: seconds, or a time such as 30s.")
    ],
    chip: Annotated[
        str | None, typer.Option("--chip", "-c", help="A chip preset or a chip file.")
    ] = None,
    system: Annotated[
        str | None, typer.Option(help="A system preset or file (instead of --chip).")
    ] = None,
    tp: Annotated[
        int | None,
        typer.Option(help="Chips per tensor-parallel replica on --system (default: all)."),
    ] = None,
    route: Annotated[
        str, typer.Option(help="How requests go to replicas: round-robin or least-loaded.")
    ] = "round-robin",
    rate: Annotated[
        float | None, typer.Option(help="Requests per second (Poisson arrivals).")
    ] = None,
    rates: Annotated[
        str | None, typer.Option(help="Several rates, e.g. 1,2,4,8: a table vs load.")
    ] = None,
    chunk: Annotated[
        int | None,
        typer.Option(help="Chunked prefill: tokens per iteration (decodes + prefill chunks)."),
    ] = None,
    block: Annotated[
        int | None,
        typer.Option(
            help="Paged KV: block size in tokens (admission needs current blocks; "
            "preemption by recompute under KV pressure)."
        ),
    ] = None,
    prompt: Annotated[int, typer.Option(help="Prompt tokens of every request.")] = 512,
    tokens: Annotated[int, typer.Option(help="Output tokens of every request.")] = 128,
    max_batch: Annotated[int, typer.Option(help="Requests decoded together at most.")] = 64,
    seed: Annotated[int, typer.Option(help="Seed of the arrivals (and trace draws).")] = 0,
    trace_file: Annotated[
        str | None,
        typer.Option(help="CSV with columns prompt,tokens; each request draws a row."),
    ] = None,
    slo_ttft: Annotated[
        str | None, typer.Option(help="Time-to-first-token SLO for goodput, e.g. 200ms.")
    ] = None,
    slo_tpot: Annotated[
        str | None, typer.Option(help="Time-per-output-token SLO for goodput, e.g. 50ms.")
    ] = None,
    dtype: Annotated[str, typer.Option(help="Weights, activations and KV cache dtype.")] = "fp16",
    json_out: JsonOption = None,
) -> None:
    """TTFT, time per output token and end-to-end latency percentiles, throughput, goodput
    under the SLOs and the chips' busy share, for Poisson traffic served by continuous
    batching; iteration latencies (collectives included) are simulated by topsim."""
    from hardware.system import load_system
    from sim.studies.serve import read_trace, serve_rates

    with user_errors():
        check_outputs({"--json": json_out}, [model, chip, system, trace_file])
        if (chip is None) == (system is None):
            raise InputError("serve: give exactly one of --chip CHIP or --system SYSTEM.")
        if (rate is None) == (rates is None):
            raise InputError("serve: give exactly one of --rate R or --rates R1,R2,...")
        hardware = load_chip_with(chip, None) if chip else load_system(system)
        results = serve_rates(
            model,
            hardware,
            [rate] if rate is not None else _rates(rates),
            duration_s=_seconds(duration, "--duration"),
            prompt=prompt,
            tokens=tokens,
            max_batch=max_batch,
            seed=seed,
            lengths=read_trace(trace_file) if trace_file else None,
            slo_ttft_s=_seconds(slo_ttft, "--slo-ttft") if slo_ttft else None,
            slo_tpot_s=_seconds(slo_tpot, "--slo-tpot") if slo_tpot else None,
            dtype=dtype,
            tp=tp,
            route=route,
            chunk=chunk,
            block=block,
        )
        if json_out is not None:
            payload = [r.model_dump(mode="json") for r in results]
            emit_json(payload[0] if rate is not None else payload, json_out)
            if json_out == "-":
                return
    lines = _lines(results[0]) if rate is not None else _table(results)
    typer.echo("\n".join(lines))


def _rates(text: str) -> list[float]:
    """'1,2,4' as [1.0, 2.0, 4.0]: positive, finite, at most 64 of them."""
    try:
        values = [float(part) for part in text.split(",") if part.strip()]
    except ValueError:
        values = []
    if not values or len(values) > 64 or not all(0 < v < float("inf") for v in values):
        raise InputError(
            f"--rates must be 1 to 64 positive numbers separated by commas, e.g. 1,2,4,8; "
            f"got {text!r}."
        )
    return values


def _seconds(text: str, flag: str) -> float:
    """'2', '2s' or '200ms' in seconds, positive and finite."""
    from hardware.quantity import QuantityError, parse_time

    try:
        seconds = float(text)
    except ValueError:
        try:
            seconds = parse_time(text)
        except QuantityError as err:
            raise InputError(f"{flag}: {err}.") from None
    if not 0 < seconds < float("inf"):
        raise InputError(f"{flag} must be a positive time such as 2s or 200ms, got {text!r}.")
    return seconds


def _ms(seconds: float) -> str:
    return f"{figure(seconds * 1e3)} ms"


def _where(result) -> str:
    if result.system is None:
        return result.chip
    group = f"TP {result.tp}" + (
        f" x {result.replicas} replicas ({result.route})" if result.replicas > 1 else ""
    )
    idle = result.chips - result.tp * result.replicas
    return f"{result.system} ({result.chip}, {group}" + (f", {idle} chips idle)" if idle else ")")


def _policy(result) -> str:
    batching = f"chunked prefill {result.chunk}" if result.chunk else "prefill first"
    kv = f"paged KV, blocks of {result.block}" if result.block else "KV reserved whole"
    return f"{batching}, {kv}"


def _table(results) -> list[str]:
    """One row per rate: throughput, goodput and latency percentiles."""
    first = results[0]
    lines = [
        f"{first.model} on {_where(first)} ({first.dtype}), {_policy(first)}, max batch "
        f"{first.max_batch}, for {figure(first.duration_s)} s",
        f"{'rate/s':>8}{'requests':>10}{'tokens/s':>11}{'goodput/s':>11}{'SLO met':>9}"
        f"{'TTFT p50':>11}{'TTFT p99':>11}{'TPOT p50':>11}{'TPOT p99':>11}{'busy':>7}",
    ]
    for r in results:
        tpot = r.tpot_s or r.ttft_s.model_construct(p50=0.0, p90=0.0, p99=0.0, mean=0.0)
        lines.append(
            f"{figure(r.rate_per_s):>8}{r.requests:>10}{figure(r.tokens_per_s):>11}"
            f"{figure(r.goodput_requests_per_s):>11}{figure(100 * r.slo_attainment) + '%':>9}"
            f"{_ms(r.ttft_s.p50):>11}{_ms(r.ttft_s.p99):>11}{_ms(tpot.p50):>11}"
            f"{_ms(tpot.p99):>11}{figure(100 * r.busy_share) + '%':>7}"
        )
    return lines


def _lines(result) -> list[str]:
    lines = [
        f"{result.model} on {_where(result)} ({result.dtype}): {result.requests} requests at "
        f"{figure(result.rate_per_s)}/s for {figure(result.duration_s)} s, max batch "
        f"{result.max_batch}, KV room {result.kv_capacity_tokens:,} tokens"
        + (" per replica" if result.replicas > 1 else ""),
        f"  {_policy(result)}",
        f"{'':14}{'p50':>12}{'p90':>12}{'p99':>12}{'mean':>12}",
    ]
    rows = [("TTFT", result.ttft_s), ("TPOT", result.tpot_s), ("end to end", result.e2e_s)]
    for name, stats in rows:
        if stats is not None:
            figures = (stats.p50, stats.p90, stats.p99, stats.mean)
            lines.append(f"{name:14}" + "".join(f"{_ms(v):>12}" for v in figures))
    slo = [
        f"{name} <= {_ms(value)}"
        for name, value in (("TTFT", result.slo_ttft_s), ("TPOT", result.slo_tpot_s))
        if value is not None
    ]
    lines += [
        f"throughput    {figure(result.tokens_per_s)} tokens/s, "
        f"{figure(result.requests_per_s)} requests/s over {figure(result.makespan_s)} s",
        f"goodput       {figure(result.goodput_requests_per_s)} requests/s "
        f"({figure(100 * result.slo_attainment)}% meet {' and '.join(slo) or 'no SLO'})",
        f"busy          {figure(100 * result.busy_share)}% of the time"
        + (" (mean over replicas)" if result.replicas > 1 else "")
        + f": {result.prefills:,} prefills, {result.decode_steps:,} decode steps"
        + (f", {result.mixed_steps:,} mixed steps" if result.chunk else "")
        + f" decoding {figure(result.mean_decode_batch)} requests on average"
        + (f", {result.preemptions:,} preemptions" if result.block else "")
        + f" ({result.simulated_shapes} shapes simulated)",
    ]
    return lines
