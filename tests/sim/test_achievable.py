"""Achievable, not rated: the sustained DRAM bandwidth and the power-limited clock, derived
by hand on the toy chip (4 x 64 fp16 MACs/cycle, 1 GHz, DRAM 10 GB/s and 100 ns, static
power 1 W, 1 pJ per fp16 MAC, 20 pJ per DRAM byte, 1 pJ per on-chip byte; DVFS levels
1 GHz at 1.0 V and 0.5 GHz at 0.8 V)."""

import pytest

import hardware
import sim
from workloads import GraphBuilder


def gemm():
    # 256 x 256 x 256 fp16: 16.8 M MACs, 65.5 us at 256 GMAC/s; 384 KiB moved at 10 GB/s
    # take 39 us, so it is compute-bound
    b = GraphBuilder("gemm")
    return b.build([b.linear(b.input("x", (256, 256)), 256, bias=False, name="fc")])


def relu(elements=1 << 20):
    b = GraphBuilder("relu")
    return b.build([b.relu(b.input("x", (1, elements)), name="r")])


@pytest.mark.parametrize(("cap_w", "clock_hz"), [(1.5, 1e9), (1.2, 0.5e9)])
def test_a_power_cap_lowers_the_clock_under_a_dense_gemm(cap_w, clock_hz):
    # at 1 GHz the GEMM draws 1 W static + (16.8 uJ of MACs + 7.9 uJ of DRAM bytes + 0.4 uJ
    # on chip) / 65.6 us = 1.38 W; at 0.5 GHz and 0.8 V, 1 W + 0.64 x 25.1 uJ / 131 us =
    # 1.12 W. A 1.2 W cap runs it at 0.5 GHz, a 1.5 W cap at full clock.
    chip = hardware.load_chip("toy", {"thermal.power_cap": cap_w})
    free = sim.simulate(gemm(), hardware.load_chip("toy"))
    capped = sim.simulate(gemm(), chip)
    (row,) = capped.ops
    assert row.compute_s == pytest.approx(free.ops[0].compute_s * 1e9 / clock_hz)
    assert (capped.losses_ops["thermal"] > 0) == (clock_hz < 1e9)


def test_a_memory_bound_kernel_keeps_its_clock_under_the_same_cap():
    # 4 MiB moved in 419 us: its power barely depends on the clock, ~1.2 W at either
    chip = hardware.load_chip("toy", {"thermal.power_cap": 1.25})
    (row,) = sim.simulate(relu(), chip).ops
    assert row.compute_s == pytest.approx(
        sim.simulate(relu(), hardware.load_chip("toy")).ops[0].compute_s
    )


def test_lower_dram_efficiency_slows_a_memory_bound_kernel():
    # 2 MiB in and 2 MiB out: 4,194,304 B at 10 GB/s = 419.4 us after the 100 ns latency;
    # at 50% sustained efficiency the stream takes twice as long
    rated = sim.simulate(relu(), hardware.load_chip("toy")).ops[0]
    half = sim.simulate(relu(), hardware.load_chip("toy", {"memory.dram.efficiency": 0.5})).ops[0]
    assert rated.memory_s == pytest.approx(100e-9 + 4_194_304 / 10e9)
    assert half.memory_s == pytest.approx(100e-9 + 4_194_304 / 5e9)


def test_efficiency_must_be_a_share():
    with pytest.raises(hardware.InputError, match="efficiency"):
        hardware.load_chip("toy", {"memory.dram.efficiency": 1.5})


def test_a_sustained_efficiency_slows_compute_and_is_its_own_loss():
    # at half the rated matrix rate the GEMM computes twice as long (65.5 -> 131 us); the
    # extra 65.5 us of all 4 instances is `sustained`: 512 GOP/s x 65.5 us = 33.6 M ops
    chip = hardware.load_chip("toy", {"units.mxu.efficiency": {"matrix": 0.5}})
    rated = sim.simulate(gemm(), hardware.load_chip("toy"))
    half = sim.simulate(gemm(), chip)
    assert half.ops[0].compute_s == pytest.approx(2 * rated.ops[0].compute_s)
    assert half.losses_ops["sustained"] == pytest.approx(512e9 * rated.ops[0].compute_s)
    assert rated.losses_ops["sustained"] == 0


def test_a_dtypes_own_matrix_efficiency_overrides_the_class_one():
    # the 256^3 fp16 GEMM computes in 65.5 us at the full 256 GMAC/s; with fp16 GEMMs
    # sustaining 50% of their rate it takes 131 us, while an int8 GEMM keeps the class's
    # efficiency (none set: 1.0): 16.8 M MACs at 4 x 128 int8 MACs/cycle = 32.8 us
    fp16_half = hardware.load_chip("toy", {"units.mxu.matrix_efficiency": {"fp16": 0.5}})
    full = sim.simulate(gemm(), hardware.load_chip("toy"), thermal=False).ops[0]
    half = sim.simulate(gemm(), fp16_half, thermal=False).ops[0]
    assert full.compute_s == pytest.approx(256**3 / 256e9)
    assert half.compute_s == pytest.approx(2 * 256**3 / 256e9)
    b = GraphBuilder("gemm8", "int8")
    int8 = b.build([b.linear(b.input("x", (256, 256)), 256, bias=False, name="fc")])
    assert sim.simulate(int8, fp16_half, thermal=False).ops[0].compute_s == pytest.approx(
        256**3 / 512e9
    )


def depthwise():
    # 3x3 depthwise conv over 32 channels of 32x32 fp16, padding 1: 32,768 outputs of 9
    # MACs each, a vector-class op (no reuse across channels)
    b = GraphBuilder("dw")
    return b.build([b.conv2d(b.input("x", (1, 32, 32, 32)), 32, 3, padding=1, groups=32)])


def test_a_vector_efficiency_slows_a_depthwise_conv():
    # 32,768 outputs in chunks of 1,024: 32 tiles, 8 waves over the 4 instances; a tile is
    # 1,024 x 9 MAC slots at 8 fp16 vector slots/cycle = 1,152 cycles, so 9,216 cycles =
    # 9.216 us at 1 GHz; at 50% vector efficiency 18.432 us. A matrix efficiency leaves it.
    (rated,) = sim.simulate(depthwise(), hardware.load_chip("toy")).ops
    half_vector = hardware.load_chip("toy", {"units.mxu.efficiency": {"vector": 0.5}})
    half_matrix = hardware.load_chip("toy", {"units.mxu.efficiency": {"matrix": 0.5}})
    assert rated.compute_s == pytest.approx(9.216e-6)
    assert sim.simulate(depthwise(), half_vector).ops[0].compute_s == pytest.approx(18.432e-6)
    assert sim.simulate(depthwise(), half_matrix).ops[0].compute_s == pytest.approx(9.216e-6)
