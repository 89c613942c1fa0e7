"""Workload DAGs: the `Graph` model, builders by name, graph files and Hugging Face configs.

The names below are imported on first use (see hardware/__init__.py).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from hardware.version import __version__

if TYPE_CHECKING:
    from workloads.builder import GraphBuilder
    from workloads.files import dtype_for, is_graph_file, load, save
    from workloads.graph import Graph, Op, Tensor
    from workloads.hf import from_hf_config
    from workloads.registry import build, builder_params, list_workloads

# public name -> the module that defines it (imported on first use, in __getattr__)
_LAZY = {
    "Graph": "workloads.graph",
    "GraphBuilder": "workloads.builder",
    "Op": "workloads.graph",
    "Tensor": "workloads.graph",
    "build": "workloads.registry",
    "dtype_for": "workloads.files",
    "builder_params": "workloads.registry",
    "from_hf_config": "workloads.hf",
    "is_graph_file": "workloads.files",
    "list_workloads": "workloads.registry",
    "load": "workloads.files",
    "save": "workloads.files",
}

__all__ = [
    "Graph",
    "GraphBuilder",
    "Op",
    "Tensor",
    "__version__",
    "build",
    "builder_params",
    "dtype_for",
    "from_hf_config",
    "is_graph_file",
    "list_workloads",
    "load",
    "save",
]


def __getattr__(name: str) -> Any:
    if name in ("Graph", "Op", "Tensor"):
        from workloads import graph as module
    elif name in ("GraphBuilder",):
        from workloads import builder as module
    elif name in ("build", "builder_params", "list_workloads"):
        from workloads import registry as module
    elif name in ("from_hf_config",):
        from workloads import hf as module
    elif name in ("dtype_for", "is_graph_file", "load", "save"):
        from workloads import files as module
    else:
        raise AttributeError(f"module 'workloads' has no attribute {name!r}")
    value = globals()[name] = getattr(module, name)
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
