"""The timeline's tracks in display order, and the colour of each bound: shared by the
terminal Gantt, the Chrome trace and the plots so they all read alike."""

from __future__ import annotations

from sim.result import Result

# tracks after the units, in this order; any other track follows them
FIXED_TRACKS = ("dram", "host_link", "input", "launcher")

BOUND_COLORS = {
    "compute": "green",
    "memory": "red",
    "no_overlap": "dark_orange",
    "starvation": "magenta",
    "shape": "yellow",
    "unspecialized": "bright_yellow",
    "host": "blue",
    "host_fallback": "blue",
    "input_io": "bright_cyan",
    "launch": "grey50",
    "thermal": "bright_red",
    "idle_unit": "white",
}


def track_order(result: Result) -> list[str]:
    """Units (in the chip's order), then dram, host_link, input, launcher, then the rest.
    Units always get a row (an idle unit is worth seeing); other tracks only if used."""
    used = list(dict.fromkeys(s.track for s in result.timeline))
    units = [u.name for u in result.units]
    fixed = [t for t in FIXED_TRACKS if t in used]
    rest = [t for t in used if t not in units and t not in FIXED_TRACKS]
    return units + fixed + rest
