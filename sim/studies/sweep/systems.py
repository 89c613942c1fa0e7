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
"""

from __future__ import annotations

import inspect
from typing import Any

from hardware.system import System
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
