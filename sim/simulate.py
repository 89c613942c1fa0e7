"""`simulate(graph, chip, ...)`: the one entry point, running the pipeline in order.

`planner` is the plan stage as a hook: a sweep passes a cache of plans
(sim/studies/sweep/plans.py) that returns what `sim.pipeline.plan` would."""

from __future__ import annotations

from hardware.chip import DTYPE_BYTES, Chip
from hardware.errors import InputError, expect
from sim.assemble import build_result
from sim.options import FAST_FORWARD_BATCHES, SimOptions, options_from
from sim.pipeline import Planner, plan, run_engine
from sim.result import Result
from sim.sustain import sustained, warm_batches
from workloads.graph import Graph


def simulate(
    graph: Graph,
    chip: Chip,
    options: SimOptions | None = None,
    *,
    planner: Planner = plan,
    **kwargs,
) -> Result:
    """Run `graph` on `chip`; keyword arguments are SimOptions fields.

    The stages: check the options, plan the kernels, then either one discrete-event run
    or, for a long stream, a fast-forward over steady batches (sim/sustain.py)."""
    expect(graph, Graph, "simulate: graph", " (workloads.build or workloads.load)")
    expect(chip, Chip, "simulate: chip", " (hardware.load_chip)")
    options = options_from(options, kwargs)
    dtype = options.dtype or graph.dtype
    if options.tf32 and dtype == "fp32" and chip.peak_ops("tf32") > chip.peak_ops("fp32"):
        dtype = "tf32"  # fp32 matmuls may reach TF32's peak: quote the peak in it
    if dtype not in DTYPE_BYTES:
        raise InputError(f"dtype {dtype!r} is unknown; allowed: {', '.join(DTYPE_BYTES)}.")
    peak = chip.peak_ops(dtype)
    if peak <= 0:
        raise InputError(
            f"chip {chip.name!r} has no peak rate for dtype {dtype!r}; its peak "
            f"units support {', '.join(chip.dtypes()) or 'nothing'}."
        )
    kernels = planner(graph, chip, options)
    shortest = max(FAST_FORWARD_BATCHES, warm_batches(options) + 1)
    long_stream = options.duration_s is not None or options.batches > shortest
    if options.fast_forward and long_stream:
        return sustained(graph, chip, options, dtype, peak, kernels)
    trace, books = run_engine(graph, chip, options, dtype, kernels)
    return build_result(graph, chip, options, dtype, peak, kernels, trace, books)
