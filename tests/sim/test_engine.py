"""Engine behaviours: shared DRAM, concurrency across units, host fallback, same-MAC spread."""

import pytest
import simpy
from hypothesis import given, settings
from hypothesis import strategies as st

import hardware
import sim
from sim.engine.resources import all_done
from workloads import GraphBuilder

# toy, plus a vector unit that takes the elementwise ops while the matrix unit does GEMMs
SPLIT_TOY = hardware.load_chip(
    "toy",
    {
        "units.mxu.supports": ["linear", "matmul", "conv2d"],
        "units.vec": {
            "instances": 4,
            "peak": False,
            "rates": {"vector": {"fp16": 8}},
            "vector_width": 8,
            "vector_block": 1024,
            "supports": ["relu", "add"],
        },
        "memory.l2.capacity": "64 KiB",
    },
)


def two_branches(with_linear: bool = True, with_relu: bool = True):
    """A GEMV over 8 MiB of weights and a ReLU over 4 MiB in, 4 MiB out: independent."""
    b = GraphBuilder("two-branches")
    if with_linear:
        b.linear(b.input("x", (1, 2048)), 2048, bias=False, name="gemv")
    if with_relu:
        b.relu(b.input("z", (1, 2**21)), name="relu")
    return b.build()


def test_concurrent_memory_bound_kernels_share_dram_bandwidth():
    alone_gemv = sim.simulate(two_branches(with_relu=False), SPLIT_TOY)
    alone_relu = sim.simulate(two_branches(with_linear=False), SPLIT_TOY)
    both = sim.simulate(two_branches(), SPLIT_TOY)
    units = {row.name: row.unit for row in both.ops}
    assert units == {"gemv": "mxu", "relu": "vec"}
    bandwidth = SPLIT_TOY.memory.dram.bandwidth
    total_bytes = alone_gemv.dram_bytes + alone_relu.dram_bytes
    # each alone runs at full bandwidth; together they share it, so the pair takes the
    # time of all their bytes at full bandwidth, and each kernel runs about half speed
    assert both.latency_s == pytest.approx(total_bytes / bandwidth, rel=0.01)
    gemv = next(r for r in both.ops if r.name == "gemv")
    gemv_alone = alone_gemv.ops[0]
    assert (gemv.end_s - gemv.start_s) / (gemv_alone.end_s - gemv_alone.start_s) == pytest.approx(
        2.0, rel=0.05
    )


def test_independent_branches_run_concurrently_on_different_units():
    both = sim.simulate(two_branches(), SPLIT_TOY)
    gemv, relu = sorted(both.ops, key=lambda r: r.name)
    assert gemv.start_s < relu.end_s and relu.start_s < gemv.end_s


def python_layer_graph():
    """conv -> an unoptimised custom layer (host only) -> conv: Amdahl's law."""
    b = GraphBuilder("python-layer")
    x = b.conv2d(b.input("x", (1, 16, 32, 32)), 16, kernel=3, padding=1, name="conv1")
    y = b.op(
        "custom",
        [x],
        name="python_layer",
        out_shapes=[[1, 16, 32, 32]],
        flops=16 * 32 * 32 * 20,
        accelerated=False,
    )
    b.conv2d(y, 16, kernel=3, padding=1, name="conv2")
    return b.build()


def test_unsupported_custom_op_runs_on_host_and_dominates():
    graph = python_layer_graph()
    result = sim.simulate(graph, hardware.load_chip("toy"))
    row = next(r for r in result.ops if r.name == "python_layer")
    assert row.unit == "cpu" and row.bound == "host"
    assert result.top_loss() == "host_fallback"
    ops_share = row.ops / result.total_ops
    time_share = (row.end_s - row.start_s) / result.latency_s
    assert ops_share < 0.05 and time_share > 0.5  # little work, most of the time
    # host time: 2 x (16*32*32*2 bytes over 1 GB/s + 1 us) + 327,680 flops / 4 per ns
    expected = 2 * (32768 / 1e9 + 1e-6) + 16 * 32 * 32 * 20 / 4e9
    assert row.end_s - row.start_s == pytest.approx(expected, rel=1e-6)
    assert result.offloaded_ops == row.ops


def same_macs_graphs(batch: int = 1):
    """225,000,000 MACs per item twice: one 3x3 conv, or 100 depthwise 3x3 convs (EMBench)."""
    dense = GraphBuilder("dense")
    dense.conv2d(dense.input("x", (batch, 100, 50, 50)), 100, kernel=3, padding=1)
    thin = GraphBuilder("thin")
    x = thin.input("x", (batch, 100, 50, 50))
    for i in range(100):
        x = thin.conv2d(x, 100, kernel=3, padding=1, groups=100, name=f"dw{i}")
    return dense.build(), thin.build()


def test_same_macs_differ_in_latency_by_the_vector_to_matrix_rate():
    dense, thin = same_macs_graphs()
    assert dense.macs == thin.macs == 225_000_000
    chip = hardware.load_chip("toy")
    fast, slow = sim.simulate(dense, chip), sim.simulate(thin, chip)
    # depthwise runs on the toy's vector class, 8 MACs/cycle against 64 for matrix: the
    # thin graph can be at best 8x slower in compute alone, and memory adds to that
    assert slow.latency_s / fast.latency_s > 7
    assert slow.top_loss() == "unspecialized"


def test_dma_engines_carry_scratchpad_traffic_with_setup_latency():
    # edge-npu moves DRAM <-> scratchpad with DMA engines: each transfer pays the setup
    # latency and runs at most at one engine's bandwidth
    edge = hardware.load_chip("edge-npu")
    assert edge.dma is not None and edge.memory.l2.policy == "scratchpad"
    b = GraphBuilder("gemv", dtype="int8")
    b.linear(b.input("x", (1, 4096)), 4096, bias=False, name="gemv")
    result = sim.simulate(b.build(), edge)
    (row,) = result.ops
    floor = row.dram_bytes / min(edge.dma.bandwidth, edge.memory.dram.bandwidth)
    assert row.memory_s >= floor + edge.dma.setup_latency
    one_engine = hardware.load_chip(edge, {"dma.bandwidth": edge.dma.bandwidth / 2})
    assert sim.simulate(b.build(), one_engine).latency_s > result.latency_s


def test_bounded_launch_queue_throttles_the_launcher():
    # with a queue of 1 the host may not launch kernel k+1 before kernel k is done, so
    # launches no longer hide behind device work
    chain = GraphBuilder("chain")
    x = chain.input("x", (1, 4096))
    for i in range(20):
        x = chain.linear(x, 4096, bias=False, name=f"fc{i}")
    graph = chain.build()
    deep = sim.simulate(graph, hardware.load_chip("toy"))
    shallow = sim.simulate(graph, hardware.load_chip("toy", {"launch.queue_depth": 1}))
    assert shallow.latency_s > deep.latency_s
    assert shallow.latency_s >= 20 * (1e-6) + sum(r.end_s - r.start_s for r in shallow.ops) * 0.99


@settings(max_examples=60, deadline=None)
@given(
    delays=st.lists(st.sampled_from([0.0, 1.0, 2.0, 2.5]), max_size=6),
    processed_first=st.booleans(),
)
def test_all_done_fires_when_and_where_simpy_all_of_would(delays, processed_first):
    # the engine's countdown and simpy's AllOf, over the same events: each waiter resumes
    # at the same time and in the same place of the event queue (a tie-breaking marker
    # scheduled right after them shows any reordering)
    def trace(join) -> list[tuple[str, float]]:
        env = simpy.Environment()
        seen: list[tuple[str, float]] = []
        events = [env.timeout(d) for d in delays]
        if processed_first:
            env.run(until=1.5)

        def waiter():
            yield join(env, events)
            seen.append(("joined", env.now))

        def marker():
            yield env.timeout(max(0.0, max(delays, default=0.0) - env.now))
            seen.append(("marker", env.now))

        env.process(waiter())
        env.process(marker())
        env.run()
        return seen

    assert trace(all_done) == trace(lambda env, events: env.all_of(events))
