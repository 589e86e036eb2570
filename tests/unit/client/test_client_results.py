"""Pure pieces of the client: events, Pallet::Error names, fees, results, descriptors, keys."""

from __future__ import annotations

import pytest
import structlog
from substrateinterface import Keypair

from phala_agents.client import (
    DEV_PHRASE,
    Descriptors,
    Event,
    ExtrinsicResult,
    PalletDescriptor,
    SignedExtrinsic,
    is_dev_chain,
    is_dev_uri,
    keypair_from_uri,
)
from phala_agents.client._result import event_from_record, fee_from_events, format_dispatch_error
from phala_agents.errors import DecodeError, ExtrinsicFailed, KeystoreError

ALICE = "5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY"


def _lookup(pallet: int, error: int) -> tuple[str, str, str] | None:
    return {(10, 2): ("Balances", "InsufficientBalance", "Balance too low to send value")}.get(
        (pallet, error)
    )


@pytest.mark.parametrize(
    ("dispatch_error", "wanted"),
    [
        ({"Module": {"index": 10, "error": "0x02000000"}}, "Balances::InsufficientBalance"),
        ({"Module": {"index": 10, "error": 2}}, "Balances::InsufficientBalance"),
        ({"Module": {"index": 10, "error": [2, 0, 0, 0]}}, "Balances::InsufficientBalance"),
        ({"Module": {"index": 99, "error": "0x05000000"}}, "Module[99]::Error[5]"),
        ("BadOrigin", "BadOrigin"),
        ({"Token": "FundsUnavailable"}, "Token::FundsUnavailable"),
        ({"Arithmetic": "Underflow"}, "Arithmetic::Underflow"),
        ({"CannotLookup": None}, "CannotLookup"),
    ],
)
def test_dispatch_errors_are_named_like_frame(dispatch_error: object, wanted: str) -> None:
    name, _docs = format_dispatch_error(dispatch_error, _lookup)  # type: ignore[arg-type]
    assert name == wanted


def test_event_from_substrate_interface_record() -> None:
    record = {
        "phase": "ApplyExtrinsic",
        "extrinsic_idx": 2,
        "event_index": 10,
        "module_id": "Balances",
        "event_id": "Transfer",
        "attributes": {"from": ALICE, "to": ALICE, "amount": 5},
        "topics": [],
    }
    event = event_from_record(record)
    assert (event.pallet, event.name, event.phase, event.extrinsic_index) == (
        "Balances",
        "Transfer",
        "ApplyExtrinsic",
        2,
    )
    assert event.qualified_name == "Balances.Transfer"
    assert event.to_json()["attributes"] == {"from": ALICE, "to": ALICE, "amount": 5}
    assert (
        event_from_record({"phase": "Finalization", "module_id": "X", "event_id": "Y"}).extrinsic_index
        is None
    )


def _ev(pallet: str, name: str, **attributes: object) -> Event:
    return Event(
        pallet=pallet, name=name, attributes=dict(attributes), phase="ApplyExtrinsic", extrinsic_index=1
    )  # type: ignore[arg-type]


def test_fee_prefers_transaction_fee_paid() -> None:
    events = [
        _ev("Balances", "Withdraw", who=ALICE, amount=100),
        _ev("TransactionPayment", "TransactionFeePaid", who=ALICE, actual_fee=90, tip=5),
    ]
    assert fee_from_events(events, lambda who: who == ALICE) == 90


def test_fee_falls_back_to_the_signers_withdraw() -> None:
    events = [
        _ev("Balances", "Withdraw", who="someone", amount=1),
        _ev("Balances", "Withdraw", who=ALICE, amount=42),
    ]
    assert fee_from_events(events, lambda who: who == ALICE) == 42
    assert fee_from_events([_ev("System", "ExtrinsicSuccess")], lambda who: True) is None


def _result(ok: bool) -> ExtrinsicResult:
    return ExtrinsicResult(
        extrinsic_hash="0x01",
        block_hash="0x02",
        block_number=3,
        extrinsic_index=1,
        status="inBlock",
        ok=ok,
        events=(),
        error=None if ok else "Balances::InsufficientBalance",
        error_docs="" if ok else "Balance too low to send value",
        fee=7,
    )


def test_raise_for_error() -> None:
    good = _result(True)
    assert good.raise_for_error() is good
    with pytest.raises(ExtrinsicFailed, match="Balances::InsufficientBalance: Balance too low") as caught:
        _result(False).raise_for_error()
    assert (caught.value.error, caught.value.extrinsic_hash, caught.value.block_hash) == (
        "Balances::InsufficientBalance",
        "0x01",
        "0x02",
    )
    assert _result(False).to_json()["error"] == "Balances::InsufficientBalance"


def test_descriptors_json_round_trip() -> None:
    descriptors = Descriptors(
        metadata_hash="0x" + "aa" * 32,
        spec_name="dev",
        spec_version=1,
        pallets=(
            PalletDescriptor(name="Balances", index=5, calls=("transfer_keep_alive",), storage=("Account",)),
        ),
    )
    again = Descriptors.from_json(descriptors.to_json())
    assert again == descriptors
    assert again.pallet("Balances") is not None and again.pallet("Nope") is None
    with pytest.raises(DecodeError, match="descriptors: found malformed JSON"):
        Descriptors.from_json('{"pallets": 1}')


def test_dev_uri_and_dev_chain() -> None:
    assert is_dev_uri("//Alice") and is_dev_uri("/soft") and is_dev_uri(DEV_PHRASE + "//Bob")
    assert not is_dev_uri("legal winner thank year wave sausage worth useful legal winner thank yellow")
    assert is_dev_chain("Development", "anything") and is_dev_chain(None, "Local Testnet")
    assert not is_dev_chain("Live", "Polkadot")


def test_dev_uri_refused_on_a_live_chain_without_echoing_it() -> None:
    with pytest.raises(KeystoreError, match="not say it is a development chain") as caught:
        keypair_from_uri("//Alice", dev_chain=False)
    assert "Alice" not in str(caught.value)
    assert keypair_from_uri("//Alice", dev_chain=True).ss58_address == ALICE


def test_real_secrets_are_accepted_and_never_echoed() -> None:
    mnemonic = Keypair.generate_mnemonic()
    assert keypair_from_uri(mnemonic, dev_chain=False).ss58_address
    seed = "0x" + "42" * 32
    assert keypair_from_uri(seed, dev_chain=False).ss58_address
    secret = "not a valid mnemonic phrase at all"
    with structlog.testing.capture_logs() as logs, pytest.raises(KeystoreError) as caught:
        keypair_from_uri(secret, dev_chain=False)
    assert secret not in str(caught.value) and caught.value.__cause__ is None
    assert secret not in repr(logs)
    with pytest.raises(ValueError, match="crypto"):
        keypair_from_uri(seed, dev_chain=False, crypto="rsa")


def test_signed_extrinsic_repr_is_short() -> None:
    xt = SignedExtrinsic(hex="0x" + "ff" * 100, hash="0x01", signer=ALICE, nonce=3)
    assert "ff" * 10 not in repr(xt) and "nonce=3" in repr(xt)
