"""`topsim system MODEL --system S [--tp N] [--pp M] [--dp K] [--ep E] [--micro-batches B]
[--schedule gpipe|1f1b] [--seq N] [--batch B] [--overlap-comm] [--algorithm ring|tree|nvls]
[--set KEY=VALUE]`:
a transformer laid tensor-, pipeline- and data-parallel (and expert-parallel for MoE)
over a system of chips (sim/system/)."""

from __future__ import annotations

from typing import Annotated

import typer

from hardware.errors import InputError
from hardware.load import parse_overrides
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
    overlap_comm: Annotated[
        bool,
        typer.Option(
            "--overlap-comm",
            help="Overlap each layer's all-reduces with the next chunk of compute "
            "(userbuffers / async TP); the collectives' SM share slows that compute.",
        ),
    ] = False,
    algorithm: Annotated[
        str | None,
        typer.Option(help="All-reduce algorithm: ring, tree or nvls (default: the system's)."),
    ] = None,
    plans: Annotated[
        str | None,
        typer.Option(
            help="Compare plans in one table, e.g. tp8,tp4xpp2,pp8 (degrees tp, pp, ep, dp "
            "joined by x; instead of --tp/--pp/--ep/--dp)."
        ),
    ] = None,
    sweep: Annotated[
        bool,
        typer.Option("--sweep", help="Compare every TP x PP (EP x PP for MoE) of all chips."),
    ] = False,
    trace: Annotated[
        str | None,
        typer.Option(
            "--trace",
            metavar="PATH",
            help="Write a Chrome trace JSON (ui.perfetto.dev): one process per stage group, "
            "one track per link.",
        ),
    ] = None,
    set_: Annotated[
        list[str] | None,
        typer.Option(
            "--set",
            "-s",
            metavar="KEY=VALUE",
            help="Change a system field by dotted path, e.g. interconnect.bandwidth=900GB/s "
            "(chip.* for the chips' fields, e.g. chip.memory.dram.bandwidth=4TB/s).",
        ),
    ] = None,
    json_out: Annotated[
        str | None, typer.Option("--json", metavar="PATH", help="Write JSON to PATH ('-': stdout).")
    ] = None,
) -> None:
    """Latency, per-stage and per-link use, communication and pipeline bubble, memory fit
    and tokens/s of a prefill and a decode step, the model split tensor-parallel
    (Megatron-style) or expert-parallel (MoE), into pipeline stages and into replicas over
    the system's chips."""
    from sim.render.system_trace import write_system_trace
    from sim.system.render import render_plans, render_system
    from sim.system.run import run_system
    from sim.system.sweep import compare_plans, parse_plans

    with user_errors():
        overrides = parse_overrides(set_ or [])
        spec = load_system(system_spec, overrides=overrides)
        changed = {"overrides": {key: str(value) for key, value in overrides.items()}}
        preset = SYSTEM_DIR / f"{system_spec}.yaml"
        inputs = [model, system_spec, spec.chip.name]
        inputs.append(str(preset) if system_spec in list_systems() else None)
        if trace == "-" or (trace is not None and not trace.lower().endswith(".json")):
            raise InputError(
                f"--trace {trace}: a system run writes a Chrome trace JSON (it opens in "
                f"ui.perfetto.dev); give a file path ending in .json."
            )
        check_outputs({"--json": json_out, "--trace": trace}, inputs)
        if plans is not None or sweep:
            chosen = {"--tp": tp, "--dp": dp, "--pp": pp != 1 or None, "--ep": ep != 1 or None}
            clash = [flag for flag, value in chosen.items() if value is not None]
            clash += ["--plans and --sweep"] if plans is not None and sweep else []
            clash += ["--trace"] if trace is not None else []
            if clash:
                raise InputError(
                    f"--plans / --sweep compare whole plans: drop {', '.join(clash)} (name "
                    f"the degrees in --plans, e.g. tp4xpp2, and trace one plan at a time)."
                )
            table = compare_plans(
                model,
                spec,
                None if sweep else parse_plans(plans),
                micro_batches=micro_batches,
                schedule=schedule,
                seq=seq,
                batch=batch,
                dtype=dtype,
                overlap_comm=overlap_comm,
                algorithm=algorithm,
            )
            table = table.model_copy(update=changed)
            if json_out is not None:
                emit_json(table.model_dump(mode="json"), json_out)
                if json_out == "-":
                    return
            typer.echo("\n".join(render_plans(table)))
            return
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
            overlap_comm=overlap_comm,
            algorithm=algorithm,
        )
        result = result.model_copy(update=changed)
        if trace is not None:
            write_system_trace(result, trace)
        if json_out is not None:
            emit_json(result.model_dump(mode="json"), json_out)
            if json_out == "-":
                return
    typer.echo("\n".join(render_system(result)))
