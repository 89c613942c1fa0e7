"""`topsim system MODEL --system S [--tp N] [--pp M] [--dp K] [--ep E] [--micro-batches B]
[--schedule gpipe|1f1b] [--seq N] [--batch B]`: a transformer laid tensor-, pipeline- and
data-parallel (and expert-parallel for MoE) over a system of chips (sim/system/)."""

from __future__ import annotations

from typing import Annotated

import typer

from hardware.system import SYSTEM_DIR, list_systems, load_system
from sim.cli.common import check_outputs, emit_json, user_errors


def system(
    model: Annotated[str, typer.Argument(help="A transformer of the zoo, e.g. llama-2-70b.")],
    system_spec: Annotated[
        str,
        typer.Option("--system", help=f"A system preset ({', '.join(list_systems())}) or file."),
    ],
    tp: Annotated[
        int | None, typer.Option(help="Tensor-parallel degree (default: every chip / --pp).")
    ] = None,
    pp: Annotated[int, typer.Option(help="Pipeline stages (must divide the layers).")] = 1,
    ep: Annotated[
        int, typer.Option(help="Expert-parallel chips per stage (MoE models; with --tp 1).")
    ] = 1,
    dp: Annotated[
        int | None,
        typer.Option(help="Data-parallel replicas (default: as many as the chips hold)."),
    ] = None,
    micro_batches: Annotated[
        int, typer.Option("--micro-batches", help="Micro-batches per pass (divides --batch).")
    ] = 1,
    schedule: Annotated[
        str, typer.Option(help="Pipeline schedule: gpipe or 1f1b (forward only).")
    ] = "gpipe",
    seq: Annotated[int, typer.Option(help="Prompt tokens; the decode step follows them.")] = 512,
    batch: Annotated[int, typer.Option(help="Sequences per pass.")] = 1,
    dtype: Annotated[str | None, typer.Option(help="Model dtype (default: the chip's).")] = None,
    json_out: Annotated[
        str | None, typer.Option("--json", metavar="PATH", help="Write JSON to PATH ('-': stdout).")
    ] = None,
) -> None:
    """Latency, per-stage and per-link use, communication and pipeline bubble, memory fit
    and tokens/s of a prefill and a decode step, the model split tensor-parallel
    (Megatron-style) or expert-parallel (MoE), into pipeline stages and into replicas over
    the system's chips."""
    from sim.system.render import render_system
    from sim.system.run import run_system

    with user_errors():
        spec = load_system(system_spec)
        preset = SYSTEM_DIR / f"{system_spec}.yaml"
        inputs = [model, system_spec, spec.chip.name]
        inputs.append(str(preset) if system_spec in list_systems() else None)
        check_outputs({"--json": json_out}, inputs)
        result = run_system(
            model,
            spec,
            tp=tp,
            pp=pp,
            ep=ep,
            dp=dp,
            micro_batches=micro_batches,
            schedule=schedule,
            seq=seq,
            batch=batch,
            dtype=dtype,
        )
        if json_out is not None:
            emit_json(result.model_dump(mode="json"), json_out)
            if json_out == "-":
                return
    typer.echo("\n".join(render_system(result)))
