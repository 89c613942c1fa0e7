"""Fit a chip's achievable-rate parameters to measured op times.

Only parameters that say how much of the rated hardware real kernels get are fitted, never
a time per op: each unit's `efficiency` per op class, `memory.dram.efficiency`,
`memory.l2.efficiency` (the on-chip level's sustained share), the launch `latency` and
`device_gap`, and each unit's `kernel_overhead`. Each measurement is its op
alone (a one-op graph, inputs in device memory) simulated on the candidate chip; the fit
minimises the mean squared log error, so a 2x miss on a 10 us op counts as much as one on
a 10 ms op.

The method is a coordinate search in log space within each parameter's bounds: try a step
up and down in each parameter in turn, keep what lowers the error (and keep going that way
while it does), halve the step when no move helps, stop at a step of 0.1%. A parameter no
measurement depends on (its bounds give the same predictions) is left as it was and
reported as not fitted. k-fold cross-validation refits on k-1 folds and predicts the
held-out one, so the reported error is one the fit did not see.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import hardware
from hardware import Chip
from sim.simulate import simulate
from sim.studies.measurements import Measurement

EFFICIENCY_BOUNDS = (0.01, 1.0)
SECONDS_BOUNDS = (1e-9, 1e-2)  # launch latency, device gap, kernel overhead
FINAL_STEP = math.log(1.001)
FIRST_STEP = math.log(4.0)


@dataclass(frozen=True)
class Parameter:
    """One fitted field: its dotted path in the chip spec and its bounds."""

    path: str
    low: float
    high: float


@dataclass
class Fit:
    """A fit's outcome: the fitted values, the errors before and after, what was left out."""

    values: dict[str, float]
    start: dict[str, float]
    not_fitted: list[str]
    before: float  # typical factor exp(mean |ln(pred/meas)|) on every measurement
    after: float
    cross_validated: float | None  # the same, each measurement predicted by a fit without it
    folds: int
    evaluations: int
    chip: Chip
    predictions: list[float] = field(default_factory=list)
    at_bound: list[str] = field(default_factory=list)  # see pressing_on_bound


def candidate_parameters(chip: Chip) -> list[Parameter]:
    """Every achievable-rate parameter of `chip`: per unit and op class it has rates for."""
    params = []
    for name, unit in chip.units.items():
        for op_class, rates in unit.rates.items():
            if rates:
                params.append(Parameter(f"units.{name}.efficiency.{op_class}", *EFFICIENCY_BOUNDS))
    params.append(Parameter("memory.dram.efficiency", *EFFICIENCY_BOUNDS))
    if chip.memory.l2 is not None:
        params.append(Parameter("memory.l2.efficiency", *EFFICIENCY_BOUNDS))
    params.append(Parameter("launch.latency", *SECONDS_BOUNDS))
    params.append(Parameter("launch.device_gap", *SECONDS_BOUNDS))
    for name in chip.units:
        params.append(Parameter(f"units.{name}.kernel_overhead", *SECONDS_BOUNDS))
    return params


def current_value(chip: Chip, path: str) -> float:
    """The value at a dotted path of `chip` (an efficiency not set is 1.0)."""
    parts = path.split(".")
    if parts[0] == "units" and parts[2] == "efficiency":
        return chip.units[parts[1]].efficiency.get(parts[3], 1.0)
    node: object = chip
    for part in parts:
        node = node[part] if isinstance(node, dict) else getattr(node, part)
    return float(node)  # type: ignore[arg-type]


def with_values(chip: Chip, values: dict[str, float]) -> Chip:
    return hardware.load_chip(chip, values)


def predict(chip: Chip, measurements: Sequence[Measurement]) -> list[float]:
    """Predicted seconds of each measurement's op alone on `chip`."""
    return [simulate(m.graph(), chip).latency_s for m in measurements]


def log_errors(predicted: Sequence[float], measurements: Sequence[Measurement]) -> list[float]:
    return [math.log(p / m.seconds) for p, m in zip(predicted, measurements, strict=True)]


def typical_factor(errors: Sequence[float]) -> float:
    """exp(mean |ln(predicted/measured)|): 1.25 means typically 25% off, either way."""
    return math.exp(sum(abs(e) for e in errors) / len(errors)) if errors else float("nan")


def coordinate_search(
    loss: Callable[[list[float]], float],
    start: list[float],
    bounds: list[tuple[float, float]],
) -> tuple[list[float], int]:
    """Minimise `loss` over log-parameters within `bounds`; returns (best, evaluations)."""
    x = [min(max(v, lo), hi) for v, (lo, hi) in zip(start, bounds, strict=True)]
    best = loss(x)
    evaluations = 1
    step = FIRST_STEP
    while step > FINAL_STEP:
        improved = False
        for i, (lo, hi) in enumerate(bounds):
            for direction in (1.0, -1.0):
                moved = False
                while True:
                    trial = list(x)
                    trial[i] = min(max(x[i] + direction * step, lo), hi)
                    if trial[i] == x[i]:
                        break
                    value = loss(trial)
                    evaluations += 1
                    if value >= best - 1e-15:
                        break
                    x, best, moved = trial, value, True
                if moved:
                    improved = True
                    break  # the other direction cannot help from a point this one found
        if not improved:
            step /= 2
    return x, evaluations


def _fit_values(
    chip: Chip, measurements: Sequence[Measurement], params: list[Parameter]
) -> tuple[dict[str, float], int]:
    """The parameter values minimising the mean squared log error on `measurements`."""

    def values_of(x: list[float]) -> dict[str, float]:
        return {p.path: math.exp(v) for p, v in zip(params, x, strict=True)}

    def loss(x: list[float]) -> float:
        return mean_squared_log_error(with_values(chip, values_of(x)), measurements)

    start = [math.log(max(current_value(chip, p.path), p.low)) for p in params]
    bounds = [(math.log(p.low), math.log(p.high)) for p in params]
    x, evaluations = coordinate_search(loss, start, bounds)
    return values_of(x), evaluations


def mean_squared_log_error(chip: Chip, measurements: Sequence[Measurement]) -> float:
    errors = log_errors(predict(chip, measurements), measurements)
    return sum(e * e for e in errors) / len(errors)


def pressing_on_bound(
    chip: Chip, measurements: Sequence[Measurement], fitted: dict[str, float]
) -> list[str]:
    """The fitted efficiencies at their upper bound of 1 that the measurements press
    against: 2% below it fits them worse (one left at 1 because nothing depends on it
    there is not listed). An efficiency is a share of a rated figure, so 1 is a physical
    limit: measurements that want more run faster than the rated rate allows, so either
    the rated figure is too low (measure it: `topsim calibrate` raises a rate a kernel
    beats) or the model counts work or bytes the kernels skip."""
    top = EFFICIENCY_BOUNDS[1]
    at_top = [path for path, v in fitted.items() if "efficiency" in path and v >= top]
    if not at_top:
        return []
    best = mean_squared_log_error(with_values(chip, fitted), measurements)
    return [
        path
        for path in at_top
        if mean_squared_log_error(with_values(chip, {**fitted, path: 0.98 * top}), measurements)
        > best * (1 + 1e-9)
    ]


def sensitive(
    chip: Chip, measurements: Sequence[Measurement], params: list[Parameter]
) -> list[Parameter]:
    """The parameters some measurement's prediction depends on (its two bounds differ)."""
    kept = []
    for p in params:
        low = predict(with_values(chip, {p.path: p.low}), measurements)
        high = predict(with_values(chip, {p.path: p.high}), measurements)
        if any(abs(math.log(a / b)) > 1e-9 for a, b in zip(low, high, strict=True)):
            kept.append(p)
    return kept


def folds_of(count: int, k: int, seed: int = 0) -> list[list[int]]:
    """Measurement indices split into k folds, shuffled with a fixed seed (deterministic)."""
    order = list(range(count))
    random.Random(seed).shuffle(order)
    k = min(k, count)
    return [order[i::k] for i in range(k)]


def fit_chip(
    chip: Chip,
    measurements: Sequence[Measurement],
    *,
    only: Sequence[str] | None = None,
    folds: int = 5,
) -> Fit:
    """Fit `chip`'s achievable-rate parameters to `measurements` (see the module doc).

    `only` limits the fit to these dotted paths (others keep their values); `folds` < 2
    skips cross-validation.
    """
    if not measurements:
        raise hardware.InputError("fit: no measurements to fit to.")
    candidates = candidate_parameters(chip)
    if only is not None:
        known = {p.path: p for p in candidates}
        unknown = [path for path in only if path not in known]
        if unknown:
            raise hardware.InputError(
                f"fit: cannot fit {', '.join(unknown)}; the parameters of this chip are "
                f"{', '.join(known)}."
            )
        candidates = [known[path] for path in only]
    params = sensitive(chip, measurements, candidates)
    not_fitted = [p.path for p in candidates if p not in params]
    start = {p.path: current_value(chip, p.path) for p in params}
    before = typical_factor(log_errors(predict(chip, measurements), measurements))
    values, evaluations = _fit_values(chip, measurements, params) if params else ({}, 0)
    fitted = with_values(chip, values)
    predictions = predict(fitted, measurements)
    after = typical_factor(log_errors(predictions, measurements))
    cross_validated = None
    split = folds_of(len(measurements), folds) if folds >= 2 and len(measurements) >= 2 else []
    if split and params:
        held_out_errors = []
        for fold in split:
            train = [m for i, m in enumerate(measurements) if i not in fold]
            test = [measurements[i] for i in fold]
            fold_values, count = _fit_values(chip, train, params)
            evaluations += count
            held_out_errors += log_errors(predict(with_values(chip, fold_values), test), test)
        cross_validated = typical_factor(held_out_errors)
    return Fit(
        values=values,
        start=start,
        not_fitted=not_fitted,
        before=before,
        after=after,
        cross_validated=cross_validated,
        folds=len(split),
        evaluations=evaluations,
        chip=fitted,
        predictions=predictions,
        at_bound=pressing_on_bound(chip, measurements, values),
    )


def fitted_spec(fit: Fit, source: str, fmt: str, count: int, today: str) -> dict:
    """The fitted chip as a YAML-ready mapping whose `sources:` say what was fitted from what.

    Numbers are SI (seconds, bytes/s), as the chip model holds them.
    """
    spec = fit.chip.model_dump(mode="json", exclude_none=True)
    sources = {k: v for k, v in spec.get("sources", {}).items() if "user override" not in v}
    cv = (
        f", {fit.folds}-fold cross-validated {fit.cross_validated:.3f}x"
        if fit.cross_validated is not None
        else ""
    )
    for path, value in fit.values.items():
        sources[path] = (
            f"fitted by topsim fit on {today} to {count} measurements in {source} ({fmt}): "
            f"{value:.4g} (was {fit.start[path]:.4g}); typical error over all parameters "
            f"{fit.before:.3f}x -> {fit.after:.3f}x{cv}"
        )
    spec["sources"] = sources
    return spec
