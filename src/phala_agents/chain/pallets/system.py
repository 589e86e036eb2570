"""``frame_system`` (index 0): accounts, block bookkeeping, events, limits."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import field as dc_field
from typing import Protocol, cast

from phala_agents.chain.frame import (
    Blake2_128Concat,
    DispatchClass,
    OptionQuery,
    Origin,
    Pallet,
    StorageMap,
    StorageValue,
    Twox64Concat,
    ValueQuery,
    Weight,
    arg,
    call,
    constant,
    ensure_root,
    ensure_signed,
    error,
    event,
    weight_info,
)
from phala_agents.chain.frame._types import (
    AccountInfo,
    BlockLengthCodec,
    BlockNumber,
    BlockWeightsCodec,
    Digest,
    DispatchErrorCodec,
    DispatchInfoCodec,
    LastRuntimeUpgradeInfo,
    PerDispatchClassWeight,
    Phase,
    RuntimeDbWeightCodec,
    RuntimeVersionCodec,
)
from phala_agents.scale import (
    H256,
    U16,
    U32,
    U64,
    AccountId,
    AnyCodec,
    Bool,
    Bytes,
    Tuple,
    Vec,
    blake2_256,
    encode_compact,
    field,
)

HASH69 = bytes([69]) * 32  # frame_system's genesis BlockHash(0) placeholder
NORMAL_DISPATCH_RATIO = (3, 4)


class SystemWeightInfo(Protocol):
    """``frame_system::WeightInfo``: the declared weight of each call; ``b`` is a byte length,
    ``i`` an item count, ``p`` the number of keys a prefix removal may touch."""

    def remark(self, b: int) -> Weight: ...
    def set_heap_pages(self) -> Weight: ...
    def set_storage(self, i: int) -> Weight: ...
    def kill_storage(self, i: int) -> Weight: ...
    def kill_prefix(self, p: int) -> Weight: ...
    def remark_with_event(self, b: int) -> Weight: ...


@dataclass(frozen=True, slots=True)  # value equality, so equal Configs compare equal
class SystemWeights:
    """The default ``SystemWeightInfo``: hashing costs ~1 ns per byte, a storage write 100 us."""

    def remark(self, b: int) -> Weight:
        return Weight(1_000_000 + 1_000 * b, 0)

    def set_heap_pages(self) -> Weight:
        return Weight(100_000_000, 0)

    def set_storage(self, i: int) -> Weight:
        return Weight(1_000_000 + 100_000_000 * i, 0)

    def kill_storage(self, i: int) -> Weight:
        return Weight(1_000_000 + 100_000_000 * i, 0)

    def kill_prefix(self, p: int) -> Weight:
        return Weight(1_000_000 + 100_000_000 * p, 0)

    def remark_with_event(self, b: int) -> Weight:
        return Weight(5_000_000 + 1_000 * b, 0)


@dataclass(frozen=True, slots=True, kw_only=True)
class SystemConfig:
    """``frame_system::Config`` constants."""

    block_hash_count: int = 4096
    ss58_prefix: int = 42
    version: Mapping[str, object] = dc_field(default_factory=dict)  # RuntimeVersion as a dict
    max_block_ref_time: int = 2 * 10**12  # 2 s of execution per block
    max_block_proof_size: int = 2**64 - 1  # a solo chain has no PoV limit (solochain template)
    base_block_ref_time: int = 390_000_000
    base_extrinsic_ref_time: int = 125_000_000
    max_block_length: int = 5 * 1024 * 1024
    db_read: int = 25_000_000
    db_write: int = 100_000_000
    weights: SystemWeightInfo = dc_field(default_factory=SystemWeights)

    @property
    def normal_max_total(self) -> Weight:
        num, den = NORMAL_DISPATCH_RATIO
        return Weight(self.max_block_ref_time * num // den, self.max_block_proof_size * num // den)

    @property
    def normal_max_length(self) -> int:
        num, den = NORMAL_DISPATCH_RATIO
        return self.max_block_length * num // den

    def max_length(self, dispatch_class: DispatchClass) -> int:
        """``BlockLength`` for ``dispatch_class``: what its extrinsics may total in a block."""
        return self.normal_max_length if dispatch_class is DispatchClass.NORMAL else self.max_block_length

    @property
    def max_extrinsic(self) -> Weight:
        total = self.normal_max_total
        return Weight(total.ref_time - self.base_extrinsic_ref_time, total.proof_size)

    def block_weights(self) -> dict[str, object]:
        """The ``BlockWeights`` constant: normal extrinsics get ``NORMAL_DISPATCH_RATIO`` of the
        block, operational ones all of it (the rest is reserved for them), mandatory ones no limit."""
        base = Weight(self.base_extrinsic_ref_time).to_dict()
        full = Weight(self.max_block_ref_time, self.max_block_proof_size)
        normal_total = self.normal_max_total
        return {
            "base_block": Weight(self.base_block_ref_time).to_dict(),
            "max_block": full.to_dict(),
            "per_class": {
                "normal": {
                    "base_extrinsic": base,
                    "max_extrinsic": self.max_extrinsic.to_dict(),
                    "max_total": normal_total.to_dict(),
                    "reserved": Weight(0).to_dict(),
                },
                "operational": {
                    "base_extrinsic": base,
                    "max_extrinsic": (full - Weight(self.base_extrinsic_ref_time)).to_dict(),
                    "max_total": full.to_dict(),
                    "reserved": (full - normal_total).to_dict(),
                },
                "mandatory": {
                    "base_extrinsic": base,
                    "max_extrinsic": None,
                    "max_total": None,
                    "reserved": None,
                },
            },
        }

    def block_length(self) -> dict[str, object]:
        return {
            "max": {
                "normal": self.normal_max_length,
                "operational": self.max_block_length,
                "mandatory": self.max_block_length,
            }
        }


class _EventsPlaceholder(AnyCodec):
    """``Vec<EventRecord<RuntimeEvent, Hash>>``: the runtime substitutes its own type."""

    def __init__(self) -> None:
        self.type_name = "Vec<EventRecord>"

    def default(self) -> object:
        return []

    def encode(self, value: object) -> bytes:
        if value:
            raise ValueError("System.Events is written by the runtime only")
        return b"\x00"


EVENTS_PLACEHOLDER = _EventsPlaceholder()


class System(Pallet, name="System", crate="frame_system"):
    """Accounts (nonce, reference counts, balances data), block number and hashes, events."""

    account = StorageMap(
        "Account",
        Blake2_128Concat,
        AccountId,
        AccountInfo,
        query=ValueQuery,
        docs=" The full account information for a particular account ID.",
    )
    extrinsic_count = StorageValue(
        "ExtrinsicCount", U32, query=OptionQuery, docs=" Total extrinsics count for the current block."
    )
    block_weight = StorageValue(
        "BlockWeight", PerDispatchClassWeight, query=ValueQuery, docs=" The current weight for the block."
    )
    all_extrinsics_len = StorageValue(
        "AllExtrinsicsLen",
        U32,
        query=OptionQuery,
        docs=" Total length (in bytes) for all extrinsics put together, for the current block.",
    )
    block_hash = StorageMap(
        "BlockHash",
        Twox64Concat,
        BlockNumber,
        H256,
        query=ValueQuery,
        docs=" Map of block numbers to block hashes.",
    )
    extrinsic_data = StorageMap(
        "ExtrinsicData",
        Twox64Concat,
        U32,
        Bytes,
        query=ValueQuery,
        docs=" Extrinsics data for the current block (maps an extrinsic's index to its data).",
    )
    number = StorageValue(
        "Number", BlockNumber, query=ValueQuery, docs=" The current block number being processed."
    )
    parent_hash = StorageValue("ParentHash", H256, query=ValueQuery, docs=" Hash of the previous block.")
    digest = StorageValue(
        "Digest",
        Digest,
        query=ValueQuery,
        docs=" Digest of the current block, also part of the block header.",
    )
    events = StorageValue(
        "Events", EVENTS_PLACEHOLDER, query=ValueQuery, docs=" Events deposited for the current block."
    )
    event_count = StorageValue(
        "EventCount", U32, query=ValueQuery, docs=" The number of events in the `Events<T>` list."
    )
    last_runtime_upgrade = StorageValue(
        "LastRuntimeUpgrade",
        LastRuntimeUpgradeInfo,
        query=OptionQuery,
        docs=" Stores the `spec_version` and `spec_name` of when the last runtime upgrade happened.",
    )
    upgraded_to_u32_ref_count = StorageValue(
        "UpgradedToU32RefCount",
        Bool,
        query=ValueQuery,
        docs=" True if we have upgraded so that `type RefCount` is `u32`. False (default) if not.",
    )
    upgraded_to_triple_ref_count = StorageValue(
        "UpgradedToTripleRefCount",
        Bool,
        query=ValueQuery,
        docs=" True if we have upgraded so that AccountInfo contains three types of `RefCount`.",
    )
    execution_phase = StorageValue(
        "ExecutionPhase", Phase, query=OptionQuery, docs=" The execution phase of the block."
    )

    EVENTS = (
        event(
            "ExtrinsicSuccess",
            field("dispatch_info", DispatchInfoCodec, "DispatchInfo"),
            docs="An extrinsic completed successfully.",
        ),
        event(
            "ExtrinsicFailed",
            field("dispatch_error", DispatchErrorCodec, "DispatchError"),
            field("dispatch_info", DispatchInfoCodec, "DispatchInfo"),
            docs="An extrinsic failed.",
        ),
        event("CodeUpdated", docs="`:code` was updated."),
        event("NewAccount", field("account", AccountId, "T::AccountId"), docs="A new account was created."),
        event("KilledAccount", field("account", AccountId, "T::AccountId"), docs="An account was reaped."),
        event(
            "Remarked",
            field("sender", AccountId, "T::AccountId"),
            field("hash", H256, "T::Hash"),
            docs="On on-chain remark happened.",
        ),
    )
    ERRORS = (
        error(
            "InvalidSpecName",
            "The name of specification does not match between the current runtime\nand the new runtime.",
        ),
        error(
            "SpecVersionNeedsToIncrease",
            "The specification version is not allowed to decrease between the "
            "current runtime\nand the new runtime.",
        ),
        error("FailedToExtractRuntimeVersion", "Failed to extract the runtime version from the new runtime."),
        error("NonDefaultComposite", "Suicide called when the account has non-default composite data."),
        error(
            "NonZeroRefCount", "There is a non-zero reference count preventing the account from being purged."
        ),
        error("CallFiltered", "The origin filter prevent the call to be dispatched."),
        error(
            "MultiBlockMigrationsOngoing",
            "A multi-block migration is ongoing and prevents the current code from being replaced.",
        ),
        error("NothingAuthorized", "No upgrade authorized."),
        error("Unauthorized", "The submitted code is not authorized."),
    )
    CONSTANTS = (
        constant(
            "BlockWeights",
            BlockWeightsCodec,
            lambda c: cast(SystemConfig, c).block_weights(),
            " Block & extrinsics weights: base values and limits.",
        ),
        constant(
            "BlockLength",
            BlockLengthCodec,
            lambda c: cast(SystemConfig, c).block_length(),
            " The maximum length of a block (in bytes).",
        ),
        constant(
            "BlockHashCount",
            BlockNumber,
            "block_hash_count",
            " Maximum number of block number to block hash mappings to keep (oldest pruned first).",
        ),
        constant(
            "DbWeight",
            RuntimeDbWeightCodec,
            lambda c: {"read": cast(SystemConfig, c).db_read, "write": cast(SystemConfig, c).db_write},
            " The weight of runtime database operations the runtime can invoke.",
        ),
        constant(
            "Version",
            RuntimeVersionCodec,
            lambda c: dict(cast(SystemConfig, c).version),
            " Get the chain's in-code version.",
        ),
        constant(
            "SS58Prefix",
            U16,
            "ss58_prefix",
            " The designated SS58 prefix of this chain.",
        ),
    )

    config: SystemConfig

    # --- calls ----------------------------------------------------------------------------------------

    @call(index=0, weight=weight_info("remark", "remark"), args=[arg("remark", Bytes, "Vec<u8>")])
    def remark(self, origin: Origin, remark: bytes) -> None:
        """Make some on-chain remark.

        Can be executed by every `origin`."""
        del origin, remark

    @call(index=1, weight=weight_info("set_heap_pages"), args=[arg("pages", U64, "u64")])
    def set_heap_pages(self, origin: Origin, pages: int) -> None:
        """Set the number of pages in the WebAssembly environment's heap."""
        ensure_root(origin)
        del pages

    @call(
        index=4,
        weight=weight_info("set_storage", "items"),
        args=[arg("items", Vec(Tuple(Bytes, Bytes)), "Vec<KeyValue>")],
    )
    def set_storage(self, origin: Origin, items: list[tuple[bytes, bytes]]) -> None:
        """Set some items of storage."""
        ensure_root(origin)
        overlay = self.runtime.ext.current()
        for key, value in items:
            overlay.set(key, value)

    @call(index=5, weight=weight_info("kill_storage", "keys"), args=[arg("keys", Vec(Bytes), "Vec<Key>")])
    def kill_storage(self, origin: Origin, keys: list[bytes]) -> None:
        """Kill some items from storage."""
        ensure_root(origin)
        overlay = self.runtime.ext.current()
        for key in keys:
            overlay.delete(key)

    @call(
        index=6,
        weight=weight_info("kill_prefix", "subkeys"),
        args=[arg("prefix", Bytes, "Key"), arg("subkeys", U32, "u32")],
    )
    def kill_prefix(self, origin: Origin, prefix: bytes, subkeys: int) -> None:
        """Kill all storage items with a key that starts with the given prefix."""
        ensure_root(origin)
        del subkeys
        self.runtime.ext.current().clear_prefix(prefix)

    @call(index=7, weight=weight_info("remark_with_event", "remark"), args=[arg("remark", Bytes, "Vec<u8>")])
    def remark_with_event(self, origin: Origin, remark: bytes) -> None:
        """Make some on-chain remark and emit event."""
        who = ensure_signed(origin)
        self.deposit_event("Remarked", {"sender": who, "hash": blake2_256(remark)})

    # --- account helpers (frame_system's public functions) ---------------------------------------------

    def account_nonce(self, who: bytes) -> int:
        return cast(int, self.account.get(who)["nonce"])

    def on_created_account(self, who: bytes) -> None:
        self.deposit_event("NewAccount", {"account": who})

    def on_killed_account(self, who: bytes) -> None:
        self.deposit_event("KilledAccount", {"account": who})

    # --- block lifecycle ------------------------------------------------------------------------------

    def initialize(self, number: int, parent_hash: bytes, digest: dict[str, object]) -> None:
        self.execution_phase.put(("Initialization", None))
        self.number.put(number)
        self.digest.put(digest)
        self.parent_hash.put(parent_hash)
        if number > 0:
            self.block_hash.insert(number - 1, parent_hash)
        self.block_weight.kill()
        overlay = self.runtime.ext.current()
        overlay.delete(self.events.key())
        overlay.delete(self.event_count.key())

    def finalize(self, extrinsic_count: int, events: list[bytes]) -> None:
        overlay = self.runtime.ext.current()
        self.execution_phase.kill()
        self.all_extrinsics_len.kill()
        self.extrinsic_count.put(extrinsic_count)
        overlay.set(self.events.key(), encode_compact(len(events)) + b"".join(events))
        self.event_count.put(len(events))
        number = self.number.get()
        to_remove = number - self.config.block_hash_count - 1
        if to_remove > 0:
            self.block_hash.remove(to_remove)

    def genesis(self, config: Mapping[str, object]) -> None:
        self.block_hash.insert(0, HASH69)
        self.parent_hash.put(HASH69)
        self.upgraded_to_u32_ref_count.put(True)
        self.upgraded_to_triple_ref_count.put(True)
        version = self.config.version
        self.last_runtime_upgrade.put(
            {"spec_version": version.get("spec_version", 0), "spec_name": version.get("spec_name", "")}
        )
        del config


__all__ = ["EVENTS_PLACEHOLDER", "HASH69", "System", "SystemConfig", "SystemWeightInfo", "SystemWeights"]
