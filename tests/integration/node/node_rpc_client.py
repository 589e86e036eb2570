"""Tiny JSON-RPC clients for node tests: one WebSocket connection, one HTTP POST.

A module of its own (not conftest.py) so that test files import it by a unique name; several
test folders have a conftest.py, and ``from conftest import`` picks whichever was imported first.
"""

from __future__ import annotations

import itertools
import json
import time
from typing import Any

import httpx
from websockets.sync.client import ClientConnection, connect


class WsClient:
    """A minimal JSON-RPC client over one WebSocket; keeps notifications by subscription id."""

    def __init__(self, url: str) -> None:
        self.ws: ClientConnection = connect(url, max_size=None, open_timeout=10, legacy=True)
        self._ids = itertools.count(1)
        self.notes: dict[str, list[Any]] = {}

    def raw(self, text: str, timeout: float = 10.0) -> Any:
        self.ws.send(text)
        return self._recv_response(timeout)

    def _recv_response(self, timeout: float) -> Any:
        deadline = time.monotonic() + timeout
        while True:
            msg = json.loads(self.ws.recv(timeout=max(0.01, deadline - time.monotonic())))
            if isinstance(msg, dict) and msg.get("method") and "params" in msg and "id" not in msg:
                params = msg["params"]
                self.notes.setdefault(params["subscription"], []).append(params["result"])
                continue
            return msg

    def call(self, method: str, params: list[Any] | None = None) -> Any:
        req_id = next(self._ids)
        msg = {"jsonrpc": "2.0", "id": req_id, "method": method, "params": params or []}
        self.ws.send(json.dumps(msg))
        resp = self._recv_response(10.0)
        assert resp.get("id") == req_id, resp
        return resp

    def result(self, method: str, params: list[Any] | None = None) -> Any:
        resp = self.call(method, params)
        assert "error" not in resp, resp
        return resp["result"]

    def wait_notes(self, sub_id: str, count: int, timeout: float = 10.0) -> list[Any]:
        deadline = time.monotonic() + timeout
        while len(self.notes.get(sub_id, [])) < count:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"{sub_id}: got {self.notes.get(sub_id)}")
            msg = json.loads(self.ws.recv(timeout=remaining))
            if isinstance(msg, dict) and "params" in msg and "id" not in msg:
                params = msg["params"]
                self.notes.setdefault(params["subscription"], []).append(params["result"])
        return self.notes[sub_id]

    def close(self) -> None:
        self.ws.close()


def http_call(url: str, method: str, params: list[Any] | None = None) -> Any:
    resp = httpx.post(url, json={"jsonrpc": "2.0", "id": 1, "method": method, "params": params or []})
    assert resp.status_code == 200, resp.text
    return resp.json()
