"""A minimal in-process host for the runtime (blocks on a dict) and a fake websocket that lets
unmodified substrate-interface talk to it. Pure: no sockets, no threads.

A uniquely named module (not conftest) so tests can import it whatever other conftest.py files
the session has loaded."""

from __future__ import annotations

import bisect
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import pytest

from phala_agents.chain import (
    ApplyOutcome,
    BlockContext,
    DevRuntime,
    StorageOverlay,
    TransactionSource,
    rpc_error_of,
)
from phala_agents.chain.frame import Call, Origin
from phala_agents.chain.pallets.balances import Balances
from phala_agents.chain.pallets.system import System
from phala_agents.chain.trie import trie_root
from phala_agents.errors import DecodeError, DispatchError, InvalidTransaction, ModuleError
from phala_agents.scale import blake2_256


class DictState:
    """A ``StateReader`` over a dict."""

    def __init__(self, data: dict[bytes, bytes]) -> None:
        self.data = data
        self.keys = sorted(data)

    def get(self, key: bytes) -> bytes | None:
        return self.data.get(key)

    def next_key(self, key: bytes) -> bytes | None:
        i = bisect.bisect_right(self.keys, key)
        return self.keys[i] if i < len(self.keys) else None


class TestExternalities:
    """FRAME's ``new_test_ext()``: one runtime over an in-memory genesis state, all writes in one
    overlay, so a test can compare the whole state (or its trie root) before and after a call."""

    __test__ = False  # a harness, not a pytest test class

    def __init__(self, runtime: DevRuntime) -> None:
        self.rt = runtime
        self.base = runtime.genesis_storage()
        self.overlay = StorageOverlay(DictState(self.base))
        runtime.ext.overlay = self.overlay
        runtime.ext.events = []
        self.balances = runtime.pallet(Balances)

    def state(self) -> dict[bytes, bytes]:
        out = dict(self.base)
        for key, value in self.overlay.changes().items():
            if value is None:
                out.pop(key, None)
            else:
                out[key] = value
        return out

    def root(self) -> bytes:
        return trie_root(self.state())

    def set_block_number(self, n: int) -> None:
        self.rt.pallet(System).number.put(n)
        self.rt.ext.phase = b"\x00\x00\x00\x00\x00"

    def run(self, pallet: str, name: str, origin: Origin, args: dict[str, object]) -> None:
        """Dispatch a call; raise its DispatchError when it fails (storage already rolled back)."""
        outcome = self.rt.dispatch(Call(pallet=pallet, name=name, args=args), origin)
        if not outcome.ok:
            assert outcome.error is not None
            raise outcome.error

    def assert_noop(self, expected: str, call: Callable[[], object]) -> None:
        """FRAME's ``assert_noop!``: ``call`` fails with ``expected`` ("Pallet::Error" for a module
        error, else the error's type name, e.g. "BadOrigin"), and the state root and the events
        are exactly as before."""
        before, events_before = self.root(), len(self.rt.ext.events)
        with pytest.raises(DispatchError) as exc:
            call()
        got = (
            f"{exc.value.pallet}::{exc.value.name}"
            if isinstance(exc.value, ModuleError)
            else type(exc.value).__name__
        )
        assert got == expected
        assert self.root() == before
        assert len(self.rt.ext.events) == events_before

    def last_event(self) -> tuple[str, str, object]:
        e = self.rt.decoded_events()[-1]
        return e["pallet"], e["event"], e["attributes"]  # type: ignore[return-value]

    def free(self, who: bytes) -> int:
        return self.balances.free_balance(who)

    def reserved(self, who: bytes) -> int:
        return self.balances.reserved_balance(who)


@dataclass
class Block:
    number: int
    hash: bytes
    parent: bytes
    state: dict[bytes, bytes]
    extrinsics: list[bytes] = field(default_factory=list)
    outcomes: list[ApplyOutcome | InvalidTransaction] = field(default_factory=list)


class MiniChain:
    """Blocks = initialize, inherents, extrinsics, finalize, commit (what the node does)."""

    def __init__(self, runtime: DevRuntime | None = None) -> None:
        self.runtime = runtime or DevRuntime()
        genesis = self.runtime.genesis_storage()
        ghash = blake2_256(b"phala-agents test genesis")
        self.blocks = [Block(number=0, hash=ghash, parent=bytes(32), state=genesis)]
        self.clock = 1_700_000_000_000

    @property
    def head(self) -> Block:
        return self.blocks[-1]

    @property
    def genesis_hash(self) -> bytes:
        return self.blocks[0].hash

    def state(self, block: Block | None = None) -> DictState:
        return DictState((block or self.head).state)

    def validate(self, xt: bytes) -> object:
        return self.runtime.validate_transaction(self.state(), xt, TransactionSource.EXTERNAL, self.head.hash)

    def produce(self, extrinsics: Sequence[bytes] = ()) -> Block:
        rt = self.runtime
        parent = self.head
        overlay = StorageOverlay(self.state(parent))
        self.clock += 6000
        ctx = BlockContext(number=parent.number + 1, parent_hash=parent.hash, timestamp_ms=self.clock)
        rt.initialize_block(overlay, ctx)
        included: list[bytes] = []
        outcomes: list[ApplyOutcome | InvalidTransaction] = []
        for xt in [*rt.inherent_extrinsics(overlay, ctx), *extrinsics]:
            try:
                outcomes.append(rt.apply_extrinsic(overlay, xt))
                included.append(xt)
            except InvalidTransaction as exc:
                outcomes.append(exc)
        rt.finalize_block(overlay)
        state = dict(parent.state)
        for k, v in overlay.changes().items():
            if v is None:
                state.pop(k, None)
            else:
                state[k] = v
        number = parent.number + 1
        block = Block(
            number=number,
            hash=blake2_256(parent.hash + number.to_bytes(4, "little") + b"".join(included)),
            parent=parent.hash,
            state=state,
            extrinsics=included,
            outcomes=outcomes,
        )
        self.blocks.append(block)
        return block

    def by_hash(self, h: bytes) -> Block:
        for b in self.blocks:
            if b.hash == h:
                return b
        raise KeyError(h.hex())


class FakeWebsocket:
    """Just enough JSON-RPC for substrate-interface 1.8.1 (no subscriptions)."""

    METHODS = (
        "chain_getBlockHash",
        "chain_getHead",
        "chain_getHeader",
        "chain_getFinalizedHead",
        "chain_getBlock",
        "state_getRuntimeVersion",
        "state_getMetadata",
        "state_getStorageAt",
        "state_getStorage",
        "state_call",
        "system_properties",
        "system_chain",
        "system_name",
        "author_submitExtrinsic",
        "rpc_methods",
    )

    def __init__(self, chain: MiniChain) -> None:
        self.chain = chain
        self.queue: list[str] = []

    def close(self) -> None:
        pass

    def send(self, message: str) -> None:
        req = json.loads(message)
        try:
            result = self.handle(req["method"], req.get("params") or [])
            resp: dict[str, object] = {"jsonrpc": "2.0", "id": req["id"], "result": result}
        except InvalidTransaction as exc:
            code, msg, data = rpc_error_of(exc)
            resp = {"jsonrpc": "2.0", "id": req["id"], "error": {"code": code, "message": msg, "data": data}}
        self.queue.append(json.dumps(resp))

    def recv(self) -> str:
        return self.queue.pop(0)

    def _block(self, params: list[object], index: int = 0) -> Block:
        if len(params) > index and params[index]:
            return self.chain.by_hash(bytes.fromhex(str(params[index])[2:]))
        return self.chain.head

    def handle(self, method: str, params: list[object]) -> object:
        chain, rt = self.chain, self.chain.runtime
        if method == "rpc_methods":
            return {"methods": list(self.METHODS)}
        if method == "system_chain":
            return "Development"
        if method == "system_name":
            return "phala-agents-test"
        if method == "system_properties":
            return dict(rt.properties())
        if method in ("chain_getHead", "chain_getFinalizedHead"):
            return "0x" + chain.head.hash.hex()
        if method == "chain_getBlockHash":
            n = params[0] if params and params[0] is not None else chain.head.number
            return "0x" + chain.blocks[int(str(n), 0) if isinstance(n, str) else int(n)].hash.hex()
        if method == "chain_getHeader":
            b = self._block(params)
            return {
                "parentHash": "0x" + b.parent.hex(),
                "number": hex(b.number),
                "stateRoot": "0x" + "00" * 32,
                "extrinsicsRoot": "0x" + "00" * 32,
                "digest": {"logs": []},
            }
        if method == "chain_getBlock":
            b = self._block(params)
            return {
                "block": {
                    "header": self.handle("chain_getHeader", params),
                    "extrinsics": ["0x" + x.hex() for x in b.extrinsics],
                },
                "justifications": None,
            }
        if method == "state_getRuntimeVersion":
            return dict(rt.runtime_version())
        if method == "state_getMetadata":
            return "0x" + rt.metadata().hex()
        if method in ("state_getStorageAt", "state_getStorage"):
            b = self._block(params, 1)
            value = b.state.get(bytes.fromhex(str(params[0])[2:]))
            return None if value is None else "0x" + value.hex()
        if method == "state_call":
            b = self._block(params, 2)
            data = bytes.fromhex(str(params[1])[2:])
            return "0x" + rt.call(DictState(b.state), str(params[0]), data).hex()
        if method == "author_submitExtrinsic":
            xt = bytes.fromhex(str(params[0])[2:])
            try:
                chain.validate(xt)
            except DecodeError:
                raise InvalidTransaction("Call", "Transaction call is not expected") from None
            chain.produce([xt])
            return "0x" + blake2_256(xt).hex()
        raise KeyError(method)
