"""Regressions from the second red-team round: each bad input is one clear error, exit 2,
and nothing the user owns is overwritten."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

import workloads
from hardware.errors import InputError
from sim.cli.main import app

LLAMA = {
    "model_type": "llama",
    "hidden_size": 256,
    "intermediate_size": 512,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "vocab_size": 1000,
    "max_position_embeddings": 2048,
    "torch_dtype": "float16",
}


def topsim(*args: str):
    return CliRunner(env={"COLUMNS": "200", "NO_COLOR": "1"}).invoke(app, list(args))


def refused(*args: str, says: str) -> None:
    result = topsim(*args)
    assert result.exit_code == 2, result.output
    assert says in result.output
    assert "Traceback" not in result.output


@pytest.mark.parametrize("path", ["memory.dram.efficiency", "units.mxu.efficiency.matrix"])
def test_an_efficiency_below_one_percent_is_refused(path):
    refused("run", "mlp", "--chip", "toy", "--set", f"{path}=1e-300", says="0.01")


@pytest.mark.parametrize(
    ("change", "says"),
    [
        ({"model_type": ["llama"]}, "model_type"),
        ({"num_hidden_layers": 100_000}, "num_hidden_layers must be a whole number"),
        ({"vocab_size": 10**12}, "vocab_size"),
        ({"tie_word_embeddings": "no"}, "tie_word_embeddings must be true or false"),
        ({"torch_dtype": ["float16"]}, "torch_dtype"),
        ({"num_key_value_heads": 3}, "must divide"),
        ({"_name_or_path": "x" * 1000}, "at most 255 characters"),
    ],
)
def test_a_hugging_face_config_is_checked_field_by_field(tmp_path: Path, change, says):
    config = tmp_path / "config.json"
    config.write_text(json.dumps({**LLAMA, **change}))
    refused("run", str(config), "--chip", "h100-sxm", "--seq", "16", "-q", says=says)
    with pytest.raises(InputError, match=says.split()[0]):
        workloads.from_hf_config(config, seq=16)


def test_max_positions_reaches_a_hugging_face_config(tmp_path: Path):
    config = tmp_path / "config.json"
    config.write_text(json.dumps(LLAMA))
    refused("run", str(config), "--chip", "h100-sxm", "--max-positions", "8", says="positions")
    graph = workloads.from_hf_config(config, seq=4096, max_positions=8192)
    assert graph.macs > 0


@pytest.mark.parametrize(
    ("row", "says"),
    [
        ("linear,4x8;8x8,fp99,1e-5", "dtype 'fp99' is unknown"),
        ("foo,4x8,fp16,1e-5", "kind 'foo'"),
        ('linear,"4x8;8x8,fp16,1e-5', "number of columns"),
        ("linear,4x8;8x8,fp16,1e-300", "1e-9"),
        ("linear,4x8;0x8,fp16,1e-5", "dimension"),
    ],
)
def test_fit_names_the_row_and_the_column(tmp_path: Path, row, says):
    data = tmp_path / "m.csv"
    data.write_text("kind,shapes,dtype,seconds\n" + row + "\n")
    refused("fit", "toy", "--measurements", str(data), says=says)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs POSIX named pipes")
def test_pipes_are_neither_read_nor_written(tmp_path: Path):
    pipe = tmp_path / "pipe.csv"
    os.mkfifo(pipe)
    refused("fit", "toy", "--measurements", str(pipe), says="not a regular file")
    refused("accuracy", "--cases", str(pipe), says="not a regular file")
    vary = "width=64,128"
    refused("sweep", "mlp", "--chip", "toy", "--vary", vary, "--out", str(pipe), says="regular")


def test_chips_export_keeps_a_file_it_did_not_write(tmp_path: Path):
    notes = tmp_path / "notes.txt"
    notes.write_text("my notes")
    refused("chips", "export", "toy", "--out", str(notes), says="--overwrite")
    assert notes.read_text() == "my notes"
    assert topsim("chips", "export", "toy", "--out", str(notes), "--overwrite").exit_code == 0


def test_lut_candidates_whose_names_clash_are_refused(tmp_path: Path):
    space = tmp_path / "space.yaml"
    space.write_text(
        "name: s\n"
        "candidates:\n"
        "  c: {block: conv, kernel: [3, 5]}\n"
        "  c_k3: {block: conv, kernel: 3}\n"
        "stages:\n"
        "  - {resolution: 8, in: 8, out: 8, stride: 1, repeat: 1}\n"
    )
    result = topsim("lut", str(space), "--chip", "toy")
    assert result.exit_code == 2, result.output
    assert "both make a candidate named 'c_k3'" in result.output


def test_build_takes_parameters_by_name():
    with pytest.raises(InputError, match="by name"):
        workloads.build("mlp", 5)


def test_a_choice_parameter_keeps_its_type():
    refused("run", "resnet", "--chip", "toy", "--param", "depth=50.0", says="one of 18, 34")
    assert (
        topsim("run", "shufflenet-v2", "--chip", "toy", "--param", "scale=1", "-q").exit_code == 0
    )
