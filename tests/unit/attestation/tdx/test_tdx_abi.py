"""parse_quote: layouts v3/v4/v5, spec field names, format errors, and a property test."""

from __future__ import annotations

import struct

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tdx_helpers import vector_quote

from phala_agents.attestation.tdx import EnclaveReport, Quote, TdReport, parse_quote
from phala_agents.attestation.tdx.abi import BODY_TD_REPORT_15
from phala_agents.attestation.tdx.simulated import SimulatedTdx
from phala_agents.errors import ReportFormatError

V4 = vector_quote("tdx/tdx_v4_uptodate")
V5 = vector_quote("tdx/tdx_v5_no_tcb_level")
V3 = vector_quote("sgx/sgx_v3_cswhn")


def test_v4_td10_fields() -> None:
    q = parse_quote(V4)
    assert isinstance(q.body, TdReport) and q.is_tdx
    assert q.body.tee_tcb_svn2 is None
    f = q.fields()
    assert f["VERSION"] == "4" and f["TEE_TYPE"] == "0x81"
    assert f["MR_TD"].startswith("91eb2b44d141d4ec")
    assert f["RTMR3"] == "00" * 48
    assert set(f) >= {
        "MR_TD",
        "RTMR0",
        "RTMR1",
        "RTMR2",
        "RTMR3",
        "REPORT_DATA",
        "TD_ATTRIBUTES",
        "XFAM",
        "MR_SEAM",
    }
    assert len(q.signed_region) == 632
    assert q.certification_data_type == 6 and q.pck_cert_data_type == 5
    assert q.pck_chain_pem.endswith(b"-----END CERTIFICATE-----\n")
    assert len(q.qe_auth_data) == 32


def test_v5_td15_descriptor() -> None:
    q = parse_quote(V5)
    assert q.body_type == BODY_TD_REPORT_15
    assert isinstance(q.body, TdReport)
    assert q.body.tee_tcb_svn2 is not None and q.body.tee_tcb_svn2.hex().startswith("0d0103")
    assert "MR_SERVICETD" in q.fields()
    assert len(q.signed_region) == 702  # header 48 + descriptor 6 + body 648


def test_v3_sgx_fields() -> None:
    q = parse_quote(V3)
    assert isinstance(q.body, EnclaveReport) and not q.is_tdx
    assert q.body.fields()["MRENCLAVE"] == "33d8736db756ed4997e04ba358d27833188f1932ff7b1d156904d3f560452fbb"
    assert q.report_data.startswith(b"Hello, world!")
    assert not q.body.debug
    assert q.certification_data_type == 5
    assert q.qe_report.isv_svn >= 0


@pytest.mark.parametrize(
    ("raw", "want"),
    [
        (b"", "header needs 48 bytes"),
        (struct.pack("<H", 2) + bytes(46), "VERSION is 2"),
        (struct.pack("<HHI", 4, 2, 0x7F) + bytes(40), "TEE_TYPE is 0x7f"),
        (struct.pack("<HHI", 5, 2, 0x81) + bytes(40) + struct.pack("<HI", 9, 584), "body type is 9"),
        (struct.pack("<HHI", 5, 2, 0x81) + bytes(40) + struct.pack("<HI", 2, 600), "body size is 600"),
        (V4[:632] + struct.pack("<I", 99999), "signature data length is 99999"),
        (V4[:764] + b"\x07\x00" + V4[766:], "certification data type is 7. Expect 6"),
        (V4[:2000], "only 1364 bytes follow"),
        (V4[:40], "header needs 48 bytes at offset 0; found 40"),
    ],
)
def test_format_errors(raw: bytes, want: str) -> None:
    with pytest.raises(ReportFormatError) as info:
        parse_quote(raw)
    assert want in str(info.value)


def test_trailing_padding_ignored() -> None:
    assert parse_quote(V4[:4936]) == parse_quote(V4)


def test_wrong_type() -> None:
    with pytest.raises(TypeError):
        parse_quote("not bytes")  # type: ignore[arg-type]


def test_simulated_round_trip() -> None:
    sim = SimulatedTdx.generate(not_before=1_700_000_000)
    q = parse_quote(sim.quote(mr_td=b"\x05" * 48, report_data=b"\x09" * 64, version=5))
    assert isinstance(q.body, TdReport)
    assert q.body.mr_td == b"\x05" * 48 and q.report_data == b"\x09" * 64 and q.header.version == 5


_PREFIXES = [V3, V4, V5]


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_any_bytes_parse_or_format_error(data: st.DataObject) -> None:
    """Any bytes give a Quote or a ReportFormatError, nothing else (random, mutated and cut quotes)."""
    kind = data.draw(st.sampled_from(["random", "mutated", "cut"]))
    if kind == "random":
        raw = data.draw(st.binary(max_size=2048))
    else:
        base = bytearray(data.draw(st.sampled_from(_PREFIXES)))
        if kind == "mutated":
            for _ in range(data.draw(st.integers(1, 8))):
                pos = data.draw(st.integers(0, len(base) - 1))
                base[pos] = data.draw(st.integers(0, 255))
        raw = bytes(base[: data.draw(st.integers(0, len(base)))])
    try:
        q = parse_quote(raw)
    except ReportFormatError:
        return
    assert isinstance(q, Quote)
    assert isinstance(q.fields(), dict)
