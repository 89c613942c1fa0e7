"""`topsim chips`, `chips show`, `workloads` and `validate`: what topsim knows, and
whether a chip or graph file is one it can read.

Chips are listed with their derived figures (peak per dtype, ridge point = peak / DRAM
bandwidth); `chips show` prints a whole spec as a tree with each SI value in its unit and
the source of every number.
"""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table
from rich.text import Text
from rich.tree import Tree

import hardware
import workloads
from hardware.chip import Chip
from hardware.errors import InputError
from hardware.files import load_yaml_mapping, read_text, write_output
from hardware.load import chip_yaml
from hardware.quantity import format_si
from sim.cli.common import (
    JsonOption,
    check_outputs,
    count,
    emit_json,
    figure,
    stdout,
    tops,
    user_errors,
)
from workloads.files import graph_from_dict
from workloads.graph import Graph
from workloads.hf import is_hf_config

chips_app = typer.Typer(
    help="Chip presets: list them, show or export one, print the chip file schema."
)


def chip_summary(chip: Chip) -> dict[str, Any]:
    """The derived figures of a chip, as `topsim chips --json` lists them (SI units)."""
    dtypes = chip.dtypes()
    return {
        "name": chip.name,
        "description": chip.description,
        "hypothetical": chip.hypothetical,
        "main_dtype": chip.main_dtype(),
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
        dtype = chip.main_dtype()
        name = chip.name + (" (hypothetical)" if chip.hypothetical else "")
        table.add_row(
            Text(name),
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


ChipArgument = Annotated[str, typer.Argument(help="A preset name or a chip YAML/JSON file.")]


@chips_app.command("show")
def chips_show(name: ChipArgument, json_out: JsonOption = None) -> None:
    """Show one chip's whole spec, its derived peaks and the sources of its numbers."""
    with user_errors():
        chip = hardware.load_chip(name)
        if json_out is not None:
            emit_json({**chip_summary(chip), "spec": chip.model_dump(mode="json")}, json_out)
            return
    stdout().print(chip_tree(chip))


@chips_app.command("export")
def chips_export(
    name: ChipArgument,
    out: Annotated[
        str, typer.Option("--out", "-o", help="Write to this file ('-': stdout).")
    ] = "-",
    overwrite: Annotated[
        bool, typer.Option("--overwrite", help="Replace the --out file if it exists.")
    ] = False,
) -> None:
    """Write a chip (its base and overrides resolved) as YAML that loads back equal."""
    with user_errors():
        check_outputs({"--out": out}, [name])
        if out != "-" and Path(out).exists() and not overwrite:
            raise InputError(
                f"--out {out}: the file exists; give another name, or --overwrite to replace it."
            )
        text = chip_yaml(hardware.load_chip(name))
        if out == "-":
            typer.echo(text, nl=False)
            return
        write_output(out, text, "--out")
    typer.echo(f"wrote {out}", err=True)


@chips_app.command("schema")
def chips_schema() -> None:
    """Print the JSON schema of a chip file (SI numbers or strings with units)."""
    emit_json(Chip.model_json_schema(), "-")


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


def spec_summary(spec: Chip | Graph) -> dict[str, Any]:
    """What `validate --json` reports: a chip's derived figures, or a graph's counts."""
    if isinstance(spec, Chip):
        return {"kind": "chip", **chip_summary(spec)}
    return {
        "kind": "graph",
        "name": spec.name,
        "op_count": len(spec.ops),
        "macs": spec.macs,
        "params": spec.params,
    }


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
    if ("units" in data or "base" in data) and "ops" not in data:
        return hardware.load_chip(path)
    if is_hf_config(data):
        return workloads.load(path)
    if "ops" in data and "units" not in data:
        return graph_from_dict(data, str(path))
    found = ", ".join(map(str, data)) or "nothing"
    raise InputError(
        f"{path}: cannot tell a chip from a graph: a chip has a top-level 'units' key, a graph "
        f"an 'ops' key (and not both); found {found}."
    )


def validate(
    file: Annotated[
        Path, typer.Argument(help="A chip preset, or a chip or graph file (.yaml, .json, .onnx).")
    ],
    json_out: JsonOption = None,
) -> None:
    """Check a chip or graph file (or a chip preset) and print a one-line summary."""
    with user_errors():
        if str(file) in hardware.list_chips():
            spec = hardware.load_chip(str(file))
        else:
            spec = load_spec_file(file)
        if json_out is not None:
            emit_json({"file": str(file), "ok": True, **spec_summary(spec)}, json_out)
            return
    if isinstance(spec, Chip):
        dtype = spec.main_dtype()
        summary = (
            f"chip {spec.name!r}: peak {tops(spec.peak_ops(dtype))} TOP/s {dtype}, "
            f"ridge point {figure(spec.ridge_point(dtype))} ops/B"
        )
        # biggest peak first; equal peaks in the chip's dtype order (not a set's: stable)
        others = sorted((d for d in spec.dtypes() if d != dtype), key=lambda d: -spec.peak_ops(d))
        if others:
            summary += "; also " + ", ".join(f"{tops(spec.peak_ops(d))} TOP/s {d}" for d in others)
    else:
        summary = (
            f"graph {spec.name!r}: {len(spec.ops)} ops, {spec.macs:,} MACs, {spec.params:,} params"
        )
    stdout().print(Text.assemble(("OK", "green"), f" {file}: {summary}"), soft_wrap=True)
