"""Comparing parallelism plans on one system: `topsim system MODEL --system S --plans
tp8,tp4xpp2,pp8` (or `--sweep`: every TP x PP that fills the system's chips), one row per
plan from a full `run_system` each.

A plan is degrees joined by `x`, each a name and a number: `tp8`, `tp4xpp2`, `ep8`,
`tp2xpp2xdp2`. Degrees not named take run_system's defaults (tp: the chips / pp for a
dense model, dp: as many replicas as fit); the other options (batch, seq, micro-batches,
schedule, dtype, overlap, algorithm) are the same for every plan.
"""

from __future__ import annotations

import re

from hardware.errors import InputError
from hardware.system import System
from sim.system.results import PlanRow, PlanTable, SystemResult
from sim.system.run import run_system
from sim.system.tensor import tp_problem
from workloads.zoo.transformer import CONFIGS, TransformerConfig

DEGREES = ("tp", "pp", "ep", "dp")
MAX_PLANS = 64
_PART = re.compile(r"(tp|pp|ep|dp)([1-9][0-9]*)")


def parse_plans(text: str) -> list[dict[str, int]]:
    """`tp8,tp4xpp2` as [{"tp": 8}, {"tp": 4, "pp": 2}]; one InputError for bad text."""
    plans = []
    for item in (part.strip().lower() for part in text.split(",")):
        degrees: dict[str, int] = {}
        for piece in item.split("x") if item else [""]:
            match = _PART.fullmatch(piece.strip())
            if not match or match[1] in degrees:
                raise InputError(
                    f"--plans: cannot read {item!r}: a plan is degrees joined by 'x', each "
                    f"one of {', '.join(DEGREES)} followed by a positive integer, named once "
                    f"(e.g. tp8, tp4xpp2, ep8, tp2xpp2xdp2); plans are separated by commas."
                )
            degrees[match[1]] = int(match[2])
        plans.append(degrees)
    if len(plans) > MAX_PLANS:
        raise InputError(f"--plans: at most {MAX_PLANS} plans, got {len(plans)}.")
    return plans


def sweep_plans(config: TransformerConfig, system: System) -> list[dict[str, int]]:
    """Every tp x pp = the system's chips, pp dividing the layers (a dense model) or
    every ep x pp (a mixture of experts, tp 1), in increasing pp."""
    chips = system.chips
    plans = []
    for pp in range(1, chips + 1):
        if chips % pp or config.layers % pp:
            continue
        width = chips // pp
        if config.experts:
            plans.append({"ep": width, "pp": pp})
        elif tp_problem(config, width) is None:
            plans.append({"tp": width, "pp": pp})
    return plans


def label(degrees: dict[str, int]) -> str:
    return "x".join(f"{name}{degrees[name]}" for name in DEGREES if name in degrees)


def compare_plans(
    model: str | TransformerConfig,
    system: System,
    plans: list[dict[str, int]] | None,
    **options,
) -> PlanTable:
    """Run every plan (None: `sweep_plans`) with the same `options` (run_system's); a
    bad plan named by the user is an InputError, one the sweep chose is skipped."""
    config = CONFIGS.get(model) if isinstance(model, str) else model
    if config is None:
        raise InputError(f"unknown transformer {model!r}; known: {', '.join(CONFIGS)}.")
    swept = plans is None
    rows, skipped, last = [], {}, None
    for degrees in sweep_plans(config, system) if swept else plans:
        name = label(degrees)
        try:
            result = run_system(config, system, **{"pp": 1, "ep": 1, **degrees}, **options)
        except InputError as err:
            if not swept:
                raise InputError(f"--plans {name}: {err}") from None
            skipped[name] = str(err)
            continue
        rows.append(row(name, result))
        last = result
    if last is None:
        raise InputError(
            f"no plan of {config.name!r} runs on {system.name!r}: "
            + "; ".join(f"{k}: {v}" for k, v in skipped.items())
        )
    return PlanTable(
        workload=config.name,
        system=system.name,
        batch=last.batch,
        seq=last.seq,
        dtype=last.dtype,
        rows=rows,
        skipped=skipped,
    )


def row(name: str, result: SystemResult) -> PlanRow:
    prefill, decode, memory = result.prefill, result.decode, result.memory
    return PlanRow(
        plan=name,
        tp=result.tp,
        pp=result.pp,
        ep=result.ep,
        replicas=result.replicas,
        chips_used=result.chips_used,
        prefill_latency_s=prefill.latency_s,
        decode_latency_s=decode.latency_s,
        prefill_tokens_per_s=prefill.tokens_per_s,
        decode_tokens_per_s=decode.tokens_per_s,
        decode_steady_tokens_per_s=decode.steady_tokens_per_s,
        prefill_communication_share=prefill.communication_share,
        decode_communication_share=decode.communication_share,
        prefill_bubble_share=prefill.bubble_share,
        decode_bubble_share=decode.bubble_share,
        memory_per_chip_bytes=memory.total_bytes,
        capacity_bytes=memory.capacity_bytes,
        fits=memory.fits,
    )
