"""Fixtures for node tests over real sockets: a node in a thread, tiny WS/HTTP JSON-RPC clients."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from _stub_runtime import stub_backend
from node_rpc_client import WsClient

from phala_agents.node import NodeConfig, NodeThread


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
