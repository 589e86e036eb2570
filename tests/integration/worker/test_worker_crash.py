"""``kill -9`` the worker during calls and during settlement; restart; every completed call is
settled exactly once on chain, none twice, none lost.

The worker is a subprocess (``phala-agent worker run --dev``) over the fake upstream and an
in-process dev node. Kills are triggered by state, not by timers: the first once calls have
completed while others are in flight, the second once the ledger shows a batch ``submitted``
(a ``settle`` extrinsic in flight, waiting for finality).
"""

from __future__ import annotations

import sqlite3
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from worker_chain_fixture import deposit, dev_node, escrow, register_agent
from worker_fake_openai import FakeOpenAI

from phala_agents.client import ChainClient
from phala_agents.worker.caller import WorkerInfo, sign_request

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "conformance"))
from worker_processes import Proc, free_port, start_worker

DEPOSIT = 10**12


class Caller:
    """Fires calls from threads and records the ones that completed (200 with a receipt id)."""

    def __init__(self, client: ChainClient, agent_id: int) -> None:
        self.alice = client.keypair("//Alice")
        self.agent_id = agent_id
        self.completed: dict[str, int] = {}
        self.lock = threading.Lock()

    def one(self, url: str, index: int) -> None:
        body = {
            "model": f"agent:{self.agent_id}",
            "messages": [{"role": "user", "content": "hi"}],
            "max_tokens": 8,
            "stream": index % 2 == 0,
        }
        try:
            info = WorkerInfo.from_json(httpx.get(f"{url}/v1/phala/info", timeout=10).json())
            _s, headers = sign_request(
                self.alice, body, info=info, agent_id=self.agent_id, agent_version=1, max_charge=10_000
            )
            response = httpx.post(f"{url}/v1/chat/completions", json=body, headers=headers, timeout=30)
            if response.status_code != 200 or not response.text.rstrip().endswith(("[DONE]", "}")):
                return
            if body["stream"]:
                if "data: [DONE]" not in response.text:
                    return  # cut by the kill: not a completed call
                receipt_id = response.headers["x-phala-receipt-id"]
                charge = int(response.text.split('"charge":"')[1].split('"')[0])
            else:
                receipt_id, charge = (
                    response.headers["x-phala-receipt-id"],
                    int(response.headers["x-phala-charge"]),
                )
        except (httpx.HTTPError, ValueError, KeyError, IndexError):
            return  # the worker died under this call
        with self.lock:
            self.completed[receipt_id] = charge

    def burst(self, url: str, count: int, start: int) -> list[threading.Thread]:
        threads = [threading.Thread(target=self.one, args=(url, start + i)) for i in range(count)]
        for thread in threads:
            thread.start()
        return threads


def _ledger_states(path: Path) -> dict[str, str]:
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5)
    try:
        return dict(db.execute("SELECT id, state FROM receipts").fetchall())
    finally:
        db.close()


def _until(predicate: object, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():  # type: ignore[operator]
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.01)


@pytest.fixture
def setup(fake_upstream: tuple[FakeOpenAI, str]) -> Iterator[tuple[ChainClient, str, str, int]]:
    _fake, root = fake_upstream
    with dev_node() as (node, client):
        agent_id = register_agent(client, client.keypair("//Bob"), name="crashy")
        deposit(client, client.keypair("//Alice"), DEPOSIT)
        yield client, node.url, root, agent_id


def test_kill_9_during_calls_and_settlement_loses_and_duplicates_nothing(
    setup: tuple[ChainClient, str, str, int], tmp_path: Path
) -> None:
    client, chain_url, root, agent_id = setup
    port = free_port()
    extra = [
        "--upstream",
        f"ok={root}/v1",
        "--tokenizer",
        f"ok={root}",
        "--settle-age",
        "0.05",
        "--settle-batch",
        "5",
    ]
    caller = Caller(client, agent_id)
    ledger = tmp_path / "ledger.sqlite"
    procs: list[Proc] = []
    try:
        # 1. Kill during calls: once some calls completed while the rest of the burst is in flight.
        worker, url = start_worker(tmp_path, chain_url, port=port, extra=extra, log_name="w1.log")
        procs.append(worker)
        threads = caller.burst(url, 30, 0)
        _until(lambda: len(caller.completed) >= 5)
        worker.kill()
        for thread in threads:
            thread.join()
        # 2. Restart; kill during settlement: a settle extrinsic is submitted, not yet final.
        worker, url = start_worker(tmp_path, chain_url, port=port, extra=extra, log_name="w2.log")
        procs.append(worker)
        threads = caller.burst(url, 20, 100)
        _until(lambda: "submitted" in _ledger_states(ledger).values())
        worker.kill()
        for thread in threads:
            thread.join()
        # 3. Restart; everything left settles.
        worker, url = start_worker(tmp_path, chain_url, port=port, extra=extra, log_name="w3.log")
        procs.append(worker)
        for thread in caller.burst(url, 5, 200):
            thread.join()
        _until(lambda: set(_ledger_states(ledger).values()) == {"settled"})
        worker.stop()
    finally:
        for proc in procs:
            proc.stop()

    states = _ledger_states(ledger)
    db = sqlite3.connect(ledger)
    charges = dict(db.execute("SELECT id, charge FROM receipts").fetchall())
    db.close()
    # None lost: every completed call has a receipt, and it settled on chain.
    assert caller.completed, "no call completed"
    assert set(caller.completed) <= set(states)
    for receipt_id, charge in caller.completed.items():
        assert charges[receipt_id] == charge
    for receipt_id in states:
        assert client.get_storage("Billing", "Settled", receipt_id, at="finalized") is not None, receipt_id
    # None twice: the escrow fell by exactly the sum of the ledger's receipts, and each receipt
    # id has exactly one Settled event across the whole chain.
    assert escrow(client, client.keypair("//Alice")) == DEPOSIT - sum(charges.values())
    seen: dict[str, int] = {}
    for number in range(1, client.head("finalized").number + 1):
        for event in client.events(at=number):
            if event.qualified_name == "Billing.Settled" and isinstance(event.attributes, dict):
                rid = str(event.attributes["receipt_id"])
                seen[rid] = seen.get(rid, 0) + 1
    assert seen == dict.fromkeys(states, 1)
