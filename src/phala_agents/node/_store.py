"""SQLite persistence: one atomic transaction per block (header, body, state changes, head).

WAL mode with ``synchronous=NORMAL``: a committed transaction survives the process being killed
(``kill -9``) at any moment; only an operating-system crash or power loss may lose the last
commits. ``state`` holds the head state (fast restart); ``history`` holds every change with the
block number that made it, so the state at any past block is one indexed lookup away.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from phala_agents.node._blocks import Header, decode_body, encode_body

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (k TEXT PRIMARY KEY, v BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS blocks (
    number INTEGER PRIMARY KEY,
    hash BLOB NOT NULL UNIQUE,
    header BLOB NOT NULL,
    body BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS state (key BLOB PRIMARY KEY, value BLOB NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS history (
    key BLOB NOT NULL,
    number INTEGER NOT NULL,
    value BLOB,
    PRIMARY KEY (key, number)
) WITHOUT ROWID;
"""


@dataclass(frozen=True, slots=True, kw_only=True)
class StoredBlock:
    number: int
    hash: bytes
    header: Header
    extrinsics: list[bytes]


class BlockStore:
    """The node's database. Not thread-safe: the node uses it from its event-loop thread only."""

    def __init__(self, path: Path | None) -> None:
        # path None: an in-memory database (``--tmp`` still uses a file in a temp dir, so that
        # a restart test can reopen it; tests may use memory).
        target = ":memory:" if path is None else str(path)
        self._db = sqlite3.connect(target, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute("PRAGMA temp_store=MEMORY")
        self._db.executescript(_SCHEMA)

    def close(self) -> None:
        self._db.close()

    # --- reads ---------------------------------------------------------------------------------

    def meta(self, key: str) -> bytes | None:
        row = self._db.execute("SELECT v FROM meta WHERE k=?", (key,)).fetchone()
        return None if row is None else bytes(row[0])

    def head_number(self) -> int | None:
        row = self._db.execute("SELECT MAX(number) FROM blocks").fetchone()
        return None if row is None or row[0] is None else int(row[0])

    def block_hashes(self) -> list[bytes]:
        """Every block hash, index = number (the dev chain has no forks)."""
        return [bytes(r[0]) for r in self._db.execute("SELECT hash FROM blocks ORDER BY number")]

    def block(self, number: int) -> StoredBlock | None:
        row = self._db.execute("SELECT hash, header, body FROM blocks WHERE number=?", (number,)).fetchone()
        if row is None:
            return None
        return StoredBlock(
            number=number,
            hash=bytes(row[0]),
            header=Header.decode(bytes(row[1])),
            extrinsics=decode_body(bytes(row[2])),
        )

    def state_items(self) -> Iterator[tuple[bytes, bytes]]:
        for key, value in self._db.execute("SELECT key, value FROM state"):
            yield bytes(key), bytes(value)

    def value_at(self, key: bytes, number: int) -> bytes | None:
        row = self._db.execute(
            "SELECT value FROM history WHERE key=? AND number<=? ORDER BY number DESC LIMIT 1",
            (key, number),
        ).fetchone()
        return None if row is None or row[0] is None else bytes(row[0])

    def next_key_at(self, key: bytes, number: int) -> bytes | None:
        cursor = key
        while True:
            row = self._db.execute(
                "SELECT key FROM history WHERE key>? AND number<=? ORDER BY key LIMIT 1",
                (cursor, number),
            ).fetchone()
            if row is None:
                return None
            candidate = bytes(row[0])
            if self.value_at(candidate, number) is not None:
                return candidate
            cursor = candidate  # deleted at that block: look further

    def block_changes(self, number: int) -> dict[bytes, bytes | None]:
        """The state changes block ``number`` made."""
        return {
            bytes(k): (None if v is None else bytes(v))
            for k, v in self._db.execute("SELECT key, value FROM history WHERE number=?", (number,))
        }

    # --- writes --------------------------------------------------------------------------------

    def commit_block(
        self,
        *,
        header: Header,
        block_hash: bytes,
        extrinsics: Sequence[bytes],
        changes: Mapping[bytes, bytes | None],
        meta: Mapping[str, bytes] | None = None,
    ) -> None:
        """Write one block and its state changes in a single transaction."""
        db = self._db
        db.execute("BEGIN IMMEDIATE")
        try:
            db.execute(
                "INSERT INTO blocks (number, hash, header, body) VALUES (?, ?, ?, ?)",
                (header.number, block_hash, header.encode(), encode_body(extrinsics)),
            )
            sets = [(k, v) for k, v in changes.items() if v is not None]
            dels = [(k,) for k, v in changes.items() if v is None]
            if sets:
                db.executemany("INSERT OR REPLACE INTO state (key, value) VALUES (?, ?)", sets)
            if dels:
                db.executemany("DELETE FROM state WHERE key=?", dels)
            db.executemany(
                "INSERT OR REPLACE INTO history (key, number, value) VALUES (?, ?, ?)",
                [(k, header.number, v) for k, v in changes.items()],
            )
            for key, value in (meta or {}).items():
                db.execute("INSERT OR REPLACE INTO meta (k, v) VALUES (?, ?)", (key, value))
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
