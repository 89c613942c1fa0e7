"""How far topsim's predictions are from what real chips delivered: the validation set.

`validation/cases.yaml` lists published measurements (a chip, a workload, a metric, the
measured value, its source and setup, and a `fit` or `holdout` label). This module loads
and checks them, predicts each one with topsim (no hardware needed), and summarizes the
error per split. It is the yardstick for the chip model: a change that fits the `fit`
cases better should not make the `holdout` cases worse.

The error of one case is its ratio predicted / measured. A split's summary gives the
typical error factor exp(mean |ln ratio|) (1.0 is perfect; 2.0 means off by 2x either
way on the geometric average), the worst factor max(ratio, 1/ratio) and the share of
cases within 25% (0.75 <= ratio <= 1.25). Cases whose chip has no preset, or whose
workload topsim cannot build or run, are listed as skipped with the reason and counted
nowhere.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from pydantic import BaseModel

import hardware
import workloads
from hardware.chip import Chip
from hardware.errors import InputError, expect_int
from hardware.files import load_yaml_mapping, read_text, user_path
from hardware.system import list_systems, load_system
from sim import simulate
from sim.studies.llm import generate
from sim.studies.serve_steps import SimulatedSteps
from workloads.builder import GraphBuilder
from workloads.graph import Graph

CASES_FILE = Path(__file__).resolve().parents[2] / "validation" / "cases.yaml"
SPLITS = ("fit", "holdout")
METRICS = (
    "latency_s", "throughput", "tera_ops_per_s", "output_tokens_per_s", "ttft_s",
    "output_tokens_per_s_per_chip",
)  # fmt: skip
GENERATE_METRICS = ("output_tokens_per_s", "ttft_s", "output_tokens_per_s_per_chip")
WORKLOAD_KINDS = ("builtin", "gemm", "file", "generate")
REQUIRED = (
    "id", "chip", "device", "workload", "runtime", "metric", "measured", "source", "setup",
    "split",
)  # fmt: skip
OPTIONAL = ("notes", "sim_runtime", "set")
WITHIN = 0.25  # "within 25%": 0.75 <= predicted / measured <= 1.25


class Case(BaseModel):
    """One published measurement; `base` is the folder that `file:` workloads are under."""

    id: str
    chip: str
    device: str
    workload: dict[str, Any]
    runtime: str
    metric: str
    measured: float
    source: str
    setup: str
    split: str
    notes: str = ""
    sim_runtime: str = "native"  # the topsim runtime modelling `runtime` (sim/runtimes.py)
    # chip fields by dotted path where the measured part differs from the preset (as
    # `--set`): e.g. the 40 GB A100's HBM2 bandwidth on the 80 GB a100-sxm preset
    set: dict[str, str] = {}
    base: str = "."


class Row(BaseModel):
    """A case that ran: measured against predicted."""

    id: str
    chip: str
    device: str
    split: str
    metric: str
    measured: float
    predicted: float
    ratio: float  # predicted / measured
    source: str


class Skipped(BaseModel):
    id: str
    chip: str
    split: str
    reason: str


class Summary(BaseModel):
    """The error of one split (or of all cases together)."""

    cases: int
    typical_factor: float | None  # exp(mean |ln ratio|)
    worst_factor: float | None  # max(ratio, 1 / ratio)
    worst_case: str | None
    within_25pct: float | None  # share of cases with 0.75 <= ratio <= 1.25


class Accuracy(BaseModel):
    split: str  # which cases were run: fit, holdout or all
    rows: list[Row]
    skipped: list[Skipped]
    summary: dict[str, Summary]  # the split run; for "all", fit, holdout and all


# loading ----------------------------------------------------------------------------------


def load_cases(path: str | Path | None = None) -> list[Case]:
    """Read and check a cases file; any problem is an InputError naming the case and field."""
    file = user_path(path, "--cases") if path is not None else CASES_FILE
    # a regular file of bounded size, read by the guarded loader every user file goes
    # through (a bounded number of values, no alias bombs, no duplicated keys)
    data = load_yaml_mapping(read_text(file, "cases"), str(file))
    if not isinstance(data.get("cases"), list):
        raise InputError(f"{file}: expected a mapping with a `cases:` list.")
    cases = [_check_case(file, i, raw) for i, raw in enumerate(data["cases"])]
    seen: set[str] = set()
    for case in cases:
        if case.id in seen:
            raise InputError(f"{file}: case id {case.id!r} appears twice.")
        seen.add(case.id)
    fit = sum(case.split == "fit" for case in cases)
    if fit * 2 > len(cases):
        raise InputError(f"{file}: {fit} of {len(cases)} cases are `fit`; at most half may be.")
    return cases


def _check_case(file: Path, index: int, raw: object) -> Case:
    where = f"{file}: case {index + 1}"
    if not isinstance(raw, dict):
        raise InputError(f"{where}: expected a mapping of fields.")
    where = f"{file}: case {raw.get('id', index + 1)!r}"
    for field in REQUIRED:
        if raw.get(field) in (None, ""):
            raise InputError(f"{where}: field `{field}` is missing or empty.")
    unknown = sorted(set(raw) - set(REQUIRED) - set(OPTIONAL))
    if unknown:
        raise InputError(f"{where}: unknown field(s) {', '.join(unknown)}.")
    if raw["split"] not in SPLITS:
        raise InputError(f"{where}: split must be fit or holdout, not {raw['split']!r}.")
    if raw["metric"] not in METRICS:
        raise InputError(f"{where}: metric must be one of {', '.join(METRICS)}.")
    if not str(raw["source"]).startswith(("https://", "http://")):
        raise InputError(f"{where}: source must be a URL (http:// or https://).")
    measured = raw["measured"]
    if isinstance(measured, bool) or not isinstance(measured, int | float) or measured <= 0:
        raise InputError(f"{where}: measured must be a positive number, not {measured!r}.")
    workload = raw["workload"]
    kinds = [k for k in WORKLOAD_KINDS if isinstance(workload, dict) and k in workload]
    if len(kinds) != 1:
        raise InputError(f"{where}: workload needs exactly one of {', '.join(WORKLOAD_KINDS)}.")
    if kinds[0] == "gemm" and not _is_shape(workload["gemm"]):
        raise InputError(f"{where}: workload gemm must be [m, n, k] of positive integers.")
    if (kinds[0] == "generate") != (raw["metric"] in GENERATE_METRICS):
        raise InputError(
            f"{where}: {', '.join(GENERATE_METRICS)} go with a generate workload, and only they do."
        )
    overrides = raw.get("set", {})
    if not isinstance(overrides, dict) or not all(
        isinstance(k, str) and isinstance(v, str | int | float) and not isinstance(v, bool)
        for k, v in overrides.items()
    ):
        raise InputError(f"{where}: set must map chip fields (dotted paths) to values.")
    if overrides and "system" in workload:
        raise InputError(f"{where}: set applies to a chip preset, not to a system case.")
    text = {k: str(raw[k]) for k in (*REQUIRED, *OPTIONAL) if k in raw and k != "set"}
    text.update(workload=workload, measured=float(measured))
    text.update(set={k: str(v) for k, v in overrides.items()})
    return Case(**text, base=str(file.parent))


def _is_shape(value: object) -> bool:
    return (
        isinstance(value, list)
        and len(value) == 3
        and all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in value)
    )


# predicting -------------------------------------------------------------------------------


def gemm_graph(m: int, n: int, k: int, dtype: str, out_dtype: str | None = None) -> Graph:
    """One matmul C[m, n] = A[m, k] x B[k, n], B a constant (as a GEMM benchmark times it);
    C in `out_dtype` where the benchmark writes it wider than its inputs (fp8 in, fp16 out)."""
    b = GraphBuilder(f"gemm-{m}x{n}x{k}", dtype)
    a = b.input("a", (m, k))
    w = b.const("b", (k, n))
    b.op("matmul", [a, w], name="gemm", out_dtype=out_dtype)
    return b.build()


class Predictor:
    """Predicts cases, building each chip and graph once."""

    def __init__(self) -> None:
        self.presets = set(hardware.list_chips())
        self._chips: dict[str, Chip] = {}
        self._graphs: dict[str, Graph] = {}

    def chip(self, name: str, overrides: dict[str, str] | None = None) -> Chip:
        key = json.dumps([name, overrides or {}], sort_keys=True)
        if key not in self._chips:
            self._chips[key] = hardware.load_chip(name, overrides=overrides or None)
        return self._chips[key]

    def graph(self, case: Case) -> Graph:
        spec = dict(case.workload)
        key = json.dumps({**spec, "base": case.base}, sort_keys=True)
        if key not in self._graphs:
            if "gemm" in spec:
                m, n, k = spec["gemm"]
                dtype = spec.get("dtype", "fp16")
                self._graphs[key] = gemm_graph(m, n, k, dtype, spec.get("out_dtype"))
            elif "file" in spec:
                self._graphs[key] = workloads.load(Path(case.base) / spec["file"])
            else:
                name = spec.pop("builtin")
                self._graphs[key] = workloads.build(name, **spec)
        return self._graphs[key]

    def skip_reason(self, case: Case) -> str | None:
        if case.chip not in self.presets:
            return f"no preset for {case.chip} ({case.device})"
        spec = case.workload
        if "builtin" in spec and spec["builtin"] not in workloads.list_workloads():
            return f"workload {spec['builtin']!r} is not built in"
        if "file" in spec and not (Path(case.base) / spec["file"]).is_file():
            return f"graph file {spec['file']} not found"
        if "system" in spec and spec["system"] not in list_systems():
            return f"no system preset {spec['system']!r}"
        return None

    def predict(self, case: Case) -> float:
        chip = self.chip(case.chip, case.set)
        spec = case.workload
        if "generate" in spec and "system" in spec:
            return system_generation(case, chip)
        if "generate" in spec:
            params = {k: v for k, v in spec.items() if k != "generate"}
            run = generate(spec["generate"], chip, runtime=case.sim_runtime, **params)
            if case.metric == "ttft_s":
                return run.ttft_s
            return run.batch * (run.tokens + 1) / run.total_s
        graph = self.graph(case)
        latency = simulate(graph, chip, runtime=case.sim_runtime).latency_s
        if case.metric == "latency_s":
            return latency
        if case.metric == "throughput":
            return int(spec.get("batch", 1)) / latency
        return 2.0 * graph.macs / latency / 1e12  # tera_ops_per_s


def system_generation(case: Case, chip: Chip) -> float:
    """A generate case on `tp` chips of a system preset (tensor parallel, collectives on
    its interconnect; sim/studies/serve_steps.py): the metric of one TP group."""
    spec = dict(case.workload)
    system = load_system(spec.pop("system"))
    if system.chip.name != chip.name:
        raise InputError(f"system {system.name} has {system.chip.name} chips, not {chip.name}.")
    allowed = {"generate", "tp", "prompt", "tokens", "batch", "dtype", "kv_reads"}
    if set(spec) - allowed:
        raise InputError(f"a system generate takes only {', '.join(sorted(allowed))}.")
    tp = expect_int(spec.get("tp", system.chips), "tp", 1, system.chips)
    steps = SimulatedSteps(
        spec["generate"], chip, spec.get("dtype", "fp16"), tp, system.interconnect,
        runtime=case.sim_runtime, kv_reads=spec.get("kv_reads", "shared"),
    )  # fmt: skip
    batch, prompt, tokens = spec.get("batch", 1), spec["prompt"], spec["tokens"]
    ttft, total = steps.generation_s(batch, prompt, tokens)
    if case.metric == "ttft_s":
        return ttft
    per_group = batch * (tokens + 1) / total
    return per_group / tp if case.metric == "output_tokens_per_s_per_chip" else per_group


# statistics -------------------------------------------------------------------------------


def summarize(rows: Iterable[Row]) -> Summary:
    """Typical and worst error factor and the share within 25% of a set of rows."""
    rows = list(rows)
    if not rows:
        return Summary(
            cases=0, typical_factor=None, worst_factor=None, worst_case=None, within_25pct=None
        )
    logs = [abs(math.log(row.ratio)) for row in rows]
    worst = max(range(len(rows)), key=logs.__getitem__)
    within = sum(1 - WITHIN <= row.ratio <= 1 + WITHIN for row in rows)
    return Summary(
        cases=len(rows),
        typical_factor=math.exp(sum(logs) / len(logs)),
        worst_factor=math.exp(logs[worst]),
        worst_case=rows[worst].id,
        within_25pct=within / len(rows),
    )


def run_cases(
    cases: list[Case],
    split: str = "all",
    progress: Callable[[Case], None] | None = None,
) -> Accuracy:
    """Predict every case of `split` (fit, holdout or all) and summarize per split."""
    if split not in (*SPLITS, "all"):
        raise InputError(f"--split must be fit, holdout or all, not {split!r}.")
    chosen = [c for c in cases if split == "all" or c.split == split]
    predictor = Predictor()
    rows: list[Row] = []
    skipped: list[Skipped] = []
    for case in chosen:
        if progress is not None:
            progress(case)
        reason = predictor.skip_reason(case)
        if reason is None:
            try:
                predicted = predictor.predict(case)
            except InputError as err:
                reason = f"topsim cannot run it: {err}"
        if reason is not None:
            skipped.append(Skipped(id=case.id, chip=case.chip, split=case.split, reason=reason))
            continue
        rows.append(
            Row(
                id=case.id,
                chip=case.chip,
                device=case.device,
                split=case.split,
                metric=case.metric,
                measured=case.measured,
                predicted=predicted,
                ratio=predicted / case.measured,
                source=case.source,
            )
        )
    if split == "all":
        summary = {s: summarize(r for r in rows if r.split == s) for s in SPLITS}
        summary["all"] = summarize(rows)
    else:
        summary = {split: summarize(rows)}
    return Accuracy(split=split, rows=rows, skipped=skipped, summary=summary)


def accuracy(path: str | Path | None = None, split: str = "all") -> Accuracy:
    """Load the cases file (the shipped one by default) and run the cases of `split`."""
    return run_cases(load_cases(path), split)
