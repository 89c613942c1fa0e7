"""How to run a simulation: the options of `simulate`, declared once with their bounds."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from hardware.errors import InputError, shown
from hardware.quantity import Flag
from sim.fuse import FusionMode
from sim.runtimes import RUNTIMES, RuntimeName

MAX_BATCHES = 10**9  # a stream of more batches than this is a typo, not a question
MAX_DURATION_S = 1e7  # about four months of simulated time
FAST_FORWARD_BATCHES = 8  # streams longer than this are fast-forwarded unless told not to


class SimOptions(BaseModel):
    """How to run.

    One batch by default, its input already in device memory (as a latency benchmark
    measures). A stream (`batches` > 1 or `duration_s`) loads each batch's input from the
    chip's input source over the host link, `prefetch` batches ahead, unless `load_input`
    says otherwise (a serving runtime loads it, through its request path, even for one
    batch); `input_compression` R divides the bytes moved by R and adds a
    decompression kernel. Long streams are fast-forwarded (see sim/sustain.py).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    fusion: FusionMode = "epilogue"
    overlap: Flag = True
    graph_launch: Flag = False
    load_input: Flag | None = None
    dtype: str | None = None  # the dtype the peak is quoted in; default: the graph's
    batches: int = Field(default=1, ge=1, le=MAX_BATCHES)
    duration_s: float | None = Field(default=None, gt=0, le=MAX_DURATION_S, allow_inf_nan=False)
    prefetch: int = Field(default=0, ge=0)
    input_compression: float = Field(default=1.0, ge=1.0, allow_inf_nan=False)
    thermal: Flag = True
    fast_forward: Flag = True
    tf32: Flag = False  # fp32 matmuls may run on a matrix engine in TF32 (off, as in PyTorch)
    # per-kernel rows and the timeline in the Result; off where only totals are read (a sweep)
    details: Flag = True
    # the software running the model (sim/runtimes.py); it sets the defaults of `fusion`
    # and `graph_launch` and adds its host cost per kernel
    runtime: RuntimeName = "native"

    @model_validator(mode="before")
    @classmethod
    def _defaults(cls, data: Any) -> Any:
        """The runtime's fusion and graph launch unless given; a stream of `duration_s`
        runs as many batches as fit unless `batches` says otherwise."""
        if not isinstance(data, dict):
            return data
        name = data.get("runtime", "native")
        if isinstance(name, str) and name in RUNTIMES:  # else the field's own check reports
            chosen = RUNTIMES[name]
            data = {"fusion": chosen.fusion, "graph_launch": chosen.graph_launch, **data}
        if data.get("duration_s") is not None and data.get("batches", 1) == 1:
            data = {**data, "batches": MAX_BATCHES}
        return data

    @property
    def streaming(self) -> bool:
        return self.batches > 1 or self.duration_s is not None

    @property
    def loads_input(self) -> bool:
        """Whether batches load their input; by default a stream does, and so does every
        batch of a serving runtime (its request carries the input)."""
        if self.load_input is not None:
            return self.load_input
        return self.streaming or RUNTIMES[self.runtime].request is not None


OPTION_FLAGS = {"duration_s": "--duration", "input_compression": "--input-compression"}


def options_from(options: SimOptions | None, kwargs: dict) -> SimOptions:
    if options is not None and not isinstance(options, SimOptions):
        raise InputError(
            f"options: expected a SimOptions or None, got {type(options).__name__}; or "
            "give the options as keyword arguments (fusion='greedy', batches=8, ...)."
        )
    try:
        if options is None:
            return SimOptions(**kwargs)
        if not kwargs:
            return options
        return SimOptions(**{**options.model_dump(exclude_unset=True), **kwargs})
    except ValidationError as err:
        first = err.errors()[0]
        field = ".".join(str(p) for p in first["loc"]) or "options"
        flag = OPTION_FLAGS.get(field, "--" + field.replace("_", "-"))
        raise InputError(
            f"simulation option {flag} ({field}): {first['msg']} (got {shown(first.get('input'))})."
        ) from None
