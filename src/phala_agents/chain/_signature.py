"""``MultiSignature::verify``: Sr25519, Ed25519 and Ecdsa signatures against a 32-byte account."""

from __future__ import annotations

import ed25519_zebra
import sr25519

from phala_agents.scale import blake2_256


def _ecdsa_account(signature: bytes, message: bytes) -> bytes | None:
    """``blake2_256`` of the compressed secp256k1 key that signed ``blake2_256(message)``."""
    # Imported here: ecdsa takes ~16 ms to import and only Ecdsa signers need it.
    from ecdsa import SECP256k1, VerifyingKey
    from ecdsa.util import sigdecode_string

    v = signature[64]
    if v >= 27:
        v -= 27
    if v > 1:
        return None
    try:
        keys = VerifyingKey.from_public_key_recovery_with_digest(
            signature[:64], blake2_256(message), SECP256k1, sigdecode=sigdecode_string
        )
    except Exception:  # a malformed signature: recovery fails, which is "does not verify"
        return None
    if v >= len(keys):
        return None
    return blake2_256(keys[v].to_string("compressed"))


def verify_multisignature(kind: str, signature: bytes, message: bytes, who: bytes) -> bool:
    """``MultiSignature::verify`` against a 32-byte account id."""
    # The bindings raise (ValueError and others) on malformed keys or signatures; for the
    # runtime that is a signature that does not verify (BadProof), never a crash.
    if kind == "Sr25519":
        try:
            return bool(sr25519.verify(signature, message, who))
        except Exception:
            return False
    if kind == "Ed25519":
        try:
            return bool(ed25519_zebra.ed_verify(signature, message, who))
        except Exception:
            return False
    if kind == "Ecdsa":
        return _ecdsa_account(signature, message) == who
    return False


__all__ = ["verify_multisignature"]
