"""Collectives as SimPy processes on the links, costed by the alpha-beta model.

A collective over N chips is a list of steps. In a step every chip sends one chunk of
S/N bytes to the chip `offset` places after it; the next step starts when every chunk
of the step has arrived (the data of step k+1 depends on step k). One transfer over one
hop takes `latency + chunk / (bandwidth x efficiency)` (alpha + bytes x beta), holding
the hop's links (see hardware/system.py for ring and switch links):

    collective       steps (offsets)          time without contention
    all_reduce       2(N-1) x offset 1        2(N-1) (alpha + S/N beta)   ring: reduce-
                                                                          scatter, all-gather
    reduce_scatter   N-1 x offset 1           (N-1) (alpha + S/N beta)
    all_gather       N-1 x offset 1           (N-1) (alpha + S/N beta)
    all_to_all       offsets 1 .. N-1         switch: (N-1) (alpha + S/N beta)
                                              ring: N(N-1)/2 (alpha + S/N beta), offset k
                                              crossing k links store-and-forward

S is the buffer each chip holds: the all-reduce input (= output), the reduce-scatter
input, the all-gather output, the all-to-all send buffer. On a switch every step is one
hop. Not modelled: the arithmetic of the reduction (S/N additions per step, far below the
link time), pipelining a chunk across hops, tree or in-switch (NVLink SHARP) algorithms.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import simpy

from hardware.errors import InputError
from hardware.system import Interconnect

COLLECTIVES: tuple[str, ...] = ("all_reduce", "reduce_scatter", "all_gather", "all_to_all")


def step_offsets(kind: str, chips: int) -> list[int]:
    """The peer offset of each step of collective `kind` on `chips` chips."""
    if kind not in COLLECTIVES:
        raise InputError(f"unknown collective {kind!r}; known: {', '.join(COLLECTIVES)}.")
    if kind == "all_reduce":
        return [1] * 2 * (chips - 1)
    if kind == "all_to_all":
        return list(range(1, chips))
    return [1] * (chips - 1)


def alpha_beta_s(kind: str, nbytes: float, chips: int, link: Interconnect) -> float:
    """The closed form of the table above: what `collective_s` simulates."""
    hop_s = link.latency + nbytes / chips / link.sustained_bandwidth
    hops = step_offsets(kind, chips)
    return hop_s * (sum(hops) if link.topology == "ring" else len(hops))


def collective_s(kind: str, nbytes: float, chips: int, link: Interconnect) -> float:
    """Seconds collective `kind` of an `nbytes` buffer takes on `chips` chips, simulated
    step by step as SimPy processes holding the links they cross."""
    offsets = step_offsets(kind, chips)
    if nbytes < 0:
        raise InputError(f"collective {kind}: the buffer must be >= 0 bytes, got {nbytes!r}.")
    if not offsets or nbytes == 0:
        return 0.0
    env = simpy.Environment()
    hop_s = link.latency + nbytes / chips / link.sustained_bandwidth
    transfer = _transfers(env, link, chips, hop_s)

    def steps() -> Iterator[simpy.Event]:
        for offset in offsets:
            yield env.all_of([env.process(transfer(chip, offset)) for chip in range(chips)])

    env.process(steps())
    env.run()
    return float(env.now)


def send_s(nbytes: float, pairs: list[tuple[int, int]], chips: int, link: Interconnect) -> float:
    """Seconds until every (source, destination) transfer of `nbytes` has arrived, all
    started together on a system of `chips` chips: one hop through a switch; on a ring
    destination - source links, store-and-forward, sharing the links they cross."""
    if nbytes < 0:
        raise InputError(f"send: the buffer must be >= 0 bytes, got {nbytes!r}.")
    if not pairs or nbytes == 0:
        return 0.0
    env = simpy.Environment()
    hop_s = link.latency + nbytes / link.sustained_bandwidth
    transfer = _transfers(env, link, chips, hop_s)

    for source, destination in pairs:
        env.process(transfer(source, (destination - source) % chips))
    env.run()
    return float(env.now)


def _transfers(
    env: simpy.Environment, link: Interconnect, chips: int, hop_s: float
) -> Callable[[int, int], Iterator[simpy.Event]]:
    """A process factory: one transfer from `source` to the chip `offset` places on, hop
    by hop, each hop holding the links it crosses for `hop_s`."""
    route = _ring_route if link.topology == "ring" else _switch_route
    ports = {name: [simpy.Resource(env, 1) for _ in range(chips)] for name in ("out", "in")}

    def transfer(source: int, offset: int) -> Iterator[simpy.Event]:
        for hop in route(ports, source, offset, chips):
            requests = [port.request() for port in hop]
            yield env.all_of(requests)
            yield env.timeout(hop_s)
            for port, request in zip(hop, requests, strict=True):
                port.release(request)

    return transfer


def _ring_route(ports: dict, source: int, offset: int, chips: int) -> list[list]:
    """Link i joins chip i to chip i+1 (its `out` port): `offset` hops, one link each."""
    return [[ports["out"][(source + hop) % chips]] for hop in range(offset)]


def _switch_route(ports: dict, source: int, offset: int, chips: int) -> list[list]:
    """One hop through the switch: the sender's egress and the receiver's ingress port."""
    return [[ports["out"][source], ports["in"][(source + offset) % chips]]]
