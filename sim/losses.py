"""The named losses: where the advertised peak goes, and what each one asks of the user.

The accounting (sim/account.py) splits every op/s of the peak into useful work and exactly
one of these categories; renderers name them and print their remedies.
"""

from __future__ import annotations

LOSS_CATEGORIES: tuple[str, ...] = (
    "memory",
    "no_overlap",
    "starvation",
    "shape",
    "unspecialized",
    "sustained",
    "host_fallback",
    "input_io",
    "launch",
    "thermal",
    "idle_unit",
)

REMEDIES: dict[str, str] = {
    "memory": "fuse layers, use higher-intensity layers, or add bandwidth / on-chip memory",
    "no_overlap": "double buffering or software pipelining to overlap transfers and compute",
    "starvation": "bigger batch, wider and shallower layers, or fusion",
    "shape": "choose layer sizes that are multiples of the hardware tile",
    "unspecialized": "use ops and dtypes the fast units support",
    "sustained": "compare chips on measured, not rated, rates: real kernels run below the rating",
    "host_fallback": "implement the op on the accelerator (Amdahl's law)",
    "input_io": "compress the input, use a faster link, or prefetch",
    "launch": "fuse kernels or use graph launch",
    "thermal": "better cooling, lower power, or duty cycling",
    "idle_unit": "map work to all units and overlap independent branches",
}


CATEGORY_INDEX = {category: i for i, category in enumerate(LOSS_CATEGORIES)}
