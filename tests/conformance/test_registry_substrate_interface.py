"""Unmodified substrate-interface 1.8.1 against `phala-agent node --dev` (subprocess): many
agents registered with pre-signed extrinsics (several per block through the pool), query_map over
all of them with paging, a storage subscription that sees a pause, and failing registrations
(oversized prompt, stale id, stale epoch, non-owner) that leave the registry unchanged."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from registry_node import REPO, dev_node
from substrateinterface import Keypair, SubstrateInterface

from phala_agents.client import (
    dev_cluster_key,
    load_agent_file,
    open_prompt,
    prepare_agent,
    register_call_args,
)
from phala_agents.client.sealing import SealedBlob

SIGNERS = [Keypair.create_from_uri(u) for u in ("//Alice", "//Bob", "//Charlie", "//Dave")]
AGENTS = 24  # more than two pages of 10
PAGE = 10


@pytest.fixture(scope="module")
def url() -> Iterator[str]:
    with dev_node() as node_url:
        yield node_url


@pytest.fixture(scope="module")
def substrate(url: str) -> Iterator[SubstrateInterface]:
    s = SubstrateInterface(url=url)
    try:
        yield s
    finally:
        s.close()


def _cluster(s: SubstrateInterface) -> tuple[bytes, int]:
    value = s.query("Workers", "ClusterKey").value
    return bytes.fromhex(value["public"][2:]), int(value["epoch"])


def _args(s: SubstrateInterface, agent_id: int, name: str, **over: Any) -> dict[str, Any]:
    definition = load_agent_file(REPO / "examples" / "assistant" / "agent.toml")
    from dataclasses import replace

    public, epoch = _cluster(s)
    prepared = prepare_agent(
        replace(definition, name=name), cluster_pub=public, epoch=epoch, agent_id=agent_id, version=1
    )
    args = register_call_args(prepared)
    args.update(over)
    return args


def _agent_count(s: SubstrateInterface) -> int:
    return int(s.query("AgentRegistry", "NextAgentId").value)


def test_many_agents_then_query_map_with_paging(substrate: SubstrateInterface) -> None:
    start = _agent_count(substrate)
    # Pre-sign every registration (ids assigned in order: one signer's nonces are sequential,
    # and the expected ids follow the order the pool will include them: by signer, then nonce).
    nonces = {k.ss58_address: substrate.get_account_nonce(k.ss58_address) for k in SIGNERS}
    extrinsics = []
    for i in range(AGENTS):
        signer = SIGNERS[i % len(SIGNERS)]
        call = substrate.compose_call("AgentRegistry", "register", _args(substrate, start + i, f"paged-{i}"))
        xt = substrate.create_signed_extrinsic(call=call, keypair=signer, nonce=nonces[signer.ss58_address])
        nonces[signer.ss58_address] += 1
        extrinsics.append(xt)
    # One at a time so the expected ids hold (a racing order would be StaleAgentId by design).
    receipts = [substrate.submit_extrinsic(xt, wait_for_inclusion=True) for xt in extrinsics]
    assert all(r.is_success for r in receipts), [r.error_message for r in receipts if not r.is_success]
    assert _agent_count(substrate) == start + AGENTS

    seen: dict[int, dict[str, Any]] = {}
    result = substrate.query_map("AgentRegistry", "Agents", page_size=PAGE)
    for key, value in result:
        seen[int(key.value)] = value.value
    assert set(range(start, start + AGENTS)) <= set(seen)
    assert len(seen) == _agent_count(substrate)
    for i in range(AGENTS):
        info = seen[start + i]
        assert info["name"] == f"paged-{i}" and info["owner"] == SIGNERS[i % len(SIGNERS)].ss58_address
        assert info["version"] == 1 and info["status"] == "Active"
    # Explicit pages: page_size keys at a time, continuing from the last key.
    first = substrate.query_map("AgentRegistry", "Agents", page_size=PAGE, max_results=PAGE)
    first_keys = [int(k.value) for k, _ in first]
    assert len(first_keys) == PAGE
    rest = substrate.query_map("AgentRegistry", "Agents", page_size=PAGE, start_key=first.last_key)
    rest_keys = [int(k.value) for k, _ in rest]
    assert not set(first_keys) & set(rest_keys)
    assert len(first_keys) + len(rest_keys) == len(seen)
    # A per-owner prefix query over the double map.
    bob = SIGNERS[1].ss58_address
    mine = [
        int(k.value) for k, _ in substrate.query_map("AgentRegistry", "AgentsByOwner", [bob], page_size=3)
    ]
    assert {start + i for i in range(1, AGENTS, len(SIGNERS))} <= set(mine)
    # A worker's view: the sealed prompt of one of them opens with the cluster key.
    info = seen[start + 5]
    blob = SealedBlob(
        epoch=info["prompt"]["epoch"],
        enc=bytes.fromhex(info["prompt"]["enc"][2:]),
        ciphertext=bytes.fromhex(info["prompt"]["ciphertext"][2:]),
    )
    assert open_prompt(blob, dev_cluster_key(), agent_id=start + 5, version=1).strip()


def test_storage_subscription_sees_a_pause(substrate: SubstrateInterface, url: str) -> None:
    alice = SIGNERS[0]
    agent_id = _agent_count(substrate)
    call = substrate.compose_call("AgentRegistry", "register", _args(substrate, agent_id, "watched"))
    receipt = substrate.submit_extrinsic(
        substrate.create_signed_extrinsic(call=call, keypair=alice), wait_for_inclusion=True
    )
    assert receipt.is_success, receipt.error_message

    def pause_later() -> None:
        time.sleep(0.5)
        other = SubstrateInterface(url=url)
        try:
            pause = other.compose_call("AgentRegistry", "pause", {"agent_id": agent_id})
            other.submit_extrinsic(
                other.create_signed_extrinsic(call=pause, keypair=alice), wait_for_inclusion=True
            )
        finally:
            other.close()

    statuses: list[str] = []

    def handler(storage_key: Any, obj: Any, update_nr: int, subscription_id: Any) -> Any:
        del storage_key, update_nr, subscription_id
        statuses.append(obj.value["status"])
        return True if obj.value["status"] == "Paused" else None

    thread = threading.Thread(target=pause_later)
    thread.start()
    key = substrate.create_storage_key("AgentRegistry", "Agents", [agent_id])
    substrate.subscribe_storage([key], handler)
    thread.join(timeout=60)
    assert statuses[0] == "Active" and statuses[-1] == "Paused"


@pytest.mark.parametrize(
    ("case", "error"),
    [
        ("oversized", "PromptTooLong"),
        ("stale_id", "StaleAgentId"),
        ("stale_epoch", "StaleClusterEpoch"),
        ("long_name", "NameTooLong"),
    ],
)
def test_failing_registrations_change_no_registry_state(
    substrate: SubstrateInterface, case: str, error: str
) -> None:
    agent_id = _agent_count(substrate)
    args = _args(substrate, agent_id, f"bad-{case}")
    if case == "oversized":
        args["prompt"] = {**args["prompt"], "ciphertext": "0x" + "ab" * 16_401}
    elif case == "stale_id":
        args["expected_id"] = agent_id + 7
    elif case == "stale_epoch":
        args["prompt"] = {**args["prompt"], "epoch": 9}
    else:
        args["name"] = "0x" + b"n".hex() * 65
    before = substrate.query("System", "Account", [SIGNERS[2].ss58_address]).value["data"]["reserved"]
    prefix = substrate.create_storage_key("AgentRegistry", "Agents").to_hex()
    keys_before = substrate.rpc_request("state_getKeysPaged", [prefix, 1000, prefix])["result"]
    call = substrate.compose_call("AgentRegistry", "register", args)
    receipt = substrate.submit_extrinsic(
        substrate.create_signed_extrinsic(call=call, keypair=SIGNERS[2]), wait_for_inclusion=True
    )
    assert not receipt.is_success
    assert receipt.error_message["name"] == error
    assert _agent_count(substrate) == agent_id
    assert substrate.rpc_request("state_getKeysPaged", [prefix, 1000, prefix])["result"] == keys_before
    after = substrate.query("System", "Account", [SIGNERS[2].ss58_address]).value["data"]["reserved"]
    assert after == before
