"""An ONNX file's bytes without its large weights, cut out of the protobuf wire format.

topsim needs an ONNX model's graph and the dims and dtype of its initializers, never the
values of large ones (only small constants: Reshape shapes, Slice starts, scales). Parsing
the whole file would copy every weight into memory (twice: the file's bytes, then the
parsed message), so loading a 330 MB ViT-B/16 took over 1 GB for data thrown away.

`lean_model_bytes` walks the file, memory-mapped, with the protobuf wire format
(https://protobuf.dev/programming-guides/encoding/: each field a varint key
`number << 3 | wire type`, then a varint, 4 or 8 bytes, or a varint length and that many
bytes) and writes a copy that keeps every field except the data of the graph's
initializers over `limit` elements (TensorProto fields float_data, int32_data,
string_data, int64_data, raw_data, double_data, uint64_data); their dims, dtype and name
stay. The skipped bytes are never read, so the pages holding them are never loaded:
memory follows the graph, not the weights. Field numbers are those of onnx.proto
(ModelProto.graph = 7, GraphProto.initializer = 5, TensorProto.dims = 1).
"""

from __future__ import annotations

import mmap
import os
from collections.abc import Iterator

MODEL_GRAPH = 7
GRAPH_INITIALIZER = 5
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


def _numel(buf, start: int, end: int) -> int:
    """Elements of a TensorProto from its dims (packed or not); 1 for a scalar."""
    count = 1
    for number, wire, _, value_at, after in _fields(buf, start, end):
        if number != TENSOR_DIMS:
            continue
        if wire == VARINT:
            dim, _ = _varint(buf, value_at, after)
            count *= dim
        elif wire == LENGTH:
            pos = value_at
            while pos < after:
                dim, pos = _varint(buf, pos, after)
                count *= dim
    return count


def _tensor(buf, start: int, end: int, limit: int) -> bytes:
    if _numel(buf, start, end) <= limit:
        return bytes(buf[start:end])
    return b"".join(
        bytes(buf[key_at:after])
        for number, _, key_at, _, after in _fields(buf, start, end)
        if number not in TENSOR_DATA_FIELDS
    )


def _rewrite(buf, start: int, end: int, field: int, inner) -> bytes:
    """The message with each length-delimited `field` replaced by `inner(start, end)`."""
    parts = []
    for number, wire, key_at, value_at, after in _fields(buf, start, end):
        if number == field and wire == LENGTH:
            body = inner(value_at, after)
            parts.append(_encode_varint((field << 3) | LENGTH) + _encode_varint(len(body)) + body)
        else:
            parts.append(bytes(buf[key_at:after]))
    return b"".join(parts)


def lean_bytes(buf, limit: int) -> bytes:
    """A serialized ModelProto with the data of initializers over `limit` elements left out."""

    def graph(start: int, end: int) -> bytes:
        return _rewrite(buf, start, end, GRAPH_INITIALIZER, lambda s, e: _tensor(buf, s, e, limit))

    return _rewrite(buf, 0, len(buf), MODEL_GRAPH, graph)


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
