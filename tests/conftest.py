"""Fixtures shared by every test package: the toy chip, its raw spec, the file corpus."""

from __future__ import annotations

import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
CORPUS = Path(__file__).resolve().parent / "corpus"

# tests/hardware and tests/workloads have no __init__.py, so with `pytest` (unlike
# `python -m pytest`) they would shadow the real packages as namespace packages whenever the
# editable install is a meta-path finder. Put the checkout first so `import hardware` is it.
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

import os  # noqa: E402

import pytest  # noqa: E402
import yaml  # noqa: E402
from hypothesis import HealthCheck, settings  # noqa: E402

import hardware  # noqa: E402
from hardware.load import PRESET_DIR  # noqa: E402

# property tests: a fast, reproducible sample in CI; TOPSIM_HYPOTHESIS=slow runs many more
settings.register_profile(
    "ci",
    max_examples=40,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile(
    "slow", max_examples=3000, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.load_profile(os.environ.get("TOPSIM_HYPOTHESIS", "ci"))


@pytest.fixture
def repo_root() -> Path:
    return REPO_ROOT


@pytest.fixture
def corpus() -> Path:
    """tests/corpus: good/ files that must validate, bad/ files that must be rejected."""
    return CORPUS


@pytest.fixture
def toy() -> hardware.Chip:
    """The hypothetical `toy` preset: peak fp16 512 GOP/s, DRAM 10 GB/s, ridge 51.2 ops/B."""
    return hardware.load_chip("toy")


@pytest.fixture
def toy_spec() -> dict:
    """The toy preset as the raw mapping read from YAML (unit strings, not SI floats)."""
    return yaml.safe_load((PRESET_DIR / "toy.yaml").read_text(encoding="utf-8"))
