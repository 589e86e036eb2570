"""The contract between the runtime (``chain``) and its host (``node``, pallet tests).

The node owns blocks, the transaction pool, persistence, the trie and RPC. The runtime owns
everything a Substrate runtime (wasm) would: metadata, extrinsic decoding and validation,
dispatch, fees, events and the runtime APIs behind ``state_call``. They meet here, the way a
Substrate client meets its runtime through ``Core``/``BlockBuilder``/``TaggedTransactionQueue``.

State is a flat key/value map (raw storage keys -> SCALE values). The runtime reads through a
``StateReader`` and writes to an ``Overlay`` that the host creates per block; the host takes the
overlay's changes at the end of the block and commits them (trie, database) atomically.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import Protocol


class StateReader(Protocol):
    """Read access to the state at one block."""

    def get(self, key: bytes) -> bytes | None:
        """The value at ``key``, or None when absent."""
        ...

    def next_key(self, key: bytes) -> bytes | None:
        """The smallest present key strictly greater than ``key`` (lexicographic), or None."""
        ...


class TransactionSource(Enum):
    """Where a transaction came from (Substrate's ``TransactionSource``)."""

    IN_BLOCK = "InBlock"
    LOCAL = "Local"
    EXTERNAL = "External"


@dataclass(frozen=True, slots=True, kw_only=True)
class ValidTransaction:
    """What ``validate_transaction`` learns (Substrate's ``ValidTransaction``).

    ``requires``/``provides`` are tags: for a signed extrinsic, provides = [encode((who, nonce))]
    and requires = [encode((who, nonce - 1))] when the nonce is ahead of the account's.
    """

    priority: int
    requires: tuple[bytes, ...]
    provides: tuple[bytes, ...]
    longevity: int
    propagate: bool = True


@dataclass(frozen=True, slots=True, kw_only=True)
class ApplyOutcome:
    """The result of applying one extrinsic in a block.

    ``ok`` is False when the call failed after fees were paid (its storage changes rolled back,
    ``ExtrinsicFailed`` emitted). An extrinsic that is invalid is never applied: the runtime raises
    ``phala_agents.errors.InvalidTransaction`` and the host drops it without changing state.
    """

    ok: bool
    error: str | None = None  # "Pallet::Error" or another DispatchError description when not ok
    weight: int = 0
    fee: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class BlockContext:
    """What the host tells the runtime when a block starts."""

    number: int
    parent_hash: bytes
    timestamp_ms: int
    digest: tuple[bytes, ...] = field(default_factory=tuple)  # SCALE-encoded DigestItems


class Runtime(Protocol):
    """A runtime as the host sees it. All bytes are SCALE."""

    @property
    def spec_version(self) -> int: ...

    @property
    def transaction_version(self) -> int: ...

    def runtime_version(self) -> Mapping[str, object]:
        """The JSON of ``state_getRuntimeVersion`` (specName, implName, authoringVersion,
        specVersion, implVersion, apis [[hex id, version], ...], transactionVersion, stateVersion)."""
        ...

    def metadata(self) -> bytes:
        """``RuntimeMetadataPrefixed`` bytes (b"meta" ++ 14 ++ V14) as ``Metadata_metadata`` returns
        them inside its ``Vec<u8>``; ``state_getMetadata`` returns these bytes hex-encoded."""
        ...

    def properties(self) -> Mapping[str, object]:
        """``system_properties``: ss58Format, tokenDecimals, tokenSymbol."""
        ...

    def genesis_storage(self) -> dict[bytes, bytes]:
        """The dev genesis state (includes ``:code`` placeholder and runtime-version entries)."""
        ...

    def initialize_block(self, overlay: Overlay, context: BlockContext) -> None:
        """``Core_initialize_block``: set System.Number/ParentHash, clear per-block items."""
        ...

    def inherent_extrinsics(self, overlay: Overlay, context: BlockContext) -> list[bytes]:
        """``BlockBuilder_inherent_extrinsics``: the unsigned inherents (Timestamp.set) of this block."""
        ...

    def apply_extrinsic(self, overlay: Overlay, extrinsic: bytes) -> ApplyOutcome:
        """``BlockBuilder_apply_extrinsic``; raises InvalidTransaction without changing state."""
        ...

    def finalize_block(self, overlay: Overlay) -> None:
        """``BlockBuilder_finalize_block``: per-block bookkeeping before the state root is taken."""
        ...

    def validate_transaction(
        self, state: StateReader, extrinsic: bytes, source: TransactionSource, block_hash: bytes
    ) -> ValidTransaction:
        """``TaggedTransactionQueue_validate_transaction`` at the given best block; raises
        InvalidTransaction (RPC 1010) or UnknownTransaction (RPC 1011)."""
        ...

    def call(self, state: StateReader, method: str, params: bytes) -> bytes:
        """``state_call``: e.g. "AccountNonceApi_account_nonce"; raises KeyError for unknown methods."""
        ...


class Overlay(Protocol):
    """Layered writes over a ``StateReader`` with nested transactions (dispatch rollback)."""

    def get(self, key: bytes) -> bytes | None: ...

    def next_key(self, key: bytes) -> bytes | None: ...

    def set(self, key: bytes, value: bytes) -> None: ...

    def delete(self, key: bytes) -> None: ...

    def clear_prefix(self, prefix: bytes) -> None: ...

    def start_transaction(self) -> None: ...

    def commit_transaction(self) -> None: ...

    def rollback_transaction(self) -> None: ...

    def changes(self) -> dict[bytes, bytes | None]:
        """Every key changed since the overlay was created (None = deleted); no open transaction."""
        ...
