"""Every Result says what made it: version, chip and workload origins, every option."""

from __future__ import annotations

import hardware
import sim
import workloads
from sim.options import SimOptions
from sim.result import SCHEMA_VERSION, Result


def test_result_records_origins_and_every_option() -> None:
    chip = hardware.load_chip("toy", overrides={"memory.dram.bandwidth": "20 GB/s"})
    result = sim.simulate(workloads.build("mlp", batch=2), chip, fusion="none")
    made = result.provenance
    assert result.schema_version == SCHEMA_VERSION == "1.2"
    assert made.topsim_version == hardware.__version__ == sim.__version__
    assert made.chip.kind == "preset" and len(made.chip.sha256) == 64
    assert made.chip.parameters == {"memory.dram.bandwidth": "20 GB/s"}
    assert made.workload.kind == "builder" and made.workload.parameters["batch"] == 2
    assert set(made.options) == set(SimOptions.model_fields)
    assert made.options["fusion"] == "none"


def test_objects_built_in_python_are_named_and_old_results_load() -> None:
    chip = hardware.load_chip("toy").model_copy()
    result = sim.simulate(workloads.build("mlp"), chip)
    assert result.provenance.chip.kind == "object"
    old = result.model_dump(exclude={"provenance"}) | {"schema_version": "1.1"}
    assert Result.model_validate(old).provenance is None
