"""Simulator behaviour on the toy chip, checked against numbers derived by hand.

Toy chip: 4 matrix instances x 64 MACs/cycle at 1 GHz (peak 512 GFLOP/s fp16), tile
4x4x4, blocks 16x16 or 8x8, DRAM 10 GB/s with 100 ns latency, launch 1 us, device gap
100 ns (see hardware/presets/toy.yaml).
"""

import math

import pytest

import hardware
import sim
import workloads

TOY = hardware.load_chip("toy")


def test_seed_conv_latency_matches_hand_derivation():
    # GEMM view M=2500 (50x50), N=100, K=900. 8x8 blocks finish first: 313*13 = 4069
    # tiles of 8*8*900/64 = 900 cycles, ceil(4069/4) = 1018 waves -> 916,200 cycles.
    # DRAM: 500,000 + 180,000 + 500,000 bytes at 10 GB/s = 118 us < compute: overlapped.
    result = sim.simulate(workloads.build("seed-conv"), TOY)
    assert result.dram_bytes == 1_180_000
    assert result.latency_s == pytest.approx(1e-6 + 100e-9 + 916_200e-9, rel=1e-12)
    assert result.ops[0].bound == "compute"
    # useful: 450e6 ops; the rest of 512e9 * latency is launch, starvation (waves), ...
    assert result.useful_ops == pytest.approx(450e6, rel=1e-12)
    ideal = 225e6 / (4 * 64) * 1e-9
    assert result.losses_s["starvation"] == pytest.approx(916_200e-9 - ideal, rel=1e-9)
    assert result.losses_s["launch"] == pytest.approx(1.1e-6, rel=1e-9)
    assert result.losses_ops["shape"] == 0


def test_padding_to_the_native_tile_is_shape_loss():
    # starved-conv: M=49, N=5, K=10 padded to 52 x 8 x 12 on the 4x4x4 tile.
    result = sim.simulate(workloads.build("starved-conv"), TOY)
    padded, real = 52 * 8 * 12, 49 * 5 * 10
    # 16x16 blocks: 4 tiles of 16*8*12/64 = 24 cycles, one wave; 8x8 blocks: 7 tiles of
    # 12 cycles, two waves: also 24 cycles. The first listed wins: 4 of 4 instances busy.
    active = 4
    shape_s = (padded - real) / (active * 64) * 1e-9
    assert result.losses_s["shape"] == pytest.approx(shape_s * active / 4, rel=1e-9)


def test_memory_bound_mlp_scales_with_bandwidth_compute_bound_does_not():
    mlp = workloads.build("mlp", width=1024, layers=4)
    slow = sim.simulate(mlp, TOY)
    fast = sim.simulate(mlp, hardware.load_chip("toy", {"memory.dram.bandwidth": "20 GB/s"}))
    assert slow.top_loss() == "memory"
    assert slow.latency_s / fast.latency_s == pytest.approx(2.0, rel=0.05)
    conv = workloads.build("seed-conv")
    a = sim.simulate(conv, TOY)
    b = sim.simulate(conv, hardware.load_chip("toy", {"memory.dram.bandwidth": "20 GB/s"}))
    assert a.latency_s == pytest.approx(b.latency_s, rel=1e-9)


def test_loss_identity_is_exact():
    for name in ("seed-conv", "starved-conv", "mlp", "elementwise-chain"):
        for fusion in ("none", "epilogue", "greedy"):
            r = sim.simulate(workloads.build(name), TOY, fusion=fusion)
            capacity = r.peak_ops * r.latency_s
            assert math.isclose(r.useful_ops + sum(r.losses_ops.values()), capacity, rel_tol=1e-9)
            assert all(v >= -1e-9 * capacity for v in r.losses_ops.values())


def test_chain_of_tiny_ops_is_launch_bound_and_fusion_helps():
    chain = workloads.build("elementwise-chain", length=50, size=256)
    unfused = sim.simulate(chain, TOY, fusion="none")
    fused = sim.simulate(chain, TOY, fusion="greedy")
    assert unfused.top_loss() == "launch"
    # 50 launches of 1 us each, back to back: the launcher alone takes 50 us
    assert unfused.latency_s >= 50e-6
    assert fused.kernels == 1
    assert unfused.latency_s / fused.latency_s > 3


def test_no_overlap_serialises_memory_and_compute():
    mlp = workloads.build("mlp", width=512, layers=2, batch=64)
    on = sim.simulate(mlp, TOY, overlap=True)
    off = sim.simulate(mlp, TOY, overlap=False)
    assert off.latency_s > on.latency_s
    assert off.losses_ops["no_overlap"] > 0 and on.losses_ops["no_overlap"] == 0


def test_graph_launch_removes_per_kernel_launch_cost():
    chain = workloads.build("elementwise-chain", length=50, size=256)
    eager = sim.simulate(chain, TOY, fusion="none")
    graph = sim.simulate(chain, TOY, fusion="none", graph_launch=True)
    assert graph.latency_s < eager.latency_s / 2
    assert graph.launches == 50


def test_same_input_gives_byte_identical_json():
    g = workloads.build("mlp")
    assert sim.simulate(g, TOY).model_dump_json() == sim.simulate(g, TOY).model_dump_json()


def test_input_loading_is_input_io():
    g = workloads.build("seed-conv")
    loaded = sim.simulate(g, TOY, load_input=True)
    # 500,000 bytes: 50 us from the source at 10 GB/s, then 1 us + 500 us over the 1 GB/s
    # link; the kernel's 1 us launch overlaps the load, so the run grows by 550 us
    direct = sim.simulate(g, TOY)
    assert loaded.latency_s - direct.latency_s == pytest.approx(550e-6, rel=1e-6)
    assert loaded.top_loss() == "input_io"
