"""Tables as Parquet files, through pyarrow (the optional extra `parquet`).

A table is a list of rows (dicts) and its columns, named as in the CSV we write (SI
units, the unit in the name: `latency_s`, `memory.dram.bandwidth [B/s]`). Each column
gets one type: float64 for the columns the caller names as numbers (empty cells are
nulls), text for those it names as text, and for the rest the narrowest of int64,
float64, bool or text that holds every value (as pandas types a CSV column); an empty
cell is a null in every column. A file is
written whole, to a temporary name then renamed, so a reader never sees half of one.
"""

from __future__ import annotations

import contextlib
import math
import os
from collections.abc import Collection, Sequence
from pathlib import Path
from typing import Any

from hardware.errors import InputError

SUFFIX = ".parquet"


def pyarrow(flag: str, path: str | os.PathLike) -> tuple[Any, Any]:
    """(pyarrow, pyarrow.parquet), or an InputError naming the extra to install."""
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:
        raise InputError(
            f"{flag} {path}: Parquet files need pyarrow, which is not installed; install "
            "the `parquet` extra: pip install 'topsim[parquet]' (or pip install pyarrow), "
            "or write a .csv file."
        ) from None
    return pa, pq


def is_parquet(path: str | os.PathLike) -> bool:
    return Path(path).suffix.lower() == SUFFIX


def _number(value: Any) -> float | None:
    """A cell as a float (None when empty); ValueError when it is not a number."""
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise ValueError(value)
    return float(value)


def column_type(values: Sequence[Any]) -> str:
    """'int64', 'float64', 'bool' or 'string': the narrowest that holds every value."""
    present = [v for v in values if v is not None and v != ""]
    if present and all(isinstance(v, bool) for v in present):
        return "bool"
    try:
        numbers = [_number(v) for v in present]
    except (TypeError, ValueError):
        return "string"
    if not present:
        return "string"
    whole = all(
        (isinstance(v, int) or (isinstance(v, str) and v.lstrip("-").isdigit())) for v in present
    )
    if whole and all(abs(n) < 2**63 for n in numbers if n is not None):
        return "int64"
    return "float64"


def arrow_table(
    rows: Sequence[dict[str, Any]],
    columns: Sequence[str],
    *,
    numbers: Collection[str] = (),
    text: Collection[str] = (),
    flag: str = "--out",
    path: str | os.PathLike = "",
) -> Any:
    """A pyarrow Table of `rows` with `columns` typed as the module docstring says."""
    pa, _ = pyarrow(flag, path)
    arrays = []
    for column in columns:
        values = [row.get(column) for row in rows]
        kind = (
            "float64" if column in numbers else "string" if column in text else column_type(values)
        )
        if kind == "float64":
            cells = [_number(v) for v in values]
            arrays.append(pa.array(cells, type=pa.float64()))
        elif kind == "int64":
            arrays.append(pa.array([None if v in (None, "") else int(v) for v in values],
                                   type=pa.int64()))  # fmt: skip
        elif kind == "bool":
            arrays.append(pa.array([None if v in (None, "") else v for v in values],
                                   type=pa.bool_()))  # fmt: skip
        else:
            arrays.append(pa.array([None if v in (None, "") else str(v) for v in values],
                                   type=pa.string()))  # fmt: skip
    return pa.table(arrays, names=list(columns))


def write_parquet(
    rows: Sequence[dict[str, Any]],
    columns: Sequence[str],
    path: str | os.PathLike,
    *,
    numbers: Collection[str] = (),
    text: Collection[str] = (),
    flag: str = "--out",
) -> Path:
    """Write the table to `path` whole (a temporary file renamed over it); returns it."""
    target = Path(path)
    _, pq = pyarrow(flag, target)
    table = arrow_table(rows, columns, numbers=numbers, text=text, flag=flag, path=target)
    partial = target.with_name(f".{target.name}.writing")
    try:
        pq.write_table(table, partial)
        os.replace(partial, target)
    except OSError as err:
        with contextlib.suppress(OSError):
            partial.unlink()
        raise InputError(f"{flag} {target}: cannot write the file ({err.strerror}).") from None
    return target


def read_parquet(path: str | os.PathLike, flag: str = "--out") -> tuple[list[str], list[dict]]:
    """(columns, rows) of a Parquet file: nulls as None, NaN floats as None."""
    _, pq = pyarrow(flag, path)
    try:
        table = pq.read_table(path)
    except (OSError, ValueError) as err:  # pyarrow's ArrowInvalid is a ValueError
        raise InputError(f"{flag} {path}: not a readable Parquet file ({err}).") from None
    rows = table.to_pylist()
    for row in rows:
        for key, value in row.items():
            if isinstance(value, float) and math.isnan(value):
                row[key] = None
    return list(table.column_names), rows
