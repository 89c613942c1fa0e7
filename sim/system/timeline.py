"""The timeline of one pass of a system run: what each stage group and each link did, when.

Built from the pipeline's record (sim/system/pipeline.py: when each micro-batch held each
stage and crossed each link) and the stage's split of a micro-batch's time:

- process "stage s (chips a-b)", track "compute": the simulated chip's work on the
  micro-batch, from the moment the stage takes it, `compute_s` long;
- the same process, track "collectives": the rest of the stage's hold on it, the part of
  its collectives on the critical path (all of them, unless they overlap compute);
- process "links", one track per link group: a stage's tensor-parallel (or expert-
  parallel) group is busy for its collectives' whole time, drawn ending when the stage
  lets the micro-batch go (without overlap exactly when they ran; with overlap their
  chunks are spread over the compute, and the slice shows their sum); a link between
  stages carries each activation when the pipeline sent it.

Times are seconds from the start of the pass; a renderer shifts phases after each other.
"""

from __future__ import annotations

from sim.system.pipeline import PipelineRun
from sim.system.results import TimelineSlice

LINKS_PROCESS = "links"


def pass_timeline(
    phase: str,
    pipe: PipelineRun,
    stage_names: list[str],
    compute_s: list[float],
    group_links: list[tuple[str, float] | None],
    send_links: list[str],
) -> list[TimelineSlice]:
    """Slices of one pass: `compute_s[s]` and (name, busy seconds) of stage s's group
    link per micro-batch (None: a one-chip stage has none), `send_links[s]` the name of
    the link from stage s to s + 1."""
    slices = []
    for s, spans in enumerate(pipe.work):
        for span in spans:
            label = f"{phase} micro-batch {span.micro}"
            computed = min(span.start_s + compute_s[s], span.end_s)
            slices.append(_slice(stage_names[s], "compute", label, span.start_s, computed))
            if span.end_s > computed:
                slices.append(_slice(stage_names[s], "collectives", label, computed, span.end_s))
            if group_links[s] is not None:
                name, busy = group_links[s]
                slices.append(_slice(LINKS_PROCESS, name, label, span.end_s - busy, span.end_s))
    for s, spans in enumerate(pipe.sends):
        for span in spans:
            label = f"{phase} micro-batch {span.micro} activation"
            slices.append(_slice(LINKS_PROCESS, send_links[s], label, span.start_s, span.end_s))
    return slices


def _slice(process: str, track: str, name: str, start: float, end: float) -> TimelineSlice:
    return TimelineSlice(process=process, track=track, name=name, start_s=start, end_s=end)
