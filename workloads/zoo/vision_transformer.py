"""Vision Transformer, ViT-B/16 and ViT-L/16 (Dosovitskiy et al. 2021, "An Image is Worth
16x16 Words"), as torchvision's `vit_b_16` / `vit_l_16`.

The image is cut into 16x16 patches by a 16x16/16 conv with bias (the patch projection),
flattened to [B, patches, H] tokens; a learned class token is prepended and learned
position embeddings added; then pre-norm encoder blocks (the same blocks as the
transformer zoo: layernorm, multi-head self-attention, GELU MLP, biases everywhere), a
final layernorm, and a linear head on the class token alone.

Modelling choices: the class token, a const [1, 1, H], is copied to each image of the
batch by a `custom` op of no arithmetic; the head reads the class token through a split
of the sequence.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

from workloads.builder import GraphBuilder
from workloads.graph import Graph
from workloads.zoo.llm_configs import TransformerConfig
from workloads.zoo.transformer import block, default_vector_dtype

PATCH = 16
# Dosovitskiy et al. 2021, Table 1: layers, hidden size D, MLP size, heads (86M / 307M)
VIT_SIZES: dict[str, tuple[int, int, int, int]] = {
    "b16": (12, 768, 3072, 12),
    "l16": (24, 1024, 4096, 16),
}


def vit(
    batch: int = 1,
    resolution: int = 224,
    dtype: str = "fp16",
    variant: Literal["b16", "l16"] = "b16",
) -> Graph:
    """ViT-`variant` at `resolution` (a multiple of 16): at 224x224, ViT-B/16 17.6 G MACs
    and 86 M params, ViT-L/16 61.6 G MACs and 304 M params. dtype=int8 keeps norms and
    GELU in fp16, as in the transformers."""
    layers, hidden, mlp, heads = VIT_SIZES[variant]
    patches = (resolution // PATCH) ** 2
    config = TransformerConfig(
        name=f"vit-{variant}",
        layers=layers,
        hidden=hidden,
        heads=heads,
        kv_heads=heads,
        ffn=mlp,
        vocab=1000,
        max_positions=patches + 1,
        decoder=False,
    )
    b = GraphBuilder(config.name, dtype, default_vector_dtype(dtype))
    image = b.input("image", (batch, 3, resolution, resolution))
    x = b.conv2d(image, hidden, kernel=PATCH, stride=PATCH, bias=True, name="conv_proj")
    x = b.op("reshape", [x], name="conv_proj.flatten", shape=[batch, hidden, patches])
    x = b.op("transpose", [x], name="conv_proj.transpose", perm=[0, 2, 1])
    cls = b.const("class_token", (1, 1, hidden))
    cls = b.op(
        "custom",
        [cls],
        name="class_token.expand",
        out_shapes=[[batch, 1, hidden]],
        flops=0,
        op_class="vector",
    )
    x = b.op("concat", [cls, x], name="encoder.concat_class", axis=1)
    x = b.add(x, b.const("encoder.pos_embedding", (1, patches + 1, hidden)), name="encoder.add_pos")
    for i in range(layers):
        x = block(b, config, x, f"encoder.layers.{i}", 0, dtype, dtype)
    x = b.layernorm(x, name="encoder.ln")
    cls_out, _ = b.op("split", [x], name="class_token.select", axis=1, sizes=[1, patches])
    cls_out = b.op("reshape", [cls_out], name="class_token.flatten", shape=[batch, hidden])
    return b.build(outputs=[b.linear(cls_out, 1000, name="heads.head")])


# name -> builder: `workloads.registry` reads this table; nothing here imports the registry
BUILDERS: dict[str, Callable[..., Graph]] = {"vit": vit}
