"""Reading a sweep's output back, line by line, and saying which lines are not rows.

A sweep file is edited by people and cut by crashes, so nothing in it is trusted: each line
is read on its own (a stray quote cannot swallow the lines after it), at most
`MAX_LINE_BYTES` long, UTF-8, with as many fields as the header, a point id, and numbers
(or nothing) in the metric columns. A line that fails is a `Problem` with its line number.
"""

from __future__ import annotations

import csv
import json
import math
import os
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hardware.errors import InputError
from sim.render.parquet import pyarrow, read_parquet
from sim.studies.sweep.spec import LOSS_COLUMNS, METRIC_COLUMNS
from sim.studies.sweep.systems import (
    SERVE_COLUMNS,
    SERVE_NUMERIC_COLUMNS,
    SYSTEM_COLUMNS,
    SYSTEM_NUMERIC_COLUMNS,
)

MAX_LINE_BYTES = 64 * 1024  # a row is a few hundred bytes; errors are cut at 1,000 chars
MAX_LISTED = 5
NUMERIC_COLUMNS = frozenset(
    set(METRIC_COLUMNS) - {"top_loss"}
    | set(LOSS_COLUMNS)
    | SYSTEM_NUMERIC_COLUMNS
    | SERVE_NUMERIC_COLUMNS
)
_POINT_ID = re.compile(r"^[0-9a-f]{12}$")
_UNIT_COLUMN = re.compile(r" \[[^\]]+\]$")


@dataclass
class Problem:
    line: int
    why: str


@dataclass
class Table:
    rows: list[dict[str, Any]] = field(default_factory=list)
    header: list[str] | None = None  # None for JSON lines
    problems: list[Problem] = field(default_factory=list)


def output_format(path: Path) -> str:
    """'csv', 'jsonl' (JSON Lines: one object per line) or 'parquet'. A sweep appends each
    point as it finishes, so it never writes one JSON document (`.json`): that is refused
    with the one-line read pandas does. Parquet cannot be appended to: its rows go to a
    CSV journal first (sim/studies/sweep/store.py), and it needs pyarrow."""
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return "csv"
    if suffix == ".jsonl":
        return "jsonl"
    if suffix == ".parquet":
        pyarrow("--out", path)  # the extra is there, before any work
        return "parquet"
    if suffix == ".json":
        raise InputError(
            f"--out {path}: a sweep writes JSON Lines (one object per line, appended as "
            "each point finishes, so a stopped sweep keeps its rows), not one JSON "
            f"document; name the file {path.with_suffix('.jsonl').name} and read it with "
            "pandas.read_json(path, lines=True)."
        )
    raise InputError(
        f"--out {path}: unknown output type {suffix or '(none)'!r}; use .csv, .jsonl "
        "for JSON Lines, or .parquet."
    )


def numeric_columns(columns: Iterable[str]) -> set[str]:
    """The columns that hold numbers: the metrics, the loss shares, and varied quantities
    (their header names the SI unit: 'memory.dram.bandwidth [B/s]')."""
    return {c for c in columns if c in NUMERIC_COLUMNS or _UNIT_COLUMN.search(c)}


def lines(path: Path) -> Iterator[tuple[int, bytes | None]]:
    """(line number, the line without its newline), None for a line over the limit; a
    last line without a newline (torn) is left out."""
    with open(path, "rb") as handle:
        number = 0
        while True:
            line = handle.readline(MAX_LINE_BYTES + 1)
            if not line.endswith(b"\n"):
                if len(line) <= MAX_LINE_BYTES:
                    return  # the end, or a torn last line
                while line and not line.endswith(b"\n"):  # skip the rest of a long line
                    line = handle.readline(MAX_LINE_BYTES)
                number += 1
                if not line:
                    return
                yield number, None
                continue
            number += 1
            yield number, line[:-1]


def sweep_header(path: Path) -> list[str] | None:
    """The columns named by the first line when it is a sweep's header (or, for JSON
    lines, a sweep's row; for Parquet, its columns), else None."""
    if output_format(path) == "parquet":
        try:
            fields = read_parquet(path)[0]
        except InputError:
            return None
        return fields if _is_sweep(fields) else None
    for _, line in lines(path):
        text = _text(line)
        if text is None:
            return None
        try:
            fields = list(json.loads(text)) if output_format(path) == "jsonl" else _csv_fields(text)
        except (ValueError, TypeError, csv.Error):
            return None
        return fields if _is_sweep(fields) else None
    return None


def _is_sweep(fields: list[str]) -> bool:
    metrics = any(set(c) <= set(fields) for c in (METRIC_COLUMNS, SYSTEM_COLUMNS, SERVE_COLUMNS))
    return fields[:1] == ["id"] and metrics and "error" in fields


def check_table(path: str | os.PathLike, columns: list[str] | None = None) -> Table:
    """Every whole line of a sweep file: its good rows (metrics as floats) and the lines
    that are not rows of a sweep with `columns` (of the file's own header if None)."""
    path = Path(path)
    if output_format(path) == "parquet":  # written whole by us: no line to check
        header, rows = read_parquet(path)
        return Table(rows=rows, header=header)
    table = Table()
    json_lines = output_format(path) == "jsonl"
    for number, line in lines(path):
        text = _text(line)
        if text is None:
            why = "not UTF-8 text" if line is not None else f"longer than {MAX_LINE_BYTES:,} bytes"
            table.problems.append(Problem(number, why))
            if not json_lines and table.header is None:
                return table  # no header: no row can be read
            continue
        if not json_lines and table.header is None:
            try:
                table.header = _csv_fields(text)
            except csv.Error as err:
                table.problems.append(Problem(number, f"not a CSV header ({err})"))
                return table
            if columns is not None and table.header != columns:
                return table  # the caller reports the columns
            continue
        try:
            row = _json_row(text, columns) if json_lines else _csv_row(text, table.header)
        except ValueError as err:
            table.problems.append(Problem(number, str(err)))
            continue
        table.rows.append(row)
    return table


def problems_text(problems: list[Problem]) -> str:
    listed = "; ".join(f"line {p.line}: {p.why}" for p in problems[:MAX_LISTED])
    more = f"; and {len(problems) - MAX_LISTED} more" if len(problems) > MAX_LISTED else ""
    return (
        f"{len(problems)} line(s) are not rows of this sweep ({listed}{more}). Fix or "
        "delete those lines, or write to a new --out file."
    )


def read_table(path: str | os.PathLike) -> tuple[list[dict[str, Any]], list[str] | None]:
    """The good rows of a sweep file and its CSV header (None for JSON lines); use
    `check_table` to learn which lines were left out and why."""
    table = check_table(path)
    return table.rows, table.header


def read_rows(path: str | os.PathLike) -> list[dict[str, Any]]:
    return read_table(path)[0]


def _text(line: bytes | None) -> str | None:
    if line is None:
        return None
    try:
        return line.decode("utf-8").rstrip("\r")
    except UnicodeDecodeError:
        return None


def _csv_fields(text: str) -> list[str]:
    fields = next(csv.reader([text], strict=True), [])
    return fields


def _csv_row(text: str, header: list[str] | None) -> dict[str, Any]:
    assert header is not None
    try:
        fields = _csv_fields(text)
    except csv.Error as err:
        raise ValueError(f"not a CSV row ({err})") from None
    if len(fields) != len(header):
        raise ValueError(f"{len(fields)} fields, the header has {len(header)}")
    row: dict[str, Any] = dict(zip(header, fields, strict=True))
    for column in numeric_columns(row):
        row[column] = None if row[column] == "" else _number(column, row[column])
    _check_id(row)
    return row


def _json_row(text: str, columns: list[str] | None) -> dict[str, Any]:
    try:
        row = json.loads(text)
    except json.JSONDecodeError as err:
        raise ValueError(f"not JSON ({err.msg})") from None
    if not isinstance(row, dict):
        raise ValueError("not a JSON object")
    if columns is not None and set(row) != set(columns):
        raise ValueError(
            f"its keys ({', '.join(map(str, row))}) are not this sweep's columns; resume "
            "with the same --vary keys"
        )
    for column in numeric_columns(row):
        value = row[column]
        if value is not None:
            row[column] = _number(column, value)
    _check_id(row)
    return row


def _number(column: str, value: Any) -> float:
    shown = repr(value if len(str(value)) <= 40 else str(value)[:40] + "...")
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ValueError(f"{column} is {shown}, not a number")
    try:
        number = float(value)
    except ValueError:
        raise ValueError(f"{column} is {shown}, not a number") from None
    if not math.isfinite(number):
        raise ValueError(f"{column} is {shown}, not a finite number")
    return number


def _check_id(row: dict[str, Any]) -> None:
    if not _POINT_ID.match(str(row.get("id", ""))):
        shown = str(row.get("id", ""))[:40]
        raise ValueError(f"the id {shown!r} is not a point id (12 hex digits)")
