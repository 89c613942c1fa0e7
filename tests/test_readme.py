"""The README's commands, run: it cannot drift from what topsim does.

Every `topsim ...` command in README.md's code blocks (fenced, or indented four spaces)
is one of:
- an example (`$ topsim ...` or `$ python -c ...`, in the order the README gives them):
  run in one scratch folder (README's `/tmp/` paths point into it; `hardware/` is the
  checkout's, as README's paths are relative to it), in a terminal 100
  columns wide as the README says; it must exit 0, and every line the README shows
  under it must be printed, in that order (wall-clock times masked);
- a synopsis (placeholders in capitals, `[optional]` parts, `a|b` choices): every
  `--flag` it names must be one its command accepts;
- a plain command (no `$`, no placeholders): run, it must exit 0.
A code block right after `<!-- readme-test: skip (REASON) -->` is only checked as a
synopsis (its flags), not run: for commands too slow for the test suite.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from sim.cli.main import app

REPO = Path(__file__).resolve().parent.parent
README = REPO / "README.md"
SKIP = re.compile(r"^<!-- readme-test: skip \((.+)\) -->$")
PLACEHOLDER = re.compile(r"\b[A-Z][A-Z0-9_]*\b|[\[\]|]|\.\.\.")
FLAG = re.compile(r"(?<![\w-])--[a-z][\w-]*")
# wall-clock figures differ run to run: "ran 6 in 0.5 s (11 points/s)"
TIMES = [(re.compile(r"in \d+(\.\d+)? s \(\d+(\.\d+)? points/s\)"), "in <time>")]
WIDTH = "100"


@dataclass
class Command:
    line: int  # in README.md
    text: str
    expected: list[str] = field(default_factory=list)  # output lines shown under it
    example: bool = False  # written with a `$ ` prompt
    skip: str | None = None

    @property
    def synopsis(self) -> bool:
        return bool(PLACEHOLDER.search(self.text.replace("--", " ")))

    def __str__(self) -> str:
        return f"README.md:{self.line}"


def blocks(text: str) -> list[tuple[int, list[str], str | None]]:
    """(first line number, lines, skip reason) of each fenced or indented code block."""
    found = []
    lines = text.splitlines()
    previous = ""
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.startswith("```"):
            start = i + 1
            i += 1
            while not lines[i].startswith("```"):
                i += 1
            skip = SKIP.match(previous)
            found.append((start + 1, lines[start:i], skip and skip.group(1)))
        elif line.startswith("    topsim ") and i > 0 and not lines[i - 1].strip():
            found.append((i + 1, [line.strip()], None))
        if line.strip():
            previous = line.strip()
        i += 1
    return found


def commands(text: str) -> list[Command]:
    out: list[Command] = []
    for start, lines, skip in blocks(text):
        prompted = any(line.startswith("$ ") for line in lines)
        current: Command | None = None
        continued = False
        for offset, line in enumerate(lines):
            if prompted:
                if line.startswith("$ "):
                    current = Command(start + offset, line[2:], example=True, skip=skip)
                    out.append(current)
                elif continued and current is not None:
                    current.text += " " + line.strip()
                elif current is not None:
                    current.expected.append(line)
                continued = line.endswith("\\")
                if continued and current is not None:
                    current.text = current.text[:-1].rstrip()
                continue
            if continued and out:
                out[-1].text += " " + line.strip()
            else:
                for n, piece in enumerate(line.split(" | topsim ")):  # two commands
                    piece = piece if n == 0 else "topsim " + piece
                    at = piece.find("topsim ")
                    if at >= 0:
                        text = piece[at:].split("  #")[0].strip()
                        out.append(Command(start + offset, text, skip=skip))
            continued = line.rstrip().endswith("\\")
            if continued and out:
                out[-1].text = out[-1].text.rstrip().removesuffix("\\").rstrip()
    return [c for c in out if c.text.startswith(("topsim ", "python -c"))]


ALL = commands(README.read_text(encoding="utf-8"))
RUN = [c for c in ALL if not c.skip and (c.example or not c.synopsis)]


def click_command(words: list[str]):
    """The click command that `topsim WORDS...` names, and the words that named it."""
    command = typer.main.get_command(app)
    used = []
    for word in words:
        subcommands = getattr(command, "commands", {})
        if word not in subcommands:
            break
        command = subcommands[word]
        used.append(word)
    return command, used


def accepted_flags(command) -> set[str]:
    flags = set()
    for param in command.params:
        flags.update(o for o in [*param.opts, *param.secondary_opts] if o.startswith("--"))
    return flags | {"--help"}


def mask(line: str) -> str:
    for pattern, replacement in TIMES:
        line = pattern.sub(replacement, line)
    return line.rstrip()


def test_the_readme_has_commands_of_each_kind():
    assert len([c for c in ALL if c.example]) >= 10
    assert len([c for c in ALL if c.synopsis]) >= 15
    assert [c for c in ALL if c.skip], "the slow commands are marked, not dropped"


@pytest.mark.parametrize("command", [c for c in ALL if c.text.startswith("topsim ")], ids=str)
def test_every_flag_the_readme_names_exists(command: Command):
    words = shlex.split(command.text.replace("|", " "))[1:]
    target, used = click_command([w for w in words if not w.startswith("-")])
    if not used and words and not words[0].startswith("-"):
        pytest.fail(f"{command}: `topsim {words[0]}` is not a command")
    unknown = set(FLAG.findall(command.text)) - accepted_flags(target)
    if not used:  # the top level: --version, completion
        unknown -= {"--install-completion", "--show-completion"}
    assert not unknown, f"{command}: {' '.join(used)} has no {', '.join(sorted(unknown))}"


@pytest.fixture(scope="module")
def outputs(tmp_path_factory) -> dict[str, tuple[int, str]]:
    """Every runnable command, run once in README order: README line -> (exit code,
    output)."""
    folder = tmp_path_factory.mktemp("readme")
    runner = CliRunner(env={"COLUMNS": WIDTH, "NO_COLOR": "1", "TERM": "dumb"})
    found = {}
    here = Path.cwd()
    try:
        os.chdir(folder)  # default outputs (sweep.csv, lut.csv) land here
        (folder / "hardware").symlink_to(REPO / "hardware")  # paths as in a checkout
        for command in RUN:
            text = command.text.replace("/tmp/", f"{folder}/")
            argv = shlex.split(text)
            if argv[0] == "python":
                done = subprocess.run(
                    [sys.executable, *argv[1:]], capture_output=True, text=True, cwd=folder,
                    timeout=120,
                )  # fmt: skip
                code, printed = done.returncode, done.stdout + done.stderr
            else:
                result = runner.invoke(app, argv[1:], catch_exceptions=False)
                code, printed = result.exit_code, result.output
            found[str(command)] = (code, printed.replace(f"{folder}/", "/tmp/"))
    finally:
        os.chdir(here)
    return found


@pytest.mark.parametrize("command", RUN, ids=str)
def test_readme_command_runs_and_prints_what_the_readme_shows(command: Command, outputs):
    code, printed = outputs[str(command)]
    assert code == 0, f"{command}: `{command.text}` exited {code}:\n{printed}"
    lines = [mask(line) for line in printed.splitlines()]
    at = 0
    for shown in (mask(line) for line in command.expected):
        if not shown.strip():
            continue
        try:
            at = lines.index(shown, at) + 1
        except ValueError:
            pytest.fail(
                f"{command}: `{command.text}` no longer prints (in this order)\n{shown}\n"
                f"it printed:\n{printed}"
            )
