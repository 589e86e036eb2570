"""TransactionPool: ready/future by tags, replacement, limits, bans, pruning, ordering."""

from __future__ import annotations

import pytest

from phala_agents.errors import RpcError
from phala_agents.node import PoolTransaction, TransactionPool


def tag(who: int, nonce: int) -> bytes:
    return bytes([who]) * 32 + nonce.to_bytes(4, "little")


def tx(who: int, nonce: int, *, chain_nonce: int = 0, tip: int = 0, salt: int = 0) -> PoolTransaction:
    return PoolTransaction(
        hash=bytes([who, nonce, tip, salt]) * 8,
        data=bytes([who, nonce, tip, salt]),
        priority=tip,
        requires=(tag(who, nonce - 1),) if nonce > chain_nonce else (),
        provides=(tag(who, nonce),),
        valid_till=100,
    )


class Events(list[tuple[bytes, object]]):
    def __call__(self, tx_hash: bytes, status: object) -> None:
        self.append((tx_hash, status))


def test_ready_future_and_promotion() -> None:
    events = Events()
    pool = TransactionPool(listener=events)
    t1 = tx(1, 1)
    assert pool.import_transaction(t1) == "future"
    assert pool.import_transaction(tx(1, 0)) == "ready"
    assert (t1.hash, "ready") in events
    assert [t.data for t in pool.best()] == [tx(1, 0).data, t1.data]


def test_dependencies_before_priority() -> None:
    pool = TransactionPool()
    pool.import_transaction(tx(1, 0, tip=1))
    pool.import_transaction(tx(1, 1, tip=100))
    pool.import_transaction(tx(2, 0, tip=50))
    order = [(t.data[0], t.data[1]) for t in pool.best()]
    assert order == [(2, 0), (1, 0), (1, 1)]


def test_replacement_by_priority() -> None:
    events = Events()
    pool = TransactionPool(listener=events)
    low = tx(1, 0, tip=1)
    pool.import_transaction(low)
    with pytest.raises(RpcError) as info:
        pool.import_transaction(tx(1, 0, tip=1, salt=9))
    assert info.value.code == 1014
    high = tx(1, 0, tip=2)
    pool.import_transaction(high)
    assert events[-1] == (low.hash, {"usurped": "0x" + high.hash.hex()})
    assert [t.hash for t in pool.best()] == [high.hash]


def test_duplicates_and_bans() -> None:
    pool = TransactionPool()
    t = tx(1, 0)
    pool.import_transaction(t)
    with pytest.raises(RpcError) as info:
        pool.check_known(t.hash)
    assert info.value.code == 1013
    pool.prune_included(b"\x01" * 32, [t.hash])
    assert len(pool) == 0
    with pytest.raises(RpcError) as info:
        pool.check_known(t.hash)
    assert info.value.code == 1012


def test_pruning_promotes_futures_and_reports_statuses() -> None:
    events = Events()
    pool = TransactionPool(listener=events)
    t0, t2 = tx(1, 0), tx(1, 2)
    pool.import_transaction(t0)
    pool.import_transaction(t2)  # requires nonce 1, missing
    assert pool.future_count == 1
    pool.prune_included(b"\xaa" * 32, [t0.hash])
    assert (t0.hash, {"inBlock": "0x" + "aa" * 32}) in events
    pool.finalized(b"\xaa" * 32, [t0.hash])
    assert events[-1] == (t0.hash, {"finalized": "0x" + "aa" * 32})
    assert pool.future_count == 1  # still waits for nonce 1
    t1 = tx(1, 1, chain_nonce=1)  # after the block, nonce 1 needs nothing
    assert pool.import_transaction(t1) == "ready"
    assert pool.ready_count == 2


def test_limits_drop_lowest_or_refuse() -> None:
    events = Events()
    pool = TransactionPool(listener=events, ready_limit=2)
    a, b = tx(1, 0, tip=5), tx(2, 0, tip=1)
    pool.import_transaction(a)
    pool.import_transaction(b)
    with pytest.raises(RpcError) as info:
        pool.import_transaction(tx(3, 0, tip=1))
    assert info.value.code == 1016
    pool.import_transaction(tx(3, 0, tip=9))
    assert (b.hash, "dropped") in events


def test_invalid_removal_takes_dependents_and_stale_expiry() -> None:
    events = Events()
    pool = TransactionPool(listener=events)
    t0, t1 = tx(1, 0), tx(1, 1)
    pool.import_transaction(t0)
    pool.import_transaction(t1)
    removed = pool.remove_invalid([t0.hash])
    assert set(removed) == {t0.hash, t1.hash}
    assert (t1.hash, "invalid") in events
    t = tx(2, 0)
    t.valid_till = 3
    pool.import_transaction(t)
    assert pool.clear_stale(4) == [t.hash]
