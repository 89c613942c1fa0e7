"""Streams of batches: input loading, prefetch, compression, thermal throttling, fast-forward."""

import pytest

import hardware
import sim
import workloads
from workloads import GraphBuilder

# toy with a hot, fast-reacting die: seed-conv (input already on the device) draws
# 1 W + 225e6 MACs x 40 pJ / 0.917 ms = 10.8 W, heading for 25 + 10.8 x 10 = 133 C;
# R*C = 1 s, so it passes 85 C after ln((133 - 25) / (133 - 85)) = 0.81 s and throttles
# to 0.5 GHz
HOT_TOY = hardware.load_chip(
    "toy", {"thermal.energy_per_mac": {"fp16": "40 pJ"}, "thermal.capacitance": "0.1 J/K"}
)


def test_fast_forward_matches_brute_force_simulation():
    graph = workloads.build("seed-conv")
    brute = sim.simulate(graph, HOT_TOY, duration_s=2.0, load_input=False, fast_forward=False)
    fast = sim.simulate(graph, HOT_TOY, duration_s=2.0, load_input=False)
    assert fast.fast_forward and not brute.fast_forward
    assert brute.power.seconds_per_clock.get("500 MHz", 0) > 0.2  # it did throttle
    assert fast.events < brute.events / 20
    assert fast.batches == pytest.approx(brute.batches, rel=0.01)
    assert fast.throughput == pytest.approx(brute.throughput, rel=0.01)
    assert fast.power.energy_j == pytest.approx(brute.power.energy_j, rel=0.01)
    assert fast.power.max_temperature_c == pytest.approx(brute.power.max_temperature_c, abs=1.0)
    for category in ("thermal", "launch", "starvation"):
        assert fast.loss_share(category) == pytest.approx(brute.loss_share(category), abs=0.01)


def test_throttling_appears_as_thermal_loss_and_the_identity_still_holds():
    r = sim.simulate(workloads.build("seed-conv"), HOT_TOY, duration_s=2.0, load_input=False)
    assert r.losses_ops["thermal"] > 0
    capacity = r.peak_ops * r.duration_s
    assert r.useful_ops + sum(r.losses_ops.values()) == pytest.approx(capacity, rel=1e-9)
    throttle = next(p.time_s for p in r.series if p.clock_hz < 1e9)
    assert throttle == pytest.approx(0.81, abs=0.05)


def test_phone_running_resnet50_throttles_within_tens_of_seconds():
    phone = hardware.load_chip("phone-npu")
    graph = workloads.build("resnet50")
    long = sim.simulate(graph, phone, duration_s=60.0)
    first_second = sim.simulate(graph, phone, duration_s=1.0)
    throttle = next(p.time_s for p in long.series if p.clock_hz < phone.clock.nominal)
    assert 10 < throttle < 60
    assert long.throughput < first_second.throughput
    assert long.power.max_temperature_c >= phone.thermal.throttle
    assert long.losses_ops["thermal"] > 0


def test_ample_cooling_never_throttles():
    cool = hardware.load_chip("phone-npu", {"thermal.resistance": "1 K/W"})
    r = sim.simulate(workloads.build("resnet50"), cool, duration_s=60.0)
    assert list(r.power.seconds_per_clock) == ["960 MHz"]
    assert r.losses_ops["thermal"] == 0


def big_input_graph():
    """A 3x1024x1024 image through one strided conv: little compute per input byte."""
    b = GraphBuilder("big-input")
    b.relu(b.conv2d(b.input("image", (1, 3, 1024, 1024)), 16, kernel=3, stride=2, padding=1))
    return b.build()


def test_high_resolution_input_over_a_slow_link_is_input_bound():
    graph = big_input_graph()
    toy = hardware.load_chip("toy")
    serial = sim.simulate(graph, toy, batches=6, fast_forward=False)
    assert serial.top_loss() == "input_io"
    prefetched = sim.simulate(graph, toy, batches=6, prefetch=2, fast_forward=False)
    assert prefetched.throughput > serial.throughput
    # 6.29 MB per batch over the 1 GB/s link: the stream can never beat 1 / 6.29 ms
    link_s = graph.input_bytes / toy.host_link.bandwidth
    assert prefetched.throughput <= 1 / link_s * (1 + 1e-9)


def test_compression_cuts_input_io_when_the_link_is_the_bottleneck():
    graph = big_input_graph()
    toy = hardware.load_chip("toy")
    plain = sim.simulate(graph, toy, batches=6, prefetch=2, fast_forward=False)
    packed = sim.simulate(
        graph, toy, batches=6, prefetch=2, input_compression=4, fast_forward=False
    )
    assert packed.loss_share("input_io") < plain.loss_share("input_io")
    assert packed.throughput > 2 * plain.throughput
    assert any(row.name == "decompress input" for row in packed.ops)


@pytest.mark.parametrize("prefetch", [0, 1, 2, 3])
def test_fast_forward_agrees_with_the_full_simulation(prefetch):
    # a stream short enough to simulate whole: fast-forwarding it must give the same
    # duration, launches and per-unit figures, and the median latency within 2% (with
    # prefetch a stream's last batches, with nothing loading behind them, finish sooner:
    # fast-forward counts them as steady ones)
    graph, chip = workloads.build("shufflenet-v2"), hardware.load_chip("v100-sxm")
    options = dict(batches=12, prefetch=prefetch, graph_launch=True)
    fast = sim.simulate(graph, chip, **options)
    full = sim.simulate(graph, chip, fast_forward=False, **options)
    assert fast.fast_forward and not full.fast_forward
    assert fast.latency_s == pytest.approx(full.latency_s, rel=1e-9 if prefetch < 2 else 0.02)
    assert fast.duration_s == pytest.approx(full.duration_s, rel=1e-9)
    assert fast.launches == full.launches
    for a, b in zip(fast.units, full.units, strict=True):
        assert a.kernels == b.kernels
        assert a.busy_s == pytest.approx(b.busy_s, rel=1e-9)
        assert a.utilization == pytest.approx(b.utilization, rel=1e-9)
