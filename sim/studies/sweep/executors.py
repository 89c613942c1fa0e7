"""Where points run: this process, local worker processes, or a dask.distributed cluster.

Points go out in chunks (one round trip for several points) with a few chunks in flight
per worker, so results come back as they finish and a stopped sweep has little in flight.
Never more workers than points, nor (unless forced) than this machine's CPUs.

A dask scheduler is checked before dask is asked to connect: a scheduler speaks first
(on accepting a connection it sends its handshake, whose first 8 bytes give the byte
count of a small frame header), so silence or a huge count means it is not one. Handing
such an address to dask could hang, or try to allocate what the first bytes spell.
"""

from __future__ import annotations

import os
import socket
import struct
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from typing import Any

from hardware.errors import InputError
from sim.studies.sweep.worker import (
    Context,
    Result,
    Task,
    Worker,
    one_line,
    run_chunk,
    run_on_dask,
    start_process,
)

MAX_CHUNK = 16  # points per round trip
CHUNKS_PER_WORKER = 8  # at least, when there are enough points: keeps the workers even
IN_FLIGHT_PER_WORKER = 2
CONNECT_TIMEOUT_S = 5.0
MAX_HANDSHAKE_HEADER_BYTES = 1 << 20


def cpu_count() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def worker_count(
    jobs: int | None, points: int, force: bool = False, notice: Callable[[str], None] = print
) -> int:
    """Workers for `points` points: `jobs` (all CPUs if None), at most one per point and,
    unless `force`, at most one per CPU."""
    cpus = cpu_count()
    if jobs is None:
        jobs = cpus
    if jobs < 1:
        raise InputError(f"--jobs {jobs}: must be 1 or more (default: one per CPU, {cpus}).")
    if jobs > cpus and not force:
        notice(
            f"--jobs {jobs}: this machine has {cpus} CPU(s); running {cpus} workers "
            "(--force-jobs runs as many as asked)."
        )
        jobs = cpus
    return max(1, min(jobs, points))


def chunks(tasks: list[Task], workers: int) -> list[list[Task]]:
    size = max(1, min(MAX_CHUNK, len(tasks) // (workers * CHUNKS_PER_WORKER)))
    return [tasks[i : i + size] for i in range(0, len(tasks), size)]


def local_results(tasks: list[Task], context: Context, workers: int) -> Iterator[Result]:
    """Results as they complete, from this process (one worker) or worker processes."""
    if workers == 1:
        yield from map(Worker(context).run, tasks)
        return
    waiting = iter(chunks(tasks, workers))
    pool = ProcessPoolExecutor(
        max_workers=workers, initializer=start_process, initargs=(context, os.getpid())
    )
    try:
        pending = set()
        for chunk in waiting:
            pending.add(pool.submit(run_chunk, chunk))
            if len(pending) >= IN_FLIGHT_PER_WORKER * workers:
                break
        while pending:
            done, pending = wait(pending, return_when=FIRST_COMPLETED)
            for future in done:
                following = next(waiting, None)
                if following is not None:
                    pending.add(pool.submit(run_chunk, following))
                yield from future.result()
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def dask_client(
    scheduler: Any, workers: int, timeout_s: float = CONNECT_TIMEOUT_S
) -> tuple[Any, bool]:
    """A dask.distributed Client and whether this sweep owns it: `scheduler` is an
    address or a Client; with neither, a LocalCluster of `workers` one-thread workers."""
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
            probe_scheduler(str(scheduler), timeout_s)
            return Client(str(scheduler), timeout=f"{timeout_s}s"), True
        return Client(n_workers=workers, threads_per_worker=1, dashboard_address=None), True
    except (OSError, TimeoutError, ValueError) as err:
        raise InputError(
            f"--scheduler {scheduler}: cannot connect to a dask scheduler "
            f"({type(err).__name__}: {err})."
        ) from None


def probe_scheduler(address: str, timeout_s: float) -> None:
    """Refuse an address that does not answer like a dask scheduler (module docstring)."""
    scheme, _, rest = address.rpartition("://")
    if scheme not in ("", "tcp"):
        return  # tls, ucx, inproc: left to dask and its timeout
    host, _, port_text = rest.rpartition(":")
    if not host or not port_text.isdigit():
        raise InputError(
            f"--scheduler {address}: write the scheduler's address as HOST:PORT or "
            "tcp://HOST:PORT, e.g. tcp://127.0.0.1:8786."
        )
    host = host.strip("[]")
    try:
        with socket.create_connection((host, int(port_text)), timeout=timeout_s) as conn:
            conn.settimeout(timeout_s)
            header = b""
            while len(header) < 8:
                received = conn.recv(8 - len(header))
                if not received:
                    break
                header += received
    except TimeoutError:
        header = None
    except OSError as err:
        raise InputError(
            f"--scheduler {address}: cannot connect ({err.strerror or err}); is a dask "
            "scheduler running there (`dask scheduler`)?"
        ) from None
    nbytes = struct.unpack("<Q", header)[0] if header is not None and len(header) == 8 else None
    if nbytes is None or not 0 < nbytes <= MAX_HANDSHAKE_HEADER_BYTES:
        said = "nothing" if not header else f"{header!r}"
        raise InputError(
            f"--scheduler {address}: not a dask scheduler (it answered {said} within "
            f"{timeout_s:g} s, not a dask handshake); give the address a dask scheduler "
            "prints, e.g. tcp://127.0.0.1:8786."
        )


def dask_results(tasks: list[Task], context: Context, client: Any) -> Iterator[Result]:
    """Results from a dask.distributed cluster as they complete."""
    from distributed import as_completed

    workers = max(1, len(client.nthreads()))
    shared = client.scatter(context, broadcast=True)
    batches = chunks(tasks, workers)
    futures = client.map(run_on_dask, batches, context=shared, pure=False)
    batch_of = {future.key: batch for future, batch in zip(futures, batches, strict=True)}
    try:
        for future in as_completed(futures):
            try:
                yield from future.result()
            except Exception as err:  # a lost worker: record its points, keep going
                message = one_line(f"dask worker failed: {type(err).__name__}: {err}")
                yield from ((task.index, {"error": message}) for task in batch_of[future.key])
            future.release()
    finally:
        client.cancel(futures)
