"""Measuring this machine: what the OS reports, and timed runs of numpy, BLAS and onnxruntime.

Each function measures one thing and returns it (with, where the method can vary, a
sentence saying how); `hardware.calibrate` turns the numbers into a chip spec. Timings are
the fastest of repeated, interleaved runs (other processes and the OS can only add time to a
run), reported with the median so a spec says how steady the machine was.
"""

from __future__ import annotations

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
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from hardware.errors import InputError

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
    """How much to measure: full (under 20 s and 1 GB) or quick (a couple of seconds)."""

    gemm_sizes: tuple[int, ...]
    gemm_seconds: float  # time budget per dtype, all sizes together
    copy_bytes: int  # the smallest DRAM copy; 4x the last-level cache when that is larger
    max_copy_bytes: int  # ... but never more: source and destination are both resident
    dispatch_ops: tuple[int, int]
    repeats: int


FULL = Plan((256, 512, 1024), 1.5, 64 * 2**20, 192 * 2**20, (20, 400), 7)
QUICK = Plan((64, 128, 256), 0.15, 16 * 2**20, 16 * 2**20, (5, 40), 3)


@dataclass(frozen=True)
class Timing:
    """Repeated runs of one thing: the fastest and the median, in seconds."""

    best_s: float
    median_s: float
    runs: int

    @property
    def spread(self) -> float:
        """How much slower the median run was than the fastest (0.05: 5%)."""
        return self.median_s / self.best_s - 1.0

    def text(self) -> str:
        return f"min of {self.runs} interleaved runs, median {100 * self.spread:.1f}% slower"


def interleaved(
    runs: dict[str, Callable[[], object]], repeats: int, budget_s: float = float("inf")
) -> dict[str, Timing]:
    """Time each function `repeats` times, round-robin (one warm-up each first).

    Round-robin so that a burst of load from other processes slows every variant alike
    instead of one of them; stops early, after at least 3 rounds, past the budget.
    """
    for run in runs.values():
        run()
    samples: dict[str, list[float]] = {name: [] for name in runs}
    start = time.perf_counter()
    for count in range(1, repeats + 1):
        for name, run in runs.items():
            t0 = time.perf_counter()
            run()
            samples[name].append(time.perf_counter() - t0)
        if time.perf_counter() - start > budget_s and count >= 3:
            break
    return {
        name: Timing(min(times), statistics.median(times), len(times))
        for name, times in samples.items()
    }


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


def cache_sizes(sysfs: Path = CPU_SYSFS) -> dict[str, tuple[int, int]]:
    """'L1d', 'L2', 'L3' ... -> (bytes, logical CPUs sharing it), from sysfs or sysconf.

    sysfs: `cpu0/cache/index*/{level,type,size}` (and `shared_cpu_list`, one CPU if absent).
    """
    found: dict[str, tuple[int, int]] = {}
    for index in sorted((sysfs / "cpu0" / "cache").glob("index*")):
        try:
            level = (index / "level").read_text().strip()
            kind = (index / "type").read_text().strip()
            size = _parse_cache_size((index / "size").read_text().strip())
        except (OSError, ValueError, IndexError):
            continue
        try:
            shared = _count_cpus((index / "shared_cpu_list").read_text().strip())
        except (OSError, ValueError):
            shared = 1
        if kind == "Instruction":
            continue
        found[f"L{level}{'d' if kind == 'Data' else ''}"] = (size, shared)
    if not found and sysfs == CPU_SYSFS:
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


GEMM_SCRIPT = """
import json, statistics, sys, time
import numpy as np
sizes, budget, repeats = json.loads(sys.argv[1])
rng = np.random.default_rng(0)
result = {}
for name in ("float32", "float64"):
    cases = {}
    for n in sizes:
        a = rng.standard_normal((n, n)).astype(name)
        b = rng.standard_normal((n, n)).astype(name)
        c = np.empty((n, n), dtype=name)
        np.matmul(a, b, out=c)
        cases[n] = (a, b, c)
    samples = {n: [] for n in sizes}
    start = time.perf_counter()
    for count in range(1, repeats + 1):
        for n, (a, b, c) in cases.items():
            t0 = time.perf_counter()
            np.matmul(a, b, out=c)
            samples[n].append(time.perf_counter() - t0)
        if time.perf_counter() - start > budget and count >= 3:
            break
    result[name] = {
        n: [2.0 * n**3 / min(t), 2.0 * n**3 / statistics.median(t), len(t)]
        for n, t in samples.items()
    }
print(json.dumps(result))
"""


@dataclass(frozen=True)
class Gemm:
    """FLOP/s of square matmuls by dtype and size: from the fastest and the median run."""

    best: dict[str, dict[int, float]]
    median: dict[str, dict[int, float]]
    runs: int

    def peak(self, dtype: str) -> float:
        return max(self.best[dtype].values())

    def spread(self) -> float:
        """The largest shortfall of a median run from the fastest, over sizes and dtypes."""
        return max(
            self.best[d][n] / self.median[d][n] - 1.0 for d in self.best for n in self.best[d]
        )


def gemm_rates(plan: Plan, threads: int) -> Gemm:
    """Square numpy matmuls by dtype and size, BLAS limited to `threads` threads; sizes are
    interleaved within each dtype.

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
    best = {d: {int(n): r[0] for n, r in rates.items()} for d, rates in data.items()}
    median = {d: {int(n): r[1] for n, r in rates.items()} for d, rates in data.items()}
    runs = min(int(r[2]) for rates in data.values() for r in rates.values())
    return Gemm(best, median, runs)


def elementwise_sizes(l1_bytes: int, dtype: str) -> tuple[int, int]:
    """Two array lengths whose three operands (a, b, out) stay in the L1 data cache."""
    itemsize = np.dtype(dtype).itemsize
    large = 1 << max(8, int(np.log2(max(1, l1_bytes // (3 * itemsize)))))
    return 16, large  # 16 elements: the call overhead alone, nearly


def elementwise_rate(plan: Plan, dtype: str, l1_bytes: int) -> tuple[float, Timing]:
    """Elements/s of numpy multiply on one core: slope between two L1-resident sizes, timed
    interleaved; with the large size's timing.

    L1-resident so that the rate is the core's arithmetic throughput; cache and DRAM
    bandwidth are modelled separately by the memory levels.
    """
    small, large = elementwise_sizes(l1_bytes, dtype)
    calls = 500  # short timed runs, many of them: the fastest is rarely interrupted
    runs = {}
    for n in (small, large):
        a = np.full(n, 1.0001, dtype=dtype)
        b = np.full(n, 0.9999, dtype=dtype)
        c = np.empty(n, dtype=dtype)

        def run(a=a, b=b, c=c) -> None:
            for _ in range(calls):
                np.multiply(a, b, out=c)

        runs[n] = run
    timings = interleaved(runs, 10 * plan.repeats)
    slope = (timings[large].best_s - timings[small].best_s) / calls / (large - small)
    if slope <= 0:  # timer noise: fall back to the large size's plain rate
        return large * calls / timings[large].best_s, timings[large]
    return 1.0 / slope, timings[large]


@dataclass(frozen=True)
class Copy:
    """Bytes/s (read + write) of a numpy copy on one thread and split over `threads`."""

    nbytes: int
    threads: int
    single: Timing
    multi: Timing | None

    def bandwidth(self, timing: Timing) -> float:
        return 2.0 * self.nbytes / timing.best_s

    def best(self) -> float:
        """The better of one thread and `threads` (Python threads do not always help)."""
        timings = [self.single] + ([self.multi] if self.multi else [])
        return max(self.bandwidth(t) for t in timings)

    def text(self) -> str:
        parts = [f"1 thread {self.bandwidth(self.single) / 1e9:.3g} GB/s ({self.single.text()})"]
        if self.multi:
            parts.append(
                f"{self.threads} threads {self.bandwidth(self.multi) / 1e9:.3g} GB/s "
                f"({self.multi.text()})"
            )
        return "; ".join(parts)


def copy_bandwidth(nbytes: int, threads: int, repeats: int) -> Copy:
    """Copies of `nbytes` on one thread and on `threads` threads, interleaved."""
    count = max(threads, nbytes // 8)
    src = np.ones(count, dtype=np.float64)
    dst = np.zeros(count, dtype=np.float64)
    edges = [count * i // threads for i in range(threads + 1)]
    runs: dict[str, Callable[[], object]] = {"single": lambda: np.copyto(dst, src)}
    with ThreadPoolExecutor(threads) as pool:
        if threads > 1:

            def part(i: int) -> None:
                np.copyto(dst[edges[i] : edges[i + 1]], src[edges[i] : edges[i + 1]])

            runs["multi"] = lambda: list(pool.map(part, range(threads)))
        timings = interleaved(runs, repeats)
    return Copy(count * 8, threads, timings["single"], timings.get("multi"))


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


def ort_session(
    path: str | os.PathLike,
    threads: int,
    spinning: bool = True,
    profile_prefix: str | os.PathLike | None = None,
):
    """An onnxruntime CPU session with a fixed thread count and sequential execution.

    `spinning` False: idle intra-op threads sleep instead of spin-waiting for the next run
    (for sessions open side by side and run in turn). `profile_prefix`: profile every
    node's kernel time into a JSON file starting with it (`session.end_profiling()`).
    """
    import onnxruntime as ort

    options = ort.SessionOptions()
    if profile_prefix is not None:
        options.enable_profiling = True
        options.profile_file_prefix = str(profile_prefix)
    options.intra_op_num_threads = threads
    if not spinning:
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
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

    return interleaved({"add": run}, plan.repeats)["add"].best_s / 1000


# --- the GPU, through PyTorch ----------------------------------------------------------------


def gpu_clock(torch) -> tuple[float, str]:
    """The SM clock (NVML maximum, else the current one), and where it came from."""
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


def gpu_launch(torch, device, kernels: int) -> tuple[float, float, float]:
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
