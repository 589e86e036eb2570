"""The chain: head state, block authoring, recent tries and historical reads.

One ``Chain`` owns the database, the runtime and the state. Blocks are authored on top of the
head only (a dev chain has no forks), and every block is final the moment it is committed.

State: the head state lives in memory (a dict plus a sorted key list for ``next_key``) beside
its ``StateTrie``; the tries of the last ``keep_tries`` blocks stay in memory (they share
structure) to serve read proofs at those blocks. Older blocks are read from the ``history``
table (any block, one indexed lookup per key); their read proofs are refused like a pruned
Substrate node refuses them ("State already discarded").
"""

from __future__ import annotations

import bisect
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

import structlog

from phala_agents.chain._interface import BlockContext, Overlay, Runtime, StateReader
from phala_agents.errors import InvalidTransaction
from phala_agents.node._blocks import ZERO_HASH, Header
from phala_agents.node._store import BlockStore
from phala_agents.scale import blake2_256, twox128

_log = structlog.get_logger("phala_agents.node")

TIMESTAMP_NOW_KEY = twox128(b"Timestamp") + twox128(b"Now")


class Trie(Protocol):
    """What the node needs of ``phala_agents.chain.trie.StateTrie``."""

    @property
    def root(self) -> bytes: ...

    def get(self, key: bytes) -> bytes | None: ...

    def apply(self, changes: Mapping[bytes, bytes | None]) -> Trie: ...

    def read_proof(self, keys: Iterable[bytes]) -> list[bytes]: ...


@dataclass(frozen=True, slots=True, kw_only=True)
class ChainBackend:
    """The chain-side pieces the node is built from (the real ones by default)."""

    runtime: Runtime
    make_overlay: Callable[[StateReader], Overlay]
    trie_from_items: Callable[[Mapping[bytes, bytes]], Trie]
    ordered_trie_root: Callable[[Sequence[bytes]], bytes]

    @classmethod
    def default(cls, runtime: Runtime | None = None) -> ChainBackend:
        """``phala_agents.chain.DevRuntime``, ``StorageOverlay`` and ``chain.trie``."""
        from phala_agents.chain import DevRuntime, StorageOverlay
        from phala_agents.chain.trie import StateTrie, ordered_trie_root

        return cls(
            runtime=runtime if runtime is not None else DevRuntime(),
            make_overlay=StorageOverlay,
            trie_from_items=StateTrie.from_items,
            ordered_trie_root=ordered_trie_root,
        )


class HeadState:
    """The head state: a dict plus a sorted key list (``StateReader``)."""

    __slots__ = ("_keys", "_values")

    def __init__(self, items: Iterable[tuple[bytes, bytes]]) -> None:
        self._values: dict[bytes, bytes] = dict(items)
        self._keys: list[bytes] = sorted(self._values)

    def get(self, key: bytes) -> bytes | None:
        return self._values.get(key)

    def next_key(self, key: bytes) -> bytes | None:
        i = bisect.bisect_right(self._keys, key)
        return self._keys[i] if i < len(self._keys) else None

    def keys_with_prefix(self, prefix: bytes, start: bytes | None, count: int) -> list[bytes]:
        begin = prefix if start is None or start < prefix else start
        i = bisect.bisect_left(self._keys, begin)
        if start is not None and i < len(self._keys) and self._keys[i] == start:
            i += 1
        out: list[bytes] = []
        while i < len(self._keys) and len(out) < count:
            key = self._keys[i]
            if not key.startswith(prefix):
                break
            out.append(key)
            i += 1
        return out

    def items(self) -> dict[bytes, bytes]:
        return dict(self._values)

    def apply(self, changes: Mapping[bytes, bytes | None]) -> None:
        for key, value in changes.items():
            if value is None:
                if self._values.pop(key, None) is not None:
                    i = bisect.bisect_left(self._keys, key)
                    del self._keys[i]
            else:
                if key not in self._values:
                    bisect.insort(self._keys, key)
                self._values[key] = value


class PastState:
    """The state at an older block, read from the history table (``StateReader``)."""

    __slots__ = ("_number", "_store")

    def __init__(self, store: BlockStore, number: int) -> None:
        self._store = store
        self._number = number

    def get(self, key: bytes) -> bytes | None:
        return self._store.value_at(key, self._number)

    def next_key(self, key: bytes) -> bytes | None:
        return self._store.next_key_at(key, self._number)

    def keys_with_prefix(self, prefix: bytes, start: bytes | None, count: int) -> list[bytes]:
        out: list[bytes] = []
        if start is not None and start >= prefix:
            key = self.next_key(start)
        else:
            key = prefix if self.get(prefix) is not None else self.next_key(prefix)
        while key is not None and key.startswith(prefix) and len(out) < count:
            out.append(key)
            key = self.next_key(key)
        return out


@dataclass(frozen=True, slots=True, kw_only=True)
class BlockInfo:
    number: int
    hash: bytes
    header: Header


@dataclass(frozen=True, slots=True, kw_only=True)
class AuthoredBlock:
    """What ``Chain.author_block`` produced."""

    info: BlockInfo
    extrinsics: list[bytes]
    included: list[bytes]  # hashes of the pool transactions that made it in
    invalid: list[tuple[bytes, str]]  # hashes found invalid while building, with the reason
    changes: dict[bytes, bytes | None]


class ChainError(RuntimeError):
    """The database does not fit the runtime (another genesis, or a corrupted state)."""


class Chain:
    """The node's chain: database, runtime, head state, recent tries and block authoring."""

    def __init__(
        self,
        backend: ChainBackend,
        store: BlockStore,
        *,
        keep_tries: int = 256,
        max_block_transactions: int = 4096,
        clock_ms: Callable[[], int] = lambda: int(time.time() * 1000),
    ) -> None:
        self.backend = backend
        self.runtime = backend.runtime
        self.store = store
        self._keep = keep_tries
        self._max_txs = max_block_transactions
        self._clock_ms = clock_ms
        self._tries: OrderedDict[bytes, Trie] = OrderedDict()
        self._hashes: list[bytes] = []
        self._numbers: dict[bytes, int] = {}
        self._headers: OrderedDict[bytes, Header] = OrderedDict()
        self._open()

    # --- start-up --------------------------------------------------------------------------------

    def _genesis(self) -> tuple[Header, dict[bytes, bytes], Trie]:
        storage = self.runtime.genesis_storage()
        trie = self.backend.trie_from_items(storage)
        header = Header(
            parent_hash=ZERO_HASH,
            number=0,
            state_root=trie.root,
            extrinsics_root=self.backend.ordered_trie_root([]),
            digest=(),
        )
        return header, storage, trie

    def _open(self) -> None:
        genesis, storage, trie = self._genesis()
        head_number = self.store.head_number()
        if head_number is None:
            self.store.commit_block(
                header=genesis,
                block_hash=genesis.hash,
                extrinsics=[],
                changes=dict(storage),
                meta={"genesis_hash": genesis.hash},
            )
            self.state = HeadState(storage.items())
            self._hashes = [genesis.hash]
            self._numbers = {genesis.hash: 0}
            self.head = BlockInfo(number=0, hash=genesis.hash, header=genesis)
            self._remember(self.head, trie)
            _log.info("chain_created", genesis=genesis.hash.hex())
            return
        stored_genesis = self.store.meta("genesis_hash")
        if stored_genesis != genesis.hash:
            raise ChainError(
                "database genesis: found 0x"
                + (stored_genesis or b"").hex()
                + f", wanted 0x{genesis.hash.hex()} (the runtime changed; use --tmp or another base path)"
            )
        self._hashes = self.store.block_hashes()
        self._numbers = {h: n for n, h in enumerate(self._hashes)}
        block = self.store.block(head_number)
        if block is None or len(self._hashes) != head_number + 1:
            raise ChainError(f"database blocks: found a gap below #{head_number}, wanted 0..{head_number}")
        self.state = HeadState(self.store.state_items())
        head_trie = self.backend.trie_from_items(self.state.items())
        if head_trie.root != block.header.state_root:
            raise ChainError(
                f"head state root: found 0x{head_trie.root.hex()}, "
                f"wanted 0x{block.header.state_root.hex()} (block #{head_number})"
            )
        self.head = BlockInfo(number=head_number, hash=block.hash, header=block.header)
        self._remember(self.head, head_trie)
        _log.info("chain_resumed", number=head_number, head=block.hash.hex())

    def _remember(self, info: BlockInfo, trie: Trie) -> None:
        self._tries[info.hash] = trie
        while len(self._tries) > self._keep:
            self._tries.popitem(last=False)
        self._headers[info.hash] = info.header
        while len(self._headers) > 4096:
            self._headers.popitem(last=False)

    # --- lookups ---------------------------------------------------------------------------------

    @property
    def genesis_hash(self) -> bytes:
        return self._hashes[0]

    def hash_of(self, number: int) -> bytes | None:
        return self._hashes[number] if 0 <= number < len(self._hashes) else None

    def number_of(self, block_hash: bytes) -> int | None:
        return self._numbers.get(block_hash)

    def header(self, block_hash: bytes) -> Header | None:
        header = self._headers.get(block_hash)
        if header is not None:
            return header
        number = self._numbers.get(block_hash)
        if number is None:
            return None
        block = self.store.block(number)
        return None if block is None else block.header

    def block(self, block_hash: bytes) -> tuple[Header, list[bytes]] | None:
        number = self._numbers.get(block_hash)
        if number is None:
            return None
        block = self.store.block(number)
        return None if block is None else (block.header, block.extrinsics)

    def state_at(self, block_hash: bytes) -> HeadState | PastState | None:
        if block_hash == self.head.hash:
            return self.state
        number = self._numbers.get(block_hash)
        return None if number is None else PastState(self.store, number)

    def trie_at(self, block_hash: bytes) -> Trie | None:
        """The trie of a block among the last ``keep_tries``; None for older ones (pruned).

        Tries lost to a restart are rebuilt on demand: from the nearest newer trie, each block's
        changes are undone with the values the history table holds for its parent.
        """
        trie = self._tries.get(block_hash)
        if trie is not None:
            return trie
        number = self._numbers.get(block_hash)
        if number is None or self.head.number - number >= self._keep:
            return None
        newer = number + 1
        while self._hashes[newer] not in self._tries:
            newer += 1
        trie = self._tries[self._hashes[newer]]
        for n in range(newer, number, -1):
            undo = {key: self.store.value_at(key, n - 1) for key in self.store.block_changes(n)}
            trie = trie.apply(undo)
            header = self.header(self._hashes[n - 1])
            if header is None or trie.root != header.state_root:
                raise ChainError(f"history of block #{n}: the undone state does not hash to #{n - 1}'s root")
        self._tries[block_hash] = trie
        return trie

    def block_changes(self, block_hash: bytes) -> dict[bytes, bytes | None]:
        number = self._numbers.get(block_hash)
        return {} if number is None else self.store.block_changes(number)

    # --- authoring -------------------------------------------------------------------------------

    def _timestamp(self) -> int:
        raw = self.state.get(TIMESTAMP_NOW_KEY)
        parent = int.from_bytes(raw, "little") if raw else 0
        # Strictly increasing even when instant seal makes several blocks per millisecond.
        return max(self._clock_ms(), parent + 1)

    def author_block(self, candidates: Sequence[tuple[bytes, bytes]]) -> AuthoredBlock:
        """Build, commit and adopt one block on the head from ``(hash, extrinsic)`` candidates."""
        parent = self.head
        number = parent.number + 1
        context = BlockContext(number=number, parent_hash=parent.hash, timestamp_ms=self._timestamp())
        runtime = self.runtime
        overlay = self.backend.make_overlay(self.state)
        runtime.initialize_block(overlay, context)
        extrinsics: list[bytes] = []
        for inherent in runtime.inherent_extrinsics(overlay, context):
            runtime.apply_extrinsic(overlay, inherent)
            extrinsics.append(inherent)
        included: list[bytes] = []
        invalid: list[tuple[bytes, str]] = []
        for tx_hash, data in candidates:
            if len(included) >= self._max_txs:
                break
            # A layer of our own, so that even a runtime failure leaves no trace in the block.
            overlay.start_transaction()
            try:
                runtime.apply_extrinsic(overlay, data)
            except InvalidTransaction as exc:
                overlay.rollback_transaction()
                if exc.reason == "ExhaustsResources" and included:
                    break  # the block is full; the transaction waits for the next one
                invalid.append((tx_hash, exc.reason))
                continue
            except Exception:
                overlay.rollback_transaction()
                _log.exception("apply_extrinsic_failed", extrinsic_hash=tx_hash.hex())
                invalid.append((tx_hash, "internal error"))
                continue
            overlay.commit_transaction()
            extrinsics.append(data)
            included.append(tx_hash)
        runtime.finalize_block(overlay)
        changes = overlay.changes()
        trie = self._tries[parent.hash].apply(changes)
        header = Header(
            parent_hash=parent.hash,
            number=number,
            state_root=trie.root,
            extrinsics_root=self.backend.ordered_trie_root(extrinsics),
            digest=context.digest,
        )
        block_hash = header.hash
        self.store.commit_block(header=header, block_hash=block_hash, extrinsics=extrinsics, changes=changes)
        self.state.apply(changes)
        info = BlockInfo(number=number, hash=block_hash, header=header)
        self._hashes.append(block_hash)
        self._numbers[block_hash] = number
        self.head = info
        self._remember(info, trie)
        return AuthoredBlock(
            info=info, extrinsics=extrinsics, included=included, invalid=invalid, changes=changes
        )


def extrinsic_hash(data: bytes) -> bytes:
    return blake2_256(data)
