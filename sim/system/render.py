"""`render_system`: a finished SystemResult as plain text lines (nothing is computed here)."""

from __future__ import annotations

from hardware.quantity import format_si
from sim.system.results import SYSTEM_REMEDIES, Phase, PlanTable, SystemResult

REMEDY_SHARE = 0.2  # a system loss above this share of the capacity prints its remedy


def render_system(result: SystemResult) -> list[str]:
    """Memory fit, then per phase: latency, collectives, per-stage and per-link use, the
    system losses and the remedies of the large ones."""
    lines = [
        f"{result.workload} on {result.system} ({result.chips}x {result.chip}, {_plan(result)}), "
        f"{result.dtype}, batch {result.batch}, seq {result.seq}",
        *changed_fields(result.overrides),
        "",
        *_memory_lines(result),
        "",
    ]
    for phase in (result.prefill, result.decode):
        lines += _phase_lines(phase, result.pp > 1)
    lines.append("system losses (communication and pipeline_bubble are system categories):")
    for phase in (result.prefill, result.decode):
        capacity = phase.peak_ops * phase.latency_s
        ranked = sorted(phase.losses_ops.items(), key=lambda kv: -kv[1])[:3]
        shares = ", ".join(f"{name} {value / capacity:.1%}" for name, value in ranked if value > 0)
        lines.append(f"  {phase.name:8} useful {phase.efficiency:.1%}; {shares}")
    for category, remedy in SYSTEM_REMEDIES.items():
        if any(
            p.losses_ops[category] > REMEDY_SHARE * p.peak_ops * p.latency_s
            for p in (result.prefill, result.decode)
        ):
            lines.append(f"  {category}: {remedy}")
    return lines


def _plan(result: SystemResult) -> str:
    text = f"TP {result.tp}" if result.ep == 1 else f"EP {result.ep}"
    if result.algorithm != "ring":
        text += f" ({result.algorithm} all-reduce)"
    if result.overlap_comm:
        text += ", collectives overlapped"
    if result.pp > 1:
        text += f" x PP {result.pp} ({result.schedule}, {result.micro_batches} micro-batches)"
    elif result.micro_batches > 1:
        text += f", {result.micro_batches} micro-batches"
    if result.replicas > 1:
        text += f" x {result.replicas} replicas"
    if result.chips_used < result.chips:
        text += f"; {result.chips - result.chips_used} chips unused"
    return text


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


def _phase_lines(phase: Phase, pipelined: bool) -> list[str]:
    what = (
        f"{phase.new_tokens} tokens"
        if phase.name == "prefill"
        else f"1 token over {phase.cached_tokens} cached"
    )
    if pipelined:
        head = (
            f"{phase.name} ({what}): {_ms(phase.latency_s)}; one micro-batch: chip "
            f"{_ms(phase.chip_latency_s)} + communication {_ms(phase.communication_s)}; "
            f"bubble {phase.bubble_share:.1%}, communication {phase.communication_share:.1%}; "
            f"{phase.tokens_per_s:,.1f} tokens/s ({phase.steady_tokens_per_s:,.1f} with passes "
            f"back to back)"
        )
    else:
        head = (
            f"{phase.name} ({what}): {_ms(phase.latency_s)} = chip {_ms(phase.chip_latency_s)} "
            f"+ communication {_ms(phase.communication_s)} ({phase.communication_share:.1%}); "
            f"{phase.tokens_per_s:,.1f} tokens/s"
        )
    lines = [head]
    if phase.hidden_communication_s > 0:
        lines.append(
            f"  overlapped with compute (off the critical path): "
            f"{_ms(phase.hidden_communication_s)} of collectives per micro-batch"
        )
    for call in phase.collectives:
        lines.append(
            f"  {call.count:>4} x {call.kind} of {format_si(call.nbytes, 'B')} "
            f"({call.what}): {_ms(call.time_s)} each, {_ms(call.total_s)}"
        )
    if pipelined:
        lines.append("  per stage (its chips alike): compute, collectives, p2p wait, bubble")
        for stage in phase.stages:
            chips = (
                f"chips {stage.chips[0]}-{stage.chips[-1]}"
                if len(stage.chips) > 1
                else (f"chip {stage.chips[0]}")
            )
            lines.append(
                f"    stage {stage.stage} ({chips}, {stage.layers} layers): "
                f"{_share(stage.compute_s, phase)}, {_share(stage.collectives_s, phase)}, "
                f"{_share(stage.p2p_wait_s, phase)}, {_share(stage.bubble_s, phase)}"
            )
    if phase.links:
        lines.append("  per link group: bytes sent per chip, busy")
        for link in phase.links:
            lines.append(
                f"    {link.name}: {format_si(link.nbytes, 'B')}, {_ms(link.busy_s)} "
                f"({link.busy_share:.1%})"
            )
    return [*lines, ""]


def _share(seconds: float, phase: Phase) -> str:
    return f"{_ms(seconds)} ({seconds / phase.latency_s:.0%})" if phase.latency_s else _ms(seconds)


def _ms(seconds: float) -> str:
    return f"{seconds * 1e3:.3f} ms"


def _gb(nbytes: float) -> str:
    return format_si(nbytes, "B")


def changed_fields(overrides: dict[str, str]) -> list[str]:
    """The --set changes a result was run with, as one line (none when there are none)."""
    if not overrides:
        return []
    return ["with " + ", ".join(f"{key}={value}" for key, value in overrides.items())]


def render_plans(table: PlanTable) -> list[str]:
    """One row per plan: latencies, tokens/s, communication and bubble shares (prefill /
    decode), memory per chip and whether it fits."""
    head = (
        "plan",
        "chips",
        "prefill ms",
        "decode ms",
        "prefill tok/s",
        "decode tok/s",
        "comm % p/d",
        "bubble % p/d",
        "memory/chip",
        "fits",
    )
    body = [
        (
            row.plan,
            f"{row.chips_used}",
            f"{row.prefill_latency_s * 1e3:.3f}",
            f"{row.decode_latency_s * 1e3:.3f}",
            f"{row.prefill_tokens_per_s:,.1f}",
            f"{row.decode_tokens_per_s:,.1f}",
            f"{row.prefill_communication_share:.1%} / {row.decode_communication_share:.1%}",
            f"{row.prefill_bubble_share:.1%} / {row.decode_bubble_share:.1%}",
            _gb(row.memory_per_chip_bytes),
            "yes" if row.fits else "NO",
        )
        for row in table.rows
    ]
    widths = [max(len(line[i]) for line in (head, *body)) for i in range(len(head))]
    lines = [
        f"{table.workload} on {table.system}, {table.dtype}, batch {table.batch}, "
        f"seq {table.seq}: {len(table.rows)} plans",
        *changed_fields(table.overrides),
        "",
    ]
    for n, line in enumerate((head, *body)):
        cells = [line[0].ljust(widths[0])] + [
            c.rjust(w) for c, w in zip(line[1:], widths[1:], strict=True)
        ]
        lines.append("  ".join(cells))
        if n == 0:
            lines.append("  ".join("-" * w for w in widths))
    for plan, why in table.skipped.items():
        lines.append(f"skipped {plan}: {why}")
    return lines
