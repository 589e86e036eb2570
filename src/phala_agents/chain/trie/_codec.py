"""The node codec of Substrate's base-16 Patricia-Merkle trie (sp-trie ``NodeCodec``).

A node is one header, its partial key, then its payload::

    leaf                 01 nnnnnn  partial  compact(len) value
    hashed-value leaf    001 nnnnn  partial  blake2_256(value)
    branch, no value     10 nnnnnn  partial  bitmap(u16 LE)                    children
    branch with value    11 nnnnnn  partial  bitmap(u16 LE)  compact(len) value children
    hashed-value branch  0001 nnnn  partial  bitmap(u16 LE)  blake2_256(value) children
    empty trie           00000000

``n`` is the partial key's nibble count. When it does not fit the header's low bits the bits are
all ones and the rest follows in bytes of 255 until one byte below 255. The partial key packs two
nibbles a byte, padded with a zero nibble in front when the count is odd. Each child is a SCALE
``Vec<u8>``: the 32-byte hash of the child's encoding, or the encoding itself when it is shorter
than 32 bytes (an inline child).

Nibble paths are lowercase hex strings throughout this package: ``key.hex()`` is the key's nibble
path, slicing and ``startswith`` run in C, and a nibble path packs back with ``bytes.fromhex``.
"""

from __future__ import annotations

from typing import Final

from phala_agents.errors import DecodeError, InvalidProof
from phala_agents.scale import decode_compact, encode_compact

HASH_LENGTH: Final = 32
EMPTY_NODE: Final = b"\x00"

LEAF: Final = 0x40
BRANCH_NO_VALUE: Final = 0x80
BRANCH_WITH_VALUE: Final = 0xC0
HASHED_VALUE_LEAF: Final = 0x20
HASHED_VALUE_BRANCH: Final = 0x10

# Low bits that hold the nibble count for each kind: 6 for the two-bit kinds, 5 and 4 for the
# hashed-value kinds, whose prefixes are longer.
_COUNT_BITS: Final = {
    LEAF: 6,
    BRANCH_NO_VALUE: 6,
    BRANCH_WITH_VALUE: 6,
    HASHED_VALUE_LEAF: 5,
    HASHED_VALUE_BRANCH: 4,
}

NIBBLE_INDEX: Final[dict[str, int]] = {c: i for i, c in enumerate("0123456789abcdef")}
HEX_NIBBLE: Final = "0123456789abcdef"

# Compact lengths below 2**14 are looked up, not computed: every node encoding needs a few.
_COMPACT: Final = [encode_compact(i) for i in range(1 << 14)]


def compact_length(n: int) -> bytes:
    return _COMPACT[n] if n < 16384 else encode_compact(n)


def _header_uncached(kind: int, nibble_count: int) -> bytes:
    max_value = (1 << _COUNT_BITS[kind]) - 1
    if nibble_count < max_value:
        return bytes((kind | nibble_count,))
    out = bytearray((kind | max_value,))
    rem = nibble_count - (max_value - 1)
    while rem >= 256:
        out.append(255)
        rem -= 255
    out.append(rem - 1)
    return bytes(out)


# Headers for the nibble counts that real keys produce (up to 64-byte keys) are precomputed.
_HEADERS: Final = {kind: [_header_uncached(kind, n) for n in range(130)] for kind in _COUNT_BITS}


def header(kind: int, nibble_count: int) -> bytes:
    if nibble_count < 130:
        return _HEADERS[kind][nibble_count]
    return _header_uncached(kind, nibble_count)


def pack_nibbles(path: str) -> bytes:
    """Pack a nibble path, with the zero nibble in front when its length is odd."""
    return bytes.fromhex("0" + path if len(path) & 1 else path)


# --- decoding (proof verification) --------------------------------------------------------------


class DecodedNode:
    """One decoded node: its partial key, value (or value hash) and child references."""

    __slots__ = ("children", "path", "value", "value_hashed")

    def __init__(
        self,
        path: str,
        value: bytes | None,
        value_hashed: bool,
        children: list[bytes | None] | None,
    ) -> None:
        self.path = path
        self.value = value
        self.value_hashed = value_hashed
        # None for a leaf; else 16 entries, each a 32-byte hash, an inline encoding, or None.
        self.children = children


def _bad(what: str) -> InvalidProof:
    return InvalidProof(f"trie node: {what}")


def decode_node(data: bytes) -> DecodedNode:
    """Decode one node encoding; raise InvalidProof when it is not a canonical node."""
    if not data:
        raise _bad("found 0 bytes, wanted a header byte")
    first = data[0]
    top = first & 0xC0
    if top:
        kind = top
    elif first & 0xE0 == HASHED_VALUE_LEAF:
        kind = HASHED_VALUE_LEAF
    elif first & 0xF0 == HASHED_VALUE_BRANCH:
        kind = HASHED_VALUE_BRANCH
    else:
        # The empty node is never a child or a proof entry of a non-empty trie.
        raise _bad(f"header byte is {first:#04x}, wanted a leaf or branch kind")
    max_value = (1 << _COUNT_BITS[kind]) - 1
    count = first & max_value
    offset = 1
    end = len(data)
    if count == max_value:
        count -= 1
        while True:
            if offset >= end:
                raise _bad("nibble count runs past the end")
            byte = data[offset]
            offset += 1
            if byte < 255:
                count += byte + 1
                break
            count += 255
    nbytes = (count + 1) // 2
    if offset + nbytes > end:
        raise _bad(f"partial key of {count} nibbles runs past the end")
    path = data[offset : offset + nbytes].hex()
    if count & 1:
        if path[0] != "0":
            raise _bad("padding nibble of the partial key is not zero")
        path = path[1:]
    offset += nbytes

    value: bytes | None = None
    hashed = kind in (HASHED_VALUE_LEAF, HASHED_VALUE_BRANCH)
    children: list[bytes | None] | None = None
    bitmap = 0
    if kind in (BRANCH_NO_VALUE, BRANCH_WITH_VALUE, HASHED_VALUE_BRANCH):
        if offset + 2 > end:
            raise _bad("children bitmap runs past the end")
        bitmap = data[offset] | (data[offset + 1] << 8)
        offset += 2
        if bitmap == 0:
            raise _bad("branch bitmap is 0, wanted at least one child")
    if kind != BRANCH_NO_VALUE:
        if hashed:
            value, offset = _take(data, offset, HASH_LENGTH, "value hash")
        else:
            value, offset = _take_vec(data, offset, "value")
    if bitmap:
        children = [None] * 16
        for i in range(16):
            if bitmap >> i & 1:
                child, offset = _take_vec(data, offset, "child reference")
                if len(child) > HASH_LENGTH:
                    raise _bad(f"child reference is {len(child)} bytes, wanted at most 32")
                children[i] = child
    if offset != end:
        raise _bad(f"{end - offset} bytes after the node")
    return DecodedNode(path, value, hashed, children)


def _take(data: bytes, offset: int, n: int, what: str) -> tuple[bytes, int]:
    if offset + n > len(data):
        raise _bad(f"{what} runs past the end")
    return data[offset : offset + n], offset + n


def _take_vec(data: bytes, offset: int, what: str) -> tuple[bytes, int]:
    try:
        n, offset = decode_compact(data, offset)
    except DecodeError as exc:
        raise _bad(f"{what} length runs past the end") from exc
    return _take(data, offset, n, what)
