"""The protobuf wire format, the little of it a trace writer needs (encoding only).

A message is a sequence of fields, each a key (field number << 3 | wire type) followed by
its value: a varint (wire type 0: integers, enums, bools), 8 little-endian bytes (wire
type 1: double, fixed64), or a length-delimited run of bytes (wire type 2: strings,
bytes and nested messages, a varint length first). Negative integers are 10-byte varints
of their two's complement (int32/int64, not the zigzag sint types). See
https://protobuf.dev/programming-guides/encoding/.
"""

from __future__ import annotations

import struct
from functools import lru_cache

VARINT, FIXED64, LENGTH = 0, 1, 2
_DOUBLE = struct.Struct("<d")
_FIXED64 = struct.Struct("<Q")
_ONE_BYTE = [bytes((n,)) for n in range(0x80)]


def varint(value: int) -> bytes:
    """`value` as a base-128 varint, least significant group first."""
    if value < 0:
        value += 1 << 64
    if value < 0x80:
        return _ONE_BYTE[value]
    if value < 0x4000:
        return bytes((value & 0x7F | 0x80, value >> 7))
    out = bytearray()
    while value >= 0x80:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


@lru_cache(maxsize=1024)
def key(field: int, wire_type: int) -> bytes:
    return varint(field << 3 | wire_type)


_VARINT_KEYS = [varint(number << 3 | VARINT) for number in range(128)]


def uint(field: int, value: int) -> bytes:
    """A varint field: uint32/64, int32/64, an enum or a bool."""
    head = _VARINT_KEYS[field] if field < 128 else key(field, VARINT)
    return head + varint(int(value))


def double(field: int, value: float) -> bytes:
    return key(field, FIXED64) + _DOUBLE.pack(value)


def fixed64(field: int, value: int) -> bytes:
    return key(field, FIXED64) + _FIXED64.pack(value)


def string(field: int, text: str) -> bytes:
    data = text.encode("utf-8", "backslashreplace")
    return key(field, LENGTH) + varint(len(data)) + data


def message(field: int, *parts: bytes) -> bytes:
    """A nested message made of already encoded fields."""
    body = b"".join(parts)
    return key(field, LENGTH) + varint(len(body)) + body
