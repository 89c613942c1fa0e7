"""Tensor-parallel steps with a decode attention that reads the cache per query head.

Hand derivation on the toy-4 system (toy chips: DRAM 10 GB/s): llama-3-8b at tp 4 holds
32 / 4 = 8 query heads and 8 / 4 = 2 KV heads a chip, so reading per query head adds
6 heads of K and V per layer: 32 layers x 2 x 6 x 1024 tokens x 128 x 2 B = 100,663,296 B
a decode step after 1024 cached tokens, 10.066 ms at 10 GB/s. Prefill and the
collectives do not change.
"""

from __future__ import annotations

import pytest

import hardware
from hardware.system import load_system
from sim.studies.serve_steps import SimulatedSteps


def steps(kv_reads: str) -> SimulatedSteps:
    system = load_system("toy-4")
    chip = hardware.load_chip("toy")
    return SimulatedSteps("llama-3-8b", chip, "fp16", 4, system.interconnect, kv_reads=kv_reads)


def test_per_query_head_adds_the_extra_cache_bytes_over_dram_to_a_decode_step():
    shared, per_head = steps("shared"), steps("per_query_head")
    extra = 32 * 2 * 6 * 1024 * 128 * 2 / 10e9
    assert per_head.decode_s(1, 1024) - shared.decode_s(1, 1024) == pytest.approx(extra, rel=1e-6)
    assert per_head.prefill_s(1, 16) == shared.prefill_s(1, 16)
