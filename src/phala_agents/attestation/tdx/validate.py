"""Policy for verified DCAP quotes: every violation is collected, then raised once as PolicyError.

Verification (``verify.py``) establishes that the quote is authentic and evaluates its TCB; whether that
TCB status, those measurements and that REPORT_DATA are acceptable is the relying party's decision
(go-sev-guest ``validate.SnpAttestation``; dcap-qvl returns OutOfDate and friends instead of failing).
"""

from __future__ import annotations

from dataclasses import dataclass

from phala_agents.attestation.tdx.abi import EnclaveReport, TdReport
from phala_agents.attestation.tdx.tcb import TcbStatus
from phala_agents.attestation.tdx.verify import VerifiedQuote
from phala_agents.errors import PolicyError

__all__ = ["Policy", "validate_quote"]


def _hexes(values: tuple[bytes, ...]) -> str:
    return " or ".join(v.hex() for v in values)


@dataclass(frozen=True, slots=True, kw_only=True)
class Policy:
    """What a relying party accepts. Empty allow-lists mean "any value".

    The default is a production policy: no debug, UpToDate only, TD attributes sane.
    """

    allow_debug: bool = False
    allowed_statuses: frozenset[TcbStatus] = frozenset({TcbStatus.UP_TO_DATE})
    rejected_advisory_ids: frozenset[str] = frozenset()
    allowed_advisory_ids: frozenset[str] | None = None  # None: any advisory the status allows
    min_tcb_eval_data_number: int = 0
    max_collateral_age: int | None = None  # seconds from the older issueDate to the verification time
    report_data: bytes | None = None  # REPORT_DATA must equal this (64 bytes, or a prefix padded with zeros)
    # TDX measurements (allow-lists)
    mr_td: tuple[bytes, ...] = ()
    rtmr0: tuple[bytes, ...] = ()
    rtmr1: tuple[bytes, ...] = ()
    rtmr2: tuple[bytes, ...] = ()
    rtmr3: tuple[bytes, ...] = ()
    mr_config_id: tuple[bytes, ...] = ()
    mr_seam: tuple[bytes, ...] = ()
    allow_service_td: bool = False  # TD 1.5: MR_SERVICETD must be zero unless allowed
    require_sept_ve_disable: bool = True
    # SGX measurements (allow-lists)
    mr_enclave: tuple[bytes, ...] = ()
    mr_signer: tuple[bytes, ...] = ()
    isv_prod_id: int | None = None
    min_isv_svn: int = 0
    # TEE kind: None accepts both
    require_tdx: bool | None = None
    # PCK certificate flags (dcap-qvl QuotePolicy.strict refuses all three; real TDX hosts set them)
    allow_dynamic_platform: bool = True
    allow_cached_keys: bool = True
    allow_smt: bool = True


def _check_list(out: list[str], field: str, value: bytes, allowed: tuple[bytes, ...]) -> None:
    if allowed and value not in allowed:
        out.append(f"quote field {field} is {value.hex()}. Expect {_hexes(allowed)}")


def _td(out: list[str], b: TdReport, p: Policy) -> None:
    attrs = b.td_attributes
    if b.debug and not p.allow_debug:
        out.append(f"quote field TD_ATTRIBUTES is {attrs.hex()} with DEBUG set. Expect DEBUG clear")
    if attrs[0] & 0xFE:
        out.append(f"quote field TD_ATTRIBUTES is {attrs.hex()}: reserved TUD bits 7:1 are set. Expect 0")
    sec = int.from_bytes(attrs[0:4], "little")
    # SEC bits 27:8 and 29 are reserved (dcap-qvl TDAttributes); bit 28 is SEPT_VE_DISABLE.
    if sec & 0x0FFFFF00 or sec & (1 << 29):
        out.append(f"quote field TD_ATTRIBUTES is {attrs.hex()}: reserved SEC bits are set. Expect 0")
    if p.require_sept_ve_disable and not sec & (1 << 28):
        out.append(f"quote field TD_ATTRIBUTES is {attrs.hex()} without SEPT_VE_DISABLE. Expect it set")
    _check_list(out, "MR_TD", b.mr_td, p.mr_td)
    for i, (value, allowed) in enumerate(zip(b.rtmrs, (p.rtmr0, p.rtmr1, p.rtmr2, p.rtmr3), strict=True)):
        _check_list(out, f"RTMR{i}", value, allowed)
    _check_list(out, "MR_CONFIG_ID", b.mr_config_id, p.mr_config_id)
    _check_list(out, "MR_SEAM", b.mr_seam, p.mr_seam)
    if b.mr_service_td is not None and any(b.mr_service_td) and not p.allow_service_td:
        out.append(f"quote field MR_SERVICETD is {b.mr_service_td.hex()}. Expect all zero")


def _sgx(out: list[str], b: EnclaveReport, p: Policy) -> None:
    if b.debug and not p.allow_debug:
        out.append(f"quote field ATTRIBUTES is {b.attributes.hex()} with DEBUG set. Expect DEBUG clear")
    _check_list(out, "MRENCLAVE", b.mr_enclave, p.mr_enclave)
    _check_list(out, "MRSIGNER", b.mr_signer, p.mr_signer)
    if p.isv_prod_id is not None and b.isv_prod_id != p.isv_prod_id:
        out.append(f"quote field ISVPRODID is {b.isv_prod_id}. Expect {p.isv_prod_id}")
    if b.isv_svn < p.min_isv_svn:
        out.append(f"quote field ISVSVN is {b.isv_svn}. Expect at least {p.min_isv_svn}")


def validate_quote(verified: VerifiedQuote, policy: Policy) -> None:
    """Check ``verified`` against ``policy``; raise PolicyError listing every violation."""
    out: list[str] = []
    q = verified.quote
    body = q.body
    if policy.require_tdx is not None and q.is_tdx != policy.require_tdx:
        out.append(
            f"quote TEE is {'TDX' if q.is_tdx else 'SGX'}. Expect {'TDX' if policy.require_tdx else 'SGX'}"
        )
    if isinstance(body, TdReport):
        _td(out, body, policy)
    else:
        _sgx(out, body, policy)
    if policy.report_data is not None:
        want = policy.report_data
        if len(want) > 64:
            raise ValueError("Policy.report_data has more than 64 bytes")
        want = want + bytes(64 - len(want))
        if body.report_data != want:
            out.append(f"quote field REPORT_DATA is {body.report_data.hex()}. Expect {want.hex()}")
    if verified.status not in policy.allowed_statuses:
        allowed = ", ".join(sorted(policy.allowed_statuses))
        out.append(f"TCB status is {verified.status}. Expect one of {allowed}")
    bad = [a for a in verified.advisory_ids if a in policy.rejected_advisory_ids]
    if policy.allowed_advisory_ids is not None:
        bad += [a for a in verified.advisory_ids if a not in policy.allowed_advisory_ids and a not in bad]
    if bad:
        out.append(f"TCB advisory ids include {', '.join(bad)}. Expect none of them")
    if verified.tcb_eval_data_number < policy.min_tcb_eval_data_number:
        out.append(
            f"TCB Info tcbEvaluationDataNumber is {verified.tcb_eval_data_number}. "
            f"Expect at least {policy.min_tcb_eval_data_number}"
        )
    if policy.max_collateral_age is not None:
        age = verified.verified_at - verified.collateral_issued_at
        if age > policy.max_collateral_age:
            out.append(f"collateral age is {age} s. Expect at most {policy.max_collateral_age} s")
    pck = verified.pck
    flags: tuple[tuple[bool | None, bool, str], ...] = (
        (pck.dynamic_platform, policy.allow_dynamic_platform, "dynamicPlatform"),
        (pck.cached_keys, policy.allow_cached_keys, "cachedKeys"),
        (pck.smt_enabled, policy.allow_smt, "SMTEnabled"),
    )
    for flag, permitted, name in flags:
        if flag and not permitted:
            out.append(f"PCK certificate flag {name} is true. Expect false")
    if out:
        raise PolicyError(out)
