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

import json
import os
from collections.abc import Mapping
from typing import Any

from hardware.errors import InputError
from hardware.files import read_text, user_path
from hardware.origin import Origin, file_sha256, record
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
    except json.JSONDecodeError:
        return False


def hf_transformer_config(data: Mapping[str, Any], source: str) -> TransformerConfig:
    """The TransformerConfig a Hugging Face config describes."""
    family = data.get("model_type")
    if family not in FAMILIES:
        raise InputError(
            f"{source}: model_type {family!r} is not a decoder-only family topsim reads; "
            f"supported: {', '.join(FAMILIES)}."
        )
    missing = [key for key in REQUIRED if key not in data]
    if missing:
        raise InputError(f"{source}: a {family} config needs {', '.join(missing)}.")
    norm, activation, gated, bias, tied = FAMILIES[family]
    experts_per_token = data.get("num_experts_per_tok", 1) if "num_local_experts" in data else 1
    ffn = data["intermediate_size"]
    if isinstance(ffn, int) and isinstance(experts_per_token, int):
        ffn *= experts_per_token
    name = data.get("_name_or_path") or os.path.basename(os.path.dirname(source)) or family
    return TransformerConfig(
        name=str(name),
        layers=data["num_hidden_layers"],
        hidden=data["hidden_size"],
        heads=data["num_attention_heads"],
        kv_heads=data.get("num_key_value_heads") or data["num_attention_heads"],
        ffn=ffn,
        vocab=data["vocab_size"],
        max_positions=data["max_position_embeddings"],
        norm=norm,
        activation=activation,
        gated=gated,
        learned_positions=False,
        bias=bias,
        tied_head=bool(data.get("tie_word_embeddings", tied)),
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
) -> Graph:
    """A prefill of `seq` tokens (or one decode step after `kv` cached tokens) of the
    model a Hugging Face `config.json` (a path, or the parsed mapping) describes; the
    compute dtype defaults to the config's torch_dtype."""
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
        origin = Origin(kind="file", name=source, sha256=file_sha256(path))
    if not is_hf_config(data):
        raise InputError(f"{source}: not a Hugging Face model config (no 'model_type').")
    shape = hf_transformer_config(data, source)
    chosen = dtype or TORCH_DTYPES.get(str(data.get("torch_dtype")), "fp16")
    graph = transformer(shape, dtype=chosen, **params)
    if origin is not None:
        given = {k: v for k, v in params.items() if v is not None}
        record(graph, origin.model_copy(update={"parameters": {**given, "dtype": chosen}}))
    return graph
