"""The transaction pool: ready and future queues keyed by the runtime's tags.

Shaped like Substrate's basic pool (``sc-transaction-pool``): a transaction ``provides`` tags
(for a signed extrinsic: ``(who, nonce)``) and ``requires`` tags (``(who, nonce - 1)`` when its
nonce is ahead of the chain). It is *ready* when every required tag is provided by a ready
transaction (tags the chain already satisfies are never listed), else *future*. Two transactions
providing the same tag conflict: the one with the higher priority (tip) replaces the other,
which is reported ``usurped``; an equal or lower priority is rejected (RPC 1014). Blocks take
ready transactions in dependency order, highest priority first.

Status notifications use the JSON of ``author_extrinsicUpdate``: ``"future"``, ``"ready"``,
``{"inBlock": hash}``, ``{"finalized": hash}``, ``{"usurped": hash}``, ``"dropped"``,
``"invalid"``.
"""

from __future__ import annotations

import heapq
import itertools
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from phala_agents.errors import RpcError

# Substrate's author RPC error codes (sc-rpc-api author/error.rs: BASE_ERROR 1000 + 10 + n).
POOL_INVALID_TX = 1010
POOL_UNKNOWN_VALIDITY = 1011
POOL_TEMPORARILY_BANNED = 1012
POOL_ALREADY_IMPORTED = 1013
POOL_TOO_LOW_PRIORITY = 1014
POOL_IMMEDIATELY_DROPPED = 1016

Listener = Callable[[bytes, object], None]


@dataclass(slots=True, kw_only=True)
class PoolTransaction:
    """One transaction in the pool (mutable: revalidation refreshes its validity)."""

    hash: bytes
    data: bytes
    priority: int
    requires: tuple[bytes, ...]
    provides: tuple[bytes, ...]
    valid_till: int
    seq: int = 0
    missing: set[bytes] = field(default_factory=set)  # future only: required tags not yet provided


def _hex(data: bytes) -> str:
    return "0x" + data.hex()


class TransactionPool:
    """Ready/future queues, replacement by priority, bans, limits and status events."""

    def __init__(
        self,
        *,
        listener: Listener | None = None,
        ready_limit: int = 8192,
        future_limit: int = 512,
        ban_seconds: float = 1800.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._listener = listener
        self._ready: dict[bytes, PoolTransaction] = {}
        self._future: dict[bytes, PoolTransaction] = {}
        self._provided: dict[bytes, bytes] = {}  # tag -> hash of the ready tx providing it
        self._future_provided: dict[bytes, bytes] = {}  # tag -> hash of a future tx providing it
        self._waiting: dict[bytes, set[bytes]] = {}  # tag -> hashes of futures missing it
        self._banned: dict[bytes, float] = {}
        self._seq = itertools.count()
        self._ready_limit = ready_limit
        self._future_limit = future_limit
        self._ban_seconds = ban_seconds
        self._clock = clock

    # --- queries -----------------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self._ready) + len(self._future)

    @property
    def ready_count(self) -> int:
        return len(self._ready)

    @property
    def future_count(self) -> int:
        return len(self._future)

    def get(self, tx_hash: bytes) -> PoolTransaction | None:
        return self._ready.get(tx_hash) or self._future.get(tx_hash)

    def is_known(self, tx_hash: bytes) -> bool:
        return tx_hash in self._ready or tx_hash in self._future

    def is_banned(self, tx_hash: bytes) -> bool:
        expiry = self._banned.get(tx_hash)
        if expiry is None:
            return False
        if expiry < self._clock():
            del self._banned[tx_hash]
            return False
        return True

    def check_known(self, tx_hash: bytes) -> None:
        """Raise the RPC error Substrate gives for a banned or already imported hash."""
        if self.is_banned(tx_hash):
            raise RpcError(POOL_TEMPORARILY_BANNED, "Transaction is temporarily banned")
        if self.is_known(tx_hash):
            raise RpcError(POOL_ALREADY_IMPORTED, "Transaction Already Imported", _hex(tx_hash))

    def provides_ready(self, tag: bytes) -> bool:
        return tag in self._provided

    def all_transactions(self) -> list[PoolTransaction]:
        return sorted([*self._ready.values(), *self._future.values()], key=lambda t: t.seq)

    def best(self, limit: int | None = None) -> list[PoolTransaction]:
        """Ready transactions in block order: dependencies first, then highest priority, then oldest."""
        blocked: dict[bytes, int] = {}
        unlocks: dict[bytes, list[bytes]] = {}
        heap: list[tuple[int, int, bytes]] = []
        for tx in self._ready.values():
            pending = 0
            for tag in tx.requires:
                provider = self._provided.get(tag)
                if provider is not None and provider != tx.hash:
                    pending += 1
                    unlocks.setdefault(tag, []).append(tx.hash)
            if pending:
                blocked[tx.hash] = pending
            else:
                heap.append((-tx.priority, tx.seq, tx.hash))
        heapq.heapify(heap)
        out: list[PoolTransaction] = []
        while heap and (limit is None or len(out) < limit):
            _, _, tx_hash = heapq.heappop(heap)
            tx = self._ready[tx_hash]
            out.append(tx)
            for tag in tx.provides:
                for waiter in unlocks.pop(tag, ()):
                    blocked[waiter] -= 1
                    if blocked[waiter] == 0:
                        del blocked[waiter]
                        other = self._ready[waiter]
                        heapq.heappush(heap, (-other.priority, other.seq, waiter))
        return out

    # --- import ------------------------------------------------------------------------------

    def import_transaction(self, tx: PoolTransaction) -> str:
        """Add a validated transaction; return "ready" or "future". Raises RpcError 1013/1014/1016."""
        if self.is_known(tx.hash):
            raise RpcError(POOL_ALREADY_IMPORTED, "Transaction Already Imported", _hex(tx.hash))
        replaced: list[bytes] = []
        for tag in tx.provides:
            other_hash = self._provided.get(tag) or self._future_provided.get(tag)
            if other_hash is None or other_hash in replaced:
                continue
            other = self.get(other_hash)
            if other is None:
                continue
            if tx.priority <= other.priority:
                raise RpcError(
                    POOL_TOO_LOW_PRIORITY,
                    f"Priority is too low: ({other.priority} vs {tx.priority})",
                    "The transaction has too low priority to replace another transaction already "
                    "in the pool.",
                )
            replaced.append(other_hash)
        missing = {t for t in tx.requires if t not in self._provided}
        is_ready = not missing
        # Limits: the lowest-priority transaction of the full queue makes room, or the new one
        # is refused when it is itself the lowest.
        queue, limit = (self._ready, self._ready_limit) if is_ready else (self._future, self._future_limit)
        evict: PoolTransaction | None = None
        if len(queue) - sum(1 for h in replaced if h in queue) >= limit:
            lowest = min(queue.values(), key=lambda t: (t.priority, -t.seq))
            if tx.priority <= lowest.priority:
                raise RpcError(
                    POOL_IMMEDIATELY_DROPPED,
                    "Immediately Dropped",
                    "The transaction couldn't enter the pool because of the limit",
                )
            evict = lowest
        for other_hash in replaced:
            self._remove(other_hash)
            self._emit(other_hash, {"usurped": _hex(tx.hash)})
        if evict is not None and self.is_known(evict.hash):
            self._remove(evict.hash)
            self._emit(evict.hash, "dropped")
        tx.seq = next(self._seq)
        if is_ready:
            self._add_ready(tx)
            return "ready"
        tx.missing = missing
        self._future[tx.hash] = tx
        for tag in tx.provides:
            self._future_provided[tag] = tx.hash
        for tag in missing:
            self._waiting.setdefault(tag, set()).add(tx.hash)
        return "future"

    def _add_ready(self, tx: PoolTransaction) -> None:
        promote = [tx]
        while promote:
            item = promote.pop()
            item.missing = set()
            self._ready[item.hash] = item
            for tag in item.provides:
                self._provided[tag] = item.hash
                promote.extend(self._satisfy(tag))

    def _satisfy(self, tag: bytes) -> list[PoolTransaction]:
        """Mark ``tag`` as provided; return the futures that became ready (already dequeued)."""
        became_ready = []
        for waiter_hash in self._waiting.pop(tag, ()):
            waiter = self._future.get(waiter_hash)
            if waiter is None:
                continue
            waiter.missing.discard(tag)
            if not waiter.missing:
                self._dequeue_future(waiter)
                became_ready.append(waiter)
                self._emit(waiter.hash, "ready")
        return became_ready

    def _dequeue_future(self, tx: PoolTransaction) -> None:
        del self._future[tx.hash]
        for tag in tx.provides:
            if self._future_provided.get(tag) == tx.hash:
                del self._future_provided[tag]
        for tag in tx.missing:
            waiters = self._waiting.get(tag)
            if waiters is not None:
                waiters.discard(tx.hash)
                if not waiters:
                    del self._waiting[tag]

    # --- removal -----------------------------------------------------------------------------

    def _remove(self, tx_hash: bytes) -> PoolTransaction | None:
        tx = self._ready.pop(tx_hash, None)
        if tx is not None:
            for tag in tx.provides:
                if self._provided.get(tag) == tx_hash:
                    del self._provided[tag]
            return tx
        tx = self._future.get(tx_hash)
        if tx is not None:
            self._dequeue_future(tx)
        return tx

    def _dependents(self, tx: PoolTransaction) -> list[bytes]:
        tags = set(tx.provides)
        return [o.hash for o in self._ready.values() if o.hash != tx.hash and tags.intersection(o.requires)]

    def remove_invalid(self, hashes: Iterable[bytes], *, ban: bool = True) -> list[bytes]:
        """Drop transactions found invalid, and the ready ones that depended on them."""
        removed: list[bytes] = []
        stack = list(hashes)
        while stack:
            tx_hash = stack.pop()
            tx = self._remove(tx_hash)
            if tx is None:
                continue
            removed.append(tx_hash)
            if ban:
                self._banned[tx_hash] = self._clock() + self._ban_seconds
            self._emit(tx_hash, "invalid")
            stack.extend(self._dependents(tx))
        return removed

    def prune_included(self, block_hash: bytes, included: Iterable[bytes]) -> None:
        """The transactions of a new block leave the pool (``{"inBlock": block}``).

        Their tags are now satisfied by the chain, so futures waiting on them become ready.
        """
        now = self._clock()
        hashes = list(included)
        chain_tags: list[bytes] = []
        for tx_hash in hashes:
            tx = self._remove(tx_hash)
            self._banned[tx_hash] = now + self._ban_seconds  # Substrate bans pruned hashes too
            if tx is not None:
                chain_tags.extend(tx.provides)
        for tx_hash in hashes:
            self._emit(tx_hash, {"inBlock": _hex(block_hash)})
        promoted: list[PoolTransaction] = []
        for tag in chain_tags:
            promoted.extend(self._satisfy(tag))
        for tx in promoted:
            self._add_ready(tx)

    def finalized(self, block_hash: bytes, included: Iterable[bytes]) -> None:
        """Report ``{"finalized": block}`` for transactions of a finalized block."""
        for tx_hash in included:
            self._emit(tx_hash, {"finalized": _hex(block_hash)})

    def clear_stale(self, block_number: int) -> list[bytes]:
        """Drop transactions whose longevity ran out (``valid_till < block_number``)."""
        stale = [t.hash for t in self.all_transactions() if t.valid_till < block_number]
        return self.remove_invalid(stale) if stale else []

    def purge_bans(self) -> None:
        now = self._clock()
        for tx_hash in [h for h, exp in self._banned.items() if exp < now]:
            del self._banned[tx_hash]

    def _emit(self, tx_hash: bytes, status: object) -> None:
        if self._listener is not None:
            self._listener(tx_hash, status)
