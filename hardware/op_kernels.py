"""Per-op-class micro-kernels: single-node ONNX models timed by onnxruntime on this CPU.

`topsim calibrate` measures what the host achieves on each class of operator a network
is made of, through the runtime the predictions are compared with (onnxruntime's CPU
kernels, not numpy's): dense GEMM and convolution, depthwise convolution, elementwise
ops, reductions and norms, and data copies (transpose, concat). Each kernel is one ONNX
node built with `onnx.helper`, run in its own session with a fixed number of intra-op
threads; all kernels are timed interleaved (round-robin, so a burst of load from other
processes slows every kernel alike), and each reports the fastest and the median run.
The time of a session run of a trivial one-node model (the Python and session overhead
every run pays) is measured the same way and subtracted.

Each kernel also names the topsim op it is (kind, input shapes, attributes), so that
`sim.studies.host_rates` can fit the chip's per-op-class efficiencies to the times. The
shapes are typical layers of CNNs and transformers at batch 1 (sizes of the order of
ResNet's, MobileNet's and ViT's layers, not copied from any one model), chosen so that
each run takes roughly 0.1-5 ms on one core: long enough that the timer and the session
overhead are small, short enough that the whole set takes a few seconds.
"""

from __future__ import annotations

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
    Kernel("add 256ch 56x56", "elementwise", "Add", ((1, 256, 56, 56), (1, 256, 56, 56)), (), (),
           "add"),  # fmt: skip
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
# the trivial model whose run time (session and Python overhead) is subtracted
BASELINE = Kernel("overhead", "none", "Identity", ((1, 16),), (), (), "identity")


@dataclass(frozen=True)
class KernelTime:
    """A kernel's time per run with the session overhead taken off, fastest and median."""

    kernel: Kernel
    timing: Timing  # the raw session runs
    overhead_s: float  # the fastest run of the trivial model

    @property
    def best_s(self) -> float:
        return max(self.timing.best_s - self.overhead_s, 1e-9)

    @property
    def median_s(self) -> float:
        return max(self.timing.median_s - self.overhead_s, 1e-9)


def kernel_model(kernel: Kernel, seed: int = 0):
    """The kernel as a one-node ONNX model, its weights random fp32 initializers."""
    from onnx import TensorProto, helper, numpy_helper

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
    return model


def time_kernels(
    threads: int, repeats: int, budget_s: float, kernels: tuple[Kernel, ...] = KERNELS
) -> list[KernelTime]:
    """Each kernel's time on onnxruntime with `threads` intra-op threads, interleaved.

    All sessions are open at once so that the runs can be interleaved; onnxruntime's
    idle intra-op threads stop spinning between runs (`session.intra_op.allow_spinning`
    off), so an idle session takes no CPU from the one being timed.
    """
    import onnx

    rng = np.random.default_rng(1)
    runs = {}
    with tempfile.TemporaryDirectory() as folder:
        for kernel in (BASELINE, *kernels):
            path = Path(folder) / f"k{len(runs)}.onnx"
            onnx.save(kernel_model(kernel), path)
            session = ort_session(path, threads, spinning=False)
            feeds = {
                f"x{i}": rng.standard_normal(s).astype(np.float32)
                for i, s in enumerate(kernel.inputs)
            }
            for _ in range(2):  # warm-up: first runs allocate and pick algorithms
                session.run(None, feeds)
            runs[kernel.name] = (session, feeds)
    samples: dict[str, list[float]] = {name: [] for name in runs}
    start = time.perf_counter()
    for count in range(1, repeats + 1):
        for name, (session, feeds) in runs.items():
            t0 = time.perf_counter()
            session.run(None, feeds)
            samples[name].append(time.perf_counter() - t0)
        if time.perf_counter() - start > budget_s and count >= 3:
            break
    timings = {n: Timing(min(s), statistics.median(s), len(s)) for n, s in samples.items()}
    overhead = timings[BASELINE.name].best_s
    return [KernelTime(k, timings[k.name], overhead) for k in kernels]


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
