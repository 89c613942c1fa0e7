"""`topsim serve MODEL --chip CHIP --rate R --duration D`: an LLM served under Poisson load
by a continuous-batching scheduler on one chip (sim/studies/serve.py)."""

from __future__ import annotations

from typing import Annotated

import typer

from hardware.errors import InputError
from sim.cli.common import (
    ChipOption,
    JsonOption,
    check_outputs,
    emit_json,
    figure,
    load_chip_with,
    user_errors,
)


def serve(
    model: Annotated[str, typer.Argument(help="A decoder of the zoo, e.g. llama-2-7b.")],
    chip: ChipOption,
    rate: Annotated[float, typer.Option(help="Requests per second (Poisson arrivals).")],
    duration: Annotated[
        str, typer.Option(help="How long requests arrive: seconds, or a time such as 30s.")
    ],
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
    under the SLOs and the chip's busy share, for Poisson traffic served by continuous
    batching; prefill and decode-step latencies are simulated by topsim."""
    from sim.studies.serve import read_trace
    from sim.studies.serve import serve as run_serve

    with user_errors():
        check_outputs({"--json": json_out}, [model, chip, trace_file])
        loaded = load_chip_with(chip, None)
        result = run_serve(
            model,
            loaded,
            rate_per_s=rate,
            duration_s=_seconds(duration, "--duration"),
            prompt=prompt,
            tokens=tokens,
            max_batch=max_batch,
            seed=seed,
            lengths=read_trace(trace_file) if trace_file else None,
            slo_ttft_s=_seconds(slo_ttft, "--slo-ttft") if slo_ttft else None,
            slo_tpot_s=_seconds(slo_tpot, "--slo-tpot") if slo_tpot else None,
            dtype=dtype,
        )
        if json_out is not None:
            emit_json(result.model_dump(mode="json"), json_out)
            if json_out == "-":
                return
    typer.echo("\n".join(_lines(result)))


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


def _lines(result) -> list[str]:
    lines = [
        f"{result.model} on {result.chip} ({result.dtype}): {result.requests} requests at "
        f"{figure(result.rate_per_s)}/s for {figure(result.duration_s)} s, max batch "
        f"{result.max_batch}, KV room {result.kv_capacity_tokens:,} tokens",
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
        f"chip busy     {figure(100 * result.busy_share)}% of the time: {result.prefills:,} "
        f"prefills, {result.decode_steps:,} decode steps of "
        f"{figure(result.mean_decode_batch)} requests on average "
        f"({result.simulated_shapes} shapes simulated)",
    ]
    return lines
