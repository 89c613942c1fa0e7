"""`simulate(graph, chip, ...)`: the one entry point, running the pipeline in order.

`planner` is the plan stage as a hook: a sweep passes a cache of plans
(sim/studies/sweep/plans.py) that returns what `sim.pipeline.plan` would.

The pipeline is imported when `simulate` is first called: `import sim` (which every
`topsim` command does) stays cheap for the commands that never simulate."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from hardware.chip import Chip
    from sim.options import SimOptions
    from sim.pipeline import Planner
    from sim.result import Provenance, Result
    from workloads.graph import Graph


def simulate(
    graph: Graph,
    chip: Chip,
    options: SimOptions | None = None,
    *,
    planner: Planner | None = None,
    **kwargs: Any,
) -> Result:
    """Run `graph` on `chip`; keyword arguments are SimOptions fields.

    The stages: check the options, plan the kernels, then either one discrete-event run
    or, for a long stream, a fast-forward over steady batches (sim/sustain.py); the
    Result records its provenance (version, where the chip and graph came from, options)."""
    from hardware.chip import DTYPE_BYTES, Chip
    from hardware.errors import InputError, expect
    from sim.assemble import build_result
    from sim.options import FAST_FORWARD_BATCHES, options_from
    from sim.pipeline import plan, run_engine
    from sim.runtimes import RUNTIMES
    from sim.sustain import sustained, warm_batches
    from workloads.autocast import autocast
    from workloads.graph import Graph

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
    # what runs: the graph as the runtime executes it (with autocast's cast kernels)
    ran = autocast(graph) if RUNTIMES[options.runtime].autocast else graph
    kernels = (planner or plan)(ran, chip, options)
    shortest = max(FAST_FORWARD_BATCHES, warm_batches(options) + 1)
    long_stream = options.duration_s is not None or options.batches > shortest
    if options.fast_forward and long_stream:
        result = sustained(ran, chip, options, dtype, peak, kernels)
    else:
        trace, books = run_engine(ran, chip, options, dtype, kernels)
        result = build_result(ran, chip, options, dtype, peak, kernels, trace, books)
    return result.model_copy(update={"provenance": provenance(graph, chip, options)})


def provenance(graph: Graph, chip: Chip, options: SimOptions) -> Provenance:
    """The Provenance of a run: this version, the recorded origins, every option."""
    from hardware.origin import origin_of
    from hardware.version import __version__
    from sim.result import Provenance as Made

    return Made(
        topsim_version=__version__,
        chip=origin_of(chip, chip.name),
        workload=origin_of(graph, graph.name),
        options=options.model_dump(mode="json"),
    )
