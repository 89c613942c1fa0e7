"""Dequantization of quantized weights and systolic fill/drain (sim/lower.py), by hand.

Toy chip: one `mxu` unit of 4 instances, matrix fp16 64 MACs/cycle, vector fp16 8/cycle
(no integer vector rate, so integer ops run at the fp16 vector rate), tile 4x4x4, output
blocks 16x16 or 8x8, 1 GHz, peak 512 GFLOP/s (see hardware/presets/toy.yaml).
"""

import pytest

import hardware
import sim
from sim.dataflow import dataflow
from sim.fuse import group_ops
from sim.lower import assign_units, lower, stage_for, weight_quant
from workloads import GraphBuilder
from workloads.ops import OpShapeError

TOY = hardware.load_chip("toy")
MXU = TOY.units["mxu"]


def quantized_linear(m=1, k=64, n=64, weight_dtype="int4", **attrs):
    """x[m, k] fp16 @ w[k, n] stored in `weight_dtype`."""
    b = GraphBuilder("q")
    x = b.input("x", (m, k))
    w = b.const("fc.w", (k, n), dtype=weight_dtype)
    return b.build([b.op("linear", [x, w], name="fc", **attrs)])


def test_int4_weights_pay_four_vector_ops_per_weight_beyond_the_macs():
    # M=1 pads to 4; 16x16 blocks: 4 tiles of 4*16*64/64 = 64 MAC cycles. Each tile
    # dequantizes 16*64 = 1024 weights at (3 integer ops + 1 scale) / 8 per cycle = 512
    # cycles on the vector lanes, overlapped with the MACs: the tile takes 512, 448 exposed.
    # (8x8 blocks: 8 tiles of 256 cycles in 2 waves = 512, a tie the first block wins.)
    graph = quantized_linear()
    op = graph.ops[0]
    quant = weight_quant(graph, op)
    assert (quant.dtype, quant.group_size, quant.integer_ops) == ("int4", 128, 3)
    stage = stage_for(op, MXU, quant=quant)
    assert (stage.tiles, stage.tile_cycles) == (4, 512.0)
    assert stage.extras == (("unspecialized", 448.0),)


def test_int8_weights_need_no_unpack():
    # 2 ops per weight: 1024 * 2 / 8 = 256 cycles a tile, 256 - 64 = 192 exposed
    graph = quantized_linear(weight_dtype="int8")
    stage = stage_for(graph.ops[0], MXU, quant=weight_quant(graph, graph.ops[0]))
    assert (stage.tile_cycles, stage.extras) == (256.0, (("unspecialized", 192.0),))


def test_weights_in_the_compute_dtype_are_not_dequantized():
    graph = quantized_linear(weight_dtype="fp16")
    assert weight_quant(graph, graph.ops[0]) is None


def test_the_exposed_dequantization_is_unspecialized_loss():
    # 4 tiles x 448 cycles over 4 instances = 448 ns of the whole unit: 512e9 * 448e-9 ops
    result = sim.simulate(quantized_linear(), TOY)
    assert result.losses_ops["unspecialized"] == pytest.approx(512e9 * 448e-9)
    assert result.peak_ops * result.latency_s == pytest.approx(
        result.useful_ops + sum(result.losses_ops.values())
    )


@pytest.mark.parametrize(("group_size", "scale_bytes"), [(128, 64 * 2), (32, 2 * 64 * 2)])
def test_the_kernel_reads_the_group_scales_with_the_packed_weights(group_size, scale_bytes):
    # x: 64 fp16 = 128 B; w: 64*64 int4 = 2048 B; scales: ceil(64/G) * 64 fp16
    graph = quantized_linear(group_size=group_size)
    flow = dataflow(graph)
    placement = assign_units(graph, TOY)
    groups = group_ops(graph, TOY, placement.unit, "none", flow)
    (kernel,) = lower(graph, TOY, groups, placement, flow)
    assert kernel.dram_read_bytes == 128 + 2048 + scale_bytes


def test_a_group_size_below_one_is_rejected():
    with pytest.raises(OpShapeError, match="group_size"):
        quantized_linear(group_size=0)


# --- systolic fill and drain ------------------------------------------------------------


SYSTOLIC = hardware.load_chip("toy", {"units.mxu.systolic": [8, 8]})


def fp16_linear(m=16, k=64, n=64):
    b = GraphBuilder("s")
    return b.build([b.linear(b.input("x", (m, k)), n, bias=False, name="fc")])


def test_each_fold_of_a_systolic_array_pays_its_fill_and_drain():
    # 16x16 blocks: 4 tiles of 16*16*64/64 = 256 MAC cycles; a tile is ceil(64/8) *
    # ceil(16/8) = 16 folds of 2*8 + 8 - 2 = 22 cycles: 352 more, 608 a tile.
    # (8x8 blocks: 16 tiles of 64 + 8*22 = 240 cycles in 4 waves = 960: slower.)
    stage = stage_for(fp16_linear().ops[0], SYSTOLIC.units["mxu"])
    assert (stage.tiles, stage.tile_cycles) == (4, 608.0)
    assert stage.extras == (("starvation", 352.0),)
    assert stage_for(fp16_linear().ops[0], MXU).extras == ()


def test_fill_and_drain_count_as_starvation():
    # 4 tiles x 352 cycles over 4 instances: 352 ns of the whole unit
    plain = sim.simulate(fp16_linear(), TOY)
    result = sim.simulate(fp16_linear(), SYSTOLIC)
    extra = result.losses_ops["starvation"] - plain.losses_ops["starvation"]
    assert extra == pytest.approx(512e9 * 352e-9)
    assert result.losses_ops["shape"] == pytest.approx(plain.losses_ops["shape"])
