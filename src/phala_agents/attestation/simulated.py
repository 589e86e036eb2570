"""A simulated SEV-SNP TEE for development: real-format reports signed by a generated hierarchy.

``SimulatedSnp.generate()`` makes an ARK -> ASK -> VCEK and ARK -> ASVK -> VLEK hierarchy shaped
like AMD's (RSA keys, RSASSA-PSS SHA-384 salt 48, the AMD CNs and VCEK/VLEK extensions, a P-384
report key) and signs 1184-byte reports in the real ABI layout. Nothing about it is trusted by
default: the verifier accepts its reports only under ``sim.roots()`` (a trust set named
``dev-simulated``); ``TrustedRoots.amd_production()`` rejects them because the ARK fingerprint is
not AMD's, and a production policy (``trust: ["amd-production"]``) rejects them too.

TDX simulation lives with the DCAP code in ``attestation/tdx/``.
"""

from __future__ import annotations

import datetime as dt
import os
import struct
from dataclasses import dataclass, field
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.x509.oid import NameOID

from phala_agents.attestation._x509 import der
from phala_agents.attestation.kds import KDS_BASE_URL, FakeKds, KeyKind, crl_path
from phala_agents.attestation.sev.abi import (
    POLICY_RESERVED_MUST_BE_ONE,
    POLICY_SMT,
    REPORT_SIZE,
    SIG_COMPONENT_SIZE,
    SIGNED_SIZE,
    ProductLine,
    SigningKey,
    TcbVersion,
    encode_tcb,
)
from phala_agents.attestation.sev.verify import (
    OID_BL_SPL,
    OID_CSP_ID,
    OID_FMC_SPL,
    OID_HWID,
    OID_PRODUCT_NAME,
    OID_SNP_SPL,
    OID_STRUCT_VERSION,
    OID_TEE_SPL,
    OID_UCODE_SPL,
    PSS_SHA384,
)
from phala_agents.attestation.trust import TrustedRoots

DEV_TRUST_NAME = "dev-simulated"
DEFAULT_POLICY = POLICY_RESERVED_MUST_BE_ONE | POLICY_SMT  # 0x30000: debug off, SMT allowed
_CPUID: dict[ProductLine, tuple[int, int, int]] = {
    ProductLine.MILAN: (0x19, 0x01, 0x01),
    ProductLine.GENOA: (0x19, 0x11, 0x01),
    ProductLine.TURIN: (0x1A, 0x02, 0x00),
}
_PRODUCT_NAME: dict[ProductLine, str] = {
    ProductLine.MILAN: "Milan-B0",
    ProductLine.GENOA: "Genoa",
    ProductLine.TURIN: "Turin",
}


def _name(cn: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, "Engineering (simulated, not AMD)"),
            x509.NameAttribute(NameOID.COUNTRY_NAME, "US"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "phala-agents dev TEE"),
            x509.NameAttribute(NameOID.COMMON_NAME, cn),
        ]
    )


def _der_int(value: int) -> bytes:
    body = value.to_bytes(max(1, (value.bit_length() + 8) // 8), "big")
    return bytes([0x02, len(body)]) + body


def _der_ia5(text: str) -> bytes:
    raw = text.encode("ascii")
    return bytes([0x16, len(raw)]) + raw


def _ext(oid: x509.ObjectIdentifier, value: bytes) -> x509.UnrecognizedExtension:
    return x509.UnrecognizedExtension(oid, value)


def _crl_link(product: ProductLine, key: KeyKind) -> x509.CRLDistributionPoints:
    """The CRL distribution point AMD puts in its ARK, ASK and ASVK (checked by the verifier)."""
    url = KDS_BASE_URL + crl_path(product, key)
    return x509.CRLDistributionPoints(
        [
            x509.DistributionPoint(
                full_name=[x509.UniformResourceIdentifier(url)],
                relative_name=None,
                reasons=None,
                crl_issuer=None,
            )
        ]
    )


def _sign_cert(
    *,
    subject: str,
    issuer: str,
    public_key: rsa.RSAPublicKey | ec.EllipticCurvePublicKey,
    signer: rsa.RSAPrivateKey,
    not_before: dt.datetime,
    not_after: dt.datetime,
    serial: int,
    extensions: list[x509.ExtensionType] | None = None,
) -> x509.Certificate:
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(_name(issuer))
        .public_key(public_key)
        .serial_number(serial)
        .not_valid_before(not_before)
        .not_valid_after(not_after)
    )
    for ext in extensions or []:
        builder = builder.add_extension(ext, critical=False)
    return builder.sign(signer, hashes.SHA384(), rsa_padding=PSS_SHA384)


@dataclass(frozen=True, slots=True, kw_only=True)
class SimulatedSnp:
    """A generated AMD-like hierarchy for one simulated chip (keys are never printed)."""

    product: ProductLine
    chip_id: bytes
    tcb: TcbVersion
    not_before: dt.datetime
    not_after: dt.datetime
    ark: x509.Certificate
    ask: x509.Certificate
    asvk: x509.Certificate
    vcek: x509.Certificate
    vlek: x509.Certificate
    ark_key: rsa.RSAPrivateKey = field(repr=False)
    vcek_key: ec.EllipticCurvePrivateKey = field(repr=False)
    vlek_key: ec.EllipticCurvePrivateKey = field(repr=False)

    @classmethod
    def generate(
        cls,
        *,
        product: ProductLine = ProductLine.MILAN,
        chip_id: bytes | None = None,
        tcb: TcbVersion | None = None,
        not_before: dt.datetime | None = None,
        validity: dt.timedelta = dt.timedelta(days=365),
        rsa_key_size: int = 4096,
    ) -> SimulatedSnp:
        """Generate the hierarchy (RSA-4096 like AMD's: about a second; tests may pass 2048)."""
        chip_id = chip_id if chip_id is not None else os.urandom(64)
        if len(chip_id) != 64:
            raise ValueError(f"chip_id is {len(chip_id)} bytes, wanted 64")
        if product is ProductLine.TURIN:
            chip_id = chip_id[:8] + bytes(56)  # Turin's CHIP_ID is 8 bytes, zero-extended
        if tcb is None:
            tcb = TcbVersion(
                bootloader=4, tee=0, snp=22, microcode=213, fmc=0 if product is ProductLine.TURIN else None
            )
        start = not_before or dt.datetime.now(dt.UTC).replace(microsecond=0) - dt.timedelta(minutes=5)
        end = start + validity
        ark_key = rsa.generate_private_key(public_exponent=65537, key_size=rsa_key_size)
        ask_key = rsa.generate_private_key(public_exponent=65537, key_size=rsa_key_size)
        asvk_key = rsa.generate_private_key(public_exponent=65537, key_size=rsa_key_size)
        vcek_key = ec.generate_private_key(ec.SECP384R1())
        vlek_key = ec.generate_private_key(ec.SECP384R1())
        ark_cn, ask_cn, asvk_cn = f"ARK-{product}", f"SEV-{product}", f"SEV-VLEK-{product}"
        ark = _sign_cert(
            subject=ark_cn,
            issuer=ark_cn,
            public_key=ark_key.public_key(),
            signer=ark_key,
            serial=1,
            not_before=start,
            not_after=end,
            extensions=[_crl_link(product, "vcek")],
        )
        ask = _sign_cert(
            subject=ask_cn,
            issuer=ark_cn,
            public_key=ask_key.public_key(),
            signer=ark_key,
            serial=2,
            not_before=start,
            not_after=end,
            extensions=[_crl_link(product, "vcek")],
        )
        asvk = _sign_cert(
            subject=asvk_cn,
            issuer=ark_cn,
            public_key=asvk_key.public_key(),
            signer=ark_key,
            serial=3,
            not_before=start,
            not_after=end,
            extensions=[_crl_link(product, "vlek")],
        )
        spl = [
            _ext(OID_STRUCT_VERSION, _der_int(0)),
            _ext(OID_PRODUCT_NAME, _der_ia5(_PRODUCT_NAME[product])),
            _ext(OID_BL_SPL, _der_int(tcb.bootloader)),
            _ext(OID_TEE_SPL, _der_int(tcb.tee)),
            _ext(OID_SNP_SPL, _der_int(tcb.snp)),
            _ext(OID_UCODE_SPL, _der_int(tcb.microcode)),
        ]
        if product is ProductLine.TURIN:
            spl.append(_ext(OID_FMC_SPL, _der_int(tcb.fmc or 0)))
        hwid = chip_id[:8] if product is ProductLine.TURIN else chip_id
        vcek = _sign_cert(
            subject="SEV-VCEK",
            issuer=ask_cn,
            public_key=vcek_key.public_key(),
            signer=ask_key,
            serial=4,
            extensions=[*spl, _ext(OID_HWID, hwid)],
            not_before=start,
            not_after=end,
        )
        vlek = _sign_cert(
            subject="SEV-VLEK",
            issuer=asvk_cn,
            public_key=vlek_key.public_key(),
            signer=asvk_key,
            serial=5,
            extensions=[*spl, _ext(OID_CSP_ID, _der_ia5("CN=dev-csp"))],
            not_before=start,
            not_after=end,
        )
        return cls(
            product=product,
            chip_id=chip_id,
            tcb=tcb,
            not_before=start,
            not_after=end,
            ark=ark,
            ask=ask,
            asvk=asvk,
            vcek=vcek,
            vlek=vlek,
            ark_key=ark_key,
            vcek_key=vcek_key,
            vlek_key=vlek_key,
        )

    # --- what a verifier needs ----------------------------------------------------------------

    def roots_pem(self) -> bytes:
        """ASK, ASVK and ARK as one PEM bundle (what ``--roots`` and ``TrustedRoots.from_pem`` take)."""
        return b"".join(c.public_bytes(serialization.Encoding.PEM) for c in (self.ask, self.asvk, self.ark))

    def roots(self) -> TrustedRoots:
        """The trust set that accepts this hierarchy (and nothing of AMD's)."""
        return TrustedRoots.from_pem(DEV_TRUST_NAME, [self.roots_pem()])

    def endorsement(self, signing_key: SigningKey = SigningKey.VCEK) -> bytes:
        """The VCEK or VLEK certificate, DER."""
        return der(self.vcek if signing_key is SigningKey.VCEK else self.vlek)

    def crl(self, revoked_serials: list[int], *, this_update: dt.datetime, next_update: dt.datetime) -> bytes:
        """An ARK-signed CRL (DER) revoking ``revoked_serials`` (ASK 2, ASVK 3, VCEK 4, VLEK 5)."""
        builder = (
            x509.CertificateRevocationListBuilder()
            .issuer_name(self.ark.subject)
            .last_update(this_update)
            .next_update(next_update)
        )
        for serial in revoked_serials:
            builder = builder.add_revoked_certificate(
                x509.RevokedCertificateBuilder().serial_number(serial).revocation_date(this_update).build()
            )
        crl = builder.sign(self.ark_key, hashes.SHA384(), rsa_padding=PSS_SHA384)
        return crl.public_bytes(serialization.Encoding.DER)

    def fake_kds(self) -> FakeKds:
        """A KDS double serving this chip's VCEK and the chains in the real wire format."""
        kds = FakeKds()
        kds.add_vcek(self.product, self.chip_id, self.tcb, self.endorsement())
        pem = serialization.Encoding.PEM
        kds.add_cert_chain(self.product, self.ask.public_bytes(pem) + self.ark.public_bytes(pem), "vcek")
        kds.add_cert_chain(self.product, self.asvk.public_bytes(pem) + self.ark.public_bytes(pem), "vlek")
        return kds

    # --- reports ------------------------------------------------------------------------------

    def report(
        self,
        *,
        report_data: bytes = bytes(64),
        measurement: bytes = bytes(48),
        host_data: bytes = bytes(32),
        vmpl: int = 0,
        policy: int = DEFAULT_POLICY,
        version: int = 5,
        guest_svn: int = 0,
        platform_info: int = 0x25,
        signing_key: SigningKey = SigningKey.VCEK,
        family_id: bytes = bytes(16),
        image_id: bytes = bytes(16),
        current_tcb: TcbVersion | None = None,
        committed_tcb: TcbVersion | None = None,
        launch_tcb: TcbVersion | None = None,
        firmware: tuple[int, int, int] = (1, 55, 21),  # major, minor, build
    ) -> bytes:
        """A signed 1184-byte report with these fields (REPORTED_TCB is the chip's TCB)."""
        for name, value, size in (
            ("report_data", report_data, 64),
            ("measurement", measurement, 48),
            ("host_data", host_data, 32),
            ("family_id", family_id, 16),
            ("image_id", image_id, 16),
        ):
            if len(value) != size:
                raise ValueError(f"{name} is {len(value)} bytes, wanted {size}")
        tcb = encode_tcb(self.tcb, self.product)

        def enc(t: TcbVersion | None) -> int:
            return tcb if t is None else encode_tcb(t, self.product)

        buf = bytearray(REPORT_SIZE)
        struct.pack_into(
            "<IIQ16s16sIIQQI",
            buf,
            0,
            version,
            guest_svn,
            policy,
            family_id,
            image_id,
            vmpl,
            1,
            enc(current_tcb),
            platform_info,
            int(signing_key) << 2,
        )
        buf[0x50:0x90] = report_data
        buf[0x90:0xC0] = measurement
        buf[0xC0:0xE0] = host_data
        buf[0x140:0x160] = os.urandom(32)  # REPORT_ID
        buf[0x160:0x180] = b"\xff" * 32  # REPORT_ID_MA: no migration agent
        struct.pack_into("<Q", buf, 0x180, tcb)
        if version >= 3:
            buf[0x188:0x18B] = bytes(_CPUID[self.product])
        if signing_key is SigningKey.VCEK:
            buf[0x1A0:0x1E0] = self.chip_id
        struct.pack_into("<Q", buf, 0x1E0, enc(committed_tcb))
        major, minor, build = firmware
        buf[0x1E8:0x1EB] = bytes([build, minor, major])
        buf[0x1EC:0x1EF] = bytes([build, minor, major])
        struct.pack_into("<Q", buf, 0x1F0, enc(launch_tcb))
        key = self.vcek_key if signing_key is SigningKey.VCEK else self.vlek_key
        r, s = decode_dss_signature(key.sign(bytes(buf[:SIGNED_SIZE]), ec.ECDSA(hashes.SHA384())))
        buf[SIGNED_SIZE : SIGNED_SIZE + SIG_COMPONENT_SIZE] = r.to_bytes(SIG_COMPONENT_SIZE, "little")
        buf[SIGNED_SIZE + SIG_COMPONENT_SIZE : SIGNED_SIZE + 2 * SIG_COMPONENT_SIZE] = s.to_bytes(
            SIG_COMPONENT_SIZE, "little"
        )
        return bytes(buf)

    def save(
        self, directory: Path, report: bytes, *, signing_key: SigningKey = SigningKey.VCEK
    ) -> dict[str, Path]:
        """Write ``report.bin``, the endorsement certificate and ``dev-roots.pem`` (public parts only)."""
        directory.mkdir(parents=True, exist_ok=True)
        paths = {
            "report": directory / "report.bin",
            "cert": directory / ("vcek.der" if signing_key is SigningKey.VCEK else "vlek.der"),
            "roots": directory / "dev-roots.pem",
        }
        paths["report"].write_bytes(report)
        paths["cert"].write_bytes(self.endorsement(signing_key))
        paths["roots"].write_bytes(self.roots_pem())
        return paths
