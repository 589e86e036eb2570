"""The upstream model client: OpenAI-compatible chat completions with metering-grade usage.

One pooled ``openai.AsyncOpenAI`` client per configured model (any OpenAI-compatible base URL:
OpenAI, vLLM, io.net, llama-server). Every request asks for ``stream_options.include_usage`` when
streaming. Usage comes from the upstream first; when it is missing (an upstream that ignores
``include_usage``, a stream cut half-way, a stream we cut at the budget) the tokens are counted
with the model's own tokenizer (llama-server ``/apply-template`` + ``/tokenize``) or, for
upstreams without one, with tiktoken, and the usage is marked ``estimated``.

Faults become typed errors: nothing delivered -> ``UpstreamError`` / ``UpstreamTimeout`` raised;
something delivered -> the stream ends and its ``StreamResult`` says what was delivered, how it
ended and why (``error``), so the caller is charged for exactly what it received.

Nothing here logs or puts in an error message a prompt, a completion, or the API key; upstream
error bodies are never copied (they may echo the prompt).
"""

from __future__ import annotations

import asyncio
import hmac
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal, Protocol, TypeAlias, cast

import httpx2
import openai
import structlog
from openai.types.chat import ChatCompletion, ChatCompletionChunk, ChatCompletionMessageParam
from openai.types.completion_usage import CompletionUsage

from phala_agents.errors import UpstreamError, UpstreamTimeout
from phala_agents.worker.meter import Usage
from phala_agents.worker.tokens import estimate_prompt_tokens, estimate_text_tokens

__all__ = [
    "ChatMessage",
    "ChatRequest",
    "ChatStream",
    "CompletionResult",
    "LlamaServerTokenizer",
    "Secret",
    "StreamOutcome",
    "StreamResult",
    "TiktokenTokenizer",
    "Tokenizer",
    "UpstreamClient",
    "UpstreamModel",
]

ChatMessage: TypeAlias = Mapping[str, object]
StreamOutcome: TypeAlias = Literal["complete", "budget_exhausted", "upstream_error", "cancelled"]

log = structlog.get_logger(__name__)


class Secret:
    """A secret string whose ``repr``/``str`` never show it (httpx ``Proxy.__repr__`` style)."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        """The secret itself; call only where it is sent, never where it is shown."""
        return self._value

    def __bool__(self) -> bool:
        return bool(self._value)

    def __repr__(self) -> str:
        return "Secret('********')"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Secret):
            return NotImplemented
        return hmac.compare_digest(self._value.encode(), other._value.encode())

    def __hash__(self) -> int:
        return hash(Secret)

    def __reduce__(self) -> tuple[object, ...]:
        raise TypeError("a Secret is not picklable")


@dataclass(frozen=True, slots=True, kw_only=True)
class UpstreamModel:
    """One upstream model as the worker is configured to reach it.

    ``base_url`` is the OpenAI base URL (ending in ``/v1``). ``tokenizer_url`` is the llama-server
    root whose ``/tokenize`` counts tokens when usage is missing; without it tiktoken estimates.
    """

    name: str
    base_url: str
    api_key: Secret = field(default_factory=lambda: Secret(""))
    upstream_model: str | None = None
    tokenizer_url: str | None = None
    connect_timeout: float = 5.0
    read_timeout: float = 60.0
    total_timeout: float = 600.0
    max_output_tokens: int = 1024
    max_connections: int = 256
    # The openai client's retries (connection errors, 408/409/429/5xx, with backoff): one covers a
    # stale pooled connection. A retried call is billed once, from the answer that arrived.
    max_retries: int = 1
    # tiktoken only estimates other models' prompts (SmolLM2: +8% tokens, plus a template system
    # prompt), so a tiktoken estimate is padded by this margin before it sizes a reservation.
    estimate_margin_percent: int = 20
    estimate_overhead_tokens: int = 64

    def __post_init__(self) -> None:
        for name in ("connect_timeout", "read_timeout", "total_timeout"):
            value = getattr(self, name)
            if value <= 0:
                raise ValueError(f"upstream {self.name}: {name} is {value}, wanted > 0")
        if self.max_output_tokens <= 0:
            raise ValueError(
                f"upstream {self.name}: max_output_tokens is {self.max_output_tokens}, wanted > 0"
            )

    @property
    def wire_model(self) -> str:
        """The model name sent upstream."""
        return self.upstream_model or self.name


@dataclass(frozen=True, slots=True, kw_only=True)
class ChatRequest:
    """A chat completion request. ``params`` passes through (temperature, seed, logit_bias, ...)."""

    messages: Sequence[ChatMessage]
    max_tokens: int | None = None
    params: Mapping[str, object] = field(default_factory=dict)


@dataclass(frozen=True, slots=True, kw_only=True)
class CompletionResult:
    completion: ChatCompletion
    usage: Usage


@dataclass(frozen=True, slots=True, kw_only=True)
class StreamResult:
    """What a stream delivered. ``error`` is set when the upstream failed mid-stream."""

    usage: Usage
    outcome: StreamOutcome
    finish_reason: str | None
    chunks: int
    content_chunks: int
    error: UpstreamError | None = None


class Tokenizer(Protocol):
    """Counts tokens the way the upstream model does, for usage the upstream did not report."""

    async def count_prompt(self, messages: Sequence[ChatMessage]) -> int: ...

    async def count_text(self, text: str) -> int: ...


class TiktokenTokenizer:
    """An estimate with tiktoken (exact only for OpenAI models)."""

    def __init__(self, model: str) -> None:
        self.model = model

    async def count_prompt(self, messages: Sequence[ChatMessage]) -> int:
        return estimate_prompt_tokens(messages, self.model)

    async def count_text(self, text: str) -> int:
        return estimate_text_tokens(text, self.model)


class LlamaServerTokenizer:
    """The model's own tokenizer through llama-server: ``/apply-template`` then ``/tokenize``."""

    def __init__(self, root_url: str, http: httpx2.AsyncClient, *, timeout: float = 10.0) -> None:
        self._root = root_url.rstrip("/")
        self._http = http
        self._timeout = timeout

    async def _post(self, path: str, body: Mapping[str, object]) -> Mapping[str, object]:
        url = f"{self._root}{path}"
        try:
            try:
                response = await self._http.post(url, json=body, timeout=self._timeout)
            except (httpx2.RemoteProtocolError, httpx2.ConnectError, httpx2.ReadError):
                # A pooled keep-alive connection the server had already closed (llama-server
                # does this); tokenizing is idempotent, so one retry on a fresh connection.
                response = await self._http.post(url, json=body, timeout=self._timeout)
        except httpx2.TimeoutException as exc:
            raise UpstreamTimeout(f"tokenizer {path}: no answer within {self._timeout}s") from exc
        except httpx2.HTTPError as exc:
            raise UpstreamError(f"tokenizer {path}: {type(exc).__name__}") from exc
        if response.status_code != 200:
            raise UpstreamError(f"tokenizer {path}: HTTP status is {response.status_code}, wanted 200")
        data = response.json()
        if not isinstance(data, dict):
            raise UpstreamError(f"tokenizer {path}: answer is {type(data).__name__}, wanted an object")
        return data

    async def count_text(self, text: str) -> int:
        if not text:
            return 0
        data = await self._post("/tokenize", {"content": text, "add_special": False, "parse_special": False})
        tokens = data.get("tokens")
        if not isinstance(tokens, list):
            raise UpstreamError("tokenizer /tokenize: field tokens is missing, wanted a list")
        return len(tokens)

    async def count_prompt(self, messages: Sequence[ChatMessage]) -> int:
        # The chat template adds role markers and, for SmolLM2, a default system prompt: count the
        # rendered prompt exactly as the server will see it.
        data = await self._post("/apply-template", {"messages": [dict(m) for m in messages]})
        prompt = data.get("prompt")
        if not isinstance(prompt, str):
            raise UpstreamError("tokenizer /apply-template: field prompt is missing, wanted a string")
        data = await self._post("/tokenize", {"content": prompt, "add_special": True, "parse_special": True})
        tokens = data.get("tokens")
        if not isinstance(tokens, list):
            raise UpstreamError("tokenizer /tokenize: field tokens is missing, wanted a list")
        return len(tokens)


def _ceil_percent(value: int, percent: int) -> int:
    return -(-value * percent // 100)


def _wire_messages(request: ChatRequest) -> list[ChatCompletionMessageParam]:
    # Passed through as the caller sent them; the upstream validates the shape.
    return cast("list[ChatCompletionMessageParam]", [dict(m) for m in request.messages])


def _usage_from(reported: CompletionUsage | None) -> Usage | None:
    if reported is None:
        return None
    details = reported.prompt_tokens_details
    cached = (details.cached_tokens or 0) if details is not None else 0
    return Usage(
        prompt_tokens=reported.prompt_tokens,
        completion_tokens=reported.completion_tokens,
        cached_tokens=cached,
        estimated=False,
    )


def _fault(model: UpstreamModel, exc: openai.OpenAIError, what: str) -> UpstreamError:
    """An upstream failure as a typed error; never copies the upstream's body."""
    if isinstance(exc, openai.APITimeoutError):
        return UpstreamTimeout(
            f"upstream {model.name}: {what} timed out (read timeout {model.read_timeout}s)"
        )
    if isinstance(exc, openai.APIStatusError):
        return UpstreamError(f"upstream {model.name}: {what} got HTTP status {exc.status_code}, wanted 200")
    if isinstance(exc, openai.APIConnectionError):
        return UpstreamError(f"upstream {model.name}: {what} connection failed ({type(exc).__name__})")
    return UpstreamError(f"upstream {model.name}: {what} failed ({type(exc).__name__})")


class ChatStream:
    """An open upstream stream. Iterate the chunks, then ``await finish()`` for the usage.

    Iteration stops early, without raising, when the budget (``max_completion_tokens``, counted
    as content chunks) is spent or the upstream fails; ``finish`` then says so.
    """

    def __init__(
        self,
        *,
        model: UpstreamModel,
        request: ChatRequest,
        source: openai.AsyncStream[ChatCompletionChunk],
        tokenizer: Tokenizer,
        max_completion_tokens: int | None,
        deadline: float,
        started: float,
    ) -> None:
        self._model = model
        self._request = request
        self._source = source
        self._tokenizer = tokenizer
        self._cap = max_completion_tokens
        self._deadline = deadline
        self._started = started
        self._parts: list[str] = []
        self._reported: Usage | None = None
        self._finish_reason: str | None = None
        self._chunks = 0
        self._content_chunks = 0
        self._outcome: StreamOutcome = "cancelled"
        self._error: UpstreamError | None = None
        self._result: StreamResult | None = None

    @property
    def content_chunks(self) -> int:
        return self._content_chunks

    def __aiter__(self) -> AsyncIterator[ChatCompletionChunk]:
        return self._iterate()

    async def _next(self, iterator: AsyncIterator[ChatCompletionChunk]) -> ChatCompletionChunk | None:
        # The total deadline covers only the wait for the next chunk: no yield happens inside it,
        # so a slow consumer is never cancelled by it.
        try:
            async with asyncio.timeout_at(self._deadline):
                return await anext(iterator)
        except StopAsyncIteration:
            return None
        except TimeoutError as exc:
            raise UpstreamTimeout(
                f"upstream {self._model.name}: stream exceeded its total timeout {self._model.total_timeout}s"
            ) from exc
        except openai.OpenAIError as exc:
            raise _fault(self._model, exc, "stream") from exc

    async def _iterate(self) -> AsyncIterator[ChatCompletionChunk]:
        iterator = self._source.__aiter__()
        try:
            while True:
                try:
                    chunk = await self._next(iterator)
                except UpstreamError as exc:
                    self._outcome, self._error = "upstream_error", exc
                    return
                if chunk is None:
                    self._outcome = (
                        "complete" if self._reported is not None or self._finish_reason else "upstream_error"
                    )
                    if self._outcome == "upstream_error":
                        self._error = UpstreamError(
                            f"upstream {self._model.name}: stream ended without a finish_reason"
                        )
                    return
                if (
                    self._cap is not None
                    and self._content_chunks >= self._cap
                    and any(choice.delta.content for choice in chunk.choices)
                ):
                    # Past the budget: drop this chunk and stop. Content-free chunks after the
                    # last paid token (finish_reason, usage, [DONE]) are still read, so an
                    # upstream that honoured max_tokens still reports its usage.
                    self._outcome = "budget_exhausted"
                    return
                self._chunks += 1
                # Usage may come on a chunk with choices (some upstreams) or with choices=[]
                # (OpenAI, llama-server): read it on every chunk.
                usage = _usage_from(chunk.usage)
                if usage is not None:
                    self._reported = usage
                for choice in chunk.choices:
                    if choice.delta.content:
                        self._parts.append(choice.delta.content)
                        self._content_chunks += 1
                    if choice.finish_reason is not None:
                        self._finish_reason = choice.finish_reason
                yield chunk
        finally:
            await self._source.close()

    async def finish(self) -> StreamResult:
        """Close the upstream and account for what was delivered. Idempotent."""
        if self._result is not None:
            return self._result
        await self._source.close()
        if self._reported is not None and self._outcome == "complete":
            usage = self._reported
        else:
            # No usage, or a stream that did not reach its end: the upstream's numbers (if any)
            # may count tokens never delivered, so count what the caller really received.
            usage = await self._count()
        self._result = StreamResult(
            usage=usage,
            outcome=self._outcome,
            finish_reason=self._finish_reason,
            chunks=self._chunks,
            content_chunks=self._content_chunks,
            error=self._error,
        )
        log.debug(
            "upstream_stream_done",
            model=self._model.name,
            outcome=self._outcome,
            prompt_tokens=usage.prompt_tokens,
            completion_tokens=usage.completion_tokens,
            estimated=usage.estimated,
            ms=round((time.monotonic() - self._started) * 1000, 2),
        )
        return self._result

    async def _count(self) -> Usage:
        completion = await self._tokenizer.count_text("".join(self._parts))
        prompt = (
            self._reported.prompt_tokens
            if self._reported is not None
            else await self._tokenizer.count_prompt(self._request.messages)
        )
        return Usage(prompt_tokens=prompt, completion_tokens=completion, estimated=True)


class UpstreamClient:
    """Pooled clients for the configured upstream models."""

    def __init__(self, models: Sequence[UpstreamModel]) -> None:
        self._models: dict[str, UpstreamModel] = {}
        self._clients: dict[str, openai.AsyncOpenAI] = {}
        self._tokenizers: dict[str, Tokenizer] = {}
        self._http: list[httpx2.AsyncClient] = []
        for model in models:
            if model.name in self._models:
                raise ValueError(f"upstream model {model.name!r} is configured twice")
            http = httpx2.AsyncClient(
                limits=httpx2.Limits(
                    max_connections=model.max_connections,
                    max_keepalive_connections=model.max_connections,
                ),
                timeout=httpx2.Timeout(
                    model.read_timeout, connect=model.connect_timeout, pool=model.connect_timeout
                ),
                trust_env=False,
            )
            self._http.append(http)
            self._models[model.name] = model
            self._clients[model.name] = openai.AsyncOpenAI(
                base_url=model.base_url,
                # A keyless local server still needs a non-empty value for the SDK.
                api_key=model.api_key.reveal() or "no-key",
                max_retries=model.max_retries,
                http_client=http,
            )
            self._tokenizers[model.name] = (
                LlamaServerTokenizer(model.tokenizer_url, http)
                if model.tokenizer_url
                else TiktokenTokenizer(model.wire_model)
            )

    def model(self, name: str) -> UpstreamModel:
        try:
            return self._models[name]
        except KeyError:
            raise ValueError(f"upstream model is {name!r}, wanted one of {sorted(self._models)}") from None

    def tokenizer(self, name: str) -> Tokenizer:
        self.model(name)
        return self._tokenizers[name]

    async def estimate_prompt_tokens(self, name: str, request: ChatRequest) -> int:
        """Prompt tokens for the reservation, before the call.

        Exact with the model's own tokenizer (llama-server renders the template and tokenizes);
        otherwise the tiktoken estimate plus the model's margin and overhead.
        """
        model = self.model(name)
        tokenizer = self._tokenizers[name]
        counted = await tokenizer.count_prompt(request.messages)
        if isinstance(tokenizer, LlamaServerTokenizer):
            return counted
        return _ceil_percent(counted, 100 + model.estimate_margin_percent) + model.estimate_overhead_tokens

    def max_output_tokens(self, name: str, request: ChatRequest) -> int:
        """The output tokens a call may produce: its ``max_tokens`` or the model's default."""
        model = self.model(name)
        return request.max_tokens if request.max_tokens is not None else model.max_output_tokens

    async def aclose(self) -> None:
        for client in self._clients.values():
            await client.close()
        for http in self._http:
            await http.aclose()

    async def __aenter__(self) -> UpstreamClient:
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.aclose()

    def _max_tokens(self, model: UpstreamModel, request: ChatRequest, cap: int | None) -> int:
        wanted = request.max_tokens if request.max_tokens is not None else model.max_output_tokens
        limit = min(wanted, cap) if cap is not None else wanted
        if limit < 1:
            # max_tokens=0 means "no limit" to some servers: never send it. The meter's reservation
            # covers at least one output token, so this is a caller bug.
            raise ValueError(f"max output tokens is {limit}, wanted >= 1 (reserve before calling)")
        return limit

    async def complete(
        self, name: str, request: ChatRequest, *, max_completion_tokens: int | None = None
    ) -> CompletionResult:
        """A non-streamed completion. Raises ``UpstreamError``/``UpstreamTimeout`` on any fault."""
        model = self.model(name)
        started = time.monotonic()
        try:
            async with asyncio.timeout(model.total_timeout):
                # The SDK's low-level post: same retries, timeouts and error classes as
                # chat.completions.create, without its per-call TypedDict transform of the
                # messages (about a fifth of the gateway's CPU per call, bench_gateway.py).
                body: dict[str, object] = {
                    "model": model.wire_model,
                    "messages": _wire_messages(request),
                    "max_tokens": self._max_tokens(model, request, max_completion_tokens),
                    "stream": False,
                }
                completion = await self._clients[name].post(
                    "/chat/completions", cast_to=ChatCompletion, body=body | dict(request.params)
                )
        except TimeoutError as exc:
            raise UpstreamTimeout(
                f"upstream {model.name}: completion exceeded its total timeout {model.total_timeout}s"
            ) from exc
        except openai.OpenAIError as exc:
            raise _fault(model, exc, "completion") from exc
        return await self._with_usage(model, request, completion, started)

    async def _with_usage(
        self, model: UpstreamModel, request: ChatRequest, completion: ChatCompletion, started: float
    ) -> CompletionResult:
        """The completion and its usage: the upstream's, else counted by the model's tokenizer
        (marked estimated). ``started``: ``time.monotonic()`` when the call began, for the log."""
        usage = _usage_from(completion.usage)
        if usage is None:
            tokenizer = self._tokenizers[model.name]
            text = "".join(choice.message.content or "" for choice in completion.choices)
            usage = Usage(
                prompt_tokens=await tokenizer.count_prompt(request.messages),
                completion_tokens=await tokenizer.count_text(text),
                estimated=True,
            )
        log.debug(
            "upstream_completion_done",
            model=model.name,
            prompt_tokens=usage.prompt_tokens,
            completion_tokens=usage.completion_tokens,
            estimated=usage.estimated,
            ms=round((time.monotonic() - started) * 1000, 2),
        )
        return CompletionResult(completion=completion, usage=usage)

    async def stream(
        self, name: str, request: ChatRequest, *, max_completion_tokens: int | None = None
    ) -> ChatStream:
        """Open a streamed completion (with ``include_usage``). Raises if nothing can be delivered.

        ``max_completion_tokens`` is the budget from the meter: sent upstream as ``max_tokens``
        and enforced on the stream as well.
        """
        model = self.model(name)
        started = time.monotonic()
        deadline = asyncio.get_running_loop().time() + model.total_timeout
        try:
            async with asyncio.timeout_at(deadline):
                source = await self._clients[name].chat.completions.create(
                    model=model.wire_model,
                    messages=_wire_messages(request),
                    max_tokens=self._max_tokens(model, request, max_completion_tokens),
                    stream=True,
                    stream_options={"include_usage": True},
                    extra_body=dict(request.params) or None,
                )
        except TimeoutError as exc:
            raise UpstreamTimeout(
                f"upstream {model.name}: stream did not start within its total timeout {model.total_timeout}s"
            ) from exc
        except openai.OpenAIError as exc:
            raise _fault(model, exc, "stream") from exc
        return ChatStream(
            model=model,
            request=request,
            source=source,
            tokenizer=self._tokenizers[name],
            max_completion_tokens=max_completion_tokens,
            deadline=deadline,
            started=started,
        )
