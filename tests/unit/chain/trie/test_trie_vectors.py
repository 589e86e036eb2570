"""Known roots: the chopsticks-executor vectors in tests/data/trie and hand-checked encodings."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from phala_agents.chain.trie import EMPTY_ROOT, StateTrie, ordered_trie_root, trie_root
from phala_agents.chain.trie._codec import BRANCH_WITH_VALUE, HASHED_VALUE_BRANCH, LEAF, decode_node, header
from phala_agents.scale import blake2_256, encode_compact

VECTORS = json.loads((Path(__file__).parents[3] / "data" / "trie" / "vectors.json").read_text())


def _items(case: dict[str, object]) -> dict[bytes, bytes]:
    entries = case["entries"]
    assert isinstance(entries, list)
    return {bytes.fromhex(k[2:]): bytes.fromhex(v[2:]) for k, v in entries}


@pytest.mark.parametrize("case", VECTORS, ids=[c["name"] for c in VECTORS])
def test_roots_match_chopsticks_executor_vectors(case: dict[str, object]) -> None:
    items = _items(case)
    assert "0x" + trie_root(items).hex() == case["v1"]
    assert "0x" + trie_root(items, state_version=0).hex() == case["v0"]
    trie = StateTrie.from_items(items)
    assert "0x" + trie.root.hex() == case["v1"]
    assert len(trie) == len(items)


def test_empty_root_is_hash_of_empty_node() -> None:
    assert blake2_256(b"\x00") == EMPTY_ROOT
    assert EMPTY_ROOT.hex() == "03170a2e7597b7b7e3d84c05391d139a62b157e78786d8c082f29dcf4c111314"
    assert trie_root({}) == EMPTY_ROOT
    assert StateTrie.empty().root == EMPTY_ROOT
    assert ordered_trie_root([]) == EMPTY_ROOT


def test_single_key_root_is_hash_of_its_leaf() -> None:
    # Leaf 0x00 -> 0x01: header 0x42 (leaf, 2 nibbles), partial 00, compact(1) 04, value 01.
    assert trie_root({b"\x00": b"\x01"}) == blake2_256(bytes.fromhex("42000401"))


def test_v1_hashes_values_of_33_bytes_or_more() -> None:
    # 32 bytes stay inline (same root in both versions); 33 bytes become a hashed-value leaf.
    v32, v33 = b"\x07" * 32, b"\x07" * 33
    assert trie_root({b"k": v32}) == trie_root({b"k": v32}, state_version=0)
    assert trie_root({b"k": v33}) == blake2_256(bytes.fromhex("22" + "6b") + blake2_256(v33))
    assert trie_root({b"k": v33}, state_version=0) == blake2_256(bytes.fromhex("42" + "6b" + "84") + v33)


def test_ordered_trie_root_uses_compact_index_keys() -> None:
    case = next(c for c in VECTORS if c["name"] == "extrinsics_abc")
    assert "0x" + ordered_trie_root([b"a", b"b", b"c"]).hex() == case["v1"]
    values = [bytes([i]) * 40 for i in range(70)]  # indices past 63 use two-byte compact keys
    assert ordered_trie_root(values) == trie_root({encode_compact(i): v for i, v in enumerate(values)})


@pytest.mark.parametrize("count", [0, 1, 14, 15, 16, 30, 31, 32, 62, 63, 64, 65, 317, 318, 319, 2200])
@pytest.mark.parametrize("kind", [LEAF, BRANCH_WITH_VALUE, HASHED_VALUE_BRANCH])
def test_nibble_count_headers_round_trip(kind: int, count: int) -> None:
    path = "a" * count
    partial = bytes.fromhex("0" + path if count & 1 else path)
    if kind == LEAF:
        body = b"\x04\x01"
    elif kind == BRANCH_WITH_VALUE:
        body = b"\x01\x00" + b"\x04\x01" + b"\x08\x42\x00"  # child 0: inline leaf, no partial
    else:
        body = b"\x01\x00" + b"\x11" * 32 + b"\x08\x42\x00"
    node = decode_node(header(kind, count) + partial + body)
    assert node.path == path


def test_header_bytes_at_the_boundaries() -> None:
    assert header(LEAF, 62) == bytes([0x40 | 62])
    assert header(LEAF, 63) == bytes([0x7F, 0x00])
    assert header(LEAF, 64) == bytes([0x7F, 0x01])
    assert header(LEAF, 62 + 255) == bytes([0x7F, 0xFE])
    assert header(LEAF, 62 + 256) == bytes([0x7F, 0xFF, 0x00])
    assert header(HASHED_VALUE_BRANCH, 14) == bytes([0x1E])
    assert header(HASHED_VALUE_BRANCH, 15) == bytes([0x1F, 0x00])
