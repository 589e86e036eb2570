"""The receipt ledger: idempotent inserts, state moves, batches by count and age."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest

from phala_agents.worker.ledger import Ledger, NewReceipt, ReceiptWriter


class FakeClock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def time(self) -> float:
        return self.now


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def ledger(tmp_path: Path, clock: FakeClock) -> Ledger:
    with Ledger(tmp_path / "ledger.sqlite", clock=clock) as store:
        yield store


def _record(ledger: Ledger, n: int, caller: bytes | str = b"\x01" * 32, **kw: object) -> tuple[object, bool]:
    fields: dict[str, object] = {
        "id": f"rcpt-{n}",
        "caller": caller,
        "nonce": n,
        "agent_id": 7,
        "agent_version": 2,
        "charge": 10 + n,
        "estimated": n % 2 == 1,
        "signed": b"signed-bytes-%d" % n,
    }
    fields.update(kw)
    return ledger.record(**fields)  # type: ignore[arg-type]


def test_pragmas_are_wal_and_normal_by_default(ledger: Ledger) -> None:
    db = sqlite3.connect(ledger.path)
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert ledger.durability == "process"
    assert ledger._db.execute("PRAGMA synchronous").fetchone()[0] == 1  # NORMAL
    db.close()


def test_power_durability_is_synchronous_full(tmp_path: Path) -> None:
    with Ledger(tmp_path / "power.sqlite", durability="power") as ledger:
        assert ledger._db.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL


def test_unknown_durability_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="durability: found 'disk'"):
        Ledger(tmp_path / "x.sqlite", durability="disk")  # type: ignore[arg-type]


def test_record_round_trips_every_field(ledger: Ledger, clock: FakeClock) -> None:
    receipt, inserted = _record(ledger, 1)
    assert inserted
    stored = ledger.get("rcpt-1")
    assert stored == receipt
    assert (stored.caller, stored.nonce, stored.agent_id, stored.agent_version) == (b"\x01" * 32, 1, 7, 2)
    assert (stored.charge, stored.estimated, stored.signed) == (11, True, b"signed-bytes-1")
    assert (stored.state, stored.created_at) == ("pending", clock.now)
    assert ledger.get("nope") is None


def test_same_caller_and_nonce_is_stored_once(ledger: Ledger) -> None:
    first, _ = _record(ledger, 1)
    again, inserted = _record(ledger, 1, id="rcpt-other", charge=999)
    assert not inserted
    assert again == first
    assert ledger.count() == 1
    # Same nonce for another caller is another authorization.
    _, inserted = _record(ledger, 1, caller="bob", id="rcpt-bob-1")
    assert inserted
    assert ledger.count() == 2


def test_an_id_reused_for_another_authorization_is_a_bug(ledger: Ledger) -> None:
    _record(ledger, 1)
    with pytest.raises(ValueError, match="already used by another authorization"):
        _record(ledger, 2, id="rcpt-1")
    assert ledger.count() == 1


def test_states_move_forward_and_retry(ledger: Ledger, clock: FakeClock) -> None:
    for n in range(3):
        _record(ledger, n)
    assert ledger.mark_submitted(["rcpt-0", "rcpt-1"]) == 2
    assert ledger.mark_submitted(["rcpt-0"]) == 0
    assert [r.id for r in ledger.pending(limit=10)] == ["rcpt-2"]
    assert ledger.mark_pending(["rcpt-1"]) == 1  # the extrinsic was dropped
    assert ledger.mark_settled(["rcpt-0"]) == 1
    assert ledger.mark_settled(["rcpt-0"]) == 0  # idempotent
    assert ledger.mark_pending(["rcpt-0"]) == 0  # settled is final
    assert {r.id for r in ledger.unsettled()} == {"rcpt-1", "rcpt-2"}
    assert (ledger.count("pending"), ledger.count("submitted"), ledger.count("settled")) == (2, 0, 1)
    # Settled receipts stay until pruned, and only once old enough.
    assert ledger.prune_settled(older_than=60) == 0
    clock.now += 61
    assert ledger.prune_settled(older_than=60) == 1
    assert ledger.get("rcpt-0") is None


def test_batches_by_count_or_age(ledger: Ledger, clock: FakeClock) -> None:
    assert ledger.due_batch(max_count=3, max_age=10) == []
    _record(ledger, 0)
    clock.now += 1
    _record(ledger, 1)
    assert ledger.due_batch(max_count=3, max_age=10) == []  # too few, too young
    clock.now += 9
    assert [r.id for r in ledger.due_batch(max_count=3, max_age=10)] == ["rcpt-0", "rcpt-1"]
    clock.now = 0  # back in time: age no longer triggers
    _record(ledger, 2)
    _record(ledger, 3)
    assert [r.id for r in ledger.due_batch(max_count=3, max_age=10)] == ["rcpt-2", "rcpt-3", "rcpt-0"]


def test_reopen_keeps_everything(tmp_path: Path) -> None:
    path = tmp_path / "l.sqlite"
    with Ledger(path) as first:
        _record(first, 1)
        first.mark_submitted(["rcpt-1"])
    with Ledger(path) as second:
        stored = second.get("rcpt-1")
        assert stored is not None
        assert stored.state == "submitted"
        assert [r.nonce for r in second.by_caller(b"\x01" * 32)] == [1]


def test_a_newer_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "l.sqlite"
    db = sqlite3.connect(path)
    db.execute("PRAGMA user_version=99")
    db.close()
    with pytest.raises(RuntimeError, match="schema version is 99, wanted 2"):
        Ledger(path)


def test_permanently_refused_receipts_become_failed_and_leave_the_settlement_queue(
    ledger: Ledger, clock: FakeClock
) -> None:
    for n in (1, 2, 3):
        _record(ledger, n)
    ledger.mark_submitted(["rcpt-1", "rcpt-2"])
    assert ledger.mark_failed({"rcpt-1": "Expired", "rcpt-3": "BadCallerSignature"}) == 2
    assert ledger.mark_failed({"rcpt-1": "Expired"}) == 0  # already failed
    failed = ledger.get("rcpt-1")
    assert failed is not None and failed.state == "failed" and failed.failure == "Expired"
    assert {r.id for r in ledger.failed()} == {"rcpt-1", "rcpt-3"}
    # Neither re-booked in the meter at start nor offered to settlement again.
    assert [r.id for r in ledger.unsettled()] == ["rcpt-2"]
    clock.now += 3600
    assert [r.id for r in ledger.due_batch(max_count=10, max_age=0)] == []  # rcpt-2 is submitted
    ledger.mark_pending(["rcpt-2"])
    assert [r.id for r in ledger.due_batch(max_count=10, max_age=0)] == ["rcpt-2"]
    assert ledger.count("failed") == 2
    # The replay check still sees them.
    assert ledger.has_authorization(b"\x01" * 32, 1) and not ledger.has_authorization(b"\x01" * 32, 99)
    # A final Settled event wins over a local "failed".
    assert ledger.mark_settled(["rcpt-3"]) == 1


def test_a_version_1_ledger_is_migrated(tmp_path: Path) -> None:
    path = tmp_path / "v1.sqlite"
    db = sqlite3.connect(path)
    db.executescript(
        """
        CREATE TABLE receipts (
            id TEXT PRIMARY KEY, caller BLOB NOT NULL, nonce INTEGER NOT NULL,
            agent_id INTEGER NOT NULL, agent_version INTEGER NOT NULL,
            charge INTEGER NOT NULL CHECK (charge >= 0),
            estimated INTEGER NOT NULL CHECK (estimated IN (0, 1)), created_at REAL NOT NULL,
            state TEXT NOT NULL CHECK (state IN ('pending', 'submitted', 'settled')),
            state_at REAL NOT NULL, signed BLOB NOT NULL, UNIQUE (caller, nonce));
        CREATE INDEX receipts_state_created ON receipts (state, created_at);
        INSERT INTO receipts VALUES ('old', X'01', 7, 1, 1, 5, 0, 1.0, 'pending', 1.0, X'AA');
        PRAGMA user_version=1;
        """
    )
    db.close()
    with Ledger(path) as ledger:
        old = ledger.get("old")
        assert old is not None and (old.nonce, old.charge, old.state, old.failure) == (7, 5, "pending", None)
        assert ledger.mark_failed({"old": "Expired"}) == 1
        assert ledger._db.execute("PRAGMA user_version").fetchone()[0] == 2
    with Ledger(path) as reopened:
        assert [r.id for r in reopened.failed()] == ["old"]


def _new(n: int, **kw: object) -> NewReceipt:
    fields: dict[str, object] = {
        "id": f"g-{n}",
        "caller": "alice",
        "nonce": n,
        "agent_id": 1,
        "agent_version": 1,
        "charge": n,
        "estimated": False,
        "signed": b"s",
    }
    fields.update(kw)
    return NewReceipt(**fields)  # type: ignore[arg-type]


def test_record_batch_isolates_a_bad_receipt(ledger: Ledger) -> None:
    _record(ledger, 1, caller="alice", id="taken")
    outcomes = ledger.record_batch([_new(10), _new(11, id="taken"), _new(10, id="g-dup"), _new(12)])
    assert [o[1] if isinstance(o, tuple) else "error" for o in outcomes] == [True, "error", False, True]
    assert isinstance(outcomes[1], ValueError)
    assert outcomes[2][0].id == "g-10"  # type: ignore[index]
    assert ledger.count() == 3


def test_group_commit_shares_fsyncs_and_loses_nothing(ledger: Ledger) -> None:
    async def main() -> tuple[list[tuple[object, bool]], int]:
        writer = ReceiptWriter(ledger)
        results = await asyncio.gather(*(writer.record(_new(n % 150)) for n in range(200)))
        await writer.aclose()
        return list(results), writer.batches

    results, batches = asyncio.run(main())
    assert sum(1 for _, inserted in results if inserted) == 150
    assert ledger.count() == 150
    assert batches < 200


def test_group_commit_reports_a_collision_to_its_caller_only(ledger: Ledger) -> None:
    _record(ledger, 1, caller="bob", id="g-5")

    async def main() -> list[object]:
        writer = ReceiptWriter(ledger)
        return list(
            await asyncio.gather(*(writer.record(_new(n)) for n in range(10)), return_exceptions=True)
        )

    results = asyncio.run(main())
    assert isinstance(results[5], ValueError)
    assert all(isinstance(r, tuple) for i, r in enumerate(results) if i != 5)


def test_a_lone_receipt_commits_inline_and_a_burst_still_shares_a_commit(ledger: Ledger) -> None:
    async def main() -> ReceiptWriter:
        writer = ReceiptWriter(ledger)
        for n in range(5):
            _stored, inserted = await writer.record(_new(n), alone=True)
            assert inserted and ledger.get(f"g-{n}") is not None  # committed before record returned
        assert writer.batches == 5 and writer._flusher is None  # inline: no flush task was needed
        burst = await asyncio.gather(*(writer.record(_new(n)) for n in range(5, 25)))
        assert all(inserted for _, inserted in burst)
        await writer.aclose()
        return writer

    writer = asyncio.run(main())
    assert ledger.count() == 25
    assert writer.batches == 5 + 1  # the 20 receipts of the burst shared one commit


def test_an_inline_collision_raises_to_its_caller(ledger: Ledger) -> None:
    _record(ledger, 1, caller="bob", id="g-7")

    async def main() -> None:
        writer = ReceiptWriter(ledger)
        with pytest.raises(ValueError, match="already used by another authorization"):
            await writer.record(_new(7), alone=True)

    asyncio.run(main())
    assert ledger.count() == 1
