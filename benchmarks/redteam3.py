"""Red-team round three: run every case as a user's shell would and check the contract.

    python benchmarks/redteam3.py [--only WORD] [--limit-s 10] [--limit-mb 1024]

Each case runs `python -m sim.cli ARGS` (or a Python snippet) in a fresh folder holding
its files, with a wall-clock kill at 3x the limit. A case passes when it exits 0 or 2,
prints no traceback, leaves every protected file as it was, and stays under the time
limit (CPU seconds, user + system: the machine is shared, so wall time is printed too)
and the memory limit (peak resident set, ru_maxrss of the child). Prints one line per
failure and a count per category; exits 1 if any case failed.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from redteam3_cases import Case, chip_cases, graph_cases, hf_cases  # noqa: E402
from redteam3_more import api_cases, cli_cases, onnx_cases, system_cases  # noqa: E402

REPO = Path(__file__).resolve().parent.parent


def all_cases() -> list[Case]:
    return [
        *chip_cases(),
        *graph_cases(),
        *hf_cases(),
        *onnx_cases(),
        *system_cases(),
        *cli_cases(),
        *api_cases(),
    ]


def write_files(case: Case, folder: Path) -> None:
    for name, content in case.files.items():
        path = folder / name
        if callable(content):
            content(path)
        elif isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8", errors="surrogatepass")


def digest(path: Path) -> str | None:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else None
    except OSError:
        return None


def run_case(case: Case, limit_s: float) -> dict:
    with tempfile.TemporaryDirectory(prefix="rt3-") as tmp:
        folder = Path(tmp)
        write_files(case, folder)
        before = {name: digest(folder / name) for name in case.protect}
        if case.args[:1] == ["--python"]:
            command = [sys.executable, "-c", case.args[1], case.args[2]]
        else:
            command = [sys.executable, "-m", "sim.cli", *case.args]
        timing = folder.parent / f"{folder.name}.time"
        command = ["/usr/bin/time", "-f", "%U %S %M", "-o", str(timing), *command]
        env = {**os.environ, "PYTHONPATH": str(REPO), "COLUMNS": "120", "NO_COLOR": "1"}
        start = time.perf_counter()
        process = subprocess.Popen(
            command,
            cwd=folder,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        killed = False
        try:
            output, _ = process.communicate(timeout=3 * limit_s)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            output, _ = process.communicate()
            killed = True
        wall = time.perf_counter() - start
        usage = _usage(timing)
        changed = [n for n, d in before.items() if digest(folder / n) != d]
        for sub in folder.iterdir():  # a read-only folder a case made: let cleanup in
            if sub.is_dir():
                sub.chmod(0o700)
    text = output.decode("utf-8", "replace")
    return {
        "rc": process.returncode,
        "killed": killed,
        "wall": wall,
        "cpu": usage[0],
        "rss_mb": usage[1],
        "output": text,
        "changed": changed,
    }


def _usage(timing: Path) -> tuple[float, float]:
    """CPU seconds (user + system) and peak resident MB, as /usr/bin/time wrote them."""
    try:
        fields = timing.read_text().split()[-3:]
        timing.unlink()
        return float(fields[0]) + float(fields[1]), float(fields[2]) / 1024
    except (OSError, ValueError, IndexError):
        return 0.0, 0.0


def problems(result: dict, limit_s: float, limit_mb: float) -> list[str]:
    found = []
    if result["killed"]:
        found.append(f"killed after {result['wall']:.0f} s")
    elif result["rc"] == 1 and "point(s) failed" in result["output"]:
        pass  # a sweep whose points failed, each error in its row: the documented exit 1
    elif result["rc"] not in (0, 2):
        found.append(f"exit {result['rc']}")
    if "Traceback" in result["output"]:
        found.append("traceback")
    if result["changed"]:
        found.append(f"changed {', '.join(result['changed'])}")
    if result["cpu"] > limit_s:
        found.append(f"{result['cpu']:.1f} s CPU")
    if result["rss_mb"] > limit_mb:
        found.append(f"{result['rss_mb']:.0f} MB")
    return found


def run_round(make_cases: Callable[[], Iterable[Case]], description: str) -> None:
    """Parse the command line, run the cases whose name holds --only, print a line per
    failure and a summary per category; exit 1 when any case failed."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--only", default="", help="Run the cases whose name holds WORD.")
    parser.add_argument("--limit-s", type=float, default=10.0)
    parser.add_argument("--limit-mb", type=float, default=1024.0)
    parser.add_argument("--verbose", action="store_true", help="Print every case's last line.")
    options = parser.parse_args()
    cases = [c for c in make_cases() if options.only in c.name]
    failed: Counter[str] = Counter()
    total: Counter[str] = Counter()
    peak_mb = 0.0
    for case in cases:
        total[case.category] += 1
        try:
            result = run_case(case, options.limit_s)
        except Exception as err:  # the case's own files could not be made: the harness's bug
            print(f"SKIP {case.name}: its files could not be written ({err})", flush=True)
            continue
        peak_mb = max(peak_mb, result["rss_mb"])
        found = problems(result, options.limit_s, options.limit_mb)
        last = (result["output"].strip().splitlines() or [""])[-1][:160]
        if found:
            failed[case.category] += 1
            print(f"FAIL {case.name}: {'; '.join(found)} | {last}", flush=True)
        elif options.verbose:
            print(
                f"ok   {case.name} rc={result['rc']} cpu={result['cpu']:.1f}s "
                f"wall={result['wall']:.1f}s | {last}",
                flush=True,
            )
    print(
        f"\n{sum(total.values())} cases, {sum(failed.values())} failed; peak RSS {peak_mb:.0f} MB"
    )
    for category in total:
        print(f"  {category:8} {total[category]:4} cases {failed[category]:4} failed")
    sys.exit(1 if failed else 0)


def main() -> None:
    run_round(all_cases, __doc__.splitlines()[0])


if __name__ == "__main__":
    main()
