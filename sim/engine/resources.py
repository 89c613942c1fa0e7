"""The shared hardware the engine's processes contend for: units and links.

- `UnitQueue`: one kernel at a time on a unit, first come first served.
- `SharedLink`: DRAM or the host link; every transfer in flight gets an equal share of the
  bandwidth, capped by its own limit (a DMA engine's bandwidth), water-filled.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import simpy

EPSILON_BYTES = 1e-6


@dataclass(slots=True)
class Flow:
    """A transfer in flight on a SharedLink."""

    remaining: float  # bytes still to move
    done: simpy.Event
    cap: float  # its own bandwidth limit (a DMA engine's), bytes/s


def all_done(env: simpy.Environment, events: list[simpy.Event]) -> simpy.Event:
    """An event that succeeds once all of `events` (events that never fail) have been
    processed: simpy's AllOf as a plain countdown, scheduled at the same moment, without
    building the condition's value (the engine waits on thousands of them)."""
    done = env.event()
    left = len(events)

    def count(_event: simpy.Event) -> None:
        nonlocal left
        left -= 1
        if left == 0:
            done.succeed()

    if not events:
        done.succeed()
    for event in events:
        if event.processed:
            count(event)
        else:
            event.callbacks.append(count)
    return done


class UnitQueue:
    """One kernel at a time on a unit, first come first served. Taking a free unit costs
    no event (most kernels find their unit free), unlike a simpy.Resource request."""

    def __init__(self, env: simpy.Environment) -> None:
        self.env = env
        self.busy = False
        self.waiting: deque[simpy.Event] = deque()

    def take(self) -> bool:
        """Take the unit if it is free, at no cost; False when `acquire` must wait."""
        if self.busy:
            return False
        self.busy = True
        return True

    def acquire(self):
        if self.take():
            return
        turn = self.env.event()
        self.waiting.append(turn)
        yield turn  # the releasing kernel hands the unit over: it stays busy

    def release(self) -> None:
        if self.waiting:
            self.waiting.popleft().succeed()
        else:
            self.busy = False


class SharedLink:
    """A link whose bandwidth is shared by all transfers in flight (processor sharing)."""

    def __init__(self, env: simpy.Environment, bandwidth: float, name: str) -> None:
        self.env = env
        self.bandwidth = bandwidth
        self.name = name
        self.active: dict[int, Flow] = {}
        self.updated = 0.0
        self.version = 0
        self.next_id = 0

    def transfer(
        self, nbytes: float, cap: float = float("inf"), done: simpy.Event | None = None
    ) -> simpy.Event:
        """An event (`done`, or a new one) that fires when `nbytes` have crossed the link."""
        done = self.env.event() if done is None else done
        if nbytes <= EPSILON_BYTES:
            done.succeed()
            return done
        self._advance()
        self.active[self.next_id] = Flow(nbytes, done, cap)
        self.next_id += 1
        self._reschedule()
        return done

    def _rates(self) -> dict[int, float]:
        """Water-filling: equal shares, transfers below their share keep their cap."""
        if len(self.active) == 1:  # the common case, as the loop below would give it
            ((key, flow),) = self.active.items()
            return {key: min(self.bandwidth / 1, flow.cap)}
        rates: dict[int, float] = {}
        left = self.bandwidth
        pending = sorted(self.active, key=lambda i: (self.active[i].cap, i))
        for position, key in enumerate(pending):
            share = left / (len(pending) - position)
            rates[key] = min(share, self.active[key].cap)
            left -= rates[key]
        return rates

    def _advance(self, rates: dict[int, float] | None = None) -> None:
        """Move every flow on by the time since the last update (`rates`: the current
        ones, if the caller has them)."""
        elapsed = self.env.now - self.updated
        if elapsed > 0 and self.active:
            for key, rate in (rates or self._rates()).items():
                self.active[key].remaining -= rate * elapsed
        self.updated = self.env.now

    def _reschedule(self) -> None:
        for key in [k for k, flow in self.active.items() if flow.remaining <= EPSILON_BYTES]:
            self.active.pop(key).done.succeed()
        self.version += 1
        if not self.active:
            return
        rates = self._rates()
        wait = min(flow.remaining / rates[k] for k, flow in self.active.items())
        version = self.version
        self.env.timeout(wait).callbacks.append(lambda _event: self._wake(version))

    def _wake(self, version: int) -> None:
        if version != self.version:
            return
        rates = self._rates()
        self._advance(rates)
        for key, flow in self.active.items():  # due now, up to float rounding (1 ps)
            if flow.remaining <= rates[key] * 1e-12:
                flow.remaining = 0.0
        self._reschedule()
