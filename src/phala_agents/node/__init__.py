"""The dev chain node: block authoring, transaction pool, SQLite persistence, JSON-RPC over
WebSocket and HTTP on one port. See docs/node.md."""

from phala_agents.node._blocks import Header
from phala_agents.node._chain import Chain, ChainBackend, ChainError
from phala_agents.node._node import DevNode, NodeConfig, NodeThread, default_base_path
from phala_agents.node._pool import PoolTransaction, TransactionPool
from phala_agents.node._server import RpcServer, ServerLimits

__all__ = [
    "Chain",
    "ChainBackend",
    "ChainError",
    "DevNode",
    "Header",
    "NodeConfig",
    "NodeThread",
    "PoolTransaction",
    "RpcServer",
    "ServerLimits",
    "TransactionPool",
    "default_base_path",
]
