"""The receipt ledger: a crash-safe local store of signed receipts until their settlement is final.

SQLite in WAL mode; ``record`` returns only after its transaction committed. Two durability modes
(``LedgerDurability``):

- ``"process"`` (default, ``synchronous=NORMAL``): a commit is written to the WAL file (the OS
  page cache) before ``record`` returns, so an acknowledged receipt survives ``kill -9`` of the
  worker; an OS crash or power loss can lose the last commits (the WAL is fsynced at checkpoints).
  Such a loss costs the worker operator (calls it cannot bill), never the caller.
- ``"power"`` (``synchronous=FULL``): the WAL is fsynced at every commit (one fsync per group
  commit), so an acknowledged receipt also survives power loss.

Either way a transaction cut short by a crash is rolled back on the next open (SQLite's own
recovery), never half-applied. The worker records the receipt before the response completes, so a
caller that got a receipt id can always be billed for it, and one that did not is not billed.

Each receipt is unique by ``(caller, nonce)``: recording the same authorization twice returns the
receipt already stored (a retried request is billed once, and the chain rejects a used nonce too).
States move ``pending -> submitted -> settled``; a dropped submission or a transient refusal goes
back to ``pending``; a receipt the chain refuses for good (expired, bad signature...) becomes
``failed`` with the reason and is never resubmitted. A receipt is deleted only by
``prune_settled`` after its ``Settled`` event is final.
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Protocol, TypeAlias

__all__ = [
    "Clock",
    "Ledger",
    "LedgerDurability",
    "LedgerReceipt",
    "NewReceipt",
    "ReceiptState",
    "ReceiptWriter",
]

LedgerDurability: TypeAlias = Literal["process", "power"]
"""``process``: survives ``kill -9`` (WAL, synchronous=NORMAL); ``power``: also power loss (FULL)."""
_SYNCHRONOUS: dict[str, str] = {"process": "NORMAL", "power": "FULL"}

ReceiptState: TypeAlias = Literal["pending", "submitted", "settled", "failed"]
_STATES: tuple[ReceiptState, ...] = ("pending", "submitted", "settled", "failed")
# 2: the "failed" state and the "failure" column (the chain's reason). Version 1 is migrated.
_SCHEMA_VERSION = 2

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
    state         TEXT NOT NULL CHECK (state IN ('pending', 'submitted', 'settled', 'failed')),
    state_at      REAL NOT NULL,
    signed        BLOB NOT NULL,
    failure       TEXT,
    UNIQUE (caller, nonce)
);
CREATE INDEX IF NOT EXISTS receipts_state_created ON receipts (state, created_at);
"""

# Version 1 -> 2: SQLite cannot change a CHECK constraint in place, so the table is rebuilt (one
# transaction, with the schema statements run after it).
_MIGRATE_1_TO_2 = """
ALTER TABLE receipts RENAME TO receipts_v1;
DROP INDEX IF EXISTS receipts_state_created;
"""
_COPY_1_TO_2 = """
INSERT INTO receipts (id, caller, nonce, agent_id, agent_version, charge, estimated, created_at,
                      state, state_at, signed)
SELECT id, caller, nonce, agent_id, agent_version, charge, estimated, created_at, state, state_at,
       signed FROM receipts_v1;
DROP TABLE receipts_v1;
"""

# SQL below is assembled only from these module constants; every value is a bound parameter.
_COLUMNS = (
    "id, caller, nonce, agent_id, agent_version, charge, estimated, created_at, state, state_at, signed, "
    "failure"
)
_INSERT = (
    f"INSERT INTO receipts ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'pending', ?, ?, NULL) "  # noqa: S608
    "ON CONFLICT DO NOTHING"
)

_SELECT_AUTHORIZATION = f"SELECT {_COLUMNS} FROM receipts WHERE caller = ? AND nonce = ?"  # noqa: S608


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
    failure: str | None = None
    """Why the chain refused it for good (``state == "failed"``), e.g. ``"Expired"``."""


@dataclass(frozen=True, slots=True, kw_only=True)
class NewReceipt:
    """A receipt to store; ``created_at`` defaults to the ledger's clock at the commit."""

    id: str
    caller: bytes | str
    nonce: int
    agent_id: int
    agent_version: int
    charge: int
    estimated: bool
    signed: bytes
    created_at: float | None = None


def _row(row: tuple[object, ...]) -> LedgerReceipt:
    (rid, caller, nonce, agent_id, version, charge, estimated, created, state, state_at, signed, failure) = (
        row
    )
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
        failure=None if failure is None else str(failure),
    )


def _state(value: str) -> ReceiptState:
    for state in _STATES:
        if state == value:
            return state
    raise ValueError(f"receipt state is {value!r}, wanted one of {_STATES}")


class Ledger:
    """The receipt store. Thread-safe; each method is one transaction.

    Writes block on SQLite I/O (an fsync per commit with ``durability="power"``); from asyncio run
    them in a thread.
    """

    def __init__(
        self, path: Path | str, *, clock: Clock | None = None, durability: LedgerDurability = "process"
    ) -> None:
        if durability not in _SYNCHRONOUS:
            raise ValueError(f"ledger durability: found {durability!r}, wanted one of {sorted(_SYNCHRONOUS)}")
        self.path = Path(path)
        self.durability: LedgerDurability = durability
        self._clock: Clock = clock or time
        self._lock = threading.Lock()
        # isolation_level=None: autocommit, transactions are explicit BEGIN IMMEDIATE ... COMMIT.
        self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        # Constant from _SYNCHRONOUS, checked above.
        self._db.execute(f"PRAGMA synchronous={_SYNCHRONOUS[durability]}")
        self._db.execute("PRAGMA busy_timeout=5000")
        self._checkpoint_db: sqlite3.Connection | None = None
        self._checkpoint_lock = threading.Lock()
        with self._transaction():
            version = int(self._db.execute("PRAGMA user_version").fetchone()[0])
            if version not in (0, 1, _SCHEMA_VERSION):
                raise RuntimeError(
                    f"ledger {self.path}: schema version is {version}, wanted {_SCHEMA_VERSION}"
                )
            if version == 1:
                for statement in _MIGRATE_1_TO_2.split(";"):
                    if statement.strip():
                        self._db.execute(statement)
            for statement in _SCHEMA.split(";"):
                if statement.strip():
                    self._db.execute(statement)
            if version == 1:
                for statement in _COPY_1_TO_2.split(";"):
                    if statement.strip():
                        self._db.execute(statement)
            self._db.execute(f"PRAGMA user_version={_SCHEMA_VERSION}")

    def close(self) -> None:
        with self._checkpoint_lock:
            if self._checkpoint_db is not None:
                self._checkpoint_db.close()
                self._checkpoint_db = None
        with self._lock:
            self._db.close()

    def defer_checkpoints(self) -> None:
        """Stop SQLite's automatic WAL checkpoints on the writing connection; call ``checkpoint``.

        A WAL checkpoint copies the WAL into the database and fsyncs both (also with
        ``synchronous=NORMAL``): several ms, which SQLite would otherwise run inside whichever
        commit crosses 1,000 WAL pages, i.e. inside one call every few hundred. ``ReceiptWriter``
        runs them from a thread instead, on a second connection, without holding up commits.
        """
        with self._lock:
            self._db.execute("PRAGMA wal_autocheckpoint=0")

    def checkpoint(self) -> bool:
        """A PASSIVE WAL checkpoint on a separate connection (blocks no writer; call from a thread).

        False when SQLite could not run it (e.g. the ledger is closing); the next one catches up:
        a checkpoint only moves committed data, it never decides durability.
        """
        with self._checkpoint_lock:
            try:
                if self._checkpoint_db is None:
                    self._checkpoint_db = sqlite3.connect(
                        self.path, isolation_level=None, check_same_thread=False
                    )
                    self._checkpoint_db.execute("PRAGMA busy_timeout=5000")
                self._checkpoint_db.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
            except sqlite3.Error:
                return False
            return True

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
        receipt = NewReceipt(
            id=id,
            caller=caller,
            nonce=nonce,
            agent_id=agent_id,
            agent_version=agent_version,
            charge=charge,
            estimated=estimated,
            signed=signed,
            created_at=created_at,
        )
        (outcome,) = self.record_batch([receipt])
        if isinstance(outcome, ValueError):
            raise outcome
        return outcome

    def record_batch(self, receipts: Sequence[NewReceipt]) -> list[tuple[LedgerReceipt, bool] | ValueError]:
        """Store several receipts in one transaction (one fsync): group commit.

        Per receipt, in order: ``(stored, inserted)`` as ``record`` returns it, or the
        ``ValueError`` for an id already used by another authorization (that receipt alone is not
        stored; the others are).
        """
        now = self._clock.time()
        outcomes: list[tuple[LedgerReceipt, bool] | ValueError] = []
        with self._transaction() as db:
            for r in receipts:
                created = now if r.created_at is None else r.created_at
                cursor = db.execute(
                    _INSERT,
                    (
                        r.id, r.caller, r.nonce, r.agent_id, r.agent_version, r.charge,
                        int(r.estimated), created, now, r.signed,
                    ),
                )  # fmt: skip
                if cursor.rowcount == 1:
                    # Inserted: the stored row is exactly these values (no read back needed).
                    stored = LedgerReceipt(
                        id=r.id, caller=r.caller, nonce=r.nonce, agent_id=r.agent_id,
                        agent_version=r.agent_version, charge=r.charge, estimated=r.estimated,
                        created_at=created, state="pending", state_at=now, signed=r.signed,
                    )  # fmt: skip
                    outcomes.append((stored, True))
                    continue
                row = db.execute(_SELECT_AUTHORIZATION, (r.caller, r.nonce)).fetchone()
                if row is None:
                    # The id collided with a different (caller, nonce): a caller bug, not a replay.
                    outcomes.append(
                        ValueError(f"receipt id {r.id!r} is already used by another authorization")
                    )
                else:
                    outcomes.append((_row(row), False))
        return outcomes

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
        """Receipts whose ``Settled`` event is finalized. Idempotent; returns how many moved.

        A ``failed`` receipt moves too: the chain is the judge, and a final ``Settled`` (e.g. from a
        submission this process did not see) means it was paid.
        """
        return self._move(ids, "settled", ("pending", "submitted", "failed"))

    def mark_failed(self, reasons: Mapping[str, str]) -> int:
        """Receipts the chain refused for good (``SettlementFailed`` with a permanent reason).

        They stay in the ledger as evidence with the reason, are never resubmitted, and leave
        ``unsettled()`` and ``due_batch()``. Returns how many moved (from pending or submitted).
        """
        now = self._clock.time()
        with self._transaction() as db:
            changed = 0
            for rid, reason in reasons.items():
                cursor = db.execute(
                    "UPDATE receipts SET state = 'failed', state_at = ?, failure = ? "
                    "WHERE id = ? AND state IN ('pending', 'submitted')",
                    (now, reason, rid),
                )
                changed += cursor.rowcount
        return changed

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
        """Every receipt still to be paid (pending or submitted): the meter re-books these at start."""
        return self._select("WHERE state IN ('pending', 'submitted') ORDER BY created_at, id", ())

    def failed(self, *, limit: int = 100) -> list[LedgerReceipt]:
        """Receipts the chain refused for good, newest first."""
        return self._select("WHERE state = 'failed' ORDER BY state_at DESC, id LIMIT ?", (limit,))

    def settled(self, *, limit: int = 100) -> list[LedgerReceipt]:
        """Settled receipts not pruned yet, newest first."""
        return self._select("WHERE state = 'settled' ORDER BY state_at DESC, id LIMIT ?", (limit,))

    def has_authorization(self, caller: bytes | str, nonce: int) -> bool:
        """Whether a receipt for ``(caller, nonce)`` is stored (any state): the replay check for
        authorizations the gateway does not keep in memory."""
        with self._lock:
            row = self._db.execute(
                "SELECT 1 FROM receipts WHERE caller = ? AND nonce = ?", (caller, nonce)
            ).fetchone()
        return row is not None

    def by_caller(self, caller: bytes | str, *, limit: int = 100) -> list[LedgerReceipt]:
        return self._select("WHERE caller = ? ORDER BY created_at DESC, id LIMIT ?", (caller, limit))

    def count(self, state: ReceiptState | None = None) -> int:
        with self._lock:
            if state is None:
                row = self._db.execute("SELECT COUNT(*) FROM receipts").fetchone()
            else:
                row = self._db.execute("SELECT COUNT(*) FROM receipts WHERE state = ?", (state,)).fetchone()
        return int(row[0])


class ReceiptWriter:
    """Group commit for asyncio: concurrent ``record`` calls share one transaction and one fsync.

    Each call returns only after the transaction holding its receipt committed, so the
    durability promise is the same as ``Ledger.record``. While one commit runs (in a thread), new
    receipts queue up and go into the next one, so the fsync cost is shared by however many
    calls arrived meanwhile.

    Without fsync (``process`` durability) a receipt recorded with ``alone=True`` (its call is
    the only one in flight) is committed inline, in its caller's step of the event loop: there is
    nothing to share the commit with, and queueing would only add a task and a loop iteration
    (~30-50 us) to the call.
    """

    def __init__(self, ledger: Ledger, *, max_batch: int = 512, checkpoint_every: int = 200) -> None:
        self._ledger = ledger
        self._max_batch = max_batch
        self._checkpoint_every = checkpoint_every
        self._since_checkpoint = 0
        self._checkpointing: asyncio.Future[bool] | None = None
        ledger.defer_checkpoints()
        self._queue: list[tuple[NewReceipt, asyncio.Future[tuple[LedgerReceipt, bool]]]] = []
        self._flusher: asyncio.Task[None] | None = None
        self.batches = 0

    async def record(self, receipt: NewReceipt, *, alone: bool = False) -> tuple[LedgerReceipt, bool]:
        """Commit ``receipt``; ``alone``: no other call is in flight that could share the commit."""
        if (
            alone
            and self._ledger.durability == "process"
            and not self._queue
            and (self._flusher is None or self._flusher.done())
        ):
            (outcome,) = self._commit([receipt])
            if isinstance(outcome, ValueError):
                raise outcome
            return outcome
        future: asyncio.Future[tuple[LedgerReceipt, bool]] = asyncio.get_running_loop().create_future()
        self._queue.append((receipt, future))
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._flush())
        return await asyncio.shield(future)

    async def _flush(self) -> None:
        while self._queue:
            batch, self._queue = self._queue[: self._max_batch], self._queue[self._max_batch :]
            receipts = [r for r, _ in batch]
            try:
                if self._ledger.durability == "power":
                    # An fsync takes milliseconds: keep it off the event loop.
                    outcomes = await asyncio.to_thread(self._ledger.record_batch, receipts)
                else:
                    # No fsync: the commit is tens of microseconds (a write() into the WAL), less
                    # than handing it to a thread and back; receipts that arrive meanwhile still
                    # queue up for the next commit.
                    outcomes = self._commit(receipts)
            except BaseException as exc:
                for _, future in batch:
                    if not future.done():
                        future.set_exception(exc)
                if not isinstance(exc, Exception):
                    raise
                continue
            if self._ledger.durability == "power":
                self._committed(len(receipts))
            for (_, future), outcome in zip(batch, outcomes, strict=True):
                if future.done():
                    continue
                if isinstance(outcome, ValueError):
                    future.set_exception(outcome)
                else:
                    future.set_result(outcome)

    def _commit(self, receipts: list[NewReceipt]) -> list[tuple[LedgerReceipt, bool] | ValueError]:
        """One transaction on the event loop (no fsync), then the bookkeeping."""
        outcomes = self._ledger.record_batch(receipts)
        self._committed(len(receipts))
        return outcomes

    def _committed(self, count: int) -> None:
        self.batches += 1
        self._since_checkpoint += count
        if self._since_checkpoint >= self._checkpoint_every and (
            self._checkpointing is None or self._checkpointing.done()
        ):
            self._since_checkpoint = 0
            self._checkpointing = asyncio.ensure_future(asyncio.to_thread(self._ledger.checkpoint))

    async def aclose(self) -> None:
        """Wait for every queued receipt to be committed (and a running checkpoint)."""
        if self._flusher is not None:
            await self._flusher
        if self._checkpointing is not None:
            await self._checkpointing
