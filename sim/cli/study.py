"""`topsim explain`, `compare` and `plot`: studies of runs, drawn for a person.

`explain` ranks the losses and re-simulates a remedy for each (a builder workload is
rebuilt at other batch sizes; a graph file keeps its own); `compare` puts every workload on
every chip side by side; `plot` draws a figure of one run with matplotlib.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer

import workloads
from hardware.errors import InputError
from sim.cli.common import (
    BatchOption,
    ChipOption,
    DtypeOption,
    FusionOption,
    JsonOption,
    ParamOption,
    ResolutionOption,
    SeqOption,
    SetOption,
    WorkloadArgument,
    check_fusion,
    check_outputs,
    emit_json,
    load_chip_with,
    load_workload,
    stdout,
    user_errors,
    workload_for,
    workload_params,
)
from workloads.graph import Graph


def rebuild_for(workload: str, **params: Any) -> Callable[[int], Graph] | None:
    """A function batch -> graph for builder workloads (None for graph files)."""
    if workloads.is_graph_file(workload):
        return None
    fixed = {k: v for k, v in params.items() if v is not None and k != "batch"}
    return lambda b: workloads.build(workload, batch=b, **fixed)


def explain(
    workload: WorkloadArgument,
    chip: ChipOption,
    set_: SetOption = None,
    batch: BatchOption = None,
    resolution: ResolutionOption = None,
    seq: SeqOption = None,
    dtype: DtypeOption = None,
    param: ParamOption = None,
    fusion: FusionOption = "epilogue",
    top: Annotated[int, typer.Option(min=1, help="How many losses to explain.")] = 3,
    json_out: JsonOption = None,
) -> None:
    """The losses ranked, the ops behind them, and what each remedy buys (re-simulated)."""
    from sim.render.explanation import render_explanation
    from sim.studies.explain import explain as explain_run

    with user_errors():
        check_outputs({"--json": json_out}, [workload, chip])
        spec = load_chip_with(chip, set_)
        shape = dict(batch=batch, resolution=resolution, seq=seq, dtype=dtype)
        params, dtype_note = workload_params(workload, spec, param, **shape)
        graph = load_workload(workload, **params)
        result = explain_run(
            graph,
            spec,
            rebuild=rebuild_for(workload, **params),
            top=top,
            fusion=check_fusion(fusion),
        )
        if json_out is not None:
            emit_json(result.model_dump_json(indent=1), json_out)
    if json_out != "-":
        if dtype_note:
            stdout().print(dtype_note, soft_wrap=True, markup=False)
        stdout().print(render_explanation(result))


def compare(
    workload: Annotated[list[str], typer.Argument(help="One or more workloads.")],
    chip: Annotated[list[str], typer.Option("--chip", "-c", help="Repeat for several chips.")],
    set_: SetOption = None,
    batch: BatchOption = None,
    resolution: ResolutionOption = None,
    seq: SeqOption = None,
    dtype: DtypeOption = None,
    param: ParamOption = None,
    fusion: FusionOption = "epilogue",
    json_out: JsonOption = None,
) -> None:
    """Side by side: every workload on every chip (each built in the chip's dtype unless
    --dtype names one)."""
    import sim
    from sim.render.explanation import compare as compare_table

    with user_errors():
        check_outputs({"--json": json_out}, [*workload, *chip])
        results = []
        specs = [load_chip_with(chip_name, set_) for chip_name in chip]
        shape = dict(batch=batch, resolution=resolution, seq=seq, dtype=dtype)
        for name in workload:
            for spec in specs:
                graph, _ = workload_for(name, spec, param, **shape)
                results.append(sim.simulate(graph, spec, fusion=check_fusion(fusion)))
        if json_out is not None:
            emit_json("[" + ",".join(r.model_dump_json() for r in results) + "]", json_out)
    if json_out != "-":
        stdout().print(compare_table(results))


PLOTS = ("roofline", "waterfall", "timeline")


def plot(
    kind: Annotated[str, typer.Argument(help="roofline, waterfall or timeline.")],
    workload: WorkloadArgument,
    chip: ChipOption,
    out: Annotated[Path, typer.Option("--out", "-o", help="PNG, SVG or PDF file.")] = Path(
        "topsim.png"
    ),
    set_: SetOption = None,
    batch: BatchOption = None,
    param: ParamOption = None,
    fusion: FusionOption = "epilogue",
) -> None:
    """Draw a figure of one run (needs the `plot` extra: matplotlib)."""
    import sim
    from sim.render import plots

    with user_errors():
        if kind not in PLOTS:
            raise InputError(f"plot {kind!r}: allowed kinds are {', '.join(PLOTS)}.")
        check_outputs({"--out": out}, [workload, chip])
        spec = load_chip_with(chip, set_)
        graph, _ = workload_for(workload, spec, param, batch=batch)
        result = sim.simulate(graph, spec, fusion=check_fusion(fusion))
        path = (
            plots.roofline(result, spec, out)
            if kind == "roofline"
            else getattr(plots, kind)(result, out)
        )
    typer.echo(f"wrote {path}", err=True)
