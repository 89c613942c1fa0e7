"""The on-chip level's sustained share (`memory.l2.efficiency`), checked by hand on the toy
chip: 100 GB/s on-chip, DRAM 10 GB/s with 100 ns latency (hardware/presets/toy.yaml).

elementwise-chain without fusion: op001 (sigmoid) reads op000's 1,024 fp16 elements
(2,048 B), which op000 left on chip, and writes 2,048 B to DRAM; its on-chip bytes are the
read and the write, 4,096 B.
"""

import pytest

import hardware
import sim
import workloads
from hardware.errors import InputError
from sim.studies.host_rates import cache_resident
from sim.studies.measurements import Measurement

CHAIN = workloads.build("elementwise-chain")
WRITE_S = 100e-9 + 2048 / 10e9  # op001's DRAM write: latency + bytes at 10 GB/s


def op001(efficiency: float, **options):
    chip = hardware.load_chip("toy", {"memory.l2.efficiency": efficiency})
    row = sim.simulate(CHAIN, chip, fusion="none", **options).ops[1]
    assert row.name == "op001" and row.dram_bytes == 2048 and row.onchip_bytes == 4096
    return row


def test_halving_the_onchip_efficiency_doubles_the_cached_read():
    # without overlap the read phase moves half the on-chip bytes with no DRAM bytes (the
    # input is on chip): 2,048 B at 100 GB/s x efficiency; the write phase is DRAM-bound
    for efficiency in (1.0, 0.5, 0.25):
        row = op001(efficiency, overlap=False)
        assert row.memory_s == pytest.approx(WRITE_S + 2048 / (100e9 * efficiency), rel=1e-9)
    full, half = (op001(e, overlap=False).memory_s - WRITE_S for e in (1.0, 0.5))
    assert half == pytest.approx(2 * full, rel=1e-9)


def test_an_onchip_bound_kernel_takes_twice_as_long_at_half_the_efficiency():
    # with overlap the kernel's 4,096 on-chip bytes move beside its DRAM write; at 2% of
    # 100 GB/s they take 2,048 ns > 304.8 ns of DRAM write, at 1% 4,096 ns
    at_2, at_1 = (op001(e) for e in (0.02, 0.01))
    assert at_2.bound == "memory" and at_2.memory_s == pytest.approx(4096 / 2e9, rel=1e-9)
    assert at_1.memory_s == pytest.approx(2 * at_2.memory_s, rel=1e-9)


def test_default_efficiency_is_one_and_out_of_range_values_are_refused():
    assert hardware.load_chip("toy").memory.l2.efficiency == 1.0
    for bad in (0.0, 1.5):
        with pytest.raises(InputError, match="memory.l2.efficiency"):
            hardware.load_chip("toy", {"memory.l2.efficiency": bad})


def test_cache_resident_operands_move_at_the_sustained_onchip_rate():
    # a one-op measurement whose operands sit in the cache: DRAM stands in for the cache,
    # at its rate and efficiency (100 GB/s x 0.5), not at DRAM's own efficiency
    chip = hardware.load_chip("toy", {"memory.l2.efficiency": 0.5, "memory.dram.efficiency": 0.9})
    relu = Measurement("relu", ((1, 1024),), "fp16", 1e-6)
    cached = cache_resident(chip, [relu])
    assert cached.memory.dram.sustained_bandwidth == cached.memory.l2.sustained_bandwidth == 50e9
