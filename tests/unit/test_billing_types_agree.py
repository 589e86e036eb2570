"""The worker's billing codecs (``worker/authorization.py``) and the Billing pallet's declared types
(``chain/pallets/billing.py``) encode byte for byte alike, on random values: the two layers may
not import each other, so this test is what keeps them in step."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from phala_agents.chain.pallets import billing as pallet
from phala_agents.scale import Codec, Enum, NewType, Option, Struct, Vec
from phala_agents.worker import authorization as worker

b32 = st.binary(min_size=32, max_size=32)
u32 = st.integers(0, 2**32 - 1)
u64 = st.integers(0, 2**64 - 1)
u128 = st.integers(0, 2**128 - 1)

authorizations = st.builds(
    worker.CallAuthorization,
    genesis=b32,
    agent_id=u64,
    agent_version=u32,
    worker=b32,
    caller=b32,
    nonce=u64,
    max_charge=u128,
    expires_at_block=u32,
    request_hash=b32,
    parent=st.none() | b32,
)
receipts = st.builds(
    worker.Receipt,
    authorization=authorizations,
    caller_signature=st.binary(min_size=64, max_size=64),
    usage=st.builds(worker.ReceiptUsage, input_tokens=u32, output_tokens=u32, estimated=st.booleans()),
    charge=u128,
    response_hash=b32,
    children=st.lists(b32, max_size=20).map(tuple),
)


@settings(max_examples=300, deadline=None)
@given(authorizations)
def test_authorization_encodes_alike(auth: worker.CallAuthorization) -> None:
    raw = auth.encode()
    assert pallet.CallAuthorization.encode(auth.to_value()) == raw
    assert pallet.CallAuthorization.decode_all(raw) == auth.to_value()
    assert pallet.authorization_message(raw) == auth.message()
    assert pallet.receipt_id(raw) == auth.receipt_id


@settings(max_examples=200, deadline=None)
@given(receipts)
def test_receipt_encodes_alike(receipt: worker.Receipt) -> None:
    raw = receipt.encode()
    assert pallet.Receipt.encode(receipt.to_value()) == raw
    assert worker.Receipt.from_value(pallet.Receipt.decode_all(raw)) == receipt


def _shape(codec: Codec[object]) -> object:
    """Field names and nesting, type paths for named types: what metadata clients see."""
    if isinstance(codec, Struct):
        return ("struct", codec.path, tuple((f.name, _shape(f.codec)) for f in codec.fields))
    if isinstance(codec, NewType):
        return ("newtype", codec.path, _shape(codec.inner))
    if isinstance(codec, Option):
        return ("option", _shape(codec.inner))
    if isinstance(codec, Vec):
        return ("vec", _shape(codec.inner))
    if isinstance(codec, Enum):
        return ("enum", codec.path, tuple((v.name, v.index) for v in codec.variants))
    return codec.type_name


def test_declared_shapes_agree() -> None:
    assert _shape(worker.AuthorizationCodec) == _shape(pallet.CallAuthorization)
    assert _shape(worker.UsageCodec) == _shape(pallet.UsageCodec)
    assert _shape(worker.ReceiptCodec) == _shape(pallet.Receipt)
    assert worker.AUTHORIZATION_DOMAIN == pallet.AUTHORIZATION_DOMAIN
    assert worker.RECEIPT_DOMAIN == pallet.RECEIPT_DOMAIN
