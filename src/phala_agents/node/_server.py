"""One TCP port that speaks HTTP/1.1 (JSON-RPC over POST) and WebSocket (after an upgrade).

A small asyncio protocol instead of a web framework: the node needs exact control over limits
(jsonrpsee's answers: HTTP 413 / WS error -32007 "Request is too big" for oversized requests,
HTTP 429 "Too many connections. Please try again later." past ``--rpc-max-connections``) and as
little per-message overhead as possible. WebSocket framing uses the sans-I/O protocol of the
``websockets`` package (with its C masking speedups); the handshake is RFC 6455 section 4.2.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
from collections.abc import Callable
from dataclasses import dataclass

import structlog
from websockets.frames import Frame, Opcode
from websockets.protocol import Protocol, Side, State

from phala_agents.node._jsonrpc import Dispatcher, dumps, oversized_response

_log = structlog.get_logger("phala_agents.node")

_WS_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
_MAX_HEAD = 64 * 1024
_MAX_WRITE_BUFFER = 256 * 1024 * 1024  # a client that stops reading is cut off past this
_REASONS = {
    200: "OK",
    101: "Switching Protocols",
    400: "Bad Request",
    403: "Forbidden",
    405: "Method Not Allowed",
    411: "Length Required",
    413: "Payload Too Large",
    415: "Unsupported Media Type",
    429: "Too Many Requests",
    431: "Request Header Fields Too Large",
}


@dataclass(frozen=True, slots=True, kw_only=True)
class ServerLimits:
    max_connections: int = 100
    max_request_size: int = 15 * 1024 * 1024  # bytes, like Substrate's --rpc-max-request-size 15


class RpcServer:
    """Serves a ``Dispatcher`` on one host/port for HTTP and WebSocket clients."""

    def __init__(
        self,
        dispatcher: Dispatcher,
        limits: ServerLimits,
        *,
        health: Callable[[], object] | None = None,
    ) -> None:
        self.dispatcher = dispatcher
        self.limits = limits
        self.health = health
        self.active: set[_Connection] = set()
        self._server: asyncio.Server | None = None
        self.port = 0

    async def start(self, host: str, port: int) -> int:
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            lambda: _Connection(self), host, port, reuse_address=True, backlog=1024
        )
        self.port = int(self._server.sockets[0].getsockname()[1])
        return self.port

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
        for conn in list(self.active):
            conn.abort()
        if self._server is not None:
            await self._server.wait_closed()


class _Connection(asyncio.Protocol):
    __slots__ = (
        "_buf",
        "_closed",
        "_fragments",
        "_rejected",
        "_server",
        "_transport",
        "_ws",
        "subscriptions",
    )

    def __init__(self, server: RpcServer) -> None:
        self._server = server
        self._transport: asyncio.Transport | None = None
        self._buf = bytearray()
        self._ws: Protocol | None = None
        self._fragments: list[bytes] | None = None
        self._closed = False
        self._rejected = False
        self.subscriptions: dict[str, Callable[[], None]] = {}

    # --- Connection protocol (what the RPC layer sees) ------------------------------------------

    @property
    def is_websocket(self) -> bool:
        return self._ws is not None

    @property
    def closed(self) -> bool:
        return self._closed

    def send_text(self, text: str) -> None:
        ws = self._ws
        if ws is None or self._closed or ws.state is not State.OPEN:
            return
        ws.send_text(text.encode())
        self._flush_ws()

    # --- asyncio callbacks -------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport
        if len(self._server.active) >= self._server.limits.max_connections:
            self._rejected = True  # answered with 429 once the request head arrives
        else:
            self._server.active.add(self)

    def connection_lost(self, exc: Exception | None) -> None:
        del exc
        self._closed = True
        self._server.active.discard(self)
        subs, self.subscriptions = self.subscriptions, {}
        for cancel in subs.values():
            cancel()

    def data_received(self, data: bytes) -> None:
        if self._ws is not None:
            self._ws_received(data)
            return
        self._buf += data
        self._http_process()

    def eof_received(self) -> bool | None:
        if self._ws is not None:
            self._ws.receive_eof()
            self._flush_ws()
        return None

    def abort(self) -> None:
        if self._transport is not None:
            self._transport.abort()

    # --- HTTP ------------------------------------------------------------------------------------

    def _http_process(self) -> None:
        while not self._closed and self._ws is None:
            end = self._buf.find(b"\r\n\r\n")
            if end < 0:
                if len(self._buf) > _MAX_HEAD:
                    self._http_respond(431, b"", close=True)
                return
            head = bytes(self._buf[:end]).decode("latin-1")
            lines = head.split("\r\n")
            parts = lines[0].split(" ")
            if len(parts) != 3:
                self._http_respond(400, b"", close=True)
                return
            method, _target, version = parts
            headers: dict[str, str] = {}
            for line in lines[1:]:
                name, sep, value = line.partition(":")
                if sep:
                    headers[name.strip().lower()] = value.strip()
            if self._rejected:
                self._http_respond(
                    429,
                    b"Too many connections. Please try again later.",
                    close=True,
                    content_type="text/plain",
                )
                return
            keep_alive = version == "HTTP/1.1" and headers.get("connection", "").lower() != "close"
            if method == "GET" and headers.get("upgrade", "").lower() == "websocket":
                del self._buf[: end + 4]
                self._ws_handshake(headers)
                return
            if method == "OPTIONS":
                del self._buf[: end + 4]
                self._http_respond(200, b"", close=not keep_alive, extra=_CORS_PREFLIGHT)
                continue
            if method == "GET":
                del self._buf[: end + 4]
                if _target.split("?")[0] in ("/health", "/health/readiness") and self._server.health:
                    self._http_respond(200, dumps(self._server.health()).encode(), close=not keep_alive)
                else:
                    self._http_respond(
                        405,
                        b"Used HTTP Method is not allowed. POST or OPTIONS is required\n",
                        close=not keep_alive,
                        content_type="text/plain",
                    )
                continue
            if method != "POST":
                self._http_respond(
                    405,
                    b"Used HTTP Method is not allowed. POST or OPTIONS is required\n",
                    close=True,
                    content_type="text/plain",
                )
                return
            length_text = headers.get("content-length")
            if length_text is None or not length_text.isdigit():
                self._http_respond(411, b"", close=True)
                return
            length = int(length_text)
            limit = self._server.limits.max_request_size
            if length > limit:
                self._http_respond(413, oversized_response(limit).encode(), close=True)
                return
            if len(self._buf) < end + 4 + length:
                if headers.get("expect", "").lower() == "100-continue" and len(self._buf) == end + 4:
                    assert self._transport is not None
                    self._transport.write(b"HTTP/1.1 100 Continue\r\n\r\n")
                return  # wait for the rest of the body
            body = bytes(self._buf[end + 4 : end + 4 + length])
            del self._buf[: end + 4 + length]
            content_type = headers.get("content-type", "").split(";")[0].strip().lower()
            if content_type != "application/json":
                self._http_respond(
                    415,
                    b"Supplied content type is not allowed. Content-Type: application/json is required\n",
                    close=not keep_alive,
                    content_type="text/plain",
                )
                continue
            response, after = self._server.dispatcher.handle(self, body)
            self._http_respond(200, b"" if response is None else response.encode(), close=not keep_alive)
            for job in after:
                job()

    def _http_respond(
        self,
        status: int,
        body: bytes,
        *,
        close: bool,
        content_type: str = "application/json; charset=utf-8",
        extra: tuple[tuple[str, str], ...] = (),
    ) -> None:
        transport = self._transport
        if transport is None or self._closed:
            return
        lines = [
            f"HTTP/1.1 {status} {_REASONS.get(status, 'Error')}",
            f"content-type: {content_type}",
            f"content-length: {len(body)}",
            "access-control-allow-origin: *",
        ]
        lines.extend(f"{k}: {v}" for k, v in extra)
        if close:
            lines.append("connection: close")
        transport.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body)
        if close:
            self._closed = True
            transport.close()

    # --- WebSocket -------------------------------------------------------------------------------

    def _ws_handshake(self, headers: dict[str, str]) -> None:
        key = headers.get("sec-websocket-key", "")
        if headers.get("sec-websocket-version") != "13" or not key:
            self._http_respond(400, b"", close=True)
            return
        accept = base64.b64encode(hashlib.sha1(key.encode() + _WS_GUID).digest()).decode()  # noqa: S324 - RFC 6455
        response = (
            "HTTP/1.1 101 Switching Protocols\r\n"
            "upgrade: websocket\r\n"
            "connection: Upgrade\r\n"
            f"sec-websocket-accept: {accept}\r\n\r\n"
        )
        assert self._transport is not None
        self._transport.write(response.encode("latin-1"))
        # Frames up to 4x the request limit are read and answered with -32007; bigger ones close
        # the connection (1009) instead of being buffered.
        limit = self._server.limits.max_request_size
        self._ws = Protocol(Side.SERVER, state=State.OPEN, max_size=max(limit * 4, limit + (1 << 20)))
        if self._buf:
            data = bytes(self._buf)
            self._buf.clear()
            self._ws_received(data)

    def _ws_received(self, data: bytes) -> None:
        ws = self._ws
        assert ws is not None
        ws.receive_data(data)
        dispatcher = self._server.dispatcher
        limit = self._server.limits.max_request_size
        for frame in ws.events_received():
            if not isinstance(frame, Frame):
                continue
            opcode = frame.opcode
            if opcode is Opcode.TEXT or opcode is Opcode.BINARY:
                if not frame.fin:
                    self._fragments = [bytes(frame.data)]
                    continue
                message = bytes(frame.data)
            elif opcode is Opcode.CONT:
                if self._fragments is None:
                    continue
                self._fragments.append(bytes(frame.data))
                if not frame.fin:
                    continue
                message = b"".join(self._fragments)
                self._fragments = None
            else:
                continue  # ping/pong/close: handled by the protocol
            if len(message) > limit:
                ws.send_text(oversized_response(limit).encode())
                continue
            response, after = dispatcher.handle(self, message)
            if response is not None and ws.state is State.OPEN:
                ws.send_text(response.encode())
            for job in after:
                job()
        self._flush_ws()

    def _flush_ws(self) -> None:
        ws = self._ws
        transport = self._transport
        if ws is None or transport is None:
            return
        for chunk in ws.data_to_send():
            if chunk:
                transport.write(chunk)
            else:
                self._closed = True
                transport.close()
                return
        if ws.state is State.CLOSED and not self._closed:
            self._closed = True
            transport.close()
        elif transport.get_write_buffer_size() > _MAX_WRITE_BUFFER:
            _log.warning("rpc_slow_client_dropped", buffered=transport.get_write_buffer_size())
            self._closed = True
            transport.abort()


_CORS_PREFLIGHT = (
    ("access-control-allow-methods", "POST, OPTIONS"),
    ("access-control-allow-headers", "content-type"),
)
