"""One point, in a worker: what every point shares goes to a worker once, each point is small.

A `Context` (the workload, the base chip) reaches each worker once: by the pool's
initializer for local processes, scattered once for dask. A `Task` carries only the
point's values. A `Worker` keeps what its points share: built graphs, chips with
overrides, and plans (sim/studies/sweep/plans.py). A point never raises: an invalid spec
or a failed simulation becomes the message in its `error` column and the sweep goes on.

A local worker process dies with its parent: a watchdog thread checks every
`WATCHDOG_S` seconds that the parent that started it is still its parent.
"""

from __future__ import annotations

import json
import math
import os
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import hardware
import workloads
from hardware.chip import Chip
from hardware.errors import InputError
from hardware.system import System, load_system
from sim.losses import LOSS_CATEGORIES
from sim.pipeline import plan
from sim.simulate import simulate
from sim.studies.sweep.plans import PlanCache
from sim.studies.sweep.spec import LOSS_COLUMNS
from sim.studies.sweep.systems import serve_metrics, system_metrics
from workloads.graph import Graph

MAX_ERROR_CHARS = 1000
MAX_CACHED = 256  # graphs or chips a worker keeps
WATCHDOG_S = 0.5

Result = tuple[int, dict[str, Any]]  # (task index, the point's columns)


@dataclass(frozen=True)
class Context:
    """What every point of a sweep shares."""

    workload: str | Graph  # a builder name, or the loaded graph of a file
    chip: Chip
    cache_plans: bool = True
    # a study's own point in place of one simulation (module-level, so it pickles)
    measure: Callable[[Chip, Task], dict[str, Any]] | None = None
    # a system sweep: each point one run_system on this system (`chip` is its chip)
    system: System | None = None
    serve: bool = False  # with `system`: each point one serve call instead


@dataclass(frozen=True)
class Task:
    """One point: small and picklable."""

    index: int
    workload_params: dict[str, Any]  # a system sweep: run_system's options
    options: dict[str, Any]
    overrides: dict[str, Any]  # chip fields by dotted path (a system sweep: system fields)


class Worker:
    """Runs points of one sweep, keeping the graphs, chips and plans they share."""

    def __init__(self, context: Context) -> None:
        self.context = context
        self.graphs: dict[str, Graph] = {}
        self.chips: dict[str, Chip] = {}
        self.systems: dict[str, System] = {}
        self.plans = PlanCache()
        self.lock = threading.Lock()

    def run(self, task: Task) -> Result:
        """Simulate one point: its metrics, or its error message (never raises)."""
        try:
            if self.context.system is not None:
                assert isinstance(self.context.workload, str)
                measure = serve_metrics if self.context.serve else system_metrics
                metrics = measure(self.system(task), self.context.workload, task.workload_params)
                return task.index, {k: _finite(v) for k, v in metrics.items()}
            if self.context.measure is not None:
                metrics = self.context.measure(self.chip(task), task)
                return task.index, {k: _finite(v) for k, v in metrics.items()}
            planner = self.plans.plan if self.context.cache_plans else plan
            chip = self.chip(task)
            # a point keeps totals only: no per-kernel rows or timeline to build
            options = {"details": False, **task.options}
            result = simulate(self.graph(task, chip), chip, planner=planner, **options)
        except InputError as err:
            return task.index, {"error": one_line(str(err))}
        except Exception as err:  # a failing point is recorded and the sweep goes on
            failure = f"simulation failed: {type(err).__name__}: {err}"
            return task.index, {"error": one_line(failure)}
        metrics: dict[str, Any] = {
            "latency_s": result.latency_s,
            "throughput": result.throughput,
            "delivered_tops": result.delivered_ops_per_s / 1e12,
            "efficiency": result.efficiency,
            "top_loss": result.top_loss(),
        }
        for category, column in zip(LOSS_CATEGORIES, LOSS_COLUMNS, strict=True):
            metrics[column] = result.loss_share(category)
        return task.index, {k: _finite(v) for k, v in metrics.items()}

    def graph(self, task: Task, chip: Chip) -> Graph:
        """The point's workload, built (when no dtype is given) in the dtype `run` would
        choose for this point's chip."""
        workload = self.context.workload
        if isinstance(workload, Graph):
            return workload
        params = dict(task.workload_params)
        dtype, _why = workloads.dtype_for(workload, chip, params.get("dtype"))
        if dtype is not None:
            params["dtype"] = dtype
        key = json.dumps(params, sort_keys=True)
        return self._kept(self.graphs, key, lambda: workloads.build(workload, **params))

    def chip(self, task: Task) -> Chip:
        if not task.overrides:
            return self.context.chip
        key = json.dumps(task.overrides, sort_keys=True, default=str)
        return self._kept(
            self.chips, key, lambda: hardware.load_chip(self.context.chip, overrides=task.overrides)
        )

    def system(self, task: Task) -> System:
        assert self.context.system is not None
        if not task.overrides:
            return self.context.system
        key = json.dumps(task.overrides, sort_keys=True, default=str)
        return self._kept(
            self.systems, key, lambda: load_system(self.context.system, overrides=task.overrides)
        )

    def _kept(self, kept: dict, key: str, make: Any) -> Any:
        with self.lock:
            found = kept.get(key)
        if found is None:
            found = make()
            with self.lock:
                if len(kept) >= MAX_CACHED:
                    kept.clear()
                kept[key] = found
        return found


def one_line(message: str) -> str:
    text = " ".join(message.split())
    return text if len(text) <= MAX_ERROR_CHARS else text[: MAX_ERROR_CHARS - 3] + "..."


def _finite(value: Any) -> Any:
    return None if isinstance(value, float) and not math.isfinite(value) else value


# a local worker process ------------------------------------------------------------------

_PROCESS_WORKER: Worker | None = None  # this process's worker, set by `start_process`


def start_process(context: Context, parent_pid: int) -> None:
    """Pool initializer: keep the context, leave Ctrl-C to the parent, die with it."""
    global _PROCESS_WORKER
    _PROCESS_WORKER = Worker(context)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    threading.Thread(target=_watch_parent, args=(parent_pid,), daemon=True).start()


def _watch_parent(parent_pid: int) -> None:
    while os.getppid() == parent_pid:
        time.sleep(WATCHDOG_S)
    os._exit(1)  # the parent is gone: nobody will read what this process computes


def run_chunk(tasks: list[Task]) -> list[Result]:
    """In a local worker process: a few points at once (one round trip for several)."""
    assert _PROCESS_WORKER is not None, "start_process runs first"
    return [_PROCESS_WORKER.run(task) for task in tasks]


# a dask worker ---------------------------------------------------------------------------

_DASK_WORKERS: dict[int, Worker] = {}  # id of a scattered context -> its worker


def run_on_dask(tasks: list[Task], context: Context) -> list[Result]:
    """On a dask worker: the context is scattered once, its Worker kept between calls."""
    worker = _DASK_WORKERS.get(id(context))
    if worker is None or worker.context is not context:
        worker = _DASK_WORKERS[id(context)] = Worker(context)
        for stale in [k for k, w in _DASK_WORKERS.items() if w is not worker]:
            _DASK_WORKERS.pop(stale, None)
    return [worker.run(task) for task in tasks]
