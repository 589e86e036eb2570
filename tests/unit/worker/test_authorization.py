"""Worker-side authorizations and receipts: codecs round-trip, exact signed bytes, sr25519 signing
with substrate-interface keypairs, the HTTP header, offline receipt verification."""

from __future__ import annotations

from dataclasses import replace

import pytest
import sr25519
from substrateinterface import Keypair

from phala_agents.errors import AuthorizationError, ReceiptError
from phala_agents.scale import blake2_256
from phala_agents.worker import (
    AUTHORIZATION_HEADER,
    CallAuthorization,
    Receipt,
    ReceiptUsage,
    SignedReceipt,
    authorization_header,
    parse_authorization_header,
    sign_authorization,
    sign_receipt,
    verify_authorization,
    verify_receipt,
)
from phala_agents.worker.authorization import settle_call_args

ALICE = Keypair.create_from_uri("//Alice")
BOB = Keypair.create_from_uri("//Bob")  # the worker
GENESIS = bytes(range(32))


def _signed(**over: object):  # type: ignore[no-untyped-def]
    args: dict[str, object] = {
        "genesis": GENESIS,
        "agent_id": 3,
        "agent_version": 2,
        "worker": BOB.public_key,
        "nonce": 42,
        "max_charge": 10**12,
        "expires_at_block": 1000,
        "request_hash": blake2_256(b"request"),
        "parent": None,
    }
    args.update(over)
    return sign_authorization(ALICE, **args)  # type: ignore[arg-type]


def _receipt(charge: int = 5 * 10**11) -> Receipt:
    return Receipt.of(
        _signed(),
        usage=ReceiptUsage(input_tokens=12, output_tokens=34, estimated=True),
        charge=charge,
        response_hash=blake2_256(b"response"),
        children=[bytes([7]) * 32],
    )


def test_authorization_encoding_is_exact() -> None:
    auth = _signed(parent=bytes([9]) * 32).authorization
    raw = auth.encode()
    expected = (
        GENESIS
        + (3).to_bytes(8, "little")
        + (2).to_bytes(4, "little")
        + BOB.public_key
        + ALICE.public_key
        + (42).to_bytes(8, "little")
        + (10**12).to_bytes(16, "little")
        + (1000).to_bytes(4, "little")
        + blake2_256(b"request")
        + b"\x01"
        + bytes([9]) * 32
    )
    assert raw == expected
    assert CallAuthorization.decode(raw) == auth
    assert auth.message() == b"<Bytes>phala-agents/call/v1" + raw + b"</Bytes>"
    assert auth.receipt_id == blake2_256(raw)
    assert auth.receipt_id_hex == "0x" + blake2_256(raw).hex()


def test_sign_and_verify_authorization() -> None:
    signed = _signed()
    assert signed.authorization.caller == ALICE.public_key
    verify_authorization(signed)
    assert sr25519.verify(signed.signature, signed.authorization.message(), ALICE.public_key)
    # substrate-interface's own verify agrees (same context, same bytes).
    assert ALICE.verify(signed.authorization.message(), signed.signature)
    tampered = replace(signed, authorization=replace(signed.authorization, max_charge=10**13))
    with pytest.raises(AuthorizationError, match="does not verify"):
        verify_authorization(tampered)
    bob_signed = sign_authorization(
        BOB,
        genesis=GENESIS,
        agent_id=3,
        agent_version=2,
        worker=BOB.public_key,
        nonce=1,
        max_charge=1,
        expires_at_block=1,
        request_hash=bytes(32),
    )
    forged = replace(bob_signed, authorization=replace(bob_signed.authorization, caller=ALICE.public_key))
    with pytest.raises(AuthorizationError):
        verify_authorization(forged)


def test_header_round_trip_and_malformed_headers() -> None:
    signed = _signed()
    header = authorization_header(signed)
    assert list(header) == [AUTHORIZATION_HEADER]
    value = header[AUTHORIZATION_HEADER]
    assert value.startswith("0x")
    assert parse_authorization_header(value) == signed
    assert parse_authorization_header(" " + value[2:] + " ") == signed
    for bad in ("0xzz", "0x" + "00" * 10, value[:-2], value + "00" * 3):
        with pytest.raises(AuthorizationError):
            parse_authorization_header(bad)


def test_field_checks_say_field_found_wanted() -> None:
    with pytest.raises(ValueError, match="field genesis is 3 bytes, wanted 32 bytes"):
        _signed(genesis=b"abc")
    with pytest.raises(ValueError, match="field nonce is -1"):
        _signed(nonce=-1)
    with pytest.raises(ValueError, match="field agent_version"):
        _signed(agent_version=2**32)
    with pytest.raises(ValueError, match="field max_charge"):
        _signed(max_charge=True)


def test_receipt_encoding_signing_and_offline_verification() -> None:
    receipt = _receipt()
    raw = receipt.encode()
    assert Receipt.decode(raw) == receipt
    assert raw.startswith(receipt.authorization.encode() + receipt.caller_signature)
    assert receipt.message() == b"<Bytes>phala-agents/receipt/v1" + raw + b"</Bytes>"
    assert receipt.receipt_id == receipt.authorization.receipt_id
    signed = sign_receipt(BOB, receipt)
    verify_receipt(signed)
    verify_receipt(signed, worker=BOB.public_key)
    stored = signed.to_bytes()
    assert SignedReceipt.from_bytes(stored) == signed
    verify_receipt(SignedReceipt.from_bytes(stored))
    assert receipt.caller_authorization.signature == receipt.caller_signature


def test_receipt_verification_failures() -> None:
    receipt = _receipt()
    signed = sign_receipt(BOB, receipt)
    with pytest.raises(ReceiptError, match="receipt worker: found"):
        verify_receipt(signed, worker=ALICE.public_key)
    with pytest.raises(ReceiptError, match="worker signature"):
        verify_receipt(replace(signed, receipt=replace(receipt, charge=receipt.charge + 1)))
    bad_caller = replace(receipt, caller_signature=bytes(64))
    with pytest.raises(ReceiptError, match="caller signature"):
        verify_receipt(sign_receipt(BOB, bad_caller))
    over = _receipt(charge=10**12 + 1)
    with pytest.raises(ReceiptError, match="charge: found"):
        verify_receipt(sign_receipt(BOB, over))
    with pytest.raises(ValueError, match="wanted the authorization's worker"):
        sign_receipt(ALICE, receipt)
    with pytest.raises(ReceiptError):
        SignedReceipt.from_bytes(b"\x00" * 10)
    with pytest.raises(ReceiptError, match="does not decode"):
        SignedReceipt.from_bytes(signed.to_bytes()[5:])


def test_settle_call_args_are_hex_values() -> None:
    receipt = _receipt()
    args = settle_call_args([receipt])
    (value,) = args["receipts"]  # type: ignore[misc]
    assert value["caller_signature"] == "0x" + receipt.caller_signature.hex()
    assert value["authorization"]["caller"] == "0x" + ALICE.public_key.hex()
    assert value["authorization"]["parent"] is None
    assert value["children"] == ["0x" + "07" * 32]
    assert value["charge"] == receipt.charge and value["usage"]["estimated"] is True


@pytest.mark.parametrize("parent", [None, bytes([9]) * 32])
@pytest.mark.parametrize("children", [[], [bytes([7]) * 32, bytes([8]) * 32]])
def test_fast_encodings_equal_the_generic_codecs(parent: bytes | None, children: list[bytes]) -> None:
    from phala_agents.worker.authorization import AuthorizationCodec, ReceiptCodec

    signed = _signed(parent=parent, nonce=2**64 - 1, max_charge=2**128 - 1)
    auth = signed.authorization
    assert auth.encode() == AuthorizationCodec.encode(auth.to_value())
    assert auth.encode() is auth.encode()  # cached
    assert replace(auth, nonce=1).encode() == AuthorizationCodec.encode(replace(auth, nonce=1).to_value())
    receipt = Receipt.of(
        signed,
        usage=ReceiptUsage(input_tokens=2**32 - 1, output_tokens=0, estimated=False),
        charge=2**128 - 1,
        response_hash=blake2_256(b"r"),
        children=children,
    )
    assert receipt.encode() == ReceiptCodec.encode(receipt.to_value())
    assert Receipt.decode(receipt.encode()) == receipt
