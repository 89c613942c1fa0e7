"""Pipeline and data parallelism: the schedule by hand, the bubble's closed form, the
system accounting's identity over random small systems and models, and the CLI's refusals.

toy-4 (hardware/systems/toy-4.yaml): 4 toy chips on a ring of 1 GB/s links, 1 us a step.
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from hardware.errors import InputError
from hardware.system import load_system, validate_system
from sim.cli.main import app
from sim.system.collectives import alpha_beta_s, collective_s, send_s
from sim.system.pipeline import bubble_fraction, run_pipeline, steady_period_s
from sim.system.results import SYSTEM_LOSS_CATEGORIES
from sim.system.run import run_system
from sim.system.tensor import memory_parts
from workloads.zoo.llm_configs import TransformerConfig
from workloads.zoo.transformer import CONFIGS


@pytest.fixture(scope="module")
def toy4():
    return load_system("toy-4")


@pytest.mark.parametrize("schedule", ["gpipe", "1f1b"])
@pytest.mark.parametrize("stages, micro", [(2, 1), (2, 4), (4, 4), (3, 7), (4, 16)])
def test_equal_stages_idle_the_gpipe_bubble_fraction(stages, micro, schedule):
    run = run_pipeline([2.0] * stages, [0.0] * (stages - 1), micro, schedule)
    # (m + p - 1) stage times; each stage busy m of them, idle p - 1
    assert run.makespan_s == pytest.approx(2.0 * (micro + stages - 1), rel=1e-12)
    for stage in run.stages:
        assert stage.busy_s == pytest.approx(2.0 * micro)
        assert stage.bubble_s / run.makespan_s == pytest.approx(
            bubble_fraction(stages, micro), rel=1e-12
        )
        assert stage.p2p_wait_s == 0
    assert run.peak_in_flight == (micro if schedule == "gpipe" else min(micro, stages))


def test_a_send_between_two_stages_by_hand():
    # t = 1, send 0.5, m = 4: stage 0 runs 0..4; micro-batch 0 reaches stage 1 at 1.5,
    # the rest at 2.5, 3.5, 4.5 as stage 1 frees up: the pass ends at 5.5.
    run = run_pipeline([1.0, 1.0], [0.5], 4, "gpipe")
    assert run.makespan_s == pytest.approx(5.5)
    first, second = run.stages
    assert (first.busy_s, first.p2p_wait_s, first.bubble_s) == pytest.approx((4, 0, 1.5))
    # stage 1: idle 0..1 (fill: micro-batch 0 still in stage 0), 1..1.5 waiting for the send
    assert (second.busy_s, second.p2p_wait_s, second.bubble_s) == pytest.approx((4, 0.5, 1))
    assert run.link_busy_s == [pytest.approx(2.0)]


def test_1f1b_caps_micro_batches_in_flight_and_stalls_when_sends_lengthen_the_trip():
    # p = 4, t = 1, sends 0.5, m = 8. GPipe: stage 3 starts at 3 x 1.5 = 4.5 and ends at
    # 4.5 + 8 = 12.5. 1F1B: micro-batch 4 enters only when micro-batch 0 leaves the last
    # stage at 4 + 3 x 0.5 = 5.5; micro-batch 7 enters at 8.5 and leaves at 8.5 + 5.5 = 14.
    gpipe = run_pipeline([1.0] * 4, [0.5] * 3, 8, "gpipe")
    one_f_one_b = run_pipeline([1.0] * 4, [0.5] * 3, 8, "1f1b")
    assert gpipe.makespan_s == pytest.approx(12.5)
    assert one_f_one_b.makespan_s == pytest.approx(14.0)
    assert (gpipe.peak_in_flight, one_f_one_b.peak_in_flight) == (8, 4)


@settings(max_examples=60, deadline=None)
@given(
    stage_s=st.lists(st.floats(0.0, 5.0), min_size=1, max_size=5),
    sends=st.lists(st.floats(0.0, 2.0), min_size=4, max_size=4),
    micro=st.integers(1, 9),
    schedule=st.sampled_from(["gpipe", "1f1b"]),
)
def test_every_stage_time_splits_into_busy_p2p_wait_and_bubble(stage_s, sends, micro, schedule):
    run = run_pipeline(stage_s, sends[: len(stage_s) - 1], micro, schedule)
    for stage, t in zip(run.stages, stage_s, strict=True):
        assert stage.busy_s == pytest.approx(micro * t, abs=1e-9)
        assert min(stage.p2p_wait_s, stage.bubble_s) >= -1e-9
        total = stage.busy_s + stage.p2p_wait_s + stage.bubble_s
        assert total == pytest.approx(run.makespan_s, abs=1e-9)
    path = sum(stage_s) + sum(sends[: len(stage_s) - 1])
    assert run.makespan_s >= max(path, micro * max(stage_s)) - 1e-9


def test_sends_on_the_toy_ring_cross_the_links_between_the_chips(toy4):
    ring = toy4.interconnect
    # 1 MB, 1 us + 1 ms a hop; chip 0 -> 2 is two hops, store and forward
    assert send_s(1e6, [(0, 1)], 4, ring) == pytest.approx(1.001e-3, rel=1e-12)
    assert send_s(1e6, [(0, 2)], 4, ring) == pytest.approx(2 * 1.001e-3, rel=1e-12)
    # 0 -> 2 and 1 -> 3 both cross link 1 -> 2, one hop apart: no waiting
    assert send_s(1e6, [(0, 2), (1, 3)], 4, ring) == pytest.approx(2 * 1.001e-3, rel=1e-12)
    # 0 -> 1 and 0 -> 2 both start on link 0 -> 1: one waits a hop, then crosses two
    assert send_s(1e6, [(0, 1), (0, 2)], 4, ring) == pytest.approx(3 * 1.001e-3, rel=1e-12)
    switch = ring.model_copy(update={"topology": "switch"})
    assert send_s(1e6, [(0, 2), (1, 3)], 4, switch) == pytest.approx(1.001e-3, rel=1e-12)


def test_a_two_stage_pipeline_of_gpt2_on_toy4_by_its_stage_times(toy4):
    result = run_system("gpt2", toy4, tp=1, pp=2, dp=1, seq=8, batch=4, micro_batches=4)
    prefill = result.prefill
    first, second = prefill.stages
    assert (first.layers, second.layers, second.chips) == (6, 6, [1])
    # one micro-batch's activation: 1 sequence x 8 tokens x 768 x 2 B over one ring link
    send = 1e-6 + 8 * 768 * 2 / 1e9
    assert [c.kind for c in prefill.collectives] == ["send"]
    assert prefill.collectives[0].time_s == pytest.approx(send, rel=1e-12)
    t0, t1 = first.compute_s / 4, second.compute_s / 4
    assert t1 > t0  # the last stage holds the LM head
    # the slower second stage sets the pace once the first micro-batch is through
    assert prefill.latency_s == pytest.approx(t0 + send + 4 * t1, rel=1e-9)
    assert prefill.bubble_share > 0 and result.replicas == 1 and result.chips_used == 2


def test_replicas_multiply_tokens_and_exchange_nothing(toy4):
    one = run_system("gpt2", toy4, tp=2, dp=1, seq=8)
    two = run_system("gpt2", toy4, tp=2, seq=8)
    assert two.replicas == 2 and two.chips_used == 4 and one.chips_used == 2
    assert two.prefill.latency_s == one.prefill.latency_s
    assert two.prefill.tokens_per_s == pytest.approx(2 * one.prefill.tokens_per_s)


@st.composite
def small_cases(draw):
    heads = draw(st.sampled_from([2, 4, 8]))
    layers = draw(st.sampled_from([1, 2, 4, 6]))
    experts = draw(st.sampled_from([0, 4]))
    config = TransformerConfig(
        name="random",
        layers=layers,
        hidden=16 * heads,
        heads=heads,
        kv_heads=draw(st.sampled_from([h for h in (1, 2, heads) if heads % h == 0])),
        ffn=draw(st.sampled_from([64, 128, 256])),
        vocab=draw(st.integers(64, 600)),
        max_positions=256,
        gated=draw(st.booleans()),
        experts=experts,
        experts_per_token=2 if experts else 0,
    )
    chips = draw(st.sampled_from([2, 4, 8]))
    topology = draw(st.sampled_from(["ring", "switch", "torus2d", "hierarchical"]))
    link = {
        "topology": topology,
        "bandwidth": draw(st.sampled_from(["1 GB/s", "100 GB/s"])),
        "latency": draw(st.sampled_from(["0 us", "1 us", "20 us"])),
    }
    link["overlap_share"] = draw(st.sampled_from([0.0, 0.121, 0.5]))
    if topology == "switch":
        link["algorithm"] = draw(st.sampled_from(["ring", "tree", "nvls"]))
    if topology == "hierarchical":
        link["algorithm"] = draw(st.sampled_from(["ring", "tree"]))
    if topology == "torus2d":
        link["dims"] = [2, chips // 2]
    elif topology == "hierarchical":
        link.update(node_chips=2, inter_node={"bandwidth": "0.5 GB/s", "latency": "5 us"})
    system = validate_system(
        {
            "name": "random",
            "chip": draw(st.sampled_from(["toy", "h100-sxm"])),
            "chips": chips,
            "interconnect": link,
        },
        "random",
    )
    pp = draw(st.sampled_from([p for p in (1, 2, 4) if layers % p == 0 and chips % p == 0]))
    tp = draw(st.sampled_from([t for t in (1, 2, 4) if chips % (t * pp) == 0 and heads % t == 0]))
    ep = 1
    if experts and tp == 1:
        ep = draw(st.sampled_from([e for e in (1, 2, 4) if chips % (e * pp) == 0]))
    batch = draw(st.sampled_from([4, 8]))
    micro = draw(st.sampled_from([m for m in (1, 2, 4) if batch % (m * ep) == 0]))
    options = {
        "tp": tp,
        "ep": ep,
        "pp": pp,
        "micro_batches": micro,
        "batch": batch,
        "seq": draw(st.integers(1, 16)),
        "schedule": draw(st.sampled_from(["gpipe", "1f1b"])),
        "overlap_comm": draw(st.booleans()),
    }
    return config, system, options


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=small_cases())
def test_the_system_accounting_adds_up_exactly(case):
    config, system, options = case
    result = run_system(config, system, **options)
    for phase in (result.prefill, result.decode):
        assert set(phase.losses_ops) == set(SYSTEM_LOSS_CATEGORIES)
        assert min(phase.losses_ops.values()) >= -1e-9 * phase.peak_ops * phase.latency_s
        capacity = phase.peak_ops * phase.latency_s
        accounted = phase.useful_ops + sum(phase.losses_ops.values())
        assert accounted == pytest.approx(capacity, rel=1e-9)
        assert phase.peak_ops == pytest.approx(
            options["tp"] * options["ep"] * options["pp"] * system.chip.peak_ops(result.dtype)
        )
        for stage in phase.stages:
            parts = stage.compute_s + stage.collectives_s + stage.p2p_wait_s + stage.bubble_s
            assert parts == pytest.approx(phase.latency_s, rel=1e-9)
        # the timeline holds each stage's compute and exposed collectives exactly
        for stage in phase.stages:
            for track, seconds in (
                ("compute", stage.compute_s),
                ("collectives", stage.collectives_s),
            ):
                drawn = sum(
                    piece.end_s - piece.start_s
                    for piece in phase.timeline
                    if piece.process.startswith(f"stage {stage.stage} (") and piece.track == track
                )
                assert drawn == pytest.approx(seconds, rel=1e-9, abs=1e-15)
        # overlapping moves collectives off the critical path, never adds to them
        assert phase.hidden_communication_s >= -1e-12 * phase.latency_s
        if not options["overlap_comm"]:
            assert phase.hidden_communication_s == 0
        if options["pp"] == 1:  # one stage never waits for another
            assert phase.losses_ops["pipeline_bubble"] == pytest.approx(0, abs=1e-9 * capacity)


@pytest.mark.parametrize(
    "args, words",
    [
        (["--pp", "5"], "--pp must be an integer from 1 to 4"),
        (["--pp", "3", "--tp", "1", "--model", "llama-2-7b"], "--pp 3: 'llama-2-7b' has 32 layers"),
        (["--tp", "3", "--model", "llama-2-7b"], "cannot be split over 3 chips"),
        (["--tp", "3"], "3 chips per model copy does not divide the 4 chips"),
        (["--tp", "2", "--pp", "3"], "does not divide the 4 chips"),
        (["--tp", "2", "--dp", "3"], "--dp must be an integer from 1 to 2"),
        (["--batch", "4", "--micro-batches", "3"], "--micro-batches 3 does not divide --batch 4"),
        (["--schedule", "zigzag"], "--schedule must be one of gpipe, 1f1b"),
        (["--ep", "2"], "--ep 2: 'gpt2' is not a mixture-of-experts model"),
        (["--ep", "3", "--model", "mixtral-8x7b"], "its 8 experts do not split evenly over 3"),
        (["--ep", "2", "--tp", "2", "--model", "mixtral-8x7b"], "use --tp 1"),
        (["--ep", "4", "--batch", "2", "--model", "mixtral-8x7b"], "use a multiple of 4"),
    ],
)
def test_invalid_plans_are_one_clear_paragraph_and_exit_2(args, words):
    model = args[args.index("--model") + 1] if "--model" in args else "gpt2"
    args = args[: args.index("--model")] if "--model" in args else args
    result = CliRunner().invoke(app, ["system", model, "--system", "toy-4", "--seq", "8", *args])
    assert result.exit_code == 2, result.output
    assert words in " ".join(result.output.split())
    assert "Traceback" not in result.output


def test_the_api_raises_the_projects_error(toy4):
    with pytest.raises(InputError, match="do not split evenly over 3 pipeline stages"):
        run_system("llama-2-7b", toy4, pp=3, tp=1, seq=8)
    with pytest.raises(InputError, match="--micro-batches must be an integer from 1 to 2"):
        run_system("gpt2", toy4, seq=8, batch=2, micro_batches=4)


def _two_level(topology: str) -> dict:
    """A hypothetical 2 x 2 system for hand arithmetic: 1 GB/s, 1 us inside a node or row;
    0.5 GB/s, 2 us between nodes."""
    link = {"topology": topology, "bandwidth": "1 GB/s", "latency": "1 us"}
    if topology == "torus2d":
        link["dims"] = [2, 2]
    else:
        link.update(node_chips=2, inter_node={"bandwidth": "0.5 GB/s", "latency": "2 us"})
    return validate_system({"name": "two", "chip": "toy", "chips": 4, "interconnect": link}, "t")


def test_a_hierarchical_all_reduce_by_hand():
    link = _two_level("hierarchical").interconnect
    # 4 MB over 2 nodes x 2 chips: reduce-scatter in the node: 1 step of 1 us + 2 MB / 1 GB/s;
    # all-reduce of the 2 MB shard between nodes: 2 steps of 2 us + 1 MB / 0.5 GB/s;
    # all-gather in the node: as the reduce-scatter
    expected = 2 * (1e-6 + 2e-3) + 2 * (2e-6 + 2e-3)
    assert collective_s("all_reduce", 4e6, 4, link) == pytest.approx(expected, rel=1e-12)
    assert alpha_beta_s("all_reduce", 4e6, 4, link) == pytest.approx(expected, rel=1e-12)
    # within one node only the NVLink-like level: 2 steps of 1 us + 2 MB / 1 GB/s
    assert collective_s("all_reduce", 4e6, 2, link) == pytest.approx(2 * 2.001e-3, rel=1e-12)
    # sends: inside a node one NVLink hop, across nodes one network hop
    assert send_s(1e6, [(0, 1)], 4, link) == pytest.approx(1e-6 + 1e-3, rel=1e-12)
    assert send_s(1e6, [(1, 2)], 4, link) == pytest.approx(2e-6 + 2e-3, rel=1e-12)


def test_a_torus_all_reduce_runs_rows_then_columns():
    link = _two_level("torus2d").interconnect
    # rows and columns are rings of 1 GB/s: reduce-scatter on a row of 2 (1 step of 2 MB),
    # all-reduce of 2 MB on a column of 2 (2 steps of 1 MB), all-gather on the row
    expected = 2 * (1e-6 + 2e-3) + 2 * (1e-6 + 1e-3)
    assert collective_s("all_reduce", 4e6, 4, link) == pytest.approx(expected, rel=1e-12)
    # chip 0 (0, 0) to chip 3 (1, 1): one hop along the row, one along the column
    assert send_s(1e6, [(0, 3)], 4, link) == pytest.approx(2 * 1.001e-3, rel=1e-12)
    with pytest.raises(InputError, match="does not fill whole torus2d levels"):
        collective_s("all_reduce", 4e6, 3, link)


@pytest.mark.parametrize(
    "change, words",
    [
        ({"topology": "torus2d"}, "needs dims"),
        ({"topology": "torus2d", "dims": [2, 3]}, "must hold all 4 chips"),
        ({"topology": "hierarchical", "node_chips": 2}, "needs node_chips and inter_node"),
        ({"topology": "ring", "node_chips": 2}, "belongs to"),
    ],
)
def test_two_level_topologies_refuse_incomplete_figures(change, words):
    link = {"topology": "ring", "bandwidth": "1 GB/s", **change}
    with pytest.raises(InputError, match=words):
        validate_system({"name": "x", "chip": "toy", "chips": 4, "interconnect": link}, "x.yaml")


def test_two_hgx_h100_nodes_send_between_pipeline_stages_over_infiniband():
    system = load_system("hgx-h100-x2")
    port = system.interconnect.inter_node
    assert (system.chips, port.bandwidth) == (16, 50e9)  # 400 Gb/s per GPU
    result = run_system("llama-2-7b", system, tp=4, pp=2, dp=2, seq=8)
    send = next(c for c in result.prefill.collectives if c.kind == "send")
    # stage 0 on chips 0-3, stage 1 on chips 4-7: the same node, NVLink
    assert send.time_s == pytest.approx(1e-6 + send.nbytes / (450e9 * 0.82), rel=1e-12)
    across = run_system("llama-2-7b", system, tp=8, pp=2, seq=8)
    send = next(c for c in across.prefill.collectives if c.kind == "send")
    assert send.time_s == pytest.approx(3e-6 + send.nbytes / (50e9 * 0.9), rel=1e-12)


def test_expert_parallel_mixtral_dispatches_and_combines_by_all_to_all():
    system = load_system("hgx-h100")
    result = run_system("mixtral-8x7b", system, ep=8, seq=8, batch=8)
    assert (result.tp, result.ep, result.replicas) == (1, 8, 1)
    dispatch, combine = result.prefill.collectives
    # each chip: 1 sequence x 8 tokens x top-2 x 4096 x 2 B = 131,072 B, in each of 32 layers
    assert (dispatch.kind, dispatch.nbytes, dispatch.count) == ("all_to_all", 131_072, 32)
    # through the switch: 7 steps of 1 us + 131,072 / 8 B at 450 GB/s x 0.82
    assert dispatch.time_s == pytest.approx(7 * (1e-6 + 16_384 / 369e9), rel=1e-12)
    assert combine.total_s == dispatch.total_s
    # one of the 8 experts per chip: the whole model less 7 experts (3 x 4096 x 14336
    # weights each) in each of 32 layers, fp16
    whole, kv, _ = memory_parts(CONFIGS["mixtral-8x7b"], 1, 8, 8, "fp16")
    assert result.memory.weights_bytes == whole - 32 * 7 * 3 * 4096 * 14336 * 2
    assert result.memory.kv_cache_bytes == kv / 8  # its own sequence of the 8


@pytest.mark.parametrize(
    "stages, micro, send, period",
    [
        (4, 8, 0.0, 8.0),  # m >= p: the stages never wait, m stage times a round
        (4, 4, 0.0, 4.0),
        (4, 2, 0.0, 4.0),  # m < p: a micro-batch's round trip, p stage times
        (4, 2, 0.5, 5.5),  # ... plus its three sends
        (1, 3, 0.0, 3.0),
    ],
)
def test_steady_state_rounds_by_hand(stages, micro, send, period):
    assert steady_period_s([1.0] * stages, [send] * (stages - 1), micro) == pytest.approx(period)


def test_steady_state_throughput_needs_at_least_as_many_micro_batches_as_stages(toy4):
    few = run_system("gpt2", toy4, tp=1, pp=4, seq=8, batch=4, micro_batches=2)
    enough = run_system("gpt2", toy4, tp=1, pp=4, seq=8, batch=4, micro_batches=4)
    for result in (few, enough):
        assert result.decode.steady_tokens_per_s > result.decode.tokens_per_s
    single = run_system("gpt2", toy4, tp=4, seq=8)
    assert single.decode.steady_tokens_per_s == single.decode.tokens_per_s
