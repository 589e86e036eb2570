"""Roots (two identical copies, pinned fingerprints), AMD certificate loading, getters and the disk cache."""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import warnings
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.utils import CryptographyDeprecationWarning
from snp_vectors import SNP_DATA, SNP_VECTORS

from phala_agents.attestation._x509 import load_certificate, serial_number, sha256_fingerprint
from phala_agents.attestation.sev import ProductLine, load_endorsement
from phala_agents.attestation.trust import (
    AMD_ARK_SHA256,
    AMD_ASK_SHA256,
    AMD_ASVK_SHA256,
    INTEL_SGX_ROOT_CA_SHA256,
    CachingGetter,
    DictGetter,
    FixedClock,
    OfflineGetter,
    TrustedRoots,
    intel_sgx_root_ca_der,
    root_file,
)
from phala_agents.errors import CollateralUnavailable

REPO = Path(__file__).resolve().parents[3]
REPO_ROOTS = REPO / "attestation" / "roots"
PKG_ROOTS = REPO / "src" / "phala_agents" / "attestation" / "roots"
AMD_CERT_FILES = [
    "milan_v2_debug.vcek.der",
    "milan_v5_gcp_bound.vcek.pem",
    "milan_v3_vlek.vlek.der",
    "genoa_v2.vcek.der",
    "turin_vcek_only.der",
]


def test_repo_and_wheel_copies_are_identical() -> None:
    repo = {p.name: p.read_bytes() for p in REPO_ROOTS.iterdir() if p.is_file()}
    pkg = {p.name: p.read_bytes() for p in PKG_ROOTS.iterdir() if p.is_file()}
    assert repo == pkg
    for name, data in repo.items():
        if name != "README.md":
            assert root_file(name) == data


def test_policy_copies_are_identical() -> None:
    repo = {p.name: p.read_bytes() for p in (REPO / "attestation" / "policies").iterdir()}
    pkg = {p.name: p.read_bytes() for p in (REPO / "src/phala_agents/attestation/policies").iterdir()}
    assert repo == pkg


def test_readme_lists_every_pinned_fingerprint() -> None:
    readme = (REPO_ROOTS / "README.md").read_text()
    for pins in (AMD_ARK_SHA256, AMD_ASK_SHA256, AMD_ASVK_SHA256):
        for digest in pins.values():
            assert digest in readme
    assert INTEL_SGX_ROOT_CA_SHA256 in readme


def test_production_roots_match_pins() -> None:
    roots = TrustedRoots.amd_production()
    assert roots.name == "amd-production"
    for product in ProductLine:
        entry = roots.get(product)
        assert entry.ark_sha256 == AMD_ARK_SHA256[product]
        assert entry.ask is not None and sha256_fingerprint(entry.ask) == AMD_ASK_SHA256[product]
        assert entry.asvk is not None and sha256_fingerprint(entry.asvk) == AMD_ASVK_SHA256[product]


def test_intel_root_is_pinned() -> None:
    der = intel_sgx_root_ca_der()
    assert hashlib.sha256(der).hexdigest() == INTEL_SGX_ROOT_CA_SHA256


@pytest.mark.parametrize("name", AMD_CERT_FILES)
def test_amd_certificates_load_with_warnings_as_errors(name: str) -> None:
    """AMD VCEK/VLEK serial numbers are 0. cryptography 50 warns; a future one may raise. This test
    fails at once if an upgrade makes these certificates unloadable (or changes the warning)."""
    data = (SNP_DATA / name).read_bytes()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        cert = load_certificate(data)  # filters exactly the serial-number warning
        endorsement = load_endorsement(data)
        assert serial_number(cert) == 0
        assert serial_number(endorsement.cert) == 0
        assert endorsement.public_key is not None
    # Unfiltered, cryptography still warns (and does not raise): the filter is still needed and enough.
    with pytest.warns(CryptographyDeprecationWarning, match="serial number which wasn't positive"):
        if data.startswith(b"-----"):
            x509.load_pem_x509_certificate(data)
        else:
            x509.load_der_x509_certificate(data)


def test_dict_and_offline_getters() -> None:
    assert DictGetter({"u": b"x"}).get("u") == b"x"
    with pytest.raises(CollateralUnavailable, match="no collateral at v"):
        DictGetter({}).get("v")
    with pytest.raises(CollateralUnavailable, match="offline"):
        OfflineGetter().get("w")


class _Counting:
    def __init__(self, data: dict[str, bytes]) -> None:
        self.data = data
        self.calls: list[str] = []

    def get(self, url: str) -> bytes:
        self.calls.append(url)
        return DictGetter(self.data).get(url)


def test_caching_getter_caches_and_goes_offline(tmp_path: Path) -> None:
    inner = _Counting({"https://kds.test/a": b"A"})
    online = CachingGetter(directory=tmp_path, inner=inner)
    assert online.get("https://kds.test/a") == b"A"
    assert online.get("https://kds.test/a") == b"A"
    assert inner.calls == ["https://kds.test/a"]
    offline = CachingGetter(directory=tmp_path, offline=True)
    assert offline.get("https://kds.test/a") == b"A"
    with pytest.raises(CollateralUnavailable, match="offline and not cached"):
        offline.get("https://kds.test/b")
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".tmp-")]


def test_caching_getter_max_age(tmp_path: Path) -> None:
    inner = _Counting({"u": b"A"})
    now = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    getter = CachingGetter(directory=tmp_path, inner=inner, max_age=60, clock=FixedClock(now))
    getter.get("u")
    (entry,) = list(tmp_path.iterdir())
    os.utime(entry, (now.timestamp() - 120, now.timestamp() - 120))
    getter.get("u")
    assert len(inner.calls) == 2


def test_fixed_clock_needs_aware_time() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        FixedClock(dt.datetime(2026, 1, 1))


def test_from_pem_needs_an_ark() -> None:
    from phala_agents.errors import VerificationError

    ask_only = SNP_VECTORS["milan_v5_gcp_bound"].chain.split(b"-----END CERTIFICATE-----")[0]
    with pytest.raises(VerificationError, match="no certificate with CN ARK-<product>"):
        TrustedRoots.from_pem("x", [ask_only + b"-----END CERTIFICATE-----\n"])
