"""Collateral from Intel PCS or a PCCS (API v4) over httpx, with a disk cache and an offline mode,
plus ``PcsTestDouble``: a local stand-in that serves collateral in the real wire format.

Wire format (Intel PCS API v4; PCCS serves the same paths):

* ``GET {base}/sgx/certification/v4/pckcrl?ca=platform|processor&encoding=der``: the DER CRL, issuer
  chain in header ``SGX-PCK-CRL-Issuer-Chain`` (URL-encoded PEM);
* ``GET {base}/{sgx|tdx}/certification/v4/tcb?fmspc=HEX``: ``{"tcbInfo":{...},"signature":"hex"}``,
  issuer chain in ``TCB-Info-Issuer-Chain`` (``SGX-TCB-Info-Issuer-Chain`` for older SGX servers);
* ``GET {base}/{sgx|tdx}/certification/v4/qe/identity``: ``{"enclaveIdentity":{...},"signature":...}``,
  issuer chain in ``SGX-Enclave-Identity-Issuer-Chain``;
* ``GET {base}/sgx/certification/v4/rootcacrl``: the Root CA CRL (PCCS sends it hex-encoded; Intel PCS
  publishes it at the root certificate's CRL distribution point, which ``root_ca_crl_url`` can name).

The signed ``tcbInfo`` / ``enclaveIdentity`` values are kept as the exact substrings of the body.
Every failure to obtain collateral is ``CollateralUnavailable`` (the fail-open point): a caller can
tell "could not check" from "checked and bad".
"""

from __future__ import annotations

import json
import os
import tempfile
import time
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import structlog
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from phala_agents.attestation.tdx.abi import Quote, parse_quote
from phala_agents.attestation.tdx.collateral import (
    Collateral,
    collateral_to_json,
    load_collateral,
    raw_json_member,
)
from phala_agents.attestation.tdx.pckext import find_sgx_extension, parse_pck_extension
from phala_agents.attestation.tdx.tcb import parse_time
from phala_agents.errors import CollateralUnavailable, VerificationError

__all__ = ["INTEL_PCS_URL", "PcsClient", "PcsTestDouble", "quote_fmspc_and_ca"]

INTEL_PCS_URL = "https://api.trustedservices.intel.com"
_V4 = "certification/v4"
_log = structlog.get_logger()


def quote_fmspc_and_ca(quote: Quote | bytes) -> tuple[bytes, str]:
    """FMSPC and PCK CA kind ("platform" / "processor") from the PCK chain inside a quote."""
    q = parse_quote(quote) if isinstance(quote, bytes) else quote
    try:
        certs = x509.load_pem_x509_certificates(q.pck_chain_pem)
    except ValueError as exc:
        raise VerificationError("quote PCK certificate chain is not PEM") from exc
    if len(certs) < 2:
        raise VerificationError("quote PCK certificate chain has no PCK CA")
    ext = parse_pck_extension(find_sgx_extension(certs[0].tbs_certificate_bytes))
    tbs = certs[1].tbs_certificate_bytes
    ca = "processor" if b"PCK Processor CA" in tbs else "platform"
    return ext.fmspc, ca


def _cache_name(tdx: bool, fmspc: bytes, ca: str) -> str:
    return f"{'tdx' if tdx else 'sgx'}-{fmspc.hex().upper()}-{ca}.json"


def _next_updates(c: Collateral) -> int:
    """The earliest nextUpdate of TCB Info, QE Identity and both CRLs (0 when unreadable: refetch).

    The PCK CRL usually expires minutes before the JSON documents, so it has to count.
    """
    out = []
    try:
        for doc in (c.tcb_info, c.qe_identity):
            out.append(parse_time(json.loads(doc).get("nextUpdate"), "nextUpdate"))
        for der in (c.pck_crl, c.root_ca_crl):
            nxt = x509.load_der_x509_crl(der).next_update_utc
            if nxt is None:
                return 0
            out.append(int(nxt.timestamp()))
    except (ValueError, AttributeError, VerificationError):
        return 0
    return min(out)


@dataclass(slots=True, kw_only=True)
class PcsClient:
    """Fetch DCAP collateral. ``offline=True`` reads only ``cache_dir``; nothing goes to the network.

    ``transport`` lets tests (and ``PcsTestDouble``) stand in for the network. ``clock`` is unix seconds.
    """

    base_url: str = INTEL_PCS_URL
    cache_dir: Path | None = None
    offline: bool = False
    transport: httpx.BaseTransport | None = None
    timeout: float = 30.0
    root_ca_crl_url: str | None = None
    clock: float | None = None
    _client: httpx.Client | None = field(default=None, init=False, repr=False)

    def _http(self) -> httpx.Client:
        if self._client is None:
            self._client = httpx.Client(transport=self.transport, timeout=self.timeout, follow_redirects=True)
        return self._client

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    def __enter__(self) -> PcsClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- public API ---------------------------------------------------------------------------

    def collateral_for_quote(self, quote: Quote | bytes) -> Collateral:
        """Collateral for a quote: FMSPC and CA from its PCK chain, TEE from its body."""
        q = parse_quote(quote) if isinstance(quote, bytes) else quote
        fmspc, ca = quote_fmspc_and_ca(q)
        return self.get_collateral(fmspc=fmspc, tdx=q.is_tdx, ca=ca)

    def get_collateral(self, *, fmspc: bytes, tdx: bool, ca: str = "platform") -> Collateral:
        if ca not in ("platform", "processor"):
            raise ValueError("ca must be 'platform' or 'processor'")
        if len(fmspc) != 6:
            raise ValueError("fmspc must be 6 bytes")
        cached = self._read_cache(tdx, fmspc, ca)
        now = self.clock if self.clock is not None else time.time()
        if cached is not None and (self.offline or now < _next_updates(cached)):
            return cached
        if self.offline:
            raise CollateralUnavailable(
                f"offline, and no cached collateral for {'TDX' if tdx else 'SGX'} "
                f"FMSPC {fmspc.hex().upper()} ({ca})"
            )
        coll = self._fetch(tdx=tdx, fmspc=fmspc, ca=ca)
        self._write_cache(tdx, fmspc, ca, coll)
        return coll

    # --- network --------------------------------------------------------------------------------

    def _get(self, url: str) -> httpx.Response:
        try:
            resp = self._http().get(url)
        except httpx.HTTPError as exc:
            raise CollateralUnavailable(f"collateral request failed: {type(exc).__name__} for {url}") from exc
        if resp.status_code != 200:
            raise CollateralUnavailable(
                f"collateral request {url} answered HTTP {resp.status_code}. Expect 200"
            )
        return resp

    @staticmethod
    def _chain(resp: httpx.Response, *names: str) -> bytes:
        for name in names:
            value = resp.headers.get(name)
            if value:
                return urllib.parse.unquote(value).encode()
        raise CollateralUnavailable(f"collateral response lacks header {names[0]}")

    def _fetch(self, *, tdx: bool, fmspc: bytes, ca: str) -> Collateral:
        base = self.base_url.rstrip("/")
        tee = "tdx" if tdx else "sgx"
        crl = self._get(f"{base}/sgx/{_V4}/pckcrl?ca={ca}&encoding=der")
        tcb = self._get(f"{base}/{tee}/{_V4}/tcb?fmspc={fmspc.hex().upper()}")
        qe = self._get(f"{base}/{tee}/{_V4}/qe/identity")
        root = self._get(self.root_ca_crl_url or f"{base}/sgx/{_V4}/rootcacrl")
        try:
            tcb_info = raw_json_member(tcb.content, "tcbInfo")
            tcb_sig = bytes.fromhex(json.loads(tcb.content)["signature"])
            qe_identity = raw_json_member(qe.content, "enclaveIdentity")
            qe_sig = bytes.fromhex(json.loads(qe.content)["signature"])
        except (ValueError, KeyError, TypeError, UnicodeDecodeError) as exc:
            raise CollateralUnavailable("collateral response is not the PCS JSON format") from exc
        _log.debug("pcs_collateral_fetched", tee=tee, fmspc=fmspc.hex().upper(), ca=ca)
        return Collateral(
            pck_crl_issuer_chain=self._chain(crl, "SGX-PCK-CRL-Issuer-Chain"),
            root_ca_crl=_crl_bytes(root.content),
            pck_crl=_crl_bytes(crl.content),
            tcb_info_issuer_chain=self._chain(tcb, "TCB-Info-Issuer-Chain", "SGX-TCB-Info-Issuer-Chain"),
            tcb_info=tcb_info.encode(),
            tcb_info_signature=tcb_sig,
            qe_identity_issuer_chain=self._chain(qe, "SGX-Enclave-Identity-Issuer-Chain"),
            qe_identity=qe_identity.encode(),
            qe_identity_signature=qe_sig,
        )

    # --- disk cache -----------------------------------------------------------------------------

    def _read_cache(self, tdx: bool, fmspc: bytes, ca: str) -> Collateral | None:
        if self.cache_dir is None:
            return None
        path = self.cache_dir / _cache_name(tdx, fmspc, ca)
        try:
            return load_collateral(path.read_text())
        except FileNotFoundError:
            return None
        except (OSError, CollateralUnavailable):
            _log.warning("pcs_cache_unreadable", file=path.name)
            return None

    def _write_cache(self, tdx: bool, fmspc: bytes, ca: str, coll: Collateral) -> None:
        if self.cache_dir is None:
            return
        self.cache_dir.mkdir(parents=True, exist_ok=True)
        path = self.cache_dir / _cache_name(tdx, fmspc, ca)
        # Write-then-rename so a reader never sees half a file.
        fd, tmp = tempfile.mkstemp(dir=self.cache_dir, prefix=".tmp-", suffix=".json")
        try:
            with os.fdopen(fd, "w") as f:
                f.write(collateral_to_json(coll))
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise


def _crl_bytes(body: bytes) -> bytes:
    """A CRL body as DER: PCS sends DER, PCCS sends hex text, some servers PEM."""
    data = body.strip()
    if data[:1] == b"\x30":
        return body
    if data.startswith(b"-----BEGIN"):
        try:
            crl = x509.load_pem_x509_crl(data)
        except ValueError as exc:
            raise CollateralUnavailable("CRL response is not a PEM CRL") from exc
        return crl.public_bytes(Encoding.DER)
    try:
        return bytes.fromhex(data.decode())
    except (ValueError, UnicodeDecodeError) as exc:
        raise CollateralUnavailable("CRL response is neither DER, PEM nor hex") from exc


@dataclass(slots=True)
class PcsTestDouble:
    """Serves collateral as PCS/PCCS API v4 does, byte-exact, for ``httpx.MockTransport``.

    ``add`` registers a ``Collateral`` under its TEE, FMSPC and CA; ``requests`` records the paths asked.
    ``hex_root_crl`` mimics PCCS (hex text); otherwise the Root CA CRL is DER.
    """

    hex_root_crl: bool = True
    requests: list[str] = field(default_factory=list)
    _entries: dict[tuple[str, str, str], Collateral] = field(default_factory=dict)
    fail_with: int | None = None

    def add(self, collateral: Collateral, *, fmspc: bytes, tdx: bool, ca: str = "platform") -> None:
        self._entries[("tdx" if tdx else "sgx", fmspc.hex().upper(), ca)] = collateral

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self.handle)

    def _any(self, **match: str) -> Collateral | None:
        for (tee, fmspc, ca), coll in self._entries.items():
            key = {"tee": tee, "fmspc": fmspc, "ca": ca}
            if all(key[k] == v for k, v in match.items()):
                return coll
        return None

    def handle(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        self.requests.append(path + (f"?{request.url.query.decode()}" if request.url.query else ""))
        if self.fail_with is not None:
            return httpx.Response(self.fail_with)
        q = dict(urllib.parse.parse_qsl(request.url.query.decode()))
        parts = path.strip("/").split("/")
        if len(parts) < 4 or parts[1:3] != ["certification", "v4"]:
            return httpx.Response(404)
        tee, what = parts[0], "/".join(parts[3:])
        if what == "pckcrl":
            c = self._any(ca=q.get("ca", ""))
            if c is None:
                return httpx.Response(404)
            return httpx.Response(
                200,
                content=c.pck_crl,
                headers={"SGX-PCK-CRL-Issuer-Chain": urllib.parse.quote(c.pck_crl_issuer_chain.decode())},
            )
        if what == "tcb":
            c = self._any(tee=tee, fmspc=q.get("fmspc", "").upper())
            if c is None:
                return httpx.Response(404)
            body = (
                b'{"tcbInfo":' + c.tcb_info + b',"signature":"' + c.tcb_info_signature.hex().encode() + b'"}'
            )
            return httpx.Response(
                200,
                content=body,
                headers={
                    "TCB-Info-Issuer-Chain": urllib.parse.quote(c.tcb_info_issuer_chain.decode()),
                    "Content-Type": "application/json",
                },
            )
        if what == "qe/identity":
            c = self._any(tee=tee)
            if c is None:
                return httpx.Response(404)
            body = (
                b'{"enclaveIdentity":'
                + c.qe_identity
                + b',"signature":"'
                + c.qe_identity_signature.hex().encode()
                + b'"}'
            )
            return httpx.Response(
                200,
                content=body,
                headers={
                    "SGX-Enclave-Identity-Issuer-Chain": urllib.parse.quote(
                        c.qe_identity_issuer_chain.decode()
                    ),
                    "Content-Type": "application/json",
                },
            )
        if what == "rootcacrl":
            c = self._any()
            if c is None:
                return httpx.Response(404)
            return httpx.Response(
                200, content=c.root_ca_crl.hex().encode() if self.hex_root_crl else c.root_ca_crl
            )
        return httpx.Response(404)
