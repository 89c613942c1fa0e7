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
