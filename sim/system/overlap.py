"""Overlapping tensor-parallel collectives with compute (`--overlap-comm`), with contention.

Real stacks may overlap a layer's tensor-parallel all-reduce with compute that does not
depend on it: Transformer Engine's "userbuffers" (Megatron-LM `--tp-comm-overlap`),
PyTorch async TP and TensorRT-LLM split the GEMMs into chunks and reduce chunk i while
chunk i + 1 is computed. It is optional in all of them, so it is an option here.

The model, for one micro-batch of one stage: its tokens split into two halves that do not
depend on each other, and each half's all-reduce runs beside the other half's compute
(half A's reduction of layer l while half B computes layer l, then B's while A computes
layer l + 1). A micro-batch of one token (a decode step at batch 1) has no second half:
nothing overlaps. Its compute t seconds (the simulated chip) and its k overlappable
collectives c seconds in all (the all-reduces after each layer's attention and MLP,
k = 2 x layers) form a two-stage flow shop of n = 2k equal chunks, compute chunk a = t / n,
then collective chunk b = c / n on the links; collective i starts once compute chunk i and
collective i - 1 are done, compute chunk i + 1 starts at once. The first compute chunk and
the last collective have nothing to overlap with.

Contention: a collective in flight runs its own kernels, which hold a share s of the
chip's compute (SMs) while they run (`interconnect.overlap_share` of the system spec; 0
charges none). A compute chunk overlapped by a collective runs at 1 - s of its speed
while that collective runs, so it takes

    a' = min(a / (1 - s), a + s b)        (all of it slowed, or slowed for b seconds)

and the stage's micro-batch takes (two-machine flow shop, max over the critical path)

    T = max(a + n b, a + (n - 1) a' + b).

s = 0 gives max(t, c) + min(t, c) / n; no overlap gives t + c. T - t is the part of the
collectives left on the critical path (their slowing of compute included): it is what the
system accounting charges to `communication`; c - (T - t) left the critical path. The
embedding all-reduce, the logits all-gather and expert all-to-alls stay exposed (they
have no independent compute beside them in one forward pass).

What this is not: Transformer Engine's own "pipeline" overlap splits each row-parallel
GEMM in num_splits = 4 and hides a collective behind the GEMM that produces it only,
which hides less than two independent halves (DeepSeek-V3's and SGLang's two-micro-batch
overlap) do; the share s charged here is TE's default for its collective kernels
(num_sm = 16), and an NCCL all-reduce beside compute holds one CTA per channel, a number
of the same order.
"""

from __future__ import annotations

import dataclasses

OVERLAPPED_WHAT = "after each layer's attention and MLP"  # the collectives that overlap
HALVES = 2  # independent chunks of a micro-batch's tokens: each collective splits in two


@dataclasses.dataclass(frozen=True)
class Overlap:
    """One micro-batch of one stage: `exposed_s` of its collectives on the critical path
    (contention included), `hidden_s` of them overlapped with compute."""

    exposed_s: float
    hidden_s: float


def overlapped_s(compute_s: float, comm_s: float, chunks: int, share: float) -> float:
    """T of the module docstring: compute and `chunks` collectives overlapped in a flow
    shop, the collective kernels holding `share` of the compute while they run."""
    if chunks < 1 or comm_s <= 0:
        return compute_s + max(comm_s, 0.0)
    if not 0 <= share < 1:
        raise ValueError(f"overlap share must be in [0, 1), got {share!r}")
    a, b = compute_s / chunks, comm_s / chunks
    slowed = min(a / (1 - share), a + share * b)
    return max(a + chunks * b, a + (chunks - 1) * slowed + b)


def overlap(
    compute_s: float, overlappable_s: float, chunks: int, other_s: float, share: float
) -> Overlap:
    """The stage's collectives split into what stays on the critical path and what not:
    `overlappable_s` in `chunks` overlap the compute, `other_s` stay after it."""
    exposed = overlapped_s(compute_s, overlappable_s, chunks, share) - compute_s + other_s
    return Overlap(exposed_s=exposed, hidden_s=overlappable_s + other_s - exposed)
