"""STYLE.md section 8, checked on every command of the real app (click's command tree).

Each check walks ``typer.main.get_command(app)`` so a new command is audited without editing this
file; the tables below only list the deliberate exceptions, each with its reason.
"""

from __future__ import annotations

import json
import re
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import structlog
import typer
from cli_fakes import fake_chain_status
from typer.testing import CliRunner

from phala_agents.cli import agents as agents_cli
from phala_agents.cli import chain as chain_cli
from phala_agents.cli._app import app
from phala_agents.client import AccountBalance, ChainStatus, Event

REPO = Path(__file__).resolve().parents[3]
AGENT_TOML = REPO / "examples" / "assistant" / "agent.toml"
ALICE = "5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY"
BOB = "5FHneW46xGXgs5mUiveU4sbTyGBzmstUspZC92UhjJM694ty"
DEV_SEED = "0xe5be9a5092b81bca64be81d212e7f2f9eba183bb7a90954f7b76361f6edb5c0a"  # //Alice's mini secret
PASSWORD = "conventions-pw"

# Commands that exit with codes beyond 0/1/2; their --help must list each one.
EXTRA_EXIT_CODES: dict[str, set[int]] = {
    "node": {3, 4},
    "attest verify": {3, 4, 5},
    "call": {3},
    "receipts verify": {3},
}

# Commands without --json, and why.
NO_JSON: dict[str, str] = {
    "node": "a server: stdout carries only its WebSocket URL once it serves, then logs go to stderr",
    "demo": "a scripted tour written for people to read, not a data command",
    "worker run": "a server: it prints nothing on stdout, its output is logs on stderr",
    "keys export": "its stdout already is a JSON document (the polkadot.js key file)",
    "chain descriptors": "its stdout already is a JSON document (Descriptors.to_json)",
}

# Keys of these JSON members are data, not our schema (spec field names, decoded chain values).
DATA_KEYS = {"fields", "attributes", "defaults", "tools", "prices", "chunks"}

SNAKE = re.compile(r"^[a-z][a-z0-9_]*$")


def _walk(command: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[str, Any]]:
    # typer 0.29 vendors click (typer._click), so groups are recognised by their commands.
    yield " ".join(path), command
    if _is_group(command):
        for name, sub in sorted(command.commands.items()):
            yield from _walk(sub, (*path, name))


def _is_group(command: Any) -> bool:
    return isinstance(getattr(command, "commands", None), dict)


ROOT = typer.main.get_command(app)
ALL = dict(_walk(ROOT))
LEAVES = {name: cmd for name, cmd in ALL.items() if name and not _is_group(cmd)}
GROUPS = {name: cmd for name, cmd in ALL.items() if _is_group(cmd)}


def _opts(command: Any) -> set[str]:
    return {opt for param in command.params for opt in (*param.opts, *param.secondary_opts)}


def _run(args: list[str], **kwargs: Any) -> Any:
    return CliRunner().invoke(app, args, **kwargs)


@pytest.fixture(autouse=True)
def _isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    for name in (
        "PHALA_AGENT_URL",
        "PHALA_AGENT_SURI",
        "PHALA_AGENT_WORKER",
        "PHALA_AGENT_KEY_PASSWORD",
        "PHALA_AGENT_KEYSTORE",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    saved = structlog.get_config()
    yield
    structlog.configure(**saved)


def test_the_walk_sees_every_area() -> None:
    for name in ("node", "demo", "chain status", "attest verify", "keys list", "agents list", "deploy"):
        assert name in LEAVES
    for name in ("worker run", "call", "receipts list", "deposit", "escrow"):
        assert name in LEAVES
    assert set(EXTRA_EXIT_CODES) <= set(LEAVES) and set(NO_JSON) <= set(LEAVES), "stale table entry"


@pytest.mark.parametrize("name", sorted(ALL))
def test_help_exits_0(name: str) -> None:
    result = _run([*name.split(), "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage:" in result.stdout and result.stderr == ""


@pytest.mark.parametrize("name", sorted(EXTRA_EXIT_CODES))
def test_help_lists_extra_exit_codes(name: str) -> None:
    text = " ".join(_run([*name.split(), "--help"]).stdout.split())
    match = re.search(r"exit codes:(.*)", text, re.IGNORECASE)
    assert match is not None, f"{name}: --help has no 'Exit codes:'"
    for code in sorted({0, 1, 2} | EXTRA_EXIT_CODES[name]):
        assert re.search(rf"\b{code}\b", match.group(1)), f"{name}: exit code {code} not in --help"


def test_every_extra_exit_code_constant_is_documented() -> None:
    """A module with an EXIT_* constant above 2 has commands in EXTRA_EXIT_CODES that list it."""
    import sys

    documented: dict[str, set[int]] = {}
    modules: dict[str, set[int]] = {}
    for name, command in LEAVES.items():
        module = command.callback.__wrapped__.__wrapped__.__module__
        found = {
            value
            for key, value in vars(sys.modules[module]).items()
            if key.startswith("EXIT_") and isinstance(value, int) and value > 2
        }
        modules.setdefault(module, set()).update(found)
        documented.setdefault(module, set()).update(EXTRA_EXIT_CODES.get(name, set()))
    for module, codes in modules.items():
        assert codes <= documented[module], f"{module}: exit codes {codes - documented[module]} undocumented"


@pytest.mark.parametrize("name", sorted(LEAVES))
def test_data_commands_take_json(name: str) -> None:
    if name in NO_JSON:
        assert "--json" not in _opts(LEAVES[name]), f"{name} has --json now; drop it from NO_JSON"
        return
    assert "--json" in _opts(LEAVES[name]), f"{name}: a data command without --json"


@pytest.mark.parametrize("name", sorted(n for n in LEAVES if n.split()[-1] == "list"))
def test_list_commands_take_quiet(name: str) -> None:
    assert {"-q", "--quiet"} <= _opts(LEAVES[name])


@pytest.mark.parametrize("name", sorted(LEAVES))
def test_unknown_option_is_a_usage_error(name: str) -> None:
    result = _run([*name.split(), "--no-such-option"])
    assert result.exit_code == 2
    assert result.stdout == ""
    assert "Error: No such option: --no-such-option" in result.stderr
    assert "Traceback" not in result.stderr and "╭" not in result.stderr


@pytest.mark.parametrize("name", sorted(n for n in GROUPS if n))
def test_unknown_subcommand_is_a_usage_error(name: str) -> None:
    result = _run([*name.split(), "no-such-command"])
    assert result.exit_code == 2 and result.stdout == ""
    assert "Error: No such command 'no-such-command'" in result.stderr


def test_usage_error_raised_in_a_command_body() -> None:
    result = _run(["call", "1", "hello"])  # neither --suri nor --key
    assert result.exit_code == 2 and result.stdout == ""
    assert "Error: Invalid value: give exactly one of --suri" in result.stderr


# --- a missing node --------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _signed_receipt_hex() -> str:
    from substrateinterface import Keypair

    from phala_agents.worker import Receipt, ReceiptUsage, sign_authorization, sign_receipt

    alice, ferdie = Keypair.create_from_uri("//Alice"), Keypair.create_from_uri("//Ferdie")
    auth = sign_authorization(
        alice,
        genesis=b"\x00" * 32,
        agent_id=3,
        agent_version=1,
        worker=bytes(ferdie.public_key),
        nonce=42,
        max_charge=10,
        expires_at_block=100,
        request_hash=b"\x01" * 32,
    )
    receipt = Receipt.of(
        auth, usage=ReceiptUsage(input_tokens=5, output_tokens=2), charge=7, response_hash=b"\x02" * 32
    )
    return "0x" + sign_receipt(ferdie, receipt).to_bytes().hex()


# Every command that talks to a chain (or, for `call`, to a worker), with the arguments it needs
# to get as far as connecting. URL is replaced by an endpoint nothing listens on.
NODE_COMMANDS: dict[str, list[str]] = {
    "chain status": ["--url", "URL", "--timeout", "5"],
    "chain balance": [ALICE, "--url", "URL", "--timeout", "5"],
    "chain transfer": ["--to", BOB, "--amount", "1", "--suri", "//Alice", "--url", "URL", "--timeout", "5"],
    "chain events": ["--url", "URL", "--timeout", "5"],
    "chain descriptors": ["--url", "URL", "--timeout", "5"],
    "deploy": [str(AGENT_TOML), "--suri", "//Alice", "--url", "URL", "--timeout", "5"],
    "agents list": ["--url", "URL", "--timeout", "5"],
    "agents show": ["0", "--url", "URL", "--timeout", "5"],
    "agents update": ["0", str(AGENT_TOML), "--suri", "//Alice", "--url", "URL", "--timeout", "5"],
    "agents pause": ["0", "--suri", "//Alice", "--url", "URL", "--timeout", "5"],
    "agents resume": ["0", "--suri", "//Alice", "--url", "URL", "--timeout", "5"],
    "agents retire": ["0", "--suri", "//Alice", "--url", "URL", "--timeout", "5"],
    "agents grant": ["0", BOB, "--suri", "//Alice", "--url", "URL", "--timeout", "5"],
    "agents revoke": ["0", BOB, "--suri", "//Alice", "--url", "URL", "--timeout", "5"],
    "agents transfer": ["0", BOB, "--suri", "//Alice", "--url", "URL", "--timeout", "5"],
    "workers list": ["--url", "URL", "--timeout", "5"],
    "workers show": [ALICE, "--url", "URL", "--timeout", "5"],
    "workers register": [
        *("--endpoint", "https://w.example", "--x25519-pub", "11" * 32, "--tls-spki-hash", "22" * 32),
        *("--simulate", "snp", "--suri", "//Alice", "--url", "URL", "--timeout", "5"),
    ],
    "deposit": ["1", "--suri", "//Alice", "--url", "URL"],
    "escrow": [ALICE, "--url", "URL"],
    "worker run": ["--dev", "--url", "URL"],
    "receipts verify": ["RECEIPT", "--url", "URL"],
    "call": ["1", "hello", "--suri", "//Alice", "--worker", "HTTP"],
}


def test_every_node_command_is_listed() -> None:
    talkers = {n for n, c in LEAVES.items() if {"--url", "--worker"} & _opts(c)}
    # `receipts show --worker` only fetches a receipt file; it is covered by the same handler.
    assert talkers - {"receipts show"} == set(NODE_COMMANDS)


@pytest.mark.parametrize("name", sorted(NODE_COMMANDS))
def test_missing_node_is_one_error_line_and_a_hint(name: str) -> None:
    port = _free_port()
    args = [
        {"URL": f"ws://127.0.0.1:{port}", "HTTP": f"http://127.0.0.1:{port}"}.get(a, a)
        for a in NODE_COMMANDS[name]
    ]
    if "RECEIPT" in args:
        args[args.index("RECEIPT")] = _signed_receipt_hex()
    result = _run([*name.split(), *args])
    assert result.exit_code == 1, result.output
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert "Traceback" not in result.stderr
    errors = [line for line in lines if line.startswith("Error: ")]
    assert len(errors) == 1, result.stderr
    assert str(port) in errors[0] and "unexpected" not in errors[0]
    assert any(line.startswith("Hint: ") for line in lines), result.stderr


# --- -q and --json output --------------------------------------------------------------------------


def _assert_snake(value: object, where: str = "$") -> None:
    if isinstance(value, dict):
        for key, item in value.items():
            assert SNAKE.match(key), f"{where}: key {key!r} is not snake_case"
            if key not in DATA_KEYS:
                _assert_snake(item, f"{where}.{key}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _assert_snake(item, f"{where}[{index}]")


def _json(args: list[str], **kwargs: Any) -> object:
    result = _run([*args, "--json"], **kwargs)
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    _assert_snake(data)
    return data


class _FakeChain:
    """Answers like a dev chain with one agent, for the read commands."""

    is_dev_chain, ss58_format, token_symbol, token_decimals = True, 42, "UNIT", 12

    def __enter__(self) -> _FakeChain:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def status(self) -> ChainStatus:
        return fake_chain_status()

    def balance(self, address: str, *, at: object = "best") -> AccountBalance:
        return AccountBalance(address=address, nonce=3, free=10, reserved=0, frozen=0)

    def block_hash(self, at: object = "best") -> str:
        return "0x" + "05" * 32

    def events(self, at: object = "best") -> tuple[Event, ...]:
        return (
            Event(
                pallet="System",
                name="ExtrinsicSuccess",
                attributes={"dispatchInfo": {}},
                phase="ApplyExtrinsic",
                extrinsic_index=0,
            ),
        )

    def query(self, pallet: str, item: str, *keys: object, at: object = "best") -> object:
        return self._agent() if item == "Agents" and keys == (7,) else None

    def query_map(
        self, pallet: str, item: str, *keys: object, **options: object
    ) -> list[tuple[object, object]]:
        return [(7, self._agent())] if item == "Agents" else []

    @staticmethod
    def _agent() -> dict[str, object]:
        return {
            "owner": ALICE,
            "name": "assistant",
            "description": "d",
            "model": "smollm2",
            "version": 1,
            "status": "Active",
            "access": "Public",
            "prompt": {"epoch": 0, "ciphertext": "0x00"},
            "prompt_commitment": "0x" + "11" * 32,
            "prices": {"per_1k_input": 1, "per_1k_output": 2},
            "defaults": {"maxTokens": 1},
            "tools": [],
            "code_hash": None,
            "deposit": 5,
            "created_at": 1,
            "updated_at": 1,
        }


@pytest.fixture
def fake_chain(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(chain_cli, "_connect", lambda url, timeout: _FakeChain())
    monkeypatch.setattr(agents_cli, "_connect", lambda url, timeout: _FakeChain())


@pytest.mark.usefixtures("fake_chain")
def test_chain_and_agents_json_and_quiet() -> None:
    _json(["chain", "status"])
    _json(["chain", "balance", ALICE])
    _json(["chain", "events"])
    assert _json(["agents", "list"]) == [
        {
            "access": "Public",
            "id": 7,
            "model": "smollm2",
            "name": "assistant",
            "owner": ALICE,
            "status": "Active",
            "version": 1,
        }
    ]
    _json(["agents", "show", "7"])
    quiet = _run(["agents", "list", "-q"])
    assert quiet.exit_code == 0 and quiet.stdout == "7\n"


def test_keys_json_and_quiet(tmp_path: Path) -> None:
    store = ["--keystore", str(tmp_path / "keys")]
    env = {"PHALA_AGENT_KEY_PASSWORD": PASSWORD}
    _json(["keys", "new", "one", *store], env=env)
    _json(["keys", "import", "two", "--seed-stdin", *store], env=env, input=DEV_SEED + "\n")
    listed = _json(["keys", "list", *store])
    assert isinstance(listed, list) and {k["name"] for k in listed} == {"one", "two"}
    _json(["keys", "show", "two", *store])
    quiet = _run(["keys", "list", "-q", *store])
    assert quiet.exit_code == 0 and sorted(quiet.stdout.split()) == ["one", "two"]


def test_attest_json(tmp_path: Path) -> None:
    out = tmp_path / "snp"
    paths = _json(["attest", "simulate", str(out)])
    assert isinstance(paths, dict)
    _json(["attest", "show", paths["report"]])
    policy = REPO / "attestation" / "policies" / "dev-simulated.json"
    certs = ["--cert", paths["cert"], "--roots", paths["roots"]]
    _json(["attest", "verify", paths["report"], *certs, "--policy", str(policy)])


def test_receipts_json_and_quiet(tmp_path: Path) -> None:
    from substrateinterface import Keypair

    from phala_agents.worker import Ledger, NewReceipt, Receipt

    raw = bytes.fromhex(_signed_receipt_hex()[2:])
    receipt_id = "0x" + Receipt.decode(raw[:-64]).receipt_id.hex()
    path = tmp_path / "ledger.sqlite"
    ledger = Ledger(path)
    ledger.record_batch(
        [
            NewReceipt(
                id=receipt_id,
                caller=bytes(Keypair.create_from_uri("//Alice").public_key),
                nonce=42,
                agent_id=3,
                agent_version=1,
                charge=7,
                estimated=False,
                signed=raw,
            )
        ]
    )
    ledger.close()
    _json(["receipts", "list", "--ledger", str(path)])
    _json(["receipts", "show", receipt_id, "--ledger", str(path)])
    _json(["receipts", "verify", receipt_id, "--ledger", str(path)])
    quiet = _run(["receipts", "list", "--ledger", str(path), "-q"])
    assert quiet.exit_code == 0 and quiet.stdout == receipt_id + "\n"


# --- start cost: the root app and --help import only typer and our small modules ---------------------

HEAVY = ("substrateinterface", "scalecodec", "openai", "cryptography", "httpx", "structlog", "rich")
_PROBE = """
import sys
from phala_agents.cli import main
HEAVY = %r
sys.argv = ["phala-agent", *sys.argv[1:]]
try:
    main()
except SystemExit:
    pass
print(sorted({m.split(".")[0] for m in sys.modules} & set(HEAVY)), file=sys.stderr)
"""


@pytest.mark.parametrize("args", [["--version"], ["--help"], ["node", "--help"], ["attest", "verify", "-h"]])
def test_help_imports_no_heavy_package(args: list[str]) -> None:
    import subprocess
    import sys

    proc = subprocess.run(
        [sys.executable, "-c", _PROBE % (HEAVY,), *args], capture_output=True, text=True, check=False
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.strip().splitlines()[-1] == "[]", proc.stderr


@pytest.mark.parametrize("name", sorted(LEAVES))
def test_every_command_goes_through_handle_errors(name: str) -> None:
    # click callback (typer's wrapper) -> handle_errors' wrapper -> the command function
    wrapped = getattr(LEAVES[name].callback, "__wrapped__", None)
    assert getattr(wrapped, "handles_errors", False), f"{name} is not wrapped by handle_errors"


def test_cli_mirrors_of_library_names_agree() -> None:
    from phala_agents.attestation import EvidenceKind, sev
    from phala_agents.cli import attest as attest_cli
    from phala_agents.cli import keys as keys_cli
    from phala_agents.client import keystore

    assert [k.value for k in attest_cli.Kind] == [k.value for k in EvidenceKind]
    assert [p.value for p in attest_cli.ProductLine] == [p.value for p in sev.ProductLine]
    assert (keys_cli.KEYSTORE_ENV, keys_cli.PASSWORD_ENV) == (keystore.KEYSTORE_ENV, keystore.PASSWORD_ENV)
