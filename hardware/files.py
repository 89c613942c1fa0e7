"""Reading user files: a size limit, UTF-8 only, and YAML parsed by a guarded safe loader.

Every file topsim reads (chips, graphs, sweeps) goes through `read_text` and
`load_yaml_mapping`, so a missing file, a binary file, an alias bomb or a duplicated key
becomes one `InputError` paragraph instead of a traceback, a hang or a silent overwrite.
"""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path

import yaml

from hardware.errors import InputError

# a chip, system, sweep or graph file (a graph file of MAX_FILE_OPS ops is 1-3 MiB): a
# bigger one would take seconds and hundreds of MB only to parse
MAX_INPUT_BYTES = 16 * 2**20


def user_path(path: object, what: str) -> Path:
    """A path a user gave (a str or os.PathLike), else InputError naming what was wanted."""
    if isinstance(path, str | os.PathLike) and not isinstance(path, bytes):
        text = os.fspath(path)
        if isinstance(text, str) and text and "\0" not in text and _encodable(text):
            return Path(text)
    raise InputError(f"{what}: expected a file path (a str or Path), got {_shown(path)}.")


def _encodable(text: str) -> bool:
    """Whether the file system can hold this name (a lone surrogate it cannot)."""
    try:
        os.fsencode(text)
    except UnicodeEncodeError:
        return False
    return True


def _shown(value: object) -> str:
    text = repr(value)
    return f"{type(value).__name__} {text if len(text) <= 60 else text[:57] + '...'}"


def path_kind(path: Path) -> str | None:
    """'file', 'dir', 'other' or None (missing, or a name the file system cannot hold)."""
    try:
        if path.is_file():
            return "file"
        if path.is_dir():
            return "dir"
        return "other" if path.exists() else None
    except (OSError, ValueError):
        return None


def read_text(path: str | os.PathLike, what: str) -> str:
    """Read a user file with a size limit; missing or unreadable files become InputError."""
    p = user_path(path, f"{what} file")
    kind = path_kind(p)
    if kind == "dir":
        raise InputError(f"{p}: is a directory, not a {what} file.")
    if kind == "other":
        raise InputError(
            f"{p}: is not a regular file (a pipe, socket or device), not a {what} file."
        )
    if kind != "file":
        raise InputError(f"{p}: no such {what} file.")
    try:
        size = p.stat().st_size
    except OSError as exc:
        raise InputError(f"{p}: cannot be read ({exc.strerror}).") from None
    if size > MAX_INPUT_BYTES:
        raise InputError(
            f"{p}: the file is {size / 2**20:.0f} MiB; {what} files are limited "
            f"to {MAX_INPUT_BYTES // 2**20} MiB."
        )
    try:
        return p.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(
            f"{p}: cannot be read as UTF-8 text (byte {exc.start} is invalid); {what} files "
            "are YAML or JSON saved as UTF-8, not binary files or other encodings."
        ) from None
    except OSError as exc:
        raise InputError(
            f"{p}: cannot be read ({exc.strerror or exc.__class__.__name__})."
        ) from None


MAX_YAML_DEPTH = 100  # nesting levels; topsim files need fewer than 10
MAX_ALIAS_EXPANSION = 1_000_000  # values that aliases (*name) may add to a document


class YamlRefused(yaml.YAMLError):
    """A document the loader refuses before building it: a bomb, or a silent overwrite."""


# values in one YAML document: a graph of 10k ops has about 170k; the YAML composer takes
# ~15 us a value, so this bounds a parse to seconds (JSON, parsed in C, is bound by size)
MAX_YAML_NODES = 250_000
MAX_INT_DIGITS = 40  # digits of an integer; 2^128 has 39, no topsim number needs more

# libyaml's scanner and parser when present (a 200k-op graph parses in seconds instead of
# minutes); the composer above them stays in Python so that the guards below see each node
try:
    from yaml.cyaml import CParser as _Parser
except ImportError:  # PyYAML built without libyaml

    class _Parser(yaml.reader.Reader, yaml.scanner.Scanner, yaml.parser.Parser):  # type: ignore[no-redef]
        def __init__(self, stream: str) -> None:
            yaml.reader.Reader.__init__(self, stream)
            yaml.scanner.Scanner.__init__(self)
            yaml.parser.Parser.__init__(self)


class _Resolver(yaml.resolver.Resolver):
    """YAML 1.1's implicit types without timestamps: `2024-13-45` or `2024-01-01` as a
    name stays the string it looks like (topsim has no dates)."""


_Resolver.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.resolver.Resolver.yaml_implicit_resolvers.items()
}


class _Constructor(yaml.constructor.SafeConstructor):
    """Safe tags only; an integer longer than MAX_INT_DIGITS digits is refused before
    Python converts it (past 4300 digits that conversion raises, below it wastes time)."""

    def construct_yaml_int(self, node):  # type: ignore[no-untyped-def]
        digits = sum(ch.isdigit() for ch in str(node.value))
        if digits > MAX_INT_DIGITS:
            raise YamlRefused(
                f"the integer at line {node.start_mark.line + 1} has {digits} digits; "
                f"numbers are limited to {MAX_INT_DIGITS} digits (write 1e30, not 1000...0)"
            )
        return super().construct_yaml_int(node)


_Constructor.add_constructor("tag:yaml.org,2002:int", _Constructor.construct_yaml_int)


class _GuardedLoader(yaml.composer.Composer, _Parser, _Constructor, _Resolver):  # type: ignore[misc,valid-type]
    """A safe loader (no tags that construct objects) that also refuses, before any
    Python object is built: nesting deeper than MAX_YAML_DEPTH, more than MAX_YAML_NODES
    values, aliases that expand the document by more than MAX_ALIAS_EXPANSION values
    ("billion laughs") or refer to themselves, and a key given twice in one mapping
    (YAML keeps the last silently)."""

    def __init__(self, stream: str) -> None:
        _Parser.__init__(self, stream)
        yaml.composer.Composer.__init__(self)
        _Constructor.__init__(self)
        _Resolver.__init__(self)
        self._depth = 0
        self._nodes = 0
        self._aliases = 0

    def compose_node(self, parent, index):  # type: ignore[no-untyped-def]
        if self.check_event(yaml.AliasEvent):
            self._aliases += 1
            return super().compose_node(parent, index)
        self._nodes += 1
        if self._nodes > MAX_YAML_NODES:
            raise YamlRefused(
                f"the document has more than {MAX_YAML_NODES:,} values, more than YAML is "
                "read in seconds; save a graph that large as JSON"
            )
        self._depth += 1
        try:
            if self._depth > MAX_YAML_DEPTH:
                line = self.peek_event().start_mark.line + 1
                raise YamlRefused(
                    f"nesting is deeper than {MAX_YAML_DEPTH} levels at line {line}; "
                    "no topsim file needs that"
                )
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def compose_mapping_node(self, anchor):  # type: ignore[no-untyped-def]
        node = super().compose_mapping_node(anchor)
        seen: set[tuple[str, str]] = set()
        for key, _ in node.value:
            if not isinstance(key, yaml.ScalarNode) or key.tag == "tag:yaml.org,2002:merge":
                continue
            if (key.tag, key.value) in seen:
                raise YamlRefused(
                    f"duplicate key {key.value!r} at line {key.start_mark.line + 1}: "
                    "each key may appear once in a mapping"
                )
            seen.add((key.tag, key.value))
        return node

    def get_single_data(self):  # type: ignore[no-untyped-def]
        node = self.get_single_node()
        if node is None:
            return None
        if self._aliases:
            _check_expansion(node, self._nodes + MAX_ALIAS_EXPANSION)
        return self.construct_document(node)


def _check_expansion(root: yaml.Node, limit: int) -> None:
    """Count the values the document has with every alias expanded, without expanding it."""
    memo: dict[int, tuple[int, int]] = {}  # id(node) -> (expanded values, expanded depth)
    active: set[int] = set()

    def measure(node: yaml.Node, depth: int) -> tuple[int, int]:
        key = id(node)
        if key in memo:
            size, below = memo[key]
            if depth + below > MAX_YAML_DEPTH:
                raise YamlRefused(f"aliases nest the document deeper than {MAX_YAML_DEPTH} levels")
            return memo[key]
        if key in active:
            line = node.start_mark.line + 1
            raise YamlRefused(f"the YAML alias to the anchor at line {line} refers to itself")
        if depth > MAX_YAML_DEPTH:
            raise YamlRefused(f"aliases nest the document deeper than {MAX_YAML_DEPTH} levels")
        active.add(key)
        children: list[yaml.Node] = []
        if isinstance(node, yaml.MappingNode):
            children = [part for pair in node.value for part in pair]
        elif isinstance(node, yaml.SequenceNode):
            children = list(node.value)
        total, deepest = 1, 0
        for child in children:
            size, below = measure(child, depth + 1)
            total += size
            deepest = max(deepest, below + 1)
            if total > limit:
                raise YamlRefused(
                    f"its YAML aliases (*name) would add more than {MAX_ALIAS_EXPANSION:,} "
                    "values when expanded (an alias bomb?); write the values out instead"
                )
        active.discard(key)
        memo[key] = (total, deepest)
        return total, deepest

    measure(root, 0)


def _json_int(text: str) -> int:
    if len(text.lstrip("-")) > MAX_INT_DIGITS:
        raise YamlRefused(
            f"an integer has {len(text.lstrip('-'))} digits; numbers are limited to "
            f"{MAX_INT_DIGITS} digits (write 1e30, not 1000...0)"
        )
    return int(text)


def _json_object(pairs: list[tuple[str, object]]) -> dict:
    data = dict(pairs)
    if len(data) != len(pairs):
        seen: set[str] = set()
        twice = next(key for key, _ in pairs if key in seen or seen.add(key))
        raise YamlRefused(f"duplicate key {twice!r}: each key may appear once in a mapping")
    return data


def _depth(data: object) -> int:
    """Nesting levels of parsed JSON, walked without recursion."""
    deepest, stack = 1, [(data, 1)]
    while stack:  # only containers are pushed: a scalar adds its level where it is found
        value, depth = stack.pop()
        if not isinstance(value, dict | list) or not value:
            continue
        children = value.values() if isinstance(value, dict) else value
        deepest = max(deepest, depth + 1)
        stack.extend((c, depth + 1) for c in children if isinstance(c, dict | list))
    return deepest


def _fast_json(text: str) -> tuple[bool, object]:
    """JSON through the C `json` parser (a 200k-op graph in a second, where YAML's composer
    takes a minute), with the same guards; (False, None) sends anything it cannot read
    to the YAML loader, whose messages say where the problem is."""
    if not text.lstrip("\ufeff \t\r\n").startswith(("{", "[")):
        return False, None
    try:
        data = json.loads(
            text.lstrip("\ufeff"), object_pairs_hook=_json_object, parse_int=_json_int
        )
    except (ValueError, RecursionError):
        return False, None
    if _depth(data) > MAX_YAML_DEPTH:
        return False, None
    return True, data


def safe_yaml(text: str):  # type: ignore[no-untyped-def]
    """Parse YAML (or JSON) with `_GuardedLoader`: safe tags only, no bombs, no duplicates."""
    is_json, data = _fast_json(text)
    if is_json:
        return data
    loader = _GuardedLoader(text)
    try:
        return loader.get_single_data()
    finally:
        loader.dispose()


def load_yaml_mapping(text: str, source: str) -> dict:
    """Safe YAML (JSON is YAML too): no tags that construct objects, a mapping at the top."""
    try:
        data = safe_yaml(text)
    except YamlRefused as exc:
        raise InputError(f"{source}: refused: {exc}.") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        context = getattr(exc, "context", None)
        if context and context.startswith("expected"):  # "expected a single document ..."
            problem = f"{context}, {problem}"
        raise InputError(f"{source}: not valid YAML/JSON{where}: {problem}.") from None
    except RecursionError:
        raise InputError(f"{source}: nesting is too deep to be a topsim file.") from None
    if not isinstance(data, dict):
        kind = type(data).__name__ if data is not None else "empty"
        raise InputError(f"{source}: expected a mapping of keys at the top level, got {kind}.")
    return data


def same_file(a: Path, b: Path) -> bool:
    """Whether two paths name one file (through links and `..`); False when either is missing."""
    try:
        return a.resolve() == b.resolve() or (a.exists() and b.exists() and a.samefile(b))
    except (OSError, ValueError, RuntimeError):
        return False


def write_output(path: str | os.PathLike, text: str, flag: str) -> None:
    """Write an output file whole or not at all: into a temporary file beside it, then
    renamed over it. A full disk or a crash leaves the old file as it was, and a name that
    is a hard or symbolic link to another file gets a file of its own (the other file is
    never written through the link)."""
    target = Path(path)
    temporary = target.with_name(f".{target.name[:200]}.{os.getpid()}.tmp")
    try:
        with open(temporary, "w", encoding="utf-8", newline="") as handle:
            handle.write(text)
        os.replace(temporary, target)
    except OSError as err:
        with contextlib.suppress(OSError):
            temporary.unlink()
        raise InputError(f"{flag} {target}: cannot write the file ({err.strerror}).") from None


def check_output(path: object, flag: str, inputs: tuple[object, ...] = ()) -> Path:
    """An output path checked before any work starts: its folder exists and is writable, it
    is not a folder, and it is none of `inputs` (so a run never overwrites what it reads).
    Each problem is an InputError naming `flag`."""
    p = user_path(path, flag)
    if any(len(part.encode("utf-8", "surrogateescape")) > 255 for part in p.parts):
        raise InputError(f"{flag} {str(p)[:60]!r}...: a file name is at most 255 bytes.")
    kind = path_kind(p)
    if kind == "dir":
        raise InputError(f"{flag} {p}: cannot write the file: it is a directory; give a file name.")
    if kind == "other":
        raise InputError(f"{flag} {p}: exists and is not a regular file.")
    folder = p.parent
    if path_kind(folder) != "dir":
        raise InputError(f"{flag} {p}: cannot write the file: the folder {folder} does not exist.")
    if not os.access(folder, os.W_OK) or (kind == "file" and not os.access(p, os.W_OK)):
        raise InputError(f"{flag} {p}: cannot write the file (permission denied).")
    for source in inputs:
        if isinstance(source, str | os.PathLike) and same_file(p, Path(os.fspath(source))):
            raise InputError(
                f"{flag} {p}: is also an input of this run; writing it would destroy the "
                "input. Give another file name."
            )
    return p
