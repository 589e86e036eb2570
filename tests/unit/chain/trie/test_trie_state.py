"""StateTrie: incremental updates agree with a from-scratch root; versions stay unchanged."""

from __future__ import annotations

import random

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from trie_strategies import item_sets, keys, values

import phala_agents.chain.trie as trie_api
from phala_agents.chain.trie import EMPTY_ROOT, StateTrie, trie_root
from phala_agents.chain.trie._trie import _Node

Changes = dict[bytes, bytes | None]


def _diffs(base: dict[bytes, bytes]) -> st.SearchStrategy[Changes]:
    # Deletions of present and absent keys, overwrites, and new keys, mixed.
    deletes = st.lists(st.sampled_from(sorted(base)), max_size=len(base)) if base else st.just([])
    return st.tuples(deletes, st.dictionaries(keys, st.one_of(st.none(), values), max_size=15)).map(
        lambda t: {**dict.fromkeys(t[0]), **t[1]}
    )


def _applied(base: dict[bytes, bytes], changes: Changes) -> dict[bytes, bytes]:
    out = dict(base)
    for k, v in changes.items():
        if v is None:
            out.pop(k, None)
        else:
            out[k] = v
    return out


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), base=item_sets)
def test_apply_matches_root_from_scratch(data: st.DataObject, base: dict[bytes, bytes]) -> None:
    changes = data.draw(_diffs(base))
    before = StateTrie.from_items(base)
    before_root = before.root
    after = before.apply(changes)
    want = _applied(base, changes)
    assert after.root == trie_root(want)
    assert len(after) == len(want)
    for k in set(base) | set(changes):
        assert after.get(k) == want.get(k)
    assert list(after.items()) == sorted(want.items())
    # The old version is untouched: same root, same values.
    assert before.root == before_root == trie_root(base)
    assert len(before) == len(base)
    assert all(before.get(k) == v for k, v in base.items())


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(base=item_sets)
def test_deleting_every_key_gives_the_empty_root(base: dict[bytes, bytes]) -> None:
    trie = StateTrie.from_items(base)
    trie.root  # noqa: B018 - hash first, so deletions work on sealed, shared nodes
    remaining = dict(base)
    for k in sorted(base, reverse=True):
        trie = trie.apply({k: None})
        del remaining[k]
        assert trie.root == trie_root(remaining)
    assert trie.root == EMPTY_ROOT
    assert len(trie) == 0
    assert list(trie.items()) == []


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(steps=st.lists(st.dictionaries(keys, st.one_of(st.none(), values), max_size=8), max_size=12))
def test_a_chain_of_blocks_matches_a_dict_model(steps: list[Changes]) -> None:
    versions: list[tuple[StateTrie, dict[bytes, bytes]]] = [(StateTrie.empty(), {})]
    for changes in steps:
        trie, model = versions[-1]
        versions.append((trie.apply(changes), _applied(model, changes)))
        if len(versions) % 2:
            trie.root  # noqa: B018 - seal some versions mid-chain, leave others lazy
    for trie, model in versions:
        assert trie.root == trie_root(model)
        assert len(trie) == len(model)


def test_apply_returns_a_new_trie_and_keeps_the_old_one() -> None:
    old = StateTrie.from_items({b"a": b"1", b"ab": b"2"})
    new = old.apply({b"a": None, b"abc": b"3"})
    assert old.get(b"a") == b"1" and old.get(b"abc") is None and len(old) == 2
    assert new.get(b"a") is None and new.get(b"abc") == b"3" and len(new) == 2
    assert b"ab" in new and b"a" not in new


def test_unchanged_writes_and_absent_deletes_keep_the_root() -> None:
    old = StateTrie.from_items({b"a": b"1", b"b": b"2"})
    root = old.root
    new = old.apply({b"a": b"1", b"zz": None})
    assert new.root == root
    assert len(new) == 2


def test_empty_values_are_present() -> None:
    trie = StateTrie.empty().apply({b"k": b""})
    assert trie.get(b"k") == b""
    assert len(trie) == 1
    assert trie.root != EMPTY_ROOT
    assert trie.root == trie_root({b"k": b""})


def test_deep_chain_of_prefix_keys_has_no_recursion_limit() -> None:
    items = {b"\x01" * i: b"v" for i in range(1500)}
    trie = StateTrie.from_items(items)
    assert trie.root == trie_root(items)
    assert trie.apply({b"\x01" * 700: None}).root == trie_root(
        {k: v for k, v in items.items() if len(k) != 700}
    )


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(items=item_sets, prefix=st.one_of(st.just(b""), keys), after=st.one_of(st.none(), keys))
def test_items_with_prefix_and_after_match_a_sorted_dict(
    items: dict[bytes, bytes], prefix: bytes, after: bytes | None
) -> None:
    want = sorted((k, v) for k, v in items.items() if k.startswith(prefix) and (after is None or k > after))
    assert list(StateTrie.from_items(items).items(prefix, after=after)) == want


def _unsealed(node: _Node | None) -> int:
    """Nodes below ``node`` that the next ``root`` would have to encode and hash."""
    if node is None or node.enc is not None:
        return 0
    return 1 + sum(_unsealed(c) for c in node.children or ())


def test_apply_shares_untouched_subtrees_and_rehashes_only_the_path() -> None:
    rng = random.Random(5)
    items = {rng.randbytes(32): rng.randbytes(40) for _ in range(5000)}
    old = StateTrie.from_items(items)
    old.root  # noqa: B018
    key = next(iter(items))
    new = old.apply({key: b"changed"})
    old_root, new_root = old._root, new._root
    assert old_root is not None and new_root is not None and new_root is not old_root
    # Only the nodes on the key's path are new (5,000 random keys: depth about 4).
    assert 1 <= _unsealed(new_root) <= 6
    assert old_root.children is not None and new_root.children is not None
    shared = [i for i in range(16) if new_root.children[i] is old_root.children[i]]
    assert len(shared) == 15  # every root child but the one on the path is the same object
    assert new.root == trie_root({**items, key: b"changed"})
    assert _unsealed(new_root) == 0


def test_exports_are_sorted() -> None:
    assert trie_api.__all__ == sorted(trie_api.__all__)
