"""topsim never runs what it reads: no eval/exec, no pickle, only safe YAML, no shell.

The scan parses every Python source of hardware/, workloads/ and sim/ (so strings and
comments do not count) and fails naming the file and line of each:

- `eval(`, `exec(`, `compile(` and `__import__(`; `importlib.import_module` of anything but a
  string literal;
- `pickle`, `cPickle`, `dill`, `shelve`, `marshal`, `joblib` (imported or used), and
  `numpy.load(..., allow_pickle=True)`, `torch.load`;
- `yaml.load`/`yaml.load_all` without a safe loader, `yaml.unsafe_load`, `yaml.full_load`,
  and the unsafe loader classes (`Loader`, `FullLoader`, `UnsafeLoader`, `CLoader` ...);
- any call with `shell=True` (subprocess), `os.system`, `os.popen`;
- `onnx.load`/`onnx.load_model` without `load_external_data=False`, and the functions that
  read external data (`load_external_data_for_model`, `load_external_data_for_tensor`).

A second test imports an ONNX model whose weights name external files and checks, with an
audit hook, that no file but the model itself is opened.
"""

from __future__ import annotations

import ast
import importlib.util
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
PACKAGES = ("hardware", "workloads", "sim")

SAFE_YAML_LOADERS = {"SafeLoader", "CSafeLoader", "BaseLoader", "CBaseLoader", "_GuardedLoader"}
UNSAFE_YAML_NAMES = {
    "unsafe_load",
    "unsafe_load_all",
    "full_load",
    "full_load_all",
    "Loader",
    "FullLoader",
    "UnsafeLoader",
    "CLoader",
    "CFullLoader",
    "CUnsafeLoader",
}
UNSAFE_MODULES = {"pickle", "cPickle", "_pickle", "dill", "shelve", "marshal", "joblib"}
CODE_BUILTINS = {"eval", "exec", "compile", "__import__"}
ONNX_EXTERNAL_READERS = {"load_external_data_for_model", "load_external_data_for_tensor"}


def dotted(node: ast.AST) -> str:
    """'yaml.load' for Attribute(Name('yaml'), 'load'); '' for anything not a plain name."""
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        base = dotted(node.value)
        return f"{base}.{node.attr}" if base else ""
    return ""


def keyword(call: ast.Call, name: str) -> ast.expr | None:
    return next((k.value for k in call.keywords if k.arg == name), None)


def is_constant(node: ast.expr | None, value: object) -> bool:
    return isinstance(node, ast.Constant) and node.value is value


def problems_in(source: str) -> Iterator[tuple[int, str]]:
    """(line, what) for each unsafe construct in one module's source."""
    tree = ast.parse(source)
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] in UNSAFE_MODULES:
                    yield node.lineno, f"imports {alias.name}"
        elif isinstance(node, ast.ImportFrom):
            module = (node.module or "").split(".")[0]
            if module in UNSAFE_MODULES:
                yield node.lineno, f"imports from {node.module}"
            if module == "yaml":
                for alias in node.names:
                    if alias.name in UNSAFE_YAML_NAMES or alias.name in ("load", "load_all"):
                        yield node.lineno, f"imports yaml.{alias.name}"
        elif isinstance(node, ast.Attribute):
            name = dotted(node)
            if name.startswith("yaml.") and node.attr in UNSAFE_YAML_NAMES:
                yield node.lineno, f"uses {name}"
            if name.split(".")[0] in UNSAFE_MODULES:
                yield node.lineno, f"uses {name}"
        elif isinstance(node, ast.Call):
            yield from call_problems(node)


def call_problems(call: ast.Call) -> Iterator[tuple[int, str]]:
    name = dotted(call.func)
    last = name.rsplit(".", 1)[-1]
    line = call.lineno
    if name in CODE_BUILTINS or name in {f"builtins.{b}" for b in CODE_BUILTINS}:
        yield line, f"calls {name}()"
    if last == "import_module" and not (call.args and isinstance(call.args[0], ast.Constant)):
        yield line, "imports a module named at run time"
    if name in ("yaml.load", "yaml.load_all"):
        loader = keyword(call, "Loader") or (call.args[1] if len(call.args) > 1 else None)
        if loader is None or dotted(loader).rsplit(".", 1)[-1] not in SAFE_YAML_LOADERS:
            yield line, f"calls {name}() without a safe Loader"
    if is_constant(keyword(call, "shell"), True):  # subprocess.run/Popen/call ..., any caller
        yield line, f"calls {name}(shell=True)"
    if name in ("os.system", "os.popen"):
        yield line, f"calls {name}()"
    if name in ("onnx.load", "onnx.load_model") and not is_constant(
        keyword(call, "load_external_data"), False
    ):
        yield line, f"calls {name}() without load_external_data=False"
    if last in ONNX_EXTERNAL_READERS:
        yield line, f"calls {name}(): reads external data from paths inside the model"
    if name in ("np.load", "numpy.load") and is_constant(keyword(call, "allow_pickle"), True):
        yield line, f"calls {name}(allow_pickle=True)"
    if name == "torch.load":
        yield line, "calls torch.load() (unpickles)"


def sources() -> list[Path]:
    return sorted(p for package in PACKAGES for p in (REPO / package).rglob("*.py"))


def test_the_scan_finds_what_it_looks_for() -> None:
    """Each forbidden construct, written once, is reported; the safe forms are not."""
    bad = """
import pickle
import marshal as m
from yaml import unsafe_load
import yaml, subprocess, os, onnx, importlib, numpy as np
eval("1")
exec("x = 1")
__import__(user_text)
importlib.import_module(name)
yaml.load(text)
yaml.load(text, Loader=yaml.FullLoader)
yaml.unsafe_load(text)
subprocess.run(cmd, shell=True)
os.system(cmd)
onnx.load(path)
onnx.load_model(path, load_external_data=True)
onnx.external_data_helper.load_external_data_for_model(model, ".")
np.load(path, allow_pickle=True)
"""
    found = list(problems_in(bad))
    lines = {line for line, _ in found}
    assert lines >= set(range(2, 19)) - {5}, found
    safe = """
import yaml, subprocess, onnx, importlib
yaml.load(text, Loader=yaml.SafeLoader)
yaml.safe_load(text)
subprocess.run([sys.executable, "-c", script], check=True)
onnx.load(path, load_external_data=False)
onnx.load_model_from_string(data)
importlib.import_module("workloads.onnx")
model.evaluate(x)
literal = "eval(x) and pickle"
"""
    assert list(problems_in(safe)) == []


def test_no_code_runs_from_inputs() -> None:
    found = [
        f"{path.relative_to(REPO)}:{line}: {what}"
        for path in sources()
        for line, what in problems_in(path.read_text(encoding="utf-8"))
    ]
    assert len(sources()) > 10, "the scan found no sources"
    assert not found, "unsafe code:\n" + "\n".join(found)


OPENED: list[str] | None = None  # paths opened while recording (the audit hook stays)


def _record_opens(event: str, args: tuple) -> None:
    if OPENED is not None and event == "open" and args and isinstance(args[0], str | Path):
        OPENED.append(str(args[0]))


@pytest.mark.skipif(importlib.util.find_spec("onnx") is None, reason="onnx is not installed")
def test_onnx_import_never_opens_external_data(tmp_path: Path) -> None:
    global OPENED
    import onnx
    from onnx import TensorProto, helper

    from workloads.onnx import load_onnx

    secret = tmp_path / "secret.bin"
    secret.write_bytes(bytes(4096))
    weights = []
    for i, location in enumerate((str(secret), "../../../../etc/passwd", "secret.bin")):
        w = helper.make_tensor(f"w{i}", TensorProto.FLOAT, [8, 8], [0.0] * 64)
        w.ClearField("float_data")
        w.data_location = TensorProto.EXTERNAL
        for key, value in (("location", location), ("offset", "0"), ("length", "256")):
            entry = w.external_data.add()
            entry.key, entry.value = key, value
        weights.append(w)
    nodes = [
        helper.make_node("MatMul", ["x", "w0"], ["h0"], name="mm0"),
        helper.make_node("MatMul", ["h0", "w1"], ["h1"], name="mm1"),
        helper.make_node("MatMul", ["h1", "w2"], ["y"], name="mm2"),
    ]
    graph = helper.make_graph(
        nodes,
        "external",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 8])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 8])],
        initializer=weights,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    path = tmp_path / "model.onnx"
    path.write_bytes(model.SerializeToString())
    assert onnx.load_model_from_string(path.read_bytes()).graph.initializer[0].external_data

    sys.addaudithook(_record_opens)
    OPENED = []
    try:
        graph = load_onnx(path)
    finally:
        opened, OPENED = OPENED, None
    assert graph.macs == 3 * 2 * 8 * 8
    outside = [p for p in opened if "secret" in p or "passwd" in p]
    assert not outside, f"external data was opened: {outside}"
    assert any(p.endswith("model.onnx") for p in opened), "the hook saw no opens at all"
