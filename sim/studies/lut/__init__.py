"""Latency lookup tables for network design (FBNet, SqueezeNAS, ProxylessNAS): every
candidate block of a search space simulated in context on one chip.

- `space`: the search space file (candidates, stages) and its layers;
- `blocks`: the candidate blocks, built with `GraphBuilder`;
- `table`: the table's rows (`dram` and `onchip` contexts), written through the sweep's
  executors and resumable output;
- `check`: sums of rows against whole-network simulations (additivity).
"""

from sim.studies.lut.blocks import add_block, block_graph, network_graph
from sim.studies.lut.check import Additivity, Network, check_additivity, lut_sums, sample
from sim.studies.lut.space import Candidate, Layer, Space, load_space, space_from
from sim.studies.lut.table import COLUMNS, LutRun, in_memory, measure_block, read_lut, write_lut

__all__ = [
    "COLUMNS",
    "Additivity",
    "Candidate",
    "Layer",
    "LutRun",
    "Network",
    "Space",
    "add_block",
    "block_graph",
    "check_additivity",
    "in_memory",
    "load_space",
    "lut_sums",
    "measure_block",
    "network_graph",
    "read_lut",
    "sample",
    "space_from",
    "write_lut",
]
