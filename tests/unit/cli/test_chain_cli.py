"""`phala-agent chain`: stdout, stderr and exit codes with typer's CliRunner and a fake client."""

from __future__ import annotations

import json
from typing import Any

import pytest
from cli_fakes import fake_chain_status
from substrateinterface import Keypair
from typer.testing import CliRunner

from phala_agents.cli import chain as chain_cli
from phala_agents.cli._app import app
from phala_agents.client import AccountBalance, ChainStatus, Event, ExtrinsicResult
from phala_agents.client._keys import keypair_from_uri
from phala_agents.errors import ClientError, RpcError, TransactionRejected

ALICE = "5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY"
BOB = "5FHneW46xGXgs5mUiveU4sbTyGBzmstUspZC92UhjJM694ty"
SECRET = "//Alice"


class FakeClient:
    """Stands in for ChainClient: records calls, answers like a dev chain."""

    def __init__(self, *, dev: bool = True, ok: bool = True, raises: Exception | None = None) -> None:
        self.dev, self.ok, self.raises = dev, ok, raises
        self.transfers: list[dict[str, Any]] = []
        self.token_symbol, self.token_decimals = "UNIT", 12

    def __enter__(self) -> FakeClient:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def status(self) -> ChainStatus:
        return fake_chain_status(dev=self.dev)

    def balance(self, address: str, *, at: object = "best") -> AccountBalance:
        return AccountBalance(address=address, nonce=3, free=1_500_000_000_000, reserved=0, frozen=0)

    def keypair(self, suri: str) -> Keypair:
        return keypair_from_uri(suri, dev_chain=self.dev)

    def transfer(self, signer: Keypair, dest: str, amount: int, **options: Any) -> ExtrinsicResult:
        if self.raises is not None:
            raise self.raises
        self.transfers.append({"signer": signer.ss58_address, "dest": dest, "amount": amount, **options})
        return ExtrinsicResult(
            extrinsic_hash="0x" + "11" * 32,
            block_hash="0x" + "22" * 32,
            block_number=6,
            extrinsic_index=1,
            status="inBlock",
            ok=self.ok,
            events=(
                Event(
                    pallet="Balances",
                    name="Transfer",
                    attributes={"amount": amount},
                    phase="ApplyExtrinsic",
                    extrinsic_index=1,
                ),
            ),
            error=None if self.ok else "Balances::InsufficientBalance",
            fee=123,
        )

    def block_hash(self, at: object = "best") -> str:
        return "0x" + "05" * 32

    def events(self, at: object = "best") -> tuple[Event, ...]:
        return (
            Event(
                pallet="System",
                name="ExtrinsicSuccess",
                attributes={},
                phase="ApplyExtrinsic",
                extrinsic_index=0,
            ),
        )


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> FakeClient:
    client = FakeClient()
    seen: dict[str, Any] = {}

    def connect(url: str, timeout: float) -> FakeClient:
        seen.update(url=url, timeout=timeout)
        return client

    monkeypatch.setattr(chain_cli, "_connect", connect)
    monkeypatch.delenv(chain_cli.SURI_ENV, raising=False)
    client.seen = seen  # type: ignore[attr-defined]
    return client


def run(args: list[str], env: dict[str, str] | None = None, stdin: str | None = None) -> Any:
    return CliRunner().invoke(app, args, env=env, input=stdin)


def test_status_human_and_json(fake: FakeClient) -> None:
    result = run(["chain", "status"])
    assert result.exit_code == 0, result.stderr
    assert "best:      #5" in result.stdout and result.stderr == ""
    assert fake.seen["url"] == "ws://127.0.0.1:9944"  # type: ignore[attr-defined]
    result = run(["chain", "status", "--json", "--url", "ws://x:1"], env={"PHALA_AGENT_URL": "ws://ignored"})
    data = json.loads(result.stdout)
    assert data["best_number"] == 5 and data["metadata_hash"] == "0x" + "aa" * 32
    assert fake.seen["url"] == "ws://x:1"  # type: ignore[attr-defined]


def test_url_from_the_environment(fake: FakeClient) -> None:
    assert run(["chain", "status"], env={"PHALA_AGENT_URL": "ws://env:9"}).exit_code == 0
    assert fake.seen["url"] == "ws://env:9"  # type: ignore[attr-defined]


def test_balance(fake: FakeClient) -> None:
    result = run(["chain", "balance", ALICE])
    assert result.exit_code == 0
    assert "free:     1.5 UNIT (1500000000000)" in result.stdout
    data = json.loads(run(["chain", "balance", ALICE, "--json"]).stdout)
    assert data == {
        "address": ALICE,
        "nonce": 3,
        "free": 1_500_000_000_000,
        "reserved": 0,
        "frozen": 0,
        "token_symbol": "UNIT",
        "token_decimals": 12,
    }


def test_transfer_from_env_secret_never_echoed(fake: FakeClient) -> None:
    result = run(
        ["chain", "transfer", "--to", BOB, "--amount", "1.5 UNIT", "--json"], env={chain_cli.SURI_ENV: SECRET}
    )
    assert result.exit_code == 0, result.stderr
    assert SECRET not in result.stdout + result.stderr
    data = json.loads(result.stdout)
    assert data["ok"] is True and data["fee"] == 123
    (sent,) = fake.transfers
    assert sent == {
        "signer": ALICE,
        "dest": BOB,
        "amount": 1_500_000_000_000,
        "keep_alive": True,
        "wait_for": "inBlock",
        "timeout": 60.0,
    }


def test_transfer_quiet_prints_the_hash_and_options(fake: FakeClient) -> None:
    result = run(
        [
            "chain",
            "transfer",
            "--to",
            BOB,
            "--amount",
            "7",
            "--suri",
            SECRET,
            "-q",
            "--allow-death",
            "--wait",
            "finalized",
        ]
    )
    assert result.exit_code == 0
    assert result.stdout.strip() == "0x" + "11" * 32
    assert fake.transfers[0]["keep_alive"] is False and fake.transfers[0]["wait_for"] == "finalized"


def test_failed_transfer_prints_the_result_then_exits_1(fake: FakeClient) -> None:
    fake.ok = False
    result = run(["chain", "transfer", "--to", BOB, "--amount", "7", "--suri", SECRET, "--json"])
    assert result.exit_code == 1
    assert json.loads(result.stdout)["error"] == "Balances::InsufficientBalance"
    assert result.stderr.startswith(
        "Error: the transfer was included but failed with Balances::InsufficientBalance"
    )


def test_dev_uri_refused_off_a_dev_chain(fake: FakeClient) -> None:
    fake.dev = False
    result = run(["chain", "transfer", "--to", BOB, "--amount", "7", "--suri", SECRET])
    assert result.exit_code == 1
    assert "development chain" in result.stderr and SECRET not in result.stderr
    assert result.stdout == ""


def test_no_secret_off_a_tty_is_a_usage_error(fake: FakeClient) -> None:
    result = run(["chain", "transfer", "--to", BOB, "--amount", "7"])
    assert result.exit_code == 2
    assert "PHALA_AGENT_SURI" in result.stderr


@pytest.mark.parametrize(
    ("amount", "message"),
    [
        ("1.5 DOT", "wanted the chain's token"),
        ("0.0000000000001 UNIT", "at most 12 decimals"),
        ("lots", "wanted an integer"),
    ],
)
def test_bad_amounts_are_usage_errors(fake: FakeClient, amount: str, message: str) -> None:
    result = run(["chain", "transfer", "--to", BOB, "--amount", amount, "--suri", SECRET])
    assert result.exit_code == 2
    # click draws usage errors in a box that may wrap the line.
    assert message in " ".join(result.stderr.replace("│", " ").split())


@pytest.mark.parametrize(
    ("error", "text"),
    [
        (RpcError(1010, "Invalid Transaction", "Transaction is outdated"), "RPC error 1010"),
        (TransactionRejected("extrinsic 0x11: the pool reported usurped", status="usurped"), "usurped"),
        (ClientError("connect to ws://x: cannot reach the node"), "is the node running?"),
    ],
)
def test_client_errors_map_to_one_error_line_and_exit_1(
    fake: FakeClient, error: Exception, text: str
) -> None:
    fake.raises = error
    result = run(["chain", "transfer", "--to", BOB, "--amount", "7", "--suri", SECRET])
    assert result.exit_code == 1
    assert result.stderr.startswith("Error: ")
    assert text in result.stderr and result.stdout == ""


def test_events(fake: FakeClient) -> None:
    result = run(["chain", "events", "--block", "3"])
    assert result.exit_code == 0
    assert "System.ExtrinsicSuccess" in result.stdout
    data = json.loads(run(["chain", "events", "--json"]).stdout)
    assert data["events"][0]["name"] == "ExtrinsicSuccess"


def test_help_lists_exit_codes() -> None:
    result = run(["chain", "transfer", "--help"])
    assert result.exit_code == 0 and "Exit codes" in result.stdout


def test_descriptors_to_stdout_and_file(fake: FakeClient, tmp_path: Any) -> None:
    from phala_agents.client import Descriptors, PalletDescriptor

    wanted = Descriptors(
        metadata_hash="0x" + "aa" * 32,
        spec_name="x",
        spec_version=1,
        pallets=(PalletDescriptor(name="System", index=0),),
    )
    fake.descriptors = wanted  # type: ignore[attr-defined]
    result = run(["chain", "descriptors"])
    assert result.exit_code == 0
    assert Descriptors.from_json(result.stdout) == wanted
    out = tmp_path / "dev.json"
    result = run(["chain", "descriptors", "--out", str(out)])
    assert result.exit_code == 0 and result.stdout == "" and "wrote" in result.stderr
    assert Descriptors.from_json(out.read_text()) == wanted
