"""The bad-input corpus: every file in tests/corpus/bad/ is rejected cleanly by the CLI.

Each case is a file that `topsim validate` must reject, or a `.args` file holding a whole
command line (for mistakes that are not files). The word its message must contain is on the
case's first line, `# expect: WORD`, or, for binary files that cannot carry such a line, in
a sidecar `NAME.expect`. "Rejected cleanly" means: exit code 2, no traceback, within 5 s,
and one paragraph on stderr: our own `error: ...` line, or click's usage block for an option
it parses itself. Inputs too large to commit (a 100 MB file, a 2 GiB ONNX file) are made
in tmp_path. Every file in tests/corpus/good/ must validate.

Decisions the corpus pins down (see DESIGN.md, Errors):
- sizes and bandwidths of 1e21 (bytes, B/s) or more, clocks of 1 THz or more, counts above
  2^40 and rates above 1e12 MACs/cycle are not physically possible and are rejected;
- YAML alias bombs, self-referring aliases, nesting deeper than 100 levels and duplicate
  keys are refused before anything is built; a few anchors and aliases are fine;
- a UTF-8 byte-order mark is accepted; other encodings (UTF-16) and binary files are not;
- a declared tensor that nothing produces is an error; unused graph inputs, unused consts
  and graphs of several disconnected parts are legal.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from hardware.files import MAX_INPUT_BYTES
from sim.cli.main import app

REPO = Path(__file__).resolve().parent.parent.parent
CORPUS = REPO / "tests" / "corpus"
BAD_CASES = sorted(
    p for p in (CORPUS / "bad").iterdir() if p.is_file() and not p.name.endswith(".expect")
)
GOOD_CASES = sorted(p for p in (CORPUS / "good").iterdir() if p.is_file())
HAS_ONNX = importlib.util.find_spec("onnx") is not None
CASE_SECONDS = 5.0

# Cases that still fail, with the bug they show: (reason, whether to run them at all). They
# stay in the corpus so that the fix only has to delete the entry here.
KNOWN_BUGS: dict[str, tuple[str, bool]] = {}


def expected_word(case: Path) -> str:
    sidecar = case.with_name(case.name + ".expect")
    source = sidecar if sidecar.is_file() else case
    first = source.read_bytes().split(b"\n", 1)[0].decode("utf-8", errors="replace")
    assert first.startswith("# expect: "), (
        f"{case.name} must start with '# expect: WORD' (binary files: a {case.name}.expect file)"
    )
    return first.removeprefix("# expect: ").strip()


def case_args(case: Path) -> list[str]:
    """`.args` files hold a command line (after the first line); other files are validated."""
    if case.suffix == ".args":
        lines = case.read_text(encoding="utf-8").splitlines()[1:]
        return " ".join(lines).split()
    return ["validate", str(case.relative_to(REPO))]


def case_param(case: Path):
    bug = KNOWN_BUGS.get(case.name)
    if bug is None or (case.suffix == ".onnx" and not HAS_ONNX):
        return pytest.param(case, id=case.name)
    reason, run = bug
    return pytest.param(case, id=case.name, marks=pytest.mark.xfail(reason=reason, run=run))


def topsim(*args: str):
    """In-process, as a user's terminal would run it: wide, no colour."""
    runner = CliRunner(env={"COLUMNS": "200", "NO_COLOR": "1"})
    return runner.invoke(app, list(args), catch_exceptions=True)


def assert_rejected(code: int, stdout: str, stderr: str, word: str, names: str = "") -> None:
    """Exit 2, nothing on stdout, one paragraph on stderr naming the problem, no traceback."""
    assert "Traceback" not in stdout + stderr
    assert code == 2, f"exit code {code}; stderr: {stderr!r}"
    assert stdout == "", f"stdout should be empty: {stdout!r}"
    message = stderr.strip()
    assert message, "no message on stderr"
    lines = message.splitlines()
    if message.startswith("error: "):
        assert len(lines) == 1, f"our errors are one line: {message!r}"
    else:  # click parses this option itself (in-process; `topsim` makes it one line)
        assert message.startswith("Usage: topsim"), f"neither ours nor click's: {message!r}"
        assert "Error" in message
    assert word in message, f"{word!r} not in {message!r}"
    if names:
        assert names in message, f"the message should name {names!r}: {message!r}"


def test_the_corpus_is_big_enough() -> None:
    assert len(BAD_CASES) >= 60
    for case in BAD_CASES:
        expected_word(case)
    sidecars = {p.name for p in (CORPUS / "bad").glob("*.expect")}
    assert {s.removesuffix(".expect") for s in sidecars} <= {p.name for p in BAD_CASES}
    assert set(KNOWN_BUGS) <= {p.name for p in BAD_CASES}


@pytest.mark.filterwarnings("ignore::UserWarning")  # import notes of the bad ONNX cases
@pytest.mark.parametrize("case", [case_param(c) for c in BAD_CASES])
def test_bad_input_is_rejected_cleanly(case: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(REPO)  # .args files name paths relative to the repository
    word = expected_word(case)
    if case.suffix == ".onnx" and not HAS_ONNX:
        word = "'onnx' extra"
    start = time.perf_counter()
    result = topsim(*case_args(case))
    elapsed = time.perf_counter() - start
    assert isinstance(result.exception, SystemExit), repr(result.exception)
    names = "" if case.suffix == ".args" else str(case.relative_to(REPO))
    assert_rejected(result.exit_code, result.stdout, result.stderr, word, names)
    assert elapsed < CASE_SECONDS, f"took {elapsed:.1f} s"


@pytest.mark.parametrize("case", GOOD_CASES, ids=[p.name for p in GOOD_CASES])
def test_good_input_validates(case: Path) -> None:
    result = topsim("validate", str(case))
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("OK ")


def test_a_100_mb_file_is_refused_by_size_quickly(tmp_path: Path) -> None:
    big = tmp_path / "huge-chip.yaml"
    line = b"# padding padding padding padding padding padding padding padding padding\n"
    with big.open("wb") as f:
        f.write(b"name: huge\n")
        f.write(line * (100 * 2**20 // len(line) + 1))
    assert big.stat().st_size > 100 * 2**20
    for args in (["validate", str(big)], ["run", "seed-conv", "--chip", str(big)]):
        start = time.perf_counter()
        result = topsim(*args)
        assert time.perf_counter() - start < CASE_SECONDS
        word = f"limited to {MAX_INPUT_BYTES // 2**20} MiB"
        assert_rejected(result.exit_code, result.stdout, result.stderr, word, str(big))


def test_a_graph_file_over_the_limit_is_refused(tmp_path: Path) -> None:
    big = tmp_path / "huge-graph.json"
    with big.open("wb") as f:
        f.truncate(MAX_INPUT_BYTES + 1)  # sparse: nothing is written, the size is what counts
    result = topsim("run", str(big), "--chip", "toy")
    word = f"limited to {MAX_INPUT_BYTES // 2**20} MiB"
    assert_rejected(result.exit_code, result.stdout, result.stderr, word, str(big))


@pytest.mark.skipif(not HAS_ONNX, reason="the onnx extra is not installed")
def test_an_onnx_file_over_2_gib_is_refused_unread(tmp_path: Path) -> None:
    big = tmp_path / "huge.onnx"
    with big.open("wb") as f:
        f.truncate(2**31 + 1)  # sparse
    start = time.perf_counter()
    result = topsim("validate", str(big))
    assert time.perf_counter() - start < CASE_SECONDS
    assert_rejected(result.exit_code, result.stdout, result.stderr, "at most 2 GiB", str(big))


def test_onnx_without_the_extra_is_a_clean_message(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "onnx", None)  # `import onnx` now fails
    case = CORPUS / "bad" / "onnx-truncated.onnx"
    for args in (["validate", str(case)], ["run", str(case), "--chip", "toy"]):
        result = topsim(*args)
        assert_rejected(result.exit_code, result.stdout, result.stderr, "'onnx' extra")


# the real entry point, in parallel subprocesses: one case of each kind
SUBPROCESS_CASES = [
    "yaml-billion-laughs.yaml",
    "yaml-deep-brackets.yaml",
    "python-object-tag.yaml",
    "chip-absurd-capacity.yaml",
    "graph-groups-list.yaml",
    "onnx-truncated.onnx",
    "cli-input-compression-below-one.args",
    "cli-set-typo.args",
]


def test_python_dash_m_rejects_a_case_of_each_kind() -> None:
    env = {**os.environ, "COLUMNS": "200", "NO_COLOR": "1"}
    started = {}
    for name in SUBPROCESS_CASES:
        case = CORPUS / "bad" / name
        command = [sys.executable, "-m", "sim.cli", *case_args(case)]
        started[name] = (
            subprocess.Popen(
                command, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
            ),
            time.perf_counter(),
        )
    for name, (process, start) in started.items():
        case = CORPUS / "bad" / name
        try:
            out, err = process.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.communicate()
            pytest.fail(f"{name}: still running after 60 s")
        elapsed = time.perf_counter() - start
        word = expected_word(case)
        if case.suffix == ".onnx" and not HAS_ONNX:
            word = "'onnx' extra"
        names = "" if case.suffix == ".args" else str(case.relative_to(REPO))
        assert_rejected(process.returncode, out.decode(), err.decode(), word, names)
        # a fresh interpreter importing topsim, run alongside the others on few cores
        assert elapsed < 4 * CASE_SECONDS, f"{name}: {elapsed:.1f} s"
