"""Workers (for now: the cluster key): root sets it, the epoch must grow, the dev genesis holds
the public dev cluster key that ``phala_agents.client.dev_cluster_key`` derives too."""

from __future__ import annotations

import pytest
from substrateinterface import SubstrateInterface
from test_agent_registry import MockExt, assert_last_event, assert_noop, new_test_ext

from phala_agents.chain import DEV_ACCOUNTS, PALLET_INDICES, DevRuntime
from phala_agents.chain.frame import Origin
from phala_agents.chain.pallets.workers import (
    DEV_CLUSTER_EPOCH,
    DEV_CLUSTER_SEED,
    Workers,
    dev_cluster_public_key,
)
from phala_agents.client import dev_cluster
from phala_agents.client.dev_cluster import dev_cluster_key
from phala_agents.errors import BadOrigin, ModuleError
from phala_agents.scale import blake2_256

NEW_KEY = bytes(range(32))


def _set(ext: MockExt, origin: Origin, public: bytes, epoch: int) -> None:
    from phala_agents.chain.frame import Call

    outcome = ext.rt.dispatch(
        Call(pallet="Workers", name="set_cluster_key", args={"public": public, "epoch": epoch}), origin
    )
    if not outcome.ok:
        assert outcome.error is not None
        raise outcome.error


def test_dev_genesis_holds_the_dev_cluster_key() -> None:
    with new_test_ext() as ext:
        info = ext.rt.pallet(Workers).cluster_key.get()
        assert info == {"public": dev_cluster_public_key(), "epoch": DEV_CLUSTER_EPOCH}


def test_chain_and_client_derive_the_same_dev_cluster_key() -> None:
    assert dev_cluster.DEV_CLUSTER_SEED == DEV_CLUSTER_SEED
    assert dev_cluster.DEV_CLUSTER_EPOCH == DEV_CLUSTER_EPOCH
    key = dev_cluster_key()
    assert key.public_bytes == dev_cluster_public_key()
    assert key.private_bytes() == blake2_256(DEV_CLUSTER_SEED)
    assert "private=********" in repr(key)


def test_root_sets_the_cluster_key_and_the_epoch_must_grow() -> None:
    with new_test_ext() as ext:
        _set(ext, Origin.root(), NEW_KEY, 1)
        assert ext.rt.pallet(Workers).cluster_key.get() == {"public": NEW_KEY, "epoch": 1}
        assert_last_event(ext, "ClusterKeySet", {"public": NEW_KEY, "epoch": 1}, pallet="Workers")
        before, events = ext.root(), len(ext.rt.ext.events)
        for epoch in (0, 1):
            with pytest.raises(ModuleError, match="Workers::EpochNotIncreasing"):
                _set(ext, Origin.root(), bytes(32), epoch)
        assert ext.root() == before and len(ext.rt.ext.events) == events


def test_only_root_sets_the_cluster_key() -> None:
    with new_test_ext() as ext:
        before, events = ext.root(), len(ext.rt.ext.events)
        for origin in (Origin.signed(DEV_ACCOUNTS["Alice"]), Origin.none()):
            with pytest.raises(BadOrigin):
                _set(ext, origin, NEW_KEY, 5)
        assert ext.root() == before and len(ext.rt.ext.events) == events


def test_registry_requires_the_new_epoch_after_a_rotation() -> None:
    from test_agent_registry import blob, register, register_args, signed

    with new_test_ext() as ext:
        register(ext, name=b"before")
        _set(ext, Origin.root(), NEW_KEY, 1)
        assert_noop(
            ext,
            "AgentRegistry::StaleClusterEpoch",
            "register",
            signed(DEV_ACCOUNTS["Alice"]),
            **register_args(ext, b"after"),
        )
        register(ext, name=b"after", prompt=blob(epoch=1))


def test_metadata_index_and_substrate_interface_view(substrate: SubstrateInterface) -> None:
    assert PALLET_INDICES["Workers"] == 11
    substrate.init_runtime()
    pallet = substrate.metadata.get_metadata_pallet("Workers")
    assert pallet.value["index"] == 11
    call = substrate.get_metadata_call_function("Workers", "set_cluster_key")
    assert call.value["index"] == 0
    value = substrate.query("Workers", "ClusterKey").value
    assert value == {"public": "0x" + dev_cluster_public_key().hex(), "epoch": 0}
    assert DevRuntime().pallet(Workers).index == 11
