"""Lowering (sim/lower.py) on its own, checked against numbers derived by hand.

Toy chip: one `mxu` unit of 4 instances, matrix fp16 64 MACs/cycle, vector fp16 8/cycle,
tile 4x4x4, output blocks 16x16 or 8x8, vector_width 8, vector_block 1024, 1 GHz; 1 MiB of
on-chip cache (see hardware/presets/toy.yaml). All tensors are fp16: 2 bytes an element.
"""

import pytest

import hardware
from sim.dataflow import dataflow
from sim.fuse import group_ops
from sim.lower import Kernel, assign_units, gemm_traffic_factors, lower, stage_for
from sim.traffic import Residency
from workloads import GraphBuilder

TOY = hardware.load_chip("toy")
MXU = TOY.units["mxu"]


def only_op(build):
    """The single op of a graph made by `build(builder)`."""
    b = GraphBuilder("t")
    out = build(b)
    return b.build([out]).ops[0]


def kernels_of(graph, chip, mode="none", batches=1):
    flow = dataflow(graph)
    placement = assign_units(graph, chip)
    groups = group_ops(graph, chip, placement.unit, mode, flow)
    return lower(graph, chip, groups, placement, flow, batches=batches)


def toy_with(**overrides):
    return hardware.load_chip("toy", {f"memory.l2.{k}": v for k, v in overrides.items()})


# --- stage_for: tiles and waves ------------------------------------------------------------


def test_a_gemm_off_the_tile_grid_is_padded_to_the_tile():
    # linear x[10, 6] @ w[6, 5]: M=10, N=5, K=6, 300 MACs -> padded 12 x 8 x 8 = 768 slots
    op = only_op(lambda b: b.linear(b.input("x", (10, 6)), 5, bias=False))
    stage = stage_for(op, MXU)
    assert (stage.slots, stage.padded_slots, stage.useful_ops) == (300, 768, 600)
    # 16x16 blocks: 1 tile of 12*8*8/64 = 12 cycles; 8x8 blocks: ceil(12/8)*ceil(8/8) = 2
    # tiles of 8*8*8/64 = 8 cycles (the edge tile counted full), one wave: 8 < 12 wins
    assert (stage.tiles, stage.tile_cycles, stage.rate) == (2, 8.0, 64.0)


def test_the_block_shape_that_finishes_soonest_wins():
    # batched matmul, 4 x (12 x 4) @ (4 x 12): M=N=12, K=4, on the tile grid already.
    # 16x16: 4*1*1 = 4 tiles of 12*12*4/64 = 9 cycles, one wave = 9 cycles.
    # 8x8: 4*2*2 = 16 tiles of 8*8*4/64 = 4 cycles, 4 waves = 16 cycles: 16x16 wins.
    op = only_op(lambda b: b.op("matmul", [b.input("a", (4, 12, 4)), b.input("b", (4, 4, 12))]))
    stage = stage_for(op, MXU)
    assert (stage.tiles, stage.tile_cycles) == (4, 9.0)
    assert stage.padded_slots == stage.slots == 4 * 12 * 12 * 4


def test_tiles_run_in_waves_over_the_instances():
    # linear x[40, 4] -> 40: M=N=40, K=4. 16x16: 3*3 = 9 tiles of 16 cycles, 3 waves = 48;
    # 8x8: 5*5 = 25 tiles of 8*8*4/64 = 4 cycles, ceil(25/4) = 7 waves = 28 cycles: 8x8
    op = only_op(lambda b: b.linear(b.input("x", (40, 4)), 40, bias=False))
    stage = stage_for(op, MXU)
    assert (stage.tiles, stage.tile_cycles) == (25, 4.0)
    kernel = Kernel(index=0, name="fc", unit="mxu", host=False, stages=(stage,))
    assert kernel.compute_cycles(4) == 7 * 4
    assert kernel.compute_cycles(1) == 25 * 4  # one instance: one tile per wave
    assert kernel.active_instances(4) == 4


def test_a_vector_op_is_padded_to_the_vector_width_and_chunked():
    # relu of 2001 elements, 1 op each: padded to 2008 (a multiple of 8); chunks of 1024
    # elements: ceil(2008/1024) = 2 tiles of 1024/8 = 128 cycles (the short chunk counted
    # full); both fit in one wave of the 4 instances
    op = only_op(lambda b: b.relu(b.input("x", (1, 2001))))
    stage = stage_for(op, MXU)
    assert stage.op_class == "vector"
    assert (stage.slots, stage.padded_slots, stage.rate) == (2001, 2008, 8.0)
    assert (stage.tiles, stage.tile_cycles) == (2, 128.0)
    kernel = Kernel(index=0, name="relu", unit="mxu", host=False, stages=(stage,))
    assert kernel.compute_cycles(4) == 128
    assert kernel.active_instances(4) == 2


# --- gemm_traffic_factors -------------------------------------------------------------------

# M=64, N=32, K=64 fp16: footprint (64*64 + 64*32 + 64*32) * 2 = 16,384 B. A K-chunk is
# min(K, 256) = 64 deep, so a Tm x Tn block needs 4*Tm*Tn + (Tm + Tn)*64*2 bytes.
M, N, K = 64, 32, 64


def test_an_operand_set_that_fits_is_read_once():
    assert gemm_traffic_factors(M, N, K, 2, 16_384) == (1.0, 1.0)
    assert gemm_traffic_factors(M, N, K, 2, 1 << 20) == (1.0, 1.0)


def test_one_operand_held_whole_streams_the_other_once():
    # 6,144 B < footprint, but B whole (64*32*2 = 4,096) + a 16-row strip of A (64*16*2 =
    # 2,048) is exactly 6,144 B: both operands still cross DRAM once
    assert gemm_traffic_factors(M, N, K, 2, 6_144) == (1.0, 1.0)


def test_blocks_that_fit_set_the_re_read_factors():
    # 3,072 B: 8x8 blocks need 256 + 16*128 = 2,304 B; 16x8 and 8x16 need 3,584 B. Neither
    # operand fits whole. So A is read ceil(32/8) = 4 times and B ceil(64/8) = 8 times
    # (4,096*4 + 2,048*8 = 32,768 elements; 4x16 or 16x4 blocks would move 40,960)
    assert gemm_traffic_factors(M, N, K, 2, 3_072) == (4.0, 8.0)


def test_with_no_block_that_fits_each_output_re_reads_its_row_and_column():
    # 100 B: even a 1x1 block needs 4 + 2*128 = 260 B. A is read N = 32 times, B M = 64
    assert gemm_traffic_factors(M, N, K, 2, 100) == (32.0, 64.0)


def test_re_reads_grow_as_capacity_shrinks_and_traffic_never_grows_with_capacity():
    seen = [gemm_traffic_factors(M, N, K, 2, c) for c in (16_384, 3_072, 2_048, 100)]
    # (1, 1) -> (4, 8) -> (4, 16) -> (32, 64): each factor grows as the capacity shrinks
    assert all(a <= c and b <= d for (a, b), (c, d) in zip(seen, seen[1:], strict=False))
    traffic = [
        M * K * fa + K * N * fb
        for fa, fb in (gemm_traffic_factors(M, N, K, 2, c) for c in range(0, 20_000, 16))
    ]
    assert all(later <= earlier for earlier, later in zip(traffic, traffic[1:], strict=False))


# --- Residency --------------------------------------------------------------------------------


def test_residency_is_lru_by_bytes():
    on_chip = Residency(100)
    for name in "abc":
        on_chip.touch(name, 40)  # 120 > 100 bytes: the oldest, a, is dropped
    assert [on_chip.resident(t) for t in "abc"] == [False, True, True]
    on_chip.touch("b", 40)  # b is now the most recent: c is the oldest
    on_chip.touch("d", 40)
    assert [on_chip.resident(t) for t in "bcd"] == [True, False, True]
    assert on_chip.total == 2 * 80  # half-bytes


def test_evict_frees_the_space_and_ignores_unknown_tensors():
    on_chip = Residency(100)
    on_chip.touch("a", 60)
    on_chip.evict("a")
    on_chip.evict("never-seen")
    assert not on_chip.resident("a") and on_chip.total == 0
    on_chip.touch("b", 100)  # the freed space holds a full-capacity tensor
    assert on_chip.resident("b")


def test_a_tensor_bigger_than_the_capacity_is_never_resident():
    on_chip = Residency(100)
    on_chip.touch("a", 10)
    on_chip.touch("big", 101)
    assert not on_chip.resident("big") and not on_chip.resident("a")
    assert on_chip.total == 0


def test_half_byte_tensors_sum_exactly():
    # int4 tensors of 0.5 B: capacity 1.5 B = 3 half-bytes holds exactly three of them
    on_chip = Residency(1.5)
    for name in "xyz":
        on_chip.touch(name, 0.5)
    assert all(on_chip.resident(t) for t in "xyz") and on_chip.total == 3
    on_chip.touch("w", 0.5)
    assert not on_chip.resident("x") and on_chip.total == 3


# --- lower: DRAM traffic against the on-chip capacity -----------------------------------------


def relu_chain():
    # x[1, 1024] -> a = relu(x) -> y = relu(a): every tensor 2,048 B
    b = GraphBuilder("chain")
    a = b.relu(b.input("x", (1, 1024)), name="a")
    return b.build([b.relu(a, name="y")])


@pytest.mark.parametrize("capacity", [1 << 20, 3_000])
def test_a_tensor_passed_between_kernels_stays_on_chip(capacity):
    # kernel a reads x (2,048 B) and writes a; kernel y finds a resident (the most recent
    # tensor: its stack distance is its own 2,048 B <= capacity) and reads nothing
    first, second = kernels_of(relu_chain(), toy_with(capacity=capacity))
    assert (first.dram_read_bytes, first.dram_write_bytes) == (2048, 2048)
    assert (second.dram_read_bytes, second.dram_write_bytes) == (0, 2048)
    assert second.deps == (0,) and first.needs_input and not second.needs_input


def test_with_a_tiny_on_chip_memory_the_tensor_is_read_back_from_dram():
    # 1,024 B cannot hold a 2,048 B tensor: a is written and read back
    first, second = kernels_of(relu_chain(), toy_with(capacity=1024))
    assert (first.dram_read_bytes, second.dram_read_bytes) == (2048, 2048)
    assert second.dram_write_bytes == 2048


# --- steady_read_bytes: later batches of a stream ---------------------------------------------


def linear_chain():
    # x[1, 64] -> fc0 -> fc1 -> fc2, no bias: each weight 64*64*2 = 8,192 B, each
    # activation 128 B. One batch touches 3*8,192 + 4*128 = 25,088 distinct bytes.
    b = GraphBuilder("fc3")
    h = b.input("x", (1, 64))
    for i in range(3):
        h = b.linear(h, 64, bias=False, name=f"fc{i}")
    return b.build([h])


def reads(kernels):
    return [k.dram_read_bytes for k in kernels], [k.steady_read_bytes for k in kernels]


def test_a_cache_keeps_what_fits_and_the_input_is_read_each_batch():
    # 1 MiB holds everything: the first batch reads x + w0 = 8,320 B, then w1, w2 (the
    # activations are passed on chip); later batches read only the fresh input x, 128 B
    first, steady = reads(kernels_of(linear_chain(), TOY, batches=3))
    assert first == [8320, 8192, 8192]
    assert steady == [128, 0, 0]


def test_without_streaming_there_is_no_steady_state():
    assert reads(kernels_of(linear_chain(), TOY))[1] == [None, None, None]


def test_a_cache_thrashes_on_a_cyclic_walk_bigger_than_it():
    # 20,000 B < 25,088 B: each weight's stack distance at its next use is the whole
    # batch, so LRU has evicted every weight by then; steady reads equal the first batch
    first, steady = reads(kernels_of(linear_chain(), toy_with(capacity=20_000), batches=3))
    assert first == steady == [8320, 8192, 8192]


def test_a_scratchpad_pins_the_first_weights_that_fit_half_of_it():
    # half of 20,000 B = 10,000 B: w0 (8,192 B, first used) is pinned, w0 + w1 = 16,384 B
    # would not fit. The other half still thrashes on w1 and w2. Pinned plan: 128 + 2*8,192
    # = 16,512 B a batch < the LRU plan's 24,704 B, so the pins win.
    chip = toy_with(capacity=20_000, policy="scratchpad")
    first, steady = reads(kernels_of(linear_chain(), chip, batches=3))
    assert first == [8320, 8192, 8192]
    assert steady == [128, 8192, 8192]


# --- fp32 matrix work on a unit without an fp32 matrix engine ------------------------------


def fp32_linear():
    b = GraphBuilder("f", dtype="fp32")
    return b.build([b.linear(b.input("x", (6, 10)), 5, bias=False, name="fc")])


def test_an_fp32_gemm_runs_as_fmas_on_the_vector_lanes_not_on_the_host():
    # toy's mxu has no fp32 matrix rate but 4 fp32 vector MACs/cycle: a GPU runs such a
    # GEMM on its CUDA cores. No matrix tile applies: 6 x 5 x 10 = 300 MACs, none padded,
    # in one 16x16 block: 300 / 4 = 75 cycles on one instance.
    graph = fp32_linear()
    placement = assign_units(graph, TOY)
    stage = placement.stage["fc"]
    assert placement.unit["fc"] == "mxu"
    assert (stage.rate, stage.padded_slots, stage.tiles, stage.tile_cycles) == (4, 300, 1, 75)


def test_tf32_puts_fp32_gemms_on_the_matrix_engine_when_allowed():
    # with a TF32 matrix rate of 32 MACs/cycle and tf32 allowed, the tile pads 6x5x10 to
    # 8x8x12 = 768 slots; the 8x8 block (one tile) takes 8 x 8 x 12 / 32 = 24 cycles
    chip = hardware.load_chip("toy", {"units.mxu.rates.matrix.tf32": 32})
    stage = assign_units(fp32_linear(), chip, tf32=True).stage["fc"]
    assert (stage.rate, stage.padded_slots, stage.tiles, stage.tile_cycles) == (32, 768, 1, 24)
    assert assign_units(fp32_linear(), chip).stage["fc"].rate == 4  # off by default
