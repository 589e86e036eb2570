"""Substrate's storage hashers: blake2 and xxHash (twox) variants."""

from __future__ import annotations

import hashlib

import xxhash


def blake2_128(data: bytes) -> bytes:
    return hashlib.blake2b(data, digest_size=16).digest()


def blake2_256(data: bytes) -> bytes:
    return hashlib.blake2b(data, digest_size=32).digest()


def twox64(data: bytes) -> bytes:
    return xxhash.xxh64_digest(data, seed=0)[::-1]


def twox128(data: bytes) -> bytes:
    return twox64(data) + xxhash.xxh64_digest(data, seed=1)[::-1]


def twox256(data: bytes) -> bytes:
    return twox128(data) + xxhash.xxh64_digest(data, seed=2)[::-1] + xxhash.xxh64_digest(data, seed=3)[::-1]


def blake2_128_concat(data: bytes) -> bytes:
    return blake2_128(data) + data


def twox64_concat(data: bytes) -> bytes:
    return twox64(data) + data


def identity(data: bytes) -> bytes:
    return data


def storage_prefix(pallet: str, entry: str) -> bytes:
    """``twox128(pallet) ++ twox128(entry)``: the key prefix of a storage entry."""
    return twox128(pallet.encode()) + twox128(entry.encode())
