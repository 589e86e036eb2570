"""`phala-agent workers list` / `workers show` against a fake client: the table, `-q`, `--json`
(stable snake_case keys), active vs inactive at the read block, a `Vec<u8>` that
substrate-interface showed as text hexed again, no such worker (exit 1), a bad address (exit 2)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
import structlog
from typer.testing import CliRunner

from phala_agents.cli import workers as workers_cli
from phala_agents.cli._app import app

ALICE = "5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY"
FERDIE = "5CiPPseXPECbkjWCa6MnjNokrgYjMqmKndv2rSnekmSK2DjL"
PERIOD = 14_400
HEAD = 20_000


def _info(attested_at: int, measurement: str) -> dict[str, object]:
    return {
        "endpoint": "https://w.example",
        "x25519_pub": "0x" + "11" * 32,
        "tls_spki_hash": "0x" + "22" * 32,
        "tee": "SevSnp",
        "roots": "Dev",
        "measurement": measurement,
        "tcb": {"Snp": {"bootloader": 4, "tee": 0, "snp": 22, "microcode": 213}},
        "registered_at": 1,
        "attested_at": attested_at,
    }


WORKERS: dict[str, dict[str, object]] = {
    # Active: 10_000 + 14_400 > 20_000. Its measurement came back as text (valid UTF-8 bytes).
    ALICE: _info(10_000, "Z" * 48),
    # Inactive: 5_000 + 14_400 <= 20_000.
    FERDIE: {**_info(5_000, "0x" + "a5" * 48), "tee": "Tdx", "tcb": {"Dcap": "UpToDate"}},
}


class _Head:
    number = HEAD


class _FakeChain:
    def __enter__(self) -> _FakeChain:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def block_hash(self, at: object = "best") -> str:
        return "0x" + "05" * 32

    def head(self, at: object = "best") -> _Head:
        return _Head()

    def constant(self, pallet: str, name: str) -> int:
        assert (pallet, name) == ("Workers", "ReattestPeriod")
        return PERIOD

    def query(self, pallet: str, item: str, *keys: object, at: object = "best") -> object:
        assert (pallet, item) == ("Workers", "Workers")
        return WORKERS.get(str(keys[0]))

    def query_map(
        self, pallet: str, item: str, *keys: object, **options: object
    ) -> list[tuple[object, object]]:
        assert (pallet, item) == ("Workers", "Workers")
        return list(WORKERS.items())


@pytest.fixture(autouse=True)
def _fake(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setattr(workers_cli, "_connect", lambda url, timeout: _FakeChain())
    saved = structlog.get_config()
    yield
    structlog.configure(**saved)


def run(*args: str) -> Any:
    return CliRunner().invoke(app, list(args), catch_exceptions=False)


def test_help_lists_the_commands_and_exit_codes() -> None:
    result = run("workers", "--help")
    assert result.exit_code == 0
    assert "list" in result.stdout and "show" in result.stdout
    assert "Exit codes" in run("workers", "show", "--help").stdout


def test_list_table_quiet_and_json() -> None:
    table = run("workers", "list")
    assert table.exit_code == 0, table.output
    assert table.stdout.splitlines()[0].lower().split() == [
        "account",
        "tee",
        "roots",
        "active",
        "attested_at",
        "endpoint",
    ]
    assert run("workers", "list", "-q").stdout.split() == sorted([ALICE, FERDIE])
    rows = json.loads(run("workers", "list", "--json").stdout)
    by_account = {r["account"]: r for r in rows}
    assert by_account[ALICE]["active"] is True
    assert by_account[ALICE]["active_until"] == 10_000 + PERIOD
    assert by_account[ALICE]["measurement"] == "0x" + "5a" * 48  # "Z" * 48 hexed again
    assert by_account[FERDIE]["active"] is False
    assert by_account[FERDIE]["measurement"] == "0x" + "a5" * 48
    assert by_account[FERDIE]["tcb"] == "UpToDate"
    assert all(k.islower() for r in rows for k in r)


def test_show() -> None:
    result = run("workers", "show", ALICE)
    assert result.exit_code == 0, result.output
    assert f"(active until block #{10_000 + PERIOD}, now #{HEAD})" in result.stdout
    assert "SNP bootloader=4 tee=0 snp=22 microcode=213" in result.stdout
    record = json.loads(run("workers", "show", FERDIE, "--json").stdout)
    assert record["active"] is False and record["tee"] == "Tdx"


def test_no_such_worker_is_exit_1() -> None:
    bob = "5FHneW46xGXgs5mUiveU4sbTyGBzmstUspZC92UhjJM694ty"
    result = CliRunner().invoke(app, ["workers", "show", bob])
    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr.startswith(f"Error: worker {bob}: found no Workers entry at block #{HEAD}")
    assert "workers list" in result.stderr and "node running" not in result.stderr  # the right hint


def test_bad_address_is_a_usage_error() -> None:
    result = CliRunner().invoke(app, ["workers", "show", "not-an-address"])
    assert result.exit_code == 2
    assert "wanted an SS58 address" in result.stderr
