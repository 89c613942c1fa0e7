"""LLM serving: the continuous-batching scheduler checked by hand with constant step times,
determinism for a seed, and one small run with step times simulated on h100-sxm.

The hand case: prefill 1 s, decode step 0.1 s whatever the batch, 3 requests of 4 prompt
tokens and 3 output tokens arriving at 0, 0.5 and 3 s.
- 0-1: prefill A (first token at 1). B arrived at 0.5 and waits.
- 1-2: prefill B (prefill first; first token at 2).
- 2-2.1, 2.1-2.2: two decode steps of A and B; both done at 2.2.
- idle until 3; 3-4 prefill C; 4-4.2 two decode steps; C done at 4.2.
TTFT 1, 1.5, 1; end to end 2.2, 1.7, 1.2; TPOT (done - first) / 2 = 0.6, 0.1, 0.1;
busy 3 x 1 + 4 x 0.1 = 3.4 s of 4.2 s.
"""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

import hardware
from hardware.errors import InputError
from sim.cli.main import app
from sim.studies.serve import (
    Request,
    SimulatedSteps,
    arrivals,
    bucket,
    schedule,
    serve,
    summarize,
)


def constant(seconds: float):
    return lambda batch, tokens: seconds


def hand_case() -> list[Request]:
    return [Request(0.0, 4, 3), Request(0.5, 4, 3), Request(3.0, 4, 3)]


def test_scheduler_matches_the_hand_derivation() -> None:
    requests = hand_case()
    activity = schedule(requests, constant(1.0), constant(0.1), max_batch=8, kv_capacity_tokens=100)
    assert [r.first_token_s for r in requests] == pytest.approx([1.0, 2.0, 4.0])
    assert [r.done_s for r in requests] == pytest.approx([2.2, 2.2, 4.2])
    assert (activity.prefills, activity.decode_steps, activity.decoded) == (3, 4, 6)
    stats = summarize(requests, activity, slo_ttft_s=1.2, slo_tpot_s=0.5)
    assert stats["ttft_s"].p50 == pytest.approx(1.0)
    assert stats["ttft_s"].mean == pytest.approx(3.5 / 3)
    assert stats["e2e_s"].p50 == pytest.approx(1.7)
    assert stats["tpot_s"].mean == pytest.approx(0.8 / 3)
    assert stats["busy_share"] == pytest.approx(3.4 / 4.2)
    assert stats["tokens_per_s"] == pytest.approx(9 / 4.2)
    # B misses the TTFT SLO, A the TPOT SLO: only C is good
    assert stats["slo_attainment"] == pytest.approx(1 / 3)
    assert stats["goodput_requests_per_s"] == pytest.approx(1 / 4.2)


def test_kv_room_for_one_request_serializes_them() -> None:
    # room for 7 KV tokens (one request needs 4 + 3): B waits for A to leave at 1.2
    requests = hand_case()
    schedule(requests, constant(1.0), constant(0.1), max_batch=8, kv_capacity_tokens=7)
    # A: prefill 0-1, decode 1-1.2; B: prefill 1.2-2.2, decode to 2.4; C as before
    assert [r.first_token_s for r in requests] == pytest.approx([1.0, 2.2, 4.0])
    assert [r.done_s for r in requests] == pytest.approx([1.2, 2.4, 4.2])


def test_max_batch_one_serializes_them_too() -> None:
    requests = hand_case()
    schedule(requests, constant(1.0), constant(0.1), max_batch=1, kv_capacity_tokens=100)
    assert [r.done_s for r in requests] == pytest.approx([1.2, 2.4, 4.2])


def test_the_step_model_sees_the_batch_and_the_longest_cache() -> None:
    seen = []

    def decode(batch: int, kv: int) -> float:
        seen.append((batch, kv))
        return 0.1

    schedule(hand_case()[:2], constant(1.0), decode, max_batch=8, kv_capacity_tokens=100)
    # both hold 4 prompt tokens + their first token's row, then one more
    assert seen == [(2, 4), (2, 5)]


def test_arrivals_are_poisson_and_deterministic_for_a_seed() -> None:
    first = arrivals(100.0, 50.0, seed=7, lengths=[(8, 4)])
    assert first == arrivals(100.0, 50.0, seed=7, lengths=[(8, 4)])
    assert first != arrivals(100.0, 50.0, seed=8, lengths=[(8, 4)])
    assert len(first) == pytest.approx(5000, rel=0.05)
    drawn = arrivals(100.0, 10.0, seed=7, lengths=[(8, 4), (16, 2)])
    assert {(r.prompt, r.tokens) for r in drawn} == {(8, 4), (16, 2)}


def test_lengths_are_bucketed_to_powers_of_two_within_the_context() -> None:
    assert [bucket(n, 1024) for n in (1, 2, 3, 128, 129, 1000)] == [1, 2, 4, 128, 256, 1024]


def test_gpt2_on_h100_serves_a_few_requests() -> None:
    chip = hardware.load_chip("h100-sxm")
    result = serve("gpt2", chip, rate_per_s=50.0, duration_s=0.2, prompt=128, tokens=16, seed=1)
    again = serve("gpt2", chip, rate_per_s=50.0, duration_s=0.2, prompt=128, tokens=16, seed=1)
    assert result == again
    assert result.requests >= 3 and result.output_tokens == 16 * result.requests
    # a decode step reads gpt2's ~250 MB of weights from 3.35 TB/s DRAM: tens of us at least
    assert 50e-6 < result.tpot_s.p50 < 5e-3
    assert result.ttft_s.p50 < result.e2e_s.p50
    assert 0 < result.busy_share <= 1


def test_a_request_larger_than_the_context_is_refused() -> None:
    with pytest.raises(InputError, match="positions"):
        serve("gpt2", hardware.load_chip("h100-sxm"), 1.0, 1.0, prompt=1000, tokens=100)


def test_cli_json(tmp_path) -> None:
    trace = tmp_path / "trace.csv"
    trace.write_text("prompt,tokens\n64,8\n100,4\n", encoding="utf-8")
    args = ["serve", "gpt2", "--chip", "h100-sxm", "--rate", "40", "--duration", "100ms"]
    args += ["--trace-file", str(trace), "--slo-ttft", "10ms", "--json", "-"]
    out = CliRunner().invoke(app, args)
    assert out.exit_code == 0, out.output
    payload = json.loads(out.stdout)
    assert payload["slo_ttft_s"] == pytest.approx(0.01) and payload["requests"] >= 1


def test_a_decode_bucket_never_passes_the_models_context():
    # gpt2 handles 1,024 positions: a decode step after 600 cached tokens rounds its KV
    # length up to 1,023 (not 1,024: the new token needs a position too)
    steps = SimulatedSteps("gpt2", hardware.load_chip("h100-sxm"))
    assert steps.decode_s(1, 600) > 0
