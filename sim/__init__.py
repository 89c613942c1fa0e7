"""The simulator: lower -> fuse -> engine -> account -> Result.

import hardware, workloads, sim
r = sim.simulate(workloads.build("resnet50"), hardware.load_chip("h100-sxm"))
"""

from sim.losses import LOSS_CATEGORIES, REMEDIES
from sim.options import SimOptions
from sim.result import Result
from sim.simulate import simulate

__all__ = ["LOSS_CATEGORIES", "REMEDIES", "Result", "SimOptions", "simulate"]
