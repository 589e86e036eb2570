"""Verify an SEV-SNP report: the endorsement key's chain to a trusted ARK and the report signature.

Order (go-sev-guest ``verify.SnpAttestation``):

1. the endorsement certificate (VCEK or VLEK): given, or fetched from KDS by CHIP_ID and
   REPORTED_TCB; its product (productName extension) against the report's CPUID and the
   caller's ``product``;
2. the leaf's extensions against the report: SIGNING_KEY matches the certificate kind, hwID ==
   CHIP_ID (VCEK only; VLEKs have no hwID), the SPL extensions (bl/tee/snp/ucode, plus fmc on
   Turin) == REPORTED_TCB;
3. the chain ARK (self-signed, from the trust set) -> ASK (VCEK) or ASVK (VLEK) -> leaf, all
   RSASSA-PSS SHA-384 salt 48, CNs, issuer names and validity windows at ``options.clock``; the
   ARK-signed CRL when given or asked for;
4. ECDSA P-384 SHA-384 over report[0:0x2A0] with the leaf's key.

Verified chains are cached by the fingerprints of ARK, intermediate, leaf (and CRL) in a
``ChainCache``; the validity windows are re-checked against the clock on every call and the
report signature is always checked.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import threading
from dataclasses import dataclass, field

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from phala_agents.attestation._x509 import (
    common_name,
    der,
    load_certificate,
    load_pem_certificates,
    serial_number,
)
from phala_agents.attestation.kds import KDS_BASE_URL, KdsClient, KeyKind, crl_path
from phala_agents.attestation.sev.abi import (
    ECDSA_P384_SHA384,
    ProductLine,
    Report,
    SigningKey,
    TcbVersion,
    decode_tcb,
    parse_report,
)
from phala_agents.attestation.trust import Clock, SystemClock, TrustedRoots
from phala_agents.errors import CollateralUnavailable, VerificationError

# AMD's VCEK/VLEK extension OIDs (KDS interface specification).
_AMD = "1.3.6.1.4.1.3704.1"
OID_STRUCT_VERSION = x509.ObjectIdentifier(f"{_AMD}.1")
OID_PRODUCT_NAME = x509.ObjectIdentifier(f"{_AMD}.2")
OID_BL_SPL = x509.ObjectIdentifier(f"{_AMD}.3.1")
OID_TEE_SPL = x509.ObjectIdentifier(f"{_AMD}.3.2")
OID_SNP_SPL = x509.ObjectIdentifier(f"{_AMD}.3.3")
OID_UCODE_SPL = x509.ObjectIdentifier(f"{_AMD}.3.8")
OID_FMC_SPL = x509.ObjectIdentifier(f"{_AMD}.3.9")
OID_HWID = x509.ObjectIdentifier(f"{_AMD}.4")
OID_CSP_ID = x509.ObjectIdentifier(f"{_AMD}.5")
RSASSA_PSS = x509.ObjectIdentifier("1.2.840.113549.1.1.10")

PSS_SHA384 = padding.PSS(mgf=padding.MGF1(hashes.SHA384()), salt_length=48)
_ECDSA_SHA384 = ec.ECDSA(hashes.SHA384())

# productName stepping -> CPUID_STEP, where AMD's naming is known (Milan-B0 is stepping 1).
_STEPPINGS: dict[ProductLine, dict[str, int]] = {ProductLine.MILAN: {"B0": 1, "B1": 2}}


@dataclass(slots=True)
class ChainCache:
    """Verified chains by fingerprint, and parsed endorsement certificates by SHA-256 of their DER.

    Share one between calls (the module keeps a default); it never holds a verdict that depends
    on the time: validity windows are stored and compared with the clock on every use.
    """

    chains: dict[tuple[str, ...], tuple[dt.datetime, dt.datetime]] = field(default_factory=dict)
    endorsements: dict[bytes, Endorsement] = field(default_factory=dict)
    max_entries: int = 4096
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def clear(self) -> None:
        with self._lock:
            self.chains.clear()
            self.endorsements.clear()

    def _bound(self) -> None:
        # Crude but safe bound: a flood of distinct certificates cannot grow memory forever.
        if len(self.chains) > self.max_entries:
            self.chains.clear()
        if len(self.endorsements) > self.max_entries:
            self.endorsements.clear()


DEFAULT_CACHE = ChainCache()


@dataclass(frozen=True, slots=True, kw_only=True)
class VerifyOptions:
    """Inputs of ``verify_report`` (never written to).

    ``kds``: where to fetch a missing VCEK, intermediate or CRL (``None``: fetch nothing).
    ``product``: the expected product line; required to fetch a VCEK for a VERSION 2 report,
    which carries no CPUID. ``crl``: an ARK-signed CRL (DER or PEM) to check; with
    ``check_revocations`` the CRL is fetched from ``kds`` when not given.
    """

    roots: TrustedRoots = field(default_factory=TrustedRoots.amd_production)
    kds: KdsClient | None = None
    clock: Clock = field(default_factory=SystemClock)
    product: ProductLine | None = None
    crl: bytes | None = None
    check_revocations: bool = False
    cache: ChainCache = field(default_factory=lambda: DEFAULT_CACHE)


@dataclass(frozen=True, slots=True, kw_only=True)
class Endorsement:
    """A parsed VCEK or VLEK certificate."""

    cert: x509.Certificate
    der_sha256: str
    kind: SigningKey
    product: ProductLine
    stepping: str | None
    hwid: bytes | None
    tcb: TcbVersion
    csp_id: str | None
    public_key: ec.EllipticCurvePublicKey


@dataclass(frozen=True, slots=True, kw_only=True)
class VerifiedReport:
    """A report whose signature and chain hold; hand it to ``validate_report``."""

    report: Report
    product: ProductLine
    signing_key: SigningKey
    endorsement: Endorsement
    chain_sha256: tuple[str, str, str]  # ARK, ASK/ASVK, VCEK/VLEK
    trust: str
    verified_at: dt.datetime

    @property
    def reported_tcb(self) -> TcbVersion:
        return decode_tcb(self.report.reported_tcb, self.product)


# --- DER helpers for the AMD extensions (tiny, fixed shapes) ---------------------------------


def _ext_value(cert: x509.Certificate, oid: x509.ObjectIdentifier) -> bytes | None:
    try:
        ext = cert.extensions.get_extension_for_oid(oid)
    except x509.ExtensionNotFound:
        return None
    value = ext.value
    if isinstance(value, x509.UnrecognizedExtension):
        return value.value
    return None


def _der_integer(data: bytes, what: str) -> int:
    if len(data) < 3 or data[0] != 0x02 or data[1] != len(data) - 2 or data[1] > 8:
        raise VerificationError(f"certificate extension {what}: not a small DER INTEGER ({data.hex()})")
    value = int.from_bytes(data[2:], "big", signed=True)
    if not 0 <= value <= 255:
        raise VerificationError(f"certificate extension {what}: {value} is outside 0..255")
    return value


def _der_string(data: bytes, what: str) -> str:
    # IA5String (0x16) or UTF8String (0x0C), short form length.
    if len(data) < 2 or data[0] not in (0x16, 0x0C) or data[1] != len(data) - 2:
        raise VerificationError(f"certificate extension {what}: not a short DER string ({data.hex()})")
    return data[2:].decode("utf-8", "replace")


def _parse_endorsement(cert: x509.Certificate, digest: str) -> Endorsement:
    cn = common_name(cert.subject)
    if cn == "SEV-VCEK":
        kind = SigningKey.VCEK
    elif cn == "SEV-VLEK":
        kind = SigningKey.VLEK
    else:
        raise VerificationError(f"endorsement certificate CN is {cn!r}, wanted 'SEV-VCEK' or 'SEV-VLEK'")
    if cert.version is not x509.Version.v3:
        raise VerificationError(f"{cn}: X.509 version is {cert.version.name}, wanted v3")
    raw_name = _ext_value(cert, OID_PRODUCT_NAME)
    if raw_name is None:
        raise VerificationError(f"{cn}: missing productName extension {OID_PRODUCT_NAME.dotted_string}")
    name = _der_string(raw_name, "productName")
    line, _, stepping = name.partition("-")
    try:
        product = ProductLine(line)
    except ValueError:
        raise VerificationError(
            f"{cn}: productName is {name!r}, wanted one of {[p.value for p in ProductLine]}"
        ) from None
    spl: dict[str, int] = {}
    for what, oid in (
        ("blSPL", OID_BL_SPL),
        ("teeSPL", OID_TEE_SPL),
        ("snpSPL", OID_SNP_SPL),
        ("ucodeSPL", OID_UCODE_SPL),
    ):
        value = _ext_value(cert, oid)
        if value is None:
            raise VerificationError(f"{cn}: missing {what} extension {oid.dotted_string}")
        spl[what] = _der_integer(value, what)
    fmc: int | None = None
    if product is ProductLine.TURIN:
        value = _ext_value(cert, OID_FMC_SPL)
        if value is None:
            raise VerificationError(f"{cn}: missing fmcSPL extension {OID_FMC_SPL.dotted_string} (Turin)")
        fmc = _der_integer(value, "fmcSPL")
    hwid = _ext_value(cert, OID_HWID)
    if kind is SigningKey.VCEK and hwid is None:
        raise VerificationError(f"{cn}: missing hwID extension {OID_HWID.dotted_string}")
    csp_raw = _ext_value(cert, OID_CSP_ID)
    key = cert.public_key()
    if not isinstance(key, ec.EllipticCurvePublicKey) or not isinstance(key.curve, ec.SECP384R1):
        raise VerificationError(f"{cn}: public key is {type(key).__name__}, wanted ECDSA P-384")
    return Endorsement(
        cert=cert,
        der_sha256=digest,
        kind=kind,
        product=product,
        stepping=stepping or None,
        hwid=hwid,
        tcb=TcbVersion(
            bootloader=spl["blSPL"], tee=spl["teeSPL"], snp=spl["snpSPL"], microcode=spl["ucodeSPL"], fmc=fmc
        ),
        csp_id=_der_string(csp_raw, "cspId") if csp_raw is not None else None,
        public_key=key,
    )


def load_endorsement(data: bytes, cache: ChainCache | None = None) -> Endorsement:
    """Load and parse a VCEK/VLEK certificate (DER or PEM), cached by SHA-256 of the bytes."""
    key = hashlib.sha256(data).digest()
    if cache is not None:
        hit = cache.endorsements.get(key)
        if hit is not None:
            return hit
    cert = load_certificate(data, what="endorsement certificate")
    endorsement = _parse_endorsement(cert, hashlib.sha256(der(cert)).hexdigest())
    if cache is not None:
        with cache._lock:
            cache._bound()
            cache.endorsements[key] = endorsement
    return endorsement


# --- chain ------------------------------------------------------------------------------------


def _check_pss_signed(child: x509.Certificate, issuer: x509.Certificate, what: str) -> None:
    if child.signature_algorithm_oid != RSASSA_PSS:
        raise VerificationError(
            f"{what}: signature algorithm is {child.signature_algorithm_oid.dotted_string}, "
            "wanted RSASSA-PSS (1.2.840.113549.1.1.10)"
        )
    if not isinstance(child.signature_hash_algorithm, hashes.SHA384):
        found = child.signature_hash_algorithm.name if child.signature_hash_algorithm else "none"
        raise VerificationError(f"{what}: signature hash is {found}, wanted sha384")
    if child.issuer != issuer.subject:
        raise VerificationError(
            f"{what}: issuer is {child.issuer.rfc4514_string()!r}, wanted {issuer.subject.rfc4514_string()!r}"
        )
    key = issuer.public_key()
    if not isinstance(key, rsa.RSAPublicKey):
        raise VerificationError(f"{what}: issuer key is {type(key).__name__}, wanted RSA")
    try:
        key.verify(child.signature, child.tbs_certificate_bytes, PSS_SHA384, hashes.SHA384())
    except InvalidSignature:
        raise VerificationError(f"{what}: RSA-PSS signature does not verify") from None


def _check_crl_link(cert: x509.Certificate, product: ProductLine, key: KeyKind, what: str) -> None:
    """AMD's ARK, ASK and ASVK name exactly one CRL distribution point, the KDS CRL of their product
    and key kind (go-sev-guest checks the same); a certificate of another product or role fails here."""
    want = KDS_BASE_URL + crl_path(product, key)
    try:
        points = cert.extensions.get_extension_for_class(x509.CRLDistributionPoints).value
    except x509.ExtensionNotFound:
        raise VerificationError(f"{what} has no CRL distribution point, wanted {want!r}") from None
    except ValueError as exc:
        raise VerificationError(f"{what}: malformed extensions ({exc})") from exc
    urls = [
        str(name.value)
        for point in points
        for name in (point.full_name or [])
        if isinstance(name, x509.UniformResourceIdentifier)
    ]
    if len(points) != 1 or urls != [want]:
        raise VerificationError(f"{what} CRL distribution points are {urls}, wanted [{want!r}]")


def _window(certs: list[tuple[str, x509.Certificate]]) -> tuple[dt.datetime, dt.datetime]:
    return (max(c.not_valid_before_utc for _, c in certs), min(c.not_valid_after_utc for _, c in certs))


def _check_times(certs: list[tuple[str, x509.Certificate]], now: dt.datetime) -> None:
    for what, cert in certs:
        if now < cert.not_valid_before_utc:
            raise VerificationError(
                f"{what} certificate is not yet valid: not before {cert.not_valid_before_utc.isoformat()}, "
                f"now {now.isoformat()}"
            )
        if now > cert.not_valid_after_utc:
            raise VerificationError(
                f"{what} certificate expired: not after {cert.not_valid_after_utc.isoformat()}, "
                f"now {now.isoformat()}"
            )


def _load_crl(data: bytes) -> x509.CertificateRevocationList:
    try:
        if data.lstrip().startswith(b"-----BEGIN"):
            return x509.load_pem_x509_crl(data)
        return x509.load_der_x509_crl(data)
    except ValueError as exc:
        raise VerificationError(f"CRL: not a well-formed X.509 CRL ({exc})") from exc


def _check_crl(
    crl_bytes: bytes,
    ark: x509.Certificate,
    checked: list[tuple[str, x509.Certificate]],
    now: dt.datetime,
) -> tuple[dt.datetime, dt.datetime | None]:
    """Check the CRL and return its (thisUpdate, nextUpdate): a cached verdict must not outlive it."""
    crl = _load_crl(crl_bytes)
    if crl.issuer != ark.subject:
        raise VerificationError(
            f"CRL issuer is {crl.issuer.rfc4514_string()!r}, wanted the ARK {ark.subject.rfc4514_string()!r}"
        )
    key = ark.public_key()
    if not isinstance(key, rsa.RSAPublicKey):
        raise VerificationError("CRL: ARK key is not RSA")
    try:
        key.verify(crl.signature, crl.tbs_certlist_bytes, PSS_SHA384, hashes.SHA384())
    except InvalidSignature:
        raise VerificationError("CRL: RSA-PSS signature by the ARK does not verify") from None
    if now < crl.last_update_utc:
        raise VerificationError(
            f"CRL is not yet valid: this update {crl.last_update_utc.isoformat()}, now {now.isoformat()}"
        )
    if crl.next_update_utc is not None and now > crl.next_update_utc:
        raise VerificationError(
            f"CRL is stale: next update {crl.next_update_utc.isoformat()}, now {now.isoformat()}"
        )
    for what, cert in checked:
        serial = serial_number(cert)
        revoked = crl.get_revoked_certificate_by_serial_number(serial)
        if revoked is not None:
            raise VerificationError(
                f"{what} certificate (serial {serial:x}) is revoked since "
                f"{revoked.revocation_date_utc.isoformat()}"
            )
    return crl.last_update_utc, crl.next_update_utc


def _intermediate(
    product: ProductLine, kind: SigningKey, options: VerifyOptions
) -> tuple[x509.Certificate, str]:
    """The ASK (VCEK) or ASVK (VLEK) and its SHA-256: from the trust set, else from KDS."""
    roots = options.roots.get(product)
    if kind is SigningKey.VCEK and roots.ask is not None and roots.ask_sha256:
        return roots.ask, roots.ask_sha256
    if kind is SigningKey.VLEK and roots.asvk is not None and roots.asvk_sha256:
        return roots.asvk, roots.asvk_sha256
    what = "ASK" if kind is SigningKey.VCEK else "ASVK"
    if options.kds is None:
        raise CollateralUnavailable(
            f"no trusted {what} for {product} in trust set {options.roots.name!r} and fetching is disabled"
        )
    pem = options.kds.cert_chain(product, "vcek" if kind is SigningKey.VCEK else "vlek")
    certs = load_pem_certificates(pem, what=f"KDS cert_chain for {product}")
    wanted_cn = f"SEV-{product}" if kind is SigningKey.VCEK else f"SEV-VLEK-{product}"
    for cert in certs:
        if common_name(cert.subject) == wanted_cn:
            return cert, hashlib.sha256(der(cert)).hexdigest()
    raise VerificationError(f"KDS cert_chain for {product}: no certificate with CN {wanted_cn!r}")


def _verify_chain(
    endorsement: Endorsement, product: ProductLine, options: VerifyOptions, now: dt.datetime
) -> tuple[str, str, str]:
    roots = options.roots.get(product)
    ark = roots.ark
    kind = endorsement.kind
    inter, inter_sha = _intermediate(product, kind, options)
    inter_what = "ASK" if kind is SigningKey.VCEK else "ASVK"
    leaf_what = kind.name
    crl_bytes = options.crl
    if crl_bytes is None and options.check_revocations:
        if options.kds is None:
            raise CollateralUnavailable(
                f"CRL for {product}: revocation check asked for and fetching is disabled"
            )
        crl_bytes = options.kds.crl(product, "vcek" if kind is SigningKey.VCEK else "vlek")
    fingerprints = (roots.ark_sha256, inter_sha, endorsement.der_sha256)
    key: tuple[str, ...] = (*fingerprints, hashlib.sha256(crl_bytes).hexdigest() if crl_bytes else "")
    certs = [("ARK", ark), (inter_what, inter), (leaf_what, endorsement.cert)]
    cached = options.cache.chains.get(key)
    if cached is not None:
        not_before, not_after = cached
        if not_before <= now <= not_after:
            return fingerprints
        _check_times(certs, now)  # names the certificate whose window excludes now
    ark_cn, inter_cn = common_name(ark.subject), common_name(inter.subject)
    if ark_cn != f"ARK-{product}":
        raise VerificationError(f"ARK CN is {ark_cn!r}, wanted 'ARK-{product}'")
    wanted_inter = f"SEV-{product}" if kind is SigningKey.VCEK else f"SEV-VLEK-{product}"
    if inter_cn != wanted_inter:
        raise VerificationError(f"{inter_what} CN is {inter_cn!r}, wanted {wanted_inter!r}")
    _check_crl_link(ark, product, "vcek", "ARK")
    _check_crl_link(inter, product, "vcek" if kind is SigningKey.VCEK else "vlek", inter_what)
    _check_pss_signed(ark, ark, "ARK (self-signed)")
    _check_pss_signed(inter, ark, f"{inter_what} by ARK")
    _check_pss_signed(endorsement.cert, inter, f"{leaf_what} by {inter_what}")
    _check_times(certs, now)
    not_before, not_after = _window(certs)
    if crl_bytes is not None:
        this_update, next_update = _check_crl(
            crl_bytes, ark, [(inter_what, inter), (leaf_what, endorsement.cert)], now
        )
        not_before = max(not_before, this_update)
        not_after = min(not_after, next_update) if next_update is not None else not_after
    with options.cache._lock:
        options.cache._bound()
        options.cache.chains[key] = (not_before, not_after)
    return fingerprints


# --- the report ---------------------------------------------------------------------------------


def _product(report: Report, endorsement: Endorsement | None, options: VerifyOptions) -> ProductLine | None:
    """Agreeing product line from the report's CPUID, the caller and the certificate."""
    claims: list[tuple[str, ProductLine]] = []
    from_cpuid = report.product_from_cpuid
    if from_cpuid is not None:
        claims.append(("report CPUID_FAM_ID/CPUID_MOD_ID", from_cpuid))
    if options.product is not None:
        claims.append(("the expected product", options.product))
    if endorsement is not None:
        claims.append((f"the {endorsement.kind.name} productName", endorsement.product))
    if not claims:
        return None
    first_what, first = claims[0]
    for what, value in claims[1:]:
        if value is not first:
            raise VerificationError(f"product: {first_what} says {first}, but {what} says {value}")
    if endorsement is not None and endorsement.stepping and report.cpuid_step is not None:
        wanted = _STEPPINGS.get(endorsement.product, {}).get(endorsement.stepping)
        if wanted is not None and report.cpuid_fam_id and wanted != report.cpuid_step:
            raise VerificationError(
                f"product: CPUID_STEP is {report.cpuid_step}, but the certificate is for "
                f"{endorsement.product}-{endorsement.stepping} (stepping {wanted})"
            )
    return first


def _check_binding(report: Report, endorsement: Endorsement, product: ProductLine) -> None:
    if report.signing_key is not endorsement.kind:
        raise VerificationError(
            f"SIGNING_KEY is {report.signing_key.name}, but the certificate is a {endorsement.kind.name}"
        )
    if endorsement.kind is SigningKey.VCEK and endorsement.hwid is not None and any(report.chip_id):
        # Turin's hwID is 8 bytes: the first 8 of CHIP_ID.
        chip = report.chip_id[: len(endorsement.hwid)] if product is ProductLine.TURIN else report.chip_id
        if endorsement.hwid != chip:
            raise VerificationError(
                f"CHIP_ID is {report.chip_id.hex()}, but the VCEK hwID is {endorsement.hwid.hex()}"
            )
    reported = decode_tcb(report.reported_tcb, product)
    if reported != endorsement.tcb:
        raise VerificationError(
            f"REPORTED_TCB is {reported}, but the {endorsement.kind.name} SPL extensions "
            f"say {endorsement.tcb}"
        )


def verify_endorsement(
    endorsement: bytes, options: VerifyOptions | None = None
) -> tuple[Endorsement, tuple[str, str, str]]:
    """Check a VCEK/VLEK certificate alone: its chain to a trusted ARK at ``options.clock`` (and
    the CRL when given). Returns the parsed certificate and the chain's SHA-256 fingerprints.

    Useful to vet a certificate before any report arrives (e.g. one cached per worker); a report
    still needs ``verify_report``.
    """
    options = options or VerifyOptions()
    parsed = load_endorsement(endorsement, options.cache)
    if options.product is not None and options.product is not parsed.product:
        raise VerificationError(
            f"product: the expected product says {options.product}, but the {parsed.kind.name} "
            f"productName says {parsed.product}"
        )
    return parsed, _verify_chain(parsed, parsed.product, options, options.clock.now())


def verify_report(
    report: Report | bytes, options: VerifyOptions | None = None, *, endorsement: bytes | None = None
) -> VerifiedReport:
    """Check that ``report`` is signed by a VCEK/VLEK that chains to a trusted ARK.

    ``endorsement`` is the VCEK/VLEK certificate (DER or PEM); without it a VCEK is fetched
    through ``options.kds``. Raises ``ReportFormatError`` (bytes that do not parse),
    ``CollateralUnavailable`` (a certificate or CRL could not be had) or ``VerificationError``.
    """
    options = options or VerifyOptions()
    if not isinstance(report, Report):
        report = parse_report(report)
    if report.signature_algo != ECDSA_P384_SHA384:
        raise VerificationError(f"SIGNATURE_ALGO is {report.signature_algo}, wanted 1 (ECDSA P-384 SHA-384)")
    now = options.clock.now()
    if endorsement is None:
        if report.signing_key is SigningKey.VLEK:
            raise CollateralUnavailable(
                "the report is VLEK-signed: pass the VLEK certificate (KDS does not serve VLEKs by chip)"
            )
        product = _product(report, None, options)
        if product is None:
            raise CollateralUnavailable(
                f"product unknown: a VERSION {report.version} report has no CPUID; pass the product "
                "(Milan, Genoa, Turin) or the VCEK certificate"
            )
        if options.kds is None:
            raise CollateralUnavailable("no VCEK certificate given and fetching is disabled (no KDS client)")
        endorsement = options.kds.vcek(product, report.chip_id, decode_tcb(report.reported_tcb, product))
    parsed = load_endorsement(endorsement, options.cache)
    product = _product(report, parsed, options)
    assert product is not None  # the certificate always names one
    _check_binding(report, parsed, product)
    fingerprints = _verify_chain(parsed, product, options, now)
    signature = encode_dss_signature(report.signature_r, report.signature_s)
    try:
        parsed.public_key.verify(signature, report.signed_bytes, _ECDSA_SHA384)
    except InvalidSignature:
        raise VerificationError(
            f"report signature does not verify with the {parsed.kind.name} (ECDSA P-384 SHA-384)"
        ) from None
    return VerifiedReport(
        report=report,
        product=product,
        signing_key=parsed.kind,
        endorsement=parsed,
        chain_sha256=fingerprints,
        trust=options.roots.name,
        verified_at=now,
    )
