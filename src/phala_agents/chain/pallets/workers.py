"""``Workers`` (index 11): the cluster key that agent prompts are sealed to.

For now only what the AgentRegistry needs: ``ClusterKey`` (the X25519 public key of the current
epoch) and the root call ``set_cluster_key``. Until attested workers exist, root (sudo on the dev
chain) sets it; the dev genesis sets it to the **dev cluster key**, derived from the public
``DEV_CLUSTER_SEED`` the way //Alice derives from the public dev phrase: anyone can open prompts
sealed to it, so it must never be used outside a dev chain. Worker registration, the attestation
policy and key hand-over extend this pallet later (call indices 1 and up).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import field as dc_field
from typing import Protocol, cast

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from phala_agents.chain.frame import (
    OptionQuery,
    Origin,
    Pallet,
    StorageValue,
    Weight,
    arg,
    call,
    ensure_root,
    error,
    event,
    weight_info,
)
from phala_agents.scale import U32, FixedBytes, Struct, blake2_256, field

DEV_CLUSTER_SEED = b"phala-agents/dev-cluster-key/v1"
"""Public seed of the dev cluster key: private key = blake2_256(DEV_CLUSTER_SEED) (X25519 clamps
it). ``phala_agents.client.dev_cluster`` derives the same key for the dev worker (a test keeps the
two in step: ``client`` may not import ``chain``)."""
DEV_CLUSTER_EPOCH = 0


def dev_cluster_private_key() -> bytes:
    """The dev cluster key's 32 private bytes (public knowledge, like //Alice's seed)."""
    return blake2_256(DEV_CLUSTER_SEED)


def dev_cluster_public_key() -> bytes:
    """The X25519 public key of the dev cluster key (what the dev genesis puts in ``ClusterKey``)."""
    private = X25519PrivateKey.from_private_bytes(dev_cluster_private_key())
    return private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)


ClusterKeyInfo = Struct(
    "pallet_workers::types::ClusterKeyInfo",
    [
        field("public", FixedBytes(32), "[u8; 32]"),
        field("epoch", U32, "u32"),
    ],
    docs=(" The cluster's X25519 public key and its epoch (prompts are sealed to it).",),
)


class WorkersWeightInfo(Protocol):
    """``pallet_workers::WeightInfo``: the declared weight of each call."""

    def set_cluster_key(self) -> Weight: ...


# `ClusterKey`: its key (twox128 ++ twox128) and the longest `ClusterKeyInfo` (`Some` ++ 32 + 4).
_CLUSTER_KEY_READ = 32 + 1 + 32 + 4


@dataclass(frozen=True, slots=True)  # value equality, so equal Configs compare equal
class WorkersWeights:
    """The default ``WorkersWeightInfo``: one read and one write of ``ClusterKey``."""

    def set_cluster_key(self) -> Weight:
        return Weight(10_000_000, _CLUSTER_KEY_READ)


@dataclass(frozen=True, slots=True, kw_only=True)
class WorkersConfig:
    """The pallet's Config (no constants yet, only its weights)."""

    weights: WorkersWeightInfo = dc_field(default_factory=WorkersWeights)


class Workers(Pallet, name="Workers"):
    """Confidential workers and the cluster key their sealed prompts use."""

    cluster_key = StorageValue(
        "ClusterKey",
        ClusterKeyInfo,
        query=OptionQuery,
        docs=" The current cluster key: X25519 public key and epoch. Sealed prompts must use this epoch.",
    )

    EVENTS = (
        event(
            "ClusterKeySet",
            field("public", FixedBytes(32), "[u8; 32]"),
            field("epoch", U32, "u32"),
            docs="The cluster key was set (rotated) by root.",
        ),
    )
    ERRORS = (
        error("EpochNotIncreasing", "A new cluster key must have a higher epoch than the current one."),
    )

    def current_epoch(self) -> int | None:
        """The epoch of the current cluster key, or None when none is set."""
        info = self.cluster_key.get()
        return None if info is None else cast(int, info["epoch"])

    @call(
        index=0,
        weight=weight_info("set_cluster_key"),
        args=[arg("public", FixedBytes(32), "[u8; 32]"), arg("epoch", U32, "u32")],
    )
    def set_cluster_key(self, origin: Origin, public: bytes, epoch: int) -> None:
        """Set the cluster key (root). The epoch must grow, so old sealed blobs stay tied to
        their own key."""
        ensure_root(origin)
        current = self.current_epoch()
        if current is not None and epoch <= current:
            raise self.error("EpochNotIncreasing")
        self.cluster_key.put({"public": bytes(public), "epoch": epoch})
        self.deposit_event("ClusterKeySet", {"public": bytes(public), "epoch": epoch})

    def genesis(self, config: Mapping[str, object]) -> None:
        key = config.get("cluster_key")
        if key is not None:
            public, epoch = cast(tuple[bytes, int], key)
            self.cluster_key.put({"public": bytes(public), "epoch": epoch})


__all__ = [
    "DEV_CLUSTER_EPOCH",
    "DEV_CLUSTER_SEED",
    "ClusterKeyInfo",
    "Workers",
    "WorkersConfig",
    "WorkersWeightInfo",
    "WorkersWeights",
    "dev_cluster_private_key",
    "dev_cluster_public_key",
]
