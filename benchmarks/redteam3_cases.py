"""The third red-team round's cases: inputs a hostile user would try, none from tests/corpus.

Each case is a command line (or a Python snippet) and the files it needs, written into a
fresh folder when the case runs (nothing here is committed data). `protect` names files
the case must leave byte for byte as they were. Run them with benchmarks/redteam3.py.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import yaml

Files = dict[str, "bytes | str | Callable[[Path], None]"]


@dataclass
class Case:
    name: str
    category: str
    args: list[str]  # after `topsim`; or ["--python", code]
    files: Files = field(default_factory=dict)
    protect: list[str] = field(default_factory=list)


def dump(data: object) -> str:
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True)


TOY_UNIT = {"instances": 4, "rates": {"matrix": {"fp16": 64}}, "supports": ["*"]}


def chip(**changes: object) -> dict:
    """A small chip file's mapping, based on the toy preset, with `changes` merged in."""
    return {"name": "rt", "base": "toy", "hypothetical": True, **changes}


def chip_cases() -> list[Case]:
    cases: list[Case] = []

    def add(name: str, text: str, *extra: str) -> None:
        case = Case(f"chip-{name}", "chip", ["run", "mlp", "--chip", "c.yaml", "-q", *extra])
        case.files, case.protect = {"c.yaml": text}, ["c.yaml"]
        cases.append(case)

    add("base-self", dump(chip(base="c.yaml")))
    add("base-cycle", dump(chip(base="d.yaml")))
    add("base-no-hypothetical", dump({"name": "x", "base": "toy"}))
    add("base-missing", dump(chip(base="no-such-chip")))
    add("base-list", dump(chip(base=["toy", "h100-sxm"])))
    add("base-dir", dump(chip(base=".")))
    add("base-dev-zero", dump(chip(base="/dev/zero")))
    add("base-int", dump(chip(base=7)))
    add("base-empty", dump(chip(base="")))
    add("base-url", dump(chip(base="https://example.com/chip.yaml")))
    add("base-graph-file", dump(chip(base="g.yaml")))
    add("base-h100-units-null", dump(chip(base="h100-sxm", units=None)))
    add("base-h100-unit-null", dump(chip(base="h100-sxm", units={"sm": None})))
    add("base-toy-memory-str", dump(chip(memory="lots")))
    add("base-toy-clock-list", dump(chip(clock=[1, 2])))
    add("base-toy-dvfs-empty-map", dump(chip(clock={"dvfs": {}})))
    add("base-toy-dvfs-dup", dump(chip(clock={"dvfs": [{"frequency": "1 GHz", "voltage": 1}] * 3})))
    add(
        "base-toy-dvfs-voltage-neg",
        dump(chip(clock={"dvfs": [{"frequency": "1 GHz", "voltage": -1}]})),
    )
    add(
        "base-toy-dvfs-voltage-nan",
        dump(chip(clock={"dvfs": [{"frequency": "1 GHz", "voltage": ".nan"}]})),
    )
    add(
        "base-toy-dvfs-voltage-big",
        dump(chip(clock={"dvfs": [{"frequency": "1 GHz", "voltage": 1e300}]})),
    )
    for value in (
        "1e3 PB/s",
        "1 EB/s",
        "-5 GB/s",
        "nan GB/s",
        "inf TB/s",
        "0x10 GB/s",
        "1_000 GB/s",
        "3.35TBps",
        "\uff11 GB/s",
        "1 GB/s extra",
        "1 GB / s",
        "1e-300 B/s",
        "1 Gib/s",
        "1 GiB/s/s",
        "1.0.0 GB/s",
        "",
        " ",
        "GB/s",
    ):
        add(f"dram-bw-{value!r}", dump(chip(memory={"dram": {"bandwidth": value}})))
    add("dram-bw-bool-string", dump(chip(memory={"dram": {"bandwidth": "true"}})))
    add("capacity-zero", dump(chip(memory={"dram": {"capacity": "0 B"}})))
    add("capacity-tiny", dump(chip(memory={"dram": {"capacity": "1 B"}})))
    add("l2-bigger-than-dram", dump(chip(memory={"l2": {"capacity": "2 GiB"}})))
    add("l2-policy-int", dump(chip(memory={"l2": {"policy": 3}})))
    add("instances-2-41", dump(chip(units={"mxu": {"instances": 2**41}})))
    add("instances-float", dump(chip(units={"mxu": {"instances": 4.5}})))
    add("instances-str-num", dump(chip(units={"mxu": {"instances": "4"}})))
    add("rate-1e12", dump(chip(units={"mxu": {"rates": {"matrix": {"fp16": 1e12}}}})))
    add("rate-list", dump(chip(units={"mxu": {"rates": {"matrix": [64]}}})))
    add("rate-op-class-typo", dump(chip(units={"mxu": {"rates": {"matrx": {"fp16": 64}}}})))
    add("tile-zero", dump(chip(units={"mxu": {"tile": [0, 4, 4]}})))
    add("tile-floats", dump(chip(units={"mxu": {"tile": [4.0, 4.0, 4.0]}})))
    add("tile-huge", dump(chip(units={"mxu": {"tile": [2**40, 2**40, 2**40]}})))
    add("blocks-empty", dump(chip(units={"mxu": {"blocks": []}})))
    add("blocks-huge", dump(chip(units={"mxu": {"blocks": [[2**40, 2**40]]}})))
    add("vector-block-float", dump(chip(units={"mxu": {"vector_block": 1.5}})))
    add("efficiency-above-one", dump(chip(units={"mxu": {"efficiency": {"matrix": 1.5}}})))
    add("efficiency-string", dump(chip(units={"mxu": {"efficiency": {"matrix": "90%"}}})))
    add("peak-no-string", dump(chip(units={"mxu": {"peak": "no"}})))
    add("host-int", dump(chip(units={"mxu": {"host": 1}})))
    add("hypothetical-yes-string", dump(chip(hypothetical="yes")))
    add("hypothetical-null", dump(chip(hypothetical=None)))
    add("all-units-host", dump(chip(units={"mxu": {"host": True}})))
    add("unit-name-markup", dump(chip(units={"[bold red]x[/]": TOY_UNIT})))
    add("unit-name-mathtext", dump(chip(units={"$\\frac{1}{0}$": TOY_UNIT})))
    add("unit-name-rtl", dump(chip(units={"\u202emxu": TOY_UNIT})))
    add("unit-name-empty", dump(chip(units={"": TOY_UNIT})))
    add("name-emoji", dump(chip(name="chip \U0001f525")))
    add("name-slash", dump(chip(name="../../etc/passwd")))
    add("name-int", dump(chip(name=12345)))
    add("description-bytes", "name: rt\nbase: toy\ndescription: !!binary aGVsbG8=\n")
    add("sources-list", dump(chip(sources=["a", "b"])))
    add("default-dtype-bad", dump(chip(default_dtype="fp7")))
    add("power-cap-below-static", dump(chip(thermal={"power_cap": "0.5 W"})))
    add("power-cap-1nW", dump(chip(thermal={"power_cap": "1 nW"})))
    add("thermal-resistance-inf", dump(chip(thermal={"resistance": ".inf"})))
    add("thermal-ambient-absolute-zero", dump(chip(thermal={"ambient": "-300 C"})))
    add("energy-per-mac-huge", dump(chip(thermal={"energy_per_mac": {"fp16": "1e300 J"}})))
    add("launch-queue-zero", dump(chip(launch={"queue_depth": 0})))
    add("launch-graph-launch-str", dump(chip(launch={"graph_launch": "false"})))
    add("host-link-zero", dump(chip(host_link={"bandwidth": "0 B/s"})))
    add("input-source-kind-bad", dump(chip(input_source={"kind": "tape"})))
    add("yaml-anchor-merge", "name: rt\nbase: toy\nx: &a {a: 1}\nmemory: {<<: *a}\n")
    add("json-chip-nan-literal", '{"name": "rt", "base": "toy", "clock": {"nominal": NaN}}')
    add("chip-10k-units", dump(chip(units={f"u{i}": TOY_UNIT for i in range(5000)})))
    add(
        "chip-deep-dvfs",
        dump(
            chip(
                clock={"dvfs": [{"frequency": f"{1000 - i} MHz", "voltage": 1} for i in range(999)]}
            )
        ),
    )
    for case in cases:
        case.files["g.yaml"] = GRAPH_OK
        case.files["d.yaml"] = dump(chip(base="c.yaml"))
    return cases


GRAPH_OK = dump(
    {
        "name": "g",
        "tensors": {
            "x": {"shape": [4, 8]},
            "w": {"shape": [8, 8], "const": True},
            "y": {"shape": [4, 8]},
        },
        "inputs": ["x"],
        "ops": [{"name": "mm", "kind": "matmul", "inputs": ["x", "w"], "outputs": ["y"]}],
    }
)


def graph(tensors: dict, ops: list, **more: object) -> dict:
    return {"name": "g", "tensors": tensors, "ops": ops, **more}


def graph_cases() -> list[Case]:
    cases: list[Case] = []

    def add(name: str, data: object, suffix: str = "yaml", *, raw: str | None = None) -> None:
        text = raw if raw is not None else dump(data) if suffix == "yaml" else json.dumps(data)
        case = Case(f"graph-{name}", "graph", ["run", f"g.{suffix}", "--chip", "toy", "-q"])
        case.files, case.protect = {f"g.{suffix}": text}, [f"g.{suffix}"]
        cases.append(case)

    x = {"x": {"shape": [2, 8]}}
    add(
        "relu-in-place",
        graph(x, [{"name": "r", "kind": "relu", "inputs": ["x"], "outputs": ["x"]}]),
    )
    add(
        "two-ops-one-name-diff-case",
        graph(
            {**x, "y": {"shape": [2, 8]}, "z": {"shape": [2, 8]}},
            [
                {"name": "r", "kind": "relu", "inputs": ["x"], "outputs": ["y"]},
                {"name": "R", "kind": "relu", "inputs": ["y"], "outputs": ["z"]},
            ],
            inputs=["x"],
        ),
    )
    add(
        "attention-causal-yes",
        graph(
            {
                "q": {"shape": [1, 2, 4, 8]},
                "k": {"shape": [1, 2, 4, 8]},
                "o": {"shape": [1, 2, 4, 8]},
            },
            [
                {
                    "name": "a",
                    "kind": "attention",
                    "inputs": ["q", "k", "k"],
                    "outputs": ["o"],
                    "attrs": {"causal": "yes"},
                }
            ],
            inputs=["q", "k"],
        ),
    )
    add(
        "custom-accelerated-int",
        graph(
            {**x, "y": {"shape": [2, 8]}},
            [
                {
                    "name": "c",
                    "kind": "custom",
                    "inputs": ["x"],
                    "outputs": ["y"],
                    "attrs": {"out_shapes": [[2, 8]], "accelerated": 0},
                }
            ],
            inputs=["x"],
        ),
    )
    add(
        "const-yes-string",
        graph(
            {"x": {"shape": [2, 8], "const": "yes"}, "y": {"shape": [2, 8]}},
            [{"name": "r", "kind": "relu", "inputs": ["x"], "outputs": ["y"]}],
        ),
    )
    add(
        "conv-stride-bools",
        graph(
            {
                "x": {"shape": [1, 3, 8, 8]},
                "w": {"shape": [4, 3, 3, 3], "const": True},
                "y": {"shape": [1, 4, 6, 6]},
            },
            [
                {
                    "name": "c",
                    "kind": "conv2d",
                    "inputs": ["x", "w"],
                    "outputs": ["y"],
                    "attrs": {"stride": [True, True]},
                }
            ],
            inputs=["x"],
        ),
    )
    add(
        "conv-padding-negative",
        graph(
            {
                "x": {"shape": [1, 3, 8, 8]},
                "w": {"shape": [4, 3, 3, 3], "const": True},
                "y": {"shape": [1, 4, 4, 4]},
            },
            [
                {
                    "name": "c",
                    "kind": "conv2d",
                    "inputs": ["x", "w"],
                    "outputs": ["y"],
                    "attrs": {"padding": -1},
                }
            ],
            inputs=["x"],
        ),
    )
    add(
        "conv-dilation-huge",
        graph(
            {
                "x": {"shape": [1, 3, 8, 8]},
                "w": {"shape": [4, 3, 3, 3], "const": True},
                "y": {"shape": [1, 4, 6, 6]},
            },
            [
                {
                    "name": "c",
                    "kind": "conv2d",
                    "inputs": ["x", "w"],
                    "outputs": ["y"],
                    "attrs": {"dilation": 2**62},
                }
            ],
            inputs=["x"],
        ),
    )
    add(
        "concat-5000-inputs",
        graph(
            {**x, "y": {"shape": [10000, 8]}},
            [
                {
                    "name": "c",
                    "kind": "concat",
                    "inputs": ["x"] * 5000,
                    "outputs": ["y"],
                    "attrs": {"axis": 0},
                }
            ],
            inputs=["x"],
        ),
        "json",
    )
    add(
        "split-sizes-negative",
        graph(
            {**x, "a": {"shape": [3, 8]}, "b": {"shape": [-1, 8]}},
            [
                {
                    "name": "s",
                    "kind": "split",
                    "inputs": ["x"],
                    "outputs": ["a", "b"],
                    "attrs": {"axis": 0, "sizes": [3, -1]},
                }
            ],
            inputs=["x"],
        ),
    )
    add(
        "reshape-minus-one-twice",
        graph(
            {**x, "y": {"shape": [16]}},
            [
                {
                    "name": "r",
                    "kind": "reshape",
                    "inputs": ["x"],
                    "outputs": ["y"],
                    "attrs": {"shape": [-1, -1]},
                }
            ],
            inputs=["x"],
        ),
    )
    add(
        "transpose-perm-dup",
        graph(
            {**x, "y": {"shape": [8, 2]}},
            [
                {
                    "name": "t",
                    "kind": "transpose",
                    "inputs": ["x"],
                    "outputs": ["y"],
                    "attrs": {"perm": [0, 0]},
                }
            ],
            inputs=["x"],
        ),
    )
    add(
        "softmax-axis-huge",
        graph(
            {**x, "y": {"shape": [2, 8]}},
            [
                {
                    "name": "s",
                    "kind": "softmax",
                    "inputs": ["x"],
                    "outputs": ["y"],
                    "attrs": {"axis": 10**30},
                }
            ],
            inputs=["x"],
        ),
    )
    add(
        "int4-odd-numel",
        graph(
            {"x": {"shape": [3], "dtype": "int4"}, "y": {"shape": [3], "dtype": "int4"}},
            [{"name": "r", "kind": "relu", "inputs": ["x"], "outputs": ["y"]}],
            inputs=["x"],
        ),
    )
    add(
        "shape-2-49",
        graph(
            {"x": {"shape": [2**25, 2**24]}, "y": {"shape": [2**25, 2**24]}},
            [{"name": "r", "kind": "relu", "inputs": ["x"], "outputs": ["y"]}],
            inputs=["x"],
        ),
    )
    add(
        "shape-bool-dim",
        graph(
            {"x": {"shape": [True, 8]}, "y": {"shape": [1, 8]}},
            [{"name": "r", "kind": "relu", "inputs": ["x"], "outputs": ["y"]}],
            inputs=["x"],
        ),
    )
    add(
        "shape-string-dims",
        graph(
            {"x": {"shape": "2x8"}, "y": {"shape": [2, 8]}},
            [{"name": "r", "kind": "relu", "inputs": ["x"], "outputs": ["y"]}],
            inputs=["x"],
        ),
    )
    add(
        "shape-rank-5000",
        graph(
            {"x": {"shape": [1] * 5000}, "y": {"shape": [1] * 5000}},
            [{"name": "r", "kind": "relu", "inputs": ["x"], "outputs": ["y"]}],
            inputs=["x"],
        ),
        "json",
    )
    add(
        "attrs-list",
        graph(
            {**x, "y": {"shape": [2, 8]}},
            [{"name": "r", "kind": "relu", "inputs": ["x"], "outputs": ["y"], "attrs": [1]}],
            inputs=["x"],
        ),
    )
    add(
        "attr-dtype-int",
        graph(
            {**x, "y": {"shape": [2, 8]}},
            [
                {
                    "name": "r",
                    "kind": "relu",
                    "inputs": ["x"],
                    "outputs": ["y"],
                    "attrs": {"dtype": 16},
                }
            ],
            inputs=["x"],
        ),
    )
    add(
        "op-name-newline",
        graph(
            {**x, "y": {"shape": [2, 8]}},
            [{"name": "a\nb", "kind": "relu", "inputs": ["x"], "outputs": ["y"]}],
            inputs=["x"],
        ),
    )
    add(
        "op-name-markup",
        graph(
            {**x, "y": {"shape": [2, 8]}},
            [
                {
                    "name": "[link=file:///etc/passwd]x[/link]",
                    "kind": "relu",
                    "inputs": ["x"],
                    "outputs": ["y"],
                }
            ],
            inputs=["x"],
        ),
    )
    add(
        "tensor-name-zero-width",
        graph(
            {"x\u200b": {"shape": [2]}, "y": {"shape": [2]}},
            [{"name": "r", "kind": "relu", "inputs": ["x\u200b"], "outputs": ["y"]}],
            inputs=["x\u200b"],
        ),
    )
    add(
        "outputs-not-list",
        graph(
            {**x, "y": {"shape": [2, 8]}},
            [{"name": "r", "kind": "relu", "inputs": ["x"], "outputs": ["y"]}],
            inputs=["x"],
            outputs="y",
        ),
    )
    add(
        "inputs-dup",
        graph(
            {**x, "y": {"shape": [2, 8]}},
            [{"name": "r", "kind": "relu", "inputs": ["x"], "outputs": ["y"]}],
            inputs=["x", "x"],
        ),
    )
    add(
        "graph-input-is-output",
        graph(
            {**x, "y": {"shape": [2, 8]}},
            [{"name": "r", "kind": "relu", "inputs": ["x"], "outputs": ["y"]}],
            inputs=["x"],
            outputs=["x"],
        ),
    )
    add(
        "embedding-float-ids",
        graph(
            {
                "ids": {"shape": [1, 4], "dtype": "fp16"},
                "t": {"shape": [100, 8], "const": True},
                "y": {"shape": [1, 4, 8]},
            },
            [{"name": "e", "kind": "embedding", "inputs": ["t", "ids"], "outputs": ["y"]}],
            inputs=["ids"],
        ),
    )
    add(
        "custom-out-shapes-huge",
        graph(
            {**x, "y": {"shape": [2**25, 2**25]}},
            [
                {
                    "name": "c",
                    "kind": "custom",
                    "inputs": ["x"],
                    "outputs": ["y"],
                    "attrs": {"out_shapes": [[2**25, 2**25]], "macs": 2**64},
                }
            ],
            inputs=["x"],
        ),
    )
    add(
        "custom-op-class-bool",
        graph(
            {**x, "y": {"shape": [2, 8]}},
            [
                {
                    "name": "c",
                    "kind": "custom",
                    "inputs": ["x"],
                    "outputs": ["y"],
                    "attrs": {"out_shapes": [[2, 8]], "op_class": True},
                }
            ],
            inputs=["x"],
        ),
    )
    add("json-dup-keys", None, "json", raw='{"name": "g", "name": "h", "tensors": {}, "ops": []}')
    add("json-bom-utf16", None, "json", raw="\ufeff{}")
    add(
        "json-huge-float",
        None,
        "json",
        raw='{"name": "g", "tensors": {"x": {"shape": [1e400]}}, "ops": []}',
    )
    add(
        "json-neg-zero",
        None,
        "json",
        raw='{"name": "g", "tensors": {"x": {"shape": [-0]}}, "ops": []}',
    )
    add("yaml-timestamp-name", None, raw="name: 2024-01-01\ntensors: {}\nops: []\n")
    add("yaml-set-tag", None, raw="name: g\ntensors: !!set {a, b}\nops: []\n")
    add("yaml-omap", None, raw="name: g\ntensors: !!omap [{a: {shape: [1]}}]\nops: []\n")
    add("yaml-float-keys", None, raw="name: g\ntensors: {1.5: {shape: [1]}}\nops: []\n")
    add("yaml-many-docs", None, raw="name: g\n---\nname: h\n" * 1000)
    add(
        "yaml-300k-values",
        None,
        raw="name: g\ntensors: {}\nops: []\nx: [" + "1," * 300_000 + "1]\n",
    )

    def chain(n: int, suffix: str) -> None:
        tensors = {f"t{i}": {"shape": [1, 8]} for i in range(n + 1)}
        ops = [
            {"name": f"o{i}", "kind": "relu", "inputs": [f"t{i}"], "outputs": [f"t{i + 1}"]}
            for i in range(n)
        ]
        add(f"chain-{n}-{suffix}", graph(tensors, ops, inputs=["t0"]), suffix)

    chain(10_000, "json")
    chain(10_001, "json")
    chain(9_000, "yaml")
    chain(60_000, "json")
    wide = {"x": {"shape": [8, 64]}}
    ops = []
    for i in range(10_000):
        wide[f"w{i}"] = {"shape": [64, 64], "const": True}
        wide[f"y{i}"] = {"shape": [8, 64]}
        ops.append(
            {"name": f"m{i}", "kind": "matmul", "inputs": ["x", f"w{i}"], "outputs": [f"y{i}"]}
        )
    add("wide-10k-matmuls", graph(wide, ops, inputs=["x"]), "json")
    return cases


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


def hf_cases() -> list[Case]:
    cases: list[Case] = []
    changes = {
        "layers-1000": {"num_hidden_layers": 1000},
        "hidden-0": {"hidden_size": 0},
        "hidden-float": {"hidden_size": 256.0},
        "hidden-str": {"hidden_size": "256"},
        "hidden-bool": {"hidden_size": True},
        "heads-not-dividing": {"num_attention_heads": 3},
        "kv-heads-zero": {"num_key_value_heads": 0},
        "vocab-huge": {"vocab_size": 2**40},
        "ffn-huge": {"intermediate_size": 2**31},
        "dtype-int8": {"torch_dtype": "int8"},
        "dtype-null": {"torch_dtype": None},
        "max-pos-negative": {"max_position_embeddings": -1},
        "rope-scaling-weird": {"rope_scaling": {"type": "yarn", "factor": 1e308}},
        "experts-zero": {"num_local_experts": 0, "num_experts_per_tok": 0},
        "experts-per-tok-str": {"num_local_experts": 8, "num_experts_per_tok": "2"},
        "model-type-mixtral-no-experts": {"model_type": "mixtral"},
        "model-type-unknown": {"model_type": "llama9"},
        "model-type-int": {"model_type": 1},
        "tie-yes-string": {"tie_word_embeddings": "yes"},
        "tie-int": {"tie_word_embeddings": 1},
        "nested-text-config": {"text_config": LLAMA, "model_type": "llava"},
        "architectures-not-list": {"architectures": "LlamaForCausalLM"},
        "name-markup": {"_name_or_path": "[red]evil[/red]"},
        "head-dim-mismatch": {"head_dim": 7},
    }
    for name, change in changes.items():
        cases.append(
            Case(
                f"hf-{name}",
                "hf",
                ["run", "config.json", "--chip", "h100-sxm", "-q"],
                {"config.json": json.dumps({**LLAMA, **change})},
                ["config.json"],
            )
        )
    cases.append(
        Case(
            "hf-top-list",
            "hf",
            ["run", "config.json", "--chip", "toy", "-q"],
            {"config.json": json.dumps([LLAMA])},
            ["config.json"],
        )
    )
    cases.append(
        Case(
            "hf-seq-huge",
            "hf",
            ["run", "config.json", "--chip", "toy", "--seq", "1000000", "-q"],
            {"config.json": json.dumps(LLAMA)},
            ["config.json"],
        )
    )
    cases.append(
        Case(
            "hf-generate",
            "hf",
            [
                "run",
                "config.json",
                "--chip",
                "toy",
                "--mode",
                "generate",
                "--tokens",
                "100000",
                "-q",
            ],
            {"config.json": json.dumps(LLAMA)},
            ["config.json"],
        )
    )
    return cases
