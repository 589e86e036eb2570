"""The worker's HTTP front over real sockets: checks, metering, receipts, faults, concurrency."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import structlog
from worker_fake_openai import PROMPT_TOKENS, WORDS, FakeOpenAI
from worker_gateway_fixture import PROMPT, World, gateway_world, make_agent

from phala_agents.worker.authorization import SignedReceipt, verify_receipt
from phala_agents.worker.server import (
    CHARGE_HEADER,
    CLAIM_MEMORY_BLOCKS,
    RECEIPT_HEADER,
    RECEIPT_ID_HEADER,
)

BODY: dict[str, object] = {
    "model": "agent:1",
    "messages": [{"role": "user", "content": "hi"}],
    "max_tokens": 8,
}


def _seeded_world(
    fake_upstream: tuple[FakeOpenAI, str], tmp_path: Path, read_timeout: float
) -> Iterator[World]:
    _fake, root = fake_upstream
    with gateway_world(root, tmp_path, read_timeout=read_timeout) as w:
        w.view.put_agent(make_agent(1))
        w.view.set_escrow(bytes(w.alice.public_key), 1_000_000)
        yield w


@pytest.fixture
def world(fake_upstream: tuple[FakeOpenAI, str], tmp_path: Path) -> Iterator[World]:
    yield from _seeded_world(fake_upstream, tmp_path, read_timeout=2.0)


@pytest.fixture
def patient_world(fake_upstream: tuple[FakeOpenAI, str], tmp_path: Path) -> Iterator[World]:
    """Upstream timeouts that outlast a loaded CI machine: 200 calls at once share 2 cores."""
    yield from _seeded_world(fake_upstream, tmp_path, read_timeout=30.0)


def _sse(text: str) -> list[dict[str, object]]:
    events = []
    for line in text.splitlines():
        if line.startswith("data: ") and line != "data: [DONE]":
            events.append(json.loads(line[6:]))
    return events


def test_non_streamed_call_is_metered_with_a_signed_receipt(
    world: World, fake_upstream: tuple[FakeOpenAI, str]
) -> None:
    fake, _ = fake_upstream
    with structlog.testing.capture_logs() as logs:
        response = world.post(BODY, world.signed(BODY))
    assert response.status_code == 200, response.text
    data = response.json()
    assert data["model"] == "agent:1"
    assert data["choices"][0]["message"]["content"] == "".join(WORDS[:8])
    charge = int(response.headers[CHARGE_HEADER])
    assert charge == PROMPT_TOKENS + 8  # 1 unit per token
    assert data["phala"]["charge"] == str(charge)
    signed = SignedReceipt.from_bytes(bytes.fromhex(response.headers[RECEIPT_HEADER][2:]))
    verify_receipt(signed, worker=bytes(world.worker.public_key))
    assert signed.receipt.charge == charge
    assert signed.receipt.authorization.receipt_id_hex == response.headers[RECEIPT_ID_HEADER]
    stored = world.ledger.get(response.headers[RECEIPT_ID_HEADER])
    assert stored is not None and stored.charge == charge and stored.state == "pending"
    # The sealed prompt was opened and sent upstream first, as the system message.
    sent = fake.requests[-1]["messages"]
    assert sent[0] == {"role": "system", "content": PROMPT}
    assert sent[1] == {"role": "user", "content": "hi"}
    calls = [entry for entry in logs if entry["event"] == "worker_call"]
    assert len(calls) == 1 and calls[0]["charge"] == charge and calls[0]["outcome"] == "ok"
    assert PROMPT not in repr(logs) and "hi" not in [str(v) for e in logs for v in e.values()]


def test_streamed_call_ends_with_the_receipt_chunk(world: World) -> None:
    body = BODY | {"stream": True}
    response = world.post(body, world.signed(body))
    assert response.status_code == 200, response.text
    receipt_id = response.headers[RECEIPT_ID_HEADER]
    assert response.text.endswith("data: [DONE]\n\n")
    events = _sse(response.text)
    text = "".join(
        str(c["choices"][0]["delta"].get("content") or "")  # type: ignore[index]
        for c in events
        if c.get("choices")
    )
    assert text == "".join(WORDS[:8])
    final = events[-1]["phala"]
    assert isinstance(final, dict)
    assert final["receipt_id"] == receipt_id and final["outcome"] == "complete"
    assert int(final["charge"]) == PROMPT_TOKENS + 8
    stored = world.ledger.get(receipt_id)
    assert stored is not None and stored.charge == PROMPT_TOKENS + 8


def _refused(
    world: World, body: object, headers: dict[str, str], status: int, code: str
) -> dict[str, object]:
    before = world.ledger.count()
    available = world.meter.available(bytes(world.alice.public_key))
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    response = httpx.post(
        f"{world.root}/v1/chat/completions",
        content=raw,
        headers=headers | {"content-type": "application/json"},
        timeout=30,
    )
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["code"] == code, error
    assert set(error) == {"message", "type", "param", "code"}
    assert response.headers["x-should-retry"] == "false"
    assert world.ledger.count() == before  # no receipt
    assert world.meter.available(bytes(world.alice.public_key)) == available  # no charge, no hold
    return dict(error)


def test_bad_input_is_refused_before_any_work(world: World, fake_upstream: tuple[FakeOpenAI, str]) -> None:
    fake, _ = fake_upstream
    sent = len(fake.requests)
    alice = bytes(world.alice.public_key)
    world.view.put_agent(make_agent(2, status="Paused"))
    world.view.put_agent(make_agent(3, status="Retired"))
    world.view.put_agent(make_agent(4, access="AllowList"))
    world.view.put_agent(make_agent(5, version=3))
    headers = world.signed(BODY)
    _refused(world, BODY, {}, 401, "missing_authorization")
    _refused(world, b"{not json", headers, 400, "invalid_json")
    _refused(world, BODY, {"X-Phala-Authorization": "0xzz"}, 401, "invalid_authorization")
    other = BODY | {"max_tokens": 9}
    _refused(world, other, headers, 401, "request_hash_mismatch")
    tampered = headers["X-Phala-Authorization"]
    tampered = tampered[:-4] + ("0000" if not tampered.endswith("0000") else "1111")
    _refused(world, BODY, {"X-Phala-Authorization": tampered}, 401, "bad_signature")
    _refused(world, BODY, world.signed(BODY, expires_at_block=world.view.head), 401, "authorization_expired")
    for agent_id, status, code in (
        (2, 403, "agent_paused"),
        (3, 404, "agent_retired"),
        (9, 404, "model_not_found"),
    ):
        body = BODY | {"model": f"agent:{agent_id}"}
        _refused(world, body, world.signed(body, agent_id=agent_id), status, code)
    body5 = BODY | {"model": "agent:5"}
    _refused(world, body5, world.signed(body5, agent_id=5, version=2), 409, "agent_version_mismatch")
    body4 = BODY | {"model": "agent:4"}
    _refused(world, body4, world.signed(body4, agent_id=4), 403, "not_allowed")
    _refused(world, BODY | {"model": "gpt-4"}, headers, 404, "model_not_found")
    # Nothing reached the upstream.
    assert len(fake.requests) == sent
    # An allowed caller of agent 4 gets through; a replay of the same authorization does not.
    world.view.grant(4, alice)
    granted = world.signed(body4, agent_id=4)
    assert world.post(body4, granted).status_code == 200
    _refused(world, body4, granted, 409, "nonce_used")
    # A nonce the chain has seen used is refused too.
    world.view.mark_nonce_used(alice, 77)
    _refused(world, BODY, world.signed(BODY, nonce=77), 409, "nonce_used")


def test_wrong_genesis_and_worker_are_refused(world: World) -> None:
    from phala_agents.worker.caller import WorkerInfo, sign_request

    for info, code in (
        (WorkerInfo(genesis=b"\x09" * 32, worker=bytes(world.worker.public_key), head=10), "wrong_genesis"),
        (WorkerInfo(genesis=world.view.genesis, worker=bytes(world.bob.public_key), head=10), "wrong_worker"),
    ):
        _s, headers = sign_request(world.alice, BODY, info=info, agent_id=1, agent_version=1, max_charge=1000)
        _refused(world, BODY, headers, 401, code)


def test_insufficient_escrow_and_max_charge(world: World) -> None:
    bob = bytes(world.bob.public_key)
    world.view.set_escrow(bob, 5)
    error = _refused_as(world, world.bob, 402, "insufficient_escrow")
    assert "available escrow is 5" in str(error["message"])
    world.view.set_escrow(bob, 10_000)
    error = _refused_as(world, world.bob, 402, "insufficient_escrow", max_charge=3)
    assert "max_charge 3" in str(error["message"])


def _refused_as(
    world: World, who: object, status: int, code: str, *, max_charge: int = 1000
) -> dict[str, object]:
    headers = world.signed(BODY, caller=who, max_charge=max_charge)  # type: ignore[arg-type]
    response = world.post(BODY, headers)
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["code"] == code
    return dict(error)


def test_upstream_faults_charge_only_what_was_delivered(world: World) -> None:
    for agent_id, model in (
        (11, "status-500"),
        (12, "cut-abrupt"),
        (13, "no-usage"),
        (14, "slow-start"),
        (15, "slow-mid"),
    ):
        world.view.put_agent(make_agent(agent_id, model=model))
    count = world.ledger.count()
    # 5xx before anything was delivered: 502, no receipt, retry allowed.
    body = BODY | {"model": "agent:11"}
    response = world.post(body, world.signed(body, agent_id=11))
    assert response.status_code == 502 and response.json()["error"]["code"] == "upstream_error"
    assert "x-should-retry" not in response.headers
    # Timeout before the first byte: 504, no receipt.
    body = BODY | {"model": "agent:14"}
    response = world.post(body, world.signed(body, agent_id=14))
    assert response.status_code == 504 and response.json()["error"]["code"] == "upstream_timeout"
    assert world.ledger.count() == count
    # No usage reported: counted by the tokenizer, marked estimated.
    body = BODY | {"model": "agent:13"}
    response = world.post(body, world.signed(body, agent_id=13))
    assert response.status_code == 200 and response.headers["X-Phala-Charge-Estimated"] == "true"
    # Stream cut half-way (3 words delivered): charged for 3 output tokens, estimated, error event.
    for agent_id in (12, 15):
        body = BODY | {"model": f"agent:{agent_id}", "stream": True}
        response = world.post(body, world.signed(body, agent_id=agent_id))
        assert response.status_code == 200
        events = _sse(response.text)
        final = next(e for e in events if "phala" in e)["phala"]
        assert isinstance(final, dict)
        assert final["outcome"] == "upstream_error" and final["estimated"] is True
        assert final["completion_tokens"] == 3
        assert events[-1]["error"]["code"] == "upstream_stream_cut"  # type: ignore[index]
    # Streams: no usage reported (counted, estimated); usage on the last chunk with choices (used).
    world.view.put_agent(make_agent(16, model="usage-on-choice"))
    for agent_id, estimated in ((13, True), (16, False)):
        body = BODY | {"model": f"agent:{agent_id}", "stream": True}
        response = world.post(body, world.signed(body, agent_id=agent_id))
        final = next(e for e in _sse(response.text) if "phala" in e)["phala"]
        assert isinstance(final, dict)
        assert final["outcome"] == "complete" and final["estimated"] is estimated
        if not estimated:
            assert int(final["charge"]) == PROMPT_TOKENS + 8
    assert world.ledger.count() == count + 5


def test_200_concurrent_calls_never_overspend(patient_world: World) -> None:
    world = patient_world
    carol = bytes(world.bob.public_key)
    escrow = 50 * 20  # the worst case of one call is 12 prompt tokens (exact) + 8 output, 1 unit each
    world.view.set_escrow(carol, escrow)
    bodies = [BODY | {"stream": i % 2 == 0} for i in range(200)]
    headers = [world.signed(b, caller=world.bob) for b in bodies]

    async def run() -> list[httpx.Response]:
        limits = httpx.Limits(max_connections=200)
        async with httpx.AsyncClient(timeout=60, limits=limits) as client:
            return await asyncio.gather(
                *(
                    client.post(f"{world.root}/v1/chat/completions", json=b, headers=h)
                    for b, h in zip(bodies, headers, strict=True)
                )
            )

    responses = asyncio.run(run())
    accepted = [r for r in responses if r.status_code == 200]
    refused = [r for r in responses if r.status_code != 200]
    assert len(accepted) >= 50
    assert all(r.status_code == 402 and r.json()["error"]["code"] == "insufficient_escrow" for r in refused)
    receipts = world.ledger.by_caller(carol, limit=1000)
    assert len(receipts) == len(accepted)
    assert sum(r.charge for r in receipts) <= escrow
    assert world.meter.available(carol) == escrow - sum(r.charge for r in receipts)


def test_models_info_health_metrics_receipts(world: World) -> None:
    alice = bytes(world.alice.public_key)
    world.view.put_agent(make_agent(4, access="AllowList"))
    world.view.put_agent(make_agent(2, status="Paused"))
    models = httpx.get(f"{world.root}/v1/models").json()
    assert [m["id"] for m in models["data"]] == ["agent:1"]
    world.view.grant(4, alice)
    models = httpx.get(f"{world.root}/v1/models", headers={"X-Phala-Caller": "0x" + alice.hex()}).json()
    assert [m["id"] for m in models["data"]] == ["agent:1", "agent:4"]
    info = httpx.get(f"{world.root}/v1/phala/info").json()
    assert info["worker"] == "0x" + bytes(world.worker.public_key).hex() and info["head"] == 10
    assert httpx.get(f"{world.root}/health").json()["status"] == "ok"
    response = world.post(BODY, world.signed(BODY))
    receipt_id = response.headers[RECEIPT_ID_HEADER]
    stored = httpx.get(f"{world.root}/v1/receipts/{receipt_id}").json()
    assert stored["receipt"] == response.headers[RECEIPT_HEADER]
    assert httpx.get(f"{world.root}/v1/receipts/0x00").status_code == 404
    metrics = httpx.get(f"{world.root}/metrics").text
    assert 'phala_worker_calls_total{outcome="ok",stream="false"} 1' in metrics
    assert "phala_worker_call_seconds_count" in metrics


def test_replay_guard_forgets_expired_and_recorded_authorizations(world: World) -> None:
    claimed = world.gateway._claimed
    caller = bytes(world.alice.public_key)
    head = world.view.head
    # Short-lived: kept in memory until the head passes its expiry, then refused as expired.
    short = world.signed(BODY, nonce=501, expires_at_block=head + 5)
    assert world.post(BODY, short).status_code == 200
    assert (caller, 501) in claimed
    assert world.post(BODY, short).json()["error"]["code"] == "nonce_used"
    world.view.set_head(head + 5)
    assert world.post(BODY, short).json()["error"]["code"] == "authorization_expired"
    fresh = world.signed(BODY, nonce=502)  # any claim prunes what expired
    assert world.post(BODY, fresh).status_code == 200
    assert (caller, 501) not in claimed and (caller, 502) in claimed
    # Long-lived: leaves memory once its receipt is recorded; the ledger still refuses a replay.
    long_lived = world.signed(BODY, nonce=503, expires_at_block=head + 5 + CLAIM_MEMORY_BLOCKS + 10)
    assert world.post(BODY, long_lived).status_code == 200
    assert (caller, 503) not in claimed
    replay = world.post(BODY, long_lived)
    assert replay.status_code == 409 and replay.json()["error"]["code"] == "nonce_used"
    assert world.ledger.count() == 3


def test_a_call_keeps_the_loop_polling_when_busy_poll_is_on(
    fake_upstream: tuple[FakeOpenAI, str], tmp_path: Path
) -> None:
    _fake, root = fake_upstream
    with gateway_world(root, tmp_path, busy_poll_us=100_000) as world:
        world.view.put_agent(make_agent(1))
        world.view.set_escrow(bytes(world.alice.public_key), 1_000_000)
        assert world.gateway._busy_poll.polls == 0
        assert world.post(BODY, world.signed(BODY)).status_code == 200
        assert world.gateway._busy_poll.polls > 0
