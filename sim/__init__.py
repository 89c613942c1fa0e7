"""The simulator: lower -> fuse -> engine -> account -> Result.

import hardware, workloads, sim
r = sim.simulate(workloads.build("resnet50"), hardware.load_chip("h100-sxm"))

The names below are imported on first use, so `python -m sim.cli --help` (which imports
this package first) does not pay for the engine, numpy and simpy. `simulate` is imported
here (its module loads the pipeline when first called): a lazy attribute of the same name
as a submodule would be replaced by the module on that submodule's import.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from hardware.version import __version__
from sim.simulate import simulate

if TYPE_CHECKING:
    from sim.losses import LOSS_CATEGORIES, REMEDIES
    from sim.options import SimOptions
    from sim.result import Result

# public name -> the module that defines it (imported on first use, in __getattr__)
_LAZY = {
    "LOSS_CATEGORIES": "sim.losses",
    "REMEDIES": "sim.losses",
    "SimOptions": "sim.options",
    "Result": "sim.result",
}

__all__ = ["LOSS_CATEGORIES", "REMEDIES", "Result", "SimOptions", "__version__", "simulate"]


def __getattr__(name: str) -> Any:
    if name in ("LOSS_CATEGORIES", "REMEDIES"):
        from sim import losses as module
    elif name in ("SimOptions",):
        from sim import options as module
    elif name in ("Result",):
        from sim import result as module
    else:
        raise AttributeError(f"module 'sim' has no attribute {name!r}")
    value = globals()[name] = getattr(module, name)
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
