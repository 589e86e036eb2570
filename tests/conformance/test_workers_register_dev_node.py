"""`phala-agent workers register` against `phala-agent node --dev` (subprocess), as an operator
runs it: //Ferdie registers with simulated SNP evidence, `workers show` reads it back active;
registering again with simulated TDX evidence re-attests (attested_at moves on, registered_at
stays); a wrong --evidence binding sends nothing."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from registry_node import cli, dev_node

pytestmark = pytest.mark.conformance

FERDIE = "5CiPPseXPECbkjWCa6MnjNokrgYjMqmKndv2rSnekmSK2DjL"
KEYS = ["--x25519-pub", "0x" + "11" * 32, "--tls-spki-hash", "22" * 32]


@pytest.fixture(scope="module")
def url() -> Iterator[str]:
    with dev_node() as node_url:
        yield node_url


def register(url: str, *args: str) -> dict[str, object]:
    done = cli(
        "workers", "register", "--endpoint", "https://ferdie.example:8443", *KEYS,
        *args, "--suri", "//Ferdie", "--url", url, "--json",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    record: dict[str, object] = json.loads(done.stdout)
    return record


def show(url: str) -> dict[str, object]:
    done = cli("workers", "show", FERDIE, "--url", url, "--json")
    assert done.returncode == 0, done.stderr
    record: dict[str, object] = json.loads(done.stdout)
    return record


def test_register_simulated_snp_then_tdx(url: str) -> None:
    first = register(url, "--simulate", "snp")
    assert first["event"] == "WorkerRegistered" and first["account"] == FERDIE
    on_chain = show(url)
    assert (on_chain["tee"], on_chain["roots"], on_chain["active"]) == ("SevSnp", "Dev", True)
    assert on_chain["endpoint"] == "https://ferdie.example:8443"
    assert on_chain["x25519_pub"] == "0x" + "11" * 32
    assert on_chain["attested_at"] == first["attested_at"]

    second = register(url, "--simulate", "tdx")
    assert second["event"] == "WorkerReattested"
    again = show(url)
    assert (again["tee"], again["roots"], again["active"]) == ("Tdx", "Dev", True)
    assert again["tcb"] == "UpToDate"
    assert int(str(again["attested_at"])) > int(str(on_chain["attested_at"]))
    assert again["registered_at"] == on_chain["registered_at"]


def test_wrong_binding_sends_nothing(url: str, tmp_path: Path) -> None:
    made = cli("attest", "simulate", str(tmp_path), "--report-data", "00")
    assert made.returncode == 0, made.stderr
    before = cli("chain", "status", "--url", url, "--json")
    done = cli(
        "workers", "register", "--endpoint", "https://ferdie.example", *KEYS,
        "--evidence", str(tmp_path / "report.bin"), "--collateral", str(tmp_path),
        "--suri", "//Ferdie", "--url", url,
    )  # fmt: skip
    assert done.returncode == 1
    assert "REPORT_DATA: found" in done.stderr and "wanted the worker binding" in done.stderr
    after = cli("chain", "status", "--url", url, "--json")
    assert json.loads(after.stdout)["best_number"] == json.loads(before.stdout)["best_number"]
