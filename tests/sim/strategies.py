"""Hypothesis strategies: random workload DAGs, random chips, random run options.

Graphs mix what breaks schedulers: branches, residual adds and gating multiplies (ops
with several producers), free views, concat and split, norms and softmax, and custom ops
that only the host runs. Chips vary the units (a second, slower accelerator unit that
supports only some kinds), the on-chip level (cache, scratchpad or none), DMA engines,
launch costs and queue depth.
"""

from __future__ import annotations

from hypothesis import strategies as st

from hardware import Chip
from hardware.load import validate_chip
from sim.runtimes import RUNTIMES
from workloads import Graph, GraphBuilder

FEATURES = [8, 16, 24, 64]


@st.composite
def graphs(draw) -> Graph:
    b = GraphBuilder("random", dtype=draw(st.sampled_from(["fp16", "fp16", "fp32"])))
    batch = draw(st.integers(1, 4))
    live = [b.input("x", (batch, draw(st.sampled_from(FEATURES))))]
    if draw(st.booleans()):
        live.append(b.input("y", (batch, draw(st.sampled_from(FEATURES)))))
    for i in range(draw(st.integers(1, 12))):
        kind = draw(
            st.sampled_from(
                ["linear", "linear", "unary", "add", "mul", "norm", "softmax", "view"]
                + ["concat", "split", "host"]
            )
        )
        src = draw(st.sampled_from(live))
        features = b.shape(src)[1]
        if kind == "linear":
            out = b.linear(src, draw(st.sampled_from(FEATURES)), name=f"fc{i}")
        elif kind == "unary":
            activation = draw(st.sampled_from(["relu", "gelu", "sigmoid", "silu"]))
            out = b.unary(activation, src, name=f"{activation}{i}")
        elif kind in ("add", "mul"):
            other = draw(st.sampled_from([t for t in live if b.shape(t) == b.shape(src)]))
            out = b.op(kind, [src, other], name=f"{kind}{i}")
        elif kind == "norm":
            out = b.layernorm(src, name=f"norm{i}")
        elif kind == "softmax":
            out = b.op("softmax", [src], name=f"softmax{i}", axis=-1)
        elif kind == "view":
            out = b.op("reshape", [src], name=f"view{i}", shape=[-1, features])
        elif kind == "concat":
            other = draw(st.sampled_from(live))
            out = b.op("concat", [src, other], name=f"concat{i}", axis=1)
        elif kind == "split" and features >= 2:
            half = features // 2
            outs = b.op(
                "split", [src], name=f"split{i}", n_out=2, axis=1, sizes=[half, features - half]
            )
            live.extend(outs)
            continue
        elif kind == "host":
            shape = [batch, features]
            out = b.op(
                "custom",
                [src],
                name=f"host{i}",
                out_shapes=[shape],
                flops=batch * features,
                accelerated=False,
            )
        else:
            continue
        live.append(out)
    if all(op.kind == "reshape" for op in b.ops):
        b.unary("relu", live[-1], name="work")  # a graph of views only is refused
    return b.build()


SOME_KINDS = ["relu", "gelu", "sigmoid", "silu", "add", "mul", "softmax", "layernorm"]


@st.composite
def chips(draw, power: bool = False) -> Chip:
    """Random chips; with `power`, some have a thermal model with a power cap (a faster
    chip may then run at a lower clock, so monotonicity checks leave it out)."""
    mxu_kinds = draw(st.sampled_from([["*"], ["linear", "relu", "add", "concat", "split"]]))
    units: dict = {
        "mxu": {
            "instances": draw(st.integers(1, 8)),
            "peak": True,
            "rates": {
                "matrix": {"fp16": 64, **({"tf32": 32} if draw(st.booleans()) else {})},
                "vector": {"fp16": 8, "fp32": 4},
            },
            "tile": draw(st.sampled_from([[4, 4, 4], [8, 8, 8], [16, 16, 16]])),
            "vector_width": 8,
            "blocks": draw(st.sampled_from([[[16, 16], [8, 8]], [[32, 32]]])),
            "vector_block": draw(st.sampled_from([64, 1024])),
            "kernel_overhead": draw(st.sampled_from([0.0, 2e-7])),
            "supports": mxu_kinds,
            "efficiency": {"matrix": draw(st.sampled_from([1.0, 0.8, 0.5]))},
        },
        "cpu": {
            "instances": 1,
            "peak": False,
            "host": True,
            "clock": 1e9,
            "rates": {
                "matrix": {"fp16": 4, "fp32": 4},
                "vector": {"fp16": 4, "fp32": 4},
                "scalar": {"fp16": 1, "fp32": 1},
            },
            "blocks": [[64, 64]],
        },
    }
    if draw(st.booleans()):
        units["vpu"] = {
            "instances": draw(st.integers(1, 4)),
            "peak": False,
            "rates": {"vector": {"fp16": 16, "fp32": 8}},
            "vector_width": 16,
            "vector_block": 256,
            "supports": draw(st.lists(st.sampled_from(SOME_KINDS), min_size=1, unique=True)),
        }
    onchip = draw(st.sampled_from([None, 4096, 65536, 2**20]))
    memory: dict = {
        "dram": {
            "capacity": 2**30,
            "bandwidth": draw(st.sampled_from([1e9, 10e9, 50e9])),
            "latency": draw(st.sampled_from([0.0, 1e-7])),
            "efficiency": draw(st.sampled_from([1.0, 0.9, 0.5])),
        }
    }
    if onchip is not None:
        memory["l2"] = {
            "capacity": onchip,
            "bandwidth": draw(st.sampled_from([20e9, 100e9])),
            "policy": draw(st.sampled_from(["cache", "scratchpad"])),
        }
    spec = {
        "name": "random",
        "hypothetical": True,
        "clock": {"nominal": 1e9},
        "units": units,
        "memory": memory,
        "host_link": {"bandwidth": 1e9, "latency": draw(st.sampled_from([0.0, 1e-6]))},
        "launch": {
            "latency": draw(st.sampled_from([0.0, 1e-7, 1e-6])),
            "device_gap": draw(st.sampled_from([0.0, 1e-7])),
            "queue_depth": draw(st.integers(1, 16)),
            "graph_latency": 2e-6,
        },
    }
    if power and draw(st.booleans()):
        spec["clock"]["dvfs"] = [
            {"frequency": 1e9, "voltage": 1.0},
            {"frequency": 0.7e9, "voltage": 0.85},
            {"frequency": 0.4e9, "voltage": 0.7},
        ]
        spec["thermal"] = {
            "resistance": 10.0,
            "capacitance": 1.0,
            "static_power": 1.0,
            "energy_per_mac": {"fp16": 1e-12, "fp32": 4e-12},
            "energy_per_dram_byte": 20e-12,
            "power_cap": draw(st.sampled_from([1.05, 1.2, 2.0])),
        }
    if draw(st.booleans()):
        spec["dma"] = {
            "engines": draw(st.integers(1, 3)),
            "bandwidth": draw(st.sampled_from([2e9, 20e9])),
            "setup_latency": draw(st.sampled_from([0.0, 5e-7])),
        }
    return validate_chip(spec, "random")


@st.composite
def run_options(draw) -> dict:
    """SimOptions fields: every fusion mode, overlap on and off, graph launch, streams,
    every runtime, TF32 on and off."""
    batches = draw(st.integers(1, 3))
    return {
        "fusion": draw(st.sampled_from(["none", "epilogue", "greedy"])),
        "overlap": draw(st.booleans()),
        "graph_launch": draw(st.booleans()),
        "batches": batches,
        "prefetch": draw(st.integers(0, 1)) if batches > 1 else 0,
        "load_input": draw(st.sampled_from([None, True, False])),
        "fast_forward": False,
        "tf32": draw(st.booleans()),
        "runtime": draw(st.sampled_from(sorted(RUNTIMES))),
    }
