"""The worker's OpenAI-compatible HTTP front (starlette, served by uvicorn).

``POST /v1/chat/completions`` with ``model = "agent:<id>"`` and the caller's signed
``CallAuthorization`` in the ``X-Phala-Authorization`` header. Every check runs before any work,
cheapest first: header, request body and ``request_hash``, genesis, worker, expiry against the
synced head, agent (exists, Active, version), access policy, replay (nonce unused in this
worker and on chain), the caller's signature; then the gas meter reserves (available escrow),
the sealed prompt is opened and prepended as the system message, the upstream is called and
metered, and the signed receipt is committed to the ledger before the response completes.

Errors are OpenAI-shaped (``{"error": {"message", "type", "param", "code"}}``) with the HTTP
status the ``openai`` SDK maps to its exception classes; refusals carry ``x-should-retry:
false`` so the SDK does not resend a refused authorization. Nothing here logs or returns a
prompt, a message or a completion in an error; the per-call log line has ids, counts and money.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import heapq
import json
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import cast

import structlog
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response, StreamingResponse
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from phala_agents.client import ClusterKey, open_prompt
from phala_agents.errors import (
    AuthorizationError,
    InsufficientBudget,
    ReceiptError,
    SealingError,
    UpstreamError,
    UpstreamTimeout,
)
from phala_agents.scale import blake2_256, ss58_decode, ss58_encode
from phala_agents.worker.authorization import (
    AUTHORIZATION_HEADER,
    CallAuthorization,
    Receipt,
    ReceiptUsage,
    SignedAuthorization,
    SignedReceipt,
    Sr25519Signer,
    parse_authorization_header,
    sign_receipt,
    verify_authorization,
)
from phala_agents.worker.busy_poll import BusyPoll
from phala_agents.worker.call import CallSpec, MeteredCall, MeteredResult, ReceiptDraft
from phala_agents.worker.caller import canonical_json
from phala_agents.worker.fast_upstream import FastUpstreamClient
from phala_agents.worker.ledger import Ledger, LedgerReceipt, ReceiptWriter
from phala_agents.worker.meter import GasMeter
from phala_agents.worker.upstream import ChatRequest, UpstreamClient, UpstreamModel
from phala_agents.worker.view import AgentRecord, ChainView

__all__ = [
    "AGENT_MODEL_PREFIX",
    "CHARGE_HEADER",
    "CLAIM_MEMORY_BLOCKS",
    "ESTIMATED_HEADER",
    "RECEIPT_HEADER",
    "RECEIPT_ID_HEADER",
    "Gateway",
    "GatewayConfig",
    "Metrics",
    "build_app",
    "tune_gc",
]

log = structlog.get_logger(__name__)

AGENT_MODEL_PREFIX = "agent:"
RECEIPT_ID_HEADER = "X-Phala-Receipt-Id"
CHARGE_HEADER = "X-Phala-Charge"
ESTIMATED_HEADER = "X-Phala-Charge-Estimated"
RECEIPT_HEADER = "X-Phala-Receipt"
"""``0x`` + hex of ``SCALE(Receipt) ++ worker signature``: verifiable offline."""

# Request fields passed to the upstream as they are; everything else is refused or ignored.
_PASS_THROUGH = (
    "top_p",
    "seed",
    "stop",
    "presence_penalty",
    "frequency_penalty",
    "logit_bias",
    "response_format",
)
_REFUSED = ("tools", "functions", "tool_choice", "function_call", "logprobs", "top_logprobs")
_NO_RETRY = {"x-should-retry": "false"}
_ADDRESS_CACHE = 10_000
_CHAT_PATH = "/v1/chat/completions"
# Failed receipts re-claimed at start (their nonces are unused on chain, so only we can refuse them).
_RESTORE_FAILED = 100_000
CLAIM_MEMORY_BLOCKS = 1_000
"""Authorizations expiring within this many blocks of the head stay in the in-memory replay guard
until they expire; longer-lived ones leave it once recorded and are checked in the ledger."""


class _Refusal(Exception):
    """A call refused before any work: becomes an OpenAI error response."""

    def __init__(
        self, status: int, message: str, *, type_: str, code: str | None = None, param: str | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.type = type_
        self.code = code
        self.param = param


def _error_response(refusal: _Refusal, *, retry: bool = False) -> JSONResponse:
    body = {
        "error": {
            "message": refusal.message,
            "type": refusal.type,
            "param": refusal.param,
            "code": refusal.code,
        }
    }
    return JSONResponse(body, status_code=refusal.status, headers=None if retry else _NO_RETRY)


def _bad_request(message: str, *, param: str | None = None, code: str = "invalid_request") -> _Refusal:
    return _Refusal(400, message, type_="invalid_request_error", code=code, param=param)


def _unauthorized(message: str, code: str) -> _Refusal:
    return _Refusal(401, message, type_="authentication_error", code=code)


# --- metrics -------------------------------------------------------------------------------------

_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


@dataclass(slots=True)
class Metrics:
    """Counters for ``/metrics`` (Prometheus text exposition 0.0.4, written by hand)."""

    calls: dict[tuple[str, str], int] = field(default_factory=dict)  # (outcome, stream) -> count
    charged: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    latency_buckets: list[int] = field(default_factory=lambda: [0] * len(_LATENCY_BUCKETS))
    latency_sum: float = 0.0
    latency_count: int = 0

    def observe(self, *, outcome: str, stream: bool, seconds: float) -> None:
        key = (outcome, "true" if stream else "false")
        self.calls[key] = self.calls.get(key, 0) + 1
        self.latency_sum += seconds
        self.latency_count += 1
        for index, bound in enumerate(_LATENCY_BUCKETS):
            if seconds <= bound:
                self.latency_buckets[index] += 1

    def render(self, *, extra: Mapping[str, int]) -> str:
        lines = [
            "# HELP phala_worker_calls_total Chat completion calls by outcome.",
            "# TYPE phala_worker_calls_total counter",
        ]
        for (outcome, stream), count in sorted(self.calls.items()):
            lines.append(f'phala_worker_calls_total{{outcome="{outcome}",stream="{stream}"}} {count}')
        lines += [
            "# HELP phala_worker_charged_total Charged to callers (smallest unit).",
            "# TYPE phala_worker_charged_total counter",
            f"phala_worker_charged_total {self.charged}",
            "# HELP phala_worker_tokens_total Metered tokens.",
            "# TYPE phala_worker_tokens_total counter",
            f'phala_worker_tokens_total{{kind="prompt"}} {self.prompt_tokens}',
            f'phala_worker_tokens_total{{kind="completion"}} {self.completion_tokens}',
            "# HELP phala_worker_call_seconds Call latency as seen by the worker.",
            "# TYPE phala_worker_call_seconds histogram",
        ]
        for bound, count in zip(_LATENCY_BUCKETS, self.latency_buckets, strict=True):
            lines.append(f'phala_worker_call_seconds_bucket{{le="{bound}"}} {count}')
        lines += [
            f'phala_worker_call_seconds_bucket{{le="+Inf"}} {self.latency_count}',
            f"phala_worker_call_seconds_sum {self.latency_sum:.6f}",
            f"phala_worker_call_seconds_count {self.latency_count}",
        ]
        for name, value in sorted(extra.items()):
            lines += [f"# TYPE {name} gauge", f"{name} {value}"]
        return "\n".join(lines) + "\n"


# --- the gateway ---------------------------------------------------------------------------------


def tune_gc() -> None:
    """Take the start-up heap out of the collector's work (``gc.freeze()``).

    After start-up the process holds a few hundred thousand long-lived objects (tiktoken's
    ranks, pydantic schemas, the openai SDK's types). With nothing frozen, each full collection
    walked all of them: pauses of several ms every few hundred calls, a good part of the
    gateway's p99 at C=1. ``gc.freeze()`` moves everything alive now to a permanent generation
    the collector never scans. The thresholds stay CPython's: a gen0 threshold of 20,000 made no
    difference we could measure over the noise (bench/bench_gateway.py A/B, 4,000 calls each).
    Call once, when start-up is done (``Gateway.start`` does with ``GatewayConfig(tune_gc=True)``).
    """
    gc.collect()
    gc.freeze()


@dataclass(frozen=True, slots=True, kw_only=True)
class GatewayConfig:
    """How the HTTP front runs. ``keypair`` is the worker account (signs receipts)."""

    keypair: Sr25519Signer
    cluster_key: ClusterKey
    upstreams: Sequence[UpstreamModel]
    ss58_format: int = 42
    dev_chain: bool = False
    max_body_bytes: int = 1 << 20
    # Non-streamed upstream calls over the lean HTTP/1.1 pool (worker/fast_upstream.py).
    fast_upstream: bool = True
    # Process-wide GC tuning at start (``tune_gc``): the serving process sets it, tests do not.
    tune_gc: bool = False
    # Poll instead of idling for this long after a call starts and ends (worker/busy_poll.py);
    # 0 = off. ``worker run`` defaults to 500.
    busy_poll_us: int = 0

    def __repr__(self) -> str:
        return (
            f"GatewayConfig(worker=0x{bytes(self.keypair.public_key).hex()}, upstreams={len(self.upstreams)})"
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class _Checked:
    signed: SignedAuthorization
    agent: AgentRecord
    body: Mapping[str, object]
    stream: bool


class Gateway:
    """The per-process call handler: checks, metering, receipts. Start it inside the event loop."""

    def __init__(self, config: GatewayConfig, *, view: ChainView, meter: GasMeter, ledger: Ledger) -> None:
        self.config = config
        self.view = view
        self.meter = meter
        self.ledger = ledger
        self.metrics = Metrics()
        self.worker = bytes(config.keypair.public_key)
        self._upstream: UpstreamClient | None = None
        self._writer: ReceiptWriter | None = None
        self._call: MeteredCall | None = None
        # Replay guard: (caller, nonce) -> expires_at_block, for calls in flight and for recorded
        # ones until their authorization expires (a replay is then refused as expired). Bounded:
        # entries leave when the synced head passes their expiry (the heap orders them), and an
        # authorization valid for more than CLAIM_MEMORY_BLOCKS leaves as soon as its receipt is
        # in the ledger, which the claim then checks instead (see _claim).
        self._claimed: dict[tuple[bytes, int], int] = {}
        self._claim_expiry: list[tuple[int, bytes, int]] = []
        self._loading: dict[bytes, asyncio.Future[None]] = {}
        self._prompts: dict[tuple[int, int], str] = {}
        self._addresses: dict[bytes, str] = {}
        # receipt id -> the caller's signed authorization, for the receipt signer.
        self._inflight_auth: dict[str, SignedAuthorization] = {}
        self._busy_poll = BusyPoll(config.busy_poll_us)

    # lifecycle

    async def start(self) -> None:
        """Restore unsettled receipts into the meter, then open the upstream clients."""
        for receipt in await asyncio.to_thread(self.ledger.unsettled):
            caller = bytes(receipt.caller) if isinstance(receipt.caller, bytes) else receipt.caller.encode()
            self.meter.restore_unsettled(caller, receipt.id, receipt.charge)
            self._remember_claim(caller, receipt.nonce, _expiry_of(receipt))
        for receipt in await asyncio.to_thread(self.ledger.failed, limit=_RESTORE_FAILED):
            caller = bytes(receipt.caller) if isinstance(receipt.caller, bytes) else receipt.caller.encode()
            self._remember_claim(caller, receipt.nonce, _expiry_of(receipt))
        self._upstream = (
            FastUpstreamClient(list(self.config.upstreams))
            if self.config.fast_upstream
            else UpstreamClient(self.config.upstreams)
        )
        self._writer = ReceiptWriter(self.ledger)
        self._call = MeteredCall(
            meter=self.meter, upstream=self._upstream, writer=self._writer, sign=self._sign_receipt
        )
        if self.config.tune_gc:
            tune_gc()

    async def stop(self) -> None:
        await self._busy_poll.aclose()
        if self._writer is not None:
            await self._writer.aclose()
        if self._upstream is not None:
            await self._upstream.aclose()

    def _sign_receipt(self, draft: ReceiptDraft) -> bytes:
        # The spec carries the receipt id; the signed authorization is looked up by it.
        signed = self._inflight_auth[draft.spec.receipt_id]
        usage = draft.charge.usage
        receipt = Receipt.of(
            signed,
            usage=ReceiptUsage(
                input_tokens=min(usage.prompt_tokens, 2**32 - 1),
                output_tokens=min(usage.completion_tokens, 2**32 - 1),
                estimated=usage.estimated,
            ),
            charge=draft.charge.amount,
            response_hash=draft.response_hash,
        )
        return sign_receipt(self.config.keypair, receipt).to_bytes()

    # checks

    def _parse_body(self, raw: bytes) -> Mapping[str, object]:
        if len(raw) > self.config.max_body_bytes:
            raise _Refusal(
                413,
                f"request body: found {len(raw)} bytes, wanted at most {self.config.max_body_bytes}",
                type_="invalid_request_error",
                code="request_too_large",
            )
        try:
            body = json.loads(raw)
        except (ValueError, UnicodeDecodeError):
            raise _bad_request(
                "request body: found malformed JSON, wanted a JSON object", code="invalid_json"
            ) from None
        if not isinstance(body, dict):
            raise _bad_request(
                f"request body: found a JSON {type(body).__name__}, wanted an object", code="invalid_json"
            )
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages:
            raise _bad_request("messages: found none, wanted a non-empty array", param="messages")
        for index, message in enumerate(messages):
            if not isinstance(message, dict) or not isinstance(message.get("role"), str):
                raise _bad_request(
                    f"messages[{index}]: found no role, wanted an object with role and content",
                    param=f"messages[{index}]",
                )
        for name in _REFUSED:
            if body.get(name) is not None:
                raise _bad_request(
                    f"{name}: found one, wanted none (not supported by agents yet)", param=name
                )
        n = body.get("n", 1)
        if n != 1:
            raise _bad_request(f"n: found {n!r}, wanted 1", param="n")
        return cast(Mapping[str, object], body)

    @staticmethod
    def _agent_id(body: Mapping[str, object]) -> int:
        model = body.get("model")
        if not isinstance(model, str) or not model.startswith(AGENT_MODEL_PREFIX):
            raise _Refusal(
                404,
                f"model: found {model!r}, wanted 'agent:<id>'",
                type_="invalid_request_error",
                code="model_not_found",
                param="model",
            )
        text = model[len(AGENT_MODEL_PREFIX) :]
        if not text.isdigit() or len(text) > 20:
            raise _Refusal(
                404,
                f"model: found {model!r}, wanted 'agent:<id>' with a decimal id",
                type_="invalid_request_error",
                code="model_not_found",
                param="model",
            )
        return int(text)

    def _check(self, header: str | None, raw: bytes) -> _Checked:
        if not header:
            raise _unauthorized(
                f"{AUTHORIZATION_HEADER}: found none, wanted a signed CallAuthorization",
                "missing_authorization",
            )
        try:
            signed = parse_authorization_header(header)
        except AuthorizationError as exc:
            raise _unauthorized(str(exc), "invalid_authorization") from None
        body = self._parse_body(raw)
        agent_id = self._agent_id(body)
        auth = signed.authorization
        # Cheap checks first, the signature last (it costs the most CPU).
        if auth.request_hash != blake2_256(canonical_json(body)):
            raise _unauthorized(
                "authorization request_hash: found one that does not match this request body, "
                "wanted blake2_256 of the body's canonical JSON",
                "request_hash_mismatch",
            )
        if auth.genesis != self.view.genesis:
            raise _unauthorized(
                f"authorization genesis: found 0x{auth.genesis.hex()}, wanted 0x{self.view.genesis.hex()}",
                "wrong_genesis",
            )
        if auth.worker != self.worker:
            raise _unauthorized(
                f"authorization worker: found 0x{auth.worker.hex()}, wanted 0x{self.worker.hex()}",
                "wrong_worker",
            )
        head = self.view.head
        if auth.expires_at_block <= head:
            raise _unauthorized(
                f"authorization expires_at_block: found {auth.expires_at_block}, wanted > head {head}",
                "authorization_expired",
            )
        if auth.agent_id != agent_id:
            raise _bad_request(
                f"authorization agent_id: found {auth.agent_id}, wanted {agent_id} (the request's model)",
                param="model",
                code="agent_mismatch",
            )
        agent = self.view.agent(agent_id)
        if agent is None:
            raise _Refusal(
                404,
                f"agent {agent_id}: found none on chain",
                type_="invalid_request_error",
                code="model_not_found",
                param="model",
            )
        if agent.status != "Active":
            code = "agent_paused" if agent.status == "Paused" else "agent_retired"
            raise _Refusal(
                403 if agent.status == "Paused" else 404,
                f"agent {agent_id} status: found {agent.status}, wanted Active",
                type_="invalid_request_error",
                code=code,
                param="model",
            )
        if auth.agent_version != agent.version:
            raise _Refusal(
                409,
                f"authorization agent_version: found {auth.agent_version}, wanted {agent.version}",
                type_="invalid_request_error",
                code="agent_version_mismatch",
            )
        if (
            agent.access == "AllowList"
            and auth.caller != agent.owner
            and not self.view.allowed(agent_id, auth.caller)
        ):
            raise _Refusal(
                403,
                f"caller {self._address(auth.caller)}: found not on agent {agent_id}'s allowlist, "
                "wanted an allowed caller",
                type_="permission_error",
                code="not_allowed",
            )
        try:
            verify_authorization(signed)
        except AuthorizationError as exc:
            raise _unauthorized(str(exc), "bad_signature") from None
        stream = body.get("stream") is True
        return _Checked(signed=signed, agent=agent, body=body, stream=stream)

    def _address(self, account: bytes) -> str:
        # SS58 (base58 + a BLAKE2b checksum) costs ~30 us; callers repeat, so cache a bounded set.
        address = self._addresses.get(account)
        if address is None:
            if len(self._addresses) >= _ADDRESS_CACHE:
                self._addresses.clear()
            address = self._addresses[account] = ss58_encode(account, self.config.ss58_format)
        return address

    def _claim(self, auth: CallAuthorization) -> None:
        caller, nonce = auth.caller, auth.nonce
        key = (caller, nonce)
        head = self.view.head
        self._prune_claims(head)
        if (
            key in self._claimed
            or self.view.nonce_used(caller, nonce)
            # Long-lived authorizations are not kept in memory once recorded: ask the ledger (an
            # indexed lookup; authorizations from sign_request live 100 blocks and never get here).
            or (
                auth.expires_at_block > head + CLAIM_MEMORY_BLOCKS
                and self.ledger.has_authorization(caller, nonce)
            )
        ):
            raise _Refusal(
                409,
                f"authorization nonce {nonce}: found already used by this caller, wanted an unused nonce",
                type_="invalid_request_error",
                code="nonce_used",
            )
        self._claimed[key] = auth.expires_at_block
        if auth.expires_at_block <= head + CLAIM_MEMORY_BLOCKS:
            heapq.heappush(self._claim_expiry, (auth.expires_at_block, caller, nonce))

    def _remember_claim(self, caller: bytes, nonce: int, expires_at_block: int | None) -> None:
        """A recorded receipt's authorization (at start-up): kept until it expires, if that is soon."""
        head = self.view.head
        if expires_at_block is None or expires_at_block <= head:
            return  # unreadable (never resubmitted anyway) or already expired: refused as expired
        if expires_at_block <= head + CLAIM_MEMORY_BLOCKS:
            self._claimed[(caller, nonce)] = expires_at_block
            heapq.heappush(self._claim_expiry, (expires_at_block, caller, nonce))

    def _release_claim(self, auth: CallAuthorization) -> None:
        """The call was refused before any charge: the same authorization may be sent again."""
        self._claimed.pop((auth.caller, auth.nonce), None)

    def _recorded(self, auth: CallAuthorization) -> None:
        """The receipt is in the ledger: a long-lived authorization's entry can leave memory."""
        if auth.expires_at_block > self.view.head + CLAIM_MEMORY_BLOCKS:
            self._claimed.pop((auth.caller, auth.nonce), None)

    def _prune_claims(self, head: int) -> None:
        heap = self._claim_expiry
        while heap and heap[0][0] <= head:
            expiry, caller, nonce = heapq.heappop(heap)
            if self._claimed.get((caller, nonce)) == expiry:
                del self._claimed[(caller, nonce)]

    async def _ensure_caller(self, caller: bytes) -> None:
        if self.view.caller_known(caller):
            return
        pending = self._loading.get(caller)
        if pending is None:
            pending = asyncio.ensure_future(asyncio.to_thread(self.view.load_caller, caller))
            self._loading[caller] = pending
            pending.add_done_callback(lambda _f: self._loading.pop(caller, None))
        await asyncio.shield(pending)

    def _prompt(self, agent: AgentRecord) -> str:
        key = (agent.agent_id, agent.version)
        prompt = self._prompts.get(key)
        if prompt is None:
            prompt = open_prompt(
                agent.prompt, self.config.cluster_key, agent_id=agent.agent_id, version=agent.version
            )
            self._prompts[key] = prompt
        return prompt

    def _spec(self, checked: _Checked) -> CallSpec:
        agent, body, auth = checked.agent, checked.body, checked.signed.authorization
        try:
            prompt = self._prompt(agent)
        except SealingError:
            raise _Refusal(
                503,
                f"agent {agent.agent_id} prompt: found sealed to a key this worker does not hold "
                f"(epoch {agent.prompt.epoch}), wanted the cluster key",
                type_="server_error",
                code="prompt_unavailable",
            ) from None
        if self._upstream is None:
            raise RuntimeError("gateway not started")
        try:
            upstream = self._upstream.model(agent.model)
        except ValueError:
            raise _Refusal(
                503,
                f"agent {agent.agent_id} model: found {agent.model!r}, wanted one this worker serves",
                type_="server_error",
                code="model_unavailable",
            ) from None
        max_tokens = body.get("max_completion_tokens", body.get("max_tokens"))
        if max_tokens is None:
            max_tokens = agent.max_tokens or None
        if max_tokens is not None:
            if not isinstance(max_tokens, int) or isinstance(max_tokens, bool) or max_tokens < 1:
                raise _bad_request(
                    f"max_tokens: found {max_tokens!r}, wanted an integer >= 1", param="max_tokens"
                )
            max_tokens = min(max_tokens, upstream.max_output_tokens)
        params: dict[str, object] = {name: body[name] for name in _PASS_THROUGH if name in body}
        temperature = body.get("temperature")
        params["temperature"] = temperature if temperature is not None else agent.temperature_milli / 1000
        messages = [
            {"role": "system", "content": prompt},
            *cast(list[Mapping[str, object]], body["messages"]),
        ]
        return CallSpec(
            receipt_id=auth.receipt_id_hex,
            caller=auth.caller,
            nonce=auth.nonce,
            agent_id=agent.agent_id,
            agent_version=agent.version,
            max_charge=auth.max_charge,
            prices=agent.prices,
            model=agent.model,
            request=ChatRequest(messages=messages, max_tokens=max_tokens, params=params),
        )

    # handlers

    async def chat_completions(self, request: Request) -> Response:
        started = time.perf_counter()
        self._busy_poll.touch()  # the upstream's answer comes next: stay awake for it
        raw = await request.body()
        try:
            checked = self._check(request.headers.get(AUTHORIZATION_HEADER), raw)
            auth = checked.signed.authorization
            await self._ensure_caller(auth.caller)
            self._claim(auth)
        except _Refusal as refusal:
            self._finish_log(None, outcome=refusal.code or "refused", stream=False, started=started)
            return _error_response(refusal)
        try:
            spec = self._spec(checked)
        except _Refusal as refusal:
            self._release_claim(auth)
            self._finish_log(
                checked, outcome=refusal.code or "refused", stream=checked.stream, started=started
            )
            return _error_response(refusal)
        self._inflight_auth[spec.receipt_id] = checked.signed
        if checked.stream:
            return await self._stream(checked, spec, started)
        return await self._complete(checked, spec, started)

    def _refused_after_claim(
        self, checked: _Checked, exc: Exception, started: float, stream: bool
    ) -> Response:
        auth = checked.signed.authorization
        self._release_claim(auth)
        self._inflight_auth.pop(auth.receipt_id_hex, None)
        if isinstance(exc, InsufficientBudget):
            refusal = _Refusal(402, str(exc), type_="insufficient_quota", code="insufficient_escrow")
            retry = False
        elif isinstance(exc, UpstreamTimeout):
            refusal = _Refusal(504, str(exc), type_="upstream_error", code="upstream_timeout")
            retry = True
        else:
            refusal = _Refusal(502, str(exc), type_="upstream_error", code="upstream_error")
            retry = True
        self._finish_log(checked, outcome=refusal.code or "refused", stream=stream, started=started)
        return _error_response(refusal, retry=retry)

    async def _complete(self, checked: _Checked, spec: CallSpec, started: float) -> Response:
        assert self._call is not None
        try:
            result, metered = await self._call.complete(spec)
        except (InsufficientBudget, UpstreamError) as exc:
            return self._refused_after_claim(checked, exc, started, False)
        finally:
            self._inflight_auth.pop(spec.receipt_id, None)
        self._recorded(checked.signed.authorization)
        completion = result.completion
        completion.model = f"{AGENT_MODEL_PREFIX}{spec.agent_id}"
        # pydantic's JSON serializer (Rust) writes the object, then the "phala" member is spliced
        # in before its closing brace: a third of the cost of model_dump() + json.dumps().
        body = completion.model_dump_json(exclude_unset=True).encode()
        phala = json.dumps(self._receipt_fields(metered), separators=(",", ":")).encode()
        content = body[:-1] + (b',"phala":' if len(body) > 2 else b'"phala":') + phala + b"}"
        self._finish_log(checked, outcome="ok", stream=False, started=started, metered=metered)
        return Response(content, media_type="application/json", headers=self._receipt_headers(metered))

    async def _stream(self, checked: _Checked, spec: CallSpec, started: float) -> Response:
        assert self._call is not None
        try:
            metered_stream = await self._call.stream(spec)
        except (InsufficientBudget, UpstreamError) as exc:
            self._inflight_auth.pop(spec.receipt_id, None)
            return self._refused_after_claim(checked, exc, started, True)
        model = f"{AGENT_MODEL_PREFIX}{spec.agent_id}"

        async def events() -> AsyncIterator[bytes]:
            done = False
            chunk_id = ""
            try:
                async for chunk in metered_stream:
                    chunk.model = model
                    chunk_id = chunk.id
                    yield b"data: " + chunk.model_dump_json(exclude_unset=True).encode() + b"\n\n"
                stream_result, metered = await metered_stream.finish()
                done = True
                self._recorded(checked.signed.authorization)
                self._finish_log(
                    checked, outcome=stream_result.outcome, stream=True, started=started, metered=metered
                )
                final = {
                    "id": chunk_id,
                    "object": "chat.completion.chunk",
                    "created": int(time.time()),
                    "model": model,
                    "choices": [],
                    "phala": self._receipt_fields(metered) | {"outcome": stream_result.outcome},
                }
                yield b"data: " + json.dumps(final, separators=(",", ":")).encode() + b"\n\n"
                if stream_result.error is not None:
                    error = {
                        "error": {
                            "message": str(stream_result.error),
                            "type": "upstream_error",
                            "param": None,
                            "code": "upstream_stream_cut",
                        }
                    }
                    yield b"data: " + json.dumps(error).encode() + b"\n\n"
                yield b"data: [DONE]\n\n"
            finally:
                self._inflight_auth.pop(spec.receipt_id, None)
                if not done:
                    # The client went away (or sending failed): charge what was delivered, record
                    # the receipt, release the rest; shielded so a cancellation cannot skip it.
                    with contextlib.suppress(Exception):
                        stream_result, metered = await asyncio.shield(metered_stream.finish())
                        self._recorded(checked.signed.authorization)
                        self._finish_log(
                            checked, outcome="cancelled", stream=True, started=started, metered=metered
                        )

        headers = {RECEIPT_ID_HEADER: spec.receipt_id, "Cache-Control": "no-cache"}
        return StreamingResponse(events(), media_type="text/event-stream", headers=headers)

    def _receipt_fields(self, metered: MeteredResult) -> dict[str, object]:
        return {
            "receipt_id": metered.receipt.id,
            "charge": str(metered.charge.amount),
            "estimated": metered.charge.estimated,
            "prompt_tokens": metered.charge.usage.prompt_tokens,
            "completion_tokens": metered.charge.usage.completion_tokens,
            "receipt": "0x" + metered.receipt.signed.hex(),
        }

    def _receipt_headers(self, metered: MeteredResult) -> dict[str, str]:
        return {
            RECEIPT_ID_HEADER: metered.receipt.id,
            CHARGE_HEADER: str(metered.charge.amount),
            ESTIMATED_HEADER: "true" if metered.charge.estimated else "false",
            RECEIPT_HEADER: "0x" + metered.receipt.signed.hex(),
        }

    def _finish_log(
        self,
        checked: _Checked | None,
        *,
        outcome: str,
        stream: bool,
        started: float,
        metered: MeteredResult | None = None,
    ) -> None:
        self._busy_poll.touch()  # and for the caller's next request
        seconds = time.perf_counter() - started
        self.metrics.observe(outcome=outcome, stream=stream, seconds=seconds)
        fields: dict[str, object] = {"outcome": outcome, "stream": stream, "ms": round(seconds * 1000, 3)}
        if checked is not None:
            auth = checked.signed.authorization
            fields["agent_id"] = auth.agent_id
            fields["agent_version"] = auth.agent_version
            fields["caller"] = self._address(auth.caller)
            fields["nonce"] = auth.nonce
        if metered is not None:
            charge = metered.charge
            usage = charge.usage
            self.metrics.charged += charge.amount
            self.metrics.prompt_tokens += usage.prompt_tokens
            self.metrics.completion_tokens += usage.completion_tokens
            fields["receipt_id"] = metered.receipt.id
            # input_/output_tokens, not prompt_/completion_: the redaction processor blanks any
            # key containing "prompt" or "completion" (they may hold content).
            fields["input_tokens"] = usage.prompt_tokens
            fields["output_tokens"] = usage.completion_tokens
            fields["charge"] = charge.amount
            fields["estimated"] = charge.estimated
            fields["capped"] = charge.capped
        log.info("worker_call", **fields)

    async def models(self, request: Request) -> Response:
        """Agents the caller may use: ``X-Phala-Caller`` (SS58 or 0x hex) adds its allowlisted ones."""
        caller = _caller_from(request.headers.get("X-Phala-Caller"))
        data = []
        for agent in sorted(self.view.agents(), key=lambda a: a.agent_id):
            if agent.status != "Active":
                continue
            if agent.access == "AllowList" and (
                caller is None or (caller != agent.owner and not self.view.allowed(agent.agent_id, caller))
            ):
                continue
            data.append(
                {
                    "id": f"{AGENT_MODEL_PREFIX}{agent.agent_id}",
                    "object": "model",
                    "created": 0,
                    "owned_by": self._address(agent.owner),
                    "phala": {
                        "name": agent.name,
                        "version": agent.version,
                        "model": agent.model,
                        "access": agent.access,
                        "per_1k_input": str(agent.prices.per_1k_input),
                        "per_1k_output": str(agent.prices.per_1k_output),
                    },
                }
            )
        return JSONResponse({"object": "list", "data": data})

    async def info(self, _request: Request) -> Response:
        return JSONResponse(
            {
                "genesis": "0x" + self.view.genesis.hex(),
                "worker": "0x" + self.worker.hex(),
                "worker_address": self._address(self.worker),
                "head": self.view.head,
                "ss58_format": self.config.ss58_format,
                "dev_chain": self.config.dev_chain,
            }
        )

    async def receipt(self, request: Request) -> Response:
        receipt_id = str(request.path_params["receipt_id"])
        stored: LedgerReceipt | None = await asyncio.to_thread(self.ledger.get, receipt_id)
        if stored is None:
            return _error_response(
                _Refusal(
                    404,
                    f"receipt {receipt_id}: found none in this worker's ledger",
                    type_="invalid_request_error",
                    code="receipt_not_found",
                )
            )
        return JSONResponse(
            {
                "id": stored.id,
                "state": stored.state,
                "charge": str(stored.charge),
                "estimated": stored.estimated,
                "agent_id": stored.agent_id,
                "agent_version": stored.agent_version,
                "nonce": stored.nonce,
                "receipt": "0x" + stored.signed.hex(),
            }
        )

    async def health(self, _request: Request) -> Response:
        return JSONResponse({"status": "ok", "head": self.view.head, "worker": self._address(self.worker)})

    async def metrics_endpoint(self, _request: Request) -> Response:
        extra = {
            "phala_worker_synced_head": self.view.head,
            "phala_worker_claimed_nonces": len(self._claimed),
        }
        return PlainTextResponse(self.metrics.render(extra=extra), media_type="text/plain; version=0.0.4")


def _expiry_of(receipt: LedgerReceipt) -> int | None:
    try:
        return SignedReceipt.from_bytes(receipt.signed).receipt.authorization.expires_at_block
    except ReceiptError:
        return None


def _caller_from(value: str | None) -> bytes | None:
    if not value:
        return None
    text = value.strip()
    try:
        if text.startswith("0x"):
            raw = bytes.fromhex(text[2:])
            return raw if len(raw) == 32 else None
        return ss58_decode(text, None)
    except Exception:
        return None


def build_app(gateway: Gateway, *, on_startup: Sequence[object] = ()) -> ASGIApp:
    """The ASGI app; the gateway starts and stops with the app's lifespan."""
    del on_startup

    @contextlib.asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        await gateway.start()
        try:
            yield
        finally:
            await gateway.stop()

    routes = [
        Route("/v1/chat/completions", gateway.chat_completions, methods=["POST"]),
        Route("/v1/models", gateway.models, methods=["GET"]),
        Route("/v1/phala/info", gateway.info, methods=["GET"]),
        Route("/v1/receipts/{receipt_id}", gateway.receipt, methods=["GET"]),
        Route("/health", gateway.health, methods=["GET"]),
        Route("/metrics", gateway.metrics_endpoint, methods=["GET"]),
    ]
    app = Starlette(routes=routes, lifespan=lifespan)

    async def asgi(scope: Scope, receive: Receive, send: Send) -> None:
        # The hot path skips Starlette's router and middleware stack (about 40 us a call); the
        # handler turns every error it expects into a response itself.
        if scope["type"] == "http" and scope["method"] == "POST" and scope["path"] == _CHAT_PATH:
            response = await gateway.chat_completions(Request(scope, receive))
            await response(scope, receive, send)
            return
        await app(scope, receive, send)

    return asgi
