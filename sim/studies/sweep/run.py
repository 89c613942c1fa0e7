"""Running a sweep: each point simulated in a worker, results appended as they come.

A worker gets a small picklable `Task` per point and never raises: a point whose spec is
invalid or whose simulation fails gets its message in the `error` column and the sweep
goes on. Executors: local processes (at most 4 x jobs points in flight) or a
dask.distributed cluster (the `dask` extra).
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
import os
import signal
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import hardware
import workloads
from hardware.chip import Chip
from hardware.errors import InputError
from sim.losses import LOSS_CATEGORIES
from sim.simulate import simulate
from sim.studies.sweep.spec import KINDS, LOSS_COLUMNS, Point, SweepSpec, points
from sim.studies.sweep.store import append_row, start_output
from workloads.graph import Graph

MAX_ERROR_CHARS = 1000


@dataclass(frozen=True)
class Task:
    """What a worker needs for one point: small, picklable, no open files."""

    index: int
    workload: str | Graph  # a builder name, or the loaded graph of a file
    workload_params: dict[str, Any]
    options: dict[str, Any]
    chip: Chip
    chip_key: str  # fingerprint of the base chip, for the per-process cache
    overrides: dict[str, Any]


def tasks_for(spec: SweepSpec, todo: list[Point]) -> Iterator[Task]:
    workload: str | Graph = (
        workloads.load(spec.workload) if workloads.is_graph_file(spec.workload) else spec.workload
    )
    chip = hardware.load_chip(spec.chip)
    chip_key = hashlib.sha256(chip.model_dump_json().encode("utf-8")).hexdigest()
    kind_of = {axis.key: axis for axis in (*spec.axes, *spec.settings)}
    fixed = {axis.key: axis.values[0] for axis in spec.settings}
    for index, point in enumerate(todo):
        split: dict[str, dict[str, Any]] = {kind: {} for kind in KINDS}
        for key, value in {**fixed, **point.values}.items():
            split[kind_of[key].kind][kind_of[key].name] = value
        yield Task(
            index=index,
            workload=workload,
            workload_params=split["workload"],
            options=split["sim"],
            chip=chip,
            chip_key=chip_key,
            overrides=split["chip"],
        )


# one point, in a worker -------------------------------------------------------------------


# Each worker process keeps the graphs and chips it built: a worker runs many points that
# share a graph or a chip, and building one costs more than simulating a small point.
@lru_cache(maxsize=16)
def _built(name: str, params_json: str) -> Graph:
    return workloads.build(name, **json.loads(params_json))


_CHIPS: dict[tuple[str, str], Chip] = {}  # (base chip fingerprint, overrides) -> chip
MAX_CACHED_CHIPS = 256


def _chip(task: Task) -> Chip:
    if not task.overrides:
        return task.chip
    key = (task.chip_key, json.dumps(task.overrides, sort_keys=True, default=str))
    chip = _CHIPS.get(key)
    if chip is None:
        chip = hardware.load_chip(task.chip, overrides=task.overrides)
        if len(_CHIPS) >= MAX_CACHED_CHIPS:
            _CHIPS.clear()
        _CHIPS[key] = chip
    return chip


def run_point(task: Task) -> tuple[int, dict[str, Any]]:
    """Simulate one point; its metrics, or its error message (never raises)."""
    try:
        if isinstance(task.workload, str):
            graph = _built(task.workload, json.dumps(task.workload_params, sort_keys=True))
        else:
            graph = task.workload
        result = simulate(graph, _chip(task), **task.options)
    except InputError as err:
        return task.index, {"error": _one_line(str(err))}
    except Exception as err:  # a failing point is recorded and the sweep goes on
        return task.index, {"error": _one_line(f"simulation failed: {type(err).__name__}: {err}")}
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


def _one_line(message: str) -> str:
    text = " ".join(message.split())
    return text if len(text) <= MAX_ERROR_CHARS else text[: MAX_ERROR_CHARS - 3] + "..."


def _finite(value: Any) -> Any:
    return None if isinstance(value, float) and not math.isfinite(value) else value


# executors --------------------------------------------------------------------------------


def _ignore_sigint() -> None:
    """Workers leave Ctrl-C to the parent, which stops submitting and keeps what finished."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def local_results(tasks: Iterable[Task], jobs: int) -> Iterator[tuple[int, dict[str, Any]]]:
    """Results as they complete; at most 4 x jobs points are in flight at once."""
    if jobs == 1:
        yield from map(run_point, tasks)
        return
    pending_tasks = iter(tasks)
    pool = ProcessPoolExecutor(max_workers=jobs, initializer=_ignore_sigint)
    try:
        pending = {pool.submit(run_point, t) for t in itertools.islice(pending_tasks, 4 * jobs)}
        while pending:
            done, pending = wait(pending, return_when=FIRST_COMPLETED)
            for future in done:
                yield future.result()
                following = next(pending_tasks, None)
                if following is not None:
                    pending.add(pool.submit(run_point, following))
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def dask_client(scheduler: Any, jobs: int) -> tuple[Any, bool]:
    """A dask.distributed Client and whether this sweep owns it: `scheduler` is an
    address or a Client; with neither, a LocalCluster of `jobs` single-threaded workers."""
    try:
        from distributed import Client
    except ImportError:
        raise InputError(
            "--executor dask needs dask.distributed: pip install "
            "'topsim[dask]' (or 'dask[distributed]')."
        ) from None
    if isinstance(scheduler, Client):
        return scheduler, False
    try:
        if scheduler:
            return Client(scheduler, timeout="10s"), True
        return Client(n_workers=jobs, threads_per_worker=1, dashboard_address=None), True
    except (OSError, TimeoutError, ValueError) as err:
        raise InputError(
            f"--scheduler {scheduler}: cannot connect to a dask scheduler "
            f"({type(err).__name__}: {err})."
        ) from None


def dask_results(tasks: Iterable[Task], client: Any) -> Iterator[tuple[int, dict[str, Any]]]:
    """Results from a dask.distributed cluster as they complete."""
    from distributed import as_completed

    task_list = list(tasks)
    futures = client.map(run_point, task_list, pure=False)
    index_of = {future.key: task.index for future, task in zip(futures, task_list, strict=True)}
    for future in as_completed(futures):
        try:
            yield future.result()
        except Exception as err:  # a lost worker: record the point, keep going
            yield (
                index_of[future.key],
                {"error": _one_line(f"dask worker failed: {type(err).__name__}: {err}")},
            )
        future.release()


@dataclass
class SweepRun:
    """What one `run_sweep` call did."""

    path: Path
    total: int  # points in the sweep
    skipped: int  # already in the file (resume)
    ran: int  # simulated now
    failed: int  # of those, recorded with an error
    wall_s: float
    ids: list[str] = field(default_factory=list)  # every point of the sweep, in order

    @property
    def points_per_s(self) -> float:
        return self.ran / self.wall_s if self.wall_s > 0 else 0.0


def run_sweep(
    spec: SweepSpec,
    out_path: str | os.PathLike,
    jobs: int | None = None,
    resume: bool = False,
    executor: str = "local",
    scheduler: Any = None,
    progress: Callable[[int, int], None] | None = None,
    limit: int | None = None,
) -> SweepRun:
    """Run every point not yet in `out_path` (all of them unless `resume`), appending one
    line per point as it finishes. `progress(done, total)` is called before the first
    point and after each; `limit` stops after that many new points."""
    if executor not in ("local", "dask"):
        raise InputError(f"--executor {executor!r}: use 'local' or 'dask'.")
    if jobs is None:
        jobs = os.cpu_count() or 1
    if jobs < 1:
        raise InputError(f"--jobs {jobs}: must be 1 or more.")
    started = time.perf_counter()
    all_points = points(spec)
    client, owned = dask_client(scheduler, jobs) if executor == "dask" else (None, False)
    out_path = Path(out_path)
    try:
        done_ids = start_output(out_path, spec.columns, resume)
        todo = [p for p in all_points if p.id not in done_ids]
        skipped = len(all_points) - len(todo)
        if limit is not None:
            todo = todo[: max(limit, 0)]
        if progress:
            progress(0, len(todo))
        tasks = tasks_for(spec, todo)
        if client is not None:
            results = dask_results(tasks, client)
        else:
            results = local_results(tasks, min(jobs, max(len(todo), 1)))
        failed = 0
        for done, (index, metrics) in enumerate(results, start=1):
            point = todo[index]
            append_row(out_path, spec.columns, {"id": point.id, **point.values, **metrics})
            failed += bool(metrics.get("error"))
            if progress:
                progress(done, len(todo))
    finally:
        if owned:
            client.close()
    return SweepRun(
        path=out_path,
        total=len(all_points),
        skipped=skipped,
        ran=len(todo),
        failed=failed,
        wall_s=time.perf_counter() - started,
        ids=[p.id for p in all_points],
    )
