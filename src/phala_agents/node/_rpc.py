"""The JSON-RPC methods of the dev node, named and shaped like Substrate's.

Results follow Substrate's JSON: hashes and bytes as 0x-hex, block numbers in headers as hex
strings, ``null`` for unknown blocks/keys. Errors use Substrate's codes: state 4003 ("Client
error: ..."), author 1010-1016, jsonrpsee -32602 for bad parameters.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from phala_agents.errors import RpcError, ScaleError
from phala_agents.node._blocks import block_json, to_hex
from phala_agents.node._chain import HeadState, PastState
from phala_agents.node._jsonrpc import (
    Call,
    Connection,
    JsonValue,
    check_arity,
    check_subscription_limit,
    hash32,
    hex_bytes,
    integer,
    invalid_params,
    new_subscription_id,
    notify,
    param,
)
from phala_agents.node._ss58 import ss58_decode
from phala_agents.scale import blake2_256, decode_compact

if TYPE_CHECKING:
    from phala_agents.node._node import DevNode

STATE_CLIENT_ERROR = 4003
STATE_INVALID_RANGE = 4001
STATE_INVALID_COUNT = 4002
KEYS_PAGED_MAX = 1000


def install(node: DevNode) -> None:
    """Register every method on ``node.dispatcher``."""
    api = _Api(node)
    add = node.dispatcher.add
    table: dict[str, Callable[[Call, list[JsonValue]], JsonValue]] = {
        "rpc_methods": api.rpc_methods,
        # system
        "system_name": lambda c, p: node.config.node_name,
        "system_version": lambda c, p: node.config.node_version,
        "system_chain": lambda c, p: node.config.chain_name,
        "system_chainType": lambda c, p: "Development",
        "system_properties": lambda c, p: dict(node.runtime.properties()),
        "system_health": lambda c, p: node.health(),
        "system_localPeerId": lambda c, p: "12D3KooWPhaLaAgentsDevNodeLocaLPeer11111111111111",
        "system_localListenAddresses": lambda c, p: [],
        "system_peers": lambda c, p: [],
        "system_nodeRoles": lambda c, p: ["Authority"],
        "system_syncState": api.sync_state,
        "system_accountNextIndex": api.account_next_index,
        "account_nextIndex": api.account_next_index,
        # chain
        "chain_getBlockHash": api.get_block_hash,
        "chain_getHead": api.get_block_hash,
        "chain_getFinalizedHead": api.finalized_head,
        "chain_getFinalisedHead": api.finalized_head,
        "chain_getHeader": api.get_header,
        "chain_getBlock": api.get_block,
        "chain_getRuntimeVersion": api.runtime_version,
        # state
        "state_getRuntimeVersion": api.runtime_version,
        "state_getMetadata": api.metadata,
        "state_getStorage": api.get_storage,
        "state_getStorageAt": api.get_storage,
        "state_getStorageHash": api.get_storage_hash,
        "state_getStorageHashAt": api.get_storage_hash,
        "state_getStorageSize": api.get_storage_size,
        "state_getStorageSizeAt": api.get_storage_size,
        "state_getKeysPaged": api.get_keys_paged,
        "state_getKeysPagedAt": api.get_keys_paged,
        "state_getKeys": api.get_keys,
        "state_getPairs": api.get_pairs,
        "state_queryStorageAt": api.query_storage_at,
        "state_queryStorage": api.query_storage,
        "state_call": api.state_call,
        "state_callAt": api.state_call,
        "state_getReadProof": api.read_proof,
        "payment_queryInfo": api.query_info,
        # author
        "author_submitExtrinsic": api.submit,
        "author_pendingExtrinsics": api.pending,
    }
    for name, handler in table.items():
        add(name, handler)
    subscriptions: dict[str, Callable[[Call, list[JsonValue]], JsonValue]] = {
        "chain_subscribeNewHeads": api.sub_heads("chain_newHead", node.head_subs),
        "chain_subscribeNewHead": api.sub_heads("chain_newHead", node.head_subs),
        "subscribe_newHead": api.sub_heads("chain_newHead", node.head_subs),
        "chain_subscribeAllHeads": api.sub_heads("chain_allHead", node.head_subs),
        "chain_subscribeFinalizedHeads": api.sub_heads("chain_finalizedHead", node.finalized_subs),
        "chain_subscribeFinalisedHeads": api.sub_heads("chain_finalizedHead", node.finalized_subs),
        "chain_unsubscribeNewHeads": api.unsubscribe,
        "chain_unsubscribeNewHead": api.unsubscribe,
        "unsubscribe_newHead": api.unsubscribe,
        "chain_unsubscribeAllHeads": api.unsubscribe,
        "chain_unsubscribeFinalizedHeads": api.unsubscribe,
        "chain_unsubscribeFinalisedHeads": api.unsubscribe,
        "state_subscribeStorage": api.sub_storage,
        "state_unsubscribeStorage": api.unsubscribe,
        "state_subscribeRuntimeVersion": api.sub_runtime_version,
        "chain_subscribeRuntimeVersion": api.sub_runtime_version,
        "state_unsubscribeRuntimeVersion": api.unsubscribe,
        "chain_unsubscribeRuntimeVersion": api.unsubscribe,
        "author_submitAndWatchExtrinsic": api.submit_and_watch,
        "author_unwatchExtrinsic": api.unsubscribe,
    }
    for name, handler in subscriptions.items():
        add(name, handler, subscription=True)


def _client_error(detail: str) -> RpcError:
    return RpcError(STATE_CLIENT_ERROR, f"Client error: {detail}")


class _Api:
    def __init__(self, node: DevNode) -> None:
        self.node = node

    # --- helpers -------------------------------------------------------------------------------

    def _at(self, value: JsonValue) -> bytes:
        """A block hash parameter: None means the best block; unknown hashes are 4003."""
        chain = self.node.require_chain()
        if value is None:
            return chain.head.hash
        block_hash = hash32(value, "block hash")
        if chain.number_of(block_hash) is None:
            raise _client_error(f"UnknownBlock: Header was not found in the database: {to_hex(block_hash)}")
        return block_hash

    def _state(self, value: JsonValue) -> HeadState | PastState:
        chain = self.node.require_chain()
        state = chain.state_at(self._at(value))
        assert state is not None
        return state

    # --- rpc / system --------------------------------------------------------------------------

    def rpc_methods(self, call: Call, params: list[JsonValue]) -> JsonValue:
        return {"methods": sorted(self.node.dispatcher.methods)}

    def sync_state(self, call: Call, params: list[JsonValue]) -> JsonValue:
        number = self.node.require_chain().head.number
        return {"startingBlock": 0, "currentBlock": number, "highestBlock": number}

    def account_next_index(self, call: Call, params: list[JsonValue]) -> JsonValue:
        check_arity(params, 1)
        address = param(params, 0, "account")
        if not isinstance(address, str):
            raise invalid_params("account: wanted an SS58 address string")
        if address.startswith("0x"):
            account = hex_bytes(address, "account")
            if len(account) != 32:
                raise invalid_params(f"account: found {len(account)} bytes, wanted 32")
        else:
            try:
                account = ss58_decode(address)
            except ValueError as exc:
                raise invalid_params(str(exc)) from None
        return self.node.next_index(account)

    # --- chain ---------------------------------------------------------------------------------

    def _hash_for(self, value: JsonValue) -> JsonValue:
        chain = self.node.require_chain()
        if value is None:
            return to_hex(chain.head.hash)
        number = integer(value, "block number")
        block_hash = chain.hash_of(number)
        return None if block_hash is None else to_hex(block_hash)

    def get_block_hash(self, call: Call, params: list[JsonValue]) -> JsonValue:
        check_arity(params, 1)
        value = param(params, 0, "block number", required=False)
        if isinstance(value, list):
            return [self._hash_for(v) for v in value]
        return self._hash_for(value)

    def finalized_head(self, call: Call, params: list[JsonValue]) -> JsonValue:
        return to_hex(self.node.require_chain().head.hash)

    def get_header(self, call: Call, params: list[JsonValue]) -> JsonValue:
        check_arity(params, 1)
        chain = self.node.require_chain()
        value = param(params, 0, "block hash", required=False)
        block_hash = chain.head.hash if value is None else hash32(value, "block hash")
        header = chain.header(block_hash)
        return None if header is None else header.to_json()

    def get_block(self, call: Call, params: list[JsonValue]) -> JsonValue:
        check_arity(params, 1)
        chain = self.node.require_chain()
        value = param(params, 0, "block hash", required=False)
        block_hash = chain.head.hash if value is None else hash32(value, "block hash")
        found = chain.block(block_hash)
        return None if found is None else block_json(*found)

    # --- state ---------------------------------------------------------------------------------

    def runtime_version(self, call: Call, params: list[JsonValue]) -> JsonValue:
        check_arity(params, 1)
        self._at(param(params, 0, "block hash", required=False))
        return dict(self.node.runtime.runtime_version())

    def metadata(self, call: Call, params: list[JsonValue]) -> JsonValue:
        check_arity(params, 1)
        self._at(param(params, 0, "block hash", required=False))
        return self.node.metadata_hex

    def get_storage(self, call: Call, params: list[JsonValue]) -> JsonValue:
        check_arity(params, 2)
        key = hex_bytes(param(params, 0, "key"), "key")
        value = self._state(param(params, 1, "block hash", required=False)).get(key)
        return None if value is None else to_hex(value)

    def get_storage_hash(self, call: Call, params: list[JsonValue]) -> JsonValue:
        check_arity(params, 2)
        key = hex_bytes(param(params, 0, "key"), "key")
        value = self._state(param(params, 1, "block hash", required=False)).get(key)
        return None if value is None else to_hex(blake2_256(value))

    def get_storage_size(self, call: Call, params: list[JsonValue]) -> JsonValue:
        check_arity(params, 2)
        key = hex_bytes(param(params, 0, "key"), "key")
        value = self._state(param(params, 1, "block hash", required=False)).get(key)
        return None if value is None else len(value)

    def get_keys_paged(self, call: Call, params: list[JsonValue]) -> JsonValue:
        check_arity(params, 4)
        raw_prefix = param(params, 0, "prefix", required=False)
        prefix = b"" if raw_prefix is None else hex_bytes(raw_prefix, "prefix")
        count = integer(param(params, 1, "count"), "count")
        if count > KEYS_PAGED_MAX:
            raise RpcError(
                STATE_INVALID_COUNT, f"count exceeds maximum value. value: {count}, max: {KEYS_PAGED_MAX}"
            )
        raw_start = param(params, 2, "start key", required=False)
        start = None if raw_start is None else hex_bytes(raw_start, "start key")
        state = self._state(param(params, 3, "block hash", required=False))
        return [to_hex(k) for k in state.keys_with_prefix(prefix, start, count)]

    def get_keys(self, call: Call, params: list[JsonValue]) -> JsonValue:
        check_arity(params, 2)
        prefix = hex_bytes(param(params, 0, "prefix"), "prefix")
        state = self._state(param(params, 1, "block hash", required=False))
        return [to_hex(k) for k in state.keys_with_prefix(prefix, None, 1 << 62)]

    def get_pairs(self, call: Call, params: list[JsonValue]) -> JsonValue:
        check_arity(params, 2)
        prefix = hex_bytes(param(params, 0, "prefix"), "prefix")
        state = self._state(param(params, 1, "block hash", required=False))
        out = []
        for key in state.keys_with_prefix(prefix, None, 1 << 62):
            value = state.get(key)
            out.append([to_hex(key), None if value is None else to_hex(value)])
        return out

    def query_storage_at(self, call: Call, params: list[JsonValue]) -> JsonValue:
        check_arity(params, 2)
        raw_keys = param(params, 0, "keys")
        if not isinstance(raw_keys, list):
            raise invalid_params("keys: wanted an array of 0x-hex keys")
        keys = [hex_bytes(k, "key") for k in raw_keys]
        at = self._at(param(params, 1, "block hash", required=False))
        state = self.node.require_chain().state_at(at)
        assert state is not None
        changes = []
        for key in keys:
            value = state.get(key)
            changes.append([to_hex(key), None if value is None else to_hex(value)])
        return [{"block": to_hex(at), "changes": changes}]

    def query_storage(self, call: Call, params: list[JsonValue]) -> JsonValue:
        """The values of ``keys`` at ``from`` and at every later block (to ``to``) that changed them."""
        check_arity(params, 3)
        raw_keys = param(params, 0, "keys")
        if not isinstance(raw_keys, list):
            raise invalid_params("keys: wanted an array of 0x-hex keys")
        keys = [hex_bytes(k, "key") for k in raw_keys]
        chain = self.node.require_chain()
        first = chain.number_of(self._at(param(params, 1, "from block")))
        last = chain.number_of(self._at(param(params, 2, "to block", required=False)))
        assert first is not None and last is not None
        if first > last:
            raise RpcError(
                STATE_INVALID_RANGE,
                f"Cannot resolve a block range ['{first}' ... '{last}]. from number > to number",
            )
        out: list[JsonValue] = []
        for number in range(first, last + 1):
            block_hash = chain.hash_of(number)
            assert block_hash is not None
            if number == first:
                state = chain.state_at(block_hash)
                assert state is not None
                values = {k: state.get(k) for k in keys}
            else:
                changed = chain.block_changes(block_hash)
                values = {k: changed[k] for k in keys if k in changed}
                if not values:
                    continue
            out.append(
                {
                    "block": to_hex(block_hash),
                    "changes": [[to_hex(k), None if v is None else to_hex(v)] for k, v in values.items()],
                }
            )
        return out

    def state_call(self, call: Call, params: list[JsonValue]) -> JsonValue:
        check_arity(params, 3)
        method = param(params, 0, "method")
        if not isinstance(method, str):
            raise invalid_params("method: wanted a runtime API method name string")
        data = hex_bytes(param(params, 1, "data"), "data")
        state = self._state(param(params, 2, "block hash", required=False))
        return to_hex(self._runtime_call(state, method, data))

    def _runtime_call(self, state: HeadState | PastState, method: str, data: bytes) -> bytes:
        try:
            return self.node.runtime.call(state, method, data)
        except KeyError:
            raise _client_error(f"Execution failed: Other: Exported method {method} is not found") from None
        except ScaleError as exc:
            raise _client_error(
                f"Execution failed: Runtime panicked: Bad input data provided to {method}: {exc}"
            ) from None

    def read_proof(self, call: Call, params: list[JsonValue]) -> JsonValue:
        check_arity(params, 2)
        raw_keys = param(params, 0, "keys")
        if not isinstance(raw_keys, list):
            raise invalid_params("keys: wanted an array of 0x-hex keys")
        keys = [hex_bytes(k, "key") for k in raw_keys]
        at = self._at(param(params, 1, "block hash", required=False))
        trie = self.node.require_chain().trie_at(at)
        if trie is None:
            raise _client_error(f"State already discarded for {to_hex(at)}")
        return {"at": to_hex(at), "proof": [to_hex(n) for n in trie.read_proof(keys)]}

    def query_info(self, call: Call, params: list[JsonValue]) -> JsonValue:
        check_arity(params, 2)
        data = hex_bytes(param(params, 0, "extrinsic"), "extrinsic")
        state = self._state(param(params, 1, "block hash", required=False))
        raw = self._runtime_call(
            state, "TransactionPaymentApi_query_info", data + len(data).to_bytes(4, "little")
        )
        try:
            ref_time, offset = decode_compact(raw, 0)
            proof_size, offset = decode_compact(raw, offset)
        except ScaleError as exc:
            raise _client_error(f"Unable to query dispatch info: {exc}") from None
        dispatch_class = ("normal", "operational", "mandatory")[raw[offset]]
        fee = int.from_bytes(raw[offset + 1 : offset + 17], "little")
        return {
            "weight": {"refTime": ref_time, "proofSize": proof_size},
            "class": dispatch_class,
            "partialFee": str(fee),
        }

    # --- author --------------------------------------------------------------------------------

    def submit(self, call: Call, params: list[JsonValue]) -> JsonValue:
        check_arity(params, 1)
        data = hex_bytes(param(params, 0, "extrinsic"), "extrinsic")
        tx_hash, _ = self.node.submit(data)
        return to_hex(tx_hash)

    def pending(self, call: Call, params: list[JsonValue]) -> JsonValue:
        return [to_hex(t.data) for t in self.node.pool.best()]

    def submit_and_watch(self, call: Call, params: list[JsonValue]) -> JsonValue:
        check_arity(params, 1)
        data = hex_bytes(param(params, 0, "extrinsic"), "extrinsic")
        check_subscription_limit(call.conn)
        node = self.node
        sub_id = new_subscription_id()
        conn = call.conn
        # Register the watcher before importing: an instant-seal block may follow at once, but
        # only after this response (call_soon), so the client sees the id first.
        tx_hash, status = node.submit(data)
        watchers = node.watchers.setdefault(tx_hash, {})
        watchers[sub_id] = conn

        def cancel() -> None:
            current = node.watchers.get(tx_hash)
            if current is not None:
                current.pop(sub_id, None)
                if not current:
                    del node.watchers[tx_hash]

        conn.subscriptions[sub_id] = cancel
        call.after.append(lambda: notify(conn, "author_extrinsicUpdate", sub_id, status))
        return sub_id

    # --- subscriptions -------------------------------------------------------------------------

    def sub_heads(
        self, method: str, registry: dict[str, tuple[Connection, str]]
    ) -> Callable[[Call, list[JsonValue]], JsonValue]:
        node = self.node

        def handler(call: Call, params: list[JsonValue]) -> JsonValue:
            check_subscription_limit(call.conn)
            sub_id = new_subscription_id()
            conn = call.conn
            registry[sub_id] = (conn, method)
            call.conn.subscriptions[sub_id] = lambda: registry.pop(sub_id, None) and None
            header = node.require_chain().head.header.to_json()
            call.after.append(lambda: notify(conn, method, sub_id, header))
            return sub_id

        return handler

    def sub_storage(self, call: Call, params: list[JsonValue]) -> JsonValue:
        check_arity(params, 1)
        raw_keys = param(params, 0, "keys", required=False)
        keys: frozenset[bytes] | None = None
        if raw_keys is not None:
            if not isinstance(raw_keys, list):
                raise invalid_params("keys: wanted an array of 0x-hex keys")
            keys = frozenset(hex_bytes(k, "key") for k in raw_keys)
        check_subscription_limit(call.conn)
        node = self.node
        sub_id = new_subscription_id()
        conn = call.conn
        node.storage_subs[sub_id] = (conn, keys)
        conn.subscriptions[sub_id] = lambda: node.storage_subs.pop(sub_id, None) and None
        chain = node.require_chain()
        initial = {
            "block": to_hex(chain.head.hash),
            "changes": [
                [to_hex(k), None if (v := chain.state.get(k)) is None else to_hex(v)]
                for k in sorted(keys or ())
            ],
        }
        if keys:
            call.after.append(lambda: notify(conn, "state_storage", sub_id, initial))
        return sub_id

    def sub_runtime_version(self, call: Call, params: list[JsonValue]) -> JsonValue:
        check_subscription_limit(call.conn)
        sub_id = new_subscription_id()
        conn = call.conn
        conn.subscriptions[sub_id] = lambda: None
        version = dict(self.node.runtime.runtime_version())
        call.after.append(lambda: notify(conn, "state_runtimeVersion", sub_id, version))
        return sub_id

    def unsubscribe(self, call: Call, params: list[JsonValue]) -> JsonValue:
        check_arity(params, 1)
        sub_id = param(params, 0, "subscription id")
        if not isinstance(sub_id, str):
            raise invalid_params("subscription id: wanted a string")
        cancel = call.conn.subscriptions.pop(sub_id, None)
        if cancel is None:
            return False
        cancel()
        return True
