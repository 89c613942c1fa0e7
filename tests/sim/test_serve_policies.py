"""Serving beyond the default policy, checked by hand: chunked prefill, paged KV with
preemption by recompute, replicas and routing; then tensor-parallel step times on a
system and the `--system` / `--rates` CLI.

Hand step models (seconds, whatever the lengths unless stated):
- "weight-bound": an iteration costs 1 s (reading the weights) unless it carries more
  than 100 tokens, then 0.01 s a token: prefill(batch, prompt) = max(1, 0.01 batch
  prompt), decode = 1, mixed(d, K, c, k) = max(1, 0.01 (d + c)).
- "constant": prefill 1 s, decode 0.1 s.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from hardware.errors import InputError
from hardware.system import load_system
from sim.cli.main import app
from sim.studies.batching import Request, schedule
from sim.studies.serve import serve, serve_rates
from sim.studies.serve_steps import SimulatedSteps, grain
from sim.system.run import run_system


def weight_bound():
    return dict(
        prefill_s=lambda batch, prompt: max(1.0, 0.01 * batch * prompt),
        decode_s=lambda batch, kv: 1.0,
        mixed_s=lambda d, longest, c, context: max(1.0, 0.01 * (d + c)),
    )


def constant():
    return dict(prefill_s=lambda batch, prompt: 1.0, decode_s=lambda batch, kv: 0.1)


def long_prompt_behind_a_short_one() -> list[Request]:
    # A: 10 prompt tokens, 21 output tokens at 0; B: 1,000 prompt tokens, 2 output at 0.5
    return [Request(0.0, 10, 21), Request(0.5, 1000, 2)]


def test_prefill_first_stalls_the_running_decode() -> None:
    # 0-1 prefill A; 1-11 prefill B (10 s: A waits); 11-12 decode A, B (B done at 12);
    # A then decodes alone from 2 tokens to 21: 19 more steps, done at 31
    a, b = requests = long_prompt_behind_a_short_one()
    steps = weight_bound()
    schedule(requests, steps["prefill_s"], steps["decode_s"], 8, 10_000)
    assert (a.first_token_s, b.first_token_s) == pytest.approx((1.0, 11.0))
    assert (a.done_s, b.done_s) == pytest.approx((31.0, 12.0))


def test_chunked_prefill_keeps_decoding_through_a_long_prompt() -> None:
    # chunk 100: 0-1 A's 10-token prefill; then each 1 s iteration decodes A and feeds
    # 99 of B's prompt (100 tokens: still 1 s), ten times, then B's last 10 tokens: B's
    # first token at 1 + 11 = 12, A's 12th token with it. 12-13 decode both (B done, A
    # 13 tokens); A's last 8 tokens end at 21.
    a, b = requests = long_prompt_behind_a_short_one()
    activity = schedule(
        requests, **weight_bound(), max_batch=8, kv_capacity_tokens=10_000, chunk=100
    )
    assert (a.first_token_s, b.first_token_s) == pytest.approx((1.0, 12.0))
    assert (a.done_s, b.done_s) == pytest.approx((21.0, 13.0))
    assert (activity.prefills, activity.mixed_steps, activity.decode_steps) == (1, 11, 9)


def test_chunked_prefill_lowers_p99_tpot_under_a_long_prompt() -> None:
    # TPOT: prefill first A (31 - 1) / 20 = 1.5, B 1; chunked A (21 - 1) / 20 = 1, B 1
    tpot = {}
    for chunk in (None, 100):
        requests = long_prompt_behind_a_short_one()
        schedule(requests, **weight_bound(), max_batch=8, kv_capacity_tokens=10_000, chunk=chunk)
        values = [(r.done_s - r.first_token_s) / (r.tokens - 1) for r in requests]
        tpot[chunk] = float(np.percentile(values, 99))
    assert tpot[None] == pytest.approx(1.0 + 0.99 * 0.5)
    assert tpot[100] == pytest.approx(1.0)


def two_at_once() -> list[Request]:
    return [Request(0.0, 4, 4), Request(0.0, 4, 4)]


def test_paged_kv_admits_both_and_preempts_the_last_by_recompute() -> None:
    # room 10 tokens, blocks of 1. 0-1 prefill A and B (4 + 4 blocks); 1-1.1 decode both
    # (5 + 5 = 10); at 1.1 they would need 12: B (admitted last) is preempted, A decodes
    # 1.1-1.2 and 1.2-1.3 (done, 4 tokens). B's recompute prefill of 4 + 2 tokens 1.3-2.3
    # makes its 3rd token, one decode 2.3-2.4 its 4th.
    a, b = requests = two_at_once()
    activity = schedule(requests, **constant(), max_batch=8, kv_capacity_tokens=10, block=1)
    assert (a.first_token_s, a.done_s) == pytest.approx((1.0, 1.3))
    assert (b.first_token_s, b.done_s) == pytest.approx((1.0, 2.4))
    assert (b.preemptions, activity.preemptions) == (1, 1)
    assert (activity.prefills, activity.decode_steps) == (2, 4)


def test_whole_reservation_serializes_what_paging_overlaps() -> None:
    # each reserves 4 + 4 = 8 of 10: B waits for A (done 1.3), prefill 1.3-2.3, 3 decodes
    a, b = requests = two_at_once()
    activity = schedule(requests, **constant(), max_batch=8, kv_capacity_tokens=10)
    assert (a.done_s, b.first_token_s, b.done_s) == pytest.approx((1.3, 2.3, 2.6))
    assert activity.preemptions == 0


def test_blocks_are_counted_whole() -> None:
    # blocks of 4 tokens, room 12 tokens = 3 blocks: A and B hold one block each after
    # the prefill, 2 each at the first decode (5 tokens): 4 > 3, B is preempted at 1.0;
    # A decodes 1-1.3 alone; B recomputes 4 + 1 tokens 1.3-2.3, decodes to 2.5
    a, b = requests = two_at_once()
    schedule(requests, **constant(), max_batch=8, kv_capacity_tokens=12, block=4)
    assert (a.done_s, b.done_s) == pytest.approx((1.3, 2.5))
    assert b.preemptions == 1


def routed() -> list[Request]:
    # A: long (30 tokens) at 0; B: 1 token at 0.1; C at 2.05
    return [Request(0.0, 4, 30), Request(0.1, 4, 1), Request(2.05, 4, 3)]


def test_round_robin_sends_the_third_request_to_the_busy_replica() -> None:
    # A on replica 0 decodes 1.0, 1.1, ...; C arrives there at 2.05, is prefilled at the
    # next step boundary 2.1-3.1 (A stalls 1 s) and decodes 3.1-3.3
    a, b, c = requests = routed()
    schedule(requests, **constant(), max_batch=8, kv_capacity_tokens=100, replicas=2)
    assert [r.replica for r in requests] == [0, 1, 0]
    assert (b.done_s, c.done_s, a.done_s) == pytest.approx((1.1, 3.3, 4.9))


def test_least_loaded_sends_it_to_the_idle_replica() -> None:
    a, b, c = requests = routed()
    schedule(
        requests, **constant(), max_batch=8, kv_capacity_tokens=100, replicas=2,
        route="least-loaded",
    )  # fmt: skip
    assert [r.replica for r in requests] == [0, 1, 1]
    assert (b.done_s, c.done_s, a.done_s) == pytest.approx((1.1, 3.25, 3.9))


@settings(max_examples=40, deadline=None)
@given(
    rows=st.lists(
        st.tuples(st.floats(0, 5), st.integers(1, 40), st.integers(1, 12)),
        min_size=1,
        max_size=12,
    ),
    chunk=st.sampled_from([None, 1, 7, 64]),
    block=st.sampled_from([None, 1, 4, 16]),
    replicas=st.integers(1, 3),
    route=st.sampled_from(["round-robin", "least-loaded"]),
    max_batch=st.integers(1, 6),
)
def test_every_policy_serves_every_request_to_the_end(
    rows, chunk, block, replicas, route, max_batch
) -> None:
    requests = [Request(t, p, n) for t, p, n in sorted(rows)]
    room = 64  # tokens: one request needs at most 52, so each fits alone
    activity = schedule(
        requests, **weight_bound(), max_batch=max_batch, kv_capacity_tokens=room,
        chunk=chunk, block=block, replicas=replicas, route=route,
    )  # fmt: skip
    for r in requests:
        assert r.generated == r.tokens
        assert r.arrival_s < r.first_token_s <= r.done_s
        assert r.cached == r.prompt + r.tokens - 1
    if block is None:
        assert activity.preemptions == 0


def test_a_request_larger_than_the_room_is_refused() -> None:
    with pytest.raises(InputError, match="more KV"):
        schedule([Request(0.0, 8, 8)], **constant(), max_batch=4, kv_capacity_tokens=10, block=4)
    with pytest.raises(InputError, match="mixed"):
        schedule([Request(0.0, 1, 1)], **constant(), max_batch=4, kv_capacity_tokens=10, chunk=4)


def test_a_mixed_pass_rounds_to_a_grain_of_64() -> None:
    assert [grain(n) for n in (1, 3, 64, 65, 130)] == [1, 4, 64, 128, 192]


@pytest.fixture(scope="module")
def hgx():
    return load_system("hgx-h100")


def test_tensor_parallel_steps_are_what_topsim_system_reports(hgx) -> None:
    # gpt2's 12 heads split over 4 chips; the step is the shard plus its collectives
    steps = SimulatedSteps("gpt2", hgx.chip, "fp16", tp=4, link=hgx.interconnect)
    reference = run_system("gpt2", hgx, tp=4, seq=256, batch=2, dtype="fp16")
    assert steps.prefill_s(2, 256) == pytest.approx(reference.prefill.latency_s, rel=1e-12)
    assert steps.decode_s(2, 256) == pytest.approx(reference.decode.latency_s, rel=1e-12)
    single = SimulatedSteps("gpt2", hgx.chip, "fp16")
    # a quarter of the KV heads on each chip: a quarter of the KV bytes per token
    assert steps.kv_bytes_per_token() == pytest.approx(single.kv_bytes_per_token() / 4)
    assert steps.weight_bytes() < single.weight_bytes() / 2


def test_a_system_serves_with_replicas_and_more_kv_room(hgx) -> None:
    one = serve("gpt2", hgx.chip, 200.0, 0.1, prompt=128, tokens=8, seed=3)
    group = serve("gpt2", hgx, 200.0, 0.1, prompt=128, tokens=8, seed=3, tp=4)
    assert (group.tp, group.replicas, group.system) == (4, 2, "hgx-h100")
    assert group.requests == one.requests
    assert 0 < group.busy_share <= 1  # the mean over the two replicas
    assert group.kv_capacity_tokens > 3 * one.kv_capacity_tokens
    with pytest.raises(InputError, match="tensor parallelism"):
        serve("gpt2", hgx, 10.0, 0.1, tp=8)
    with pytest.raises(InputError, match="needs a system"):
        serve("gpt2", hgx.chip, 10.0, 0.1, tp=2)


def test_rates_share_the_simulated_steps_and_load_raises_latency(hgx) -> None:
    low, high = serve_rates("gpt2", hgx, [50.0, 2000.0], 0.2, prompt=256, tokens=16, tp=4)
    assert (low.rate_per_s, high.rate_per_s) == (50.0, 2000.0)
    assert high.requests > 10 * low.requests
    assert high.tpot_s.p99 > low.tpot_s.p99
    assert high.tokens_per_s > low.tokens_per_s


def test_cli_system_rates_table_and_json() -> None:
    args = ["serve", "gpt2", "--system", "hgx-h100", "--tp", "4", "--duration", "50ms"]
    out = CliRunner().invoke(app, [*args, "--rates", "100,400", "--chunk", "256", "--block", "16"])
    assert out.exit_code == 0, out.output
    assert "TTFT p99" in out.output and "chunked prefill 256" in out.output
    assert len([line for line in out.output.splitlines() if line.strip()]) == 4
    out = CliRunner().invoke(
        app, [*args, "--rate", "100", "--route", "least-loaded", "--json", "-"]
    )
    assert out.exit_code == 0, out.output
    payload = json.loads(out.stdout)
    assert (payload["replicas"], payload["route"]) == (2, "least-loaded")
    out = CliRunner().invoke(app, [*args[:4], "--tp", "3", *args[6:], "--rate", "100"])
    assert out.exit_code == 0, out.output
    assert "TP 3 x 2 replicas (round-robin), 2 chips idle" in out.output


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--chip", "h100-sxm", "--system", "hgx-h100", "--rate", "1"], "exactly one of --chip"),
        (["--system", "hgx-h100", "--rate", "1", "--rates", "1,2"], "exactly one of --rate"),
        (["--system", "hgx-h100", "--rates", "1,x"], "--rates"),
        (["--system", "hgx-h100", "--rate", "1", "--tp", "5"], "tensor parallelism"),
        (["--system", "hgx-h100", "--rate", "1", "--route", "random"], "route"),
        (["--system", "hgx-h100", "--rate", "1", "--chunk", "0"], "chunk"),
    ],
)
def test_cli_bad_input_is_one_paragraph(extra, message) -> None:
    out = CliRunner().invoke(app, ["serve", "gpt2", "--duration", "10ms", *extra])
    assert out.exit_code == 2, out.output
    assert message in out.output and "Traceback" not in out.output
