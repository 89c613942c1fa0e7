"""Per-op-class micro-kernels: single-node ONNX models timed by onnxruntime on this CPU.

`topsim calibrate` measures what the host achieves on each class of operator a network
is made of, through the runtime the predictions are compared with (onnxruntime's CPU
kernels, not numpy's): dense GEMM and convolution, depthwise convolution, elementwise
ops, reductions and norms, and data copies (transpose, concat). Each kernel is one ONNX
node built with `onnx.helper`, run in its own session with a fixed number of intra-op
threads; all kernels are run interleaved (round-robin, so a burst of load from other
processes slows every kernel alike), each run's time taken from onnxruntime's profiler
(the kernel alone), and each kernel reports the fastest and the median run.

Each kernel also names the topsim op it is (kind, input shapes, attributes), so that
`sim.studies.host_rates` can fit the chip's per-op-class efficiencies to the times. The
shapes are typical layers of CNNs and transformers at batch 1 (sizes of the order of
ResNet's, MobileNet's and ViT's layers, not copied from any one model), chosen so that
each run takes roughly 0.05-5 ms on one core: long enough that the profiler's
microsecond resolution is small, short enough that the whole set takes a few seconds.
"""

from __future__ import annotations

import json
import os
import statistics
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from hardware.measure import Timing, ort_session

OPSET = 17


@dataclass(frozen=True)
class Kernel:
    """One micro-kernel: an ONNX node and the topsim op it is."""

    name: str
    family: str  # "dense", "depthwise", "elementwise", "norm", "copy"
    onnx_op: str
    inputs: tuple[tuple[int, ...], ...]  # runtime inputs (random fp32)
    weights: tuple[tuple[int, ...], ...]  # constant inputs (initializers), after the runtime ones
    onnx_attrs: tuple[tuple[str, object], ...]
    kind: str  # the topsim op kind
    attrs: tuple[tuple[str, object], ...] = ()  # the topsim op's attributes

    @property
    def shapes(self) -> tuple[tuple[int, ...], ...]:
        """The topsim op's input shapes (runtime inputs, then weights)."""
        return self.inputs + self.weights


KERNELS: tuple[Kernel, ...] = (
    Kernel("gemm 256x1024x768", "dense", "MatMul", ((256, 1024),), ((1024, 768),), (), "matmul"),
    Kernel(
        "conv3x3 64ch 56x56",
        "dense",
        "Conv",
        ((1, 64, 56, 56),),
        ((64, 64, 3, 3),),
        (("pads", [1, 1, 1, 1]),),
        "conv2d",
        (("padding", 1),),
    ),
    Kernel(
        "conv1x1 256->128 28x28",
        "dense",
        "Conv",
        ((1, 256, 28, 28),),
        ((128, 256, 1, 1),),
        (),
        "conv2d",
    ),
    Kernel(
        "depthwise3x3 144ch 56x56",
        "depthwise",
        "Conv",
        ((1, 144, 56, 56),),
        ((144, 1, 3, 3),),
        (("pads", [1, 1, 1, 1]), ("group", 144)),
        "conv2d",
        (("padding", 1), ("groups", 144)),
    ),
    Kernel(
        "depthwise3x3 s2 232ch 28x28",
        "depthwise",
        "Conv",
        ((1, 232, 28, 28),),
        ((232, 1, 3, 3),),
        (("pads", [1, 1, 1, 1]), ("group", 232), ("strides", [2, 2])),
        "conv2d",
        (("padding", 1), ("groups", 232), ("stride", 2)),
    ),
    Kernel(
        "add 256ch 56x56", "elementwise", "Add", ((1, 256, 56, 56), (1, 256, 56, 56)), (), (), "add"
    ),  # fmt: skip
    Kernel("relu 256ch 56x56", "elementwise", "Relu", ((1, 256, 56, 56),), (), (), "relu"),
    Kernel(
        "layernorm 197x768",
        "norm",
        "LayerNormalization",
        ((1, 197, 768),),
        ((768,), (768,)),
        (("axis", -1),),
        "layernorm",
    ),
    Kernel(
        "softmax 12x197x197", "norm", "Softmax", ((12, 197, 197),), (), (("axis", -1),), "softmax"
    ),
    Kernel(
        "global avgpool 1024ch 14x14",
        "norm",
        "GlobalAveragePool",
        ((1, 1024, 14, 14),),
        (),
        (),
        "global_avgpool",
    ),
    Kernel(
        "transpose 1x116x2x28x28",
        "copy",
        "Transpose",
        ((1, 2, 116, 28, 28),),
        (),
        (("perm", [0, 2, 1, 3, 4]),),
        "transpose",
        (("perm", [0, 2, 1, 3, 4]),),
    ),
    Kernel(
        "concat 2x116ch 28x28",
        "copy",
        "Concat",
        ((1, 116, 28, 28), (1, 116, 28, 28)),
        (),
        (("axis", 1),),
        "concat",
        (("axis", 1),),
    ),
)
FAMILIES = ("dense", "depthwise", "elementwise", "norm", "copy")


@dataclass(frozen=True)
class KernelTime:
    """A kernel's time per run as onnxruntime's profiler saw it, fastest and median."""

    kernel: Kernel
    timing: Timing

    @property
    def best_s(self) -> float:
        return self.timing.best_s

    @property
    def median_s(self) -> float:
        return self.timing.median_s


# layout conversions onnxruntime wraps around a lone Conv (NCHW <-> its blocked NCHWc): in
# a network they run once at its ends, so they are not part of the kernel's time
LAYOUT_OPS = frozenset({"ReorderInput", "ReorderOutput"})


def profiled_runs(events: list, warmup: int) -> list[float]:
    """Seconds of each profiled run of a one-kernel session: its nodes' kernel times
    (layout conversions left out), one entry per run, the `warmup` first runs dropped."""
    runs: list[float] = []
    for event in events:
        if not isinstance(event, dict) or event.get("cat") != "Node":
            continue
        name = str(event.get("name", ""))
        args = event.get("args") or {}
        if not name.endswith("_kernel_time") or args.get("op_name") in LAYOUT_OPS:
            continue
        runs.append(float(event["dur"]) * 1e-6)
    return runs[warmup:]


def kernel_model(kernel: Kernel, seed: int = 0):
    """The kernel as a one-node ONNX model, its weights random fp32 initializers (the
    output's shape filled in by ONNX shape inference, which also checks the node)."""
    from onnx import TensorProto, helper, numpy_helper, shape_inference

    rng = np.random.default_rng(seed)
    names = [f"x{i}" for i in range(len(kernel.inputs))]
    weights = [f"w{i}" for i in range(len(kernel.weights))]
    inits = [
        numpy_helper.from_array(rng.standard_normal(s).astype(np.float32), n)
        for n, s in zip(weights, kernel.weights, strict=True)
    ]
    node = helper.make_node(kernel.onnx_op, names + weights, ["y"], **dict(kernel.onnx_attrs))
    graph = helper.make_graph(
        [node],
        kernel.name,
        [
            helper.make_tensor_value_info(n, TensorProto.FLOAT, list(s))
            for n, s in zip(names, kernel.inputs, strict=True)
        ],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)])
    model.ir_version = 8
    return shape_inference.infer_shapes(model, strict_mode=True)


def time_kernels(
    threads: int, repeats: int, budget_s: float, kernels: tuple[Kernel, ...] = KERNELS
) -> list[KernelTime]:
    """Each kernel's time on onnxruntime with `threads` intra-op threads, interleaved.

    All sessions are open at once so that the runs can be interleaved; onnxruntime's
    idle intra-op threads stop spinning between runs (`session.intra_op.allow_spinning`
    off), so an idle session takes no CPU from the one being timed. The time of a run is
    the kernel's own, from onnxruntime's profiler: no session or Python overhead, and no
    layout conversion (a lone Conv is wrapped in NCHW <-> NCHWc reorders that a network
    pays once).
    """
    import onnx

    warmup = 2  # the first runs allocate and pick algorithms
    rng = np.random.default_rng(1)
    runs = {}
    with tempfile.TemporaryDirectory() as folder:
        for i, kernel in enumerate(kernels):
            path = Path(folder) / f"k{i}.onnx"
            onnx.save(kernel_model(kernel), path)
            session = ort_session(
                path, threads, spinning=False, profile_prefix=Path(folder) / f"p{i}"
            )
            feeds = {
                f"x{j}": rng.standard_normal(s).astype(np.float32)
                for j, s in enumerate(kernel.inputs)
            }
            for _ in range(warmup):
                session.run(None, feeds)
            runs[kernel.name] = (session, feeds)
        start = time.perf_counter()
        for count in range(1, repeats + 1):
            for session, feeds in runs.values():
                session.run(None, feeds)
            if time.perf_counter() - start > budget_s and count >= 3:
                break
        results = []
        for kernel in kernels:
            session, _ = runs[kernel.name]
            events = json.loads(Path(session.end_profiling()).read_text())
            samples = profiled_runs(events, warmup) or [float("nan")]
            timing = Timing(min(samples), statistics.median(samples), len(samples))
            results.append(KernelTime(kernel, timing))
    return results


def onnxruntime_version() -> str | None:
    """onnxruntime's version, or None when it (or onnx) is not installed."""
    try:
        import onnx  # noqa: F401
        import onnxruntime
    except ModuleNotFoundError:
        return None
    return str(onnxruntime.__version__)


def cpu_threads_note(threads: int) -> str:
    return f"{threads} intra-op thread{'s' if threads > 1 else ''} of {os.cpu_count()} CPUs"
