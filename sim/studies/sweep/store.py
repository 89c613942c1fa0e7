"""Where a sweep's results go: one line per point, appended as the point finishes.

CSV, JSON lines for .jsonl, or Parquet. Parquet cannot be appended to, so a Parquet
output's rows go to its CSV journal (`x.parquet.partial.csv`, with all the safety below)
and the Parquet file is written whole from it when the run finishes (`finish`), the
journal then removed. A stopped run leaves the journal; `--resume` continues it, or,
when there is none, starts one from the rows of the Parquet file. The model of crash
safety:
- the output is held open with an exclusive lock (`flock`) for the whole run, so a second
  sweep on the same file fails at once instead of interleaving duplicate rows;
- each row is one whole line, handed to the OS in one `write`: a killed process loses
  only the points in flight; rows are fsync'd every `SYNC_ROWS` rows or `SYNC_S` seconds
  (and at the end), so a crash of the machine loses at most the unsynced rows;
- a write that fails (a full disk) is cut back to the last whole line before the error
  is reported, so the file never ends in a torn row;
- resuming drops a torn last line (left by a crash of the machine) with a notice, and
  checks every other line: lines that are not rows of this sweep are reported by number
  (sim/studies/sweep/table.py), never skipped in silence.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import os
import time
from collections.abc import Callable, Collection, Iterable, Mapping
from pathlib import Path
from typing import Any

from hardware.errors import InputError
from sim.render.parquet import read_parquet, write_parquet
from sim.studies.sweep.table import (
    check_table,
    numeric_columns,
    output_format,
    problems_text,
    sweep_header,
)

try:
    import fcntl
except ImportError:  # not POSIX: no lock (one sweep per file is then the user's care)
    fcntl = None  # type: ignore[assignment]

SYNC_ROWS = 64
SYNC_S = 0.5
TEXT_COLUMNS = frozenset(("id", "error", "top_loss"))  # never typed as numbers in Parquet


class RowWriter:
    """The locked output file: rows appended as whole lines, fsync'd in batches."""

    def __init__(self, path: Path, columns: list[str], fd: int, size: int) -> None:
        self.path = path
        self.columns = columns
        self.json_lines = output_format(path) == "jsonl"
        self.rows = 0
        self.parquet: Path | None = None  # the Parquet file this journal becomes
        self.numbers: Collection[str] = ()  # its float64 columns
        self._closed = False
        self._finished = False
        self.notice: Callable[[str], None] = print
        self._fd = fd
        self._size = size  # bytes of whole lines in the file
        self._unsynced = 0
        self._synced_at = time.monotonic()

    def write_row(self, row: Mapping[str, Any]) -> None:
        if self.json_lines:
            values = {c: row.get(c) for c in self.columns}
            line = json.dumps(values, allow_nan=False, default=str) + "\n"
        else:
            line = csv_line("" if row.get(c) is None else row[c] for c in self.columns)
        self.write_line(line)
        self.rows += 1
        self._unsynced += 1
        if self._unsynced >= SYNC_ROWS or time.monotonic() - self._synced_at >= SYNC_S:
            self.sync()

    def write_line(self, line: str) -> None:
        """One whole line, or none: a failed write is cut back to the last whole line."""
        data = line.encode("utf-8")
        try:
            written = 0
            while written < len(data):
                written += os.write(self._fd, data[written:])
        except OSError as err:
            self._cut_back()
            raise self._error(err) from None
        self._size += len(data)

    def sync(self) -> None:
        try:
            os.fsync(self._fd)
        except OSError as err:
            raise self._error(err) from None
        self._unsynced = 0
        self._synced_at = time.monotonic()

    def close(self) -> None:
        """Sync and release the lock; an error on the way is raised after the file is shut."""
        if self._closed:
            return
        try:
            if self._unsynced:
                self.sync()
        finally:
            self._closed = True
            os.close(self._fd)
            if self.parquet is not None and not self._finished:
                self.notice(
                    f"--out {self.parquet}: the run stopped before its end; its rows are "
                    f"in {self.path}. Run it again with --resume to finish {self.parquet}."
                )

    def finish(self) -> None:
        """The run is over (not stopped): for a Parquet output, write the Parquet file from
        the journal, then remove the journal (the lock held until then); then close."""
        self._finished = True
        try:
            if self.parquet is not None and not self._closed:
                self.sync()
                table = check_table(self.path, self.columns)
                if table.problems:
                    raise InputError(f"--out {self.path}: {problems_text(table.problems)}")
                numbers = {*numeric_columns(self.columns), *self.numbers} - TEXT_COLUMNS
                write_parquet(table.rows, self.columns, self.parquet, numbers=numbers,
                              text=TEXT_COLUMNS)  # fmt: skip
                self.path.unlink()
        finally:
            self.close()

    def _cut_back(self) -> None:
        with contextlib.suppress(OSError):  # if not, a resumed sweep cuts the torn tail
            os.ftruncate(self._fd, self._size)

    def _error(self, err: OSError) -> InputError:
        return InputError(
            f"--out {self.path}: cannot write the file ({err.strerror or err}). It keeps "
            f"the rows written before, each whole ({self.rows} from this run); free some "
            "space or fix the file, then run the same sweep with --resume to finish it."
        )


def csv_line(fields: Iterable[Any]) -> str:
    """One CSV record on one line: a line break inside a value becomes a space."""
    buffer = io.StringIO()
    flat = [" ".join(v.splitlines()) if isinstance(v, str) else v for v in fields]
    csv.writer(buffer, lineterminator="\n").writerow(flat)
    return buffer.getvalue()


def open_output(
    path: Path,
    columns: list[str],
    *,
    resume: bool,
    overwrite: bool = False,
    notice: Callable[[str], None] = print,
    numbers: Collection[str] = (),
) -> tuple[RowWriter, set[str]]:
    """Open and lock the output; start it afresh (a header for CSV), or, resuming, check
    it and return the ids of the points already there. `numbers`: more columns that are
    floats in a Parquet output (besides the sweep's metrics and quantities)."""
    if output_format(path) == "parquet":
        journal = journal_path(path)
        if not resume and path.exists() and not overwrite:
            refuse_replacing(path)
        if resume and path.exists() and not journal.exists():
            start_journal(path, journal, columns)
        writer, done = open_output(
            journal, columns, resume=resume, overwrite=overwrite, notice=notice
        )
        writer.parquet, writer.numbers, writer.notice = path, numbers, notice
        return writer, done
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o666)
    except OSError as err:
        raise InputError(f"--out {path}: cannot open the file ({err.strerror}).") from None
    try:
        lock(fd, path)
        size = os.fstat(fd).st_size
        if resume and size > 0:
            done = resumed_ids(fd, path, columns, notice)
            return RowWriter(path, columns, fd, os.fstat(fd).st_size), done
        if size > 0 and not overwrite:
            refuse_replacing(path)
        os.ftruncate(fd, 0)
        writer = RowWriter(path, columns, fd, 0)
        if output_format(path) == "csv":
            writer.write_line(csv_line(columns))
        return writer, set()
    except BaseException:
        os.close(fd)
        raise


def journal_path(path: Path) -> Path:
    """Where the rows of a Parquet output go while its run lasts."""
    return path.with_name(f"{path.name}.partial.csv")


def start_journal(path: Path, journal: Path, columns: list[str]) -> None:
    """Resuming a finished Parquet output: its rows become the journal the run appends to
    (written to a temporary name, then renamed)."""
    header, rows = read_parquet(path, "--resume")
    if header != columns:
        raise InputError(
            f"--resume {path}: the file's columns ({', '.join(header)}) are not this "
            f"sweep's ({', '.join(columns)}); resume with the same --vary keys, or write "
            "to a new --out file."
        )
    partial = journal.with_name(f".{journal.name}.writing")
    text = csv_line(columns) + "".join(
        csv_line("" if row.get(c) is None else row[c] for c in columns) for row in rows
    )
    try:
        partial.write_text(text, encoding="utf-8")
        os.replace(partial, journal)
    except OSError as err:
        raise InputError(f"--resume {path}: cannot write {journal} ({err.strerror}).") from None


def lock(fd: int, path: Path) -> None:
    if fcntl is None:
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        raise InputError(
            f"--out {path}: another sweep is writing this file (it is locked); wait for "
            "it to finish, or write to another --out file."
        ) from None


def refuse_replacing(path: Path) -> None:
    """The one rule for every table topsim appends to (sweeps, latency tables): a file
    that is not empty is never replaced without --overwrite, whether it holds an earlier
    run's rows (hours of work, perhaps) or something else entirely (a chip file, notes)."""
    ours = output_format(path) == "parquet" or sweep_header(path) is not None
    what = "holds an earlier run's rows" if ours else "is not a sweep output"
    raise InputError(
        f"--out {path}: the file exists and {what}; pass --resume to keep its rows "
        "and run the rest, --overwrite to replace it, or choose a new file."
    )


def resumed_ids(fd: int, path: Path, columns: list[str], notice: Callable[[str], None]) -> set[str]:
    if sweep_header(path) is None:  # checked before any torn line is cut: not ours to cut
        raise InputError(
            f"--resume {path}: the file is not a sweep output (its first line is not a "
            "sweep's header); nothing in it was changed. Choose a new --out file, or "
            "--overwrite to replace it."
        )
    torn = cut_torn_line(fd)
    if torn:
        notice(
            f"--resume {path}: dropped a torn last line ({torn} bytes, from a sweep stopped "
            "while writing); its point runs again."
        )
    table = check_table(path, columns)
    if table.problems:
        raise InputError(f"--resume {path}: {problems_text(table.problems)}")
    if table.header is not None and table.header != columns:
        raise InputError(
            f"--resume {path}: the file's columns ({', '.join(table.header)}) are not "
            f"this sweep's ({', '.join(columns)}); resume with the same --vary "
            "keys, or write to a new --out file."
        )
    if table.header is None and output_format(path) == "csv":
        os.write(fd, csv_line(columns).encode("utf-8"))
    return {str(row["id"]) for row in table.rows}


def cut_torn_line(fd: int, chunk: int = 65536) -> int:
    """Cut a last line that has no newline (a write cut short); the bytes removed."""
    size = os.fstat(fd).st_size
    position = size
    keep = 0
    while position > 0:
        start = max(0, position - chunk)
        block = os.pread(fd, position - start, start)
        newline = block.rfind(b"\n")
        if newline >= 0:
            keep = start + newline + 1
            break
        position = start
    if keep < size:
        os.ftruncate(fd, keep)
    return size - keep
