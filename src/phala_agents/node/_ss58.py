"""SS58 address decoding (only what ``system_accountNextIndex`` needs)."""

from __future__ import annotations

import hashlib

_B58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
_INDEX = {c: i for i, c in enumerate(_B58)}


def _b58decode(text: str) -> bytes:
    number = 0
    for char in text:
        number = number * 58 + _INDEX[char]
    body = number.to_bytes((number.bit_length() + 7) // 8, "big") if number else b""
    zeros = len(text) - len(text.lstrip("1"))
    return b"\x00" * zeros + body


def ss58_decode(address: str) -> bytes:
    """The 32-byte account id of an SS58 address (any network prefix); ValueError if malformed."""
    try:
        raw = _b58decode(address)
    except KeyError:
        raise ValueError(f"address: found a character outside base58 in {address!r}") from None
    if len(raw) < 35:
        raise ValueError(f"address: found {len(raw)} bytes, wanted 35 or 36 (32-byte account)")
    prefix_len = 1 if raw[0] < 64 else 2
    payload, checksum = raw[:-2], raw[-2:]
    if len(payload) - prefix_len != 32:
        raise ValueError(f"address: found a {len(payload) - prefix_len}-byte account, wanted 32")
    digest = hashlib.blake2b(b"SS58PRE" + payload, digest_size=64).digest()
    if digest[:2] != checksum:
        raise ValueError("address: checksum mismatch")
    return payload[prefix_len:]
