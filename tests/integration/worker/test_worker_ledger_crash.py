"""kill -9 a process that writes receipts at random points; on reopen every acknowledged one is there once."""

from __future__ import annotations

import random
import signal
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from phala_agents.worker.ledger import Ledger

# The writer acknowledges a nonce on stdout only after record() returned (committed: in the WAL
# file, and fsynced too with durability=power).
# Each round restarts from nonce 0 with new ids, so re-recording the same authorization happens
# constantly and must stay idempotent.
WRITER = textwrap.dedent(
    """
    import sys
    from phala_agents.worker.ledger import Ledger

    path, round_no, durability = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    ledger = Ledger(path, durability=durability)
    print("ready", flush=True)
    for nonce in range(100_000):
        caller = b"A" * 32 if nonce % 3 else "bob"
        receipt, inserted = ledger.record(
            id=f"r{round_no}-{nonce}", caller=caller, nonce=nonce, agent_id=1, agent_version=1,
            charge=nonce, estimated=False, signed=b"s" * 64,
        )
        if nonce % 7 == 0:
            ledger.mark_submitted([receipt.id])
        print(nonce, flush=True)
    """
)


@pytest.mark.parametrize("durability", ["process", "power"])
def test_sigkill_at_random_points_loses_and_duplicates_nothing(tmp_path: Path, durability: str) -> None:
    path = tmp_path / "ledger.sqlite"
    rng = random.Random(20261125)
    acknowledged: set[int] = set()
    for round_no in range(6):
        proc = subprocess.Popen(
            [sys.executable, "-c", WRITER, str(path), str(round_no), durability],
            stdout=subprocess.PIPE,
            text=True,
        )
        try:
            assert proc.stdout is not None
            assert proc.stdout.readline().strip() == "ready"
            # Kill while it is writing: after a random number of acknowledgments, past what
            # earlier rounds wrote so new rows are being inserted at the moment of the kill.
            target = max(acknowledged, default=0) + rng.randint(1, 120)
            for line in proc.stdout:
                nonce = int(line)
                acknowledged.add(nonce)
                if nonce >= target:
                    break
            proc.send_signal(signal.SIGKILL)
        finally:
            proc.kill()
            proc.wait()
            if proc.stdout is not None:
                proc.stdout.close()

        with Ledger(path) as ledger:
            rows = ledger.unsettled()
        nonces = [r.nonce for r in rows]
        assert len(nonces) == len(set(nonces)), "a (caller, nonce) stored twice"
        assert acknowledged <= set(nonces), f"lost: {sorted(acknowledged - set(nonces))[:5]}"
        # Nothing beyond the one write in flight at the kill: nonces are contiguous from 0.
        assert set(nonces) == set(range(len(nonces)))
        for r in rows:
            assert r.charge == r.nonce
            assert r.signed == b"s" * 64
            assert r.caller == (b"A" * 32 if r.nonce % 3 else "bob")
        db = sqlite3.connect(path)
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        db.close()


# Records one receipt in the default ("process": WAL + synchronous=NORMAL, no fsync per commit)
# mode, acknowledges it, then waits to be killed.
ONE_THEN_WAIT = textwrap.dedent(
    """
    import sys, time
    from phala_agents.worker.ledger import Ledger

    ledger = Ledger(sys.argv[1])
    assert ledger.durability == "process"
    assert ledger._db.execute("PRAGMA synchronous").fetchone()[0] == 1
    ledger.record(
        id="committed", caller=b"C" * 32, nonce=42, agent_id=3, agent_version=1,
        charge=1234, estimated=True, signed=b"s" * 64,
    )
    print("committed", flush=True)
    time.sleep(600)
    """
)


def test_committed_receipt_survives_sigkill_in_process_mode(tmp_path: Path) -> None:
    path = tmp_path / "ledger.sqlite"
    proc = subprocess.Popen(
        [sys.executable, "-c", ONE_THEN_WAIT, str(path)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "committed"
        # The process still holds the database open and has not checkpointed: the receipt is
        # only in the WAL file (page cache) when it dies.
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    finally:
        proc.kill()
        proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()
    with Ledger(path) as ledger:
        stored = ledger.get("committed")
    assert stored is not None
    assert (stored.caller, stored.nonce, stored.charge, stored.estimated) == (b"C" * 32, 42, 1234, True)
    assert stored.state == "pending"
