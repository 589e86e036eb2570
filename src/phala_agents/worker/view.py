"""What the HTTP front knows of the chain: agents, access lists, the head, callers' escrow.

``ChainView`` is the seam between the server and the chain. ``ChainSync`` (``worker/sync.py``)
fills one from a node; ``StaticChainView`` is an in-memory one for tests and benchmarks.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal, Protocol, TypeAlias

from phala_agents.client import SealedBlob
from phala_agents.worker.meter import GasMeter, Prices

__all__ = [
    "AccessKind",
    "AgentRecord",
    "AgentStatus",
    "ChainView",
    "StaticChainView",
]

AccessKind: TypeAlias = Literal["Public", "AllowList"]
AgentStatus: TypeAlias = Literal["Active", "Paused", "Retired"]


@dataclass(frozen=True, slots=True, kw_only=True)
class AgentRecord:
    """An ``AgentRegistry.Agents`` entry as the worker uses it."""

    agent_id: int
    owner: bytes
    name: str
    model: str
    prompt: SealedBlob
    prices: Prices
    temperature_milli: int
    max_tokens: int
    access: AccessKind
    status: AgentStatus
    version: int


class ChainView(Protocol):
    """The chain state a call is checked against (all reads are of the synced, finalized state)."""

    @property
    def genesis(self) -> bytes: ...

    @property
    def head(self) -> int: ...

    def agent(self, agent_id: int) -> AgentRecord | None: ...

    def agents(self) -> Iterable[AgentRecord]: ...

    def allowed(self, agent_id: int, caller: bytes) -> bool: ...

    def caller_known(self, caller: bytes) -> bool:
        """True once ``load_caller`` ran for ``caller`` (its escrow is in the meter)."""
        ...

    def load_caller(self, caller: bytes) -> None:
        """Blocking: put the caller's escrow into the meter and learn its used nonces."""
        ...

    def nonce_used(self, caller: bytes, nonce: int) -> bool: ...


class StaticChainView:
    """An in-memory ``ChainView``: agents, grants, escrows and the head are set by hand."""

    def __init__(self, *, genesis: bytes, meter: GasMeter, head: int = 1) -> None:
        self._genesis = genesis
        self._meter = meter
        self._head = head
        self._lock = threading.Lock()
        self._agents: dict[int, AgentRecord] = {}
        self._access: set[tuple[int, bytes]] = set()
        self._escrow: dict[bytes, int] = {}
        self._known: set[bytes] = set()
        self._used: set[tuple[bytes, int]] = set()

    @property
    def genesis(self) -> bytes:
        return self._genesis

    @property
    def head(self) -> int:
        return self._head

    def set_head(self, head: int) -> None:
        self._head = head

    def put_agent(self, record: AgentRecord) -> None:
        with self._lock:
            self._agents[record.agent_id] = record

    def grant(self, agent_id: int, who: bytes) -> None:
        with self._lock:
            self._access.add((agent_id, who))

    def set_escrow(self, caller: bytes, amount: int) -> None:
        with self._lock:
            self._escrow[caller] = amount
            if caller in self._known:
                self._meter.set_escrow(caller, amount)

    def mark_nonce_used(self, caller: bytes, nonce: int) -> None:
        with self._lock:
            self._used.add((caller, nonce))

    def agent(self, agent_id: int) -> AgentRecord | None:
        return self._agents.get(agent_id)

    def agents(self) -> Iterable[AgentRecord]:
        return list(self._agents.values())

    def allowed(self, agent_id: int, caller: bytes) -> bool:
        return (agent_id, caller) in self._access

    def caller_known(self, caller: bytes) -> bool:
        return caller in self._known

    def load_caller(self, caller: bytes) -> None:
        with self._lock:
            if caller not in self._known:
                self._meter.set_escrow(caller, self._escrow.get(caller, 0))
                self._known.add(caller)

    def nonce_used(self, caller: bytes, nonce: int) -> bool:
        return (caller, nonce) in self._used
