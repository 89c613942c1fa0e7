"""The host's per-op-class efficiencies, fitted to onnxruntime micro-kernels.

`hardware.calibrate` measures the CPU's peaks (BLAS GEMM, numpy elementwise, copies);
what real kernels of each op class reach is a second question, answered here. Each
micro-kernel of `hardware.op_kernels` (dense GEMM and convolutions, depthwise
convolutions, elementwise ops, norms and reductions, copies), timed by onnxruntime with
the chip's thread count, becomes a `Measurement`; `fit_chip` then fits only the chip
unit's `efficiency.matrix` and `efficiency.vector` (the share of the class's rate real
kernels sustain) to the fastest runs, with the memory and launch figures left as
measured; the kernels' operands fit in the last-level cache and are reused run after
run, so for the fit their traffic moves at that cache's bandwidth, not DRAM's. Where a
kernel of a class already runs faster than the class's rated peak (onnxruntime's kernels
can beat numpy's: a depthwise convolution keeps its 9 taps in registers), that rate is
raised to what the kernel achieved, so the efficiency stays a share of at most 1. The
`host` unit, the same CPU, gets the same figures. Every change is written into the
spec's `sources:` with the kernels, their min/median/spread and the error of the
per-kernel predictions before and after.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

from hardware.calibrate import source_text
from hardware.chip import Chip
from hardware.load import validate_chip
from hardware.op_kernels import FAMILIES, KernelTime, cpu_threads_note, time_kernels
from sim.studies.fit import fit_chip, log_errors, predict, typical_factor, with_values
from sim.studies.measurements import Measurement

FITTED_CLASSES = ("matrix", "vector")
DTYPE = "fp32"


def measurement(time: KernelTime) -> Measurement:
    """The kernel as topsim's op, its time the fastest run."""
    k = time.kernel
    return Measurement(k.kind, k.shapes, DTYPE, time.best_s, k.attrs, k.name, time.timing.runs)


def op_class(m: Measurement) -> str:
    return m.graph().ops[0].op_class


def _bytes(m: Measurement) -> float:
    op = m.graph().ops[0]
    return op.read_bytes + op.write_bytes


def cache_resident(chip: Chip, measured: Sequence[Measurement]) -> Chip:
    """`chip` as the micro-kernels see it: their operands, reused run after run, stay in
    the last-level cache, so their memory traffic moves at its sustained bandwidth (its
    rate and efficiency), not DRAM's. The chip itself when some kernel's operands do not
    fit the cache."""
    l2 = chip.memory.l2
    if l2 is None:
        return chip
    largest = max((_bytes(m) for m in measured), default=0.0)
    if largest > l2.capacity:
        return chip
    return with_values(
        chip, {"memory.dram.bandwidth": l2.bandwidth, "memory.dram.efficiency": l2.efficiency}
    )


def achieved_rates(
    measurements: Sequence[Measurement], clock: float, instances: int
) -> dict[str, float]:
    """MAC slots per cycle per instance the fastest kernel of each class reached."""
    best: dict[str, float] = {}
    for m in measurements:
        op = m.graph().ops[0]
        slots = op.macs + op.stats.flops
        if slots:
            rate = slots / m.seconds / clock / instances
            best[op.op_class] = max(best.get(op.op_class, 0.0), rate)
    return best


def family_errors(
    times: Sequence[KernelTime], predicted: Sequence[float], measured: Sequence[Measurement]
) -> dict[str, float]:
    """Typical factor of the per-kernel predictions, per kernel family."""
    errors = log_errors(predicted, measured)
    by_family: dict[str, list[float]] = defaultdict(list)
    for t, e in zip(times, errors, strict=True):
        by_family[t.kernel.family].append(e)
    return {f: typical_factor(by_family[f]) for f in FAMILIES if by_family.get(f)}


def _kernel_text(t: KernelTime) -> str:
    return (
        f"{t.kernel.name} {t.best_s * 1e3:.3g} ms (median {t.median_s * 1e3:.3g} ms, "
        f"+{100 * t.timing.spread:.0f}%)"
    )


def _errors_text(errors: dict[str, float]) -> str:
    return ", ".join(f"{f} {e:.2f}x" for f, e in errors.items())


def with_op_class_rates(
    spec: dict, threads: int, repeats: int = 100, budget_s: float = 3.0, unit: str = "cpu"
) -> dict:
    """`spec` (a calibrated CPU chip mapping) with per-op-class efficiencies fitted to
    onnxruntime micro-kernels run on `threads` threads; the spec unchanged (and a source
    saying why) when onnxruntime is not installed."""
    from hardware.op_kernels import onnxruntime_version

    version = onnxruntime_version()
    if version is None:
        spec.setdefault("sources", {})[f"units.{unit}.efficiency"] = (
            "not measured: onnxruntime and onnx are not installed (pip install "
            "'topsim[onnx]'); every op class at its full rate"
        )
        return spec
    times = time_kernels(threads, repeats, budget_s)
    return apply_kernel_times(spec, times, f"onnxruntime {version}", threads, unit)


def apply_kernel_times(
    spec: dict, times: Sequence[KernelTime], runtime: str, threads: int, unit: str = "cpu"
) -> dict:
    """`spec` with the efficiencies (and, where a kernel beat them, the rates) of its
    `unit` and of its host unit fitted to the kernel times, and sources saying so."""
    measured = [measurement(t) for t in times]
    repeats = max(t.timing.runs for t in times)
    chip = validate_chip(spec, "calibrated cpu spec")
    clock = chip.unit_clock(unit)
    instances = chip.units[unit].instances
    sources = spec.setdefault("sources", {})
    rates = spec["units"][unit]["rates"]
    for cls, achieved in achieved_rates(measured, clock, instances).items():
        rated = rates.get(cls, {}).get(DTYPE)
        if cls in FITTED_CLASSES and rated is not None and achieved > rated:
            rates[cls][DTYPE] = round(achieved * 1.0001, 4)
            sources[f"units.{unit}.rates.{cls}"] = sources.get(f"units.{unit}.rates.{cls}", "") + (
                f"; {DTYPE} raised to {achieved:.4g} MACs/cycle/instance, the fastest "
                f"onnxruntime {cls} micro-kernel (faster than the measurement above)"
            )
    chip = cache_resident(validate_chip(spec, "calibrated cpu spec"), measured)
    before = predict(chip, measured)
    classes = sorted({op_class(m) for m in measured} & set(FITTED_CLASSES))
    fit = fit_chip(chip, measured, only=[f"units.{unit}.efficiency.{c}" for c in classes], folds=0)
    after = predict(fit.chip, measured)
    efficiency = {path.rsplit(".", 1)[1]: round(value, 4) for path, value in fit.values.items()}
    err_before = family_errors(times, before, measured)
    err_after = family_errors(times, after, measured)
    kernels_text = "; ".join(_kernel_text(t) for t in times)
    for name, body in spec["units"].items():
        if efficiency and (name == unit or body.get("host")):
            body["efficiency"] = dict(efficiency)
    sources[f"units.{unit}.efficiency"] = source_text(
        f"fitted to {runtime} single-node micro-kernels (fp32, "
        f"{cpu_threads_note(threads)}, kernel times from onnxruntime's profiler, min of up to "
        f"{repeats} interleaved runs each): {kernels_text}. Only the "
        f"{'/'.join(classes)} efficiencies were fitted (least squares in log time over the "
        f"fastest runs), the kernels' operands read at the last-level cache's bandwidth (they "
        f"fit in it and are reused run after run); typical error per kernel family before: "
        f"{_errors_text(err_before)}; "
        f"after: {_errors_text(err_after)}; over all kernels "
        f"{typical_factor(log_errors(before, measured)):.2f}x -> "
        f"{typical_factor(log_errors(after, measured)):.2f}x"
    )
    if any(body.get("host") for body in spec["units"].values()):
        sources["units.host"] = sources.get("units.host", "") + (
            "; efficiencies as units.cpu (the same core)"
        )
    return spec
