"""explain names what binds a memory loss, and its what-ifs relieve that resource.

Toy chip: DRAM 10 GB/s (efficiency 1), 100 ns latency, no DMA engines, 100 GB/s on-chip
(see hardware/presets/toy.yaml).
"""

import pytest

import hardware
import workloads
from sim.result import OpRow
from sim.studies.explain import (
    DMA_ENGINES,
    DRAM_BANDWIDTH,
    DRAM_LATENCY,
    HOST_LINK,
    ONCHIP_BANDWIDTH,
    binding_resource,
    explain,
)

TOY = hardware.load_chip("toy")
# one engine of 5 GB/s below the 10 GB/s DRAM, 1 us to set up each transfer
TOY_DMA = hardware.load_chip("toy", {"dma": {"engines": 1, "bandwidth": "5 GB/s"}})


def row(dram_bytes: float, onchip_bytes: float = 0.0, unit: str = "mxu") -> OpRow:
    return OpRow(
        name="k", kinds=["linear"], unit=unit, start_s=0.0, end_s=1.0, ops=1.0,
        dram_bytes=dram_bytes, onchip_bytes=onchip_bytes, intensity=1.0, compute_s=0.0,
        memory_s=1.0, bound="memory", losses_ops={"memory": 1.0},
    )  # fmt: skip


def test_a_big_transfer_is_bound_by_the_dram_bandwidth():
    # 1 MB at 10 GB/s = 100 us >> 100 ns latency; on-chip 1 MB at 100 GB/s = 10 us
    assert binding_resource(row(1e6, 1e6), TOY) == DRAM_BANDWIDTH


def test_a_small_transfer_is_bound_by_the_latency():
    # 100 B at 10 GB/s = 10 ns < 100 ns
    assert binding_resource(row(100), TOY) == DRAM_LATENCY


def test_on_chip_bytes_that_take_longer_bind_the_on_chip_bandwidth():
    # 1 MB DRAM: 100.1 us; 20 MB on chip at 100 GB/s: 200 us
    assert binding_resource(row(1e6, 20e6), TOY) == ONCHIP_BANDWIDTH


def test_a_dma_engine_slower_than_the_dram_binds():
    # one transfer on one 5 GB/s engine: 200 us for 1 MB, the DRAM could do it in 100
    assert binding_resource(row(1e6), TOY_DMA) == DMA_ENGINES


def test_host_kernels_are_bound_by_the_host_link():
    assert binding_resource(row(1e6, unit="cpu"), TOY) == HOST_LINK


def memory_loss(expl):
    return next(loss for loss in expl.losses if loss.category == "memory")


@pytest.mark.parametrize(
    ("chip", "graph"),
    [
        ("phone-npu", lambda: workloads.build("mlp", batch=1)),
        ("tpu-v1", lambda: workloads.build("mlp", batch=200, width=2000, layers=5, dtype="int8")),
    ],
)
def test_on_dma_bound_chips_the_binding_what_if_speeds_up(chip, graph):
    # both chips move each transfer on one DMA engine slower than their DRAM: doubling the
    # DRAM bandwidth buys nothing there, doubling the engine's bandwidth does
    spec = hardware.load_chip(chip)
    expl = explain(graph(), spec)
    memory = memory_loss(expl)
    assert memory.remedy.startswith(f"bound by {DMA_ENGINES}")
    changes = {w.change: w.speedup for w in memory.what_ifs}
    assert "2x DRAM bandwidth" not in changes
    assert changes["2x DMA bandwidth per engine"] > 1.0


def test_when_the_dram_binds_its_bandwidth_is_the_what_if():
    memory = memory_loss(explain(workloads.build("mlp"), TOY))
    assert memory.remedy.startswith(f"bound by {DRAM_BANDWIDTH}")
    assert memory.what_ifs[0].change == "2x DRAM bandwidth"
    assert memory.what_ifs[0].speedup > 1.0
