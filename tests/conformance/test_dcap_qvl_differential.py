"""Differential tests against dcap-qvl 0.7.0 (PyPI): same verdicts, statuses, advisories and fields on
the real vectors, and on every single-byte mutation and every truncation of each quote.

Every disagreement found is a documented, intended one (docs/attestation.md, "TDX/SGX"): we are
stricter than dcap-qvl in exactly two places, and in each case we reject while dcap-qvl accepts:

* the outer certification data type of a v4/v5 quote must be 6 (QE report certification data);
  dcap-qvl decodes the bytes as type 6 whatever the type says;
* the PCK chain in the quote must end in the pinned Intel SGX Root CA, byte for byte (Intel QVL
  compares the chain's root with its trusted root); dcap-qvl (webpki) builds the path from the leaf
  and the PCK CA to its own anchor and never reads the chain's third certificate, so it accepts a
  quote whose root certificate PEM is damaged, or cut short by a smaller PCK data size.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from phala_agents.attestation.tdx import (
    VerificationCache,
    VerifyOptions,
    load_collateral,
    parse_quote,
    verify_quote,
)
from phala_agents.errors import AttestationError

dcap_qvl = pytest.importorskip("dcap_qvl")

DATA = Path(__file__).resolve().parent.parent / "data"

# stem, now, PEM chain offset, outer certification data type offset (None for v3),
# PCK certification data size offset, pinned number of (intended) disagreements among the flips
VECTORS = [
    ("tdx/tdx_v4_uptodate", 1752919234, 1258, 764, 1254, 813),
    ("tdx/tdx_v5_no_tcb_level", 1774003274, 1328, 834, 1324, 0),
    ("sgx/sgx_v3_cswhn", 1752919277, 1052, None, 1048, 812),
]

Verdict = tuple[str, ...]


def _ours(raw: bytes, coll: object, now: int, cache: VerificationCache) -> Verdict:
    try:
        v = verify_quote(raw, coll, VerifyOptions(now=now, cache=cache))  # type: ignore[arg-type]
    except AttestationError:
        return ("reject",)
    return ("accept", str(v.status), *v.advisory_ids)


def _theirs(raw: bytes, coll: object, now: int) -> Verdict:
    try:
        v = dcap_qvl.verify(raw, coll, now)
    except ValueError:
        return ("reject",)
    return ("accept", v.status, *v.advisory_ids)


@pytest.mark.parametrize(("stem", "now"), [(v[0], v[1]) for v in VECTORS], ids=[v[0] for v in VECTORS])
def test_same_result_and_fields(stem: str, now: int) -> None:
    raw = (DATA / f"{stem}.quote.bin").read_bytes()
    text = (DATA / f"{stem}.collateral.json").read_text()
    ours = _ours(raw, load_collateral(text), now, VerificationCache(8))
    theirs = _theirs(raw, dcap_qvl.QuoteCollateralV3.from_json(text), now)
    assert ours == theirs
    if theirs[0] == "accept":
        v = verify_quote(raw, load_collateral(text), VerifyOptions(now=now, cache=None))
        report = json.loads(dcap_qvl.verify(raw, dcap_qvl.QuoteCollateralV3.from_json(text), now).to_json())
        assert report["qe_status"] == {
            "status": v.qe_status.status,
            "advisory_ids": list(v.qe_status.advisory_ids),
        }
        assert report["platform_status"] == {
            "status": v.platform_status.status,
            "advisory_ids": list(v.platform_status.advisory_ids),
        }
        assert report["ppid"] == v.ppid.hex()
    # Parsed fields, for accepted and rejected quotes alike.
    theirs_q = dcap_qvl.parse_quote(raw)
    q = parse_quote(raw)
    assert theirs_q.header.version == q.header.version
    assert theirs_q.header.tee_type == q.header.tee_type
    assert bytes(theirs_q.header.qe_vendor_id) == q.header.qe_vendor_id
    assert theirs_q.fmspc().upper() == parse_fmspc(raw)
    rep = theirs_q.report
    td_names = ["mr_td", "report_data", "tee_tcb_svn", "mr_seam", "mr_signer_seam", "seam_attributes"]
    td_names += ["td_attributes", "xfam", "mr_config_id", "mr_owner", "mr_owner_config"]
    sgx_names = ["mr_enclave", "mr_signer", "report_data", "attributes", "cpu_svn"]
    names = td_names if q.is_tdx else sgx_names
    for name in names:
        assert bytes(getattr(rep, name)) == getattr(q.body, name), name
    if q.is_tdx:
        for i in range(4):
            assert bytes(getattr(rep, f"rt_mr{i}")) == getattr(q.body, f"rtmr{i}")


def parse_fmspc(raw: bytes) -> str:
    from cryptography import x509

    from phala_agents.attestation.tdx.pckext import find_sgx_extension, parse_pck_extension

    leaf = x509.load_pem_x509_certificates(parse_quote(raw).pck_chain_pem)[0]
    return parse_pck_extension(find_sgx_extension(leaf.tbs_certificate_bytes)).fmspc.hex().upper()


def _root_pem_range(raw: bytes, pem_at: int) -> range:
    """Byte offsets of the third certificate's PEM block (up to the NUL padding) in the quote."""
    pem = parse_quote(raw).pck_cert_data
    first = pem.find(b"-----BEGIN")
    third = pem.find(b"-----BEGIN", pem.find(b"-----BEGIN", first + 1) + 1)
    assert third > 0
    return range(pem_at + third, pem_at + len(pem.rstrip(b"\x00")))


@pytest.mark.parametrize(
    ("stem", "now", "pem_at", "outer_type_at", "size_at", "pinned"), VECTORS, ids=[v[0] for v in VECTORS]
)
def test_every_byte_flip_and_truncation(
    stem: str, now: int, pem_at: int, outer_type_at: int | None, size_at: int, pinned: int
) -> None:
    raw = (DATA / f"{stem}.quote.bin").read_bytes()
    text = (DATA / f"{stem}.collateral.json").read_text()
    coll, dcoll = load_collateral(text), dcap_qvl.QuoteCollateralV3.from_json(text)
    cache = VerificationCache(16)
    baseline = _theirs(raw, dcoll, now)
    assert _ours(raw, coll, now, cache) == baseline

    root_pem = _root_pem_range(raw, pem_at)
    intended = set(root_pem) | set(range(size_at, size_at + 4))
    if outer_type_at is not None:
        intended |= {outer_type_at, outer_type_at + 1}

    disagreements: list[tuple[int, Verdict, Verdict]] = []
    buf = bytearray(raw)
    for i in range(len(raw)):
        buf[i] ^= 0x01
        mutated = bytes(buf)
        buf[i] ^= 0x01
        ours, theirs = _ours(mutated, coll, now, cache), _theirs(mutated, dcoll, now)
        if ours != theirs:
            disagreements.append((i, ours, theirs))
    for pos, ours, theirs in disagreements:
        assert pos in intended, (pos, ours, theirs)
        # Always the same direction: we reject, dcap-qvl accepts with the unmutated quote's result.
        assert ours == ("reject",) and theirs == baseline, (pos, ours, theirs)
    assert len(disagreements) == pinned

    for n in range(len(raw)):
        assert _ours(raw[:n], coll, now, cache) == _theirs(raw[:n], dcoll, now), n
