"""The dev cluster key: the well-known X25519 key the dev chain's genesis puts in
``Workers.ClusterKey`` (epoch 0), so the dev worker can open prompts sealed on a dev chain.

Derived from a public seed the way //Alice derives from the public dev phrase: private key =
``blake2_256(DEV_CLUSTER_SEED)``. Anyone can open prompts sealed to it; a real cluster key is
generated inside a confidential VM and never leaves attested workers. The same derivation is in
``phala_agents.chain.pallets.workers`` (``client`` may not import ``chain``); a test keeps the two
equal.
"""

from __future__ import annotations

from phala_agents.client.sealing import ClusterKey
from phala_agents.scale import blake2_256

DEV_CLUSTER_SEED = b"phala-agents/dev-cluster-key/v1"
DEV_CLUSTER_EPOCH = 0


def dev_cluster_key() -> ClusterKey:
    """The dev cluster key pair (epoch 0). Only for dev chains: its private half is public."""
    return ClusterKey.from_private_bytes(blake2_256(DEV_CLUSTER_SEED), epoch=DEV_CLUSTER_EPOCH)


__all__ = ["DEV_CLUSTER_EPOCH", "DEV_CLUSTER_SEED", "dev_cluster_key"]
