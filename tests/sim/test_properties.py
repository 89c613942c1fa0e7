"""Properties over random graphs and chips (hypothesis)."""

import math

from hypothesis import given, settings
from hypothesis import strategies as st

import hardware
import sim
from workloads import GraphBuilder


@st.composite
def graphs(draw):
    """Random small DAGs of convs, linears, elementwise ops and residual adds."""
    b = GraphBuilder("random", dtype="fp16")
    channels = draw(st.sampled_from([3, 8, 16, 24]))
    size = draw(st.sampled_from([4, 7, 14]))
    x = b.input("x", (draw(st.integers(1, 4)), channels, size, size))
    live = [x]
    for i in range(draw(st.integers(1, 8))):
        kind = draw(st.sampled_from(["conv", "dwconv", "relu", "add", "sigmoid"]))
        src = draw(st.sampled_from(live))
        c = b.shape(src)[1]
        if kind == "conv":
            kernel = draw(st.sampled_from([1, 3])) if b.shape(src)[2] >= 3 else 1
            y = b.conv2d(
                src,
                draw(st.sampled_from([c, 8, 16])),
                kernel=kernel,
                padding=1 if draw(st.booleans()) else 0,
                name=f"conv{i}",
            )
            if b.shape(y)[2:] != b.shape(src)[2:]:
                live = [y]
                continue
        elif kind == "dwconv":
            y = b.conv2d(src, c, kernel=3, padding=1, groups=c, name=f"dw{i}")
        elif kind == "add":
            same = [t for t in live if b.shape(t) == b.shape(src)]
            y = b.add(src, draw(st.sampled_from(same)), name=f"add{i}")
        else:
            y = b.unary(kind, src, name=f"{kind}{i}")
        live.append(y)
    return b.build()


@st.composite
def chips(draw):
    return hardware.load_chip(
        "toy",
        {
            "memory.dram.bandwidth": draw(st.sampled_from([1e9, 4e9, 10e9, 50e9])),
            "memory.l2.capacity": draw(st.sampled_from([4096, 65536, 2**20])),
            "units.mxu.instances": draw(st.integers(1, 8)),
            "launch.latency": draw(st.sampled_from([0.0, 1e-7, 1e-6, 5e-6])),
        },
    )


FUSION = st.sampled_from(["none", "epilogue", "greedy"])
PROPERTY = settings(max_examples=40, deadline=None, derandomize=True)


@PROPERTY
@given(graphs(), chips(), FUSION, st.booleans())
def test_loss_accounting_sums_exactly(graph, chip, fusion, overlap):
    r = sim.simulate(graph, chip, fusion=fusion, overlap=overlap)
    capacity = r.peak_ops * r.latency_s
    assert math.isclose(r.useful_ops + sum(r.losses_ops.values()), capacity, rel_tol=1e-9)
    assert min(r.losses_ops.values()) >= -1e-9 * capacity


@PROPERTY
@given(graphs(), chips(), FUSION)
def test_latency_is_at_least_the_roofline_bounds(graph, chip, fusion):
    r = sim.simulate(graph, chip, fusion=fusion)
    assert r.latency_s >= r.useful_ops / r.peak_ops * (1 - 1e-9)
    assert r.latency_s >= r.dram_bytes / chip.memory.dram.bandwidth * (1 - 1e-9)


@PROPERTY
@given(graphs(), chips(), FUSION)
def test_more_bandwidth_is_never_slower(graph, chip, fusion):
    base = sim.simulate(graph, chip, fusion=fusion)
    faster = hardware.load_chip(chip, {"memory.dram.bandwidth": chip.memory.dram.bandwidth * 2})
    assert sim.simulate(graph, faster, fusion=fusion).latency_s <= base.latency_s * (1 + 1e-9)


@PROPERTY
@given(graphs(), chips(), FUSION)
def test_more_onchip_memory_is_never_slower(graph, chip, fusion):
    base = sim.simulate(graph, chip, fusion=fusion)
    bigger = hardware.load_chip(chip, {"memory.l2.capacity": chip.memory.l2.capacity * 4})
    assert sim.simulate(graph, bigger, fusion=fusion).latency_s <= base.latency_s * (1 + 1e-9)


@PROPERTY
@given(graphs(), chips(), FUSION)
def test_lower_launch_latency_is_never_slower(graph, chip, fusion):
    base = sim.simulate(graph, chip, fusion=fusion)
    quicker = hardware.load_chip(chip, {"launch.latency": chip.launch.latency / 2})
    assert sim.simulate(graph, quicker, fusion=fusion).latency_s <= base.latency_s * (1 + 1e-9)


@PROPERTY
@given(graphs(), chips())
def test_same_input_same_output_and_names_are_irrelevant(graph, chip):
    first = sim.simulate(graph, chip)
    assert sim.simulate(graph, chip).model_dump_json() == first.model_dump_json()
    # names in reverse alphabetical order of the list: only the listed order decides ties
    data = graph.model_dump()
    for i, op in enumerate(data["ops"]):
        op["name"] = f"op{len(data['ops']) - i:04d}"
    renamed = sim.simulate(type(graph).model_validate(data), chip)
    assert renamed.latency_s == first.latency_s
    assert renamed.losses_ops == first.losses_ops


@PROPERTY
@given(graphs(), chips(), FUSION)
def test_more_instances_are_never_slower(graph, chip, fusion):
    base = sim.simulate(graph, chip, fusion=fusion)
    wider = hardware.load_chip(chip, {"units.mxu.instances": chip.units["mxu"].instances * 2})
    assert sim.simulate(graph, wider, fusion=fusion).latency_s <= base.latency_s * (1 + 1e-9)
