"""The latency lookup table: every candidate of every layer, simulated in context.

Each candidate is simulated twice:
- `dram`: the block alone, its input in device memory (as a latency benchmark of one
  layer measures it): the row is exactly `sim.simulate(block_graph(...), chip)`.
- `onchip`: the block after a stand-in for the previous layer (a relu of the same shape,
  whose output stays on chip when it fits): the row is the difference between that run
  and the stand-in alone, so it is what adding the block to a network costs: its input
  read from chip, its first launch overlapped with the layer before.
Both rows are given when they differ (latency or DRAM bytes), the `dram` row otherwise.
The loss shares of an `onchip` row are its added losses over its added peak capacity.

Identical layers (a stage's repeats) are simulated once. The runs go through the sweep's
executors (sim/studies/sweep/): local worker processes, each given the chip once, and the
same locked, append-only output, so a stopped table resumes where it stopped.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import hardware
from hardware.chip import Chip
from sim.simulate import simulate
from sim.studies.lut.blocks import block_graph, is_identity
from sim.studies.lut.space import Layer, Space
from sim.studies.sweep import METRIC_COLUMNS, check_outputs
from sim.studies.sweep.executors import local_results, worker_count
from sim.studies.sweep.run import warn
from sim.studies.sweep.store import open_output
from sim.studies.sweep.worker import Context, Task
from workloads.builder import GraphBuilder
from workloads.graph import Graph

CONTEXTS = ("dram", "onchip")
METRICS = (*METRIC_COLUMNS, "top_loss_share", "energy_j", "dram_bytes")
COLUMNS = [
    "id", "layer", "stage", "candidate", "block", "input", "out_channels", "stride", "dtype",
    "context", "macs", *METRICS, "error",
]  # fmt: skip
NUMBERS = frozenset(("layer", "stage", "out_channels", "stride", "macs", *METRICS)) - {"top_loss"}
SAME_RELATIVE = 1e-9  # two latencies closer than this are one row


@dataclass(frozen=True)
class LutRun:
    """What one table run did: its rows (all of them, resumed ones included)."""

    path: Path | None
    rows: list[dict[str, Any]]
    measured: int  # distinct blocks simulated now
    skipped: int  # distinct blocks already in the file
    wall_s: float
    workers: int


def metrics(result: Any) -> dict[str, Any]:
    """The table's columns of one Result."""
    top = result.top_loss()
    return {
        "latency_s": result.latency_s,
        "throughput": result.throughput,
        "delivered_tops": result.delivered_ops_per_s / 1e12,
        "efficiency": result.efficiency,
        "top_loss": top,
        "top_loss_share": result.loss_share(top) if top != "none" else 0.0,
        "energy_j": result.power.energy_j if result.power else None,
        "dram_bytes": result.dram_bytes,
    }


def added(result: Any, before: Any) -> dict[str, Any]:
    """The columns of what `result` adds to `before` (the same run without the block)."""
    latency = result.latency_s - before.latency_s
    useful = result.useful_ops - before.useful_ops
    losses = {k: v - before.losses_ops.get(k, 0.0) for k, v in result.losses_ops.items()}
    top = max((k for k in losses if losses[k] > 0), key=lambda k: (losses[k], k), default="none")
    capacity = result.peak_ops * latency
    delivered = useful / latency if latency > 0 else 0.0
    energy = result.power.energy_j - before.power.energy_j if result.power else None
    return {
        "latency_s": latency,
        "throughput": result.batch / latency if latency > 0 else None,
        "delivered_tops": delivered / 1e12,
        "efficiency": delivered / result.peak_ops if result.peak_ops else 0.0,
        "top_loss": top,
        "top_loss_share": losses[top] / capacity if top != "none" and capacity > 0 else 0.0,
        "energy_j": energy,
        "dram_bytes": result.dram_bytes - before.dram_bytes,
    }


def nothing() -> dict[str, Any]:
    """An identity block: no kernel, no time."""
    return {
        "latency_s": 0.0, "throughput": None, "delivered_tops": 0.0, "efficiency": 0.0,
        "top_loss": "none", "top_loss_share": 0.0, "energy_j": 0.0, "dram_bytes": 0.0,
    }  # fmt: skip


def stand_in(layer: Layer, dtype: str) -> Graph:
    """The previous layer's stand-in alone: a relu writing the layer's input."""
    b = GraphBuilder(f"lut.L{layer.index}.previous", dtype)
    return b.build(outputs=[b.relu(b.input("x", layer.input_shape), name="previous")])


def measure_block(chip: Chip, task: Task) -> dict[str, Any]:
    """Both contexts of one candidate (the sweep worker's `measure` hook)."""
    layer: Layer = task.workload_params["layer"]
    candidate = task.workload_params["candidate"]
    dtype = candidate.dtype or task.workload_params["dtype"]
    if is_identity(layer, candidate):
        return {f"{c}.{k}": v for c in CONTEXTS for k, v in {**nothing(), "macs": 0}.items()}
    alone = block_graph(layer, candidate, dtype)
    dram = metrics(simulate(alone, chip, **task.options))
    after = simulate(block_graph(layer, candidate, dtype, after_layer=True), chip, **task.options)
    onchip = added(after, simulate(stand_in(layer, dtype), chip, **task.options))
    return {
        **{f"dram.{k}": v for k, v in {**dram, "macs": alone.macs}.items()},
        **{f"onchip.{k}": v for k, v in {**onchip, "macs": alone.macs}.items()},
    }


def row_id(space: Space, chip: Chip, fusion: str, layer: int, candidate: str, context: str) -> str:
    """12 hex digits naming one row, stable across runs (what resuming matches)."""
    text = json.dumps([space.name, chip.name, fusion, layer, candidate, context])
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:12]


def distinct_blocks(
    space: Space, wanted: Iterable[tuple[int, str]] | None = None
) -> dict[str, list[tuple[Layer, str]]]:
    """The (layer, candidate) pairs grouped by what determines their simulation."""
    pairs = wanted or [(layer.index, name) for layer in space.layers for name in layer.candidates]
    groups: dict[str, list[tuple[Layer, str]]] = {}
    for index, name in pairs:
        layer = space.layers[index]
        candidate = layer.candidates[name]
        key = json.dumps(
            [layer.input_shape, layer.out_channels, layer.stride, candidate.model_dump(),
             candidate.dtype or space.dtype]
        )  # fmt: skip
        groups.setdefault(key, []).append((layer, name))
    return groups


def table_rows(
    space: Space, chip: Chip, fusion: str, layer: Layer, name: str, measured: dict[str, Any]
) -> list[dict[str, Any]]:
    """The rows of one candidate of one layer: `dram`, and `onchip` when it differs."""
    candidate = layer.candidates[name]
    rows = []
    for context in CONTEXTS:
        values = {k.split(".", 1)[1]: v for k, v in measured.items() if k.startswith(context)}
        if context == "onchip" and ("error" in measured or same(values, rows[0])):
            continue
        rows.append(
            {
                "id": row_id(space, chip, fusion, layer.index, name, context),
                "layer": layer.index, "stage": layer.stage, "candidate": name,
                "block": candidate.block, "input": "x".join(map(str, layer.input_shape)),
                "out_channels": layer.out_channels, "stride": layer.stride,
                "dtype": candidate.dtype or space.dtype, "context": context,
                **values, "error": measured.get("error"),
            }
        )  # fmt: skip
    return rows


def same(onchip: dict[str, Any], dram: dict[str, Any]) -> bool:
    latency, reference = onchip.get("latency_s") or 0.0, dram.get("latency_s") or 0.0
    close = abs(latency - reference) <= SAME_RELATIVE * max(abs(reference), 1e-30)
    return close and onchip.get("dram_bytes") == dram.get("dram_bytes")


def measure_space(
    space: Space,
    chip: Chip,
    *,
    jobs: int | None = 1,
    fusion: str = "epilogue",
    wanted: Iterable[tuple[int, str]] | None = None,
    done: frozenset[str] = frozenset(),
    force_jobs: bool = False,
    notice: Callable[[str], None] = warn,
) -> tuple[Iterator[list[dict[str, Any]]], int, int, int]:
    """Rows for every (layer, candidate) pair (or the `wanted` ones), as the blocks finish;
    blocks whose `dram` rows are all `done` are skipped. Also returns the blocks to
    measure, those skipped, and the workers."""
    groups = list(distinct_blocks(space, wanted).values())
    todo = [
        pairs
        for pairs in groups
        if any(
            row_id(space, chip, fusion, layer.index, name, "dram") not in done
            for layer, name in pairs
        )
    ]
    workers = worker_count(jobs, max(len(todo), 1), force_jobs, notice)
    tasks = [
        Task(i, {"layer": layer, "candidate": layer.candidates[name], "dtype": space.dtype},
             {"fusion": fusion}, {})
        for i, ((layer, name), *_) in enumerate(todo)
    ]  # fmt: skip
    context = Context(workload=space.name, chip=chip, measure=measure_block)

    def rows() -> Iterator[list[dict[str, Any]]]:
        results = local_results(tasks, context, workers)
        try:
            for index, measured in results:
                yield [
                    row
                    for layer, name in todo[index]
                    for row in table_rows(space, chip, fusion, layer, name, measured)
                ]
        finally:
            results.close()

    return rows(), len(todo), len(groups) - len(todo), workers


def write_lut(
    space: Space,
    chip: str | Chip,
    out: str | Path,
    *,
    jobs: int | None = None,
    fusion: str = "epilogue",
    resume: bool = False,
    overwrite: bool = False,
    force_jobs: bool = False,
    inputs: Iterable[Path] = (),
    notice: Callable[[str], None] = warn,
) -> LutRun:
    """The whole table of `space` on `chip`, appended to `out` (CSV or JSON lines) as the
    blocks finish (a Parquet table is written whole at the end); `resume` keeps the rows
    already there. `inputs`: more files that `out` must not be (a chip file loaded by the
    caller)."""
    started = time.perf_counter()
    out = Path(out)
    named = [space.path, Path(chip) if isinstance(chip, str) else None, *inputs]
    check_outputs(out, inputs=[p for p in named if p is not None and p.is_file()])
    chip = chip if isinstance(chip, Chip) else hardware.load_chip(chip)
    floats = set(METRICS) - {"top_loss"}  # float64 columns of a Parquet table
    writer, done = open_output(
        out, COLUMNS, resume=resume, overwrite=overwrite, notice=notice, numbers=floats
    )
    rows: list[dict[str, Any]] = []
    try:
        found, todo, skipped, workers = measure_space(
            space, chip, jobs=jobs, fusion=fusion, done=frozenset(done),
            force_jobs=force_jobs, notice=notice,
        )  # fmt: skip
        for block_rows in found:
            for row in block_rows:
                writer.write_row(row)
                rows.append(row)
        writer.finish()  # every block in: a Parquet table is written now
    finally:
        writer.close()
    if done:
        rows = read_lut(out)
    return LutRun(out, rows, todo, skipped, time.perf_counter() - started, workers)


def read_lut(path: str | Path) -> list[dict[str, Any]]:
    """The rows of a table file, numbers as numbers, one per id (the last one)."""
    from sim.studies.sweep import read_rows

    kept: dict[str, dict[str, Any]] = {}
    for row in read_rows(path):
        kept[str(row["id"])] = {k: _number(v) if k in NUMBERS else v for k, v in row.items()}
    return list(kept.values())


def _number(value: Any) -> Any:
    if value in (None, ""):
        return None
    number = float(value)
    return int(number) if number.is_integer() and abs(number) < 2**53 else number


def in_memory(
    space: Space, chip: Chip, *, jobs: int | None = 1, fusion: str = "epilogue",
    wanted: Iterable[tuple[int, str]] | None = None,
) -> list[dict[str, Any]]:  # fmt: skip
    """The table's rows without a file (for `lut check`, tests and benchmarks)."""
    found, *_ = measure_space(space, chip, jobs=jobs, fusion=fusion, wanted=wanted)
    return [row for block_rows in found for row in block_rows]
