"""Pipeline parallelism: micro-batches streaming through stages, as SimPy processes.

A pipeline of p stages (each a group of chips holding a slice of the layers) runs m
micro-batches. A stage works on one micro-batch at a time, in order, for `stage_s[s]`
seconds (its compute and its own tensor-parallel collectives); then the activation goes
to the next stage over the link between them for `send_s[s]` seconds (alpha + bytes x
beta, holding that link; the send is asynchronous: the stage starts its next micro-batch
at once). With equal stages of t seconds and free links the pass takes (m + p - 1) t and
each stage idles (p - 1) t of it: the bubble fraction (p - 1) / (m + p - 1).

Schedules. This is an inference simulator: there is no backward pass. The two schedule
names of training map onto forward-only runs as follows, and this is what differs:

- `gpipe` (Huang et al. 2019): all m micro-batches enter stage 0 back to back; a stage
  may hold any number of finished activations waiting for a slow successor (up to m).
- `1f1b` (PipeDream-Flush, Narayanan et al. 2021): stage 0 starts micro-batch j + p only
  after micro-batch j has left the last stage (in training, after j's backward has
  returned); at most p micro-batches are in flight. Forward-only, this bounds the
  activation buffers to p micro-batches and costs nothing when stages are equal and
  transfers are short; it stalls stage 0 when transfers or uneven stages make the round
  trip longer than p stage times.

Each stage's time T splits exactly into
    busy       m x stage_s[s]
    p2p_wait   idle while the micro-batch it waits for is on its way from the previous
               stage (left that stage, not yet arrived: queueing for the link included)
    bubble     every other idle moment: before the first micro-batch reaches it (fill),
               after its last one (drain), and stalls of the schedule.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

import simpy

from hardware.errors import InputError

SCHEDULES: tuple[str, ...] = ("gpipe", "1f1b")


@dataclasses.dataclass(frozen=True)
class StageRun:
    """One stage over the whole pass."""

    busy_s: float
    p2p_wait_s: float
    bubble_s: float
    first_start_s: float
    last_end_s: float


@dataclasses.dataclass(frozen=True)
class PipelineRun:
    """A pass of m micro-batches through the stages; `links[s]` joins stage s to s + 1."""

    makespan_s: float
    stages: list[StageRun]
    link_busy_s: list[float]
    peak_in_flight: int
    work: list[list[Span]]  # per stage: when each micro-batch ran on it, in order
    sends: list[list[Span]]  # per link: when each micro-batch's activation crossed it


@dataclasses.dataclass(frozen=True)
class Span:
    """Micro-batch `micro` held a stage (or a link) from `start_s` to `end_s`."""

    micro: int
    start_s: float
    end_s: float


def run_pipeline(
    stage_s: list[float], send_s: list[float], micro_batches: int, schedule: str
) -> PipelineRun:
    """Simulate `micro_batches` through stages taking `stage_s` each, with `send_s[s]` the
    transfer from stage s to s + 1 (len(stage_s) - 1 of them)."""
    if schedule not in SCHEDULES:
        raise InputError(f"--schedule must be one of {', '.join(SCHEDULES)}, got {schedule!r}.")
    stages, m = len(stage_s), micro_batches
    if stages < 1 or len(send_s) != stages - 1 or m < 1:
        raise InputError(
            f"a pipeline needs >= 1 stage, one transfer between neighbours and >= 1 "
            f"micro-batch; got {stages} stages, {len(send_s)} transfers, {m} micro-batches."
        )
    env = simpy.Environment()
    chips = [simpy.Resource(env, 1) for _ in range(stages)]
    links = [simpy.Resource(env, 1) for _ in range(stages - 1)]
    slots = simpy.Resource(env, m if schedule == "gpipe" else stages)
    # per stage: (ready, arrived, start, end) of each micro-batch, in order
    log: list[list[tuple[float, float, float, float]]] = [[] for _ in range(stages)]
    link_busy = [0.0] * (stages - 1)
    in_flight = [0, 0]  # now, peak
    work: list[list[Span]] = [[] for _ in range(stages)]
    crossed: list[list[Span]] = [[] for _ in range(stages - 1)]

    def micro_batch(index: int) -> Iterator[simpy.Event]:
        with slots.request() as slot:
            yield slot
            in_flight[0] += 1
            in_flight[1] = max(in_flight)
            ready = arrived = env.now
            for s in range(stages):
                with chips[s].request() as turn:
                    yield turn
                    start = env.now
                    yield env.timeout(stage_s[s])
                log[s].append((ready, arrived, start, env.now))
                work[s].append(Span(index, start, env.now))
                if s + 1 < stages:
                    ready = env.now
                    with links[s].request() as link:
                        yield link
                        sent = env.now
                        yield env.timeout(send_s[s])
                    link_busy[s] += send_s[s]
                    crossed[s].append(Span(index, sent, env.now))
                    arrived = env.now
            in_flight[0] -= 1

    for index in range(m):
        env.process(micro_batch(index))
    env.run()
    makespan = float(env.now)
    return PipelineRun(
        makespan_s=makespan,
        stages=[_stage_run(entries, makespan) for entries in log],
        link_busy_s=link_busy,
        peak_in_flight=in_flight[1],
        work=work,
        sends=crossed,
    )


def _stage_run(entries: list[tuple[float, float, float, float]], makespan: float) -> StageRun:
    """Split one stage's idle time into waiting for a transfer and the rest (bubble)."""
    busy = p2p = bubble = 0.0
    free = 0.0
    for ready, arrived, start, end in entries:
        gap = start - free
        waiting = max(0.0, min(start, arrived) - max(ready, free))
        p2p += waiting
        bubble += gap - waiting
        busy += end - start
        free = end
    bubble += makespan - free
    return StageRun(
        busy_s=busy,
        p2p_wait_s=p2p,
        bubble_s=bubble,
        first_start_s=entries[0][2],
        last_end_s=free,
    )


def steady_period_s(
    stage_s: list[float], send_s: list[float], micro_batches: int, rounds: int | None = None
) -> float:
    """Seconds per round once the pipeline runs steadily: the m micro-batches cycle through
    the stages (a decode micro-batch's next token starts at stage 0 as soon as the last
    stage has produced this one; the token id goes back for free), so the pipeline never
    drains. Equal stages of t and free sends: max(m, p) x t per round."""
    stages, m = len(stage_s), micro_batches
    rounds = rounds or stages + 3
    env = simpy.Environment()
    chips = [simpy.Resource(env, 1) for _ in range(stages)]
    links = [simpy.Resource(env, 1) for _ in range(stages - 1)]
    done: list[float] = []  # when the last micro-batch finishes each round

    def micro_batch(index: int) -> Iterator[simpy.Event]:
        for _ in range(rounds):
            for s in range(stages):
                with chips[s].request() as turn:
                    yield turn
                    yield env.timeout(stage_s[s])
                if s + 1 < stages:
                    with links[s].request() as link:
                        yield link
                        yield env.timeout(send_s[s])
            if index == m - 1:
                done.append(env.now)

    for index in range(m):
        env.process(micro_batch(index))
    env.run()
    return (done[-1] - done[0]) / (rounds - 1)


def bubble_fraction(stages: int, micro_batches: int) -> float:
    """The closed form for equal stages and free transfers: (p - 1) / (m + p - 1)."""
    return (stages - 1) / (micro_batches + stages - 1)
