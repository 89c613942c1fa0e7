"""The candidate blocks of a search space, built with `GraphBuilder` as workloads/zoo builds
its networks (conv + batchnorm + activation via `conv_bn`).

- `conv`: one KxK conv (with `groups`) + bn + relu.
- `dwsep`: MobileNetV1's depthwise-separable pair: KxK depthwise/stride, 1x1 pointwise.
- `mbconv`: an inverted residual as FBNet's block (Wu et al. 2019, Fig. 3): 1x1 group
  conv to `expansion` x channels + relu (channel shuffle when grouped), KxK depthwise/
  stride + relu, optional squeeze-and-excitation (pool, 1x1 to a quarter, relu, 1x1,
  sigmoid, scale), 1x1 group conv back, no activation; the input is added back when the
  shape is kept. The expansion conv is there at expansion 1 too, as in FBNet's k3_e1.
- `shuffle`: a ShuffleNetV2 unit (Ma et al. 2018) with a KxK depthwise: channel split
  when the shape is kept, two branches otherwise.
- `transformer`: a pre-norm ViT block over the H x W tokens (`heads` heads, MLP of
  `expansion` x channels, gelu); a KxK strided conv first makes the tokens when the shape
  changes, as a patch merge.
- `skip`: nothing, or a 1x1 conv + bn + relu where the shape changes (`project`).
"""

from __future__ import annotations

from collections.abc import Sequence

from sim.studies.lut.space import Candidate, Layer
from workloads.builder import GraphBuilder
from workloads.graph import Graph
from workloads.zoo.cnn import conv_bn

SE_REDUCTION = 4  # squeeze to a quarter of the channels (MobileNetV3, Howard et al. 2019)


def add_block(
    b: GraphBuilder, x: str, candidate: Candidate, out_channels: int, stride: int, prefix: str
) -> str:
    """Append one candidate block reading `x`; returns its output tensor."""
    cin = b.shape(x)[1]
    keeps = stride == 1 and cin == out_channels
    kind, k = candidate.block, candidate.kernel
    if kind == "skip":
        if keeps:
            return x
        return conv_bn(
            b, x, out_channels, 1, f"{prefix}.proj", f"{prefix}.bn", stride, act=f"{prefix}.relu"
        )
    if kind == "conv":
        return conv_bn(
            b, x, out_channels, k, f"{prefix}.conv", f"{prefix}.bn", stride, candidate.groups,
            act=f"{prefix}.relu",
        )  # fmt: skip
    if kind == "dwsep":
        y = conv_bn(
            b, x, cin, k, f"{prefix}.dw", f"{prefix}.dw_bn", stride, cin, act=f"{prefix}.dw_relu"
        )
        return conv_bn(
            b, y, out_channels, 1, f"{prefix}.pw", f"{prefix}.pw_bn", 1, candidate.groups,
            act=f"{prefix}.pw_relu",
        )  # fmt: skip
    if kind == "mbconv":
        return _mbconv(b, x, candidate, out_channels, stride, prefix, keeps)
    if kind == "shuffle":
        return _shuffle(b, x, k, out_channels, stride, prefix, keeps)
    return _transformer(b, x, candidate, out_channels, stride, prefix, keeps)


def _mbconv(
    b: GraphBuilder, x: str, c: Candidate, out: int, stride: int, prefix: str, keeps: bool
) -> str:
    cin = b.shape(x)[1]
    hidden = _multiple(cin * c.expansion, c.groups)
    y = conv_bn(
        b, x, hidden, 1, f"{prefix}.pw", f"{prefix}.pw_bn", 1, c.groups, act=f"{prefix}.pw_relu"
    )
    if c.groups > 1:
        y = b.op("channel_shuffle", [y], name=f"{prefix}.shuffle", groups=c.groups)
    y = conv_bn(
        b, y, hidden, c.kernel, f"{prefix}.dw", f"{prefix}.dw_bn", stride, hidden,
        act=f"{prefix}.dw_relu",
    )  # fmt: skip
    if c.se:
        y = _squeeze_excite(b, y, prefix)
    y = conv_bn(b, y, _multiple(out, c.groups), 1, f"{prefix}.pwl", f"{prefix}.pwl_bn", 1, c.groups)
    return b.add(x, y, name=f"{prefix}.add") if keeps else y


def _multiple(channels: float, groups: int) -> int:
    """Channels rounded to a multiple of the groups (at least one per group)."""
    return max(groups, round(channels / groups) * groups)


def _squeeze_excite(b: GraphBuilder, x: str, prefix: str) -> str:
    channels = b.shape(x)[1]
    s = b.op("global_avgpool", [x], name=f"{prefix}.se_pool")
    s = b.relu(b.conv2d(s, max(1, channels // SE_REDUCTION), 1, bias=True, name=f"{prefix}.se_fc1"))
    s = b.unary("sigmoid", b.conv2d(s, channels, 1, bias=True, name=f"{prefix}.se_fc2"))
    return b.op("mul", [x, s], name=f"{prefix}.se_scale")


def _shuffle(
    b: GraphBuilder, x: str, k: int, out: int, stride: int, prefix: str, keeps: bool
) -> str:
    half = out // 2
    if keeps:
        keep, x2 = b.op("split", [x], name=f"{prefix}.split", axis=1, sizes=[out - half, half])
    else:
        cin = b.shape(x)[1]
        keep = conv_bn(b, x, cin, k, f"{prefix}.b1_dw", f"{prefix}.b1_dw_bn", stride, cin)
        keep = conv_bn(
            b, keep, out - half, 1, f"{prefix}.b1_pw", f"{prefix}.b1_bn", act=f"{prefix}.b1_relu"
        )
        x2 = x
    y = conv_bn(b, x2, half, 1, f"{prefix}.b2_pw1", f"{prefix}.b2_bn1", act=f"{prefix}.b2_relu1")
    y = conv_bn(b, y, half, k, f"{prefix}.b2_dw", f"{prefix}.b2_bn2", stride, half)
    y = conv_bn(b, y, half, 1, f"{prefix}.b2_pw2", f"{prefix}.b2_bn3", act=f"{prefix}.b2_relu2")
    y = b.op("concat", [keep, y], name=f"{prefix}.concat", axis=1)
    return b.op("channel_shuffle", [y], name=f"{prefix}.shuffle", groups=2)


def _transformer(
    b: GraphBuilder, x: str, c: Candidate, out: int, stride: int, prefix: str, keeps: bool
) -> str:
    if not keeps:
        x = b.conv2d(x, out, c.kernel, stride=stride, padding=c.kernel // 2, name=f"{prefix}.merge")
    n, channels, h, w = b.shape(x)
    heads = c.heads if channels % c.heads == 0 else 1
    t = b.op("reshape", [x], name=f"{prefix}.flat", shape=[n, channels, h * w])
    t = b.op("transpose", [t], name=f"{prefix}.tokens", perm=[0, 2, 1])
    y = b.layernorm(t, name=f"{prefix}.norm1")
    qkv = [
        _heads(b, b.linear(y, channels, name=f"{prefix}.{p}"), heads, f"{prefix}.{p}")
        for p in "qkv"
    ]
    o = b.op("attention", qkv, name=f"{prefix}.attention")
    o = b.op("transpose", [o], name=f"{prefix}.merge_heads", perm=[0, 2, 1, 3])
    o = b.op("reshape", [o], name=f"{prefix}.merged", shape=[n, h * w, channels])
    t = b.add(t, b.linear(o, channels, name=f"{prefix}.proj"), name=f"{prefix}.add1")
    y = b.layernorm(t, name=f"{prefix}.norm2")
    y = b.unary("gelu", b.linear(y, _multiple(channels * c.expansion, 1), name=f"{prefix}.fc1"))
    t = b.add(t, b.linear(y, channels, name=f"{prefix}.fc2"), name=f"{prefix}.add2")
    t = b.op("transpose", [t], name=f"{prefix}.untokens", perm=[0, 2, 1])
    return b.op("reshape", [t], name=f"{prefix}.image", shape=[n, channels, h, w])


def _heads(b: GraphBuilder, t: str, heads: int, name: str) -> str:
    n, tokens, width = b.shape(t)
    t = b.op("reshape", [t], name=f"{name}_split", shape=[n, tokens, heads, width // heads])
    return b.op("transpose", [t], name=f"{name}_heads", perm=[0, 2, 1, 3])


def is_identity(layer: Layer, candidate: Candidate) -> bool:
    """A skip where the layer keeps its shape: no op at all."""
    return candidate.block == "skip" and layer.keeps_shape


def block_graph(
    layer: Layer, candidate: Candidate, dtype: str, *, after_layer: bool = False
) -> Graph:
    """One candidate of `layer` alone: its input fed from DRAM, or (`after_layer`) made on
    chip by a relu of the same shape, standing in for the previous layer's last op."""
    b = GraphBuilder(f"lut.L{layer.index}", candidate.dtype or dtype)
    x = b.input("x", layer.input_shape)
    if after_layer:
        x = b.relu(x, name="previous")
    y = add_block(b, x, candidate, layer.out_channels, layer.stride, f"L{layer.index}")
    return b.build(outputs=[y] if y != "x" else [])


def network_graph(
    layers: Sequence[Layer], chosen: Sequence[str], dtype: str, name: str = "lut.net"
) -> Graph:
    """The chosen candidate of each layer, chained; the first layer's input from DRAM."""
    b = GraphBuilder(name, dtype)
    x = b.input("x", layers[0].input_shape)
    for layer, choice in zip(layers, chosen, strict=True):
        candidate = layer.candidates[choice]
        b.dtype = candidate.dtype or dtype
        if b.tensors[x].dtype != b.dtype:  # a dtype change between layers costs a cast
            x = b.op("cast", [x], name=f"L{layer.index}.cast", out_dtype=b.dtype)
        x = add_block(b, x, candidate, layer.out_channels, layer.stride, f"L{layer.index}")
    return b.build(outputs=[x] if x != "x" else [])
