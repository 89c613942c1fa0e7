"""A finished Result as tables for notebooks: one row per kernel, one row per unit.

`kernels` and `units` return pandas DataFrames (the optional extra `pandas`); the rows
themselves (`kernel_rows`, `unit_rows`) are plain dicts, so `write_kernels_csv` needs no
pandas (`write_kernels` writes Parquet for a .parquet path, through pyarrow). Columns are
SI (seconds, bytes, ops), named with their unit; each loss category is a column of its
own (`loss_<category>_ops`), zero where the kernel lost nothing to it.
"""

from __future__ import annotations

import csv
import io
import os
from pathlib import Path
from typing import Any

from hardware.errors import InputError, expect
from hardware.files import write_output
from sim.result import Result

NO_DRAM_INTENSITY = 1e29  # OpRow.intensity at or above this means "no DRAM bytes"


def loss_categories(result: Result) -> list[str]:
    """Every loss category any kernel records, in the Result's order then by name."""
    names = dict.fromkeys(result.losses_ops)
    for row in result.ops:
        names.update(dict.fromkeys(sorted({*row.losses_ops, *row.waited_ops})))
    return list(names)


def kernel_rows(result: Result) -> list[dict[str, Any]]:
    """One dict per kernel, longest first (ties by name)."""
    expect(result, Result, "kernel_rows: result", " (from sim.simulate)")
    categories = loss_categories(result)
    rows = sorted(result.ops, key=lambda r: (-(r.end_s - r.start_s), r.name))
    out = []
    for row in rows:
        time_s = row.end_s - row.start_s
        record: dict[str, Any] = {
            "kernel": row.name,
            "ops_kinds": "+".join(row.kinds),
            "unit": row.unit,
            "start_s": row.start_s,
            "end_s": row.end_s,
            "time_s": time_s,
            "share_of_latency": time_s / result.latency_s if result.latency_s else 0.0,
            "ops": row.ops,
            "ops_per_s": row.ops / time_s if time_s > 0 else 0.0,
            "dram_bytes": row.dram_bytes,
            "onchip_bytes": row.onchip_bytes,
            "intensity_ops_per_byte": (
                row.intensity if row.intensity < NO_DRAM_INTENSITY else float("inf")
            ),
            "compute_s": row.compute_s,
            "memory_s": row.memory_s,
            "bound": row.bound,
            "main_loss": row.main_loss(),
        }
        for category in categories:
            record[f"loss_{category}_ops"] = row.lost_ops(category)
        out.append(record)
    return out


def unit_rows(result: Result) -> list[dict[str, Any]]:
    """One dict per unit, in the chip's order."""
    expect(result, Result, "unit_rows: result", " (from sim.simulate)")
    return [
        {
            "unit": unit.name,
            "in_peak": unit.peak,
            "host": unit.host,
            "instances": unit.instances,
            "kernels": unit.kernels,
            "busy_s": unit.busy_s,
            "overhead_s": unit.overhead_s,
            "launch_wait_s": unit.launch_wait_s,
            "utilization": unit.utilization,
            "useful_ops": unit.useful_ops,
        }
        for unit in result.units
    ]


def pandas() -> Any:
    """The pandas module, or an InputError saying how to get it."""
    try:
        import pandas as pd
    except ImportError:
        raise InputError(
            "tables need pandas, which is not installed; install the `pandas` extra: "
            "pip install 'topsim[pandas]' (or pip install pandas)."
        ) from None
    return pd


def kernels(result: Result) -> Any:
    """A DataFrame, one row per kernel (longest first); see `kernel_rows` for columns."""
    pd = pandas()
    rows = kernel_rows(result)
    columns = list(rows[0]) if rows else ["kernel"]
    return pd.DataFrame(rows, columns=columns)


def units(result: Result) -> Any:
    """A DataFrame, one row per unit; see `unit_rows` for columns."""
    pd = pandas()
    rows = unit_rows(result)
    return pd.DataFrame(rows, columns=list(rows[0]) if rows else ["unit"])


def write_kernels_csv(result: Result, path: str | os.PathLike) -> Path:
    """Write the per-kernel rows as CSV (a header, then one line per kernel); returns
    the path. Needs no pandas."""
    target = Path(path)
    rows = kernel_rows(result)
    buffer = io.StringIO(newline="")
    writer = csv.DictWriter(buffer, fieldnames=list(rows[0]) if rows else ["kernel"])
    writer.writeheader()
    writer.writerows(rows)
    write_output(target, buffer.getvalue(), "--kernels")
    return target


def write_kernels(result: Result, path: str | os.PathLike) -> Path:
    """The per-kernel rows as Parquet (a .parquet path; needs pyarrow) or CSV."""
    from sim.render.parquet import is_parquet, write_parquet

    if not is_parquet(path):
        return write_kernels_csv(result, path)
    rows = kernel_rows(result)
    columns = list(rows[0]) if rows else ["kernel"]
    text = {"kernel", "ops_kinds", "unit", "bound", "main_loss"}
    numbers = set(columns) - text
    return write_parquet(rows, columns, path, numbers=numbers, text=text, flag="--kernels")
