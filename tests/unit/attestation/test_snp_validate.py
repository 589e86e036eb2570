"""validate_report: one failing case per policy check, all violations at once, policy files."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from pathlib import Path

import pytest
from snp_vectors import SNP_DATA, SNP_VECTORS

from phala_agents.attestation.sev import (
    ChainCache,
    Policy,
    PolicyFileError,
    ProductLine,
    SigningKey,
    TcbVersion,
    VerifiedReport,
    VerifyOptions,
    load_policy,
    policy_from_mapping,
    policy_to_mapping,
    validate_report,
    verify_report,
)
from phala_agents.attestation.trust import FixedClock
from phala_agents.errors import PolicyError

REPO = Path(__file__).resolve().parents[3]


def _verified(vid: str) -> VerifiedReport:
    vec = SNP_VECTORS[vid]
    return verify_report(
        vec.report, VerifyOptions(clock=FixedClock(vec.at), cache=ChainCache()), endorsement=vec.cert
    )


V5 = _verified("milan_v5_gcp_bound")
V2 = _verified("milan_v2_debug")
VLEK = _verified("milan_v3_vlek")


def _binding() -> bytes:
    values = dict(
        line.split("=", 1)
        for line in (SNP_DATA / "milan_v5_gcp_bound.binding.txt").read_text().splitlines()
        if line
    )
    return hashlib.sha512(bytes.fromhex(values["NONCE"]) + bytes.fromhex(values["X25519_KEY"])).digest()


CASES: list[tuple[str, VerifiedReport, Policy, str]] = [
    ("v5 default ok", V5, Policy(), ""),
    ("v5 binding ok", V5, Policy(report_data=_binding(), max_vmpl=1), ""),
    ("debug rejected by default", V2, Policy(), "POLICY has DEBUG=1"),
    ("debug allowed", V2, Policy(allow_debug=True), ""),
    ("vmpl 1 over max 0", V5, Policy(max_vmpl=0), "VMPL is 1, wanted at most 0"),
    (
        "report_data other nonce",
        V5,
        Policy(report_data=hashlib.sha512(b"other").digest()),
        "REPORT_DATA is 3a6753fd",
    ),
    ("measurement not allowed", V5, Policy(measurements=frozenset({bytes(48)})), "MEASUREMENT is b747d554"),
    (
        "measurement allowed",
        V5,
        Policy(
            measurements=frozenset(
                {bytes.fromhex(SNP_VECTORS["milan_v5_gcp_bound"].meta["report"]["measurement"])}
            )
        ),  # type: ignore[index]
        "",
    ),
    ("host_data", V5, Policy(host_data=b"\x01" * 32), "HOST_DATA is 0000"),
    ("family_id", V5, Policy(family_id=b"\x01" * 16), "FAMILY_ID is"),
    ("image_id", V5, Policy(image_id=b"\x01" * 16), "IMAGE_ID is"),
    ("chip_ids", V5, Policy(chip_ids=frozenset({bytes(64)})), "CHIP_ID is 980cf7b6"),
    (
        "tcb floor snp+1",
        V5,
        Policy(minimum_tcb=TcbVersion(bootloader=4, tee=0, snp=28, microcode=222)),
        "REPORTED_TCB is bootloader=4 tee=0 snp=27 microcode=222, below the minimum",
    ),
    ("tcb floor equal", V5, Policy(minimum_tcb=TcbVersion(bootloader=4, tee=0, snp=27, microcode=222)), ""),
    (
        "launch tcb floor",
        V5,
        Policy(minimum_launch_tcb=TcbVersion(bootloader=5, tee=0, snp=0, microcode=0)),
        "LAUNCH_TCB is",
    ),
    ("provisional firmware", VLEK, Policy(), "COMMITTED_TCB is"),
    ("provisional permitted", VLEK, Policy(permit_provisional_firmware=True), ""),
    ("min firmware", V5, Policy(min_firmware=(1, 56)), "firmware (CURRENT_MAJOR.CURRENT_MINOR) is 1.55"),
    ("min build", V5, Policy(min_build=36), "CURRENT_BUILD is 35"),
    ("min guest svn", V5, Policy(min_guest_svn=1), "GUEST_SVN is 0"),
    ("min abi", V5, Policy(min_abi=(1, 0)), "POLICY ABI is 0.0, wanted at least 1.0"),
    ("smt disallowed", V5, Policy(allow_smt=False), "POLICY allows SMT"),
    ("single socket required", V5, Policy(require_single_socket=True), "SINGLE_SOCKET=0"),
    ("aes-256-xts required", V5, Policy(require_mem_aes_256_xts=True), "MEM_AES_256_XTS=0"),
    ("rapl required", V5, Policy(require_rapl_dis=True), "RAPL_DIS=0"),
    ("ciphertext hiding required", V5, Policy(require_ciphertext_hiding=True), "CIPHERTEXT_HIDING=0"),
    ("page swap disable required", V5, Policy(require_page_swap_disable=True), "PAGE_SWAP_DISABLE=0"),
    ("platform smt", V5, Policy(allow_platform_smt=False), "PLATFORM_INFO has SMT_EN=1"),
    ("tsme required", V5, Policy(require_tsme=True), "TSME_EN=0"),
    ("ecc required (present)", V5, Policy(require_ecc=True), ""),
    (
        "alias check required (absent)",
        V2,
        Policy(allow_debug=True, require_alias_check_complete=True),
        "ALIAS_CHECK",
    ),
    ("product", V5, Policy(products=frozenset({ProductLine.GENOA})), "product is Milan"),
    (
        "signing key",
        VLEK,
        Policy(permit_provisional_firmware=True, signing_keys=frozenset({SigningKey.VCEK})),
        "SIGNING_KEY is VLEK",
    ),
    ("trust set", V5, Policy(trust=frozenset({"dev-simulated"})), "trust set is 'amd-production'"),
    ("id key", V5, Policy(trusted_id_key_digests=frozenset({b"\x01" * 48})), "ID_KEY_DIGEST is"),
    ("author key required", V5, Policy(require_author_key=True), "AUTHOR_KEY_EN is 0"),
]


@pytest.mark.parametrize(("name", "verified", "policy", "want_err"), CASES, ids=[c[0] for c in CASES])
def test_validate_table(name: str, verified: VerifiedReport, policy: Policy, want_err: str) -> None:
    if not want_err:
        validate_report(verified, policy)
        return
    with pytest.raises(PolicyError) as info:
        validate_report(verified, policy)
    assert any(want_err in v for v in info.value.violations), info.value.violations


def test_every_violation_is_reported_at_once() -> None:
    policy = Policy(max_vmpl=0, measurements=frozenset({bytes(48)}), min_guest_svn=3, require_tsme=True)
    with pytest.raises(PolicyError) as info:
        validate_report(V2, policy)
    joined = "\n".join(info.value.violations)
    for part in ("DEBUG=1", "MEASUREMENT", "GUEST_SVN", "TSME_EN"):
        assert part in joined
    assert len(info.value.violations) == 4


@pytest.mark.parametrize(
    "path", sorted((REPO / "attestation" / "policies").glob("*.json")), ids=lambda p: p.name
)
def test_example_policies_load_and_round_trip(path: Path) -> None:
    policy = load_policy(path.read_text())
    assert policy_from_mapping(policy_to_mapping(policy)) == policy


def test_production_policy_rejects_debug_vmpl1_and_dev_roots() -> None:
    production = load_policy((REPO / "attestation" / "policies" / "production-snp.json").read_text())
    assert not production.allow_debug
    with pytest.raises(PolicyError, match="DEBUG=1"):
        validate_report(V2, production)
    with pytest.raises(PolicyError, match="VMPL is 1"):
        validate_report(V5, production)
    dev = dataclasses.replace(V5, trust="custom-roots")
    with pytest.raises(PolicyError, match="trust set is 'custom-roots'"):
        validate_report(dev, production)


def test_cloud_policy_accepts_v5_and_vlek() -> None:
    cloud = load_policy((REPO / "attestation" / "policies" / "cloud-vmpl1-snp.json").read_text())
    validate_report(V5, cloud)
    validate_report(VLEK, cloud)


@pytest.mark.parametrize(
    ("doc", "want_err"),
    [
        ("[]", "wanted a JSON object"),
        ("{", "not JSON"),
        ('{"kind": "tdx"}', "kind is 'tdx', wanted 'snp'"),
        ('{"allow_debugg": true}', "unknown policy key 'allow_debugg'"),
        ('{"allow_debug": 1}', "allow_debug: found 1, wanted true or false"),
        ('{"max_vmpl": -1}', "max_vmpl: found -1"),
        ('{"report_data": "00"}', "report_data: found 1 bytes, wanted 64"),
        ('{"host_data": "zz"}', "host_data: 'zz' is not hex"),
        ('{"measurements": "00"}', "measurements: wanted a list of strings"),
        ('{"min_firmware": "1"}', "min_firmware: found '1'"),
        ('{"minimum_tcb": {"snp": 300}}', "minimum_tcb.snp: found 300"),
        ('{"minimum_tcb": {"spn": 3}}', "minimum_tcb: unknown keys ['spn']"),
        ('{"products": ["Rome"]}', "wanted Milan, Genoa or Turin"),
        ('{"signing_keys": ["VCEKK"]}', "signing_keys: unknown"),
    ],
)
def test_policy_file_errors(doc: str, want_err: str) -> None:
    with pytest.raises(PolicyFileError) as info:
        load_policy(doc)
    assert want_err in str(info.value)


def test_policy_file_full_schema() -> None:
    doc = {
        "kind": "snp",
        "allow_debug": True,
        "max_vmpl": 1,
        "measurements": ["00" * 48],
        "report_data": "11" * 64,
        "host_data": "22" * 32,
        "minimum_tcb": {"bootloader": 1, "tee": 0, "snp": 2, "microcode": 3, "fmc": 4},
        "min_firmware": "1.55",
        "products": ["Milan", "Turin"],
        "signing_keys": ["VCEK"],
        "trust": ["amd-production"],
    }
    policy = load_policy(json.dumps(doc))
    assert policy.minimum_tcb == TcbVersion(bootloader=1, tee=0, snp=2, microcode=3, fmc=4)
    assert policy.products == frozenset({ProductLine.MILAN, ProductLine.TURIN})
    assert policy.min_firmware == (1, 55)
    assert policy.report_data == b"\x11" * 64
