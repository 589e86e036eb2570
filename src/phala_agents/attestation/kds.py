"""AMD Key Distribution Service (KDS): URLs, a client over a ``Getter``, and a local double.

Wire format (AMD "VCEK certificate and KDS interface specification"):

* ``GET /vcek/v1/{product}/{hwid}?blSPL=..&teeSPL=..&snpSPL=..&ucodeSPL=..`` -> VCEK, DER.
  Turin adds ``fmcSPL`` and its hwid is the first 8 bytes of CHIP_ID.
* ``GET /vcek/v1/{product}/cert_chain`` and ``/vlek/v1/{product}/cert_chain`` -> PEM, the ASK
  (or ASVK) then the ARK.
* ``GET /vcek/v1/{product}/crl`` and ``/vlek/v1/{product}/crl`` -> the ARK-signed CRL, DER.

VLEK certificates are not served by chip: they come with the report (extended report cert table).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

import httpx

from phala_agents.attestation._amd import ProductLine, TcbVersion
from phala_agents.attestation.trust import Getter

KDS_BASE_URL = "https://kdsintf.amd.com"

KeyKind = Literal["vcek", "vlek"]

CONTENT_TYPES: Mapping[str, str] = {
    "der": "application/octet-stream",
    "pem": "application/x-pem-file",
    "crl": "application/pkix-crl",
}


def hwid_for(product: ProductLine, chip_id: bytes) -> bytes:
    """The hwid KDS indexes VCEKs by: CHIP_ID, truncated to 8 bytes on Turin."""
    return chip_id[:8] if product is ProductLine.TURIN else chip_id


def vcek_path(product: ProductLine, chip_id: bytes, tcb: TcbVersion) -> str:
    query = f"blSPL={tcb.bootloader}&teeSPL={tcb.tee}&snpSPL={tcb.snp}&ucodeSPL={tcb.microcode}"
    if product is ProductLine.TURIN:
        query = f"fmcSPL={tcb.fmc or 0}&" + query
    return f"/vcek/v1/{product}/{hwid_for(product, chip_id).hex()}?{query}"


def cert_chain_path(product: ProductLine, key: KeyKind = "vcek") -> str:
    return f"/{key}/v1/{product}/cert_chain"


def crl_path(product: ProductLine, key: KeyKind = "vcek") -> str:
    return f"/{key}/v1/{product}/crl"


@dataclass(frozen=True, slots=True, kw_only=True)
class KdsClient:
    """Fetches SNP collateral through ``getter`` (wrap it in ``CachingGetter`` for a disk cache)."""

    getter: Getter
    base_url: str = KDS_BASE_URL

    def vcek(self, product: ProductLine, chip_id: bytes, tcb: TcbVersion) -> bytes:
        return self.getter.get(self.base_url + vcek_path(product, chip_id, tcb))

    def cert_chain(self, product: ProductLine, key: KeyKind = "vcek") -> bytes:
        return self.getter.get(self.base_url + cert_chain_path(product, key))

    def crl(self, product: ProductLine, key: KeyKind = "vcek") -> bytes:
        return self.getter.get(self.base_url + crl_path(product, key))


@dataclass(slots=True)
class FakeKds:
    """A local KDS double serving real wire-format bytes, as an ``httpx.MockTransport``.

    Fill it with ``add_vcek``/``add_cert_chain``/``add_crl``; unknown paths answer 404 like KDS.
    ``requests`` counts the paths asked for, so tests can see the cache at work.
    """

    files: dict[str, tuple[bytes, str]] = field(default_factory=dict)
    requests: list[str] = field(default_factory=list)

    def add_vcek(self, product: ProductLine, chip_id: bytes, tcb: TcbVersion, der: bytes) -> None:
        self.files[vcek_path(product, chip_id, tcb)] = (der, CONTENT_TYPES["der"])

    def add_cert_chain(self, product: ProductLine, pem: bytes, key: KeyKind = "vcek") -> None:
        self.files[cert_chain_path(product, key)] = (pem, CONTENT_TYPES["pem"])

    def add_crl(self, product: ProductLine, der: bytes, key: KeyKind = "vcek") -> None:
        self.files[crl_path(product, key)] = (der, CONTENT_TYPES["crl"])

    def _handle(self, request: httpx.Request) -> httpx.Response:
        path = request.url.raw_path.decode()
        self.requests.append(path)
        if request.method != "GET":
            return httpx.Response(405)
        found = self.files.get(path)
        if found is None:
            return httpx.Response(404, text="Not Found")
        body, content_type = found
        return httpx.Response(200, content=body, headers={"content-type": content_type})

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self._handle)
