"""A lean non-streaming upstream path: HTTP/1.1 keep-alive on asyncio streams, no SDK layers.

``bench/bench_gateway.py`` measured the openai SDK + httpx2 request path at about 1.3 ms of a
2.1 ms gateway call (the SDK's request building and TypedDict transform, httpcore's pool scan per
request), against 0.05 ms for the upstream itself. ``FastUpstreamClient`` keeps everything of
``UpstreamClient`` (streams, tokenizers, estimates still go through the SDK) and sends only the
non-streamed ``complete`` over a small pool of keep-alive connections per model:

- the body is exactly what ``UpstreamClient.complete`` sends (model, messages, max_tokens,
  stream false, then the pass-through params);
- the answer is validated into the SDK's ``ChatCompletion`` type (pydantic, as the SDK does);
- faults keep the same typed errors and messages: HTTP status >= 400 -> ``UpstreamError`` naming
  the status (the body is never copied: it may echo the prompt), no answer within the read
  timeout -> ``UpstreamTimeout``, connection failures -> ``UpstreamError``; a pooled connection
  the server closed while idle is retried once on a fresh one (nothing was delivered).
"""

from __future__ import annotations

import asyncio
import json
import ssl
import time
from urllib.parse import urlsplit

import structlog
from openai.types.chat import ChatCompletion

from phala_agents.errors import UpstreamError, UpstreamTimeout
from phala_agents.worker.upstream import (
    ChatRequest,
    CompletionResult,
    UpstreamClient,
    UpstreamModel,
    _wire_messages,
)

__all__ = ["FastUpstreamClient"]

log = structlog.get_logger(__name__)

_MAX_HEADER_LINES = 100


class _Stale(Exception):
    """A pooled connection was closed by the server before answering: retry on a new one."""


class _Pool:
    def __init__(self, model: UpstreamModel) -> None:
        parts = urlsplit(model.base_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(
                f"upstream {model.name} base_url: found {model.base_url!r}, wanted http(s)://host[:port]/path"
            )
        self.model = model
        self.host = parts.hostname
        self.tls = parts.scheme == "https"
        self.port = parts.port or (443 if self.tls else 80)
        self.path = parts.path.rstrip("/") + "/chat/completions"
        authority = self.host if parts.port is None else f"{self.host}:{self.port}"
        head = [f"POST {self.path} HTTP/1.1", f"host: {authority}", "content-type: application/json"]
        key = model.api_key.reveal()
        if key:
            head.append(f"authorization: Bearer {key}")
        self._head = ("\r\n".join(head) + "\r\ncontent-length: ").encode()
        self._idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []
        self._ssl = ssl.create_default_context() if self.tls else None

    async def _open(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        async with asyncio.timeout(self.model.connect_timeout):
            return await asyncio.open_connection(self.host, self.port, ssl=self._ssl)

    async def post(self, body: bytes) -> tuple[int, bytes]:
        request = self._head + str(len(body)).encode() + b"\r\n\r\n" + body
        for _attempt in range(2):
            pooled = bool(self._idle)
            reader, writer = self._idle.pop() if pooled else await self._open()
            try:
                status, payload, keep = await self._exchange(reader, writer, request, pooled=pooled)
            except _Stale:
                writer.close()
                continue
            except BaseException:
                writer.close()
                raise
            if keep and len(self._idle) < self.model.max_connections:
                self._idle.append((reader, writer))
            else:
                writer.close()
            return status, payload
        raise ConnectionError("pooled connections closed twice")

    async def _exchange(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, request: bytes, *, pooled: bool
    ) -> tuple[int, bytes, bool]:
        async with asyncio.timeout(self.model.read_timeout):
            try:
                writer.write(request)
                status_line = await reader.readline()
            except (ConnectionResetError, BrokenPipeError):
                if pooled:
                    raise _Stale from None
                raise
            if not status_line:
                if pooled:
                    raise _Stale
                raise ConnectionError("closed before answering")
            status = int(status_line.split()[1])
            length, chunked, keep = -1, False, True
            for _ in range(_MAX_HEADER_LINES):
                line = await reader.readline()
                if line in (b"\r\n", b"\n", b""):
                    break
                lower = line.lower()
                if lower.startswith(b"content-length:"):
                    length = int(line[15:])
                elif lower.startswith(b"transfer-encoding:") and b"chunked" in lower:
                    chunked = True
                elif lower.startswith(b"connection:") and b"close" in lower:
                    keep = False
            if chunked:
                parts = []
                while True:
                    size = int((await reader.readline()).split(b";")[0].strip(), 16)
                    if size == 0:
                        await reader.readline()
                        break
                    parts.append(await reader.readexactly(size))
                    await reader.readline()
                return status, b"".join(parts), keep
            if length < 0:
                return status, await reader.read(), False
            return status, await reader.readexactly(length), keep

    def close(self) -> None:
        for _reader, writer in self._idle:
            writer.close()
        self._idle.clear()


class FastUpstreamClient(UpstreamClient):
    """``UpstreamClient`` with the lean non-streamed ``complete`` described in the module doc."""

    def __init__(self, models: list[UpstreamModel] | tuple[UpstreamModel, ...]) -> None:
        super().__init__(models)
        self._pools = {m.name: _Pool(m) for m in models}

    async def aclose(self) -> None:
        for pool in self._pools.values():
            pool.close()
        await super().aclose()

    async def complete(
        self, name: str, request: ChatRequest, *, max_completion_tokens: int | None = None
    ) -> CompletionResult:
        model = self.model(name)
        pool = self._pools[name]
        started = time.monotonic()
        body: dict[str, object] = {
            "model": model.wire_model,
            "messages": _wire_messages(request),
            "max_tokens": self._max_tokens(model, request, max_completion_tokens),
            "stream": False,
        }
        payload = json.dumps(body | dict(request.params), separators=(",", ":")).encode()
        try:
            async with asyncio.timeout(model.total_timeout):
                status, answer = await pool.post(payload)
        except TimeoutError as exc:
            raise UpstreamTimeout(
                f"upstream {model.name}: completion timed out (read timeout {model.read_timeout}s)"
            ) from exc
        except (OSError, ConnectionError, asyncio.IncompleteReadError, ValueError, IndexError) as exc:
            raise UpstreamError(
                f"upstream {model.name}: completion connection failed ({type(exc).__name__})"
            ) from exc
        if status >= 400:
            raise UpstreamError(f"upstream {model.name}: completion got HTTP status {status}, wanted 200")
        try:
            completion = ChatCompletion.model_validate_json(answer)
        except ValueError as exc:
            raise UpstreamError(f"upstream {model.name}: completion answer is not a chat completion") from exc
        return await self._with_usage(model, request, completion, started)
