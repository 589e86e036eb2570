"""`phala-agent keys`: stdout/stderr/exit codes with typer's CliRunner; no secret in any output."""

from __future__ import annotations

import json
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
import structlog
from substrateinterface import Keypair
from typer.testing import CliRunner

from phala_agents.cli import keys as keys_cli
from phala_agents.cli._app import app
from phala_agents.client.keystore import Keystore, encode_keystore_json

DEV_PHRASE = "bottom drive obey lake curtain smoke basket hold race lonely fit walk"
ALICE = "5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY"
BOB = "5FHneW46xGXgs5mUiveU4sbTyGBzmstUspZC92UhjJM694ty"
PASSWORD = "s3cret-pw"


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PHALA_AGENT_KEYSTORE", raising=False)
    monkeypatch.delenv("PHALA_AGENT_KEY_PASSWORD", raising=False)


@pytest.fixture(autouse=True)
def _restore_structlog() -> Iterator[None]:
    # The root callback configures structlog (level warning) for the process; later tests in
    # other modules must not inherit that filter.
    saved = structlog.get_config()
    yield
    structlog.configure(**saved)


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


@pytest.fixture
def kdir(tmp_path: Path) -> Path:
    return tmp_path / "keys"


def run(runner: CliRunner, args: list[str], stdin: str | None = None, env: dict[str, str] | None = None):  # type: ignore[no-untyped-def]
    return runner.invoke(app, args, input=stdin, env=env, catch_exceptions=False)


def test_new_with_password_stdin(runner: CliRunner, kdir: Path) -> None:
    result = run(
        runner, ["keys", "new", "k1", "--keystore", str(kdir), "--password-stdin"], stdin=PASSWORD + "\n"
    )
    assert result.exit_code == 0, result.stderr
    address = result.stdout.strip()
    assert address.startswith("5") and len(address) == 48
    assert "created key k1" in result.stderr and "mnemonic not shown" in result.stderr
    assert PASSWORD not in result.stdout + result.stderr
    path = kdir / "k1.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert Keystore(kdir).load("k1", PASSWORD).ss58_address == address


def test_new_json_and_env_password(runner: CliRunner, kdir: Path) -> None:
    env = {"PHALA_AGENT_KEY_PASSWORD": PASSWORD, "PHALA_AGENT_KEYSTORE": str(kdir)}
    result = run(runner, ["keys", "new", "k2", "--json"], env=env)
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    assert set(data) == {"name", "address", "public_key", "crypto_type", "created", "path"}
    assert data["name"] == "k2" and data["crypto_type"] == "sr25519"
    assert Keystore(kdir).load("k2", PASSWORD).ss58_address == data["address"]


def test_new_without_password_source_off_tty_is_usage_error(runner: CliRunner, kdir: Path) -> None:
    result = run(runner, ["keys", "new", "k1", "--keystore", str(kdir)])
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr.startswith("Error: password: found no terminal to prompt on")
    assert "Hint:" in result.stderr
    assert not (kdir / "k1.json").exists()


def test_new_prompts_on_a_tty(runner: CliRunner, kdir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(keys_cli, "_stdin_is_tty", lambda: True)
    result = run(runner, ["keys", "new", "k1", "--keystore", str(kdir)], stdin=f"{PASSWORD}\n{PASSWORD}\n")
    assert result.exit_code == 0, result.stderr
    assert PASSWORD not in result.stdout
    Keystore(kdir).load("k1", PASSWORD)


def test_show_mnemonic_refused_off_a_tty(runner: CliRunner, kdir: Path) -> None:
    result = run(
        runner,
        ["keys", "new", "k1", "--keystore", str(kdir), "--password-stdin", "--show-mnemonic"],
        stdin="pw\n",
    )
    assert result.exit_code == 2
    assert "--show-mnemonic: found output that is not a terminal" in result.stderr
    assert not (kdir / "k1.json").exists()


def test_show_mnemonic_on_a_tty(runner: CliRunner, kdir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(keys_cli, "_stdout_is_tty", lambda: True)
    result = run(
        runner,
        ["keys", "new", "k1", "--keystore", str(kdir), "--password-stdin", "--show-mnemonic"],
        stdin="pw\n",
    )
    assert result.exit_code == 0, result.stderr
    address, mnemonic_line = result.stdout.strip().splitlines()
    phrase = mnemonic_line.split(": ", 1)[1]
    assert Keypair.create_from_mnemonic(phrase).ss58_address == address
    assert phrase not in result.stderr


def test_import_mnemonic_then_password(runner: CliRunner, kdir: Path) -> None:
    result = run(
        runner,
        ["keys", "import", "alice", "--mnemonic-stdin", "--password-stdin", "--keystore", str(kdir)],
        stdin=f"{DEV_PHRASE}//Alice\n{PASSWORD}\n",
    )
    assert result.exit_code == 0, result.stderr
    assert result.stdout.strip() == ALICE
    assert "bottom" not in result.stdout + result.stderr
    assert Keystore(kdir).load("alice", PASSWORD).ss58_address == ALICE


def test_import_seed(runner: CliRunner, kdir: Path) -> None:
    seed = "0xe5be9a5092b81bca64be81d212e7f2f9eba183bb7a90954f7b76361f6edb5c0a"
    result = run(
        runner,
        ["keys", "import", "alice", "--seed-stdin", "--password-stdin", "--keystore", str(kdir)],
        stdin=f"{seed}\n{PASSWORD}\n",
    )
    assert result.exit_code == 0, result.stderr
    assert result.stdout.strip() == ALICE
    assert seed[2:] not in result.stdout + result.stderr


def test_import_bad_mnemonic_does_not_echo(runner: CliRunner, kdir: Path) -> None:
    bad = "bottom drive obey lake curtain smoke basket hold race lonely fit fit"
    result = run(
        runner,
        ["keys", "import", "x", "--mnemonic-stdin", "--password-stdin", "--keystore", str(kdir)],
        stdin=f"{bad}\n{PASSWORD}\n",
    )
    assert result.exit_code == 1
    assert result.stderr.startswith("Error: mnemonic: found an invalid BIP-39 phrase")
    assert "curtain" not in result.stderr + result.stdout


def test_import_json_file(runner: CliRunner, kdir: Path, tmp_path: Path) -> None:
    exported = tmp_path / "bob.json"
    exported.write_text(
        json.dumps(encode_keystore_json(Keypair.create_from_uri("//Bob"), "wallet-pw", name="b"))
    )
    result = run(
        runner,
        [
            "keys",
            "import",
            "bob",
            "--json-file",
            str(exported),
            "--password-stdin",
            "--keystore",
            str(kdir),
            "--json",
        ],
        stdin="wallet-pw\n",
    )
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["address"] == BOB
    wrong = run(
        runner,
        ["keys", "import", "bob2", "--json-file", str(exported), "--password-stdin", "--keystore", str(kdir)],
        stdin="nope\n",
    )
    assert wrong.exit_code == 1
    assert wrong.stderr.splitlines()[0] == "Error: wrong password for key bob2"
    assert wrong.stderr.splitlines()[1].startswith("Hint:")
    assert "nope" not in wrong.stderr


def test_import_needs_exactly_one_source(runner: CliRunner, kdir: Path, tmp_path: Path) -> None:
    none = run(runner, ["keys", "import", "x", "--keystore", str(kdir)])
    assert none.exit_code == 2 and "source: found none, wanted exactly one" in none.stderr
    both = run(runner, ["keys", "import", "x", "--mnemonic-stdin", "--seed-stdin", "--keystore", str(kdir)])
    assert both.exit_code == 2 and "found several" in both.stderr


def test_list_and_show(runner: CliRunner, kdir: Path) -> None:
    empty = run(runner, ["keys", "list", "--keystore", str(kdir)])
    assert empty.exit_code == 0 and empty.stdout == "" and "no keys in" in empty.stderr
    assert run(runner, ["keys", "list", "--keystore", str(kdir), "--json"]).stdout.strip() == "[]"
    store = Keystore(kdir)
    store.import_mnemonic("bob", DEV_PHRASE + "//Bob", PASSWORD)
    store.import_mnemonic("alice", DEV_PHRASE + "//Alice", PASSWORD)
    table = run(runner, ["keys", "list", "--keystore", str(kdir)])
    assert table.exit_code == 0
    lines = table.stdout.splitlines()
    assert lines[0].split() == ["NAME", "ADDRESS", "TYPE", "CREATED"]
    assert lines[1].split()[:3] == ["alice", ALICE, "sr25519"]
    assert lines[2].split()[:3] == ["bob", BOB, "sr25519"]
    quiet = run(runner, ["keys", "list", "--keystore", str(kdir), "-q"])
    assert quiet.stdout.splitlines() == ["alice", "bob"]
    as_json = json.loads(run(runner, ["keys", "list", "--keystore", str(kdir), "--json"]).stdout)
    assert [k["address"] for k in as_json] == [ALICE, BOB]
    shown = run(runner, ["keys", "show", "alice", "--keystore", str(kdir)])
    assert shown.exit_code == 0
    assert f"address:    {ALICE}" in shown.stdout
    assert "public_key: 0xd43593c715fdd31c61141abd04a99fd6822c8558854ccde39a5684e7a56da27d" in shown.stdout
    shown_json = json.loads(run(runner, ["keys", "show", BOB, "--keystore", str(kdir), "--json"]).stdout)
    assert shown_json["name"] == "bob"
    everything = table.stdout + quiet.stdout + shown.stdout + json.dumps(as_json)
    secret = Keypair.create_from_uri("//Alice").private_key.hex()
    assert secret not in everything and "encoded" not in everything


def test_show_unknown_key(runner: CliRunner, kdir: Path) -> None:
    result = run(runner, ["keys", "show", "ghost", "--keystore", str(kdir)])
    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr.splitlines() == [
        f"Error: no key named 'ghost' in {kdir}",
        "Hint: list keys with `phala-agent keys list`",
    ]


def test_duplicate_name(runner: CliRunner, kdir: Path) -> None:
    args = ["keys", "new", "k1", "--keystore", str(kdir), "--password-stdin"]
    assert run(runner, args, stdin="pw\n").exit_code == 0
    again = run(runner, args, stdin="pw\n")
    assert again.exit_code == 1
    assert "key k1 already exists" in again.stderr


def test_load_signer(kdir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    Keystore(kdir).import_mnemonic("alice", DEV_PHRASE + "//Alice", PASSWORD)
    monkeypatch.setenv("PHALA_AGENT_KEY_PASSWORD", PASSWORD)
    pair = keys_cli.load_signer("alice", keystore=kdir, password_stdin=False, dev_chain=False)
    assert pair.ss58_address == ALICE
    dev = keys_cli.load_signer("//Bob", keystore=kdir, password_stdin=False, dev_chain=True)
    assert dev.ss58_address == BOB


def test_export_prints_the_encrypted_file(runner: CliRunner, kdir: Path) -> None:
    Keystore(kdir).import_mnemonic("alice", DEV_PHRASE + "//Alice", PASSWORD)
    result = run(runner, ["keys", "export", "alice", "--keystore", str(kdir)])
    assert result.exit_code == 0, result.stderr
    document = json.loads(result.stdout)
    assert document["address"] == ALICE
    assert document["encoding"]["type"] == ["scrypt", "xsalsa20-poly1305"]
    assert Keypair.create_from_encrypted_json(document, PASSWORD).ss58_address == ALICE


def test_import_json_file_missing_is_usage_error(runner: CliRunner, kdir: Path, tmp_path: Path) -> None:
    result = run(
        runner, ["keys", "import", "x", "--json-file", str(tmp_path / "nope.json"), "--keystore", str(kdir)]
    )
    assert result.exit_code == 2
    assert "does not exist" in result.stderr
