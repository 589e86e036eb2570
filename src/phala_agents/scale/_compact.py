"""SCALE compact integers (the length prefix of every vector)."""

from __future__ import annotations

from phala_agents.errors import DecodeError

_MAX_COMPACT = 2**536 - 1


def encode_compact(value: int) -> bytes:
    if value < 0 or value > _MAX_COMPACT:
        raise ValueError(f"compact integer out of range: {value}")
    if value < 1 << 6:
        return bytes((value << 2,))
    if value < 1 << 14:
        return ((value << 2) | 0b01).to_bytes(2, "little")
    if value < 1 << 30:
        return ((value << 2) | 0b10).to_bytes(4, "little")
    length = (value.bit_length() + 7) // 8
    return bytes((((length - 4) << 2) | 0b11,)) + value.to_bytes(length, "little")


def decode_compact(data: bytes | memoryview, offset: int = 0) -> tuple[int, int]:
    """Decode a compact integer at ``offset``; return ``(value, next_offset)``."""
    try:
        first = data[offset]
        mode = first & 0b11
        if mode == 0b00:
            return first >> 2, offset + 1
        if mode == 0b01:
            if offset + 2 > len(data):
                raise IndexError
            return int.from_bytes(data[offset : offset + 2], "little") >> 2, offset + 2
        if mode == 0b10:
            if offset + 4 > len(data):
                raise IndexError
            return int.from_bytes(data[offset : offset + 4], "little") >> 2, offset + 4
        length = (first >> 2) + 4
        end = offset + 1 + length
        if end > len(data):
            raise IndexError
        return int.from_bytes(data[offset + 1 : end], "little"), end
    except IndexError:
        raise DecodeError(
            f"compact integer at offset {offset}: found end of input, wanted more bytes"
        ) from None
