"""Fixtures for node tests over real sockets: a node in a thread, tiny WS/HTTP JSON-RPC clients."""

from __future__ import annotations

import itertools
import json
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.sync.client import ClientConnection, connect

sys.path.insert(0, str(Path(__file__).parent))

from _stub_runtime import stub_backend

from phala_agents.node import NodeConfig, NodeThread


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


@pytest.fixture
def stub_node(tmp_path: Path) -> Iterator[NodeThread]:
    thread = NodeThread(NodeConfig(base_path=tmp_path / "db", rpc_port=0), stub_backend()).start()
    try:
        yield thread
    finally:
        thread.stop()


@pytest.fixture
def ws(stub_node: NodeThread) -> Iterator[WsClient]:
    client = WsClient(stub_node.url)
    try:
        yield client
    finally:
        client.close()
