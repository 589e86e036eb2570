"""query_map record keys: one key, or a tuple of keys for a whole double map."""

from __future__ import annotations

from dataclasses import dataclass

from phala_agents.client._client import _storage_key_value


@dataclass
class _Decoded:  # stands in for a scalecodec ScaleType: only .value is read
    value: object


def test_single_key_is_its_value() -> None:
    assert _storage_key_value(_Decoded(7)) == 7
    assert _storage_key_value(_Decoded("5Grw")) == "5Grw"


def test_double_map_queried_whole_gives_a_list_of_key_values() -> None:
    key = (_Decoded(3), _Decoded("5FHneW46xGXgs5mUiveU4sbTyGBzmstUspZC92UhjJM694ty"))
    assert _storage_key_value(key) == [3, "5FHneW46xGXgs5mUiveU4sbTyGBzmstUspZC92UhjJM694ty"]


def test_undecodable_key_is_none() -> None:
    assert _storage_key_value(None) is None
