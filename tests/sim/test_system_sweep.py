"""`topsim system --plans / --sweep`: one table comparing parallelism plans.

toy-4 (hardware/systems/toy-4.yaml): 4 toy chips on a ring of 1 GB/s links, 1 us a step.
"""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from hardware.errors import InputError
from hardware.system import load_system
from sim.cli.main import app
from sim.system.run import run_system
from sim.system.sweep import compare_plans, parse_plans, sweep_plans
from workloads.zoo.transformer import CONFIGS


@pytest.fixture(scope="module")
def toy4():
    return load_system("toy-4")


def test_plans_are_read_from_their_names():
    assert parse_plans("tp8, tp4xpp2,PP8,ep4xdp2") == [
        {"tp": 8},
        {"tp": 4, "pp": 2},
        {"pp": 8},
        {"ep": 4, "dp": 2},
    ]


@pytest.mark.parametrize("text", ["", "tp", "tp0", "tp4xtp2", "tp4,,pp2", "zz8", "tp4*pp2"])
def test_unreadable_plans_are_one_clear_error(text):
    with pytest.raises(InputError, match="--plans: cannot read"):
        parse_plans(text)


def test_the_sweep_fills_the_chips_with_tp_times_pp(toy4):
    # gpt2: 12 layers, 12 heads: pp 1, 2, 4 all divide; tp 4, 2, 1 split the heads
    assert sweep_plans(CONFIGS["gpt2"], toy4) == [
        {"tp": 4, "pp": 1},
        {"tp": 2, "pp": 2},
        {"tp": 1, "pp": 4},
    ]
    hgx = load_system("hgx-h100")
    assert sweep_plans(CONFIGS["mixtral-8x7b"], hgx)[0] == {"ep": 8, "pp": 1}


def test_each_row_is_its_plans_own_run(toy4):
    table = compare_plans(
        "gpt2", toy4, parse_plans("tp4,tp2xpp2,pp4"), seq=8, batch=4, micro_batches=2
    )
    assert [row.plan for row in table.rows] == ["tp4", "tp2xpp2", "pp4"]
    tp4 = table.rows[0]
    alone = run_system("gpt2", toy4, tp=4, seq=8, batch=4, micro_batches=2)
    assert tp4.prefill_latency_s == alone.prefill.latency_s
    # by hand (see tests/sim/test_system.py): per micro-batch of 2 sequences, 25
    # all-reduces of 2 x 8 x 768 x 2 B = 24,576 B: 6 steps of (1 us + 6,144 B / 1 GB/s)
    # = 42.864 us, and the logits all-gather of 2 x 8 x 50,260 x 2 B: 3 steps of
    # (1 us + 402,080 B / 1 GB/s) = 1209.24 us; two micro-batches
    comm = 2 * (25 * 6 * 7.144e-6 + 3 * 403.08e-6)
    assert tp4.prefill_latency_s == pytest.approx(alone.prefill.chip_latency_s * 2 + comm)
    assert tp4.prefill_communication_share == pytest.approx(comm / tp4.prefill_latency_s, rel=1e-9)
    pp4 = table.rows[2]
    assert (pp4.tp, pp4.pp, pp4.prefill_communication_share) == (1, 4, pytest.approx(0.0, abs=1e-3))
    # four stages, two micro-batches: at least (p - 1) / (m + p - 1) = 3 / 5 idle
    assert pp4.prefill_bubble_share >= 0.6 * 0.9
    assert all(row.fits and row.chips_used == 4 for row in table.rows)


def test_the_command_prints_a_table_and_json(toy4):
    runner = CliRunner()
    args = ["system", "gpt2", "--system", "toy-4", "--seq", "8"]
    text = runner.invoke(app, [*args, "--plans", "tp4,tp2xpp2"])
    assert text.exit_code == 0, text.output
    lines = text.output.splitlines()
    assert lines[2].split()[:4] == ["plan", "chips", "prefill", "ms"]
    assert [line.split()[0] for line in lines[4:6]] == ["tp4", "tp2xpp2"]
    data = json.loads(runner.invoke(app, [*args, "--sweep", "--json", "-"]).output)
    assert [row["plan"] for row in data["rows"]] == ["tp4xpp1", "tp2xpp2", "tp1xpp4"]
    assert data["rows"][0]["prefill_latency_s"] == run_system("gpt2", toy4, seq=8).prefill.latency_s


@pytest.mark.parametrize(
    "extra, words",
    [
        (["--plans", "tp4", "--tp", "2"], "drop --tp"),
        (["--plans", "tp4", "--sweep"], "drop --plans and --sweep"),
        (["--plans", "tp3"], "--plans tp3: --tp 3"),
        (["--plans", "tp4x"], "--plans: cannot read 'tp4x'"),
    ],
)
def test_bad_plan_options_exit_2(extra, words):
    result = CliRunner().invoke(app, ["system", "gpt2", "--system", "toy-4", *extra])
    assert result.exit_code == 2
    assert words in " ".join(result.output.split())
