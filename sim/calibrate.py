"""`topsim calibrate`: measure the machine topsim runs on and write it as a chip spec.

The CPU is modelled as one accelerator unit `cpu` (peak: true) with `instances` = the
physical cores used, plus a one-core `host` unit for ops marked host-only. Each number in
the spec is measured here, and its `sources:` entry says how:

- clock: the maximum frequency the OS reports (cpufreq, else /proc/cpuinfo "cpu MHz");
  without either, 1 GHz, and the rates below absorb the difference (rate x clock is what
  was measured, so predictions do not depend on the clock being right).
- matrix rates: numpy matmul (BLAS) FLOP/s over square sizes, fp32 and fp64, best of
  repeats, measured with one BLAS thread and with `threads`; the per-core rate is the
  better of one thread alone and the `threads` rate / threads (a loaded or virtualised
  machine often scales BLAS threads poorly), at the best size, divided by 2 x clock.
- vector rates: a numpy elementwise multiply on L1-resident arrays on one core, the
  per-element cost taken as the slope between two sizes (the call overhead cancels).
- DRAM bandwidth: large numpy copies (read + write bytes), on one thread and split over
  `threads` threads, the better of the two;
  on-chip (L2 in topsim's terms: the last-level cache) bandwidth: the same copy on
  arrays that fit in the last-level cache; cache sizes and core count from the OS.
- launch latency: onnxruntime's per-op dispatch cost, the slope of run time over the
  number of ops in chains of tiny Add nodes (falls back to numpy's per-call overhead
  when onnxruntime is absent).

`calibrate(device="cuda")` measures an NVIDIA GPU through PyTorch instead (GEMM TFLOP/s by
dtype over sizes, device copy bandwidth, launch latency eager and with CUDA graphs).
Nothing here looks at a workload: calibration measures the chip only.
"""

from __future__ import annotations

import datetime
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import yaml

from hardware.chip import Chip
from hardware.errors import InputError
from hardware.load import validate_chip

CPU_SYSFS = Path("/sys/devices/system/cpu")
BLAS_THREAD_VARIABLES = (
    "OPENBLAS_NUM_THREADS",
    "OMP_NUM_THREADS",
    "MKL_NUM_THREADS",
    "BLIS_NUM_THREADS",
    "VECLIB_MAXIMUM_THREADS",
)


@dataclass(frozen=True)
class Plan:
    """How much to measure: full (about 15-30 s) or quick (a couple of seconds, for tests)."""

    gemm_sizes: tuple[int, ...]
    gemm_seconds: float  # time budget per size and dtype
    copy_bytes: int
    dispatch_ops: tuple[int, int]
    repeats: int


FULL = Plan((256, 512, 1024, 2048), 0.4, 256 * 2**20, (20, 400), 7)
QUICK = Plan((64, 128, 256), 0.05, 16 * 2**20, (5, 40), 3)


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
) -> Chip:
    """Measure this machine (`device` "cpu" or "cuda"), write the spec to `out` if given."""
    plan = QUICK if quick else FULL
    if device == "cpu":
        spec = cpu_spec(plan, threads)
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


def _source(method: str) -> str:
    return f"measured by topsim calibrate on {_today()}, {method}"


# --- what the OS says ------------------------------------------------------------------------


def usable_cpus() -> list[int]:
    try:
        return sorted(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return list(range(os.cpu_count() or 1))


def physical_cores(cpus: list[int]) -> int:
    """Distinct (package, core) pairs among the usable logical CPUs (SMT siblings once)."""
    cores = set()
    for cpu in cpus:
        topology = CPU_SYSFS / f"cpu{cpu}" / "topology"
        try:
            package = (topology / "physical_package_id").read_text().strip()
            core = (topology / "core_id").read_text().strip()
        except OSError:
            return len(cpus)
        cores.add((package, core))
    return max(1, len(cores))


def cpu_clock_hz() -> tuple[float, str]:
    """The highest clock the OS reports, and where it came from."""
    cpufreq = CPU_SYSFS / "cpu0" / "cpufreq" / "cpuinfo_max_freq"
    try:
        return float(cpufreq.read_text().strip()) * 1e3, f"{cpufreq} (maximum frequency)"
    except (OSError, ValueError):
        pass
    try:
        mhz = [
            float(line.split(":")[1])
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.lower().startswith("cpu mhz")
        ]
        if mhz:
            return max(mhz) * 1e6, "/proc/cpuinfo 'cpu MHz' (highest core)"
    except (OSError, ValueError, IndexError):
        pass
    return 1e9, (
        "no clock reported by the OS: 1 GHz assumed, so the rates are per nanosecond "
        "(rate x clock is the measured quantity)"
    )


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown CPU"


def simd_lanes_fp32() -> tuple[int, str]:
    """fp32 lanes of the widest vector unit, from the CPU flags."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        text = ""
    flags = set()
    for line in text.splitlines():
        if line.lower().startswith(("flags", "features")):
            flags.update(line.split(":", 1)[1].split())
            break
    for flag, lanes in (
        ("avx512f", 16),
        ("avx2", 8),
        ("avx", 8),
        ("sse2", 4),
        ("asimd", 4),
        ("neon", 4),
    ):
        if flag in flags:
            return lanes, f"/proc/cpuinfo flags: {flag} ({lanes} fp32 lanes)"
    return 4, "no SIMD flags found: 4 fp32 lanes assumed"


def cache_sizes() -> dict[str, tuple[int, int]]:
    """'L1d', 'L2', 'L3' ... -> (bytes, logical CPUs sharing it), from sysfs or sysconf."""
    found: dict[str, tuple[int, int]] = {}
    for index in sorted((CPU_SYSFS / "cpu0" / "cache").glob("index*")):
        try:
            level = (index / "level").read_text().strip()
            kind = (index / "type").read_text().strip()
            size = _parse_cache_size((index / "size").read_text().strip())
            shared = _count_cpus((index / "shared_cpu_list").read_text().strip())
        except (OSError, ValueError):
            continue
        if kind == "Instruction":
            continue
        found[f"L{level}{'d' if kind == 'Data' else ''}"] = (size, shared)
    if not found:
        for name, key in (
            ("L1d", "SC_LEVEL1_DCACHE_SIZE"),
            ("L2", "SC_LEVEL2_CACHE_SIZE"),
            ("L3", "SC_LEVEL3_CACHE_SIZE"),
        ):
            try:
                size = os.sysconf(key)
            except (ValueError, OSError, AttributeError):
                continue
            if size and size > 0:
                found[name] = (int(size), 1)
    return found


def _parse_cache_size(text: str) -> int:
    units = {"K": 2**10, "M": 2**20, "G": 2**30}
    if text[-1].upper() in units:
        return int(text[:-1]) * units[text[-1].upper()]
    return int(text)


def _count_cpus(text: str) -> int:
    count = 0
    for part in text.split(","):
        low, _, high = part.partition("-")
        count += int(high or low) - int(low) + 1
    return count


def memory_bytes() -> float:
    try:
        return float(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
    except (ValueError, OSError, AttributeError):
        return 16e9


# --- measurements ----------------------------------------------------------------------------


def best_time(fn: Callable[[], object], repeats: int, budget_s: float = float("inf")) -> float:
    """The fastest of `repeats` calls (after one warm-up), stopping early past the budget.

    The fastest, as STREAM and BLAS benchmarks report: other processes and the OS can only
    add time to a run, so the minimum is the closest to what the hardware does.
    """
    fn()
    best = float("inf")
    start = time.perf_counter()
    for count in range(1, repeats + 1):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
        if time.perf_counter() - start > budget_s and count >= 3:
            break
    return best


GEMM_SCRIPT = """
import json, sys, time
import numpy as np
sizes, budget, repeats = json.loads(sys.argv[1])
rng = np.random.default_rng(0)
result = {}
for name in ("float32", "float64"):
    rates = {}
    for n in sizes:
        a = rng.standard_normal((n, n)).astype(name)
        b = rng.standard_normal((n, n)).astype(name)
        c = np.empty((n, n), dtype=name)
        np.matmul(a, b, out=c)
        best, start = float("inf"), time.perf_counter()
        for count in range(1, repeats + 1):
            t0 = time.perf_counter()
            np.matmul(a, b, out=c)
            best = min(best, time.perf_counter() - t0)
            if time.perf_counter() - start > budget and count >= 3:
                break
        rates[n] = 2.0 * n**3 / best
    result[name] = rates
print(json.dumps(result))
"""


def gemm_rates(plan: Plan, threads: int) -> dict[str, dict[int, float]]:
    """FLOP/s of square numpy matmuls by dtype and size, BLAS limited to `threads` threads.

    Runs in a child process: BLAS thread pools are sized when numpy is first imported.
    """
    env = dict(os.environ, **{name: str(threads) for name in BLAS_THREAD_VARIABLES})
    args = json.dumps([list(plan.gemm_sizes), plan.gemm_seconds, plan.repeats])
    try:
        done = subprocess.run(
            [sys.executable, "-c", GEMM_SCRIPT, args],
            env=env,
            check=True,
            capture_output=True,
            text=True,
            timeout=300,
        )
    except (subprocess.SubprocessError, OSError) as exc:
        raise InputError(f"calibrate: the GEMM measurement failed to run ({exc}).") from None
    data = json.loads(done.stdout.strip().splitlines()[-1])
    return {dtype: {int(n): rate for n, rate in rates.items()} for dtype, rates in data.items()}


def elementwise_sizes(l1_bytes: int, dtype: str) -> tuple[int, int]:
    """Two array lengths whose three operands (a, b, out) stay in the L1 data cache."""
    itemsize = np.dtype(dtype).itemsize
    large = 1 << max(8, int(np.log2(max(1, l1_bytes // (3 * itemsize)))))
    return 16, large  # 16 elements: the call overhead alone, nearly


def elementwise_rate(plan: Plan, dtype: str, l1_bytes: int) -> float:
    """Elements/s of numpy multiply on one core: slope between two L1-resident sizes.

    L1-resident so that the rate is the core's arithmetic throughput; cache and DRAM
    bandwidth are modelled separately by the memory levels.
    """
    small, large = elementwise_sizes(l1_bytes, dtype)
    calls = 2000  # short timed runs, many of them: the fastest is rarely interrupted
    times = []
    for n in (small, large):
        a = np.full(n, 1.0001, dtype=dtype)
        b = np.full(n, 0.9999, dtype=dtype)
        c = np.empty(n, dtype=dtype)

        def run(a=a, b=b, c=c) -> None:
            for _ in range(calls):
                np.multiply(a, b, out=c)

        times.append(best_time(run, 10 * plan.repeats) / calls)
    slope = (times[1] - times[0]) / (large - small)
    if slope <= 0:  # timer noise: fall back to the large size's plain rate
        return large / times[1]
    return 1.0 / slope


def copy_bandwidth(nbytes: int, threads: int, repeats: int) -> float:
    """Bytes/s of read + write in numpy copies of `nbytes`: the better of one thread and
    the copy split over `threads` threads (Python threads do not always help)."""
    if threads > 1:
        return max(copy_bandwidth(nbytes, 1, repeats), _copy_bandwidth(nbytes, threads, repeats))
    return _copy_bandwidth(nbytes, 1, repeats)


def _copy_bandwidth(nbytes: int, threads: int, repeats: int) -> float:
    count = max(threads, nbytes // 8)
    src = np.ones(count, dtype=np.float64)
    dst = np.zeros(count, dtype=np.float64)
    chunks = np.array_split(np.arange(count), threads)
    bounds = [(int(c[0]), int(c[-1]) + 1) for c in chunks if len(c)]
    if threads == 1:

        def run() -> None:
            np.copyto(dst, src)

        seconds = best_time(run, repeats)
    else:
        with ThreadPoolExecutor(threads) as pool:

            def part(bound: tuple[int, int]) -> None:
                np.copyto(dst[bound[0] : bound[1]], src[bound[0] : bound[1]])

            def run() -> None:
                list(pool.map(part, bounds))

            seconds = best_time(run, repeats)
    return 2.0 * count * 8 / seconds


def dispatch_overhead(plan: Plan, threads: int) -> tuple[float, str]:
    """Seconds onnxruntime spends per op beyond its math: slope of run time over op count."""
    try:
        import onnx
        import onnxruntime as ort
        from onnx import TensorProto, helper
    except ModuleNotFoundError:
        return _numpy_call_overhead(plan), (
            "numpy ufunc call overhead on 16-element arrays (onnxruntime is not installed)"
        )
    medians = []
    counts = plan.dispatch_ops
    with tempfile.TemporaryDirectory() as folder:
        for ops in counts:
            nodes = [helper.make_node("Add", [f"t{i}", "one"], [f"t{i + 1}"]) for i in range(ops)]
            graph = helper.make_graph(
                nodes,
                "chain",
                [helper.make_tensor_value_info("t0", TensorProto.FLOAT, [1, 16])],
                [helper.make_tensor_value_info(f"t{ops}", TensorProto.FLOAT, [1, 16])],
                [helper.make_tensor("one", TensorProto.FLOAT, [1], [1.0])],
            )
            model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
            model.ir_version = 8
            path = Path(folder) / f"chain{ops}.onnx"
            onnx.save(model, path)
            session = ort_session(path, threads)
            feed = {"t0": np.zeros((1, 16), dtype=np.float32)}
            for _ in range(20):
                session.run(None, feed)
            samples = []
            for _ in range(max(30, 10 * plan.repeats)):
                t0 = time.perf_counter()
                session.run(None, feed)
                samples.append(time.perf_counter() - t0)
            medians.append(statistics.median(samples))
            del session  # its idle threads must not spin while the next chain is timed
    per_op = (medians[1] - medians[0]) / (counts[1] - counts[0])
    method = (
        f"onnxruntime {ort.__version__} CPU, chains of {counts[0]} and {counts[1]} Add ops on "
        f"[1,16] fp32, {threads} intra-op threads: slope of the median run time"
    )
    return max(per_op, 1e-9), method


def ort_session(path: str | os.PathLike, threads: int):
    """An onnxruntime CPU session with a fixed thread count and sequential execution."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.log_severity_level = 3
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def _numpy_call_overhead(plan: Plan) -> float:
    a = np.ones(16, dtype=np.float32)
    c = np.empty_like(a)

    def run() -> None:
        for _ in range(1000):
            np.add(a, a, out=c)

    return best_time(run, plan.repeats) / 1000


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
    dram_copy = max(plan.copy_bytes, 4 * int(llc_bytes))
    llc_copy = max(2**16, int(llc_bytes) // 4)
    dram_bw = copy_bandwidth(dram_copy, threads, plan.repeats)
    llc_bw = copy_bandwidth(llc_copy, threads, 5 * plan.repeats)
    per_op, dispatch_source = dispatch_overhead(plan, threads)

    def per_core_flops(dtype: str) -> float:
        """The better of one core alone and all threads together, per core."""
        return max(max(single[dtype].values()), max(multi[dtype].values()) / threads)

    def macs_per_cycle(flops_per_s: float) -> float:
        return round(flops_per_s / 2 / clock, 4)

    matrix = {
        "fp32": macs_per_cycle(per_core_flops("float32")),
        "fp64": macs_per_cycle(per_core_flops("float64")),
    }
    vector_rates = {
        "fp32": round(vector["float32"] / clock, 4),
        "fp64": round(vector["float64"] / clock, 4),
    }
    scalar_rates = {
        d: max(0.01, round(r / lanes * (2 if d == "fp64" else 1), 4))
        for d, r in vector_rates.items()
    }

    def gemm_text(rates: dict[str, dict[int, float]]) -> str:
        return "; ".join(
            f"{d.replace('float', 'fp')}: "
            + ", ".join(f"{n}: {r / 1e9:.1f}" for n, r in by_size.items())
            for d, by_size in rates.items()
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
        "clock.nominal": _source(clock_source),
        "units.cpu.instances": _source(
            f"physical cores among the {len(cpus)} logical CPUs this "
            f"process may use (sched_getaffinity, sysfs topology); "
            f"{threads} used"
        ),
        "units.cpu.rates.matrix": _source(
            f"numpy matmul (BLAS) on square sizes, best of repeats, GFLOP/s by size with 1 "
            f"thread: {gemm_text(single)}; with {threads} threads: {gemm_text(multi)}; the per-"
            f"core rate is the better of one thread alone and {threads} threads / {threads}, "
            "at the best size, divided by 2 x clock"
        ),
        "units.cpu.rates.vector": _source(
            f"numpy multiply on one core on L1-resident arrays (fp32: {sizes32[0]} and "
            f"{sizes32[1]} elements), slope of the best time: {vector['float32'] / 1e9:.2f} G "
            f"fp32 and {vector['float64'] / 1e9:.2f} G fp64 elements/s, divided by the clock"
        ),
        "units.cpu.rates.scalar": "estimate: the vector rate divided by the fp32 SIMD lanes "
        "(one lane per cycle); not measured",
        "units.cpu.vector_width": _source(lanes_source),
        "units.cpu.blocks": "estimate: GEMM output split among threads in 64x64 blocks; "
        "vector work in chunks of 4096 elements (not measured)",
        "units.host": "the same CPU, one core, for ops marked host-only; rates as units.cpu "
        "per instance",
        "memory.dram.capacity": _source("os.sysconf physical pages x page size"),
        "memory.dram.bandwidth": _source(
            f"numpy copy of {dram_copy / 2**20:.0f} MiB on 1 and on {threads} threads (the "
            f"better), best of {plan.repeats}, read + write bytes counted"
        ),
        "memory.l2.capacity": _source(
            f"last-level cache ({llc_name or 'none found: 8 MiB assumed'}"
            ") from /sys/devices/system/cpu/cpu0/cache or sysconf"
        ),
        "memory.l2.bandwidth": _source(
            f"numpy copy of {llc_copy / 2**20:.3g} MiB (fits the last-level cache) on 1 and "
            f"{threads} threads (the better), best of {5 * plan.repeats}, read + write bytes "
            "counted"
        ),
        "memory.local": _source("per-core L2 cache size from sysfs"),
        "host_link": "the host unit shares the CPU's memory: host_link = the measured DRAM copy "
        "bandwidth, no latency",
        "launch.latency": _source(dispatch_source),
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
    clock, clock_source = _gpu_clock(torch)
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
    eager, gap, graph_latency = _gpu_launch(torch, device, 200 if plan is FULL else 50)

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
            "clock.nominal": _source(clock_source),
            "units.sm.instances": _source("torch.cuda.get_device_properties multi_processor_count"),
            "units.sm.rates.matrix": _source(
                f"highest torch.matmul rate over square sizes (CUDA events), TFLOP/s by size: "
                f"{gemm_text}; fp32 with TF32 off; divided by 2 x {sms} SMs x clock"
            ),
            "units.sm.rates.vector": _source(
                "fp32: the fp32 matmul rate with TF32 off (CUDA-core FMA); fp16/bf16 twice that "
                "(estimate: packed half2 FMA, not measured)"
            ),
            "units.sm.rates.scalar": "estimate: 1/8 of the fp32 vector rate (special-function "
            "units, as in the h100-sxm preset); not measured",
            "units.cpu": _source(
                "the host CPU, one core: numpy matmul and elementwise rates (quick measurement)"
            ),
            "units.sm.tile": "estimate: Hopper/Ampere MMA shapes, not measured",
            "memory.dram.capacity": _source("torch.cuda.get_device_properties total_memory"),
            "memory.dram.bandwidth": _source(
                f"device-to-device copy_ of {copy_elems * 4 / 2**20:.0f} MiB, read + write bytes"
            ),
            "memory.l2.capacity": _source("torch.cuda.get_device_properties L2_cache_size"),
            "memory.l2.bandwidth": _source("device copy of a quarter of the L2, read + write"),
            "host_link.bandwidth": _source("pinned host-to-device copy"),
            "host_link.latency": "estimate: a small cudaMemcpyAsync, not measured",
            "launch.latency": _source(
                "host time per launch of a tiny elementwise kernel, launch-bound stream of kernels"
            ),
            "launch.device_gap": _source(
                "time per kernel of the same tiny kernels replayed from a CUDA graph"
            ),
            "launch.graph_latency": _source("replay time of a one-kernel CUDA graph"),
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
            "fp32": round(max(gemm["float32"].values()) / 2 / clock, 4),
            "fp64": round(max(gemm["float64"].values()) / 2 / clock, 4),
        },
        "vector": {
            "fp32": round(elementwise_rate(QUICK, "float32", l1_bytes) / clock, 4),
            "fp64": round(elementwise_rate(QUICK, "float64", l1_bytes) / clock, 4),
        },
    }
    return {"instances": 1, "peak": False, "host": True, "clock": _hz(clock), "rates": rates}


def _gpu_clock(torch) -> tuple[float, str]:
    try:
        import pynvml

        pynvml.nvmlInit()
        handle = pynvml.nvmlDeviceGetHandleByIndex(0)
        mhz = pynvml.nvmlDeviceGetMaxClockInfo(handle, pynvml.NVML_CLOCK_SM)
        return mhz * 1e6, "NVML maximum SM clock"
    except Exception:  # no pynvml, or NVML not usable
        pass
    try:
        return torch.cuda.clock_rate() * 1e6, "torch.cuda.clock_rate (current SM clock)"
    except Exception:
        return 1e9, "no clock available: 1 GHz assumed, rates are per nanosecond"


def _gpu_launch(torch, device, kernels: int) -> tuple[float, float, float]:
    """(eager launch s/kernel, device gap s/kernel in a graph, one-kernel graph launch s)."""
    x = torch.zeros(1, device=device)
    for _ in range(50):
        x.add_(1)
    torch.cuda.synchronize()
    t0 = time.perf_counter()
    for _ in range(kernels):
        x.add_(1)
    torch.cuda.synchronize()
    eager = (time.perf_counter() - t0) / kernels
    stream = torch.cuda.Stream()
    graphs = {}
    for count in (1, kernels):
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.stream(stream), torch.cuda.graph(graph):
            for _ in range(count):
                x.add_(1)
        graphs[count] = graph
    times = {}
    for count, graph in graphs.items():
        graph.replay()
        torch.cuda.synchronize()
        t0 = time.perf_counter()
        for _ in range(20):
            graph.replay()
        torch.cuda.synchronize()
        times[count] = (time.perf_counter() - t0) / 20
    gap = max(1e-9, (times[kernels] - times[1]) / (kernels - 1))
    return eager, gap, times[1]
