"""Sweeps of systems: each point one `run_system` call (sim/system/run.py).

A system sweep (`topsim sweep MODEL --system S --vary tp=1,2,4 --vary batch=1,8`) varies
two kinds of key:
- `run`: the options of `run_system` (tp, pp, ep, dp, micro_batches, schedule, seq,
  batch, dtype, overlap_comm, algorithm), read off its signature, so they cannot drift;
- `system`: fields of the system spec by dotted path (`interconnect.bandwidth`,
  `chip.memory.dram.bandwidth`), applied by `hardware.system.load_system`'s overrides.
A combination the model or system refuses (a degree that does not divide the chips, the
heads or the layers) is an InputError in its point, recorded as that point's error.

A point's row is the plan table's row (`sim.system.sweep.row`): the plan, prefill and
decode latency and tokens/s, communication and bubble shares, memory per chip and fit.

With `serve` (`--serve`), a point is one `sim.studies.serve.serve` call instead: its keys
are serve's options (`rate`, `duration`, `tp`, `prompt`, `tokens`, `max_batch`, `chunk`,
...; `rate` and `duration` as `topsim serve` names them) and the same system fields; its
row the TTFT, TPOT and end-to-end percentiles, tokens/s, goodput and SLO attainment.
"""

from __future__ import annotations

import inspect
from typing import Any

from hardware.system import System
from sim.studies.serve import PERCENTILES, serve
from sim.system.results import PlanRow
from sim.system.run import run_system
from sim.system.sweep import label, row

RUN_PARAMS: tuple[str, ...] = tuple(
    name
    for name, parameter in inspect.signature(run_system).parameters.items()
    if parameter.kind is inspect.Parameter.KEYWORD_ONLY
)
# PlanRow's figures; its tp, pp, ep are in `plan` (tp4xpp2xdp2) and may be varied keys
SYSTEM_COLUMNS: tuple[str, ...] = tuple(
    name for name in PlanRow.model_fields if name not in ("tp", "pp", "ep")
)
SYSTEM_TEXT_COLUMNS = frozenset(("plan", "fits"))
SYSTEM_NUMERIC_COLUMNS = frozenset(set(SYSTEM_COLUMNS) - SYSTEM_TEXT_COLUMNS)


def system_metrics(system: System, model: str, params: dict[str, Any]) -> dict[str, Any]:
    """One point: `run_system` with `params`; its row by SYSTEM_COLUMNS (raises
    InputError for a combination the model or system refuses)."""
    result = run_system(model, system, **params)
    degrees = {"tp": result.tp, "pp": result.pp}
    if result.ep > 1:
        degrees["ep"] = result.ep
    degrees["dp"] = result.replicas
    figures = row(label(degrees), result).model_dump()
    return {column: figures[column] for column in SYSTEM_COLUMNS}


# serving sweeps (`--serve`): each point one `serve` call on the system ------------------

# serve's options a sweep may vary or fix (its trace of lengths is a file, not a value)
SERVE_PARAMS: tuple[str, ...] = tuple(
    name
    for name in inspect.signature(serve).parameters
    if name not in ("model", "hardware", "lengths")
)
SERVE_REQUIRED: tuple[str, ...] = tuple(
    name
    for name, parameter in inspect.signature(serve).parameters.items()
    if name in SERVE_PARAMS and parameter.default is inspect.Parameter.empty
)
# the names `topsim serve` gives its options -> serve's
SERVE_ALIASES: dict[str, str] = {
    "rate": "rate_per_s",
    "duration": "duration_s",
    "slo_ttft": "slo_ttft_s",
    "slo_tpot": "slo_tpot_s",
}
PERCENTILE_COLUMNS: tuple[str, ...] = tuple(
    f"{what}_p{p}_s" for what in ("ttft", "tpot", "e2e") for p in PERCENTILES
)
SERVE_COLUMNS: tuple[str, ...] = (
    "plan",
    "replicas",
    "requests",
    "tokens_per_s",
    "requests_per_s",
    *PERCENTILE_COLUMNS,
    "slo_attainment",
    "goodput_requests_per_s",
    "busy_share",
    "mean_decode_batch",
    "preemptions",
    "kv_capacity_tokens",
)
SERVE_NUMERIC_COLUMNS = frozenset(set(SERVE_COLUMNS) - {"plan"})


def serve_metrics(system: System, model: str, params: dict[str, Any]) -> dict[str, Any]:
    """One serving point: `serve` with `params` (serve's own names); its row by
    SERVE_COLUMNS, percentiles flattened (`ttft_p99_s`)."""
    result = serve(model, system, **params)
    figures = result.model_dump()
    figures["plan"] = label({"tp": result.tp, "dp": result.replicas})
    for what in ("ttft", "tpot", "e2e"):
        values = figures[f"{what}_s"] or {}  # no tpot when every request has one token
        for p in PERCENTILES:
            figures[f"{what}_p{p}_s"] = values.get(f"p{p}")
    return {column: figures[column] for column in SERVE_COLUMNS}
