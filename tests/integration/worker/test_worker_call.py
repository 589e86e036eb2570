"""Metered calls end to end against the fake upstream: reserve, call, charge, receipt, release."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Iterator
from pathlib import Path

import pytest
from worker_fake_openai import PROMPT_TOKENS, WORDS, FakeOpenAI

from phala_agents.errors import InsufficientBudget, UpstreamError
from phala_agents.worker.call import CallSpec, MeteredCall, ReceiptDraft
from phala_agents.worker.ledger import Ledger, ReceiptWriter
from phala_agents.worker.meter import GasMeter, Prices
from phala_agents.worker.upstream import ChatRequest, UpstreamClient, UpstreamModel

PRICES = Prices(per_1k_input=1000, per_1k_output=1000)  # 1 unit per token
MODELS = ("ok", "status-500", "cut-abrupt", "no-usage")


class Signer:
    def __init__(self) -> None:
        self.drafts: list[ReceiptDraft] = []
        self.fail = False

    def __call__(self, draft: ReceiptDraft) -> bytes:
        if self.fail:
            raise RuntimeError("signer down")
        self.drafts.append(draft)
        return b"signed:" + draft.spec.receipt_id.encode()


class World:
    def __init__(self, root: str, path: Path) -> None:
        self.meter = GasMeter()
        self.ledger = Ledger(path)
        self.signer = Signer()
        self.root = root

    def spec(self, n: int, model: str = "ok", *, max_charge: int = 10_000, max_tokens: int = 8) -> CallSpec:
        return CallSpec(
            receipt_id=f"rc-{n}",
            caller="alice",
            nonce=n,
            agent_id=3,
            agent_version=1,
            max_charge=max_charge,
            prices=PRICES,
            model=model,
            request=ChatRequest(messages=[{"role": "user", "content": "hello there"}], max_tokens=max_tokens),
        )

    async def open(self) -> tuple[UpstreamClient, MeteredCall, ReceiptWriter]:
        upstream = UpstreamClient(
            [
                UpstreamModel(name=m, base_url=f"{self.root}/v1", upstream_model=m, max_retries=0)
                for m in MODELS
            ]
        )
        writer = ReceiptWriter(self.ledger)
        return (
            upstream,
            MeteredCall(meter=self.meter, upstream=upstream, writer=writer, sign=self.signer),
            writer,
        )


@pytest.fixture
def world(fake_upstream: tuple[FakeOpenAI, str], tmp_path: Path) -> Iterator[World]:
    fake, root = fake_upstream
    fake.requests.clear()
    w = World(root, tmp_path / "ledger.sqlite")
    yield w
    w.ledger.close()


def _worst(world: World, spec: CallSpec) -> int:
    async def run() -> int:
        upstream, _, _ = await world.open()
        async with upstream:
            estimate = await upstream.estimate_prompt_tokens(spec.model, spec.request)
        return PRICES.cost(input_tokens=estimate, output_tokens=spec.request.max_tokens or 0)

    return asyncio.run(run())


def test_a_completed_call_is_charged_recorded_and_released(world: World) -> None:
    world.meter.set_escrow("alice", 1_000)

    async def run() -> None:
        upstream, call, _ = await world.open()
        async with upstream:
            result, metered = await call.complete(world.spec(1))
        assert metered.charge.amount == PROMPT_TOKENS + 8
        receipt = world.ledger.get("rc-1")
        assert receipt is not None
        assert (receipt.charge, receipt.estimated, receipt.signed) == (19, False, b"signed:rc-1")
        assert metered.released > 0
        assert world.meter.available("alice") == 1_000 - 19
        text = result.completion.choices[0].message.content or ""
        assert world.signer.drafts[0].response_hash == hashlib.blake2b(text.encode(), digest_size=32).digest()

    asyncio.run(run())


def test_a_streamed_call_records_its_receipt_at_finish(world: World) -> None:
    world.meter.set_escrow("alice", 1_000)

    async def run() -> None:
        upstream, call, _ = await world.open()
        async with upstream:
            stream = await call.stream(world.spec(2))
            async with stream:
                parts = [
                    c.choices[0].delta.content
                    async for c in stream
                    if c.choices and c.choices[0].delta.content
                ]
            result, metered = await stream.finish()
        assert parts == WORDS[:8]
        assert result.outcome == "complete"
        assert metered.receipt.charge == 19
        assert world.meter.available("alice") == 981
        assert (
            world.signer.drafts[0].response_hash
            == hashlib.blake2b("".join(parts).encode(), digest_size=32).digest()
        )

    asyncio.run(run())


def test_a_cut_stream_charges_what_was_delivered_marked_estimated(world: World) -> None:
    world.meter.set_escrow("alice", 1_000)

    async def run() -> None:
        upstream, call, _ = await world.open()
        async with upstream:
            async with await call.stream(world.spec(3, "cut-abrupt")) as stream:
                async for _ in stream:
                    pass
            result, metered = await stream.finish()
        assert result.outcome == "upstream_error"
        assert metered.charge.estimated
        assert metered.charge.usage.completion_tokens == 3
        stored = world.ledger.get("rc-3")
        assert stored is not None
        assert stored.estimated

    asyncio.run(run())


def test_an_upstream_failure_before_delivery_charges_nothing(world: World) -> None:
    world.meter.set_escrow("alice", 1_000)

    async def run() -> None:
        upstream, call, _ = await world.open()
        async with upstream:
            with pytest.raises(UpstreamError):
                await call.complete(world.spec(4, "status-500"))
            with pytest.raises(UpstreamError):
                await call.stream(world.spec(5, "status-500"))

    asyncio.run(run())
    assert world.meter.available("alice") == 1_000
    assert world.ledger.count() == 0


def test_an_unaffordable_call_never_reaches_the_upstream(
    world: World, fake_upstream: tuple[FakeOpenAI, str]
) -> None:
    fake, _ = fake_upstream
    spec = world.spec(6)
    worst = _worst(world, spec)
    world.meter.set_escrow("alice", worst - 1)

    async def run() -> None:
        upstream, call, _ = await world.open()
        async with upstream:
            with pytest.raises(InsufficientBudget, match=f"wanted {worst}"):
                await call.complete(spec)
            with pytest.raises(InsufficientBudget, match="exceeds the authorization's max_charge 1"):
                await call.complete(world.spec(7, max_charge=1))

    asyncio.run(run())
    assert fake.requests == []
    assert world.meter.available("alice") == worst - 1


def test_a_receipt_that_cannot_be_signed_leaves_no_charge(world: World) -> None:
    world.meter.set_escrow("alice", 1_000)
    world.signer.fail = True

    async def run() -> None:
        upstream, call, _ = await world.open()
        async with upstream:
            with pytest.raises(RuntimeError, match="signer down"):
                await call.complete(world.spec(8))

    asyncio.run(run())
    assert world.meter.available("alice") == 1_000
    assert world.ledger.count() == 0


def test_200_concurrent_calls_never_spend_more_than_the_escrow(world: World) -> None:
    spec = world.spec(0)
    worst = _worst(world, spec)
    escrow = 50 * worst
    world.meter.set_escrow("alice", escrow)

    async def one(call: MeteredCall, n: int) -> int | None:
        try:
            if n % 2:
                _, metered = await call.complete(world.spec(n))
                return metered.charge.amount
            async with await call.stream(world.spec(n)) as stream:
                async for _ in stream:
                    pass
            _, metered = await stream.finish()
            return metered.charge.amount
        except InsufficientBudget:
            return None

    async def run() -> list[int | None]:
        upstream, call, writer = await world.open()
        async with upstream:
            results = await asyncio.gather(*(one(call, n) for n in range(200)))
            await writer.aclose()
        return list(results)

    results = asyncio.run(run())
    accepted = [r for r in results if r is not None]
    assert 50 <= len(accepted) < 200, "the escrow covers 50 worst cases at once; the rest wait or are refused"
    assert sum(accepted) <= escrow
    receipts = world.ledger.unsettled()
    assert len(receipts) == len(accepted)
    assert sum(r.charge for r in receipts) == sum(accepted)
    assert world.meter.available("alice") == escrow - sum(accepted)
