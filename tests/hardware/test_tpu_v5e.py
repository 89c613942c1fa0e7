"""The TPU v5e chip preset and the tpu-v5e-16 and tpu-v5e-8 slices: peaks, sources, the
CLI, and collectives on their torus worked by hand.

tpu-v5e-16 (hardware/systems/tpu-v5e-16.yaml): 16 chips as a 4x4 torus2d; tpu-v5e-8: 8 as
a 4x2 one; links of 50 GB/s each way at efficiency 0.74 (37 GB/s sustained), 1 us a step.
"""

from __future__ import annotations

import pytest
import yaml
from typer.testing import CliRunner

import hardware
from hardware.system import SYSTEM_DIR, list_systems, load_system
from sim.cli.main import app
from sim.system.collectives import alpha_beta_s, collective_s, send_s
from tests.hardware.test_presets import covered_by, numeric_leaves, resolves

SUSTAINED = 50e9 * 0.74  # bytes/s of one torus link, one direction


@pytest.fixture(scope="module")
def slice16():
    return load_system("tpu-v5e-16")


def test_the_chip_has_the_documented_peaks_and_ridge_point():
    chip = hardware.load_chip("tpu-v5e")
    # Google Cloud TPU v5e docs: 197 TFLOP/s bf16, 393 TOP/s int8
    assert chip.peak_ops("bf16") == pytest.approx(197e12, rel=0.01)
    assert chip.peak_ops("int8") == pytest.approx(393e12, rel=0.01)
    # the Scaling Book's "about 240 FLOPs/byte" for the v5e MXU
    assert chip.ridge_point("bf16") == pytest.approx(240, rel=0.01)
    assert chip.main_dtype() == "bf16" and not chip.hypothetical
    assert chip.memory.l2 is not None and chip.memory.l2.policy == "scratchpad"


def test_the_slice_is_a_4x4_torus_of_v5e_chips(slice16):
    link = slice16.interconnect
    assert (slice16.chips, slice16.chip.name) == (16, "tpu-v5e")
    assert (link.topology, link.dims) == ("torus2d", (4, 4))
    assert link.bandwidth == 50e9  # 400 GB/s bidirectional per chip over 4 ports, each way
    assert link.sustained_bandwidth == pytest.approx(SUSTAINED)
    assert slice16.peak_ops("bf16") == pytest.approx(16 * 196.608e12)


@pytest.mark.parametrize("name", list_systems())
def test_every_number_of_a_system_preset_has_a_source(name):
    data = yaml.safe_load((SYSTEM_DIR / f"{name}.yaml").read_text(encoding="utf-8"))
    sources = data.get("sources") or {}
    spec = {k: v for k, v in data.items() if k != "sources"}
    uncovered = [p for p in numeric_leaves(spec) if not covered_by(p, list(sources))]
    assert not uncovered, f"{name}: numbers without a `sources` entry: {uncovered}"
    for key, citation in sources.items():
        assert resolves(data, key), f"{name}: sources key {key!r} names no field"
        assert isinstance(citation, str) and len(citation.strip()) > 10


def test_a_16_chip_all_reduce_runs_rows_then_columns_by_hand(slice16):
    link = slice16.interconnect
    nbytes = 16e6
    # reduce-scatter on a row of 4: 3 steps of 1 us + 4 MB / 37 GB/s
    # all-reduce of the 4 MB shard on a column of 4: 6 steps of 1 us + 1 MB / 37 GB/s
    # all-gather on the row: 3 steps of 1 us + 4 MB / 37 GB/s
    row_step = 1e-6 + 4e6 / SUSTAINED  # 109.108 us
    column_step = 1e-6 + 1e6 / SUSTAINED  # 28.027 us
    expected = 3 * row_step + 6 * column_step + 3 * row_step  # 822.8 us
    assert expected == pytest.approx(822.81e-6, rel=1e-4)
    assert collective_s("all_reduce", nbytes, 16, link) == pytest.approx(expected, rel=1e-12)
    assert alpha_beta_s("all_reduce", nbytes, 16, link) == pytest.approx(expected, rel=1e-12)


def test_an_8_chip_all_reduce_on_the_single_host_slice_by_hand():
    slice8 = load_system("tpu-v5e-8")
    link = slice8.interconnect
    assert (slice8.chips, link.dims) == (8, (4, 2))
    # rows of 4, columns of 2: reduce-scatter on a row (3 steps of 1 us + 2 MB / 37 GB/s),
    # all-reduce of the 2 MB shard on a column (2 steps of 1 us + 1 MB / 37 GB/s),
    # all-gather on the row (3 steps as the reduce-scatter)
    expected = 6 * (1e-6 + 2e6 / SUSTAINED) + 2 * (1e-6 + 1e6 / SUSTAINED)  # 386.4 us
    assert expected == pytest.approx(386.38e-6, rel=1e-4)
    assert collective_s("all_reduce", 8e6, 8, link) == pytest.approx(expected, rel=1e-12)
    assert alpha_beta_s("all_reduce", 8e6, 8, link) == pytest.approx(expected, rel=1e-12)


def test_the_links_efficiency_reproduces_the_measured_all_gather(slice16):
    # Scaling Book, "Sharding": bf16[2048, 8192] gathered over a 4-chip v5e axis: 680 us
    nbytes = 2048 * 8192 * 2
    predicted = collective_s("all_gather", nbytes, 4, slice16.interconnect)
    assert predicted == pytest.approx(3 * (1e-6 + nbytes / 4 / SUSTAINED), rel=1e-12)
    assert predicted == pytest.approx(680e-6, rel=0.01)


def test_a_send_across_the_slice_takes_the_short_way_round_the_torus(slice16):
    # chip 0 at (0, 0), chip 15 at (3, 3): one wraparound hop each way = 2 hops (a real
    # 4x4 v5e slice has no wraparound links, so there it is 6; the preset says so)
    nbytes = 1e6
    hop = 1e-6 + nbytes / SUSTAINED
    assert send_s(nbytes, [(0, 15)], 16, slice16.interconnect) == pytest.approx(2 * hop)
    assert send_s(nbytes, [(0, 5)], 16, slice16.interconnect) == pytest.approx(2 * hop)


def test_llama_2_7b_runs_tensor_parallel_on_the_slice_from_the_cli():
    result = CliRunner().invoke(
        app, ["system", "llama-2-7b", "--system", "tpu-v5e-16", "--tp", "4", "--seq", "128"]
    )
    assert result.exit_code == 0, result.output
    assert "llama-2-7b on tpu-v5e-16 (16x tpu-v5e, TP 4 x 4 replicas)" in result.output
    assert "fits" in result.output and "all_reduce" in result.output
