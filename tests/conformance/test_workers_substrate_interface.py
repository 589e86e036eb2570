"""Unmodified substrate-interface 1.8.1 against `phala-agent node --dev` (subprocess): //Ferdie
registers as a worker with simulated SEV-SNP evidence bound to its account, the dev chain's
genesis hash and its keys (the dev genesis policy trusts the simulated TEE's dev roots); the
`Workers` entry reads back through the metadata; evidence bound to another account fails with
the decoded `Workers::ReportDataMismatch`; `phala-agent workers list/show --json` read it back."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator

import pytest
from registry_node import cli, dev_node
from substrateinterface import Keypair, SubstrateInterface

from phala_agents.attestation import SimulatedSnp, worker_report_data
from phala_agents.chain.pallets.workers import snp_evidence_bundle

pytestmark = pytest.mark.conformance

X25519 = bytes([0x11]) * 32
TLS_SPKI_HASH = hashlib.sha256(b"worker tls spki (test)").digest()
# Not valid UTF-8: substrate-interface shows a `Vec<u8>` that decodes as text as a string, else hex.
MEASUREMENT = bytes([0xA5]) * 48


@pytest.fixture(scope="module")
def substrate() -> Iterator[SubstrateInterface]:
    with dev_node() as url:
        s = SubstrateInterface(url=url)
        try:
            yield s
        finally:
            s.close()


@pytest.fixture(scope="module")
def sim() -> SimulatedSnp:
    # The node verifies at its block time (the wall clock); generate() starts validity 5 min ago.
    return SimulatedSnp.generate(rsa_key_size=2048)


def _evidence(s: SubstrateInterface, sim: SimulatedSnp, account: bytes) -> str:
    genesis = bytes.fromhex(s.get_block_hash(0)[2:])
    report_data = worker_report_data(genesis, account, X25519, TLS_SPKI_HASH)
    report = sim.report(report_data=report_data, measurement=MEASUREMENT)
    return "0x" + snp_evidence_bundle(report, sim.endorsement(), dev_roots=sim.roots_pem()).hex()


def _register(s: SubstrateInterface, signer: Keypair, evidence: str) -> object:
    call = s.compose_call(
        "Workers",
        "register_worker",
        {
            "evidence": evidence,
            "endpoint": "https://ferdie.worker.example:8443",
            "x25519_pub": "0x" + X25519.hex(),
            "tls_spki_hash": "0x" + TLS_SPKI_HASH.hex(),
        },
    )
    return s.submit_extrinsic(s.create_signed_extrinsic(call=call, keypair=signer), wait_for_inclusion=True)


def test_ferdie_registers_with_simulated_snp_evidence(
    substrate: SubstrateInterface, sim: SimulatedSnp
) -> None:
    ferdie = Keypair.create_from_uri("//Ferdie")
    receipt = _register(substrate, ferdie, _evidence(substrate, sim, ferdie.public_key))
    assert receipt.is_success, receipt.error_message  # type: ignore[attr-defined]
    events = [e.value["event"] for e in receipt.triggered_events]  # type: ignore[attr-defined]
    registered = [e for e in events if e["module_id"] == "Workers"]
    assert [e["event_id"] for e in registered] == ["WorkerRegistered"]
    info = substrate.query("Workers", "Workers", [ferdie.ss58_address]).value
    assert info["endpoint"] == "https://ferdie.worker.example:8443"
    assert info["x25519_pub"] == "0x" + X25519.hex()
    assert info["tls_spki_hash"] == "0x" + TLS_SPKI_HASH.hex()
    assert (info["tee"], info["roots"]) == ("SevSnp", "Dev")
    assert info["measurement"] == "0x" + MEASUREMENT.hex()
    assert info["tcb"] == {"Snp": {"bootloader": 4, "tee": 0, "snp": 22, "microcode": 213}}
    assert info["registered_at"] == info["attested_at"] > 0
    assert substrate.get_constant("Workers", "ReattestPeriod").value == 14_400


def test_evidence_for_another_account_is_refused(substrate: SubstrateInterface, sim: SimulatedSnp) -> None:
    eve, alice = Keypair.create_from_uri("//Eve"), Keypair.create_from_uri("//Alice")
    receipt = _register(substrate, eve, _evidence(substrate, sim, alice.public_key))
    assert not receipt.is_success  # type: ignore[attr-defined]
    assert receipt.error_message["name"] == "ReportDataMismatch"  # type: ignore[attr-defined]
    assert substrate.query("Workers", "Workers", [eve.ss58_address]).value is None


def test_the_cli_lists_and_shows_the_worker(substrate: SubstrateInterface) -> None:
    """Runs after the registration above (same module-scoped node)."""
    ferdie = Keypair.create_from_uri("//Ferdie").ss58_address
    listed = cli("workers", "list", "--json", "--url", substrate.url)
    assert listed.returncode == 0, listed.stderr
    assert [w["account"] for w in json.loads(listed.stdout)] == [ferdie]
    shown = cli("workers", "show", ferdie, "--json", "--url", substrate.url)
    assert shown.returncode == 0, shown.stderr
    record = json.loads(shown.stdout)
    assert record["active"] is True
    assert record["measurement"] == "0x" + MEASUREMENT.hex()
    assert record["tcb"] == "SNP bootloader=4 tee=0 snp=22 microcode=213"
    missing = cli("workers", "show", Keypair.create_from_uri("//Eve").ss58_address, "--url", substrate.url)
    assert missing.returncode == 1 and missing.stderr.startswith("Error: worker ")
