"""Hypothesis strategies for trie key sets: shared prefixes, empty and threshold-sized values."""

from __future__ import annotations

from hypothesis import strategies as st

# A small alphabet makes keys that share prefixes, are prefixes of each other, and collide.
short_keys = st.lists(st.sampled_from([0x00, 0x01, 0x10, 0x11, 0xAB, 0xFF]), max_size=5).map(bytes)
long_keys = st.builds(
    lambda head, n, tail: head + bytes([0xAB]) * n + tail, short_keys, st.integers(1000, 1100), short_keys
)
keys = st.one_of(short_keys, short_keys, short_keys, st.binary(min_size=32, max_size=40), long_keys)
values = st.one_of(
    st.just(b""),
    st.binary(max_size=4),
    st.sampled_from([31, 32, 33, 34, 100]).flatmap(lambda n: st.binary(min_size=n, max_size=n)),
)
item_sets = st.dictionaries(keys, values, max_size=30)
