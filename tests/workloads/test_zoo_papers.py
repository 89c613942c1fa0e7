"""The parameterized builders against the papers' tables: MACs (and parameters where the
paper publishes them) at the paper's resolution or sequence, each with its source.

Tolerances: a paper rounds to 2 or 3 digits, and counts a few layers differently (biases,
batchnorm parameters, ResNet v1 against our v1.5); each bound says why it is what it is.
"""

from __future__ import annotations

import pytest

import workloads
from hardware.errors import InputError
from workloads.zoo.llm_configs import CONFIGS
from workloads.zoo.moe import experts_hit
from workloads.zoo.transformer import weight_count


def build(name: str, **params: object):
    return workloads.build(name, **params)


def close(value: float, published: float, rel: float) -> bool:
    return abs(value - published) <= rel * published


# He et al. 2016, "Deep Residual Learning", Table 1 (FLOPs = multiply-adds, v1: stride on
# the first 1x1 of a bottleneck). Our v1.5 (torchvision) strides on the 3x3, which adds
# ~8% to the bottleneck nets; parameters from torchvision's model table (11.7 .. 60.2 M).
@pytest.mark.parametrize(
    "depth, paper_gmacs, rel, params_m",
    [
        (18, 1.8, 0.02, 11.7),
        (34, 3.6, 0.02, 21.8),
        (50, 3.8, 0.08, 25.6),
        (101, 7.6, 0.08, 44.5),
        (152, 11.3, 0.08, 60.2),
    ],
)
def test_resnet_depths_match_he_2016_table1(depth, paper_gmacs, rel, params_m):
    graph = build("resnet", depth=depth)
    assert close(graph.macs, paper_gmacs * 1e9, rel)
    assert close(weight_count(graph), params_m * 1e6, 0.005)


def test_resnet50_is_resnet_depth_50():
    assert build("resnet", depth=50).model_dump() == build("resnet50").model_dump()


# Sandler et al. 2018, "MobileNetV2", Table 4 (300M MACs at 1.0, 585M at 1.4) and, for
# every multiplier, the authors' table in tensorflow/models research/slim/nets/mobilenet
# README (MACs, params at 224): 0.35: 59M, 1.66M; 0.5: 97M, 1.95M; 0.75: 209M, 2.61M;
# 1.0: 300M, 3.47M; 1.3: 509M, 5.34M; 1.4: 582M, 6.06M. Our params count 2 batchnorm
# parameters per channel (the folded form), ~1% above.
@pytest.mark.parametrize(
    "width, mmacs, params_m",
    [
        (0.35, 59, 1.66),
        (0.5, 97, 1.95),
        (0.75, 209, 2.61),
        (1.0, 300, 3.47),
        (1.3, 509, 5.34),
        (1.4, 582, 6.06),
    ],
)
def test_mobilenet_v2_width_multipliers_match_the_authors_table(width, mmacs, params_m):
    graph = build("mobilenet-v2", width_mult=width)
    assert close(graph.macs, mmacs * 1e6, 0.006)
    assert close(weight_count(graph), params_m * 1e6, 0.025)


def test_mobilenet_v2_channels_are_multiples_of_8():
    graph = build("mobilenet-v2", width_mult=0.35)
    convs = [op for op in graph.ops if op.kind == "conv2d"]
    assert all(graph.tensors[op.outputs[0]].shape[1] % 8 == 0 for op in convs)
    assert close(build("mobilenet-v2", width_mult=1.4).macs, 585e6, 0.01)  # paper Table 4


# Ma et al. 2018, "ShuffleNet V2", Table 5: FLOPs (multiply-adds) 41M, 146M, 299M, 591M
# and 1.4M, 2.3M, 3.5M, 7.4M parameters for 0.5x, 1x, 1.5x, 2x.
@pytest.mark.parametrize(
    "scale, mmacs, params_m",
    [(0.5, 41, 1.4), (1.0, 146, 2.3), (1.5, 299, 3.5), (2.0, 591, 7.4)],
)
def test_shufflenet_v2_scales_match_ma_2018_table5(scale, mmacs, params_m):
    graph = build("shufflenet-v2", scale=scale)
    assert close(graph.macs, mmacs * 1e6, 0.015)
    assert close(weight_count(graph), params_m * 1e6, 0.03)


# Tan & Le 2019, "EfficientNet", Table 2: B0 0.39B FLOPs (multiply-adds) 5.3M params,
# B1 0.70B 7.8M, B2 1.0B 9.2M, B3 1.8B 12M, each at its own resolution.
@pytest.mark.parametrize(
    "variant, gmacs, params_m",
    [("b0", 0.39, 5.3), ("b1", 0.70, 7.8), ("b2", 1.0, 9.2), ("b3", 1.8, 12.0)],
)
def test_efficientnet_matches_tan_le_2019_table2(variant, gmacs, params_m):
    graph = build("efficientnet", variant=variant)
    assert close(graph.macs, gmacs * 1e9, 0.02)
    assert close(weight_count(graph), params_m * 1e6, 0.02)


def test_efficientnet_has_squeeze_excite_and_swish():
    kinds = {op.kind for op in build("efficientnet").ops}
    assert {"silu", "sigmoid", "mul", "global_avgpool"} <= kinds


# Dosovitskiy et al. 2021, "An Image is Worth 16x16 Words", Table 1: ViT-Base 86M and
# ViT-Large 307M parameters; MACs at 224: Touvron et al. 2021 (DeiT), Table 1, 17.6 G for
# the ViT-B/16 shape; ViT-L/16 61.6 G from the torchvision model table (vit_l_16).
@pytest.mark.parametrize(
    "variant, gmacs, params_m, rel_params",
    [("b16", 17.6, 86, 0.01), ("l16", 61.6, 307, 0.01)],
)
def test_vit_matches_dosovitskiy_2021_table1(variant, gmacs, params_m, rel_params):
    graph = build("vit", variant=variant)
    assert close(graph.macs, gmacs * 1e9, 0.005)
    assert close(weight_count(graph), params_m * 1e6, rel_params)


# Devlin et al. 2019, "BERT", Section 3: BERT-base 110M, BERT-large 340M parameters (with
# the pooler, which we leave out: 0.6 M and 1.05 M).
@pytest.mark.parametrize("size, params_m", [("base", 110), ("large", 340)])
def test_bert_sizes_match_devlin_2019(size, params_m):
    assert close(weight_count(build("bert", size=size)), params_m * 1e6, 0.02)


def test_bert_size_base_is_bert_base():
    assert build("bert", size="base").model_dump() == build("bert-base").model_dump()


# Llama Team 2024, "The Llama 3 Herd of Models", Table 3 (70B); exact counts from the
# model cards; Jiang et al. 2024, "Mixtral of Experts": 46.7B total ("47B"), 12.9B active.
@pytest.mark.parametrize(
    "name, params",
    [
        ("llama-3-70b", 70_553_706_496),
        ("llama-3.1-8b", 8_030_261_248),
        ("mixtral-8x7b", 46_702_792_704),
    ],
)
def test_llm_parameters_match_the_model_cards(name, params):
    assert weight_count(build(name, seq=64)) == params


def test_mixtral_decode_touches_two_experts_and_does_active_work():
    """One token routed to 2 of 8 experts: the graph holds 2 experts per layer, and the
    MACs per token are the 12.9 B active parameters less the embedding table, which is
    a lookup (Mixtral paper, Section 1: 13B active)."""
    graph = build("mixtral-8x7b", mode="decode", kv=15, layers=1)
    experts = {
        op.name.split(".moe.experts.")[1].split(".")[0]
        for op in graph.ops
        if ".moe.experts." in op.name
    }
    assert experts == {"0", "1"}
    full = build("mixtral-8x7b", mode="decode", kv=15)
    embedding = CONFIGS["mixtral-8x7b"].vocab * CONFIGS["mixtral-8x7b"].hidden
    assert close(full.macs + embedding, 12.9e9, 0.01)


def test_mixtral_expert_work_is_tokens_times_top_k():
    """512 tokens x top-2 over 8 experts: 128 tokens each, every expert hit."""
    config = CONFIGS["mixtral-8x7b"]
    graph = build("mixtral-8x7b", seq=512, layers=1)
    expert_macs = sum(op.macs for op in graph.ops if ".moe.experts." in op.name)
    assert expert_macs == 512 * 2 * 3 * config.hidden * config.ffn
    assert experts_hit(1, 8, 2) == 2 and experts_hit(512, 8, 2) == 8
    assert experts_hit(4, 8, 2) == 6  # 8 * (1 - 0.75^4) = 5.47 -> 6


@pytest.mark.parametrize(
    "name, context", [("llama-2-7b", 4096), ("llama-3-8b", 8192), ("llama-3.1-8b", 131072)]
)
def test_positions_limited_by_the_models_context(name, context):
    build(name, mode="decode", kv=context - 1, layers=1)
    with pytest.raises(InputError, match=f"at most {context} positions"):
        build(name, mode="decode", kv=context, layers=1)


def test_max_positions_overrides_the_context():
    graph = build("llama-2-7b", mode="decode", kv=8191, layers=1, max_positions=8192)
    assert graph.tensors["layer0.k_cache"].shape[2] == 8191


@pytest.mark.parametrize(
    "name, params, message",
    [
        ("shufflenet-v2", {"scale": 0.7}, "scale must be one of 0.5, 1.0, 1.5, 2.0"),
        ("resnet", {"depth": 20}, "depth must be one of 18, 34, 50, 101, 152"),
        ("mobilenet-v2", {"width_mult": 9.0}, "width_mult must be a number from 0.1 to 4.0"),
        ("vit", {"variant": "h14"}, "variant must be one of b16, l16"),
    ],
)
def test_bad_parameters_name_what_is_allowed(name, params, message):
    with pytest.raises(InputError, match=message):
        build(name, **params)


def test_parse_params_reads_ints_floats_and_words():
    from workloads.registry import parse_params

    assert parse_params("x", ["depth=101", "width-mult=0.5", "variant=b3"]) == {
        "depth": 101,
        "width_mult": 0.5,
        "variant": "b3",
    }
    with pytest.raises(InputError, match="KEY=VALUE"):
        parse_params("x", ["depth"])
