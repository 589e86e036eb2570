"""Sealed system prompts: HPKE (RFC 9180) base mode to the cluster key, and the public commitment.

Suite: DHKEM(X25519, HKDF-SHA256), HKDF-SHA256, ChaCha20-Poly1305 (kem 0x0020, kdf 0x0001,
aead 0x0003), single-shot (sequence number 0). ``cryptography`` ships an HPKE ``Suite``, but its
public API takes no AAD, and the design binds every sealed prompt to ``agent_id || version``
through the AEAD's associated data. So the key schedule is written here on cryptography's X25519
and ChaCha20Poly1305 primitives (HKDF from the standard library's HMAC), checked against the
RFC 9180 A.2.1 vector and against cryptography's own ``Suite`` in the tests.

Context binding:

- ``info`` = ``b"phala-agents/prompt/v1"`` (domain separation: a blob sealed for anything else
  does not open as a prompt);
- ``aad`` = ``agent_id`` as u64 little endian || ``version`` as u32 little endian (SCALE
  encodings of ``AgentId`` and the agent's ``version``), so a blob copied to another agent or
  replayed into another version of the same agent fails to open.

The cluster key epoch travels in the blob beside ``enc`` and the ciphertext; it selects which
cluster key to use and is not itself authenticated (a wrong epoch only picks a key that fails).
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305

from phala_agents.errors import SealingError
from phala_agents.scale import blake2_256

PROMPT_INFO = b"phala-agents/prompt/v1"
"""HPKE ``info`` for sealed system prompts."""

X25519_KEY_BYTES = 32
ENC_BYTES = 32
TAG_BYTES = 16
COMMITMENT_SALT_BYTES = 32
"""The salt length ``deploy`` draws for a prompt commitment (any length is accepted)."""

_U64_MAX = 2**64 - 1
_U32_MAX = 2**32 - 1

# RFC 9180 identifiers for the one suite we use.
_KEM_ID = 0x0020
_KDF_ID = 0x0001
_AEAD_ID = 0x0003
_MODE_BASE = 0x00
_KEM_SUITE_ID = b"KEM" + _KEM_ID.to_bytes(2, "big")
_HPKE_SUITE_ID = (
    b"HPKE" + _KEM_ID.to_bytes(2, "big") + _KDF_ID.to_bytes(2, "big") + _AEAD_ID.to_bytes(2, "big")
)
_NK = 32  # ChaCha20-Poly1305 key
_NN = 12  # nonce
_NH = 32  # SHA-256 output


# --- RFC 9180 building blocks ----------------------------------------------------------------


def _extract(salt: bytes, ikm: bytes) -> bytes:
    return hmac.new(salt, ikm, hashlib.sha256).digest()


def _expand(prk: bytes, info: bytes, length: int) -> bytes:
    out = b""
    block = b""
    counter = 1
    while len(out) < length:
        block = hmac.new(prk, block + info + bytes([counter]), hashlib.sha256).digest()
        out += block
        counter += 1
    return out[:length]


def _labeled_extract(suite_id: bytes, salt: bytes, label: bytes, ikm: bytes) -> bytes:
    return _extract(salt, b"HPKE-v1" + suite_id + label + ikm)


def _labeled_expand(suite_id: bytes, prk: bytes, label: bytes, info: bytes, length: int) -> bytes:
    labeled_info = length.to_bytes(2, "big") + b"HPKE-v1" + suite_id + label + info
    return _expand(prk, labeled_info, length)


def _shared_secret(dh: bytes, kem_context: bytes) -> bytes:
    eae_prk = _labeled_extract(_KEM_SUITE_ID, b"", b"eae_prk", dh)
    return _labeled_expand(_KEM_SUITE_ID, eae_prk, b"shared_secret", kem_context, _NH)


def _key_schedule_base(shared_secret: bytes, info: bytes) -> tuple[bytes, bytes]:
    """(key, base_nonce) for mode_base, no PSK."""
    psk_id_hash = _labeled_extract(_HPKE_SUITE_ID, b"", b"psk_id_hash", b"")
    info_hash = _labeled_extract(_HPKE_SUITE_ID, b"", b"info_hash", info)
    context = bytes([_MODE_BASE]) + psk_id_hash + info_hash
    secret = _labeled_extract(_HPKE_SUITE_ID, shared_secret, b"secret", b"")
    key = _labeled_expand(_HPKE_SUITE_ID, secret, b"key", context, _NK)
    base_nonce = _labeled_expand(_HPKE_SUITE_ID, secret, b"base_nonce", context, _NN)
    return key, base_nonce


def _raw_public(key: X25519PublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def _hpke_seal(
    pk_r: bytes,
    *,
    info: bytes,
    aad: bytes,
    plaintext: bytes,
    ephemeral: X25519PrivateKey | None = None,
) -> tuple[bytes, bytes]:
    """SealBase(pkR, info, aad, pt) -> (enc, ct). ``ephemeral`` is for test vectors only."""
    try:
        recipient = X25519PublicKey.from_public_bytes(pk_r)
    except ValueError as exc:
        raise ValueError(f"cluster public key: found {len(pk_r)} bytes, wanted {X25519_KEY_BYTES}") from exc
    sk_e = ephemeral if ephemeral is not None else X25519PrivateKey.generate()
    enc = _raw_public(sk_e.public_key())
    try:
        dh = sk_e.exchange(recipient)
    except ValueError as exc:
        # cryptography refuses an all-zero shared secret (a low-order public key), as RFC 9180 asks.
        raise SealingError("cluster public key: found a low-order point, wanted a valid X25519 key") from exc
    key, nonce = _key_schedule_base(_shared_secret(dh, enc + pk_r), info)
    return enc, ChaCha20Poly1305(key).encrypt(nonce, plaintext, aad)


def _hpke_open(sk_r: X25519PrivateKey, *, enc: bytes, info: bytes, aad: bytes, ciphertext: bytes) -> bytes:
    """OpenBase(enc, skR, info, aad, ct) -> pt, or SealingError."""
    if len(enc) != ENC_BYTES:
        raise SealingError(f"sealed blob enc: found {len(enc)} bytes, wanted {ENC_BYTES}")
    if len(ciphertext) < TAG_BYTES:
        raise SealingError(f"sealed blob ciphertext: found {len(ciphertext)} bytes, wanted >= {TAG_BYTES}")
    try:
        dh = sk_r.exchange(X25519PublicKey.from_public_bytes(enc))
    except ValueError as exc:
        raise SealingError("sealed blob enc: found a low-order point, wanted a valid X25519 key") from exc
    key, nonce = _key_schedule_base(_shared_secret(dh, enc + _raw_public(sk_r.public_key())), info)
    try:
        return ChaCha20Poly1305(key).decrypt(nonce, ciphertext, aad)
    except InvalidTag:
        raise SealingError(
            "sealed blob does not open: wrong cluster key, other agent id or version, or altered bytes"
        ) from None


# --- public API ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class SealedBlob:
    """A sealed prompt as stored on chain (``SealedBlob {enc, ciphertext, epoch}``)."""

    enc: bytes
    """The HPKE encapsulated key (the sender's ephemeral X25519 public key), 32 bytes."""
    ciphertext: bytes
    """ChaCha20-Poly1305 output: the UTF-8 prompt followed by a 16-byte tag."""
    epoch: int
    """The cluster key epoch the blob was sealed to (u32)."""

    def __repr__(self) -> str:
        size = len(self.ciphertext)
        return f"SealedBlob(epoch={self.epoch}, enc=0x{self.enc.hex()}, ciphertext=<{size} bytes>)"


class ClusterKey:
    """The cluster's X25519 key pair for one epoch; ``repr`` never shows the private half."""

    __slots__ = ("_private", "epoch")

    def __init__(self, private_key: X25519PrivateKey, *, epoch: int = 0) -> None:
        if not 0 <= epoch <= _U32_MAX:
            raise ValueError(f"epoch: found {epoch}, wanted a u32")
        self._private = private_key
        self.epoch = epoch

    @classmethod
    def generate(cls, *, epoch: int = 0) -> ClusterKey:
        return cls(X25519PrivateKey.generate(), epoch=epoch)

    @classmethod
    def from_private_bytes(cls, data: bytes, *, epoch: int = 0) -> ClusterKey:
        if len(data) != X25519_KEY_BYTES:
            raise ValueError(f"cluster private key: found {len(data)} bytes, wanted {X25519_KEY_BYTES}")
        return cls(X25519PrivateKey.from_private_bytes(data), epoch=epoch)

    @property
    def public_bytes(self) -> bytes:
        """The 32-byte X25519 public key (what goes into ``Workers.ClusterKey``)."""
        return _raw_public(self._private.public_key())

    @property
    def private_key(self) -> X25519PrivateKey:
        return self._private

    def private_bytes(self) -> bytes:
        """The raw 32-byte private key; only for storing it inside the CVM, never for logging."""
        return self._private.private_bytes(
            serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
        )

    def __repr__(self) -> str:
        return f"ClusterKey(epoch={self.epoch}, public=0x{self.public_bytes.hex()}, private=********)"


def prompt_aad(*, agent_id: int, version: int) -> bytes:
    """The AEAD associated data: ``agent_id`` (u64 LE) || ``version`` (u32 LE)."""
    if not 0 <= agent_id <= _U64_MAX:
        raise ValueError(f"agent_id: found {agent_id}, wanted a u64")
    if not 0 <= version <= _U32_MAX:
        raise ValueError(f"version: found {version}, wanted a u32")
    return agent_id.to_bytes(8, "little") + version.to_bytes(4, "little")


def seal_prompt(prompt: str, cluster_pub: bytes, *, agent_id: int, version: int, epoch: int) -> SealedBlob:
    """Seal a system prompt to the cluster public key of ``epoch`` for one agent version."""
    if not 0 <= epoch <= _U32_MAX:
        raise ValueError(f"epoch: found {epoch}, wanted a u32")
    enc, ciphertext = _hpke_seal(
        bytes(cluster_pub),
        info=PROMPT_INFO,
        aad=prompt_aad(agent_id=agent_id, version=version),
        plaintext=prompt.encode("utf-8"),
    )
    return SealedBlob(enc=enc, ciphertext=ciphertext, epoch=epoch)


def open_prompt(
    blob: SealedBlob, cluster_private_key: ClusterKey | X25519PrivateKey, *, agent_id: int, version: int
) -> str:
    """Open a sealed prompt; any mismatch (key, epoch, agent id, version, bytes) is a SealingError."""
    if isinstance(cluster_private_key, ClusterKey):
        if cluster_private_key.epoch != blob.epoch:
            raise SealingError(
                f"sealed blob epoch: found {blob.epoch}, wanted {cluster_private_key.epoch} (the key's epoch)"
            )
        private = cluster_private_key.private_key
    else:
        private = cluster_private_key
    plaintext = _hpke_open(
        private,
        enc=bytes(blob.enc),
        info=PROMPT_INFO,
        aad=prompt_aad(agent_id=agent_id, version=version),
        ciphertext=bytes(blob.ciphertext),
    )
    try:
        return plaintext.decode("utf-8")
    except UnicodeDecodeError:
        raise SealingError("sealed blob plaintext: found invalid UTF-8, wanted a UTF-8 prompt") from None


def prompt_commitment(salt: bytes, prompt: str) -> bytes:
    """The public commitment ``blake2_256(salt || prompt as UTF-8)`` (an ``H256``)."""
    return blake2_256(bytes(salt) + prompt.encode("utf-8"))
