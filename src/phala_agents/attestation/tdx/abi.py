"""Parse Intel DCAP ECDSA quotes: v3 (SGX), v4 and v5 (TD 1.0, TD 1.5 and SGX bodies).

Parsing only checks that the bytes have the quote layout. Whether the version, attestation key type,
QE vendor id or TEE type are acceptable is left to ``verify`` (go-sev-guest ``abi.ReportToProto``:
"r.Version should be 2, but that's left to validation step"), except where the layout itself depends
on them (the version and TEE type select the body).

Layout (Intel SGX ECDSA Quote Library Reference, "Quote Format"; TDX DCAP Quoting Library API,
appendix "Quote Format v4/v5"); all integers little-endian::

    header (48)  version u16 | attestation_key_type u16 | tee_type u32 (v3: reserved) | qe_svn u16 |
                 pce_svn u16 | qe_vendor_id 16 | user_data 20
    v5 only      body_type u16 | body_size u32        (1 SGX, 2 TD 1.0, 3 TD 1.5)
    body         SGX enclave report (384) | TD report 1.0 (584) | TD report 1.5 (648)
    sig_data_len u32, then signature data:
      quote signature 64 (r||s) | attestation key 64 (X||Y) |
      v3: QE report 384 | QE report signature 64 | auth data len u16 | auth data | cert type u16 |
          cert size u32 | cert data
      v4/v5: cert type u16 (6) | cert size u32 | [QE report ... as above, inner cert type 5]

Bytes after the signature data are ignored: real quotes carry zero padding there (the shared TDX
vectors end with 70 such bytes), and they are not signed.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from phala_agents.errors import ReportFormatError

__all__ = [
    "BODY_SGX_ENCLAVE",
    "BODY_TD_REPORT_10",
    "BODY_TD_REPORT_15",
    "CERT_TYPE_PCK_CHAIN",
    "CERT_TYPE_QE_REPORT",
    "TEE_TYPE_SGX",
    "TEE_TYPE_TDX",
    "EnclaveReport",
    "Quote",
    "QuoteHeader",
    "TdReport",
    "parse_enclave_report",
    "parse_quote",
]

HEADER_LEN = 48
ENCLAVE_REPORT_LEN = 384
TD_REPORT_10_LEN = 584
TD_REPORT_15_LEN = 648
TEE_TYPE_SGX = 0x00
TEE_TYPE_TDX = 0x81
BODY_SGX_ENCLAVE = 1
BODY_TD_REPORT_10 = 2
BODY_TD_REPORT_15 = 3
CERT_TYPE_PCK_CHAIN = 5
CERT_TYPE_QE_REPORT = 6
_BODY_LEN = {
    BODY_SGX_ENCLAVE: ENCLAVE_REPORT_LEN,
    BODY_TD_REPORT_10: TD_REPORT_10_LEN,
    BODY_TD_REPORT_15: TD_REPORT_15_LEN,
}


@dataclass(frozen=True, slots=True, kw_only=True)
class QuoteHeader:
    """The 48-byte quote header."""

    version: int
    attestation_key_type: int
    tee_type: int  # reserved (0) in v3, where the quote is always SGX
    qe_svn: int
    pce_svn: int
    qe_vendor_id: bytes
    user_data: bytes


@dataclass(frozen=True, slots=True, kw_only=True)
class EnclaveReport:
    """An SGX enclave report body (REPORTBODY): the ISV enclave of an SGX quote, or the QE report."""

    cpu_svn: bytes
    misc_select: int
    attributes: bytes
    mr_enclave: bytes
    mr_signer: bytes
    isv_prod_id: int
    isv_svn: int
    report_data: bytes
    reserved: bytes  # reserved1 || reserved2 || reserved3 || reserved4, kept to report them

    @property
    def debug(self) -> bool:
        """ATTRIBUTES.DEBUG (bit 1 of the flags)."""
        return bool(self.attributes[0] & 0x02)

    def fields(self) -> dict[str, str]:
        """Spec names to hex (or decimal) values, for display."""
        return {
            "CPUSVN": self.cpu_svn.hex(),
            "MISCSELECT": f"{self.misc_select:08x}",
            "ATTRIBUTES": self.attributes.hex(),
            "MRENCLAVE": self.mr_enclave.hex(),
            "MRSIGNER": self.mr_signer.hex(),
            "ISVPRODID": str(self.isv_prod_id),
            "ISVSVN": str(self.isv_svn),
            "REPORT_DATA": self.report_data.hex(),
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class TdReport:
    """A TD quote body: TD report 1.0, or 1.5 when ``tee_tcb_svn2`` and ``mr_service_td`` are set."""

    tee_tcb_svn: bytes
    mr_seam: bytes
    mr_signer_seam: bytes
    seam_attributes: bytes
    td_attributes: bytes
    xfam: bytes
    mr_td: bytes
    mr_config_id: bytes
    mr_owner: bytes
    mr_owner_config: bytes
    rtmr0: bytes
    rtmr1: bytes
    rtmr2: bytes
    rtmr3: bytes
    report_data: bytes
    tee_tcb_svn2: bytes | None = None
    mr_service_td: bytes | None = None

    @property
    def rtmrs(self) -> tuple[bytes, bytes, bytes, bytes]:
        return (self.rtmr0, self.rtmr1, self.rtmr2, self.rtmr3)

    @property
    def debug(self) -> bool:
        """TD_ATTRIBUTES.TUD.DEBUG (bit 0)."""
        return bool(self.td_attributes[0] & 0x01)

    def fields(self) -> dict[str, str]:
        """Spec names to hex values, for display."""
        out = {
            "TEE_TCB_SVN": self.tee_tcb_svn.hex(),
            "MR_SEAM": self.mr_seam.hex(),
            "MR_SIGNER_SEAM": self.mr_signer_seam.hex(),
            "SEAM_ATTRIBUTES": self.seam_attributes.hex(),
            "TD_ATTRIBUTES": self.td_attributes.hex(),
            "XFAM": self.xfam.hex(),
            "MR_TD": self.mr_td.hex(),
            "MR_CONFIG_ID": self.mr_config_id.hex(),
            "MR_OWNER": self.mr_owner.hex(),
            "MR_OWNER_CONFIG": self.mr_owner_config.hex(),
            "RTMR0": self.rtmr0.hex(),
            "RTMR1": self.rtmr1.hex(),
            "RTMR2": self.rtmr2.hex(),
            "RTMR3": self.rtmr3.hex(),
            "REPORT_DATA": self.report_data.hex(),
        }
        if self.tee_tcb_svn2 is not None and self.mr_service_td is not None:
            out["TEE_TCB_SVN2"] = self.tee_tcb_svn2.hex()
            out["MR_SERVICETD"] = self.mr_service_td.hex()
        return out


@dataclass(frozen=True, slots=True, kw_only=True)
class Quote:
    """A parsed DCAP quote. ``signed_region`` is header || (v5 descriptor ||) body, as signed."""

    header: QuoteHeader
    body_type: int  # BODY_SGX_ENCLAVE, BODY_TD_REPORT_10 or BODY_TD_REPORT_15
    body: EnclaveReport | TdReport
    signed_region: bytes
    signature: bytes
    attestation_key: bytes
    certification_data_type: int  # outer type: 6 for v4/v5, the PCK data type for v3
    qe_report: EnclaveReport
    qe_report_raw: bytes
    qe_report_signature: bytes
    qe_auth_data: bytes
    pck_cert_data_type: int  # 5 = PEM PCK chain; 1..4 (PPID forms) are parsed but not verifiable
    pck_cert_data: bytes

    @property
    def is_tdx(self) -> bool:
        return isinstance(self.body, TdReport)

    @property
    def report_data(self) -> bytes:
        return self.body.report_data

    @property
    def pck_chain_pem(self) -> bytes:
        """The PEM PCK chain with the NUL padding real quotes carry stripped."""
        return self.pck_cert_data.rstrip(b"\x00")

    def fields(self) -> dict[str, str]:
        """Header and body fields by spec name, hex at this edge."""
        h = self.header
        out = {
            "VERSION": str(h.version),
            "ATTESTATION_KEY_TYPE": str(h.attestation_key_type),
            "TEE_TYPE": f"0x{h.tee_type:02x}",
            "QE_SVN": str(h.qe_svn),
            "PCE_SVN": str(h.pce_svn),
            "QE_VENDOR_ID": h.qe_vendor_id.hex(),
            "USER_DATA": h.user_data.hex(),
        }
        out.update(self.body.fields())
        return out


class _Reader:
    """Bounds-checked little-endian reader; every short read is a ReportFormatError."""

    __slots__ = ("buf", "end", "pos", "what")

    def __init__(self, buf: bytes, pos: int, end: int, what: str) -> None:
        self.buf = buf
        self.pos = pos
        self.end = end
        self.what = what

    def take(self, n: int, field: str) -> bytes:
        if n < 0 or self.pos + n > self.end:
            raise ReportFormatError(
                f"{self.what} field {field} needs {n} bytes at offset {self.pos}; "
                f"found {max(self.end - self.pos, 0)}"
            )
        out = self.buf[self.pos : self.pos + n]
        self.pos += n
        return out

    def u16(self, field: str) -> int:
        return int.from_bytes(self.take(2, field), "little")

    def u32(self, field: str) -> int:
        return int.from_bytes(self.take(4, field), "little")


def parse_enclave_report(raw: bytes) -> EnclaveReport:
    """Parse a 384-byte SGX REPORTBODY."""
    if len(raw) != ENCLAVE_REPORT_LEN:
        raise ReportFormatError(f"enclave report length is {len(raw)}. Expect {ENCLAVE_REPORT_LEN}")
    (misc_select,) = struct.unpack_from("<I", raw, 16)
    isv_prod_id, isv_svn = struct.unpack_from("<HH", raw, 256)
    return EnclaveReport(
        cpu_svn=raw[0:16],
        misc_select=misc_select,
        attributes=raw[48:64],
        mr_enclave=raw[64:96],
        mr_signer=raw[128:160],
        isv_prod_id=isv_prod_id,
        isv_svn=isv_svn,
        report_data=raw[320:384],
        reserved=raw[20:48] + raw[96:128] + raw[160:256] + raw[260:320],
    )


def _parse_td_report(raw: bytes) -> TdReport:
    v15 = len(raw) == TD_REPORT_15_LEN
    return TdReport(
        tee_tcb_svn=raw[0:16],
        mr_seam=raw[16:64],
        mr_signer_seam=raw[64:112],
        seam_attributes=raw[112:120],
        td_attributes=raw[120:128],
        xfam=raw[128:136],
        mr_td=raw[136:184],
        mr_config_id=raw[184:232],
        mr_owner=raw[232:280],
        mr_owner_config=raw[280:328],
        rtmr0=raw[328:376],
        rtmr1=raw[376:424],
        rtmr2=raw[424:472],
        rtmr3=raw[472:520],
        report_data=raw[520:584],
        tee_tcb_svn2=raw[584:600] if v15 else None,
        mr_service_td=raw[600:648] if v15 else None,
    )


def parse_quote(raw: bytes) -> Quote:
    """Parse a DCAP quote. Raises ReportFormatError for anything that is not the quote layout."""
    if not isinstance(raw, (bytes, bytearray, memoryview)):
        raise TypeError(f"parse_quote wants bytes, got {type(raw).__name__}")
    raw = bytes(raw)
    r = _Reader(raw, 0, len(raw), "quote")
    hdr = r.take(HEADER_LEN, "header")
    version, ak_type, tee_type, qe_svn, pce_svn = struct.unpack_from("<HHIHH", hdr, 0)
    header = QuoteHeader(
        version=version,
        attestation_key_type=ak_type,
        tee_type=tee_type,
        qe_svn=qe_svn,
        pce_svn=pce_svn,
        qe_vendor_id=hdr[12:28],
        user_data=hdr[28:48],
    )
    if version == 3:
        body_type = BODY_SGX_ENCLAVE
    elif version == 4:
        if tee_type == TEE_TYPE_TDX:
            body_type = BODY_TD_REPORT_10
        elif tee_type == TEE_TYPE_SGX:
            body_type = BODY_SGX_ENCLAVE
        else:
            raise ReportFormatError(f"quote header field TEE_TYPE is 0x{tee_type:x}. Expect 0x0 or 0x81")
    elif version == 5:
        body_type = r.u16("body type")
        body_size = r.u32("body size")
        want = _BODY_LEN.get(body_type)
        if want is None:
            raise ReportFormatError(f"quote v5 body type is {body_type}. Expect 1, 2 or 3")
        if body_size != want:
            raise ReportFormatError(f"quote v5 body size is {body_size}. Expect {want} for type {body_type}")
    else:
        raise ReportFormatError(f"quote header field VERSION is {version}. Expect 3, 4 or 5")
    body_raw = r.take(_BODY_LEN[body_type], "body")
    body: EnclaveReport | TdReport = (
        parse_enclave_report(body_raw) if body_type == BODY_SGX_ENCLAVE else _parse_td_report(body_raw)
    )
    signed_region = raw[: r.pos]
    sig_len = r.u32("signature data length")
    sig = _Reader(raw, r.pos, r.pos + sig_len, "signature data")
    if sig.end > len(raw):
        raise ReportFormatError(
            f"quote signature data length is {sig_len}; only {len(raw) - r.pos} bytes follow"
        )
    signature = sig.take(64, "quote signature")
    attestation_key = sig.take(64, "attestation key")
    if version == 3:
        outer_type = -1  # v3 has the QE report part inline; set to the PCK data type below
        inner = sig
    else:
        outer_type = sig.u16("certification data type")
        outer_size = sig.u32("certification data size")
        if outer_type != CERT_TYPE_QE_REPORT:
            raise ReportFormatError(
                f"quote certification data type is {outer_type}. Expect {CERT_TYPE_QE_REPORT}"
            )
        inner = _Reader(raw, sig.pos, sig.pos, "QE report certification data")
        inner.end = sig.pos + outer_size
        if inner.end > sig.end:
            raise ReportFormatError(
                f"QE report certification data size is {outer_size}; only {sig.end - sig.pos} bytes follow"
            )
    qe_report_raw = inner.take(ENCLAVE_REPORT_LEN, "QE report")
    qe_report_signature = inner.take(64, "QE report signature")
    auth_len = inner.u16("QE auth data length")
    qe_auth_data = inner.take(auth_len, "QE auth data")
    pck_type = inner.u16("PCK certification data type")
    pck_size = inner.u32("PCK certification data size")
    pck_data = inner.take(pck_size, "PCK certification data")
    return Quote(
        header=header,
        body_type=body_type,
        body=body,
        signed_region=signed_region,
        signature=signature,
        attestation_key=attestation_key,
        certification_data_type=pck_type if version == 3 else outer_type,
        qe_report=parse_enclave_report(qe_report_raw),
        qe_report_raw=qe_report_raw,
        qe_report_signature=qe_report_signature,
        qe_auth_data=qe_auth_data,
        pck_cert_data_type=pck_type,
        pck_cert_data=pck_data,
    )
