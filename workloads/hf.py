"""Decoder-only LLMs from a Hugging Face `config.json`, built by the transformer builder.

`from_hf_config("config.json", seq=2048)` reads the shape fields of the file a model card
ships and stamps out the same block stack as the built-in Llama builders
(workloads/zoo/transformer.py). Families and what each implies:

- `llama`, `mistral`, `qwen2`, `mixtral`: RMSNorm, SiLU-gated FFN, rotary positions, no
  linear biases (Qwen2's q/k/v biases, a few thousand parameters, are not modelled).
- `gpt_neox`: LayerNorm, GELU FFN (not gated), rotary positions, linear biases; its
  parallel residual and partial rotary (`rotary_pct`) do not change the work counted.
- `mixtral` (and any config with `num_local_experts`): a token runs through
  `num_experts_per_tok` experts, so its FFN is modelled as one dense FFN that wide
  (intermediate_size x experts per token). That is the work and the activation traffic of
  a token; the weights of the experts a token skips, and the router, are not counted.

Fields read: hidden_size, intermediate_size, num_hidden_layers, num_attention_heads,
num_key_value_heads (default: num_attention_heads), vocab_size, max_position_embeddings,
tie_word_embeddings, torch_dtype (the default compute dtype), num_local_experts and
num_experts_per_tok. Anything else in the file is ignored.
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError

from hardware.errors import InputError, explain_validation
from hardware.files import read_text, user_path
from hardware.origin import Origin, file_sha256, record
from hardware.quantity import check_flag, check_name
from workloads.graph import Graph
from workloads.zoo.transformer import TransformerConfig, transformer

# model_type -> (norm, activation, gated, bias, tied head by default)
FAMILIES: dict[str, tuple[str, str, bool, bool, bool]] = {
    "llama": ("rmsnorm", "silu", True, False, False),
    "mistral": ("rmsnorm", "silu", True, False, False),
    "qwen2": ("rmsnorm", "silu", True, False, False),
    "mixtral": ("rmsnorm", "silu", True, False, False),
    "gpt_neox": ("layernorm", "gelu", False, True, False),
}
TORCH_DTYPES = {"bfloat16": "bf16", "float16": "fp16", "float32": "fp32", "float": "fp32"}
REQUIRED = (
    "hidden_size",
    "intermediate_size",
    "num_hidden_layers",
    "num_attention_heads",
    "vocab_size",
    "max_position_embeddings",
)
DEFAULT_SEQ = 512  # as the built-in Llama builders
# bounds on the fields read: far beyond any published model, far below what hangs
FIELD_BOUNDS: dict[str, tuple[int, int]] = {
    "hidden_size": (1, 1 << 17),
    "intermediate_size": (1, 1 << 20),
    "num_hidden_layers": (1, 1_000),
    "num_attention_heads": (1, 1 << 12),
    "num_key_value_heads": (1, 1 << 12),
    "vocab_size": (1, 1 << 22),
    "max_position_embeddings": (1, 1 << 24),
    "num_local_experts": (1, 1 << 10),
    "num_experts_per_tok": (1, 1 << 10),
}
# what `from_hf_config` takes besides the config (a Result records these)
PARAMETERS = ("batch", "seq", "dtype", "mode", "kv", "weight_dtype", "kv_dtype", "max_positions")
CALL_BOUNDS: dict[str, tuple[int, int]] = {
    "batch": (1, 1 << 20),
    "seq": (1, 1 << 24),
    "kv": (0, 1 << 24),
    "max_positions": (1, 1 << 24),
}


def _int_field(data: Mapping[str, Any], key: str, source: str) -> int:
    """An integer field of the config within FIELD_BOUNDS (whole-number floats too)."""
    value = data[key]
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    low, high = FIELD_BOUNDS[key]
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise InputError(
            f"{source}: {key} must be a whole number from {low:,} to {high:,}, got "
            f"{json.dumps(value, default=str)[:60]}."
        )
    return value


def _check_call(source: str, **values: int | None) -> None:
    for key, value in values.items():
        if value is None:
            continue
        low, high = CALL_BOUNDS[key]
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise InputError(
                f"{source}: {key} must be a whole number from {low:,} to {high:,}, got {value!r}."
            )


def is_hf_config(data: object) -> bool:
    """Whether a parsed mapping is a Hugging Face model config (not a topsim graph)."""
    return isinstance(data, Mapping) and "model_type" in data and "ops" not in data


def is_hf_config_file(path: str | os.PathLike) -> bool:
    """Whether `path` is a .json file holding a Hugging Face model config."""
    p = user_path(path, "workload file")
    if p.suffix.lower() != ".json" or not p.is_file():
        return False
    try:
        return is_hf_config(json.loads(read_text(p, "Hugging Face config")))
    except (json.JSONDecodeError, RecursionError):  # the graph loader reports what is wrong
        return False


def hf_transformer_config(data: Mapping[str, Any], source: str) -> TransformerConfig:
    """The TransformerConfig a Hugging Face config describes."""
    family = data.get("model_type")
    if not isinstance(family, str) or family not in FAMILIES:
        raise InputError(
            f"{source}: model_type {json.dumps(family, default=str)[:60]} is not a decoder-only "
            f"family topsim reads; supported: {', '.join(FAMILIES)}."
        )
    missing = [key for key in REQUIRED if key not in data]
    if missing:
        raise InputError(f"{source}: a {family} config needs {', '.join(missing)}.")
    norm, activation, gated, bias, tied = FAMILIES[family]
    shape = {key: _int_field(data, key, source) for key in REQUIRED}
    heads = shape["num_attention_heads"]
    kv_heads = (
        _int_field(data, "num_key_value_heads", source) if "num_key_value_heads" in data else heads
    )
    if heads % kv_heads:
        raise InputError(
            f"{source}: num_key_value_heads ({kv_heads}) must divide num_attention_heads ({heads})."
        )
    ffn = shape["intermediate_size"]
    if "num_local_experts" in data:
        experts = _int_field(data, "num_local_experts", source)
        per_token = (
            _int_field(data, "num_experts_per_tok", source) if "num_experts_per_tok" in data else 1
        )
        if per_token > experts:
            raise InputError(
                f"{source}: num_experts_per_tok ({per_token}) exceeds num_local_experts "
                f"({experts})."
            )
        ffn *= per_token
    try:
        tie = check_flag(data.get("tie_word_embeddings", tied))
    except ValueError as err:
        raise InputError(f"{source}: tie_word_embeddings {err}.") from None
    name = data.get("_name_or_path") or os.path.basename(os.path.dirname(source)) or family
    try:
        name = check_name(str(name), "_name_or_path")
    except ValueError as err:
        raise InputError(f"{source}: {err}.") from None
    return TransformerConfig(
        name=name,
        layers=shape["num_hidden_layers"],
        hidden=shape["hidden_size"],
        heads=heads,
        kv_heads=kv_heads,
        ffn=ffn,
        vocab=shape["vocab_size"],
        max_positions=shape["max_position_embeddings"],
        norm=norm,
        activation=activation,
        gated=gated,
        learned_positions=False,
        bias=bias,
        tied_head=tie,
    )


def from_hf_config(
    config: str | os.PathLike | Mapping[str, Any],
    *,
    batch: int = 1,
    seq: int = DEFAULT_SEQ,
    dtype: str | None = None,
    mode: str = "prefill",
    kv: int = 0,
    weight_dtype: str | None = None,
    kv_dtype: str | None = None,
    max_positions: int | None = None,
) -> Graph:
    """A prefill of `seq` tokens (or one decode step after `kv` cached tokens) of the
    model a Hugging Face `config.json` (a path, or the parsed mapping) describes; the
    compute dtype defaults to the config's torch_dtype; `max_positions` overrides the
    config's context (RoPE scaling)."""
    _check_call("Hugging Face config", batch=batch, seq=seq, kv=kv, max_positions=max_positions)
    params = {"batch": batch, "seq": seq, "mode": mode, "kv": kv}
    params |= {"weight_dtype": weight_dtype, "kv_dtype": kv_dtype}
    if isinstance(config, Mapping):
        data, source, origin = config, "Hugging Face config", None
    else:
        path = user_path(config, "Hugging Face config.json")
        source = str(path)
        try:
            data = json.loads(read_text(path, "Hugging Face config"))
        except json.JSONDecodeError as err:
            raise InputError(f"{source}: not valid JSON ({err.msg}, line {err.lineno}).") from None
        except RecursionError:
            raise InputError(f"{source}: nested too deeply to be a model config.") from None
        origin = Origin(kind="file", name=source, sha256=file_sha256(path))
    if not is_hf_config(data):
        raise InputError(f"{source}: not a Hugging Face model config (no 'model_type').")
    shape = hf_transformer_config(data, source)
    if max_positions is not None:
        shape = dataclasses.replace(shape, max_positions=max_positions)
    torch_dtype = data.get("torch_dtype", "float16")
    if dtype is None and (not isinstance(torch_dtype, str) or torch_dtype not in TORCH_DTYPES):
        raise InputError(
            f"{source}: torch_dtype {json.dumps(torch_dtype, default=str)[:40]} is not one of "
            f"{', '.join(TORCH_DTYPES)}; give --dtype to choose the compute dtype."
        )
    chosen = dtype or TORCH_DTYPES[torch_dtype]
    try:
        graph = transformer(shape, dtype=chosen, **params)
    except ValidationError as err:
        raise explain_validation(err, f"{source} (the model built from it)", None) from None
    if origin is not None:
        given = {k: v for k, v in params.items() if v is not None}
        if max_positions is not None:
            given["max_positions"] = max_positions
        record(graph, origin.model_copy(update={"parameters": {**given, "dtype": chosen}}))
    return graph
