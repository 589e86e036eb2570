"""TCB evaluation pieces: status convergence (Intel convergeTcbStatus), level matching, JSON models."""

from __future__ import annotations

import json

import pytest
from tdx_helpers import vector_collateral

from phala_agents.attestation.tdx import TcbResult, TcbStatus
from phala_agents.attestation.tdx.tcb import (
    converge,
    match_platform_tcb,
    match_qe_tcb,
    parse_qe_identity,
    parse_tcb_info,
    parse_time,
)
from phala_agents.errors import VerificationError

S = TcbStatus


def r(status: TcbStatus, *ids: str) -> TcbResult:
    return TcbResult(status=status, advisory_ids=ids)


@pytest.mark.parametrize(
    ("platform", "other", "want"),
    [
        (S.UP_TO_DATE, S.UP_TO_DATE, S.UP_TO_DATE),
        (S.UP_TO_DATE, S.OUT_OF_DATE, S.OUT_OF_DATE),
        (S.SW_HARDENING_NEEDED, S.OUT_OF_DATE, S.OUT_OF_DATE),
        (S.CONFIGURATION_NEEDED, S.OUT_OF_DATE, S.OUT_OF_DATE_CONFIGURATION_NEEDED),
        (S.CONFIGURATION_AND_SW_HARDENING_NEEDED, S.OUT_OF_DATE, S.OUT_OF_DATE_CONFIGURATION_NEEDED),
        (S.OUT_OF_DATE, S.OUT_OF_DATE, S.OUT_OF_DATE),
        (S.CONFIGURATION_NEEDED, S.UP_TO_DATE, S.CONFIGURATION_NEEDED),
        (S.UP_TO_DATE, S.REVOKED, S.REVOKED),
        (S.REVOKED, S.UP_TO_DATE, S.REVOKED),
    ],
)
def test_converge(platform: TcbStatus, other: TcbStatus, want: TcbStatus) -> None:
    assert converge(r(platform), r(other)).status == want


def test_converge_advisories_union_platform_first() -> None:
    out = converge(r(S.SW_HARDENING_NEEDED, "A", "B"), r(S.UP_TO_DATE, "B", "C"))
    assert out.advisory_ids == ("A", "B", "C")


def test_real_tcb_info_models() -> None:
    c = vector_collateral("tdx/tdx_v4_uptodate")
    info = parse_tcb_info(c.tcb_info)
    assert info.id == "TDX" and info.version == 3 and info.tcb_evaluation_data_number == 17
    assert info.fmspc.hex().upper() == "B0C06F000000"
    assert info.issue_date == parse_time("2025-06-19T10:16:03Z", "x") == 1750328163
    assert [m.id for m in info.tdx_module_identities] == ["TDX_03", "TDX_01"]
    assert len(info.tcb_levels[0].sgx_components) == 16
    qe = parse_qe_identity(c.qe_identity)
    assert qe.id == "TD_QE" and qe.isv_prod_id == 2 and qe.tcb_levels[0].isv_svn == 4
    sgx = parse_tcb_info(vector_collateral("sgx/sgx_v3_cswhn").tcb_info)
    assert sgx.id == "SGX" and sgx.tdx_module is None


def test_match_platform_first_level_wins_and_tdx_bytes() -> None:
    info = parse_tcb_info(vector_collateral("tdx/tdx_v4_uptodate").tcb_info)
    comps = (3, 3, 2, 2, 4, 1, 0, 5) + (0,) * 8
    svn = bytes([6, 1, 3]) + bytes(13)
    got = match_platform_tcb(
        info,
        cpu_svn_components=comps,
        pce_svn=11,
        tee_tcb_svn=svn,
        mr_signer_seam=bytes(48),
        seam_attributes=bytes(8),
    )
    assert got.status == S.UP_TO_DATE
    got = match_platform_tcb(
        info,
        cpu_svn_components=comps,
        pce_svn=10,
        tee_tcb_svn=svn,
        mr_signer_seam=bytes(48),
        seam_attributes=bytes(8),
    )
    assert got.status == S.OUT_OF_DATE and "INTEL-SA-00837" in got.advisory_ids
    with pytest.raises(VerificationError, match="No matching TCB level found"):
        match_platform_tcb(info, cpu_svn_components=(0,) * 16, pce_svn=11, tee_tcb_svn=svn)
    with pytest.raises(VerificationError, match="SEAM_ATTRIBUTES"):
        match_platform_tcb(
            info,
            cpu_svn_components=comps,
            pce_svn=11,
            tee_tcb_svn=svn,
            mr_signer_seam=bytes(48),
            seam_attributes=b"\x01" + bytes(7),
        )


def test_match_qe() -> None:
    qe = parse_qe_identity(vector_collateral("tdx/tdx_v4_uptodate").qe_identity)
    assert match_qe_tcb(6, qe.tcb_levels).status == S.UP_TO_DATE
    with pytest.raises(VerificationError, match=r"ISVSVN is 3\. Expect at least 4"):
        match_qe_tcb(3, qe.tcb_levels)


@pytest.mark.parametrize(
    ("doc", "want"),
    [
        (b"[]", "not a JSON object"),
        (b"{", "not valid JSON"),
        (json.dumps({"version": "3"}).encode(), "tcbInfo.version"),
        (
            json.dumps(
                {"version": 3, "tcbLevels": [{"tcb": {}, "tcbDate": "x", "tcbStatus": "UpToDate"}]}
            ).encode(),
            "sgxtcbcomponents",
        ),
        (json.dumps({"version": 3, "tcbLevels": [], "issueDate": "yesterday"}).encode(), "issueDate"),
    ],
)
def test_tcb_info_malformed(doc: bytes, want: str) -> None:
    with pytest.raises(VerificationError, match=want):
        parse_tcb_info(doc)


def test_unknown_status_rejected() -> None:
    c = vector_collateral("tdx/tdx_v4_uptodate")
    with pytest.raises(VerificationError, match="UpToDatE"):
        parse_tcb_info(c.tcb_info.replace(b'"UpToDate"', b'"UpToDatE"', 1))
