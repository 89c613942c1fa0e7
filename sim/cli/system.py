"""`topsim system MODEL --system S [--tp N] [--seq N] [--batch B]`: a transformer,
tensor-parallel over a system of chips (sim/system/)."""

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
        int | None, typer.Option(help="Tensor-parallel degree (default: every chip).")
    ] = None,
    seq: Annotated[int, typer.Option(help="Prompt tokens; the decode step follows them.")] = 512,
    batch: Annotated[int, typer.Option(help="Sequences per pass.")] = 1,
    dtype: Annotated[str | None, typer.Option(help="Model dtype (default: the chip's).")] = None,
    json_out: Annotated[
        str | None, typer.Option("--json", metavar="PATH", help="Write JSON to PATH ('-': stdout).")
    ] = None,
) -> None:
    """Per-chip latency, communication share, memory fit and tokens/s of a prefill and a
    decode step, the model split Megatron-style over the system's chips."""
    from sim.system.render import render_system
    from sim.system.run import run_system

    with user_errors():
        spec = load_system(system_spec)
        preset = SYSTEM_DIR / f"{system_spec}.yaml"
        inputs = [model, system_spec, spec.chip.name]
        inputs.append(str(preset) if system_spec in list_systems() else None)
        check_outputs({"--json": json_out}, inputs)
        result = run_system(model, spec, tp=tp, seq=seq, batch=batch, dtype=dtype)
        if json_out is not None:
            emit_json(result.model_dump(mode="json"), json_out)
            if json_out == "-":
                return
    typer.echo("\n".join(render_system(result)))
