"""`topsim calibrate`: measure the machine topsim runs on and write it as a chip spec.

The CPU is modelled as one accelerator unit `cpu` (peak: true) with `instances` = the
physical cores used, plus a one-core `host` unit for ops marked host-only. Each number in
the spec is measured (by `hardware.measure`), and its `sources:` entry says how:

- clock: the maximum frequency the OS reports (cpufreq, else /proc/cpuinfo "cpu MHz");
  without either, 1 GHz, and the rates below absorb the difference (rate x clock is what
  was measured, so predictions do not depend on the clock being right).
- matrix rates: numpy matmul (BLAS) FLOP/s over square sizes, fp32 and fp64, sizes
  interleaved, measured with one BLAS thread and with `threads`; the per-instance rate is
  the `threads` rate / threads at the best size (the scaling is measured, never assumed
  linear, and written into the source), divided by 2 x clock.
- vector rates: a numpy elementwise multiply on L1-resident arrays on one core, the
  per-element cost taken as the slope between two sizes (the call overhead cancels).
- DRAM bandwidth: numpy copies (read + write bytes) of 4x the last-level cache, bounded
  to 64-192 MiB (so a big cache cannot make the run slow or large), on one thread and split
  over `threads` threads, interleaved, the better of the two; on-chip (L2 in topsim's
  terms: the last-level cache) bandwidth: the same copy on arrays that fit in the
  last-level cache; cache sizes (sysfs `cpu0/cache/index*`) and core count from the OS.
- every timing is the fastest of interleaved repeats; its `sources:` entry gives the
  median's spread over it, a measure of how loaded the machine was.
- launch latency: onnxruntime's per-op dispatch cost, the slope of run time over the
  number of ops in chains of tiny Add nodes (falls back to numpy's per-call overhead
  when onnxruntime is absent).

`calibrate(device="cuda")` measures an NVIDIA GPU through PyTorch instead (GEMM TFLOP/s by
dtype over sizes, device copy bandwidth, launch latency eager and with CUDA graphs).
Nothing here looks at a workload: calibration measures the chip only.
"""

from __future__ import annotations

import datetime
import os
import platform
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from hardware.chip import Chip
from hardware.errors import InputError, shown
from hardware.files import check_output
from hardware.load import validate_chip
from hardware.measure import (
    FULL,
    QUICK,
    Gemm,
    Plan,
    cache_sizes,
    copy_bandwidth,
    cpu_clock_hz,
    cpu_model,
    dispatch_overhead,
    elementwise_rate,
    elementwise_sizes,
    gemm_rates,
    gpu_clock,
    gpu_launch,
    memory_bytes,
    physical_cores,
    simd_lanes_fp32,
    usable_cpus,
)


@dataclass
class Measured:
    """Spec fields (dotted path -> value with unit) and where each came from."""

    values: dict[str, object] = field(default_factory=dict)
    sources: dict[str, str] = field(default_factory=dict)

    def put(self, key: str, value: object, method: str) -> None:
        self.values[key] = value
        self.sources[key] = method


def calibrate(
    out: str | os.PathLike | None = None,
    quick: bool = False,
    threads: int | None = None,
    device: str = "cpu",
    refine: Callable[[dict, int], dict] | None = None,
) -> Chip:
    """Measure this machine (`device` "cpu" or "cuda"), write the spec to `out` if given.

    `out` and `threads` are checked before anything is measured (minutes on a big machine).
    `threads` defaults to 1 (one core, as single-threaded runtimes run). `refine(spec,
    threads)` may add measurements of its own to the CPU spec before it is checked and
    written (`sim.studies.host_rates` adds the per-op-class efficiencies).
    """
    if out is not None:
        out = check_output(out, "calibrate --out")
    if threads is not None:
        check_threads(threads, "calibrate --threads")
    plan = QUICK if quick else FULL
    if device == "cpu":
        spec = cpu_spec(plan, threads or 1)
        if refine is not None:
            spec = refine(spec, threads or 1)
    elif device == "cuda":
        spec = cuda_spec(plan)
    else:
        raise InputError(f"calibrate: unknown device {device!r}; use 'cpu' or 'cuda'.")
    chip = validate_chip(spec, f"calibrated {device} spec")
    if out is not None:
        text = spec_yaml(spec)
        header = (
            f"# Measured by `topsim calibrate` on {_today()} ({platform.node() or 'host'}).\n"
            "# Every number comes from a measurement on this machine; see sources.\n"
        )
        try:
            Path(out).write_text(header + text, encoding="utf-8")
        except OSError as exc:
            raise InputError(
                f"calibrate --out {out}: cannot write the file ({exc.strerror})."
            ) from None
    return chip


def max_threads() -> int:
    """Threads worth modelling or running: four per logical CPU at most."""
    return 4 * (os.cpu_count() or 1)


def check_threads(threads: object, flag: str) -> int:
    """A thread count from 1 to `max_threads()`, else an InputError naming `flag`."""
    limit = max_threads()
    if isinstance(threads, bool) or not isinstance(threads, int) or not 1 <= threads <= limit:
        raise InputError(
            f"{flag} must be an integer from 1 to {limit} (four per logical CPU of this "
            f"machine), got {shown(threads)}."
        )
    return threads


class _PlainDumper(yaml.SafeDumper):
    def ignore_aliases(self, data: object) -> bool:  # no &id anchors in a spec people read
        return True


def spec_yaml(spec: dict) -> str:
    """The spec as YAML: short mappings inline, `sources` one entry per line."""
    body = {k: v for k, v in spec.items() if k != "sources"}
    text = yaml.dump(body, Dumper=_PlainDumper, sort_keys=False, default_flow_style=None, width=100)
    if spec.get("sources"):
        text += yaml.dump(
            {"sources": spec["sources"]},
            Dumper=_PlainDumper,
            sort_keys=False,
            default_flow_style=False,
            width=100,
        )
    return text


def _today() -> str:
    return datetime.date.today().isoformat()


def source_text(method: str) -> str:
    return f"measured by topsim calibrate on {_today()}, {method}"


# --- the CPU spec ----------------------------------------------------------------------------


def _hz(value: float) -> str:
    return f"{value / 1e9:.4g} GHz"


def _bandwidth(value: float) -> str:
    return f"{value / 1e9:.4g} GB/s"


def _seconds(value: float) -> str:
    return f"{value * 1e6:.4g} us"


def _bytes(value: float) -> str:
    return f"{value / 2**20:.6g} MiB" if value >= 2**20 else f"{value / 2**10:.6g} KiB"


def cpu_spec(plan: Plan, threads: int | None = None) -> dict:
    """Measure the CPU and return the chip spec as a YAML-ready mapping."""
    cpus = usable_cpus()
    cores = physical_cores(cpus)
    threads = threads or cores
    if threads < 1:
        raise InputError(f"calibrate: threads must be a positive integer, got {threads!r}.")
    clock, clock_source = cpu_clock_hz()
    lanes, lanes_source = simd_lanes_fp32()
    caches = cache_sizes()
    l1_bytes = caches.get("L1d", (32 * 2**10, 1))[0]
    single = gemm_rates(plan, 1)
    multi = gemm_rates(plan, threads) if threads > 1 else single
    vector = {d: elementwise_rate(plan, d, l1_bytes) for d in ("float32", "float64")}
    llc_name = max(caches, key=lambda k: int(k[1])) if caches else None
    llc_bytes = caches[llc_name][0] if llc_name else 8 * 2**20
    dram_copy = min(max(plan.copy_bytes, 4 * int(llc_bytes)), plan.max_copy_bytes)
    llc_copy = max(2**16, int(llc_bytes) // 4)
    dram = copy_bandwidth(dram_copy, threads, 3 * plan.repeats)
    llc = copy_bandwidth(llc_copy, threads, 5 * plan.repeats)
    dram_bw, llc_bw = dram.best(), llc.best()
    per_op, dispatch_source = dispatch_overhead(plan, threads)
    scaling = {d: multi.peak(d) / single.peak(d) for d in ("float32", "float64")}

    def per_core_flops(dtype: str) -> float:
        """The measured rate of all `threads` together, per thread (scaling measured)."""
        return multi.peak(dtype) / threads

    def macs_per_cycle(flops_per_s: float) -> float:
        return round(flops_per_s / 2 / clock, 4)

    matrix = {
        "fp32": macs_per_cycle(per_core_flops("float32")),
        "fp64": macs_per_cycle(per_core_flops("float64")),
    }
    vector_rates = {
        "fp32": round(vector["float32"][0] / clock, 4),
        "fp64": round(vector["float64"][0] / clock, 4),
    }
    scalar_rates = {
        d: max(0.01, round(r / lanes * (2 if d == "fp64" else 1), 4))
        for d, r in vector_rates.items()
    }

    def gemm_text(gemm: Gemm) -> str:
        return "; ".join(
            f"{d.replace('float', 'fp')}: "
            + ", ".join(f"{n}: {r / 1e9:.1f}" for n, r in by_size.items())
            for d, by_size in gemm.best.items()
        ) + (
            f" (min of {gemm.runs} or more interleaved runs; the median run up to "
            f"{100 * gemm.spread():.1f}% slower)"
        )

    name = cpu_model()
    l2_private = caches.get("L2", (None, 1))[0]
    sizes32 = elementwise_sizes(l1_bytes, "float32")
    spec: dict = {
        "name": "host-cpu",
        "description": f"{name}: {threads} of {len(cpus)} logical CPUs ({cores} physical cores) "
        f"used, measured by topsim calibrate on {_today()}.",
        "hypothetical": False,
        "clock": {"nominal": _hz(clock)},
        "units": {
            "cpu": {
                "instances": threads,
                "peak": True,
                "rates": {"matrix": matrix, "vector": vector_rates, "scalar": scalar_rates},
                "vector_width": lanes,
                "blocks": [[64, 64]],
                "vector_block": 4096,
                "supports": ["*"],
            },
            "host": {
                "instances": 1,
                "peak": False,
                "host": True,
                "rates": {
                    "matrix": dict(matrix),
                    "vector": dict(vector_rates),
                    "scalar": dict(scalar_rates),
                },
                "vector_width": lanes,
                "supports": ["*"],
            },
        },
        "memory": {
            "dram": {"capacity": _bytes(memory_bytes()), "bandwidth": _bandwidth(dram_bw)},
            "l2": {
                "capacity": _bytes(llc_bytes),
                "bandwidth": _bandwidth(llc_bw),
                "policy": "cache",
            },
        },
        "host_link": {"bandwidth": _bandwidth(dram_bw), "latency": "0 s"},
        "launch": {"latency": _seconds(per_op), "device_gap": "0 s", "queue_depth": 1},
    }
    if l2_private:
        spec["memory"]["local"] = {"capacity": _bytes(l2_private)}
    spec["sources"] = {
        "clock.nominal": source_text(clock_source),
        "units.cpu.instances": source_text(
            f"physical cores among the {len(cpus)} logical CPUs this "
            f"process may use (sched_getaffinity, sysfs topology); "
            f"{threads} used"
        ),
        "units.cpu.rates.matrix": source_text(
            f"numpy matmul (BLAS) on square sizes, GFLOP/s by size with 1 thread: "
            f"{gemm_text(single)}; with {threads} threads: {gemm_text(multi)}; measured "
            f"scaling {threads} threads / 1: fp32 {scaling['float32']:.2f}x, fp64 "
            f"{scaling['float64']:.2f}x; per instance: the {threads}-thread rate at the best "
            f"size / {threads}, divided by 2 x clock"
        ),
        "units.cpu.rates.vector": source_text(
            f"numpy multiply on one core on L1-resident arrays (fp32: {sizes32[0]} and "
            f"{sizes32[1]} elements, interleaved), slope of the best time: "
            f"{vector['float32'][0] / 1e9:.2f} G fp32 and {vector['float64'][0] / 1e9:.2f} G "
            f"fp64 elements/s, divided by the clock; large size {vector['float32'][1].text()}"
        ),
        "units.cpu.rates.scalar": "estimate: the vector rate divided by the fp32 SIMD lanes "
        "(one lane per cycle); not measured",
        "units.cpu.vector_width": source_text(lanes_source),
        "units.cpu.blocks": "estimate: GEMM output split among threads in 64x64 blocks; "
        "vector work in chunks of 4096 elements (not measured)",
        "units.host": "the same CPU, one core, for ops marked host-only; rates as units.cpu "
        "per instance",
        "memory.dram.capacity": source_text("os.sysconf physical pages x page size"),
        "memory.dram.bandwidth": source_text(
            f"numpy copy of {dram_copy / 2**20:.0f} MiB (4x the last-level cache, within "
            f"{plan.copy_bytes / 2**20:.0f}-{plan.max_copy_bytes / 2**20:.0f} MiB), read + "
            f"write bytes counted, the better of: {dram.text()}"
        ),
        "memory.l2.capacity": source_text(
            f"last-level cache ({llc_name or 'none found: 8 MiB assumed'}"
            ") from /sys/devices/system/cpu/cpu0/cache or sysconf"
        ),
        "memory.l2.bandwidth": source_text(
            f"numpy copy of {llc_copy / 2**20:.3g} MiB (fits the last-level cache), read + "
            f"write bytes counted, the better of: {llc.text()}"
        ),
        "memory.local": source_text("per-core L2 cache size from sysfs"),
        "host_link": "the host unit shares the CPU's memory: host_link = the measured DRAM copy "
        "bandwidth, no latency",
        "launch.latency": source_text(dispatch_source),
        "launch.queue_depth": "a CPU runtime dispatches and runs each op on the same thread: "
        "one op in flight",
    }
    if not l2_private:
        del spec["sources"]["memory.local"]
    return spec


# --- the GPU spec ----------------------------------------------------------------------------


def cuda_spec(plan: Plan) -> dict:
    """Measure the first CUDA GPU with PyTorch and return its chip spec mapping."""
    try:
        import torch
    except ModuleNotFoundError:
        raise InputError(
            "calibrate --device cuda needs PyTorch with CUDA (pip install torch) "
            "and an NVIDIA GPU; torch is not installed here."
        ) from None
    if not torch.cuda.is_available():
        raise InputError(
            "calibrate --device cuda: PyTorch is installed but sees no CUDA device "
            "(no NVIDIA GPU or driver here); use --device cpu."
        )
    device = torch.device("cuda:0")
    props = torch.cuda.get_device_properties(device)
    sms = int(props.multi_processor_count)
    clock, clock_source = gpu_clock(torch)
    sizes = (1024, 2048) if plan is QUICK else (1024, 2048, 4096, 8192)

    def timed(fn: Callable[[], object], repeats: int) -> float:
        fn()
        torch.cuda.synchronize()
        best = float("inf")
        for _ in range(repeats):
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
            fn()
            end.record()
            end.synchronize()
            best = min(best, start.elapsed_time(end) / 1e3)
        return best

    gemm: dict[str, dict[int, float]] = {}
    torch.backends.cuda.matmul.allow_tf32 = False
    for name, dtype in (("bf16", torch.bfloat16), ("fp16", torch.float16), ("fp32", torch.float32)):
        gemm[name] = {}
        for n in sizes:
            a = torch.randn(n, n, device=device, dtype=dtype)
            b = torch.randn(n, n, device=device, dtype=dtype)
            gemm[name][n] = 2.0 * n**3 / timed(lambda a=a, b=b: a @ b, plan.repeats)
    torch.backends.cuda.matmul.allow_tf32 = True
    a = torch.randn(sizes[-1], sizes[-1], device=device)
    gemm["tf32"] = {sizes[-1]: 2.0 * sizes[-1] ** 3 / timed(lambda: a @ a, plan.repeats)}
    torch.backends.cuda.matmul.allow_tf32 = False
    copy_elems = (1 << 28) if plan is FULL else (1 << 24)
    src = torch.ones(copy_elems, device=device)
    dst = torch.empty_like(src)
    dram_bw = 2.0 * src.numel() * 4 / timed(lambda: dst.copy_(src), plan.repeats)
    l2_bytes = int(getattr(props, "L2_cache_size", 0) or 40 * 2**20)
    small = torch.ones(max(1024, l2_bytes // 16), device=device)
    small_dst = torch.empty_like(small)
    l2_bw = 2.0 * small.numel() * 4 / timed(lambda: small_dst.copy_(small), 5 * plan.repeats)
    pinned = torch.ones(copy_elems // 4, pin_memory=True)
    host_bw = pinned.numel() * 4 / timed(lambda: pinned.to(device, non_blocking=True), plan.repeats)
    eager, gap, graph_latency = gpu_launch(torch, device, 200 if plan is FULL else 50)

    def per_cycle(rate: float) -> float:
        return round(rate / 2 / sms / clock, 3)

    matrix = {d: per_cycle(max(r.values())) for d, r in gemm.items()}
    vector = {"fp32": matrix["fp32"], "fp16": 2 * matrix["fp32"], "bf16": 2 * matrix["fp32"]}
    scalar = {"fp32": round(matrix["fp32"] / 8, 3)}
    host = _host_unit(plan)
    gemm_text = "; ".join(
        f"{d}: " + ", ".join(f"{n}: {r / 1e12:.1f}" for n, r in rates.items())
        for d, rates in gemm.items()
    )
    name = props.name.lower().replace(" ", "-")
    spec = {
        "name": name,
        "description": f"{props.name}: {sms} SMs, {props.total_memory / 2**30:.0f} GiB, "
        f"measured by topsim calibrate on {_today()}.",
        "hypothetical": False,
        "clock": {"nominal": _hz(clock)},
        "units": {
            "sm": {
                "instances": sms,
                "peak": True,
                "rates": {"matrix": matrix, "vector": vector, "scalar": scalar},
                "tile": [64, 8, 16],
                "vector_width": 32,
                "blocks": [[128, 256], [128, 128], [128, 64], [64, 64]],
                "vector_block": 512,
                "supports": ["*"],
            },
            "cpu": host,
        },
        "memory": {
            "dram": {"capacity": _bytes(props.total_memory), "bandwidth": _bandwidth(dram_bw)},
            "l2": {"capacity": _bytes(l2_bytes), "bandwidth": _bandwidth(l2_bw), "policy": "cache"},
        },
        "host_link": {"bandwidth": _bandwidth(host_bw), "latency": "2 us"},
        "launch": {
            "latency": _seconds(eager),
            "device_gap": _seconds(gap),
            "queue_depth": 1024,
            "graph_latency": _seconds(graph_latency),
        },
        "sources": {
            "clock.nominal": source_text(clock_source),
            "units.sm.instances": source_text(
                "torch.cuda.get_device_properties multi_processor_count"
            ),
            "units.sm.rates.matrix": source_text(
                f"highest torch.matmul rate over square sizes (CUDA events), TFLOP/s by size: "
                f"{gemm_text}; fp32 with TF32 off; divided by 2 x {sms} SMs x clock"
            ),
            "units.sm.rates.vector": source_text(
                "fp32: the fp32 matmul rate with TF32 off (CUDA-core FMA); fp16/bf16 twice that "
                "(estimate: packed half2 FMA, not measured)"
            ),
            "units.sm.rates.scalar": "estimate: 1/8 of the fp32 vector rate (special-function "
            "units, as in the h100-sxm preset); not measured",
            "units.cpu": source_text(
                "the host CPU, one core: numpy matmul and elementwise rates (quick measurement)"
            ),
            "units.sm.tile": "estimate: Hopper/Ampere MMA shapes, not measured",
            "memory.dram.capacity": source_text("torch.cuda.get_device_properties total_memory"),
            "memory.dram.bandwidth": source_text(
                f"device-to-device copy_ of {copy_elems * 4 / 2**20:.0f} MiB, read + write bytes"
            ),
            "memory.l2.capacity": source_text("torch.cuda.get_device_properties L2_cache_size"),
            "memory.l2.bandwidth": source_text("device copy of a quarter of the L2, read + write"),
            "host_link.bandwidth": source_text("pinned host-to-device copy"),
            "host_link.latency": "estimate: a small cudaMemcpyAsync, not measured",
            "launch.latency": source_text(
                "host time per launch of a tiny elementwise kernel, launch-bound stream of kernels"
            ),
            "launch.device_gap": source_text(
                "time per kernel of the same tiny kernels replayed from a CUDA graph"
            ),
            "launch.graph_latency": source_text("replay time of a one-kernel CUDA graph"),
        },
    }
    return spec


def _host_unit(plan: Plan) -> dict:
    """One host core, quickly measured: where ops no GPU kernel exists for would run."""
    clock, _ = cpu_clock_hz()
    gemm = gemm_rates(QUICK, 1)
    l1_bytes = cache_sizes().get("L1d", (32 * 2**10, 1))[0]
    rates = {
        "matrix": {
            "fp32": round(gemm.peak("float32") / 2 / clock, 4),
            "fp64": round(gemm.peak("float64") / 2 / clock, 4),
        },
        "vector": {
            "fp32": round(elementwise_rate(QUICK, "float32", l1_bytes)[0] / clock, 4),
            "fp64": round(elementwise_rate(QUICK, "float64", l1_bytes)[0] / clock, 4),
        },
    }
    return {"instances": 1, "peak": False, "host": True, "clock": _hz(clock), "rates": rates}
