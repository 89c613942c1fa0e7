"""Convolutional networks for image classification, layer for layer as in torchvision.

Tensors are NCHW; weights are const tensors; every conv has no bias and is followed by a
batchnorm (2 parameters per channel: scale and shift, inference folded form). Op names
follow the torchvision module paths (`layer2.0.conv1`, `features.3.conv.1.0`,
`stage3.0.branch2.3`) so a layer can be found in the reference model.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

from workloads.builder import GraphBuilder
from workloads.graph import Graph


def conv_bn(
    b: GraphBuilder,
    x: str,
    out_channels: int,
    kernel: int,
    conv: str,
    bn: str,
    stride: int = 1,
    groups: int = 1,
    act: str | None = None,
    act_kind: str = "relu",
) -> str:
    """Conv (no bias, 'same' padding for odd kernels) + batchnorm, then `act_kind` if
    `act` names the activation op."""
    y = b.conv2d(
        x, out_channels, kernel=kernel, stride=stride, padding=kernel // 2, groups=groups, name=conv
    )
    y = b.batchnorm(y, name=bn)
    return b.unary(act_kind, y, name=act) if act else y


def classifier_head(b: GraphBuilder, x: str, classes: int, fc: str) -> str:
    """Global average pool over H and W, flatten to [N, C], linear layer with bias."""
    x = b.op("global_avgpool", [x], name="avgpool")
    x = b.op("flatten", [x], name="flatten", axis=1)
    return b.linear(x, classes, name=fc)


# ResNet-50 -------------------------------------------------------------------------------


def bottleneck(b: GraphBuilder, x: str, width: int, stride: int, prefix: str) -> str:
    """ResNet v1.5 bottleneck: 1x1 (width) -> 3x3/stride (width) -> 1x1 (4 x width), with a
    1x1/stride conv + bn on the shortcut when the shape changes."""
    out_channels = 4 * width
    y = conv_bn(b, x, width, 1, f"{prefix}.conv1", f"{prefix}.bn1", act=f"{prefix}.relu1")
    y = conv_bn(
        b, y, width, 3, f"{prefix}.conv2", f"{prefix}.bn2", stride=stride, act=f"{prefix}.relu2"
    )
    y = conv_bn(b, y, out_channels, 1, f"{prefix}.conv3", f"{prefix}.bn3")
    return residual(b, x, y, stride, prefix, f"{prefix}.relu3")


def basic_block(b: GraphBuilder, x: str, width: int, stride: int, prefix: str) -> str:
    """ResNet basic block (18/34 layers): 3x3/stride -> 3x3, both `width` channels, with a
    1x1/stride conv + bn on the shortcut when the shape changes."""
    y = conv_bn(
        b, x, width, 3, f"{prefix}.conv1", f"{prefix}.bn1", stride=stride, act=f"{prefix}.relu1"
    )
    y = conv_bn(b, y, width, 3, f"{prefix}.conv2", f"{prefix}.bn2")
    return residual(b, x, y, stride, prefix, f"{prefix}.relu2")


def residual(b: GraphBuilder, x: str, y: str, stride: int, prefix: str, relu: str) -> str:
    """relu(y + shortcut): the shortcut is `x`, or a 1x1/stride conv + bn of it when the
    block changes the shape."""
    shortcut = x
    channels = b.shape(y)[1]
    if stride != 1 or b.shape(x)[1] != channels:
        shortcut = conv_bn(
            b, x, channels, 1, f"{prefix}.downsample.0", f"{prefix}.downsample.1", stride=stride
        )
    return b.relu(b.add(y, shortcut, name=f"{prefix}.add"), name=relu)


# depth -> (block, blocks per stage), He et al. 2016, Table 1
RESNET_LAYOUTS: dict[int, tuple[Callable[..., str], tuple[int, ...]]] = {
    18: (basic_block, (2, 2, 2, 2)),
    34: (basic_block, (3, 4, 6, 3)),
    50: (bottleneck, (3, 4, 6, 3)),
    101: (bottleneck, (3, 4, 23, 3)),
    152: (bottleneck, (3, 8, 36, 3)),
}


def resnet(
    batch: int = 1,
    resolution: int = 224,
    dtype: str = "fp16",
    depth: Literal[18, 34, 50, 101, 152] = 50,
) -> Graph:
    """torchvision ResNet-`depth` (v1.5: stride on the 3x3 conv of a bottleneck). At
    224x224: 1.82 / 3.67 / 4.09 / 7.80 / 11.51 GMACs for 18 / 34 / 50 / 101 / 152 layers
    (He et al. 2016, Table 1 lists 1.8 / 3.6 / 3.8 / 7.6 / 11.3 for v1, stride on the 1x1)."""
    block, counts = RESNET_LAYOUTS[depth]
    b = GraphBuilder(f"resnet{depth}", dtype)
    x = b.input("image", (batch, 3, resolution, resolution))
    x = conv_bn(b, x, 64, 7, "conv1", "bn1", stride=2, act="relu")
    x = b.op("maxpool", [x], name="maxpool", kernel=3, stride=2, padding=1)
    stages = zip((64, 128, 256, 512), counts, (1, 2, 2, 2), strict=True)
    for stage, (width, blocks, stride) in enumerate(stages, start=1):
        for index in range(blocks):
            x = block(b, x, width, stride if index == 0 else 1, f"layer{stage}.{index}")
    classifier_head(b, x, 1000, "fc")
    return b.build()


def resnet50(batch: int = 1, resolution: int = 224, dtype: str = "fp16") -> Graph:
    """torchvision ResNet-50 (v1.5, stride on the 3x3 conv): 4.09 GMACs and 25.6 M params
    at 224x224 (He et al. 2016; torchvision lists 4.09 GFLOPS, counting MACs)."""
    return resnet(batch, resolution, dtype, depth=50)


# MobileNetV2 -----------------------------------------------------------------------------

# (expansion t, output channels c, repeats n, first stride s), Sandler et al. 2018, Table 2
MOBILENET_V2_SETTINGS = [
    (1, 16, 1, 1),
    (6, 24, 2, 2),
    (6, 32, 3, 2),
    (6, 64, 4, 2),
    (6, 96, 3, 1),
    (6, 160, 3, 2),
    (6, 320, 1, 1),
]


def inverted_residual(
    b: GraphBuilder, x: str, expansion: int, out_channels: int, stride: int, prefix: str
) -> str:
    """1x1 expand (t x channels) + relu6, 3x3 depthwise/stride + relu6, 1x1 linear
    projection; the input is added back when stride is 1 and channels are unchanged."""
    in_channels = b.shape(x)[1]
    hidden = in_channels * expansion
    y, layer = x, 0
    if expansion != 1:
        y = conv_bn(
            b,
            y,
            hidden,
            1,
            f"{prefix}.conv.0.0",
            f"{prefix}.conv.0.1",
            act=f"{prefix}.conv.0.2",
            act_kind="relu6",
        )
        layer = 1
    y = conv_bn(
        b,
        y,
        hidden,
        3,
        f"{prefix}.conv.{layer}.0",
        f"{prefix}.conv.{layer}.1",
        stride=stride,
        groups=hidden,
        act=f"{prefix}.conv.{layer}.2",
        act_kind="relu6",
    )
    y = conv_bn(b, y, out_channels, 1, f"{prefix}.conv.{layer + 1}", f"{prefix}.conv.{layer + 2}")
    if stride == 1 and in_channels == out_channels:
        y = b.add(x, y, name=f"{prefix}.add")
    return y


def round_channels(channels: float, divisor: int = 8) -> int:
    """Channels scaled by a width multiplier, rounded to the nearest multiple of `divisor`
    and never more than 10% below the unrounded value (Sandler et al. 2018, Section 5.1:
    every layer's channels a multiple of 8; Tan & Le 2019 round the same way)."""
    rounded = max(divisor, int(channels + divisor / 2) // divisor * divisor)
    return rounded + divisor if rounded < 0.9 * channels else rounded


def mobilenet_v2(
    batch: int = 1, resolution: int = 224, dtype: str = "fp16", width_mult: float = 1.0
) -> Graph:
    """torchvision MobileNetV2 with width multiplier `width_mult` (0.35 .. 1.4): every
    layer's channels x width_mult rounded to a multiple of 8, except the last conv's 1280,
    which only grows (x max(1, width_mult)), as in Sandler et al. 2018. Width 1.0: 300 M
    MACs and 3.5 M params at 224x224 (paper: 300M multiply-adds; torchvision 0.30 GFLOPS)."""
    b = GraphBuilder("mobilenet-v2", dtype)
    x = b.input("image", (batch, 3, resolution, resolution))
    x = conv_bn(
        b,
        x,
        round_channels(32 * width_mult),
        3,
        "features.0.0",
        "features.0.1",
        stride=2,
        act="features.0.2",
        act_kind="relu6",
    )
    index = 1
    for expansion, channels, repeats, stride in MOBILENET_V2_SETTINGS:
        for i in range(repeats):
            x = inverted_residual(
                b,
                x,
                expansion,
                round_channels(channels * width_mult),
                stride if i == 0 else 1,
                f"features.{index}",
            )
            index += 1
    x = conv_bn(
        b,
        x,
        round_channels(1280 * max(1.0, width_mult)),
        1,
        f"features.{index}.0",
        f"features.{index}.1",
        act=f"features.{index}.2",
        act_kind="relu6",
    )
    classifier_head(b, x, 1000, "classifier.1")
    return b.build()


# ShuffleNetV2 ----------------------------------------------------------------------------


def shuffle_unit(b: GraphBuilder, x: str, out_channels: int, stride: int, prefix: str) -> str:
    """ShuffleNetV2 unit. Stride 2: both branches see the whole input (branch1: 3x3
    depthwise/2 + 1x1; branch2: 1x1 + 3x3 depthwise/2 + 1x1). Stride 1: the channels are
    split in half and only the second half goes through branch2. Then concat and a channel
    shuffle with 2 groups."""
    half = out_channels // 2
    if stride == 1:
        keep, x2 = b.op("split", [x], name=f"{prefix}.split", axis=1, sizes=[half, half])
    else:
        keep = conv_bn(
            b,
            x,
            b.shape(x)[1],
            3,
            f"{prefix}.branch1.0",
            f"{prefix}.branch1.1",
            stride=stride,
            groups=b.shape(x)[1],
        )
        keep = conv_bn(
            b,
            keep,
            half,
            1,
            f"{prefix}.branch1.2",
            f"{prefix}.branch1.3",
            act=f"{prefix}.branch1.4",
        )
        x2 = x
    y = conv_bn(
        b, x2, half, 1, f"{prefix}.branch2.0", f"{prefix}.branch2.1", act=f"{prefix}.branch2.2"
    )
    y = conv_bn(
        b, y, half, 3, f"{prefix}.branch2.3", f"{prefix}.branch2.4", stride=stride, groups=half
    )
    y = conv_bn(
        b, y, half, 1, f"{prefix}.branch2.5", f"{prefix}.branch2.6", act=f"{prefix}.branch2.7"
    )
    y = b.op("concat", [keep, y], name=f"{prefix}.concat", axis=1)
    return b.op("channel_shuffle", [y], name=f"{prefix}.shuffle", groups=2)


# scale -> output channels of stages 2, 3, 4 and of conv5: Ma et al. 2018, Table 5
SHUFFLENET_V2_CHANNELS: dict[float, tuple[int, int, int, int]] = {
    0.5: (48, 96, 192, 1024),
    1.0: (116, 232, 464, 1024),
    1.5: (176, 352, 704, 1024),
    2.0: (244, 488, 976, 2048),
}


def shufflenet_v2(
    batch: int = 1,
    resolution: int = 224,
    dtype: str = "fp16",
    scale: Literal[0.5, 1.0, 1.5, 2.0] = 1.0,
) -> Graph:
    """torchvision ShuffleNetV2 at `scale` 0.5x / 1x / 1.5x / 2x (the paper's channel
    table). 1.0x (shufflenet_v2_x1_0): 146 M MACs and 2.3 M params at 224x224 (Ma et al.
    2018: 146M FLOPs, counting multiply-adds)."""
    *stage_channels, last = SHUFFLENET_V2_CHANNELS[scale]
    b = GraphBuilder("shufflenet-v2", dtype)
    x = b.input("image", (batch, 3, resolution, resolution))
    x = conv_bn(b, x, 24, 3, "conv1.0", "conv1.1", stride=2, act="conv1.2")
    x = b.op("maxpool", [x], name="maxpool", kernel=3, stride=2, padding=1)
    for stage, (units, channels) in enumerate(zip([4, 8, 4], stage_channels, strict=True), start=2):
        for unit in range(units):
            x = shuffle_unit(b, x, channels, 2 if unit == 0 else 1, f"stage{stage}.{unit}")
    x = conv_bn(b, x, last, 1, "conv5.0", "conv5.1", act="conv5.2")
    classifier_head(b, x, 1000, "fc")
    return b.build()


# name -> builder: `workloads.registry` reads this table; nothing here imports the registry
BUILDERS: dict[str, Callable[..., Graph]] = {
    "resnet": resnet,
    "resnet50": resnet50,
    "mobilenet-v2": mobilenet_v2,
    "shufflenet-v2": shufflenet_v2,
}
