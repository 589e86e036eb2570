"""A simulated TDX/SGX platform for development and tests: quotes and collateral in the real formats,
signed by a freshly generated test hierarchy (root, PCK CA, PCK, TCB Signing, attestation key).

Nothing here is trusted by default: ``verify_quote`` accepts these quotes only when the caller passes
``VerifyOptions(trusted_roots=(sim.root_der,))``; with the default Intel root they are rejected.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import struct
from dataclasses import dataclass, field

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from cryptography.x509.oid import NameOID

from phala_agents.attestation.tdx.abi import TEE_TYPE_SGX, TEE_TYPE_TDX
from phala_agents.attestation.tdx.collateral import Collateral
from phala_agents.attestation.tdx.pckext import SGX_EXTENSION_OID
from phala_agents.attestation.tdx.verify import INTEL_QE_VENDOR_ID

__all__ = ["SimulatedTdx"]

_SHA256 = hashes.SHA256()
_BASE_OID = bytes.fromhex("2a864886f84d010d01")
QE_MRSIGNER = bytes(range(32))
QE_ATTRIBUTES = bytes.fromhex("11000000000000000000000000000000")


def _tlv(tag: int, body: bytes) -> bytes:
    n = len(body)
    if n < 0x80:
        return bytes([tag, n]) + body
    size = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([tag, 0x80 | len(size)]) + size + body


def _int(v: int) -> bytes:
    raw = v.to_bytes(max(1, (v.bit_length() + 8) // 8), "big")
    return _tlv(0x02, raw)


def _pair(suffix: bytes, value: bytes) -> bytes:
    return _tlv(0x30, _tlv(0x06, _BASE_OID + suffix) + value)


def _sgx_extension(
    *, ppid: bytes, cpu_svn: bytes, pce_svn: int, fmspc: bytes, pce_id: bytes = b"\0\0"
) -> bytes:
    comps = b"".join(_pair(bytes([2, i + 1]), _int(cpu_svn[i])) for i in range(16))
    tcb = comps + _pair(b"\x02\x11", _int(pce_svn)) + _pair(b"\x02\x12", _tlv(0x04, cpu_svn))
    return _tlv(
        0x30,
        _pair(b"\x01", _tlv(0x04, ppid))
        + _pair(b"\x02", _tlv(0x30, tcb))
        + _pair(b"\x03", _tlv(0x04, pce_id))
        + _pair(b"\x04", _tlv(0x04, fmspc))
        + _pair(b"\x05", _tlv(0x0A, b"\x00")),
    )


def _name(cn: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, cn),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "phala-agents simulated"),
        ]
    )


def _raw_sig(key: ec.EllipticCurvePrivateKey, data: bytes) -> bytes:
    r, s = decode_dss_signature(key.sign(data, ec.ECDSA(_SHA256)))
    return r.to_bytes(32, "big") + s.to_bytes(32, "big")


def _utc(t: int) -> dt.datetime:
    return dt.datetime.fromtimestamp(t, tz=dt.UTC)


def _iso(t: int) -> str:
    return _utc(t).strftime("%Y-%m-%dT%H:%M:%SZ")


def _cert(
    subject: str,
    key: ec.EllipticCurvePrivateKey,
    issuer: x509.Name,
    issuer_key: ec.EllipticCurvePrivateKey,
    *,
    serial: int,
    not_before: int,
    not_after: int,
    ca: bool,
    sgx_ext: bytes | None = None,
) -> x509.Certificate:
    b = (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(issuer)
        .public_key(key.public_key())
        .serial_number(serial)
        .not_valid_before(_utc(not_before))
        .not_valid_after(_utc(not_after))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if sgx_ext is not None:
        b = b.add_extension(
            x509.UnrecognizedExtension(x509.ObjectIdentifier(SGX_EXTENSION_OID), sgx_ext), critical=False
        )
    return b.sign(issuer_key, _SHA256)


def _pem(*certs: x509.Certificate) -> bytes:
    return b"".join(c.public_bytes(Encoding.PEM) for c in certs)


def _crl(
    issuer: x509.Certificate, key: ec.EllipticCurvePrivateKey, this: int, nxt: int, revoked: tuple[int, ...]
) -> bytes:
    b = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(issuer.subject)
        .last_update(_utc(this))
        .next_update(_utc(nxt))
    )
    for serial in revoked:
        b = b.add_revoked_certificate(
            x509.RevokedCertificateBuilder().serial_number(serial).revocation_date(_utc(this)).build()
        )
    return b.sign(key, _SHA256).public_bytes(Encoding.DER)


def _level(
    sgx: list[int], pce: int, tdx: list[int] | None, status: str, advisories: tuple[str, ...] = ()
) -> dict[str, object]:
    tcb: dict[str, object] = {"sgxtcbcomponents": [{"svn": s} for s in sgx], "pcesvn": pce}
    if tdx is not None:
        tcb["tdxtcbcomponents"] = [{"svn": s} for s in tdx]
    out: dict[str, object] = {"tcb": tcb, "tcbDate": "2024-03-13T00:00:00Z", "tcbStatus": status}
    if advisories:
        out["advisoryIDs"] = list(advisories)
    return out


@dataclass(frozen=True, slots=True, kw_only=True)
class SimulatedTdx:
    """A generated test hierarchy. Defaults: FMSPC 00AA00000000, CPUSVN all 3, PCESVN 11, valid 10 years."""

    root_der: bytes
    not_before: int
    fmspc: bytes
    cpu_svn: bytes
    pce_svn: int
    _root: x509.Certificate = field(repr=False)
    _root_key: ec.EllipticCurvePrivateKey = field(repr=False)
    _pck_ca: x509.Certificate = field(repr=False)
    _pck_ca_key: ec.EllipticCurvePrivateKey = field(repr=False)
    _pck: x509.Certificate = field(repr=False)
    _pck_key: ec.EllipticCurvePrivateKey = field(repr=False)
    _signer: x509.Certificate = field(repr=False)
    _signer_key: ec.EllipticCurvePrivateKey = field(repr=False)
    _ak: ec.EllipticCurvePrivateKey = field(repr=False)

    @classmethod
    def generate(
        cls,
        *,
        not_before: int,
        validity_days: int = 3650,
        fmspc: bytes = bytes.fromhex("00aa00000000"),
        cpu_svn: bytes = bytes([3] * 16),
        pce_svn: int = 11,
        pck_ca_is_ca: bool = True,
    ) -> SimulatedTdx:
        end = not_before + validity_days * 86400
        root_key = ec.generate_private_key(ec.SECP256R1())
        root_name = _name("Simulated SGX Root CA")
        b = (
            x509.CertificateBuilder()
            .subject_name(root_name)
            .issuer_name(root_name)
            .public_key(root_key.public_key())
            .serial_number(1)
            .not_valid_before(_utc(not_before))
            .not_valid_after(_utc(end))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        )
        root = b.sign(root_key, _SHA256)
        ca_key = ec.generate_private_key(ec.SECP256R1())
        ca = _cert(
            "Simulated SGX PCK Platform CA",
            ca_key,
            root_name,
            root_key,
            serial=2,
            not_before=not_before,
            not_after=end,
            ca=pck_ca_is_ca,
        )
        pck_key = ec.generate_private_key(ec.SECP256R1())
        ext = _sgx_extension(ppid=bytes(16), cpu_svn=cpu_svn, pce_svn=pce_svn, fmspc=fmspc)
        pck = _cert(
            "Simulated SGX PCK Certificate",
            pck_key,
            ca.subject,
            ca_key,
            serial=3,
            not_before=not_before,
            not_after=end,
            ca=False,
            sgx_ext=ext,
        )
        signer_key = ec.generate_private_key(ec.SECP256R1())
        signer = _cert(
            "Simulated SGX TCB Signing",
            signer_key,
            root_name,
            root_key,
            serial=4,
            not_before=not_before,
            not_after=end,
            ca=False,
        )
        return cls(
            root_der=root.public_bytes(Encoding.DER),
            not_before=not_before,
            fmspc=fmspc,
            cpu_svn=cpu_svn,
            pce_svn=pce_svn,
            _root=root,
            _root_key=root_key,
            _pck_ca=ca,
            _pck_ca_key=ca_key,
            _pck=pck,
            _pck_key=pck_key,
            _signer=signer,
            _signer_key=signer_key,
            _ak=ec.generate_private_key(ec.SECP256R1()),
        )

    @property
    def pck_serial(self) -> int:
        return self._pck.serial_number

    def qe_report(
        self,
        *,
        isv_svn: int = 8,
        mr_signer: bytes = QE_MRSIGNER,
        attributes: bytes = QE_ATTRIBUTES,
        auth_data: bytes = bytes(range(32)),
    ) -> bytes:
        ak = self._ak.public_key().public_bytes(Encoding.X962, PublicFormat.UncompressedPoint)[1:]
        rd = hashlib.sha256(ak + auth_data).digest() + bytes(32)
        r = bytearray(384)
        r[48:64] = attributes
        r[128:160] = mr_signer
        struct.pack_into("<HH", r, 256, 1, isv_svn)  # ISVPRODID 1 (QE), ISVSVN
        r[320:384] = rd
        return bytes(r)

    def quote(
        self,
        *,
        report_data: bytes = bytes(64),
        mr_td: bytes = bytes(48),
        rtmrs: tuple[bytes, bytes, bytes, bytes] = (bytes(48), bytes(48), bytes(48), bytes(48)),
        td_attributes: bytes = bytes.fromhex("0000001000000000"),
        tee_tcb_svn: bytes = bytes([6, 1, 3]) + bytes(13),
        mr_signer_seam: bytes = bytes(48),
        sgx: bool = False,
        sgx_attributes: bytes = bytes.fromhex("05000000000000000000000000000000"),
        mr_enclave: bytes = bytes(32),
        qe_report: bytes | None = None,
        auth_data: bytes = bytes(range(32)),
        version: int | None = None,
    ) -> bytes:
        """A quote (v4 TD 1.0 by default; ``sgx=True`` gives v3) signed by this hierarchy."""
        ver = version if version is not None else (3 if sgx else 4)
        if len(report_data) > 64:
            raise ValueError("report_data has more than 64 bytes")
        report_data = report_data.ljust(64, b"\x00")
        for name, value, size in (
            ("mr_td", mr_td, 48),
            ("mr_signer_seam", mr_signer_seam, 48),
            ("mr_enclave", mr_enclave, 32),
        ):
            if len(value) != size:
                raise ValueError(f"{name} must be {size} bytes")
        if any(len(r) != 48 for r in rtmrs) or len(td_attributes) != 8 or len(tee_tcb_svn) != 16:
            raise ValueError("rtmrs must be 48 bytes each, td_attributes 8, tee_tcb_svn 16")
        header = (
            struct.pack("<HHIHH", ver, 2, TEE_TYPE_SGX if sgx else TEE_TYPE_TDX, 0, 0)
            + INTEL_QE_VENDOR_ID
            + bytes(20)
        )
        if sgx:
            body = bytearray(384)
            body[0:16] = self.cpu_svn
            body[48:64] = sgx_attributes
            body[64:96] = mr_enclave
            body[320:384] = report_data
        else:
            body = bytearray(584)
            body[0:16] = tee_tcb_svn
            body[64:112] = mr_signer_seam
            body[120:128] = td_attributes
            body[136:184] = mr_td
            for i, r in enumerate(rtmrs):
                body[328 + 48 * i : 376 + 48 * i] = r
            body[520:584] = report_data
        signed = header + (struct.pack("<HI", 2, 584) if ver == 5 else b"") + bytes(body)
        ak = self._ak.public_key().public_bytes(Encoding.X962, PublicFormat.UncompressedPoint)[1:]
        qe = qe_report if qe_report is not None else self.qe_report(auth_data=auth_data)
        pem = _pem(self._pck, self._pck_ca, self._root) + b"\x00"
        inner = qe + _raw_sig(self._pck_key, qe) + struct.pack("<H", len(auth_data)) + auth_data
        inner += struct.pack("<HI", 5, len(pem)) + pem
        sig = _raw_sig(self._ak, signed)
        sig_data = sig + ak + (inner if ver == 3 else struct.pack("<HI", 6, len(inner)) + inner)
        return signed + struct.pack("<I", len(sig_data)) + sig_data

    def collateral(
        self,
        *,
        issue: int,
        days: int = 30,
        tdx: bool = True,
        tcb_levels: list[dict[str, object]] | None = None,
        qe_levels: list[dict[str, object]] | None = None,
        qe_mr_signer: bytes = QE_MRSIGNER,
        revoked_pck_serials: tuple[int, ...] = (),
        module_identities: list[dict[str, object]] | None = None,
        tcb_eval_data_number: int = 17,
    ) -> Collateral:
        """TCB Info, QE Identity and CRLs valid from ``issue`` for ``days``, signed by this hierarchy."""
        nxt = issue + days * 86400
        comps = list(self.cpu_svn)
        levels = tcb_levels or [
            _level(comps, self.pce_svn, [5, 0, 2] + [0] * 13 if tdx else None, "UpToDate"),
            _level([0] * 16, 0, [0] * 16 if tdx else None, "OutOfDate", ("INTEL-SA-00001",)),
        ]
        info: dict[str, object] = {
            "id": "TDX" if tdx else "SGX",
            "version": 3,
            "issueDate": _iso(issue),
            "nextUpdate": _iso(nxt),
            "fmspc": self.fmspc.hex().upper(),
            "pceId": "0000",
            "tcbType": 0,
            "tcbEvaluationDataNumber": tcb_eval_data_number,
        }
        if tdx:
            info["tdxModule"] = {
                "mrsigner": "00" * 48,
                "attributes": "0000000000000000",
                "attributesMask": "FFFFFFFFFFFFFFFF",
            }
            info["tdxModuleIdentities"] = (
                module_identities
                if module_identities is not None
                else [
                    {
                        "id": "TDX_01",
                        "mrsigner": "00" * 48,
                        "attributes": "0000000000000000",
                        "attributesMask": "FFFFFFFFFFFFFFFF",
                        "tcbLevels": [
                            {
                                "tcb": {"isvsvn": 4},
                                "tcbDate": "2024-03-13T00:00:00Z",
                                "tcbStatus": "UpToDate",
                            },
                            {
                                "tcb": {"isvsvn": 2},
                                "tcbDate": "2023-08-09T00:00:00Z",
                                "tcbStatus": "OutOfDate",
                            },
                        ],
                    }
                ]
            )
        info["tcbLevels"] = levels
        qe: dict[str, object] = {
            "id": "TD_QE" if tdx else "QE",
            "version": 2,
            "issueDate": _iso(issue),
            "nextUpdate": _iso(nxt),
            "tcbEvaluationDataNumber": tcb_eval_data_number,
            "miscselect": "00000000",
            "miscselectMask": "FFFFFFFF",
            "attributes": QE_ATTRIBUTES.hex().upper(),
            "attributesMask": "FBFFFFFFFFFFFFFF0000000000000000",
            "mrsigner": qe_mr_signer.hex().upper(),
            "isvprodid": 1,
            "tcbLevels": qe_levels
            or [{"tcb": {"isvsvn": 8}, "tcbDate": "2024-03-13T00:00:00Z", "tcbStatus": "UpToDate"}],
        }
        tcb_json = json.dumps(info, separators=(",", ":")).encode()
        qe_json = json.dumps(qe, separators=(",", ":")).encode()
        chain = _pem(self._signer, self._root)
        return Collateral(
            pck_crl_issuer_chain=_pem(self._pck_ca, self._root),
            root_ca_crl=_crl(self._root, self._root_key, issue, nxt + 365 * 86400, ()),
            pck_crl=_crl(self._pck_ca, self._pck_ca_key, issue, nxt, revoked_pck_serials),
            tcb_info_issuer_chain=chain,
            tcb_info=tcb_json,
            tcb_info_signature=_raw_sig(self._signer_key, tcb_json),
            qe_identity_issuer_chain=chain,
            qe_identity=qe_json,
            qe_identity_signature=_raw_sig(self._signer_key, qe_json),
        )
