"""What-if sweeps: one workload on one chip over the cartesian product of varied settings.

- `values`: the values of a `--vary` key (lists and ranges, with units);
- `spec`: the sweep (`SweepSpec`), its keys checked against the workload, `SimOptions`
  and the chip, and its points with stable ids;
- `run`: workers and executors (local processes, dask), `run_sweep`;
- `store`: the append-only output file (CSV or JSON lines), read back and resumed.
"""

from sim.studies.sweep.run import SweepRun, run_point, run_sweep
from sim.studies.sweep.spec import (
    LOSS_COLUMNS,
    METRIC_COLUMNS,
    Axis,
    Point,
    SweepSpec,
    build_spec,
    classify,
    load_sweep_file,
    make_spec,
    point_id,
    points,
)
from sim.studies.sweep.store import read_rows, read_table
from sim.studies.sweep.values import axis_number, parse_values, parse_vary

__all__ = [
    "LOSS_COLUMNS",
    "METRIC_COLUMNS",
    "Axis",
    "Point",
    "SweepRun",
    "SweepSpec",
    "axis_number",
    "build_spec",
    "classify",
    "load_sweep_file",
    "make_spec",
    "parse_values",
    "parse_vary",
    "point_id",
    "points",
    "read_rows",
    "read_table",
    "run_point",
    "run_sweep",
]
