"""PcsClient against PcsTestDouble (httpx.MockTransport, no sockets): wire format, byte-exact signed
JSON, disk cache, offline mode, failures as CollateralUnavailable."""

from __future__ import annotations

import json
import urllib.parse
from pathlib import Path

import httpx
import pytest
from tdx_helpers import T_SGX, T_V4, vector_collateral, vector_quote

from phala_agents.attestation.tdx import TcbStatus, VerifyOptions, verify_quote
from phala_agents.attestation.tdx.collateral import collateral_to_json, load_collateral, raw_json_member
from phala_agents.attestation.tdx.pcs import PcsClient, PcsTestDouble, quote_fmspc_and_ca
from phala_agents.errors import CollateralUnavailable

BASE = "https://pccs.test"
TDX = "tdx/tdx_v4_uptodate"
SGX = "sgx/sgx_v3_cswhn"


@pytest.fixture
def double() -> PcsTestDouble:
    d = PcsTestDouble()
    d.add(vector_collateral(TDX), fmspc=bytes.fromhex("B0C06F000000"), tdx=True, ca="platform")
    d.add(vector_collateral(SGX), fmspc=bytes.fromhex("00A067110000"), tdx=False, ca="processor")
    return d


def test_wire_format(double: PcsTestDouble) -> None:
    with httpx.Client(transport=double.transport()) as http:
        r = http.get(f"{BASE}/tdx/certification/v4/tcb?fmspc=B0C06F000000")
        assert r.status_code == 200
        chain = urllib.parse.unquote(r.headers["TCB-Info-Issuer-Chain"])
        assert chain.startswith("-----BEGIN CERTIFICATE-----")
        # The signed member is the exact collateral text, not a re-serialization.
        assert raw_json_member(r.content, "tcbInfo").encode() == vector_collateral(TDX).tcb_info
        assert len(json.loads(r.content)["signature"]) == 128
        r = http.get(f"{BASE}/sgx/certification/v4/pckcrl?ca=processor&encoding=der")
        assert r.content == vector_collateral(SGX).pck_crl
        assert "SGX-PCK-CRL-Issuer-Chain" in r.headers
        r = http.get(f"{BASE}/tdx/certification/v4/qe/identity")
        assert "SGX-Enclave-Identity-Issuer-Chain" in r.headers
        assert raw_json_member(r.content, "enclaveIdentity").encode() == vector_collateral(TDX).qe_identity
        assert http.get(f"{BASE}/tdx/certification/v4/tcb?fmspc=000000000000").status_code == 404
        assert http.get(f"{BASE}/nope").status_code == 404


@pytest.mark.parametrize(("stem", "now"), [(TDX, T_V4), (SGX, T_SGX)])
def test_fetch_verify_and_cache(double: PcsTestDouble, tmp_path: Path, stem: str, now: int) -> None:
    raw = vector_quote(stem)
    with PcsClient(base_url=BASE, transport=double.transport(), cache_dir=tmp_path, clock=now) as client:
        coll = client.collateral_for_quote(raw)
    assert coll == vector_collateral(stem)
    assert coll.fingerprint == vector_collateral(stem).fingerprint
    assert verify_quote(raw, coll, VerifyOptions(now=now, cache=None)).status in set(TcbStatus)
    assert len(double.requests) == 4
    assert any(p.startswith("/sgx/certification/v4/rootcacrl") for p in double.requests)
    # Offline: served from the disk cache, no request.
    offline = PcsClient(base_url=BASE, transport=double.transport(), cache_dir=tmp_path, offline=True)
    assert offline.collateral_for_quote(raw) == coll
    assert len(double.requests) == 4
    # Online with a fresh cache entry: no request either.
    PcsClient(
        base_url=BASE, transport=double.transport(), cache_dir=tmp_path, clock=now
    ).collateral_for_quote(raw)
    assert len(double.requests) == 4
    # Past nextUpdate: refetched.
    PcsClient(
        base_url=BASE, transport=double.transport(), cache_dir=tmp_path, clock=now + 40 * 86400
    ).collateral_for_quote(raw)
    assert len(double.requests) == 8


def test_offline_without_cache(tmp_path: Path) -> None:
    client = PcsClient(base_url=BASE, cache_dir=tmp_path, offline=True)
    with pytest.raises(CollateralUnavailable, match="offline"):
        client.collateral_for_quote(vector_quote(TDX))


def test_tappd_quote_has_no_collateral(tmp_path: Path) -> None:
    text = (Path(__file__).resolve().parents[3] / "data" / "tdx" / "tdx_v4_tappd_a.quote.hex").read_text()
    raw = bytes.fromhex(text.strip().removeprefix("0x"))
    with pytest.raises(CollateralUnavailable):
        PcsClient(base_url=BASE, cache_dir=tmp_path, offline=True).collateral_for_quote(raw)


@pytest.mark.parametrize("status", [404, 500, 503])
def test_http_errors_are_collateral_unavailable(double: PcsTestDouble, status: int) -> None:
    double.fail_with = status
    with pytest.raises(CollateralUnavailable, match=f"HTTP {status}"):
        PcsClient(base_url=BASE, transport=double.transport()).collateral_for_quote(vector_quote(TDX))


def test_transport_error_is_collateral_unavailable() -> None:
    def boom(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    with pytest.raises(CollateralUnavailable, match="ConnectError"):
        PcsClient(base_url=BASE, transport=httpx.MockTransport(boom)).collateral_for_quote(vector_quote(TDX))


def test_der_root_crl_and_missing_header(double: PcsTestDouble) -> None:
    double.hex_root_crl = False
    coll = PcsClient(base_url=BASE, transport=double.transport(), clock=T_V4).collateral_for_quote(
        vector_quote(TDX)
    )
    assert coll.root_ca_crl == vector_collateral(TDX).root_ca_crl

    def no_headers(request: httpx.Request) -> httpx.Response:
        resp = double.handle(request)
        return httpx.Response(resp.status_code, content=resp.content)

    with pytest.raises(CollateralUnavailable, match="lacks header SGX-PCK-CRL-Issuer-Chain"):
        PcsClient(base_url=BASE, transport=httpx.MockTransport(no_headers)).collateral_for_quote(
            vector_quote(TDX)
        )


def test_quote_fmspc_and_ca() -> None:
    assert quote_fmspc_and_ca(vector_quote(TDX)) == (bytes.fromhex("B0C06F000000"), "platform")
    assert quote_fmspc_and_ca(vector_quote(SGX)) == (bytes.fromhex("00A067110000"), "processor")


def test_raw_json_member_keeps_bytes() -> None:
    body = '{ "a" : [1, {"b": "}"}] ,\n "tcbInfo":{"x": 1.50,"y":"\\u00e9"} , "signature":"00"}'
    assert raw_json_member(body, "tcbInfo") == '{"x": 1.50,"y":"\\u00e9"}'
    assert raw_json_member(body.encode(), "a") == '[1, {"b": "}"}]'
    with pytest.raises(ValueError, match="no member"):
        raw_json_member(body, "enclaveIdentity")
    with pytest.raises(ValueError, match="not a JSON object"):
        raw_json_member("[1]", "a")


def test_collateral_json_round_trip() -> None:
    c = vector_collateral(TDX)
    assert load_collateral(collateral_to_json(c)) == c
    with pytest.raises(CollateralUnavailable, match="root_ca_crl is not hex"):
        load_collateral(json.dumps({**json.loads(collateral_to_json(c)), "root_ca_crl": "zz"}))
    with pytest.raises(CollateralUnavailable, match="not valid JSON"):
        load_collateral("{")
    with pytest.raises(CollateralUnavailable, match="tcb_info is NoneType"):
        load_collateral(json.dumps({**json.loads(collateral_to_json(c)), "tcb_info": None}))


def test_cache_refetches_when_the_pck_crl_expires(double: PcsTestDouble, tmp_path: Path) -> None:
    # The v4 PCK CRL ends at 1752919235, 16 minutes before TCB Info: a cache entry is stale from then.
    raw = vector_quote(TDX)
    PcsClient(
        base_url=BASE, transport=double.transport(), cache_dir=tmp_path, clock=T_V4
    ).collateral_for_quote(raw)
    PcsClient(
        base_url=BASE, transport=double.transport(), cache_dir=tmp_path, clock=T_V4
    ).collateral_for_quote(raw)
    assert len(double.requests) == 4
    PcsClient(
        base_url=BASE, transport=double.transport(), cache_dir=tmp_path, clock=T_V4 + 1
    ).collateral_for_quote(raw)
    assert len(double.requests) == 8
