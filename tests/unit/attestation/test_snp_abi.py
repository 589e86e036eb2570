"""SEV-SNP report parsing: every field of the real vectors, MBZ ranges, and any-bytes robustness."""

from __future__ import annotations

import contextlib
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from snp_vectors import SNP_VECTORS, SnpVector

from phala_agents.attestation.sev import (
    ProductLine,
    SigningKey,
    TcbVersion,
    decode_tcb,
    encode_tcb,
    parse_report,
    report_fields,
    serialize_report,
)
from phala_agents.attestation.sev.abi import REPORT_SIZE, product_from_cpuid
from phala_agents.errors import ReportFormatError

VECTOR_IDS = sorted(SNP_VECTORS)


@pytest.mark.parametrize("vid", VECTOR_IDS)
def test_fields_match_vectors_json(vid: str) -> None:
    vec: SnpVector = SNP_VECTORS[vid]
    want = vec.meta["report"]
    assert isinstance(want, dict)
    r = parse_report(vec.report)
    assert r.version == want["version"]
    assert r.guest_svn == want["guest_svn"]
    assert r.policy == int(want["policy"], 16)
    assert r.vmpl == want["vmpl"]
    assert r.signature_algo == want["signature_algo"]
    assert r.platform_info == int(want["platform_info"], 16)
    assert r.signing_key == SigningKey(want["signing_key"])
    assert r.author_key_en == bool(want["author_key_en"])
    assert r.mask_chip_key == bool(want["mask_chip_key"])
    for name in (
        "report_data",
        "measurement",
        "host_data",
        "family_id",
        "image_id",
        "id_key_digest",
        "author_key_digest",
        "report_id",
        "report_id_ma",
        "chip_id",
    ):
        assert getattr(r, name).hex() == want[name], name
    assert r.reported_tcb == want["reported_tcb_u64"]
    assert decode_tcb(r.reported_tcb, vec.product).components() == want["reported_tcb_parts"]
    for name in ("current_tcb", "committed_tcb", "launch_tcb"):
        assert getattr(r, name).to_bytes(8, "little").hex() == want[name], name
    assert f"{r.current_major}.{r.current_minor}.{r.current_build}" == want["current_firmware"]
    assert f"{r.committed_major}.{r.committed_minor}.{r.committed_build}" == want["committed_firmware"]
    policy = want["policy_decoded"]
    gp = r.guest_policy
    assert (gp.abi_major, gp.abi_minor, gp.smt, gp.migrate_ma, gp.debug, gp.single_socket) == (
        policy["abi_major"],
        policy["abi_minor"],
        policy["smt"],
        policy["migrate_ma"],
        policy["debug"],
        policy["single_socket"],
    )
    pi = want["platform_info_decoded"]
    assert r.platform.smt_en == pi["smt_enabled"]
    assert r.platform.ecc_en == pi["ecc_enabled"]
    assert r.platform.tsme_en == pi["tsme_enabled"]
    assert r.platform.alias_check_complete == pi["alias_check_complete"]
    if r.version >= 3:
        cpuid = bytes([r.cpuid_fam_id or 0, r.cpuid_mod_id or 0, r.cpuid_step or 0]).hex()
        assert cpuid == want["cpuid_fam_mod_step"]
        assert r.product_from_cpuid is ProductLine.MILAN
    else:
        assert r.cpuid_fam_id is None and r.product_from_cpuid is None
    if r.version >= 5:
        assert r.launch_mit_vector == 0x0B and r.current_mit_vector == 0x0B
    assert serialize_report(r) == vec.report


def test_report_fields_use_spec_names() -> None:
    fields = report_fields(parse_report(SNP_VECTORS["milan_v5_gcp_bound"].report))
    for spec in ("VERSION", "REPORT_DATA", "MEASUREMENT", "REPORTED_TCB", "CHIP_ID", "CPUID_FAM_ID"):
        assert spec in fields
    assert fields["SIGNING_KEY"] == "VCEK"


# go-sev-guest's MBZ ranges plus the high bytes of R and S and the unsigned tail.
MBZ_OFFSETS = [
    0x4C,
    0x4F,
    0x18B,
    0x19F,
    0x1EB,
    0x1EF,
    0x208,
    0x29F,
    0x2D0,
    0x2E7,
    0x318,
    0x32F,
    0x330,
    0x400,
    0x49F,
]


@pytest.mark.parametrize("offset", MBZ_OFFSETS, ids=[f"0x{o:03X}" for o in MBZ_OFFSETS])
def test_reserved_bytes_must_be_zero(offset: int) -> None:
    raw = bytearray(SNP_VECTORS["milan_v5_gcp_bound"].report)
    raw[offset] ^= 0x01
    with pytest.raises(ReportFormatError, match="must be zero"):
        parse_report(bytes(raw))


def test_v2_cpuid_bytes_are_reserved() -> None:
    raw = bytearray(SNP_VECTORS["milan_v2_debug"].report)
    raw[0x188] = 0x19
    with pytest.raises(ReportFormatError, match=r"0x188"):
        parse_report(bytes(raw))


def test_pre_v5_mitigation_vectors_are_reserved() -> None:
    raw = bytearray(SNP_VECTORS["milan_v3_vlek"].report)
    raw[0x1F8] = 1
    with pytest.raises(ReportFormatError, match="must be zero"):
        parse_report(bytes(raw))


@pytest.mark.parametrize(
    ("mutate", "want_err"),
    [
        (lambda b: b[:-1], "report size is 1183 bytes, wanted 1184"),
        (lambda b: b + b"\x00", "report size is 1185"),
        (lambda b: struct.pack("<I", 1) + b[4:], "VERSION is 1"),
        (lambda b: struct.pack("<I", 6) + b[4:], "VERSION is 6"),
        (lambda b: b[:8] + struct.pack("<Q", 0x10000) + b[16:], "bit 17 is reserved and must be 1"),
        (lambda b: b[:8] + struct.pack("<Q", 0x30000 | 1 << 40) + b[16:], "reserved bits 63:26"),
        (lambda b: b[:0x48] + struct.pack("<I", 7 << 2) + b[0x4C:], "SIGNING_KEY is 7"),
        (lambda b: b[:0x48] + struct.pack("<I", 2 << 2) + b[0x4C:], "SIGNING_KEY is 2"),
        (lambda b: b[:0x48] + struct.pack("<I", 1 << 5) + b[0x4C:], "reserved bits 31:5"),
    ],
)
def test_malformed_reports(mutate: object, want_err: str) -> None:
    raw = SNP_VECTORS["milan_v5_gcp_bound"].report
    with pytest.raises(ReportFormatError, match=want_err.replace("(", r"\(")):
        parse_report(mutate(raw))  # type: ignore[operator]


def test_not_bytes_is_a_caller_bug() -> None:
    with pytest.raises(TypeError):
        parse_report("not bytes")  # type: ignore[arg-type]


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.binary(max_size=2 * REPORT_SIZE), st.binary(min_size=REPORT_SIZE, max_size=REPORT_SIZE)))
def test_any_bytes_parse_or_raise_format_error(data: bytes) -> None:
    try:
        report = parse_report(data)
    except ReportFormatError:
        return
    assert serialize_report(report) == data


@settings(max_examples=300, deadline=None)
@given(st.integers(0, REPORT_SIZE - 1), st.integers(1, 255))
def test_any_single_byte_change_parses_or_raises_format_error(offset: int, xor: int) -> None:
    raw = bytearray(SNP_VECTORS["milan_v5_gcp_bound"].report)
    raw[offset] ^= xor
    with contextlib.suppress(ReportFormatError):
        parse_report(bytes(raw))


def test_tcb_layouts() -> None:
    milan = TcbVersion(bootloader=2, tee=0, snp=5, microcode=68)
    assert encode_tcb(milan, ProductLine.MILAN) == 0x4405000000000002
    assert decode_tcb(0x4405000000000002, ProductLine.MILAN) == milan
    turin = TcbVersion(fmc=1, bootloader=2, tee=3, snp=4, microcode=9)
    raw = encode_tcb(turin, ProductLine.TURIN)
    assert raw.to_bytes(8, "little") == bytes([1, 2, 3, 4, 0, 0, 0, 9])
    assert decode_tcb(raw, ProductLine.TURIN) == turin
    assert milan.at_least(TcbVersion(bootloader=2, tee=0, snp=6, microcode=68)) == ["snp"]


@pytest.mark.parametrize(
    ("family", "model", "want"),
    [
        (0x19, 0x01, ProductLine.MILAN),
        (0x19, 0x11, ProductLine.GENOA),
        (0x19, 0xA0, ProductLine.GENOA),
        (0x1A, 0x02, ProductLine.TURIN),
        (0x1A, 0x11, ProductLine.TURIN),
        (0x17, 0x31, None),
        (0, 0, None),
    ],
)
def test_product_from_cpuid(family: int, model: int, want: ProductLine | None) -> None:
    assert product_from_cpuid(family, model) is want
