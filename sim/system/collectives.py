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
link time), pipelining a chunk across hops.

All-reduce algorithms on a switch (`interconnect.algorithm`; the other collectives run
ring whatever it says, as NCCL's tree is an all-reduce algorithm only; on a hierarchical
system `tree` is the all-reduce between the nodes, the levels inside them stay ring):

    ring   the table above: 2(N-1) (alpha + S/N beta)
    tree   NCCL's double binary tree (Sanders, Speck, Traeff, "Two-tree algorithms for
           full bandwidth broadcast, reduction and scan", Parallel Computing 2009; NCCL
           2.4, NVIDIA blog "Massively Scale Your Deep Learning Training with NCCL 2.4",
           2019): a reduce up and a broadcast down trees of depth d = ceil(log2 N), the
           buffer pipelined through them, each tree carrying half of it while every chip
           sends and receives all of it on the way up and again on the way down:
           2d steps of (alpha + S/d beta) = 2 log2(N) alpha + 2 S beta. Logarithmic
           latency, twice the ring's bandwidth term at large N (2 S against 2 S (N-1)/N).
    nvls   NVLink SHARP (NVSwitch 3 in-network reduction, NCCL 2.17+, NCCL_ALGO=NVLS;
           NVIDIA Hopper architecture whitepaper 2022, NVIDIA blog "Upgrading
           Multi-GPU Interconnectivity with the Third-Generation NVIDIA NVSwitch", 2022):
           each GPU sends its S into the switch, which adds the N buffers and multicasts
           the sum; each GPU receives S once. Pipelined in chunks the send uses the
           port's egress and the receive its ingress at the same time, so one step
           holding both, of 2 alpha (to the switch and back) + S beta.

The reduction arithmetic is free in all three (the switch's ALUs for nvls).

Two-level systems (a hierarchical system's nodes, a 2D torus's rows and columns) run the
hierarchical algorithm: a group of N = n1 x n2 chips (n1 in a node or a row, n2 nodes or
columns) runs level collectives, each simulated as above on its level's links:

    all_reduce       reduce_scatter(n1, S), all_reduce(n2, S/n1), all_gather(n1, S)
    reduce_scatter   reduce_scatter(n1, S), reduce_scatter(n2, S/n1)
    all_gather       all_gather(n2, S/n1), all_gather(n1, S)
    all_to_all       all_to_all(n1, S), all_to_all(n2, S)   (two-phase, each chip
                                                             forwarding what it gathered)

A torus's rows and columns are rings of its links; a group smaller than a row (or than a
node) is a one-level collective on that ring (switch).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from typing import NamedTuple

import simpy

from hardware.errors import InputError
from hardware.system import Interconnect


class CollectiveNeed(NamedTuple):
    """A collective a parallel plan needs in one forward pass: `count` calls of `kind`
    (all_reduce, all_gather, reduce_scatter, all_to_all), each of `bytes_per_chip`, and
    `where` in the model they sit."""

    kind: str
    where: str
    bytes_per_chip: float
    count: int


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


def levels(chips: int, link: Interconnect) -> list[tuple[int, Interconnect]]:
    """(chips, flat ring or switch link) of each level a group of `chips` spans, inner
    first: one level on a ring or switch, up to two on a torus or hierarchical system."""
    if link.topology in ("ring", "switch"):
        return [(chips, link)]
    if link.topology == "torus2d":
        inner, outer = link.dims[0], link.dims[1]
        inner_link = outer_link = Interconnect(
            topology="ring",
            bandwidth=link.bandwidth,
            efficiency=link.efficiency,
            latency=link.latency,
        )
    else:
        inner, outer = link.node_chips, None
        inner_link = Interconnect(
            topology="switch",
            bandwidth=link.bandwidth,
            efficiency=link.efficiency,
            latency=link.latency,
        )
        port = link.inter_node
        outer_link = Interconnect(
            topology="switch",
            bandwidth=port.bandwidth,
            efficiency=port.efficiency,
            latency=port.latency,
            algorithm=link.algorithm,  # ring or tree: the all-reduce between the nodes
        )
    if chips <= inner:
        return [(chips, inner_link)]
    if chips % inner or (outer is not None and chips > inner * outer):
        raise InputError(
            f"a group of {chips} chips does not fill whole {link.topology} levels of "
            f"{inner} chips; choose a group of at most {inner} chips or a multiple of it."
        )
    return [(inner, inner_link), (chips // inner, outer_link)]


def _phases(kind: str, nbytes: float, chips: int, link: Interconnect) -> list[tuple]:
    """(kind, bytes, chips, flat link) of each level collective (module docstring)."""
    spans = levels(chips, link)
    if len(spans) == 1:
        return [(kind, nbytes, chips, link)]
    (n1, inner), (n2, outer) = spans
    shard = nbytes / n1
    return {
        "all_reduce": [
            ("reduce_scatter", nbytes, n1, inner),
            ("all_reduce", shard, n2, outer),
            ("all_gather", nbytes, n1, inner),
        ],
        "reduce_scatter": [
            ("reduce_scatter", nbytes, n1, inner),
            ("reduce_scatter", shard, n2, outer),
        ],
        "all_gather": [("all_gather", shard, n2, outer), ("all_gather", nbytes, n1, inner)],
        "all_to_all": [("all_to_all", nbytes, n1, inner), ("all_to_all", nbytes, n2, outer)],
    }[kind]


def alpha_beta_s(kind: str, nbytes: float, chips: int, link: Interconnect) -> float:
    """The closed form of the table above: what `collective_s` simulates."""
    step_offsets(kind, chips)
    phases = _phases(kind, nbytes, chips, link)
    if len(phases) > 1:
        return sum(alpha_beta_s(*phase) for phase in phases)
    offsets, hop_s = _steps(kind, nbytes, chips, link)
    return hop_s * (sum(offsets) if link.topology == "ring" else len(offsets))


def _steps(kind: str, nbytes: float, chips: int, link: Interconnect) -> tuple[list[int], float]:
    """The peer offset of each step of a one-level collective and the seconds of one hop
    (the algorithm's table in the module docstring; offset 0: into the switch and back)."""
    beta = 1 / link.sustained_bandwidth
    if kind == "all_reduce" and link.algorithm == "tree":
        depth = max(1, math.ceil(math.log2(chips)))
        return [1] * 2 * depth, link.latency + nbytes / depth * beta
    if kind == "all_reduce" and link.algorithm == "nvls":
        return [0], 2 * link.latency + nbytes * beta
    return step_offsets(kind, chips), link.latency + nbytes / chips * beta


def sent_bytes(kind: str, nbytes: float, chips: int, link: Interconnect) -> float:
    """Bytes each chip sends in one collective, counted step by step on one level (a tree
    sends the buffer up and down, nvls once, a ring step S/N)."""
    if kind == "all_reduce" and link.algorithm == "tree":
        return 2 * nbytes
    if kind == "all_reduce" and link.algorithm == "nvls":
        return nbytes
    return len(step_offsets(kind, chips)) * nbytes / chips


def collective_s(kind: str, nbytes: float, chips: int, link: Interconnect) -> float:
    """Seconds collective `kind` of an `nbytes` buffer takes on `chips` chips, simulated
    step by step as SimPy processes holding the links they cross."""
    offsets = step_offsets(kind, chips)
    if nbytes < 0:
        raise InputError(f"collective {kind}: the buffer must be >= 0 bytes, got {nbytes!r}.")
    if not offsets or nbytes == 0:
        return 0.0
    phases = _phases(kind, nbytes, chips, link)
    if len(phases) > 1:
        return sum(collective_s(*phase) for phase in phases)
    env = simpy.Environment()
    offsets, hop_s = _steps(kind, nbytes, chips, link)
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
    destination - source links, store-and-forward, sharing the links they cross. On a
    torus a transfer crosses the shortest way round each ring (rows, then columns), on a
    hierarchical system one hop inside a node or one through the network; these run on
    links of their own (what a pipeline's sends between neighbouring groups do)."""
    if nbytes < 0:
        raise InputError(f"send: the buffer must be >= 0 bytes, got {nbytes!r}.")
    if not pairs or nbytes == 0:
        return 0.0
    if link.topology in ("torus2d", "hierarchical"):
        return max(_two_level_send_s(nbytes, a, b, link) for a, b in pairs)
    env = simpy.Environment()
    hop_s = link.latency + nbytes / link.sustained_bandwidth
    transfer = _transfers(env, link, chips, hop_s)

    for source, destination in pairs:
        env.process(transfer(source, (destination - source) % chips))
    env.run()
    return float(env.now)


def _two_level_send_s(nbytes: float, source: int, destination: int, link: Interconnect) -> float:
    if link.topology == "torus2d":
        width, height = link.dims
        dx = abs(source % width - destination % width)
        dy = abs(source // width - destination // width)
        hops = min(dx, width - dx) + min(dy, height - dy)
        return hops * (link.latency + nbytes / link.sustained_bandwidth)
    if source // link.node_chips == destination // link.node_chips:
        return link.latency + nbytes / link.sustained_bandwidth
    port = link.inter_node
    return port.latency + nbytes / port.sustained_bandwidth


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
