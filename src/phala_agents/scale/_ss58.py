"""SS58 addresses: base58(prefix ++ public key ++ blake2b-512("SS58PRE" ++ prefix ++ key)[:2])."""

from __future__ import annotations

import hashlib

from phala_agents.errors import ScaleError

_ALPHABET = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
_INDEX = {c: i for i, c in enumerate(_ALPHABET)}
_CONTEXT = b"SS58PRE"
_RESERVED = (46, 47)  # reserved prefixes (substrate ss58-registry)


def _b58encode(data: bytes) -> str:
    n = int.from_bytes(data, "big")
    out = []
    while n:
        n, r = divmod(n, 58)
        out.append(_ALPHABET[r])
    pad = len(data) - len(data.lstrip(b"\x00"))
    return "1" * pad + "".join(reversed(out))


def _b58decode(text: str) -> bytes:
    n = 0
    for ch in text:
        digit = _INDEX.get(ch)
        if digit is None:
            raise ScaleError(f"SS58 address: found character {ch!r}, wanted a base58 character")
        n = n * 58 + digit
    body = n.to_bytes((n.bit_length() + 7) // 8, "big") if n else b""
    pad = len(text) - len(text.lstrip("1"))
    return b"\x00" * pad + body


def _checksum(payload: bytes) -> bytes:
    return hashlib.blake2b(_CONTEXT + payload, digest_size=64).digest()


def ss58_encode(public_key: bytes, prefix: int = 42) -> str:
    """The SS58 address of a 32-byte account id (or 1/2/4/8/33-byte key) under ``prefix``."""
    if not 0 <= prefix < 16384 or prefix in _RESERVED:
        raise ValueError(f"SS58 prefix: found {prefix}, wanted 0..16383 except 46, 47")
    if len(public_key) not in (1, 2, 4, 8, 32, 33):
        raise ValueError(f"SS58 key: found {len(public_key)} bytes, wanted 1, 2, 4, 8, 32 or 33")
    if prefix < 64:
        head = bytes((prefix,))
    else:
        head = bytes((((prefix & 0b1111_1100) >> 2) | 0b0100_0000, (prefix >> 8) | ((prefix & 0b11) << 6)))
    payload = head + bytes(public_key)
    checksum_len = 2 if len(public_key) in (32, 33) else 1
    return _b58encode(payload + _checksum(payload)[:checksum_len])


def ss58_decode_with_prefix(address: str) -> tuple[bytes, int]:
    """``(public_key, prefix)`` of an SS58 address; raises ``ScaleError`` when malformed."""
    raw = _b58decode(address)
    if len(raw) < 2:
        raise ScaleError(f"SS58 address: found {len(raw)} bytes, wanted at least 2")
    if raw[0] < 64:
        prefix, head_len = raw[0], 1
    elif raw[0] < 128:
        if len(raw) < 3:
            raise ScaleError("SS58 address: found a truncated two-byte prefix, wanted more bytes")
        lower = ((raw[0] << 2) | (raw[1] >> 6)) & 0xFF
        upper = raw[1] & 0b0011_1111
        prefix, head_len = lower | (upper << 8), 2
    else:
        raise ScaleError(f"SS58 address: found prefix byte {raw[0]}, wanted below 128")
    body_len = len(raw) - head_len
    checksum_len = {2: 1, 3: 1, 5: 1, 9: 1, 34: 2, 35: 2}.get(body_len)
    if checksum_len is None:
        raise ScaleError(f"SS58 address: found {len(raw)} bytes, wanted a known key length")
    key = raw[head_len : len(raw) - checksum_len]
    if _checksum(raw[: len(raw) - checksum_len])[:checksum_len] != raw[len(raw) - checksum_len :]:
        raise ScaleError("SS58 address: found a bad checksum, wanted blake2b-512('SS58PRE' ++ data)")
    return key, prefix


def ss58_decode(address: str, prefix: int | None = 42) -> bytes:
    """The public key of an SS58 address; ``prefix=None`` accepts any network prefix."""
    key, found = ss58_decode_with_prefix(address)
    if prefix is not None and found != prefix:
        raise ScaleError(f"SS58 address prefix: found {found}, wanted {prefix}")
    return key
