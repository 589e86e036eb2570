"""`phala-agent deploy` / `agents` without a node: help, exit codes, file errors before any
connection, usage errors; `_connect` is replaced so a test that reached the network would fail."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import structlog
from typer.testing import CliRunner

from phala_agents.cli import agents as agents_cli
from phala_agents.cli._app import app

REPO = Path(__file__).resolve().parents[3]


@pytest.fixture(autouse=True)
def _no_network(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    def refuse(url: str, timeout: float) -> None:
        raise AssertionError(f"tried to connect to {url}")

    monkeypatch.setattr(agents_cli, "_connect", refuse)
    saved = structlog.get_config()
    yield
    structlog.configure(**saved)


def run(*args: str) -> object:
    return CliRunner().invoke(app, list(args), catch_exceptions=False)


def test_help_lists_the_commands_and_exit_codes() -> None:
    result = CliRunner().invoke(app, ["agents", "--help"])
    assert result.exit_code == 0
    for name in ("list", "show", "update", "pause", "resume", "retire", "grant", "revoke", "transfer"):
        assert name in result.stdout
    deploy = CliRunner().invoke(app, ["deploy", "--help"])
    assert deploy.exit_code == 0 and "Exit codes" in deploy.stdout and "--suri" in deploy.stdout


def test_malformed_toml_fails_before_connecting(tmp_path: Path) -> None:
    bad = tmp_path / "agent.toml"
    bad.write_text('name = "x"\nmodel = "m"\nprices = 3\nsystem_prompt = "hi"\n')
    result = CliRunner().invoke(app, ["deploy", str(bad), "--suri", "//Alice"], catch_exceptions=False)
    assert result.exit_code == 1
    assert result.stderr.startswith(f"Error: {bad}:3: prices: found 3")
    assert "Hint: fix the agent file" in result.stderr
    assert result.stdout == ""


def test_missing_file_and_oversized_prompt(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["deploy", str(tmp_path / "nope.toml"), "--suri", "//Alice"])
    assert result.exit_code == 1 and "wanted a readable agent.toml" in result.stderr
    big = tmp_path / "big.toml"
    big.write_text(
        'name = "b"\nmodel = "m"\nsystem_prompt = "'
        + "y" * 20_000
        + '"\n[prices]\nper_1k_input = 1\nper_1k_output = 1\n'
    )
    result = CliRunner().invoke(app, ["deploy", str(big), "--suri", "//Alice"])
    assert result.exit_code == 1 and "at most 16384 bytes" in result.stderr
    assert "y" * 30 not in result.stderr


def test_usage_errors_exit_2() -> None:
    assert CliRunner().invoke(app, ["agents", "show", "-1"]).exit_code == 2
    assert CliRunner().invoke(app, ["agents", "grant", "0"]).exit_code == 2
    assert CliRunner().invoke(app, ["deploy"]).exit_code == 2


def test_state_file_is_private(tmp_path: Path) -> None:
    toml = tmp_path / "agent.toml"
    toml.write_text("")
    agents_cli._write_state(toml, {"agent_id": 3, "salt": "0x00"})
    path = tmp_path / ".phala-agent" / "agent.toml.json"
    assert path.stat().st_mode & 0o777 == 0o600
    assert agents_cli._read_state(toml) == {"agent_id": 3, "salt": "0x00"}
    path.write_text("not json")
    assert agents_cli._read_state(toml) == {}


class _LiveChain:
    """A stand-in client for a chain that does not say it is a development chain."""

    is_dev_chain = False
    ss58_format = 42

    def __enter__(self) -> _LiveChain:
        return self

    def __exit__(self, *exc: object) -> None:
        return None


def test_dev_uris_are_refused_on_a_live_chain(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(agents_cli, "_connect", lambda url, timeout: _LiveChain())
    toml = REPO / "examples" / "assistant" / "agent.toml"
    result = CliRunner().invoke(app, ["deploy", str(toml), "--suri", "//Alice"])
    assert result.exit_code == 1
    assert "allowed only against a dev chain" in result.stderr
    paused = CliRunner().invoke(app, ["agents", "pause", "0", "--suri", "//Alice"])
    assert paused.exit_code == 1 and "allowed only against a dev chain" in paused.stderr
