"""Runtimes: the host cost per kernel, the fusion and the graph launch each one brings."""

import pytest

import hardware
import sim
import workloads
from sim.runtimes import RUNTIMES

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
