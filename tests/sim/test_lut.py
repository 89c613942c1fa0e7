"""Latency lookup tables (sim/studies/lut): rows are single-block simulations, sums of
rows are checked against whole networks, built-in spaces have the papers' shapes."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

import hardware
from hardware.errors import InputError
from sim import simulate
from sim.cli.main import app
from sim.studies.lut import (
    block_graph,
    check_additivity,
    in_memory,
    load_space,
    space_from,
    write_lut,
)
from sim.studies.lut.table import stand_in
from workloads.builder import GraphBuilder
from workloads.zoo.cnn import conv_bn

SMALL = {
    "name": "small",
    "dtype": "fp16",
    "candidates": {
        "conv": {"block": "conv", "kernel": 3},
        "mb": {"block": "mbconv", "kernel": [3, 5], "expansion": 2},
        "skip": {"block": "skip"},
    },
    "stages": [
        {"resolution": 8, "in": 8, "out": 8, "stride": 1, "repeat": 2},
        {"resolution": 8, "in": 8, "out": 16, "stride": 2, "repeat": 1},
    ],
}


@pytest.fixture(scope="module")
def toy():
    return hardware.load_chip("toy")


@pytest.fixture(scope="module")
def small():
    return space_from(SMALL, "small")


def by_key(rows):
    return {(r["layer"], r["candidate"], r["context"]): r for r in rows}


def test_space_expands_lists_and_drops_identity_where_the_shape_changes(small):
    assert [sorted(layer.candidates) for layer in small.layers] == [
        ["conv", "mb_k3", "mb_k5", "skip"],
        ["conv", "mb_k3", "mb_k5", "skip"],
        ["conv", "mb_k3", "mb_k5"],  # stride 2, 8 -> 16 channels: no identity
    ]
    assert small.layers[2].input_shape == (1, 8, 8, 8)


def test_builtin_spaces_have_the_papers_layer_counts():
    fbnet = load_space("fbnet")
    assert len(fbnet.layers) == 22  # Wu et al. 2019, Table 1
    assert all(len(layer.candidates) == 9 for layer in fbnet.layers)  # Table 2
    assert fbnet.layers[-1].input_shape == (1, 184, 7, 7)
    proxyless = load_space("proxylessnas-mobile")
    assert len(proxyless.layers) == 21
    # MBConv k3/5/7 x e3/6, plus zero where the layer keeps its shape
    assert {len(layer.candidates) for layer in proxyless.layers} == {6, 7}


def test_bad_choice_is_a_user_error():
    bad = {**SMALL, "stages": [{**SMALL["stages"][0], "choices": ["nope"]}]}
    with pytest.raises(InputError, match="'nope' is no candidate"):
        space_from(bad, "bad.yaml")


def test_dram_rows_are_the_single_block_simulations(toy, small):
    rows = by_key(in_memory(small, toy))
    for layer in small.layers:
        for name, candidate in layer.candidates.items():
            row = rows[(layer.index, name, "dram")]
            if name == "skip":
                assert row["latency_s"] == 0.0 and row["macs"] == 0
                continue
            result = simulate(block_graph(layer, candidate, "fp16"), toy)
            assert row["latency_s"] == result.latency_s
            assert row["delivered_tops"] == result.delivered_ops_per_s / 1e12
            assert row["top_loss"] == result.top_loss()
            assert row["top_loss_share"] == result.loss_share(result.top_loss())
            assert row["energy_j"] == result.power.energy_j


def test_onchip_rows_are_what_the_block_adds_after_a_layer(toy, small):
    rows = by_key(in_memory(small, toy))
    layer = small.layers[0]
    for name in ("conv", "mb_k3"):
        after = simulate(block_graph(layer, layer.candidates[name], "fp16", after_layer=True), toy)
        before = simulate(stand_in(layer, "fp16"), toy)
        row = rows[(0, name, "onchip")]
        assert row["latency_s"] == pytest.approx(after.latency_s - before.latency_s, rel=1e-12)
        # the input (8 x 8 x 8 fp16 = 1 KiB) is read from chip, not DRAM
        assert rows[(0, name, "dram")]["dram_bytes"] - row["dram_bytes"] == 8 * 8 * 8 * 2
    assert (0, "skip", "onchip") not in rows  # the same as its dram row: one row


def hand_built_pair(channels: int = 8) -> GraphBuilder:
    b = GraphBuilder("pair", "fp16")
    x = b.input("x", (1, channels, 8, 8))
    for i in range(2):
        x = conv_bn(b, x, channels, 3, f"L{i}.conv", f"L{i}.bn", act=f"L{i}.relu")
    return b.build(outputs=[x])


def test_additivity_of_two_blocks_by_hand(toy, small):
    """Two 3x3 convs: the whole network vs (first alone) + (second after a layer)."""
    pair = space_from({**SMALL, "stages": [SMALL["stages"][0]]}, "pair")
    report = check_additivity(pair, toy, chosen=[["conv", "conv"]])
    (net,) = report.networks
    first, second = pair.layers
    conv = first.candidates["conv"]
    alone = simulate(block_graph(first, conv, "fp16"), toy).latency_s
    added = (
        simulate(block_graph(second, conv, "fp16", after_layer=True), toy).latency_s
        - simulate(stand_in(second, "fp16"), toy).latency_s
    )
    whole = simulate(hand_built_pair(), toy)
    assert net.simulated_s == whole.latency_s
    assert net.in_context_s == pytest.approx(alone + added, rel=1e-12)
    assert net.isolated_s == pytest.approx(2 * alone, rel=1e-12)
    assert net.in_context_error == pytest.approx((alone + added) / whole.latency_s - 1, rel=1e-9)
    # toy launches one kernel per 1 us, so the second conv starts at 2 us both in the
    # network and after the stand-in relu; the relu ends sooner than the first conv (it
    # reads 1 KiB, the conv also its weights), so the row counts more of the launch wait
    # than the network waits: the in-context sum is over by that difference
    assert [op.start_s for op in whole.ops] == pytest.approx([1e-6, 2e-6])
    first_end = whole.ops[0].end_s
    relu_end = simulate(stand_in(second, "fp16"), toy).latency_s
    assert net.in_context_s - net.simulated_s == pytest.approx(first_end - relu_end, rel=1e-9)
    # counting the second conv alone pays its launch and its input read from DRAM again
    assert net.isolated_error > net.in_context_error > 0
    assert report.mean_abs_isolated == abs(net.isolated_error)


def test_random_networks_are_seeded(toy, small):
    first = check_additivity(small, toy, networks=3, seed=7)
    again = check_additivity(small, toy, networks=3, seed=7)
    assert [n.choices for n in first.networks] == [n.choices for n in again.networks]
    assert first.networks == again.networks


def test_table_file_resumes(toy, small, tmp_path):
    out = tmp_path / "lut.csv"
    run = write_lut(small, toy, out, jobs=1)
    assert run.measured == 7 and run.skipped == 0  # layers 0 and 1 share their 4 blocks
    again = write_lut(small, toy, out, jobs=1, resume=True)
    assert again.measured == 0 and again.skipped == 7
    assert sorted(r["id"] for r in again.rows) == sorted(r["id"] for r in run.rows)


def test_cli_table_and_check(tmp_path):
    runner = CliRunner(env={"COLUMNS": "200", "NO_COLOR": "1"})
    out = tmp_path / "lut.csv"
    done = runner.invoke(app, ["lut", "equal-macs", "--chip", "toy", "--out", str(out), "-j", "1"])
    assert done.exit_code == 0, done.output
    assert "conv_k3" in done.output and "mbconv_k5_e4" in done.output
    checked = runner.invoke(app, ["lut", "check", "equal-macs", "--chip", "toy", "--networks", "2"])
    assert checked.exit_code == 0, checked.output
    assert "mean |error|" in checked.output
    missing = runner.invoke(app, ["lut", "check", "--chip", "toy"])
    assert missing.exit_code == 2


@pytest.mark.parametrize(
    "fields",
    [
        {"block": "dwsep", "kernel": 5},
        {"block": "mbconv", "kernel": 3, "expansion": 3, "groups": 2, "se": True},
        {"block": "shuffle", "kernel": 3},
        {"block": "transformer", "kernel": 3, "expansion": 2, "heads": 2},
        {"block": "skip", "project": True},
        {"block": "conv", "kernel": 3, "dtype": "int8"},
    ],
)
def test_every_block_kind_builds_in_both_shapes(toy, fields):
    space = space_from({**SMALL, "candidates": {"c": fields}}, "kinds")
    rows = in_memory(space, toy)
    assert not [r["error"] for r in rows if r["error"]]
    assert {r["out_channels"] for r in rows} == {8, 16}
    identity = [r for r in rows if r["latency_s"] == 0]
    assert all(r["block"] == "skip" and r["out_channels"] == 8 for r in identity)
