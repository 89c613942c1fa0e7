"""Running a sweep: check every path, start the executor, append each point as it finishes.

Everything a user can get wrong is checked before any point runs or any file is touched:
the output's type and folder, that no output is an input (a chip file, a graph file, the
sweep file) or another output, that an existing file is kept (continued with `resume`,
replaced with `overwrite`, never replaced silently), the worker count, the dask
scheduler. Only then is the output opened, locked and started (sim/studies/sweep/store.py).

SIGTERM stops the sweep as Ctrl-C does: the rows already written are synced, the workers
shut down, and the process exits with 128 + 15. Workers outlive no parent (worker.py).
"""

from __future__ import annotations

import os
import signal
import threading
import time
import warnings
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import hardware
import workloads
from hardware.errors import InputError
from hardware.system import load_system
from sim.studies.sweep.executors import dask_client, dask_results, local_results, worker_count
from sim.studies.sweep.spec import KINDS, SYSTEM_KINDS, Point, SweepSpec, points
from sim.studies.sweep.store import open_output
from sim.studies.sweep.table import output_format
from sim.studies.sweep.worker import Context, Task


@dataclass
class SweepRun:
    """What one `run_sweep` call did."""

    path: Path
    total: int  # points in the sweep
    skipped: int  # already in the file (resume)
    ran: int  # simulated now
    failed: int  # of those, recorded with an error
    wall_s: float
    workers: int = 1
    ids: list[str] = field(default_factory=list)  # every point of the sweep, in order

    @property
    def points_per_s(self) -> float:
        return self.ran / self.wall_s if self.wall_s > 0 else 0.0


def warn(message: str) -> None:
    warnings.warn(message, stacklevel=3)


def input_files(spec: SweepSpec) -> list[Path]:
    """The files a sweep reads (a chip file, a graph file), for the output checks."""
    names = (spec.chip, spec.workload, spec.system or "")
    return [Path(name) for name in names if name and Path(name).is_file()]


def check_outputs(
    out: Path, *, inputs: Iterable[Path] = (), others: Iterable[tuple[str, Path]] = ()
) -> None:
    """`out` (and the `others`, (option, path)) can be written and is no input or other."""
    named = [("--out", out), *others]
    for option, path in named:
        if path.is_dir():
            raise InputError(f"{option} {path}: is a folder; give a file name in it.")
        if path.exists() and not path.is_file():
            raise InputError(
                f"{option} {path}: exists and is not a regular file (a pipe, socket or device)."
            )
        if not path.parent.is_dir():
            raise InputError(f"{option} {path}: the folder {path.parent} does not exist.")
        for source in inputs:
            if same_file(path, source):
                raise InputError(
                    f"{option} {path}: is an input of this sweep ({source}); "
                    "write the results to another file."
                )
    for i, (option, path) in enumerate(named):
        for other_option, other in named[i + 1 :]:
            if same_file(path, other):
                raise InputError(f"{option} and {other_option} are one file ({path}).")
    output_format(out)  # after: writing over an input is the first thing to say


def same_file(a: Path, b: Path) -> bool:
    if a.exists() and b.exists():
        return os.path.samefile(a, b)
    return a.resolve() == b.resolve()


def tasks_for(spec: SweepSpec, todo: list[Point]) -> tuple[Context, list[Task]]:
    """What the points share, and one small task per point."""
    workload = (
        workloads.load(spec.workload) if workloads.is_graph_file(spec.workload) else spec.workload
    )
    kind_of = {axis.key: axis for axis in (*spec.axes, *spec.settings)}
    fixed = {axis.key: axis.values[0] for axis in spec.settings}
    if spec.system is not None:  # run_system's (or serve's) options, system overrides
        system = load_system(spec.system)
        tasks = []
        for index, point in enumerate(todo):
            split = {kind: {} for kind in SYSTEM_KINDS}
            for key, value in {**fixed, **point.values}.items():
                axis = kind_of[key]  # serve takes numbers: a quantity ('60s') in SI
                split[axis.kind][axis.name] = axis.cell(value) if axis.kind == "serve" else value
            options = split["serve"] if spec.serve else split["run"]
            tasks.append(Task(index, options, {}, split["system"]))
        context = Context(spec.workload, system.chip, system=system, serve=spec.serve)
        return context, tasks
    tasks = []
    for index, point in enumerate(todo):
        split: dict[str, dict[str, Any]] = {kind: {} for kind in KINDS}
        for key, value in {**fixed, **point.values}.items():
            split[kind_of[key].kind][kind_of[key].name] = value
        tasks.append(Task(index, split["workload"], split["sim"], split["chip"]))
    return Context(workload=workload, chip=hardware.load_chip(spec.chip)), tasks


@contextmanager
def stop_on_sigterm() -> Iterator[None]:
    """Within: SIGTERM raises SystemExit(143), so `finally` blocks sync and shut down."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def stop(signum: int, frame: Any) -> None:
        raise SystemExit(128 + signum)

    previous = signal.signal(signal.SIGTERM, stop)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def run_sweep(
    spec: SweepSpec,
    out_path: str | os.PathLike,
    jobs: int | None = None,
    resume: bool = False,
    executor: str = "local",
    scheduler: Any = None,
    progress: Callable[[int, int], None] | None = None,
    limit: int | None = None,
    *,
    overwrite: bool = False,
    force_jobs: bool = False,
    cache_plans: bool = True,
    notice: Callable[[str], None] = warn,
) -> SweepRun:
    """Run every point not yet in `out_path` (all of them unless `resume`), appending one
    line per point as it finishes. `progress(done, total)` is called before the first
    point and after each; `limit` stops after that many new points; `notice` gets what a
    user should know that is no error (a capped --jobs, a torn line dropped)."""
    if executor not in ("local", "dask"):
        raise InputError(f"--executor {executor!r}: use 'local' or 'dask'.")
    if scheduler is not None and executor != "dask":
        raise InputError(f"--scheduler {scheduler}: a scheduler needs --executor dask.")
    out_path = Path(out_path)
    check_outputs(out_path, inputs=input_files(spec))
    started = time.perf_counter()
    all_points = points(spec)
    workers = worker_count(jobs, len(all_points), force_jobs, notice)
    client, owned = dask_client(scheduler, workers) if executor == "dask" else (None, False)
    writer = None
    try:
        writer, done_ids = open_output(
            out_path, spec.columns, resume=resume, overwrite=overwrite, notice=notice
        )
        todo = [p for p in all_points if p.id not in done_ids]
        skipped = len(all_points) - len(todo)
        if limit is not None:
            todo = todo[: max(limit, 0)]
        if progress:
            progress(0, len(todo))
        context, tasks = tasks_for(spec, todo)
        context = Context(
            context.workload,
            context.chip,
            cache_plans,
            system=context.system,
            serve=context.serve,
        )
        if client is not None:
            results = dask_results(tasks, context, client)
        else:
            results = local_results(tasks, context, min(workers, max(len(todo), 1)))
        failed = 0
        with stop_on_sigterm():
            try:
                for done, (index, metrics) in enumerate(results, start=1):
                    point = todo[index]
                    writer.write_row({"id": point.id, **spec.cells(point.values), **metrics})
                    failed += bool(metrics.get("error"))
                    if progress:
                        progress(done, len(todo))
            finally:
                results.close()
        writer.finish()  # all points in: a Parquet output is written now
    finally:
        try:
            if writer is not None:
                writer.close()
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
        workers=workers,
        ids=[p.id for p in all_points],
    )
