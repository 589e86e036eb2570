"""A wallet registers an agent: unmodified @polkadot/api 16.5 + @polkadot/keyring (js/registry_polkadot.js)
sign `agentRegistry.register(...)` with //Bob against `phala-agent node --dev`, follow it to
finalized and decode its events and the stored AgentInfo; the agent then shows in
`phala-agent agents show ID --json`, its sealed prompt opens only with the dev cluster key and
its own AAD, and a non-owner pause fails with a module error polkadot.js decodes."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterator

import pytest
from registry_node import REPO, cli, dev_node
from substrateinterface import Keypair, SubstrateInterface

from phala_agents.client import (
    dev_cluster_key,
    load_agent_file,
    open_prompt,
    prepare_agent,
    register_call_args,
)
from phala_agents.client.sealing import SealedBlob
from phala_agents.errors import SealingError

SCRIPT = REPO / "js" / "registry_polkadot.js"
BOB = Keypair.create_from_uri("//Bob")
ALICE = Keypair.create_from_uri("//Alice")


@pytest.fixture(scope="module")
def url() -> Iterator[str]:
    if shutil.which("node") is None or not (REPO / "js" / "node_modules" / "@polkadot" / "api").exists():
        pytest.skip("node or js/node_modules is missing: run `make setup`")
    with dev_node() as node_url:
        yield node_url


def test_polkadot_js_registers_and_decodes_an_agent(url: str) -> None:
    substrate = SubstrateInterface(url=url)
    try:
        cluster = substrate.query("Workers", "ClusterKey").value
        next_id = substrate.query("AgentRegistry", "NextAgentId").value
    finally:
        substrate.close()
    definition = load_agent_file(REPO / "examples" / "allowlisted" / "agent.toml")
    prepared = prepare_agent(
        definition,
        cluster_pub=bytes.fromhex(cluster["public"][2:]),
        epoch=cluster["epoch"],
        agent_id=next_id,
        version=1,
    )
    args = register_call_args(prepared)
    args["allow"] = list(definition.access.allow)  # polkadot.js takes SS58 as well as hex
    proc = subprocess.run(
        ["node", str(SCRIPT), url],
        cwd=REPO / "js",
        input=json.dumps({"args": args}),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])

    assert out["palletIndex"] == 10
    assert out["constants"] == {
        "maxNameLen": 64,
        "maxSealedPromptLen": 16_400,
        "depositBase": str(10**12),
        "depositPerByte": str(10**7),
    }
    assert out["clusterKey"]["public"] == "0x" + dev_cluster_key().public_bytes.hex()
    assert out["registerArgs"][:2] == ["expectedId", "name"] and "allow" in out["registerArgs"]
    assert out["statuses"][0] == "Ready" and out["statuses"][-1] == "Finalized"
    assert out["dispatchError"] is None
    names = [e["name"] for e in out["events"]]
    assert "balances.Reserved" in names and "agentRegistry.Registered" in names
    assert names[-1] == "system.ExtrinsicSuccess"
    registered = next(e for e in out["events"] if e["name"] == "agentRegistry.Registered")
    assert registered["fields"] == ["agent_id", "owner", "version"]
    assert registered["data"] == [next_id, BOB.ss58_address, 1]
    agent_id = out["agentId"]
    assert agent_id == next_id and out["nextAgentIdAfter"] == next_id + 1
    agent = out["agent"]
    assert agent["owner"] == BOB.ss58_address and agent["name"] == "team-reviewer"
    assert agent["model"] == "smollm2" and agent["access"] == "AllowList" and agent["status"] == "Active"
    assert agent["version"] == 1 and agent["codeHash"] is None and agent["tools"] == []
    assert agent["promptCommitment"] == "0x" + prepared.commitment.hex()
    assert agent["prices"] == {"per1kInput": 500_000_000, "per1kOutput": 1_000_000_000, "perMgasCode": 0}
    assert agent["defaults"] == {"temperatureMilli": 200, "maxTokens": 200}
    deposit = int(agent["deposit"])
    assert deposit == 10**12 + 10**7 * agent["encodedLength"]
    assert int(out["bobReservedAfter"]) - int(out["bobReservedBefore"]) == deposit
    assert sorted(out["access"]) == sorted(definition.access.allow)
    assert out["byName"] == agent_id
    assert out["nonOwnerPause"] == "agentRegistry.NotOwner"
    assert out["statusAfterDenied"] == "Active"

    # The sealed prompt polkadot.js read back opens only with the cluster key and its own AAD.
    blob = SealedBlob(
        epoch=agent["promptEpoch"],
        enc=bytes.fromhex(agent["promptEnc"][2:]),
        ciphertext=bytes.fromhex(agent["promptCiphertext"][2:]),
    )
    key = dev_cluster_key()
    assert open_prompt(blob, key, agent_id=agent_id, version=1) == definition.system_prompt
    for wrong in ({"agent_id": agent_id + 1, "version": 1}, {"agent_id": agent_id, "version": 2}):
        with pytest.raises(SealingError):
            open_prompt(blob, key, **wrong)

    # ... and our own CLI shows the wallet-made agent.
    shown = cli("agents", "show", str(agent_id), "--json", "--url", url)
    assert shown.returncode == 0, shown.stderr
    record = json.loads(shown.stdout)
    assert record["owner"] == BOB.ss58_address and record["name"] == "team-reviewer"
    assert record["version"] == 1 and record["status"] == "Active"
    assert record["prompt_commitment"] == agent["promptCommitment"]
    assert record["deposit"]["raw"] == deposit
    assert sorted(record["allow"]) == sorted(definition.access.allow)
    assert definition.system_prompt[:30] not in shown.stdout
