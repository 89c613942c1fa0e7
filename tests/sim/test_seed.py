"""The seed article's claims (shared/SEED.md), reproduced on the presets.

Each test derives its bound by hand from the preset's numbers, then checks the simulator.
"""

import pytest

import hardware
import sim
import workloads
from sim.result import ranked
from tests.sim.test_engine import same_macs_graphs

H100 = hardware.load_chip("h100-sxm")
PHONE = hardware.load_chip("phone-npu")


def test_seed_conv_is_compute_bound_on_the_phone_npu():
    graph = workloads.build("seed-conv")
    # intensity: 450e6 ops over 500,000 + 180,000 + 500,000 bytes = 381 ops/byte, far above
    # the phone NPU's ridge point of 1.92e12 / 29.3e9 = 65.5 ops/byte
    assert graph.total_ops / 1_180_000 > PHONE.ridge_point("fp16")
    result = sim.simulate(graph, PHONE)
    (row,) = result.ops
    assert row.bound == "compute"
    kernel_s = row.end_s - row.start_s
    assert row.ops / (PHONE.peak_ops("fp16") * kernel_s) > 0.9  # the kernel runs near peak
    # the whole run adds the compiled-graph submission (0.5 ms): that is its launch loss
    assert result.latency_s == pytest.approx(0.5e-3 + kernel_s, rel=1e-9)


def test_seed_conv_on_h100_at_batch_1_is_launch_bound():
    result = sim.simulate(workloads.build("seed-conv"), H100)
    ideal = 450e6 / H100.peak_ops("bf16")
    assert ideal == pytest.approx(0.455e-6, rel=0.01)  # ~0.45 us at peak
    assert result.latency_s > 4e-6 + ideal  # one 4 us launch alone dwarfs it
    assert result.top_loss() == "launch"


def test_starved_conv_delivers_under_one_percent_on_h100():
    result = sim.simulate(workloads.build("starved-conv"), H100)
    assert result.efficiency < 0.01
    assert [c for c, _ in result.ranked_losses()[:2]] == ["launch", "starvation"]
    # one 64x8 output tile for 132 SMs: 131 of them idle while the kernel runs
    assert (
        result.losses_ops["starvation"]
        > 0.9
        * result.peak_ops
        * (result.ops[0].end_s - result.ops[0].start_s - H100.launch.device_gap)
        * 131
        / 132
    )


def test_fifty_tiny_ops_are_launch_bound_and_greedy_fusion_cuts_latency():
    chain = workloads.build("elementwise-chain", length=50)
    none = sim.simulate(chain, H100, fusion="none")
    greedy = sim.simulate(chain, H100, fusion="greedy")
    assert none.top_loss() == "launch"
    assert none.latency_s >= 50 * H100.launch.latency
    assert none.latency_s / greedy.latency_s > 5


def test_shufflenet_v2_beats_mobilenet_v2_on_the_phone_and_mobilenet_is_memory_bound():
    mobilenet = workloads.build("mobilenet-v2")
    shufflenet = workloads.build("shufflenet-v2")
    assert 1.5 < mobilenet.macs / shufflenet.macs < 2.5  # 300 M vs 146 M MACs
    m, s = sim.simulate(mobilenet, PHONE), sim.simulate(shufflenet, PHONE)
    assert s.latency_s < m.latency_s
    # layer by layer, memory is MobileNetV2's biggest loss; fusing each block's ReLUs,
    # batch norms and residual adds (the article's remedy) cuts it by more than 3x, after
    # which it ties with the depthwise layers on the NPU's slower vector path
    unfused = sim.simulate(mobilenet, PHONE, fusion="none")
    assert unfused.top_loss() == "memory"
    assert unfused.losses_s["memory"] > 3 * m.losses_s["memory"]
    assert [k for k, _ in ranked(m.losses_s)[:2]] in (
        ["memory", "unspecialized"],
        ["unspecialized", "memory"],
    )


@pytest.mark.parametrize(("chip", "batch"), [(PHONE, 8), (H100, 1)])
def test_same_macs_ten_times_apart(chip, batch):
    # EMBench: networks of equal MACs 10x apart. On the phone the depthwise layers run on the
    # NPU's slow vector path (batch 8 amortises the 0.5 ms graph submission); on the H100
    # at batch 1 the 100 launches of the thin graph decide
    dense, thin = same_macs_graphs(batch)
    fast, slow = sim.simulate(dense, chip), sim.simulate(thin, chip)
    assert dense.macs == thin.macs
    assert slow.latency_s / fast.latency_s >= 10


def test_doubling_bandwidth_helps_memory_bound_not_compute_bound():
    wide = hardware.load_chip(
        "phone-npu", {"memory.dram.bandwidth": "58.6 GB/s", "dma.bandwidth": "29.3 GB/s"}
    )
    decode = workloads.build("mlp", width=4096, layers=4)  # batch-1 GEMVs: 2 ops per weight byte
    assert sim.simulate(decode, PHONE).latency_s / sim.simulate(decode, wide).latency_s == (
        pytest.approx(2.0, rel=0.1)
    )
    conv = workloads.build("seed-conv")
    assert sim.simulate(conv, wide).latency_s == pytest.approx(
        sim.simulate(conv, PHONE).latency_s, rel=1e-3
    )


@pytest.mark.parametrize("chip", ["phone-npu", "h100-sxm", "tpu-v1", "toy"])
def test_growing_onchip_capacity_never_increases_latency(chip):
    base = hardware.load_chip(chip)
    graph = workloads.build("mobilenet-v2", dtype="int8" if chip == "tpu-v1" else "fp16")
    previous = None
    for scale in (0.25, 0.5, 1, 2, 4, 16):
        bigger = hardware.load_chip(base, {"memory.l2.capacity": base.memory.l2.capacity * scale})
        latency = sim.simulate(graph, bigger).latency_s
        if previous is not None:
            assert latency <= previous * (1 + 1e-9)
        previous = latency
