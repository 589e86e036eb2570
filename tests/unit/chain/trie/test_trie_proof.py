"""Read proofs: they verify, they prove absence, and tampering is caught."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from trie_strategies import item_sets, keys

from phala_agents.chain.trie import EMPTY_ROOT, StateTrie, verify_read_proof
from phala_agents.chain.trie._codec import decode_node
from phala_agents.errors import InvalidProof
from phala_agents.scale import blake2_256


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), items=item_sets)
def test_proofs_verify_presence_and_absence(data: st.DataObject, items: dict[bytes, bytes]) -> None:
    present = data.draw(st.lists(st.sampled_from(sorted(items)), max_size=5)) if items else []
    wanted = present + data.draw(st.lists(keys, max_size=3))
    trie = StateTrie.from_items(items)
    proof = trie.read_proof(wanted)
    assert proof == sorted(set(proof))
    assert verify_read_proof(trie.root, proof, wanted) == {k: items.get(k) for k in wanted}


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), items=item_sets.filter(bool))
def test_every_proof_node_is_needed_and_tampering_raises(
    data: st.DataObject, items: dict[bytes, bytes]
) -> None:
    wanted = data.draw(st.lists(st.sampled_from(sorted(items)), min_size=1, max_size=4)) + data.draw(
        st.lists(keys, max_size=2)
    )
    trie = StateTrie.from_items(items)
    proof = trie.read_proof(wanted)
    for i, node in enumerate(proof):
        dropped = proof[:i] + proof[i + 1 :]
        with pytest.raises(InvalidProof):
            verify_read_proof(trie.root, dropped, wanted)
        flipped = bytearray(node)
        flipped[data.draw(st.integers(0, len(node) - 1))] ^= data.draw(st.integers(1, 255))
        with pytest.raises(InvalidProof):
            verify_read_proof(trie.root, [*dropped, bytes(flipped)], wanted)


def test_wrong_root_raises() -> None:
    trie = StateTrie.from_items({b"a" * 40: b"x" * 40, b"b": b"y"})
    proof = trie.read_proof([b"b"])
    with pytest.raises(InvalidProof, match="hash"):
        verify_read_proof(blake2_256(b"other"), proof, [b"b"])


def test_hashed_value_node_is_part_of_the_proof() -> None:
    value = b"v" * 33
    trie = StateTrie.from_items({b"key": value, b"other": b"x"})
    proof = trie.read_proof([b"key"])
    assert value in proof
    with pytest.raises(InvalidProof, match="value node"):
        verify_read_proof(trie.root, [n for n in proof if n != value], [b"key"])
    # Absence and other keys need no value node.
    assert value not in trie.read_proof([b"other", b"nope"])


def test_empty_trie_proof() -> None:
    proof = StateTrie.empty().read_proof([b"a"])
    assert proof == [b"\x00"]
    assert verify_read_proof(EMPTY_ROOT, proof, [b"a"]) == {b"a": None}
    assert verify_read_proof(EMPTY_ROOT, [], [b"a"]) == {b"a": None}


def test_root_must_be_32_bytes() -> None:
    with pytest.raises(ValueError, match="32"):
        verify_read_proof(b"\x00" * 31, [], [b"a"])


@pytest.mark.parametrize(
    ("node", "why"),
    [
        (b"", "0 bytes"),
        (b"\x00", "header byte"),
        (b"\x0f", "header byte"),
        (b"\x42\x00", "value length"),
        (b"\x43\x10\x00\x00", "padding"),
        (b"\x42\x00\x04\x01\x00", "after the node"),
        (b"\x80\x00\x00", "bitmap is 0"),
        (b"\x80\x01\x00\x84" + b"\x00" * 33, "at most 32"),
        (b"\x7f", "nibble count"),
        (b"\x22\x00" + b"\x00" * 31, "value hash"),
    ],
)
def test_malformed_nodes_raise(node: bytes, why: str) -> None:
    with pytest.raises(InvalidProof, match=why):
        decode_node(node)
