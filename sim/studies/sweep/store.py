"""Where a sweep's results go: one line per point, appended as the point finishes.

CSV, or JSON lines for .jsonl/.json. Each line is flushed and fsync'd, so a sweep killed at
any moment loses only the points in flight; resuming cuts a torn last line and skips the
ids already there.
"""

from __future__ import annotations

import csv
import io
import json
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from hardware.errors import InputError
from sim.studies.sweep.spec import LOSS_COLUMNS, METRIC_COLUMNS


def start_output(path: Path, columns: list[str], resume: bool) -> set[str]:
    """Start the output (a CSV header, or nothing for JSON lines), or, resuming an existing
    file, cut a torn last line and return the ids already there."""
    json_lines = output_format(path) == "jsonl"
    if resume and path.is_file():
        truncate_partial_line(path)
        rows, header = read_table(path)
        found = header if header is not None else (list(rows[0]) if rows else columns)
        if set(found) != set(columns) or (header is not None and header != columns):
            raise InputError(
                f"--resume {path}: the file's columns ({', '.join(found)}) are not "
                f"this sweep's ({', '.join(columns)}); resume with the same --vary "
                "keys, or write to a new --out file."
            )
        if header is None and not json_lines and path.stat().st_size == 0:
            append_line(path, _csv_line(columns))
        return {str(row["id"]) for row in rows if row.get("id")}
    try:
        path.write_text("" if json_lines else _csv_line(columns), encoding="utf-8", newline="")
    except OSError as err:
        raise InputError(f"--out {path}: cannot write the file ({err.strerror}).") from None
    return set()


def append_row(path: Path, columns: list[str], row: Mapping[str, Any]) -> None:
    """One line per point: JSON with every column, or CSV with None as an empty field."""
    if output_format(path) == "jsonl":
        values = {c: row.get(c) for c in columns}
        append_line(path, json.dumps(values, allow_nan=False, default=str) + "\n")
    else:
        append_line(path, _csv_line("" if row.get(c) is None else row[c] for c in columns))


def append_line(path: Path, line: str) -> None:
    """Append, flush and fsync: once this returns, the line survives a crash."""
    with open(path, "a", encoding="utf-8", newline="") as handle:
        handle.write(line)
        handle.flush()
        os.fsync(handle.fileno())


def output_format(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return "csv"
    if suffix in (".jsonl", ".json"):
        return "jsonl"
    raise InputError(
        f"--out {path}: unknown output type {suffix or '(none)'!r}; use .csv, or "
        ".jsonl / .json for JSON lines."
    )


def _csv_line(fields: Iterable[Any]) -> str:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerow(fields)
    return buffer.getvalue()


def truncate_partial_line(path: Path, chunk: int = 65536) -> int:
    """Cut a last line that has no newline (a write killed midway); the bytes removed."""
    with open(path, "rb+") as handle:
        size = handle.seek(0, os.SEEK_END)
        position = size
        while position > 0:
            start = max(0, position - chunk)
            handle.seek(start)
            block = handle.read(position - start)
            newline = block.rfind(b"\n")
            if newline >= 0:
                keep = start + newline + 1
                break
            position = start
        else:
            keep = 0
        handle.truncate(keep)
    return size - keep


def read_table(path: str | os.PathLike) -> tuple[list[dict[str, Any]], list[str] | None]:
    """The complete rows of a sweep file (metrics as floats) and the CSV header (None for
    JSON lines); a torn last line or a line that does not parse is left out."""
    path = Path(path)
    rows: list[dict[str, Any]] = []
    if output_format(path) == "jsonl":
        with open(path, encoding="utf-8") as handle:
            for line in handle:
                if not line.endswith("\n"):
                    break
                try:
                    row = json.loads(line)
                except json.JSONDecodeError:
                    continue
                if isinstance(row, dict):
                    rows.append(row)
        return rows, None
    with open(path, encoding="utf-8", newline="") as handle:
        lines = [line for line in handle if line.endswith("\n")]
    reader = csv.reader(lines)
    header = next(reader, None)
    numeric = set(METRIC_COLUMNS) - {"top_loss"} | set(LOSS_COLUMNS)
    for fields in reader:
        if header is None or len(fields) != len(header):
            continue
        row: dict[str, Any] = dict(zip(header, fields, strict=True))
        for column in numeric & set(row):
            row[column] = float(row[column]) if row[column] != "" else None
        rows.append(row)
    return rows, header


def read_rows(path: str | os.PathLike) -> list[dict[str, Any]]:
    return read_table(path)[0]
