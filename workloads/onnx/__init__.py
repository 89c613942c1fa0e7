"""ONNX models as topsim graphs, and topsim graphs as runnable ONNX models (extra `onnx`).

`load_onnx(path)` reads only the graph and the shapes: weights are never needed, and
external data (weights stored in other files, named by paths inside the model) is never
opened. The model:

- Symbolic input dimensions become concrete: the leading axis of a graph input gets
  `batch`, a dimension named in `dims` gets that value, any other gets 1 (with a
  warning); an input size below 1 is an InputError. Then ONNX shape inference fills in
  the shapes, with data propagation only where plain inference left shapes open and no 1-D
  tensor is long (ONNX propagates a vector one entry per element).
- Nodes that compute only shapes or constants (Shape, Constant, and anything whose inputs
  are all constant: initializers, Shape outputs) are evaluated here, as runtimes fold them
  at load time, and emit no op; Identity and Dropout are aliases. Reshape, Flatten,
  Squeeze, Unsqueeze and layout-preserving Transposes become free `reshape` views.
- Every other node becomes topsim ops: Conv -> conv2d, Gemm/MatMul with a constant
  weight -> linear, otherwise matmul, Gather from a constant table -> embedding,
  activations, norms, pools, softmax, concat/split/transpose by name. Decomposed GELU (Erf
  or tanh form), SiLU, hard-swish and LayerNorm/RMSNorm subgraphs are recognised and
  become one op each. Known ONNX ops with no topsim kind (Slice, Pad, Resize, Reduce*,
  Where ...) become `custom` ops with their element operations counted.
- Quantized models (`quant`): a MatMul/Gemm/Conv between QuantizeLinear/DequantizeLinear
  pairs is an int8 op on the integer tensors (a following Q folded into its epilogue);
  Q/DQ that no int8 op absorbs are cast ops; QLinear*/*Integer ops read int8 already.
- Unknown op types become `custom` ops on the host (`accelerated: false`) with output
  shapes from shape inference, and one warning lists them; the import never fails
  because of an op type. Only the standard domain ('' or 'ai.onnx') maps by op type, plus
  the ONNX Runtime contrib ops of com.microsoft listed in `read.MICROSOFT_OPS`; an op of
  any other domain is someone else's definition, so it is unknown whatever its name.
- Bounds: a file of at most 2 GiB and `MAX_ONNX_NODES` nodes (subgraphs included);
  constants over `FOLD_LIMIT` elements keep only their shape and dtype (their values are
  dropped after parsing), and folding never materialises a result past that budget.
- Nodes are checked against their op's signature before use (ONNX's schema: inputs,
  outputs, attribute types, integer-only inputs; attribute ranges such as positive
  strides and axes inside the input) and each mapper's keyword arguments against the
  types they name; a node that fails is an InputError naming it, its op and what is
  allowed. Sorting and every per-node or per-input pass are linear in the graph.
- Shape mismatches are rejected at load time: a standard ONNX node whose shapes contradict
  each other (a Conv weight of the wrong rank or channel count, a MatMul or Gemm whose
  inner dimensions differ, a Reshape to another element count, inputs that do not
  broadcast, ...) or that lacks a required input is an InputError naming the file, the
  node, its op type and the shapes. So is a tensor topsim cannot hold (over 2^50
  elements).
- Warnings (`OnnxImportWarning`, a UserWarning) are one self-contained line each, naming
  the file; `import_onnx` returns the same lines (`OnnxImport.messages()`) instead of
  warning, for callers that print them their own way.
- Dtypes: float32 -> fp32, float16 -> fp16, bfloat16 -> bf16, float64 -> fp64,
  (u)int8 -> int8, float8 -> fp8, (u)int4 -> int4, bool -> int8 (1 byte); int16/uint16
  -> fp16 and int32/int64 and the other integer types -> fp32, stand-ins of 2 and 4 bytes
  (topsim has no integer dtypes wider than int8: 64-bit ids are counted as 4 bytes).

`to_onnx(graph, path)` writes a topsim graph (from the builders) as an ONNX model with
seeded random weights that onnxruntime can execute: a real run of the same architecture
by kernels nobody here wrote.

The import runs in stages, one module each: `read` (bytes, dtypes, nodes), `fold`
(constants), `patterns` (decomposed activations and norms), `checks` (shape
contradictions), the mappers (`mappers_nn`, `mappers_math`, `mappers_shape`, `quant`,
registered through `mapping`), and `importer`, which drives them over a `state`. `export`
is apart.
"""

from workloads.onnx.checks import SHAPE_CHECKS
from workloads.onnx.export import EXPORT_OPSET, EXPORTERS, TOPSIM_TO_ONNX, to_onnx
from workloads.onnx.fold import FOLD_LIMIT, NONDETERMINISTIC, NUMPY_BINARY, NUMPY_UNARY
from workloads.onnx.importer import (
    MAPPERS,
    OnnxImport,
    OnnxImportWarning,
    import_onnx,
    load_onnx,
)
from workloads.onnx.mappers_math import (
    BINARY,
    UNARY,
    map_binary,
    map_cast,
    map_clip,
    map_pow,
    map_reduce,
    map_unary,
)
from workloads.onnx.mappers_nn import (
    map_batchnorm,
    map_conv,
    map_conv_transpose,
    map_einsum,
    map_gemm,
    map_global_pool,
    map_layernorm,
    map_matmul,
    map_pool,
    map_rnn,
    map_skip_layernorm,
    map_softmax,
)
from workloads.onnx.mappers_shape import (
    map_alias,
    map_concat,
    map_copy,
    map_gather,
    map_reshape,
    map_resize,
    map_split,
    map_transpose,
)
from workloads.onnx.patterns import ANCHORS, ELEMENTWISE_TYPES, REGION_LIMIT
from workloads.onnx.quant import map_dequantize, map_dynamic_quantize, map_quantize
from workloads.onnx.read import MAX_ONNX_BYTES, ONNX_DTYPES, Shape, onnx_dtype, read_model

__all__ = [
    "ANCHORS",
    "BINARY",
    "ELEMENTWISE_TYPES",
    "EXPORTERS",
    "EXPORT_OPSET",
    "FOLD_LIMIT",
    "MAPPERS",
    "MAX_ONNX_BYTES",
    "NONDETERMINISTIC",
    "NUMPY_BINARY",
    "NUMPY_UNARY",
    "ONNX_DTYPES",
    "REGION_LIMIT",
    "SHAPE_CHECKS",
    "TOPSIM_TO_ONNX",
    "UNARY",
    "OnnxImport",
    "OnnxImportWarning",
    "Shape",
    "import_onnx",
    "load_onnx",
    "map_alias",
    "map_batchnorm",
    "map_binary",
    "map_cast",
    "map_clip",
    "map_concat",
    "map_conv",
    "map_conv_transpose",
    "map_copy",
    "map_dequantize",
    "map_dynamic_quantize",
    "map_einsum",
    "map_gather",
    "map_gemm",
    "map_global_pool",
    "map_layernorm",
    "map_matmul",
    "map_pool",
    "map_pow",
    "map_quantize",
    "map_reduce",
    "map_reshape",
    "map_resize",
    "map_rnn",
    "map_skip_layernorm",
    "map_softmax",
    "map_split",
    "map_transpose",
    "map_unary",
    "onnx_dtype",
    "read_model",
    "to_onnx",
]
