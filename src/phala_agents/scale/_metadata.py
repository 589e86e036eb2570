"""The metadata V14 model (frame-metadata ``v14.rs``) and its SCALE encoding.

Plain frozen dataclasses; ``encode_metadata`` writes ``RuntimeMetadataPrefixed``
(``b"meta"`` ++ version byte 14 ++ ``RuntimeMetadataV14``). Type references are registry ids,
encoded as ``Compact<u32>`` like scale-info's portable form.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TypeAlias

from phala_agents.scale._codec import encode_compact

META_MAGIC = b"meta"
METADATA_VERSION = 14

PRIMITIVES = (
    "bool",
    "char",
    "str",
    "u8",
    "u16",
    "u32",
    "u64",
    "u128",
    "u256",
    "i8",
    "i16",
    "i32",
    "i64",
    "i128",
    "i256",
)
STORAGE_HASHERS = (
    "Blake2_128",
    "Blake2_256",
    "Blake2_128Concat",
    "Twox128",
    "Twox256",
    "Twox64Concat",
    "Identity",
)


@dataclass(frozen=True, slots=True, kw_only=True)
class FieldMeta:
    name: str | None
    type: int
    type_name: str | None = None
    docs: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class VariantMeta:
    name: str
    fields: tuple[FieldMeta, ...]
    index: int
    docs: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class TypeDefComposite:
    fields: tuple[FieldMeta, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class TypeDefVariant:
    variants: tuple[VariantMeta, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class TypeDefSequence:
    type: int


@dataclass(frozen=True, slots=True, kw_only=True)
class TypeDefArray:
    len: int
    type: int


@dataclass(frozen=True, slots=True, kw_only=True)
class TypeDefTuple:
    types: tuple[int, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class TypeDefPrimitive:
    name: str  # one of PRIMITIVES


@dataclass(frozen=True, slots=True, kw_only=True)
class TypeDefCompact:
    type: int


TypeDef: TypeAlias = (
    TypeDefComposite
    | TypeDefVariant
    | TypeDefSequence
    | TypeDefArray
    | TypeDefTuple
    | TypeDefPrimitive
    | TypeDefCompact
)


@dataclass(frozen=True, slots=True, kw_only=True)
class TypeParameter:
    name: str
    type: int | None


@dataclass(frozen=True, slots=True, kw_only=True)
class PortableType:
    id: int
    path: tuple[str, ...]
    params: tuple[TypeParameter, ...]
    type_def: TypeDef
    docs: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class StorageEntryMeta:
    name: str
    modifier: str  # "Optional" | "Default"
    hashers: tuple[str, ...]  # empty for a plain value
    key: int | None  # None for a plain value
    value: int
    default: bytes
    docs: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class ConstantMeta:
    name: str
    type: int
    value: bytes
    docs: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class PalletMeta:
    name: str
    index: int
    storage_prefix: str | None
    storage: tuple[StorageEntryMeta, ...] | None
    calls: int | None
    event: int | None
    constants: tuple[ConstantMeta, ...]
    error: int | None


@dataclass(frozen=True, slots=True, kw_only=True)
class SignedExtensionMeta:
    identifier: str
    type: int
    additional_signed: int


@dataclass(frozen=True, slots=True, kw_only=True)
class ExtrinsicMeta:
    type: int
    version: int
    signed_extensions: tuple[SignedExtensionMeta, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class MetadataV14:
    types: tuple[PortableType, ...]
    pallets: tuple[PalletMeta, ...]
    extrinsic: ExtrinsicMeta
    runtime_type: int

    def pallet(self, name: str) -> PalletMeta:
        for p in self.pallets:
            if p.name == name:
                return p
        raise KeyError(name)


# --- encoding -----------------------------------------------------------------------------------


def _str(s: str) -> bytes:
    raw = s.encode()
    return encode_compact(len(raw)) + raw


def _strs(items: Sequence[str]) -> bytes:
    return encode_compact(len(items)) + b"".join(_str(s) for s in items)


def _opt_str(s: str | None) -> bytes:
    return b"\x00" if s is None else b"\x01" + _str(s)


def _vec(items: Sequence[bytes]) -> bytes:
    return encode_compact(len(items)) + b"".join(items)


def _field(f: FieldMeta) -> bytes:
    return _opt_str(f.name) + encode_compact(f.type) + _opt_str(f.type_name) + _strs(f.docs)


def _type_def(d: TypeDef) -> bytes:
    if isinstance(d, TypeDefComposite):
        return b"\x00" + _vec([_field(f) for f in d.fields])
    if isinstance(d, TypeDefVariant):
        return b"\x01" + _vec(
            [
                _str(v.name) + _vec([_field(f) for f in v.fields]) + bytes((v.index,)) + _strs(v.docs)
                for v in d.variants
            ]
        )
    if isinstance(d, TypeDefSequence):
        return b"\x02" + encode_compact(d.type)
    if isinstance(d, TypeDefArray):
        return b"\x03" + d.len.to_bytes(4, "little") + encode_compact(d.type)
    if isinstance(d, TypeDefTuple):
        return b"\x04" + _vec([encode_compact(t) for t in d.types])
    if isinstance(d, TypeDefPrimitive):
        return b"\x05" + bytes((PRIMITIVES.index(d.name),))
    return b"\x06" + encode_compact(d.type)


def _portable_type(t: PortableType) -> bytes:
    params = _vec(
        [_str(p.name) + (b"\x00" if p.type is None else b"\x01" + encode_compact(p.type)) for p in t.params]
    )
    return encode_compact(t.id) + _strs(t.path) + params + _type_def(t.type_def) + _strs(t.docs)


def _storage_entry(e: StorageEntryMeta) -> bytes:
    modifier = b"\x00" if e.modifier == "Optional" else b"\x01"
    if e.key is None:
        ty = b"\x00" + encode_compact(e.value)
    else:
        hashers = _vec([bytes((STORAGE_HASHERS.index(h),)) for h in e.hashers])
        ty = b"\x01" + hashers + encode_compact(e.key) + encode_compact(e.value)
    return _str(e.name) + modifier + ty + encode_compact(len(e.default)) + e.default + _strs(e.docs)


def _opt_ty(t: int | None) -> bytes:
    return b"\x00" if t is None else b"\x01" + encode_compact(t)


def _pallet(p: PalletMeta) -> bytes:
    if p.storage is None or p.storage_prefix is None:
        storage = b"\x00"
    else:
        storage = b"\x01" + _str(p.storage_prefix) + _vec([_storage_entry(e) for e in p.storage])
    constants = _vec(
        [
            _str(c.name) + encode_compact(c.type) + encode_compact(len(c.value)) + c.value + _strs(c.docs)
            for c in p.constants
        ]
    )
    return (
        _str(p.name)
        + storage
        + _opt_ty(p.calls)
        + _opt_ty(p.event)
        + constants
        + _opt_ty(p.error)
        + bytes((p.index,))
    )


def encode_metadata(md: MetadataV14) -> bytes:
    """``RuntimeMetadataPrefixed`` bytes for ``md``."""
    types = _vec([_portable_type(t) for t in md.types])
    pallets = _vec([_pallet(p) for p in md.pallets])
    ext = md.extrinsic
    extrinsic = (
        encode_compact(ext.type)
        + bytes((ext.version,))
        + _vec(
            [
                _str(s.identifier) + encode_compact(s.type) + encode_compact(s.additional_signed)
                for s in ext.signed_extensions
            ]
        )
    )
    return (
        META_MAGIC
        + bytes((METADATA_VERSION,))
        + types
        + pallets
        + extrinsic
        + encode_compact(md.runtime_type)
    )
