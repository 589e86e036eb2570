"""Validate a verified SEV-SNP report against a relying party's ``Policy``.

Every check runs and every violation is collected into one ``PolicyError`` (go-sev-guest
``validate.SnpAttestation`` combines all errors). Messages name the spec field, what was found and
what was wanted. ``Policy()`` with no arguments is the safe default: debug disallowed, migration
agent disallowed, COMMITTED_TCB must equal CURRENT_TCB, REPORTED_TCB <= CURRENT_TCB.

Policy files are JSON; ``load_policy`` reads them (schema in ``docs/attestation.md`` and examples
in ``attestation/policies/``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, fields

from phala_agents.attestation.sev.abi import ProductLine, SigningKey, TcbVersion, decode_tcb
from phala_agents.attestation.sev.verify import VerifiedReport
from phala_agents.errors import PolicyError


@dataclass(frozen=True, slots=True, kw_only=True)
class Policy:
    """What a relying party accepts (input only). ``None`` means "not checked"."""

    # Guest policy bits (POLICY).
    allow_debug: bool = False
    allow_migrate_ma: bool = False
    allow_smt: bool = True
    allow_cxl: bool = False
    require_single_socket: bool = False
    require_mem_aes_256_xts: bool = False
    require_rapl_dis: bool = False
    require_ciphertext_hiding: bool = False
    require_page_swap_disable: bool = False
    min_abi: tuple[int, int] | None = None  # (major, minor) the guest policy must require at least
    # Verbatim fields.
    measurements: frozenset[bytes] | None = None  # allowed MEASUREMENT values
    host_data: bytes | None = None
    report_data: bytes | None = None  # the exact 64 bytes the guest must have bound
    family_id: bytes | None = None
    image_id: bytes | None = None
    chip_ids: frozenset[bytes] | None = None
    # TCB and firmware.
    minimum_tcb: TcbVersion | None = None  # REPORTED_TCB must be >= it component-wise
    minimum_launch_tcb: TcbVersion | None = None
    permit_provisional_firmware: bool = False  # else COMMITTED_TCB must equal CURRENT_TCB
    min_firmware: tuple[int, int] | None = None  # (CURRENT_MAJOR, CURRENT_MINOR)
    min_build: int | None = None
    min_guest_svn: int | None = None
    # Where the guest runs.
    max_vmpl: int | None = None
    products: frozenset[ProductLine] | None = None
    signing_keys: frozenset[SigningKey] = frozenset({SigningKey.VCEK, SigningKey.VLEK})
    # PLATFORM_INFO.
    allow_platform_smt: bool = True
    require_tsme: bool = False
    require_ecc: bool = False
    require_alias_check_complete: bool = False
    # ID block.
    trusted_id_key_digests: frozenset[bytes] | None = None
    trusted_author_key_digests: frozenset[bytes] | None = None
    require_author_key: bool = False
    # Which trust set the report must have been verified under (e.g. "amd-production").
    trust: frozenset[str] | None = None


def _flag(violations: list[str], cond: bool, msg: str) -> None:
    if cond:
        violations.append(msg)


def _tcb_floor(violations: list[str], field: str, found: TcbVersion, floor: TcbVersion | None) -> None:
    if floor is None:
        return
    low = found.at_least(floor)
    if low:
        violations.append(f"{field} is {found}, below the minimum {floor} (in {', '.join(low)})")


def validate_report(verified: VerifiedReport, policy: Policy) -> None:
    """Raise ``PolicyError`` listing every way ``verified`` breaks ``policy``; return if none."""
    report = verified.report
    product = verified.product
    gp = report.guest_policy
    pi = report.platform
    v: list[str] = []
    _flag(
        v, gp.debug and not policy.allow_debug, "POLICY has DEBUG=1 (debug allowed), wanted debug disallowed"
    )
    _flag(
        v, gp.migrate_ma and not policy.allow_migrate_ma, "POLICY has MIGRATE_MA=1, wanted no migration agent"
    )
    _flag(v, gp.smt and not policy.allow_smt, "POLICY allows SMT, wanted SMT disallowed")
    _flag(v, gp.cxl_allow and not policy.allow_cxl, "POLICY has CXL_ALLOW=1, wanted CXL disallowed")
    for wanted, found, name in (
        (policy.require_single_socket, gp.single_socket, "SINGLE_SOCKET"),
        (policy.require_mem_aes_256_xts, gp.mem_aes_256_xts, "MEM_AES_256_XTS"),
        (policy.require_rapl_dis, gp.rapl_dis, "RAPL_DIS"),
        (policy.require_ciphertext_hiding, gp.ciphertext_hiding, "CIPHERTEXT_HIDING"),
        (policy.require_page_swap_disable, gp.page_swap_disable, "PAGE_SWAP_DISABLE"),
    ):
        _flag(v, wanted and not found, f"POLICY has {name}=0, wanted 1")
    if policy.min_abi is not None and (gp.abi_major, gp.abi_minor) < policy.min_abi:
        major, minor = policy.min_abi
        v.append(f"POLICY ABI is {gp.abi_major}.{gp.abi_minor}, wanted at least {major}.{minor}")
    if policy.measurements is not None and report.measurement not in policy.measurements:
        v.append(
            f"MEASUREMENT is {report.measurement.hex()}, wanted one of "
            f"{sorted(m.hex() for m in policy.measurements)}"
        )
    for name, got, expected in (
        ("HOST_DATA", report.host_data, policy.host_data),
        ("REPORT_DATA", report.report_data, policy.report_data),
        ("FAMILY_ID", report.family_id, policy.family_id),
        ("IMAGE_ID", report.image_id, policy.image_id),
    ):
        if expected is not None and got != expected:
            v.append(f"{name} is {got.hex()}, wanted {expected.hex()}")
    if policy.chip_ids is not None and report.chip_id not in policy.chip_ids:
        v.append(f"CHIP_ID is {report.chip_id.hex()}, not in the allowed list")
    reported = decode_tcb(report.reported_tcb, product)
    current = decode_tcb(report.current_tcb, product)
    committed = decode_tcb(report.committed_tcb, product)
    launch = decode_tcb(report.launch_tcb, product)
    _tcb_floor(v, "REPORTED_TCB", reported, policy.minimum_tcb)
    _tcb_floor(v, "LAUNCH_TCB", launch, policy.minimum_launch_tcb)
    if current.at_least(reported):
        v.append(f"REPORTED_TCB is {reported}, above CURRENT_TCB {current}")
    if not policy.permit_provisional_firmware and report.committed_tcb != report.current_tcb:
        v.append(
            f"COMMITTED_TCB is {committed}, wanted CURRENT_TCB {current} (provisional firmware not permitted)"
        )
    if policy.min_firmware is not None and (report.current_major, report.current_minor) < policy.min_firmware:
        v.append(
            f"firmware (CURRENT_MAJOR.CURRENT_MINOR) is {report.current_major}.{report.current_minor}, "
            f"wanted at least {policy.min_firmware[0]}.{policy.min_firmware[1]}"
        )
    if policy.min_build is not None and report.current_build < policy.min_build:
        v.append(f"CURRENT_BUILD is {report.current_build}, wanted at least {policy.min_build}")
    if policy.min_guest_svn is not None and report.guest_svn < policy.min_guest_svn:
        v.append(f"GUEST_SVN is {report.guest_svn}, wanted at least {policy.min_guest_svn}")
    if policy.max_vmpl is not None and report.vmpl > policy.max_vmpl:
        v.append(f"VMPL is {report.vmpl}, wanted at most {policy.max_vmpl}")
    if policy.products is not None and product not in policy.products:
        v.append(f"product is {product}, wanted one of {sorted(str(p) for p in policy.products)}")
    if verified.signing_key not in policy.signing_keys:
        keys = sorted(k.name for k in policy.signing_keys)
        v.append(f"SIGNING_KEY is {verified.signing_key.name}, wanted one of {keys}")
    _flag(v, pi.smt_en and not policy.allow_platform_smt, "PLATFORM_INFO has SMT_EN=1, wanted SMT disabled")
    _flag(v, policy.require_tsme and not pi.tsme_en, "PLATFORM_INFO has TSME_EN=0, wanted 1")
    _flag(v, policy.require_ecc and not pi.ecc_en, "PLATFORM_INFO has ECC_EN=0, wanted 1")
    _flag(
        v,
        policy.require_alias_check_complete and not pi.alias_check_complete,
        "PLATFORM_INFO has ALIAS_CHECK_COMPLETE=0, wanted 1",
    )
    if (
        policy.trusted_id_key_digests is not None
        and report.id_key_digest not in policy.trusted_id_key_digests
    ):
        v.append(f"ID_KEY_DIGEST is {report.id_key_digest.hex()}, not a trusted ID key")
    if policy.require_author_key and not report.author_key_en:
        v.append("AUTHOR_KEY_EN is 0, wanted an author key")
    if (
        policy.trusted_author_key_digests is not None
        and report.author_key_en
        and report.author_key_digest not in policy.trusted_author_key_digests
    ):
        v.append(f"AUTHOR_KEY_DIGEST is {report.author_key_digest.hex()}, not a trusted author key")
    if policy.trust is not None and verified.trust not in policy.trust:
        v.append(f"trust set is {verified.trust!r}, wanted one of {sorted(policy.trust)}")
    if v:
        raise PolicyError(v)


# --- policy files -----------------------------------------------------------------------------


class PolicyFileError(ValueError):
    """A policy file does not match the schema (a caller's input error, not a verdict)."""


_HEX_FIELDS = ("host_data", "report_data", "family_id", "image_id")
_HEX_LENGTHS = {"host_data": 32, "report_data": 64, "family_id": 16, "image_id": 16}
_HEX_SETS = {
    "measurements": 48,
    "chip_ids": 64,
    "trusted_id_key_digests": 48,
    "trusted_author_key_digests": 48,
}
_TCB_FIELDS = ("minimum_tcb", "minimum_launch_tcb")
_VERSION_FIELDS = ("min_abi", "min_firmware")


def _hex(value: object, name: str, length: int) -> bytes:
    if not isinstance(value, str):
        raise PolicyFileError(f"{name}: found {type(value).__name__}, wanted a hex string")
    try:
        out = bytes.fromhex(value.removeprefix("0x"))
    except ValueError:
        raise PolicyFileError(f"{name}: {value!r} is not hex") from None
    if len(out) != length:
        raise PolicyFileError(f"{name}: found {len(out)} bytes, wanted {length}")
    return out


def _version(value: object, name: str) -> tuple[int, int]:
    if isinstance(value, str) and value.count(".") == 1:
        major, minor = value.split(".")
        if major.isdigit() and minor.isdigit():
            return int(major), int(minor)
    raise PolicyFileError(f'{name}: found {value!r}, wanted "MAJOR.MINOR" like "1.55"')


def _tcb(value: object, name: str) -> TcbVersion:
    if not isinstance(value, Mapping):
        raise PolicyFileError(f"{name}: wanted an object with bootloader, tee, snp, microcode (and fmc)")
    allowed = {"bootloader", "tee", "snp", "microcode", "fmc"}
    extra = set(value) - allowed
    if extra:
        raise PolicyFileError(f"{name}: unknown keys {sorted(extra)}, wanted {sorted(allowed)}")
    parts: dict[str, int] = {}
    for key in allowed:
        part = value.get(key, 0)
        if not isinstance(part, int) or isinstance(part, bool) or not 0 <= part <= 255:
            raise PolicyFileError(f"{name}.{key}: found {part!r}, wanted an integer 0..255")
        parts[key] = part
    return TcbVersion(
        bootloader=parts["bootloader"],
        tee=parts["tee"],
        snp=parts["snp"],
        microcode=parts["microcode"],
        fmc=parts["fmc"] if "fmc" in value else None,
    )


def _strings(value: object, name: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(x, str) for x in value):
        raise PolicyFileError(f"{name}: wanted a list of strings")
    return list(value)


def policy_from_mapping(data: Mapping[str, object]) -> Policy:
    """Build a ``Policy`` from a decoded policy file (``kind`` and ``description`` are ignored)."""
    known = {f.name for f in fields(Policy)}
    kwargs: dict[str, object] = {}
    for key, value in data.items():
        if key in ("kind", "description", "$schema"):
            continue
        if key not in known:
            raise PolicyFileError(f"unknown policy key {key!r}; known keys: {sorted(known)}")
        if value is None:
            continue
        if key in _HEX_FIELDS:
            kwargs[key] = _hex(value, key, _HEX_LENGTHS[key])
        elif key in _HEX_SETS:
            kwargs[key] = frozenset(_hex(x, key, _HEX_SETS[key]) for x in _strings(value, key))
        elif key in _TCB_FIELDS:
            kwargs[key] = _tcb(value, key)
        elif key in _VERSION_FIELDS:
            kwargs[key] = _version(value, key)
        elif key == "products":
            try:
                kwargs[key] = frozenset(ProductLine(x) for x in _strings(value, key))
            except ValueError as exc:
                raise PolicyFileError(f"products: {exc}; wanted Milan, Genoa or Turin") from None
        elif key == "signing_keys":
            try:
                kwargs[key] = frozenset(SigningKey[x] for x in _strings(value, key))
            except KeyError as exc:
                raise PolicyFileError(f"signing_keys: unknown {exc}; wanted VCEK or VLEK") from None
        elif key == "trust":
            kwargs[key] = frozenset(_strings(value, key))
        elif isinstance(Policy.__dataclass_fields__[key].default, bool):
            if not isinstance(value, bool):
                raise PolicyFileError(f"{key}: found {value!r}, wanted true or false")
            kwargs[key] = value
        else:
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise PolicyFileError(f"{key}: found {value!r}, wanted a non-negative integer")
            kwargs[key] = value
    return Policy(**kwargs)  # type: ignore[arg-type]


def load_policy(text: str) -> Policy:
    """Parse a JSON policy file (``"kind": "snp"`` if present)."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise PolicyFileError(f"policy file is not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise PolicyFileError("policy file: wanted a JSON object")
    kind = data.get("kind", "snp")
    if kind != "snp":
        raise PolicyFileError(f"kind is {kind!r}, wanted 'snp' for an SEV-SNP policy")
    return policy_from_mapping(data)


def policy_to_mapping(policy: Policy) -> dict[str, object]:
    """The JSON shape of ``policy`` (inverse of ``policy_from_mapping``), for docs and ``--json``."""
    out: dict[str, object] = {"kind": "snp"}
    for f in fields(Policy):
        value = getattr(policy, f.name)
        if value is None:
            out[f.name] = None
        elif isinstance(value, bytes):
            out[f.name] = value.hex()
        elif isinstance(value, TcbVersion):
            out[f.name] = value.components()
        elif isinstance(value, tuple):
            out[f.name] = f"{value[0]}.{value[1]}"
        elif isinstance(value, frozenset):
            out[f.name] = sorted(_item(x) for x in value)
        else:
            out[f.name] = value
    return out


def _item(x: object) -> str:
    if isinstance(x, bytes):
        return x.hex()
    if isinstance(x, SigningKey):
        return x.name
    return str(x)
