"""The continuous-batching scheduler of `topsim serve`: one SimPy process per replica.

Requests arrive (sorted by arrival) and are routed to a replica: round-robin, or to the
replica with the fewest requests waiting or running ("least-loaded", ties to the lowest
index). Each replica serves first come, first served, one iteration at a time; an
iteration feeds some tokens of some requests through the model and takes the step time
the caller's step model gives.

Two ways to batch (`chunk`):

- None (prefill first, vLLM's default before chunking): an iteration is either a whole
  prefill of every request admitted now, or, when nobody can be admitted, one decode
  step of every running request.
- C tokens (chunked prefill, as Sarathi-Serve and vLLM do): every iteration has a budget
  of C tokens. Each running, fully prefilled request decodes one token; what is left of
  the budget goes to prefills in admission order, a chunk at a time, admitting new
  requests while budget is left. Decodes and prefill chunks run in one iteration.

Two ways to hold KV memory (`block`):

- None: a request reserves the KV it will ever need, prompt + tokens, at admission; no
  request is ever preempted.
- B tokens (paged): KV is held in blocks of B tokens, a request holding the blocks of
  the tokens cached so far, so admission needs only the blocks of its first prefill (or
  chunk). Before each iteration the blocks every request needs after it are counted;
  while they exceed the room, the request admitted last is preempted (vLLM's recompute
  policy): its blocks are freed and it goes back to the front of its queue, and nobody
  is admitted in that iteration; when it is admitted again its prefill recomputes its
  prompt and the tokens it had made, and that prefill makes its next token.

A prefill that completes makes the request's first (or next) token; a decode makes one
more. A request leaves, and frees its KV, when its last token is made.
"""

from __future__ import annotations

import dataclasses
import math
from collections import deque
from collections.abc import Callable, Iterator

import simpy

from hardware.errors import InputError

ROUTES: tuple[str, ...] = ("round-robin", "least-loaded")

# (batch, tokens) -> seconds: a prefill of `batch` requests over `tokens` prompt tokens,
# or a decode step of `batch` requests over `tokens` cached tokens
StepTime = Callable[[int, int], float]
# (decodes, longest cache of a decode, prefill tokens, longest prefill context) -> seconds
MixedTime = Callable[[int, int, int, int], float]


@dataclasses.dataclass
class Request:
    """One request and what happened to it (times in seconds from the run's start)."""

    arrival_s: float
    prompt: int
    tokens: int
    generated: int = 0
    first_token_s: float | None = None
    done_s: float | None = None
    cached: int = 0  # tokens whose KV the request holds
    pending: int = 0  # prefill tokens still to run before its next token
    feed: int = 0  # tokens it feeds in the current iteration
    preemptions: int = 0
    replica: int = 0


@dataclasses.dataclass
class Activity:
    """What the chips did: iterations run and the time they were busy (all replicas)."""

    busy_s: float = 0.0
    prefills: int = 0  # iterations of prefill work only
    decode_steps: int = 0  # iterations of decodes only
    mixed_steps: int = 0  # iterations of decodes and prefill chunks together
    decoded: int = 0  # sequences summed over iterations that decode
    preemptions: int = 0


@dataclasses.dataclass(frozen=True)
class Policy:
    """How a replica batches and holds KV (see the module docstring)."""

    max_batch: int
    kv_capacity_tokens: int
    chunk: int | None = None
    block: int | None = None

    def whole_need(self, request: Request) -> int:
        return request.prompt + request.tokens

    def blocks(self, tokens: int) -> int:
        return math.ceil(tokens / self.block) if self.block else tokens


@dataclasses.dataclass
class Replica:
    """One replica's queue and the requests it has admitted, in admission order."""

    index: int
    waiting: deque[Request] = dataclasses.field(default_factory=deque)
    active: list[Request] = dataclasses.field(default_factory=list)
    wake: list[simpy.Event] = dataclasses.field(default_factory=list)

    @property
    def load(self) -> int:
        return len(self.waiting) + len(self.active)


def schedule(
    requests: list[Request],
    prefill_s: StepTime,
    decode_s: StepTime,
    max_batch: int,
    kv_capacity_tokens: int,
    *,
    chunk: int | None = None,
    block: int | None = None,
    mixed_s: MixedTime | None = None,
    replicas: int = 1,
    route: str = "round-robin",
) -> Activity:
    """Serve `requests` (sorted by arrival) to the end; fills in their token times.

    `kv_capacity_tokens`, `max_batch`, `chunk` and `block` are per replica; `mixed_s`
    times an iteration with prefill chunks (required with `chunk`).
    """
    policy = Policy(max_batch, kv_capacity_tokens, chunk, block)
    _check(requests, policy, mixed_s, replicas, route)
    env = simpy.Environment()
    groups = [Replica(i) for i in range(replicas)]
    activity = Activity()
    for request in requests:
        request.pending = request.prompt

    def arrive() -> Iterator[simpy.Event]:
        number = 0
        while number < len(requests):
            yield env.timeout(requests[number].arrival_s - env.now)
            while number < len(requests) and requests[number].arrival_s <= env.now:
                request = requests[number]  # every request arriving now, then the wake-ups
                if route == "round-robin":
                    replica = groups[number % replicas]
                else:
                    replica = min(groups, key=lambda g: (g.load, g.index))
                request.replica = replica.index
                replica.waiting.append(request)
                number += 1
            for replica in groups:
                if replica.waiting and replica.wake and not replica.wake[0].triggered:
                    replica.wake.pop().succeed()

    left = len(requests)

    def serve(replica: Replica) -> Iterator[simpy.Event]:
        nonlocal left
        while left:
            _plan(replica, policy, activity)
            fed = [r for r in replica.active if r.feed]
            if not fed:
                replica.wake.append(env.event())
                yield replica.wake[0]
                continue
            step = _step_s(fed, prefill_s, decode_s, mixed_s, policy, activity)
            yield env.timeout(step)
            activity.busy_s += step
            for request in fed:
                _advance(request, env.now)
            for request in [r for r in replica.active if r.done_s is not None]:
                replica.active.remove(request)
                left -= 1
        for other in groups:  # wake the idle replicas so that they see the end
            if other.wake and not other.wake[0].triggered:
                other.wake.pop().succeed()

    env.process(arrive())
    for replica in groups:
        env.process(serve(replica))
    env.run()
    return activity


def _check(
    requests: list[Request], policy: Policy, mixed_s: MixedTime | None, replicas: int, route: str
) -> None:
    if route not in ROUTES:
        raise InputError(f"route must be one of {', '.join(ROUTES)}, got {route!r}.")
    if isinstance(replicas, bool) or not isinstance(replicas, int) or replicas < 1:
        raise InputError(f"replicas must be a whole number >= 1, got {replicas!r}.")
    for name, value in (("chunk", policy.chunk), ("block", policy.block)):
        if value is not None and (
            isinstance(value, bool) or not isinstance(value, int) or value < 1
        ):
            raise InputError(f"{name} must be a whole number of tokens >= 1, got {value!r}.")
    if policy.chunk is not None and mixed_s is None:
        raise InputError("chunked prefill needs a step model for mixed iterations (mixed_s).")
    room = policy.blocks(policy.kv_capacity_tokens) if policy.block else policy.kv_capacity_tokens
    for request in requests:
        need = policy.whole_need(request)
        if (policy.blocks(need) if policy.block else need) > room:
            raise InputError(
                f"a request of {request.prompt} prompt + {request.tokens} output tokens needs "
                f"more KV than a replica holds ({policy.kv_capacity_tokens:,} tokens)."
            )


def _plan(replica: Replica, policy: Policy, activity: Activity) -> None:
    """Set `feed` on the replica's requests for the next iteration: admit, batch, and
    (paged) preempt while the blocks needed pass the room. An iteration that preempts
    admits nobody (the preempted request waits at least one iteration)."""
    admitting = True
    while True:
        for request in replica.active:
            request.feed = 0
        budget = policy.chunk if policy.chunk is not None else math.inf
        prefilling = [r for r in replica.active if r.pending]
        decoding = [r for r in replica.active if not r.pending]
        if policy.chunk is None and not prefilling:
            if admitting:
                _admit(replica, policy, budget)
            if len(replica.active) == len(decoding):  # nobody admitted: decode
                for request in decoding:
                    request.feed = 1
        else:
            for request in decoding:
                if budget >= 1:
                    request.feed, budget = 1, budget - 1
            for request in prefilling:
                request.feed = min(request.pending, budget)
                budget -= request.feed
            if admitting:
                _admit(replica, policy, budget)
        if (
            not policy.block
            or _blocks_after(replica, policy) <= policy.kv_capacity_tokens // policy.block
        ):
            return
        admitting = False
        victim = replica.active.pop()
        victim.feed, victim.cached = 0, 0
        victim.pending = victim.prompt + victim.generated
        victim.preemptions += 1
        activity.preemptions += 1
        replica.waiting.appendleft(victim)


def _admit(replica: Replica, policy: Policy, budget: float) -> float:
    """Admit waiting requests while the batch, the token budget and the KV allow; each
    is fed a prefill (a chunk of it, within the budget). Returns the budget left."""
    while replica.waiting and budget >= 1 and len(replica.active) < policy.max_batch:
        request = replica.waiting[0]
        feed = int(min(request.pending, budget))
        if policy.block:
            room = policy.kv_capacity_tokens // policy.block - _blocks_after(replica, policy)
            if policy.blocks(feed) > room:
                break
        elif (
            sum(policy.whole_need(r) for r in replica.active) + policy.whole_need(request)
            > policy.kv_capacity_tokens
        ):
            break
        replica.waiting.popleft()
        replica.active.append(request)
        request.feed = feed
        budget -= feed
    return budget


def _blocks_after(replica: Replica, policy: Policy) -> int:
    """The KV blocks the replica's requests hold after the planned iteration."""
    return sum(policy.blocks(r.cached + r.feed) for r in replica.active)


def _step_s(
    fed: list[Request],
    prefill_s: StepTime,
    decode_s: StepTime,
    mixed_s: MixedTime | None,
    policy: Policy,
    activity: Activity,
) -> float:
    decodes = [r for r in fed if not r.pending]
    chunks = [r for r in fed if r.pending]
    activity.decoded += len(decodes)
    if not chunks:
        activity.decode_steps += 1
        return decode_s(len(decodes), max(r.cached for r in decodes))
    if decodes:
        activity.mixed_steps += 1
    else:
        activity.prefills += 1
    if policy.chunk is None:
        return prefill_s(len(chunks), max(r.feed for r in chunks))
    longest = max((r.cached for r in decodes), default=0)
    return mixed_s(
        len(decodes), longest, sum(r.feed for r in chunks), max(r.cached for r in chunks)
    )


def _advance(request: Request, now: float) -> None:
    """The request after an iteration that fed it `feed` tokens."""
    request.cached += request.feed
    if request.pending:
        request.pending -= request.feed
        if request.pending:
            return
    request.generated += 1
    if request.first_token_s is None:
        request.first_token_s = now
    if request.generated == request.tokens:
        request.done_s = now
