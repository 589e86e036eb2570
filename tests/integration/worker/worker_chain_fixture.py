"""A dev node in-process and helpers to register agents and deposit escrow for worker tests."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from substrateinterface import Keypair

from phala_agents.client import (
    ChainClient,
    parse_agent_toml,
    prepare_agent,
    register_call_args,
)
from phala_agents.node import NodeConfig, NodeThread

AGENT_TOML = """
name = "{name}"
model = "{model}"
system_prompt = "{prompt}"
access = {access}

[generation]
max_tokens = {max_tokens}

[prices]
per_1k_input = {price}
per_1k_output = {price}
"""


@contextmanager
def dev_node() -> Iterator[tuple[NodeThread, ChainClient]]:
    base = Path(tempfile.mkdtemp(prefix="phala-worker-test-"))
    with NodeThread(NodeConfig(base_path=base, rpc_port=0)) as node:
        client = ChainClient.connect(node.url)
        try:
            yield node, client
        finally:
            client.close()


def register_agent(
    client: ChainClient,
    owner: Keypair,
    *,
    name: str,
    model: str = "ok",
    prompt: str = "You are a test agent.",
    access: str = '"public"',
    price: int = 1000,
    max_tokens: int = 8,
) -> int:
    """Register an agent (prompt sealed to Workers.ClusterKey); returns its id."""
    definition = parse_agent_toml(
        AGENT_TOML.format(
            name=name, model=model, prompt=prompt, access=access, price=price, max_tokens=max_tokens
        )
    )
    cluster = client.get_storage("Workers", "ClusterKey", at="best")
    assert isinstance(cluster, dict)
    agent_id = int(str(client.get_storage("AgentRegistry", "NextAgentId", at="best")))
    prepared = prepare_agent(
        definition,
        cluster_pub=bytes.fromhex(str(cluster["public"])[2:]),
        epoch=int(str(cluster["epoch"])),
        agent_id=agent_id,
        version=1,
    )
    client.sign_and_submit(
        "AgentRegistry", "register", register_call_args(prepared), owner, wait_for="finalized"
    ).raise_for_error()
    return agent_id


def deposit(client: ChainClient, who: Keypair, amount: int) -> None:
    client.sign_and_submit(
        "Billing", "deposit", {"amount": amount}, who, wait_for="finalized"
    ).raise_for_error()


def escrow(client: ChainClient, who: Keypair) -> int:
    value = client.get_storage("Billing", "Escrow", who, at="finalized")
    return int(str(value["balance"])) if isinstance(value, dict) else 0
