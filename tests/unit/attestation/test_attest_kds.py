"""KDS: URLs, the local double serving the real vectors in KDS wire format, cache and offline mode."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from cryptography.hazmat.primitives.serialization import Encoding
from snp_vectors import SNP_DATA, SNP_VECTORS

from phala_agents.attestation._x509 import load_certificate
from phala_agents.attestation.kds import (
    KDS_BASE_URL,
    FakeKds,
    KdsClient,
    cert_chain_path,
    crl_path,
    vcek_path,
)
from phala_agents.attestation.sev import (
    ChainCache,
    ProductLine,
    TcbVersion,
    VerifyOptions,
    decode_tcb,
    parse_report,
    verify_report,
)
from phala_agents.attestation.trust import CachingGetter, FixedClock, HttpxGetter, OfflineGetter
from phala_agents.errors import CollateralUnavailable

BASE = "https://kds.test"


def test_paths() -> None:
    tcb = TcbVersion(bootloader=4, tee=0, snp=27, microcode=222)
    assert vcek_path(ProductLine.MILAN, bytes([0xAB]) * 64, tcb) == (
        "/vcek/v1/Milan/" + "ab" * 64 + "?blSPL=4&teeSPL=0&snpSPL=27&ucodeSPL=222"
    )
    turin = TcbVersion(fmc=1, bootloader=2, tee=3, snp=4, microcode=5)
    assert vcek_path(ProductLine.TURIN, bytes(range(64)), turin) == (
        "/vcek/v1/Turin/0001020304050607?fmcSPL=1&blSPL=2&teeSPL=3&snpSPL=4&ucodeSPL=5"
    )
    assert cert_chain_path(ProductLine.GENOA, "vlek") == "/vlek/v1/Genoa/cert_chain"
    assert crl_path(ProductLine.MILAN) == "/vcek/v1/Milan/crl"
    assert KDS_BASE_URL.startswith("https://")


def _fake_kds_with_vectors() -> FakeKds:
    kds = FakeKds()
    for vid in ("milan_v5_gcp_bound", "milan_v2_debug", "genoa_v2"):
        vec = SNP_VECTORS[vid]
        report = parse_report(vec.report)
        der = load_certificate(vec.cert).public_bytes(Encoding.DER)
        kds.add_vcek(vec.product, report.chip_id, decode_tcb(report.reported_tcb, vec.product), der)
    kds.add_cert_chain(ProductLine.MILAN, (SNP_DATA / "roots/ask_ark_milan.pem").read_bytes())
    kds.add_cert_chain(ProductLine.MILAN, (SNP_DATA / "roots/ask_ark_milan_vlek.pem").read_bytes(), "vlek")
    kds.add_cert_chain(ProductLine.GENOA, (SNP_DATA / "roots/ask_ark_genoa.pem").read_bytes())
    return kds


def test_fake_kds_wire_format() -> None:
    kds = _fake_kds_with_vectors()
    with httpx.Client(transport=kds.transport(), base_url=BASE) as client:
        chain = client.get("/vcek/v1/Milan/cert_chain")
        assert chain.status_code == 200
        assert chain.headers["content-type"] == "application/x-pem-file"
        assert chain.content.startswith(b"-----BEGIN CERTIFICATE-----")
        assert client.get("/vcek/v1/Rome/cert_chain").status_code == 404
        assert client.post("/vcek/v1/Milan/cert_chain").status_code == 405
        report = parse_report(SNP_VECTORS["milan_v5_gcp_bound"].report)
        path = vcek_path(
            ProductLine.MILAN, report.chip_id, decode_tcb(report.reported_tcb, ProductLine.MILAN)
        )
        vcek = client.get(path)
        assert vcek.headers["content-type"] == "application/octet-stream"
        assert vcek.content[0] == 0x30  # DER SEQUENCE


@pytest.mark.parametrize("vid", ["milan_v5_gcp_bound", "genoa_v2", "milan_v2_debug"])
def test_verify_fetching_from_fake_kds_with_disk_cache(vid: str, tmp_path: Path) -> None:
    vec = SNP_VECTORS[vid]
    kds = _fake_kds_with_vectors()
    getter = CachingGetter(directory=tmp_path, inner=HttpxGetter(transport=kds.transport()))
    options = VerifyOptions(
        kds=KdsClient(getter=getter, base_url=BASE),
        clock=FixedClock(vec.at),
        product=vec.product,  # VERSION 2 reports carry no CPUID
        cache=ChainCache(),
    )
    verify_report(vec.report, options)
    assert len(kds.requests) == 1
    verify_report(vec.report, options)
    assert len(kds.requests) == 1  # served from the disk cache
    offline = VerifyOptions(
        kds=KdsClient(
            getter=CachingGetter(directory=tmp_path, inner=OfflineGetter(), offline=True), base_url=BASE
        ),
        clock=FixedClock(vec.at),
        product=vec.product,
        cache=ChainCache(),
    )
    verify_report(vec.report, offline)


def test_http_errors_are_collateral_unavailable() -> None:
    def boom(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    with pytest.raises(CollateralUnavailable, match="ConnectError"):
        HttpxGetter(transport=httpx.MockTransport(boom)).get(BASE + "/x")
    with pytest.raises(CollateralUnavailable, match="HTTP 404, wanted 200"):
        HttpxGetter(transport=FakeKds().transport()).get(BASE + "/vcek/v1/Milan/crl")
