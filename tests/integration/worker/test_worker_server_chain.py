"""The worker against the real dev node: agent sync, escrow sync, settlement to finality."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from worker_chain_fixture import deposit, dev_node, escrow, register_agent
from worker_fake_openai import FakeOpenAI

from phala_agents.client import ChainClient, dev_cluster_key
from phala_agents.worker.caller import WorkerInfo, sign_request
from phala_agents.worker.meter import GasMeter
from phala_agents.worker.server import CHARGE_HEADER, RECEIPT_ID_HEADER
from phala_agents.worker.service import WorkerOptions, WorkerService
from phala_agents.worker.settlement import SettlementConfig
from phala_agents.worker.sync import ChainSync
from phala_agents.worker.upstream import UpstreamModel

BODY: dict[str, object] = {"messages": [{"role": "user", "content": "hi"}], "max_tokens": 8}


class Chain:
    def __init__(self, client: ChainClient, service: WorkerService, url: str) -> None:
        self.client = client
        self.service = service
        self.url = url
        self.alice = client.keypair("//Alice")
        self.bob = client.keypair("//Bob")

    def info(self) -> WorkerInfo:
        data = httpx.get(f"{self.url}/v1/phala/info").json()
        return WorkerInfo.from_json(data)

    def call(
        self, agent_id: int, *, who: object = None, stream: bool = False, version: int = 1
    ) -> httpx.Response:
        body = BODY | {"model": f"agent:{agent_id}", "stream": stream}
        _s, headers = sign_request(
            who or self.alice,  # type: ignore[arg-type]
            body,
            info=self.info(),
            agent_id=agent_id,
            agent_version=version,
            max_charge=10_000,
        )
        return httpx.post(f"{self.url}/v1/chat/completions", json=body, headers=headers, timeout=30)

    def catch_up(self) -> None:
        """Wait until the worker applied every finalized block."""
        head = self.client.head("finalized").number
        assert self.service.sync.wait_for_head(head, timeout=20)


@pytest.fixture
def chain(fake_upstream: tuple[FakeOpenAI, str], tmp_path: Path) -> Iterator[Chain]:
    _fake, root = fake_upstream
    with dev_node() as (node, client):
        options = WorkerOptions(
            chain_url=node.url,
            keypair=client.keypair("//Ferdie"),
            cluster_key=dev_cluster_key(),
            upstreams=[UpstreamModel(name="ok", base_url=f"{root}/v1", tokenizer_url=root, max_retries=0)],
            ledger_path=tmp_path / "ledger.sqlite",
            port=0,
            settlement=SettlementConfig(max_count=20, max_age=0.05, interval=0.02),
        )
        service = WorkerService(options)
        url = service.start()
        try:
            yield Chain(client, service, url)
        finally:
            service.stop()


def _wait_settled(chain: Chain, receipt_ids: list[str], timeout: float = 30) -> None:
    # Settlement is asynchronous by design; poll the ledger state (an event, not a timing assert).
    deadline = time.monotonic() + timeout
    while True:
        states = [chain.service.ledger.get(r) for r in receipt_ids]
        if all(s is not None and s.state == "settled" for s in states):
            return
        assert time.monotonic() < deadline, [s.state if s else None for s in states]
        time.sleep(0.05)


def test_calls_settle_on_chain_and_escrow_follows(chain: Chain) -> None:
    agent_id = register_agent(chain.client, chain.bob, name="helper")
    deposit(chain.client, chain.alice, 10**12)
    chain.catch_up()
    before = escrow(chain.client, chain.alice)
    responses = [chain.call(agent_id), chain.call(agent_id, stream=True), chain.call(agent_id)]
    assert [r.status_code for r in responses] == [200, 200, 200], [r.text for r in responses]
    ids = [r.headers[RECEIPT_ID_HEADER] for r in responses]
    charged = sum(chain.service.ledger.get(r).charge for r in ids)  # type: ignore[union-attr]
    assert charged == int(responses[0].headers[CHARGE_HEADER]) * 2 + chain.service.ledger.get(ids[1]).charge  # type: ignore[union-attr]
    _wait_settled(chain, ids)
    assert escrow(chain.client, chain.alice) == before - charged
    chain.catch_up()
    alice = bytes(chain.alice.public_key)
    # The meter followed: available = the new escrow (nothing unsettled, nothing reserved).
    assert chain.service.meter.available(alice) == before - charged
    # A replay of a settled authorization is refused (the chain's UsedNonces via the ledger guard).
    used = chain.service.ledger.get(ids[0])
    assert used is not None and used.state == "settled"


def test_pause_update_and_allowlist_take_effect_at_the_next_block(chain: Chain) -> None:
    agent_id = register_agent(chain.client, chain.bob, name="pausable")
    private = register_agent(chain.client, chain.bob, name="private", access="{ allow = [] }")
    deposit(chain.client, chain.alice, 10**12)
    chain.catch_up()
    assert chain.call(agent_id).status_code == 200
    assert chain.call(private).json()["error"]["code"] == "not_allowed"
    chain.client.sign_and_submit(
        "AgentRegistry", "grant", {"agent_id": private, "who": chain.alice}, chain.bob, wait_for="finalized"
    ).raise_for_error()
    chain.client.sign_and_submit(
        "AgentRegistry", "pause", {"agent_id": agent_id}, chain.bob, wait_for="finalized"
    ).raise_for_error()
    chain.catch_up()
    assert chain.call(agent_id).json()["error"]["code"] == "agent_paused"
    assert chain.call(private).status_code == 200
    models = httpx.get(f"{chain.url}/v1/models", headers={"X-Phala-Caller": chain.alice.ss58_address}).json()
    assert [m["id"] for m in models["data"]] == [f"agent:{private}"]
    # A sync started now loads the grant at start-up, from one query over the whole Access map.
    fresh = ChainSync(
        url=chain.service.options.chain_url,
        meter=GasMeter(),
        ledger=chain.service.ledger,
        worker=bytes(chain.service.options.keypair.public_key),
    )
    fresh.start()
    try:
        assert fresh.allowed(private, bytes(chain.alice.public_key))
        assert not fresh.allowed(agent_id, bytes(chain.alice.public_key))
    finally:
        fresh.stop()
    chain.client.sign_and_submit(
        "AgentRegistry", "retire", {"agent_id": agent_id}, chain.bob, wait_for="finalized"
    ).raise_for_error()
    chain.catch_up()
    assert chain.call(agent_id).json()["error"]["code"] == "agent_retired"


def test_no_escrow_is_refused_and_a_deposit_is_seen(chain: Chain) -> None:
    agent_id = register_agent(chain.client, chain.bob, name="paid")
    chain.catch_up()
    charlie = chain.client.keypair("//Charlie")
    response = chain.call(agent_id, who=charlie)
    assert response.status_code == 402 and response.json()["error"]["code"] == "insufficient_escrow"
    deposit(chain.client, charlie, 10**12)
    chain.catch_up()
    assert chain.call(agent_id, who=charlie).status_code == 200


def test_200_concurrent_calls_against_an_on_chain_escrow_covering_50(chain: Chain) -> None:
    import asyncio

    agent_id = register_agent(chain.client, chain.bob, name="busy")
    dave = chain.client.keypair("//Dave")
    # Worst case of one call: 8 prompt tokens (the fake tokenizer counts the template's words:
    # "<|system|> You are a test agent. <|user|> hi") + max_tokens 8, at 1 unit per token.
    deposit(chain.client, dave, 50 * 16)
    chain.catch_up()
    info = chain.info()
    bodies = [BODY | {"model": f"agent:{agent_id}", "stream": i % 2 == 0} for i in range(200)]
    headers = [
        sign_request(dave, b, info=info, agent_id=agent_id, agent_version=1, max_charge=10_000)[1]
        for b in bodies
    ]

    async def run() -> list[httpx.Response]:
        async with httpx.AsyncClient(timeout=60, limits=httpx.Limits(max_connections=200)) as client:
            return await asyncio.gather(
                *(
                    client.post(f"{chain.url}/v1/chat/completions", json=b, headers=h)
                    for b, h in zip(bodies, headers, strict=True)
                )
            )

    responses = asyncio.run(run())
    accepted = [r.headers[RECEIPT_ID_HEADER] for r in responses if r.status_code == 200]
    refused = [r for r in responses if r.status_code != 200]
    assert len(accepted) >= 50
    assert all(r.status_code == 402 and r.json()["error"]["code"] == "insufficient_escrow" for r in refused)
    receipts = chain.service.ledger.by_caller(bytes(dave.public_key), limit=1000)
    assert sorted(r.id for r in receipts) == sorted(accepted)
    charged = sum(r.charge for r in receipts)
    assert charged <= 50 * 16
    _wait_settled(chain, accepted)
    assert escrow(chain.client, dave) == 50 * 16 - charged
