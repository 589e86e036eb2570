"""verify_report: one failing case per check (want_err substrings, go-sev-guest style), pinned time,
a dict-backed getter instead of the network, real AMD vectors plus the simulated hierarchy."""

from __future__ import annotations

import dataclasses
import datetime as dt
import struct
from collections.abc import Callable

import pytest
from cryptography.hazmat.primitives.serialization import Encoding
from hypothesis import given, settings
from hypothesis import strategies as st
from snp_vectors import SIM_NOW, SNP_VECTORS

from phala_agents.attestation.kds import KdsClient, crl_path, vcek_path
from phala_agents.attestation.sev import (
    ChainCache,
    ProductLine,
    SigningKey,
    TcbVersion,
    VerifyOptions,
    decode_tcb,
    parse_report,
    verify_report,
)
from phala_agents.attestation.simulated import SimulatedSnp
from phala_agents.attestation.trust import (
    DictGetter,
    FixedClock,
    HttpxGetter,
    ProductRoots,
    TrustedRoots,
)
from phala_agents.errors import CollateralUnavailable, ReportFormatError, VerificationError

V5 = SNP_VECTORS["milan_v5_gcp_bound"]
V2 = SNP_VECTORS["milan_v2_debug"]
VLEK = SNP_VECTORS["milan_v3_vlek"]
GENOA = SNP_VECTORS["genoa_v2"]
BASE = "https://kds.test"


def _flip(data: bytes, offset: int, xor: int = 0x01) -> bytes:
    out = bytearray(data)
    out[offset] ^= xor
    return bytes(out)


def _opts(at: dt.datetime, **kw: object) -> VerifyOptions:
    return VerifyOptions(clock=FixedClock(at), cache=ChainCache(), **kw)  # type: ignore[arg-type]


def _prod_roots() -> TrustedRoots:
    return TrustedRoots.amd_production()


def _genoa_posing_as_milan() -> TrustedRoots:
    genoa = _prod_roots().get(ProductLine.GENOA)
    return TrustedRoots(
        name="wrong-product",
        products={ProductLine.MILAN: ProductRoots(product=ProductLine.MILAN, ark=genoa.ark, ask=genoa.ask)},
    )


def _v2_kds_getter() -> DictGetter:
    report = parse_report(V2.report)
    url = BASE + vcek_path(
        ProductLine.MILAN, report.chip_id, decode_tcb(report.reported_tcb, ProductLine.MILAN)
    )
    return DictGetter({url: V2.cert})


@dataclasses.dataclass(frozen=True)
class Case:
    name: str
    report: bytes
    cert: bytes | None
    options: Callable[[], VerifyOptions]
    want_err: str = ""
    err_type: type[Exception] = VerificationError


CASES = [
    Case("v5 ok", V5.report, V5.cert, lambda: _opts(V5.at)),
    Case("v2 ok (debug is policy, not verify)", V2.report, V2.cert, lambda: _opts(V2.at)),
    Case("vlek ok in window", VLEK.report, VLEK.cert, lambda: _opts(VLEK.at)),
    Case("genoa ok", GENOA.report, GENOA.cert, lambda: _opts(GENOA.at)),
    Case(
        "vlek expired",
        VLEK.report,
        VLEK.cert,
        lambda: _opts(dt.datetime(2026, 1, 1, tzinfo=dt.UTC)),
        "VLEK certificate expired",
    ),
    Case(
        "vcek not yet valid",
        V5.report,
        V5.cert,
        lambda: _opts(V5.not_before - dt.timedelta(seconds=1)),
        "VCEK certificate is not yet valid",
    ),
    Case(
        "sig R flipped",
        _flip(V5.report, 0x2A0),
        V5.cert,
        lambda: _opts(V5.at),
        "report signature does not verify",
    ),
    Case(
        "sig S flipped",
        _flip(V5.report, 0x2E8),
        V5.cert,
        lambda: _opts(V5.at),
        "report signature does not verify",
    ),
    Case(
        "measurement flipped",
        _flip(V5.report, 0x90),
        V5.cert,
        lambda: _opts(V5.at),
        "report signature does not verify",
    ),
    Case(
        "report_data flipped",
        _flip(V5.report, 0x50),
        V5.cert,
        lambda: _opts(V5.at),
        "report signature does not verify",
    ),
    Case(
        "vmpl flipped",
        _flip(V5.report, 0x30),
        V5.cert,
        lambda: _opts(V5.at),
        "report signature does not verify",
    ),
    Case(
        "debug bit flipped",
        _flip(V5.report, 0x0A, 0x08),
        V5.cert,
        lambda: _opts(V5.at),
        "report signature does not verify",
    ),
    Case("reported_tcb flipped", _flip(V5.report, 0x180), V5.cert, lambda: _opts(V5.at), "REPORTED_TCB is"),
    Case("chip_id flipped", _flip(V5.report, 0x1A0), V5.cert, lambda: _opts(V5.at), "but the VCEK hwID is"),
    Case(
        "signature_algo 2",
        V5.report[:0x34] + struct.pack("<I", 2) + V5.report[0x38:],
        V5.cert,
        lambda: _opts(V5.at),
        "SIGNATURE_ALGO is 2",
    ),
    Case(
        "vcek der tampered",
        _flip(V2.report, 0),
        _flip(V2.cert, len(V2.cert) - 1),
        lambda: _opts(V2.at),
        "VCEK by ASK: RSA-PSS signature does not verify",
    ),
    Case("other chip's vcek", V2.report, V5.cert, lambda: _opts(V5.at), "but the VCEK hwID is"),
    Case(
        "genoa vcek on a milan v5 report",
        V5.report,
        GENOA.cert,
        lambda: _opts(V5.at),
        "product: report CPUID_FAM_ID/CPUID_MOD_ID says Milan, but the VCEK productName says Genoa",
    ),
    Case(
        "expected product disagrees",
        V5.report,
        V5.cert,
        lambda: _opts(V5.at, product=ProductLine.GENOA),
        "says Milan, but the expected product says Genoa",
    ),
    Case(
        "wrong product chain",
        V5.report,
        V5.cert,
        lambda: _opts(V5.at, roots=_genoa_posing_as_milan()),
        "ARK CN is 'ARK-Genoa', wanted 'ARK-Milan'",
    ),
    Case(
        "no trusted ark for product",
        GENOA.report,
        GENOA.cert,
        lambda: _opts(
            GENOA.at,
            roots=TrustedRoots(
                name="milan-only", products={ProductLine.MILAN: _prod_roots().get(ProductLine.MILAN)}
            ),
        ),
        "no trusted ARK for product Genoa in trust set 'milan-only'",
    ),
    Case(
        "vlek report, vcek cert",
        VLEK.report,
        V5.cert,
        lambda: _opts(V5.at),
        "SIGNING_KEY is VLEK, but the certificate is a VCEK",
    ),
    Case(
        "ask as endorsement",
        V5.report,
        V5.chain,
        lambda: _opts(V5.at),
        "endorsement certificate CN is 'SEV-Milan'",
    ),
    Case("garbage cert", V5.report, b"\x30\x03\x02\x01\x00", lambda: _opts(V5.at), "not a well-formed X.509"),
    Case(
        "vlek needs its cert",
        VLEK.report,
        None,
        lambda: _opts(VLEK.at),
        "VLEK-signed: pass the VLEK certificate",
        CollateralUnavailable,
    ),
    Case(
        "v2 without product",
        V2.report,
        None,
        lambda: _opts(V2.at, kds=KdsClient(getter=_v2_kds_getter(), base_url=BASE)),
        "product unknown: a VERSION 2 report has no CPUID",
        CollateralUnavailable,
    ),
    Case(
        "fetching disabled",
        V5.report,
        None,
        lambda: _opts(V5.at),
        "fetching is disabled",
        CollateralUnavailable,
    ),
    Case(
        "kds has no vcek",
        V5.report,
        None,
        lambda: _opts(V5.at, kds=KdsClient(getter=DictGetter({}), base_url=BASE)),
        "no collateral at https://kds.test/vcek/v1/Milan/980cf7b6",
        CollateralUnavailable,
    ),
    Case(
        "v2 fetched from kds with product",
        V2.report,
        None,
        lambda: _opts(
            V2.at, product=ProductLine.MILAN, kds=KdsClient(getter=_v2_kds_getter(), base_url=BASE)
        ),
    ),
    Case(
        "revocation check without kds",
        V5.report,
        V5.cert,
        lambda: _opts(V5.at, check_revocations=True),
        "CRL for Milan: revocation check asked for and fetching is disabled",
        CollateralUnavailable,
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_verify_table(case: Case) -> None:
    options = case.options()
    if not case.want_err:
        verified = verify_report(case.report, options, endorsement=case.cert)
        assert verified.trust == "amd-production"
        return
    with pytest.raises(case.err_type) as info:
        verify_report(case.report, options, endorsement=case.cert)
    assert case.want_err in str(info.value)


@pytest.mark.parametrize("vid", sorted(SNP_VECTORS))
def test_vectors_verify_with_expected_identity(vid: str) -> None:
    vec = SNP_VECTORS[vid]
    verified = verify_report(vec.report, _opts(vec.at), endorsement=vec.cert)
    assert verified.product is vec.product
    assert verified.signing_key is vec.signing_key
    assert verified.chain_sha256[0] == vec.meta["ark"]["der_sha256"]  # type: ignore[index]
    assert verified.endorsement.tcb == decode_tcb(verified.report.reported_tcb, vec.product)
    if vec.signing_key is SigningKey.VLEK:
        assert verified.endorsement.hwid is None
        assert verified.endorsement.csp_id is not None


def test_cache_never_hides_an_expiry() -> None:
    cache = ChainCache()
    ok = VerifyOptions(clock=FixedClock(VLEK.at), cache=cache)
    verify_report(VLEK.report, ok, endorsement=VLEK.cert)
    assert len(cache.chains) == 1
    verify_report(VLEK.report, ok, endorsement=VLEK.cert)  # warm path
    late = VerifyOptions(clock=FixedClock(VLEK.not_after + dt.timedelta(seconds=1)), cache=cache)
    with pytest.raises(VerificationError, match="VLEK certificate expired"):
        verify_report(VLEK.report, late, endorsement=VLEK.cert)


def test_cache_still_checks_the_report_signature() -> None:
    cache = ChainCache()
    options = VerifyOptions(clock=FixedClock(V5.at), cache=cache)
    verify_report(V5.report, options, endorsement=V5.cert)
    with pytest.raises(VerificationError, match="report signature does not verify"):
        verify_report(_flip(V5.report, 0xC0), options, endorsement=V5.cert)


# --- simulated hierarchy: CRLs, fetched intermediates, Turin -----------------------------------


def _sim_opts(sim: SimulatedSnp, **kw: object) -> VerifyOptions:
    return VerifyOptions(roots=sim.roots(), clock=FixedClock(SIM_NOW), cache=ChainCache(), **kw)  # type: ignore[arg-type]


def _crl(sim: SimulatedSnp, serials: list[int], *, next_update: dt.datetime | None = None) -> bytes:
    return sim.crl(
        serials,
        this_update=SIM_NOW - dt.timedelta(days=1),
        next_update=next_update or SIM_NOW + dt.timedelta(days=7),
    )


@pytest.mark.parametrize(
    ("serials", "next_update", "want_err"),
    [
        ([], None, ""),
        ([4], None, "VCEK certificate (serial 4) is revoked"),
        ([2], None, "ASK certificate (serial 2) is revoked"),
        ([], SIM_NOW - dt.timedelta(hours=1), "CRL is stale"),
    ],
)
def test_crl(
    snp_sim: SimulatedSnp, serials: list[int], next_update: dt.datetime | None, want_err: str
) -> None:
    options = _sim_opts(snp_sim, crl=_crl(snp_sim, serials, next_update=next_update))
    report = snp_sim.report()
    if not want_err:
        verify_report(report, options, endorsement=snp_sim.endorsement())
        return
    with pytest.raises(VerificationError) as info:
        verify_report(report, options, endorsement=snp_sim.endorsement())
    assert want_err in str(info.value)


def test_crl_signed_by_another_ark(snp_sim: SimulatedSnp) -> None:
    other = SimulatedSnp.generate(not_before=snp_sim.not_before, rsa_key_size=2048)
    options = _sim_opts(snp_sim, crl=_crl(other, []))
    with pytest.raises(VerificationError, match="CRL: RSA-PSS signature by the ARK does not verify"):
        verify_report(snp_sim.report(), options, endorsement=snp_sim.endorsement())


def test_crl_fetched_from_kds_when_asked(snp_sim: SimulatedSnp) -> None:
    getter = DictGetter({BASE + crl_path(ProductLine.MILAN): _crl(snp_sim, [4])})
    options = _sim_opts(snp_sim, kds=KdsClient(getter=getter, base_url=BASE), check_revocations=True)
    with pytest.raises(VerificationError, match="revoked"):
        verify_report(snp_sim.report(), options, endorsement=snp_sim.endorsement())


def _ark_only(sim: SimulatedSnp) -> TrustedRoots:
    return TrustedRoots.from_pem("ark-only", [sim.ark.public_bytes(Encoding.PEM)])


def test_intermediate_fetched_when_not_trusted_locally(snp_sim: SimulatedSnp) -> None:
    kds = snp_sim.fake_kds()
    options = VerifyOptions(
        roots=_ark_only(snp_sim),
        kds=KdsClient(getter=HttpxGetter(transport=kds.transport()), base_url=BASE),
        clock=FixedClock(SIM_NOW),
        cache=ChainCache(),
    )
    verified = verify_report(snp_sim.report(), options)  # VCEK and ASK both from the fake KDS
    assert verified.trust == "ark-only"
    assert any(p.endswith("/cert_chain") for p in kds.requests)
    vlek_report = snp_sim.report(signing_key=SigningKey.VLEK)
    verify_report(vlek_report, options, endorsement=snp_sim.endorsement(SigningKey.VLEK))


def test_intermediate_missing_and_fetching_disabled(snp_sim: SimulatedSnp) -> None:
    options = VerifyOptions(roots=_ark_only(snp_sim), clock=FixedClock(SIM_NOW), cache=ChainCache())
    with pytest.raises(CollateralUnavailable, match="no trusted ASK for Milan"):
        verify_report(snp_sim.report(), options, endorsement=snp_sim.endorsement())


def test_turin_layout_and_8_byte_hwid(snp_sim_turin: SimulatedSnp) -> None:
    report = snp_sim_turin.report()
    verified = verify_report(report, _sim_opts(snp_sim_turin), endorsement=snp_sim_turin.endorsement())
    assert verified.product is ProductLine.TURIN
    assert verified.endorsement.hwid == snp_sim_turin.chip_id[:8]
    assert verified.endorsement.tcb == snp_sim_turin.tcb
    assert verified.reported_tcb.fmc == 0


def test_turin_fmc_mismatch_is_caught(snp_sim_turin: SimulatedSnp) -> None:
    bumped = dataclasses.replace(
        snp_sim_turin, tcb=TcbVersion(fmc=1, bootloader=4, tee=0, snp=22, microcode=213)
    )
    report = bumped.report()  # REPORTED_TCB says fmc=1, the VCEK's fmcSPL says 0
    with pytest.raises(VerificationError, match="microcode=213 fmc=1, but the VCEK SPL extensions"):
        verify_report(report, _sim_opts(snp_sim_turin), endorsement=snp_sim_turin.endorsement())


def test_real_turin_vcek_extensions_parse() -> None:
    from snp_vectors import SNP_DATA

    from phala_agents.attestation.sev import load_endorsement

    endorsement = load_endorsement((SNP_DATA / "turin_vcek_only.der").read_bytes())
    assert endorsement.product is ProductLine.TURIN
    assert endorsement.hwid is not None and len(endorsement.hwid) == 8
    assert endorsement.tcb.fmc == 0 and endorsement.tcb.microcode == 9


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 1183), st.integers(1, 255)), min_size=1, max_size=8))
def test_mutated_reports_only_raise_attestation_errors(flips: list[tuple[int, int]]) -> None:
    raw = bytearray(V5.report)
    for offset, xor in flips:
        raw[offset] ^= xor
    if bytes(raw) == V5.report:
        return
    with pytest.raises((ReportFormatError, VerificationError)):
        verify_report(bytes(raw), VerifyOptions(clock=FixedClock(V5.at)), endorsement=V5.cert)


def test_cached_chain_does_not_outlive_its_crl(snp_sim: SimulatedSnp) -> None:
    cache = ChainCache()
    crl = _crl(snp_sim, [], next_update=SIM_NOW + dt.timedelta(hours=1))
    ok = VerifyOptions(roots=snp_sim.roots(), clock=FixedClock(SIM_NOW), cache=cache, crl=crl)
    verify_report(snp_sim.report(), ok, endorsement=snp_sim.endorsement())
    later = dataclasses.replace(ok, clock=FixedClock(SIM_NOW + dt.timedelta(hours=2)))
    with pytest.raises(VerificationError, match="CRL is stale"):
        verify_report(snp_sim.report(), later, endorsement=snp_sim.endorsement())


def test_crl_from_the_future(snp_sim: SimulatedSnp) -> None:
    crl = snp_sim.crl(
        [], this_update=SIM_NOW + dt.timedelta(days=1), next_update=SIM_NOW + dt.timedelta(days=2)
    )
    with pytest.raises(VerificationError, match="CRL is not yet valid"):
        verify_report(snp_sim.report(), _sim_opts(snp_sim, crl=crl), endorsement=snp_sim.endorsement())


def _resigned_ask(sim: SimulatedSnp, crl_url: str | None) -> TrustedRoots:
    """The simulated ASK re-issued by the same ARK with another (or no) CRL distribution point."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization

    from phala_agents.attestation.sev.verify import PSS_SHA384

    builder = (
        x509.CertificateBuilder()
        .subject_name(sim.ask.subject)
        .issuer_name(sim.ask.issuer)
        .public_key(sim.ask.public_key())
        .serial_number(2)
        .not_valid_before(sim.ask.not_valid_before_utc)
        .not_valid_after(sim.ask.not_valid_after_utc)
    )
    if crl_url is not None:
        point = x509.DistributionPoint(
            full_name=[x509.UniformResourceIdentifier(crl_url)],
            relative_name=None,
            reasons=None,
            crl_issuer=None,
        )
        builder = builder.add_extension(x509.CRLDistributionPoints([point]), critical=False)
    ask = builder.sign(sim.ark_key, hashes.SHA384(), rsa_padding=PSS_SHA384)
    pem = serialization.Encoding.PEM
    return TrustedRoots.from_pem("resigned", [ask.public_bytes(pem) + sim.ark.public_bytes(pem)])


@pytest.mark.parametrize(
    ("url", "want_err"),
    [
        (None, "ASK has no CRL distribution point"),
        ("https://kdsintf.amd.com/vlek/v1/Milan/crl", "ASK CRL distribution points are"),
        ("https://kdsintf.amd.com/vcek/v1/Genoa/crl", "ASK CRL distribution points are"),
    ],
)
def test_kds_crl_distribution_point(snp_sim: SimulatedSnp, url: str | None, want_err: str) -> None:
    report = snp_sim.report()
    roots = _resigned_ask(snp_sim, url)
    with pytest.raises(VerificationError, match=want_err):
        verify_report(report, _opts(SIM_NOW, roots=roots), endorsement=snp_sim.endorsement())
    # The same ASK with AMD's link is accepted: only the distribution point differs.
    good = _resigned_ask(snp_sim, "https://kdsintf.amd.com/vcek/v1/Milan/crl")
    verify_report(report, _opts(SIM_NOW, roots=good), endorsement=snp_sim.endorsement())


def test_real_roots_carry_the_kds_crl_links() -> None:
    from cryptography import x509

    for product, pr in _prod_roots().products.items():
        for cert, key in ((pr.ark, "vcek"), (pr.ask, "vcek"), (pr.asvk, "vlek")):
            assert cert is not None
            points = cert.extensions.get_extension_for_class(x509.CRLDistributionPoints).value
            urls = [n.value for p in points for n in (p.full_name or [])]
            assert urls == [f"https://kdsintf.amd.com{crl_path(product, key)}"]  # type: ignore[arg-type]
