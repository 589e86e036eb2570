"""`phala-agent deploy` and `phala-agent agents ...` against a real dev node (in-process thread,
real sockets): create, re-deploy without a twin, access reconciliation, show/list, governance
calls, the StaleAgentId retry, and bad input (unknown agent, non-owner, oversized prompt,
malformed toml, wrong key password): each a clear error with the head and state root unchanged."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import structlog
from substrateinterface import Keypair
from typer.testing import CliRunner, Result

from phala_agents.cli import agents as agents_cli
from phala_agents.cli._app import app
from phala_agents.client import ChainClient, dev_cluster_key, open_prompt, prompt_commitment
from phala_agents.client.keystore import Keystore
from phala_agents.client.sealing import SealedBlob
from phala_agents.errors import SealingError
from phala_agents.node import NodeConfig, NodeThread

REPO = Path(__file__).resolve().parents[2]
ALICE = Keypair.create_from_uri("//Alice")
BOB = Keypair.create_from_uri("//Bob")
CHARLIE = Keypair.create_from_uri("//Charlie")


@pytest.fixture(scope="module")
def node() -> Iterator[NodeThread]:
    with NodeThread(NodeConfig(rpc_port=0)) as thread:
        yield thread


@pytest.fixture(scope="module")
def api(node: NodeThread) -> Iterator[ChainClient]:
    with ChainClient.connect(node.url) as client:
        yield client


@pytest.fixture(autouse=True)
def _restore_structlog() -> Iterator[None]:
    saved = structlog.get_config()
    yield
    structlog.configure(**saved)


def cli(node: NodeThread, *args: str, stdin: str | None = None) -> Result:
    return CliRunner().invoke(app, [*args, "--url", node.url], input=stdin, catch_exceptions=False)


def agent_dir(tmp_path: Path, example: str, name: str) -> Path:
    target = tmp_path / name
    shutil.copytree(REPO / "examples" / example, target)
    toml = target / "agent.toml"
    text = toml.read_text()
    old_name = text.split('name = "', 1)[1].split('"', 1)[0]
    toml.write_text(text.replace(f'name = "{old_name}"', f'name = "{name}"', 1))
    return toml


def snapshot(api: ChainClient) -> tuple[str, str]:
    head = api.head("best")
    return head.hash, head.state_root


def sealed_of(info: dict[str, Any]) -> SealedBlob:
    p = info["prompt"]
    return SealedBlob(
        epoch=p["epoch"], enc=bytes.fromhex(p["enc"][2:]), ciphertext=bytes.fromhex(p["ciphertext"][2:])
    )


def prompt_of(toml: Path) -> str:
    from phala_agents.client import load_agent_file

    return load_agent_file(toml).system_prompt


def test_deploy_creates_then_redeploy_updates_without_a_twin(
    node: NodeThread, api: ChainClient, tmp_path: Path
) -> None:
    toml = agent_dir(tmp_path, "assistant", "deploy-twin")
    first = cli(node, "deploy", str(toml), "--suri", "//Alice", "--json")
    assert first.exit_code == 0, first.stderr
    out = json.loads(first.stdout)
    assert out["action"] == "created" and out["version"] == 1 and out["owner"] == ALICE.ss58_address
    assert out["extrinsic_hash"].startswith("0x") and out["block_hash"].startswith("0x")
    agent_id = out["agent_id"]
    info = api.query("AgentRegistry", "Agents", agent_id)
    assert isinstance(info, dict) and info["version"] == 1 and info["name"] == "deploy-twin"
    key = dev_cluster_key()
    prompt = prompt_of(toml)
    assert open_prompt(sealed_of(info), key, agent_id=agent_id, version=1) == prompt
    with pytest.raises(SealingError):
        open_prompt(sealed_of(info), key, agent_id=agent_id + 1, version=1)
    state = json.loads((toml.parent / ".phala-agent" / "agent.toml.json").read_text())
    assert state["agent_id"] == agent_id
    salt = bytes.fromhex(state["salt"][2:])
    assert info["prompt_commitment"] == "0x" + prompt_commitment(salt, prompt).hex()
    assert (toml.parent / ".phala-agent" / "agent.toml.json").stat().st_mode & 0o777 == 0o600

    again = cli(node, "deploy", str(toml), "--suri", "//Alice")
    assert again.exit_code == 0, again.stderr
    assert again.stdout.startswith(f"agent {agent_id} updated (version 2)")
    assert "extrinsic 0x" in again.stdout
    info = api.query("AgentRegistry", "Agents", agent_id)
    assert isinstance(info, dict) and info["version"] == 2
    assert open_prompt(sealed_of(info), key, agent_id=agent_id, version=2) == prompt
    with pytest.raises(SealingError):
        open_prompt(sealed_of(info), key, agent_id=agent_id, version=1)
    listed = json.loads(cli(node, "agents", "list", "--owner", ALICE.ss58_address, "--json").stdout)
    assert [a["id"] for a in listed if a["name"] == "deploy-twin"] == [agent_id]


def test_show_never_prints_the_prompt_and_lists_access(node: NodeThread, tmp_path: Path) -> None:
    toml = agent_dir(tmp_path, "allowlisted", "show-me")
    out = json.loads(cli(node, "deploy", str(toml), "--suri", "//Alice", "--json").stdout)
    shown = cli(node, "agents", "show", str(out["agent_id"]), "--json")
    assert shown.exit_code == 0, shown.stderr
    record = json.loads(shown.stdout)
    assert record["access"] == "AllowList"
    from phala_agents.client import load_agent_file

    definition = load_agent_file(toml)
    assert sorted(record["allow"]) == sorted(definition.access.allow)
    assert record["prices"]["per_1k_input"] == {"raw": 500_000_000, "unit": "0.0005 UNIT"}
    assert record["prompt_commitment"] == out["prompt_commitment"]
    assert "ciphertext" not in shown.stdout
    human = cli(node, "agents", "show", str(out["agent_id"]))
    prompt = definition.system_prompt
    for text in (shown.stdout, human.stdout, human.stderr):
        assert prompt[:40] not in text
    assert "commitment:" in human.stdout and "0.0005 UNIT (500000000)" in human.stdout


def test_redeploy_reconciles_the_allowlist(node: NodeThread, api: ChainClient, tmp_path: Path) -> None:
    toml = agent_dir(tmp_path, "allowlisted", "reconcile")
    out = json.loads(cli(node, "deploy", str(toml), "--suri", "//Alice", "--json").stdout)
    agent_id = out["agent_id"]
    text = toml.read_text()
    before = {str(k) for k, _ in api.query_map("AgentRegistry", "Access", agent_id)}
    assert len(before) >= 2
    dropped = sorted(before)[0]
    toml.write_text(
        text.replace(f'"{dropped}",', "").replace(f', "{dropped}"', "").replace(f'"{dropped}"', "")
    )
    again = cli(node, "deploy", str(toml), "--suri", "//Alice", "--json")
    assert again.exit_code == 0, again.stderr
    after = {str(k) for k, _ in api.query_map("AgentRegistry", "Access", agent_id)}
    assert after == before - {dropped}
    toml.write_text(text.split("access", 1)[0] + 'access = "public"\n' + "[" + text.split("\n[", 1)[1])
    assert cli(node, "deploy", str(toml), "--suri", "//Alice").exit_code == 0
    info = api.query("AgentRegistry", "Agents", agent_id)
    assert isinstance(info, dict) and info["access"] == "Public" and info["version"] == 3


def test_governance_commands_and_deposit(node: NodeThread, api: ChainClient, tmp_path: Path) -> None:
    toml = agent_dir(tmp_path, "assistant", "governed")
    out = json.loads(cli(node, "deploy", str(toml), "--suri", "//Charlie", "--json").stdout)
    agent_id = str(out["agent_id"])
    deposit = api.query("AgentRegistry", "Agents", int(agent_id))["deposit"]  # type: ignore[index,call-overload]
    reserved = api.balance(CHARLIE.ss58_address).reserved
    assert reserved >= deposit > 10**12
    for args in (
        ["agents", "pause", agent_id],
        ["agents", "resume", agent_id],
        ["agents", "grant", agent_id, BOB.ss58_address],
        ["agents", "revoke", agent_id, BOB.ss58_address],
    ):
        result = cli(node, *args, "--suri", "//Charlie", "--json")
        assert result.exit_code == 0, (args, result.stderr)
        assert json.loads(result.stdout)["events"][-1]["pallet"] == "AgentRegistry"
    again = cli(node, "agents", "resume", agent_id, "--suri", "//Charlie")
    assert again.exit_code == 1 and again.stderr.startswith("Error: AgentRegistry::NotPaused")
    moved = cli(node, "agents", "transfer", agent_id, ALICE.ss58_address, "--suri", "//Charlie")
    assert moved.exit_code == 0, moved.stderr
    assert api.balance(CHARLIE.ss58_address).reserved == reserved - deposit
    alice_reserved = api.balance(ALICE.ss58_address).reserved
    retired = cli(node, "agents", "retire", agent_id, "--suri", "//Alice", "--json")
    assert retired.exit_code == 0, retired.stderr
    event = json.loads(retired.stdout)["events"][-1]
    assert event["name"] == "Retired" and event["attributes"]["deposit_returned"] == deposit
    assert api.balance(ALICE.ss58_address).reserved == alice_reserved - deposit
    final = cli(node, "agents", "pause", agent_id, "--suri", "//Alice")
    assert final.exit_code == 1 and final.stderr.startswith("Error: AgentRegistry::AgentRetired")


def test_register_retries_when_another_registration_takes_the_id(
    node: NodeThread, api: ChainClient, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    toml = agent_dir(tmp_path, "assistant", "racer")
    rival = agent_dir(tmp_path, "assistant", "rival")
    real_prepare = agents_cli.prepare_agent
    calls = {"n": 0}

    def racing_prepare(definition: Any, **kw: Any) -> Any:
        calls["n"] += 1
        if calls["n"] == 1:  # another author registers first, taking the id we are sealing for
            from phala_agents.client import load_agent_file, register_call_args

            prepared = real_prepare(load_agent_file(rival), **kw)
            api.sign_and_submit(
                "AgentRegistry", "register", register_call_args(prepared), BOB, wait_for="finalized"
            ).raise_for_error()
        return real_prepare(definition, **kw)

    monkeypatch.setattr(agents_cli, "prepare_agent", racing_prepare)
    result = cli(node, "deploy", str(toml), "--suri", "//Alice", "--json")
    assert result.exit_code == 0, result.stderr
    assert "was taken meanwhile" in result.stderr
    out = json.loads(result.stdout)
    info = api.query("AgentRegistry", "Agents", out["agent_id"])
    assert isinstance(info, dict) and info["name"] == "racer"
    assert open_prompt(sealed_of(info), dev_cluster_key(), agent_id=out["agent_id"], version=1)


# --- bad input: a clear error, nothing changed ---------------------------------------------------


def test_non_owner_update_is_not_owner_and_changes_nothing(
    node: NodeThread, api: ChainClient, tmp_path: Path
) -> None:
    toml = agent_dir(tmp_path, "assistant", "mine")
    agent_id = json.loads(cli(node, "deploy", str(toml), "--suri", "//Alice", "--json").stdout)["agent_id"]
    before = snapshot(api)
    result = cli(node, "agents", "update", str(agent_id), str(toml), "--suri", "//Bob")
    assert result.exit_code == 1
    assert result.stderr.startswith("Error: AgentRegistry::NotOwner")
    assert "Hint:" in result.stderr and result.stdout == ""
    assert snapshot(api) == before


def test_unknown_agent_is_a_clear_error(node: NodeThread, api: ChainClient) -> None:
    before = snapshot(api)
    shown = cli(node, "agents", "show", "999999")
    assert shown.exit_code == 1 and "no such agent" in shown.stderr
    assert "agents list" in shown.stderr and "node running" not in shown.stderr  # the right hint
    paused = cli(node, "agents", "pause", "999999", "--suri", "//Alice")
    assert paused.exit_code == 1 and paused.stderr.startswith("Error: AgentRegistry::AgentNotFound")
    assert snapshot(api) == before


def test_oversized_prompt_and_malformed_toml_send_nothing(
    node: NodeThread, api: ChainClient, tmp_path: Path
) -> None:
    before = snapshot(api)
    big = tmp_path / "big.toml"
    big.write_text(
        'name = "big"\nmodel = "m"\nsystem_prompt = "' + "x" * 16_385 + '"\n'
        "[prices]\nper_1k_input = 1\nper_1k_output = 1\n"
    )
    result = cli(node, "deploy", str(big), "--suri", "//Alice")
    assert result.exit_code == 1
    assert "system_prompt: found 16385 bytes, wanted at most 16384 bytes" in result.stderr
    assert "x" * 50 not in result.stderr
    bad = tmp_path / "bad.toml"
    bad.write_text('name = "bad"\nmodel = = "m"\n')
    result = cli(node, "deploy", str(bad), "--suri", "//Alice")
    assert result.exit_code == 1 and result.stderr.startswith(f"Error: {bad}:2: toml: found a syntax error")
    assert snapshot(api) == before


def test_wrong_key_password_sends_nothing(node: NodeThread, api: ChainClient, tmp_path: Path) -> None:
    store = Keystore(tmp_path / "keys")
    store.import_seed("author", bytes(range(32)), "right-password")
    toml = agent_dir(tmp_path, "assistant", "locked")
    before = snapshot(api)
    result = cli(
        node,
        "deploy",
        str(toml),
        "--key",
        "author",
        "--keystore",
        str(tmp_path / "keys"),
        "--password-stdin",
        stdin="wrong-password\n",
    )
    assert result.exit_code == 1
    assert result.stderr.startswith("Error: wrong password for key author")
    assert "wrong-password" not in result.stderr + result.stdout
    assert snapshot(api) == before


def test_signer_usage_errors(node: NodeThread, tmp_path: Path) -> None:
    toml = agent_dir(tmp_path, "assistant", "usage")
    neither = cli(node, "deploy", str(toml))
    assert neither.exit_code == 2
    secret = cli(node, "deploy", str(toml), "--suri", "0x" + "11" * 32)
    assert secret.exit_code == 2 and "11" * 32 not in secret.stderr + secret.stdout
