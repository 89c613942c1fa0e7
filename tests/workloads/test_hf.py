"""Hugging Face config.json import: the same graph as the built-in builders, and the
published parameter counts of each family (config files written by hand from the model
cards, in tests/workloads/hf/)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import workloads
from hardware.errors import InputError
from hardware.origin import origin_of

HF = Path(__file__).resolve().parent / "hf"


def test_llama_config_builds_the_builtin_llama() -> None:
    from_file = workloads.load(HF / "llama-2-7b.json")
    builtin = workloads.build("llama-2-7b")
    assert (from_file.params, from_file.macs) == (builtin.params, builtin.macs)


@pytest.mark.parametrize(
    ("config", "params"),
    [
        ("pythia-160m", 162_322_944),  # EleutherAI's model card, exactly
        ("mistral-7b", 7_241_732_096),  # 7.24B
        ("qwen2-0.5b", 494_005_120),  # 0.49B (Qwen2's q/k/v biases not modelled)
        ("mixtral-8x7b", 12_878_876_672),  # 12.9B active: 2 of 8 experts per token
    ],
)
def test_family_parameter_counts(config: str, params: int) -> None:
    assert workloads.load(HF / f"{config}.json").params == params


def test_parameters_dtype_and_origin() -> None:
    graph = workloads.from_hf_config(HF / "mistral-7b.json", seq=64, batch=2)
    assert graph.dtype == "bf16"  # torch_dtype
    origin = origin_of(graph, "-")
    assert origin.kind == "file" and origin.sha256 and origin.parameters["seq"] == 64


def test_a_mapping_works_and_bad_configs_are_input_errors() -> None:
    data = json.loads((HF / "pythia-160m.json").read_text())
    assert workloads.from_hf_config(data, seq=16).params == 162_322_944
    with pytest.raises(InputError, match="not a decoder-only family"):
        workloads.from_hf_config({**data, "model_type": "t5"})
    with pytest.raises(InputError, match="needs hidden_size"):
        workloads.from_hf_config({k: v for k, v in data.items() if k != "hidden_size"})
