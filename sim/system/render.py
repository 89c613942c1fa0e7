"""`render_system`: a finished SystemResult as plain text lines (nothing is computed here)."""

from __future__ import annotations

from hardware.quantity import format_si
from sim.system.results import COMMUNICATION_REMEDY, Phase, SystemResult


def render_system(result: SystemResult) -> list[str]:
    """Per-chip latency, communication share, memory fit and tokens/s, phase by phase."""
    group = f"TP {result.tp}" + (f" x {result.replicas} replicas" if result.replicas > 1 else "")
    lines = [
        f"{result.workload} on {result.system} ({result.chips}x {result.chip}, {group}), "
        f"{result.dtype}, batch {result.batch}, seq {result.seq}",
        "",
        *_memory_lines(result),
        "",
    ]
    for phase in (result.prefill, result.decode):
        lines += _phase_lines(phase)
    lines.append("system losses (communication is a system category, not a chip one):")
    for phase in (result.prefill, result.decode):
        capacity = phase.peak_ops * phase.latency_s
        ranked = sorted(phase.losses_ops.items(), key=lambda kv: -kv[1])[:3]
        shares = ", ".join(f"{name} {value / capacity:.1%}" for name, value in ranked if value > 0)
        lines.append(f"  {phase.name:8} useful {phase.efficiency:.1%}; {shares}")
    if result.prefill.communication_share > 0.2 or result.decode.communication_share > 0.2:
        lines.append(f"  communication: {COMMUNICATION_REMEDY}")
    return lines


def _memory_lines(result: SystemResult) -> list[str]:
    fit = result.memory
    parts = (
        f"weights {_gb(fit.weights_bytes)} + KV cache {_gb(fit.kv_cache_bytes)} + "
        f"activations {_gb(fit.activation_bytes)} = {_gb(fit.total_bytes)}"
    )
    if fit.fits:
        free = fit.capacity_bytes - fit.total_bytes
        return [f"memory per chip: {parts} of {_gb(fit.capacity_bytes)}: fits ({_gb(free)} free)"]
    largest = max(
        ("weights", fit.weights_bytes),
        ("KV cache", fit.kv_cache_bytes),
        ("activations", fit.activation_bytes),
        key=lambda kv: kv[1],
    )
    advice = (
        f"TP {fit.fitting_tp} would fit"
        if fit.fitting_tp
        else "no tensor-parallel degree up to 64 fits"
    )
    return [
        f"memory per chip: {parts} of {_gb(fit.capacity_bytes)}: DOES NOT FIT, over by "
        f"{_gb(fit.overflow_bytes)} ({largest[0]} the largest part, {_gb(largest[1])}); {advice}.",
        "  (latencies below assume the shard had the memory it needs)",
    ]


def _phase_lines(phase: Phase) -> list[str]:
    what = (
        f"{phase.new_tokens} tokens"
        if phase.name == "prefill"
        else f"1 token over {phase.cached_tokens} cached"
    )
    lines = [
        f"{phase.name} ({what}): {_ms(phase.latency_s)} = chip {_ms(phase.chip_latency_s)} + "
        f"communication {_ms(phase.communication_s)} ({phase.communication_share:.1%}); "
        f"{phase.tokens_per_s:,.1f} tokens/s",
    ]
    for call in phase.collectives:
        lines.append(
            f"  {call.count:>4} x {call.kind} of {format_si(call.nbytes, 'B')} "
            f"({call.what}): {_ms(call.time_s)} each, {_ms(call.total_s)}"
        )
    return [*lines, ""]


def _ms(seconds: float) -> str:
    return f"{seconds * 1e3:.3f} ms"


def _gb(nbytes: float) -> str:
    return format_si(nbytes, "B")
