"""Workload DAGs: the `Graph` model, builders by name, and graph files."""

from workloads.builder import GraphBuilder
from workloads.files import is_graph_file, load, save
from workloads.graph import Graph, Op, Tensor
from workloads.registry import build, builder_params, list_workloads

__all__ = [
    "Graph",
    "GraphBuilder",
    "Op",
    "Tensor",
    "build",
    "builder_params",
    "is_graph_file",
    "list_workloads",
    "load",
    "save",
]
