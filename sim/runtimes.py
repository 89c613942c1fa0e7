"""The software that runs a model: what it costs on the host per kernel, what it fuses, and
whether it launches the whole graph at once. Chosen with `--runtime NAME`.

A chip spec's `launch` block is the driver and the device (a kernel launch call, the gap
between kernels). A runtime adds what sits above the driver: a framework's per-op
dispatch on the host, the fusion its compiler does, CUDA graphs. `native` adds nothing:
it is the chip's own figures with topsim's default (epilogue) fusion.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from hardware.errors import InputError
from hardware.quantity import Flag
from sim.fuse import FusionMode


class Runtime(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    description: str
    dispatch_s: float = Field(ge=0.0)  # host time per kernel on top of the driver's launch
    fusion: FusionMode
    graph_launch: Flag
    source: str


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
    )
}


RuntimeName = Literal[tuple(RUNTIMES)]  # type: ignore[valid-type]


def runtime(name: str) -> Runtime:
    if name not in RUNTIMES:
        raise InputError(
            f"runtime {name!r} is unknown; allowed: {', '.join(RUNTIMES)} "
            "(see topsim's README, 'Runtimes')."
        )
    return RUNTIMES[name]
