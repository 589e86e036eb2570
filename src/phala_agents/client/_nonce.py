"""Per-account nonces that stay right for back-to-back submissions.

substrate-interface asks ``AccountNonceApi_account_nonce`` (through ``state_call``) when it can,
which reads state only and ignores transactions still in the pool; signing a second extrinsic
before the first is included then reuses its nonce (notes/substrate.md 1.5.2). We ask
``system_accountNextIndex`` instead, which counts the pool, and also keep our own next nonce per
account, handing out ``max(node, local)``: the local counter covers a node whose pool view lags
behind our submissions, the node's answer covers transactions sent by someone else.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

import structlog

_log = structlog.get_logger()


class NonceManager:
    """Hands out nonces per SS58 address; thread-safe."""

    __slots__ = ("_fetch", "_lock", "_next")

    def __init__(self, fetch: Callable[[str], int]) -> None:
        # fetch(address) -> the node's pool-aware next nonce (system_accountNextIndex).
        self._fetch = fetch
        self._lock = threading.Lock()
        self._next: dict[str, int] = {}

    def next(self, address: str) -> int:
        """Reserve and return the nonce for the next extrinsic of ``address``."""
        with self._lock:
            from_node = self._fetch(address)
            local = self._next.get(address, 0)
            nonce = max(from_node, local)
            self._next[address] = nonce + 1
            _log.debug("nonce_reserved", address=address, nonce=nonce, node=from_node, local=local)
            return nonce

    def release(self, address: str, nonce: int) -> None:
        """Give back a nonce whose extrinsic never reached the pool (e.g. an RPC error).

        Only the most recent reservation can be given back; an older one leaves a gap that the
        node's count closes once later transactions are dropped or ``reset`` is called.
        """
        with self._lock:
            if self._next.get(address) == nonce + 1:
                self._next[address] = nonce

    def reset(self, address: str | None = None) -> None:
        """Forget the local count (after an invalid / stale / future rejection) for one or all."""
        with self._lock:
            if address is None:
                self._next.clear()
            else:
                self._next.pop(address, None)

    def peek(self, address: str) -> int | None:
        """The local next nonce, if one was handed out."""
        with self._lock:
            return self._next.get(address)

    def __repr__(self) -> str:
        return f"NonceManager(accounts={len(self._next)})"
