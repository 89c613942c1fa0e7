"""Memory and time to import an ONNX file with embedded weights: `python
benchmarks/bench_onnx_load.py [--variant b16] [--repeats 3]`.

Writes a ViT (ViT-B/16 by default: 86 M fp32 parameters, about 330 MB, embedded in the
file; built here with onnx.helper, as topsim's own ViT has a custom op no ONNX file can
hold) with random weights to a temporary folder (nothing is kept), then imports it with
`workloads.onnx.load_onnx` in fresh Python processes, interleaved with processes that only
import topsim and onnx, and prints the import's time and the peak resident memory of each
kind of process (min and median over the repeats). Target (issue 16): memory
proportional to the graph, not the weights.

The import is run by whichever topsim the interpreter finds: from a checkout's root,
that checkout's.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

EXPORT = """
import sys
import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

path, layers, dim, mlp, heads = sys.argv[1], *map(int, sys.argv[2:6])
rng = np.random.default_rng(0)
inits, nodes = [], []


def weight(name, *shape):
    value = rng.standard_normal(shape, dtype=np.float32) * np.float32(shape[0] ** -0.5)
    inits.append(numpy_helper.from_array(value, name))
    return name


def const(name, values):
    inits.append(numpy_helper.from_array(np.array(values, dtype=np.int64), name))
    return name


def node(op, inputs, **attrs):
    out = f"t{len(nodes)}"
    nodes.append(helper.make_node(op, inputs, [out], **attrs))
    return out


patches = (224 // 16) ** 2
seq, head = patches + 1, dim // heads
x = node("Conv", ["image", weight("patch.w", dim, 3, 16, 16), weight("patch.b", dim)],
         strides=[16, 16])
x = node("Transpose", [node("Reshape", [x, const("flat", [1, dim, patches])])], perm=[0, 2, 1])
x = node("Concat", [weight("cls", 1, 1, dim), x], axis=1)
x = node("Add", [x, weight("pos", 1, seq, dim)])
split = const("split", [dim, dim, dim])
heads_shape = const("heads", [1, seq, heads, head])
merged = const("merged", [1, seq, dim])
for i in range(layers):
    h = node("LayerNormalization", [x, weight(f"l{i}.ln1.g", dim), weight(f"l{i}.ln1.b", dim)])
    qkv = node("Add", [node("MatMul", [h, weight(f"l{i}.qkv", dim, 3 * dim)]),
                       weight(f"l{i}.qkv.b", 3 * dim)])
    outs = [f"l{i}.q", f"l{i}.k", f"l{i}.v"]
    nodes.append(helper.make_node("Split", [qkv, split], outs, axis=2))
    q, k, v = (node("Transpose", [node("Reshape", [t, heads_shape])], perm=[0, 2, 1, 3])
               for t in outs)
    kt = node("Transpose", [k], perm=[0, 1, 3, 2])
    a = node("Softmax", [node("Mul", [node("MatMul", [q, kt]), weight(f"l{i}.scale", 1)])],
             axis=-1)
    o = node("Reshape", [node("Transpose", [node("MatMul", [a, v])], perm=[0, 2, 1, 3]),
                         merged])
    x = node("Add", [x, node("MatMul", [o, weight(f"l{i}.proj", dim, dim)])])
    h = node("LayerNormalization", [x, weight(f"l{i}.ln2.g", dim), weight(f"l{i}.ln2.b", dim)])
    h = node("MatMul", [h, weight(f"l{i}.fc1", dim, mlp)])
    h = node("Mul", [h, node("Sigmoid", [h])])
    x = node("Add", [x, node("MatMul", [h, weight(f"l{i}.fc2", mlp, dim)])])
x = node("LayerNormalization", [x, weight("ln.g", dim), weight("ln.b", dim)])
graph = helper.make_graph(
    nodes, "vit",
    [helper.make_tensor_value_info("image", TensorProto.FLOAT, [1, 3, 224, 224])],
    [helper.make_tensor_value_info(x, TensorProto.FLOAT, [1, seq, dim])],
    inits,
)
model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
model.ir_version = 8
onnx.save(model, path)
"""
SIZES = {"b16": (12, 768, 3072, 12), "l16": (24, 1024, 4096, 16), "tiny": (2, 64, 256, 4)}

LOAD = """
import json, resource, sys, time, warnings
import onnx, workloads.onnx
start = time.perf_counter()
graph = None
if sys.argv[2] == "load":
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        graph = workloads.onnx.load_onnx(sys.argv[1])
print(json.dumps({
    "seconds": time.perf_counter() - start,
    "peak_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    "ops": len(graph.ops) if graph else 0,
    "topsim": workloads.__file__,
}))
"""


def run(code: str, *args: str) -> dict:
    out = subprocess.run(
        [sys.executable, "-c", code, *args], capture_output=True, text=True, check=True,
        cwd=os.getcwd(),
    )  # fmt: skip
    return json.loads(out.stdout.strip().splitlines()[-1]) if out.stdout.strip() else {}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--variant", default="b16", help="ViT size: b16, l16 or tiny")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"vit-{args.variant}.onnx"
        run(EXPORT, str(path), *map(str, SIZES[args.variant]))
        size = path.stat().st_size
        samples: dict[str, list[dict]] = {"load": [], "imports only": []}
        for _ in range(args.repeats):
            samples["load"].append(run(LOAD, str(path), "load"))
            samples["imports only"].append(run(LOAD, str(path), "none"))
    print(f"ViT-{args.variant.upper()} ONNX file: {size / 2**20:.0f} MiB (embedded weights)")
    print(f"topsim: {samples['load'][0]['topsim']}; ops imported: {samples['load'][0]['ops']}")
    for kind, runs in samples.items():
        peaks = [r["peak_mib"] for r in runs]
        times = [r["seconds"] for r in runs]
        print(
            f"{kind:>12}: peak RSS min {min(peaks):7.0f} MiB median {statistics.median(peaks):7.0f}"
            f" MiB; time min {min(times):6.2f} s median {statistics.median(times):6.2f} s"
        )
    extra = statistics.median(r["peak_mib"] for r in samples["load"]) - statistics.median(
        r["peak_mib"] for r in samples["imports only"]
    )
    print(f"the import's own peak memory (median load - median imports): {extra:.0f} MiB")


if __name__ == "__main__":
    main()
