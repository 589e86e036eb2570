"""AMD SEV-SNP attestation report ABI: parse the 1184-byte ATTESTATION_REPORT.

Field names follow the SEV-SNP firmware ABI specification (table "ATTESTATION_REPORT
Structure"). Parsing checks structure only: the size, known VERSIONs, the must-be-zero (MBZ)
reserved ranges (including the unsigned area after the signature, which nothing else protects),
the reserved guest-policy bits and the SIGNING_KEY encoding. Everything with a meaning beyond
"well formed" is left to ``verify`` (signature) and ``validate`` (policy), as go-sev-guest's
``ReportToProto`` does.
"""

from __future__ import annotations

import enum
import struct
from dataclasses import dataclass

from phala_agents.attestation._amd import ProductLine as ProductLine  # noqa: PLC0414 - re-export
from phala_agents.attestation._amd import TcbVersion as TcbVersion  # noqa: PLC0414 - re-export
from phala_agents.attestation._amd import decode_tcb as decode_tcb  # noqa: PLC0414 - re-export
from phala_agents.attestation._amd import encode_tcb as encode_tcb  # noqa: PLC0414 - re-export
from phala_agents.errors import ReportFormatError

REPORT_SIZE = 0x4A0  # 1184
SIGNED_SIZE = 0x2A0  # the signature covers report[0:0x2A0]
SIGNATURE_OFFSET = 0x2A0
SIG_COMPONENT_SIZE = 72  # R and S are 72-byte little-endian fields
SIG_SIGNIFICANT = 48  # P-384: only the low 48 bytes may be non-zero
SUPPORTED_VERSIONS = (2, 3, 4, 5)

ECDSA_P384_SHA384 = 1

# GUEST POLICY bits (ABI spec "Guest Policy Structure").
POLICY_SMT = 1 << 16
POLICY_RESERVED_MUST_BE_ONE = 1 << 17
POLICY_MIGRATE_MA = 1 << 18
POLICY_DEBUG = 1 << 19
POLICY_SINGLE_SOCKET = 1 << 20
POLICY_CXL_ALLOW = 1 << 21
POLICY_MEM_AES_256_XTS = 1 << 22
POLICY_RAPL_DIS = 1 << 23
POLICY_CIPHERTEXT_HIDING = 1 << 24
POLICY_PAGE_SWAP_DISABLE = 1 << 25
POLICY_KNOWN_MASK = (1 << 26) - 1

# PLATFORM_INFO bits.
PLATFORM_SMT_EN = 1 << 0
PLATFORM_TSME_EN = 1 << 1
PLATFORM_ECC_EN = 1 << 2
PLATFORM_RAPL_DIS = 1 << 3
PLATFORM_CIPHERTEXT_HIDING_EN = 1 << 4
PLATFORM_ALIAS_CHECK_COMPLETE = 1 << 5


class SigningKey(enum.IntEnum):
    """SIGNING_KEY (report bits 4:2 at 0x48): which key signed the report."""

    VCEK = 0
    VLEK = 1
    NONE = 7


@dataclass(frozen=True, slots=True, kw_only=True)
class GuestPolicy:
    """The decoded POLICY field."""

    abi_minor: int
    abi_major: int
    smt: bool
    migrate_ma: bool
    debug: bool
    single_socket: bool
    cxl_allow: bool
    mem_aes_256_xts: bool
    rapl_dis: bool
    ciphertext_hiding: bool
    page_swap_disable: bool


def decode_policy(raw: int) -> GuestPolicy:
    return GuestPolicy(
        abi_minor=raw & 0xFF,
        abi_major=(raw >> 8) & 0xFF,
        smt=bool(raw & POLICY_SMT),
        migrate_ma=bool(raw & POLICY_MIGRATE_MA),
        debug=bool(raw & POLICY_DEBUG),
        single_socket=bool(raw & POLICY_SINGLE_SOCKET),
        cxl_allow=bool(raw & POLICY_CXL_ALLOW),
        mem_aes_256_xts=bool(raw & POLICY_MEM_AES_256_XTS),
        rapl_dis=bool(raw & POLICY_RAPL_DIS),
        ciphertext_hiding=bool(raw & POLICY_CIPHERTEXT_HIDING),
        page_swap_disable=bool(raw & POLICY_PAGE_SWAP_DISABLE),
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class PlatformInfo:
    """The decoded PLATFORM_INFO field."""

    smt_en: bool
    tsme_en: bool
    ecc_en: bool
    rapl_dis: bool
    ciphertext_hiding_en: bool
    alias_check_complete: bool


def decode_platform_info(raw: int) -> PlatformInfo:
    return PlatformInfo(
        smt_en=bool(raw & PLATFORM_SMT_EN),
        tsme_en=bool(raw & PLATFORM_TSME_EN),
        ecc_en=bool(raw & PLATFORM_ECC_EN),
        rapl_dis=bool(raw & PLATFORM_RAPL_DIS),
        ciphertext_hiding_en=bool(raw & PLATFORM_CIPHERTEXT_HIDING_EN),
        alias_check_complete=bool(raw & PLATFORM_ALIAS_CHECK_COMPLETE),
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class Report:
    """A parsed ATTESTATION_REPORT; attribute names are the spec names in snake case."""

    version: int
    guest_svn: int
    policy: int
    family_id: bytes
    image_id: bytes
    vmpl: int
    signature_algo: int
    current_tcb: int
    platform_info: int
    author_key_en: bool
    mask_chip_key: bool
    signing_key: SigningKey
    report_data: bytes
    measurement: bytes
    host_data: bytes
    id_key_digest: bytes
    author_key_digest: bytes
    report_id: bytes
    report_id_ma: bytes
    reported_tcb: int
    cpuid_fam_id: int | None  # VERSION >= 3
    cpuid_mod_id: int | None
    cpuid_step: int | None
    chip_id: bytes
    committed_tcb: int
    current_build: int
    current_minor: int
    current_major: int
    committed_build: int
    committed_minor: int
    committed_major: int
    launch_tcb: int
    launch_mit_vector: int | None  # VERSION >= 5
    current_mit_vector: int | None
    signature_r: int
    signature_s: int
    signed_bytes: bytes  # report[0:0x2A0], what the signature covers

    @property
    def guest_policy(self) -> GuestPolicy:
        return decode_policy(self.policy)

    @property
    def platform(self) -> PlatformInfo:
        return decode_platform_info(self.platform_info)

    @property
    def product_from_cpuid(self) -> ProductLine | None:
        """The product line from CPUID_FAM_ID/CPUID_MOD_ID (VERSION >= 3), else ``None``."""
        if self.cpuid_fam_id is None or self.cpuid_mod_id is None:
            return None
        return product_from_cpuid(self.cpuid_fam_id, self.cpuid_mod_id)


def product_from_cpuid(family: int, model: int) -> ProductLine | None:
    """Map the CPUID family/model to a product line (``None`` when unknown or zero)."""
    if family == 0x19:
        if model <= 0x0F:
            return ProductLine.MILAN
        if 0x10 <= model <= 0x1F or 0xA0 <= model <= 0xAF:  # Genoa, Bergamo and Siena
            return ProductLine.GENOA
    if family == 0x1A and model <= 0x1F:
        return ProductLine.TURIN
    return None


_ZEROS = bytes(REPORT_SIZE)


def _mbz(raw: bytes, start: int, end: int, what: str) -> None:
    chunk = raw[start:end]
    if chunk != _ZEROS[: end - start]:  # memcmp; the slow search below runs only on failure
        first = next(i for i, b in enumerate(chunk) if b)
        raise ReportFormatError(
            f"{what} (0x{start:03X}..0x{end - 1:03X}) must be zero, found 0x{chunk[first]:02x} "
            f"at 0x{start + first:03X}"
        )


# The whole report in one unpack (offsets in the ABI spec table; "r" = reserved, must be zero).
_LAYOUT = struct.Struct(
    "<"
    "IIQ16s16sIIQQI"  # 0x000 VERSION .. 0x048 flags
    "4s"  # 0x04C r
    "64s48s32s48s48s32s32s"  # 0x050 REPORT_DATA .. 0x160 REPORT_ID_MA
    "Q"  # 0x180 REPORTED_TCB
    "BBB21s"  # 0x188 CPUID_FAM_ID, CPUID_MOD_ID, CPUID_STEP (VERSION >= 3), 0x18B r
    "64s"  # 0x1A0 CHIP_ID
    "Q"  # 0x1E0 COMMITTED_TCB
    "BBBB"  # 0x1E8 CURRENT_BUILD, CURRENT_MINOR, CURRENT_MAJOR, r
    "BBBB"  # 0x1EC COMMITTED_BUILD, COMMITTED_MINOR, COMMITTED_MAJOR, r
    "Q"  # 0x1F0 LAUNCH_TCB
    "QQ"  # 0x1F8 LAUNCH_MIT_VECTOR, CURRENT_MIT_VECTOR (VERSION >= 5)
    "152s"  # 0x208 r
    "48s24s48s24s"  # 0x2A0 SIGNATURE.R (low 48 bytes, high 24 r), SIGNATURE.S
    "368s"  # 0x330 r, not covered by the signature
)
assert _LAYOUT.size == REPORT_SIZE


def _check_reserved(raw: bytes, version: int) -> None:
    """Raise ``ReportFormatError`` naming the first non-zero reserved byte (slow path, errors only)."""
    _mbz(raw, 0x4C, 0x50, "reserved")
    _mbz(raw, 0x18B if version >= 3 else 0x188, 0x1A0, "reserved")
    _mbz(raw, 0x1EB, 0x1EC, "reserved")
    _mbz(raw, 0x1EF, 0x1F0, "reserved")
    if version < 5:
        _mbz(raw, 0x1F8, 0x208, "reserved")
    _mbz(raw, 0x208, SIGNATURE_OFFSET, "reserved")
    r_off, s_off = SIGNATURE_OFFSET, SIGNATURE_OFFSET + SIG_COMPONENT_SIZE
    _mbz(raw, r_off + SIG_SIGNIFICANT, r_off + SIG_COMPONENT_SIZE, "SIGNATURE.R high bytes")
    _mbz(raw, s_off + SIG_SIGNIFICANT, s_off + SIG_COMPONENT_SIZE, "SIGNATURE.S high bytes")
    _mbz(raw, s_off + SIG_COMPONENT_SIZE, REPORT_SIZE, "reserved (unsigned)")


def parse_report(raw: bytes) -> Report:
    """Parse a 1184-byte SEV-SNP attestation report; anything malformed raises ``ReportFormatError``.

    The signature is not checked here (``verify_report`` does that).
    """
    if not isinstance(raw, bytes | bytearray | memoryview):
        raise TypeError(f"raw must be bytes, not {type(raw).__name__}")
    raw = bytes(raw)
    if len(raw) != REPORT_SIZE:
        raise ReportFormatError(f"report size is {len(raw)} bytes, wanted {REPORT_SIZE}")
    (
        version,
        guest_svn,
        policy,
        family_id,
        image_id,
        vmpl,
        signature_algo,
        current_tcb,
        platform_info,
        flags,
        r_04c,
        report_data,
        measurement,
        host_data,
        id_key_digest,
        author_key_digest,
        report_id,
        report_id_ma,
        reported_tcb,
        cpuid_fam_id,
        cpuid_mod_id,
        cpuid_step,
        r_18b,
        chip_id,
        committed_tcb,
        current_build,
        current_minor,
        current_major,
        r_1eb,
        committed_build,
        committed_minor,
        committed_major,
        r_1ef,
        launch_tcb,
        launch_mit,
        current_mit,
        r_208,
        sig_r,
        r_r_high,
        sig_s,
        r_s_high,
        r_330,
    ) = _LAYOUT.unpack(raw)
    if version not in SUPPORTED_VERSIONS:
        raise ReportFormatError(f"VERSION is {version}, wanted one of {SUPPORTED_VERSIONS}")
    if not policy & POLICY_RESERVED_MUST_BE_ONE:
        raise ReportFormatError(f"POLICY is 0x{policy:x}: bit 17 is reserved and must be 1")
    if policy & ~POLICY_KNOWN_MASK:
        raise ReportFormatError(f"POLICY is 0x{policy:x}: reserved bits 63:26 must be zero")
    if flags & ~0x1F:
        raise ReportFormatError(f"report flags (0x48) are 0x{flags:x}: reserved bits 31:5 must be zero")
    signing_key_raw = (flags >> 2) & 0x7
    if signing_key_raw not in (SigningKey.VCEK, SigningKey.VLEK):
        raise ReportFormatError(
            f"SIGNING_KEY is {signing_key_raw}, wanted 0 (VCEK) or 1 (VLEK)"
            + (" (7: the report is unsigned)" if signing_key_raw == SigningKey.NONE else "")
        )
    has_cpuid, has_mit = version >= 3, version >= 5
    if (
        r_04c != _ZEROS[:4]
        or r_18b != _ZEROS[:21]
        or r_1eb
        or r_1ef
        or r_208 != _ZEROS[:152]
        or r_r_high != _ZEROS[:24]
        or r_s_high != _ZEROS[:24]
        or r_330 != _ZEROS[:368]
        or (not has_cpuid and (cpuid_fam_id or cpuid_mod_id or cpuid_step))
        or (not has_mit and (launch_mit or current_mit))
    ):
        _check_reserved(raw, version)
    return Report(
        version=version,
        guest_svn=guest_svn,
        policy=policy,
        family_id=family_id,
        image_id=image_id,
        vmpl=vmpl,
        signature_algo=signature_algo,
        current_tcb=current_tcb,
        platform_info=platform_info,
        author_key_en=bool(flags & 0x1),
        mask_chip_key=bool(flags & 0x2),
        signing_key=SigningKey.VCEK if signing_key_raw == 0 else SigningKey.VLEK,
        report_data=report_data,
        measurement=measurement,
        host_data=host_data,
        id_key_digest=id_key_digest,
        author_key_digest=author_key_digest,
        report_id=report_id,
        report_id_ma=report_id_ma,
        reported_tcb=reported_tcb,
        cpuid_fam_id=cpuid_fam_id if has_cpuid else None,
        cpuid_mod_id=cpuid_mod_id if has_cpuid else None,
        cpuid_step=cpuid_step if has_cpuid else None,
        chip_id=chip_id,
        committed_tcb=committed_tcb,
        current_build=current_build,
        current_minor=current_minor,
        current_major=current_major,
        committed_build=committed_build,
        committed_minor=committed_minor,
        committed_major=committed_major,
        launch_tcb=launch_tcb,
        launch_mit_vector=launch_mit if has_mit else None,
        current_mit_vector=current_mit if has_mit else None,
        signature_r=int.from_bytes(sig_r, "little"),
        signature_s=int.from_bytes(sig_s, "little"),
        signed_bytes=raw[:SIGNED_SIZE],
    )


def serialize_report(report: Report) -> bytes:
    """The 1184 bytes of ``report`` (its signed part plus the signature; reserved bytes zero)."""
    sig = report.signature_r.to_bytes(SIG_COMPONENT_SIZE, "little") + report.signature_s.to_bytes(
        SIG_COMPONENT_SIZE, "little"
    )
    out = report.signed_bytes + sig
    return out + bytes(REPORT_SIZE - len(out))


# Spec names (as written in the ABI specification) for the CLI's `attest show` and messages.
SPEC_NAMES: dict[str, str] = {
    "version": "VERSION",
    "guest_svn": "GUEST_SVN",
    "policy": "POLICY",
    "family_id": "FAMILY_ID",
    "image_id": "IMAGE_ID",
    "vmpl": "VMPL",
    "signature_algo": "SIGNATURE_ALGO",
    "current_tcb": "CURRENT_TCB",
    "platform_info": "PLATFORM_INFO",
    "author_key_en": "AUTHOR_KEY_EN",
    "mask_chip_key": "MASK_CHIP_KEY",
    "signing_key": "SIGNING_KEY",
    "report_data": "REPORT_DATA",
    "measurement": "MEASUREMENT",
    "host_data": "HOST_DATA",
    "id_key_digest": "ID_KEY_DIGEST",
    "author_key_digest": "AUTHOR_KEY_DIGEST",
    "report_id": "REPORT_ID",
    "report_id_ma": "REPORT_ID_MA",
    "reported_tcb": "REPORTED_TCB",
    "cpuid_fam_id": "CPUID_FAM_ID",
    "cpuid_mod_id": "CPUID_MOD_ID",
    "cpuid_step": "CPUID_STEP",
    "chip_id": "CHIP_ID",
    "committed_tcb": "COMMITTED_TCB",
    "current_build": "CURRENT_BUILD",
    "current_minor": "CURRENT_MINOR",
    "current_major": "CURRENT_MAJOR",
    "committed_build": "COMMITTED_BUILD",
    "committed_minor": "COMMITTED_MINOR",
    "committed_major": "COMMITTED_MAJOR",
    "launch_tcb": "LAUNCH_TCB",
    "launch_mit_vector": "LAUNCH_MIT_VECTOR",
    "current_mit_vector": "CURRENT_MIT_VECTOR",
    "signature_r": "SIGNATURE.R",
    "signature_s": "SIGNATURE.S",
}

_TCB_FIELDS = ("current_tcb", "reported_tcb", "committed_tcb", "launch_tcb")


def report_fields(report: Report, product: ProductLine | None = None) -> dict[str, object]:
    """Every field as ``{SPEC_NAME: value}``: bytes as hex, TCBs as hex plus decoded parts
    (by ``product``, else the CPUID's, else the Milan/Genoa layout)."""
    product = product or report.product_from_cpuid
    out: dict[str, object] = {}
    for attr, spec in SPEC_NAMES.items():
        value = getattr(report, attr)
        if value is None:
            continue
        if isinstance(value, bytes):
            out[spec] = value.hex()
        elif isinstance(value, SigningKey):
            out[spec] = value.name
        elif attr in _TCB_FIELDS:
            out[spec] = {"raw": f"0x{value:016x}", **decode_tcb(value, product).components()}
        elif attr in ("policy", "platform_info", "launch_mit_vector", "current_mit_vector"):
            out[spec] = f"0x{value:x}"
        elif attr in ("signature_r", "signature_s"):
            out[spec] = f"{value:096x}"
        else:
            out[spec] = value
    return out


def report_decoded(report: Report, product: ProductLine | None = None) -> dict[str, object]:
    """The bit fields of POLICY and PLATFORM_INFO, and the product line, with snake_case keys."""
    return {
        "policy": {k: getattr(report.guest_policy, k) for k in GuestPolicy.__dataclass_fields__},
        "platform_info": {k: getattr(report.platform, k) for k in PlatformInfo.__dataclass_fields__},
        "product": str(product or report.product_from_cpuid or "unknown (VERSION 2: no CPUID)"),
    }
