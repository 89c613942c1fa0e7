"""The CNN builders against the published MAC and parameter counts at 224x224.

Published figures: ResNet-50 4.09 GMACs / 25.6 M params (torchvision: 4.09 GFLOPS counting
MACs, 25,557,032 params); MobileNetV2 1.0 300 M MACs / 3.5 M params (Sandler et al. 2018;
torchvision 3,504,872 params); ShuffleNetV2 1.0x 146 M MACs / 2.3 M params (Ma et al.
2018; torchvision 2,278,604 params). Parameters count conv and linear weights, linear bias
and the 2 batchnorm parameters (scale, shift) per channel, as torchvision does.
"""

from __future__ import annotations

import pytest

import workloads

PUBLISHED = {
    # name: (MACs, params)
    "resnet50": (4.09e9, 25.6e6),
    "mobilenet-v2": (300e6, 3.5e6),
    "shufflenet-v2": (146e6, 2.3e6),
}
CNNS = sorted(PUBLISHED)


@pytest.mark.parametrize("name", CNNS)
def test_macs_match_the_published_figure_within_3_percent(name: str) -> None:
    macs = workloads.build(name).macs
    assert macs == pytest.approx(PUBLISHED[name][0], rel=0.03)


@pytest.mark.parametrize("name", CNNS)
def test_params_match_the_published_figure_within_3_percent(name: str) -> None:
    params = workloads.build(name).params
    assert params == pytest.approx(PUBLISHED[name][1], rel=0.03)


def test_resnet50_counts_are_exact_by_hand() -> None:
    # torchvision's parameter count, and 4,089,184,256 conv + fc MACs at 224x224
    g = workloads.build("resnet50")
    assert g.params == 25_557_032
    assert g.macs == 4_089_184_256


def test_resnet50_first_conv_is_7x7_stride_2() -> None:
    # 64 x 112 x 112 outputs, each 3 x 7 x 7 MACs = 118,013,952
    g = workloads.build("resnet50")
    conv1 = next(op for op in g.ops if op.name == "conv1")
    assert g.tensors[conv1.outputs[0]].shape == (1, 64, 112, 112)
    assert conv1.macs == 64 * 112 * 112 * 3 * 7 * 7


def test_mobilenet_v2_depthwise_convs_are_grouped_per_channel() -> None:
    g = workloads.build("mobilenet-v2")
    depthwise = [op for op in g.ops if op.kind == "conv2d" and op.attrs.get("groups", 1) > 1]
    assert len(depthwise) == 17  # one per inverted residual block
    for op in depthwise:
        assert op.attrs["groups"] == g.tensors[op.inputs[0]].shape[1]
        assert op.op_class == "vector"


def test_shufflenet_v2_stride_1_units_split_and_shuffle() -> None:
    g = workloads.build("shufflenet-v2")
    kinds = [op.kind for op in g.ops]
    assert kinds.count("split") == 3 + 7 + 3  # every unit but the first of each stage
    assert kinds.count("channel_shuffle") == 4 + 8 + 4
    split = next(op for op in g.ops if op.name == "stage3.1.split")
    assert [g.tensors[t].shape for t in split.outputs] == [(1, 116, 14, 14)] * 2


@pytest.mark.parametrize("name", CNNS)
def test_macs_scale_linearly_with_batch(name: str) -> None:
    assert workloads.build(name, batch=4).macs == 4 * workloads.build(name, batch=1).macs


@pytest.mark.parametrize("name", CNNS)
def test_params_do_not_depend_on_batch_or_resolution(name: str) -> None:
    params = workloads.build(name).params
    assert workloads.build(name, batch=3, resolution=160).params == params


@pytest.mark.parametrize("name", CNNS)
def test_lower_resolution_gives_fewer_macs(name: str) -> None:
    assert workloads.build(name, resolution=160).macs < workloads.build(name).macs


@pytest.mark.parametrize("name", CNNS)
@pytest.mark.parametrize("batch", [1, 8])
def test_output_is_batch_by_1000_classes(name: str, batch: int) -> None:
    g = workloads.build(name, batch=batch)
    assert len(g.outputs) == 1
    assert g.tensors[g.outputs[0]].shape == (batch, 1000)


@pytest.mark.parametrize("name", CNNS)
def test_dtype_is_applied_to_every_tensor(name: str) -> None:
    g = workloads.build(name, dtype="bf16")
    assert {t.dtype for t in g.tensors.values()} == {"bf16"}


@pytest.mark.parametrize("name", CNNS)
def test_yaml_round_trip_is_identical(name: str, tmp_path) -> None:
    g = workloads.build(name, batch=2)
    path = tmp_path / f"{name}.yaml"
    workloads.save(g, path)
    loaded = workloads.load(path)
    assert loaded.to_dict() == g.to_dict()
    assert loaded.macs == g.macs
