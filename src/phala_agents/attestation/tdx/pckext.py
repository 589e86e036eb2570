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


def _collect(buf: bytes, pos: int, end: int, out: dict[bytes, tuple[int, int, int]]) -> None:
    """Record every ``SEQUENCE {OID under SGX_EXTENSION_OID, value}`` pair in ``buf[pos:end]`` by OID
    suffix, descending into SEQUENCE values (.2 TCB, .7 configuration). One pass over the extension:
    a cold verification parses it once per new PCK certificate, so it is kept lean (short-form
    lengths, which every pair and OID here has, are read inline; anything else goes through _tlv)."""
    base = _BASE
    base_len = len(base)
    while pos < end:
        if pos + 2 <= end and buf[pos] == _SEQ and buf[pos + 1] < 0x80:
            s = pos + 2
            e = s + buf[pos + 1]
            if e > end:
                raise VerificationError("PCK certificate SGX extension is truncated")
        else:
            tag, s, e = _tlv(buf, pos, end)
            if tag != _SEQ:
                pos = e
                continue
        pos = e
        if s + 2 > e or buf[s] != _OID:
            continue
        oe = s + 2 + buf[s + 1]
        if buf[s + 1] >= 0x80 or oe > e or buf[s + 1] <= base_len or buf[s + 2 : s + 2 + base_len] != base:
            continue
        suffix = buf[s + 2 + base_len : oe]
        if suffix in out:
            raise VerificationError(
                f"PCK certificate SGX extension has OID {SGX_EXTENSION_OID} suffix "
                f"{'.'.join(str(b) for b in suffix)} twice"
            )
        if oe >= e:
            raise VerificationError("PCK certificate SGX extension has an OID without a value")
        vtag, vs, ve = _tlv(buf, oe, e)
        out[suffix] = (vtag, vs, ve)
        if vtag == _SEQ:
            _collect(buf, vs, ve, out)


def _pick(
    buf: bytes,
    found: dict[bytes, tuple[int, int, int]],
    suffix: bytes,
    tag: int,
    name: str,
    *,
    size: int | None = None,
) -> bytes | None:
    hit = found.get(suffix)
    if hit is None:
        return None
    t, s, e = hit
    if t != tag:
        raise VerificationError(f"PCK certificate SGX extension {name} has DER tag {t:#x}. Expect {tag:#x}")
    if size is not None and e - s != size:
        raise VerificationError(f"PCK certificate SGX extension {name} has {e - s} bytes. Expect {size}")
    return buf[s:e]


def _need(
    buf: bytes,
    found: dict[bytes, tuple[int, int, int]],
    suffix: bytes,
    tag: int,
    name: str,
    *,
    size: int | None = None,
) -> bytes:
    out = _pick(buf, found, suffix, tag, name, size=size)
    if out is None:
        raise VerificationError(f"PCK certificate SGX extension lacks {name}")
    return out


_COMPONENT_SUFFIXES = tuple(bytes([2, k]) for k in range(1, 17))


def parse_pck_extension(value: bytes) -> PckExtension:
    """Decode the extension value (the extnValue contents)."""
    tag, s, e = _tlv(value, 0, len(value))
    if tag != _SEQ or e != len(value):
        raise VerificationError("PCK certificate SGX extension is not one SEQUENCE")
    found: dict[bytes, tuple[int, int, int]] = {}
    _collect(value, s, e, found)
    comps = tuple(
        int.from_bytes(_need(value, found, sfx, _INT, f"TCB component {k}"), "big", signed=True)
        for k, sfx in enumerate(_COMPONENT_SUFFIXES, 1)
    )
    flags = []
    for k, name in ((1, "dynamicPlatform"), (2, "cachedKeys"), (3, "SMTEnabled")):
        raw = _pick(value, found, bytes([7, k]), _BOOL, name)
        flags.append(None if raw is None else raw != b"\x00")
    return PckExtension(
        ppid=_need(value, found, b"\x01", _OCT, "PPID", size=16),
        tcb_components=comps,
        pce_svn=int.from_bytes(_need(value, found, b"\x02\x11", _INT, "PCESVN"), "big", signed=True),
        cpu_svn=_need(value, found, b"\x02\x12", _OCT, "CPUSVN", size=16),
        pce_id=_need(value, found, b"\x03", _OCT, "PCE-ID", size=2),
        fmspc=_need(value, found, b"\x04", _OCT, "FMSPC", size=6),
        sgx_type=int.from_bytes(_need(value, found, b"\x05", _ENUM, "SGX type"), "big"),
        platform_instance_id=_pick(value, found, b"\x06", _OCT, "platform instance id"),
        dynamic_platform=flags[0],
        cached_keys=flags[1],
        smt_enabled=flags[2],
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
