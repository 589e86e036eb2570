"""SCALE codec, type registry, hashers (twox, blake2), SS58 and the metadata V14 model."""

from phala_agents.scale._compact import decode_compact, encode_compact
from phala_agents.scale._hashers import (
    blake2_128,
    blake2_128_concat,
    blake2_256,
    identity,
    storage_prefix,
    twox64,
    twox64_concat,
    twox128,
    twox256,
)

__all__ = [
    "blake2_128",
    "blake2_128_concat",
    "blake2_256",
    "decode_compact",
    "encode_compact",
    "identity",
    "storage_prefix",
    "twox64",
    "twox64_concat",
    "twox128",
    "twox256",
]
