"""kill -9 a process that writes receipts at random points; on reopen every acknowledged one is there once."""

from __future__ import annotations

import random
import signal
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

from phala_agents.worker.ledger import Ledger

# The writer acknowledges a nonce on stdout only after record() returned (committed and fsynced).
# Each round restarts from nonce 0 with new ids, so re-recording the same authorization happens
# constantly and must stay idempotent.
WRITER = textwrap.dedent(
    """
    import sys
    from phala_agents.worker.ledger import Ledger

    path, round_no = sys.argv[1], int(sys.argv[2])
    ledger = Ledger(path)
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


def test_sigkill_at_random_points_loses_and_duplicates_nothing(tmp_path: Path) -> None:
    path = tmp_path / "ledger.sqlite"
    rng = random.Random(20261125)
    acknowledged: set[int] = set()
    for round_no in range(6):
        proc = subprocess.Popen(
            [sys.executable, "-c", WRITER, str(path), str(round_no)],
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
