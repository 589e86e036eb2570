"""The worker binding: what a worker's TEE evidence must carry in REPORT_DATA (DESIGN, Workers).

    report_data = SHA-512(b"phala-agents/worker/v1" || genesis_hash || worker_pubkey || x25519_pub
                          || tls_spki_hash)

It ties the evidence to one chain (genesis hash), one worker account, the worker's X25519 key
(for sealed requests) and its TLS key (SHA-256 of the SubjectPublicKeyInfo DER). Each part is exactly
32 bytes, so the plain concatenation is unambiguous; anything else is a caller bug (``ValueError``).
SHA-512 fills the 64-byte REPORT_DATA of both SNP and TDX/SGX exactly.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

__all__ = ["WORKER_BINDING_DOMAIN", "WorkerBinding", "worker_report_data"]

WORKER_BINDING_DOMAIN = b"phala-agents/worker/v1"
_PART_SIZE = 32


def worker_report_data(
    genesis_hash: bytes, worker_pubkey: bytes, x25519_pub: bytes, tls_spki_hash: bytes
) -> bytes:
    """The 64 bytes a worker puts in REPORT_DATA (see the module docstring)."""
    h = hashlib.sha512(WORKER_BINDING_DOMAIN)
    for name, part in (
        ("genesis_hash", genesis_hash),
        ("worker_pubkey", worker_pubkey),
        ("x25519_pub", x25519_pub),
        ("tls_spki_hash", tls_spki_hash),
    ):
        if not isinstance(part, bytes | bytearray | memoryview):
            raise TypeError(f"{name} must be bytes, got {type(part).__name__}")
        if len(part) != _PART_SIZE:
            raise ValueError(f"{name} has {len(part)} bytes. Expect {_PART_SIZE}")
        h.update(part)
    return h.digest()


@dataclass(frozen=True, slots=True, kw_only=True)
class WorkerBinding:
    """The four values a worker's REPORT_DATA commits to; ``EvidencePolicy(worker=...)`` checks it."""

    genesis_hash: bytes
    worker_pubkey: bytes
    x25519_pub: bytes
    tls_spki_hash: bytes

    def __post_init__(self) -> None:
        self.report_data()  # a malformed binding is a caller bug: fail where it is built

    def report_data(self) -> bytes:
        return worker_report_data(self.genesis_hash, self.worker_pubkey, self.x25519_pub, self.tls_spki_hash)
