"""A tiny runtime with the ``Runtime`` protocol's shape, for node tests that must not depend on
the real pallets: pool ordering, RPC framing, persistence and crash recovery.

Extrinsic (inside the usual compact length prefix):
    0x01 ++ account[32] ++ nonce u32 ++ tip u64 ++ ok u8 ++ payload   signed-like
    0x02 ++ timestamp u64                                             the inherent
``ok`` = 0 means "bad signature" (BadProof). ``payload`` is written to ``b"kv" ++ account``.
"""

from __future__ import annotations

from collections.abc import Mapping

from phala_agents.chain._interface import (
    ApplyOutcome,
    BlockContext,
    Overlay,
    StateReader,
    TransactionSource,
    ValidTransaction,
)
from phala_agents.errors import DecodeError, InvalidTransaction
from phala_agents.node._chain import TIMESTAMP_NOW_KEY
from phala_agents.scale import decode_compact, encode_compact

NUMBER_KEY = b"stub:number"


def nonce_key(account: bytes) -> bytes:
    return b"stub:nonce:" + account


def kv_key(account: bytes) -> bytes:
    return b"stub:kv:" + account


def make_tx(account: bytes, nonce: int, *, tip: int = 0, ok: bool = True, payload: bytes = b"x") -> bytes:
    body = b"\x01" + account + nonce.to_bytes(4, "little") + tip.to_bytes(8, "little") + bytes([ok]) + payload
    return encode_compact(len(body)) + body


class StubRuntime:
    spec_version = 1
    transaction_version = 1

    def runtime_version(self) -> Mapping[str, object]:
        return {
            "specName": "stub",
            "implName": "stub",
            "authoringVersion": 1,
            "specVersion": 1,
            "implVersion": 1,
            "apis": [],
            "transactionVersion": 1,
            "stateVersion": 1,
        }

    def metadata(self) -> bytes:
        return b"meta\x0e"

    def properties(self) -> Mapping[str, object]:
        return {"ss58Format": 42, "tokenDecimals": 12, "tokenSymbol": "UNIT"}

    def genesis_storage(self) -> dict[bytes, bytes]:
        return {b":code": b"stub", NUMBER_KEY: (0).to_bytes(4, "little")}

    def initialize_block(self, overlay: Overlay, context: BlockContext) -> None:
        overlay.set(NUMBER_KEY, context.number.to_bytes(4, "little"))

    def inherent_extrinsics(self, overlay: Overlay, context: BlockContext) -> list[bytes]:
        body = b"\x02" + context.timestamp_ms.to_bytes(8, "little")
        return [encode_compact(len(body)) + body]

    def _decode(self, extrinsic: bytes) -> tuple[bytes, int, int, bool, bytes] | int:
        length, offset = decode_compact(extrinsic, 0)
        body = extrinsic[offset:]
        if len(body) != length or not body:
            raise DecodeError(f"extrinsic: found {len(body)} bytes, wanted {length}")
        if body[0] == 2 and len(body) == 9:
            return int.from_bytes(body[1:9], "little")
        if body[0] != 1 or len(body) < 46:
            raise DecodeError("extrinsic: unknown format")
        return (
            body[1:33],
            int.from_bytes(body[33:37], "little"),
            int.from_bytes(body[37:45], "little"),
            body[45] == 1,
            body[46:],
        )

    def _check(self, state: StateReader, extrinsic: bytes) -> tuple[bytes, int, int, bytes, int]:
        decoded = self._decode(extrinsic)
        if isinstance(decoded, int):
            raise InvalidTransaction("MandatoryValidation")
        account, nonce, tip, ok, payload = decoded
        if not ok:
            raise InvalidTransaction("BadProof")
        raw = state.get(nonce_key(account))
        current = int.from_bytes(raw, "little") if raw else 0
        if nonce < current:
            raise InvalidTransaction("Stale")
        return account, nonce, tip, payload, current

    def apply_extrinsic(self, overlay: Overlay, extrinsic: bytes) -> ApplyOutcome:
        decoded = self._decode(extrinsic)
        if isinstance(decoded, int):
            overlay.set(TIMESTAMP_NOW_KEY, decoded.to_bytes(8, "little"))
            return ApplyOutcome(ok=True)
        account, nonce, _tip, payload, current = self._check(overlay, extrinsic)
        if nonce > current:
            raise InvalidTransaction("Future")
        overlay.set(nonce_key(account), (nonce + 1).to_bytes(4, "little"))
        if payload == b"fail":
            return ApplyOutcome(ok=False, error="Stub::Failed")
        overlay.set(kv_key(account), payload)
        return ApplyOutcome(ok=True)

    def finalize_block(self, overlay: Overlay) -> None:
        return None

    def validate_transaction(
        self, state: StateReader, extrinsic: bytes, source: TransactionSource, block_hash: bytes
    ) -> ValidTransaction:
        account, nonce, tip, _payload, current = self._check(state, extrinsic)
        requires = (account + (nonce - 1).to_bytes(4, "little"),) if nonce > current else ()
        return ValidTransaction(
            priority=tip,
            requires=requires,
            provides=(account + nonce.to_bytes(4, "little"),),
            longevity=64,
        )

    def call(self, state: StateReader, method: str, params: bytes) -> bytes:
        if method == "AccountNonceApi_account_nonce":
            raw = state.get(nonce_key(params[:32]))
            return raw if raw else (0).to_bytes(4, "little")
        raise KeyError(method)


def stub_backend():  # type: ignore[no-untyped-def]
    from phala_agents.chain import StorageOverlay
    from phala_agents.chain.trie import StateTrie, ordered_trie_root
    from phala_agents.node._chain import ChainBackend

    return ChainBackend(
        runtime=StubRuntime(),
        make_overlay=StorageOverlay,
        trie_from_items=StateTrie.from_items,
        ordered_trie_root=ordered_trie_root,
    )
