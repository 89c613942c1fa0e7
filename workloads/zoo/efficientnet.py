"""EfficientNet B0..B3 (Tan & Le 2019, "EfficientNet: Rethinking Model Scaling for
Convolutional Neural Networks"), layer for layer as in torchvision's `efficientnet_b*`.

B0 is the paper's Table 1: a 3x3 stem, seven stages of MBConv blocks (inverted residuals
with squeeze-and-excitation and swish), a 1x1 head conv to 1280 channels, pooling and a
1000-way classifier. B1..B3 scale it by compound scaling (Section 3.3): channels x width
(rounded to multiples of 8, as MobileNetV2), repeats x depth (rounded up), and a larger
input resolution. The coefficients are those of the authors' reference implementation
(tensorflow/tpu, `efficientnet_builder.efficientnet_params`).

Squeeze-and-excitation: global average pool, 1x1 conv (with bias) to a quarter of the
block's input channels, swish, 1x1 conv (with bias) back, sigmoid, and a broadcast
multiply with the block's features. Dropout and drop-connect are training-only: absent.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Literal

from workloads.builder import GraphBuilder
from workloads.graph import Graph
from workloads.zoo.cnn import classifier_head, conv_bn, round_channels

# (expansion, kernel, first stride, output channels, repeats) of B0, Tan & Le 2019, Table 1
EFFICIENTNET_B0_STAGES = [
    (1, 3, 1, 16, 1),
    (6, 3, 2, 24, 2),
    (6, 5, 2, 40, 2),
    (6, 3, 2, 80, 3),
    (6, 5, 1, 112, 3),
    (6, 5, 2, 192, 4),
    (6, 3, 1, 320, 1),
]
# variant -> (width coefficient, depth coefficient, resolution), reference implementation
EFFICIENTNET_SCALING: dict[str, tuple[float, float, int]] = {
    "b0": (1.0, 1.0, 224),
    "b1": (1.0, 1.1, 240),
    "b2": (1.1, 1.2, 260),
    "b3": (1.2, 1.4, 300),
}
SE_RATIO = 0.25  # squeeze channels per block input channel


def squeeze_excite(b: GraphBuilder, x: str, squeeze: int, prefix: str) -> str:
    """Channel attention: x * sigmoid(expand(swish(reduce(avgpool(x)))))."""
    channels = b.shape(x)[1]
    s = b.op("global_avgpool", [x], name=f"{prefix}.avgpool")
    s = b.conv2d(s, squeeze, kernel=1, bias=True, name=f"{prefix}.fc1")
    s = b.unary("silu", s, name=f"{prefix}.activation")
    s = b.conv2d(s, channels, kernel=1, bias=True, name=f"{prefix}.fc2")
    s = b.unary("sigmoid", s, name=f"{prefix}.scale_activation")
    return b.op("mul", [x, s], name=f"{prefix}.scale")


def mbconv(
    b: GraphBuilder,
    x: str,
    expansion: int,
    kernel: int,
    stride: int,
    out_channels: int,
    prefix: str,
) -> str:
    """MBConv: 1x1 expand + swish (when expansion > 1), kxk depthwise/stride + swish,
    squeeze-and-excitation, 1x1 linear projection; residual when the shape is kept."""
    in_channels = b.shape(x)[1]
    hidden = in_channels * expansion
    y, layer = x, 0
    if expansion != 1:
        y = conv_bn(
            b, y, hidden, 1, f"{prefix}.0.0", f"{prefix}.0.1", act=f"{prefix}.0.2", act_kind="silu"
        )
        layer = 1
    y = conv_bn(
        b,
        y,
        hidden,
        kernel,
        f"{prefix}.{layer}.0",
        f"{prefix}.{layer}.1",
        stride=stride,
        groups=hidden,
        act=f"{prefix}.{layer}.2",
        act_kind="silu",
    )
    y = squeeze_excite(b, y, max(1, int(in_channels * SE_RATIO)), f"{prefix}.{layer + 1}")
    y = conv_bn(b, y, out_channels, 1, f"{prefix}.{layer + 2}.0", f"{prefix}.{layer + 2}.1")
    if stride == 1 and in_channels == out_channels:
        y = b.add(x, y, name=f"{prefix}.add")
    return y


def efficientnet(
    batch: int = 1,
    resolution: int | None = None,
    dtype: str = "fp16",
    variant: Literal["b0", "b1", "b2", "b3"] = "b0",
) -> Graph:
    """EfficientNet-`variant` at its own resolution (224 / 240 / 260 / 300) unless one is
    given: 0.39 / 0.70 / 1.0 / 1.8 G MACs and 5.3 / 7.8 / 9.2 / 12 M params (Tan & Le
    2019, Table 2)."""
    width, depth, native = EFFICIENTNET_SCALING[variant]
    resolution = resolution or native
    b = GraphBuilder(f"efficientnet-{variant}", dtype)
    x = b.input("image", (batch, 3, resolution, resolution))
    x = conv_bn(
        b,
        x,
        round_channels(32 * width),
        3,
        "features.0.0",
        "features.0.1",
        stride=2,
        act="features.0.2",
        act_kind="silu",
    )
    for stage, (expansion, kernel, stride, channels, repeats) in enumerate(
        EFFICIENTNET_B0_STAGES, start=1
    ):
        for index in range(math.ceil(repeats * depth)):
            x = mbconv(
                b,
                x,
                expansion,
                kernel,
                stride if index == 0 else 1,
                round_channels(channels * width),
                f"features.{stage}.{index}.block",
            )
    last = len(EFFICIENTNET_B0_STAGES) + 1
    x = conv_bn(
        b,
        x,
        round_channels(1280 * width),
        1,
        f"features.{last}.0",
        f"features.{last}.1",
        act=f"features.{last}.2",
        act_kind="silu",
    )
    classifier_head(b, x, 1000, "classifier.1")
    return b.build()


# name -> builder: `workloads.registry` reads this table; nothing here imports the registry
BUILDERS: dict[str, Callable[..., Graph]] = {"efficientnet": efficientnet}
