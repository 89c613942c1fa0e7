"""`topsim run`: one workload on one chip, or an LLM's prompt and token generation.

The report, one line or the full summary, is drawn by sim.render from the finished Result;
this module only turns flags into `simulate` options and chooses the outputs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

import workloads
from hardware.errors import InputError
from hardware.quantity import format_si
from sim.cli.common import (
    BatchOption,
    DtypeOption,
    JsonOption,
    ParamOption,
    ResolutionOption,
    SeqOption,
    SetOption,
    check_fusion,
    check_outputs,
    emit_json,
    load_chip_with,
    parse_dims,
    parse_duration,
    stdout,
    user_errors,
    workload_for,
    write_trace,
)
from sim.render.parquet import is_parquet, pyarrow
from sim.render.report import MAX_TOP
from workloads.registry import parse_params


def run(
    workload: Annotated[str | None, typer.Argument(help="A built-in workload or a file.")] = None,
    chip: Annotated[str | None, typer.Option("--chip", "-c", help="A preset or file.")] = None,
    set_: SetOption = None,
    batch: BatchOption = None,
    resolution: ResolutionOption = None,
    seq: SeqOption = None,
    dtype: DtypeOption = None,
    param: ParamOption = None,
    max_positions: Annotated[
        int | None,
        typer.Option(
            min=1, help="LLMs: the context the model accepts (default: its own; RoPE scaling)."
        ),
    ] = None,
    fusion: Annotated[
        str | None,
        typer.Option(help="Fusion mode: none, epilogue or greedy (default: the runtime's)."),
    ] = None,
    overlap: Annotated[bool, typer.Option(help="Overlap transfers with compute.")] = True,
    graph_launch: Annotated[
        bool | None,
        typer.Option("--graph-launch/--no-graph-launch", help="Launch the graph once."),
    ] = None,
    runtime: Annotated[
        str,
        typer.Option(help="What runs the model: native, eager, compiled or tensorrt."),
    ] = "native",
    tf32: Annotated[bool, typer.Option(help="fp32 matmuls may use TF32 matrix engines.")] = False,
    batches: Annotated[int, typer.Option(min=1, help="Run this many batches as a stream.")] = 1,
    duration: Annotated[str | None, typer.Option(help="Stream for this long, e.g. 60s.")] = None,
    prefetch: Annotated[int, typer.Option(min=0, help="Batches loaded ahead.")] = 0,
    input_compression: Annotated[float, typer.Option(min=1.0, help="Input bytes / R.")] = 1.0,
    load_input: Annotated[
        bool | None,
        typer.Option(
            "--load-input/--input-on-device",
            help="Bring each input from the input source (default: only for streams).",
        ),
    ] = None,
    mode: Annotated[
        str | None,
        typer.Option(
            help="LLMs: 'generate' runs a prefill of --prompt tokens then --tokens decode steps "
            "(alias 'decode'); 'prefill' runs the prompt only."
        ),
    ] = None,
    prompt: Annotated[int, typer.Option(min=1, help="LLMs: prompt tokens.")] = 512,
    tokens: Annotated[int, typer.Option(min=1, help="LLMs: tokens to generate.")] = 128,
    weight_dtype: Annotated[str | None, typer.Option(help="LLMs: weight storage dtype.")] = None,
    kv_dtype: Annotated[str | None, typer.Option(help="LLMs: KV-cache dtype.")] = None,
    json_out: JsonOption = None,
    trace: Annotated[
        Path | None,
        typer.Option(
            help="Write a trace for ui.perfetto.dev: Chrome JSON (.json), or Perfetto's "
            "protobuf (.perfetto-trace, .pftrace; smaller, for large traces)."
        ),
    ] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Print one line.")] = False,
    top: Annotated[
        int, typer.Option(min=1, max=MAX_TOP, help="Kernels listed in the summary.")
    ] = 10,
    from_: Annotated[
        Path | None, typer.Option("--from", help="Re-run the run a Result JSON records.")
    ] = None,
    kernels: Annotated[
        Path | None,
        typer.Option(
            "--kernels",
            help="Write the per-kernel report, one row a kernel: .csv, or .parquet (pyarrow).",
        ),
    ] = None,
    dim: Annotated[
        list[str] | None,
        typer.Option(
            "--dim",
            metavar="NAME=SIZE",
            help="ONNX models: the size of a symbolic input dim, e.g. sequence=128 "
            "(repeatable; --batch sizes the leading ones).",
        ),
    ] = None,
) -> None:
    """Simulate WORKLOAD on a chip: latency, throughput and where the peak went."""
    import sim

    with user_errors():
        outputs = {"--json": json_out, "--trace": trace, "--kernels": kernels}
        check_outputs(outputs, [workload, chip, str(from_)])
        dims = parse_dims(dim)
        if kernels is not None and is_parquet(kernels):
            pyarrow("--kernels", kernels)  # the extra is there, before any work
        if (from_ is None) == (workload is None or chip is None):
            raise InputError("give WORKLOAD and --chip, or --from RESULT.json (not both).")
    chosen: dict = {"overlap": overlap, "runtime": runtime, "tf32": tf32}
    if graph_launch is not None:
        chosen["graph_launch"] = graph_launch
    if mode in ("generate", "decode"):
        ignored = {
            "--seq": seq is not None,
            "--resolution": resolution is not None,
            "--batches": batches != 1,
            "--duration": duration is not None,
            "--prefetch": prefetch != 0,
            "--input-compression": input_compression != 1.0,
            "--load-input/--input-on-device": load_input is not None,
            "--kernels": kernels is not None,
            "--dim": dims is not None,
        }
        with user_errors():
            if any(ignored.values()):
                flags = ", ".join(flag for flag, given in ignored.items() if given)
                raise InputError(
                    f"--mode {mode}: {flags} do not apply to a generation (one request: "
                    "--prompt tokens, then --tokens decode steps, --batch sequences); "
                    "drop them, or run the prefill alone with --mode prefill."
                )
        generation(
            workload,
            chip,
            set_,
            batch,
            dtype,
            param,
            max_positions,
            prompt,
            tokens,
            weight_dtype,
            kv_dtype,
            json_out,
            trace,
            quiet,
            top,
            **chosen,
            **({} if fusion is None else {"fusion": fusion}),
        )
        return
    with user_errors():
        if mode not in (None, "prefill"):
            raise InputError(f"--mode {mode!r}: allowed modes are prefill, generate and decode.")
        if mode == "prefill":
            seq = prompt if seq is None else seq
        if fusion is not None:
            chosen["fusion"] = check_fusion(fusion)
        dtype_note = None
        if from_ is not None:  # the recorded chip, workload and options; no other flag
            from sim.cli.rerun import rerun_inputs

            graph, spec, chosen = rerun_inputs(from_)
        else:
            spec = load_chip_with(chip, set_)
            # the LLM storage dtypes are builder parameters: a builder without them says so
            given = {"weight_dtype": weight_dtype, "kv_dtype": kv_dtype}
            storage = [f"{k}={v}" for k, v in given.items() if v is not None]
            graph, dtype_note = workload_for(
                workload,
                spec,
                [*(param or []), *storage] or None,
                batch=batch,
                resolution=resolution,
                seq=seq,
                dtype=dtype,
                max_positions=max_positions,
                dims=dims,
            )
            chosen |= {"batches": batches, "duration_s": parse_duration(duration)}
            chosen |= {"prefetch": prefetch, "input_compression": input_compression}
            chosen |= {"load_input": load_input}
        result = sim.simulate(graph, spec, **chosen)
        if json_out is not None:
            emit_json(result.model_dump_json(indent=1), json_out)
        if trace is not None:
            write_trace(result, trace)
        if kernels is not None:
            from sim.render.frames import write_kernels

            write_kernels(result, kernels)
            typer.echo(f"wrote {kernels}", err=True)
    if json_out == "-":
        return
    from sim.render.report import one_line, render_result

    if quiet:
        stdout().print(one_line(result), soft_wrap=True)
    else:
        if dtype_note:
            stdout().print(dtype_note, soft_wrap=True, markup=False)
        stdout().print(render_result(result, top=top))


def generation(
    workload: str,
    chip: str,
    sets: list[str] | None,
    batch: int | None,
    dtype: str | None,
    params: list[str] | None,
    max_positions: int | None,
    prompt: int,
    tokens: int,
    weight_dtype: str | None,
    kv_dtype: str | None,
    json_out: str | None,
    trace: Path | None,
    quiet: bool,
    top: int,
    **options: object,
) -> None:
    """`run LLM --mode generate`: time to first token, per-token latency, tokens/s; its
    trace holds the prefill and the decode step at the median KV length."""
    from sim.render.generation import render_generation
    from sim.studies.llm import generate

    with user_errors():
        spec = load_chip_with(chip, sets)
        shape = parse_params(workload, params or [])
        unknown = sorted(set(shape) - {"layers", "max_positions", "dtype"})
        if unknown:
            raise InputError(
                f"--mode generate: --param {unknown[0]} does not apply; a generation takes "
                "layers, max_positions and dtype (and --batch, --prompt, --tokens)."
            )
        if max_positions is not None:
            shape["max_positions"] = max_positions
        dtype = dtype or shape.pop("dtype", None)  # type: ignore[assignment]
        dtype, dtype_note = workloads.dtype_for(workload, spec, dtype)
        result = generate(
            workload,
            spec,
            prompt=prompt,
            tokens=tokens,
            batch=1 if batch is None else batch,
            dtype=dtype or "fp16",
            weight_dtype=weight_dtype,
            kv_dtype=kv_dtype,
            **shape,  # type: ignore[arg-type]
            **{k: check_fusion(v) if k == "fusion" else v for k, v in options.items()},
        )
        if json_out is not None:
            emit_json(result.model_dump_json(indent=1), json_out)
        if trace is not None:
            step = f"decode step at KV {result.decode_step_kv}"
            write_trace([("prefill", result.prefill), (step, result.decode_step)], trace)
    if json_out == "-":
        return
    if quiet:
        stdout().print(
            f"{workload} on {chip}: TTFT {format_si(result.ttft_s, 's')}, "
            f"{format_si(result.per_token.median_s, 's')}/token, "
            f"{result.tokens_per_s:,.1f} tokens/s",
            soft_wrap=True,
        )
    else:
        if dtype_note:
            stdout().print(f"dtype {dtype}: {dtype_note}.", soft_wrap=True, markup=False)
        stdout().print(render_generation(result, top=top))
