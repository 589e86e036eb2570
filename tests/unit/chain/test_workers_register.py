"""Workers: attested registration (``register_worker``, ``set_policy``, ``deregister``,
``is_active``), FRAME style: the dev runtime over an in-memory genesis (``TestExternalities``),
``set_block_number`` and a pinned ``Timestamp.Now`` first, ``assert_noop`` (error, unchanged trie
root, no event) for every refusal, ``assert_last_event`` for every success; simulated SNP and
TDX/SGX evidence bound to the right REPORT_DATA; the spec (``chain/pallets/workers.md``) against
the declarations and golden storage keys."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import xxhash
from chain_harness import TestExternalities
from substrateinterface import SubstrateInterface

from phala_agents.attestation import SimulatedSnp, sev, tdx, worker_report_data
from phala_agents.attestation.tdx.simulated import SimulatedTdx
from phala_agents.chain import DEV_ACCOUNTS, DevRuntime
from phala_agents.chain.frame import Call, Origin
from phala_agents.chain.pallets.system import System
from phala_agents.chain.pallets.timestamp import Timestamp
from phala_agents.chain.pallets.workers import (
    TCB_STATUSES,
    TEE_KINDS,
    EvidenceBundle,
    Workers,
    WorkersConfig,
    WorkersWeights,
    dcap_evidence_bundle,
    dev_worker_policy,
    snp_evidence_bundle,
)
from phala_agents.chain.runtime import dev_genesis_config
from phala_agents.scale import blake2_128_concat, storage_prefix

SPEC = Path(__file__).resolve().parents[3] / "chain" / "pallets" / "workers.md"
NOW = 1_763_000_000  # pinned block time (unix seconds), 2025-11-13
ALICE, FERDIE = DEV_ACCOUNTS["Alice"], DEV_ACCOUNTS["Ferdie"]
X25519, TLS = bytes([0x11]) * 32, bytes([0x22]) * 32
MEASUREMENT = bytes([0x5A]) * 48
PERIOD = WorkersConfig().reattest_period


@pytest.fixture(scope="module")
def snp() -> SimulatedSnp:
    # RSA-2048 keeps the hierarchy fast to generate; the verifier takes either size.
    return SimulatedSnp.generate(rsa_key_size=2048, not_before=_utc(NOW - 86_400))


@pytest.fixture(scope="module")
def dcap() -> SimulatedTdx:
    return SimulatedTdx.generate(not_before=NOW - 86_400)


def _utc(t: int) -> dt.datetime:
    return dt.datetime.fromtimestamp(t, dt.UTC)


class Ext(TestExternalities):
    def dispatch(self, name: str, origin: Origin, **args: object) -> None:
        self.run("Workers", name, origin, args)

    @property
    def workers(self) -> Workers:
        return self.rt.pallet(Workers)

    def genesis_hash(self) -> bytes:
        return self.rt.pallet(System).block_hash.get(0)


@pytest.fixture
def ext() -> Iterator[Ext]:
    e = Ext(DevRuntime())
    e.set_block_number(1)
    e.rt.pallet(Timestamp).now.put(NOW * 1000)
    yield e


def binding(ext: Ext, who: bytes = ALICE, x25519: bytes = X25519, tls: bytes = TLS) -> bytes:
    return worker_report_data(ext.genesis_hash(), who, x25519, tls)


@dataclass
class Snp:
    """Simulated SNP evidence under construction; ``bundle`` signs it."""

    report_data: bytes
    measurement: bytes = MEASUREMENT
    policy: int = sev.abi.POLICY_RESERVED_MUST_BE_ONE | sev.abi.POLICY_SMT
    dev_roots: bool = True
    endorsement: bool = True

    def bundle(self, sim: SimulatedSnp) -> bytes:
        report = sim.report(report_data=self.report_data, measurement=self.measurement, policy=self.policy)
        return snp_evidence_bundle(
            report,
            sim.endorsement() if self.endorsement else b"",
            dev_roots=sim.roots_pem() if self.dev_roots else None,
        )


def tdx_bundle(
    sim: SimulatedTdx,
    report_data: bytes,
    *,
    issued: int = NOW - 3600,
    sgx: bool = False,
    debug: bool = False,
    td_attributes: bytes | None = None,
) -> bytes:
    if sgx:
        quote = sim.quote(report_data=report_data, sgx=True, mr_enclave=bytes([0x5A]) * 32)
    else:
        attributes = td_attributes or bytes([0x01 if debug else 0x00, 0, 0, 0x10]) + bytes(4)
        quote = sim.quote(report_data=report_data, mr_td=MEASUREMENT, td_attributes=attributes)
    collateral = tdx.collateral_to_json(sim.collateral(issue=issued, tdx=not sgx)).encode()
    return dcap_evidence_bundle(quote, collateral, dev_root=sim.root_der)


def register_args(evidence: bytes, endpoint: bytes = b"https://worker.example:8443") -> dict[str, object]:
    return {"evidence": evidence, "endpoint": endpoint, "x25519_pub": X25519, "tls_spki_hash": TLS}


def assert_noop(ext: Ext, expected: str, name: str, origin: Origin, **args: object) -> None:
    """The call fails with ``expected`` ("Workers::Error" or "BadOrigin") and changes nothing."""
    ext.assert_noop(expected, lambda: ext.dispatch(name, origin, **args))


def assert_last_event(ext: Ext, event: str, attrs: object) -> None:
    assert ext.last_event() == ("Workers", event, attrs)


def set_policy(ext: Ext, **changes: object) -> None:
    ext.dispatch("set_policy", Origin.root(), policy={**dev_worker_policy(), **changes})


def refused(ext: Ext, error: str, evidence: bytes, who: bytes = ALICE) -> None:
    assert_noop(ext, f"Workers::{error}", "register_worker", Origin.signed(who), **register_args(evidence))


# --- success paths ------------------------------------------------------------------------------


def test_dev_genesis_policy_trusts_the_simulated_tee() -> None:
    policy = dev_genesis_config()["Workers"]["policy"]
    assert policy == dev_worker_policy()
    assert policy["trust_dev_roots"] is True
    e = Ext(DevRuntime())
    assert e.workers.policy.get() == dev_worker_policy()


def test_register_with_simulated_snp(ext: Ext, snp: SimulatedSnp) -> None:
    ext.dispatch("register_worker", Origin.signed(ALICE), **register_args(Snp(binding(ext)).bundle(snp)))
    assert_last_event(
        ext,
        "WorkerRegistered",
        {"worker": ALICE, "tee": ("SevSnp", None), "roots": ("Dev", None), "measurement": MEASUREMENT},
    )
    assert ext.workers.workers.get(ALICE) == {
        "endpoint": b"https://worker.example:8443",
        "x25519_pub": X25519,
        "tls_spki_hash": TLS,
        "tee": ("SevSnp", None),
        "roots": ("Dev", None),
        "measurement": MEASUREMENT,
        "tcb": ("Snp", {"bootloader": 4, "tee": 0, "snp": 22, "microcode": 213}),
        "registered_at": 1,
        "attested_at": 1,
    }


@pytest.mark.parametrize("sgx", [False, True], ids=["tdx", "sgx"])
def test_register_with_simulated_dcap(ext: Ext, dcap: SimulatedTdx, sgx: bool) -> None:
    ext.dispatch(
        "register_worker", Origin.signed(ALICE), **register_args(tdx_bundle(dcap, binding(ext), sgx=sgx))
    )
    tee = "Sgx" if sgx else "Tdx"
    measurement = bytes([0x5A]) * (32 if sgx else 48)
    attrs = {"worker": ALICE, "tee": (tee, None), "roots": ("Dev", None), "measurement": measurement}
    assert_last_event(ext, "WorkerRegistered", attrs)
    info = ext.workers.workers.get(ALICE)
    assert info is not None
    assert info["tee"] == (tee, None)
    assert info["tcb"] == ("Dcap", ("UpToDate", None))


def test_reattestation_refreshes_attested_at_and_keeps_registered_at(
    ext: Ext, snp: SimulatedSnp, dcap: SimulatedTdx
) -> None:
    ext.dispatch("register_worker", Origin.signed(ALICE), **register_args(Snp(binding(ext)).bundle(snp)))
    ext.set_block_number(500)
    new_endpoint = b"https://moved.example"
    ext.dispatch(
        "register_worker",
        Origin.signed(ALICE),
        **register_args(tdx_bundle(dcap, binding(ext)), endpoint=new_endpoint),
    )
    info = ext.workers.workers.get(ALICE)
    assert info is not None
    assert (info["registered_at"], info["attested_at"]) == (1, 500)
    assert info["endpoint"] == new_endpoint
    assert info["tee"] == ("Tdx", None)
    assert ext.last_event()[1] == "WorkerReattested"


def test_is_active_until_the_reattest_period_ends(ext: Ext, snp: SimulatedSnp) -> None:
    workers = ext.workers
    assert not workers.is_active(ALICE, 1)
    ext.set_block_number(10)
    ext.dispatch("register_worker", Origin.signed(ALICE), **register_args(Snp(binding(ext)).bundle(snp)))
    assert workers.is_active(ALICE, 10)
    assert workers.is_active(ALICE, 10 + PERIOD - 1)
    assert not workers.is_active(ALICE, 10 + PERIOD)
    assert not workers.is_active(FERDIE, 10)
    # Re-attesting before the end extends it.
    ext.set_block_number(10 + PERIOD - 1)
    ext.dispatch("register_worker", Origin.signed(ALICE), **register_args(Snp(binding(ext)).bundle(snp)))
    assert workers.is_active(ALICE, 10 + PERIOD)
    assert not workers.is_active(ALICE, 10 + 2 * PERIOD - 1)


def test_deregister(ext: Ext, snp: SimulatedSnp) -> None:
    assert_noop(ext, "Workers::NotRegistered", "deregister", Origin.signed(ALICE))
    ext.dispatch("register_worker", Origin.signed(ALICE), **register_args(Snp(binding(ext)).bundle(snp)))
    assert_noop(ext, "BadOrigin", "deregister", Origin.root())
    ext.dispatch("deregister", Origin.signed(ALICE))
    assert_last_event(ext, "WorkerDeregistered", {"worker": ALICE})
    assert ext.workers.workers.get(ALICE) is None
    assert not ext.workers.is_active(ALICE, 1)
    assert_noop(ext, "Workers::NotRegistered", "deregister", Origin.signed(ALICE))


# --- refusals, one per check ----------------------------------------------------------------------


def test_wrong_report_data(ext: Ext, snp: SimulatedSnp, dcap: SimulatedTdx) -> None:
    refused(ext, "ReportDataMismatch", Snp(bytes(64)).bundle(snp))
    refused(ext, "ReportDataMismatch", tdx_bundle(dcap, binding(ext, x25519=bytes(32))))
    # Bound to other keys than the call's arguments.
    refused(ext, "ReportDataMismatch", Snp(binding(ext, tls=bytes(32))).bundle(snp))


def test_wrong_worker_account(ext: Ext, snp: SimulatedSnp) -> None:
    """Evidence bound to Alice cannot register Ferdie (nor is Ferdie's record touched)."""
    refused(ext, "ReportDataMismatch", Snp(binding(ext, ALICE)).bundle(snp), who=FERDIE)


def test_wrong_genesis(ext: Ext, snp: SimulatedSnp) -> None:
    other_chain = worker_report_data(bytes(32), ALICE, X25519, TLS)
    refused(ext, "ReportDataMismatch", Snp(other_chain).bundle(snp))


def test_disallowed_tee_kind(ext: Ext, snp: SimulatedSnp, dcap: SimulatedTdx) -> None:
    set_policy(ext, allowed_tees=[("Tdx", None)])
    refused(ext, "TeeNotAllowed", Snp(binding(ext)).bundle(snp))
    refused(ext, "TeeNotAllowed", tdx_bundle(dcap, binding(ext), sgx=True))
    ext.dispatch("register_worker", Origin.signed(ALICE), **register_args(tdx_bundle(dcap, binding(ext))))


def test_disallowed_measurement(ext: Ext, snp: SimulatedSnp, dcap: SimulatedTdx) -> None:
    set_policy(ext, allowed_measurements=[bytes(48)])
    refused(ext, "MeasurementNotAllowed", Snp(binding(ext)).bundle(snp))
    refused(ext, "MeasurementNotAllowed", tdx_bundle(dcap, binding(ext)))
    set_policy(ext, allowed_measurements=[bytes(48), MEASUREMENT])
    ext.dispatch("register_worker", Origin.signed(ALICE), **register_args(Snp(binding(ext)).bundle(snp)))


def test_debug_guests_are_refused(ext: Ext, snp: SimulatedSnp, dcap: SimulatedTdx) -> None:
    debug_policy = sev.abi.POLICY_RESERVED_MUST_BE_ONE | sev.abi.POLICY_SMT | sev.abi.POLICY_DEBUG
    refused(ext, "DebugEnabled", Snp(binding(ext), policy=debug_policy).bundle(snp))
    refused(ext, "DebugEnabled", tdx_bundle(dcap, binding(ext), debug=True))


def test_too_old_evidence(ext: Ext, dcap: SimulatedTdx) -> None:
    # Collateral valid for 30 days but issued 8 days before the block: older than the dev 7 days.
    refused(ext, "EvidenceTooOld", tdx_bundle(dcap, binding(ext), issued=NOW - 8 * 86_400))
    set_policy(ext, max_evidence_age=0)  # 0: not checked
    ext.dispatch(
        "register_worker",
        Origin.signed(ALICE),
        **register_args(tdx_bundle(dcap, binding(ext), issued=NOW - 8 * 86_400)),
    )


def test_evidence_is_verified_at_the_block_time(ext: Ext, snp: SimulatedSnp, dcap: SimulatedTdx) -> None:
    """Before the simulated hierarchy's certificates are valid: refused, whatever the wall clock."""
    ext.rt.pallet(Timestamp).now.put((NOW - 2 * 86_400) * 1000)
    refused(
        ext, "EvidenceInvalid", Snp(worker_report_data(ext.genesis_hash(), ALICE, X25519, TLS)).bundle(snp)
    )
    refused(ext, "EvidenceInvalid", tdx_bundle(dcap, binding(ext), issued=NOW - 3 * 86_400))


def test_garbage_and_malformed_bundles(ext: Ext, snp: SimulatedSnp) -> None:
    refused(ext, "EvidenceMalformed", b"")
    refused(ext, "EvidenceMalformed", b"not evidence at all")
    refused(ext, "EvidenceMalformed", bytes([7]) + bytes(40))  # no such bundle kind
    refused(ext, "EvidenceMalformed", Snp(binding(ext)).bundle(snp) + b"\x00")  # trailing byte
    refused(ext, "EvidenceMalformed", snp_evidence_bundle(b"\x05" * 1184, b"", dev_roots=snp.roots_pem()))
    refused(ext, "EvidenceMalformed", snp_evidence_bundle(b"x" * 100, b"", dev_roots=None))
    refused(ext, "EvidenceMalformed", dcap_evidence_bundle(b"\x09\x00" * 10, b"{}", dev_root=b"junk"))


def test_tampered_evidence_is_invalid(ext: Ext, snp: SimulatedSnp) -> None:
    bundle = bytearray(Snp(binding(ext)).bundle(snp))
    # The report starts after the variant byte and its compact length (2 bytes for 1184).
    bundle[3 + 0x90] ^= 0xFF  # MEASUREMENT, under the signature
    refused(ext, "EvidenceInvalid", bytes(bundle))


def test_vendor_roots_refuse_simulated_evidence(ext: Ext, snp: SimulatedSnp) -> None:
    """Without the dev roots in the bundle the verifier uses AMD's: the simulated chain fails."""
    refused(ext, "EvidenceInvalid", Snp(binding(ext), dev_roots=False).bundle(snp))


def test_dev_roots_need_the_policy(ext: Ext, snp: SimulatedSnp, dcap: SimulatedTdx) -> None:
    set_policy(ext, trust_dev_roots=False)
    refused(ext, "DevRootsNotTrusted", Snp(binding(ext)).bundle(snp))
    refused(ext, "DevRootsNotTrusted", tdx_bundle(dcap, binding(ext)))


def test_missing_collateral(ext: Ext, snp: SimulatedSnp) -> None:
    refused(ext, "CollateralUnavailable", Snp(binding(ext), endorsement=False).bundle(snp))
    refused(ext, "CollateralUnavailable", dcap_evidence_bundle(tdx_quote_only(), b"not json"))


def tdx_quote_only() -> bytes:
    sim = SimulatedTdx.generate(not_before=NOW - 86_400)
    return sim.quote()


def test_tcb_below_the_policy(ext: Ext, snp: SimulatedSnp, dcap: SimulatedTdx) -> None:
    set_policy(ext, min_snp_tcb={"bootloader": 4, "tee": 0, "snp": 23, "microcode": 213})
    refused(ext, "TcbNotAllowed", Snp(binding(ext)).bundle(snp))
    set_policy(ext, allowed_tcb_statuses=[("OutOfDate", None)])
    refused(ext, "TcbNotAllowed", tdx_bundle(dcap, binding(ext)))


def test_other_default_checks_are_a_policy_violation(ext: Ext, dcap: SimulatedTdx) -> None:
    # A TD without SEPT_VE_DISABLE breaks the TDX default policy, not one of the pallet's own checks.
    refused(ext, "PolicyViolation", tdx_bundle(dcap, binding(ext), td_attributes=bytes(8)))


def test_no_policy(snp: SimulatedSnp) -> None:
    genesis = {k: v for k, v in dev_genesis_config().items() if k != "Workers"}
    e = Ext(DevRuntime(genesis_config=genesis))
    e.set_block_number(1)
    e.rt.pallet(Timestamp).now.put(NOW * 1000)
    refused(e, "NoPolicy", Snp(binding(e)).bundle(snp))


def test_size_bounds(ext: Ext, snp: SimulatedSnp) -> None:
    cfg = WorkersConfig()
    evidence = Snp(binding(ext)).bundle(snp)
    too_long = register_args(evidence, endpoint=b"h" * (cfg.max_endpoint_len + 1))
    assert_noop(ext, "Workers::EndpointTooLong", "register_worker", Origin.signed(ALICE), **too_long)
    big = register_args(evidence + bytes(cfg.max_evidence_len))
    assert_noop(ext, "Workers::EvidenceTooLarge", "register_worker", Origin.signed(ALICE), **big)


# --- set_policy ------------------------------------------------------------------------------------


def test_only_root_sets_the_policy(ext: Ext) -> None:
    for origin in (Origin.signed(ALICE), Origin.none()):
        assert_noop(ext, "BadOrigin", "set_policy", origin, policy=dev_worker_policy())
    production = {**dev_worker_policy(), "trust_dev_roots": False, "allowed_measurements": [MEASUREMENT]}
    ext.dispatch("set_policy", Origin.root(), policy=production)
    assert_last_event(ext, "PolicySet", None)
    assert ext.workers.policy.get() == production


def test_policy_bounds(ext: Ext) -> None:
    cfg = WorkersConfig()
    many = {**dev_worker_policy(), "allowed_measurements": [MEASUREMENT] * (cfg.max_measurements + 1)}
    assert_noop(ext, "Workers::TooManyMeasurements", "set_policy", Origin.root(), policy=many)
    odd = {**dev_worker_policy(), "allowed_measurements": [bytes(47)]}
    assert_noop(ext, "Workers::InvalidMeasurementLength", "set_policy", Origin.root(), policy=odd)


def test_every_register_error_has_a_test() -> None:
    """Every error the pallet declares for workers is asserted by a test of this module
    (``EpochNotIncreasing`` by test_workers.py)."""
    source = Path(__file__).read_text()
    refusals = re.findall(r'refused\(\w+, "(\w+)"', source)
    noops = re.findall(r'"Workers::(\w+)", "', source)
    tested = set(refusals) | set(noops)
    assert {e.name for e in Workers.ERRORS} - {"EpochNotIncreasing"} == tested


# --- weights, metadata, spec ------------------------------------------------------------------------


def test_weight_is_declared_per_bundle_kind(ext: Ext, snp: SimulatedSnp, dcap: SimulatedTdx) -> None:
    weights = WorkersWeights()

    def declared(evidence: bytes) -> int:
        call = Call(pallet="Workers", name="register_worker", args=register_args(evidence))
        return ext.rt.call_info(call).weight.ref_time

    assert declared(Snp(binding(ext)).bundle(snp)) == weights.snp.ref_time == 3_000_000_000
    assert declared(tdx_bundle(dcap, binding(ext))) == weights.dcap.ref_time == 4_000_000_000
    assert declared(b"") == declared(b"\xff") == weights.dcap.ref_time
    assert weights.dcap.ref_time < ext.rt.system_config.max_extrinsic.ref_time


def test_golden_storage_keys(ext: Ext, snp: SimulatedSnp) -> None:
    # twox128 computed with the `xxhash` package, not this code base's hashers.
    def twox128(name: bytes) -> bytes:
        return xxhash.xxh64_digest(name, seed=0)[::-1] + xxhash.xxh64_digest(name, seed=1)[::-1]

    prefix = twox128(b"Workers")
    assert storage_prefix("Workers", "Policy") == prefix + twox128(b"Policy")
    assert ext.workers.policy.key() == prefix + twox128(b"Policy")
    assert prefix + twox128(b"Policy") in ext.state()  # the dev genesis policy
    key = prefix + twox128(b"Workers") + blake2_128_concat(ALICE)
    assert ext.workers.workers.key(ALICE) == key
    ext.dispatch("register_worker", Origin.signed(ALICE), **register_args(Snp(binding(ext)).bundle(snp)))
    assert key in ext.state()


def test_through_substrate_interface(substrate: SubstrateInterface) -> None:
    substrate.init_runtime()
    calls = {
        c: substrate.get_metadata_call_function("Workers", c).value["index"]
        for c in ("set_cluster_key", "register_worker", "set_policy", "deregister")
    }
    assert calls == {"set_cluster_key": 0, "register_worker": 1, "set_policy": 2, "deregister": 3}
    assert substrate.get_constant("Workers", "ReattestPeriod").value == PERIOD
    policy = substrate.query("Workers", "Policy").value
    assert policy["trust_dev_roots"] is True
    assert policy["allowed_tees"] == list(TEE_KINDS)
    assert substrate.query("Workers", "Workers", [ALICE]).value is None


def _spec_table(section: str) -> list[list[str]]:
    body = SPEC.read_text().split(f"## {section}", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in body.splitlines() if line.startswith("| ") and not line.startswith("| ---")]
    return [[c.strip().strip("`") for c in row.strip("|").split("|")] for row in rows[1:]]


def test_spec_matches_the_pallet() -> None:
    text = SPEC.read_text()
    storage = {row[0]: row for row in _spec_table("Storage")}
    assert set(storage) == {s.name for s in Workers.STORAGE}
    for item in Workers.STORAGE:
        hasher = getattr(item, "hasher", None)
        if hasher is not None:
            assert hasher.name in storage[item.name][2], item.name
    calls = _spec_table("Calls (indices never change)")
    assert {int(r[0]): r[1] for r in calls} == {c.index: c.name for c in Workers.CALLS}
    weights = {r[1]: r[4] for r in calls}
    assert weights["set_cluster_key"] == "10_000_000"
    assert weights["deregister"] == f"{WorkersWeights().deregister().ref_time:_}"
    assert f"{WorkersWeights.snp.ref_time:_}" in weights["register_worker"]
    assert f"{WorkersWeights.dcap.ref_time:_}" in weights["register_worker"]
    errors = re.findall(r"`(\w+)`", text.split("## Errors", 1)[1].split("\n## ", 1)[0])
    assert errors == [e.name for e in Workers.ERRORS]
    events = re.findall(r"`(\w+)(?: \{|`)", text.split("## Events", 1)[1].split("\n## ", 1)[0])
    assert events == [e.name for e in Workers.EVENTS]
    constants = {row[0]: int(row[2].split()[0].replace("_", "")) for row in _spec_table("Constants")}
    cfg = WorkersConfig()
    assert constants == {c.name: c.get(cfg) for c in Workers.CONSTANTS}
    for enum_name, names in (("TeeKind", TEE_KINDS), ("DcapTcbStatus", TCB_STATUSES)):
        found = re.findall(r"(\w+)", text.split(f"{enum_name} ", 1)[1].split("{", 1)[1].split("}", 1)[0])
        assert tuple(found) == names, enum_name
    assert [v.name for v in EvidenceBundle.variants] == ["SevSnp", "Dcap"]
    assert (
        'SHA-512("phala-agents/worker/v1" || genesis_hash || worker_account || x25519_pub || tls_spki_hash)'
        in text
    )
