"""Accounting (sim/account.py) on hand-built kernel timelines for the toy chip.

Toy chip: the `mxu` unit (4 instances, matrix fp16 64 MACs/cycle, vector fp16 8/cycle,
1 GHz) is the only peak unit: P = 2 * 4 * 64 * 1e9 = 512e9 ops/s, so one nanosecond of the
whole unit is 512 ops. DRAM latency 100 ns. The `cpu` is the host. Times below are in ns.
"""

import pytest

import hardware
from sim.account import LOSS_CATEGORIES, account, kernel_breakdown
from sim.engine import BatchRecord, KernelRecord, Trace
from sim.lower import Kernel, Stage

TOY = hardware.load_chip("toy")
PEAK = 512e9
PER_NS = 512.0  # ops: the whole unit for one nanosecond


def ns(t):
    """Seconds from nanoseconds, rounded as the simulator divides cycles by the clock."""
    return t / 1e9


def matrix(tiles, tile_cycles, slots=None):
    """A matrix stage: `tiles` tiles of `tile_cycles` cycles at 64 MACs/cycle, of which
    `slots` MACs are real work (the rest padding; all of it by default)."""
    padded = tiles * tile_cycles * 64
    slots = padded if slots is None else slots
    return Stage("matrix", 2 * slots, slots, padded, tiles, tile_cycles, 64)


def kernel(index, stages=(), unit="mxu", host=False, deps=(), **fields):
    return Kernel(index, f"k{index}", unit, host, list(stages), list(deps), **fields)


def record(index, start, end, compute=0.0, unit="mxu", launched=None, gap=0.0, clock=1e9):
    """Kernel `index` of batch 0 holding `unit` over [start, end] ns, the first `gap` ns
    of it the device gap, then `compute` ns of compute."""
    return KernelRecord(
        kernel=index,
        batch=0,
        unit=unit,
        launched=ns(start if launched is None else launched),
        start=ns(start),
        compute_start=ns(start + gap),
        end=ns(end),
        compute_s=ns(compute),
        clock_hz=clock,
    )


def trace(records, end, input_ready=0.0):
    batch = BatchRecord(start=0.0, input_ready=ns(input_ready), end=ns(end), closed=True)
    return Trace(records, [batch], [], [], len(records), ns(end), 0, 0.0, [], [])


def books(kernels, records, end, overlap=True, input_ready=0.0):
    return account(kernels, trace(records, end, input_ready), TOY, "fp16", overlap)


def nonzero(parts, tiny=1e-18):
    """The categories above float noise (1e-18 s, or pass 1e-6 for ops)."""
    return {c: v for c, v in parts.items() if abs(v) > tiny}


def test_a_full_kernel_is_all_useful():
    # 4 tiles of 100 cycles: one wave on the 4 instances, 100 ns, 4*100*64 MACs = 51,200 ops
    k = kernel(0, [matrix(4, 100)])
    parts = kernel_breakdown(k, TOY, "fp16", record(0, 0, 100, compute=100), overlap=True)
    assert nonzero(parts) == {"useful": pytest.approx(ns(100))}
    result = books([k], [record(0, 0, 100, compute=100)], end=100)
    assert result.useful_ops == pytest.approx(51_200)
    assert sum(result.losses_ops.values()) == pytest.approx(0, abs=1e-6)


# Hand derivation, in ns of the whole unit (x 512 ops). Launch: 1000 before k0 + the
# 100 ns device gaps of k0, k1, k3 = 1300. k0: 100 useful. k1 (1 of 4 instances): 25
# useful, 75 starved computing; then 200 ns of DRAM: 3/4 of the 100 ns latency starved
# (75), the rest memory (125); without overlap, 100 of those 200 are no_overlap. Host k2:
# 1000 ns of host_fallback before k3, then 100 ns idle_unit (k3 waits on nothing). k3 (3
# tiles of 50 cycles, 640 of 9,600 slots padding): 1/4 starved over 50 ns = 12.5,
# shape 640/(3*64) * 3/4 = 2.5, useful 35. Tail 2850..3000: 150 idle_unit.
IDENTITY_CASES = [
    (True, {"memory": 125, "starvation": 162.5}),
    (False, {"memory": 25, "no_overlap": 100, "starvation": 162.5}),
]


@pytest.mark.parametrize(("overlap", "memory_split"), IDENTITY_CASES)
def test_useful_plus_losses_is_peak_times_the_run(overlap, memory_split):
    # launch 1000 ns, k0 [1000, 1200] (100 ns device gap), k1 1 tile + 1,000 B of DRAM
    # [1200, 1600], host k2 [1600, 2600], k3 (3 padded tiles) [2700, 2850], idle to 3000
    kernels = [
        kernel(0, [matrix(4, 100)]),
        kernel(1, [matrix(1, 100)], deps=[0], dram_read_bytes=1000.0),
        kernel(2, [matrix(1, 10)], unit="cpu", host=True, deps=[1]),
        kernel(3, [matrix(3, 50, slots=3 * 50 * 64 - 640)], deps=[2]),
    ]
    records = [
        record(0, 1000, 1200, compute=100, gap=100),
        record(1, 1200, 1600, compute=100, gap=100),
        record(2, 1600, 2600, compute=1000, unit="cpu"),
        record(3, 2700, 2850, compute=50, gap=100, launched=0),
    ]
    result = books(kernels, records, end=3000, overlap=overlap)
    assert set(result.losses_ops) == set(LOSS_CATEGORIES)
    # exact up to float rounding: the pieces partition [0, T]
    total = result.useful_ops + sum(result.losses_ops.values())
    assert total == pytest.approx(PEAK * ns(3000), rel=1e-12)
    expected = {"launch": 1300, "host_fallback": 1000, "idle_unit": 250, "shape": 2.5}
    expected |= memory_split
    assert nonzero(result.losses_ops, 1e-6) == {
        c: pytest.approx(v * PER_NS) for c, v in expected.items()
    }
    assert result.useful_ops == pytest.approx(160 * PER_NS)
    # the per-kernel rows plus the tail (150 ns idle_unit, no kernel's) are the totals
    per_kernel = result.inside.sum() + result.before.sum()
    assert per_kernel + 150 * PER_NS == pytest.approx(sum(result.losses_ops.values()))


def test_one_of_four_instances_busy_loses_three_quarters_to_starvation():
    # 1 tile of 100 cycles: 100 ns on one instance, 3 idle. 6,400 MACs = 12,800 ops =
    # 25 ns of the whole unit; 75 ns * 512 ops/ns = 38,400 ops starved
    k = kernel(0, [matrix(1, 100)])
    parts = kernel_breakdown(k, TOY, "fp16", record(0, 0, 100, compute=100), overlap=True)
    assert nonzero(parts) == {"useful": pytest.approx(ns(25)), "starvation": pytest.approx(ns(75))}
    result = books([k], [record(0, 0, 100, compute=100)], end=100)
    assert result.useful_ops == pytest.approx(12_800)
    assert nonzero(result.kernel_losses(0), 1e-6) == {"starvation": pytest.approx(38_400)}


def test_wave_tails_are_starvation():
    # 5 tiles of 100 cycles on 4 instances: 2 waves, 200 ns; the work is 5/8 of 200 ns
    k = kernel(0, [matrix(5, 100)])
    parts = kernel_breakdown(k, TOY, "fp16", record(0, 0, 200, compute=200), overlap=True)
    assert nonzero(parts) == {"useful": pytest.approx(ns(125)), "starvation": pytest.approx(ns(75))}


def test_padding_to_the_tile_is_shape():
    # 4 tiles of 100 cycles, but only 3/4 of the 25,600 slots are real work (19,200 MACs):
    # useful 19,200 / (4*64) = 75 ns, padding 25 ns = 12,800 ops of shape loss
    k = kernel(0, [matrix(4, 100, slots=19_200)])
    parts = kernel_breakdown(k, TOY, "fp16", record(0, 0, 100, compute=100), overlap=True)
    assert nonzero(parts) == {"useful": pytest.approx(ns(75)), "shape": pytest.approx(ns(25))}
    result = books([k], [record(0, 0, 100, compute=100)], end=100)
    assert result.losses_ops["shape"] == pytest.approx(12_800)


def test_a_vector_op_on_the_matrix_unit_is_unspecialized():
    # 3,200 element ops in 4 chunks of 800 at 8/cycle: 100 cycles. At the unit's best rate
    # (64/cycle, 2 ops a slot) they are worth 3,200 / 512 = 6.25 ns; the rest, 93.75 ns
    # (48,000 ops), is the price of the slower class
    k = kernel(0, [Stage("vector", 3200, 3200, 3200, 4, 100, 8)])
    parts = kernel_breakdown(k, TOY, "fp16", record(0, 0, 100, compute=100), overlap=True)
    assert nonzero(parts) == {
        "useful": pytest.approx(ns(6.25)),
        "unspecialized": pytest.approx(ns(93.75)),
    }
    result = books([k], [record(0, 0, 100, compute=100)], end=100)
    assert result.useful_ops == pytest.approx(3200)
    assert result.losses_ops["unspecialized"] == pytest.approx(48_000)


def test_a_clock_below_nominal_is_thermal():
    # 100 cycles at 0.5 GHz take 200 ns instead of 100 ns: 100 ns thermal
    k = kernel(0, [matrix(4, 100)])
    at_half = record(0, 0, 200, compute=200, clock=0.5e9)
    parts = kernel_breakdown(k, TOY, "fp16", at_half, overlap=True)
    assert nonzero(parts) == {"useful": pytest.approx(ns(100)), "thermal": pytest.approx(ns(100))}


def test_the_device_gap_is_launch():
    k = kernel(0, [matrix(4, 100)])
    parts = kernel_breakdown(k, TOY, "fp16", record(0, 0, 200, compute=100, gap=100), True)
    assert nonzero(parts) == {"useful": pytest.approx(ns(100)), "launch": pytest.approx(ns(100))}


@pytest.mark.parametrize(
    ("overlap", "instances_busy", "expected"),
    [
        # 200 ns after compute, moving bytes: all of it memory for a full unit
        (True, 4, {"memory": 200}),
        # without overlap, the 100 ns overlap would have hidden is no_overlap
        (False, 4, {"memory": 100, "no_overlap": 100}),
        # 1 busy instance: 75 ns starved while computing, and 3/4 of the 100 ns DRAM
        # latency, which every tile waits through in parallel; the rest is memory
        (True, 1, {"starvation": 75 + 75, "memory": 200 - 75}),
    ],
)
def test_time_spent_moving_bytes_after_compute_is_memory(overlap, instances_busy, expected):
    k = kernel(0, [matrix(instances_busy, 100)], dram_read_bytes=1000.0)
    parts = kernel_breakdown(k, TOY, "fp16", record(0, 0, 300, compute=100), overlap)
    useful = 100 * instances_busy / 4
    want = {c: pytest.approx(ns(v)) for c, v in expected.items()}
    assert nonzero(parts) == {"useful": pytest.approx(ns(useful)), **want}


def dsp_chip():
    # the toy chip with a second accelerator unit that does not count toward the peak
    dsp = {"instances": 1, "peak": False, "rates": {"vector": {"fp16": 8}}}
    return hardware.load_chip("toy", {"units.dsp": dsp})


def test_idle_time_before_a_kernel_is_blamed_on_the_earliest_pending_reason():
    # k2 on mxu waits for: its launch (1000 ns), host k0 (ends 2000), its input (ready
    # 3000), k1 on the dsp (ends 4000). It starts at 5000. Each instant of [0, 5000] goes
    # to the earliest reason still pending, and with none left to idle_unit.
    kernels = [
        kernel(0, [matrix(1, 1)], unit="cpu", host=True),
        kernel(1, [matrix(1, 1)], unit="dsp"),
        kernel(2, [matrix(4, 100)], deps=[1, 0], needs_input=True),
    ]
    records = [
        record(0, 0, 2000, unit="cpu"),
        record(1, 0, 4000, unit="dsp"),
        record(2, 5000, 5100, compute=100, launched=1000),
    ]
    result = account(kernels, trace(records, 5100, input_ready=3000), dsp_chip(), "fp16", True)
    per_us = 1000 * PER_NS
    assert nonzero(result.gap_losses(2), 1e-6) == {
        "launch": pytest.approx(per_us),  # 0 .. 1000
        "host_fallback": pytest.approx(per_us),  # 1000 .. 2000
        "input_io": pytest.approx(per_us),  # 2000 .. 3000
        "idle_unit": pytest.approx(2 * per_us),  # 3000 .. 4000 dsp, 4000 .. 5000 nothing
    }
    assert nonzero(result.kernel_losses(2), 1e-6) == {}
    assert result.useful_ops == pytest.approx(51_200)


def test_a_reason_resolved_before_the_unit_was_free_takes_no_blame():
    # k2 follows k0 on mxu; its launch (50 ns) came while k0 still ran, so the gap from
    # k0's end (100) to k2's start (300) is all the host k1's (200 ns)
    kernels = [
        kernel(0, [matrix(4, 100)]),
        kernel(1, [matrix(1, 1)], unit="cpu", host=True),
        kernel(2, [matrix(4, 100)], deps=[1]),
    ]
    records = [
        record(0, 0, 100, compute=100),
        record(1, 0, 300, unit="cpu"),
        record(2, 300, 400, compute=100, launched=50),
    ]
    result = books(kernels, records, end=400)
    assert nonzero(result.gap_losses(2), 1e-6) == {"host_fallback": pytest.approx(200 * PER_NS)}


def test_the_tail_after_a_unit_s_last_kernel():
    # mxu finishes at 100 ns; the host computes over [100, 400]; the run ends at 500:
    # 300 ns host_fallback, 100 ns idle_unit, blamed on no kernel
    kernels = [kernel(0, [matrix(4, 100)]), kernel(1, [matrix(1, 1)], unit="cpu", host=True)]
    records = [record(0, 0, 100, compute=100), record(1, 100, 400, unit="cpu")]
    result = books(kernels, records, end=500)
    assert result.losses_ops["host_fallback"] == pytest.approx(300 * PER_NS)
    assert result.losses_ops["idle_unit"] == pytest.approx(100 * PER_NS)
    assert result.gap_losses(0) == {} and result.gap_losses(1) == {}
    assert result.useful_ops + sum(result.losses_ops.values()) == pytest.approx(500 * PER_NS)
