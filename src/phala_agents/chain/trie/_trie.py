"""Substrate's state trie (sp-trie ``LayoutV1<BlakeTwo256>``) as a persistent data structure.

Nodes are shared between versions and never change once a version is published: ``apply``
copies only the nodes on the paths of the changed keys (path copying), so the untouched subtrees
keep their cached encodings and hashes and are never re-hashed.

Inside one ``apply`` the copies it made belong to that call (``owner`` is a token object unique
to the call), so later changes in the same batch mutate them in place instead of copying them
again, the "transient" trick of persistent vectors. Encodings are computed lazily, when ``root`` or
``read_proof`` asks, so a node rewritten several times in one batch is hashed once. ``from_items``
and ``trie_root`` build from the sorted keys instead (``_build``), a second, independent algorithm.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Final, Literal

from phala_agents.chain.trie._codec import (
    BRANCH_NO_VALUE,
    BRANCH_WITH_VALUE,
    EMPTY_NODE,
    HASH_LENGTH,
    HASHED_VALUE_BRANCH,
    HASHED_VALUE_LEAF,
    HEX_NIBBLE,
    LEAF,
    NIBBLE_INDEX,
    compact_length,
    header,
)
from phala_agents.scale import blake2_256, encode_compact

StateVersion = Literal[0, 1]

# sp_core::storage::TRIE_VALUE_NODE_THRESHOLD: in state version 1 a value of 33 bytes or more is
# stored as its own node and the trie node holds its hash.
V1_VALUE_THRESHOLD: Final = 33
EMPTY_ROOT: Final = blake2_256(EMPTY_NODE)


class _Node:
    """A leaf (``children is None``) or a branch (16 slots, at least one child or a value)."""

    __slots__ = ("children", "enc", "owner", "path", "ref", "value")

    def __init__(
        self,
        path: str,
        value: bytes | None,
        children: list[_Node | None] | None,
        owner: object,
    ) -> None:
        self.path = path  # partial key, hex nibbles
        self.value = value
        self.children = children
        self.owner = owner  # the apply call that may still mutate this node
        self.enc: bytes | None = None  # cached encoding
        # Cached reference as the parent encodes it: compact(32) ++ hash, or, for an encoding
        # shorter than a hash, compact(len) ++ encoding (an inline child).
        self.ref: bytes | None = None


def _own(node: _Node, owner: object) -> _Node:
    if node.owner is owner:
        return node
    children = node.children
    return _Node(node.path, node.value, None if children is None else children.copy(), owner)


def _lookup(root: _Node | None, k: str) -> bytes | None:
    node = root
    off = 0
    klen = len(k)
    while node is not None:
        path = node.path
        if not k.startswith(path, off):
            return None
        off += len(path)
        if off == klen:
            return node.value
        children = node.children
        if children is None:
            return None
        node = children[NIBBLE_INDEX[k[off]]]
        off += 1
    return None


def _insert(root: _Node | None, k: str, value: bytes, owner: object) -> tuple[_Node, bool]:
    """Set ``k`` to ``value``; return the new root and whether the key is new."""
    if root is None:
        return _Node(k, value, None, owner), True
    new_root = node = _own(root, owner)
    off = 0
    klen = len(k)
    while True:
        path = node.path
        if k.startswith(path, off):
            off += len(path)
            if off == klen:
                added = node.value is None
                node.value = value
                return new_root, added
            idx = NIBBLE_INDEX[k[off]]
            children = node.children
            if children is None:  # a leaf whose key is a prefix of k becomes a branch
                children = node.children = [None] * 16
                children[idx] = _Node(k[off + 1 :], value, None, owner)
                return new_root, True
            child = children[idx]
            if child is None:
                children[idx] = _Node(k[off + 1 :], value, None, owner)
                return new_root, True
            node = children[idx] = _own(child, owner)
            off += 1
            continue
        # k leaves this node's partial key after `common` nibbles: split it there.
        common = 0
        limit = min(len(path), klen - off)
        while common < limit and path[common] == k[off + common]:
            common += 1
        moved = _Node(path[common + 1 :], node.value, node.children, owner)
        children = [None] * 16
        children[NIBBLE_INDEX[path[common]]] = moved
        node.path = path[:common]
        node.children = children
        if off + common == klen:
            node.value = value
        else:
            node.value = None
            children[NIBBLE_INDEX[k[off + common]]] = _Node(k[off + common + 1 :], value, None, owner)
        return new_root, True


def _normalize(node: _Node) -> None:
    """Restore the no-extension shape of an owned branch that lost a child or its value."""
    children = node.children
    assert children is not None
    live = [i for i in range(16) if children[i] is not None]
    if not live:
        node.children = None  # a branch with a value and no child is a leaf
    elif len(live) == 1 and node.value is None:
        # A branch with one child and no value is fused with that child.
        idx = live[0]
        child = children[idx]
        assert child is not None
        node.path = node.path + HEX_NIBBLE[idx] + child.path
        node.value = child.value
        node.children = None if child.children is None else child.children.copy()


def _delete(root: _Node | None, k: str, owner: object) -> tuple[_Node | None, bool]:
    """Remove ``k``; return the new root and whether the key was present."""
    if _lookup(root, k) is None:
        return root, False
    assert root is not None
    new_root = node = _own(root, owner)
    parent: _Node | None = None
    parent_idx = 0
    off = len(node.path)
    while off != len(k):
        idx = NIBBLE_INDEX[k[off]]
        assert node.children is not None
        child = node.children[idx]
        assert child is not None
        child = node.children[idx] = _own(child, owner)
        parent, parent_idx, node = node, idx, child
        off += 1 + len(node.path)
    if node.children is None:
        if parent is None:
            return None, True
        assert parent.children is not None
        parent.children[parent_idx] = None
        _normalize(parent)
    else:
        node.value = None
        _normalize(node)
    return new_root, True


# Header bytes by nibble count for the counts of real keys (up to 64-byte keys); past the table,
# `header` computes them.
_LEAF_HEADERS: Final = [header(LEAF, n) for n in range(130)]
_HASHED_LEAF_HEADERS: Final = [header(HASHED_VALUE_LEAF, n) for n in range(130)]

# compact(n) for the lengths of inline children (below 32).
_COMPACT_SMALL: Final = [compact_length(n) for n in range(HASH_LENGTH)]

# State version 0 never hashes a value: a threshold no value reaches.
_NEVER: Final = 1 << 62


def _seal_leaf(node: _Node, threshold: int) -> None:
    path = node.path
    n = len(path)
    partial = bytes.fromhex("0" + path if n & 1 else path)
    value = node.value
    assert value is not None
    if len(value) >= threshold:
        head = _HASHED_LEAF_HEADERS[n] if n < 130 else header(HASHED_VALUE_LEAF, n)
        enc = head + partial + blake2_256(value)
    else:
        head = _LEAF_HEADERS[n] if n < 130 else header(LEAF, n)
        enc = head + partial + compact_length(len(value)) + value
    node.enc = enc
    node.ref = b"\x80" + blake2_256(enc) if len(enc) >= HASH_LENGTH else _COMPACT_SMALL[len(enc)] + enc


def _seal_branch(node: _Node, children: list[_Node | None], threshold: int) -> None:
    """Encode and hash a branch whose children are sealed."""
    path = node.path
    n = len(path)
    partial = bytes.fromhex("0" + path if n & 1 else path)
    value = node.value
    bitmap = 0
    refs: list[bytes] = []
    for i, child in enumerate(children):
        if child is not None:
            bitmap |= 1 << i
            ref = child.ref
            assert ref is not None
            refs.append(ref)
    bits = bytes((bitmap & 0xFF, bitmap >> 8))
    if value is None:
        head = header(BRANCH_NO_VALUE, n) + partial + bits
    elif len(value) >= threshold:
        head = header(HASHED_VALUE_BRANCH, n) + partial + bits + blake2_256(value)
    else:
        head = header(BRANCH_WITH_VALUE, n) + partial + bits + compact_length(len(value)) + value
    enc = head + b"".join(refs)
    node.enc = enc
    node.ref = b"\x80" + blake2_256(enc) if len(enc) >= HASH_LENGTH else _COMPACT_SMALL[len(enc)] + enc


def _seal(root: _Node, threshold: int) -> None:
    """Compute the missing encodings and hashes below ``root``, children first.

    Leaves are sealed as their parent's children are scanned; only branches go on the explicit
    stack, so there is no recursion (a chain of keys that are prefixes of each other can be deeper
    than Python's stack). Sealed nodes are skipped: that is what keeps a block's cost to its paths.
    """
    if root.enc is not None:
        return
    if root.children is None:
        _seal_leaf(root, threshold)
        return
    stack = [root]
    while stack:
        node = stack[-1]
        children = node.children
        assert children is not None
        pending = None
        for child in children:
            if child is not None and child.enc is None:
                if child.children is None:
                    _seal_leaf(child, threshold)
                elif pending is None:
                    pending = [child]
                else:
                    pending.append(child)
        if pending is not None:
            stack.extend(pending)
            continue
        stack.pop()
        _seal_branch(node, children, threshold)


def _threshold(state_version: StateVersion) -> int:
    if state_version == 1:
        return V1_VALUE_THRESHOLD
    if state_version == 0:
        return _NEVER
    raise ValueError(f"state_version is {state_version!r}, wanted 0 or 1")


def _build(items: Mapping[bytes, bytes], owner: object) -> tuple[_Node | None, int]:
    """Build the trie of ``items`` top-down from the sorted keys.

    The keys under a node form a contiguous run of the sorted list; the node's partial key is the
    common prefix of the run's first and last key, and each child's run ends where
    ``bisect`` finds the next nibble. Work is per node, not per key and level. The explicit task
    list keeps deep prefix chains off Python's stack.
    """
    pairs = sorted((bytes(k).hex(), bytes(v)) for k, v in items.items())
    count = len(pairs)
    if not count:
        return None, 0
    keys = [k for k, _ in pairs]
    values = [v for _, v in pairs]
    root = None
    tasks: list[tuple[int, int, int, _Node | None, int]] = [(0, count, 0, None, 0)]
    while tasks:
        lo, hi, depth, parent, slot = tasks.pop()
        first = keys[lo]
        if hi - lo == 1:
            node = _Node(first[depth:], values[lo], None, owner)
        else:
            last = keys[hi - 1]
            end = depth
            limit = min(len(first), len(last))
            while end < limit and first[end] == last[end]:
                end += 1
            children: list[_Node | None] = [None] * 16
            node = _Node(first[depth:end], None, children, owner)
            if len(first) == end:  # a key that is a prefix of the others sorts first
                node.value = values[lo]
                lo += 1
            prefix = first[:end]
            while lo < hi:
                nibble = keys[lo][end]
                # chr(ord + 1) sorts after every key with this nibble and before the next
                # nibble's ("9" -> ":" lies between "9" and "a").
                stop = bisect_left(keys, prefix + chr(ord(nibble) + 1), lo, hi)
                if stop - lo == 1:  # most children are leaves: no task for them
                    children[NIBBLE_INDEX[nibble]] = _Node(keys[lo][end + 1 :], values[lo], None, owner)
                else:
                    tasks.append((lo, stop, end + 1, node, NIBBLE_INDEX[nibble]))
                lo = stop
        if parent is None:
            root = node
        else:
            assert parent.children is not None
            parent.children[slot] = node
    return root, count


def trie_root(items: Mapping[bytes, bytes], *, state_version: StateVersion = 1) -> bytes:
    """The trie root of ``items``, computed from scratch (blake2-256, state version 1 by default)."""
    threshold = _threshold(state_version)
    root, _ = _build(items, object())
    if root is None:
        return EMPTY_ROOT
    _seal(root, threshold)
    assert root.enc is not None
    return blake2_256(root.enc)


def ordered_trie_root(values: Sequence[bytes], *, state_version: StateVersion = 1) -> bytes:
    """The root of the trie mapping ``compact(i)`` to ``values[i]``: a block's extrinsics root."""
    return trie_root({encode_compact(i): v for i, v in enumerate(values)}, state_version=state_version)


class StateTrie:
    """An immutable state-version-1 trie; ``apply`` returns a new trie sharing unchanged nodes."""

    __slots__ = ("_len", "_root", "_root_hash")

    def __init__(self, _root: _Node | None = None, _len: int = 0) -> None:
        self._root = _root
        self._len = _len
        self._root_hash: bytes | None = None

    @classmethod
    def empty(cls) -> StateTrie:
        return cls()

    @classmethod
    def from_items(cls, items: Mapping[bytes, bytes]) -> StateTrie:
        root, count = _build(items, object())
        return cls(root, count)

    @property
    def root(self) -> bytes:
        """The 32-byte state root (cached)."""
        root_hash = self._root_hash
        if root_hash is None:
            node = self._root
            if node is None:
                root_hash = EMPTY_ROOT
            else:
                _seal(node, V1_VALUE_THRESHOLD)
                assert node.enc is not None
                root_hash = blake2_256(node.enc)
            self._root_hash = root_hash
        return root_hash

    def get(self, key: bytes) -> bytes | None:
        return _lookup(self._root, key.hex())

    def __contains__(self, key: object) -> bool:
        return isinstance(key, bytes | bytearray) and _lookup(self._root, key.hex()) is not None

    def __len__(self) -> int:
        return self._len

    def apply(self, changes: Mapping[bytes, bytes | None]) -> StateTrie:
        """A new trie with ``changes`` applied (``None`` deletes); ``self`` is unchanged."""
        owner = object()
        root = self._root
        count = self._len
        for key, new_value in changes.items():
            k = bytes(key).hex()
            if new_value is None:
                root, removed = _delete(root, k, owner)
                count -= removed
            else:
                value = bytes(new_value)
                if _lookup(root, k) == value:
                    continue  # an unchanged write must not copy (and later re-hash) its path
                root, added = _insert(root, k, value, owner)
                count += added
        new = StateTrie(root, count)
        if root is self._root:
            new._root_hash = self._root_hash
        return new

    def read_proof(self, keys: Iterable[bytes]) -> list[bytes]:
        """The encoded nodes that prove each key's value or absence, deduplicated and sorted like
        Substrate's ``StorageProof`` (a set of nodes): every node on each key's path that is
        stored under its hash (the root, and nodes of 32 bytes or more; smaller ones are inlined
        in their parent), plus the value node of a value of 33 bytes or more."""
        root = self._root
        if root is None:
            return [EMPTY_NODE]
        self.root  # noqa: B018 - seals the encodings
        assert root.enc is not None
        out = {root.enc}
        for key in keys:
            k = bytes(key).hex()
            klen = len(k)
            node = root
            off = 0
            while True:
                path = node.path
                if not k.startswith(path, off):
                    break
                off += len(path)
                if off == klen:
                    value = node.value
                    if value is not None and len(value) >= V1_VALUE_THRESHOLD:
                        out.add(value)
                    break
                children = node.children
                if children is None:
                    break
                child = children[NIBBLE_INDEX[k[off]]]
                if child is None:
                    break
                enc = child.enc
                assert enc is not None
                if len(enc) >= HASH_LENGTH:  # stored under its hash, not inlined in the parent
                    out.add(enc)
                node = child
                off += 1
        return sorted(out)

    def items(self, prefix: bytes = b"", *, after: bytes | None = None) -> Iterator[tuple[bytes, bytes]]:
        """The ``(key, value)`` pairs whose key starts with ``prefix``, in key order; with
        ``after``, only keys greater than it (the paging of ``state_getKeysPaged``). Subtrees that
        lie wholly before ``after`` are skipped, not walked."""
        want = bytes(prefix).hex()
        skip = None if after is None else bytes(after).hex()
        node = self._root
        base = ""  # the nibbles above `node`
        # Descend to the subtree that holds every key with the prefix.
        while node is not None:
            full = base + node.path
            if full.startswith(want):
                break
            if not want.startswith(full) or node.children is None:
                return
            base = full + want[len(full)]
            node = node.children[NIBBLE_INDEX[want[len(full)]]]
        if node is None:
            return
        stack: list[tuple[str, _Node]] = [(base, node)]
        while stack:
            base, node = stack.pop()
            full = base + node.path
            own = True
            if skip is not None:
                if skip.startswith(full):
                    own = False  # this node's own key is `skip` or a prefix of it
                elif full < skip:
                    continue  # every key below starts with `full`, so sorts before `skip`
            if own and node.value is not None:
                yield bytes.fromhex(full), node.value
            children = node.children
            if children is not None:
                for i in range(15, -1, -1):
                    child = children[i]
                    if child is not None:
                        stack.append((full + HEX_NIBBLE[i], child))

    def __repr__(self) -> str:
        return f"StateTrie(len={self._len}, root=0x{self.root.hex()})"
