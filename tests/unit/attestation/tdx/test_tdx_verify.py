"""verify_quote: a want_err-substring table with one failing case per check (go-sev-guest
``testing/match.go`` style), on quotes and collateral from the simulated hierarchy at a pinned time."""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Callable
from dataclasses import dataclass, replace

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tdx_helpers import SIM_ISSUE, SIM_NOW, T_V4, vector_collateral, vector_quote

from phala_agents.attestation.tdx import (
    Collateral,
    TcbStatus,
    VerificationCache,
    VerifyOptions,
    intel_sgx_root_ca_der,
    parse_quote,
    verify_quote,
)
from phala_agents.attestation.tdx.simulated import SimulatedTdx
from phala_agents.attestation.tdx.verify import INTEL_SGX_ROOT_CA_SHA256, PREVERIFIED_INTEL_CERTS, ParseCache
from phala_agents.errors import AttestationError, CollateralUnavailable, ReportFormatError, VerificationError


def _opts(sim: SimulatedTdx, now: int = SIM_NOW) -> VerifyOptions:
    return VerifyOptions(now=now, trusted_roots=(sim.root_der,), cache=None)


def _patch(raw: bytes, offset: int, data: bytes) -> bytes:
    return raw[:offset] + data + raw[offset + len(data) :]


def _level(sgx: int, status: str = "UpToDate", advisories: tuple[str, ...] = ()) -> dict[str, object]:
    out: dict[str, object] = {
        "tcb": {
            "sgxtcbcomponents": [{"svn": sgx}] * 16,
            "pcesvn": 11,
            "tdxtcbcomponents": [{"svn": 0}] * 16,
        },
        "tcbDate": "2024-03-13T00:00:00Z",
        "tcbStatus": status,
    }
    if advisories:
        out["advisoryIDs"] = list(advisories)
    return out


@dataclass(frozen=True)
class Case:
    name: str
    quote: Callable[[SimulatedTdx], bytes]
    collateral: Callable[[SimulatedTdx], Collateral | None]
    want_err: str
    err: type[Exception] = VerificationError
    now: int = SIM_NOW
    trusted: bool = True


def _coll(**kw: object) -> Callable[[SimulatedTdx], Collateral]:
    return lambda s: s.collateral(issue=SIM_ISSUE, **kw)  # type: ignore[arg-type]


def _q(**kw: object) -> Callable[[SimulatedTdx], bytes]:
    return lambda s: s.quote(**kw)  # type: ignore[arg-type]


def _bad_upper_report_data(s: SimulatedTdx) -> bytes:
    qe = bytearray(s.qe_report())
    qe[383] = 1
    return s.quote(qe_report=bytes(qe))


def _pck_type_3(s: SimulatedTdx) -> bytes:
    raw = s.quote(sgx=True)
    return _patch(raw, 1046, struct.pack("<H", 3))


def _other_pck_crl(s: SimulatedTdx) -> Collateral:
    other = SimulatedTdx.generate(not_before=SIM_NOW - 86400)
    return replace(s.collateral(issue=SIM_ISSUE), pck_crl=other.collateral(issue=SIM_ISSUE).pck_crl)


CASES = [
    Case("ok", _q(), _coll(), ""),
    Case(
        "header VERSION",
        lambda s: _patch(s.quote(), 0, b"\x06\x00"),
        _coll(),
        "VERSION is 6",
        ReportFormatError,
    ),
    Case(
        "ATTESTATION_KEY_TYPE",
        lambda s: _patch(s.quote(), 2, b"\x03\x00"),
        _coll(),
        "ATTESTATION_KEY_TYPE is 3",
    ),
    Case("QE_VENDOR_ID", lambda s: _patch(s.quote(), 12, b"\x00"), _coll(), "QE_VENDOR_ID is 009a"),
    Case(
        "TEE_TYPE for a v4 body",
        lambda s: _patch(s.quote(), 4, b"\x80"),
        _coll(),
        "TEE_TYPE is 0x80",
        ReportFormatError,
    ),
    Case(
        "v5 TEE_TYPE vs body",
        lambda s: _patch(s.quote(version=5), 4, b"\x00"),
        _coll(),
        "TEE_TYPE is 0x0. Expect 0x81",
    ),
    Case("untrusted root", _q(), _coll(), "Root CA CRL signature is invalid", trusted=False),
    Case("collateral not yet valid", _q(), _coll(), "is not yet valid", now=SIM_ISSUE - 1),
    Case("collateral expired", _q(), _coll(), "has expired", now=SIM_ISSUE + 30 * 86400 + 1),
    Case("SGX collateral for a TDX quote", _q(), _coll(tdx=False), "Expect TDX v3 for a TDX quote"),
    Case("TDX collateral for an SGX quote", _q(sgx=True), _coll(), "Expect SGX for an SGX quote"),
    Case(
        "PCK revoked",
        _q(),
        lambda s: s.collateral(issue=SIM_ISSUE, revoked_pck_serials=(s.pck_serial,)),
        "is revoked",
    ),
    Case("PCK CRL of another CA", _q(), _other_pck_crl, "PCK CRL signature is invalid"),
    Case(
        "QE report signature",
        lambda s: _patch(s.quote(), 48 + 584 + 4 + 128 + 6 + 384, b"\x00" * 4),
        _coll(),
        "QE report (by the PCK) signature is invalid",
    ),
    Case(
        "QE binding",
        lambda s: s.quote(qe_report=s.qe_report(auth_data=bytes(32))),
        _coll(),
        "QE report hash mismatch",
    ),
    Case("QE REPORT_DATA upper half", _bad_upper_report_data, _coll(), "followed by 32 zero bytes"),
    Case(
        "quote signature",
        lambda s: _patch(s.quote(), 568, b"\xff"),
        _coll(),
        "quote (ISV enclave report) signature is invalid",
    ),
    Case("QE MRSIGNER", _q(), _coll(qe_mr_signer=bytes(32)), "QE report field MRSIGNER"),
    Case(
        "QE ATTRIBUTES (debug QE)",
        lambda s: s.quote(qe_report=s.qe_report(attributes=bytes.fromhex("13" + "00" * 15))),
        _coll(),
        "QE report field ATTRIBUTES",
    ),
    Case(
        "QE ISVSVN below every level",
        lambda s: s.quote(qe_report=s.qe_report(isv_svn=3)),
        _coll(),
        "QE report ISVSVN is 3",
    ),
    Case("no matching TCB level", _q(), _coll(tcb_levels=[_level(9)]), "No matching TCB level found"),
    Case("TCB level Revoked", _q(), _coll(tcb_levels=[_level(0, "Revoked")]), "TCB status is Revoked"),
    Case(
        "TDX module identity missing", _q(tee_tcb_svn=bytes([6, 2, 3]) + bytes(13)), _coll(), "has no TDX_02"
    ),
    Case("TDX module MR_SIGNER_SEAM", _q(mr_signer_seam=b"\x01" * 48), _coll(), "quote field MR_SIGNER_SEAM"),
    Case(
        "TDX module ISVSVN",
        _q(tee_tcb_svn=bytes([1, 1, 3]) + bytes(13)),
        _coll(),
        "TDX module TDX_01 ISVSVN is 1",
    ),
    Case(
        "PCK data type 3 (needs PCS)",
        _pck_type_3,
        _coll(tdx=False),
        "certification data type is 3",
        CollateralUnavailable,
    ),
    Case("no collateral", _q(), lambda s: None, "no collateral", CollateralUnavailable),
]


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_verify_want_err(sim: SimulatedTdx, case: Case) -> None:
    raw = case.quote(sim)
    coll = case.collateral(sim)
    opts = _opts(sim, case.now) if case.trusted else VerifyOptions(now=case.now, cache=None)
    if not case.want_err:
        v = verify_quote(raw, coll, opts)
        assert v.status == TcbStatus.UP_TO_DATE
        return
    with pytest.raises(case.err) as info:
        verify_quote(raw, coll, opts)
    assert case.want_err in str(info.value), str(info.value)


def test_statuses_merge(sim: SimulatedTdx) -> None:
    # First level needs SVN 9 (we have 3): the second, OutOfDate with an advisory, is chosen.
    coll = sim.collateral(
        issue=SIM_ISSUE, tcb_levels=[_level(9), _level(1, "OutOfDate", ("INTEL-SA-00001",))]
    )
    v = verify_quote(sim.quote(), coll, _opts(sim))
    assert v.status == TcbStatus.OUT_OF_DATE and v.advisory_ids == ("INTEL-SA-00001",)
    # A QE at an OutOfDate level turns a ConfigurationNeeded platform into OutOfDateConfigurationNeeded.
    coll = sim.collateral(
        issue=SIM_ISSUE,
        tcb_levels=[_level(1, "ConfigurationNeeded", ("INTEL-SA-00002",))],
        qe_levels=[
            {"tcb": {"isvsvn": 9}, "tcbDate": "2024-03-13T00:00:00Z", "tcbStatus": "UpToDate"},
            {
                "tcb": {"isvsvn": 2},
                "tcbDate": "2023-01-01T00:00:00Z",
                "tcbStatus": "OutOfDate",
                "advisoryIDs": ["INTEL-SA-00003"],
            },
        ],
    )
    v = verify_quote(sim.quote(), coll, _opts(sim))
    assert v.status == TcbStatus.OUT_OF_DATE_CONFIGURATION_NEEDED
    assert v.advisory_ids == ("INTEL-SA-00002", "INTEL-SA-00003")
    assert v.qe_status.status == TcbStatus.OUT_OF_DATE
    # A TDX module at an OutOfDate level (ISVSVN 2..3) makes the platform OutOfDate.
    v = verify_quote(
        sim.quote(tee_tcb_svn=bytes([3, 1, 3]) + bytes(13)), sim.collateral(issue=SIM_ISSUE), _opts(sim)
    )
    assert v.status == TcbStatus.OUT_OF_DATE


def test_pck_ca_must_be_a_ca() -> None:
    bad = SimulatedTdx.generate(not_before=SIM_NOW - 86400, pck_ca_is_ca=False)
    with pytest.raises(VerificationError, match="PCK CA certificate is not a CA"):
        verify_quote(bad.quote(), bad.collateral(issue=SIM_ISSUE), _opts(bad))


def test_v5_and_sgx_simulated(sim: SimulatedTdx) -> None:
    v = verify_quote(
        sim.quote(version=5, report_data=b"\x07" * 64), sim.collateral(issue=SIM_ISSUE), _opts(sim)
    )
    assert v.quote.header.version == 5 and v.quote.report_data == b"\x07" * 64
    v = verify_quote(
        sim.quote(sgx=True, mr_enclave=b"\x01" * 32), sim.collateral(issue=SIM_ISSUE, tdx=False), _opts(sim)
    )
    assert not v.is_tdx and v.quote.body.fields()["MRENCLAVE"] == "01" * 32


def test_simulated_needs_explicit_trust(sim: SimulatedTdx, sim_collateral: Collateral) -> None:
    with pytest.raises(VerificationError):
        verify_quote(sim.quote(), sim_collateral, VerifyOptions(now=SIM_NOW, cache=None))
    with pytest.raises(VerificationError):
        verify_quote(sim.quote(), None, VerifyOptions(now=SIM_NOW, cache=None))


def test_cache_is_bounded_and_keyed_by_content(sim: SimulatedTdx) -> None:
    cache = VerificationCache(max_entries=3)
    opts = VerifyOptions(now=SIM_NOW, trusted_roots=(sim.root_der,), cache=cache)
    colls = [sim.collateral(issue=SIM_ISSUE - i) for i in range(4)]
    raw = sim.quote()
    for c in colls:
        verify_quote(raw, c, opts)
    assert len(cache) == 3
    # A modified copy gets a new fingerprint, so a cached verification never vouches for it.
    c0 = colls[-1]
    bad = replace(c0, tcb_info=c0.tcb_info.replace(b'"UpToDate"', b'"OutOfDate"', 1))
    assert bad.fingerprint != c0.fingerprint
    with pytest.raises(VerificationError, match="TCB Info \\(tcb_info\\) signature is invalid"):
        verify_quote(raw, bad, opts)
    with pytest.raises(ValueError, match="max_entries"):
        VerificationCache(0)


def test_now_forms(sim: SimulatedTdx, sim_collateral: Collateral) -> None:
    import datetime as dt

    when = dt.datetime.fromtimestamp(SIM_NOW, tz=dt.UTC)
    opts = VerifyOptions(now=when, trusted_roots=(sim.root_der,), cache=None)
    assert verify_quote(sim.quote(), sim_collateral, opts).verified_at == SIM_NOW
    with pytest.raises(ValueError, match="timezone"):
        verify_quote(sim.quote(), sim_collateral, VerifyOptions(now=when.replace(tzinfo=None), cache=None))


def test_root_pin_and_preverified_intermediates() -> None:
    der = intel_sgx_root_ca_der()
    assert hashlib.sha256(der).digest() == INTEL_SGX_ROOT_CA_SHA256
    root = x509.load_der_x509_certificate(der)
    # Every pinned intermediate is really signed by the Intel root (they come from the real vectors).
    found: dict[bytes, x509.Certificate] = {}
    for stem in ("tdx/tdx_v4_uptodate", "sgx/sgx_v3_cswhn"):
        certs = x509.load_pem_x509_certificates(parse_quote(vector_quote(stem)).pck_chain_pem)
        coll = vector_collateral(stem)
        certs += x509.load_pem_x509_certificates(coll.tcb_info_issuer_chain)
        for c in certs:
            found[hashlib.sha256(c.public_bytes(Encoding.DER)).digest()] = c
    for digest in PREVERIFIED_INTEL_CERTS:
        found[digest].verify_directly_issued_by(root)


def test_real_vector_warm_and_cold_agree() -> None:
    raw, coll = vector_quote("tdx/tdx_v4_uptodate"), vector_collateral("tdx/tdx_v4_uptodate")
    cold = verify_quote(raw, coll, VerifyOptions(now=T_V4, cache=None))
    cache = VerificationCache(4)
    warm = [verify_quote(raw, coll, VerifyOptions(now=T_V4, cache=cache)) for _ in range(2)][-1]
    assert cold == warm


_V4 = vector_quote("tdx/tdx_v4_uptodate")
_V4_COLL = vector_collateral("tdx/tdx_v4_uptodate")
_SHARED_CACHE = VerificationCache(32)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_verify_any_mutation_raises_only_attestation_errors(data: st.DataObject) -> None:
    """Multi-byte mutations and cuts of a real quote: a result or an AttestationError, nothing else."""
    buf = bytearray(_V4)
    for _ in range(data.draw(st.integers(1, 6))):
        buf[data.draw(st.integers(0, len(buf) - 1))] = data.draw(st.integers(0, 255))
    raw = bytes(buf[: data.draw(st.integers(0, len(buf)))])
    try:
        v = verify_quote(raw, _V4_COLL, VerifyOptions(now=T_V4, cache=_SHARED_CACHE))
    except AttestationError:
        return
    # Accepted only if every signed byte is intact.
    assert raw[:632] == _V4[:632]
    assert v.status == TcbStatus.UP_TO_DATE


def test_real_vectors_without_pinned_intermediates(monkeypatch: pytest.MonkeyPatch) -> None:
    """The same verdicts when every certificate signature under the Intel root is checked."""
    from phala_agents.attestation.tdx import verify as verify_module

    monkeypatch.setattr(verify_module, "PREVERIFIED_INTEL_CERTS", frozenset())
    monkeypatch.setattr(verify_module, "_roots_cache", {})
    raw, coll = vector_quote("tdx/tdx_v4_uptodate"), vector_collateral("tdx/tdx_v4_uptodate")
    assert verify_quote(raw, coll, VerifyOptions(now=T_V4, cache=None)).status == TcbStatus.UP_TO_DATE
    # A PCK CA whose signature no longer holds is caught by that check (flip in its signature's PEM).
    pem = parse_quote(raw).pck_cert_data
    second = pem.find(b"-----BEGIN", 1)
    third = pem.find(b"-----BEGIN", second + 1)
    at = 1258 + third - 40  # inside the PCK CA's base64, near its signature
    bad = raw[:at] + bytes([raw[at] ^ 0x01]) + raw[at + 1 :]
    with pytest.raises(VerificationError, match="PCK CA certificate is not signed by its issuer"):
        verify_quote(bad, coll, VerifyOptions(now=T_V4, cache=None))


def test_parse_cache_holds_no_verdicts(sim: SimulatedTdx, sim_collateral: Collateral) -> None:
    """With everything parsed and cached, every check still runs on every call."""
    pc = ParseCache(max_entries=64)
    opts = VerifyOptions(now=SIM_NOW, trusted_roots=(sim.root_der,), cache=None, parse_cache=pc)
    raw = sim.quote()
    first = verify_quote(
        raw,
        sim_collateral,
        VerifyOptions(now=SIM_NOW, trusted_roots=(sim.root_der,), cache=None, parse_cache=None),
    )
    for _ in range(2):
        assert verify_quote(raw, sim_collateral, opts) == first
    assert len(pc) > 0
    # Same parsed documents, broken signature: still rejected, every time.
    bad_sig = replace(sim_collateral, tcb_info_signature=bytes(64))
    for _ in range(2):
        with pytest.raises(VerificationError, match="TCB Info \\(tcb_info\\) signature is invalid"):
            verify_quote(raw, bad_sig, opts)
    # Same parsed chain, revoked by a new PCK CRL: rejected.
    leaf = x509.load_pem_x509_certificates(parse_quote(raw).pck_chain_pem)[0]
    revoking = sim.collateral(issue=SIM_ISSUE, revoked_pck_serials=(leaf.serial_number,))
    with pytest.raises(VerificationError, match="revoked"):
        verify_quote(raw, revoking, opts)
    # Same parsed documents, outside their windows: rejected.
    with pytest.raises(VerificationError, match="expired"):
        verify_quote(raw, sim_collateral, replace(opts, now=SIM_NOW + 400 * 86400))
    # A broken quote signature over cached chain parses: rejected.
    with pytest.raises(VerificationError, match="signature"):
        verify_quote(_patch(raw, 100, b"\xff"), sim_collateral, opts)


def test_parse_cache_is_bounded(sim: SimulatedTdx) -> None:
    pc = ParseCache(max_entries=3)
    opts = VerifyOptions(now=SIM_NOW, trusted_roots=(sim.root_der,), cache=None, parse_cache=pc)
    for i in range(3):
        verify_quote(sim.quote(), sim.collateral(issue=SIM_ISSUE - i), opts)
    assert len(pc) == 3
    pc.clear()
    assert len(pc) == 0
    with pytest.raises(ValueError, match="max_entries"):
        ParseCache(0)
