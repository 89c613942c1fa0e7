"""Collectives overlapped with compute (--overlap-comm) and the all-reduce algorithms
(ring, tree, nvls), by hand on toy systems.

toy-4 (hardware/systems/toy-4.yaml): 4 toy chips on a ring of 1 GB/s links, 1 us a step.
"""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from hardware.errors import InputError
from hardware.system import load_system, validate_system
from sim.cli.main import app
from sim.system.collectives import alpha_beta_s, collective_s, sent_bytes
from sim.system.overlap import overlap, overlapped_s
from sim.system.run import run_system


@pytest.fixture(scope="module")
def toy4():
    return load_system("toy-4")


def toy_switch(chips: int, algorithm: str = "ring", share: float = 0.0):
    link = {"topology": "switch", "bandwidth": "1 GB/s", "latency": "1 us"}
    link.update(algorithm=algorithm, overlap_share=share)
    return validate_system(
        {"name": "toy-switch", "chip": "toy", "chips": chips, "interconnect": link}, "toy-switch"
    )


# ---- overlap: the flow shop of compute chunks and collective chunks ----


@pytest.mark.parametrize(
    "t, c, n, s, expected",
    [
        # compute-bound: a = 2, b = 1, a' = min(2 / 0.75, 2 + 0.25) = 2.25;
        # max(2 + 4 x 1, 2 + 3 x 2.25 + 1) = 9.75
        (8.0, 4.0, 4, 0.25, 9.75),
        # communication-bound: a = 0.5, b = 2, a' = min(0.5 / 0.5, 0.5 + 1) = 1;
        # max(0.5 + 8, 0.5 + 3 x 1 + 2) = 8.5
        (2.0, 8.0, 4, 0.5, 8.5),
        # no contention: max(t, c) + min(t, c) / n = 8 + 4 / 4
        (8.0, 4.0, 4, 0.0, 9.0),
        # one chunk overlaps nothing: t + c
        (8.0, 4.0, 1, 0.25, 12.0),
    ],
)
def test_the_overlap_flow_shop_by_hand(t, c, n, s, expected):
    assert overlapped_s(t, c, n, s) == pytest.approx(expected, rel=1e-12)


def test_overlap_never_costs_more_than_serial_and_hides_the_rest():
    for t, c, n, s in [(8.0, 4.0, 4, 0.25), (2.0, 8.0, 4, 0.9), (1e-3, 5.0, 160, 0.5)]:
        split = overlap(t, c, n, 0.5, s)
        assert 0 <= split.exposed_s <= c + 0.5
        assert split.exposed_s + split.hidden_s == pytest.approx(c + 0.5, rel=1e-12)


def test_gpt2_on_toy4_overlaps_its_layer_all_reduces_by_hand(toy4):
    serial = run_system("gpt2", toy4, seq=8)
    t = serial.prefill.chip_latency_s
    # 24 all-reduces of 12,288 B: 6 ring steps of (1 us + 3,072 B / 1 GB/s) = 24.432 us
    # each, split in two halves of the 8 tokens: 48 chunks of b = 12.216 us; the
    # embedding all-reduce (24.432 us) and the logits all-gather (606.12 us) stay
    # exposed: 630.552 us
    b, other = 12.216e-6, 24.432e-6 + 606.12e-6
    a = t / 48
    assert a > b  # compute-bound: only the last chunk's all-reduce is left exposed
    free = run_system("gpt2", toy4, seq=8, overlap_comm=True).prefill
    assert free.communication_s == pytest.approx(b + other, rel=1e-9)
    assert free.hidden_communication_s == pytest.approx(47 * b, rel=1e-9)
    assert free.latency_s == pytest.approx(t + b + other, rel=1e-9)
    # the collectives' kernels hold a quarter of the chip while they run: every compute
    # chunk after the first is overlapped by one all-reduce chunk, slowed by 0.25 b
    busy = toy4.model_copy(
        update={"interconnect": toy4.interconnect.model_copy(update={"overlap_share": 0.25})}
    )
    slowed = run_system("gpt2", busy, seq=8, overlap_comm=True).prefill
    assert slowed.communication_s == pytest.approx(47 * 0.25 * b + b + other, rel=1e-9)
    assert slowed.latency_s == pytest.approx(t + slowed.communication_s, rel=1e-9)
    for phase in (free, slowed):
        capacity = phase.peak_ops * phase.latency_s
        accounted = phase.useful_ops + sum(phase.losses_ops.values())
        assert accounted == pytest.approx(capacity, rel=1e-9)
        assert phase.losses_ops["communication"] == pytest.approx(
            phase.peak_ops * phase.communication_s, rel=1e-9
        )
    # the links carry the same traffic for as long: only the critical path changed
    assert slowed.links[0].busy_s == serial.prefill.links[0].busy_s
    assert not serial.overlap_comm and serial.prefill.hidden_communication_s == 0


def test_a_one_token_step_has_nothing_to_overlap_with(toy4):
    # decode at batch 1: one token, no independent half; at batch 2 the halves overlap
    for batch, overlaps in ((1, False), (2, True)):
        serial = run_system("gpt2", toy4, seq=8, batch=batch).decode
        free = run_system("gpt2", toy4, seq=8, batch=batch, overlap_comm=True).decode
        assert (free.latency_s < serial.latency_s) == overlaps
        assert (free.hidden_communication_s > 0) == overlaps


# ---- all-reduce algorithms ----


@pytest.mark.parametrize(
    "chips, nbytes, ring_us, tree_us, nvls_us",
    [
        # 4 MB on 4 chips: ring 6 x (1 + 1000) us; tree d = 2: 4 x (1 + 2000) us;
        # nvls 2 x 1 us + 4000 us
        (4, 4e6, 6006.0, 8004.0, 4002.0),
        # 8 kB on 8 chips: ring 14 x (1 + 1) us; tree d = 3: 6 x (1 + 8/3) us;
        # nvls 2 + 8 us
        (8, 8e3, 28.0, 22.0, 10.0),
    ],
)
def test_all_reduce_algorithms_on_a_toy_switch_by_hand(chips, nbytes, ring_us, tree_us, nvls_us):
    for algorithm, expected in (("ring", ring_us), ("tree", tree_us), ("nvls", nvls_us)):
        link = toy_switch(chips, algorithm).interconnect
        assert collective_s("all_reduce", nbytes, chips, link) == pytest.approx(
            expected * 1e-6, rel=1e-12
        )
        assert alpha_beta_s("all_reduce", nbytes, chips, link) == pytest.approx(
            expected * 1e-6, rel=1e-12
        )
    tree, nvls = toy_switch(chips, "tree").interconnect, toy_switch(chips, "nvls").interconnect
    assert sent_bytes("all_reduce", nbytes, chips, tree) == 2 * nbytes
    assert sent_bytes("all_reduce", nbytes, chips, nvls) == nbytes
    # the algorithm is an all-reduce's: the other collectives stay ring
    ring = toy_switch(chips).interconnect
    for kind in ("all_gather", "reduce_scatter", "all_to_all"):
        assert collective_s(kind, nbytes, chips, nvls) == collective_s(kind, nbytes, chips, ring)


def test_the_algorithm_option_overrides_the_system_and_is_reported():
    system = toy_switch(4)
    ring = run_system("gpt2", system, seq=8)
    nvls = run_system("gpt2", system, seq=8, algorithm="nvls")
    assert (ring.algorithm, nvls.algorithm) == ("ring", "nvls")
    one = [c for c in nvls.prefill.collectives if c.kind == "all_reduce"][0]
    assert one.time_s == pytest.approx(2e-6 + one.nbytes / 1e9, rel=1e-12)
    assert nvls.prefill.communication_s < ring.prefill.communication_s


def test_a_tree_between_nodes_by_hand():
    # 8 nodes of 2 toy chips (1 GB/s, 1 us inside; 0.5 GB/s, 5 us between), 16 kB:
    # reduce-scatter in the node 1 x (1 + 8) us, all-gather the same; between the nodes
    # an all-reduce of 8 kB: ring 14 x (5 + 1,000 B / 0.5 GB/s) = 98 us, tree d = 3:
    # 6 x (5 + 8,000 / 3 B / 0.5 GB/s) = 62 us
    link = {
        "topology": "hierarchical",
        "bandwidth": "1 GB/s",
        "latency": "1 us",
        "node_chips": 2,
        "inter_node": {"bandwidth": "0.5 GB/s", "latency": "5 us"},
    }
    for algorithm, between in (("ring", 98e-6), ("tree", 62e-6)):
        system = validate_system(
            {"name": "nodes", "chip": "toy", "chips": 16,
             "interconnect": {**link, "algorithm": algorithm}},
            "nodes",
        )  # fmt: skip
        seconds = collective_s("all_reduce", 16e3, 16, system.interconnect)
        assert seconds == pytest.approx(18e-6 + between, rel=1e-12)
        assert alpha_beta_s("all_reduce", 16e3, 16, system.interconnect) == pytest.approx(seconds)
    with pytest.raises(InputError, match="algorithm nvls needs topology switch"):
        validate_system(
            {"name": "nodes", "chip": "toy", "chips": 16,
             "interconnect": {**link, "algorithm": "nvls"}},
            "nodes",
        )  # fmt: skip


def test_in_switch_algorithms_need_a_switch(toy4):
    with pytest.raises(InputError, match="algorithm nvls needs topology switch"):
        run_system("gpt2", toy4, seq=8, algorithm="nvls")
    result = CliRunner().invoke(
        app, ["system", "gpt2", "--system", "hgx-h100", "--algorithm", "butterfly"]
    )
    assert result.exit_code == 2
    assert "--algorithm" in result.output and "nvls" in result.output


def test_the_hgx_h100_run_with_every_option():
    runner = CliRunner()
    args = ["system", "llama-2-7b", "--system", "hgx-h100", "--seq", "64"]
    plain = runner.invoke(app, [*args, "--json", "-"])
    both = runner.invoke(app, [*args, "--overlap-comm", "--algorithm", "nvls", "--json", "-"])
    assert plain.exit_code == 0 and both.exit_code == 0
    plain_run, both_run = json.loads(plain.output), json.loads(both.output)
    assert both_run["overlap_comm"] and both_run["algorithm"] == "nvls"
    for phase in ("prefill", "decode"):
        assert both_run[phase]["latency_s"] < plain_run[phase]["latency_s"]
        assert both_run[phase]["chip_latency_s"] == plain_run[phase]["chip_latency_s"]
