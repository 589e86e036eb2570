"""Sealed prompts: RFC 9180 A.2.1 vector, interop with cryptography's HPKE, AAD binding, failures."""

from __future__ import annotations

import dataclasses

import pytest
from cryptography.hazmat.primitives import hpke
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from hypothesis import given, settings
from hypothesis import strategies as st

from phala_agents.client import sealing
from phala_agents.client.sealing import (
    PROMPT_INFO,
    ClusterKey,
    SealedBlob,
    open_prompt,
    prompt_aad,
    prompt_commitment,
    seal_prompt,
)
from phala_agents.errors import SealingError
from phala_agents.scale import blake2_256

# RFC 9180 appendix A.2.1 (DHKEM(X25519, HKDF-SHA256), HKDF-SHA256, ChaCha20Poly1305, mode_base),
# "Base Setup Information" and encryption sequence number 0.
A21 = {
    "info": "4f6465206f6e2061204772656369616e2055726e",
    "skEm": "f4ec9b33b792c372c1d2c2063507b684ef925b8c75a42dbcbf57d63ccd381600",
    "pkEm": "1afa08d3dec047a643885163f1180476fa7ddb54c6a8029ea33f95796bf2ac4a",
    "skRm": "8057991eef8f1f1af18f4a9491d16a1ce333f695d4db8e38da75975c4478e0fb",
    "pkRm": "4310ee97d88cc1f088a5576c77ab0cf5c3ac797f3d95139c6c84b5429c59662a",
    "key": "ad2744de8e17f4ebba575b3f5f5a8fa1f69c2a07f6e7500bc60ca6e3e3ec1c91",
    "base_nonce": "5c4d98150661b848853b547f",
    "pt": "4265617574792069732074727574682c20747275746820626561757479",
    "aad": "436f756e742d30",
    "ct": "1c5250d8034ec2b784ba2cfd69dbdb8af406cfe3ff938e131f0def8c8b60b4db21993c62ce81883d2dd1b51a28",
}
PROMPT = "You are a pirate. The treasure is under the third palm tree."
SUITE = hpke.Suite(hpke.KEM.X25519, hpke.KDF.HKDF_SHA256, hpke.AEAD.CHACHA20_POLY1305)


def h(name: str) -> bytes:
    return bytes.fromhex(A21[name])


def test_rfc9180_a21_seal_reproduces_enc_and_ct() -> None:
    ephemeral = X25519PrivateKey.from_private_bytes(h("skEm"))
    enc, ct = sealing._hpke_seal(
        h("pkRm"), info=h("info"), aad=h("aad"), plaintext=h("pt"), ephemeral=ephemeral
    )
    assert enc == h("pkEm")
    assert ct == h("ct")


def test_rfc9180_a21_key_schedule() -> None:
    sk_r = X25519PrivateKey.from_private_bytes(h("skRm"))
    dh = sk_r.exchange(X25519PrivateKey.from_private_bytes(h("skEm")).public_key())
    key, nonce = sealing._key_schedule_base(sealing._shared_secret(dh, h("pkEm") + h("pkRm")), h("info"))
    assert key == h("key")
    assert nonce == h("base_nonce")


def test_rfc9180_a21_open() -> None:
    sk_r = X25519PrivateKey.from_private_bytes(h("skRm"))
    assert sealing._hpke_open(sk_r, enc=h("pkEm"), info=h("info"), aad=h("aad"), ciphertext=h("ct")) == h(
        "pt"
    )


def test_interop_with_cryptography_hpke_suite() -> None:
    """cryptography's Suite (empty AAD) and ours produce mutually readable blobs."""
    key = ClusterKey.generate()
    theirs = SUITE.encrypt(b"hello", key.private_key.public_key(), info=PROMPT_INFO)
    assert (
        sealing._hpke_open(
            key.private_key, enc=theirs[:32], info=PROMPT_INFO, aad=b"", ciphertext=theirs[32:]
        )
        == b"hello"
    )
    enc, ct = sealing._hpke_seal(key.public_bytes, info=PROMPT_INFO, aad=b"", plaintext=b"world")
    assert SUITE.decrypt(enc + ct, key.private_key, info=PROMPT_INFO) == b"world"


def test_round_trip() -> None:
    key = ClusterKey.generate(epoch=3)
    blob = seal_prompt(PROMPT, key.public_bytes, agent_id=7, version=2, epoch=3)
    assert blob.epoch == 3
    assert len(blob.enc) == 32
    assert len(blob.ciphertext) == len(PROMPT.encode()) + 16
    assert PROMPT.encode() not in blob.ciphertext
    assert open_prompt(blob, key, agent_id=7, version=2) == PROMPT
    # A bare X25519 private key works too (the caller picked the epoch).
    assert open_prompt(blob, key.private_key, agent_id=7, version=2) == PROMPT


def test_round_trip_unicode_and_empty() -> None:
    key = ClusterKey.generate()
    for text in ("", "钥匙 🔑 — naïve"):
        blob = seal_prompt(text, key.public_bytes, agent_id=0, version=0, epoch=0)
        assert open_prompt(blob, key, agent_id=0, version=0) == text


def test_each_seal_is_fresh() -> None:
    key = ClusterKey.generate()
    one = seal_prompt(PROMPT, key.public_bytes, agent_id=1, version=1, epoch=0)
    two = seal_prompt(PROMPT, key.public_bytes, agent_id=1, version=1, epoch=0)
    assert one.enc != two.enc
    assert one.ciphertext != two.ciphertext


def test_aad_layout() -> None:
    assert prompt_aad(agent_id=1, version=2) == bytes.fromhex("0100000000000000") + bytes.fromhex("02000000")
    assert prompt_aad(agent_id=2**64 - 1, version=2**32 - 1) == b"\xff" * 12
    with pytest.raises(ValueError, match="agent_id"):
        prompt_aad(agent_id=2**64, version=0)
    with pytest.raises(ValueError, match="version"):
        prompt_aad(agent_id=0, version=-1)


@pytest.mark.parametrize(
    ("agent_id", "version"),
    [(8, 2), (7, 3), (7, 1), (0, 0), (2**32 + 7, 2)],
    ids=["other-agent", "next-version", "previous-version", "zero", "high-bits"],
)
def test_wrong_aad_fails(agent_id: int, version: int) -> None:
    key = ClusterKey.generate()
    blob = seal_prompt(PROMPT, key.public_bytes, agent_id=7, version=2, epoch=0)
    with pytest.raises(SealingError) as info:
        open_prompt(blob, key, agent_id=agent_id, version=version)
    assert "pirate" not in str(info.value)


def test_wrong_key_fails() -> None:
    key = ClusterKey.generate()
    other = ClusterKey.generate()
    blob = seal_prompt(PROMPT, key.public_bytes, agent_id=7, version=2, epoch=0)
    with pytest.raises(SealingError, match="does not open"):
        open_prompt(blob, other, agent_id=7, version=2)


def test_wrong_epoch_fails_before_decrypting() -> None:
    key = ClusterKey.generate(epoch=1)
    blob = seal_prompt(PROMPT, key.public_bytes, agent_id=7, version=2, epoch=2)
    with pytest.raises(SealingError, match="epoch: found 2, wanted 1"):
        open_prompt(blob, key, agent_id=7, version=2)


@pytest.mark.parametrize("where", ["enc", "ciphertext-first", "ciphertext-tag", "truncated", "short-enc"])
def test_tampered_blob_fails(where: str) -> None:
    key = ClusterKey.generate()
    blob = seal_prompt(PROMPT, key.public_bytes, agent_id=7, version=2, epoch=0)

    def flip(data: bytes, at: int) -> bytes:
        out = bytearray(data)
        out[at] ^= 1
        return bytes(out)

    tampered = {
        "enc": dataclasses.replace(blob, enc=flip(blob.enc, 5)),
        "ciphertext-first": dataclasses.replace(blob, ciphertext=flip(blob.ciphertext, 0)),
        "ciphertext-tag": dataclasses.replace(
            blob, ciphertext=flip(blob.ciphertext, len(blob.ciphertext) - 1)
        ),
        "truncated": dataclasses.replace(blob, ciphertext=blob.ciphertext[:10]),
        "short-enc": dataclasses.replace(blob, enc=blob.enc[:31]),
    }[where]
    with pytest.raises(SealingError) as info:
        open_prompt(tampered, key, agent_id=7, version=2)
    message = str(info.value)
    assert "pirate" not in message and "treasure" not in message


def test_low_order_public_key_is_refused() -> None:
    with pytest.raises(SealingError, match="low-order"):
        seal_prompt(PROMPT, bytes(32), agent_id=1, version=1, epoch=0)
    key = ClusterKey.generate()
    blob = SealedBlob(enc=bytes(32), ciphertext=bytes(40), epoch=0)
    with pytest.raises(SealingError, match="low-order"):
        open_prompt(blob, key, agent_id=1, version=1)


def test_bad_public_key_length_is_a_caller_bug() -> None:
    with pytest.raises(ValueError, match="found 31 bytes, wanted 32"):
        seal_prompt(PROMPT, bytes(31), agent_id=1, version=1, epoch=0)


def test_cluster_key_repr_masks_private_half() -> None:
    key = ClusterKey.generate(epoch=4)
    text = repr(key)
    assert key.private_bytes().hex() not in text
    assert "********" in text
    assert key.public_bytes.hex() in text
    assert "epoch=4" in text
    assert ClusterKey.from_private_bytes(key.private_bytes(), epoch=4).public_bytes == key.public_bytes


def test_sealed_blob_repr_hides_ciphertext() -> None:
    key = ClusterKey.generate()
    blob = seal_prompt(PROMPT, key.public_bytes, agent_id=1, version=1, epoch=0)
    assert blob.ciphertext.hex() not in repr(blob)


def test_prompt_commitment() -> None:
    salt = bytes(range(32))
    assert prompt_commitment(salt, PROMPT) == blake2_256(salt + PROMPT.encode())
    assert len(prompt_commitment(salt, PROMPT)) == 32
    assert prompt_commitment(salt, PROMPT) != prompt_commitment(bytes(32), PROMPT)
    # Known answer: blake2b-256 of the empty input.
    assert (
        prompt_commitment(b"", "").hex() == "0e5751c026e543b2e8ab2eb06099daa1d1e5df47778f7787faab45cdf12fe3a8"
    )


@settings(max_examples=50, deadline=None)
@given(
    prompt=st.text(max_size=300),
    agent_id=st.integers(min_value=0, max_value=2**64 - 1),
    version=st.integers(min_value=0, max_value=2**32 - 1),
)
def test_round_trip_property(prompt: str, agent_id: int, version: int) -> None:
    key = _PROPERTY_KEY
    blob = seal_prompt(prompt, key.public_bytes, agent_id=agent_id, version=version, epoch=0)
    assert open_prompt(blob, key, agent_id=agent_id, version=version) == prompt
    with pytest.raises(SealingError):
        open_prompt(blob, key, agent_id=agent_id ^ 1, version=version)


_PROPERTY_KEY = ClusterKey.generate()
