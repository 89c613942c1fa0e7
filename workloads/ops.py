"""Op kinds: how each infers its output shapes and counts its work.

Every kind maps input tensors and attributes to `OpStats`: output shapes, MACs, non-MAC
element operations (`flops`), op class (matrix/vector/scalar), and for matrix ops the GEMM
view (batch, M, N, K) that tiling works on. One table, one function per kind; the
simulator never looks at kinds again, only at these numbers.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from hardware.quantity import check_flag

Shape = tuple[int, ...]


class OpShapeError(ValueError):
    """Inputs or attributes an op kind cannot accept; the message names the problem."""


@dataclass(frozen=True, slots=True)
class Gemm:
    """`batch` independent M x N x K matrix products."""

    batch: int
    m: int
    n: int
    k: int

    @property
    def macs(self) -> int:
        return self.batch * self.m * self.n * self.k


@dataclass(frozen=True, slots=True)
class OpStats:
    out_shapes: tuple[Shape, ...]
    macs: int = 0
    flops: int = 0
    op_class: str = "vector"
    gemm: Gemm | None = None
    is_view: bool = False  # reshape/flatten: no data moves, no kernel
    read_fraction: float = 1.0  # share of the non-activation inputs really read (embedding)

    @property
    def ops(self) -> int:
        """Operations as counted against a TOP/s figure: 2 per MAC plus element ops."""
        return 2 * self.macs + self.flops


MAX_OP_COUNT = 2**64  # MACs or element operations of one op; 2^50 elements x 2^14 each


def _short(value: Any) -> str:
    if isinstance(value, int) and value.bit_length() > 128:
        return f"an integer of {value.bit_length()} bits"
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def numel(shape: Sequence[int]) -> int:
    return math.prod(shape)


def _pair(value: Any, name: str) -> tuple[int, int]:
    if isinstance(value, int) and not isinstance(value, bool):
        return value, value
    if (
        isinstance(value, list | tuple)
        and len(value) == 2
        and all(isinstance(v, int) and not isinstance(v, bool) for v in value)
    ):
        return int(value[0]), int(value[1])
    raise OpShapeError(f"attribute {name!r} must be an int or a pair of ints, got {value!r}")


def _flag_attr(attrs: dict, name: str, default: bool) -> bool:
    """A yes/no attribute (`causal`, `accelerated`): true or false, as every flag."""
    try:
        return check_flag(attrs.get(name, default))
    except ValueError as err:
        raise OpShapeError(f"attribute {name!r} {err}") from None


def _int_attr(attrs: dict, name: str, default: int) -> int:
    """An integer attribute; anything else (a string, a list, a bool) is an OpShapeError."""
    value = attrs.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int):
        raise OpShapeError(f"attribute {name!r} must be an int, got {value!r}")
    return value


# weights sharing one scale in weight-only quantization (the common GPTQ/AWQ choice;
# gpt-fast's int4 uses 32): read by sim/lower.py for ops whose weight dtype differs
DEFAULT_GROUP_SIZE = 128


def group_size(attrs: dict) -> int:
    """The `group_size` attribute of a matmul/linear: weights per quantization scale."""
    value = _int_attr(attrs, "group_size", DEFAULT_GROUP_SIZE)
    if value < 1:
        raise OpShapeError(f"attribute 'group_size' must be at least 1, got {value}")
    return value


def _int_list(value: Any, name: str) -> list[int]:
    if not isinstance(value, list | tuple) or not all(
        isinstance(v, int) and not isinstance(v, bool) for v in value
    ):
        raise OpShapeError(f"attribute {name!r} must be a list of ints, got {value!r}")
    return list(value)


def _need(shapes: Sequence[Shape], count: int | tuple[int, int], kind: str) -> None:
    low, high = (count, count) if isinstance(count, int) else count
    if not low <= len(shapes) <= high:
        want = f"{low}" if low == high else f"{low} to {high}"
        raise OpShapeError(f"{kind} takes {want} inputs, got {len(shapes)}")


def _broadcast(a: Shape, b: Shape) -> Shape:
    out = []
    for x, y in zip(
        reversed((1,) * (len(b) - len(a)) + a), reversed((1,) * (len(a) - len(b)) + b), strict=True
    ):
        if x != y and 1 not in (x, y):
            raise OpShapeError(f"shapes {list(a)} and {list(b)} do not broadcast")
        out.append(max(x, y))
    return tuple(reversed(out))


def _matmul(shapes: list[Shape], attrs: dict) -> OpStats:
    _need(shapes, 2, "matmul")
    group_size(attrs)
    a, b = shapes
    if len(a) < 2 or len(b) < 2:
        raise OpShapeError("matmul inputs need at least 2 dimensions")
    m, k = a[-2], a[-1]
    if b[-2] != k:
        raise OpShapeError(f"matmul inner dimensions differ: {list(a)} x {list(b)}")
    batch_shape = _broadcast(a[:-2], b[:-2])
    n = b[-1]
    batch = numel(batch_shape)
    return OpStats(
        out_shapes=(batch_shape + (m, n),),
        macs=batch * m * n * k,
        op_class="matrix",
        gemm=Gemm(batch, m, n, k),
    )


def _linear(shapes: list[Shape], attrs: dict) -> OpStats:
    _need(shapes, (2, 3), "linear")
    group_size(attrs)
    x, w = shapes[0], shapes[1]
    if not x or len(w) != 2 or x[-1] != w[0]:
        raise OpShapeError(f"linear expects x[..., in] and w[in, out]; got {list(x)} and {list(w)}")
    if len(shapes) == 3 and shapes[2] != (w[1],):
        raise OpShapeError(f"linear bias must have shape [{w[1]}], got {list(shapes[2])}")
    m = numel(x[:-1])
    bias_flops = m * w[1] if len(shapes) == 3 else 0
    return OpStats(
        out_shapes=(x[:-1] + (w[1],),),
        macs=m * w[0] * w[1],
        flops=bias_flops,
        op_class="matrix",
        gemm=Gemm(1, m, w[1], w[0]),
    )


def conv_out(size: int, kernel: int, stride: int, pad: int, dilation: int) -> int:
    return (size + 2 * pad - dilation * (kernel - 1) - 1) // stride + 1


def _conv2d(shapes: list[Shape], attrs: dict) -> OpStats:
    _need(shapes, (2, 3), "conv2d")
    x, w = shapes[0], shapes[1]
    if len(x) != 4 or len(w) != 4:
        raise OpShapeError(
            f"conv2d expects x[N,C,H,W] and w[Cout,Cin/groups,kh,kw]; got {list(x)} and {list(w)}"
        )
    groups = _int_attr(attrs, "groups", 1)
    sh, sw = _pair(attrs.get("stride", 1), "stride")
    ph, pw = _pair(attrs.get("padding", 0), "padding")
    dh, dw = _pair(attrs.get("dilation", 1), "dilation")
    n, c, h, wd = x
    cout, cin_g, kh, kw = w
    if groups < 1 or c % groups or cout % groups or cin_g * groups != c:
        raise OpShapeError(
            f"conv2d with groups={groups}: input has {c} channels but the weight "
            f"expects {cin_g} per group ({cin_g * groups} in all)"
        )
    if min(sh, sw, dh, dw) < 1 or min(ph, pw) < 0:
        raise OpShapeError("conv2d stride and dilation must be >= 1 and padding >= 0")
    ho, wo = conv_out(h, kh, sh, ph, dh), conv_out(wd, kw, sw, pw, dw)
    if ho < 1 or wo < 1:
        raise OpShapeError(f"conv2d kernel {kh}x{kw} does not fit the {h}x{wd} input")
    if len(shapes) == 3 and shapes[2] != (cout,):
        raise OpShapeError(f"conv2d bias must have shape [{cout}], got {list(shapes[2])}")
    out = (n, cout, ho, wo)
    macs = n * cout * ho * wo * cin_g * kh * kw
    bias = numel(out) if len(shapes) == 3 else 0
    depthwise = cin_g == 1 and groups > 1
    if depthwise:
        return OpStats(out_shapes=(out,), macs=macs, flops=bias, op_class="vector")
    gemm = Gemm(groups, n * ho * wo, cout // groups, cin_g * kh * kw)
    return OpStats(out_shapes=(out,), macs=macs, flops=bias, op_class="matrix", gemm=gemm)


# element operations per output element for the elementwise kinds
UNARY_FLOPS = {
    "relu": 1,
    "relu6": 2,
    "gelu": 8,
    "silu": 4,
    "sigmoid": 4,
    "tanh": 4,
    "hardswish": 4,
    "exp": 1,
    "neg": 1,
    "sqrt": 1,
    "cast": 1,
    "copy": 1,
}
BINARY_FLOPS = {"add": 1, "sub": 1, "mul": 1, "div": 1, "max": 1, "min": 1}


def _unary(kind: str) -> Callable[[list[Shape], dict], OpStats]:
    def infer(shapes: list[Shape], attrs: dict) -> OpStats:
        _need(shapes, 1, kind)
        return OpStats(out_shapes=(shapes[0],), flops=UNARY_FLOPS[kind] * numel(shapes[0]))

    return infer


def _binary(kind: str) -> Callable[[list[Shape], dict], OpStats]:
    def infer(shapes: list[Shape], attrs: dict) -> OpStats:
        _need(shapes, 2, kind)
        out = _broadcast(shapes[0], shapes[1])
        return OpStats(out_shapes=(out,), flops=BINARY_FLOPS[kind] * numel(out))

    return infer


def _norm(kind: str, flops_per_element: int) -> Callable[[list[Shape], dict], OpStats]:
    def infer(shapes: list[Shape], attrs: dict) -> OpStats:
        _need(shapes, (1, 3), kind)
        x = shapes[0]
        if not x:
            raise OpShapeError(f"{kind} needs an input with at least 1 dimension, got a scalar")
        channels = x[1] if kind == "batchnorm" and len(x) > 1 else x[-1]
        for param in shapes[1:]:
            if numel(param) != channels:
                raise OpShapeError(
                    f"{kind} parameters must have {channels} elements, got {list(param)}"
                )
        return OpStats(out_shapes=(x,), flops=flops_per_element * numel(x))

    return infer


def _pool(kind: str) -> Callable[[list[Shape], dict], OpStats]:
    def infer(shapes: list[Shape], attrs: dict) -> OpStats:
        _need(shapes, 1, kind)
        x = shapes[0]
        if len(x) != 4:
            raise OpShapeError(f"{kind} expects x[N,C,H,W], got {list(x)}")
        kh, kw = _pair(attrs.get("kernel", 2), "kernel")
        sh, sw = _pair(attrs.get("stride", attrs.get("kernel", 2)), "stride")
        ph, pw = _pair(attrs.get("padding", 0), "padding")
        if min(kh, kw, sh, sw) < 1 or min(ph, pw) < 0:
            raise OpShapeError(f"{kind} kernel and stride must be >= 1 and padding >= 0")
        ho, wo = conv_out(x[2], kh, sh, ph, 1), conv_out(x[3], kw, sw, pw, 1)
        if ho < 1 or wo < 1:
            raise OpShapeError(f"{kind} window {kh}x{kw} does not fit the {x[2]}x{x[3]} input")
        out = (x[0], x[1], ho, wo)
        return OpStats(out_shapes=(out,), flops=numel(out) * kh * kw)

    return infer


def _global_avgpool(shapes: list[Shape], attrs: dict) -> OpStats:
    _need(shapes, 1, "global_avgpool")
    x = shapes[0]
    if len(x) != 4:
        raise OpShapeError(f"global_avgpool expects x[N,C,H,W], got {list(x)}")
    return OpStats(out_shapes=((x[0], x[1], 1, 1),), flops=numel(x))


def _axis(attrs: dict, rank: int) -> int:
    axis = _int_attr(attrs, "axis", -1)
    if not -rank <= axis < rank:
        raise OpShapeError(f"axis {axis} is out of range for rank {rank}")
    return axis % rank


def _softmax(shapes: list[Shape], attrs: dict) -> OpStats:
    _need(shapes, 1, "softmax")
    _axis(attrs, len(shapes[0]))
    return OpStats(out_shapes=(shapes[0],), flops=5 * numel(shapes[0]))


def _attention(shapes: list[Shape], attrs: dict) -> OpStats:
    """Fused scaled-dot-product attention: q[B,H,S,D], k and v [B,Hkv,T,D] -> [B,H,S,D].

    With five inputs (q, k_cache, v_cache, k_new, v_new) the new keys and values are
    appended to a KV cache in place: attention runs over T_cache + S keys, and only the
    new rows are written.
    """
    _need(shapes, (3, 5), "attention")
    if len(shapes) == 4:
        raise OpShapeError("attention takes q, k, v or q, k_cache, v_cache, k_new, v_new")
    q, k, v = shapes[:3]
    new = shapes[3] if len(shapes) == 5 else None
    if len(q) != 4 or len(k) != 4:
        raise OpShapeError(
            f"attention expects q[B,H,S,D] and k, v [B,Hkv,T,D] (4 dimensions each); got "
            f"{list(q)}, {list(k)}, {list(v)}"
        )
    if len(shapes) == 5 and (
        shapes[3] != shapes[4]
        or len(new) != 4
        or new[2] != q[2]
        or new[0] != k[0]
        or k[1] % new[1]
        or new[3] != k[3]
    ):
        raise OpShapeError(
            f"attention k_new and v_new must be [B,Hkv,S,D] matching q and the "
            f"cache (the cache may hold a multiple of Hkv heads: a kernel that reads each "
            f"KV head once per query head); got {list(shapes[3])} and {list(shapes[4])}"
        )
    if len(q) != 4 or len(k) != 4 or k != v or q[0] != k[0] or q[3] != k[3] or q[1] % k[1]:
        raise OpShapeError(
            f"attention expects q[B,H,S,D], k=v[B,Hkv,T,D] with H a multiple of "
            f"Hkv; got {list(q)}, {list(k)}, {list(v)}"
        )
    b, h, s, d = q
    cached = k[2] if new is not None else 0
    t = k[2] + (new[2] if new is not None else 0)
    pairs = s * t
    if _flag_attr(attrs, "causal", False) and s <= t:
        pairs = s * cached + s * (s + 1) // 2 if new is not None else s * (t - s) + s * (s + 1) // 2
    macs = 2 * b * h * pairs * d
    group = h // k[1]  # query heads sharing one KV head are stacked into M, as kernels do
    return OpStats(
        out_shapes=(q,),
        macs=macs,
        flops=5 * b * h * pairs,
        op_class="matrix",
        gemm=Gemm(2 * b * k[1], s * group, max(1, pairs // s), d),
    )


def _concat(shapes: list[Shape], attrs: dict) -> OpStats:
    if not shapes:
        raise OpShapeError("concat needs at least one input")
    axis = _axis(attrs, len(shapes[0]))
    for s in shapes:
        if len(s) != len(shapes[0]) or any(
            a != b for i, (a, b) in enumerate(zip(s, shapes[0], strict=True)) if i != axis
        ):
            raise OpShapeError(
                f"concat inputs must match except on axis {axis}: {[list(s) for s in shapes]}"
            )
    out = list(shapes[0])
    out[axis] = sum(s[axis] for s in shapes)
    return OpStats(out_shapes=(tuple(out),))


def _split(shapes: list[Shape], attrs: dict) -> OpStats:
    _need(shapes, 1, "split")
    x = shapes[0]
    axis = _axis(attrs, len(x))
    sizes = attrs.get("sizes")
    if (
        not isinstance(sizes, list)
        or not sizes
        or not all(isinstance(s, int) and not isinstance(s, bool) for s in sizes)
        or sum(sizes) != x[axis]
        or min(sizes) < 1
    ):
        raise OpShapeError(f"split needs 'sizes', positive and summing to {x[axis]} (axis {axis})")
    outs = []
    for size in sizes:
        out = list(x)
        out[axis] = size
        outs.append(tuple(out))
    return OpStats(out_shapes=tuple(outs))


def _reshape(shapes: list[Shape], attrs: dict) -> OpStats:
    _need(shapes, 1, "reshape")
    target = _int_list(attrs.get("shape", []), "shape")
    if target.count(-1) > 1 or any((not isinstance(d, int)) or d == 0 or d < -1 for d in target):
        raise OpShapeError(
            f"reshape 'shape' must be positive ints with at most one -1, got {target}"
        )
    total = numel(shapes[0])
    if -1 in target:
        known = numel([d for d in target if d != -1])
        if total % known:
            raise OpShapeError(f"cannot reshape {list(shapes[0])} to {target}")
        target[target.index(-1)] = total // known
    if numel(target) != total:
        raise OpShapeError(f"cannot reshape {list(shapes[0])} ({total} elements) to {target}")
    return OpStats(out_shapes=(tuple(target),), is_view=True)


def _flatten(shapes: list[Shape], attrs: dict) -> OpStats:
    _need(shapes, 1, "flatten")
    x = shapes[0]
    axis = _int_attr(attrs, "axis", 1)
    if not 0 <= axis <= len(x):
        raise OpShapeError(f"flatten axis {axis} is out of range for rank {len(x)} (0..{len(x)})")
    return OpStats(out_shapes=(x[:axis] + (numel(x[axis:]),),), is_view=True)


def _transpose(shapes: list[Shape], attrs: dict) -> OpStats:
    _need(shapes, 1, "transpose")
    x = shapes[0]
    perm = _int_list(attrs.get("perm", list(reversed(range(len(x))))), "perm")
    if sorted(perm) != list(range(len(x))):
        raise OpShapeError(f"transpose 'perm' must be a permutation of 0..{len(x) - 1}, got {perm}")
    return OpStats(out_shapes=(tuple(x[p] for p in perm),), flops=0)


def _channel_shuffle(shapes: list[Shape], attrs: dict) -> OpStats:
    _need(shapes, 1, "channel_shuffle")
    x = shapes[0]
    groups = _int_attr(attrs, "groups", 2)
    if len(x) < 2:
        raise OpShapeError(f"channel_shuffle expects x[N,C,...], got {list(x)}")
    if groups < 1 or x[1] % groups:
        raise OpShapeError(f"channel_shuffle groups={groups} must divide the {x[1]} channels")
    return OpStats(out_shapes=(x,))


def _embedding(shapes: list[Shape], attrs: dict) -> OpStats:
    _need(shapes, 2, "embedding")
    ids, table = shapes
    if len(table) != 2:
        raise OpShapeError(f"embedding table must be [vocab, dim], got {list(table)}")
    rows = numel(ids)
    return OpStats(out_shapes=(ids + (table[1],),), read_fraction=min(1.0, rows / table[0]))


def _custom(shapes: list[Shape], attrs: dict) -> OpStats:
    out = attrs.get("out_shapes")
    if (
        not isinstance(out, list)
        or not out
        or not all(
            isinstance(s, list) and all(isinstance(d, int) and not isinstance(d, bool) for d in s)
            for s in out
        )
    ):
        raise OpShapeError("custom ops need 'out_shapes', a list of shapes (lists of ints)")
    macs, flops = attrs.get("macs", 0), attrs.get("flops", 0)
    if (
        not all(isinstance(n, int) and not isinstance(n, bool) for n in (macs, flops))
        or not 0 <= macs <= MAX_OP_COUNT
        or not 0 <= flops <= MAX_OP_COUNT
    ):
        raise OpShapeError(
            f"custom op 'macs' and 'flops' must be integers from 0 to 2^64 "
            f"({MAX_OP_COUNT:.3g}), got {_short(macs)} and {_short(flops)}"
        )
    _flag_attr(attrs, "accelerated", True)
    op_class = attrs.get("op_class", "vector")
    if op_class not in ("matrix", "vector", "scalar"):
        raise OpShapeError(
            f"custom op 'op_class' must be matrix, vector or scalar, got {op_class!r}"
        )
    return OpStats(
        out_shapes=tuple(tuple(s) for s in out), macs=macs, flops=flops, op_class=op_class
    )


KINDS: dict[str, Callable[[list[Shape], dict], OpStats]] = {
    "matmul": _matmul,
    "linear": _linear,
    "conv2d": _conv2d,
    **{k: _unary(k) for k in UNARY_FLOPS},
    **{k: _binary(k) for k in BINARY_FLOPS},
    "batchnorm": _norm("batchnorm", 2),
    "layernorm": _norm("layernorm", 8),
    "rmsnorm": _norm("rmsnorm", 5),
    "maxpool": _pool("maxpool"),
    "avgpool": _pool("avgpool"),
    "global_avgpool": _global_avgpool,
    "softmax": _softmax,
    "attention": _attention,
    "concat": _concat,
    "split": _split,
    "reshape": _reshape,
    "flatten": _flatten,
    "transpose": _transpose,
    "channel_shuffle": _channel_shuffle,
    "embedding": _embedding,
    "custom": _custom,
}

# kinds an accelerator unit with `supports: ["*"]` does NOT take: custom ops run on an
# accelerator only if their `accelerated` attribute is true (the default).
ATTRIBUTE_KEYS: dict[str, set[str]] = {
    "matmul": {"group_size"},
    "linear": {"group_size"},
    "conv2d": {"stride", "padding", "dilation", "groups"},
    "maxpool": {"kernel", "stride", "padding"},
    "avgpool": {"kernel", "stride", "padding"},
    "softmax": {"axis"},
    "attention": {"causal"},
    "concat": {"axis"},
    "split": {"axis", "sizes"},
    "reshape": {"shape"},
    "flatten": {"axis"},
    "transpose": {"perm"},
    "channel_shuffle": {"groups"},
    "custom": {"out_shapes", "macs", "flops", "op_class", "accelerated", "dtype"},
}


_INFERRED: dict[tuple, OpStats] = {}  # networks repeat layers: the same op, the same stats
_INFERRED_LIMIT = 100_000


def infer(kind: str, shapes: list[Shape], attrs: dict) -> OpStats:
    """Stats of one op; raises OpShapeError for inputs or attributes the kind rejects."""
    try:
        key = (kind, tuple(shapes), repr(sorted(attrs.items())))
    except ValueError:  # an integer too long to print: nothing to cache, _infer refuses it
        return _infer(kind, shapes, attrs)
    cached = _INFERRED.get(key)
    if cached is not None:
        return cached
    stats = _infer(kind, shapes, attrs)
    if len(_INFERRED) >= _INFERRED_LIMIT:
        _INFERRED.clear()
    _INFERRED[key] = stats
    return stats


def _infer(kind: str, shapes: list[Shape], attrs: dict) -> OpStats:
    allowed = ATTRIBUTE_KEYS.get(kind, set()) | {"dtype"}
    unknown = sorted(set(attrs) - allowed)
    if unknown:
        raise OpShapeError(
            f"{kind} has no attribute {unknown[0]!r}; allowed: {', '.join(sorted(allowed))}"
        )
    return KINDS[kind](shapes, attrs)
