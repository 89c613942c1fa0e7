"""The invariants every run keeps, over random DAGs x random chips x every run option.

Each run is checked for: causality (no kernel starts before the kernels producing its
inputs end, or before its batch's input is ready; per op in the Result too); one kernel at a
time per unit; a kernel graph consistent with the op graph (every op in one kernel,
dependencies on every producer, kernels in a topological order); compulsory DRAM traffic;
the accounting identity; determinism and a lossless JSON round trip. Resources are
monotone: more bandwidth, on-chip memory, instances or clock never make a run slower.

The `ci` hypothesis profile (the default) runs a fast sample; `TOPSIM_HYPOTHESIS=slow
pytest tests/sim/test_invariants.py` runs thousands of cases on demand.
"""

from __future__ import annotations

import math

from hypothesis import assume, given

import hardware
import sim
from sim.options import options_from
from sim.pipeline import plan, run_engine
from sim.result import Result
from tests.sim.strategies import chips, graphs, run_options

TOLERANCE = 1e-12  # seconds: float rounding of event times


def kernel_of_ops(kernels) -> dict[str, int]:
    return {name: k.index for k in kernels for name in k.name.split("+")}


def check_kernel_graph(graph, kernels) -> None:
    """Every non-view op is in exactly one kernel; each kernel depends on the kernels that
    produce its inputs, all of them earlier in the list (a topological order)."""
    roots: dict[str, str] = {}
    producer: dict[str, str] = {}
    for op in graph.order:
        if op.stats.is_view:
            roots[op.outputs[0]] = roots.get(op.inputs[0], op.inputs[0])
        else:
            producer.update({t: op.name for t in op.outputs})
    members = [name for k in kernels for name in k.name.split("+")]
    assert sorted(members) == sorted(op.name for op in graph.ops if not op.stats.is_view)
    where = kernel_of_ops(kernels)
    for op in graph.ops:
        if op.stats.is_view:
            continue
        mine = kernels[where[op.name]]
        for t in op.inputs:
            source = producer.get(roots.get(t, t))
            if source is not None and where[source] != mine.index:
                assert where[source] in mine.deps, (op.name, source)
    for kernel in kernels:
        assert all(dep < kernel.index for dep in kernel.deps), kernel.name


def check_trace(kernels, trace, chip) -> None:
    per_batch = len(kernels)
    for record in trace.records:
        kernel = kernels[record.kernel]
        base = record.batch * per_batch
        for dep in kernel.deps:
            assert record.start >= trace.records[base + dep].end - TOLERANCE, kernel.name
        if kernel.needs_input:
            assert record.start >= trace.batches[record.batch].input_ready - TOLERANCE
        assert record.start <= record.compute_start <= record.end + TOLERANCE
    for unit in chip.units:
        mine = sorted((r for r in trace.records if r.unit == unit), key=lambda r: r.start)
        for before, after in zip(mine, mine[1:], strict=False):
            assert after.start >= before.end - TOLERANCE, f"two kernels at once on {unit}"


def check_compulsory_traffic(graph, kernels, batches: int) -> None:
    """Batch 0 reads each graph input and weight an accelerator kernel reads at least once
    and writes each graph output an accelerator kernel makes; later batches still read
    their new input."""
    first_reads: dict[str, float] = {}
    fresh: dict[str, float] = {}
    written = 0.0
    outputs = set(graph.outputs)
    for kernel in kernels:
        if kernel.host or kernel.overhead is not None:
            continue
        names = set(kernel.name.split("+"))
        for op in graph.ops:
            if op.name not in names:
                continue
            for t in op.inputs:
                tensor = graph.tensors[t]
                if t in graph.inputs or tensor.const:
                    first_reads[t] = tensor.nbytes
                if t in graph.inputs:
                    fresh[t] = tensor.nbytes
            written += sum(graph.tensors[t].nbytes for t in op.outputs if t in outputs)
    assert sum(k.read_bytes(0) for k in kernels) >= sum(first_reads.values()) * (1 - 1e-12)
    assert sum(k.dram_write_bytes for k in kernels) >= written * (1 - 1e-12)
    if batches > 1:
        assert sum(k.read_bytes(1) for k in kernels) >= sum(fresh.values()) * (1 - 1e-12)


def check_result(graph, result: Result) -> None:
    capacity = result.peak_ops * result.duration_s
    total = result.useful_ops + sum(result.losses_ops.values())
    assert math.isclose(total, capacity, rel_tol=1e-9, abs_tol=1e-9)
    assert min(result.losses_ops.values()) >= -1e-9 * capacity
    rows = {name: row for row in result.ops for name in row.name.split("+")}
    producer = {t: op.name for op in graph.ops if not op.stats.is_view for t in op.outputs}
    roots = {op.outputs[0]: op.inputs[0] for op in graph.ops if op.stats.is_view}
    for op in graph.ops:
        if op.name not in rows:
            continue
        for t in op.inputs:
            while t in roots:
                t = roots[t]
            source = rows.get(producer.get(t, ""))
            if source is not None and source is not rows[op.name]:
                assert rows[op.name].start_s >= source.end_s - TOLERANCE, (op.name, source.name)
    assert Result.model_validate_json(result.model_dump_json()) == result


@given(graphs(), chips(power=True), run_options())
def test_every_run_keeps_the_invariants(graph, chip, options):
    settings = options_from(None, options)
    kernels = plan(graph, chip, settings)
    check_kernel_graph(graph, kernels)
    trace, _books = run_engine(graph, chip, settings, graph.dtype, kernels)
    check_trace(kernels, trace, chip)
    check_compulsory_traffic(graph, kernels, settings.batches)
    result = sim.simulate(graph, chip, **options)
    check_result(graph, result)
    assert sim.simulate(graph, chip, **options).model_dump_json() == result.model_dump_json()


def scaled(chip, field: str):
    """The chip with one resource doubled (or, for on-chip memory, quadrupled)."""
    if field == "bandwidth":
        return hardware.load_chip(chip, {"memory.dram.bandwidth": chip.memory.dram.bandwidth * 2})
    if field == "onchip":
        if chip.memory.l2 is None:
            return chip
        return hardware.load_chip(chip, {"memory.l2.capacity": chip.memory.l2.capacity * 4})
    if field == "instances":
        return hardware.load_chip(chip, {"units.mxu.instances": chip.units["mxu"].instances * 2})
    return hardware.load_chip(chip, {"clock.nominal": chip.clock.nominal * 2})


@given(graphs(), chips(), run_options())
def test_more_of_any_resource_is_never_slower(graph, chip, options):
    """Thermal off: a faster chip may rightly throttle sooner.

    Any non-preemptive schedule has anomalies (Graham, 1969): work that starts earlier can
    take a DMA engine or a share of a link from a transfer on the critical path. Without
    prefetch they stay tiny (none above 0.1% in 4,500 random cases): a 1% allowance. With
    prefetch the next batch's input shares the host link with a host op's copies, and a
    2x clock was found 3.3% slower on such a chip; streams with prefetch are left out.
    """
    assume(options["prefetch"] == 0)
    base = sim.simulate(graph, chip, thermal=False, **options).duration_s
    for field in ("bandwidth", "onchip", "instances", "clock"):
        better = sim.simulate(graph, scaled(chip, field), thermal=False, **options)
        assert better.duration_s <= base * (1 + 1e-2), field


@given(graphs(), chips(power=True), run_options())
def test_a_run_without_details_keeps_every_total(graph, chip, options):
    # sweeps read totals only and skip the per-kernel rows and the timeline
    full = sim.simulate(graph, chip, **options).model_dump()
    lean = sim.simulate(graph, chip, details=False, **options).model_dump()
    assert lean["ops"] == [] and lean["timeline"] == []
    for key in ("ops", "timeline", "provenance"):
        full.pop(key, None)
        lean.pop(key, None)
    assert lean == full
