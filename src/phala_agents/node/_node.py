"""The dev node: chain + pool + RPC server on one asyncio loop (single-threaded by design).

Everything runs on the node's event loop thread, so the chain, the pool and the subscriptions
need no locks. Instant seal (the default) authors a block as soon as the pool has ready
transactions, taking every ready one (up to the block limits), so throughput grows with load;
``block_time_ms`` authors one block per period instead, empty or not. Each block is committed
to SQLite before anyone hears of it, and is final at once (a dev chain has one authority).
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

import structlog

from phala_agents.chain._interface import TransactionSource, ValidTransaction
from phala_agents.errors import DecodeError, InvalidTransaction, RpcError, ScaleError, UnknownTransaction
from phala_agents.node._blocks import Header, to_hex
from phala_agents.node._chain import AuthoredBlock, Chain, ChainBackend, ChainError
from phala_agents.node._jsonrpc import Connection, Dispatcher, notify
from phala_agents.node._pool import POOL_INVALID_TX, POOL_UNKNOWN_VALIDITY, PoolTransaction, TransactionPool
from phala_agents.node._server import RpcServer, ServerLimits
from phala_agents.node._store import BlockStore
from phala_agents.scale import blake2_256, decode_compact

_log = structlog.get_logger("phala_agents.node")

# sp-runtime's InvalidTransaction -> &str (what Substrate puts in the 1010 error's data).
INVALID_TRANSACTION_TEXT = {
    "Call": "Transaction call is not expected",
    "Payment": "Inability to pay some fees (e.g. account balance too low)",
    "Future": "Transaction will be valid in the future",
    "Stale": "Transaction is outdated",
    "BadProof": "Transaction has a bad signature",
    "AncientBirthBlock": "Transaction has an ancient birth block",
    "ExhaustsResources": "Transaction would exhaust the block limits",
    "BadMandatory": "A call was labelled as mandatory, but resulted in an Error.",
    "MandatoryValidation": "Transaction dispatch is mandatory; transactions must not be validated.",
    "BadSigner": "Invalid signing address",
    "IndeterminateImplicit": "The implicit data was unable to be calculated",
    "UnknownOrigin": "The transaction extension did not authorize any origin",
}

FINALIZED_NOTIFY_DELAY = 0.1  # seconds between a watcher's "inBlock" and "finalized"
CLIENT_ERROR = 1040  # author RPC "other" errors (e.g. an undecodable extrinsic envelope)
VERIFICATION_ERROR = 1002


def default_base_path() -> Path:
    """``$XDG_DATA_HOME/phala-agents/dev`` (``~/.local/share/phala-agents/dev``)."""
    data_home = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(data_home) / "phala-agents" / "dev"


@dataclass(frozen=True, slots=True, kw_only=True)
class NodeConfig:
    """How to run the dev node. ``base_path`` None keeps the database in memory."""

    base_path: Path | None = None
    rpc_host: str = "127.0.0.1"
    rpc_port: int = 9944
    block_time_ms: int | None = None  # None: instant seal
    rpc_max_connections: int = 100
    rpc_max_request_size: int = 15 * 1024 * 1024  # bytes
    keep_tries: int = 256
    pool_ready_limit: int = 8192
    pool_future_limit: int = 512
    max_block_transactions: int = 4096
    revalidate_per_block: int = 64
    chain_name: str = "Development"
    node_name: str = "phala-agents"
    node_version: str = "0.0.0"


class DevNode:
    """A Substrate-compatible dev chain node. Start with ``await node.start()`` on a loop."""

    def __init__(self, config: NodeConfig, backend: ChainBackend | None = None) -> None:
        self.config = config
        self.backend = backend if backend is not None else ChainBackend.default()
        self.runtime = self.backend.runtime
        self.chain: Chain | None = None
        self.store: BlockStore | None = None
        self.pool = TransactionPool(
            listener=self._on_status,
            ready_limit=config.pool_ready_limit,
            future_limit=config.pool_future_limit,
        )
        self.dispatcher = Dispatcher()
        self.server = RpcServer(
            self.dispatcher,
            ServerLimits(
                max_connections=config.rpc_max_connections,
                max_request_size=config.rpc_max_request_size,
            ),
            health=self.health,
        )
        # subscriptions: kind -> {id: (conn, extra)}
        self.head_subs: dict[str, tuple[Connection, str]] = {}  # id -> (conn, notification method)
        self.finalized_subs: dict[str, tuple[Connection, str]] = {}
        self.storage_subs: dict[str, tuple[Connection, frozenset[bytes] | None]] = {}
        self.watchers: dict[bytes, dict[str, Connection]] = {}  # tx hash -> {sub id: conn}
        self._author_scheduled = False
        self._block_timer: asyncio.TimerHandle | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._revalidate_cursor = 0
        self.metadata_hex = ""
        self._lock: TextIO | None = None
        self.stopped = asyncio.Event()
        from phala_agents.node._rpc import install

        install(self)

    # --- lifecycle ---------------------------------------------------------------------------------

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        path = None
        if self.config.base_path is not None:
            self.config.base_path.mkdir(parents=True, exist_ok=True)
            self._lock_base_path(self.config.base_path)
            path = self.config.base_path / "chain.sqlite"
        try:
            self.store = BlockStore(path)
            self.chain = Chain(
                self.backend,
                self.store,
                keep_tries=self.config.keep_tries,
                max_block_transactions=self.config.max_block_transactions,
            )
            self.metadata_hex = to_hex(self.runtime.metadata())
            port = await self.server.start(self.config.rpc_host, self.config.rpc_port)
        except BaseException:
            self._release()
            raise
        if self.config.block_time_ms is not None:
            self._block_timer = self._loop.call_later(self.config.block_time_ms / 1000, self._timed_block)
        _log.info(
            "node_started",
            port=port,
            head=self.chain.head.number,
            seal="instant" if self.config.block_time_ms is None else f"{self.config.block_time_ms}ms",
        )

    async def stop(self) -> None:
        if self._block_timer is not None:
            self._block_timer.cancel()
        await self.server.stop()
        self._release()
        self.stopped.set()

    def _lock_base_path(self, base: Path) -> None:
        """One node per base path, like Substrate's database lock."""
        handle = (base / "LOCK").open("a+")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.close()
            raise ChainError(f"base path {base}: found another node using it, wanted it free") from None
        self._lock = handle

    def _release(self) -> None:
        if self.store is not None:
            self.store.close()
            self.store = None
        if self._lock is not None:
            self._lock.close()  # closing the file drops the flock
            self._lock = None
        _log.info("node_stopped")

    @property
    def port(self) -> int:
        return self.server.port

    @property
    def ws_url(self) -> str:
        return f"ws://{self.config.rpc_host}:{self.port}"

    @property
    def http_url(self) -> str:
        return f"http://{self.config.rpc_host}:{self.port}"

    def require_chain(self) -> Chain:
        if self.chain is None:
            raise RuntimeError("the node is not started")
        return self.chain

    def health(self) -> dict[str, object]:
        return {"peers": 0, "isSyncing": False, "shouldHavePeers": False}

    # --- transactions ------------------------------------------------------------------------------

    def submit(self, data: bytes) -> tuple[bytes, str]:
        """Validate and pool one encoded extrinsic; return its hash and "ready"/"future"."""
        chain = self.require_chain()
        try:
            length, offset = decode_compact(data, 0)
        except DecodeError as exc:
            raise RpcError(CLIENT_ERROR, f"Client error: {exc}") from None
        if offset + length > len(data):
            raise RpcError(CLIENT_ERROR, "Client error: Not enough data to fill buffer")
        data = data[: offset + length]  # like Decode::decode, trailing bytes are ignored
        tx_hash = blake2_256(data)
        self.pool.check_known(tx_hash)
        valid = self.validate(data, chain.head.hash)
        tx = PoolTransaction(
            hash=tx_hash,
            data=data,
            priority=valid.priority,
            requires=valid.requires,
            provides=valid.provides,
            valid_till=chain.head.number + valid.longevity,
        )
        status = self.pool.import_transaction(tx)
        if status == "ready":
            self.schedule_authoring()
        _log.debug("extrinsic_submitted", extrinsic_hash=tx_hash.hex(), status=status)
        return tx_hash, status

    def validate(self, data: bytes, at: bytes) -> ValidTransaction:
        chain = self.require_chain()
        state = chain.state_at(at)
        assert state is not None
        try:
            return self.runtime.validate_transaction(state, data, TransactionSource.EXTERNAL, at)
        except UnknownTransaction as exc:
            raise RpcError(POOL_UNKNOWN_VALIDITY, "Unknown Transaction Validity", exc.reason) from None
        except InvalidTransaction as exc:
            raise RpcError(POOL_INVALID_TX, "Invalid Transaction", invalid_text(exc.reason)) from None
        except ScaleError as exc:
            detail = (
                f"Execution failed: Runtime panicked: Bad input data provided to validate_transaction: {exc}"
            )
            raise RpcError(
                VERIFICATION_ERROR,
                f"Verification Error: Runtime error: {detail}",
                f'RuntimeApi("{detail}")',
            ) from None

    def next_index(self, account: bytes) -> int:
        """``system_accountNextIndex``: the chain's nonce, then every nonce the ready pool holds."""
        chain = self.require_chain()
        raw = self.runtime.call(chain.state, "AccountNonceApi_account_nonce", account)
        width = len(raw)
        nonce = int.from_bytes(raw, "little")
        while self.pool.provides_ready(account + nonce.to_bytes(width, "little")):
            nonce += 1
        return nonce

    # --- authoring ---------------------------------------------------------------------------------

    def schedule_authoring(self) -> None:
        if self.config.block_time_ms is not None or self._author_scheduled or self._loop is None:
            return
        self._author_scheduled = True
        self._loop.call_soon(self._instant_block)

    def _instant_block(self) -> None:
        self._author_scheduled = False
        if self.chain is None or self.pool.ready_count == 0:
            return
        self.author_block()
        if self.pool.ready_count:
            self.schedule_authoring()

    def _timed_block(self) -> None:
        assert self._loop is not None and self.config.block_time_ms is not None
        started = self._loop.time()
        if self.chain is not None:
            self.author_block()
        delay = max(0.0, self.config.block_time_ms / 1000 - (self._loop.time() - started))
        self._block_timer = self._loop.call_later(delay, self._timed_block)

    def author_block(self) -> AuthoredBlock:
        """Author, commit and announce one block with the best ready transactions."""
        chain = self.require_chain()
        started = time.perf_counter()
        candidates = [(t.hash, t.data) for t in self.pool.best(self.config.max_block_transactions)]
        block = chain.author_block(candidates)
        self.pool.prune_included(block.info.hash, block.included)
        if block.included:
            # The block is final now, but watchers hear "finalized" a moment after "inBlock":
            # @polkadot/api fetches a block's events on each status with switchMap, so a
            # "finalized" right behind "inBlock" would cancel the inBlock callback.
            assert self._loop is not None
            self._loop.call_later(
                FINALIZED_NOTIFY_DELAY, self.pool.finalized, block.info.hash, list(block.included)
            )
        if block.invalid:
            self.pool.remove_invalid([h for h, _ in block.invalid])
        self.pool.clear_stale(block.info.number)
        self._revalidate()
        self._announce(block)
        _log.info(
            "block_authored",
            number=block.info.number,
            block_hash=block.info.hash.hex(),
            extrinsics=len(block.extrinsics),
            ms=round((time.perf_counter() - started) * 1000, 2),
        )
        return block

    def _revalidate(self) -> None:
        """Re-check a bounded batch of pool transactions against the new head (round robin)."""
        limit = self.config.revalidate_per_block
        txs = self.pool.all_transactions()
        if not txs or limit <= 0:
            return
        start = self._revalidate_cursor % len(txs)
        batch = (txs[start:] + txs[:start])[:limit]
        self._revalidate_cursor = start + len(batch)
        chain = self.require_chain()
        invalid = []
        for tx in batch:
            try:
                self.runtime.validate_transaction(
                    chain.state, tx.data, TransactionSource.EXTERNAL, chain.head.hash
                )
            except (InvalidTransaction, ScaleError):
                invalid.append(tx.hash)
        if invalid:
            self.pool.remove_invalid(invalid)

    # --- notifications -------------------------------------------------------------------------

    def _announce(self, block: AuthoredBlock) -> None:
        header_json = block.info.header.to_json()
        for sub_id, (conn, method) in list(self.head_subs.items()):
            notify(conn, method, sub_id, header_json)
        for sub_id, (conn, method) in list(self.finalized_subs.items()):
            notify(conn, method, sub_id, header_json)
        if self.storage_subs and block.changes:
            for sub_id, (conn, keys) in list(self.storage_subs.items()):
                if keys is None:
                    changed = sorted(block.changes.items())
                else:
                    changed = sorted((k, v) for k, v in block.changes.items() if k in keys)
                if changed:
                    notify(
                        conn,
                        "state_storage",
                        sub_id,
                        {
                            "block": to_hex(block.info.hash),
                            "changes": [[to_hex(k), None if v is None else to_hex(v)] for k, v in changed],
                        },
                    )

    def _on_status(self, tx_hash: bytes, status: object) -> None:
        watchers = self.watchers.get(tx_hash)
        if not watchers:
            return
        final = not (status in ("ready", "future") or (isinstance(status, dict) and "inBlock" in status))
        for sub_id, conn in list(watchers.items()):
            notify(conn, "author_extrinsicUpdate", sub_id, status)
            if final:
                conn.subscriptions.pop(sub_id, None)
        if final:
            del self.watchers[tx_hash]

    def header_of(self, block_hash: bytes) -> Header | None:
        return self.require_chain().header(block_hash)


def invalid_text(reason: str) -> str:
    """Substrate's text for an InvalidTransaction variant name; other reasons pass through."""
    if reason.startswith("Custom"):
        digits = "".join(ch for ch in reason if ch.isdigit())
        return f"Custom error: {digits}" if digits else reason
    return INVALID_TRANSACTION_TEXT.get(reason, reason)


# --- running a node in a background thread (tests, demo, benchmarks) ------------------------------


class NodeThread:
    """A ``DevNode`` on its own event loop in a daemon thread; ``stop()`` shuts it down."""

    def __init__(self, config: NodeConfig, backend: ChainBackend | None = None) -> None:
        self._config = config
        self._backend = backend
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self.node: DevNode | None = None
        self._thread = threading.Thread(target=self._run, name="phala-dev-node", daemon=True)

    def start(self, timeout: float = 60.0) -> NodeThread:
        self._thread.start()
        if not self._ready.wait(timeout):
            raise TimeoutError("the dev node did not start in time")
        if self._error is not None:
            raise self._error
        return self

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            self.node = DevNode(self._config, self._backend)
            loop.run_until_complete(self.node.start())
        except BaseException as exc:
            self._error = exc
            self._ready.set()
            loop.close()
            return
        self._ready.set()
        try:
            loop.run_until_complete(self.node.stopped.wait())
        finally:
            loop.close()

    def call(self, func: Callable[[], object], timeout: float = 30.0) -> object:
        """Run ``func`` on the node's loop thread and return its result."""
        assert self._loop is not None
        return asyncio.run_coroutine_threadsafe(_call(func), self._loop).result(timeout)

    @property
    def url(self) -> str:
        assert self.node is not None
        return self.node.ws_url

    @property
    def http_url(self) -> str:
        assert self.node is not None
        return self.node.http_url

    def stop(self, timeout: float = 30.0) -> None:
        if self._loop is None or self.node is None or self._loop.is_closed():
            return
        with contextlib.suppress(RuntimeError):
            asyncio.run_coroutine_threadsafe(self.node.stop(), self._loop).result(timeout)
        self._thread.join(timeout)

    def __enter__(self) -> NodeThread:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


async def _call(func: Callable[[], object]) -> object:
    return func()
