"""Real AMD SEV-SNP vectors (tests/data/snp) through parse -> verify -> validate.

* every vector gives its documented verdict at its documented time and is rejected outside its
  certificate window;
* the README's tamper cases reject, and a flip of every single byte of every report rejects
  (signed fields: signature; signature: signature; reserved and unsigned bytes: format);
* cross-check with the PyPI peer ``omne-attest`` 0.1.0: same verdict on the good vectors, and
  the documented gaps (reserved byte 0x400, VLEK) where we are stricter or broader on purpose.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import sys
import warnings
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.serialization import Encoding

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "unit" / "attestation"))
from snp_vectors import SNP_DATA, SNP_VECTORS, SnpVector

from phala_agents.attestation._x509 import SERIAL_WARNING_REGEX, load_certificate
from phala_agents.attestation.sev import (
    ChainCache,
    Policy,
    ProductLine,
    SigningKey,
    TcbVersion,
    VerifiedReport,
    VerifyOptions,
    decode_tcb,
    validate_report,
    verify_report,
)
from phala_agents.attestation.trust import FixedClock, ProductRoots, TrustedRoots
from phala_agents.errors import PolicyError, ReportFormatError, VerificationError

ONE_SECOND = dt.timedelta(seconds=1)


def _verify(vec: SnpVector, at: dt.datetime | None = None, **kw: object) -> VerifiedReport:
    options = VerifyOptions(clock=FixedClock(at or vec.at), cache=ChainCache(), **kw)  # type: ignore[arg-type]
    return verify_report(vec.report, options, endorsement=vec.cert)


def _binding() -> bytes:
    text = (SNP_DATA / "milan_v5_gcp_bound.binding.txt").read_text()
    values = dict(line.split("=", 1) for line in text.splitlines() if line)
    return hashlib.sha512(bytes.fromhex(values["NONCE"]) + bytes.fromhex(values["X25519_KEY"])).digest()


# --- documented verdicts ----------------------------------------------------------------------


def test_milan_v2_debug() -> None:
    vec = SNP_VECTORS["milan_v2_debug"]
    verified = _verify(vec)
    with pytest.raises(PolicyError, match="DEBUG=1"):
        validate_report(verified, Policy())  # production default: debug disallowed
    floor = decode_tcb(4901323769462652930, ProductLine.MILAN)
    go_sev_guest_check_test = Policy(
        allow_debug=True,
        allow_smt=True,
        report_data=bytes.fromhex("0102030405") + bytes(59),
        host_data=bytes(32),
        minimum_tcb=floor,
        minimum_launch_tcb=floor,
        min_firmware=(1, 49),
        max_vmpl=0,
    )
    validate_report(verified, go_sev_guest_check_test)


def test_milan_v5_gcp_bound() -> None:
    vec = SNP_VECTORS["milan_v5_gcp_bound"]
    verified = _verify(vec)
    validate_report(verified, Policy(max_vmpl=1, report_data=_binding()))
    with pytest.raises(PolicyError, match="VMPL is 1, wanted at most 0"):
        validate_report(verified, Policy(max_vmpl=0, report_data=_binding()))
    other = hashlib.sha512(b"\x00" * 32 + b"\x01" * 32).digest()
    with pytest.raises(PolicyError, match="REPORT_DATA is"):
        validate_report(verified, Policy(max_vmpl=1, report_data=other))
    with pytest.raises(PolicyError, match="MEASUREMENT is"):
        validate_report(verified, Policy(max_vmpl=1, measurements=frozenset({bytes(48)})))
    with pytest.raises(PolicyError, match="below the minimum"):
        validate_report(
            verified, Policy(max_vmpl=1, minimum_tcb=TcbVersion(bootloader=4, tee=0, snp=28, microcode=222))
        )


def test_milan_v3_vlek() -> None:
    vec = SNP_VECTORS["milan_v3_vlek"]
    verified = _verify(vec)
    assert verified.signing_key is SigningKey.VLEK
    assert verified.report.chip_id == bytes(64)
    validate_report(verified, Policy(max_vmpl=1, permit_provisional_firmware=True))
    with pytest.raises(VerificationError, match="VLEK certificate expired"):
        _verify(vec, dt.datetime(2026, 1, 1, tzinfo=dt.UTC))


def test_genoa_v2() -> None:
    vec = SNP_VECTORS["genoa_v2"]
    verified = _verify(vec)
    assert verified.product is ProductLine.GENOA
    validate_report(verified, Policy(max_vmpl=1, report_data=b"\x07" * 64))
    milan = TrustedRoots.amd_production().get(ProductLine.MILAN)
    milan_as_genoa = TrustedRoots(
        name="milan-chain",
        products={ProductLine.GENOA: ProductRoots(product=ProductLine.GENOA, ark=milan.ark, ask=milan.ask)},
    )
    with pytest.raises(VerificationError, match="ARK CN is 'ARK-Milan'"):
        _verify(vec, roots=milan_as_genoa)
    # Genoa's ARK with Milan's ASK: the names disagree before any signature is tried.
    with pytest.raises(VerificationError, match="ASK CN is 'SEV-Milan', wanted 'SEV-Genoa'"):
        _verify(
            vec,
            roots=TrustedRoots(
                name="x",
                products={
                    ProductLine.GENOA: ProductRoots(
                        product=ProductLine.GENOA,
                        ark=TrustedRoots.amd_production().get(ProductLine.GENOA).ark,
                        ask=milan.ask,
                    )
                },
            ),
        )


@pytest.mark.parametrize("vid", sorted(SNP_VECTORS))
def test_rejected_outside_the_window(vid: str) -> None:
    vec = SNP_VECTORS[vid]
    _verify(vec, vec.not_before)
    _verify(vec, vec.not_after)
    with pytest.raises(VerificationError, match="not yet valid"):
        _verify(vec, vec.not_before - ONE_SECOND)
    with pytest.raises(VerificationError, match="expired"):
        _verify(vec, vec.not_after + ONE_SECOND)


# --- tamper cases -----------------------------------------------------------------------------


def _regions(vec: SnpVector) -> list[tuple[str, int, int]]:
    return [("signed", 0x000, 0x2A0), ("signature", 0x2A0, 0x330), ("reserved-unsigned", 0x330, 0x4A0)]


@pytest.mark.parametrize("vid", ["milan_v2_debug", "milan_v5_gcp_bound", "milan_v3_vlek", "genoa_v2"])
def test_every_single_byte_flip_rejects(vid: str) -> None:
    vec = SNP_VECTORS[vid]
    options = VerifyOptions(clock=FixedClock(vec.at), cache=ChainCache())
    accepted: list[int] = []
    for _name, start, end in _regions(vec):
        for offset in range(start, end):
            raw = bytearray(vec.report)
            raw[offset] ^= 0x01
            try:
                verify_report(bytes(raw), options, endorsement=vec.cert)
            except (ReportFormatError, VerificationError):
                continue
            accepted.append(offset)
    assert accepted == [], [hex(o) for o in accepted]


@pytest.mark.parametrize(
    ("offset", "xor", "what"),
    [
        (0x00, 0x01, "version"),
        (0x0A, 0x08, "policy DEBUG bit"),
        (0x30, 0x01, "vmpl"),
        (0x50, 0x01, "report_data"),
        (0x90, 0x01, "measurement"),
        (0xC0, 0x01, "host_data"),
        (0x180, 0x01, "reported_tcb"),
        (0x1A0, 0x01, "chip_id"),
        (0x2A0, 0x01, "sig R"),
        (0x2E8, 0x01, "sig S"),
    ],
)
@pytest.mark.parametrize("vid", ["milan_v2_debug", "milan_v5_gcp_bound"])
def test_readme_signed_byte_flips(vid: str, offset: int, xor: int, what: str) -> None:
    vec = SNP_VECTORS[vid]
    raw = bytearray(vec.report)
    raw[offset] ^= xor
    options = VerifyOptions(clock=FixedClock(vec.at), cache=ChainCache())
    with pytest.raises((VerificationError, ReportFormatError)):
        verify_report(bytes(raw), options, endorsement=vec.cert)


def test_readme_unsigned_0x400_is_malformed() -> None:
    vec = SNP_VECTORS["milan_v5_gcp_bound"]
    raw = bytearray(vec.report)
    raw[0x400] ^= 0x01
    with pytest.raises(ReportFormatError, match="0x400"):
        verify_report(bytes(raw), VerifyOptions(clock=FixedClock(vec.at)), endorsement=vec.cert)


def test_readme_vcek_der_last_byte() -> None:
    vec = SNP_VECTORS["milan_v2_debug"]
    cert = bytearray(vec.cert)
    cert[-1] ^= 0x01
    with pytest.raises(VerificationError, match="VCEK by ASK"):
        verify_report(
            vec.report, VerifyOptions(clock=FixedClock(vec.at), cache=ChainCache()), endorsement=bytes(cert)
        )


def test_readme_another_chips_vcek() -> None:
    with pytest.raises(VerificationError, match="hwID"):
        verify_report(
            SNP_VECTORS["milan_v2_debug"].report,
            VerifyOptions(clock=FixedClock(SNP_VECTORS["milan_v5_gcp_bound"].at), cache=ChainCache()),
            endorsement=SNP_VECTORS["milan_v5_gcp_bound"].cert,
        )


# --- omne-attest 0.1.0 cross-check ----------------------------------------------------------


def _omne(vec: SnpVector, report: bytes | None = None) -> str:
    omne = pytest.importorskip("omne_attest")
    roots = TrustedRoots.amd_production().get(vec.product)
    inter = roots.ask if vec.signing_key is SigningKey.VCEK else roots.asvk
    assert inter is not None
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=SERIAL_WARNING_REGEX)
        vcek_der = load_certificate(vec.cert).public_bytes(Encoding.DER)
        try:
            omne.verify(
                report or vec.report,
                vcek_der,
                inter.public_bytes(Encoding.DER),
                roots.ark.public_bytes(Encoding.DER),
                bytes.fromhex(roots.ark_sha256),
                omne.Policy(max_vmpl=3, reject_debug=False),
            )
        except omne.Fail as exc:
            return f"reject:{exc.kind.value}"
    return "accept"


@pytest.mark.parametrize("vid", ["milan_v2_debug", "milan_v5_gcp_bound", "genoa_v2"])
def test_omne_agrees_on_valid_vcek_vectors(vid: str) -> None:
    vec = SNP_VECTORS[vid]
    assert _omne(vec) == "accept"
    _verify(vec)


def test_omne_differences_are_the_documented_gaps() -> None:
    v5 = SNP_VECTORS["milan_v5_gcp_bound"]
    raw = bytearray(v5.report)
    raw[0x400] ^= 0x01
    assert _omne(v5, bytes(raw)) == "accept"  # omne: no MBZ check on the unsigned area
    with pytest.raises(ReportFormatError):
        verify_report(bytes(raw), VerifyOptions(clock=FixedClock(v5.at)), endorsement=v5.cert)
    vlek = SNP_VECTORS["milan_v3_vlek"]
    assert _omne(vlek) == "reject:missing_extension"  # omne requires hwID, which VLEKs lack
    _verify(vlek)


def test_real_turin_vcek_chains_to_the_pinned_turin_ark() -> None:
    from phala_agents.attestation.sev import verify_endorsement

    cert = (SNP_DATA / "turin_vcek_only.der").read_bytes()
    at = dt.datetime(2025, 6, 1, tzinfo=dt.UTC)
    endorsement, (ark, ask, _leaf) = verify_endorsement(
        cert, VerifyOptions(clock=FixedClock(at), cache=ChainCache())
    )
    assert endorsement.product is ProductLine.TURIN and endorsement.tcb.fmc is not None
    assert ark == "1f084161a44bb6d93778a904877d4819cafa5d05ef4193b2ded9dd9c73dd3f6a"
    assert ask == "5b77ef5fe7a7a004fd9032668fba9d0fda22f88c4442069a479636a6ae3b3185"
    with pytest.raises(VerificationError, match="VCEK certificate is not yet valid"):
        verify_endorsement(cert, VerifyOptions(clock=FixedClock(dt.datetime(2024, 1, 1, tzinfo=dt.UTC))))
    with pytest.raises(VerificationError, match="expected product says Milan"):
        verify_endorsement(cert, VerifyOptions(clock=FixedClock(at), product=ProductLine.MILAN))
