"""Trust anchors and collateral fetching shared by every verifier.

* Roots: the AMD ARK/ASK/ASVK bundles and the Intel SGX Root CA ship inside the wheel (copies of
  the repo-root ``attestation/roots/``, provenance in its README). Loading them checks the pinned
  SHA-256 fingerprints below, so a swapped file fails loudly instead of being trusted.
* ``Getter``: the one I/O seam for collateral (go-sev-guest ``verify/trust`` ``HTTPSGetter``).
  ``HttpxGetter`` talks HTTP, ``DictGetter`` serves a dict (tests), ``CachingGetter`` adds a disk
  cache and an offline mode. Every failure to obtain bytes is ``CollateralUnavailable``, the
  fail-open point.
* ``Clock``: the injected notion of "now" used for validity windows.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Protocol

import httpx
from cryptography import x509

from phala_agents.attestation._amd import ProductLine
from phala_agents.attestation._x509 import common_name, load_pem_certificates, sha256_fingerprint
from phala_agents.errors import CollateralUnavailable, VerificationError

# SHA-256 over the DER of each pinned certificate (attestation/roots/README.md).
AMD_ARK_SHA256: Mapping[ProductLine, str] = {
    ProductLine.MILAN: "69d063b45344d26a2e94e1f4210de49ef555308287d4c174445c95639a540bcd",
    ProductLine.GENOA: "4c6598d19c18719c5dfd4a7d335f674e5bfe1d8f800cea2cf270c10d103db2f1",
    ProductLine.TURIN: "1f084161a44bb6d93778a904877d4819cafa5d05ef4193b2ded9dd9c73dd3f6a",
}
AMD_ASK_SHA256: Mapping[ProductLine, str] = {
    ProductLine.MILAN: "67d303bd3905fd38db8b20e0793699870e7fa612eaad5dec358293fd8c0bac1b",
    ProductLine.GENOA: "5464738c1546aed5f2cecf1dc98c5c960a92e8913238a61711bc90ec6e828521",
    ProductLine.TURIN: "5b77ef5fe7a7a004fd9032668fba9d0fda22f88c4442069a479636a6ae3b3185",
}
AMD_ASVK_SHA256: Mapping[ProductLine, str] = {
    ProductLine.MILAN: "c5e081f59b7efab1fe2f8b505e159704e72f29cab7ef7cf628a05a42439082f5",
    ProductLine.GENOA: "197e610743a917d6b9bb982a5a9226ccc0a15b611be0619e626aca9151457372",
    ProductLine.TURIN: "104e10a8bd060a3c20a434261a57d0588fd65a88915b4f65b08bdecaf8df1a3c",
}
INTEL_SGX_ROOT_CA_SHA256 = "44a0196b2b99f889b8e149e95b807a350e7424964399e885a7cbb8ccfab674d3"

AMD_ROOT_FILES: Mapping[ProductLine, tuple[str, str]] = {
    ProductLine.MILAN: ("ask_ark_milan.pem", "ask_ark_milan_vlek.pem"),
    ProductLine.GENOA: ("ask_ark_genoa.pem", "ask_ark_genoa_vlek.pem"),
    ProductLine.TURIN: ("ask_ark_turin_vcek.pem", "ask_ark_turin_vlek.pem"),
}
INTEL_ROOT_FILE = "intel_sgx_root_ca.der"
PRODUCTION = "amd-production"


def root_file(name: str) -> bytes:
    """The bytes of a file shipped in ``phala_agents/attestation/roots/``."""
    return (resources.files("phala_agents.attestation") / "roots" / name).read_bytes()


def intel_sgx_root_ca_der() -> bytes:
    """The Intel SGX Root CA (DER), checked against its pinned SHA-256."""
    data = root_file(INTEL_ROOT_FILE)
    found = hashlib.sha256(data).hexdigest()
    if found != INTEL_SGX_ROOT_CA_SHA256:
        raise VerificationError(
            f"Intel SGX Root CA: SHA-256 is {found}, wanted the pinned {INTEL_SGX_ROOT_CA_SHA256}"
        )
    return data


# --- AMD roots ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class ProductRoots:
    """The trusted ARK of one product line and, when known, its ASK (VCEK) and ASVK (VLEK)."""

    product: ProductLine
    ark: x509.Certificate
    ask: x509.Certificate | None = None
    asvk: x509.Certificate | None = None
    # SHA-256 over each DER, computed once here (the verifier's chain cache is keyed by them).
    ark_sha256: str = field(default="", init=False)
    ask_sha256: str | None = field(default=None, init=False)
    asvk_sha256: str | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "ark_sha256", sha256_fingerprint(self.ark))
        if self.ask is not None:
            object.__setattr__(self, "ask_sha256", sha256_fingerprint(self.ask))
        if self.asvk is not None:
            object.__setattr__(self, "asvk_sha256", sha256_fingerprint(self.asvk))


@dataclass(frozen=True, slots=True, kw_only=True)
class TrustedRoots:
    """A named set of trusted AMD roots, one entry per product line.

    ``TrustedRoots.amd_production()`` is AMD's (pinned); a simulated TEE's hierarchy is only
    accepted by a set built from its own roots, named e.g. ``"dev-simulated"``.
    """

    name: str
    products: Mapping[ProductLine, ProductRoots]

    @classmethod
    def amd_production(cls) -> TrustedRoots:
        return _amd_production()

    @classmethod
    def from_pem(cls, name: str, bundles: list[bytes]) -> TrustedRoots:
        """Build a set from PEM bundles (KDS ``cert_chain`` shape: ASK/ASVK then ARK).

        Each ARK must be self-named ``ARK-<product>``; the intermediates are sorted by CN
        (``SEV-<product>`` is an ASK, ``SEV-VLEK-<product>`` an ASVK).
        """
        certs = [c for bundle in bundles for c in load_pem_certificates(bundle, what="trusted roots")]
        arks: dict[ProductLine, x509.Certificate] = {}
        asks: dict[ProductLine, x509.Certificate] = {}
        asvks: dict[ProductLine, x509.Certificate] = {}
        for cert in certs:
            cn = common_name(cert.subject)
            for product in ProductLine:
                if cn == f"ARK-{product}":
                    arks[product] = cert
                elif cn == f"SEV-{product}":
                    asks[product] = cert
                elif cn == f"SEV-VLEK-{product}":
                    asvks[product] = cert
        if not arks:
            raise VerificationError(f"trusted roots {name!r}: no certificate with CN ARK-<product>")
        return cls(
            name=name,
            products={
                p: ProductRoots(product=p, ark=ark, ask=asks.get(p), asvk=asvks.get(p))
                for p, ark in arks.items()
            },
        )

    def get(self, product: ProductLine) -> ProductRoots:
        try:
            return self.products[product]
        except KeyError:
            raise VerificationError(
                f"no trusted ARK for product {product} in trust set {self.name!r}"
            ) from None


@cache
def _amd_production() -> TrustedRoots:
    bundles = [root_file(f) for pair in AMD_ROOT_FILES.values() for f in pair]
    roots = TrustedRoots.from_pem(PRODUCTION, bundles)
    for product, entry in roots.products.items():
        for what, cert, pinned in (
            ("ARK", entry.ark, AMD_ARK_SHA256[product]),
            ("ASK", entry.ask, AMD_ASK_SHA256[product]),
            ("ASVK", entry.asvk, AMD_ASVK_SHA256[product]),
        ):
            found = sha256_fingerprint(cert) if cert is not None else "missing"
            if found != pinned:
                raise VerificationError(
                    f"embedded {what}-{product}: SHA-256 is {found}, wanted the pinned {pinned}"
                )
    return roots


# --- time ---------------------------------------------------------------------------------------


class Clock(Protocol):
    """Where "now" comes from (go-sev-guest ``verify.Options.Now``); always timezone-aware UTC."""

    def now(self) -> dt.datetime: ...


@dataclass(frozen=True, slots=True)
class SystemClock:
    def now(self) -> dt.datetime:
        return dt.datetime.now(dt.UTC)


@dataclass(frozen=True, slots=True)
class FixedClock:
    """A pinned time, for tests and ``--at``."""

    at: dt.datetime

    def __post_init__(self) -> None:
        if self.at.tzinfo is None:
            raise ValueError("FixedClock needs a timezone-aware datetime")

    def now(self) -> dt.datetime:
        return self.at


# --- getters ----------------------------------------------------------------------------------


class Getter(Protocol):
    """Fetch the bytes at ``url``; raise ``CollateralUnavailable`` when they cannot be had."""

    def get(self, url: str) -> bytes: ...


@dataclass(frozen=True, slots=True)
class DictGetter:
    """Serves a fixed ``{url: bytes}`` map (go-sev-guest ``testing/mocks.go`` ``SimpleGetter``)."""

    responses: Mapping[str, bytes]

    def get(self, url: str) -> bytes:
        try:
            return self.responses[url]
        except KeyError:
            raise CollateralUnavailable(f"no collateral at {url}") from None


@dataclass(frozen=True, slots=True)
class OfflineGetter:
    """Fetches nothing: every lookup is ``CollateralUnavailable``."""

    def get(self, url: str) -> bytes:
        raise CollateralUnavailable(f"offline: not fetching {url}")


@dataclass(frozen=True, slots=True, kw_only=True)
class HttpxGetter:
    """HTTP(S) GET through httpx; pass ``transport`` (e.g. ``httpx.MockTransport``) in tests."""

    transport: httpx.BaseTransport | None = None
    timeout: float = 10.0

    def get(self, url: str) -> bytes:
        try:
            with httpx.Client(transport=self.transport, timeout=self.timeout) as client:
                response = client.get(url)
        except httpx.HTTPError as exc:
            raise CollateralUnavailable(f"GET {url} failed: {type(exc).__name__}: {exc}") from exc
        if response.status_code != 200:
            raise CollateralUnavailable(f"GET {url}: HTTP {response.status_code}, wanted 200")
        return response.content


@dataclass(frozen=True, slots=True, kw_only=True)
class CachingGetter:
    """A disk cache in front of another getter; ``offline=True`` serves only what is cached.

    Entries are files named by SHA-256 of the URL. ``max_age`` (seconds, judged by the file's
    mtime against ``clock``) bounds how old an entry may be; CRLs want a bound, VCEKs (fixed per
    chip and TCB) do not.
    """

    directory: Path
    inner: Getter = field(default_factory=OfflineGetter)
    offline: bool = False
    max_age: float | None = None
    clock: Clock = field(default_factory=SystemClock)

    def _path(self, url: str) -> Path:
        return self.directory / hashlib.sha256(url.encode()).hexdigest()

    def get(self, url: str) -> bytes:
        path = self._path(url)
        try:
            stat = path.stat()
        except FileNotFoundError:
            stat = None
        if stat is not None and (
            self.max_age is None or self.clock.now().timestamp() - stat.st_mtime <= self.max_age
        ):
            return path.read_bytes()
        if self.offline:
            raise CollateralUnavailable(f"offline and not cached: {url}")
        data = self.inner.get(url)
        self.directory.mkdir(parents=True, exist_ok=True)
        # Write then rename, so a concurrent reader never sees half a file.
        fd, tmp = tempfile.mkstemp(dir=self.directory, prefix=".tmp-")
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        Path(tmp).replace(path)
        return data
