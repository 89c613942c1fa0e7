"""topsim graphs as runnable ONNX models, to check the simulator against a real runtime.

The weights are seeded random numbers scaled so activations stay of order 1: onnxruntime
then runs the same architecture at full speed (no denormals, no overflow), by kernels
nobody here wrote, and its timings can be set beside topsim's prediction.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from pathlib import Path

import numpy as np

from hardware.errors import InputError
from workloads.graph import Graph, Op
from workloads.onnx.read import MAX_ONNX_BYTES, onnx_module
from workloads.ops import numel

TOPSIM_TO_ONNX = {
    "fp32": "FLOAT",
    "fp16": "FLOAT16",
    "bf16": "BFLOAT16",
    "fp64": "DOUBLE",
    "int8": "INT8",
    "tf32": "FLOAT",
}
EXPORT_OPSET = 17


def to_onnx(graph: Graph, path: str | os.PathLike, seed: int = 0) -> None:
    """Write `graph` as an ONNX model (opset 17) with seeded random weights.

    Weights are drawn so activations stay of order 1 (He-style scaling for convolutions,
    1/sqrt(fan-in) for linear layers, unit norm scales), so no run slows down on
    denormals or overflows. Token-id inputs (read by `embedding`) become int64 inputs.
    `custom` ops have no ONNX equivalent and are rejected with an InputError.
    """
    onnx = onnx_module()
    exporter = _Exporter(graph, np.random.default_rng(seed), onnx)
    model = exporter.build()
    size = model.ByteSize()
    if size >= MAX_ONNX_BYTES:
        raise InputError(
            f"{graph.name}: the ONNX model would be {size / 2**30:.1f} GiB, over the "
            "2 GiB limit of one ONNX file; export a smaller configuration."
        )
    try:
        Path(path).write_bytes(model.SerializeToString())
    except OSError as exc:
        raise InputError(f"{path}: cannot write the ONNX file ({exc.strerror}).") from None


class _Exporter:
    def __init__(self, graph: Graph, rng: np.random.Generator, onnx) -> None:
        self.graph = graph
        self.rng = rng
        self.onnx = onnx
        self.helper = onnx.helper
        self.nodes: list = []
        self.initializers: list = []
        self.names: set[str] = set(graph.tensors)
        self.id_inputs: set[str] = {op.inputs[0] for op in graph.ops if op.kind == "embedding"}
        self.scales = self._weight_scales()

    def elem(self, dtype: str) -> int:
        if dtype not in TOPSIM_TO_ONNX:
            raise InputError(
                f"{self.graph.name}: dtype {dtype} has no ONNX export here; "
                f"supported: {', '.join(TOPSIM_TO_ONNX)}."
            )
        return getattr(self.onnx.TensorProto, TOPSIM_TO_ONNX[dtype])

    def np_dtype(self, dtype: str):
        if dtype == "bf16":
            import ml_dtypes

            return ml_dtypes.bfloat16
        return self.helper.tensor_dtype_to_np_dtype(self.elem(dtype))

    def fresh(self, base: str) -> str:
        name, k = base, 1
        while name in self.names:
            k += 1
            name = f"{base}.{k}"
        self.names.add(name)
        return name

    def constant(self, base: str, value: np.ndarray) -> str:
        name = self.fresh(base)
        self.initializers.append(self.onnx.numpy_helper.from_array(value, name))
        return name

    def node(self, op_type: str, inputs: list[str], outputs: list[str], name: str, **attrs) -> None:
        self.nodes.append(
            self.helper.make_node(op_type, inputs, outputs, name=self.fresh(name), **attrs)
        )

    def _weight_scales(self) -> dict[str, tuple[str, float]]:
        """const tensor -> (init kind, standard deviation) from the op that reads it."""
        scales: dict[str, tuple[str, float]] = {}
        for op in self.graph.ops:
            for position, t in enumerate(op.inputs):
                shape = self.graph.tensors[t].shape
                if not self.graph.tensors[t].const or t in scales:
                    continue
                if op.kind == "conv2d" and position == 1:
                    scales[t] = ("normal", math.sqrt(2.0 / max(1, numel(shape[1:]))))
                elif op.kind in ("linear", "matmul") and len(shape) >= 2:
                    fan_in = shape[-2] if position == 1 else shape[-1]
                    scales[t] = ("normal", 1.0 / math.sqrt(max(1, fan_in)))
                elif op.kind in ("batchnorm", "layernorm", "rmsnorm") and position == 1:
                    scales[t] = ("one", 0.1)
                else:
                    scales[t] = ("normal", 0.02 if op.kind != "embedding" else 1.0)
        return scales

    def weight(self, name: str) -> None:
        tensor = self.graph.tensors[name]
        kind, std = self.scales.get(name, ("normal", 0.02))
        if tensor.dtype == "int8":
            value = self.rng.integers(-8, 8, size=tensor.shape, dtype=np.int8)
        else:
            value = self.rng.standard_normal(tensor.shape, dtype=np.float32) * np.float32(std)
            if kind == "one":
                value += np.float32(1.0)
            value = value.astype(self.np_dtype(tensor.dtype))
        self.initializers.append(self.onnx.numpy_helper.from_array(value, name))

    def value_info(self, name: str):
        tensor = self.graph.tensors[name]
        elem = self.onnx.TensorProto.INT64 if name in self.id_inputs else self.elem(tensor.dtype)
        return self.helper.make_tensor_value_info(name, elem, list(tensor.shape))

    def build(self):
        graph = self.graph
        for name, tensor in graph.tensors.items():
            if tensor.const:
                self.weight(name)
        for op in graph.order:
            exporter = EXPORTERS.get(op.kind)
            if exporter is None:
                raise InputError(
                    f"{graph.name}: op {op.name!r} is a {op.kind} op, which has no "
                    "ONNX equivalent; to_onnx exports graphs of standard ops only."
                )
            exporter(self, op)
        inputs = [self.value_info(t) for t in graph.inputs]
        outputs = [self.value_info(t) for t in graph.outputs]
        onnx_graph = self.helper.make_graph(
            self.nodes, graph.name, inputs, outputs, self.initializers
        )
        model = self.helper.make_model(
            onnx_graph,
            producer_name="topsim",
            opset_imports=[self.helper.make_opsetid("", EXPORT_OPSET)],
        )
        model.ir_version = 8
        return model

    def ids(self, name: str) -> str:
        """Token ids as int64 (an int64 graph input already, or cast from the fp32 stand-in)."""
        if name in self.graph.inputs:
            return name
        out = self.fresh(f"{name}/int64")
        self.node("Cast", [name], [out], f"{name}/cast", to=self.onnx.TensorProto.INT64)
        return out

    def scalar(self, base: str, value: float, dtype: str) -> str:
        return self.constant(base, np.array(value, dtype=self.np_dtype(dtype)))

    def shape_const(self, base: str, shape: list[int]) -> str:
        return self.constant(base, np.array(shape, dtype=np.int64))


def _export_conv(e: _Exporter, op: Op) -> None:
    a = op.attrs
    sh, sw = _pair_of(a.get("stride", 1))
    ph, pw = _pair_of(a.get("padding", 0))
    dh, dw = _pair_of(a.get("dilation", 1))
    w = e.graph.tensors[op.inputs[1]].shape
    e.node(
        "Conv",
        op.inputs,
        op.outputs,
        op.name,
        kernel_shape=[w[2], w[3]],
        strides=[sh, sw],
        pads=[ph, pw, ph, pw],
        dilations=[dh, dw],
        group=int(a.get("groups", 1)),
    )


def _pair_of(value) -> tuple[int, int]:
    return (int(value), int(value)) if isinstance(value, int) else (int(value[0]), int(value[1]))


def _export_linear(e: _Exporter, op: Op) -> None:
    x = op.inputs[0]
    if len(e.graph.tensors[x].shape) == 2:
        e.node("Gemm", op.inputs, op.outputs, op.name)
        return
    if len(op.inputs) == 2:
        e.node("MatMul", op.inputs, op.outputs, op.name)
        return
    y = e.fresh(f"{op.outputs[0]}/matmul")
    e.node("MatMul", op.inputs[:2], [y], op.name)
    e.node("Add", [y, op.inputs[2]], op.outputs, f"{op.name}.bias")


def _export_unary(e: _Exporter, op: Op) -> None:
    x, out = op.inputs[0], op.outputs[0]
    dtype = e.graph.tensors[x].dtype
    simple = {
        "relu": "Relu",
        "sigmoid": "Sigmoid",
        "tanh": "Tanh",
        "exp": "Exp",
        "neg": "Neg",
        "sqrt": "Sqrt",
        "hardswish": "HardSwish",
        "copy": "Identity",
    }
    if op.kind in simple:
        e.node(simple[op.kind], [x], [out], op.name)
    elif op.kind == "relu6":
        low, high = e.scalar(f"{op.name}.min", 0.0, dtype), e.scalar(f"{op.name}.max", 6.0, dtype)
        e.node("Clip", [x, low, high], [out], op.name)
    elif op.kind == "cast":
        e.node("Cast", [x], [out], op.name, to=e.elem(e.graph.tensors[out].dtype))
    elif op.kind == "silu":
        s = e.fresh(f"{out}/sigmoid")
        e.node("Sigmoid", [x], [s], f"{op.name}.sigmoid")
        e.node("Mul", [x, s], [out], op.name)
    elif op.kind == "gelu":  # x * 0.5 * (1 + erf(x / sqrt 2)), as PyTorch exports it
        t1, t2, t3, t4 = (e.fresh(f"{out}/gelu{i}") for i in range(4))
        e.node(
            "Div", [x, e.scalar(f"{op.name}.sqrt2", math.sqrt(2.0), dtype)], [t1], f"{op.name}.div"
        )
        e.node("Erf", [t1], [t2], f"{op.name}.erf")
        e.node("Add", [t2, e.scalar(f"{op.name}.one", 1.0, dtype)], [t3], f"{op.name}.add")
        e.node("Mul", [x, t3], [t4], f"{op.name}.mul")
        e.node("Mul", [t4, e.scalar(f"{op.name}.half", 0.5, dtype)], [out], op.name)


def _export_binary(e: _Exporter, op: Op) -> None:
    names = {"add": "Add", "sub": "Sub", "mul": "Mul", "div": "Div", "max": "Max", "min": "Min"}
    e.node(names[op.kind], op.inputs, op.outputs, op.name)


def _export_batchnorm(e: _Exporter, op: Op) -> None:
    x = op.inputs[0]
    tensor = e.graph.tensors[x]
    channels = tensor.shape[1]
    dt = e.np_dtype(tensor.dtype)
    params = list(op.inputs[1:])
    if len(params) < 1:
        params.append(e.constant(f"{op.name}.scale", np.ones(channels, dtype=dt)))
    if len(params) < 2:
        params.append(e.constant(f"{op.name}.shift", np.zeros(channels, dtype=dt)))
    mean = e.constant(f"{op.name}.mean", np.zeros(channels, dtype=dt))
    var = e.constant(f"{op.name}.var", np.ones(channels, dtype=dt))
    e.node("BatchNormalization", [x, *params, mean, var], op.outputs, op.name, epsilon=1e-5)


def _export_layernorm(e: _Exporter, op: Op) -> None:
    e.node("LayerNormalization", op.inputs, op.outputs, op.name, axis=-1, epsilon=1e-5)


def _export_rmsnorm(e: _Exporter, op: Op) -> None:
    x, out = op.inputs[0], op.outputs[0]
    dtype = e.graph.tensors[x].dtype
    sq, mean, eps, root, norm = (e.fresh(f"{out}/rms{i}") for i in range(5))
    e.node("Mul", [x, x], [sq], f"{op.name}.square")
    e.node("ReduceMean", [sq], [mean], f"{op.name}.mean", axes=[-1], keepdims=1)
    e.node("Add", [mean, e.scalar(f"{op.name}.eps", 1e-6, dtype)], [eps], f"{op.name}.eps")
    e.node("Sqrt", [eps], [root], f"{op.name}.sqrt")
    if len(op.inputs) == 1:
        e.node("Div", [x, root], [out], op.name)
        return
    e.node("Div", [x, root], [norm], f"{op.name}.div")
    e.node("Mul", [norm, op.inputs[1]], [out], op.name)


def _export_pool(e: _Exporter, op: Op) -> None:
    a = op.attrs
    kernel = _pair_of(a.get("kernel", 2))
    stride = _pair_of(a.get("stride", a.get("kernel", 2)))
    ph, pw = _pair_of(a.get("padding", 0))
    e.node(
        "MaxPool" if op.kind == "maxpool" else "AveragePool",
        op.inputs,
        op.outputs,
        op.name,
        kernel_shape=list(kernel),
        strides=list(stride),
        pads=[ph, pw, ph, pw],
    )


def _export_attention(e: _Exporter, op: Op) -> None:
    """softmax(q k^T / sqrt(D) + causal mask) v, over the cache and the new keys if given."""
    q, k, v = op.inputs[:3]
    out = op.outputs[0]
    tensors = e.graph.tensors
    b, h, s, d = tensors[q].shape
    dtype = tensors[q].dtype
    if len(op.inputs) == 5:
        k2, v2 = e.fresh(f"{out}/k_all"), e.fresh(f"{out}/v_all")
        e.node("Concat", [k, op.inputs[3]], [k2], f"{op.name}.k_concat", axis=2)
        e.node("Concat", [v, op.inputs[4]], [v2], f"{op.name}.v_concat", axis=2)
        k, v = k2, v2
        t = tensors[op.inputs[1]].shape[2] + tensors[op.inputs[3]].shape[2]
    else:
        t = tensors[k].shape[2]
    kv_heads = tensors[op.inputs[1]].shape[1]
    if kv_heads != h:  # grouped-query attention: repeat each kv head h / kv_heads times
        group = h // kv_heads
        repeated = []
        for name, tag in ((k, "k"), (v, "v")):
            r5, ex, r4 = (e.fresh(f"{out}/{tag}_rep{i}") for i in range(3))
            e.node(
                "Reshape",
                [name, e.shape_const(f"{op.name}.{tag}5", [b, kv_heads, 1, t, d])],
                [r5],
                f"{op.name}.{tag}_unsqueeze",
            )
            e.node(
                "Expand",
                [r5, e.shape_const(f"{op.name}.{tag}x", [b, kv_heads, group, t, d])],
                [ex],
                f"{op.name}.{tag}_expand",
            )
            e.node(
                "Reshape",
                [ex, e.shape_const(f"{op.name}.{tag}4", [b, h, t, d])],
                [r4],
                f"{op.name}.{tag}_merge",
            )
            repeated.append(r4)
        k, v = repeated
    kt, scores, scaled, probs = (e.fresh(f"{out}/att{i}") for i in range(4))
    e.node("Transpose", [k], [kt], f"{op.name}.kT", perm=[0, 1, 3, 2])
    e.node("MatMul", [q, kt], [scores], f"{op.name}.qk")
    e.node(
        "Mul",
        [scores, e.scalar(f"{op.name}.scale", 1 / math.sqrt(d), dtype)],
        [scaled],
        f"{op.name}.scale",
    )
    if op.attrs.get("causal", False):
        mask = np.triu(np.full((s, t), -1e4, dtype=np.float32), k=t - s + 1)
        masked = e.fresh(f"{out}/masked")
        e.node(
            "Add",
            [scaled, e.constant(f"{op.name}.mask", mask.astype(e.np_dtype(dtype)))],
            [masked],
            f"{op.name}.mask",
        )
        scaled = masked
    e.node("Softmax", [scaled], [probs], f"{op.name}.softmax", axis=-1)
    e.node("MatMul", [probs, v], [out], op.name)


def _export_split(e: _Exporter, op: Op) -> None:
    sizes = e.shape_const(f"{op.name}.sizes", [int(s) for s in op.attrs["sizes"]])
    e.node("Split", [op.inputs[0], sizes], op.outputs, op.name, axis=int(op.attrs.get("axis", -1)))


def _export_shuffle(e: _Exporter, op: Op) -> None:
    n, c, h, w = e.graph.tensors[op.inputs[0]].shape
    groups = int(op.attrs.get("groups", 2))
    r5, tr = e.fresh(f"{op.outputs[0]}/groups"), e.fresh(f"{op.outputs[0]}/swapped")
    e.node(
        "Reshape",
        [op.inputs[0], e.shape_const(f"{op.name}.g", [n, groups, c // groups, h, w])],
        [r5],
        f"{op.name}.split_groups",
    )
    e.node("Transpose", [r5], [tr], f"{op.name}.transpose", perm=[0, 2, 1, 3, 4])
    e.node("Reshape", [tr, e.shape_const(f"{op.name}.c", [n, c, h, w])], op.outputs, op.name)


EXPORTERS: dict[str, Callable[[_Exporter, Op], None]] = {
    "conv2d": _export_conv,
    "linear": _export_linear,
    "matmul": lambda e, op: e.node("MatMul", op.inputs, op.outputs, op.name),
    **{
        k: _export_unary
        for k in (
            "relu",
            "relu6",
            "gelu",
            "silu",
            "sigmoid",
            "tanh",
            "hardswish",
            "exp",
            "neg",
            "sqrt",
            "cast",
            "copy",
        )
    },
    **{k: _export_binary for k in ("add", "sub", "mul", "div", "max", "min")},
    "batchnorm": _export_batchnorm,
    "layernorm": _export_layernorm,
    "rmsnorm": _export_rmsnorm,
    "maxpool": _export_pool,
    "avgpool": _export_pool,
    "global_avgpool": lambda e, op: e.node("GlobalAveragePool", op.inputs, op.outputs, op.name),
    "softmax": lambda e, op: e.node(
        "Softmax", op.inputs, op.outputs, op.name, axis=int(op.attrs.get("axis", -1))
    ),
    "attention": _export_attention,
    "concat": lambda e, op: e.node(
        "Concat", op.inputs, op.outputs, op.name, axis=int(op.attrs.get("axis", -1))
    ),
    "split": _export_split,
    "reshape": lambda e, op: e.node(
        "Reshape",
        [
            op.inputs[0],
            e.shape_const(f"{op.name}.shape", list(e.graph.tensors[op.outputs[0]].shape)),
        ],
        op.outputs,
        op.name,
    ),
    "flatten": lambda e, op: e.node(
        "Flatten", op.inputs, op.outputs, op.name, axis=int(op.attrs.get("axis", 1))
    ),
    "transpose": lambda e, op: e.node(
        "Transpose",
        op.inputs,
        op.outputs,
        op.name,
        perm=list(op.attrs.get("perm", reversed(range(len(e.graph.tensors[op.inputs[0]].shape))))),
    ),
    "channel_shuffle": _export_shuffle,
    "embedding": lambda e, op: e.node(
        "Gather", [op.inputs[1], e.ids(op.inputs[0])], op.outputs, op.name, axis=0
    ),
}
