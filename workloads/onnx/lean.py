"""An ONNX file's bytes without its large weights, cut out of the protobuf wire format.

topsim needs an ONNX model's graph and the dims and dtype of its initializers, never the
values of large ones (only small constants: Reshape shapes, Slice starts, scales). Parsing
the whole file would copy every weight into memory (twice: the file's bytes, then the
parsed message), so loading a 330 MB ViT-B/16 took over 1 GB for data thrown away.

`lean_model_bytes` walks the file, memory-mapped, with the protobuf wire format
(https://protobuf.dev/programming-guides/encoding/: each field a varint key
`number << 3 | wire type`, then a varint, 4 or 8 bytes, or a varint length and that many
bytes) and writes a copy that keeps every field except the data of tensors over `limit`
elements (TensorProto fields float_data, int32_data, string_data, int64_data, raw_data,
double_data, uint64_data): the graph's initializers and sparse initializers, tensors in
node attributes (a Constant's value), and the same inside subgraphs (If/Loop/Scan
bodies) and functions. Their dims, dtype and name stay. The skipped bytes are never read,
so the pages holding them are never loaded: memory follows the graph, not the weights.
Field numbers are those of onnx.proto (see CHILDREN; TensorProto.dims = 1).
"""

from __future__ import annotations

import mmap
import os
from collections.abc import Iterator

TENSOR_DIMS = 1
TENSOR_DATA_FIELDS = frozenset({4, 5, 6, 7, 9, 10, 11})
VARINT, FIXED64, LENGTH, FIXED32 = 0, 1, 2, 5


class WireError(ValueError):
    """The bytes are not protobuf this reader can walk (the caller parses them whole)."""


def _varint(buf, pos: int, end: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        if pos >= end or shift > 63:
            raise WireError("truncated or overlong varint")
        byte = buf[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, pos
        shift += 7


def _encode_varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _fields(buf, start: int, end: int) -> Iterator[tuple[int, int, int, int, int]]:
    """(field number, wire type, start of the key, start of the value, end of the field)."""
    pos = start
    while pos < end:
        key_at = pos
        key, pos = _varint(buf, pos, end)
        number, wire = key >> 3, key & 7
        if wire == VARINT:
            _, after = _varint(buf, pos, end)
        elif wire == FIXED64:
            after = pos + 8
        elif wire == FIXED32:
            after = pos + 4
        elif wire == LENGTH:
            length, pos = _varint(buf, pos, end)
            after = pos + length
        else:  # groups (wire types 3 and 4) are not used by onnx.proto
            raise WireError(f"unsupported wire type {wire}")
        if after > end or number == 0:
            raise WireError("field runs past its message")
        yield number, wire, key_at, pos, after
        pos = after


def _numel(buf, start: int, end: int, cap: int) -> int:
    """Elements of a TensorProto from its dims (packed or not), 1 for a scalar, held at
    `cap` once past it (a product of 100k huge dims would be a megabit integer, each
    multiplication slower than the last); a zero dim still makes it 0."""
    count = 1
    for number, wire, _, value_at, after in _fields(buf, start, end):
        if number != TENSOR_DIMS:
            continue
        if wire == VARINT:
            dim, _ = _varint(buf, value_at, after)
            count = min(count * dim, cap)
        elif wire == LENGTH:
            pos = value_at
            while pos < after:
                dim, pos = _varint(buf, pos, after)
                count = min(count * dim, cap)
    return count


def _tensor(buf, start: int, end: int, limit: int) -> bytes:
    if _numel(buf, start, end, limit + 1) <= limit:
        return bytes(buf[start:end])
    return b"".join(
        bytes(buf[key_at:after])
        for number, _, key_at, _, after in _fields(buf, start, end)
        if number not in TENSOR_DATA_FIELDS
    )


# the messages the walk enters, and in each the fields holding messages it enters (numbers
# from onnx.proto); a field not listed is copied as it is
MODEL, FUNCTION, GRAPH, NODE, ATTRIBUTE, SPARSE, TENSOR = range(7)
CHILDREN: dict[int, dict[int, int]] = {
    MODEL: {7: GRAPH, 25: FUNCTION},  # graph, functions
    FUNCTION: {7: NODE},  # node
    GRAPH: {1: NODE, 5: TENSOR, 15: SPARSE},  # node, initializer, sparse_initializer
    NODE: {5: ATTRIBUTE},  # attribute
    # t, tensors, g (an If/Loop/Scan body), graphs, sparse_tensor, sparse_tensors
    ATTRIBUTE: {5: TENSOR, 10: TENSOR, 6: GRAPH, 11: GRAPH, 22: SPARSE, 23: SPARSE},
    SPARSE: {1: TENSOR, 2: TENSOR},  # values, indices
}
MAX_DEPTH = 100  # nested messages (subgraphs in subgraphs); protobuf's own parser stops here


def _message(buf, start: int, end: int, kind: int, limit: int, depth: int = 0) -> bytes:
    """The message of this kind with the data of every tensor over `limit` elements inside
    it left out. A submessage shorter than limit // 2 bytes is copied without a walk: a
    tensor over the limit holds at least that many bytes of data (int4 packs two a byte),
    so nodes and small attributes cost one slice each."""
    if depth > MAX_DEPTH:
        raise WireError(f"messages nested deeper than {MAX_DEPTH} levels")
    if kind == TENSOR:
        return _tensor(buf, start, end, limit)
    children = CHILDREN[kind]
    parts = []
    for number, wire, key_at, value_at, after in _fields(buf, start, end):
        child = children.get(number)
        if child is None or wire != LENGTH or after - value_at < limit // 2:
            parts.append(bytes(buf[key_at:after]))
        else:
            body = _message(buf, value_at, after, child, limit, depth + 1)
            parts.append(_encode_varint(number << 3 | LENGTH) + _encode_varint(len(body)) + body)
    return b"".join(parts)


def lean_bytes(buf, limit: int) -> bytes:
    """A serialized ModelProto with the data of tensors over `limit` elements left out."""
    return _message(buf, 0, len(buf), MODEL, limit)


def lean_model_bytes(path: str | os.PathLike, limit: int) -> bytes:
    """The file's ModelProto bytes without large initializers' data (see the module doc).

    Raises OSError when the file cannot be read and WireError when its bytes are not
    protobuf this walk understands.
    """
    with open(path, "rb") as handle:
        if os.fstat(handle.fileno()).st_size == 0:
            return b""
        with mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as mapped:
            view = memoryview(mapped)
            try:
                return lean_bytes(view, limit)
            finally:
                view.release()
