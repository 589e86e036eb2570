"""X.509 loading shared by the SNP and DCAP verifiers.

AMD issues every VCEK and VLEK with serial number 0. RFC 5280 forbids that, and ``cryptography``
(since 42) warns while loading it: "Parsed a serial number which wasn't positive ... will cause an
exception in a future release". We filter exactly that warning (by category and message) at the
one place certificates are loaded, so tests run with warnings as errors and
``tests/unit/attestation/test_amd_certs_load.py`` notices at once if an upgrade turns it into an
exception.
"""

from __future__ import annotations

import hashlib
import warnings

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.utils import CryptographyDeprecationWarning

from phala_agents.errors import VerificationError

# The exact start of the warning cryptography emits for a serial number <= 0.
SERIAL_WARNING_REGEX = r"Parsed a serial number which wasn't positive"


def load_certificate(data: bytes, *, what: str = "certificate") -> x509.Certificate:
    """Load one certificate from DER or PEM; a malformed one raises ``VerificationError``."""
    with warnings.catch_warnings():
        warnings.filterwarnings(
            "ignore", message=SERIAL_WARNING_REGEX, category=CryptographyDeprecationWarning
        )
        try:
            if data.lstrip().startswith(b"-----BEGIN"):
                return x509.load_pem_x509_certificate(data)
            return x509.load_der_x509_certificate(data)
        except ValueError as exc:
            raise VerificationError(f"{what}: not a well-formed X.509 certificate ({exc})") from exc


def load_pem_certificates(data: bytes, *, what: str = "certificate chain") -> list[x509.Certificate]:
    """Load every certificate of a PEM bundle (NUL padding stripped, as in DCAP quotes)."""
    with warnings.catch_warnings():
        warnings.filterwarnings(
            "ignore", message=SERIAL_WARNING_REGEX, category=CryptographyDeprecationWarning
        )
        try:
            return x509.load_pem_x509_certificates(data.rstrip(b"\x00"))
        except ValueError as exc:
            raise VerificationError(f"{what}: not a well-formed PEM bundle ({exc})") from exc


def serial_number(cert: x509.Certificate) -> int:
    """The serial number; reading it re-emits the serial warning (it is parsed lazily), filtered here."""
    with warnings.catch_warnings():
        warnings.filterwarnings(
            "ignore", message=SERIAL_WARNING_REGEX, category=CryptographyDeprecationWarning
        )
        return cert.serial_number


def der(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(Encoding.DER)


def sha256_fingerprint(cert: x509.Certificate) -> str:
    """Lower-case hex SHA-256 over the certificate's DER encoding."""
    return hashlib.sha256(der(cert)).hexdigest()


def common_name(name: x509.Name) -> str:
    attrs = name.get_attributes_for_oid(x509.NameOID.COMMON_NAME)
    if not attrs:
        return ""
    value = attrs[0].value
    return value if isinstance(value, str) else value.decode("utf-8", "replace")
