"""The `topsim` command line: a thin shell over `hardware`, `workloads` and `sim`.

Each command loads its inputs inside `user_errors()`, so a user mistake (an `InputError`)
prints one red paragraph on stderr and exits with code 2; any other exception is a bug
and surfaces with its traceback. Commands that produce data take `--json PATH` (`-` for
stdout) and write it with `emit_json`.
"""

from __future__ import annotations

import inspect
import json
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text
from rich.tree import Tree

import hardware
import workloads
from hardware.chip import Chip
from hardware.errors import InputError
from hardware.files import load_yaml_mapping, read_text
from hardware.load import validate_chip
from hardware.quantity import format_si
from workloads.files import graph_from_dict
from workloads.graph import Graph

app = typer.Typer(
    name="topsim",
    help="Simulate neural-network workloads on AI accelerators and explain where the peak "
    "TOP/s went.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
chips_app = typer.Typer(help="Chip presets: list them, or show one in full.")
app.add_typer(chips_app, name="chips")

JsonOption = Annotated[
    str | None,
    typer.Option("--json", metavar="PATH", help="Write JSON to PATH ('-' for stdout)."),
]

# the dtype a chip is summarized by: the first of these it has a peak for
MAIN_DTYPE_PREFERENCE = ("fp16", "bf16", "int8", "fp8", "tf32", "fp32", "int4", "fp64")


# shared helpers for every command ---------------------------------------------------------


def stdout() -> Console:
    """A console on the current stdout (made per call so test runners can capture it)."""
    return Console(highlight=False)


def fail(message: str) -> NoReturn:
    """Print `message` in red on stderr and exit with code 2 (bad user input)."""
    Console(stderr=True, highlight=False, soft_wrap=True).print(
        f"error: {message}", style="red", markup=False
    )
    raise SystemExit(2)


@contextmanager
def user_errors() -> Iterator[None]:
    """Turn an `InputError` raised inside into `fail(message)`; other errors pass through."""
    try:
        yield
    except InputError as err:
        fail(str(err))


def emit_json(payload: Any, target: str) -> None:
    """Write `payload` (a JSON string, or data to serialize) to `target`; '-' is stdout."""
    text = payload if isinstance(payload, str) else json.dumps(payload, indent=2, allow_nan=False)
    if target == "-":
        typer.echo(text)
        return
    try:
        Path(target).write_text(text + "\n", encoding="utf-8")
    except OSError as err:
        raise InputError(f"--json {target}: cannot write the file ({err.strerror}).") from None
    typer.echo(f"wrote {target}", err=True)


def main_dtype(chip: Chip) -> str:
    """The dtype a chip is summarized by (fp16 if it has it, then bf16, int8 ...)."""
    dtypes = chip.dtypes()
    return next((d for d in MAIN_DTYPE_PREFERENCE if d in dtypes), dtypes[0])


def figure(value: float) -> str:
    """3 significant digits, never in exponent form: 0.512, 51.2, 989, 1,979."""
    return f"{value:,.0f}" if abs(value) >= 1000 else f"{value:.3g}"


def tops(ops_per_s: float) -> str:
    return figure(ops_per_s / 1e12)


def count(value: float) -> str:
    """225000000 -> '225 M' (3 significant digits)."""
    return format_si(value, "").strip()


# topsim chips -----------------------------------------------------------------------------


def chip_summary(chip: Chip) -> dict[str, Any]:
    """The derived figures of a chip, as `topsim chips --json` lists them (SI units)."""
    dtypes = chip.dtypes()
    return {
        "name": chip.name,
        "description": chip.description,
        "hypothetical": chip.hypothetical,
        "main_dtype": main_dtype(chip),
        "peak_ops": {d: chip.peak_ops(d) for d in dtypes},
        "dram_bandwidth": chip.memory.dram.bandwidth,
        "onchip_bytes": chip.memory.onchip_bytes(),
        "ridge_point": {d: chip.ridge_point(d) for d in dtypes},
    }


def onchip_text(chip: Chip) -> str:
    l2 = chip.memory.l2
    return f"{format_si(l2.capacity, 'B', binary=True)} {l2.policy}" if l2 else "none"


@chips_app.callback(invoke_without_command=True)
def chips(ctx: typer.Context, json_out: JsonOption = None) -> None:
    """List the chip presets with their derived figures."""
    if ctx.invoked_subcommand is not None:
        return
    with user_errors():
        loaded = [hardware.load_chip(name) for name in hardware.list_chips()]
        if json_out is not None:
            emit_json([chip_summary(c) for c in loaded], json_out)
            return
    table = Table(title="Chip presets (ridge point = peak / DRAM bandwidth)")
    table.add_column("Chip", style="bold")
    table.add_column("Peak TOP/s")
    table.add_column("DRAM", justify="right")
    table.add_column("On-chip", justify="right")
    table.add_column("Ridge (ops/B)", justify="right")
    for chip in loaded:
        peaks = "\n".join(f"{d} {tops(chip.peak_ops(d))}" for d in chip.dtypes())
        dtype = main_dtype(chip)
        name = chip.name + (" (hypothetical)" if chip.hypothetical else "")
        table.add_row(
            name,
            peaks,
            format_si(chip.memory.dram.bandwidth, "B/s"),
            onchip_text(chip),
            f"{figure(chip.ridge_point(dtype))} ({dtype})",
        )
    stdout().print(table)


# field name -> unit its SI value is shown in; `binary` sizes use KiB/MiB/GiB
FIELD_UNITS: dict[str, tuple[str, bool]] = {
    "nominal": ("Hz", False),
    "frequency": ("Hz", False),
    "clock": ("Hz", False),
    "voltage": ("V", False),
    "capacity": ("B", True),
    "bandwidth": ("B/s", False),
    "latency": ("s", False),
    "setup_latency": ("s", False),
    "device_gap": ("s", False),
    "graph_latency": ("s", False),
    "kernel_overhead": ("s", False),
    "period": ("s", False),
    "static_power": ("W", False),
    "power_cap": ("W", False),
    "energy_per_mac": ("J", False),
    "energy_per_dram_byte": ("J", False),
    "energy_per_onchip_byte": ("J", False),
    "resistance": ("K/W", False),
    "capacitance": ("J/K", False),
    "ambient": ("°C", False),
    "throttle": ("°C", False),
    "release": ("°C", False),
}


def field_text(value: Any, unit: tuple[str, bool] | None) -> str:
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return str(value)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(field_text(v, unit) for v in value) + "]"
    if unit is None:
        return f"{value:g}" if isinstance(value, float) else str(value)
    symbol, binary = unit
    if symbol in ("°C", "K/W", "J/K", "V"):
        return f"{value:g} {symbol}"
    return format_si(value, symbol, binary=binary)


def add_fields(tree: Tree, data: dict[str, Any], unit: tuple[str, bool] | None = None) -> None:
    """Add each field of a dumped spec; nested mappings become branches."""
    for key, value in data.items():
        field_unit = FIELD_UNITS.get(key, unit)
        if isinstance(value, dict):
            if value:
                add_fields(tree.add(f"[bold]{key}[/]"), value, FIELD_UNITS.get(key))
        elif isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
            branch = tree.add(f"[bold]{key}[/]")
            for item in value:
                fields = (f"{k}: {field_text(v, FIELD_UNITS.get(k))}" for k, v in item.items())
                branch.add(escape(", ".join(fields)))
        elif value is not None:
            tree.add(escape(f"{key}: {field_text(value, field_unit)}"))


def chip_tree(chip: Chip) -> Tree:
    title = chip.name + (" (hypothetical)" if chip.hypothetical else "")
    about = f" - {escape(chip.description)}" if chip.description else ""
    tree = Tree(f"[bold]{escape(title)}[/]{about}")
    derived = tree.add("[bold green]derived[/]")
    for dtype in chip.dtypes():
        derived.add(
            f"{dtype}: peak {tops(chip.peak_ops(dtype))} TOP/s, "
            f"ridge point {figure(chip.ridge_point(dtype))} ops/B"
        )
    derived.add(f"on-chip memory: {onchip_text(chip)}")
    spec = chip.model_dump(exclude={"name", "description", "hypothetical", "sources"})
    for key, value in spec.items():
        if key == "units":
            units = tree.add("[bold]units[/] (rates in MACs/cycle/instance)")
            for unit_name, unit in value.items():
                branch = units.add(f"[bold]{escape(unit_name)}[/]")
                peaks = [
                    f"{d} {tops(chip.unit_peak_ops(unit_name, d))}"
                    for d in chip.dtypes()
                    if chip.unit_peak_ops(unit_name, d) > 0
                ]
                if peaks:
                    branch.add("peak TOP/s: " + ", ".join(peaks))
                add_fields(branch, unit)
        elif isinstance(value, dict):
            add_fields(tree.add(f"[bold]{key}[/]"), value, FIELD_UNITS.get(key))
        elif value is not None:
            tree.add(escape(f"{key}: {field_text(value, FIELD_UNITS.get(key))}"))
    if chip.sources:
        sources = tree.add("[bold]sources[/]")
        for key, source in chip.sources.items():
            sources.add(escape(f"{key}: {source}"), style="dim")
    return tree


@chips_app.command("show")
def chips_show(
    name: Annotated[str, typer.Argument(help="A preset name or a chip YAML/JSON file.")],
) -> None:
    """Show one chip's whole spec, its derived peaks and the sources of its numbers."""
    with user_errors():
        chip = hardware.load_chip(name)
    stdout().print(chip_tree(chip))


# topsim workloads -------------------------------------------------------------------------


def workload_summary(name: str, graph: Graph) -> dict[str, Any]:
    """What `topsim workloads --json` lists for one builder, built with its defaults."""
    defaults = workloads.builder_params(name)
    return {
        "name": name,
        "defaults": {k: v for k, v in defaults.items() if v is not inspect.Parameter.empty},
        "dtype": graph.dtype,
        "macs": graph.macs,
        "total_ops": graph.total_ops,
        "params": graph.params,
        "op_count": len(graph.ops),
    }


@app.command("workloads")
def list_workloads(json_out: JsonOption = None) -> None:
    """List the built-in workloads, each built with its default parameters."""
    with user_errors():
        rows = [workload_summary(n, workloads.build(n)) for n in workloads.list_workloads()]
        if json_out is not None:
            emit_json(rows, json_out)
            return
    table = Table(title="Built-in workloads (default parameters)")
    table.add_column("Workload", style="bold")
    table.add_column("MACs", justify="right")
    table.add_column("Params", justify="right")
    table.add_column("Op count", justify="right")
    table.add_column("Defaults")
    for row in rows:
        defaults = ", ".join(f"{k}={v}" for k, v in row["defaults"].items() if v is not None)
        table.add_row(
            row["name"], count(row["macs"]), count(row["params"]), str(row["op_count"]), defaults
        )
    stdout().print(table)


# topsim validate --------------------------------------------------------------------------


def load_spec_file(path: Path) -> Chip | Graph:
    """A chip (a mapping with `units`) or a graph (with `ops`, or an .onnx file)."""
    if path.suffix.lower() == ".onnx":
        if not path.is_file():
            raise InputError(f"{path}: no such ONNX file.")
        try:
            return workloads.load(path)
        except ModuleNotFoundError as err:
            if err.name == "onnx":
                raise InputError(
                    f"{path}: reading ONNX needs the 'onnx' extra: pip install 'topsim[onnx]'."
                ) from None
            if err.name == "workloads.onnx":
                raise InputError(f"{path}: this topsim cannot read ONNX files yet.") from None
            raise
    data = load_yaml_mapping(read_text(path, "chip or graph"), str(path))
    if "units" in data and "ops" not in data:
        return validate_chip(data, str(path))
    if "ops" in data and "units" not in data:
        return graph_from_dict(data, str(path))
    found = ", ".join(map(str, data)) or "nothing"
    raise InputError(
        f"{path}: cannot tell a chip from a graph: a chip has a top-level 'units' key, a graph "
        f"an 'ops' key (and not both); found {found}."
    )


@app.command()
def validate(
    file: Annotated[Path, typer.Argument(help="A chip or graph file (.yaml, .json, .onnx).")],
) -> None:
    """Check a chip or graph file and print a one-line summary."""
    with user_errors():
        spec = load_spec_file(file)
    if isinstance(spec, Chip):
        dtype = main_dtype(spec)
        summary = (
            f"chip {spec.name!r}: peak {tops(spec.peak_ops(dtype))} TOP/s {dtype}, "
            f"ridge point {figure(spec.ridge_point(dtype))} ops/B"
        )
    else:
        summary = (
            f"graph {spec.name!r}: {len(spec.ops)} ops, {spec.macs:,} MACs, {spec.params:,} params"
        )
    stdout().print(Text.assemble(("OK", "green"), f" {file}: {summary}"), soft_wrap=True)


# topsim run -------------------------------------------------------------------------------

WorkloadArgument = Annotated[str, typer.Argument(help="A built-in workload or a graph file.")]
ChipOption = Annotated[str, typer.Option("--chip", "-c", help="A chip preset or a chip file.")]
SetOption = Annotated[
    list[str] | None,
    typer.Option(
        "--set",
        "-s",
        metavar="KEY=VALUE",
        help="Change a chip field by dotted path, e.g. memory.dram.bandwidth=2TB/s.",
    ),
]
BatchOption = Annotated[int | None, typer.Option(help="Batch size (builder workloads).")]
ResolutionOption = Annotated[int | None, typer.Option(help="Input resolution (CNN builders).")]
SeqOption = Annotated[int | None, typer.Option(help="Sequence length (transformer builders).")]
DtypeOption = Annotated[str | None, typer.Option(help="Compute dtype of the built workload.")]
FusionOption = Annotated[str, typer.Option(help="Fusion mode: none, epilogue or greedy.")]


def load_workload(spec: str, **params: Any) -> Graph:
    """A builder name (with its parameters) or a graph file (.yaml, .yml, .json, .onnx)."""
    given = {k: v for k, v in params.items() if v is not None}
    path = Path(spec)
    if path.suffix.lower() in (".yaml", ".yml", ".json", ".onnx") or path.exists():
        if given:
            raise InputError(
                f"{spec}: --{next(iter(given))} applies to built-in workloads only; "
                "a graph file fixes its own shapes."
            )
        return workloads.load(path)
    return workloads.build(spec, **given)


def load_chip_with(chip: str, sets: list[str] | None) -> Chip:
    return hardware.load_chip(chip, overrides=hardware.parse_overrides(sets or []))


def check_fusion(fusion: str) -> str:
    if fusion not in ("none", "epilogue", "greedy"):
        raise InputError(f"--fusion {fusion!r}: allowed modes are none, epilogue and greedy.")
    return fusion


def parse_duration(text: str | None) -> float | None:
    if text is None:
        return None
    from hardware.quantity import QuantityError, parse_time

    try:
        seconds = parse_time(text)
    except QuantityError as err:
        raise InputError(f"--duration: {err}.") from None
    if not seconds > 0 or seconds != seconds or seconds == float("inf"):
        raise InputError(f"--duration must be a positive time such as 60s, got {text!r}.")
    return seconds


@app.command()
def run(
    workload: WorkloadArgument,
    chip: ChipOption,
    set_: SetOption = None,
    batch: BatchOption = None,
    resolution: ResolutionOption = None,
    seq: SeqOption = None,
    dtype: DtypeOption = None,
    fusion: FusionOption = "epilogue",
    overlap: Annotated[bool, typer.Option(help="Overlap transfers with compute.")] = True,
    graph_launch: Annotated[bool, typer.Option(help="Launch the graph once.")] = False,
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
    trace: Annotated[Path | None, typer.Option(help="Write a Chrome/Perfetto trace.")] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Print one line.")] = False,
    top: Annotated[int, typer.Option(min=1, help="Kernels listed in the summary.")] = 10,
) -> None:
    """Simulate WORKLOAD on a chip: latency, throughput and where the peak went."""
    import sim

    if mode in ("generate", "decode"):
        generation(
            workload,
            chip,
            set_,
            batch,
            dtype,
            fusion,
            prompt,
            tokens,
            weight_dtype,
            kv_dtype,
            json_out,
            trace,
            quiet,
            top,
        )
        return
    with user_errors():
        if mode not in (None, "prefill"):
            raise InputError(f"--mode {mode!r}: allowed modes are prefill, generate and decode.")
        if mode == "prefill":
            seq = prompt if seq is None else seq
        graph = load_workload(workload, batch=batch, resolution=resolution, seq=seq, dtype=dtype)
        spec = load_chip_with(chip, set_)
        result = sim.simulate(
            graph,
            spec,
            fusion=check_fusion(fusion),
            overlap=overlap,
            graph_launch=graph_launch,
            batches=batches,
            duration_s=parse_duration(duration),
            prefetch=prefetch,
            input_compression=input_compression,
            load_input=load_input,
        )
        if json_out is not None:
            emit_json(result.model_dump_json(indent=1), json_out)
        if trace is not None:
            write_trace(result, trace)
    if json_out == "-":
        return
    from sim.render.report import one_line, render_result

    if quiet:
        stdout().print(one_line(result), soft_wrap=True)
    else:
        stdout().print(render_result(result, top=top))


def generation(
    workload: str,
    chip: str,
    sets: list[str] | None,
    batch: int | None,
    dtype: str | None,
    fusion: str,
    prompt: int,
    tokens: int,
    weight_dtype: str | None,
    kv_dtype: str | None,
    json_out: str | None,
    trace: Path | None,
    quiet: bool,
    top: int,
) -> None:
    """`run LLM --mode generate`: time to first token, per-token latency, tokens/s; its
    trace holds the prefill and the decode step at the median KV length."""
    from sim.render.generation import render_generation
    from sim.studies.llm import generate

    with user_errors():
        result = generate(
            workload,
            load_chip_with(chip, sets),
            prompt=prompt,
            tokens=tokens,
            batch=batch or 1,
            dtype=dtype or "fp16",
            weight_dtype=weight_dtype,
            kv_dtype=kv_dtype,
            fusion=check_fusion(fusion),
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
        stdout().print(render_generation(result, top=top))


def write_trace(result: Any, path: Path) -> None:
    from sim.render.chrome_trace import write_chrome_trace

    try:
        write_chrome_trace(result, path)
    except OSError as err:
        raise InputError(f"--trace {path}: cannot write the file ({err.strerror}).") from None


# topsim explain / compare / plot / sweep --------------------------------------------------


def rebuild_for(workload: str, **params: Any):
    """A function batch -> graph for builder workloads (None for graph files)."""
    if Path(workload).suffix.lower() in (".yaml", ".yml", ".json", ".onnx"):
        return None
    fixed = {k: v for k, v in params.items() if v is not None and k != "batch"}
    return lambda b: workloads.build(workload, batch=b, **fixed)


@app.command()
def explain(
    workload: WorkloadArgument,
    chip: ChipOption,
    set_: SetOption = None,
    batch: BatchOption = None,
    resolution: ResolutionOption = None,
    seq: SeqOption = None,
    dtype: DtypeOption = None,
    fusion: FusionOption = "epilogue",
    top: Annotated[int, typer.Option(min=1, help="How many losses to explain.")] = 3,
    json_out: JsonOption = None,
) -> None:
    """The losses ranked, the ops behind them, and what each remedy buys (re-simulated)."""
    from sim.render.explanation import render_explanation
    from sim.studies.explain import explain as explain_run

    with user_errors():
        params = dict(batch=batch, resolution=resolution, seq=seq, dtype=dtype)
        graph = load_workload(workload, **params)
        spec = load_chip_with(chip, set_)
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
        stdout().print(render_explanation(result))


@app.command()
def compare(
    workload: Annotated[list[str], typer.Argument(help="One or more workloads.")],
    chip: Annotated[list[str], typer.Option("--chip", "-c", help="Repeat for several chips.")],
    set_: SetOption = None,
    batch: BatchOption = None,
    fusion: FusionOption = "epilogue",
    json_out: JsonOption = None,
) -> None:
    """Side by side: every workload on every chip."""
    import sim
    from sim.render.explanation import compare as compare_table

    with user_errors():
        results = []
        for name in workload:
            graph = load_workload(name, batch=batch)
            for chip_name in chip:
                results.append(
                    sim.simulate(
                        graph, load_chip_with(chip_name, set_), fusion=check_fusion(fusion)
                    )
                )
        if json_out is not None:
            emit_json("[" + ",".join(r.model_dump_json() for r in results) + "]", json_out)
    if json_out != "-":
        stdout().print(compare_table(results))


PLOTS = ("roofline", "waterfall", "timeline")


@app.command()
def plot(
    kind: Annotated[str, typer.Argument(help="roofline, waterfall or timeline.")],
    workload: WorkloadArgument,
    chip: ChipOption,
    out: Annotated[Path, typer.Option("--out", "-o", help="PNG, SVG or PDF file.")] = Path(
        "topsim.png"
    ),
    set_: SetOption = None,
    batch: BatchOption = None,
    fusion: FusionOption = "epilogue",
) -> None:
    """Draw a figure of one run (needs the `plot` extra: matplotlib)."""
    import sim
    from sim.render import plots

    with user_errors():
        if kind not in PLOTS:
            raise InputError(f"plot {kind!r}: allowed kinds are {', '.join(PLOTS)}.")
        graph = load_workload(workload, batch=batch)
        spec = load_chip_with(chip, set_)
        result = sim.simulate(graph, spec, fusion=check_fusion(fusion))
        path = (
            plots.roofline(result, spec, out)
            if kind == "roofline"
            else getattr(plots, kind)(result, out)
        )
    typer.echo(f"wrote {path}", err=True)


def _register_more() -> None:
    """Commands that live in their own modules."""
    from sim.cli_calibrate import calibrate, validate_model
    from sim.cli_sweep import sweep

    app.command("sweep")(sweep)
    app.command("calibrate")(calibrate)
    app.command("validate-model")(validate_model)


_register_more()


def main() -> None:
    """Console-script entry point (`topsim`): every user mistake is one line and exit 2."""
    try:  # typer bundles its own click; older releases use the click package
        from typer._click import exceptions as click_errors
    except ImportError:  # pragma: no cover
        from click import exceptions as click_errors

    warnings.formatwarning = lambda message, *_args, **_kw: f"warning: {message}\n"
    try:
        code = app(prog_name="topsim", standalone_mode=False)
    except click_errors.NoArgsIsHelpError:  # the help was printed while it was raised
        raise SystemExit(0) from None
    except click_errors.UsageError as err:  # bad flags or values that click checks
        command = err.ctx.command_path if err.ctx else "topsim"
        fail(f"{command}: {err.format_message()} (see '{command} --help').")
    except typer.Abort:
        fail("aborted.")
    except InputError as err:  # a command that forgot user_errors(): still no traceback
        fail(str(err))
    if isinstance(code, int) and code:
        raise SystemExit(code)


if __name__ == "__main__":
    main()
