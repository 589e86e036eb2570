"""FRAME storage declarations: ``StorageValue``, ``StorageMap``, ``StorageDoubleMap``.

A declaration on a pallet class names the on-chain entry, its hashers, key/value codecs and query
kind; the key is ``twox128(pallet) ++ twox128(entry) ++ hasher(key)...``. On a pallet instance
the attribute is a bound accessor that reads and writes the runtime's current overlay (what
``sp_io::storage`` is to a wasm runtime).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Generic, Self, TypeVar, cast, overload

from phala_agents.chain._interface import Overlay
from phala_agents.scale import (
    AnyCodec,
    Codec,
    Tuple,
    blake2_128,
    blake2_128_concat,
    blake2_256,
    identity,
    storage_prefix,
    twox64_concat,
    twox128,
    twox256,
)

if TYPE_CHECKING:
    from phala_agents.chain.frame._pallet import Pallet

K = TypeVar("K")
K2 = TypeVar("K2")
V = TypeVar("V")
B_co = TypeVar("B_co", covariant=True)


@dataclass(frozen=True, slots=True)
class Hasher:
    """A storage hasher; ``concat`` hashers keep the raw key after the hash (iterable maps)."""

    name: str
    fn: Callable[[bytes], bytes]
    concat: bool
    hash_len: int


Blake2_128 = Hasher("Blake2_128", blake2_128, False, 16)
Blake2_256 = Hasher("Blake2_256", blake2_256, False, 32)
Blake2_128Concat = Hasher("Blake2_128Concat", blake2_128_concat, True, 16)
Twox128 = Hasher("Twox128", twox128, False, 16)
Twox256 = Hasher("Twox256", twox256, False, 32)
Twox64Concat = Hasher("Twox64Concat", twox64_concat, True, 8)
Identity = Hasher("Identity", identity, True, 0)


class QueryKind:
    """``ValueQuery`` returns the default when absent, ``OptionQuery`` returns None."""

    def __init__(self, name: str, modifier: str) -> None:
        self.name = name
        self.modifier = modifier

    def __repr__(self) -> str:
        return self.name


ValueQuery = QueryKind("ValueQuery", "Default")
OptionQuery = QueryKind("OptionQuery", "Optional")


class Ext(threading.local):
    """Per-thread runtime context: the current overlay and the block's events (what
    ``sp_io``'s externalities are to a wasm runtime). Thread-local so the host may validate
    transactions in one thread while it builds a block in another."""

    def __init__(self) -> None:
        self.overlay: Overlay | None = None
        self.events: list[bytes] = []
        self.phase: bytes = b"\x02"  # Phase::Initialization
        self.extrinsic_index = 0

    def current(self) -> Overlay:
        if self.overlay is None:
            raise RuntimeError("storage accessed outside of a runtime call")
        return self.overlay


class StorageItem(Generic[B_co]):
    """Common part of the storage declarations; ``B_co`` is the accessor a pallet instance gets
    (``Pallet.__init__`` replaces the class attribute with ``bind(...)``'s result)."""

    name: str
    value_codec: AnyCodec
    query: QueryKind
    docs: tuple[str, ...]
    pallet_name: str

    def __init__(self, name: str, value: Codec[V], query: QueryKind, docs: str, default: object) -> None:
        self.name = name
        self.value_codec = value
        self.query = query
        self.docs = tuple(docs.split("\n")) if docs else ()
        self._default = default
        self.attr = ""
        self.pallet_name = ""

    def __set_name__(self, owner: type, attr: str) -> None:
        self.attr = attr

    def default_value(self) -> object:
        if self.query is OptionQuery:
            return None
        return self._default if self._default is not None else self.value_codec.default()

    def default_bytes(self) -> bytes:
        if self.query is OptionQuery:
            return b"\x00"
        return self.value_codec.encode(self.default_value())

    @overload
    def __get__(self, obj: None, owner: type) -> Self: ...
    @overload
    def __get__(self, obj: Pallet, owner: type) -> B_co: ...
    def __get__(self, obj: Pallet | None, owner: type) -> Self | B_co:
        if obj is None:
            return self
        raise RuntimeError(f"{self.name}: pallet instance was not bound to a runtime")

    def bind(self, ext: Ext, pallet_name: str) -> B_co:
        raise NotImplementedError


class StorageValue(StorageItem["BoundValue[V]"], Generic[V]):
    def __init__(
        self,
        name: str,
        value: Codec[V],
        *,
        query: QueryKind = ValueQuery,
        docs: str = "",
        default: V | None = None,
    ) -> None:
        super().__init__(name, value, query, docs, default)

    def bind(self, ext: Ext, pallet_name: str) -> BoundValue[V]:
        return BoundValue(self, ext, pallet_name)


class StorageMap(StorageItem["BoundMap[K, V]"], Generic[K, V]):
    def __init__(
        self,
        name: str,
        hasher: Hasher,
        key: Codec[K],
        value: Codec[V],
        *,
        query: QueryKind = OptionQuery,
        docs: str = "",
        default: V | None = None,
    ) -> None:
        super().__init__(name, value, query, docs, default)
        self.hasher = hasher
        self.key_codec = key

    def bind(self, ext: Ext, pallet_name: str) -> BoundMap[K, V]:
        return BoundMap(self, ext, pallet_name)


class StorageDoubleMap(StorageItem["BoundDoubleMap[K, K2, V]"], Generic[K, K2, V]):
    def __init__(  # noqa: PLR0917 - mirrors StorageDoubleMap<Prefix, H1, K1, H2, K2, V>
        self,
        name: str,
        hasher1: Hasher,
        key1: Codec[K],
        hasher2: Hasher,
        key2: Codec[K2],
        value: Codec[V],
        *,
        query: QueryKind = OptionQuery,
        docs: str = "",
        default: V | None = None,
    ) -> None:
        super().__init__(name, value, query, docs, default)
        self.hasher1 = hasher1
        self.hasher2 = hasher2
        self.key1_codec = key1
        self.key2_codec = key2
        self.key_codec: AnyCodec = Tuple(key1, key2)

    def bind(self, ext: Ext, pallet_name: str) -> BoundDoubleMap[K, K2, V]:
        return BoundDoubleMap(self, ext, pallet_name)


# --- bound accessors ----------------------------------------------------------------------------


class _Bound(Generic[V]):
    __slots__ = ("_decode", "_default", "_encode", "_ext", "_optional", "item", "prefix")

    def __init__(self, item: StorageItem[object], ext: Ext, pallet_name: str) -> None:
        self.item = item
        self._ext = ext
        self.prefix = storage_prefix(pallet_name, item.name)
        self._encode = item.value_codec.encode
        # The codec is type-erased (`Codec[object]`); the descriptor's V says what it decodes.
        # Cast once here rather than on every read.
        self._decode = cast("Callable[[bytes], V]", item.value_codec.decode_all)
        self._optional = item.query is OptionQuery
        self._default = cast("Callable[[], V]", item.default_value)

    def _get(self, key: bytes) -> V:
        raw = self._ext.current().get(key)
        if raw is None:
            return self._default()
        return self._decode(raw)

    def _put(self, key: bytes, value: V) -> None:
        self._ext.current().set(key, self._encode(value))

    def _iter_prefix(self, prefix: bytes) -> Iterator[tuple[bytes, bytes]]:
        overlay = self._ext.current()
        key: bytes | None = prefix
        raw = overlay.get(prefix)
        if raw is not None:
            yield prefix, raw
        while True:
            key = overlay.next_key(key) if key is not None else None
            if key is None or not key.startswith(prefix):
                return
            raw = overlay.get(key)
            if raw is not None:
                yield key, raw


class BoundValue(_Bound[V]):
    __slots__ = ()

    def key(self) -> bytes:
        return self.prefix

    def get(self) -> V:
        return self._get(self.prefix)

    def put(self, value: V) -> None:
        self._put(self.prefix, value)

    def kill(self) -> None:
        self._ext.current().delete(self.prefix)

    def exists(self) -> bool:
        return self._ext.current().get(self.prefix) is not None

    def take(self) -> V:
        value = self.get()
        self.kill()
        return value


class BoundMap(_Bound[V], Generic[K, V]):
    __slots__ = ("_hash", "_key_decode", "_key_encode", "_key_offset")

    def __init__(self, item: StorageMap[K, V], ext: Ext, pallet_name: str) -> None:
        super().__init__(item, ext, pallet_name)
        self._hash = item.hasher.fn
        self._key_encode = item.key_codec.encode
        key_decode = item.key_codec.decode_all if item.hasher.concat else None
        self._key_decode = cast("Callable[[bytes], K] | None", key_decode)
        self._key_offset = 32 + item.hasher.hash_len

    def key(self, k: K) -> bytes:
        return self.prefix + self._hash(self._key_encode(k))

    def get(self, k: K) -> V:
        return self._get(self.prefix + self._hash(self._key_encode(k)))

    def insert(self, k: K, value: V) -> None:
        self._put(self.prefix + self._hash(self._key_encode(k)), value)

    def remove(self, k: K) -> None:
        self._ext.current().delete(self.prefix + self._hash(self._key_encode(k)))

    def contains(self, k: K) -> bool:
        return self._ext.current().get(self.prefix + self._hash(self._key_encode(k))) is not None

    def iter(self) -> Iterator[tuple[K, V]]:
        """All (key, value) pairs in key order; needs a ``*Concat`` or ``Identity`` hasher."""
        if self._key_decode is None:
            raise TypeError(
                f"{self.item.name}: found a hasher that drops the key, "
                "wanted a *Concat or Identity one to iterate"
            )
        for raw_key, raw in list(self._iter_prefix(self.prefix)):
            yield self._key_decode(raw_key[self._key_offset :]), self._decode(raw)

    def clear(self) -> None:
        self._ext.current().clear_prefix(self.prefix)


class BoundDoubleMap(_Bound[V], Generic[K, K2, V]):
    __slots__ = ("_h1", "_h2", "_k1", "_k2")

    def __init__(self, item: StorageDoubleMap[K, K2, V], ext: Ext, pallet_name: str) -> None:
        super().__init__(item, ext, pallet_name)
        self._h1 = item.hasher1.fn
        self._h2 = item.hasher2.fn
        self._k1 = item.key1_codec.encode
        self._k2 = item.key2_codec.encode

    def key(self, k1: K, k2: K2) -> bytes:
        return self.prefix + self._h1(self._k1(k1)) + self._h2(self._k2(k2))

    def get(self, k1: K, k2: K2) -> V:
        return self._get(self.key(k1, k2))

    def insert(self, k1: K, k2: K2, value: V) -> None:
        self._put(self.key(k1, k2), value)

    def remove(self, k1: K, k2: K2) -> None:
        self._ext.current().delete(self.key(k1, k2))

    def contains(self, k1: K, k2: K2) -> bool:
        return self._ext.current().get(self.key(k1, k2)) is not None

    def clear_prefix(self, k1: K) -> None:
        self._ext.current().clear_prefix(self.prefix + self._h1(self._k1(k1)))
