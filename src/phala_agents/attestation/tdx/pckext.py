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


def _value(buf: bytes, suffix: bytes, tag: int, name: str) -> tuple[int, int] | None:
    """Content span of the value paired with OID ``SGX_EXTENSION_OID.suffix``, or None if absent.

    Found by the DER of the OID itself (tag, length, bytes): the encoded length makes a match exact,
    so ``.2.1`` never matches inside ``.2.10``. The extension comes from a certificate whose signature
    has been checked, so this is a lookup, not a defence against hostile DER.
    """
    oid = _BASE + suffix
    marker = bytes([_OID, len(oid)]) + oid
    at = buf.find(marker)
    if at < 0:
        return None
    if buf.find(marker, at + 1) >= 0:
        raise VerificationError(f"PCK certificate SGX extension has {name} twice")
    t, s, e = _tlv(buf, at + len(marker), len(buf))
    if t != tag:
        raise VerificationError(f"PCK certificate SGX extension {name} has DER tag {t:#x}. Expect {tag:#x}")
    return s, e


def _need(buf: bytes, suffix: bytes, tag: int, name: str, size: int | None = None) -> bytes:
    span = _value(buf, suffix, tag, name)
    if span is None:
        raise VerificationError(f"PCK certificate SGX extension lacks {name}")
    out = buf[span[0] : span[1]]
    if size is not None and len(out) != size:
        raise VerificationError(f"PCK certificate SGX extension {name} has {len(out)} bytes. Expect {size}")
    return out


def parse_pck_extension(value: bytes) -> PckExtension:
    """Decode the extension value (the extnValue contents)."""
    tag, _s, e = _tlv(value, 0, len(value))
    if tag != _SEQ or e != len(value):
        raise VerificationError("PCK certificate SGX extension is not one SEQUENCE")
    comps = tuple(
        int.from_bytes(_need(value, bytes([2, k]), _INT, f"TCB component {k}"), "big", signed=True)
        for k in range(1, 17)
    )
    pid = _value(value, b"\x06", _OCT, "platform instance id")
    flags = {}
    for k, name in ((1, "dynamicPlatform"), (2, "cachedKeys"), (3, "SMTEnabled")):
        span = _value(value, bytes([7, k]), _BOOL, name)
        flags[k] = None if span is None else value[span[0] : span[1]] != b"\x00"
    return PckExtension(
        ppid=_need(value, b"\x01", _OCT, "PPID", 16),
        tcb_components=comps,
        pce_svn=int.from_bytes(_need(value, b"\x02\x11", _INT, "PCESVN"), "big", signed=True),
        cpu_svn=_need(value, b"\x02\x12", _OCT, "CPUSVN", 16),
        pce_id=_need(value, b"\x03", _OCT, "PCE-ID", 2),
        fmspc=_need(value, b"\x04", _OCT, "FMSPC", 6),
        sgx_type=int.from_bytes(_need(value, b"\x05", _ENUM, "SGX type"), "big"),
        platform_instance_id=None if pid is None else value[pid[0] : pid[1]],
        dynamic_platform=flags[1],
        cached_keys=flags[2],
        smt_enabled=flags[3],
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
