"""Runtimes: the host cost per kernel, the fusion and the graph launch each one brings."""

import pytest

import hardware
import sim
import workloads
from sim.runtimes import RUNTIMES
from workloads.builder import GraphBuilder

TOY = hardware.load_chip("toy")


def test_eager_pays_its_dispatch_on_every_kernel():
    # 50 tiny elementwise ops, one kernel each: launch-bound on toy (1 us per launch), so
    # eager's 8.5 us of host dispatch per kernel adds 50 x 8.5 us to the latency
    chain = workloads.build("elementwise-chain", length=50)
    eager = sim.simulate(chain, TOY, runtime="eager")
    bare = sim.simulate(chain, TOY, fusion="none")
    assert eager.fusion == "none" and eager.kernels == 50
    assert eager.latency_s - bare.latency_s == pytest.approx(50 * RUNTIMES["eager"].dispatch_s)
    assert eager.top_loss() == "launch"


def test_compiled_fuses_and_launches_the_graph_once():
    chain = workloads.build("elementwise-chain", length=50)
    compiled = sim.simulate(chain, TOY, runtime="compiled")
    assert (compiled.fusion, compiled.graph_launch, compiled.launches) == ("greedy", True, 1)


def test_options_given_explicitly_win_over_the_runtimes_defaults():
    chain = workloads.build("elementwise-chain", length=4)
    assert sim.simulate(chain, TOY, runtime="eager", fusion="greedy").fusion == "greedy"


def test_an_unknown_runtime_is_named_with_the_allowed_ones():
    with pytest.raises(hardware.InputError, match="--runtime .*'eager'"):
        sim.simulate(workloads.build("mlp"), TOY, runtime="jax")


def test_a_serving_runtime_adds_its_request_path_to_the_latency():
    # the mlp's input x and output relu3 are 1024 fp16 each (2048 B): the triton runtime's
    # request costs its 591 us round trip plus (2048 + 2048) B / 0.915 GB/s = 4.48 us,
    # before the same input source and host link a loaded tensorrt batch also crosses
    mlp = workloads.build("mlp")
    assert (mlp.input_bytes, mlp.output_bytes) == (2048, 2048)
    served = sim.simulate(mlp, TOY, runtime="triton")
    loaded = sim.simulate(mlp, TOY, runtime="tensorrt", load_input=True)
    assert served.latency_s - loaded.latency_s == pytest.approx(591e-6 + 4096 / 0.915e9)


def test_a_serving_runtime_loads_even_one_batch_through_its_request_path():
    mlp = workloads.build("mlp")
    served = sim.simulate(mlp, TOY, runtime="triton")
    assert served.provenance.options["runtime"] == "triton"
    request = [s for s in served.timeline if s.label == "request 0"]
    assert len(request) == 1 and request[0].track == "input" and request[0].nbytes == 4096
    assert request[0].end_s - request[0].start_s == pytest.approx(591e-6 + 4096 / 0.915e9)
    # without a request path, one batch starts with its input already on the device
    assert sim.simulate(mlp, TOY, runtime="tensorrt").latency_s < served.latency_s - 590e-6


def _conv_relu_chain(convs: int):
    """`convs` tiny 1x1 convolutions, each followed by a relu: launch-bound on toy."""
    b = GraphBuilder("conv-chain", "fp16")
    x = b.input("x", (1, 8, 4, 4))
    for i in range(convs):
        x = b.op("conv2d", [x, b.const(f"w{i}", (8, 8, 1, 1))], name=f"conv{i}")
        x = b.op("relu", [x], name=f"relu{i}")
    return b.build()


def test_eager_pays_a_convolutions_library_call_on_each_conv_kernel():
    # 5 convs and 5 relus, one kernel each, every kernel far shorter than its issue time:
    # the launcher sets the pace. A relu costs eager 8.5 us of dispatch, a conv 42.7 us
    # (cuDNN's host path), so eager is 5 x 42.7 + 5 x 8.5 us slower than bare kernels
    chain = _conv_relu_chain(5)
    eager = sim.simulate(chain, TOY, runtime="eager")
    bare = sim.simulate(chain, TOY, fusion="none")
    assert eager.kernels == bare.kernels == 10
    assert eager.latency_s - bare.latency_s == pytest.approx(5 * 42.7e-6 + 5 * 8.5e-6)


def test_eager_amp_adds_one_cast_kernel_per_weight_and_input():
    # autocast casts the 5 conv weights and the input: 6 more kernels, each far shorter
    # than the 1 us launch + 8.5 us dispatch the launcher spends on it
    chain = _conv_relu_chain(5)
    amp = sim.simulate(chain, TOY, runtime="eager-amp")
    eager = sim.simulate(chain, TOY, runtime="eager")
    assert amp.kernels == eager.kernels + 6
    assert amp.latency_s - eager.latency_s == pytest.approx(6 * (1e-6 + 8.5e-6))
    assert (amp.workload, amp.dtype) == (eager.workload, "fp16")


def test_generation_times_the_model_not_a_request_per_step():
    # a generation is one request: its prompt starts on the device, and no decode step
    # pays the serving runtime's request path
    from sim.studies.llm import generate

    served = generate("llama-2-7b", TOY, prompt=8, tokens=2, layers=1, runtime="triton")
    bare = generate("llama-2-7b", TOY, prompt=8, tokens=2, layers=1, runtime="tensorrt")
    assert served.total_s == pytest.approx(bare.total_s)
