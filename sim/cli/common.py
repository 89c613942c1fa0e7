"""What every `topsim` command shares: how a user mistake is reported, how JSON is
written, the options several commands take, and how their inputs are loaded.

Each command loads its inputs inside `user_errors()`, so a user mistake (an `InputError`)
prints one red paragraph on stderr and exits with code 2; any other exception is a bug
and surfaces with its traceback. Commands that produce data take `--json PATH` (`-` for
stdout) and write it with `emit_json`.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from rich.console import Console

import hardware
import workloads
from hardware.chip import Chip
from hardware.errors import InputError
from hardware.files import check_output, same_file, write_output
from hardware.load import PRESET_DIR
from hardware.quantity import format_si
from sim.fuse import FUSION_MODES
from workloads.graph import Graph
from workloads.registry import parse_params

# the dtype a chip is summarized by: the first of these it has a peak for


def spoken(items: Sequence[str], last: str) -> str:
    """('none', 'epilogue', 'greedy'), 'or' -> 'none, epilogue or greedy'."""
    return ", ".join(items[:-1]) + f" {last} " + items[-1] if len(items) > 1 else "".join(items)


JsonOption = Annotated[
    str | None,
    typer.Option("--json", metavar="PATH", help="Write JSON to PATH ('-' for stdout)."),
]
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
ParamOption = Annotated[
    list[str] | None,
    typer.Option(
        "--param",
        "-p",
        metavar="KEY=VALUE",
        help="A builder parameter, e.g. depth=101 or width_mult=0.5 (repeatable; "
        "`topsim workloads` lists each builder's).",
    ),
]
FusionOption = Annotated[str, typer.Option(help=f"Fusion mode: {spoken(FUSION_MODES, 'or')}.")]


# reporting --------------------------------------------------------------------------------


def stdout() -> Console:
    """A console on the current stdout (made per call so test runners can capture it)."""
    return Console(highlight=False)


def print_version(given: bool) -> None:
    """`topsim --version`: print the version and exit (an eager flag's callback)."""
    if given:
        from hardware.version import __version__

        typer.echo(f"topsim {__version__}")
        raise typer.Exit()


def fail(message: str) -> NoReturn:
    """Print `message` in red on stderr and exit with code 2 (bad user input)."""
    readable = message.encode("utf-8", "backslashreplace").decode("utf-8")
    Console(stderr=True, highlight=False, soft_wrap=True).print(
        f"error: {readable}", style="red", markup=False
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
    """Write `payload` (a JSON string, or data to serialize) to `target`; '-' is stdout.
    A lone surrogate in a name (JSON can hold it, UTF-8 cannot) is written escaped."""
    text = payload if isinstance(payload, str) else json.dumps(payload, indent=2, allow_nan=False)
    text = text.encode("utf-8", "backslashreplace").decode("utf-8")
    if target == "-":
        typer.echo(text)
        return
    write_output(target, text + "\n", "--json")
    typer.echo(f"wrote {target}", err=True)


def write_trace(result: Any, path: Path) -> None:
    """A trace of a Result (or of named Results) for `--trace`: Perfetto's protobuf for
    .perfetto-trace and .pftrace, else the Chrome trace-event JSON (both open in Perfetto)."""
    from sim.render.chrome_trace import write_chrome_trace
    from sim.render.perfetto_trace import is_perfetto_path, write_perfetto_trace

    try:
        if is_perfetto_path(path):
            write_perfetto_trace(result, path)
        else:
            write_chrome_trace(result, path)
    except OSError as err:
        raise InputError(f"--trace {path}: cannot write the file ({err.strerror}).") from None


def figure(value: float) -> str:
    """3 significant digits, never in exponent form: 0.512, 51.2, 989, 1,979."""
    return f"{value:,.0f}" if abs(value) >= 1000 else f"{value:.3g}"


def tops(ops_per_s: float) -> str:
    return figure(ops_per_s / 1e12)


def count(value: float) -> str:
    """225000000 -> '225 M' (3 significant digits)."""
    return format_si(value, "").strip()


# loading inputs ---------------------------------------------------------------------------


def check_outputs(outputs: dict[str, Any], inputs: Sequence[str | None] = ()) -> None:
    """Every output flag's path checked before any work (`-` is stdout; None not given):
    a writable file in an existing folder, never a folder, never one of this run's inputs
    (a workload or chip file, or the preset a chip name reads), never two flags one file."""
    sources: list[Any] = []
    for source in inputs:
        if not isinstance(source, str):
            continue
        sources.append(source)
        if source in hardware.list_chips():
            sources.append(PRESET_DIR / f"{source}.yaml")
    seen: dict[Path, str] = {}
    for flag, target in outputs.items():
        if target is None or str(target) == "-":
            continue
        path = check_output(target, flag, tuple(sources))
        for other_path, other in seen.items():
            if same_file(path, other_path) or path == other_path:
                raise InputError(f"{flag} {path}: is also the {other} file; give two names.")
        seen[path] = flag


def load_workload(spec: str, **params: Any) -> Graph:
    """A builder name (with its parameters), a graph file (.yaml, .yml, .json, .onnx), or
    a Hugging Face config.json (which takes --batch, --seq and --dtype)."""
    given = {k: v for k, v in params.items() if v is not None}
    if "dims" in given and not spec.lower().endswith(".onnx"):
        raise InputError(f"--dim applies to ONNX models with symbolic dims, not {spec!r}.")
    if workloads.is_graph_file(spec):
        from workloads.hf import PARAMETERS, is_hf_config_file

        if given and is_hf_config_file(spec):
            unknown = [k for k in given if k not in PARAMETERS]
            if unknown:
                raise InputError(
                    f"{spec}: {unknown[0]} is not a parameter of a Hugging Face config; "
                    f"allowed: {', '.join(PARAMETERS)}."
                )
            return workloads.from_hf_config(spec, **given)
        if Path(spec).suffix.lower() == ".onnx":  # --batch and --dim size symbolic dims
            shape = {k: given.pop(k) for k in ("batch", "dims") if k in given}
        else:
            shape = {}
        if given:
            raise InputError(
                f"{spec}: --{next(iter(given))} applies to built-in workloads only; "
                "a graph file fixes its own shapes."
            )
        return workloads.load(spec, **shape)
    return workloads.build(spec, **given)


def workload_for(
    spec: str, chip: Chip, pairs: list[str] | None = None, **named: Any
) -> tuple[Graph, str | None]:
    """The workload of `run`/`explain`/`compare`: named options (--batch, --seq ...) and
    `--param KEY=VALUE` pairs, built in the dtype `workloads.dtype_for` picks for `chip`; with
    the sentence saying which dtype and why (None for a graph file or a dtype-less builder)."""
    params, why = workload_params(spec, chip, pairs, **named)
    return load_workload(spec, **params), why


def workload_params(
    spec: str, chip: Chip, pairs: list[str] | None = None, **named: Any
) -> tuple[dict[str, Any], str | None]:
    """The builder parameters `workload_for` builds with, and its dtype sentence."""
    params = {k: v for k, v in named.items() if v is not None}
    if pairs:
        if workloads.is_graph_file(spec):
            raise InputError(f"{spec}: --param applies to built-in workloads only.")
        extra = parse_params(spec, pairs)
        both = sorted(set(extra) & set(params))
        if both:
            raise InputError(f"--param {both[0]}: given twice (also as --{both[0]}).")
        params.update(extra)
    dtype, why = workloads.dtype_for(spec, chip, params.get("dtype"))
    if dtype is not None:
        params["dtype"] = dtype
    return params, why and f"dtype {dtype}: {why}."


def parse_dims(pairs: list[str] | None) -> dict[str, int] | None:
    """`--dim NAME=VALUE` pairs -> {name: size}; None when none are given."""
    if not pairs:
        return None
    dims: dict[str, int] = {}
    for text in pairs:
        name, _, value = text.partition("=")
        name, value = name.strip(), value.strip()
        if not name or not value.isdigit() or int(value) < 1:
            raise InputError(
                f"--dim {text!r}: write NAME=SIZE with a size of at least 1, e.g. "
                "--dim sequence=128 (the name of a symbolic dim of the ONNX model's inputs)."
            )
        if name in dims:
            raise InputError(f"--dim {name}: given twice.")
        dims[name] = int(value)
    return dims


def load_chip_with(chip: str, sets: list[str] | None) -> Chip:
    """A preset or chip file with `--set KEY=VALUE` changes applied (and validated)."""
    return hardware.load_chip(chip, overrides=hardware.parse_overrides(sets or []))


def check_fusion(fusion: str) -> str:
    if fusion not in FUSION_MODES:
        raise InputError(f"--fusion {fusion!r}: allowed modes are {spoken(FUSION_MODES, 'and')}.")
    return fusion


def parse_duration(text: str | None) -> float | None:
    """`--duration 60s` in seconds (None when not given)."""
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
