"""Checking a read proof (``state_getReadProof``) against a state root."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from phala_agents.chain.trie._codec import HASH_LENGTH, NIBBLE_INDEX, DecodedNode, decode_node
from phala_agents.chain.trie._trie import EMPTY_ROOT
from phala_agents.errors import InvalidProof
from phala_agents.scale import blake2_256


def verify_read_proof(
    root: bytes, proof: Sequence[bytes], keys: Iterable[bytes]
) -> dict[bytes, bytes | None]:
    """Look each key up in the trie that ``proof`` (a set of encoded nodes) reveals below ``root``.

    Returns each key's value, or ``None`` when the proof shows the key is absent. Raises
    InvalidProof when a node on a key's path is missing from the proof, does not hash to the
    reference its parent holds, or is not a well-formed node. Nodes the lookups do not reach are
    ignored, as Substrate's ``read_proof_check`` does.
    """
    if len(root) != HASH_LENGTH:
        raise ValueError(f"root is {len(root)} bytes, wanted {HASH_LENGTH}")
    db = {blake2_256(node): bytes(node) for node in proof}
    decoded: dict[bytes, DecodedNode] = {}
    result: dict[bytes, bytes | None] = {}
    for raw in keys:
        key = bytes(raw)
        result[key] = None if root == EMPTY_ROOT else _lookup(db, decoded, root, key.hex())
    return result


def _node_by_hash(db: dict[bytes, bytes], decoded: dict[bytes, DecodedNode], digest: bytes) -> DecodedNode:
    node = decoded.get(digest)
    if node is None:
        data = db.get(digest)
        if data is None:
            raise InvalidProof(f"proof lacks the trie node with hash 0x{digest.hex()}")
        node = decoded[digest] = decode_node(data)
    return node


def _lookup(db: dict[bytes, bytes], decoded: dict[bytes, DecodedNode], root: bytes, k: str) -> bytes | None:
    node = _node_by_hash(db, decoded, root)
    off = 0
    klen = len(k)
    while True:
        path = node.path
        if not k.startswith(path, off):
            return None
        off += len(path)
        if off == klen:
            value = node.value
            if value is None or not node.value_hashed:
                return value
            data = db.get(value)
            if data is None:
                raise InvalidProof(f"proof lacks the value node with hash 0x{value.hex()}")
            return data
        children = node.children
        if children is None:
            return None
        ref = children[NIBBLE_INDEX[k[off]]]
        if ref is None:
            return None
        off += 1
        node = _node_by_hash(db, decoded, ref) if len(ref) == HASH_LENGTH else decode_node(ref)
