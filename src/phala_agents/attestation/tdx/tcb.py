"""TCB Info and QE Identity models, and TCB level evaluation as Intel's QVL does it.

Only signed (already verified) JSON reaches these parsers; a malformed document is still reported as
``VerificationError`` because the collateral cannot be used.

Evaluation (Intel SGX-TDX-DCAP-QuoteVerificationLibrary ``TcbLevelCheck``, ``TdxModuleCheck``,
``QuoteVerifier::checkTcbLevel``; dcap-qvl ``verify.rs`` steps 8-10):

* the platform level is the first ``tcbLevels`` entry whose 16 SGX component SVNs and PCESVN are all
  <= the PCK certificate's, and, for TDX, whose ``tdxtcbcomponents`` are <= TEE_TCB_SVN (bytes 0 and 1
  are skipped when TEE_TCB_SVN[1] > 0: the TDX module is then judged by ``tdxModuleIdentities``);
  no such level means the TCB is not supported and the quote is rejected;
* for TDX, the module identity ``TDX_%02X`` (TEE_TCB_SVN[1]) or the base ``tdxModule`` must match
  MR_SIGNER_SEAM and the masked SEAM_ATTRIBUTES; its level chosen by ISVSVN = TEE_TCB_SVN[0] is merged in;
* the QE identity level chosen by the QE report's ISVSVN is merged in.

Merging follows Intel's ``convergeTcbStatus``: an OutOfDate QE or module turns UpToDate and
SWHardeningNeeded into OutOfDate and the two Configuration statuses into OutOfDateConfigurationNeeded;
Revoked wins. Advisory ids are unioned, platform first.
"""

from __future__ import annotations

import enum
import json
from dataclasses import dataclass
from datetime import datetime

from phala_agents.errors import VerificationError

__all__ = [
    "QeIdentity",
    "QeTcbLevel",
    "TcbInfo",
    "TcbLevel",
    "TcbResult",
    "TcbStatus",
    "TdxModuleIdentity",
    "converge",
    "match_platform_tcb",
    "match_qe_tcb",
    "parse_qe_identity",
    "parse_tcb_info",
    "parse_time",
]


class TcbStatus(enum.StrEnum):
    """Intel TCB status names, as they appear in TCB Info and QE Identity."""

    UP_TO_DATE = "UpToDate"
    SW_HARDENING_NEEDED = "SWHardeningNeeded"
    CONFIGURATION_NEEDED = "ConfigurationNeeded"
    CONFIGURATION_AND_SW_HARDENING_NEEDED = "ConfigurationAndSWHardeningNeeded"
    OUT_OF_DATE = "OutOfDate"
    OUT_OF_DATE_CONFIGURATION_NEEDED = "OutOfDateConfigurationNeeded"
    REVOKED = "Revoked"


@dataclass(frozen=True, slots=True, kw_only=True)
class TcbResult:
    """A status with its advisory ids."""

    status: TcbStatus
    advisory_ids: tuple[str, ...] = ()
    tcb_date: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class TcbLevel:
    sgx_components: tuple[int, ...]
    pce_svn: int
    tdx_components: tuple[int, ...] | None
    tcb_date: str
    status: TcbStatus
    advisory_ids: tuple[str, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class QeTcbLevel:
    isv_svn: int
    tcb_date: str
    status: TcbStatus
    advisory_ids: tuple[str, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class TdxModuleIdentity:
    id: str
    mr_signer: bytes
    attributes: bytes
    attributes_mask: bytes
    tcb_levels: tuple[QeTcbLevel, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class TcbInfo:
    id: str
    version: int
    issue_date: int
    next_update: int
    fmspc: bytes
    pce_id: bytes
    tcb_type: int
    tcb_evaluation_data_number: int
    tdx_module: TdxModuleIdentity | None
    tdx_module_identities: tuple[TdxModuleIdentity, ...]
    tcb_levels: tuple[TcbLevel, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class QeIdentity:
    id: str
    version: int
    issue_date: int
    next_update: int
    tcb_evaluation_data_number: int
    misc_select: int
    misc_select_mask: int
    attributes: bytes
    attributes_mask: bytes
    mr_signer: bytes
    isv_prod_id: int
    tcb_levels: tuple[QeTcbLevel, ...]


def parse_time(text: object, field: str) -> int:
    """An RFC 3339 UTC time as Intel writes it (``2025-06-19T10:16:03Z``) to unix seconds."""
    if not isinstance(text, str):
        raise VerificationError(f"{field} is {text!r}. Expect an RFC 3339 time")
    try:
        dt = datetime.fromisoformat(text)
    except ValueError as exc:
        raise VerificationError(f"{field} is {text!r}. Expect an RFC 3339 UTC time") from exc
    if dt.tzinfo is None:
        raise VerificationError(f"{field} is {text!r}. Expect a time zone (Z)")
    return int(dt.timestamp())


def _obj(value: object, field: str) -> dict[str, object]:
    if not isinstance(value, dict):
        raise VerificationError(f"{field} is not a JSON object")
    return value


def _int(d: dict[str, object], key: str, where: str) -> int:
    v = d.get(key)
    if not isinstance(v, int) or isinstance(v, bool):
        raise VerificationError(f"{where}.{key} is {v!r}. Expect an integer")
    return v


def _str(d: dict[str, object], key: str, where: str) -> str:
    v = d.get(key)
    if not isinstance(v, str):
        raise VerificationError(f"{where}.{key} is {v!r}. Expect a string")
    return v


def _hex(d: dict[str, object], key: str, where: str, size: int) -> bytes:
    s = _str(d, key, where)
    try:
        out = bytes.fromhex(s)
    except ValueError as exc:
        raise VerificationError(f"{where}.{key} is not hex") from exc
    if len(out) != size:
        raise VerificationError(f"{where}.{key} has {len(out)} bytes. Expect {size}")
    return out


def _status(d: dict[str, object], where: str) -> TcbStatus:
    s = _str(d, "tcbStatus", where)
    try:
        return TcbStatus(s)
    except ValueError as exc:
        raise VerificationError(f"{where}.tcbStatus is {s!r}. Expect one of the Intel TCB statuses") from exc


def _advisories(d: dict[str, object], where: str) -> tuple[str, ...]:
    v = d.get("advisoryIDs", [])
    if not isinstance(v, list) or not all(isinstance(a, str) for a in v):
        raise VerificationError(f"{where}.advisoryIDs is not a list of strings")
    return tuple(str(a) for a in v)


def _svns(v: object, where: str) -> tuple[int, ...]:
    if not isinstance(v, list):
        raise VerificationError(f"{where} is not a list")
    try:
        out = tuple(c["svn"] for c in v)
    except (TypeError, KeyError) as exc:
        raise VerificationError(f"{where} has a component without svn") from exc
    if not all(type(x) is int for x in out):
        raise VerificationError(f"{where} has a non-integer svn")
    return out


def _isv_levels(v: object, where: str) -> tuple[QeTcbLevel, ...]:
    if not isinstance(v, list):
        raise VerificationError(f"{where} is not a list")
    levels = []
    for i, item in enumerate(v):
        w = f"{where}[{i}]"
        lvl = _obj(item, w)
        tcb = _obj(lvl.get("tcb"), f"{w}.tcb")
        levels.append(
            QeTcbLevel(
                isv_svn=_int(tcb, "isvsvn", f"{w}.tcb"),
                tcb_date=_str(lvl, "tcbDate", w),
                status=_status(lvl, w),
                advisory_ids=_advisories(lvl, w),
            )
        )
    return tuple(levels)


def _module(d: dict[str, object], where: str, *, with_levels: bool) -> TdxModuleIdentity:
    return TdxModuleIdentity(
        id=str(d.get("id", "")),
        mr_signer=_hex(d, "mrsigner", where, 48),
        attributes=_hex(d, "attributes", where, 8),
        attributes_mask=_hex(d, "attributesMask", where, 8),
        tcb_levels=_isv_levels(d.get("tcbLevels"), f"{where}.tcbLevels") if with_levels else (),
    )


def _load(raw: bytes, what: str) -> dict[str, object]:
    try:
        doc = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise VerificationError(f"{what} is not valid JSON") from exc
    return _obj(doc, what)


def parse_tcb_info(raw: bytes) -> TcbInfo:
    """Parse the signed ``tcbInfo`` JSON (version 2 for SGX, 3 for SGX or TDX)."""
    d = _load(raw, "tcbInfo")
    w = "tcbInfo"
    version = _int(d, "version", w)
    levels_raw = d.get("tcbLevels")
    if not isinstance(levels_raw, list):
        raise VerificationError("tcbInfo.tcbLevels is not a list")
    levels = []
    i = 0
    try:
        # Direct indexing in one try block: TCB Info holds a few dozen levels and this runs on every
        # cold verification; any shape error becomes one VerificationError naming the level.
        for lvl in levels_raw:
            tcb = lvl["tcb"]
            if version >= 3:
                sgx = tuple(c["svn"] for c in tcb["sgxtcbcomponents"])
                tdx_raw = tcb.get("tdxtcbcomponents")
                tdx = tuple(c["svn"] for c in tdx_raw) if tdx_raw is not None else None
            else:  # v2: sgxtcbcomp01svn .. sgxtcbcomp16svn
                sgx = tuple(tcb[f"sgxtcbcomp{k:02d}svn"] for k in range(1, 17))
                tdx = None
            pce = tcb["pcesvn"]
            ids = lvl.get("advisoryIDs", ())
            if (
                type(pce) is not int
                or not all(type(x) is int for x in sgx)
                or (tdx is not None and not all(type(x) is int for x in tdx))
                or not isinstance(lvl["tcbDate"], str)
                or not all(isinstance(a, str) for a in ids)
            ):
                raise TypeError("wrong JSON types")
            levels.append(
                TcbLevel(
                    sgx_components=sgx,
                    pce_svn=pce,
                    tdx_components=tdx,
                    tcb_date=lvl["tcbDate"],
                    status=TcbStatus(lvl["tcbStatus"]),
                    advisory_ids=tuple(ids),
                )
            )
            i += 1
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise VerificationError(f"tcbInfo.tcbLevels[{i}] is malformed: {exc!r}") from exc
    module = None
    if "tdxModule" in d:
        module = _module(_obj(d["tdxModule"], "tcbInfo.tdxModule"), "tcbInfo.tdxModule", with_levels=False)
    identities = []
    ids_raw = d.get("tdxModuleIdentities", [])
    if not isinstance(ids_raw, list):
        raise VerificationError("tcbInfo.tdxModuleIdentities is not a list")
    for i, item in enumerate(ids_raw):
        iw = f"tcbInfo.tdxModuleIdentities[{i}]"
        identities.append(_module(_obj(item, iw), iw, with_levels=True))
    return TcbInfo(
        id=str(d.get("id", "SGX")),  # v2 TCB Info has no id and is always SGX
        version=version,
        issue_date=parse_time(d.get("issueDate"), "tcbInfo.issueDate"),
        next_update=parse_time(d.get("nextUpdate"), "tcbInfo.nextUpdate"),
        fmspc=_hex(d, "fmspc", w, 6),
        pce_id=_hex(d, "pceId", w, 2),
        tcb_type=_int(d, "tcbType", w),
        tcb_evaluation_data_number=_int(d, "tcbEvaluationDataNumber", w),
        tdx_module=module,
        tdx_module_identities=tuple(identities),
        tcb_levels=tuple(levels),
    )


def parse_qe_identity(raw: bytes) -> QeIdentity:
    """Parse the signed ``enclaveIdentity`` JSON (version 2)."""
    d = _load(raw, "enclaveIdentity")
    w = "enclaveIdentity"
    return QeIdentity(
        id=_str(d, "id", w),
        version=_int(d, "version", w),
        issue_date=parse_time(d.get("issueDate"), "enclaveIdentity.issueDate"),
        next_update=parse_time(d.get("nextUpdate"), "enclaveIdentity.nextUpdate"),
        tcb_evaluation_data_number=_int(d, "tcbEvaluationDataNumber", w),
        misc_select=int.from_bytes(_hex(d, "miscselect", w, 4), "little"),
        misc_select_mask=int.from_bytes(_hex(d, "miscselectMask", w, 4), "little"),
        attributes=_hex(d, "attributes", w, 16),
        attributes_mask=_hex(d, "attributesMask", w, 16),
        mr_signer=_hex(d, "mrsigner", w, 32),
        isv_prod_id=_int(d, "isvprodid", w),
        tcb_levels=_isv_levels(d.get("tcbLevels"), "enclaveIdentity.tcbLevels"),
    )


_CONFIG = (TcbStatus.CONFIGURATION_NEEDED, TcbStatus.CONFIGURATION_AND_SW_HARDENING_NEEDED)


def converge(platform: TcbResult, other: TcbResult) -> TcbResult:
    """Merge a QE or TDX module result into the platform result (Intel ``convergeTcbStatus``)."""
    status = platform.status
    if other.status == TcbStatus.REVOKED:
        status = TcbStatus.REVOKED
    elif other.status in (TcbStatus.OUT_OF_DATE, TcbStatus.OUT_OF_DATE_CONFIGURATION_NEEDED):
        if platform.status in (TcbStatus.UP_TO_DATE, TcbStatus.SW_HARDENING_NEEDED):
            status = TcbStatus.OUT_OF_DATE
        elif platform.status in _CONFIG:
            status = TcbStatus.OUT_OF_DATE_CONFIGURATION_NEEDED
    ids = list(platform.advisory_ids)
    ids.extend(a for a in other.advisory_ids if a not in ids)
    return TcbResult(status=status, advisory_ids=tuple(ids), tcb_date=platform.tcb_date)


def match_qe_tcb(isv_svn: int, levels: tuple[QeTcbLevel, ...], what: str = "QE") -> TcbResult:
    """The first level whose ISVSVN is <= the enclave's; none is an error (Intel: Revoked)."""
    for lvl in levels:
        if isv_svn >= lvl.isv_svn:
            return TcbResult(status=lvl.status, advisory_ids=lvl.advisory_ids, tcb_date=lvl.tcb_date)
    lowest = levels[-1].isv_svn if levels else None
    raise VerificationError(f"{what} ISVSVN is {isv_svn}. Expect at least {lowest} (no matching TCB level)")


def _module_result(
    tcb_info: TcbInfo, tee_tcb_svn: bytes, mr_signer_seam: bytes, seam_attributes: bytes
) -> TcbResult | None:
    base = tcb_info.tdx_module
    if base is None:
        raise VerificationError("tcbInfo.tdxModule is missing. Expect it in TDX TCB Info")
    ident = base
    version = tee_tcb_svn[1]
    if version > 0 and tcb_info.tdx_module_identities:
        wanted = f"TDX_{version:02X}"
        found = [m for m in tcb_info.tdx_module_identities if m.id.upper() == wanted]
        if not found:
            raise VerificationError(
                f"tcbInfo.tdxModuleIdentities has no {wanted} (TEE_TCB_SVN[1] = {version})"
            )
        ident = found[0]
    if mr_signer_seam != ident.mr_signer:
        raise VerificationError(
            f"quote field MR_SIGNER_SEAM is {mr_signer_seam.hex()}. "
            f"Expect {ident.mr_signer.hex()} ({ident.id or 'tdxModule'})"
        )
    for i in range(8):
        m = ident.attributes_mask[i]
        if (seam_attributes[i] & m) != (ident.attributes[i] & m) or seam_attributes[i] & ~m & 0xFF:
            raise VerificationError(
                f"quote field SEAM_ATTRIBUTES is {seam_attributes.hex()}. Expect {ident.attributes.hex()} "
                f"under mask {ident.attributes_mask.hex()}"
            )
    if ident is base:
        return None
    return match_qe_tcb(tee_tcb_svn[0], ident.tcb_levels, f"TDX module {ident.id}")


def match_platform_tcb(
    tcb_info: TcbInfo,
    *,
    cpu_svn_components: tuple[int, ...],
    pce_svn: int,
    tee_tcb_svn: bytes | None,
    mr_signer_seam: bytes | None = None,
    seam_attributes: bytes | None = None,
) -> TcbResult:
    """Select the platform TCB level; for TDX merge the TDX module identity status in."""
    is_tdx = tee_tcb_svn is not None
    start = 2 if is_tdx and tee_tcb_svn is not None and tee_tcb_svn[1] > 0 else 0
    for lvl in tcb_info.tcb_levels:
        if len(lvl.sgx_components) != len(cpu_svn_components):
            raise VerificationError(
                f"tcbInfo level has {len(lvl.sgx_components)} SGX components. "
                f"Expect {len(cpu_svn_components)}"
            )
        if pce_svn < lvl.pce_svn:
            continue
        if any(have < need for have, need in zip(cpu_svn_components, lvl.sgx_components, strict=True)):
            continue
        if tee_tcb_svn is not None:
            if lvl.tdx_components is None or len(lvl.tdx_components) != len(tee_tcb_svn):
                raise VerificationError("tcbInfo level has no 16 tdxtcbcomponents. Expect them for TDX")
            if any(tee_tcb_svn[i] < lvl.tdx_components[i] for i in range(start, len(tee_tcb_svn))):
                continue
        result = TcbResult(status=lvl.status, advisory_ids=lvl.advisory_ids, tcb_date=lvl.tcb_date)
        if tee_tcb_svn is not None and mr_signer_seam is not None and seam_attributes is not None:
            module = _module_result(tcb_info, tee_tcb_svn, mr_signer_seam, seam_attributes)
            if module is not None:
                result = converge(result, module)
        return result
    raise VerificationError(
        "No matching TCB level found: the platform TCB (SGX components, PCESVN"
        + (", TEE_TCB_SVN" if is_tdx else "")
        + f") is below every level of TCB Info for FMSPC {tcb_info.fmspc.hex().upper()} "
        f"(tcbEvaluationDataNumber {tcb_info.tcb_evaluation_data_number})"
    )
