"""What stays on chip across the batches of a stream, derived by hand on the toy chip.

The workload: mlp with 4 layers of 256 x 256 fp16 (each weight 131,072 B, each bias and
activation 512 B), epilogue fusion, so 4 kernels fc_i+relu_i. One batch reads the input
(512 B), 4 weights and 4 biases (4 x 131,584 B) and writes 4 activations (4 x 512 B); the
activation between two kernels is written, stays on chip, and is not read back.
"""

import pytest

import sim
import workloads
from hardware import load_chip
from sim.options import options_from
from sim.pipeline import plan

LAYER = 256 * 256 * 2 + 256 * 2  # weight + bias bytes
FIRST_READS = 512 + 4 * LAYER
WRITES = 4 * 512


@pytest.fixture(scope="module")
def mlp():
    return workloads.build("mlp", width=256, layers=4)


def stream_bytes(graph, chip, batches):
    return sim.simulate(graph, chip, batches=batches, fast_forward=False).dram_bytes


def test_a_single_batch_reads_every_weight_once(mlp):
    result = sim.simulate(mlp, load_chip("toy"))
    assert result.dram_bytes == FIRST_READS + WRITES


def test_a_cache_keeps_the_weights_that_fit_for_the_next_batch(mlp):
    # 1 MiB of cache holds all 4 layers: later batches read only their fresh input
    toy = load_chip("toy")
    assert stream_bytes(mlp, toy, 3) == (FIRST_READS + WRITES) + 2 * (512 + WRITES)


def test_a_fast_forwarded_stream_counts_the_same_bytes(mlp):
    result = sim.simulate(mlp, load_chip("toy"), batches=20)
    assert result.fast_forward
    assert result.dram_bytes == (FIRST_READS + WRITES) + 19 * (512 + WRITES)


def test_lru_thrashes_where_a_scratchpad_pins_weights(mlp):
    # 300 KiB: LRU over a cyclic walk of 4 x 128 KiB weights evicts each one before its
    # next use, so a cache re-reads all of them; a scratchpad pins the weights that fit
    # half of it in first-use order (fc0's weight and bias: 131,584 B <= 153,600 B) and
    # re-reads only fc1..fc3 through the other half
    capacity = 300 * 1024
    cache = load_chip("toy", overrides={"memory.l2.capacity": capacity})
    pad = load_chip(
        "toy", overrides={"memory.l2.capacity": capacity, "memory.l2.policy": "scratchpad"}
    )
    assert stream_bytes(mlp, cache, 3) == 3 * (FIRST_READS + WRITES)
    assert stream_bytes(mlp, pad, 3) == (FIRST_READS + WRITES) + 2 * (512 + 3 * LAYER + WRITES)


def test_every_batch_reads_its_own_input(mlp):
    # the input is new data each batch, even when last batch's copy is still on chip: the
    # second fc0+relu0 moves its input (512 B read) and its output (512 B written)
    toy = load_chip("toy")
    two = sim.simulate(mlp, toy, batches=2, fast_forward=False)
    second = [r for r in two.timeline if r.kind == "transfer" and r.label.startswith("fc0")]
    assert len(second) == 2 and second[1].nbytes == 512 + 512


def test_a_host_ops_result_is_new_data_every_batch():
    # the host copies its result back to device memory each batch: the relu reading it
    # reads its 2 KiB (1,024 fp16) from DRAM in every batch, not only the first
    b = workloads.GraphBuilder("h")
    x = b.input("x", (1, 1024))
    h = b.op("custom", [x], name="host", out_shapes=[[1, 1024]], flops=1024, accelerated=False)
    g = b.build([b.linear(b.relu(h, name="r"), 64, name="fc")])
    kernels = plan(g, load_chip("toy"), options_from(None, {"batches": 4}))
    relu = next(k for k in kernels if k.name.startswith("r"))
    assert relu.read_bytes(0) == relu.read_bytes(1) == 2048


def test_a_reshaped_weight_is_still_a_weight():
    # w (16 x 8 fp16 = 256 B) reshaped to 8 x 16 and read by a host op: weights stay with
    # the host, only the 16 B activation crosses the host link
    b = workloads.GraphBuilder("v")
    x = b.input("x", (1, 8))
    w = b.op("reshape", [b.const("w", (16, 8))], name="view", shape=[8, 16])
    g = b.build([b.op("custom", [x, w], name="host", out_shapes=[[1, 16]], accelerated=False)])
    (kernel,) = plan(g, load_chip("toy"), options_from(None, {}))
    assert kernel.host_in_bytes == 16


def test_a_scratchpad_stream_is_costed_by_one_plan_from_its_first_batch():
    # 1 MiB scratchpad, no fusion. fc1's weight is 384 KiB (393,216 B), x 128 B, h and a
    # 6 KiB; expand makes a 200 KiB (204,800 B) tensor that w reads again two kernels on.
    # Plain LRU over 1 MiB keeps big until w, but the stream's own tensors push the weight
    # out before the next batch: 128 + 393,216 = 393,344 B every batch.
    # Pinning the weight (it fits the half) loads it once, in batch 0, but the other half
    # loses big before w: 128 + 393,216 + 204,800 = 598,144 B, then 128 + 204,800 =
    # 204,928 B a batch. Two batches: LRU (786,688 B) beats pins (803,072 B); ten batches:
    # pins (598,144 + 9 x 204,928 = 2,442,496 B) beat LRU (3,933,440 B).
    pad = load_chip("toy", overrides={"memory.l2.policy": "scratchpad"})
    b = workloads.GraphBuilder("pin")
    x = b.input("x", (1, 64))
    a = b.relu(b.linear(x, 3072, bias=False, name="fc1"), name="r1")
    big = b.op("custom", [a], name="expand", out_shapes=[[1, 102_400]], flops=102_400)
    v = b.unary("sigmoid", b.relu(big, name="u"), name="v")
    g = b.build([b.add(big, v, name="w")])

    def reads(batches):
        kernels = plan(g, pad, options_from(None, {"batches": batches, "fusion": "none"}))
        return sum(k.read_bytes(0) for k in kernels), sum(k.read_bytes(1) for k in kernels)

    assert reads(2) == (393_344, 393_344)
    assert reads(10) == (598_144, 204_928)
