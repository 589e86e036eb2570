"""The Intel SGX PCK certificate extension (OID 1.2.840.113741.1.13.1), decoded with a minimal DER reader.

Layout (Intel "SGX PCK Certificate and CRL Profile"): a SEQUENCE of (OID, value) pairs: .1 PPID
(OCTET STRING 16), .2 TCB (SEQUENCE of .2.1-.2.16 component SVN INTEGERs, .2.17 PCESVN, .2.18 CPUSVN),
.3 PCE-ID (2), .4 FMSPC (6), .5 SGX type (ENUMERATED), .6 platform instance id (16, Platform CA only),
.7 configuration (SEQUENCE of .7.1 dynamicPlatform, .7.2 cachedKeys, .7.3 SMTEnabled BOOLEANs).
"""

from __future__ import annotations

from dataclasses import dataclass

from phala_agents.errors import VerificationError

__all__ = ["SGX_EXTENSION_OID", "PckExtension", "find_sgx_extension", "parse_pck_extension"]

SGX_EXTENSION_OID = "1.2.840.113741.1.13.1"
_BASE = bytes.fromhex("2a864886f84d010d01")  # DER body of SGX_EXTENSION_OID

_SEQ, _OID, _INT, _OCT, _ENUM, _BOOL = 0x30, 0x06, 0x02, 0x04, 0x0A, 0x01


@dataclass(frozen=True, slots=True, kw_only=True)
class PckExtension:
    ppid: bytes
    tcb_components: tuple[int, ...]  # the 16 SGX TCB component SVNs
    pce_svn: int
    cpu_svn: bytes
    pce_id: bytes
    fmspc: bytes
    sgx_type: int  # 0 Standard, 1 Scalable, 2 Scalable with integrity
    platform_instance_id: bytes | None = None
    dynamic_platform: bool | None = None
    cached_keys: bool | None = None
    smt_enabled: bool | None = None


def _tlv(buf: bytes, pos: int, end: int) -> tuple[int, int, int]:
    """(tag, content start, content end) of the element at ``pos``."""
    if pos + 2 > end:
        raise VerificationError("PCK certificate SGX extension is truncated")
    tag = buf[pos]
    length = buf[pos + 1]
    pos += 2
    if length & 0x80:
        n = length & 0x7F
        if n == 0 or n > 4 or pos + n > end:
            raise VerificationError("PCK certificate SGX extension has a bad DER length")
        length = int.from_bytes(buf[pos : pos + n], "big")
        pos += n
    if pos + length > end:
        raise VerificationError("PCK certificate SGX extension is truncated")
    return tag, pos, pos + length


def _pairs(buf: bytes, start: int, end: int) -> dict[bytes, tuple[int, int, int]]:
    """A SEQUENCE OF SEQUENCE {OID, value} as OID suffix (after the SGX base) -> value TLV."""
    out: dict[bytes, tuple[int, int, int]] = {}
    pos = start
    while pos < end:
        tag, s, e = _tlv(buf, pos, end)
        if tag != _SEQ:
            raise VerificationError("PCK certificate SGX extension: expected a SEQUENCE")
        otag, os_, oe = _tlv(buf, s, e)
        if otag != _OID:
            raise VerificationError("PCK certificate SGX extension: expected an OID")
        oid = buf[os_:oe]
        if not oid.startswith(_BASE):
            raise VerificationError("PCK certificate SGX extension: foreign OID")
        out[oid[len(_BASE) :]] = _tlv(buf, oe, e)
        pos = e
    return out


def _get(d: dict[bytes, tuple[int, int, int]], key: bytes, tag: int, name: str) -> tuple[int, int]:
    v = d.get(key)
    if v is None:
        raise VerificationError(f"PCK certificate SGX extension lacks {name}")
    if v[0] != tag:
        raise VerificationError(
            f"PCK certificate SGX extension {name} has DER tag {v[0]:#x}. Expect {tag:#x}"
        )
    return v[1], v[2]


def parse_pck_extension(value: bytes) -> PckExtension:
    """Decode the extension value (the extnValue contents)."""
    tag, s, e = _tlv(value, 0, len(value))
    if tag != _SEQ:
        raise VerificationError("PCK certificate SGX extension is not a SEQUENCE")
    top = _pairs(value, s, e)

    def octets(key: bytes, name: str, size: int) -> bytes:
        a, b = _get(top, key, _OCT, name)
        if b - a != size:
            raise VerificationError(f"PCK certificate SGX extension {name} has {b - a} bytes. Expect {size}")
        return value[a:b]

    ts, te = _get(top, b"\x02", _SEQ, "TCB")
    tcb = _pairs(value, ts, te)
    comps = []
    for k in range(1, 17):
        a, b = _get(tcb, bytes([2, k]), _INT, f"TCB component {k}")
        comps.append(int.from_bytes(value[a:b], "big", signed=True))
    a, b = _get(tcb, b"\x02\x11", _INT, "PCESVN")
    pce_svn = int.from_bytes(value[a:b], "big", signed=True)
    a, b = _get(tcb, b"\x02\x12", _OCT, "CPUSVN")
    cpu_svn = value[a:b]
    a, b = _get(top, b"\x05", _ENUM, "SGX type")
    sgx_type = int.from_bytes(value[a:b], "big")
    pid = None
    if b"\x06" in top:
        pid = octets(b"\x06", "platform instance id", 16)
    flags: dict[int, bool] = {}
    if b"\x07" in top:
        cs, ce = _get(top, b"\x07", _SEQ, "configuration")
        for key, (t, fa, fb) in _pairs(value, cs, ce).items():
            if t == _BOOL and len(key) == 2 and key[0] == 7 and fb - fa == 1:
                flags[key[1]] = value[fa] != 0
    return PckExtension(
        ppid=octets(b"\x01", "PPID", 16),
        tcb_components=tuple(comps),
        pce_svn=pce_svn,
        cpu_svn=cpu_svn,
        pce_id=octets(b"\x03", "PCE-ID", 2),
        fmspc=octets(b"\x04", "FMSPC", 6),
        sgx_type=sgx_type,
        platform_instance_id=pid,
        dynamic_platform=flags.get(1),
        cached_keys=flags.get(2),
        smt_enabled=flags.get(3),
    )


def find_sgx_extension(tbs_der: bytes) -> bytes:
    """The SGX extension's extnValue contents, found in a certificate's TBS DER.

    Cheaper than ``Certificate.extensions`` (which decodes every extension): the 9-byte OID only
    occurs as this extension's extnID; the sub-OIDs inside it are longer and encode a different length.
    """
    marker = b"\x06\x09" + _BASE
    at = tbs_der.find(marker)
    if at < 0 or tbs_der.find(marker, at + 1) >= 0:
        raise VerificationError("PCK certificate has no (single) SGX extension")
    pos = at + len(marker)
    tag, s, e = _tlv(tbs_der, pos, len(tbs_der))
    if tag == _BOOL:  # critical flag
        tag, s, e = _tlv(tbs_der, e, len(tbs_der))
    if tag != _OCT:
        raise VerificationError("PCK certificate SGX extension value is not an OCTET STRING")
    return tbs_der[s:e]
