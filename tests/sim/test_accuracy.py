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
