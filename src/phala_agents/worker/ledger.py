"""The receipt ledger: a crash-safe local store of signed receipts until their settlement is final.

SQLite in WAL mode with ``synchronous=FULL``: ``record`` returns only after its transaction is in
the WAL and the WAL is fsynced, so a receipt the worker has acknowledged survives ``kill -9`` and
power loss; a transaction cut short by a crash is rolled back on the next open (SQLite's own
recovery), never half-applied. The worker records the receipt before the response completes, so a
caller that got a receipt id can always be billed for it, and one that did not is not billed.

Each receipt is unique by ``(caller, nonce)``: recording the same authorization twice returns the
receipt already stored (a retried request is billed once, and the chain rejects a used nonce too).
States move ``pending -> submitted -> settled``; a failed or dropped submission goes back to
``pending``. A receipt is deleted only by ``prune_settled`` after its ``Settled`` event is final.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Protocol, TypeAlias

__all__ = [
    "Clock",
    "Ledger",
    "LedgerReceipt",
    "ReceiptState",
]

ReceiptState: TypeAlias = Literal["pending", "submitted", "settled"]
_STATES: tuple[ReceiptState, ...] = ("pending", "submitted", "settled")
_SCHEMA_VERSION = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS receipts (
    id            TEXT PRIMARY KEY,
    caller        BLOB NOT NULL,
    nonce         INTEGER NOT NULL,
    agent_id      INTEGER NOT NULL,
    agent_version INTEGER NOT NULL,
    charge        INTEGER NOT NULL CHECK (charge >= 0),
    estimated     INTEGER NOT NULL CHECK (estimated IN (0, 1)),
    created_at    REAL NOT NULL,
    state         TEXT NOT NULL CHECK (state IN ('pending', 'submitted', 'settled')),
    state_at      REAL NOT NULL,
    signed        BLOB NOT NULL,
    UNIQUE (caller, nonce)
);
CREATE INDEX IF NOT EXISTS receipts_state_created ON receipts (state, created_at);
"""

# SQL below is assembled only from these module constants; every value is a bound parameter.
_COLUMNS = (
    "id, caller, nonce, agent_id, agent_version, charge, estimated, created_at, state, state_at, signed"
)
_INSERT = (
    f"INSERT INTO receipts ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'pending', ?, ?) "  # noqa: S608
    "ON CONFLICT DO NOTHING"
)


class Clock(Protocol):
    """Wall-clock seconds; the ``time`` module is one. Tests pass a fake."""

    def time(self) -> float: ...


@dataclass(frozen=True, slots=True, kw_only=True)
class LedgerReceipt:
    """One stored receipt: the signed bytes (opaque here) and the fields settlement needs."""

    id: str
    caller: bytes | str
    nonce: int
    agent_id: int
    agent_version: int
    charge: int
    estimated: bool
    created_at: float
    state: ReceiptState
    state_at: float
    signed: bytes


def _row(row: tuple[object, ...]) -> LedgerReceipt:
    (rid, caller, nonce, agent_id, version, charge, estimated, created, state, state_at, signed) = row
    assert isinstance(caller, bytes | str)
    return LedgerReceipt(
        id=str(rid),
        caller=caller,
        nonce=int(str(nonce)),
        agent_id=int(str(agent_id)),
        agent_version=int(str(version)),
        charge=int(str(charge)),
        estimated=bool(estimated),
        created_at=float(str(created)),
        state=_state(str(state)),
        state_at=float(str(state_at)),
        signed=bytes(signed) if isinstance(signed, bytes | bytearray | memoryview) else b"",
    )


def _state(value: str) -> ReceiptState:
    for state in _STATES:
        if state == value:
            return state
    raise ValueError(f"receipt state is {value!r}, wanted one of {_STATES}")


class Ledger:
    """The receipt store. Thread-safe; each method is one transaction.

    Calls block on an fsync (``synchronous=FULL``); from asyncio run them in a thread.
    """

    def __init__(self, path: Path | str, *, clock: Clock | None = None) -> None:
        self.path = Path(path)
        self._clock: Clock = clock or time
        self._lock = threading.Lock()
        # isolation_level=None: autocommit, transactions are explicit BEGIN IMMEDIATE ... COMMIT.
        self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.execute("PRAGMA busy_timeout=5000")
        with self._transaction():
            version = int(self._db.execute("PRAGMA user_version").fetchone()[0])
            if version not in (0, _SCHEMA_VERSION):
                raise RuntimeError(
                    f"ledger {self.path}: schema version is {version}, wanted {_SCHEMA_VERSION}"
                )
            for statement in _SCHEMA.split(";"):
                if statement.strip():
                    self._db.execute(statement)
            self._db.execute(f"PRAGMA user_version={_SCHEMA_VERSION}")

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def __enter__(self) -> Ledger:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    # --- writing --------------------------------------------------------------------------------

    def record(
        self,
        *,
        id: str,
        caller: bytes | str,
        nonce: int,
        agent_id: int,
        agent_version: int,
        charge: int,
        estimated: bool,
        signed: bytes,
        created_at: float | None = None,
    ) -> tuple[LedgerReceipt, bool]:
        """Store a receipt durably (pending). Returns the stored receipt and whether it is new.

        Idempotent by ``(caller, nonce)``: a second receipt for the same authorization is not
        stored; the first one is returned with ``False``.
        """
        now = self._clock.time()
        created = now if created_at is None else created_at
        with self._transaction() as db:
            cursor = db.execute(
                _INSERT,
                (id, caller, nonce, agent_id, agent_version, charge, int(estimated), created, now, signed),
            )
            inserted = cursor.rowcount == 1
            row = db.execute(
                f"SELECT {_COLUMNS} FROM receipts WHERE caller = ? AND nonce = ?",  # noqa: S608
                (caller, nonce),
            ).fetchone()
            if row is None:
                # The id collided with a different (caller, nonce): a caller bug, not a replay.
                raise ValueError(f"receipt id {id!r} is already used by another authorization")
        return _row(row), inserted

    def _move(self, ids: Iterable[str], state: ReceiptState, allowed_from: tuple[ReceiptState, ...]) -> int:
        now = self._clock.time()
        placeholders = ",".join("?" * len(allowed_from))
        with self._transaction() as db:
            changed = 0
            for rid in ids:
                cursor = db.execute(
                    f"UPDATE receipts SET state = ?, state_at = ? WHERE id = ? AND state IN ({placeholders})",  # noqa: S608
                    (state, now, rid, *allowed_from),
                )
                changed += cursor.rowcount
        return changed

    def mark_submitted(self, ids: Iterable[str]) -> int:
        """Pending receipts handed to a ``settle`` extrinsic. Returns how many moved."""
        return self._move(ids, "submitted", ("pending",))

    def mark_pending(self, ids: Iterable[str]) -> int:
        """Submitted receipts whose extrinsic failed, was dropped or was not finalized: retry them."""
        return self._move(ids, "pending", ("submitted",))

    def mark_settled(self, ids: Iterable[str]) -> int:
        """Receipts whose ``Settled`` event is finalized. Idempotent; returns how many moved."""
        return self._move(ids, "settled", ("pending", "submitted"))

    def prune_settled(self, *, older_than: float) -> int:
        """Delete settled receipts whose settlement is older than ``older_than`` seconds."""
        cutoff = self._clock.time() - older_than
        with self._transaction() as db:
            cursor = db.execute("DELETE FROM receipts WHERE state = 'settled' AND state_at <= ?", (cutoff,))
            return cursor.rowcount

    # --- reading --------------------------------------------------------------------------------

    def _select(self, where: str, params: tuple[object, ...]) -> list[LedgerReceipt]:
        with self._lock:
            rows = self._db.execute(f"SELECT {_COLUMNS} FROM receipts {where}", params).fetchall()  # noqa: S608
        return [_row(row) for row in rows]

    def get(self, receipt_id: str) -> LedgerReceipt | None:
        found = self._select("WHERE id = ?", (receipt_id,))
        return found[0] if found else None

    def pending(self, *, limit: int) -> list[LedgerReceipt]:
        """The oldest pending receipts, up to ``limit``."""
        return self._select("WHERE state = 'pending' ORDER BY created_at, id LIMIT ?", (limit,))

    def due_batch(self, *, max_count: int, max_age: float) -> list[LedgerReceipt]:
        """A settlement batch when one is due, else ``[]``.

        Due when at least ``max_count`` receipts are pending, or the oldest has waited ``max_age``
        seconds; then up to ``max_count`` of the oldest are returned.
        """
        batch = self.pending(limit=max_count)
        if not batch:
            return []
        if len(batch) >= max_count or self._clock.time() - batch[0].created_at >= max_age:
            return batch
        return []

    def unsettled(self) -> list[LedgerReceipt]:
        """Every receipt not settled yet (pending or submitted): the meter re-books these at start."""
        return self._select("WHERE state != 'settled' ORDER BY created_at, id", ())

    def by_caller(self, caller: bytes | str, *, limit: int = 100) -> list[LedgerReceipt]:
        return self._select("WHERE caller = ? ORDER BY created_at DESC, id LIMIT ?", (caller, limit))

    def count(self, state: ReceiptState | None = None) -> int:
        with self._lock:
            if state is None:
                row = self._db.execute("SELECT COUNT(*) FROM receipts").fetchone()
            else:
                row = self._db.execute("SELECT COUNT(*) FROM receipts WHERE state = ?", (state,)).fetchone()
        return int(row[0])
