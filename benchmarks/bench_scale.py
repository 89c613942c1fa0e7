"""How does simulation cost grow with graph size? `python benchmarks/bench_scale.py`.

Builds synthetic DAGs of 1k, 10k, 100k and 1M ops and simulates each on h100-sxm (one
batch, epilogue fusion, the default options), each size in a fresh subprocess so that
its peak memory (ru_maxrss) is its own. Prints, per size: ops, kernels, build+validate
time, simulate time, peak resident memory, engine events per op.

The DAG repeats a two-branch block of five ops over activations [64, 256] fp16:

    a = linear(x, wa); a = relu(a)          # branch 1 (relu fuses into the linear)
    b = linear(x, wb); b = sigmoid(b)       # branch 2
    x = add(a, b)                           # join (fuses into branch 1's kernel)

so each block is two kernels with a cross-branch dependency, every weight is distinct
([256, 256] fp16, 128 KiB) and the on-chip cache sees a long stream of tensors. Graphs
are built directly as `Tensor`s and `Op`s (GraphBuilder looks names up linearly, which is
quadratic at this scale) and validated by `Graph` as any user graph is.

Targets (issue 9): 1M ops simulate in < 60 s with < 2 GB of memory.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time

SIZES = (1_000, 10_000, 100_000, 1_000_000)
ROWS, WIDTH = 64, 256
OPS_PER_BLOCK = 5


def synthetic(n_ops: int):
    """A validated Graph of about `n_ops` ops (a multiple of 5)."""
    from workloads.graph import Graph, Op, Tensor

    act = Tensor(shape=(ROWS, WIDTH))
    weight = Tensor(shape=(WIDTH, WIDTH), const=True)
    tensors = {"x0": act}
    ops = []
    x = "x0"
    for i in range(max(1, n_ops // OPS_PER_BLOCK)):
        names = {k: f"{k}{i}" for k in ("wa", "wb", "a", "ar", "b", "bs", "y")}
        tensors[names["wa"]] = weight
        tensors[names["wb"]] = weight
        for k in ("a", "ar", "b", "bs", "y"):
            tensors[names[k]] = act
        ops += [
            Op(name=f"lin_a{i}", kind="linear", inputs=[x, names["wa"]], outputs=[names["a"]]),
            Op(name=f"relu{i}", kind="relu", inputs=[names["a"]], outputs=[names["ar"]]),
            Op(name=f"lin_b{i}", kind="linear", inputs=[x, names["wb"]], outputs=[names["b"]]),
            Op(name=f"sig{i}", kind="sigmoid", inputs=[names["b"]], outputs=[names["bs"]]),
            Op(name=f"add{i}", kind="add", inputs=[names["ar"], names["bs"]], outputs=[names["y"]]),
        ]
        x = names["y"]
    return Graph(name=f"synthetic-{n_ops}", tensors=tensors, inputs=["x0"], outputs=[x], ops=ops)


def measure(n_ops: int, profile: str | None = None) -> dict:
    """Build and simulate one size in this process; the figures as a dict."""
    import hardware
    import sim

    chip = hardware.load_chip("h100-sxm")
    start = time.perf_counter()
    graph = synthetic(n_ops)
    built = time.perf_counter()
    if profile:
        import cProfile

        profiler = cProfile.Profile()
        result = profiler.runcall(sim.simulate, graph, chip)
        profiler.dump_stats(profile)
    else:
        result = sim.simulate(graph, chip)
    done = time.perf_counter()
    return {
        "ops": len(graph.ops),
        "kernels": result.kernels,
        "build_s": built - start,
        "simulate_s": done - built,
        "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "events_per_op": result.events / len(graph.ops),
        "latency_s": result.latency_s,
    }


def run_isolated(n_ops: int, timeout_s: float, profile: str | None) -> dict | None:
    command = [sys.executable, __file__, "--one", str(n_ops)]
    if profile:
        command += ["--profile", profile]
    try:
        out = subprocess.run(command, capture_output=True, text=True, timeout=timeout_s, check=True)
    except subprocess.TimeoutExpired:
        return None
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", type=int, nargs="*", default=list(SIZES))
    parser.add_argument("--timeout", type=float, default=900.0, help="seconds per size")
    parser.add_argument(
        "--profile",
        help="write a cProfile of simulate() for each size to "
        "PROFILE.<ops> (inspect with python -m pstats)",
    )
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(measure(args.one, args.profile)))
        return
    print(
        f"{'ops':>9} {'kernels':>9} {'build+validate':>15} {'simulate':>10} {'peak memory':>12} "
        f"{'events/op':>10} {'us/op':>7}"
    )
    for n_ops in args.sizes:
        profile = f"{args.profile}.{n_ops}" if args.profile else None
        row = run_isolated(n_ops, args.timeout, profile)
        if row is None:
            print(f"{n_ops:>9} did not finish within {args.timeout:.0f} s")
            continue
        per_op = row["simulate_s"] / row["ops"] * 1e6
        print(
            f"{row['ops']:>9,} {row['kernels']:>9,} {row['build_s']:>14.2f}s "
            f"{row['simulate_s']:>9.2f}s {row['peak_mb']:>9.0f} MB {row['events_per_op']:>10.1f} "
            f"{per_op:>7.1f}",
            flush=True,
        )


if __name__ == "__main__":
    main()
