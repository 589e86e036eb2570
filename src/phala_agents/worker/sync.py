"""Agent and escrow sync: the worker's ``ChainView`` of a node, kept at the finalized head.

Start-up loads every ``AgentRegistry.Agents`` and ``Access`` entry with ``query_map`` at the
finalized head. A thread then follows finalized blocks one by one (none skipped) and applies
their events: agent changes re-read that agent at that block (so an update, pause or retirement
takes effect from the next call after the block is final), grants and revocations update the
allowlists, and Billing events re-read the escrow of callers the worker has seen. Escrow and our
own settlements go to the meter in one step per block (``GasMeter.sync``), in block order, so
the available budget is never over-counted. A ``Settled`` or ``AlreadySettled`` event for one of
our receipts marks it settled in the ledger: receipts leave only once their settlement is final.

Callers are loaded lazily (``load_caller``, on their first call): escrow ``balance`` (not the
unbonding part, billing.md "Invariants") and the nonces the chain has seen them use.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from typing import cast

import structlog

from phala_agents.client import ChainClient, JsonValue, SealedBlob
from phala_agents.errors import ClientError
from phala_agents.scale import ss58_decode
from phala_agents.worker.ledger import Ledger
from phala_agents.worker.meter import GasMeter, Prices
from phala_agents.worker.view import AccessKind, AgentRecord, AgentStatus

__all__ = ["ChainSync", "agent_from_chain"]

log = structlog.get_logger(__name__)

_AGENT_EVENTS = frozenset(
    {"Registered", "Updated", "AccessChanged", "Paused", "Resumed", "Retired", "OwnershipTransferred"}
)
_ESCROW_EVENTS = frozenset({"Deposited", "WithdrawRequested", "Withdrawn"})


def _account(value: JsonValue) -> bytes:
    text = str(value)
    if text.startswith("0x"):
        return bytes.fromhex(text[2:])
    return ss58_decode(text, None)


def _hex(value: JsonValue) -> bytes:
    if isinstance(value, list):
        return bytes(cast(list[int], value))
    return bytes.fromhex(str(value).removeprefix("0x"))


def _text(value: JsonValue) -> str:
    text = str(value)
    if text.startswith("0x"):
        try:
            return bytes.fromhex(text[2:]).decode()
        except (ValueError, UnicodeDecodeError):
            return text
    return text


def _variant(value: JsonValue) -> str:
    if isinstance(value, dict):
        return next(iter(value))
    return str(value)


def agent_from_chain(agent_id: int, value: JsonValue) -> AgentRecord:
    """An ``AgentInfo`` as substrate-interface decodes it, as an ``AgentRecord``."""
    info = cast(dict[str, JsonValue], value)
    prompt = cast(dict[str, JsonValue], info["prompt"])
    prices = cast(dict[str, JsonValue], info["prices"])
    defaults = cast(dict[str, JsonValue], info["defaults"])
    return AgentRecord(
        agent_id=agent_id,
        owner=_account(info["owner"]),
        name=_text(info["name"]),
        model=_text(info["model"]),
        prompt=SealedBlob(
            enc=_hex(prompt["enc"]), ciphertext=_hex(prompt["ciphertext"]), epoch=int(str(prompt["epoch"]))
        ),
        prices=Prices(
            per_1k_input=int(str(prices["per_1k_input"])), per_1k_output=int(str(prices["per_1k_output"]))
        ),
        temperature_milli=int(str(defaults["temperature_milli"])),
        max_tokens=int(str(defaults["max_tokens"])),
        access=cast(AccessKind, _variant(info["access"])),
        status=cast(AgentStatus, _variant(info["status"])),
        version=int(str(info["version"])),
    )


class ChainSync:
    """A ``ChainView`` fed from a node. ``start()`` loads, then a thread follows finalized blocks."""

    def __init__(
        self,
        *,
        url: str,
        meter: GasMeter,
        ledger: Ledger,
        worker: bytes,
        poll_interval: float = 0.05,
        connect: Callable[[str], ChainClient] = ChainClient.connect,
    ) -> None:
        self._url = url
        self._meter = meter
        self._ledger = ledger
        self._worker = worker
        self._poll = poll_interval
        self._connect = connect
        self._client: ChainClient | None = None
        self._lock = threading.RLock()
        self._changed = threading.Condition(self._lock)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._genesis = b""
        self._head = 0
        self._head_hash = ""
        self._agents: dict[int, AgentRecord] = {}
        self._access: set[tuple[int, bytes]] = set()
        self._known: set[bytes] = set()
        self._used: dict[bytes, set[int]] = {}
        self.ss58_format = 42
        self.dev_chain = False
        self.error: BaseException | None = None

    # lifecycle

    def start(self) -> None:
        client = self._connect(self._url)
        self._client = client
        self.ss58_format = client.ss58_format
        self.dev_chain = client.is_dev_chain
        self._genesis = bytes.fromhex(client.block_hash(0).removeprefix("0x"))
        head = client.head("finalized")
        with self._lock:
            self._head, self._head_hash = head.number, head.hash
            for key, value in client.query_map("AgentRegistry", "Agents", at=head.hash):
                agent_id = int(str(key))
                self._agents[agent_id] = agent_from_chain(agent_id, value)
            # The whole double map in one paged query: keys come back as [agent_id, account].
            for key, _value in client.query_map("AgentRegistry", "Access", at=head.hash):
                if isinstance(key, list) and len(key) == 2:
                    self._access.add((int(str(key[0])), _account(key[1])))
        log.info("sync_loaded", head=head.number, agents=len(self._agents), grants=len(self._access))
        self._thread = threading.Thread(target=self._run, name="phala-worker-sync", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        if self._client is not None:
            self._client.close()

    def wait_for_head(self, number: int, timeout: float = 10.0) -> bool:
        """Block until blocks up to ``number`` are applied (tests, the demo)."""
        with self._changed:
            return self._changed.wait_for(lambda: self._head >= number, timeout=timeout)

    # ChainView

    @property
    def genesis(self) -> bytes:
        return self._genesis

    @property
    def head(self) -> int:
        return self._head

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
            if caller in self._known:
                return
            client = self._require()
            self._meter.set_escrow(caller, self._escrow(client, caller, self._head_hash))
            self._used[caller] = self._nonces(client, caller, self._head_hash)
            self._known.add(caller)

    def nonce_used(self, caller: bytes, nonce: int) -> bool:
        return nonce in self._used.get(caller, ())

    # following the chain

    def _require(self) -> ChainClient:
        if self._client is None:
            raise RuntimeError("chain sync not started")
        return self._client

    @staticmethod
    def _escrow(client: ChainClient, caller: bytes, at: str) -> int:
        value = client.get_storage("Billing", "Escrow", "0x" + caller.hex(), at=at)
        if not isinstance(value, dict):
            return 0
        return int(str(value.get("balance", 0)))

    @staticmethod
    def _nonces(client: ChainClient, caller: bytes, at: str) -> set[int]:
        # Billing prunes `UsedNonces` (billing.md "Pruning"): a nonce leaves the map
        # `SettledRetention` blocks after its authorization's settle window closed. That
        # authorization is expired, and the server refuses an expired one before this guard
        # matters, so a nonce missing here for that reason lets nothing through.
        used: set[int] = set()
        for key, _value in client.query_map("Billing", "UsedNonces", "0x" + caller.hex(), at=at):
            nonce = key[-1] if isinstance(key, list) else key
            used.add(int(str(nonce)))
        return used

    def _load_access(self, client: ChainClient, agent_id: int, at: str) -> None:
        # One agent's grants (a prefix query), re-read when its events say they changed.
        self._access = {e for e in self._access if e[0] != agent_id}
        for key, _value in client.query_map("AgentRegistry", "Access", agent_id, at=at):
            who = key[-1] if isinstance(key, list) else key
            self._access.add((agent_id, _account(who)))

    def _run(self) -> None:
        failures = 0
        while not self._stop.is_set():
            try:
                client = self._require()
                final = client.head("finalized").number
                while self._head < final and not self._stop.is_set():
                    number = self._head + 1
                    self._apply(client, number, client.block_hash(number))
                failures = 0
            except (ClientError, OSError) as exc:
                failures += 1
                log.warning("sync_retry", error=str(exc), failures=failures)
                self._stop.wait(min(5.0, self._poll * 2**failures))
                continue
            except Exception as exc:
                self.error = exc
                log.exception("sync_failed")
                raise
            self._stop.wait(self._poll)

    def _apply(self, client: ChainClient, number: int, block_hash: str) -> None:
        reload: set[int] = set()
        escrow_callers: set[bytes] = set()
        other_settled: set[bytes] = set()
        ours: dict[bytes, list[str]] = {}
        already: list[str] = []
        for event in client.events(at=block_hash):
            attrs = event.attributes if isinstance(event.attributes, dict) else {}
            if event.pallet == "AgentRegistry":
                agent_id = int(str(attrs.get("agent_id")))
                if event.name in ("AccessGranted", "AccessRevoked"):
                    entry = (agent_id, _account(attrs["who"]))
                    with self._lock:
                        if event.name == "AccessGranted":
                            self._access.add(entry)
                        else:
                            self._access.discard(entry)
                elif event.name in _AGENT_EVENTS:
                    reload.add(agent_id)
            elif event.pallet == "Billing":
                if event.name in _ESCROW_EVENTS:
                    escrow_callers.add(_account(attrs["who"]))
                elif event.name == "Settled":
                    caller = _account(attrs["caller"])
                    escrow_callers.add(caller)
                    if _account(attrs["worker"]) == self._worker:
                        ours.setdefault(caller, []).append(str(attrs["receipt_id"]).lower())
                    else:
                        other_settled.add(caller)
                elif event.name == "AlreadySettled":
                    already.append(str(attrs["receipt_id"]).lower())
        with self._lock:
            for agent_id in reload:
                value = client.get_storage("AgentRegistry", "Agents", agent_id, at=block_hash)
                if value is None:
                    self._agents.pop(agent_id, None)
                else:
                    record = agent_from_chain(agent_id, value)
                    self._agents[agent_id] = record
                    if record.status == "Retired":
                        self._access = {e for e in self._access if e[0] != agent_id}
            for caller in escrow_callers & self._known:
                settled = ours.get(caller, [])
                self._meter.sync(caller, self._escrow(client, caller, block_hash), settled=settled)
            for caller in set(ours) - self._known:
                # Restored from the ledger at start-up but not loaded since: no escrow to move.
                for rid in ours[caller]:
                    self._meter.mark_settled(rid)
            for caller in other_settled & self._known:
                self._used[caller] = self._nonces(client, caller, block_hash)
            mine = [rid for ids in ours.values() for rid in ids]
            for rid in mine:
                stored = self._ledger.get(rid)
                if stored is not None:
                    caller = stored.caller if isinstance(stored.caller, bytes) else stored.caller.encode()
                    self._used.setdefault(caller, set()).add(stored.nonce)
            for rid in already:
                # Already final on chain (its escrow effect is in the escrow read at that block).
                self._meter.mark_settled(rid)
            if mine or already:
                self._ledger.mark_settled([*mine, *already])
            self._head, self._head_hash = number, block_hash
            self._changed.notify_all()
        if reload or escrow_callers or mine or already:
            log.info(
                "sync_block",
                number=number,
                agents=sorted(reload),
                escrow_callers=len(escrow_callers),
                settled=len(mine),
                already=len(already),
            )
