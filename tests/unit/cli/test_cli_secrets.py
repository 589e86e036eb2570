"""No secret leaves the CLI except where it is the result (STYLE.md section 6).

Every command that takes a secret (a SURI, a key password, a mnemonic or seed, an agent's system
prompt, a call's message and completion) runs with typer's CliRunner against fakes (no sockets).
Logs are checked twice: raw event dicts through structlog's ``capture_logs`` (before any
redaction, so a secret under an innocent key is caught) plus stdlib records through ``caplog``,
and the rendered JSON lines on stderr with ``--log-level debug``. Allowed on stdout only: the
completion for ``call`` (its result) and the mnemonic for ``keys new --show-mnemonic`` on a TTY.
"""

from __future__ import annotations

import json
import logging
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import structlog
from structlog.testing import capture_logs
from substrateinterface import Keypair
from typer.testing import CliRunner, Result

from phala_agents import _logging
from phala_agents.cli import agents as agents_cli
from phala_agents.cli import chain as chain_cli
from phala_agents.cli import keys as keys_cli
from phala_agents.cli._app import app
from phala_agents.client import ChainClient, Event, ExtrinsicResult, dev_cluster_key
from phala_agents.client._keys import keypair_from_uri
from phala_agents.client.keystore import Keystore

REPO = Path(__file__).resolve().parents[3]
BOB = "5FHneW46xGXgs5mUiveU4sbTyGBzmstUspZC92UhjJM694ty"
MNEMONIC = Keypair.generate_mnemonic()
SURI = f"{MNEMONIC}//phala-canary"
SEED = "0x" + "5a17c0ffee" * 6 + "c0de"
PASSWORD = "pw-canary-7f3a9"
PROMPT = "SYSTEM-PROMPT-CANARY-91c2: never reveal the launch codes."
MESSAGE = "USER-MESSAGE-CANARY-4d7e: what are the launch codes?"
COMPLETION = "COMPLETION-CANARY-b8a1: I cannot say."


class Run:
    """One CLI invocation with everything it wrote: stdout, stderr, structlog events, stdlib logs."""

    def __init__(self, result: Result, events: list[dict[str, Any]], records: list[str]) -> None:
        self.result, self.events, self.records = result, events, records
        self.code, self.stdout, self.stderr = result.exit_code, result.stdout, result.stderr

    def assert_clean(self, *secrets: str, stdout_may_hold: tuple[str, ...] = ()) -> None:
        logs = json.dumps(self.events, default=str) + "\n".join(self.records)
        for secret in secrets:
            for part in _parts(secret):
                assert part not in self.stderr, f"{part!r} on stderr:\n{self.stderr}"
                assert part not in logs, f"{part!r} in the logs"
                if secret not in stdout_may_hold:
                    assert part not in self.stdout, f"{part!r} on stdout:\n{self.stdout}"


def _parts(secret: str) -> list[str]:
    """The secret and its distinctive pieces (a mnemonic leaks if any 4 words in a row do)."""
    words = secret.split()
    if len(words) >= 12:
        return [secret, *(" ".join(words[i : i + 4]) for i in range(len(words) - 3))]
    return [secret]


@pytest.fixture(autouse=True)
def _isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    for name in ("PHALA_AGENT_URL", "PHALA_AGENT_SURI", "PHALA_AGENT_KEY_PASSWORD", "PHALA_AGENT_KEYSTORE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("PHALA_AGENT_KEYSTORE", str(tmp_path / "keys"))
    monkeypatch.chdir(tmp_path)
    saved = structlog.get_config()
    yield
    structlog.configure(**saved)


@pytest.fixture(params=["captured", "rendered"])
def cli(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> Any:
    """Run the CLI twice per test: raw events captured, and rendered JSON logs at debug on stderr."""
    mode = request.param

    def run(args: list[str], **kwargs: Any) -> Run:
        caplog.clear()
        with caplog.at_level(logging.DEBUG):
            if mode == "captured":
                # The first command body would replace capture_logs' processors; keep them.
                with monkeypatch.context() as patch, capture_logs() as events:
                    patch.setattr(_logging, "configure_logging", lambda **_: None)
                    result = CliRunner().invoke(app, ["--log-level", "debug", *args], **kwargs)
            else:
                events = []
                result = CliRunner().invoke(app, ["--log-level", "debug", "--log-json", *args], **kwargs)
        return Run(result, events, [r.getMessage() + repr(r.args) for r in caplog.records])

    return run


# --- fakes ---------------------------------------------------------------------------------------


def _result(*events: Event) -> ExtrinsicResult:
    return ExtrinsicResult(
        extrinsic_hash="0x" + "11" * 32,
        block_hash="0x" + "22" * 32,
        block_number=6,
        extrinsic_index=1,
        status="finalized",
        ok=True,
        events=events,
        fee=1,
    )


class _Storage:
    """``api.query.Workers.ClusterKey.get(at=...)`` as well as ``api.query(pallet, item, *keys)``."""

    def __init__(self, chain: _FakeChain) -> None:
        self.chain = chain

    def __call__(self, pallet: str, item: str, *keys: object, at: object = "best") -> object:
        return self.chain.storage.get((item, *keys))

    def __getattr__(self, name: str) -> Any:
        chain = self.chain

        class _Item:
            def __getattr__(self, item: str) -> Any:
                class _Get:
                    @staticmethod
                    def get(*keys: object, at: object = "best") -> object:
                        return chain.storage.get((item, *keys))

                return _Get()

        return _Item()


class _FakeChain:
    """A dev chain that accepts everything: transfers, registrations, deposits."""

    is_dev_chain, ss58_format, token_symbol, token_decimals = True, 42, "UNIT", 12

    def __init__(self) -> None:
        cluster = dev_cluster_key()
        self.storage: dict[tuple[object, ...], object] = {
            ("ClusterKey",): {"public": "0x" + cluster.public_bytes.hex(), "epoch": 0},
            ("NextAgentId",): 0,
        }
        self.sent: list[tuple[str, str, dict[str, object]]] = []
        self.query = _Storage(self)

    def __enter__(self) -> _FakeChain:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def close(self) -> None:
        return None

    def keypair(self, suri: str) -> Keypair:
        return keypair_from_uri(suri, dev_chain=True)

    def transfer(self, signer: Keypair, dest: str, amount: int, **options: Any) -> ExtrinsicResult:
        return _result(Event(pallet="Balances", name="Transfer", attributes={"amount": amount}, phase="x"))

    def block_hash(self, at: object = "best") -> str:
        return "0x" + "05" * 32

    def query_map(self, *args: object, **kwargs: object) -> list[tuple[object, object]]:
        return []

    def sign_and_submit(
        self, pallet: str, call: str, params: dict[str, object], signer: Keypair, **options: object
    ) -> ExtrinsicResult:
        self.sent.append((pallet, call, dict(params)))
        if call == "register":
            owner = signer.ss58_address
            self.storage[("Agents", 0)] = {
                "owner": owner,
                "version": 1,
                "access": "Public",
                "status": "Active",
            }
            return _result(Event(pallet=pallet, name="Registered", attributes={"agent_id": 0}, phase="x"))
        return _result()

    def get_storage(self, pallet: str, item: str, *keys: object, at: object = "best") -> object:
        return {"balance": 5, "unbonding": 0, "unlock_at": None}


@pytest.fixture
def chain(monkeypatch: pytest.MonkeyPatch) -> _FakeChain:
    fake = _FakeChain()
    monkeypatch.setattr(chain_cli, "_connect", lambda url, timeout: fake)
    monkeypatch.setattr(agents_cli, "_connect", lambda url, timeout: fake)
    monkeypatch.setattr(ChainClient, "connect", staticmethod(lambda url, **kw: fake))
    return fake


@pytest.fixture
def stored_key(tmp_path: Path) -> str:
    Keystore(tmp_path / "keys").import_seed("canary", bytes.fromhex(SEED[2:]), PASSWORD)
    return "canary"


def _agent_toml(tmp_path: Path) -> Path:
    target = tmp_path / "agent"
    shutil.copytree(REPO / "examples" / "assistant", target)
    (target / "prompt.md").write_text(PROMPT + "\n")
    return target / "agent.toml"


# --- chain transfer ------------------------------------------------------------------------------


@pytest.mark.usefixtures("chain")
def test_transfer_suri_from_option_env_and_prompt(cli: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    base = ["chain", "transfer", "--to", BOB, "--amount", "1"]
    cli([*base, "--suri", SURI]).assert_clean(SURI)
    cli(base, env={"PHALA_AGENT_SURI": SURI}).assert_clean(SURI)
    monkeypatch.setattr(chain_cli, "_stdin_is_tty", lambda: True)
    prompted = cli(base, input=SURI + "\n")
    assert prompted.code == 0, prompted.stderr
    assert "Secret URI" in prompted.stderr and "Secret URI" not in prompted.stdout  # stdout: results only
    prompted.assert_clean(SURI)


@pytest.mark.usefixtures("chain")
def test_transfer_with_an_unreadable_suri_does_not_echo_it(cli: Any) -> None:
    bad = "correct horse battery staple " * 3 + "//canary"
    run = cli(["chain", "transfer", "--to", BOB, "--amount", "1", "--suri", bad])
    assert run.code == 1 and "Error: " in run.stderr
    run.assert_clean(bad)


# --- keys ----------------------------------------------------------------------------------------


def test_keys_new_password_from_env_and_stdin(cli: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    run = cli(["keys", "new", "a"], env={"PHALA_AGENT_KEY_PASSWORD": PASSWORD})
    assert run.code == 0, run.stderr
    run.assert_clean(PASSWORD)
    assert "mnemonic" not in run.stdout
    run = cli(["keys", "new", "b", "--password-stdin"], input=PASSWORD + "\n")
    assert run.code == 0, run.stderr
    run.assert_clean(PASSWORD)


def test_keys_new_show_mnemonic_only_on_a_tty_stdout(cli: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    refused = cli(["keys", "new", "a", "--show-mnemonic"], env={"PHALA_AGENT_KEY_PASSWORD": PASSWORD})
    assert refused.code == 2 and refused.stdout == ""
    monkeypatch.setattr(keys_cli, "_stdout_is_tty", lambda: True)
    run = cli(["keys", "new", "b", "--show-mnemonic"], env={"PHALA_AGENT_KEY_PASSWORD": PASSWORD})
    assert run.code == 0, run.stderr
    mnemonic = run.stdout.split("write it down): ", 1)[1].strip()
    assert len(mnemonic.split()) == 12
    run.assert_clean(mnemonic, PASSWORD, stdout_may_hold=(mnemonic,))


def test_keys_import_mnemonic_seed_and_json(cli: Any, tmp_path: Path) -> None:
    run = cli(["keys", "import", "m", "--mnemonic-stdin", "--password-stdin"], input=f"{SURI}\n{PASSWORD}\n")
    assert run.code == 0, run.stderr
    run.assert_clean(SURI, PASSWORD)
    run = cli(["keys", "import", "s", "--seed-stdin", "--password-stdin"], input=f"{SEED}\n{PASSWORD}\n")
    assert run.code == 0, run.stderr
    run.assert_clean(SEED, PASSWORD)
    exported = tmp_path / "s.json"
    exported.write_text(json.dumps(Keystore(tmp_path / "keys").export_json("s")))
    run = cli(
        ["keys", "import", "j", "--json-file", str(exported), "--password-stdin"], input=PASSWORD + "\n"
    )
    assert run.code == 0, run.stderr
    run.assert_clean(SEED, PASSWORD)


def test_keys_import_failures_do_not_echo_the_secret(cli: Any, tmp_path: Path) -> None:
    bad_mnemonic = "zebra " * 11 + "canary"
    run = cli(
        ["keys", "import", "m", "--mnemonic-stdin", "--password-stdin"], input=f"{bad_mnemonic}\n{PASSWORD}\n"
    )
    assert run.code == 1 and "Error: " in run.stderr
    run.assert_clean(bad_mnemonic, PASSWORD)
    bad_seed = "0x" + "zz" * 32
    run = cli(["keys", "import", "s", "--seed-stdin", "--password-stdin"], input=f"{bad_seed}\n{PASSWORD}\n")
    assert run.code == 1 and "Error: " in run.stderr
    run.assert_clean(bad_seed, PASSWORD)
    Keystore(tmp_path / "keys").import_seed("k", bytes.fromhex(SEED[2:]), PASSWORD)
    exported = tmp_path / "k.json"
    exported.write_text(json.dumps(Keystore(tmp_path / "keys").export_json("k")))
    wrong = "wrong-pw-canary-0e1f"
    run = cli(["keys", "import", "j", "--json-file", str(exported), "--password-stdin"], input=wrong + "\n")
    assert run.code == 1 and "Error: " in run.stderr
    run.assert_clean(wrong, SEED)


# --- deploy, agents, deposit ---------------------------------------------------------------------


def test_deploy_with_a_dev_uri_and_with_a_stored_key(
    cli: Any, chain: _FakeChain, tmp_path: Path, stored_key: str
) -> None:
    toml = _agent_toml(tmp_path)
    run = cli(["deploy", str(toml), "--suri", "//Alice"])
    assert run.code == 0, run.stderr
    run.assert_clean(PROMPT)
    assert all(PROMPT not in json.dumps(params, default=str) for _, _, params in chain.sent), "sent in clear"
    state = (toml.parent / ".phala-agent" / "agent.toml.json").read_text()
    assert PROMPT not in state
    shutil.rmtree(toml.parent / ".phala-agent")
    chain.storage.pop(("Agents", 0))
    run = cli(["deploy", str(toml), "--key", stored_key, "--password-stdin", "--json"], input=PASSWORD + "\n")
    assert run.code == 0, run.stderr
    run.assert_clean(PROMPT, PASSWORD, SEED)


@pytest.mark.usefixtures("chain")
def test_deploy_refuses_a_secret_in_suri_without_echoing_it(cli: Any, tmp_path: Path) -> None:
    run = cli(["deploy", str(_agent_toml(tmp_path)), "--suri", SURI])
    assert run.code == 2 and "Error: " in run.stderr
    run.assert_clean(SURI, PROMPT)


@pytest.mark.usefixtures("chain")
def test_agents_pause_with_a_wrong_password(cli: Any, stored_key: str) -> None:
    wrong = "wrong-pw-canary-77aa"
    run = cli(["agents", "pause", "0", "--key", stored_key, "--password-stdin"], input=wrong + "\n")
    assert run.code == 1 and "Error: " in run.stderr
    run.assert_clean(wrong, PASSWORD, SEED)


@pytest.mark.usefixtures("chain")
def test_deposit_with_a_stored_key(cli: Any, stored_key: str) -> None:
    run = cli(["deposit", "1", "--key", stored_key, "--password-stdin"], input=PASSWORD + "\n")
    assert run.code == 0, run.stderr
    run.assert_clean(PASSWORD, SEED)


# --- call ------------------------------------------------------------------------------------------


@pytest.fixture
def worker(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """A worker behind httpx.MockTransport: info, models, and a completion (plain or streamed)."""
    bodies: list[dict[str, Any]] = []
    phala = {"receipt_id": "0x" + "ab" * 32, "charge": 3, "prompt_tokens": 9, "completion_tokens": 5}

    def handler(request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if path == "/v1/phala/info":
            ferdie = Keypair.create_from_uri("//Ferdie")
            info = {"genesis": "0x" + "00" * 32, "worker": "0x" + ferdie.public_key.hex(), "head": 1}
            return httpx.Response(200, json={**info, "dev_chain": True, "ss58_format": 42})
        if path == "/v1/models":
            return httpx.Response(200, json={"data": [{"id": "agent:1", "phala": {"version": 1}}]})
        body = json.loads(request.content)
        bodies.append(body)
        if body.get("stream"):
            chunks = [{"choices": [{"delta": {"content": word + " "}}]} for word in COMPLETION.split()] + [
                {"choices": [], "phala": phala}
            ]
            text = "".join(f"data: {json.dumps(c)}\n\n" for c in chunks) + "data: [DONE]\n\n"
            return httpx.Response(200, text=text, headers={"content-type": "text/event-stream"})
        return httpx.Response(200, json={"choices": [{"message": {"content": COMPLETION}}], "phala": phala})

    real = httpx.Client

    def client(**kwargs: Any) -> httpx.Client:
        return real(transport=httpx.MockTransport(handler), **kwargs)

    monkeypatch.setattr(httpx, "Client", client)
    return bodies


@pytest.mark.parametrize("stream", [False, True])
def test_call_message_and_completion(
    cli: Any, worker: list[dict[str, Any]], stored_key: str, stream: bool
) -> None:
    extra = ["--stream"] if stream else []
    run = cli(["call", "1", MESSAGE, "--suri", "//Alice", *extra])
    assert run.code == 0, run.stderr
    assert worker[-1]["messages"][0]["content"] == MESSAGE
    assert " ".join(run.stdout.split()) == COMPLETION  # the result, on stdout only
    run.assert_clean(MESSAGE, COMPLETION, stdout_may_hold=(COMPLETION,))
    run = cli(["call", "1", MESSAGE, "--key", stored_key, "--password-stdin", *extra], input=PASSWORD + "\n")
    assert run.code == 0, run.stderr
    run.assert_clean(MESSAGE, COMPLETION, PASSWORD, SEED, stdout_may_hold=(COMPLETION,))
