"""Sweeps against bad input and hard stops: each case a clear error (exit 2, no
traceback, nothing lost) or a clean recovery. From the red-team issue, one test a case."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from hardware.errors import InputError
from hardware.load import PRESET_DIR
from sim.cli.sweep import sweep as sweep_command
from sim.studies.sweep import build_spec, check_table, parse_values, read_rows, run_sweep, store
from sim.studies.sweep.executors import cpu_count, probe_scheduler, worker_count

REPO_ROOT = Path(__file__).resolve().parents[2]
SMALL = ["memory.dram.bandwidth=5GB/s,10GB/s,20GB/s", "fusion=none,epilogue"]


def small_spec():
    return build_spec("seed-conv", "toy", SMALL)


def invoke(*args: str):
    app = typer.Typer(pretty_exceptions_enable=False)
    app.command()(sweep_command)
    runner = CliRunner(env={"COLUMNS": "200", "NO_COLOR": "1"})
    return runner.invoke(app, list(args), catch_exceptions=True)


def refused(result, *fragments: str) -> None:
    """Exit code 2 with one message naming what was wrong, no traceback."""
    assert result.exit_code == 2, (result.exit_code, result.output, result.exception)
    assert "Traceback" not in result.output
    text = " ".join(result.output.split())
    for fragment in fragments:
        assert fragment in text, text


def toy_sweep(out: Path, *extra: str):
    return invoke("seed-conv", "--chip", "toy", *sum((["--vary", v] for v in SMALL), []),
                  "--out", str(out), "--jobs", "1", *extra)  # fmt: skip


# ranges -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text", ["1B/s..1TB/s+1e-300B/s", "1..2*1.0000000000000002", "1..1e308+1e-308"]
)
def test_a_range_of_too_many_values_is_refused_without_overflow(text: str) -> None:
    with pytest.raises(InputError, match="at most 10,000 per key"):
        parse_values("memory.dram.bandwidth", text)


def test_the_command_refuses_a_tiny_step_with_exit_2(tmp_path: Path) -> None:
    result = invoke(
        "seed-conv", "--chip", "toy", "--vary", "memory.dram.bandwidth=1B/s..1TB/s+1e-300B/s",
        "--out", str(tmp_path / "s.csv"),
    )  # fmt: skip
    refused(result, "--vary memory.dram.bandwidth", "at most 10,000")
    assert not (tmp_path / "s.csv").exists()


# output and plot paths --------------------------------------------------------------------


def test_a_plot_type_matplotlib_cannot_write_is_refused_before_the_sweep(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    result = toy_sweep(tmp_path / "s.csv", "--plot", str(tmp_path / "p.txt"))
    refused(result, "--plot", ".txt", ".png")
    assert not (tmp_path / "s.csv").exists()


def test_a_plot_in_a_missing_folder_is_refused_before_the_sweep(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    result = toy_sweep(tmp_path / "s.csv", "--plot", str(tmp_path / "no" / "p.png"))
    refused(result, "--plot", "does not exist")
    assert not (tmp_path / "s.csv").exists()


def test_out_equal_to_the_chip_file_is_refused_and_the_chip_kept(tmp_path: Path) -> None:
    chip = tmp_path / "chip.csv"  # a chip file with an output's suffix: read, never written
    chip.write_text((PRESET_DIR / "toy.yaml").read_text(encoding="utf-8"), encoding="utf-8")
    before = chip.read_bytes()
    result = invoke(
        "seed-conv", "--chip", str(tmp_path / "chip.csv"), "--vary", "fusion=none,epilogue",
        "--out", str(chip),
    )  # fmt: skip
    assert chip.read_bytes() == before
    assert result.exit_code == 2


def test_out_equal_to_the_graph_file_is_refused_and_the_graph_kept(tmp_path: Path) -> None:
    graph = tmp_path / "graph.json"
    graph.write_bytes((REPO_ROOT / "tests/corpus/good/tiny-graph.json").read_bytes())
    before = graph.read_bytes()
    result = invoke(
        str(graph), "--chip", "toy", "--vary", "fusion=none,epilogue", "--out", str(graph)
    )
    refused(result, "--out", "is an input of this sweep")
    assert graph.read_bytes() == before


def test_out_and_plot_may_not_be_one_file(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="one file"):
        run_sweep_paths(tmp_path / "s.csv", tmp_path / "s.csv")


def run_sweep_paths(out: Path, plot: Path) -> None:
    from sim.studies.sweep import check_outputs

    check_outputs(out, others=[("--plot", plot)])


def test_an_existing_file_that_is_no_sweep_output_is_kept_unless_overwrite(
    tmp_path: Path,
) -> None:
    out = tmp_path / "notes.csv"
    out.write_text("name,score\nada,3\n", encoding="utf-8")
    refused(toy_sweep(out), "--out", "not a sweep output", "--overwrite")
    assert out.read_text(encoding="utf-8") == "name,score\nada,3\n"
    assert toy_sweep(out, "--overwrite").exit_code == 0
    assert len(read_rows(out)) == 6


# a full disk ------------------------------------------------------------------------------


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="RLIMIT_FSIZE, Linux")
def test_a_full_disk_stops_with_exit_2_and_no_torn_row(tmp_path: Path) -> None:
    """The child may write 700 bytes: the header and a few rows fit, then a row is cut
    short by the limit (EFBIG, as ENOSPC would): the file must end on a whole row."""
    out = tmp_path / "full.csv"
    script = (
        "import resource, signal, sys\n"
        "signal.signal(signal.SIGXFSZ, signal.SIG_IGN)\n"
        "resource.setrlimit(resource.RLIMIT_FSIZE, (700, 700))\n"
        "from sim.cli.main import app\n"
        "sys.argv = ['topsim', 'sweep', 'seed-conv', '--chip', 'toy', '--vary',\n"
        "    'memory.dram.bandwidth=1GB/s..40GB/s+1GB/s', '--jobs', '1', '--out', sys.argv[1]]\n"
        "app()\n"
    )
    child = subprocess.run(
        [sys.executable, "-c", script, str(out)],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert child.returncode == 2, child.stderr
    assert "Traceback" not in child.stderr
    assert "--out" in child.stderr and "--resume" in child.stderr
    data = out.read_bytes()
    assert data.endswith(b"\n") and 0 < len(data) <= 700
    table = check_table(out)
    assert not table.problems and len(table.rows) >= 1


# resuming a damaged file ------------------------------------------------------------------


def finished(tmp_path: Path, name: str = "sweep.csv") -> Path:
    out = tmp_path / name
    run_sweep(small_spec(), out, jobs=1)
    return out


@pytest.mark.parametrize(
    ("damage", "why"),
    [
        (lambda line: line[:13] + b"x" * 200_000 + line[13:], "longer than 65,536 bytes"),
        (lambda line: line[:13] + b"\xff\xfe" + line[13:], "not UTF-8"),
        (lambda line: line.replace(b",", b',"', 1), "not a CSV row"),
        (lambda line: line + b",extra", "fields, the header has"),
    ],
)
def test_resume_reports_a_bad_row_by_line_number_and_keeps_the_file(
    tmp_path: Path, damage, why: str
) -> None:
    out = finished(tmp_path)
    lines = out.read_bytes().split(b"\n")
    lines[3] = damage(lines[3])
    out.write_bytes(b"\n".join(lines))
    before = out.read_bytes()
    result = invoke(
        "seed-conv", "--chip", "toy", *sum((["--vary", v] for v in SMALL), []),
        "--out", str(out), "--resume",
    )  # fmt: skip
    refused(result, f"--resume {out}", "line 4:", why)
    assert out.read_bytes() == before


def test_text_in_a_metric_column_is_reported_by_line(tmp_path: Path) -> None:
    out = finished(tmp_path)
    rows = out.read_text(encoding="utf-8").splitlines()
    header = rows[0].split(",")
    fields = rows[2].split(",")
    fields[header.index("latency_s")] = "fast"
    rows[2] = ",".join(fields)
    out.write_text("\n".join(rows) + "\n", encoding="utf-8")
    with pytest.raises(InputError, match="line 3: latency_s is 'fast', not a number"):
        run_sweep(small_spec(), out, jobs=1, resume=True)


def test_a_stray_quote_spoils_only_its_own_line(tmp_path: Path) -> None:
    out = finished(tmp_path)
    rows = out.read_text(encoding="utf-8").splitlines()
    rows[2] = rows[2].replace(",", ',"', 1)
    out.write_text("\n".join(rows) + "\n", encoding="utf-8")
    table = check_table(out)
    assert [p.line for p in table.problems] == [3]
    assert len(table.rows) == 5  # every later row is still read


def test_a_torn_last_line_is_dropped_with_a_notice(tmp_path: Path) -> None:
    spec = small_spec()
    out = tmp_path / "sweep.jsonl"
    run_sweep(spec, out, jobs=1, limit=4)
    with open(out, "a", encoding="utf-8") as handle:
        handle.write('{"id": "0123456789ab", "laten')
    notices: list[str] = []
    run = run_sweep(spec, out, jobs=1, resume=True, notice=notices.append)
    assert run.ran == 2 and len(read_rows(out)) == 6
    assert len(notices) == 1 and "torn last line" in notices[0]


# workers ----------------------------------------------------------------------------------


def test_jobs_are_capped_at_the_cpus_and_the_points() -> None:
    notices: list[str] = []
    assert worker_count(1000, 10_000, notice=notices.append) == cpu_count()
    assert "--jobs 1000" in notices[0] and "--force-jobs" in notices[0]
    assert worker_count(1000, 3, force=True) == 3
    assert worker_count(None, 1) == 1
    with pytest.raises(InputError, match="--jobs 0"):
        worker_count(0, 5)


def children(pid: int) -> set[int]:
    """Processes whose parent is `pid` (read from /proc)."""
    found = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.add(int(entry.name))
    return found


def alive(pid: int) -> bool:
    """Running, not a zombie waiting to be reaped."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def poll(condition, bound_s: float = 60.0) -> bool:
    """Whether `condition()` came true within a generous bound (not a timing check)."""
    end = time.monotonic() + bound_s
    while not condition():
        if time.monotonic() > end:
            return False
        time.sleep(0.05)
    return True


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads /proc")
@pytest.mark.parametrize("how", [signal.SIGKILL, signal.SIGTERM])
def test_workers_die_with_their_parent(tmp_path: Path, how: signal.Signals) -> None:
    out = tmp_path / "killed.csv"
    script = (
        "import sys\n"
        "from sim.studies.sweep import build_spec, run_sweep\n"
        "spec = build_spec('resnet50', 'toy', ['memory.dram.bandwidth=1GB/s..2000GB/s+1GB/s'])\n"
        "run_sweep(spec, sys.argv[1], jobs=2, force_jobs=True)\n"
    )
    parent = subprocess.Popen([sys.executable, "-c", script, str(out)], cwd=REPO_ROOT)
    try:
        assert poll(lambda: out.is_file() and out.read_bytes().count(b"\n") >= 3)
        workers = children(parent.pid)
        assert len(workers) == 2
        parent.send_signal(how)
        code = parent.wait(timeout=120)
        assert poll(lambda: not any(alive(pid) for pid in workers))
    finally:
        parent.kill()
        parent.wait()
    if how == signal.SIGTERM:
        assert code == 128 + signal.SIGTERM
    assert out.read_bytes().endswith(b"\n")
    assert not check_table(out).problems


def test_a_second_run_on_a_locked_file_fails_at_once_naming_it(tmp_path: Path) -> None:
    spec = small_spec()
    out = tmp_path / "sweep.csv"
    run_sweep(spec, out, jobs=1, limit=2)
    writer, _ = store.open_output(out, spec.columns, resume=True)
    try:
        with pytest.raises(InputError, match=f"--out {out}: another sweep is writing"):
            run_sweep(spec, out, jobs=1, resume=True)
    finally:
        writer.close()
    assert run_sweep(spec, out, jobs=1, resume=True).ran == 4
    ids = [r["id"] for r in read_rows(out)]
    assert len(ids) == len(set(ids)) == 6


def test_rows_are_synced_in_batches(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    syncs: list[int] = []
    real = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: (syncs.append(fd), real(fd)))
    spec = build_spec("seed-conv", "toy", ["memory.dram.bandwidth=1GB/s..200GB/s+1GB/s"])
    started = time.monotonic()
    run_sweep(spec, tmp_path / "sweep.csv", jobs=1)
    wall = time.monotonic() - started
    assert len(read_rows(tmp_path / "sweep.csv")) == 200
    assert len(syncs) <= 200 / store.SYNC_ROWS + wall / store.SYNC_S + 2


# dask -------------------------------------------------------------------------------------


def serve_once(reply: bytes) -> tuple[str, threading.Thread]:
    """A TCP server on localhost that answers one connection with `reply` (or is silent)."""
    server = socket.create_server(("127.0.0.1", 0))
    port = server.getsockname()[1]

    def answer() -> None:
        with server:
            conn, _ = server.accept()
            with conn:
                if reply:
                    conn.sendall(reply)
                with contextlib.suppress(OSError):
                    conn.recv(1)  # until the client hangs up

    thread = threading.Thread(target=answer, daemon=True)
    thread.start()
    return f"tcp://127.0.0.1:{port}", thread


@pytest.mark.parametrize("reply", [b"SSH-2.0-OpenSSH_9.6\r\n", b""])
def test_a_scheduler_that_is_not_dask_is_refused(reply: bytes) -> None:
    address, thread = serve_once(reply)
    with pytest.raises(InputError, match=f"--scheduler {address}: not a dask scheduler"):
        probe_scheduler(address, timeout_s=0.5 if not reply else 30)
    thread.join(timeout=30)


def test_a_scheduler_nobody_listens_on_is_refused() -> None:
    with socket.create_server(("127.0.0.1", 0)) as server:
        port = server.getsockname()[1]
    with pytest.raises(InputError, match="cannot connect"):
        probe_scheduler(f"127.0.0.1:{port}", timeout_s=30)


def test_a_scheduler_without_the_dask_executor_is_refused(tmp_path: Path) -> None:
    refused(toy_sweep(tmp_path / "s.csv", "--scheduler", "tcp://127.0.0.1:1"), "--executor dask")


def test_dask_on_a_local_cluster_writes_what_local_processes_write(tmp_path: Path) -> None:
    distributed = pytest.importorskip("distributed")
    spec = small_spec()
    local_out, dask_out = tmp_path / "local.csv", tmp_path / "dask.csv"
    run_sweep(spec, local_out, jobs=2, force_jobs=True)
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=False, dashboard_address=None
    ) as cluster:
        run = run_sweep(spec, dask_out, executor="dask", scheduler=cluster.scheduler_address)
    assert run.ran == 6
    key = lambda rows: {r["id"]: r for r in rows}  # noqa: E731
    assert key(read_rows(dask_out)) == key(read_rows(local_out))
