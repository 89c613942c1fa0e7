"""The stages of one run: plan the kernels (assign units, fuse, lower), then run the
discrete-event engine over them and account for every op/s of the peak."""

from __future__ import annotations

from collections.abc import Callable

from hardware.chip import Chip
from hardware.errors import InputError
from sim.account import Accounting, account
from sim.dataflow import dataflow
from sim.engine import Engine, EngineOptions, Trace
from sim.fuse import group_ops
from sim.lower import Kernel, assign_units, decompression_kernel, lower, prepend
from sim.options import SimOptions
from sim.runtimes import runtime
from workloads.graph import Graph

# the plan stage's signature, so a caller can hand `simulate` a cached equivalent
Planner = Callable[[Graph, Chip, SimOptions], list[Kernel]]


def plan(graph: Graph, chip: Chip, options: SimOptions) -> list[Kernel]:
    """Lower and fuse: the per-batch kernel list, with a decompression kernel if asked."""
    flow = dataflow(graph)
    placement = assign_units(graph, chip, tf32=options.tf32)
    groups = group_ops(graph, chip, placement.unit, options.fusion, flow)
    kernels = lower(graph, chip, groups, placement, flow, batches=options.batches)
    if not kernels:
        raise InputError(
            f"graph {graph.name!r} has nothing to run: its ops are all views (reshape, "
            "flatten), which move no data; add an op that computes."
        )
    if options.loads_input and options.input_compression > 1 and graph.input_bytes > 0:
        raw = graph.input_bytes
        kernels = prepend(decompression_kernel(chip, raw / options.input_compression, raw), kernels)
    return kernels


def engine_options(graph: Graph, options: SimOptions, **overrides) -> EngineOptions:
    request = runtime(options.runtime).request
    fields = dict(
        overlap=options.overlap,
        graph_launch=options.graph_launch,
        load_input=options.loads_input,
        input_bytes=graph.input_bytes / options.input_compression,
        batches=options.batches,
        prefetch=options.prefetch,
        duration_s=options.duration_s,
        thermal=options.thermal,
        dispatch_s=runtime(options.runtime).dispatch_s,
        dispatch_by_kind=tuple(sorted(runtime(options.runtime).dispatch_by_kind.items())),
        request_latency_s=request.latency_s if request else 0.0,
        request_bandwidth=request.bandwidth if request else 0.0,
        response_bytes=graph.output_bytes,
    )
    fields.update(overrides)
    return EngineOptions(**fields)


def run_engine(
    graph: Graph, chip: Chip, options: SimOptions, dtype: str, kernels: list[Kernel], **overrides
) -> tuple[Trace, Accounting]:
    """One discrete-event run (EngineOptions `overrides` on top of `options`), accounted."""
    trace = Engine(chip, kernels, engine_options(graph, options, **overrides)).run()
    books = account(
        kernels,
        trace,
        chip,
        dtype,
        options.overlap,
        serial_input=options.loads_input and options.prefetch == 0,
    )
    return trace, books
