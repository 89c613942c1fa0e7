"""The discrete-event engine: SimPy processes for the hardware blocks of a chip
(engine.py), the units and links they share (resources.py), the thermal model
(thermal.py), and what a run records (records.py)."""

from sim.engine.engine import Engine
from sim.engine.records import BatchRecord, EngineOptions, KernelRecord, Trace, Transfer

__all__ = ["BatchRecord", "Engine", "EngineOptions", "KernelRecord", "Trace", "Transfer"]
