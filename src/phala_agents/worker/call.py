"""One metered call: reserve, call the upstream, charge, record the signed receipt, release.

The glue between the gas meter, the upstream client and the receipt ledger, in the order of
DESIGN.md section 5. The HTTP front checks the authorization (signature, expiry, access) first,
then hands a ``CallSpec`` here; receipt signing is injected (``ReceiptSigner``) because the
receipt's SCALE format and the worker key live elsewhere.

Guarantees, whatever the upstream does:

- nothing reaches the upstream before the reservation holds (``InsufficientBudget`` otherwise);
- the charge never exceeds the reservation, so never ``max_charge`` nor the available escrow;
- a call that delivered anything has a durable receipt before its response completes; the
  rest of the reservation is released in every case (``finally``);
- a call that delivered nothing (the upstream failed before the first byte) is not charged.
"""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Protocol

import structlog
from openai.types.chat import ChatCompletionChunk

from phala_agents.worker.ledger import LedgerReceipt, NewReceipt, ReceiptWriter
from phala_agents.worker.meter import CallerId, Charge, GasMeter, Prices, Reservation
from phala_agents.worker.upstream import (
    ChatRequest,
    ChatStream,
    CompletionResult,
    StreamResult,
    UpstreamClient,
)

__all__ = [
    "CallSpec",
    "MeteredCall",
    "MeteredResult",
    "MeteredStream",
    "ReceiptDraft",
    "ReceiptSigner",
]

log = structlog.get_logger(__name__)


@dataclass(frozen=True, slots=True, kw_only=True)
class CallSpec:
    """An authorized call: who pays, for which agent version, under which cap, through which model."""

    receipt_id: str
    caller: CallerId
    nonce: int
    agent_id: int
    agent_version: int
    max_charge: int
    prices: Prices
    model: str
    request: ChatRequest


@dataclass(frozen=True, slots=True, kw_only=True)
class ReceiptDraft:
    """What the worker signs: the call, its metered charge and a hash of what was delivered.

    ``response_hash`` is ``blake2_256`` of the delivered assistant text (UTF-8, all choices joined):
    the part of the response that is the same whether it was streamed or not. (chain/pallets/
    billing.md says "of the response body as the worker saw it"; a signer that hashes the HTTP
    body instead may ignore this field.) ``spec.receipt_id`` is the ledger key: the hex of the
    ``ReceiptId`` (``blake2_256(SCALE(CallAuthorization))``) in production.
    """

    spec: CallSpec
    charge: Charge
    response_hash: bytes


class ReceiptSigner(Protocol):
    """Encodes and signs a receipt with the worker key; returns the bytes the ledger stores."""

    def __call__(self, draft: ReceiptDraft) -> bytes: ...


@dataclass(frozen=True, slots=True, kw_only=True)
class MeteredResult:
    charge: Charge
    receipt: LedgerReceipt
    released: int


def _hash(text: str) -> bytes:
    return hashlib.blake2b(text.encode(), digest_size=32).digest()


class MeteredCall:
    """Runs calls under the meter. Safe to share between concurrent asyncio tasks."""

    def __init__(
        self, *, meter: GasMeter, upstream: UpstreamClient, writer: ReceiptWriter, sign: ReceiptSigner
    ) -> None:
        self._meter = meter
        self._upstream = upstream
        self._writer = writer
        self._sign = sign

    async def _reserve(self, spec: CallSpec) -> tuple[Reservation, int]:
        estimate = await self._upstream.estimate_prompt_tokens(spec.model, spec.request)
        max_output = self._upstream.max_output_tokens(spec.model, spec.request)
        worst = spec.prices.cost(input_tokens=estimate, output_tokens=max_output)
        reservation = self._meter.reserve(
            spec.caller, spec.max_charge, worst, prices=spec.prices, reservation_id=spec.receipt_id
        )
        return reservation, self._meter.output_tokens_allowed(reservation, prompt_tokens=estimate)

    async def _settle_locally(
        self, spec: CallSpec, reservation: Reservation, charge: Charge, text: str
    ) -> MeteredResult:
        try:
            signed = self._sign(ReceiptDraft(spec=spec, charge=charge, response_hash=_hash(text)))
            receipt, inserted = await self._writer.record(
                NewReceipt(
                    id=spec.receipt_id,
                    caller=spec.caller,
                    nonce=spec.nonce,
                    agent_id=spec.agent_id,
                    agent_version=spec.agent_version,
                    charge=charge.amount,
                    estimated=charge.estimated,
                    signed=signed,
                ),
                # Only this call's reservation is open: no other receipt can share the commit.
                alone=self._meter.open_reservations == 1,
            )
        except BaseException:
            # No receipt, no bill: a charge that can never settle must not hold the caller's budget.
            self._meter.void_charge(reservation)
            raise
        if not inserted:
            # The ledger already holds a receipt for this (caller, nonce): the HTTP front should
            # have refused the replay; the stored receipt stands, and the chain bills it once.
            log.warning("receipt_replayed", receipt_id=receipt.id, agent_id=spec.agent_id)
        released = self._meter.release(reservation)
        # No log line here: the HTTP front writes the one line per call (``worker_call``).
        return MeteredResult(charge=charge, receipt=receipt, released=released)

    async def complete(self, spec: CallSpec) -> tuple[CompletionResult, MeteredResult]:
        """A non-streamed metered call. Raises ``InsufficientBudget`` or ``UpstreamError`` uncharged."""
        reservation, allowed = await self._reserve(spec)
        try:
            result = await self._upstream.complete(spec.model, spec.request, max_completion_tokens=allowed)
            charge = self._meter.charge(reservation, result.usage)
            text = "".join(choice.message.content or "" for choice in result.completion.choices)
            return result, await self._settle_locally(spec, reservation, charge, text)
        finally:
            self._meter.release(reservation)

    async def stream(self, spec: CallSpec) -> MeteredStream:
        """Open a metered stream. Raises ``InsufficientBudget`` or ``UpstreamError`` uncharged."""
        reservation, allowed = await self._reserve(spec)
        try:
            upstream = await self._upstream.stream(spec.model, spec.request, max_completion_tokens=allowed)
        except BaseException:
            self._meter.release(reservation)
            raise
        return MeteredStream(call=self, spec=spec, reservation=reservation, upstream=upstream)


class MeteredStream:
    """Iterate the upstream's chunks, then ``await finish()``: charge, receipt, release.

    ``finish`` must run (use ``async with``); without it the reservation stays booked.
    """

    def __init__(
        self, *, call: MeteredCall, spec: CallSpec, reservation: Reservation, upstream: ChatStream
    ) -> None:
        self._call = call
        self._spec = spec
        self._reservation = reservation
        self._upstream = upstream
        self._parts: list[str] = []
        self._done: tuple[StreamResult, MeteredResult] | None = None

    def __aiter__(self) -> AsyncIterator[ChatCompletionChunk]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[ChatCompletionChunk]:
        async for chunk in self._upstream:
            for choice in chunk.choices:
                if choice.delta.content:
                    self._parts.append(choice.delta.content)
            yield chunk

    async def finish(self) -> tuple[StreamResult, MeteredResult]:
        """Meter what was delivered and record its receipt. Idempotent."""
        if self._done is not None:
            return self._done
        meter = self._call._meter
        try:
            result = await self._upstream.finish()
            charge = meter.charge(self._reservation, result.usage)
            metered = await self._call._settle_locally(
                self._spec, self._reservation, charge, "".join(self._parts)
            )
        finally:
            meter.release(self._reservation)
        self._done = (result, metered)
        return self._done

    async def __aenter__(self) -> MeteredStream:
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.finish()
