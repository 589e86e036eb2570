"""An in-process stand-in for a node's websocket (``SubstrateInterface(websocket=...)``).

Any object with ``send``/``recv``/``close`` will do (notes/substrate.md 1.5.3). Replies are
scripted per method; ``recv`` on an empty inbox raises websocket-client's timeout exception,
exactly what a real socket with a receive timeout does when the node stays silent.
"""

from __future__ import annotations

import json
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from websocket import WebSocketTimeoutException


@dataclass
class Reply:
    """A scripted answer: a result or an error, then notifications for a subscription."""

    result: Any = None
    error: dict[str, Any] | None = None
    notifications: list[Any] = field(default_factory=list)
    notification_method: str = "author_extrinsicUpdate"


class FakeWebSocket:
    def __init__(self, script: dict[str, Callable[[list[Any]], Reply]] | None = None) -> None:
        # substrate-interface asks system_chain at construction to pick a type-registry preset.
        self.script: dict[str, Callable[[list[Any]], Reply]] = {
            "system_chain": lambda _p: Reply("Development")
        }
        self.script.update(script or {})
        self.sent: list[dict[str, Any]] = []
        self.inbox: deque[str] = deque()
        self.timeouts: list[float | None] = []
        self._timeout: float | None = 30.0
        self.closed = False
        self.endless: Callable[[], Any] | None = None  # produce notifications forever

    # websocket-client's surface used by substrate-interface and our watcher
    def send(self, text: str) -> None:
        message = json.loads(text)
        self.sent.append(message)
        method = message["method"]
        handler = self.script.get(method)
        if handler is None:
            reply = Reply(error={"code": -32601, "message": f"Method not found: {method}"})
        else:
            reply = handler(message["params"])
        if reply.error is not None:
            self.inbox.append(json.dumps({"jsonrpc": "2.0", "id": message["id"], "error": reply.error}))
            return
        self.inbox.append(json.dumps({"jsonrpc": "2.0", "id": message["id"], "result": reply.result}))
        for item in reply.notifications:
            self.push(reply.result, item, reply.notification_method)

    def push(self, subscription: Any, result: Any, method: str = "author_extrinsicUpdate") -> None:
        self.inbox.append(
            json.dumps(
                {
                    "jsonrpc": "2.0",
                    "method": method,
                    "params": {"subscription": subscription, "result": result},
                }
            )
        )

    def recv(self) -> str:
        if not self.inbox and self.endless is not None:
            return json.dumps(self.endless())
        if not self.inbox:
            raise WebSocketTimeoutException("fake: nothing to receive")
        return self.inbox.popleft()

    def settimeout(self, value: float | None) -> None:
        self.timeouts.append(value)
        self._timeout = value

    def gettimeout(self) -> float | None:
        return self._timeout

    def close(self) -> None:
        self.closed = True

    def methods(self) -> list[str]:
        return [m["method"] for m in self.sent]
