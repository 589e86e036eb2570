"""verify_evidence (one entry point for SNP, TDX and SGX), detect_kind, EvidencePolicy and the worker
binding, on the real vectors at their documented times and on both simulated TEEs."""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.serialization import Encoding
from snp_vectors import SIM_NOW as SNP_SIM_NOW
from snp_vectors import SNP_VECTORS

from phala_agents.attestation import (
    Evidence,
    EvidenceKind,
    EvidencePolicy,
    VerifiedEvidence,
    VerifyEvidenceOptions,
    WorkerBinding,
    detect_kind,
    sev,
    tdx,
    validate_evidence,
    verify_evidence,
    worker_report_data,
)
from phala_agents.attestation.configfs import build_cert_table
from phala_agents.attestation.simulated import SimulatedSnp
from phala_agents.attestation.tdx.simulated import SimulatedTdx
from phala_agents.attestation.trust import FixedClock
from phala_agents.errors import CollateralUnavailable, PolicyError, ReportFormatError, VerificationError

DATA = Path(__file__).resolve().parents[2] / "data"
T_V4 = 1752919234
T_SGX = 1752919277
TDX_SIM_NOW = 1_750_000_000

GENESIS = bytes(range(32))
WORKER = bytes(range(32, 64))
X25519 = bytes(range(64, 96))
SPKI = hashlib.sha256(b"tls spki").digest()
BINDING = WorkerBinding(genesis_hash=GENESIS, worker_pubkey=WORKER, x25519_pub=X25519, tls_spki_hash=SPKI)


def _dcap(stem: str) -> tuple[bytes, tdx.Collateral]:
    raw = (DATA / f"{stem}.quote.bin").read_bytes()
    return raw, tdx.load_collateral((DATA / f"{stem}.collateral.json").read_text())


def _snp_opts(at: dt.datetime, roots: object = None) -> VerifyEvidenceOptions:
    snp = sev.VerifyOptions(clock=FixedClock(at), cache=sev.ChainCache())
    if roots is not None:
        snp = dataclasses.replace(snp, roots=roots)
    return VerifyEvidenceOptions(snp=snp)


# --- the worker binding ---------------------------------------------------------------------------


def test_worker_report_data_is_the_design_formula() -> None:
    want = hashlib.sha512(b"phala-agents/worker/v1" + GENESIS + WORKER + X25519 + SPKI).digest()
    assert worker_report_data(GENESIS, WORKER, X25519, SPKI) == want == BINDING.report_data()
    assert len(want) == 64
    # Pinned, so an accidental change of the domain, the order or the hash is seen.
    assert want.hex() == (
        "37f15ad5e9577fcfac2066cd30394317fe6acba9188d820aeac86e66129c3b24"
        "039a091943e2c68d4c87fb2c819d5a9f7d5389253b3aa49eab5a2e257ba4e673"
    )
    # Each part moves the result.
    for i in range(4):
        parts = [GENESIS, WORKER, X25519, SPKI]
        parts[i] = bytes(32)
        assert worker_report_data(*parts) != want


@pytest.mark.parametrize("index", range(4))
def test_worker_report_data_wants_32_byte_parts(index: int) -> None:
    parts = [GENESIS, WORKER, X25519, SPKI]
    parts[index] = parts[index][:31]
    with pytest.raises(ValueError, match=r"has 31 bytes\. Expect 32"):
        worker_report_data(*parts)
    with pytest.raises(ValueError, match="Expect 32"):
        WorkerBinding(
            genesis_hash=parts[0], worker_pubkey=parts[1], x25519_pub=parts[2], tls_spki_hash=parts[3]
        )
    with pytest.raises(TypeError, match="must be bytes"):
        worker_report_data("x" * 32, WORKER, X25519, SPKI)  # type: ignore[arg-type]


# --- kind detection --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "kind"),
    [
        ("snp/milan_v2_debug.report.bin", EvidenceKind.SNP),
        ("snp/milan_v3_vlek.report.bin", EvidenceKind.SNP),
        ("snp/milan_v5_gcp_bound.report.bin", EvidenceKind.SNP),
        ("snp/genoa_v2.report.bin", EvidenceKind.SNP),
        ("tdx/tdx_v4_uptodate.quote.bin", EvidenceKind.TDX),
        ("tdx/tdx_v5_no_tcb_level.quote.bin", EvidenceKind.TDX),
        ("sgx/sgx_v3_cswhn.quote.bin", EvidenceKind.SGX),
    ],
)
def test_detect_kind_real_vectors(path: str, kind: EvidenceKind) -> None:
    assert detect_kind((DATA / path).read_bytes()) is kind


def test_detect_kind_rejects_other_bytes() -> None:
    for raw in (b"", b"\x02\x00\x00\x00", bytes(1184), b"\x06\x00" + bytes(2000)):
        with pytest.raises(ReportFormatError, match="neither a 1184-byte SNP report"):
            detect_kind(raw)


# --- real vectors ----------------------------------------------------------------------------------


def test_real_tdx_v4() -> None:
    raw, coll = _dcap("tdx/tdx_v4_uptodate")
    v = verify_evidence(raw, collateral=coll, options=VerifyEvidenceOptions(now=T_V4))
    assert v.kind is EvidenceKind.TDX
    assert isinstance(v.verified, tdx.VerifiedQuote)
    body = v.verified.quote.body
    assert isinstance(body, tdx.TdReport)
    assert v.measurement == body.mr_td == v.measurements["MR_TD"]
    assert [v.measurements[f"RTMR{i}"] for i in range(4)] == list(body.rtmrs)
    assert v.report_data == body.report_data
    assert v.tcb_status is tdx.TcbStatus.UP_TO_DATE and v.advisory_ids == ()
    assert v.debug is False and v.trust == "intel-production" and v.verified_at == T_V4
    # The same quote, told it is SGX: refused.
    with pytest.raises(ReportFormatError, match="asked for sgx, but the quote is a TDX quote"):
        verify_evidence(raw, kind=EvidenceKind.SGX, collateral=coll, options=VerifyEvidenceOptions(now=T_V4))
    # Outside its window: the verifier's error, unchanged.
    with pytest.raises(VerificationError, match="expired"):
        verify_evidence(raw, collateral=coll, options=VerifyEvidenceOptions(now=T_V4 + 86400))
    # Without collateral: the fail-open point.
    with pytest.raises(CollateralUnavailable):
        verify_evidence(raw, options=VerifyEvidenceOptions(now=T_V4))


def test_real_sgx_v3_status_is_policy() -> None:
    raw, coll = _dcap("sgx/sgx_v3_cswhn")
    opts = VerifyEvidenceOptions(now=T_SGX)
    with pytest.raises(PolicyError, match="TCB status is ConfigurationAndSWHardeningNeeded"):
        verify_evidence(raw, collateral=coll, options=opts)
    v = verify_evidence(raw, collateral=coll, options=opts, policy=None)
    assert v.kind is EvidenceKind.SGX and v.measurements.keys() == {"MRENCLAVE", "MRSIGNER"}
    assert v.tcb_status is tdx.TcbStatus.CONFIGURATION_AND_SW_HARDENING_NEEDED
    assert v.advisory_ids == ("INTEL-SA-00289", "INTEL-SA-00615")
    relaxed = EvidencePolicy(
        dcap=tdx.Policy(allowed_statuses=frozenset(tdx.TcbStatus) - {tdx.TcbStatus.REVOKED})
    )
    assert verify_evidence(raw, collateral=coll, options=opts, policy=relaxed) == v


def test_real_snp_vectors() -> None:
    vec = SNP_VECTORS["milan_v5_gcp_bound"]
    policy = EvidencePolicy(snp=sev.Policy(max_vmpl=1))
    v = verify_evidence(vec.report, collateral=vec.cert, options=_snp_opts(vec.at), policy=policy)
    assert isinstance(v.verified, sev.VerifiedReport)
    r = v.verified.report
    assert v.kind is EvidenceKind.SNP and v.measurement == r.measurement == v.measurements["MEASUREMENT"]
    assert v.report_data == r.report_data and v.tcb_status is None and v.debug is False
    assert v.trust == "amd-production" and v.verified_at == int(vec.at.timestamp())
    # VerifyEvidenceOptions.now replaces the SNP clock.
    later = VerifyEvidenceOptions(
        snp=sev.VerifyOptions(clock=FixedClock(vec.at)), now=dt.datetime(2040, 1, 1, tzinfo=dt.UTC)
    )
    with pytest.raises(VerificationError, match="expired"):
        verify_evidence(vec.report, collateral=vec.cert, options=later, policy=policy)
    # The debug vector: authentic, refused by the default policy, debug flag exposed.
    dbg = SNP_VECTORS["milan_v2_debug"]
    with pytest.raises(PolicyError, match="DEBUG=1"):
        verify_evidence(dbg.report, collateral=dbg.cert, options=_snp_opts(dbg.at))
    assert verify_evidence(dbg.report, collateral=dbg.cert, options=_snp_opts(dbg.at), policy=None).debug
    # A VLEK report through the configfs certificate table.
    vlek = SNP_VECTORS["milan_v3_vlek"]
    ev = Evidence(
        kind="snp",
        blob=vlek.report,
        auxblob=build_cert_table({"vlek": sev.load_endorsement(vlek.cert).cert.public_bytes(Encoding.DER)}),
        source="configfs",
        provider="sev_guest",
    )
    relaxed = EvidencePolicy(snp=sev.Policy(max_vmpl=1, permit_provisional_firmware=True))
    v = verify_evidence(ev, options=_snp_opts(vlek.at), policy=relaxed)
    assert v.verified.signing_key is sev.SigningKey.VLEK  # type: ignore[union-attr]


# --- simulated TEEs and the worker binding ----------------------------------------------------------


def test_simulated_snp_worker_binding(snp_sim: SimulatedSnp) -> None:
    raw = snp_sim.report(report_data=BINDING.report_data())
    opts = _snp_opts(SNP_SIM_NOW, roots=snp_sim.roots())
    ev = Evidence(
        kind="snp",
        blob=raw,
        auxblob=build_cert_table({"vcek": snp_sim.endorsement()}),
        source="configfs",
        provider="sev_guest",
    )
    v = verify_evidence(ev, options=opts, policy=EvidencePolicy(worker=BINDING))
    assert v.report_data == worker_report_data(GENESIS, WORKER, X25519, SPKI)
    assert v.trust == snp_sim.roots().name
    other = dataclasses.replace(BINDING, x25519_pub=bytes(32))
    with pytest.raises(PolicyError, match="Expect the worker binding") as err:
        verify_evidence(ev, options=opts, policy=EvidencePolicy(worker=other))
    assert other.report_data().hex() in str(err.value)
    # AMD's roots never accept the simulated hierarchy.
    with pytest.raises(VerificationError):
        verify_evidence(ev, options=_snp_opts(SNP_SIM_NOW), policy=EvidencePolicy(worker=BINDING))
    # Bytes without a certificate and no KDS: collateral unavailable.
    with pytest.raises(CollateralUnavailable):
        verify_evidence(raw, options=opts, policy=None)


def test_simulated_tdx_and_sgx_worker_binding() -> None:
    sim = SimulatedTdx.generate(not_before=TDX_SIM_NOW - 86400)
    opts = VerifyEvidenceOptions(
        dcap=tdx.VerifyOptions(trusted_roots=(sim.root_der,), cache=None), now=TDX_SIM_NOW
    )
    for sgx in (False, True):
        raw = sim.quote(report_data=BINDING.report_data(), sgx=sgx)
        coll = sim.collateral(issue=TDX_SIM_NOW - 3600, tdx=not sgx)
        v = verify_evidence(raw, collateral=coll, options=opts, policy=EvidencePolicy(worker=BINDING))
        assert v.kind is (EvidenceKind.SGX if sgx else EvidenceKind.TDX)
        assert v.trust == "custom-roots" and v.report_data == BINDING.report_data()
        with pytest.raises(PolicyError, match="worker binding"):
            verify_evidence(
                raw,
                collateral=coll,
                options=opts,
                policy=EvidencePolicy(worker=dataclasses.replace(BINDING, genesis_hash=bytes(32))),
            )
        # Intel's root never accepts the simulated hierarchy.
        with pytest.raises(VerificationError):
            verify_evidence(raw, collateral=coll, options=VerifyEvidenceOptions(now=TDX_SIM_NOW))


def test_policy_reports_every_violation() -> None:
    sim = SimulatedTdx.generate(not_before=TDX_SIM_NOW - 86400)
    raw = sim.quote(report_data=b"\x01" * 64, td_attributes=bytes([1, 0, 0, 0x10]) + bytes(4))
    coll = sim.collateral(issue=TDX_SIM_NOW - 3600)
    opts = VerifyEvidenceOptions(
        dcap=tdx.VerifyOptions(trusted_roots=(sim.root_der,), cache=None), now=TDX_SIM_NOW
    )
    policy = EvidencePolicy(kinds=frozenset({EvidenceKind.SNP}), report_data=b"\x02" * 64, worker=BINDING)
    with pytest.raises(PolicyError) as err:
        verify_evidence(raw, collateral=coll, options=opts, policy=policy)
    text = "\n".join(err.value.violations)
    assert "evidence kind is tdx. Expect one of snp" in text
    assert "DEBUG" in text  # from the TDX policy
    assert "Expect " + "02" * 64 in text
    assert "worker binding" in text
    # validate_evidence alone gives the same list.
    v = verify_evidence(raw, collateral=coll, options=opts, policy=None)
    with pytest.raises(PolicyError) as again:
        validate_evidence(v, policy)
    assert again.value.violations == err.value.violations
    with pytest.raises(ValueError, match="Expect 64"):
        EvidencePolicy(report_data=b"\x01" * 32)


def test_input_checks(snp_sim: SimulatedSnp) -> None:
    raw, coll = _dcap("tdx/tdx_v4_uptodate")
    with pytest.raises(ReportFormatError, match="TDREPORT"):
        verify_evidence(Evidence(kind="tdx_report", blob=bytes(1024), source="ioctl", provider="tdx_guest"))
    with pytest.raises(ReportFormatError, match="says snp, but the bytes are tdx"):
        verify_evidence(
            Evidence(kind="snp", blob=raw, source="configfs", provider="sev_guest"), collateral=coll
        )
    with pytest.raises(ReportFormatError, match="says tdx, but the bytes are snp"):
        verify_evidence(Evidence(kind="tdx", blob=snp_sim.report(), source="configfs", provider="tdx_guest"))
    with pytest.raises(TypeError, match=r"tdx\.Collateral"):
        verify_evidence(raw, collateral=b"not collateral")
    with pytest.raises(TypeError, match="VCEK/VLEK"):
        verify_evidence(snp_sim.report(), collateral=coll)
    with pytest.raises(TypeError, match="bytes or Evidence"):
        verify_evidence("00" * 1184)  # type: ignore[arg-type]
    with pytest.raises(ReportFormatError):
        verify_evidence(b"\x04\x00" + bytes(100), kind=EvidenceKind.TDX, collateral=coll)


def test_verified_evidence_is_exported_type() -> None:
    assert VerifiedEvidence.__module__ == "phala_agents.attestation.evidence"
