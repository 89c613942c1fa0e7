"""Systems of chips: collectives on the toy-4 ring by hand, tensor parallelism, memory fit.

toy-4 (hardware/systems/toy-4.yaml): 4 toy chips on a ring of 1 GB/s links, 1 us a step.
A hop of an S-byte collective moves S/4 bytes: 1 us + (S/4) / 1e9 s.
"""

from __future__ import annotations

import json
import math

import pytest

from hardware.errors import InputError
from hardware.system import load_system, validate_system
from sim.cli.main import app
from sim.system.collectives import COLLECTIVES, alpha_beta_s, collective_s
from sim.system.results import SYSTEM_LOSS_CATEGORIES
from sim.system.run import run_system
from sim.system.tensor import fitting_degree, memory_parts, shard
from workloads.zoo.transformer import CONFIGS

MB = 1e6


@pytest.fixture(scope="module")
def toy4():
    return load_system("toy-4")


@pytest.mark.parametrize(
    "kind, ring_ms, switch_ms",
    [
        # 4 MB: a hop is 1 us + 1 MB / 1 GB/s = 1.001 ms
        ("all_reduce", 6 * 1.001, 6 * 1.001),  # 2(N-1) = 6 steps either way
        ("reduce_scatter", 3 * 1.001, 3 * 1.001),  # N-1 = 3 steps
        ("all_gather", 3 * 1.001, 3 * 1.001),
        # offsets 1, 2, 3: on the ring 1 + 2 + 3 = 6 hops; through the switch 3 single hops
        ("all_to_all", 6 * 1.001, 3 * 1.001),
    ],
)
def test_collectives_on_toy4_take_the_hand_derived_time(toy4, kind, ring_ms, switch_ms):
    ring = toy4.interconnect
    switch = ring.model_copy(update={"topology": "switch"})
    assert collective_s(kind, 4 * MB, 4, ring) == pytest.approx(ring_ms * 1e-3, rel=1e-12)
    assert collective_s(kind, 4 * MB, 4, switch) == pytest.approx(switch_ms * 1e-3, rel=1e-12)


@pytest.mark.parametrize("kind", COLLECTIVES)
@pytest.mark.parametrize("chips", [2, 3, 8])
def test_simulated_collectives_match_the_alpha_beta_closed_form(toy4, kind, chips):
    for topology in ("ring", "switch"):
        link = toy4.interconnect.model_copy(update={"topology": topology})
        expected = alpha_beta_s(kind, 12 * MB, chips, link)
        assert collective_s(kind, 12 * MB, chips, link) == pytest.approx(expected, rel=1e-12)


def test_efficiency_scales_the_bandwidth_term_only(toy4):
    link = toy4.interconnect.model_copy(update={"efficiency": 0.5})
    # 6 steps of 1 us + 1 MB / 0.5 GB/s = 2.001 ms
    assert collective_s("all_reduce", 4 * MB, 4, link) == pytest.approx(6 * 2.001e-3, rel=1e-12)


def test_presets_load_with_their_nvlink_bandwidth_per_direction():
    h100, a100 = load_system("hgx-h100"), load_system("hgx-a100")
    assert (h100.chips, h100.chip.name, h100.interconnect.topology) == (8, "h100-sxm", "switch")
    assert h100.interconnect.bandwidth == 450e9  # 900 GB/s bidirectional
    assert a100.interconnect.bandwidth == 300e9  # 600 GB/s bidirectional
    assert load_system("toy-4").hypothetical and not h100.hypothetical


@pytest.mark.parametrize(
    "change, words",
    [
        ({"interconnect": {"topology": "mesh", "bandwidth": "1 GB/s"}}, "interconnect.topology"),
        ({"chips": 1}, "chips"),
        ({"chip": "no-such-chip"}, "unknown chip 'no-such-chip'"),
        ({"linkz": 1}, "unknown key 'linkz'"),
    ],
)
def test_bad_system_input_is_one_clear_paragraph(change, words):
    data = {
        "name": "bad",
        "chip": "toy",
        "chips": 4,
        "interconnect": {"topology": "ring", "bandwidth": "1 GB/s"},
    }
    with pytest.raises(InputError) as err:
        validate_system({**data, **change}, "bad.yaml")
    assert words in str(err.value) and str(err.value).startswith("bad.yaml")
    assert "\n" not in str(err.value)


def test_a_shard_keeps_the_models_head_dim_and_splits_heads_and_mlp():
    config = CONFIGS["llama-2-70b"]
    part = shard(config, 8)
    assert (part.heads, part.kv_heads, part.ffn, part.vocab) == (8, 1, 3584, 4000)
    assert part.head_dim == config.head_dim == 128


def test_a_degree_that_does_not_divide_the_heads_is_refused(toy4):
    with pytest.raises(InputError, match="cannot be split over 3 chips.*Degrees that work"):
        run_system("llama-2-7b", toy4, tp=3, seq=8)


def test_tensor_parallel_gpt2_on_toy4_adds_the_hand_derived_collectives(toy4):
    result = run_system("gpt2", toy4, seq=8)
    prefill = result.prefill
    # per layer 2 all-reduces of 8 tokens x 768 x 2 B = 12,288 B, + 1 for the embedding:
    # 25 x 6 steps x (1 us + 3,072 B / 1 GB/s) = 25 x 24.432 us = 610.8 us;
    # logits all-gather: 8 x (4 x ceil(50257 / 4) = 50,260) x 2 B = 804,160 B,
    # 3 steps x (1 us + 201,040 B / 1 GB/s) = 606.12 us
    assert [c.count for c in prefill.collectives] == [24, 1, 1]
    assert prefill.communication_s == pytest.approx(610.8e-6 + 606.12e-6, rel=1e-9)
    assert prefill.latency_s == pytest.approx(prefill.chip_latency_s + prefill.communication_s)
    for phase in (result.prefill, result.decode):
        assert set(phase.losses_ops) == set(SYSTEM_LOSS_CATEGORIES)
        capacity = phase.peak_ops * phase.latency_s
        accounted = phase.useful_ops + sum(phase.losses_ops.values())
        assert accounted == pytest.approx(capacity, rel=1e-9)
        assert phase.losses_ops["communication"] / capacity == pytest.approx(
            phase.communication_share, rel=1e-9
        )
    assert result.decode.tokens_per_s == pytest.approx(1 / result.decode.latency_s)
    assert result.memory.fits


def test_one_chip_has_no_communication_and_replicas_multiply_tokens(toy4):
    result = run_system("gpt2", toy4, tp=1, seq=8)
    assert result.prefill.communication_s == 0 and result.replicas == 4
    assert result.prefill.tokens_per_s == pytest.approx(4 * 8 / result.prefill.latency_s)


def test_memory_parts_of_llama_2_7b_match_its_parameter_count():
    weights, kv, _ = memory_parts(CONFIGS["llama-2-7b"], 1, 1, 128, "fp16")
    assert weights == 6_738_415_616 * 2  # 6.74 B parameters in fp16
    # 32 layers x K and V x 32 heads x 128 dims x 128 tokens x 2 B
    assert kv == 32 * 2 * 32 * 128 * 128 * 2


def test_a_model_too_big_for_the_toy_names_the_degree_that_fits(toy4):
    config = CONFIGS["llama-2-7b"]
    weights, kv, act = memory_parts(config, 4, 1, 128, "fp16")
    assert weights + kv + act > toy4.chip.memory.dram.capacity  # 3.4 GB > 1 GiB
    # 13.5 GB / 16 = 0.84 GB fits 1 GiB; 11008 / 16 = 688 (8 would not fit, 12 does not
    # divide the 32 heads)
    assert fitting_degree(config, toy4.chip, 1, 128, "fp16") == 16
    assert math.ceil(weights * 4 / toy4.chip.memory.dram.capacity) > 8


def test_the_system_command_prints_text_and_json(toy4, capsys):
    with pytest.raises(SystemExit) as done:
        app(["system", "gpt2", "--system", "toy-4", "--seq", "8"], prog_name="topsim")
    assert done.value.code == 0
    text = capsys.readouterr().out
    assert "gpt2 on toy-4 (4x toy, TP 4)" in text and "communication" in text
    assert "fits" in text
    with pytest.raises(SystemExit):
        app(["system", "gpt2", "--system", "toy-4", "--seq", "8", "--json", "-"], prog_name="x")
    data = json.loads(capsys.readouterr().out)
    assert data["tp"] == 4 and data["prefill"]["communication_s"] > 0


def test_the_json_output_never_overwrites_the_system_or_its_chip(tmp_path):
    from typer.testing import CliRunner

    from hardware.load import PRESET_DIR
    from hardware.system import SYSTEM_DIR
    from sim.cli.main import app

    for target in (SYSTEM_DIR / "toy-4.yaml", PRESET_DIR / "toy.yaml"):
        before = target.read_bytes()
        result = CliRunner().invoke(
            app, ["system", "gpt2", "--system", "toy-4", "--seq", "8", "--json", str(target)]
        )
        assert result.exit_code == 2, result.output
        assert target.read_bytes() == before


def test_cli_set_changes_a_system_field_and_says_so():
    """--set on `topsim system` goes through the one KEY=VALUE rule: a slower interconnect
    makes the tensor-parallel prefill slower, the result records the change, and an unknown
    field is refused with exit 2."""
    from typer.testing import CliRunner

    runner = CliRunner()
    args = ["system", "gpt2", "--system", "toy-4", "--tp", "4", "--json", "-"]
    base = json.loads(runner.invoke(app, args).stdout)
    slow = runner.invoke(app, [*args, "--set", "interconnect.bandwidth=0.25GB/s"])
    slow_json = json.loads(slow.stdout)
    assert base["overrides"] == {}
    assert slow_json["overrides"] == {"interconnect.bandwidth": "0.25GB/s"}
    assert slow_json["prefill"]["latency_s"] > base["prefill"]["latency_s"]
    text = runner.invoke(app, [*args[:-2], "-s", "interconnect.bandwidth=0.25GB/s"]).stdout
    assert "with interconnect.bandwidth=0.25GB/s" in text
    bad = runner.invoke(app, [*args[:-2], "--set", "interconnect.speed=1"])
    assert bad.exit_code == 2
    assert "unknown key 'interconnect.speed'" in bad.output
