"""The dev chain's genesis: token, dev accounts and their endowment, and the genesis storage.

The accounts are Substrate's well-known dev keys so that every wallet and tool that knows
//Alice works against this chain unchanged.
"""

from __future__ import annotations

from collections.abc import Mapping

from phala_agents.chain._version import SPEC_NAME, SPEC_VERSION
from phala_agents.chain.frame import FrameRuntime, StorageOverlay
from phala_agents.chain.pallets.workers import DEV_CLUSTER_EPOCH, dev_cluster_public_key, dev_worker_policy

TOKEN_SYMBOL = "UNIT"  # noqa: S105 - a token ticker, not a secret
TOKEN_DECIMALS = 12
SS58_PREFIX = 42
UNIT = 10**TOKEN_DECIMALS
DEV_ENDOWMENT = 1 << 60  # what substrate's dev chain specs give each dev account

# The well-known dev accounts (sr25519 public keys of //Alice ... //Ferdie and their //stash).
DEV_ACCOUNTS: dict[str, bytes] = {
    name: bytes.fromhex(key)
    for name, key in (
        ("Alice", "d43593c715fdd31c61141abd04a99fd6822c8558854ccde39a5684e7a56da27d"),
        ("Bob", "8eaf04151687736326c9fea17e25fc5287613693c912909cb226aa4794f26a48"),
        ("Charlie", "90b5ab205c6974c9ea841be688864633dc9ca8a357843eeacf2314649965fe22"),
        ("Dave", "306721211d5404bd9da88e0204360a1a9ab8b87c66c1bc2fcdd37f3c2222cc20"),
        ("Eve", "e659a7a1628cdd93febc04a4e0646ea20e9f5f0ce097d9a05290d4a9e054df4e"),
        ("Ferdie", "1cbd2d43530a44705ad088af313e18f80b53ef16b36177cd4b77b846f2a5f07c"),
        ("Alice//stash", "be5ddb1579b72e84524fc29e78609e3caf42e85aa118ebfe0b0ad404b5bdd25f"),
        ("Bob//stash", "fe65717dad0447d715f660a0a58411de509b42e6efb8375f562f58a554d5860e"),
        ("Charlie//stash", "1e07379407fecc4b89eb7dbd287c2c781cfb1907a96947a3eb18e4f8e7198625"),
        ("Dave//stash", "e860f1b1c7227f7c22602f53f15af80747814dffd839719731ee3bba6edc126c"),
        ("Eve//stash", "8ac59e11963af19174d0b94d5d78041c233f55d2e19324665bafdfb62925af2d"),
        ("Ferdie//stash", "101191192fc877c24d725b337120fa3edc63d227bbc92705db1e2cb65f56981a"),
    )
}


def dev_genesis_config() -> dict[str, Mapping[str, object]]:
    """Each pallet's genesis config for the dev chain, by pallet name."""
    return {
        "Balances": {"balances": [(key, DEV_ENDOWMENT) for key in DEV_ACCOUNTS.values()]},
        "Sudo": {"key": DEV_ACCOUNTS["Alice"]},
        # The public dev cluster key (workers.DEV_CLUSTER_SEED) and a policy that trusts the
        # simulated TEE's dev roots (workers.md "Policies"): dev chains only.
        "Workers": {
            "cluster_key": (dev_cluster_public_key(), DEV_CLUSTER_EPOCH),
            "policy": dev_worker_policy(),
        },
    }


class _EmptyState:
    """The state before genesis: nothing to read."""

    def get(self, key: bytes) -> bytes | None:
        del key
        return None

    def next_key(self, key: bytes) -> bytes | None:
        del key
        return None


def build_genesis_storage(
    runtime: FrameRuntime, genesis_config: Mapping[str, Mapping[str, object]]
) -> dict[bytes, bytes]:
    """Every pallet's ``genesis`` (its part of ``genesis_config``, by pallet name) plus the
    well-known keys, as the key/value pairs of the genesis state."""
    overlay = StorageOverlay(_EmptyState())
    previous = runtime.ext.overlay
    runtime.ext.overlay = overlay
    try:
        for pallet in runtime.pallets.values():
            pallet.genesis(genesis_config.get(pallet.NAME, {}))
        # A Python runtime cannot be replaced by wasm; `:code` only names it (see docs/runtime.md).
        overlay.set(
            b":code",
            b"phala-agents python runtime " + SPEC_NAME.encode() + b" " + str(SPEC_VERSION).encode(),
        )
        overlay.set(b":extrinsic_index", (0).to_bytes(4, "little"))
    finally:
        runtime.ext.overlay = previous
    return {k: v for k, v in overlay.changes().items() if v is not None}


__all__ = [
    "DEV_ACCOUNTS",
    "DEV_ENDOWMENT",
    "SS58_PREFIX",
    "TOKEN_DECIMALS",
    "TOKEN_SYMBOL",
    "UNIT",
    "build_genesis_storage",
    "dev_genesis_config",
]
