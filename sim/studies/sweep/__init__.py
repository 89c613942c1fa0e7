"""What-if sweeps: one workload on one chip over the cartesian product of varied settings.

- `values`: the values of a `--vary` key (lists and ranges, with units);
- `spec`: the sweep (`SweepSpec`), its keys checked against the workload, `SimOptions`
  and the chip, and its points with stable ids;
- `run`: `run_sweep`, with every path and option checked before any work;
- `worker`, `executors`: one point in a worker; local processes or dask;
- `plans`: the plan cache, keyed by the chip fields the plan reads;
- `systems`: system sweeps (`--system`): each point one run_system (or, with `--serve`,
  one serve) call, its keys those calls' options and system fields by dotted path;
- `store`: the append-only, locked output file (CSV or JSON lines), resumed;
- `table`: the output read back line by line, bad lines reported by number.
"""

from sim.studies.sweep.plans import PlanCache, plan_key
from sim.studies.sweep.run import SweepRun, check_outputs, run_sweep
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
from sim.studies.sweep.table import check_table, read_rows, read_table
from sim.studies.sweep.values import axis_number, parse_values, parse_vary

__all__ = [
    "LOSS_COLUMNS",
    "METRIC_COLUMNS",
    "Axis",
    "PlanCache",
    "Point",
    "SweepRun",
    "SweepSpec",
    "axis_number",
    "build_spec",
    "check_outputs",
    "check_table",
    "classify",
    "load_sweep_file",
    "make_spec",
    "parse_values",
    "parse_vary",
    "plan_key",
    "point_id",
    "points",
    "read_rows",
    "read_table",
    "run_sweep",
]
