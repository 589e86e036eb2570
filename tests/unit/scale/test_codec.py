"""The SCALE codec: round trips, known vectors, SS58, Era, and malformed input -> DecodeError only."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from phala_agents.chain import DevRuntime
from phala_agents.chain.frame._types import AccountInfo, DispatchErrorCodec, MultiAddress, MultiSignature
from phala_agents.errors import DecodeError, ScaleError
from phala_agents.scale import (
    I32,
    U8,
    U16,
    U32,
    U64,
    U128,
    U256,
    AccountId,
    Bool,
    BoundedVec,
    Bytes,
    Compact,
    Era,
    MortalEra,
    Option,
    Result,
    Str,
    Tuple,
    Vec,
    encode_compact,
    ss58_decode,
    ss58_decode_with_prefix,
    ss58_encode,
)

ALICE = bytes.fromhex("d43593c715fdd31c61141abd04a99fd6822c8558854ccde39a5684e7a56da27d")


@pytest.mark.parametrize(
    ("codec", "value", "hexed"),
    [
        (U8, 69, "45"),
        (U16, 42, "2a00"),
        (U32, 16777215, "ffffff00"),
        (U64, 1, "0100000000000000"),
        (I32, -1, "ffffffff"),
        (Bool, True, "01"),
        (Compact(U32), 0, "00"),
        (Compact(U32), 1, "04"),
        (Compact(U32), 63, "fc"),
        (Compact(U32), 64, "0101"),
        (Compact(U32), 16383, "fdff"),
        (Compact(U32), 16384, "02000100"),
        (Compact(U32), 1073741823, "feffffff"),
        (Compact(U64), 1073741824, "0300000040"),
        (Compact(U128), 2**64 - 1, "13ffffffffffffffff"),
        (Str, "Hamlet", "1848616d6c6574"),
        (Bytes, b"\x01\x02", "080102"),
        (Option(U32), None, "00"),
        (Option(U32), 1, "0101000000"),
        (Option(Bool), True, "0101"),
        (Option(Bool), False, "0100"),
        (Vec(U16), [4, 8, 15, 16, 23, 42], "18040008000f00100017002a00"),
        (Tuple(U8, Bool), (3, False), "0300"),  # type: ignore[arg-type]
    ],
)
def test_known_vectors(codec: object, value: object, hexed: str) -> None:
    assert codec.encode(value).hex() == hexed  # type: ignore[attr-defined]
    assert codec.decode_all(bytes.fromhex(hexed)) == value  # type: ignore[attr-defined]


def test_result_and_enum_values() -> None:
    r = Result(U32, Bool)  # type: ignore[arg-type]
    assert r.encode(("Ok", 5)).hex() == "0005000000"
    assert r.decode_all(bytes.fromhex("0101")) == ("Err", True)
    addr = MultiAddress.encode(("Id", ALICE))
    assert addr[0] == 0 and MultiAddress.decode_all(addr) == ("Id", ALICE)
    err = DispatchErrorCodec.encode(("Module", {"index": 2, "error": b"\x02\0\0\0"}))
    assert err.hex() == "030202000000"


def test_u256_and_struct_defaults() -> None:
    assert U256.decode_all(U256.encode(2**255)) == 2**255
    default = AccountInfo.default()
    assert AccountInfo.decode_all(AccountInfo.encode(default)) == default


def test_compact_matches_seed_encoder() -> None:
    from phala_agents.scale import encode_compact

    for n in (0, 1, 63, 64, 2**14, 2**30 - 1, 2**30, 2**64, 2**128 - 1):
        assert encode_compact(n) == encode_compact(n)


@given(st.integers(min_value=4, max_value=16), st.integers(min_value=0, max_value=10**6))
def test_era_round_trip(exp: int, current: int) -> None:
    era = MortalEra.for_block(current, 1 << exp)
    assert Era.decode_all(Era.encode(era)) == era
    assert era.birth(current) <= current < era.death(current)


def test_ss58() -> None:
    assert ss58_encode(ALICE) == "5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY"
    assert ss58_decode("5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY") == ALICE
    polkadot = ss58_encode(ALICE, 0)
    assert ss58_decode_with_prefix(polkadot) == (ALICE, 0)
    assert ss58_decode_with_prefix(ss58_encode(ALICE, 2254)) == (ALICE, 2254)
    with pytest.raises(ScaleError):
        ss58_decode(polkadot)  # wrong network
    with pytest.raises(ScaleError):
        ss58_decode("5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQZ")  # bad checksum
    with pytest.raises(ScaleError):
        ss58_decode("0OIl")


def test_decode_error_fields() -> None:
    with pytest.raises(DecodeError) as exc:
        U32.decode(b"\x01\x02", 0)
    assert exc.value.offset == 0 and exc.value.type_name == "u32" and exc.value.wanted == "4 byte(s)"
    with pytest.raises(DecodeError):
        Bool.decode_all(b"\x02")
    with pytest.raises(DecodeError):
        U8.decode_all(b"\x01\x02")


_RT = DevRuntime()
_CODECS = [
    U8,
    U128,
    Compact(U128),
    Str,
    Bytes,
    Vec(U32),
    Option(U64),
    AccountId,
    Era,
    MultiAddress,
    MultiSignature,
    AccountInfo,
    DispatchErrorCodec,
    _RT.call_codec,
    _RT.event_record_codec,
]


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=80), st.integers(min_value=0, max_value=len(_CODECS) - 1))
def test_random_bytes_give_a_value_or_decode_error(data: bytes, which: int) -> None:
    codec = _CODECS[which]
    with contextlib.suppress(DecodeError):
        codec.decode_all(data)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200))
def test_random_extrinsic_bytes_give_an_extrinsic_or_decode_error(data: bytes) -> None:
    with contextlib.suppress(DecodeError):
        _RT.decode_extrinsic(encode_compact(len(data)) + data)
    with contextlib.suppress(DecodeError):
        _RT.decode_extrinsic(data)


def test_deeply_nested_calls_and_unit_vectors_are_bounded() -> None:
    body = bytes([4, 0]) * 300 + bytes([0, 0, 0])  # sudo(sudo(...remark))
    xt = bytes([4]) + body
    with pytest.raises(DecodeError, match="nesting deeper than 256"):
        _RT.decode_extrinsic(encode_compact(len(xt)) + xt)
    with pytest.raises(DecodeError):
        Vec(Tuple()).decode_all(encode_compact(2**30))
    assert Vec(Tuple()).decode_all(encode_compact(3)) == [(), (), ()]


def test_bounded_vec_enforces_its_bound_unless_the_pallet_does() -> None:
    strict = BoundedVec(U8, 2)
    assert strict.type_name == "BoundedVec<u8, 2>"
    assert strict.decode_all(b"\x08ab") == b"ab"
    with pytest.raises(DecodeError, match="at most 2"):
        strict.decode_all(b"\x0cabc")
    with pytest.raises(ValueError, match="at most 2"):
        strict.encode(b"abc")
    lenient: BoundedVec[list[int]] = BoundedVec(U32, 1, bound="T::MaxTools", enforce=False)
    assert lenient.type_name == "BoundedVec<u32, T::MaxTools>"
    assert lenient.decode_all(lenient.encode([1, 2])) == [1, 2]  # the pallet reports TooManyTools
