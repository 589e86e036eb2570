"""Block headers and bodies: SCALE layout, hashes and the JSON shapes of the chain_* RPCs."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from phala_agents.errors import DecodeError
from phala_agents.scale import blake2_256, decode_compact, encode_compact

ZERO_HASH = bytes(32)


@dataclass(frozen=True, slots=True, kw_only=True)
class Header:
    """A Substrate header: ``parent_hash, Compact<number>, state_root, extrinsics_root, digest``."""

    parent_hash: bytes
    number: int
    state_root: bytes
    extrinsics_root: bytes
    digest: tuple[bytes, ...] = ()  # each a SCALE-encoded DigestItem

    def encode(self) -> bytes:
        parts = [self.parent_hash, encode_compact(self.number), self.state_root, self.extrinsics_root]
        parts.append(encode_compact(len(self.digest)))
        parts.extend(self.digest)
        return b"".join(parts)

    @property
    def hash(self) -> bytes:
        """``blake2_256(SCALE(header))``: the block hash."""
        return blake2_256(self.encode())

    @classmethod
    def decode(cls, data: bytes) -> Header:
        """Inverse of ``encode`` for headers this node wrote (digest items kept as raw bytes)."""
        if len(data) < 32:
            raise DecodeError(f"header: found {len(data)} bytes, wanted at least 32")
        parent = data[:32]
        number, offset = decode_compact(data, 32)
        state_root = data[offset : offset + 32]
        extrinsics_root = data[offset + 32 : offset + 64]
        offset += 64
        count, offset = decode_compact(data, offset)
        items = _split_digest(data, offset, count)
        return cls(
            parent_hash=parent,
            number=number,
            state_root=state_root,
            extrinsics_root=extrinsics_root,
            digest=items,
        )

    def to_json(self) -> dict[str, object]:
        """The header as ``chain_getHeader`` returns it."""
        return {
            "parentHash": to_hex(self.parent_hash),
            "number": hex(self.number),
            "stateRoot": to_hex(self.state_root),
            "extrinsicsRoot": to_hex(self.extrinsics_root),
            "digest": {"logs": [to_hex(item) for item in self.digest]},
        }


def _split_digest(data: bytes, offset: int, count: int) -> tuple[bytes, ...]:
    # DigestItem: PreRuntime(6)/Consensus(4)/Seal(5) = [u8;4] ++ Vec<u8>; Other(0) = Vec<u8>;
    # RuntimeEnvironmentUpdated(8) = nothing.
    items = []
    for _ in range(count):
        start = offset
        kind = data[offset]
        offset += 1
        if kind in (4, 5, 6):
            offset += 4
            length, offset = decode_compact(data, offset)
            offset += length
        elif kind == 0:
            length, offset = decode_compact(data, offset)
            offset += length
        elif kind != 8:
            raise DecodeError(f"digest item kind: found {kind}, wanted 0, 4, 5, 6 or 8")
        items.append(data[start:offset])
    return tuple(items)


def encode_body(extrinsics: Sequence[bytes]) -> bytes:
    """``Vec<Extrinsic>``: each extrinsic already carries its own length prefix."""
    return encode_compact(len(extrinsics)) + b"".join(extrinsics)


def decode_body(data: bytes) -> list[bytes]:
    count, offset = decode_compact(data, 0)
    out = []
    for _ in range(count):
        length, inner = decode_compact(data, offset)
        end = inner + length
        out.append(data[offset:end])
        offset = end
    return out


def to_hex(data: bytes) -> str:
    return "0x" + data.hex()


def block_json(header: Header, extrinsics: Sequence[bytes]) -> dict[str, object]:
    """The signed block as ``chain_getBlock`` returns it."""
    return {
        "block": {"header": header.to_json(), "extrinsics": [to_hex(x) for x in extrinsics]},
        "justifications": None,
    }
