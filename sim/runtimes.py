"""The software that runs a model: what it costs on the host per kernel, what it fuses, and
whether it launches the whole graph at once. Chosen with `--runtime NAME`.

A chip spec's `launch` block is the driver and the device (a kernel launch call, the gap
between kernels). A runtime adds what sits above the driver: a framework's per-op
dispatch on the host, the fusion its compiler does, CUDA graphs. `native` adds nothing:
it is the chip's own figures with topsim's default (epilogue) fusion.

A serving runtime (an inference server measured from its client) also has a `request`
path: each batch arrives as one request whose payload (the graph's input bytes, plus its
output bytes coming back) is serialized, moved through the network stack and parsed, at
`bandwidth` bytes per second, after a fixed round trip `latency_s` that even an empty
request pays. Such a runtime loads every batch's input through that path (then over the
host link), as a client-measured latency includes it.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from hardware.errors import InputError
from hardware.quantity import Flag
from sim.fuse import FusionMode


class RequestPath(BaseModel):
    """The client -> server -> client path of one inference request."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    latency_s: float = Field(ge=0.0)  # round trip of a request with an empty payload
    bandwidth: float = Field(gt=0.0)  # payload bytes per second through the stack
    source: str


class Runtime(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    description: str
    dispatch_s: float = Field(ge=0.0)  # host time per kernel on top of the driver's launch
    fusion: FusionMode
    graph_launch: Flag
    source: str
    request: RequestPath | None = None  # a serving front end, measured from its client
    # host time per kernel for op kinds whose host path costs more than `dispatch_s` (a
    # library call that builds descriptors and looks up an algorithm), with its source; a
    # kernel pays its costliest op's (the engine's launcher applies it)
    dispatch_by_kind: dict[str, float] = {}
    dispatch_source: str = ""
    # automatic mixed precision (workloads/autocast.py): weights and inputs stored in fp32
    # and cast to the graph's dtype by a kernel each, every forward pass
    autocast: Flag = False


def _with_autocast(base: Runtime) -> Runtime:
    """`base` under automatic mixed precision."""
    return base.model_copy(
        update={
            "name": f"{base.name}-amp",
            "description": f"{base.description}; automatic mixed precision (autocast)",
            "autocast": True,
        }
    )


RUNTIMES: dict[str, Runtime] = {
    runtime.name: runtime
    for runtime in (
        Runtime(
            name="native",
            description="the chip's own launch figures, epilogue fusion, kernel by kernel",
            dispatch_s=0.0,
            fusion="epilogue",
            graph_launch=False,
            source="topsim's defaults: no cost above the driver",
        ),
        Runtime(
            name="eager",
            description="PyTorch eager: one kernel per op, Python and dispatcher on the host",
            dispatch_s=8.5e-6,
            fusion="none",
            graph_launch=False,
            source=(
                "sum of the midpoints of the per-op host costs above the driver launch in "
                "'From PyTorch op to kernel launch' (jiahuanglin.xyz, GPU kernel serving, "
                "lesson 18): Python bytecode ~1 us, pybind11 ~1 us, autograd dispatch 1-3 us, "
                "ATen dispatcher 1-2 us, backend selection 1-5 us = 8.5 us; eager mode runs "
                "every op as its own kernel"
            ),
            dispatch_by_kind={"conv2d": 42.7e-6},
            dispatch_source=(
                "conv2d: pytorch/pytorch pull request #51390 (2021-05-26), torch.utils.benchmark "
                "of nn.Conv2d(1, 1, 1) on a CUDA tensor (100, 1, 100, 100): 51.95 us per call "
                "with the cuDNN v8 API, whose callgrind count is 13,585,372 instructions per "
                "100 calls against 12,473,820 for the v7 API (PyTorch's default before 2.0), so "
                "the v7 call takes 51.95 x 12.47 / 13.59 = 47.7 us; less the ~5 us kernel "
                "launch inside it (the GPU presets' launch.latency) = 42.7 us of host work "
                "(descriptors, algorithm lookup, workspace) per convolution"
            ),
        ),
        Runtime(
            name="compiled",
            description="torch.compile (mode='reduce-overhead'): fused kernels in a CUDA graph",
            dispatch_s=0.0,
            fusion="greedy",
            graph_launch=True,
            source=(
                "PyTorch docs, torch.compile: mode 'reduce-overhead' uses CUDA graphs to "
                "remove per-kernel launch overhead; Inductor fuses pointwise and reduction "
                "ops into their producers"
            ),
        ),
        Runtime(
            name="tensorrt",
            description="an inference engine (TensorRT): fused layers, kernels enqueued one by one",
            dispatch_s=0.0,
            fusion="epilogue",
            graph_launch=False,
            source=(
                "NVIDIA TensorRT developer guide: vertical fusion of convolution, bias and "
                "activation (and horizontal fusion of layers that share an input); the "
                "engine's enqueue launches each fused kernel on the stream"
            ),
        ),
        Runtime(
            name="triton",
            description=(
                "Triton Inference Server over gRPC, client on the same host: TensorRT "
                "kernels, and each batch sent as one request"
            ),
            dispatch_s=0.0,
            fusion="epilogue",
            graph_launch=False,
            source="the tensorrt runtime's kernels behind Triton's gRPC endpoint",
            request=RequestPath(
                latency_s=591e-6,
                bandwidth=0.915e9,
                source=(
                    "latency_s: perf_analyzer -i grpc at concurrency 1 on Triton's 'simple' "
                    "model (two 16-element int32 inputs, so the payload and the compute are "
                    "negligible): avg latency 591 usec (NVIDIA, triton-inference-server/"
                    "server issue #7203, 2024-05-15). bandwidth: gRPC C++ microbenchmark "
                    "BM_UnaryPingPong<TCP> (full stack over loopback TCP), 2 MiB request / "
                    "empty response: 2,292,230 ns per call = 0.915 GB/s (grpc/grpc pull "
                    "request #9801, 2017)"
                ),
            ),
        ),
    )
}
RUNTIMES["eager-amp"] = _with_autocast(RUNTIMES["eager"])


RuntimeName = Literal[tuple(RUNTIMES)]  # type: ignore[valid-type]


def runtime(name: str) -> Runtime:
    if name not in RUNTIMES:
        raise InputError(
            f"runtime {name!r} is unknown; allowed: {', '.join(RUNTIMES)} "
            "(see topsim's README, 'Runtimes')."
        )
    return RUNTIMES[name]
