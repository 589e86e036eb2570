"""Verify a DCAP quote (SGX v3, TDX v4/v5) against its collateral, as Intel's QVL and dcap-qvl do.

Steps (notes section 3; dcap-qvl ``verify.rs``):

1. header: version 3/4/5, attestation key type 2 (ECDSA P-256), Intel QE vendor id, TEE type;
2. collateral, independent of the quote: the Root CA CRL signed by the pinned root and not revoking it;
   the TCB Info and QE Identity chains (TCB Signing -> root, not revoked) and their ECDSA signatures over
   the exact signed JSON bytes; TCB Info id/version and QE Identity id (``TD_QE`` / ``QE``) for the TEE;
3. time at ``now``: TCB Info and QE Identity ``issueDate <= now <= nextUpdate``, every certificate's
   validity, every CRL ``thisUpdate <= now < nextUpdate`` (webpki treats a CRL as expired at nextUpdate);
4. the PCK chain from the quote (type 6 wrapping type 5, or type 5 in v3): leaf -> PCK CA -> pinned root,
   the PCK CA not revoked by the Root CA CRL, the leaf not revoked by the PCK CRL (which the PCK CA signs);
5. the QE report signature by the PCK leaf; SHA-256(attestation key || QE auth data) in the first 32 bytes
   of the QE REPORT_DATA and zeros after (Intel; dcap-qvl compares only 32 bytes);
6. the quote signature by the attestation key over header || body (v5: including its body descriptor);
7. QE identity match: MRSIGNER, ISVPRODID, masked MISCSELECT and ATTRIBUTES, QE not in debug mode;
8. the TCB level (``tcb.py``), QE and TDX module statuses merged in; Revoked is rejected.

Steps 2 and 4 (everything that depends only on the collateral and on the PCK chain bytes) are cached by
content fingerprint in a bounded ``VerificationCache``; the time checks of step 3 and every per-quote
step (5-8) run on every call.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TypeVar

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from cryptography.hazmat.primitives.serialization import Encoding

from phala_agents.attestation import trust
from phala_agents.attestation.tdx.abi import (
    BODY_SGX_ENCLAVE,
    CERT_TYPE_PCK_CHAIN,
    TEE_TYPE_SGX,
    TEE_TYPE_TDX,
    Quote,
    TdReport,
    parse_quote,
)
from phala_agents.attestation.tdx.collateral import Collateral
from phala_agents.attestation.tdx.pckext import PckExtension, find_sgx_extension, parse_pck_extension
from phala_agents.attestation.tdx.tcb import (
    QeIdentity,
    TcbInfo,
    TcbResult,
    TcbStatus,
    converge,
    match_platform_tcb,
    match_qe_tcb,
    parse_qe_identity,
    parse_tcb_info,
)
from phala_agents.errors import CollateralUnavailable, VerificationError

__all__ = [
    "INTEL_QE_VENDOR_ID",
    "INTEL_SGX_ROOT_CA_SHA256",
    "ParseCache",
    "VerificationCache",
    "VerifiedQuote",
    "VerifyOptions",
    "intel_sgx_root_ca_der",
    "verify_quote",
]

INTEL_SGX_ROOT_CA_SHA256 = bytes.fromhex("44a0196b2b99f889b8e149e95b807a350e7424964399e885a7cbb8ccfab674d3")
INTEL_QE_VENDOR_ID = bytes.fromhex("939a7233f79c4ca9940a0db3957f0607")
ATTESTATION_KEY_TYPE_ECDSA_P256 = 2
_ECDSA_SHA256 = ec.ECDSA(hashes.SHA256())
_DER = Encoding.DER
_ECDSA_WITH_SHA256_OID = x509.ObjectIdentifier("1.2.840.10045.4.3.2")
_root_der_cache: list[bytes] = []
# Intel certificates directly under the Intel SGX Root CA, by SHA-256 of their DER, whose signature
# by the root was checked when they were pinned (tests/unit/attestation/tdx re-checks each one).
# A pinned certificate skips only the root-signature check; its validity window and its revocation
# by the Root CA CRL are checked on every use. This keeps a first (cold) verification at 7 ECDSA
# verifications instead of 9.
PREVERIFIED_INTEL_CERTS = frozenset(
    bytes.fromhex(h)
    for h in (
        "22eb770dca215b607b5ccfc21a672b1da5cc660b1ad0365020567979edcaa0e1",  # PCK Platform CA
        "13b2dccef8fc4ec977ee5249743b0f758ebd1e28d768b2e1e12bc348adaa09fb",  # PCK Processor CA
        "c0575e76d0303b61d09cde8cbdb70db34a74f38318300d7c0e6ba8cf4bf45aea",  # TCB Signing (2025-2032)
    )
)


def intel_sgx_root_ca_der() -> bytes:
    """The embedded Intel SGX Root CA (DER) from ``attestation/roots``, checked against its pinned SHA-256."""
    if not _root_der_cache:
        der = trust.intel_sgx_root_ca_der()
        # Pinned here too: it is this module's trust anchor, whoever ships the file.
        if hashlib.sha256(der).digest() != INTEL_SGX_ROOT_CA_SHA256:
            raise VerificationError("embedded Intel SGX Root CA does not match its pinned SHA-256")
        _root_der_cache.append(der)
    return _root_der_cache[0]


V = TypeVar("V")


class VerificationCache:
    """A bounded, thread-safe LRU of verified collateral and PCK chains, keyed by content fingerprint.

    Only results that do not depend on the time are stored (signatures, revocation, parsed documents);
    each entry carries the validity intervals that are checked against ``now`` on every use.
    """

    def __init__(self, max_entries: int = 128) -> None:
        if max_entries < 1:
            raise ValueError("max_entries must be >= 1")
        self.max_entries = max_entries
        self._data: OrderedDict[bytes, object] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def get_or_build(self, key: bytes, build: Callable[[], V]) -> V:
        with self._lock:
            hit = self._data.get(key)
            if hit is not None:
                self._data.move_to_end(key)
                self.hits += 1
                return hit  # type: ignore[return-value]
            self.misses += 1
        value = build()  # outside the lock: a failure caches nothing
        with self._lock:
            self._data[key] = value
            self._data.move_to_end(key)
            while len(self._data) > self.max_entries:
                self._data.popitem(last=False)
        return value

    def clear(self) -> None:
        with self._lock:
            self._data.clear()

    def __len__(self) -> int:
        return len(self._data)


DEFAULT_CACHE = VerificationCache()


class ParseCache:
    """A bounded, thread-safe LRU of *parsed* certificates, CRLs and signed JSON documents, keyed by
    their exact bytes (the key is the content itself, so two inputs share an entry only when they are
    byte-identical).

    It holds no verdict: every signature, revocation, validity window and TCB decision is computed
    again on each call whatever this cache holds (``VerificationCache`` is the one that keeps verified
    results). It only spares re-parsing what a verifier sees over and over (the same TCB Info, CRLs and
    certificate chains for every quote of a platform).
    """

    def __init__(self, max_entries: int = 256) -> None:
        if max_entries < 1:
            raise ValueError("max_entries must be >= 1")
        self.max_entries = max_entries
        self._data: OrderedDict[tuple[str, bytes], object] = OrderedDict()
        self._lock = threading.Lock()

    def parsed(self, kind: str, data: bytes, parse: Callable[[bytes], V]) -> V:
        key = (kind, data)
        with self._lock:
            hit = self._data.get(key)
            if hit is not None:
                self._data.move_to_end(key)
                return hit  # type: ignore[return-value]
        value = parse(data)  # outside the lock; a parse error caches nothing
        with self._lock:
            self._data[key] = value
            while len(self._data) > self.max_entries:
                self._data.popitem(last=False)
        return value

    def clear(self) -> None:
        with self._lock:
            self._data.clear()

    def __len__(self) -> int:
        return len(self._data)


DEFAULT_PARSE_CACHE = ParseCache()


@dataclass(frozen=True, slots=True, kw_only=True)
class VerifyOptions:
    """Inputs of ``verify_quote``. ``now``: unix seconds or an aware datetime (None: the wall clock).

    ``trusted_roots``: DER root certificates; empty means the embedded Intel SGX Root CA. Dev roots (the
    simulated TDX hierarchy) are accepted only when passed here explicitly.
    ``cache``: where verified collateral and chains are kept; None verifies everything every time.
    ``parse_cache``: parsed certificates, CRLs and TCB Info / QE Identity documents by their exact bytes
    (no verdicts: with ``cache=None`` every check still runs); None parses everything every time.
    """

    now: int | datetime | None = None
    trusted_roots: tuple[bytes, ...] = ()
    cache: VerificationCache | None = field(default=DEFAULT_CACHE)
    parse_cache: ParseCache | None = field(default=DEFAULT_PARSE_CACHE)


@dataclass(frozen=True, slots=True, kw_only=True)
class VerifiedQuote:
    """A quote whose signatures, chains and collateral hold at ``verified_at``, with its TCB evaluation."""

    quote: Quote
    status: TcbStatus
    advisory_ids: tuple[str, ...]
    platform_status: TcbResult
    qe_status: TcbResult
    fmspc: bytes
    pce_id: bytes
    ppid: bytes
    pck: PckExtension
    pck_ca: str  # "platform" or "processor"
    tcb_eval_data_number: int
    qe_tcb_eval_data_number: int
    tcb_date: str
    collateral_issued_at: int  # the older of the TCB Info and QE Identity issueDate
    collateral_expires_at: int  # the earliest nextUpdate among TCB Info, QE Identity and the CRLs
    verified_at: int

    @property
    def is_tdx(self) -> bool:
        return self.quote.is_tdx


# --- helpers -----------------------------------------------------------------------------------


def _now(value: int | datetime | None) -> int:
    if value is None:
        return int(time.time())
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError("VerifyOptions.now must be timezone-aware")
        return int(value.timestamp())
    return int(value)


def _ts(dt: datetime) -> int:
    return int(dt.timestamp())


def _raw_sig(sig: bytes) -> bytes:
    return encode_dss_signature(int.from_bytes(sig[:32], "big"), int.from_bytes(sig[32:64], "big"))


def _verify_p256(key: ec.EllipticCurvePublicKey, sig: bytes, data: bytes, what: str) -> None:
    if len(sig) != 64:
        raise VerificationError(f"{what} signature has {len(sig)} bytes. Expect 64")
    try:
        key.verify(_raw_sig(sig), data, _ECDSA_SHA256)
    except InvalidSignature as exc:
        raise VerificationError(f"{what} signature is invalid") from exc


def _ec_key(cert: x509.Certificate, what: str) -> ec.EllipticCurvePublicKey:
    key = cert.public_key()
    if not isinstance(key, ec.EllipticCurvePublicKey) or key.curve.name != "secp256r1":
        raise VerificationError(f"{what} key is not ECDSA P-256")
    return key


# --- parsed forms (content-keyed, no verdicts) --------------------------------------------------


def _parsed(pc: ParseCache | None, kind: str, data: bytes, parse: Callable[[bytes], V]) -> V:
    return parse(data) if pc is None else pc.parsed(kind, data, parse)


class _Cert:
    """A parsed certificate with the values the verifier reads, each derived at most once.

    cryptography re-encodes on every ``public_bytes`` / ``tbs_certificate_bytes`` call (~5 us each), so
    those are memoized here (benign races: two threads compute the same bytes)."""

    __slots__ = ("_der_sha256", "_key", "_tbs", "cert", "not_after", "not_before", "serial")

    def __init__(self, cert: x509.Certificate) -> None:
        self.cert = cert
        self.not_before = _ts(cert.not_valid_before_utc)
        self.not_after = _ts(cert.not_valid_after_utc)
        self.serial = cert.serial_number
        self._der_sha256: bytes | None = None
        self._tbs: bytes | None = None
        self._key: ec.EllipticCurvePublicKey | None = None

    def der_sha256(self) -> bytes:
        if self._der_sha256 is None:
            self._der_sha256 = hashlib.sha256(self.cert.public_bytes(_DER)).digest()
        return self._der_sha256

    def tbs(self) -> bytes:
        if self._tbs is None:
            self._tbs = self.cert.tbs_certificate_bytes
        return self._tbs

    def key(self, what: str) -> ec.EllipticCurvePublicKey:
        if self._key is None:
            self._key = _ec_key(self.cert, what)
        return self._key

    def window(self, what: str) -> _Window:
        return _Window(self.not_before, self.not_after, f"{what} certificate")


def _load_chain(pem: bytes) -> tuple[_Cert, ...]:
    try:
        certs = x509.load_pem_x509_certificates(pem.rstrip(b"\x00"))
    except ValueError as exc:
        raise _NotPem from exc
    return tuple(_Cert(c) for c in certs)


class _NotPem(ValueError):
    """Internal: the bytes are not a PEM chain (reported with the caller's field name)."""


def _pem_chain(pem: bytes, what: str, pc: ParseCache | None) -> tuple[_Cert, ...]:
    try:
        return _parsed(pc, "pem", pem, _load_chain)
    except _NotPem as exc:
        raise VerificationError(f"{what} is not a PEM certificate chain") from exc


def _issued_by(cert: _Cert, issuer: _Cert, what: str, preverified: frozenset[bytes] = frozenset()) -> bool:
    """Check ``cert``'s signature by ``issuer``; True when it was skipped for a pinned Intel certificate."""
    if preverified and cert.der_sha256() in preverified:
        return True
    c = cert.cert
    if c.signature_algorithm_oid != _ECDSA_WITH_SHA256_OID:
        raise VerificationError(f"{what} signature algorithm is not ecdsa-with-SHA256")
    # Signature only: the issuer is bound by its key (verify_directly_issued_by also compares names,
    # at ~15 us per certificate, and the chain root is pinned by its exact DER).
    try:
        issuer.key(f"{what} issuer").verify(c.signature, cert.tbs(), _ECDSA_SHA256)
    except InvalidSignature as exc:
        raise VerificationError(
            f"{what} is not signed by its issuer (Failed to verify certificate chain)"
        ) from exc
    return False


def _require_ca(cert: x509.Certificate, what: str) -> None:
    """An issuing certificate must be a CA (webpki checks this too); pinned Intel CAs skip the parse."""
    try:
        ca = cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    except (x509.ExtensionNotFound, ValueError) as exc:
        raise VerificationError(f"{what} has no usable BasicConstraints. Expect CA:TRUE") from exc
    if not ca:
        raise VerificationError(f"{what} is not a CA (BasicConstraints CA:FALSE). Expect CA:TRUE")


@dataclass(frozen=True, slots=True)
class _Window:
    """``lo <= now <= hi`` or the message."""

    lo: int
    hi: int
    what: str


def _check_windows(windows: tuple[_Window, ...], now: int) -> None:
    for w in windows:
        if now < w.lo:
            raise VerificationError(f"{w.what} is not yet valid at {now}: valid from {w.lo}")
        if now > w.hi:
            raise VerificationError(f"{w.what} has expired at {now}: valid until {w.hi}")


class _Crl:
    """A parsed CRL and its update times (``next_update`` None when absent, an error at use)."""

    __slots__ = ("crl", "next_update", "this_update")

    def __init__(self, crl: x509.CertificateRevocationList) -> None:
        self.crl = crl
        self.this_update = _ts(crl.last_update_utc)
        nxt = crl.next_update_utc
        self.next_update = None if nxt is None else _ts(nxt)

    def window(self, what: str) -> _Window:
        if self.next_update is None:
            raise VerificationError(f"{what} has no nextUpdate")
        return _Window(self.this_update, self.next_update - 1, what)


def _parse_crl(der: bytes) -> _Crl:
    return _Crl(x509.load_der_x509_crl(der))


def _load_crl(der: bytes, what: str, pc: ParseCache | None) -> _Crl:
    try:
        return _parsed(pc, "crl", der, _parse_crl)
    except ValueError as exc:
        raise VerificationError(f"{what} is not a DER CRL") from exc


_ECDSA_SHA256_ALG = bytes.fromhex("300a06082a8648ce3d040302")  # AlgorithmIdentifier ecdsa-with-SHA256


def _der_span(buf: bytes, pos: int) -> tuple[int, int]:
    """(content start, end) of the DER element at ``pos``."""
    if pos + 2 > len(buf):
        raise VerificationError("DER element is truncated")
    n = buf[pos + 1]
    start = pos + 2
    if n & 0x80:
        k = n & 0x7F
        if k == 0 or k > 4:
            raise VerificationError("DER length is malformed")
        n = int.from_bytes(buf[start : start + k], "big")
        start += k
    if start + n > len(buf):
        raise VerificationError("DER element is truncated")
    return start, start + n


def _verify_signed_der(der: bytes, key: ec.EllipticCurvePublicKey, what: str) -> None:
    """Verify a SIGNED{...} structure (CRL) from its raw DER: TBS bytes as they are, no re-encoding
    (cryptography's ``tbs_certlist_bytes`` re-encodes a 2.6 kB PCK CRL in ~40 us)."""
    s, e = _der_span(der, 0)
    _ts, te = _der_span(der, s)
    tbs = der[s:te]
    _alg_s, alg_e = _der_span(der, te)
    if der[te:alg_e] != _ECDSA_SHA256_ALG:
        raise VerificationError(f"{what} signature algorithm is not ecdsa-with-SHA256")
    if alg_e >= e or der[alg_e] != 0x03:
        raise VerificationError(f"{what} signature is not a BIT STRING")
    bs, be = _der_span(der, alg_e)
    if be != e or der[bs] != 0:
        raise VerificationError(f"{what} signature is malformed")
    try:
        key.verify(der[bs + 1 : be], tbs, _ECDSA_SHA256)
    except InvalidSignature as exc:
        raise VerificationError(f"{what} signature is invalid (not issued by the expected CA)") from exc


def _crl_signed(crl_der: bytes, issuer: _Cert, what: str) -> None:
    # The CRL is bound to its issuer by the issuer's key (webpki also compares the names; building
    # cryptography Name objects costs more than the rest of this check, and Intel CA keys are unique).
    _verify_signed_der(crl_der, issuer.key(f"{what} issuer"), what)


def _not_revoked(crl: _Crl, cert: _Cert, what: str) -> None:
    if crl.crl.get_revoked_certificate_by_serial_number(cert.serial) is not None:
        raise VerificationError(f"{what} certificate (serial {cert.serial:x}) is revoked")


# --- collateral state (cached) -----------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class _Roots:
    certs: tuple[_Cert, ...]
    der_sha256: tuple[bytes, ...]
    fingerprint: bytes
    preverified: frozenset[bytes]


_roots_cache: dict[tuple[bytes, ...], _Roots] = {}


def _roots(trusted: tuple[bytes, ...]) -> _Roots:
    key = trusted or (intel_sgx_root_ca_der(),)
    hit = _roots_cache.get(key)
    if hit is not None:
        return hit
    certs = []
    for der in key:
        try:
            certs.append(_Cert(x509.load_der_x509_certificate(der)))
        except ValueError as exc:
            raise ValueError("VerifyOptions.trusted_roots holds a certificate that is not DER") from exc
    digests = tuple(hashlib.sha256(d).digest() for d in key)
    intel = intel_sgx_root_ca_der()
    roots = _Roots(
        certs=tuple(certs),
        der_sha256=digests,
        fingerprint=hashlib.sha256(b"".join(digests)).digest(),
        preverified=PREVERIFIED_INTEL_CERTS if key[0] == intel else frozenset(),
    )
    if len(_roots_cache) < 16:
        _roots_cache[key] = roots
    return roots


def _trusted_root(roots: _Roots, chain_root: _Cert) -> _Cert | None:
    """The trusted root that is byte-identical to ``chain_root``, if any."""
    digest = chain_root.der_sha256()
    for cert, d in zip(roots.certs, roots.der_sha256, strict=True):
        if d == digest:
            return cert
    return None


@dataclass(frozen=True, slots=True, kw_only=True)
class _CollateralState:
    root: _Cert
    root_crl: _Crl
    pck_crl: _Crl
    pck_crl_der: bytes
    tcb_info: TcbInfo
    qe_identity: QeIdentity
    windows: tuple[_Window, ...]
    expires_at: int


def _signing_chain(
    pem: bytes, root: _Cert, roots: _Roots, root_crl: _Crl, what: str, *, pc: ParseCache | None
) -> tuple[_Cert, _Window]:
    certs = _pem_chain(pem, f"{what} issuer chain", pc)
    if len(certs) < 2:
        raise VerificationError(f"{what} issuer chain has {len(certs)} certificates. Expect 2 (signer, root)")
    signer, chain_root = certs[0], certs[-1]
    if _trusted_root(roots, chain_root) is None:
        raise VerificationError(f"{what} issuer chain does not end in a trusted root")
    _issued_by(
        signer,
        root,
        f"{what} signing certificate",
        roots.preverified if root is roots.certs[0] else frozenset(),
    )
    _not_revoked(root_crl, signer, f"{what} signing")
    return signer, signer.window(f"{what} signing")


def _build_collateral_state(c: Collateral, roots: _Roots, pc: ParseCache | None) -> _CollateralState:
    root_crl = _load_crl(c.root_ca_crl, "Root CA CRL", pc)
    # The root whose CRL this is; with several trusted roots, the one named by the CRL issuer.
    root = roots.certs[0]
    if len(roots.certs) > 1:
        issuer = root_crl.crl.issuer
        root = next((r for r in roots.certs if r.cert.subject == issuer), root)
    _crl_signed(c.root_ca_crl, root, "Root CA CRL")
    _not_revoked(root_crl, root, "Root CA")
    pck_crl = _load_crl(c.pck_crl, "PCK CRL", pc)
    windows = [
        root.window("Root CA"),
        root_crl.window("Root CA CRL"),
        pck_crl.window("PCK CRL"),
    ]

    signer, w = _signing_chain(c.tcb_info_issuer_chain, root, roots, root_crl, "TCB Info", pc=pc)
    windows.append(w)
    _verify_p256(signer.key("TCB Info signing"), c.tcb_info_signature, c.tcb_info, "TCB Info (tcb_info)")
    if c.qe_identity_issuer_chain != c.tcb_info_issuer_chain:
        signer, w = _signing_chain(c.qe_identity_issuer_chain, root, roots, root_crl, "QE Identity", pc=pc)
        windows.append(w)
    _verify_p256(
        signer.key("QE Identity signing"),
        c.qe_identity_signature,
        c.qe_identity,
        "QE Identity (qe_identity)",
    )

    # Parsed only after their signatures hold (a forged document is reported as forged, not malformed).
    tcb_info = _parsed(pc, "tcb_info", c.tcb_info, parse_tcb_info)
    qe_identity = _parsed(pc, "qe_identity", c.qe_identity, parse_qe_identity)
    windows.append(_Window(tcb_info.issue_date, tcb_info.next_update, "TCB Info (issueDate..nextUpdate)"))
    windows.append(
        _Window(qe_identity.issue_date, qe_identity.next_update, "QE Identity (issueDate..nextUpdate)")
    )
    # Report the documents' own windows first: they are what a caller usually gets wrong.
    ordered = tuple(windows[-2:] + windows[:-2])
    return _CollateralState(
        root=root,
        root_crl=root_crl,
        pck_crl=pck_crl,
        pck_crl_der=c.pck_crl,
        tcb_info=tcb_info,
        qe_identity=qe_identity,
        windows=ordered,
        expires_at=min(w.hi for w in ordered if "Info" in w.what or "Identity" in w.what or "CRL" in w.what),
    )


# --- PCK chain (cached) ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class _PckState:
    leaf_key: ec.EllipticCurvePublicKey
    ext: PckExtension
    ca: str
    windows: tuple[_Window, ...]


class _PckParsed:
    """What the PCK chain's bytes say, derived once per distinct chain (no verdicts)."""

    __slots__ = ("_ca_kind", "_ext", "certs")

    def __init__(self, certs: tuple[_Cert, ...]) -> None:
        self.certs = certs
        self._ext: PckExtension | None = None
        self._ca_kind: str | None = None

    def ext(self) -> PckExtension:
        if self._ext is None:
            self._ext = parse_pck_extension(find_sgx_extension(self.certs[0].tbs()))
        return self._ext

    def ca_kind(self) -> str:
        if self._ca_kind is None:
            tbs = self.certs[1].tbs()
            self._ca_kind = (
                "platform"
                if b"PCK Platform CA" in tbs
                else "processor"
                if b"PCK Processor CA" in tbs
                else "unknown"
            )
        return self._ca_kind


def _parse_pck_chain(pem: bytes) -> _PckParsed:
    return _PckParsed(_load_chain(pem))


def _build_pck_state(
    pem: bytes, state: _CollateralState | None, roots: _Roots, pc: ParseCache | None
) -> _PckState:
    """The PCK chain leaf -> PCK CA -> trusted root; with collateral, also revocation by both CRLs."""
    try:
        parsed = _parsed(pc, "pck", pem, _parse_pck_chain)
    except _NotPem as exc:
        raise VerificationError("PCK certificate chain is not a PEM certificate chain") from exc
    certs = parsed.certs
    if len(certs) != 3:
        raise VerificationError(
            f"PCK certificate chain has {len(certs)} certificates. Expect 3 (PCK, PCK CA, root)"
        )
    leaf, ca, chain_root = certs
    root = _trusted_root(roots, chain_root)
    if root is None:
        raise VerificationError("PCK certificate chain does not end in a trusted root")
    if not _issued_by(
        ca, root, "PCK CA certificate", roots.preverified if root is roots.certs[0] else frozenset()
    ):
        _require_ca(ca.cert, "PCK CA certificate")
    _issued_by(leaf, ca, "PCK certificate")
    if state is not None:
        if state.root is not root:
            raise VerificationError("Root CA CRL is not the CRL of the PCK chain's root")
        _not_revoked(state.root_crl, ca, "PCK CA")
        # webpki (dcap-qvl) denies unknown revocation status: the PCK CRL must be the leaf issuer's.
        _crl_signed(state.pck_crl_der, ca, "PCK CRL")
        _not_revoked(state.pck_crl, leaf, "PCK")
    return _PckState(
        leaf_key=leaf.key("PCK certificate"),
        ext=parsed.ext(),
        ca=parsed.ca_kind(),
        windows=(leaf.window("PCK"), ca.window("PCK CA")),
    )


def _cached(cache: VerificationCache | None, key: bytes, build: Callable[[], V]) -> V:
    if cache is None:
        return build()
    return cache.get_or_build(key, build)


# --- the verifier ------------------------------------------------------------------------------


def _check_header(q: Quote) -> None:
    h = q.header
    if h.version not in (3, 4, 5):
        raise VerificationError(f"quote header field VERSION is {h.version}. Expect 3, 4 or 5")
    if h.attestation_key_type != ATTESTATION_KEY_TYPE_ECDSA_P256:
        raise VerificationError(
            f"quote header field ATTESTATION_KEY_TYPE is {h.attestation_key_type}. Expect 2 (ECDSA P-256)"
        )
    if h.qe_vendor_id != INTEL_QE_VENDOR_ID:
        raise VerificationError(
            f"quote header field QE_VENDOR_ID is {h.qe_vendor_id.hex()}. Expect {INTEL_QE_VENDOR_ID.hex()}"
        )
    want_tee = TEE_TYPE_SGX if q.body_type == BODY_SGX_ENCLAVE else TEE_TYPE_TDX
    if h.tee_type != want_tee:
        raise VerificationError(
            f"quote header field TEE_TYPE is 0x{h.tee_type:x}. Expect 0x{want_tee:x} for its body"
        )


def _check_qe_identity(q: Quote, qe: QeIdentity) -> TcbResult:
    r = q.qe_report
    if r.mr_signer != qe.mr_signer:
        raise VerificationError(
            f"QE report field MRSIGNER is {r.mr_signer.hex()}. Expect {qe.mr_signer.hex()}"
        )
    if r.isv_prod_id != qe.isv_prod_id:
        raise VerificationError(f"QE report field ISVPRODID is {r.isv_prod_id}. Expect {qe.isv_prod_id}")
    if (r.misc_select & qe.misc_select_mask) != (qe.misc_select & qe.misc_select_mask):
        raise VerificationError(
            f"QE report field MISCSELECT is {r.misc_select:08x}. "
            f"Expect {qe.misc_select:08x} under mask {qe.misc_select_mask:08x}"
        )
    if any(
        (a & m) != (b & m) for a, b, m in zip(r.attributes, qe.attributes, qe.attributes_mask, strict=True)
    ):
        raise VerificationError(
            f"QE report field ATTRIBUTES is {r.attributes.hex()}. "
            f"Expect {qe.attributes.hex()} under mask {qe.attributes_mask.hex()}"
        )
    if r.debug:
        raise VerificationError("QE report field ATTRIBUTES has DEBUG set. Expect a production QE")
    return match_qe_tcb(r.isv_svn, qe.tcb_levels, "QE report")


def _check_collateral_kind(quote: Quote, state: _CollateralState) -> None:
    tcb_info, qe_identity = state.tcb_info, state.qe_identity
    if quote.is_tdx:
        if tcb_info.id != "TDX" or tcb_info.version < 3:
            raise VerificationError(
                f"TCB Info id is {tcb_info.id} v{tcb_info.version}. Expect TDX v3 for a TDX quote"
            )
        if qe_identity.id != "TD_QE" or qe_identity.version not in (2, 3):
            raise VerificationError(f"QE Identity id is {qe_identity.id}. Expect TD_QE for a TDX quote")
    else:
        if tcb_info.id != "SGX" or tcb_info.version < 2:
            raise VerificationError(
                f"TCB Info id is {tcb_info.id} v{tcb_info.version}. Expect SGX for an SGX quote"
            )
        if qe_identity.id != "QE" or qe_identity.version != 2:
            raise VerificationError(f"QE Identity id is {qe_identity.id}. Expect QE for an SGX quote")


def verify_quote(raw: bytes, collateral: Collateral | None, options: VerifyOptions) -> VerifiedQuote:
    """Verify ``raw`` with ``collateral`` at ``options.now``.

    Raises ReportFormatError (not a quote), VerificationError (anything that does not hold), and
    CollateralUnavailable when ``collateral`` is None (after checking everything that needs none: both
    signatures, the QE binding and the PCK chain without revocation) or when the quote carries no PCK
    chain. CollateralUnavailable is the fail-open point: the evidence itself was not found bad.
    """
    now = _now(options.now)
    quote = parse_quote(raw)
    _check_header(quote)
    roots = _roots(options.trusted_roots)
    cache = options.cache
    pc = options.parse_cache

    state: _CollateralState | None = None
    if collateral is not None:
        coll = collateral
        state = _cached(
            cache,
            b"C" + coll.fingerprint + roots.fingerprint,
            lambda: _build_collateral_state(coll, roots, pc),
        )
        _check_windows(state.windows, now)
        _check_collateral_kind(quote, state)

    if quote.pck_cert_data_type != CERT_TYPE_PCK_CHAIN:
        raise CollateralUnavailable(
            f"quote PCK certification data type is {quote.pck_cert_data_type}. Expect 5 (PCK chain); "
            "other types need the PCK certificate from a PCS"
        )
    pem = quote.pck_chain_pem
    fp = collateral.fingerprint if collateral is not None else b"-"
    pck = _cached(
        cache,
        b"P" + hashlib.sha256(pem).digest() + fp + roots.fingerprint,
        lambda: _build_pck_state(pem, state, roots, pc),
    )
    _check_windows(pck.windows, now)

    # Per quote, always: QE report signature, binding, quote signature, QE identity, TCB.
    _verify_p256(pck.leaf_key, quote.qe_report_signature, quote.qe_report_raw, "QE report (by the PCK)")
    digest = hashlib.sha256(quote.attestation_key + quote.qe_auth_data).digest()
    rd = quote.qe_report.report_data
    if rd[:32] != digest or any(rd[32:]):
        raise VerificationError(
            f"QE report field REPORT_DATA is {rd.hex()}. Expect SHA-256(attestation key || QE auth data) "
            f"= {digest.hex()} followed by 32 zero bytes (QE report hash mismatch)"
        )
    try:
        ak = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), b"\x04" + quote.attestation_key)
    except ValueError as exc:
        raise VerificationError("quote attestation key is not a P-256 point") from exc
    _verify_p256(ak, quote.signature, quote.signed_region, "quote (ISV enclave report)")

    ext = pck.ext
    if state is None:
        raise CollateralUnavailable(
            "no collateral: the quote and QE report signatures, the QE binding and the PCK chain hold, "
            "but the TCB status needs TCB Info, QE Identity and CRLs for FMSPC "
            f"{ext.fmspc.hex().upper()}"
        )
    tcb_info, qe_identity = state.tcb_info, state.qe_identity
    qe_status = _check_qe_identity(quote, qe_identity)
    if ext.fmspc != tcb_info.fmspc:
        raise VerificationError(
            f"PCK FMSPC is {ext.fmspc.hex().upper()}. "
            f"Expect TCB Info fmspc {tcb_info.fmspc.hex().upper()} (Fmspc mismatch)"
        )
    if ext.pce_id != tcb_info.pce_id:
        raise VerificationError(
            f"PCK PCE-ID is {ext.pce_id.hex()}. Expect TCB Info pceId {tcb_info.pce_id.hex()}"
        )
    body = quote.body
    if isinstance(body, TdReport):
        platform = match_platform_tcb(
            tcb_info,
            cpu_svn_components=ext.tcb_components,
            pce_svn=ext.pce_svn,
            tee_tcb_svn=body.tee_tcb_svn,
            mr_signer_seam=body.mr_signer_seam,
            seam_attributes=body.seam_attributes,
        )
    else:
        platform = match_platform_tcb(
            tcb_info, cpu_svn_components=ext.tcb_components, pce_svn=ext.pce_svn, tee_tcb_svn=None
        )
    final = converge(platform, qe_status)
    if final.status == TcbStatus.REVOKED:
        raise VerificationError("TCB status is Revoked. Expect a TCB level that is not revoked")
    return VerifiedQuote(
        quote=quote,
        status=final.status,
        advisory_ids=final.advisory_ids,
        platform_status=platform,
        qe_status=qe_status,
        fmspc=ext.fmspc,
        pce_id=ext.pce_id,
        ppid=ext.ppid,
        pck=ext,
        pck_ca=pck.ca,
        tcb_eval_data_number=tcb_info.tcb_evaluation_data_number,
        qe_tcb_eval_data_number=qe_identity.tcb_evaluation_data_number,
        tcb_date=platform.tcb_date,
        collateral_issued_at=min(tcb_info.issue_date, qe_identity.issue_date),
        collateral_expires_at=state.expires_at,
        verified_at=now,
    )
