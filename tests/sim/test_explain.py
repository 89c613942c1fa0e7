"""explain: every what-if speedup is the ratio of two direct simulate() calls; compare."""

import pytest
from rich.console import Console

import hardware
import sim
import workloads
from sim.render.explanation import compare, render_explanation
from sim.studies.explain import chip_change, explain
from workloads import GraphBuilder
from workloads.files import graph_from_dict

TOY = hardware.load_chip("toy")


def render(renderable, width: int) -> str:
    console = Console(record=True, width=width, color_system=None)
    console.print(renderable)
    return console.export_text()


def what_if(explanation, change: str):
    return next(w for loss in explanation.losses for w in loss.what_ifs if w.change == change)


def test_memory_bound_mlp_what_ifs_are_measured():
    graph = workloads.build("mlp")
    expl = explain(graph, TOY)
    base = sim.simulate(graph, TOY)
    assert expl.result == base
    assert expl.losses[0].category == "memory"
    assert [loss.category for loss in expl.losses] == [
        c for c, _ in base.ranked_losses() if base.loss_share(c) >= 0.001
    ]
    wider = hardware.load_chip("toy", {"memory.dram.bandwidth": "20 GB/s"})
    doubled = what_if(expl, "2x DRAM bandwidth")
    assert doubled.metric == "latency"
    assert doubled.speedup == base.latency_s / sim.simulate(graph, wider).latency_s
    assert doubled.speedup == pytest.approx(2.0, rel=0.01)
    greedy = what_if(expl, "greedy fusion")
    assert greedy.speedup == base.latency_s / sim.simulate(graph, TOY, fusion="greedy").latency_s
    assert expl.best() == doubled
    assert doubled.summary() == "2x DRAM bandwidth: 2x faster"


def test_ops_most_responsible_are_ranked_with_shares():
    expl = explain(workloads.build("mlp"), TOY)
    memory = expl.losses[0]
    # fc0 also waits for its first weights after the launch; the others tie, by name
    assert [op.name for op in memory.ops] == ["fc0+relu0", "fc1+relu1", "fc2+relu2"]
    assert 0 < sum(op.share for op in memory.ops) <= 1 + 1e-12
    assert memory.ops == sorted(memory.ops, key=lambda op: -op.loss_ops)
    assert memory.remedy.startswith("bound by DRAM bandwidth (100% of it")  # no DMA on toy
    shape = next(loss for loss in expl.losses if loss.category == "shape")
    assert shape.what_ifs == [] and "4x4x4" in shape.advice  # said, not quantified


def test_launch_bound_chain_fusion_and_graph_launch():
    graph = workloads.build("elementwise-chain")
    expl = explain(graph, TOY, fusion="none")
    assert expl.losses[0].category == "launch"
    base = sim.simulate(graph, TOY, fusion="none")
    for change, options in (
        ("greedy fusion", {"fusion": "greedy"}),
        ("graph launch", {"fusion": "none", "graph_launch": True}),
    ):
        new = sim.simulate(graph, TOY, **options)
        assert what_if(expl, change).speedup == base.latency_s / new.latency_s
    assert what_if(expl, "greedy fusion").speedup > 2


def test_bigger_batch_is_measured_by_throughput():
    graph = workloads.build("elementwise-chain")
    expl = explain(
        graph, TOY, fusion="none", rebuild=lambda b: workloads.build("elementwise-chain", batch=b)
    )
    batch = what_if(expl, "batch 4")
    assert batch.metric == "throughput"
    base = sim.simulate(graph, TOY, fusion="none")
    bigger = sim.simulate(workloads.build("elementwise-chain", batch=4), TOY, fusion="none")
    assert batch.speedup == bigger.throughput / base.throughput
    assert "the throughput" in batch.summary()


def test_host_fallback_what_if_runs_the_op_on_the_accelerator():
    b = GraphBuilder("with-python-layer")
    x = b.input("x", (1, 4096))
    y = b.op(
        "custom",
        [x],
        name="python_layer",
        out_shapes=[[1, 4096]],
        macs=0,
        flops=40960,
        op_class="vector",
        accelerated=False,
    )
    b.relu(y, name="relu")
    graph = b.build()
    expl = explain(graph, TOY)
    assert expl.losses[0].category == "host_fallback"
    change = what_if(expl, "implement python_layer on the accelerator")
    graph_data = graph.to_dict()
    graph_data["ops"][0]["attrs"]["accelerated"] = True
    moved = graph_from_dict(graph_data, "test")
    assert change.speedup == (
        sim.simulate(graph, TOY).latency_s / sim.simulate(moved, TOY).latency_s
    )
    assert change.speedup > 1


def test_stream_input_remedies_are_measured_by_throughput():
    graph = workloads.build("seed-conv")
    expl = explain(graph, TOY, batches=4)
    base = sim.simulate(graph, TOY, batches=4)
    prefetch = what_if(expl, "prefetch 2 batches")
    assert prefetch.metric == "throughput"
    assert prefetch.speedup == (
        sim.simulate(graph, TOY, batches=4, prefetch=2).throughput / base.throughput
    )
    compressed = what_if(expl, "4x input compression")
    assert compressed.speedup == (
        sim.simulate(graph, TOY, batches=4, input_compression=4).throughput / base.throughput
    )


def test_thermal_what_if_halves_the_thermal_resistance():
    hot = hardware.load_chip("toy", {"thermal.resistance": 100, "thermal.capacitance": 0.001})
    graph = workloads.build("seed-conv")
    expl = explain(graph, hot, duration_s=0.2)
    assert "thermal" in [loss.category for loss in expl.losses[:3]]
    cooler = hardware.load_chip(hot, {"thermal.resistance": 50})
    change = what_if(expl, "2x better cooling (thermal resistance x0.5)")
    assert change.speedup == (
        sim.simulate(graph, cooler, duration_s=0.2).throughput
        / sim.simulate(graph, hot, duration_s=0.2).throughput
    )
    assert change.speedup > 1


def test_only_the_top_losses_get_what_ifs():
    expl = explain(workloads.build("elementwise-chain"), TOY, fusion="none", top=1)
    assert expl.losses[0].what_ifs
    assert all(not loss.what_ifs for loss in expl.losses[1:])


@pytest.mark.parametrize("width", [80, 200])
def test_render_explanation(width):
    expl = explain(workloads.build("mlp"), TOY)
    text = render(render_explanation(expl), width)
    assert all(len(line) <= width for line in text.splitlines())
    for expected in (
        "mlp on toy",
        "Losses, biggest first",
        "memory",
        "fc0+relu0",
        "What if",
        "2x DRAM bandwidth",
        "2.00x",
        "best remedy",
    ):
        assert expected in text, expected


@pytest.mark.parametrize("width", [80, 200])
def test_compare_chips_side_by_side(width):
    graph = workloads.build("mlp")
    results = [
        sim.simulate(graph, TOY),
        sim.simulate(graph, hardware.load_chip(TOY, {"memory.dram.bandwidth": 2e10})),
    ]
    results[1] = results[1].model_copy(update={"chip": "toy-2x"})
    text = render(compare(results), width)
    for expected in (
        "toy",
        "toy-2x",
        "latency",
        "throughput",
        "delivered",
        "efficiency",
        "memory",
        "useful",
        "top loss",
        "vs best",
        "2.00x slower",
    ):
        assert expected in text, expected


def test_compare_workloads_titles_columns_by_workload():
    results = [sim.simulate(workloads.build(name), TOY) for name in ("mlp", "seed-conv")]
    table = compare(results)
    assert [str(c.header) for c in table.columns[1:]] == ["mlp", "seed-conv"]
    text = render(table, 120)
    assert "vs best" not in text  # throughput of different workloads is not comparable
    for result in results:
        assert f"{result.efficiency:.1%}" in text


def test_a_remedy_the_chip_spec_rejects_is_skipped():
    assert chip_change("negative bandwidth", TOY, {"memory.dram.bandwidth": -1.0}) == []
    [change] = chip_change("2x", TOY, {"memory.dram.bandwidth": 2e10})
    assert change.chip.memory.dram.bandwidth == 2e10
