"""The validation set and `topsim accuracy`: every shipped case is well formed, the error
statistics are right on a hand-made set, and the command prints its table on a small file."""

from __future__ import annotations

import json
import math

import pytest
import yaml
from typer.testing import CliRunner

import hardware
from hardware.errors import InputError
from sim.cli.main import app
from sim.studies.accuracy import REQUIRED, SPLITS, Row, gemm_graph, load_cases, summarize

SMALL = {
    "cases": [
        {
            "id": "gemm-case",
            "chip": "a100-sxm",
            "device": "an A100",
            "workload": {"gemm": [1024, 1024, 1024], "dtype": "fp16"},
            "runtime": "cuBLASLt",
            "metric": "tera_ops_per_s",
            "measured": 119.4,
            "source": "https://example.org/gemm",
            "setup": "m=n=k=1024, FP16",
            "split": "fit",
        },
        {
            "id": "unshipped-case",
            "chip": "no-such-chip",
            "device": "a chip topsim does not ship",
            "workload": {"builtin": "mlp", "batch": 1},
            "runtime": "whatever",
            "metric": "latency_s",
            "measured": 1e-3,
            "source": "https://example.org/cpu",
            "setup": "batch 1",
            "split": "holdout",
        },
    ]
}


def write(tmp_path, data) -> str:
    path = tmp_path / "cases.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return str(path)


def test_shipped_cases_are_complete():
    cases = load_cases()
    assert len(cases) >= 40
    for case in cases:
        for field in REQUIRED:
            assert getattr(case, field) not in (None, ""), (case.id, field)
        assert case.source.startswith("https://"), case.id
        assert case.split in SPLITS
        assert case.measured > 0
    assert sum(c.split == "fit" for c in cases) * 2 <= len(cases)
    assert len({c.device.split(" (")[0] for c in cases}) >= 6
    runnable = [c for c in cases if c.chip in hardware.list_chips()]
    assert len(runnable) >= 40
    assert len({c.chip for c in runnable}) >= 5


@pytest.mark.parametrize(
    ("change", "words"),
    [
        ({"source": ""}, "`source` is missing"),
        ({"source": "a paper"}, "must be a URL"),
        ({"split": "train"}, "fit or holdout"),
        ({"measured": -1}, "positive number"),
        ({"workload": {"gemm": [1, 2]}}, "[m, n, k]"),
        ({"metric": "ttft_s"}, "generate workload"),
    ],
)
def test_loader_rejects_bad_cases(tmp_path, change, words):
    data = {"cases": [{**SMALL["cases"][0], **change}, SMALL["cases"][1]]}
    with pytest.raises(InputError, match=words.replace("[", r"\[").replace("]", r"\]")):
        load_cases(write(tmp_path, data))


def test_loader_allows_at_most_half_fit(tmp_path):
    data = {"cases": [SMALL["cases"][0], {**SMALL["cases"][1], "split": "fit"}]}
    with pytest.raises(InputError, match="at most half"):
        load_cases(write(tmp_path, data))


def row(name: str, ratio: float) -> Row:
    return Row(
        id=name, chip="c", device="d", split="fit", metric="latency_s", measured=1.0,
        predicted=ratio, ratio=ratio, source="https://example.org",
    )  # fmt: skip


def test_statistics_by_hand():
    s = summarize([row("over", 2.0), row("under", 0.25), row("close", 1.2)])
    assert s.cases == 3
    # |ln| = ln 2, ln 4 = 2 ln 2, ln 1.2 -> exp(mean) = (2 * 4 * 1.2) ** (1 / 3)
    assert s.typical_factor == pytest.approx((2 * 4 * 1.2) ** (1 / 3))
    assert s.worst_factor == pytest.approx(4.0)
    assert s.worst_case == "under"
    assert s.within_25pct == pytest.approx(1 / 3)
    assert summarize([]).typical_factor is None


def test_command_prints_the_table_and_json(tmp_path):
    path = write(tmp_path, SMALL)
    runner = CliRunner(env={"COLUMNS": "200", "NO_COLOR": "1"})
    result = runner.invoke(app, ["accuracy", "--cases", path], catch_exceptions=True)
    assert result.exit_code == 0, result.output
    out = result.stdout
    for words in ("gemm-case", "Pred/meas", "Typical factor", "Within 25%", "holdout"):
        assert words in out
    assert "unshipped-case: no preset for no-such-chip" in out

    result = runner.invoke(app, ["accuracy", "--cases", path, "--json", "-"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    (only,) = report["rows"]
    assert only["id"] == "gemm-case"
    assert only["ratio"] == pytest.approx(only["predicted"] / 119.4)
    assert report["summary"]["fit"]["typical_factor"] == pytest.approx(
        math.exp(abs(math.log(only["ratio"])))
    )
    assert report["summary"]["holdout"]["cases"] == 0
    assert [s["id"] for s in report["skipped"]] == ["unshipped-case"]


def test_command_rejects_a_bad_split(tmp_path):
    runner = CliRunner(env={"COLUMNS": "200", "NO_COLOR": "1"})
    result = runner.invoke(app, ["accuracy", "--cases", write(tmp_path, SMALL), "--split", "x"])
    assert result.exit_code == 2


def test_a_gemm_case_can_write_its_result_wider_than_its_inputs():
    # fp8 A (64x32) and B (32x16) at 1 byte, C (64x16) at 2 bytes in fp16: the op still
    # computes in fp8, only the bytes it writes change
    narrow = gemm_graph(64, 16, 32, "fp8")
    wide = gemm_graph(64, 16, 32, "fp8", out_dtype="fp16")
    assert wide.ops[0].dtype == narrow.ops[0].dtype == "fp8"
    assert (narrow.ops[0].write_bytes, wide.ops[0].write_bytes) == (64 * 16, 64 * 16 * 2)
    assert wide.ops[0].read_bytes == narrow.ops[0].read_bytes == 64 * 32 + 32 * 16


def test_the_split_rule_holds_chip_by_chip():
    # within each chip with a preset, in file order: holdout, fit, holdout, ...
    seen: dict[str, int] = {}
    for case in load_cases():
        if case.chip not in hardware.list_chips():
            assert case.split == "holdout", case.id
            continue
        expected = "holdout" if seen.get(case.chip, 0) % 2 == 0 else "fit"
        seen[case.chip] = seen.get(case.chip, 0) + 1
        assert case.split == expected, case.id


SYSTEM_CASE = {
    "id": "tp-case",
    "chip": "h100-sxm",
    "device": "two H100s",
    "workload": {
        "generate": "gpt2",
        "system": "hgx-h100",
        "tp": 4,
        "prompt": 128,
        "tokens": 3,
        "batch": 2,
        "dtype": "fp16",
    },  # fmt: skip
    "runtime": "whatever",
    "metric": "ttft_s",
    "measured": 1e-3,
    "source": "https://example.org/tp",
    "setup": "TP 4",
    "split": "holdout",
}


def test_a_system_case_is_predicted_on_its_tensor_parallel_group(tmp_path):
    from hardware.system import load_system
    from sim.studies.accuracy import accuracy
    from sim.studies.serve_steps import SimulatedSteps

    per_chip = {**SYSTEM_CASE, "id": "tp-per-chip", "metric": "output_tokens_per_s_per_chip"}
    wrong_chip = {**SYSTEM_CASE, "id": "tp-wrong-chip", "chip": "a100-sxm"}
    result = accuracy(write(tmp_path, {"cases": [SYSTEM_CASE, per_chip, wrong_chip]}))
    hgx = load_system("hgx-h100")
    steps = SimulatedSteps("gpt2", hgx.chip, "fp16", 4, hgx.interconnect)
    ttft, total = steps.generation_s(2, 128, 3)
    rows = {row.id: row.predicted for row in result.rows}
    assert rows["tp-case"] == pytest.approx(ttft)
    # 2 sequences x (3 + 1) tokens over the group's time, per chip of the 4
    assert rows["tp-per-chip"] == pytest.approx(2 * 4 / total / 4)
    assert [s.id for s in result.skipped] == ["tp-wrong-chip"]
    assert "a100-sxm" in result.skipped[0].reason


def test_decode_steps_interpolate_between_simulated_cache_lengths():
    from hardware.system import load_system
    from sim.studies.serve_steps import SimulatedSteps

    hgx = load_system("hgx-h100")
    steps = SimulatedSteps("gpt2", hgx.chip, "fp16", 4, hgx.interconnect)
    at_256, at_512 = steps.decode_s(2, 256), steps.decode_s(2, 512)
    assert steps.decode_exact_s(2, 256) == at_256
    assert steps.decode_exact_s(2, 384) == pytest.approx((at_256 + at_512) / 2)


def test_a_case_sets_the_fields_where_the_measured_part_differs(tmp_path):
    """A GEMV-shaped GEMM is DRAM-bound, so halving the bandwidth by `set` halves TOP/s
    (to within the fixed launch and latency costs, which do not depend on bandwidth)."""
    from sim.studies.accuracy import accuracy

    gemv = {**SMALL["cases"][0], "id": "gemv", "workload": {"gemm": [1, 16384, 16384]}}
    slow = {**gemv, "id": "gemv-half-bw", "split": "holdout"}
    slow["set"] = {"memory.dram.bandwidth": "1.0195 TB/s"}  # half of a100-sxm's 2.039 TB/s
    rows = {r.id: r.predicted for r in accuracy(write(tmp_path, {"cases": [gemv, slow]})).rows}
    assert 0.5 <= rows["gemv-half-bw"] / rows["gemv"] < 0.56


@pytest.mark.parametrize(
    "bad", [["memory.dram.bandwidth=1TB/s"], {"memory.dram.bandwidth": True}, "x"]
)
def test_a_case_set_must_map_fields_to_values(tmp_path, bad):
    data = {"cases": [{**SMALL["cases"][0], "set": bad}, SMALL["cases"][1]]}
    with pytest.raises(InputError, match="set must map chip fields"):
        load_cases(write(tmp_path, data))


def test_a_case_set_names_a_real_field(tmp_path):
    """A case topsim cannot run is skipped with the reason, as any other such case."""
    from sim.studies.accuracy import accuracy

    case = {**SMALL["cases"][0], "split": "holdout", "set": {"memory.dram.speed": "1TB/s"}}
    result = accuracy(write(tmp_path, {"cases": [case]}))
    assert not result.rows
    assert "speed" in result.skipped[0].reason
